//! WebSocket's rules (`docs/12-websocket.md`, its exercise) against webwire, a small server
//! written from the chapter's tables alone, and that server broken one rule at a time.
//!
//! The server is what a learner would write from the exercise: the handshake's checks in the
//! table's order, then a loop that reads one frame at a time, blocking, and acts on it. Its
//! UTF-8 check is the chapter's table of lead bytes and the range each allows next.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::harness::{self, Request};
use crate::support;

const TECHNIQUE: &str = "websocket";

/// Which rule the server breaks, if any.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Break {
    None,
    /// The 101 says `Connection: keep-alive`.
    Upgrade,
    /// The accept value is computed without the GUID.
    AcceptKey,
    /// The extensions offered are echoed in the 101.
    NoExtensions,
    /// The server's order of preference (echo, then chat) instead of the client's.
    Subprotocol,
    /// No Origin check.
    Origin,
    /// No check of the key.
    BadKey,
    /// A wrong version gets 400, with no Sec-WebSocket-Version.
    Version,
    /// HTTP/1.0 handshakes are accepted.
    HttpVersion,
    /// Text is echoed as if each byte were a Latin-1 character (mojibake).
    EchoText,
    /// Binary is decoded as UTF-8, bad bytes replaced, before the echo.
    EchoBinary,
    /// Every length over 125 in the 64-bit form.
    LengthForms,
    /// Each fragment echoed as it comes, as a message of its own.
    Fragments,
    /// Pongs carry no payload.
    Ping,
    /// Unmasked frames are taken.
    Unmasked,
    /// Frames with a reserved opcode are skipped.
    ReservedOpcode,
    /// RSV bits are ignored.
    ReservedBits,
    /// A message ending inside a character is not noticed.
    InvalidUtf8,
    /// Like Python's incremental decoder: ED A0..BF waits for a third byte.
    Utf8FailFast,
    /// Every close is answered with 1000.
    Close,
}

/// The rule each break should fail, alone.
const BREAKS: [(Break, &str); 19] = [
    (Break::Upgrade, "websocket.upgrade"),
    (Break::AcceptKey, "websocket.accept-key"),
    (Break::NoExtensions, "websocket.no-extensions"),
    (Break::Subprotocol, "websocket.subprotocol"),
    (Break::Origin, "websocket.origin"),
    (Break::BadKey, "websocket.bad-key"),
    (Break::Version, "websocket.version"),
    (Break::HttpVersion, "websocket.http-version"),
    (Break::EchoText, "websocket.echo-text"),
    (Break::EchoBinary, "websocket.echo-binary"),
    (Break::LengthForms, "websocket.length-forms"),
    (Break::Fragments, "websocket.fragments"),
    (Break::Ping, "websocket.ping"),
    (Break::Unmasked, "websocket.unmasked"),
    (Break::ReservedOpcode, "websocket.reserved-opcode"),
    (Break::ReservedBits, "websocket.reserved-bits"),
    (Break::InvalidUtf8, "websocket.invalid-utf8"),
    (Break::Utf8FailFast, "websocket.utf8-fail-fast"),
    (Break::Close, "websocket.close"),
];

/// Serves `/ws` on a free port, each connection on a thread of its own; its `ws://` URL. The
/// harness reads the head a byte at a time, so a frame sent right behind it is not swallowed:
/// it is still in the socket for `frames`.
fn serve(broken: Break) -> String {
    let server = harness::serve(move |head, stream| connection(&head, stream, broken));
    format!("ws://127.0.0.1:{}/ws", server.port)
}

/// Whether header `name` lists `token`, in any case: `Connection: keep-alive, Upgrade`.
fn lists(head: &Request, name: &str, token: &str) -> bool {
    head.all(name)
        .iter()
        .flat_map(|v| v.split(','))
        .any(|item| item.trim().eq_ignore_ascii_case(token))
}

fn connection(head: &Request, mut stream: TcpStream, broken: Break) {
    // A pong and an echo written back to back must not wait for each other's ACK (Nagle).
    let _ = stream.set_nodelay(true);
    match handshake(head, broken) {
        Ok(switching) => {
            if stream.write_all(switching.as_bytes()).is_ok() {
                frames(stream, broken);
            }
        }
        Err((status, headers, reason)) => {
            let body = format!("{reason}\n");
            let reply = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\n{headers}\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(reply.as_bytes());
        }
    }
}

