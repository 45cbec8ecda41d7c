//! The accept loop and the life of one connection.
//!
//! ```text
//! accept ──► thread "conn-7" ──► read head ──► read body ──► route ──► write response ─┐
//!                                   ▲                                                  │
//!                                   └──────────── keep-alive: next request ◄───────────┘
//! ```
//!
//! One OS thread per connection, blocking I/O: the simplest model there is, and the one the
//! articles' Node servers hide behind callbacks. Each thread owns its socket and a buffer of
//! bytes read but not yet parsed; pipelined requests simply wait in that buffer for their turn.
//! Every wait has a timeout and every read a limit (`limits.rs`), and a thread that fails or
//! panics takes only its own connection down.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::App;
use crate::budget::{Claim, make_room};
use crate::http::body::{BodyWriter, ChunkedDecoder};
use crate::http::request::{BodyFraming, Parsed, Request, RequestError, Version, parse_head};
use crate::http::response::{Delimit, Response, head_bytes, status_has_no_body};
use crate::limits::{
    LINGER_BYTES, MAX_HEAD_BYTES, READ_CHUNK_BYTES, RETRY_AFTER_SECS, THREAD_STACK_BYTES,
};
use crate::net::{ClientWatch, is_timeout, linger, write_all_within};
use crate::router::{Context, Reply, Router, UpgradeFn, Upgraded};
use crate::traffic::Counters;

/// Why the server could not start.
#[derive(Debug)]
pub enum StartError {
    UnknownDemo(String),
    AddressInUse(String),
    CannotBind(String, io::Error),
    CannotResolve(String),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            StartError::UnknownDemo(name) => {
                let names: Vec<&str> = crate::demos::ALL.iter().map(|d| d.name).collect();
                write!(
                    f,
                    "no demo is called {name:?}; try one of: {}",
                    names.join(", ")
                )
            }
            StartError::AddressInUse(addr) => write!(
                f,
                "{addr} is already in use (another webwire?); pick another port with --port N"
            ),
            StartError::CannotBind(addr, e) => write!(f, "cannot listen on {addr}: {e}"),
            StartError::CannotResolve(host) => {
                write!(
                    f,
                    "cannot resolve {host:?}; give an address with --bind ADDR"
                )
            }
        }
    }
}

/// What the acceptor threads and the connection threads share.
struct Shared {
    app: App,
    router: Router,
    /// Connections being served now, for `--max-conns`.
    open: AtomicUsize,
    /// Numbers connections in logs and traces: `#1`, `#2`, …
    next_id: AtomicU64,
}

/// A server that is running: where it listens, and its acceptor threads.
pub struct Running {
    pub addrs: Vec<SocketAddr>,
    acceptors: Vec<JoinHandle<()>>,
}

impl Running {
    pub fn port(&self) -> u16 {
        self.addrs.first().map_or(0, |a| a.port())
    }

    /// Blocks for as long as the server runs (for ever, unless every listener fails).
    pub fn wait(self) {
        for acceptor in self.acceptors {
            let _ = acceptor.join();
        }
    }
}

/// Binds the listeners and starts one acceptor thread per listener.
pub fn start(app: App, router: Router) -> Result<Running, StartError> {
    let listeners = bind(&app.config.bind, app.config.port)?;
    let addrs: Vec<SocketAddr> = listeners
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .collect();
    let shared = Arc::new(Shared {
        app,
        router,
        open: AtomicUsize::new(0),
        next_id: AtomicU64::new(1),
    });
    let mut acceptors = Vec::new();
    for listener in listeners {
        let shared = Arc::clone(&shared);
        let acceptor = thread::Builder::new()
            .name("accept".to_string())
            .spawn(move || accept_loop(listener, shared))
            .map_err(|e| StartError::CannotBind("an acceptor thread".to_string(), e))?;
        acceptors.push(acceptor);
    }
    Ok(Running { addrs, acceptors })
}

