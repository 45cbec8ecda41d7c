//! The WebSocket scenarios: after the opening handshake, the server writes frames by hand —
//! a message in fragments with a ping between them, a close, a frame that breaks a rule of
//! RFC 6455 — and watches what the client under test sends back.
//!
//! The server's usual connection loop (`ws/connection.rs`) is built to *follow* the RFC;
//! these scenes must break it on purpose, so they write each frame themselves with the codec
//! (`ws/frame.rs`), and read the client's frames with the same `Reader` the server uses, which
//! also checks that the client follows the rules (masked frames, valid close codes, UTF-8).
//!
//! ```text
//! 01 03 48 65 6c                       text, not final: "Hel"
//! 89 0c 77 65 62 77 69 72 65 20 70 …   ping "webwire ping", between two fragments
//! 00 04 6c 6f 2c 20                    continuation, not final: "lo, "
//! 80 05 77 6f 72 6c 64                 continuation, final: "world"
//! ```
//!
//! A client that follows the RFC answers the ping with a pong carrying the same payload, and
//! hands its application one message, "Hello, world". The scenario asks the client to send
//! back the message it received, so that the server can see it whole.

use std::io::{self, Read};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::{Registry, Scenario, Verdict, run_name, shown};
use crate::handler::{Context, Reply, Upgraded};
use crate::http::request::Request;
use crate::http::response::Response;
use crate::log::Log;
use crate::net::{is_timeout, write_all_within};
use crate::router::Route;
use crate::ws::WS_CLOSE_TIMEOUT;
use crate::ws::close::{self, Violation};
use crate::ws::frame::{self, Opcode};
use crate::ws::handshake;
use crate::ws::reader::{Event, Reader};

// ANCHOR: ws_scenario_limits
/// How long the server waits for the client's answer (a pong, a message sent back, a close)
/// before it judges. A client on the same machine answers in milliseconds.
pub const WS_PATIENCE: Duration = Duration::from_secs(5);
/// Largest message the server reads from the client under test: the scenarios only ask it
/// to send back a short text. Past it, the server fails the connection with 1009.
pub const MAX_CLIENT_MESSAGE_BYTES: usize = 64 * 1024;
/// Between the 101 and a scene's first frame: time for the client to announce the open
/// connection to its page. Firefox ESR, given the 101 and a bad frame in one read, fails the
/// connection without ever firing `open`; a scene should test one thing at a time.
pub const OPEN_PAUSE: Duration = Duration::from_millis(250);
/// How much one read takes off the socket.
const READ_BYTES: usize = 4 * 1024;
// ANCHOR_END: ws_scenario_limits

const FRAGMENTED_WITH_PING: &str = "/ws/fragmented-with-ping";
const CLOSE_ECHO: &str = "/ws/close-echo";
const INVALID_UTF8: &str = "/ws/invalid-utf8";
const MASKED_FROM_SERVER: &str = "/ws/masked-from-server";
const BAD_ACCEPT: &str = "/ws/bad-accept";
const RESERVED_OPCODE: &str = "/ws/reserved-opcode";

/// The ping's payload in `fragmented-with-ping`: the pong must carry it back.
pub const PING_PAYLOAD: &[u8] = b"webwire ping";
/// The message `fragmented-with-ping` sends in three fragments.
pub const FRAGMENTS: [&str; 3] = ["Hel", "lo, ", "world"];
/// The reason of the server's close in `close-echo`.
pub const CLOSE_REASON: &str = "scenario over";
/// `invalid-utf8`'s text: "κόσμε", then ED A0 80 (a UTF-16 surrogate, U+D800, which UTF-8
/// may not encode), then "edited" — the case Autobahn numbers 6.3.1.
pub const INVALID_UTF8_TEXT: &[u8] =
    b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited";
