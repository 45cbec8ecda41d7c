//! One connection's life: the keep-alive loop, reading heads and bodies, and the close.

use std::cell::Cell;
use std::io::{self, Read};
use std::net::{Shutdown, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Shared;
use super::lines::trace;
use super::roster::{Doing, Roster, Seat};
use crate::App;
use crate::budget::{Claim, make_room};
use crate::faults::relay::{Relay, interpose};
use crate::faults::{FAULTS_HEADER, FAULTS_PARAM, strip_upgrade};
use crate::handler::{Context, Reply, held_full_reason};
use crate::held::Place;
use crate::http::body::ChunkedDecoder;
use crate::http::request::{BodyFraming, Parsed, Request, RequestError, parse_head};
use crate::http::response::Response;
use crate::inspector::is_inspectors_own;
use crate::inspector::tap::{self, Tap};
use crate::limits::{
    HEADER_TIMEOUT_UNDER_PRESSURE, LINGER_BYTES, MAX_HEAD_BYTES, READ_CHUNK_BYTES,
    RETRY_AFTER_SECS, UNDER_PRESSURE_PERCENT,
};
use crate::net::{ClientWatch, is_timeout, linger};

/// Everything one connection's thread does, start to end.
pub(super) fn run(stream: Arc<TcpStream>, seat: &Seat, id: u64, shared: &Shared) {
    // "#7 127.0.0.1:50312": the number matches the connection's lines in --trace.
    let peer = match stream.peer_addr() {
        Ok(addr) => format!("#{id} {addr}"),
        Err(_) => format!("#{id}"),
    };
    let mut conn = Connection {
        watch: ClientWatch::shared(stream),
        seat,
        roster: &shared.roster,
        buf: Vec::with_capacity(READ_CHUNK_BYTES),
        id,
        peer,
        started: Instant::now(),
        received: 0,
        read_timeout: None,
        relay: None,
        tap: None,
    };
    // A panic is a bug, but it must cost one connection, never the server: the handler's own
    // panics become a 500 inside `serve`; this catches anything else.
    let ending = catch_unwind(AssertUnwindSafe(|| conn.serve(shared))).unwrap_or(Next::Close);
    // A lingering connection keeps its seat, marked as the cheapest to take back: a client
    // that saw our close and comes back at once finds room. A seat taken back was given to
    // another connection already: no lingering on it. Otherwise the seat is free before the
    // client can see the close, so a client that saw it may count on the room.
    if ending == Next::Linger && seat.now(Doing::Closing) {
        linger(
            conn.stream(),
            shared.app.config.timeouts.linger,
            LINGER_BYTES,
        );
    }
    // Behind a relay (`faults/relay.rs`), the client has its last byte only when the relay
    // has passed it on: the seat is given back after that.
    if let Some(relay) = conn.relay.take() {
        let _ = conn.stream().shutdown(Shutdown::Both);
        relay.finish();
    }
    // Behind a tap (`inspector/tap.rs`), the same: it ends once both directions have.
    if let Some(tap) = conn.tap.take() {
        let _ = conn.stream().shutdown(Shutdown::Both);
        tap.finish();
    }
    shared.roster.leave(seat);
    let _ = conn.stream().shutdown(Shutdown::Both);
}

// ANCHOR: next
/// What a connection does after a reply, and how it ends: one type for both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Next {
    /// Keep-alive: read the next request.
    Request,
    /// Close while the client may still be sending (after an error, or a `Connection: close`
    /// with requests behind it): stop writing, then read and discard what arrives for a
    /// moment, so that our last response is not wiped out by a TCP reset (RFC 9112 §9.6).
    Linger,
    /// Close now: the client has gone or sends nothing more, a write failed, or another
    /// protocol had the connection and is done with it.
    Close,
}