/// `localhost` means both loopback addresses, 127.0.0.1 and ::1, whatever `/etc/hosts` says:
/// browsers resolve `localhost` themselves and may try either first, so listening on one can
/// leave `http://localhost:8088` slow or unreachable. With port 0 the first listener picks a
/// free port and the others reuse it, so all share one URL.
fn bind(host: &str, port: u16) -> Result<Vec<TcpListener>, StartError> {
    let addrs: Vec<SocketAddr> = if host.eq_ignore_ascii_case("localhost") {
        vec![
            SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            SocketAddr::from((Ipv6Addr::LOCALHOST, port)),
        ]
    } else {
        (host, port)
            .to_socket_addrs()
            .map_err(|_| StartError::CannotResolve(host.to_string()))?
            .collect()
    };
    let mut listeners: Vec<TcpListener> = Vec::new();
    let mut last_error = None;
    for mut addr in addrs {
        if let Some(first) = listeners.first().and_then(|l| l.local_addr().ok()) {
            addr.set_port(first.port());
        }
        match TcpListener::bind(addr) {
            Ok(listener) => listeners.push(listener),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                return Err(StartError::AddressInUse(addr.to_string()));
            }
            // e.g. ::1 on a machine without IPv6: serve on the addresses that do work.
            Err(e) => last_error = Some((addr.to_string(), e)),
        }
    }
    match (listeners.is_empty(), last_error) {
        (false, _) => Ok(listeners),
        (true, Some((addr, e))) => Err(StartError::CannotBind(addr, e)),
        (true, None) => Err(StartError::CannotResolve(host.to_string())),
    }
}

// ANCHOR: accept_loop
fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(stream) => stream,
            Err(e) => {
                // Usually "too many open files". Pause so a full process table is not a busy
                // loop, then carry on: the connections already open will finish and free fds.
                log(&shared.app, &format!("accept failed: {e}"));
                thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        // Take a slot if one is free, in one atomic step: two acceptors (127.0.0.1 and ::1)
        // must not both take the last one.
        let max = shared.app.config.max_conns;
        let took_slot = shared
            .open
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |open| {
                (open < max).then_some(open + 1)
            });
        if took_slot.is_err() {
            refuse_busy(&shared.app, stream, "the server is full (--max-conns)");
            continue;
        }
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        // The socket goes to the new thread through a channel, not inside its closure: if the
        // thread cannot be created, the closure is dropped, and we still need the socket to
        // say 503.
        let (hand_over, receive) = mpsc::sync_channel::<TcpStream>(1);
        let worker = Arc::clone(&shared);
        let spawned = thread::Builder::new()
            .name(format!("conn-{id}"))
            .stack_size(THREAD_STACK_BYTES)
            .spawn(move || {
                if let Ok(stream) = receive.recv() {
                    connection_thread(stream, id, &worker);
                }
            });
        match spawned {
            Ok(_) => {
                let _ = hand_over.send(stream);
            }
            Err(_) => {
                shared.open.fetch_sub(1, Ordering::SeqCst);
                refuse_busy(
                    &shared.app,
                    stream,
                    "the server cannot start another thread",
                );
            }
        }
    }
}
// ANCHOR_END: accept_loop

/// 503 for a connection we will not serve. Written from the accept loop, so it must not
/// block: the reply is small enough for the socket's send buffer, and whatever request the
/// client already sent is read first, so that closing does not turn into a reset that
/// destroys the reply before the client reads it.
fn refuse_busy(app: &App, mut stream: TcpStream, reason: &str) {
    let peer = stream
        .peer_addr()
        .map_or_else(|_| "?".to_string(), |a| a.to_string());
    log(app, &format!("{peer} refused: 503 {reason}"));
    let _ = stream.set_nonblocking(true);
    let _ = stream.read(&mut [0u8; 4096]);
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let response = Response::text(503, format!("{reason}; try again shortly\n"))
        .with_header("Retry-After", RETRY_AFTER_SECS.to_string());
    let _ = stream.write_all(&closing_answer(&response));
    let _ = stream.shutdown(Shutdown::Write);
}