/// `masked-from-server`'s key and text.
pub const SERVER_MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
pub const MASKED_TEXT: &str = "masked by the server";
/// `reserved-opcode`'s frame: FIN and opcode 3, reserved for data frames not yet defined.
pub const RESERVED_FRAME: &[u8] = b"\x83\x08reserved";
/// What `bad-accept` sends after its 101: a client that opened anyway may show or echo it.
pub const UNSEEN_TEXT: &str = "you must not see this";

pub static SCENARIOS: &[Scenario] = &[
    Scenario {
        path: FRAGMENTED_WITH_PING,
        serves: "a text message in 3 fragments (\"Hel\", \"lo, \", \"world\") with a ping \
                 (\"webwire ping\") between the first two",
        must: "answer the ping with a pong carrying the same payload, deliver one message, \
               \"Hello, world\", and send it back as one text message",
        cite: "RFC 6455 §5.4 (control frames between fragments), §5.5.2 and §5.5.3 (a pong \
               carries the ping's data)",
    },
    Scenario {
        path: CLOSE_ECHO,
        serves: "a close frame: 1000 and the reason \"scenario over\"",
        must: "answer with a close frame (echoing the code is usual), then let the server \
               close TCP",
        cite: "RFC 6455 §5.5.1 (a close is answered with a close), §7.1.1",
    },
    Scenario {
        path: INVALID_UTF8,
        serves: "a text frame whose payload is not UTF-8 (\"κόσμε\", ED A0 80, \"edited\")",
        must: "fail the connection: deliver nothing, close TCP (a MUST), after a close frame \
               carrying 1007 (a SHOULD: with another code, with no code or with no close \
               frame, it passes as non-strict)",
        cite: "RFC 6455 §8.1, §7.1.7, §7.4.1 (1007)",
    },
    Scenario {
        path: MASKED_FROM_SERVER,
        serves: "a masked text frame from the server",
        must: "fail the connection: deliver nothing, close TCP (a MUST), after a close frame \
               carrying 1002 (a SHOULD: with another code, with no code or with no close \
               frame, it passes as non-strict)",
        cite: "RFC 6455 §5.1 (a client must close on a masked frame), §7.1.7, §7.4.1 (1002)",
    },
    Scenario {
        path: BAD_ACCEPT,
        serves: "101 Switching Protocols whose Sec-WebSocket-Accept is wrong (SHA-1 of the \
                 key alone, without the GUID), then a text frame",
        must: "not open: fire error and close, send no frame, close TCP",
        cite: "RFC 6455 §4.1 (the client checks Sec-WebSocket-Accept, or fails the \
               connection)",
    },
    Scenario {
        path: RESERVED_OPCODE,
        serves: "a frame with opcode 3, reserved",
        must: "fail the connection: deliver nothing, close TCP (a MUST), after a close frame \
               carrying 1002 (a SHOULD: with another code, with no code or with no close \
               frame, it passes as non-strict)",
        cite: "RFC 6455 §5.2 (an unknown opcode fails the connection), §7.1.7, §7.4.1 \
               (1002)",
    },
];

/// One route per scenario.
pub fn routes(registry: &Arc<Registry>) -> Vec<Route> {
    SCENARIOS
        .iter()
        .map(|scenario| {
            let registry = Arc::clone(registry);
            let path = scenario.path;
            Route::get(path, move |request: &Request, _: &Context| {
                handshake(path, &registry, request)
            })
        })
        .collect()
}

