//! The handler API: what a handler is given (the request and a `Context`) and what it gives
//! back (a `Reply`). Every demo is written against this module alone; the server underneath
//! turns a `Reply` into bytes.
//!
//! A handler is a value, not just a function: a demo builds its routes once, at start, and
//! each handler captures whatever state the demo keeps (a room, a log of pings), so the core
//! never needs to know that a demo has state at all.

use std::cell::Cell;
use std::io;
use std::net::TcpStream;
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use crate::App;
use crate::held::Place;
use crate::http::body::BodyWriter;
use crate::http::request::Request;
use crate::http::response::Response;
use crate::limits::GONE_CHECK_INTERVAL;
use crate::net::ClientWatch;
use crate::origins;
use crate::traffic::Counters;
use crate::ws::connection::{Connection, Options};

/// Every handler has this shape: the request and its context in, a reply out. It is shared by
/// every connection thread, so it is `Send + Sync` and behind an `Arc`.
pub type Handler = Arc<dyn Fn(&Request, &Context) -> Reply + Send + Sync>;

/// A handler for a demo that keeps state: `state` is captured once, and every request gets a
/// reference to it. `route(Method::Get, "/ping", with_state(&tally, ping))`.
pub fn with_state<S: Send + Sync + 'static>(
    state: &Arc<S>,
    handler: fn(&S, &Request, &Context) -> Reply,
) -> impl Fn(&Request, &Context) -> Reply + Send + Sync + 'static {
    let state = Arc::clone(state);
    move |request, context| handler(&state, request, context)
}

// ANCHOR: reply
/// What a handler gives back.
pub enum Reply {
    /// A complete response: the common case.
    Full(Response),
    /// A head now, then a body sent piece by piece by `body`, which runs on the connection's
    /// thread for as long as it likes. It returns when done, or with the error of the first
    /// write that failed because the client went away.
    ///
    /// With a `length`, the head carries `Content-Length` and the body writes exactly that
    /// many bytes, raw, at its own pace: a browser can then say how far along it is
    /// (`lengthComputable` in XHR progress events), which a chunked body never allows.
    /// Writing more fails; fewer closes the connection, since the client would wait.
    Stream {
        head: Response,
        length: Option<usize>,
        body: StreamBody,
    },
    /// `101 Switching Protocols` (RFC 9110 §15.2.2): the head is sent, then the connection
    /// stops speaking HTTP and `protocol` owns the socket until it returns. For WebSocket.
    Upgrade { head: Response, protocol: UpgradeFn },
}
// ANCHOR_END: reply

pub type StreamBody = Box<dyn FnOnce(&mut BodyWriter) -> io::Result<()> + Send>;
pub type UpgradeFn = Box<dyn FnOnce(Upgraded) + Send>;

impl Reply {
    /// A chunked stream (close-delimited for an HTTP/1.0 client).
    pub fn stream(
        head: Response,
        body: impl FnOnce(&mut BodyWriter) -> io::Result<()> + Send + 'static,
    ) -> Reply {
        Reply::Stream {
            head,
            length: None,
            body: Box::new(body),
        }
    }

    /// A stream whose length is known before its first byte.
    pub fn sized_stream(
        head: Response,
        length: usize,
        body: impl FnOnce(&mut BodyWriter) -> io::Result<()> + Send + 'static,
    ) -> Reply {
        Reply::Stream {
            head,
            length: Some(length),
            body: Box::new(body),
        }
    }

    /// `101 Switching Protocols`, then `protocol` has the connection.
    pub fn upgrade(head: Response, protocol: impl FnOnce(Upgraded) + Send + 'static) -> Reply {
        Reply::Upgrade {
            head,
            protocol: Box::new(protocol),
        }
    }
}

impl From<Response> for Reply {
    fn from(response: Response) -> Self {
        Reply::Full(response)
    }
}

/// What a handler may use besides the request: the shared state, and a look at the client.
pub struct Context<'a> {
    pub app: &'a App,
    pub(crate) watch: &'a ClientWatch,
    /// Whether the handler took a held place itself (`hold`): then the server does not take
    /// another for its stream or upgrade.
    pub(crate) took_place: Cell<bool>,
    /// The connection's read buffer, lent for the handler's run: a handler that holds the
    /// request lets it go (`hold`), so a thread that waits for minutes does not keep 8 KiB
    /// it has no use for. Empty then; the connection makes a new one for its next request.
    pub(crate) read_buffer: Cell<Vec<u8>>,
}

impl Context<'_> {
    /// A place for a request held open — a long poll waiting, a stream, a socket — or `None`
    /// when `--max-held` of them are held already. Keep it for as long as the request is
    /// held: dropping it gives the place back. A stream or an upgrade whose handler did not
    /// take one gets one from the server (or a 503), so a handler takes its own only to wait
    /// inside itself, or to answer a full server in its protocol's own words.
    pub fn hold(&self) -> Option<Place> {
        let place = self.app.held.take();
        if place.is_some() {
            self.took_place.set(true);
            let buffer = self.read_buffer.take();
            if !buffer.is_empty() {
                self.read_buffer.set(buffer); // a pipelined request waits in it: keep it
            }
        }
        place
    }

    /// True once the client has closed its side or the connection has failed. A handler that
    /// holds a request open (a long poll) asks this while it waits, so a client that leaves
    /// frees its thread at once instead of at the end of the hold.
    pub fn client_gone(&self) -> bool {
        self.watch.client_gone()
    }

    /// Waits until `until`, looking every `GONE_CHECK_INTERVAL` whether the client has left.
    /// True if it stayed to the end; false as soon as it has gone, so a thread holding a
    /// request for nobody is freed at once.
    pub fn client_stays_until(&self, until: Instant) -> bool {
        loop {
            if self.client_gone() {
                return false;
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            thread::sleep(left.min(GONE_CHECK_INTERVAL));
        }
    }

    /// Whether a page from `origin` may talk to this server: the one rule (`origins.rs`), with
    /// `--allow-origin` honoured.
    pub fn origin_allowed(&self, request: &Request, origin: &str) -> bool {
        origins::allowed_for(request, origin, &self.app.config.extra_origins)
    }

    /// The watch on the client, for a stream's body (which runs after the handler has
    /// returned, when the `Context` is gone) to ask whether the client left while it waits.
    pub fn watch(&self) -> ClientWatch {
        self.watch.clone()
    }
}