/// A short answer after which the connection closes, head and body in one buffer:
/// HTTP/1.1, its `Content-Length`, and `Connection: close`.
fn closing_answer(response: &Response) -> Vec<u8> {
    let length = Delimit::Length(response.body.len());
    let mut bytes = head_bytes(Version::Http11, response, length, false);
    bytes.extend_from_slice(&response.body);
    bytes
}

/// Everything one connection's thread does, start to end.
fn connection_thread(stream: TcpStream, id: u64, shared: &Shared) {
    // "#7 127.0.0.1:50312": the number matches the connection's lines in --trace.
    let peer = match stream.peer_addr() {
        Ok(addr) => format!("#{id} {addr}"),
        Err(_) => format!("#{id}"),
    };
    let mut conn = Connection {
        watch: ClientWatch::new(stream),
        buf: Vec::with_capacity(READ_CHUNK_BYTES),
        id,
        peer,
        started: Instant::now(),
        received: 0,
    };
    // A panic is a bug, but it must cost one connection, never the server: the handler's own
    // panics become a 500 inside `serve`; this catches anything else.
    let ending = catch_unwind(AssertUnwindSafe(|| conn.serve(shared))).unwrap_or(Ending::Abort);
    // Free the slot before the client can see the connection close, so a client that saw
    // the close may count on the slot being free.
    shared.open.fetch_sub(1, Ordering::SeqCst);
    conn.close(ending, shared.app.config.timeouts.linger);
}

/// How a connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// Nothing more is coming from the client: just close.
    Quiet,
    /// We are closing while the client may still be sending (after an error, or a
    /// `Connection: close` with requests behind it): stop writing, and read and discard what
    /// arrives for a moment, so that our last response is not wiped out by a TCP reset
    /// (RFC 9112 §9.6).
    Linger,
    /// Something failed: drop the socket.
    Abort,
}

/// What a connection is fit for after a response.
enum After {
    /// Keep-alive: read the next request.
    NextRequest,
    /// The response said `Connection: close` (or ended a close-delimited body).
    Close,
    /// A write failed: the client is gone.
    Broken,
    /// The connection switched protocols, and the new protocol has finished with it.
    HandedOver,
}

impl After {
    /// After a response that was sent whole (or not), on a connection meant to stay open (or not).
    fn sending(sent: bool, keep_alive: bool) -> After {
        match (sent, keep_alive) {
            (false, _) => After::Broken,
            (true, true) => After::NextRequest,
            (true, false) => After::Close,
        }
    }
}

/// Why reading a request stopped.
enum ReadError {
    /// The request is malformed or too large: answer with its status and close.
    Bad(RequestError),
    /// The client closed, or the socket failed, or an idle keep-alive timed out: no answer.
    Gone,
}

impl From<RequestError> for ReadError {
    fn from(e: RequestError) -> Self {
        ReadError::Bad(e)
    }
}

struct Connection {
    /// The socket, and what a held request's handler read from it while watching it.
    watch: ClientWatch,
    /// Bytes received and not yet used: a partial head, or pipelined requests.
    buf: Vec<u8>,
    id: u64,
    /// "#7 127.0.0.1:50312", the prefix of every log line about this connection.
    peer: String,
    /// When the current request's head was complete: the start of its log line's time.
    started: Instant,
    /// The current request's size on the wire, head and body with their framing.
    received: usize,
}