/// The refusal: status line's tail, extra header lines, and the one-line reason.
type Refusal = (&'static str, &'static str, &'static str);

/// The chapter's table, in order; the 101's head, or the refusal.
fn handshake(head: &Request, broken: Break) -> Result<String, Refusal> {
    const BAD: &str = "400 Bad Request";
    if head.method != "GET" {
        return Err((BAD, "", "send the handshake as a GET"));
    }
    if head.version != "HTTP/1.1" && broken != Break::HttpVersion {
        return Err((BAD, "", "a WebSocket handshake needs HTTP/1.1"));
    }
    if !lists(head, "Upgrade", "websocket") || !lists(head, "Connection", "upgrade") {
        return Err((BAD, "", "send Upgrade: websocket and Connection: Upgrade"));
    }
    match head.all("Sec-WebSocket-Version")[..] {
        ["13"] => {}
        [] => return Err((BAD, "", "Sec-WebSocket-Version is missing")),
        _ if broken == Break::Version => return Err((BAD, "", "wrong version")),
        _ => {
            return Err((
                "426 Upgrade Required",
                "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n",
                "this server speaks WebSocket version 13 only",
            ));
        }
    }
    let key = match head.all("Sec-WebSocket-Key")[..] {
        [key] if STANDARD.decode(key).is_ok_and(|b| b.len() == 16) => key,
        [key, ..] if broken == Break::BadKey => key,
        [] if broken == Break::BadKey => "",
        _ => return Err((BAD, "", "Sec-WebSocket-Key must be base64 of 16 bytes")),
    };
    if broken != Break::Origin && !origin_allowed(head) {
        return Err((
            "403 Forbidden",
            "",
            "pages from there may not open this socket",
        ));
    }
    let mut sha1 = sha1_smol::Sha1::new();
    sha1.update(key.as_bytes());
    if broken != Break::AcceptKey {
        sha1.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    }
    let connection = match broken {
        Break::Upgrade => "keep-alive",
        _ => "Upgrade",
    };
    let mut switching = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: {connection}\r\n\
         Sec-WebSocket-Accept: {}\r\n",
        STANDARD.encode(sha1.digest().bytes())
    );
    if let Some(protocol) = choose_protocol(head, broken) {
        switching.push_str(&format!("Sec-WebSocket-Protocol: {protocol}\r\n"));
    }
    if broken == Break::NoExtensions {
        for offer in head.all("Sec-WebSocket-Extensions") {
            switching.push_str(&format!("Sec-WebSocket-Extensions: {offer}\r\n"));
        }
    }
    Ok(switching + "\r\n")
}

/// No Origin (not a browser), or exactly one, naming localhost or 127.0.0.1 on Host's port.
fn origin_allowed(head: &Request) -> bool {
    let origins = head.all("Origin");
    let [origin] = origins[..] else {
        return origins.is_empty();
    };
    let host = head.all("Host").first().copied().unwrap_or("");
    let port = match host.rsplit_once(':') {
        Some((_, port)) => port,
        None => "80",
    };
    let suffix = match port {
        "80" => String::new(),
        port => format!(":{port}"),
    };
    origin == format!("http://localhost{suffix}") || origin == format!("http://127.0.0.1{suffix}")
}

/// The first protocol in the client's list that this server speaks.
fn choose_protocol(head: &Request, broken: Break) -> Option<&'static str> {
    const SPOKEN: [&str; 2] = ["echo", "chat"];
    let offered: Vec<&str> = head
        .all("Sec-WebSocket-Protocol")
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    match broken {
        Break::Subprotocol => SPOKEN.into_iter().find(|p| offered.contains(p)),
        _ => offered
            .into_iter()
            .find_map(|o| SPOKEN.into_iter().find(|p| *p == o)),
    }
}

/// One frame as read: the first byte, the payload unmasked, and whether it was masked.
struct Frame {
    first: u8,
    masked: bool,
    payload: Vec<u8>,
}