/// The opening handshake, checked as the server checks any (`ws/handshake.rs`), then the scene.
fn handshake(path: &'static str, registry: &Arc<Registry>, request: &Request) -> Reply {
    let run = match run_name(request) {
        Ok(run) => run,
        Err(refusal) => return refusal.into(),
    };
    let number = registry.arrive(&run, path).number;
    // Every origin is welcome: a client's test page may be anywhere (even `null`, a file),
    // and these scenes hold nothing a foreign page could steal.
    let mut any_origin = request.clone();
    any_origin
        .headers
        .retain(|(name, _)| !name.eq_ignore_ascii_case("origin"));
    let accepted = match handshake::check(&any_origin, &[], &[]) {
        Ok(accepted) => accepted,
        Err(refusal) => {
            let why = String::from_utf8_lossy(&refusal.body)
                .trim_end()
                .to_string();
            registry.see(
                &run,
                path,
                format!("request {number}: refused {}: {why}", refusal.status),
            );
            registry.judge(
                &run,
                path,
                Verdict::Fail(format!(
                    "the opening handshake was refused with {}: {why} (RFC 6455 §4.1)",
                    refusal.status
                )),
            );
            return refusal.into();
        }
    };
    let mut head = handshake::switching_protocols(&accepted);
    if path == BAD_ACCEPT {
        let key = request.header("sec-websocket-key").unwrap_or_default();
        head = Response::new(101)
            .with_header("Upgrade", "websocket")
            .with_header("Connection", "Upgrade")
            .with_header("Sec-WebSocket-Accept", careless_accept(key));
    }
    registry.see(
        &run,
        path,
        format!("request {number}: handshake answered 101"),
    );
    let registry = Arc::clone(registry);
    Reply::upgrade(head, move |upgraded| {
        thread::sleep(OPEN_PAUSE);
        let mut wire = Wire::new(upgraded);
        let verdict = scene(path, &mut wire);
        for line in wire.seen.drain(..) {
            registry.see(&run, path, line);
        }
        registry.judge(&run, path, verdict);
        registry.ended(&run, path, None);
        wire.hang_up();
    })
}

/// The accept value a careless server computes: base64 of the SHA-1 of the key alone, with
/// no GUID (RFC 6455 §4.2.2 appends it). Never the right one.
fn careless_accept(key: &str) -> String {
    let mut sha1 = sha1_smol::Sha1::new();
    sha1.update(key.as_bytes());
    STANDARD.encode(sha1.digest().bytes())
}

/// Plays the scene at `path` on `wire`; its verdict.
fn scene(path: &str, wire: &mut Wire) -> Verdict {
    match path {
        FRAGMENTED_WITH_PING => fragmented_with_ping(wire),
        CLOSE_ECHO => close_echo(wire),
        INVALID_UTF8 => {
            let frame = frame::encode(true, Opcode::Text, INVALID_UTF8_TEXT, None);
            must_fail(wire, &frame, "a text frame that is not UTF-8", 1007)
        }
        MASKED_FROM_SERVER => {
            let frame = frame::encode(
                true,
                Opcode::Text,
                MASKED_TEXT.as_bytes(),
                Some(SERVER_MASK),
            );
            must_fail(wire, &frame, "a masked frame from the server", 1002)
        }
        RESERVED_OPCODE => must_fail(wire, RESERVED_FRAME, "a frame with opcode 3", 1002),
        BAD_ACCEPT => bad_accept(wire),
        _ => Verdict::Fail(format!("no scene is called {path}")),
    }
}