impl Connection {
    // ANCHOR: serve
    /// The keep-alive loop: one request after another until one side closes.
    fn serve(&mut self, shared: &Shared) -> Ending {
        let app = &shared.app;
        // Nagle's algorithm would hold small writes back for up to 40 ms waiting for more:
        // wrong for a server that flushes every event the moment it happens.
        let _ = self.stream().set_nodelay(true);
        // Every write below may wait this long at most, as a whole (`write_all_within`).
        let _ = self
            .stream()
            .set_write_timeout(Some(app.config.timeouts.write));
        let mut first = true;
        loop {
            let mut request = match self.read_request(app, first) {
                Ok(request) => request,
                Err(ReadError::Gone) => return Ending::Quiet,
                Err(ReadError::Bad(error)) => return self.refuse(app, error),
            };
            first = false;
            self.started = Instant::now();
            // A client waiting for `100 Continue` that no handler would take (404, 405, 501) is
            // refused now, before it sends a body nobody would read (RFC 9110 §10.1.1).
            let refuse_early = request.expects_continue && !shared.router.accepts(&request);
            // The body's bytes are held against the shared budget until the reply is done.
            let mut body_claim = app.budget.claim();
            if !refuse_early {
                match self.read_body(app, &mut request, &mut body_claim) {
                    Ok(()) => {}
                    Err(ReadError::Gone) => return Ending::Quiet,
                    Err(ReadError::Bad(error)) => return self.refuse(app, error),
                }
            }
            // Counted only on paths some route serves (see traffic.rs), and open from here
            // on: a long poll held inside its handler counts as open while it waits.
            let counters = app.traffic.get(&request.path).map(|c| &**c);
            if let Some(counters) = counters {
                counters.started(self.received);
            }
            let context = Context {
                app,
                watch: &self.watch,
            };
            let reply = catch_unwind(AssertUnwindSafe(|| {
                shared.router.dispatch(&request, &context)
            }))
            .unwrap_or_else(|_| {
                Response::text(500, "the handler failed; the server log has the details\n").into()
            });
            let keep_alive = request.keep_alive() && !refuse_early;
            let after = match reply {
                Reply::Full(response) => self.send(app, &request, &response, keep_alive, counters),
                Reply::Stream(head, body) => {
                    self.stream_body(app, &request, head, None, body, counters)
                }
                Reply::SizedStream(head, length, body) => {
                    self.stream_body(app, &request, head, Some(length), body, counters)
                }
                Reply::Upgrade(head, protocol) => {
                    self.upgrade(app, &request, head, protocol, counters)
                }
            };
            if let Some(counters) = counters {
                counters.finished();
            }
            drop((request, body_claim));
            // A held request's handler may have read the client's next request while it
            // watched for a close; it goes after what was already buffered. A big body
            // leaves the buffer large: give that memory back before the next request.
            self.buf.extend(self.watch.take_unread());
            self.buf.shrink_to(MAX_HEAD_BYTES + READ_CHUNK_BYTES);
            match after {
                After::NextRequest => continue,
                After::HandedOver => return Ending::Quiet,
                After::Close => return Ending::Linger,
                After::Broken => return Ending::Quiet,
            }
        }
    }
    // ANCHOR_END: serve

    // ANCHOR: read_request
    /// Reads until a whole head has arrived. The first request's head must arrive within the
    /// header timeout of the connection's start; later ones may idle first (keep-alive), and
    /// their header timeout starts with their first byte. One deadline per head: it is never
    /// pushed back by a read, so a client trickling a byte at a time still runs out of time.
    /// Running out of time with part of a head is a 408; with nothing at all (a browser's
    /// spare pre-opened connection, an idle keep-alive) we just close.
    fn read_request(&mut self, app: &App, first: bool) -> Result<Request, ReadError> {
        let timeouts = &app.config.timeouts;
        let mut deadline =
            (first || !self.buf.is_empty()).then(|| Instant::now() + timeouts.header);
        loop {
            if !self.buf.is_empty()
                && let Parsed::Complete(request, used) = parse_head(&self.buf)?
            {
                trace(app, self.id, ">", &self.buf[..used]);
                self.buf.drain(..used);
                self.received = used;
                return Ok(request);
            }
            let wait = match deadline {
                Some(deadline) => deadline.saturating_duration_since(Instant::now()),
                None => timeouts.idle,
            };
            match self.fill(wait) {
                Ok(0) => return Err(ReadError::Gone),
                Ok(_) => deadline = deadline.or_else(|| Some(Instant::now() + timeouts.header)),
                Err(e) if is_timeout(&e) && !self.buf.is_empty() => {
                    return Err(RequestError::HeaderTimeout.into());
                }
                Err(_) => return Err(ReadError::Gone), // idle keep-alive timed out, or reset
            }
        }
    }
    // ANCHOR_END: read_request