impl Next {
    /// After a response that was sent whole (or not), on a connection meant to stay open (or
    /// not).
    pub(super) fn after(sent: bool, keep_alive: bool) -> Next {
        match (sent, keep_alive) {
            (false, _) => Next::Close,
            (true, true) => Next::Request,
            (true, false) => Next::Linger,
        }
    }
}
// ANCHOR_END: next

/// Why reading a request stopped.
pub(super) enum ReadError {
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

pub(super) struct Connection<'s> {
    /// The socket, and what a held request's handler read from it while watching it.
    pub(super) watch: ClientWatch,
    /// Its place in the roster, where it says what it is doing (`roster.rs`).
    seat: &'s Seat,
    pub(super) roster: &'s Arc<Roster>,
    /// Bytes received and not yet used: a partial head, or pipelined requests.
    pub(super) buf: Vec<u8>,
    pub(super) id: u64,
    /// "#7 127.0.0.1:50312", the prefix of every log line about this connection.
    pub(super) peer: String,
    /// When the current request's head was complete: the start of its log line's time.
    pub(super) started: Instant,
    /// The current request's size on the wire, head and body with their framing.
    pub(super) received: usize,
    /// The socket's read timeout as last set: set again only when a wait differs, so a
    /// keep-alive connection waiting its idle timeout again and again costs no system call.
    read_timeout: Option<Duration>,
    /// The middlebox this connection now goes through, when faults are on (`faults/`).
    relay: Option<Relay>,
    /// The tee that shows this connection to a browser's wire inspector (`inspector/`).
    tap: Option<Tap>,
}