fn fragmented_with_ping(wire: &mut Wire) -> Verdict {
    let [first, second, third] = FRAGMENTS;
    let frames = [
        frame::encode(false, Opcode::Text, first.as_bytes(), None),
        frame::encode(true, Opcode::Ping, PING_PAYLOAD, None),
        frame::encode(false, Opcode::Continuation, second.as_bytes(), None),
        frame::encode(true, Opcode::Continuation, third.as_bytes(), None),
    ];
    for frame in &frames {
        if let Err(e) = wire.send(frame) {
            return Verdict::Fail(format!("the connection failed while the server wrote: {e}"));
        }
    }
    let whole = FRAGMENTS.concat();
    let (mut ponged, mut echoed) = (false, false);
    let deadline = Instant::now() + WS_PATIENCE;
    while !(ponged && echoed) {
        match wire.hear(deadline) {
            Heard::Event(Event::Pong(payload)) if payload == PING_PAYLOAD => ponged = true,
            Heard::Event(Event::Pong(payload)) => {
                return Verdict::Fail(format!(
                    "a pong carrying {}, not the ping's \"webwire ping\" (RFC 6455 §5.5.3)",
                    quoted(&payload)
                ));
            }
            Heard::Event(Event::Text(text)) if text == whole => echoed = true,
            Heard::Event(Event::Text(text)) => {
                return Verdict::Fail(format!(
                    "sent back {}, not the whole message \"{whole}\": fragments are one \
                     message (RFC 6455 §5.4)",
                    quoted(text.as_bytes())
                ));
            }
            Heard::Event(Event::Ping(payload)) => wire.pong(&payload),
            Heard::Event(Event::Binary(_)) => {
                return Verdict::Fail("sent back a binary message; the message was text".into());
            }
            heard => return unfinished(wire, heard, ponged, echoed),
        }
    }
    wire.close_and_wait(1000, CLOSE_REASON);
    Verdict::Pass(format!(
        "answered the ping with a pong carrying \"webwire ping\", and sent back \"{whole}\" \
         whole"
    ))
}

/// The verdict when the client stops before it has both ponged and sent the message back.
fn unfinished(wire: &mut Wire, heard: Heard, ponged: bool, echoed: bool) -> Verdict {
    let missing = match (ponged, echoed) {
        (false, false) => "no pong and no message sent back",
        (false, true) => "no pong (RFC 6455 §5.5.2: a ping is answered with a pong)",
        _ => "the message was not sent back (the scenario asks for it, to see it whole)",
    };
    let what = match heard {
        Heard::Event(Event::Close(code)) => {
            wire.answer_close(code.as_ref());
            format!("the client closed ({})", close_shown(code.as_ref()))
        }
        Heard::Broke(violation) => return wire.broken(violation),
        Heard::Gone(how) => how,
        Heard::Silent => format!("nothing more within {} s", WS_PATIENCE.as_secs()),
        Heard::Event(_) => "an unexpected frame".into(),
    };
    Verdict::Fail(format!("{missing}: {what}"))
}

fn close_echo(wire: &mut Wire) -> Verdict {
    if let Err(e) = wire.close(1000, CLOSE_REASON) {
        return Verdict::Fail(format!("the connection failed while the server wrote: {e}"));
    }
    let deadline = Instant::now() + WS_PATIENCE;
    loop {
        match wire.hear(deadline) {
            Heard::Event(Event::Close(code)) => {
                return Verdict::Pass(format!(
                    "answered the close with a close frame ({})",
                    close_shown(code.as_ref())
                ));
            }
            // Sent before it read the server's close, perhaps: allowed.
            Heard::Event(_) => {}
            Heard::Broke(violation) => return wire.broken(violation),
            Heard::Gone(how) => {
                return Verdict::Fail(format!(
                    "{how} without a close frame: a close is answered with a close (RFC 6455 \
                     §5.5.1)"
                ));
            }
            Heard::Silent => {
                return Verdict::Fail(format!(
                    "no close frame within {} s of the server's close (RFC 6455 §5.5.1)",
                    WS_PATIENCE.as_secs()
                ));
            }
        }
    }
}