    /// Reads the body the head announced into `request.body`, within the body timeout. Its
    /// bytes are taken from the shared memory budget as they arrive, not as the head
    /// announces them: a `Content-Length` alone reserves nothing.
    fn read_body(
        &mut self,
        app: &App,
        request: &mut Request,
        claim: &mut Claim,
    ) -> Result<(), ReadError> {
        if request.framing == BodyFraming::Empty {
            return Ok(());
        }
        // RFC 9110 §10.1.1: the client waits (curl: one second) for this before sending the
        // body. The limits were already checked on the head, so saying yes is safe.
        if request.expects_continue && self.buf.is_empty() {
            self.write_raw(app, b"HTTP/1.1 100 Continue\r\n\r\n")
                .map_err(|_| ReadError::Gone)?;
        }
        let deadline = Instant::now() + app.config.timeouts.body;
        match request.framing {
            BodyFraming::Empty => {} // (returned above; here only to name every case)
            BodyFraming::Length(length) => {
                // What already arrived with the head, then straight from the socket into
                // the body: the bytes are never held twice.
                let mut body: Vec<u8> = Vec::new();
                let early = length.min(self.buf.len());
                if !make_room(&mut body, early, length, claim) {
                    return Err(RequestError::OverMemoryBudget.into());
                }
                body.extend(self.buf.drain(..early));
                while body.len() < length {
                    let want = (length - body.len()).min(READ_CHUNK_BYTES);
                    if !make_room(&mut body, want, length, claim) {
                        return Err(RequestError::OverMemoryBudget.into());
                    }
                    self.read_into_before(&mut body, want, deadline)?;
                }
                request.body = body;
                self.received += length;
            }
            BodyFraming::Chunked => {
                let mut decoder = ChunkedDecoder::default();
                loop {
                    let used = decoder.feed(&self.buf)?;
                    self.buf.drain(..used);
                    self.received += used;
                    if !claim.grow_to(decoder.held_bytes()) {
                        return Err(RequestError::OverMemoryBudget.into());
                    }
                    if decoder.is_done() {
                        break;
                    }
                    self.fill_before(deadline)?;
                }
                request.body = decoder.into_body();
            }
        }
        Ok(())
    }

    /// Reads more bytes into the buffer, waiting at most `wait`. Buffered: one system call
    /// brings up to `READ_CHUNK_BYTES`, however the client split its writes.
    fn fill(&mut self, wait: Duration) -> io::Result<usize> {
        if wait.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        read_more(self.watch.stream(), &mut self.buf, READ_CHUNK_BYTES, wait)
    }

    /// Reads up to `want` more bytes onto the end of `body`, before `deadline`.
    fn read_into_before(
        &mut self,
        body: &mut Vec<u8>,
        want: usize,
        deadline: Instant,
    ) -> Result<(), ReadError> {
        let wait = deadline.saturating_duration_since(Instant::now());
        if wait.is_zero() {
            return Err(RequestError::BodyTimeout.into());
        }
        match read_more(self.watch.stream(), body, want, wait) {
            Ok(0) => Err(ReadError::Gone),
            Ok(_) => Ok(()),
            Err(e) if is_timeout(&e) => Err(RequestError::BodyTimeout.into()),
            Err(_) => Err(ReadError::Gone),
        }
    }

    fn stream(&self) -> &TcpStream {
        self.watch.stream()
    }