/// Why a request that would be held is refused: every `--max-held` place is taken. Names the
/// limit and the flag that raises it, for the 503's body and the log.
pub fn held_full_reason(app: &App) -> String {
    format!(
        "too many requests are held open ({}, --max-held); try again shortly",
        app.capacity.held
    )
}

/// A connection after `101 Switching Protocols`, handed to the new protocol.
pub struct Upgraded<'a> {
    /// The socket. Its write timeout is still set (`write_all_within` counts on it); its
    /// read timeout is cleared (none).
    pub stream: Arc<TcpStream>,
    /// Bytes the client sent after its request head, already read off the socket: the new
    /// protocol's first bytes, if the client did not wait for the 101.
    pub buffered: Vec<u8>,
    pub app: &'a App,
    /// The connection's number, `7` in the `#7` that starts its `--trace` lines.
    pub id: u64,
    /// "#7 127.0.0.1:50312", to start log lines with.
    pub peer: &'a str,
    /// The path's traffic counters: the new protocol adds the bytes it reads and writes.
    pub counters: Option<Arc<Counters>>,
    /// Asks the server for a second thread's seat (`second_thread`).
    pub(crate) second_seat: Box<dyn Fn() -> Option<ThreadSeat> + 'a>,
}

/// A seat for a second thread on one connection, counted against `--max-conns` like a
/// connection: a thread and its memory mappings are what the limit guards, not sockets.
/// Dropping it gives the seat back.
pub struct ThreadSeat {
    /// Whatever the server gives back when this is dropped.
    _given_back_on_drop: Box<dyn Send>,
}

impl ThreadSeat {
    pub(crate) fn new(given_back_on_drop: Box<dyn Send>) -> ThreadSeat {
        ThreadSeat {
            _given_back_on_drop: given_back_on_drop,
        }
    }
}

impl Upgraded<'_> {
    /// A seat for a second thread on this connection (a pushing socket's writer), taking one
    /// back from an idle connection if the server is full; `None` when none can be had.
    pub fn second_thread(&self) -> Option<ThreadSeat> {
        (self.second_seat)()
    }

    /// The connection as a WebSocket, with the server's log, trace, budget and timeouts.
    pub fn websocket(self) -> io::Result<Connection> {
        let app = self.app;
        let options = Options {
            peer: self.peer.to_string(),
            trace_id: format!("#{}", self.id),
            log: app.log_sink(),
            trace: app.trace_sink(),
            counters: self.counters,
            write_timeout: app.config.timeouts.write,
            budget: Some(Arc::clone(&app.budget)),
            message_timeout: app.config.timeouts.body,
        };
        Connection::new(self.stream, self.buffered, options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::net::{TcpListener, TcpStream};

    fn app(max_held: usize) -> App {
        let config = Config {
            quiet: true,
            max_conns: Some(8),
            max_held: Some(max_held),
            ..Config::default()
        };
        App::new(config, Vec::new(), Vec::new(), Vec::new(), None)
    }

    fn watch() -> ClientWatch {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let _client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        ClientWatch::new(listener.accept().unwrap().0)
    }

    fn context<'a>(app: &'a App, watch: &'a ClientWatch, buffer: Vec<u8>) -> Context<'a> {
        Context {
            app,
            watch,
            took_place: Cell::new(false),
            read_buffer: Cell::new(buffer),
        }
    }

    #[test]
    fn a_held_request_lets_its_empty_read_buffer_go() {
        let (app, watch) = (app(2), watch());
        let context = context(&app, &watch, Vec::with_capacity(8 * 1024));
        let place = context.hold();
        assert!(place.is_some() && context.took_place.get());
        assert_eq!(context.read_buffer.take().capacity(), 0, "released");

        // A pipelined request waiting in the buffer is kept for its turn.
        let context = self::context(&app, &watch, b"GET / HTTP/1.1\r\n".to_vec());
        let _second = context.hold();
        assert_eq!(context.read_buffer.take(), b"GET / HTTP/1.1\r\n");
    }

    #[test]
    fn holding_stops_at_max_held_and_a_dropped_place_comes_back() {
        let (app, watch) = (app(1), watch());
        let context = context(&app, &watch, Vec::new());
        let first = context.hold();
        assert!(first.is_some());
        assert!(context.hold().is_none(), "one past --max-held");
        assert_eq!(
            held_full_reason(&app),
            "too many requests are held open (1, --max-held); try again shortly"
        );
        drop(first);
        assert!(context.hold().is_some());
    }
}