/// Sends `frame`, which breaks a rule, and expects the client to fail the connection (RFC
/// 6455 §7.1.7): close TCP, after a close frame with `code`.
///
/// Failing the connection is the MUST, and decides the verdict; the close frame "with an
/// appropriate status code" before it is a SHOULD. So, as Autobahn tells OK from NON-STRICT,
/// a client that fails the connection without that close frame (another code, no code, or no
/// close frame at all) passes, with a `why` that starts `non-strict:` and names what it missed.
fn must_fail(wire: &mut Wire, frame: &[u8], what: &str, code: u16) -> Verdict {
    if let Err(e) = wire.send(frame) {
        return Verdict::Fail(format!("the connection failed while the server wrote: {e}"));
    }
    let failed = format!("failed the connection after {what}, as it must (RFC 6455 §7.1.7)");
    let named = format!("{code} ({})", frame::close_code_name(code));
    let deadline = Instant::now() + WS_PATIENCE;
    loop {
        return match wire.hear(deadline) {
            Heard::Event(Event::Close(None)) => {
                wire.answer_close(None);
                Verdict::Pass(format!(
                    "non-strict: {failed}, but with a close frame carrying no code where §7.4.1 \
                     names {named}"
                ))
            }
            Heard::Event(Event::Close(Some((sent, reason)))) => {
                wire.answer_close(Some(&(sent, reason.clone())));
                match sent == code {
                    true => Verdict::Pass(format!(
                        "failed the connection after {what}: close {sent} {}",
                        quoted(reason.as_bytes())
                    )),
                    false => Verdict::Pass(format!(
                        "non-strict: {failed}, but with close {sent} ({}) where §7.4.1 names \
                         {named}",
                        frame::close_code_name(sent)
                    )),
                }
            }
            // A ping or a pong is not the client going on with the message: look further.
            Heard::Event(Event::Ping(_) | Event::Pong(_)) => continue,
            Heard::Event(Event::Text(text)) => Verdict::Fail(format!(
                "sent a text message ({}) after {what}: it should have failed the connection \
                 (RFC 6455 §7.1.7)",
                quoted(text.as_bytes())
            )),
            Heard::Event(Event::Binary(_)) => Verdict::Fail(format!(
                "sent a binary message after {what}: it should have failed the connection \
                 (RFC 6455 §7.1.7)"
            )),
            Heard::Broke(violation) => wire.broken(violation),
            Heard::Gone(how) => Verdict::Pass(format!(
                "non-strict: {failed}, but {how} with no close frame, where §7.1.7 says it \
                 SHOULD send one first, with the code §7.4.1 names: {named}"
            )),
            Heard::Silent => Verdict::Fail(format!(
                "still open {} s after {what}: a client fails the connection (RFC 6455 §7.1.7)",
                WS_PATIENCE.as_secs()
            )),
        };
    }
}

fn bad_accept(wire: &mut Wire) -> Verdict {
    let text = frame::encode(true, Opcode::Text, UNSEEN_TEXT.as_bytes(), None);
    if let Err(e) = wire.send(&text) {
        // The client closed already: it did not open.
        return Verdict::Pass(format!(
            "closed the connection before the first frame ({e})"
        ));
    }
    let opened = "though Sec-WebSocket-Accept was wrong: a client checks it and fails the \
                  connection (RFC 6455 §4.1)";
    match wire.hear(Instant::now() + WS_PATIENCE) {
        Heard::Gone(how) => {
            Verdict::Pass(format!("{how} without sending a frame: it did not open"))
        }
        Heard::Event(event) => Verdict::Fail(format!("sent a {} frame, {opened}", kind(&event))),
        Heard::Broke(violation) => Verdict::Fail(format!(
            "sent a frame that breaks RFC 6455 ({}), {opened}",
            violation.reason()
        )),
        Heard::Silent => Verdict::Fail(format!(
            "still open {} s after the 101, {opened}",
            WS_PATIENCE.as_secs()
        )),
    }
}

/// What the server heard next from the client.
enum Heard {
    /// A frame, or a whole message.
    Event(Event),
    /// A frame that breaks a rule a client must follow.
    Broke(Violation),
    /// The TCP connection ended or failed: how.
    Gone(String),
    /// Nothing before the deadline.
    Silent,
}

/// The socket after the 101, read and written frame by frame, with `--trace`.
struct Wire {
    stream: Arc<TcpStream>,
    /// Bytes read and not yet taken by the reader (a frame header cut in two).
    unread: Vec<u8>,
    reader: Reader,
    write_timeout: Duration,
    /// `#7` and the log, with `--trace`.
    trace: Option<(String, Log)>,
    /// What the server saw, one line each, for the results.
    seen: Vec<String>,
    /// Whether a close frame went out already: one is the most an endpoint sends.
    closed: bool,
}