    /// `fill` for a body: the deadline passing is a 408, the client leaving ends quietly.
    fn fill_before(&mut self, deadline: Instant) -> Result<(), ReadError> {
        match self.fill(deadline.saturating_duration_since(Instant::now())) {
            Ok(0) => Err(ReadError::Gone),
            Ok(_) => Ok(()),
            Err(e) if is_timeout(&e) => Err(RequestError::BodyTimeout.into()),
            Err(_) => Err(ReadError::Gone),
        }
    }

    /// Sends a complete response, and says what the connection is fit for afterwards.
    fn send(
        &mut self,
        app: &App,
        request: &Request,
        response: &Response,
        keep_alive: bool,
        counters: Option<&Counters>,
    ) -> After {
        let no_body = status_has_no_body(response.status);
        let delimit = match no_body {
            true => Delimit::NoBody,
            false => Delimit::Length(response.body.len()),
        };
        // A handler may ask to close, with `Connection: close` on its response.
        let keep_alive = keep_alive && !asks_to_close(response);
        let mut bytes = head_bytes(request.version, response, delimit, keep_alive);
        trace(app, self.id, "<", &bytes);
        if request.method != "HEAD" && !no_body {
            bytes.extend_from_slice(&response.body);
        }
        let written = write_all_within(self.stream(), &[&bytes], app.config.timeouts.write);
        if let Some(counters) = counters {
            counters.sent(bytes.len());
        }
        log_request(
            app,
            &self.peer,
            request,
            response.status,
            bytes.len(),
            self.started,
        );
        After::sending(written.is_ok(), keep_alive)
    }

    /// Sends a head, then lets the handler's function write the body over time. `length` is
    /// the body's size when the handler knows it in advance (`Reply::SizedStream`).
    fn stream_body(
        &mut self,
        app: &App,
        request: &Request,
        response: Response,
        length: Option<usize>,
        body: crate::router::StreamBody,
        counters: Option<&Counters>,
    ) -> After {
        // A known length goes in Content-Length and the bytes follow raw. Otherwise HTTP/1.1
        // frames the stream in chunks and can keep the connection afterwards; HTTP/1.0 has
        // no chunks, so the body runs until we close.
        let chunked = length.is_none() && request.version == Version::Http11;
        let delimit = match length {
            Some(length) => Delimit::Length(length),
            None if chunked => Delimit::Chunked,
            None => Delimit::Close,
        };
        // (Only a handler streams, and a handler ran only if the request was not refused
        // early, so the request alone decides keep-alive here.)
        let keep_alive =
            request.keep_alive() && delimit != Delimit::Close && !asks_to_close(&response);
        let head = head_bytes(request.version, &response, delimit, keep_alive);
        trace(app, self.id, "<", &head);
        let limit = app.config.timeouts.write;
        if write_all_within(self.stream(), &[&head], limit).is_err() {
            return After::Broken;
        }
        if let Some(counters) = counters {
            counters.sent(head.len());
        }
        if request.method == "HEAD" {
            log_request(
                app,
                &self.peer,
                request,
                response.status,
                head.len(),
                self.started,
            );
            return After::sending(true, keep_alive);
        }
        log(
            app,
            &format!(
                "{} {} {} {} stream opened",
                self.peer, request.method, request.target, response.status
            ),
        );
        let mut out = Metered {
            out: Deadlined {
                stream: self.watch.stream(),
                limit,
            },
            left: length.unwrap_or(usize::MAX),
            counters,
        };
        let mut writer = BodyWriter::new(&mut out, chunked);
        let result = match catch_unwind(AssertUnwindSafe(|| body(&mut writer))) {
            Ok(Ok(())) => match length {
                // Fewer bytes than announced: the client would wait for the rest for ever.
                Some(n) if writer.bytes != n as u64 => Err(format!(
                    "the handler wrote {} of its {n} bytes",
                    writer.bytes
                )),
                _ => writer.finish().map_err(|e| e.to_string()),
            },
            Ok(Err(e)) => Err(why_a_stream_stopped(&e)),
            Err(_) => Err("the handler panicked".to_string()),
        };
        let how = match &result {
            Ok(()) => "ended".to_string(),
            Err(why) => format!("ended ({why})"),
        };
        log(
            app,
            &format!(
                "{} {} {} {} stream {how} after {:.1?}, {} pieces, {}B",
                self.peer,
                request.method,
                request.target,
                response.status,
                self.started.elapsed(),
                writer.pieces,
                writer.bytes
            ),
        );
        After::sending(result.is_ok(), keep_alive)
    }