fn read_frame(stream: &mut TcpStream) -> Option<Frame> {
    let mut two = [0u8; 2];
    stream.read_exact(&mut two).ok()?;
    let len = match two[1] & 0x7F {
        126 => {
            let mut b = [0u8; 2];
            stream.read_exact(&mut b).ok()?;
            u64::from(u16::from_be_bytes(b))
        }
        127 => {
            let mut b = [0u8; 8];
            stream.read_exact(&mut b).ok()?;
            u64::from_be_bytes(b)
        }
        short => u64::from(short),
    };
    if len > 1 << 20 {
        return None; // more than this server takes
    }
    let masked = two[1] & 0x80 != 0;
    let mut key = [0u8; 4];
    if masked {
        stream.read_exact(&mut key).ok()?;
    }
    let mut payload = vec![0u8; len as usize];
    stream.read_exact(&mut payload).ok()?;
    for (i, byte) in payload.iter_mut().enumerate() {
        *byte ^= key[i % 4];
    }
    Some(Frame {
        first: two[0],
        masked,
        payload,
    })
}

/// An unmasked frame, its length in the shortest form.
fn write_frame(stream: &mut TcpStream, first: u8, payload: &[u8], broken: Break) -> bool {
    let mut bytes = vec![first];
    match payload.len() {
        len @ 0..=125 => bytes.push(len as u8),
        len @ 126..=0xFFFF if broken != Break::LengthForms => {
            bytes.push(126);
            bytes.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            bytes.push(127);
            bytes.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    bytes.extend_from_slice(payload);
    stream.write_all(&bytes).is_ok()
}

/// UTF-8 checked as it arrives, from the chapter's table: after a lead byte, the range its
/// next byte must be in; every later byte of the character is 80..=BF.
#[derive(Default)]
struct Utf8 {
    /// Continuation bytes still to come.
    need: u8,
    low: u8,
    high: u8,
    /// (`Break::Utf8FailFast`) the character began ED A0..BF: refused only once it is whole.
    surrogate: bool,
}

impl Utf8 {
    fn feed(&mut self, bytes: &[u8], broken: Break) -> bool {
        for &byte in bytes {
            if self.need == 0 {
                let (need, low, high) = match byte {
                    0x00..=0x7F => continue,
                    0xC2..=0xDF => (1, 0x80, 0xBF),
                    0xE0 => (2, 0xA0, 0xBF),
                    0xED if broken == Break::Utf8FailFast => (2, 0x80, 0xBF),
                    0xED => (2, 0x80, 0x9F),
                    0xE1..=0xEF => (2, 0x80, 0xBF),
                    0xF0 => (3, 0x90, 0xBF),
                    0xF1..=0xF3 => (3, 0x80, 0xBF),
                    0xF4 => (3, 0x80, 0x8F),
                    _ => return false, // 80..BF, C0, C1, F5..FF never start a character
                };
                *self = Utf8 {
                    need,
                    low,
                    high,
                    surrogate: byte == 0xED,
                };
                continue;
            }
            if !(self.low..=self.high).contains(&byte) {
                return false;
            }
            if self.need == 2 && byte < 0xA0 {
                self.surrogate = false; // ED 80..9F: an ordinary character
            }
            self.need -= 1;
            (self.low, self.high) = (0x80, 0xBF);
            if self.need == 0 && self.surrogate {
                return false;
            }
        }
        true
    }
}

/// A message whose fragments are arriving.
struct Message {
    opcode: u8,
    data: Vec<u8>,
    utf8: Utf8,
}

/// After the 101: one frame at a time, until a close or a violation.
fn frames(mut stream: TcpStream, broken: Break) {
    let mut message: Option<Message> = None;
    while let Some(frame) = read_frame(&mut stream) {
        let fin = frame.first & 0x80 != 0;
        let opcode = frame.first & 0x0F;
        if frame.first & 0x70 != 0 && broken != Break::ReservedBits {
            return fail(stream, 1002);
        }
        if !matches!(opcode, 0x0..=0x2 | 0x8..=0xA) {
            match broken {
                Break::ReservedOpcode => continue,
                _ => return fail(stream, 1002),
            }
        }
        if !frame.masked && broken != Break::Unmasked {
            return fail(stream, 1002);
        }
        if opcode >= 0x8 && (!fin || frame.payload.len() > 125) {
            return fail(stream, 1002);
        }
        match opcode {
            0x9 => {
                let payload = match broken {
                    Break::Ping => &[][..],
                    _ => &frame.payload[..],
                };
                write_frame(&mut stream, 0x8A, payload, broken);
                continue;
            }
            0xA => continue,
            0x8 => return close(stream, &frame.payload, broken),
            0x1 | 0x2 if message.is_some() => return fail(stream, 1002),
            0x1 | 0x2 => {
                message = Some(Message {
                    opcode,
                    data: Vec::new(),
                    utf8: Utf8::default(),
                });
            }
            _ if message.is_none() => return fail(stream, 1002),
            _ => {}
        }
        let Some(open) = &mut message else {
            return;
        };
        // §8.1: text is checked as it arrives, not when the message is whole.
        if open.opcode == 0x1 && !open.utf8.feed(&frame.payload, broken) {
            return fail(stream, 1007);
        }
        open.data.extend_from_slice(&frame.payload);
        if !fin {
            if broken == Break::Fragments {
                // Each piece goes back as a message of its own; the last one below.
                write_frame(&mut stream, 0x80 | open.opcode, &open.data, broken);
                open.data.clear();
            }
            continue;
        }
        let Some(done) = message.take() else {
            return;
        };
        if done.opcode == 0x1 && done.utf8.need != 0 && broken != Break::InvalidUtf8 {
            return fail(stream, 1007); // the message ended inside a character
        }
        let echo = match (done.opcode, broken) {
            (0x1, Break::EchoText) => done
                .data
                .iter()
                .map(|&b| b as char)
                .collect::<String>()
                .into_bytes(),
            (0x2, Break::EchoBinary) => String::from_utf8_lossy(&done.data)
                .into_owned()
                .into_bytes(),
            _ => done.data,
        };
        if !write_frame(&mut stream, 0x80 | done.opcode, &echo, broken) {
            return;
        }
    }
}

/// Answers a close with a close: the same code (none for none), then closes TCP.
fn close(mut stream: TcpStream, payload: &[u8], broken: Break) {
    let answer = match (payload.get(..2), broken) {
        (Some(_), Break::Close) => 1000u16.to_be_bytes().to_vec(),
        (Some(code), _) => code.to_vec(),
        (None, _) => Vec::new(),
    };
    write_frame(&mut stream, 0x88, &answer, broken);
    linger(stream);
}

/// Fails the connection: a close frame with `code`, then TCP closed.
fn fail(mut stream: TcpStream, code: u16) {
    write_frame(&mut stream, 0x88, &code.to_be_bytes(), Break::None);
    linger(stream);
}

/// Closes our side, then reads until the client closes its own (at most a second): closing
/// with unread bytes would send a reset, and the reset could destroy the close frame.
fn linger(mut stream: TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut sink = [0u8; 4096];
    while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
}

#[test]
fn webwire_passes_every_rule() {
    let server = support::start();
    let url = format!("ws://{}/ws", support::address(&server));
    harness::assert_all_pass(TECHNIQUE, &url);
}

#[test]
fn a_server_written_from_the_chapter_passes_every_rule() {
    let url = serve(Break::None);
    harness::assert_all_pass(TECHNIQUE, &url);
    // An http:// URL names the same endpoint.
    harness::assert_all_pass(TECHNIQUE, &url.replacen("ws://", "http://", 1));
}

#[test]
fn each_rule_fails_alone_when_broken() {
    harness::assert_each_rule_fails_alone(TECHNIQUE, &BREAKS, serve);
}

#[test]
fn the_chapters_utf8_table_agrees_with_the_standard_library() {
    // Every one- and two-byte start, with continuation bytes after it: the table's verdict
    // on the first two bytes must be std's (`error_len()` is `Some` once they are impossible).
    for first in 0..=255u8 {
        for second in 0..=255u8 {
            let bytes = [first, second, 0x80, 0x80];
            let mut utf8 = Utf8::default();
            let table = utf8.feed(&bytes[..2], Break::None);
            let std = match std::str::from_utf8(&bytes[..2]) {
                Ok(_) => true,
                Err(e) => e.error_len().is_none(),
            };
            assert_eq!(table, std, "{first:02x} {second:02x}");
        }
    }
}