impl Wire {
    fn new(upgraded: Upgraded) -> Wire {
        let trace = upgraded
            .app
            .trace_sink()
            .map(|log| (format!("#{}", upgraded.id), log));
        Wire {
            stream: upgraded.stream,
            unread: upgraded.buffered,
            reader: Reader::new(MAX_CLIENT_MESSAGE_BYTES, trace.is_some()),
            write_timeout: upgraded.app.config.timeouts.write,
            trace,
            seen: Vec::new(),
            closed: false,
        }
    }

    /// Writes one whole frame, traced.
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        if let Some((id, log)) = &self.trace {
            log.write(format!("{id} < {}\n", describe(bytes)));
        }
        write_all_within(&self.stream, &[bytes], self.write_timeout)
    }

    fn close(&mut self, code: u16, reason: &str) -> io::Result<()> {
        self.closed = true;
        let payload = close::payload(code, reason);
        self.send(&frame::encode(true, Opcode::Close, &payload, None))
    }

    fn pong(&mut self, payload: &[u8]) {
        let _ = self.send(&frame::encode(true, Opcode::Pong, payload, None));
    }

    /// Answers the client's close with a close (its code back, as is usual), unless the
    /// server has sent one.
    fn answer_close(&mut self, code: Option<&(u16, String)>) {
        if !self.closed {
            let _ = match code {
                Some((code, _)) => self.close(*code, ""),
                None => {
                    self.closed = true;
                    self.send(&frame::encode(true, Opcode::Close, &[], None))
                }
            };
        }
    }

    /// The server closes: its close frame, then a short wait for the client's.
    fn close_and_wait(&mut self, code: u16, reason: &str) {
        if self.close(code, reason).is_ok() {
            let deadline = Instant::now() + WS_CLOSE_TIMEOUT;
            while let Heard::Event(event) = self.hear(deadline) {
                if matches!(event, Event::Close(_)) {
                    break;
                }
            }
        }
    }

    /// The client broke a rule: the server fails the connection with the rule's code.
    fn broken(&mut self, violation: Violation) -> Verdict {
        let _ = self.close(violation.close_code(), violation.reason());
        Verdict::Fail(format!(
            "the client's frame broke RFC 6455: {} (the server closed with {})",
            violation.reason(),
            violation.close_code()
        ))
    }

    /// The next thing the client does, or `Silent` at `deadline`. Each is noted in `seen`.
    fn hear(&mut self, deadline: Instant) -> Heard {
        let heard = self.next(deadline);
        let line = match &heard {
            Heard::Event(event) => format!("the client sent {}", event_shown(event)),
            Heard::Broke(violation) => format!("the client broke a rule: {}", violation.reason()),
            Heard::Gone(how) => format!("the client {how}"),
            Heard::Silent => "nothing more from the client".to_string(),
        };
        self.seen.push(line);
        heard
    }

    fn next(&mut self, deadline: Instant) -> Heard {
        let mut chunk = [0u8; READ_BYTES];
        loop {
            let result = self.reader.read(&self.unread);
            self.print_trace(result.is_err());
            match result {
                Err(violation) => return Heard::Broke(violation),
                Ok((used, event)) => {
                    self.unread.drain(..used);
                    if let Some(event) = event {
                        return Heard::Event(event);
                    }
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || self.stream.set_read_timeout(Some(left)).is_err() {
                return Heard::Silent;
            }
            match (&*self.stream).read(&mut chunk) {
                Ok(0) => return Heard::Gone("closed the TCP connection".to_string()),
                Ok(n) => self.unread.extend_from_slice(&chunk[..n]),
                Err(e) if is_timeout(&e) => return Heard::Silent,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                    return Heard::Gone("reset the TCP connection".to_string());
                }
                Err(e) => return Heard::Gone(format!("broke the connection ({e})")),
            }
        }
    }

    fn print_trace(&mut self, all: bool) {
        let lines = self.reader.take_trace(all);
        if let Some((id, log)) = &self.trace
            && !lines.is_empty()
        {
            log.write(lines.iter().map(|l| format!("{id} > {l}\n")).collect());
        }
    }

    /// The server's end: TCP closed (the server closes first, RFC 6455 §7.1.1).
    fn hang_up(&self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// A `--trace` line for a frame the server writes, even one no codec would write.
fn describe(bytes: &[u8]) -> String {
    match frame::parse_header(bytes) {
        Ok(Some((header, used))) => {
            let mut payload = bytes[used..].to_vec();
            if let Some(key) = header.mask {
                frame::apply_mask(&mut payload, key, 0);
            }
            frame::describe(&header, &payload)
        }
        // Only the reserved opcode gets here: the codec has no name for it.
        _ => {
            let first = bytes.first().copied().unwrap_or(0);
            format!(
                "fin={} rsv=000 op={} (reserved) mask=0 len={}",
                first >> 7,
                first & 0x0F,
                bytes.len().saturating_sub(2)
            )
        }
    }
}

/// `"Hel"`, or the bytes in hex if they are not UTF-8; cut to `MAX_SHOWN_BYTES`.
fn quoted(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => format!("\"{}\"", shown(text)),
        Err(_) => {
            let hex: Vec<String> = bytes.iter().take(32).map(|b| format!("{b:02x}")).collect();
            format!("bytes {}", hex.join(" "))
        }
    }
}

fn close_shown(code: Option<&(u16, String)>) -> String {
    match code {
        Some((code, reason)) => format!("code {code}, reason {}", quoted(reason.as_bytes())),
        None => "no code".to_string(),
    }
}

fn kind(event: &Event) -> &'static str {
    match event {
        Event::Text(_) => "text",
        Event::Binary(_) => "binary",
        Event::Ping(_) => "ping",
        Event::Pong(_) => "pong",
        Event::Close(_) => "close",
    }
}