    /// Sends `101 Switching Protocols` and hands the socket to the new protocol.
    fn upgrade(
        &mut self,
        app: &App,
        request: &Request,
        head: Response,
        protocol: UpgradeFn,
        counters: Option<&Counters>,
    ) -> After {
        let bytes = head_bytes(request.version, &head, Delimit::NoBody, true);
        trace(app, self.id, "<", &bytes);
        let limit = app.config.timeouts.write;
        if write_all_within(self.stream(), &[&bytes], limit).is_err()
            || self.stream().set_read_timeout(None).is_err()
        {
            return After::Broken;
        }
        if let Some(counters) = counters {
            counters.sent(bytes.len());
        }
        log(
            app,
            &format!(
                "{} {} {} 101 switched protocols",
                self.peer, request.method, request.target
            ),
        );
        let upgraded = Upgraded {
            stream: self.watch.shared_stream(),
            buffered: std::mem::take(&mut self.buf),
            app,
            id: self.id,
            peer: &self.peer,
            counters: app.traffic.get(&request.path).cloned(),
        };
        if catch_unwind(AssertUnwindSafe(|| protocol(upgraded))).is_err() {
            log(
                app,
                &format!("{} the upgraded connection's handler panicked", self.peer),
            );
        }
        log(
            app,
            &format!(
                "{} {} closed after {:.1?}",
                self.peer,
                request.target,
                self.started.elapsed()
            ),
        );
        After::HandedOver
    }

    /// Answers a bad request with its status and one line saying why; the connection closes.
    /// The trace shows what arrived (up to 1 KiB), since no head was ever parsed.
    fn refuse(&mut self, app: &App, error: RequestError) -> Ending {
        trace(app, self.id, ">", &self.buf[..self.buf.len().min(1024)]);
        let mut response = Response::text(error.status(), format!("{}\n", error.reason()));
        if error.status() == 503 {
            response = response.with_header("Retry-After", RETRY_AFTER_SECS.to_string());
        }
        let bytes = closing_answer(&response);
        trace(
            app,
            self.id,
            "<",
            &bytes[..bytes.len() - response.body.len()],
        );
        let _ = write_all_within(self.stream(), &[&bytes], app.config.timeouts.write);
        let (status, reason) = (error.status(), error.reason());
        log(
            app,
            &format!("{} bad request: {status} {reason}", self.peer),
        );
        Ending::Linger
    }

    fn write_raw(&mut self, app: &App, bytes: &[u8]) -> io::Result<()> {
        trace(app, self.id, "<", bytes);
        write_all_within(self.stream(), &[bytes], app.config.timeouts.write)
    }

    fn close(self, ending: Ending, linger_for: Duration) {
        if ending == Ending::Linger {
            linger(self.stream(), linger_for, LINGER_BYTES);
        }
        let _ = self.stream().shutdown(Shutdown::Both);
    }
}

/// Reads once, at most `want` bytes onto the end of `into`, waiting at most `wait`.
fn read_more(
    mut stream: &TcpStream,
    into: &mut Vec<u8>,
    want: usize,
    wait: Duration,
) -> io::Result<usize> {
    stream.set_read_timeout(Some(wait))?;
    let start = into.len();
    into.resize(start + want, 0);
    let result = stream.read(&mut into[start..]);
    into.truncate(start + *result.as_ref().unwrap_or(&0));
    result
}