impl Connection<'_> {
    // ANCHOR: serve
    /// The keep-alive loop: one request after another until one side closes.
    fn serve(&mut self, shared: &Shared) -> Next {
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
                Err(ReadError::Gone) => return Next::Close,
                Err(ReadError::Bad(error)) => return self.refuse(app, error),
            };
            first = false;
            self.started = Instant::now();
            // Faults switched on play their part now: on the request, or on its bytes.
            let faulty = self.play_faults(app, &mut request).err();
            // A client waiting for `100 Continue` that no handler would take (404, 405, 501) is
            // refused now, before it sends a body nobody would read (RFC 9110 §10.1.1).
            let refuse_early = request.expects_continue && !shared.router.accepts(&request);
            // The body's bytes are held against the shared budget until the handler returns.
            let mut body_claim = app.budget.claim();
            if !refuse_early {
                match self.read_body(app, &mut request, &mut body_claim) {
                    Ok(()) => {}
                    Err(ReadError::Gone) => return Next::Close,
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
                took_place: Cell::new(false),
                read_buffer: Cell::new(std::mem::take(&mut self.buf)),
            };
            let reply = match faulty {
                Some(refusal) => refusal.into(),
                None => catch_unwind(AssertUnwindSafe(|| {
                    shared.router.dispatch(&request, &context)
                }))
                .unwrap_or_else(|_| {
                    Response::refusal(500, "the handler failed; the server log has the details")
                        .into()
                }),
            };
            // A stream or a socket holds the connection for as long as it lasts: it needs one
            // of the `--max-held` places, unless its handler took one itself.
            let (reply, _held_place) = hold_if_held(app, reply, context.took_place.get());
            self.buf = context.read_buffer.take();
            if !matches!(reply, Reply::Full(_)) && self.buf.is_empty() {
                // A stream or a socket: the buffer would wait unused for as long as it lasts.
                self.buf = Vec::new();
            }
            // The handler has what it needs of the body: give its bytes back now, before a
            // stream or a WebSocket that may last for hours (a GET may carry a body too).
            request.body = Vec::new();
            body_claim.release();
            let keep_alive = request.keep_alive() && !refuse_early;
            let next = match reply {
                Reply::Full(response) => {
                    // Once this answer is written the connection is idle, unless more
                    // requests wait in the buffer: say so now, so that a client that has
                    // read the answer may count on the connection being idle.
                    if keep_alive && self.buf.is_empty() {
                        self.seat.now(Doing::Idle);
                    }
                    self.send(app, &request, &response, keep_alive, counters)
                }
                Reply::Stream { head, length, body } => {
                    self.stream_body(app, &request, head, length, body, counters)
                }
                Reply::Upgrade { head, protocol } => {
                    self.upgrade(app, &request, head, protocol, counters)
                }
            };
            if let Some(counters) = counters {
                counters.finished();
            }
            // A held request's handler may have read the client's next request while it
            // watched for a close; it goes after what was already buffered. Then the buffer
            // keeps no more room than a head needs.
            self.buf.extend(self.watch.take_unread());
            self.buf.shrink_to(MAX_HEAD_BYTES + READ_CHUNK_BYTES);
            if next != Next::Request {
                return next;
            }
        }
    }
    // ANCHOR_END: serve

    // ANCHOR: play_faults
    /// The faults for this request (`faults/`), if any: `strip-upgrade` edits the request as
    /// a proxy would; the others hand the connection to a relay that plays them on its bytes,
    /// and the server carries on behind it with the relay's socket. A request's own fault
    /// spec that does not parse is its mistake (400); no room for another relay is a 503:
    /// faults asked for and not played would mislead whoever asked.
    fn play_faults(&mut self, app: &App, request: &mut Request) -> Result<(), Response> {
        let asks = request.query.contains(FAULTS_PARAM) || request.header(FAULTS_HEADER).is_some();
        if !asks && !app.faults.any_on() {
            return Ok(()); // the common case costs two checks
        }
        // The pages and the switch itself are never faulted by the server-wide setting.
        // Nor the inspector, whose feed must show the faults, not suffer them.
        let exempt = ["/faults", "/favicon.ico"].contains(&request.path.as_str())
            || app.page_paths.contains(&request.path)
            || is_inspectors_own(&request.path);
        let faults = app
            .faults
            .for_request(request, exempt)
            .map_err(|reason| Response::refusal(400, &reason))?;
        if faults.strip_upgrade && strip_upgrade(request) {
            app.log(&format!(
                "{} fault strip-upgrade: Upgrade and Connection removed; the server sees a plain GET",
                self.peer
            ));
        }
        if !faults.needs_relay() || self.relay.is_some() {
            return Ok(());
        }
        // One request per relayed connection, as nginx asks of its upstream by default: the
        // response then ends with the connection, which the relay can see. A handshake keeps
        // its `Connection: Upgrade` beside it: a 101 takes the connection over, and a refusal
        // closes it.
        // (An HTTP/1.0 `Connection: keep-alive` goes: it would keep the connection open.)
        let upgrade = request.has_token("connection", "upgrade");
        request
            .headers
            .retain(|(name, _)| !name.eq_ignore_ascii_case("connection"));
        request
            .headers
            .push(("Connection".to_string(), "close".to_string()));
        if upgrade {
            request
                .headers
                .push(("Connection".to_string(), "upgrade".to_string()));
        }
        let client = self.watch.shared_stream();
        match interpose(client, faults, app.log_sink(), self.peer.clone()) {
            Ok((server_end, relay)) => {
                self.carry_on_with(app, server_end);
                self.relay = Some(relay);
                app.log(&format!(
                    "{} faults on this connection: {faults}",
                    self.peer
                ));
                // The head already arrived, straight: it pays the latency here.
                if let Some(latency) = faults.latency {
                    std::thread::sleep(latency);
                }
            }
            Err(e) => {
                app.log(&format!("{} faults not played: no relay ({e})", self.peer));
                let reason = format!("the faults asked for cannot be played now: {e}");
                return Err(Response::refusal(503, &reason)
                    .with_header("Retry-After", RETRY_AFTER_SECS.to_string()));
            }
        }
        Ok(())
    }
    // ANCHOR_END: play_faults

    // ANCHOR: tap_if_inspected
    /// Shows this connection to the wire inspector of the browser that sent `request`, if
    /// its cookie names a session: from this request (already read, with whatever arrived
    /// behind it) until the connection closes. The inspector's own requests open no tap.
    fn tap_if_inspected(&mut self, app: &App, request: &Request) {
        if is_inspectors_own(&request.path) {
            return;
        }
        let Some(session) = app.inspector.session_of(request) else {
            return;
        };
        let client = self.watch.shared_stream();
        // No tap: past `MAX_TAPPED` the connection goes on untapped (its session is told);
        // a tap that could not start its threads has shut the connection (a thread may have
        // read the browser's bytes already), and the log says so.
        let tapped = tap::interpose(
            client,
            Arc::clone(&app.inspector),
            session,
            self.id,
            &self.peer,
            &self.buf,
            app.config.timeouts.write,
        );
        match tapped {
            Ok((server_end, tap)) => {
                self.carry_on_with(app, server_end);
                self.tap = Some(tap);
            }
            Err(e) => {
                // The tap may have changed the socket's timeouts before it failed: the next
                // wait sets the read timeout again.
                self.read_timeout = None;
                app.log(&format!("{} not shown to its inspector: {e}", self.peer));
            }
        }
    }
    // ANCHOR_END: tap_if_inspected

    /// Behind a relay or a tap, the server carries on with the other end of its loopback
    /// pair, set up as the client's socket was (`serve`): no Nagle, the write deadline, and
    /// the read timeout set afresh on the next wait.
    fn carry_on_with(&mut self, app: &App, server_end: TcpStream) {
        let _ = server_end.set_nodelay(true);
        let _ = server_end.set_write_timeout(Some(app.config.timeouts.write));
        self.watch = ClientWatch::shared(Arc::new(server_end));
        self.read_timeout = None;
    }

    // ANCHOR: read_request
    /// Reads until a whole head has arrived. The first request's head must arrive within the
    /// header timeout of the connection's start; later ones may idle first (keep-alive), and
    /// their header timeout starts with their first byte. One deadline per head: it is never
    /// pushed back by a read, so a client trickling a byte at a time still runs out of time.
    /// Running out of time with part of a head is a 408; with nothing at all (a browser's
    /// spare pre-opened connection, an idle keep-alive) we just close.
    fn read_request(&mut self, app: &App, first: bool) -> Result<Request, ReadError> {
        let timeouts = &app.config.timeouts;
        let mut deadline = (first || !self.buf.is_empty()).then(|| self.head_deadline(app));
        loop {
            if !self.buf.is_empty()
                && let Parsed::Complete(request, used) = parse_head(&self.buf)?
            {
                if !self.seat.now(Doing::Busy) {
                    // Taken back just as it arrived whole: say so, so the client sends it
                    // again, rather than close without a word.
                    return Err(RequestError::HeadTakenBack.into());
                }
                trace(app, self.id, ">", &self.buf[..used]);
                // Nobody inspecting: one atomic load, and on.
                if self.tap.is_none() && app.inspector.any_open() {
                    self.tap_if_inspected(app, &request);
                }
                self.buf.drain(..used);
                self.received = used;
                return Ok(request);
            }
            // Say what we wait for: idle between two requests (cheap to take back), or a
            // head — begun, or the first one, whose time runs from the connection's start.
            let doing = if self.buf.is_empty() && !first {
                Doing::Idle
            } else {
                Doing::Head
            };
            if !self.seat.now(doing) {
                return Err(self.taken_back());
            }
            let wait = match deadline {
                Some(deadline) => deadline.saturating_duration_since(Instant::now()),
                None => timeouts.idle,
            };
            match self.fill(wait) {
                Ok(0) if self.seat.taken_back() => return Err(self.taken_back()),
                Ok(0) => return Err(ReadError::Gone),
                Ok(_) => deadline = deadline.or_else(|| Some(self.head_deadline(app))),
                Err(e) if is_timeout(&e) && !self.buf.is_empty() => {
                    return Err(RequestError::HeaderTimeout.into());
                }
                Err(_) => return Err(ReadError::Gone), // idle keep-alive timed out, or reset
            }
        }
    }

    /// When a head starting now must be complete: the header timeout, shorter when the
    /// server is nearly full (`HEADER_TIMEOUT_UNDER_PRESSURE`), so slow heads give their
    /// seats back sooner when others are waiting for one.
    fn head_deadline(&self, app: &App) -> Instant {
        let (open, most) = (self.roster.open(), self.roster.most());
        let pressed = open * 100 >= most * UNDER_PRESSURE_PERCENT;
        let timeout = if pressed {
            app.config
                .timeouts
                .header
                .min(HEADER_TIMEOUT_UNDER_PRESSURE)
        } else {
            app.config.timeouts.header
        };
        Instant::now() + timeout
    }

    /// Our seat was taken back for a new connection: a head begun gets a 408, an idle
    /// connection just closes. The acceptor shut our reading side, so what the client sent
    /// before that can still be read, and then the reads end at once: none of them waits.
    fn taken_back(&mut self) -> ReadError {
        while self.buf.len() < MAX_HEAD_BYTES {
            match self.fill(Duration::from_millis(1)) {
                Ok(n) if n > 0 => {}
                _ => break,
            }
        }
        if self.buf.is_empty() {
            ReadError::Gone
        } else {
            RequestError::HeadTakenBack.into()
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
            self.send_head(app, b"HTTP/1.1 100 Continue\r\n\r\n", &[], None)
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
                    let used = decoder.feed(&self.buf, claim)?;
                    self.buf.drain(..used);
                    self.received += used;
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
        self.set_read_timeout(wait)?;
        read_more(self.watch.stream(), &mut self.buf, READ_CHUNK_BYTES)
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
        if self.set_read_timeout(wait).is_err() {
            return Err(ReadError::Gone);
        }
        match read_more(self.watch.stream(), body, want) {
            Ok(0) => Err(ReadError::Gone),
            Ok(_) => Ok(()),
            Err(e) if is_timeout(&e) => Err(RequestError::BodyTimeout.into()),
            Err(_) => Err(ReadError::Gone),
        }
    }

    fn set_read_timeout(&mut self, wait: Duration) -> io::Result<()> {
        if self.read_timeout != Some(wait) {
            self.stream().set_read_timeout(Some(wait))?;
            self.read_timeout = Some(wait);
        }
        Ok(())
    }

    pub(super) fn stream(&self) -> &TcpStream {
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
}

// ANCHOR: hold_if_held
/// A place for a reply that holds the connection (a stream, an upgrade) whose handler took
/// none, or a 503 in its stead when every place is taken: held requests may fill only their
/// share of the connections (`--max-held`), and the rest stays free for requests answered
/// at once.
fn hold_if_held(app: &App, reply: Reply, handler_took_one: bool) -> (Reply, Option<Place>) {
    if handler_took_one || matches!(reply, Reply::Full(_)) {
        return (reply, None);
    }
    match app.held.take() {
        Some(place) => (reply, Some(place)),
        None => (
            Response::refusal(503, &held_full_reason(app))
                .with_header("Retry-After", RETRY_AFTER_SECS.to_string())
                .into(),
            None,
        ),
    }
}
// ANCHOR_END: hold_if_held

/// Reads once, at most `want` bytes onto the end of `into`, within the socket's read timeout.
fn read_more(mut stream: &TcpStream, into: &mut Vec<u8>, want: usize) -> io::Result<usize> {
    let start = into.len();
    into.resize(start + want, 0);
    let result = stream.read(&mut into[start..]);
    into.truncate(start + *result.as_ref().unwrap_or(&0));
    result
}