fn event_shown(event: &Event) -> String {
    match event {
        Event::Text(text) => format!("text {}", quoted(text.as_bytes())),
        Event::Binary(bytes) => format!("binary, {} bytes", bytes.len()),
        Event::Ping(payload) => format!("ping {}", quoted(payload)),
        Event::Pong(payload) => format!("pong {}", quoted(payload)),
        Event::Close(code) => format!("close, {}", close_shown(code.as_ref())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_careless_accept_is_never_the_right_one() {
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        assert_eq!(handshake::accept_key(key), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_ne!(careless_accept(key), handshake::accept_key(key));
    }

    #[test]
    fn the_frames_break_what_they_say() {
        // Failed at A0: after ED, a second byte from A0 up would encode a surrogate.
        let mut utf8 = crate::ws::utf8::Utf8Stream::default();
        assert_eq!(
            utf8.feed(&INVALID_UTF8_TEXT[..13]),
            Err(Violation::InvalidUtf8)
        );
        assert_eq!(
            crate::ws::utf8::Utf8Stream::default().feed(&INVALID_UTF8_TEXT[..12]),
            Ok(())
        );
        assert_eq!(
            frame::parse_header(RESERVED_FRAME),
            Err(Violation::ReservedOpcode)
        );
        assert_eq!(RESERVED_FRAME.len(), 2 + usize::from(RESERVED_FRAME[1]));
        assert_eq!(
            describe(RESERVED_FRAME),
            "fin=1 rsv=000 op=3 (reserved) mask=0 len=8"
        );
        let masked = frame::encode(
            true,
            Opcode::Text,
            MASKED_TEXT.as_bytes(),
            Some(SERVER_MASK),
        );
        assert_eq!(
            describe(&masked),
            "fin=1 rsv=000 op=1 text mask=1 len=20 \"masked by the server\""
        );
    }
}