/// The socket as a stream body writes to it: each piece (`write_all`: one chunk with its
/// framing) must be taken whole within the write timeout, or the stream ends.
struct Deadlined<'a> {
    stream: &'a TcpStream,
    limit: Duration,
}

impl Write for Deadlined<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        write_all_within(self.stream, &[bytes], self.limit)?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A handler asks to close with `Connection: close` (a token list, any case).
fn asks_to_close(response: &Response) -> bool {
    response
        .header("connection")
        .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
}

/// The socket as a stream's body sees it: counts every byte that leaves (chunk framing
/// included) as it leaves, so `/stats` is live for streams that never end; and refuses to pass
/// more than `left` bytes: a body sent after a `Content-Length` must not run past it, or its
/// tail would be read as the next response.
struct Metered<'a, W: Write> {
    out: W,
    left: usize,
    counters: Option<&'a Counters>,
}

impl<W: Write> Write for Metered<'_, W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if bytes.len() > self.left {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the body is longer than its Content-Length",
            ));
        }
        let written = self.out.write(bytes)?;
        self.left -= written;
        if let Some(counters) = self.counters {
            counters.sent(written);
        }
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// For the log: a write that failed because the client left, or stopped reading, or any
/// other reason the handler gave for ending early.
fn why_a_stream_stopped(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::BrokenPipe
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted => {
            format!("client gone: {e}")
        }
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
            format!("client stopped reading: {e}")
        }
        _ => e.to_string(),
    }
}

/// One line per request: who, what, the status, bytes sent, and how long it took.
fn log_request(
    app: &App,
    peer: &str,
    request: &Request,
    status: u16,
    bytes: usize,
    started: Instant,
) {
    log(
        app,
        &format!(
            "{peer} {} {} {status} {bytes}B {:.1?}",
            request.method,
            request.target,
            started.elapsed()
        ),
    );
}

fn log(app: &App, line: &str) {
    app.log(line);
}

/// `--trace`: a head as it crossed the wire, one line per line, with CR LF spelled out and
/// any other unprintable byte as `\xNN`. `>` is from the client, `<` from the server.
fn trace(app: &App, id: u64, direction: &str, bytes: &[u8]) {
    if app.config.trace {
        app.trace(format_trace(id, direction, bytes));
    }
}

fn format_trace(id: u64, direction: &str, bytes: &[u8]) -> String {
    let mut out = format!("#{id} {direction} ");
    for (i, &byte) in bytes.iter().enumerate() {
        match byte {
            b'\r' => out.push_str("\\r"),
            b'\n' if i + 1 < bytes.len() => out.push_str(&format!("\\n\n#{id} {direction} ")),
            b'\n' => out.push_str("\\n\n"),
            b' '..=b'~' => out.push(byte as char),
            _ => out.push_str(&format!("\\x{byte:02x}")),
        }
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_shows_line_ends() {
        let shown = format_trace(3, ">", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(
            shown,
            "#3 > GET / HTTP/1.1\\r\\n\n#3 > Host: x\\r\\n\n#3 > \\r\\n\n"
        );
        assert_eq!(format_trace(1, "<", b"a\x00"), "#1 < a\\x00\n");
    }

    #[test]
    fn a_sized_body_cannot_run_past_its_length() {
        let counters = Counters::default();
        let mut out = Metered {
            out: Vec::new(),
            left: 5,
            counters: Some(&counters),
        };
        assert!(out.write_all(b"abc").is_ok());
        assert!(
            out.write_all(b"def").is_err(),
            "6 bytes after a length of 5"
        );
        assert!(out.write_all(b"de").is_ok());
        assert_eq!((out.out.as_slice(), out.left), (&b"abcde"[..], 0));
        assert_eq!(counters.snapshot().bytes_out, 5, "counted as it left");
    }
}
