//! The rules of WebSocket (`docs/12-websocket.md`, its exercise), checked against `ws://…/ws`.
//!
//! First the opening handshake (RFC 6455 §4.2): the 101 and its accept key, the subprotocol
//! chosen, and each refusal with its status. Then the codec's basics, each rule on a WebSocket
//! of its own so that one broken rule cannot disturb the next: echoes, length forms,
//! fragments, ping and pong, the violations and their close codes, UTF-8 failing fast, and
//! the close handshake.
//!
//! These are the basics a server must get right first, with a message that shows the frames
//! when it does not. They are not the whole of RFC 6455: the Autobahn TestSuite's 301 cases
//! (`tests/conformance/run-autobahn`) are, and the chapter says how to run it on your server.
//!
//! The checker is a client, so it masks every frame it sends (§5.1), with one fixed key: the
//! RFC's own (§5.7), so its first "Hello" is byte for byte the RFC's example. Frames are written
//! here by hand (a checker must also write frames no codec would: reserved opcodes, RSV bits,
//! no mask); the server's frames are read with `ws::frame::parse_header`, which also refuses a
//! length not in its shortest form.

use std::io::{ErrorKind, Read};
use std::time::{Duration, Instant};

use super::client::{self, Connection, Head, Url, Waited};
use super::{Report, Rule, Target, Technique, show};
use crate::ws::frame::{self, Opcode};

pub static TECHNIQUE: Technique = Technique {
    name: "websocket",
    chapter: "12-websocket.md",
    endpoint: "/ws",
    rules: &[
        &UPGRADE,
        &ACCEPT_KEY,
        &NO_EXTENSIONS,
        &SUBPROTOCOL,
        &ORIGIN,
        &BAD_KEY,
        &VERSION,
        &HTTP_VERSION,
        &ECHO_TEXT,
        &ECHO_BINARY,
        &LENGTH_FORMS,
        &FRAGMENTS,
        &PING,
        &UNMASKED,
        &RESERVED_OPCODE,
        &RESERVED_BITS,
        &INVALID_UTF8,
        &UTF8_FAIL_FAST,
        &CLOSE,
    ],
    run,
};

const HANDSHAKE: &str = "The handshake and its refusals";
const FRAMES: &str = "Frames, messages and closing";
const UTF8: &str = "UTF-8 that fails fast";

static UPGRADE: Rule = Rule {
    id: "websocket.upgrade",
    says: "a GET with Upgrade: websocket, Connection: Upgrade, Sec-WebSocket-Version: 13 and a \
           key (no Origin) is answered HTTP/1.1 101 with Upgrade: websocket and Connection: Upgrade",
    section: HANDSHAKE,
};
static ACCEPT_KEY: Rule = Rule {
    id: "websocket.accept-key",
    says: "Sec-WebSocket-Accept is base64(SHA-1(key + 258EAFA5-E914-47DA-95CA-C5AB0DC85B11)): \
           s3pPLMBiTxaQ9kYGzzhZRbK+xOo= for the RFC's key dGhlIHNhbXBsZSBub25jZQ==",
    section: HANDSHAKE,
};
static NO_EXTENSIONS: Rule = Rule {
    id: "websocket.no-extensions",
    says: "an offer of permessage-deflate is declined: the 101 has no Sec-WebSocket-Extensions",
    section: HANDSHAKE,
};
static SUBPROTOCOL: Rule = Rule {
    id: "websocket.subprotocol",
    says: "Sec-WebSocket-Protocol in the 101 names one protocol: the first in the client's list \
           that the server speaks (echo, chat), or the header is absent",
    section: HANDSHAKE,
};
static ORIGIN: Rule = Rule {
    id: "websocket.origin",
    says: "an Origin other than http://localhost:PORT or http://127.0.0.1:PORT (PORT from Host) \
           gets 403, null included; the server's own origin gets the 101",
    section: HANDSHAKE,
};
static BAD_KEY: Rule = Rule {
    id: "websocket.bad-key",
    says: "a Sec-WebSocket-Key that is missing, or not base64 of exactly 16 bytes, gets 400",
    section: HANDSHAKE,
};
static VERSION: Rule = Rule {
    id: "websocket.version",
    says: "a Sec-WebSocket-Version other than 13 gets 426 with Sec-WebSocket-Version: 13",
    section: HANDSHAKE,
};
static HTTP_VERSION: Rule = Rule {
    id: "websocket.http-version",
    says: "a handshake sent as HTTP/1.0 gets 400: Upgrade is HTTP/1.1's (RFC 9110 §7.8)",
    section: HANDSHAKE,
};
static ECHO_TEXT: Rule = Rule {
    id: "websocket.echo-text",
    says: "a masked text message comes back unmasked, as text, the same UTF-8: the RFC's \
           81 85 37 fa 21 3d 7f 9f 4d 51 58 is answered 81 05 48 65 6c 6c 6f",
    section: FRAMES,
};
static ECHO_BINARY: Rule = Rule {
    id: "websocket.echo-binary",
    says: "a binary message comes back as binary, byte for byte (it need not be UTF-8)",
    section: FRAMES,
};
static LENGTH_FORMS: Rule = Rule {
    id: "websocket.length-forms",
    says: "messages of 125, 126, 65535 and 65536 bytes come back whole, every frame's length \
           in its shortest form (7-bit, 16-bit, 64-bit)",
    section: FRAMES,
};
static FRAGMENTS: Rule = Rule {
    id: "websocket.fragments",
    says: "a message in fragments (opcode, then continuations, FIN on the last) is echoed as one \
           message, and a ping between its fragments is answered before that echo",
    section: FRAMES,
};
static PING: Rule = Rule {
    id: "websocket.ping",
    says: "a ping is answered at once by a pong with the same payload (0 to 125 bytes)",
    section: FRAMES,
};
static UNMASKED: Rule = Rule {
    id: "websocket.unmasked",
    says: "a client frame without a mask is refused: a close frame with code 1002, nothing echoed",
    section: FRAMES,
};
static RESERVED_OPCODE: Rule = Rule {
    id: "websocket.reserved-opcode",
    says: "a frame with a reserved opcode (3 or 11) is refused with close code 1002",
    section: FRAMES,
};
static RESERVED_BITS: Rule = Rule {
    id: "websocket.reserved-bits",
    says: "a frame with RSV1 set, no extension agreed, is refused with close code 1002",
    section: FRAMES,
};
static INVALID_UTF8: Rule = Rule {
    id: "websocket.invalid-utf8",
    says: "a text message that is not UTF-8, or that ends inside a character, is refused with \
           close code 1007",
    section: UTF8,
};
static UTF8_FAIL_FAST: Rule = Rule {
    id: "websocket.utf8-fail-fast",
    says: "a text fragment ending in bytes no UTF-8 can continue (ED A0, F4 90, E0 80, F0 80, C0) \
           is refused with 1007 at once, before the message ends (Autobahn's section 6 tries \
           many more)",
    section: UTF8,
};
static CLOSE: Rule = Rule {
    id: "websocket.close",
    says: "a close frame (4000 \"done here\") is answered by a close frame with the same code, \
           then the server closes TCP (these rules are the basics: the Autobahn TestSuite is \
           the full test)",
    section: FRAMES,
};

/// The RFC's example key (§1.3, §4.2.2), and the accept value it must give.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
/// The masking key of every frame the checker sends: the RFC's example (§5.7).
const MASK_KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
/// §5.7's masked "Hello", and the unmasked echo it must get.
const RFC_HELLO: [u8; 11] = [
    0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
];
const RFC_HELLO_ECHO: [u8; 7] = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
/// FIN, the first byte's top bit.
const FIN: u8 = 0x80;

/// The handshake's headers after `Host`, as a client that is not a browser sends them: no
/// `Origin` (allowed: it has no victim's cookies to abuse).
const HANDSHAKE_HEADERS: [(&str, &str); 4] = [
    ("Upgrade", "websocket"),
    ("Connection", "Upgrade"),
    ("Sec-WebSocket-Version", "13"),
    ("Sec-WebSocket-Key", KEY),
];

/// The largest message the checker takes from the server, whole or in fragments: the
/// client's limit for any body. The largest the checker sends, and so the largest echo it
/// waits for, is 65,536 bytes; a server that goes on past this is not echoing.
const MAX_MESSAGE_BYTES: usize = client::MAX_BODY_BYTES;

/// How many frames a failure's transcript shows, both ways. The longest sessions have 8
/// frames in all (more only with a server that cuts its echoes into many fragments, or
/// pings), so 24 shows the whole of any session that goes as it should and the start of one
/// that does not; a server that floods the socket (a ping a frame, forever) must not make
/// the report as long as the flood, which made one of 166 MB.
const MAX_TRANSCRIPT_LINES: usize = 24;

/// How many pings from the server one wait answers before it calls them a flood. A server
/// may ping a client, to keep a connection alive, once in a while; a wait lasts the patience
/// at most, and no server pings a hundred times in that with a reason.
const MAX_PINGS_PER_WAIT: usize = 100;

/// A rule checked on WebSockets of its own, after the handshake rules.
type SessionRule = fn(&Target) -> Result<(), String>;

/// The rule a session rule stands on: without a 101 there are no frames to check.
const NO_101: &str = "the plain handshake got no 101 (see websocket.upgrade)";

fn run(target: &Target, report: &mut Report) {
    // The handshake a browser would send, less its Origin: offering permessage-deflate, as
    // every browser does.
    let offer = [(
        "Sec-WebSocket-Extensions",
        "permessage-deflate; client_max_window_bits",
    )];
    let answer = match ask(target, &request(&target.url, "HTTP/1.1", &[], &offer)) {
        Ok(answer) => answer,
        Err(why) => {
            report.record(&UPGRADE, Err(why));
            return; // no server to talk to: the rest is not reached
        }
    };
    report.record(&UPGRADE, upgrade(&answer));
    let switched = answer.head.status == 101;
    if switched {
        report.record(&ACCEPT_KEY, accept_key(&answer.head));
        report.record(
            &NO_EXTENSIONS,
            match answer.head.all("Sec-WebSocket-Extensions")[..] {
                [] => Ok(()),
                _ => Err(format!(
                    "the 101 accepts an extension this check's frames do not use: {}",
                    answer.head.shown()
                )),
            },
        );
        Socket::new(answer.connection, target.patience).goodbye();
        report.record(&SUBPROTOCOL, subprotocol(target));
    }
    report.record(&ORIGIN, origin(target, switched));
    report.record(&BAD_KEY, bad_key(target));
    report.record(&VERSION, version(target));
    report.record(
        &HTTP_VERSION,
        refused(
            target,
            &request(&target.url, "HTTP/1.0", &[], &[]),
            400,
            "the handshake sent as HTTP/1.0",
        ),
    );
    let sessions: [(&'static Rule, SessionRule); 11] = [
        (&ECHO_TEXT, echo_text),
        (&ECHO_BINARY, echo_binary),
        (&LENGTH_FORMS, length_forms),
        (&FRAGMENTS, fragments),
        (&PING, ping),
        (&UNMASKED, unmasked),
        (&RESERVED_OPCODE, reserved_opcode),
        (&RESERVED_BITS, reserved_bits),
        (&INVALID_UTF8, invalid_utf8),
        (&UTF8_FAIL_FAST, utf8_fail_fast),
        (&CLOSE, close),
    ];
    for (rule, check) in sessions {
        if switched {
            report.record(rule, check(target));
        } else {
            report.skip(rule, NO_101);
        }
    }
    for rule in [&ACCEPT_KEY, &NO_EXTENSIONS, &SUBPROTOCOL] {
        report.skip(rule, NO_101);
    }
}

// ---- the handshake ---------------------------------------------------------------------------

/// A handshake's bytes: `GET <target> <version>`, `Host`, the usual headers with `changes`
/// applied (a value, or `None` to leave the header out), then `extra`.
fn request(
    url: &Url,
    version: &str,
    changes: &[(&str, Option<&str>)],
    extra: &[(&str, &str)],
) -> Vec<u8> {
    let mut headers: Vec<(&str, &str)> = Vec::new();
    for (name, value) in HANDSHAKE_HEADERS {
        match changes.iter().find(|(changed, _)| *changed == name) {
            Some((_, Some(new))) => headers.push((name, new)),
            Some((_, None)) => {}
            None => headers.push((name, value)),
        }
    }
    headers.extend_from_slice(extra);
    let bytes = client::request("GET", url, &headers, b"");
    match version {
        "HTTP/1.1" => bytes,
        // The request line is the only place the version is written.
        _ => String::from_utf8_lossy(&bytes)
            .replacen(" HTTP/1.1\r\n", &format!(" {version}\r\n"), 1)
            .into_bytes(),
    }
}

/// The answer to a handshake: its head, its body when it is a refusal, and the connection (a
/// WebSocket when the status is 101).
struct Answer {
    head: Head,
    body: Vec<u8>,
    connection: Connection,
}

impl Answer {
    fn shown(&self) -> String {
        let mut all = self.head.raw.clone();
        all.extend_from_slice(&self.body);
        show(&all)
    }
}

/// Sends `bytes` on a new connection and reads the answer's head (and body, if not a 101).
fn ask(target: &Target, bytes: &[u8]) -> Result<Answer, String> {
    let mut connection = Connection::open(&target.url, target.patience)?;
    connection.send(bytes)?;
    let head = connection.read_head(false)?;
    let body = match head.status {
        101 => Vec::new(),
        _ => connection
            .read_body()
            .map_err(|e| format!("{e}\nafter the head {}", head.shown()))?,
    };
    Ok(Answer {
        head,
        body,
        connection,
    })
}

fn upgrade(answer: &Answer) -> Result<(), String> {
    let head = &answer.head;
    if head.status != 101 {
        return Err(format!(
            "the handshake got {}, not 101: {}",
            head.status,
            answer.shown()
        ));
    }
    if head.version != "HTTP/1.1" {
        return Err(format!("the 101 is not HTTP/1.1: {}", head.shown()));
    }
    if !head.lists("Upgrade", "websocket") {
        return Err(format!(
            "the 101 has no Upgrade: websocket: {}",
            head.shown()
        ));
    }
    if !head.lists("Connection", "upgrade") {
        return Err(format!(
            "the 101's Connection does not list Upgrade: {}",
            head.shown()
        ));
    }
    Ok(())
}

fn accept_key(head: &Head) -> Result<(), String> {
    match head.all("Sec-WebSocket-Accept")[..] {
        [ACCEPT] => Ok(()),
        _ => Err(format!(
            "for the key {KEY}, Sec-WebSocket-Accept must be {ACCEPT} (base64 of the SHA-1 \
             of the key followed by the GUID, §4.2.2): {}",
            head.shown()
        )),
    }
}

/// Each offer, and the one protocol the 101 must name (`None`: no header at all).
fn subprotocol(target: &Target) -> Result<(), String> {
    let cases = [
        ("chat, echo", Some("chat")),
        ("mqtt, echo", Some("echo")),
        ("mqtt", None),
    ];
    for (offer, chosen) in cases {
        let extra = [("Sec-WebSocket-Protocol", offer)];
        let answer = ask(target, &request(&target.url, "HTTP/1.1", &[], &extra))?;
        let named = answer.head.all("Sec-WebSocket-Protocol");
        let wanted = match chosen {
            Some(protocol) => format!("Sec-WebSocket-Protocol: {protocol}"),
            None => "no Sec-WebSocket-Protocol".to_string(),
        };
        if answer.head.status != 101 || named != chosen.into_iter().collect::<Vec<_>>() {
            return Err(format!(
                "offered Sec-WebSocket-Protocol: {offer}, the 101 must have {wanted}: {}",
                answer.shown()
            ));
        }
        Socket::new(answer.connection, target.patience).goodbye();
    }
    Ok(())
}

/// Foreign origins get 403; the server's own gets the 101 (unless the plain handshake got
/// none, which `websocket.upgrade` reports).
fn origin(target: &Target, switched: bool) -> Result<(), String> {
    for foreign in ["http://evil.example", "null"] {
        let extra = [("Origin", foreign)];
        refused(
            target,
            &request(&target.url, "HTTP/1.1", &[], &extra),
            403,
            &format!("the handshake with Origin: {foreign}"),
        )?;
    }
    // A browser sends its origin serialized: no port when it is the scheme's default.
    let own = match target.url.port {
        80 => "http://localhost".to_string(),
        port => format!("http://localhost:{port}"),
    };
    let extra = [("Origin", own.as_str())];
    let answer = ask(target, &request(&target.url, "HTTP/1.1", &[], &extra))?;
    if answer.head.status == 101 {
        Socket::new(answer.connection, target.patience).goodbye();
    } else if switched {
        return Err(format!(
            "a page from the server's own origin, Origin: {own}, must get the 101: {}",
            answer.shown()
        ));
    }
    Ok(())
}

fn bad_key(target: &Target) -> Result<(), String> {
    let cases = [
        (None, "the handshake without Sec-WebSocket-Key"),
        (
            Some("dGhlIHNhbXBsZQ=="),
            "the key dGhlIHNhbXBsZQ== (base64 of 10 bytes)",
        ),
        (Some("not base64"), "the key \"not base64\""),
    ];
    for (key, what) in cases {
        let changes = [("Sec-WebSocket-Key", key)];
        refused(
            target,
            &request(&target.url, "HTTP/1.1", &changes, &[]),
            400,
            what,
        )?;
    }
    Ok(())
}

fn version(target: &Target) -> Result<(), String> {
    let changes = [("Sec-WebSocket-Version", Some("8"))];
    let answer = ask(target, &request(&target.url, "HTTP/1.1", &changes, &[]))?;
    if answer.head.status != 426 || !answer.head.lists("Sec-WebSocket-Version", "13") {
        return Err(format!(
            "Sec-WebSocket-Version: 8 must get 426 with Sec-WebSocket-Version: 13: {}",
            answer.shown()
        ));
    }
    Ok(())
}

/// The handshake `bytes` must get `status`, and no 101.
fn refused(target: &Target, bytes: &[u8], status: u16, what: &str) -> Result<(), String> {
    let answer = ask(target, bytes)?;
    if answer.head.status == status {
        return Ok(());
    }
    let shown = answer.shown();
    if answer.head.status == 101 {
        Socket::new(answer.connection, target.patience).goodbye();
    }
    Err(format!("{what} must get {status}: {shown}"))
}

// ---- the frames ------------------------------------------------------------------------------

fn echo_text(target: &Target) -> Result<(), String> {
    session(target, |socket| {
        socket.send_raw(&RFC_HELLO, "fin=1 rsv=000 op=1 mask=1 len=5 \"Hello\"")?;
        let frame = socket.next_frame()?;
        if frame.raw() != RFC_HELLO_ECHO {
            return Err(format!(
                "the echo of \"Hello\" must be the one unmasked frame {}",
                show(&RFC_HELLO_ECHO)
            ));
        }
        let kosme = "κόσμε".as_bytes();
        socket.send(FIN | Opcode::Text as u8, kosme)?;
        socket.expect(
            &Event::Text(kosme.to_vec()),
            "the echo of \"κόσμε\", as text",
        )
    })
}

fn echo_binary(target: &Target) -> Result<(), String> {
    // Not UTF-8 at all: a server that echoes it as text, or decodes it, shows here.
    let bytes = [
        0x00, 0xff, 0xfe, 0x80, 0xc0, b'\r', b'\n', 0xed, 0xa0, 0x80, 0x7f,
    ];
    session(target, |socket| {
        socket.send(FIN | Opcode::Binary as u8, &bytes)?;
        socket.expect(
            &Event::Binary(bytes.to_vec()),
            "the same bytes, as a binary message",
        )
    })
}

fn length_forms(target: &Target) -> Result<(), String> {
    session(target, |socket| {
        for len in [125, 126, 65535, 65536] {
            let text: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            socket.send(FIN | Opcode::Text as u8, &text)?;
            socket.expect(
                &Event::Text(text),
                &format!("the echo of a {len}-byte text, whole"),
            )?;
        }
        Ok(())
    })
}

fn fragments(target: &Target) -> Result<(), String> {
    session(target, |socket| {
        socket.send(Opcode::Text as u8, b"Hel")?;
        socket.send(FIN | Opcode::Ping as u8, b"?")?;
        socket.send(FIN | Opcode::Continuation as u8, b"lo")?;
        match socket.next_event()? {
            Event::Pong(_) => {}
            other => {
                return Err(format!(
                    "the ping between the fragments must be answered at once, before the \
                     message is echoed; got {}",
                    other.name()
                ));
            }
        }
        socket.expect(
            &Event::Text(b"Hello".to_vec()),
            "\"Hel\" and \"lo\" echoed as one message",
        )?;
        socket.send(Opcode::Binary as u8, &[1, 2])?;
        socket.send(Opcode::Continuation as u8, &[])?;
        socket.send(FIN | Opcode::Continuation as u8, &[3])?;
        socket.expect(
            &Event::Binary(vec![1, 2, 3]),
            "[1, 2], [] and [3] echoed as one binary message",
        )
    })
}

fn ping(target: &Target) -> Result<(), String> {
    let long: Vec<u8> = (0..125).map(|i| b'A' + (i % 26) as u8).collect();
    session(target, |socket| {
        for payload in [&b"still there?"[..], &long] {
            socket.send(FIN | Opcode::Ping as u8, payload)?;
            // A message after the ping: its echo must not come first.
            socket.send(FIN | Opcode::Text as u8, b"after the ping")?;
            socket.expect(
                &Event::Pong(payload.to_vec()),
                "a pong with the ping's payload, at once",
            )?;
            socket.expect(
                &Event::Text(b"after the ping".to_vec()),
                "the echo of the message sent after the ping",
            )?;
        }
        Ok(())
    })
}

fn unmasked(target: &Target) -> Result<(), String> {
    session(target, |socket| {
        socket.send_raw(
            &[0x81, 0x05, b'H', b'e', b'l', b'l', b'o'],
            "fin=1 rsv=000 op=1 mask=0 len=5 \"Hello\"",
        )?;
        socket.expect_close(1002, "an unmasked frame (§5.1)")
    })
}

fn reserved_opcode(target: &Target) -> Result<(), String> {
    for opcode in [0x3, 0xB] {
        session(target, |socket| {
            socket.send(FIN | opcode, b"x")?;
            socket.send(FIN | Opcode::Text as u8, b"after")?;
            socket.expect_close(1002, &format!("a frame with the reserved opcode {opcode}"))
        })?;
    }
    Ok(())
}

fn reserved_bits(target: &Target) -> Result<(), String> {
    session(target, |socket| {
        socket.send(FIN | 0x40 | Opcode::Text as u8, b"Hello")?;
        socket.send(FIN | Opcode::Text as u8, b"after")?;
        socket.expect_close(1002, "a text frame with RSV1 set")
    })
}

fn invalid_utf8(target: &Target) -> Result<(), String> {
    let cases: [&[u8]; 2] = [b"caf\xc3\xa9 ok, then \xff", b"abc\xe2\x82"];
    for text in cases {
        session(target, |socket| {
            socket.send(FIN | Opcode::Text as u8, text)?;
            socket.expect_close(1007, &format!("the text message {}", show(text)))
        })?;
    }
    Ok(())
}

fn utf8_fail_fast(target: &Target) -> Result<(), String> {
    // Each: the bytes that end the fragment, and why nothing can follow them.
    let cases: [(&[u8], &str); 5] = [
        (
            b"\xed\xa0",
            "after ED the next byte is 80 to 9F (A0 to BF would be a surrogate)",
        ),
        (
            b"\xf4\x90",
            "after F4 the next byte is 80 to 8F (90 and up is above U+10FFFF)",
        ),
        (
            b"\xe0\x80",
            "after E0 the next byte is A0 to BF (80 to 9F would be overlong)",
        ),
        (
            b"\xf0\x80",
            "after F0 the next byte is 90 to BF (80 to 8F would be overlong)",
        ),
        (
            b"\xc0",
            "C0 never starts a character (it could only be overlong)",
        ),
    ];
    for (bad, why) in cases {
        session(target, |socket| {
            let mut fragment = "κόσμε".as_bytes().to_vec();
            fragment.extend_from_slice(bad);
            socket.send(Opcode::Text as u8, &fragment)?;
            // A signal, not a wait: a server still reading this message answers the ping.
            socket.send(FIN | Opcode::Ping as u8, b"still reading?")?;
            socket
                .expect_close(1007, &format!("a text fragment ending {}", show(bad)))
                .map_err(|e| format!("{e}\n{why}: the message is invalid already"))
        })?;
    }
    Ok(())
}

fn close(target: &Target) -> Result<(), String> {
    session(target, |socket| {
        socket.send(FIN | Opcode::Close as u8, b"\x0f\xa0done here")?;
        socket.expect_close(4000, "a close frame with 4000")?;
        socket.expect_gone()
    })
}

// ---- a WebSocket, client side ----------------------------------------------------------------

/// Opens a WebSocket with the plain handshake, runs `talk` on it, and closes it; a failure
/// comes with every frame sent and received.
fn session(
    target: &Target,
    talk: impl FnOnce(&mut Socket) -> Result<(), String>,
) -> Result<(), String> {
    let answer = ask(target, &request(&target.url, "HTTP/1.1", &[], &[]))?;
    if answer.head.status != 101 {
        return Err(format!("{NO_101}: {}", answer.shown()));
    }
    let mut socket = Socket::new(answer.connection, target.patience);
    let result = talk(&mut socket);
    let mut transcript = socket.transcript.join("\n");
    if socket.untold > 0 {
        transcript.push_str(&format!("\n… ({} more frames)", socket.untold));
    }
    socket.goodbye();
    result.map_err(|why| format!("{why}\nthe frames (> sent, < received):\n{transcript}"))
}

/// What the server sent, whole: data frames reassembled into messages.
#[derive(Debug, PartialEq, Eq)]
enum Event {
    Text(Vec<u8>),
    Binary(Vec<u8>),
    Pong(Vec<u8>),
    /// A close frame's payload.
    Close(Vec<u8>),
    /// TCP closed, with no close frame.
    Gone,
}

impl Event {
    fn name(&self) -> String {
        let cut = |bytes: &[u8]| show(&bytes[..bytes.len().min(40)]);
        match self {
            Event::Text(bytes) => format!("a text message {}", cut(bytes)),
            Event::Binary(bytes) => format!("a binary message {}", cut(bytes)),
            Event::Pong(bytes) => format!("a pong {}", cut(bytes)),
            Event::Close(payload) => match payload[..] {
                [] => "a close frame with no code".to_string(),
                [high, low, ref reason @ ..] => {
                    let code = u16::from_be_bytes([high, low]);
                    let name = frame::close_code_name(code);
                    format!(
                        "a close frame with code {code} ({name}), reason {}",
                        show(reason)
                    )
                }
                _ => format!("a close frame {}", show(payload)),
            },
            Event::Gone => "the end of TCP, with no close frame".to_string(),
        }
    }
}

/// One frame as the server sent it.
struct Frame {
    header: frame::Header,
    header_bytes: Vec<u8>,
    payload: Vec<u8>,
}

impl Frame {
    fn raw(&self) -> Vec<u8> {
        [&self.header_bytes[..], &self.payload].concat()
    }
}

/// A WebSocket after its 101, from the client's side.
struct Socket {
    connection: Connection,
    /// Bytes read and not yet parsed.
    buffer: Vec<u8>,
    patience: Duration,
    /// One line per frame, both ways, as `--trace` writes them: shown when a rule fails. The
    /// first `MAX_TRANSCRIPT_LINES` frames only; `untold` counts the rest.
    transcript: Vec<String>,
    untold: usize,
    /// A data message whose fragments are arriving: its opcode and its bytes so far.
    partial: Option<(Opcode, Vec<u8>)>,
    close_sent: bool,
}

impl Socket {
    fn new(mut connection: Connection, patience: Duration) -> Socket {
        Socket {
            // Frames the server sent right behind its 101.
            buffer: connection.take_buffered(),
            connection,
            patience,
            transcript: Vec::new(),
            untold: 0,
            partial: None,
            close_sent: false,
        }
    }

    /// Sends one masked frame: `first` is its first byte (FIN, RSV, opcode) as it goes on
    /// the wire.
    fn send(&mut self, first: u8, payload: &[u8]) -> Result<(), String> {
        let mut bytes = vec![first];
        let len = payload.len();
        match len {
            0..=125 => bytes.push(0x80 | len as u8),
            126..=0xFFFF => {
                bytes.push(0x80 | 126);
                bytes.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                bytes.push(0x80 | 127);
                bytes.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        bytes.extend_from_slice(&MASK_KEY);
        let start = bytes.len();
        bytes.extend_from_slice(payload);
        frame::apply_mask(&mut bytes[start..], MASK_KEY, 0);
        let line = format!(
            "fin={} rsv={:03b} op={} mask=1 len={len} {}",
            first >> 7,
            (first >> 4) & 0x7,
            first & 0xF,
            show(&payload[..len.min(32)])
        );
        self.close_sent |= first & 0xF == Opcode::Close as u8;
        self.send_raw(&bytes, &line)
    }

    /// Sends `bytes` as they are, noting `line` in the transcript.
    fn send_raw(&mut self, bytes: &[u8], line: &str) -> Result<(), String> {
        self.note(format!("> {line}"));
        self.connection.send(bytes)
    }

    /// Notes a frame in the transcript, or counts it once the transcript is full.
    fn note(&mut self, line: String) {
        if self.transcript.len() < MAX_TRANSCRIPT_LINES {
            self.transcript.push(line);
        } else {
            self.untold += 1;
        }
    }

    /// Reads more bytes before `deadline`: `Ok(0)` when the server closed TCP.
    fn fill(&mut self, deadline: Instant) -> Result<usize, String> {
        let now = Instant::now();
        if now >= deadline {
            return Err(Waited.to_string());
        }
        let mut stream = self.connection.stream();
        let _ = stream.set_read_timeout(Some(deadline - now));
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match stream.read(&mut chunk) {
                Ok(n) => {
                    self.buffer.extend_from_slice(&chunk[..n]);
                    return Ok(n);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Err(Waited.to_string());
                }
                // A reset after a close frame reads, for a checker, like a close.
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return Ok(0),
                Err(e) => return Err(format!("reading failed: {e}")),
            }
        }
    }

    /// The next frame, within the patience; `None` when TCP closed between frames.
    fn next_frame(&mut self) -> Result<Frame, String> {
        self.frame_before(Instant::now() + self.patience)?
            .ok_or_else(|| "the server closed TCP where a frame was expected".to_string())
    }

    fn frame_before(&mut self, deadline: Instant) -> Result<Option<Frame>, String> {
        loop {
            match frame::parse_header(&self.buffer) {
                Err(violation) => {
                    return Err(format!(
                        "the server sent a frame no client may accept ({}): {}",
                        violation.reason(),
                        show(&self.buffer[..self.buffer.len().min(14)])
                    ));
                }
                Ok(Some((header, used))) => {
                    if header.mask.is_some() {
                        return Err(format!(
                            "the server masked a frame (§5.1: a server MUST NOT): {}",
                            show(&self.buffer[..used])
                        ));
                    }
                    if header.payload_len > MAX_MESSAGE_BYTES as u64 {
                        return Err(format!(
                            "a frame of {} bytes, more than the checker sent: {}",
                            header.payload_len,
                            show(&self.buffer[..used])
                        ));
                    }
                    let end = used + header.payload_len as usize;
                    if self.buffer.len() >= end {
                        let payload = self.buffer[used..end].to_vec();
                        let header_bytes: Vec<u8> = self.buffer.drain(..end).take(used).collect();
                        self.note(format!(
                            "< {}   header {}",
                            frame::describe(&header, &payload),
                            show(&header_bytes)
                        ));
                        return Ok(Some(Frame {
                            header,
                            header_bytes,
                            payload,
                        }));
                    }
                }
                Ok(None) => {}
            }
            if self.fill(deadline)? == 0 {
                return match self.buffer.is_empty() {
                    true => Ok(None),
                    false => Err(format!(
                        "the server closed TCP in the middle of a frame: {}",
                        show(&self.buffer)
                    )),
                };
            }
        }
    }

    /// The next message, pong or close, within the patience. A ping from the server is
    /// answered, as a client must, and not returned (`MAX_PINGS_PER_WAIT` of them at most). A
    /// message longer than `MAX_MESSAGE_BYTES`, in fragments, is an error.
    fn next_event(&mut self) -> Result<Event, String> {
        let deadline = Instant::now() + self.patience;
        let mut pings = 0;
        loop {
            let Some(frame) = self.frame_before(deadline)? else {
                return Ok(Event::Gone);
            };
            let Frame {
                header, payload, ..
            } = frame;
            let (opcode, mut data) = match (header.opcode, self.partial.take()) {
                (Opcode::Ping, partial) => {
                    self.partial = partial;
                    pings += 1;
                    if pings > MAX_PINGS_PER_WAIT {
                        return Err(format!(
                            "the server sent over {MAX_PINGS_PER_WAIT} pings while the \
                             checker waited for one answer: a flood, not a keepalive"
                        ));
                    }
                    self.send(FIN | Opcode::Pong as u8, &payload)?;
                    continue;
                }
                (Opcode::Pong, partial) => {
                    self.partial = partial;
                    return Ok(Event::Pong(payload));
                }
                (Opcode::Close, _) => return Ok(Event::Close(payload)),
                (Opcode::Text | Opcode::Binary, None) => (header.opcode, payload),
                (Opcode::Continuation, Some((opcode, mut data))) => {
                    if data.len() + payload.len() > MAX_MESSAGE_BYTES {
                        return Err(format!(
                            "a message in fragments grew over {MAX_MESSAGE_BYTES} bytes, more \
                             than the checker ever sent: {} so far, then {} more",
                            data.len(),
                            payload.len()
                        ));
                    }
                    data.extend_from_slice(&payload);
                    (opcode, data)
                }
                (Opcode::Text | Opcode::Binary, Some(_)) => {
                    return Err("the server began a message inside a fragmented one (§5.4)".into());
                }
                (Opcode::Continuation, None) => {
                    return Err("the server sent a continuation with no message to continue".into());
                }
            };
            if !header.is_final {
                self.partial = Some((opcode, std::mem::take(&mut data)));
                continue;
            }
            return Ok(match opcode {
                Opcode::Text => Event::Text(data),
                _ => Event::Binary(data),
            });
        }
    }

    /// The next event must be `expected`.
    fn expect(&mut self, expected: &Event, what: &str) -> Result<(), String> {
        let event = self
            .next_event()
            .map_err(|e| format!("waiting for {what}: {e}"))?;
        match event == *expected {
            true => Ok(()),
            false => Err(format!("expected {what}; got {}", event.name())),
        }
    }

    /// The next event must be a close frame with `code`, for `what`.
    fn expect_close(&mut self, code: u16, what: &str) -> Result<(), String> {
        let event = self
            .next_event()
            .map_err(|e| format!("waiting for the close after {what}: {e}"))?;
        match &event {
            Event::Close(payload) if payload.get(..2) == Some(&code.to_be_bytes()[..]) => Ok(()),
            _ => Err(format!(
                "{what} must be answered by a close frame with code {code} ({}); got {}",
                frame::close_code_name(code),
                event.name()
            )),
        }
    }

    /// After the close frames, the server must close TCP (§7.1.1), sending nothing more.
    fn expect_gone(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + self.patience;
        match self.fill(deadline) {
            Ok(0) if self.buffer.is_empty() => Ok(()),
            Ok(_) => Err(format!(
                "bytes after the close frame: {}",
                show(&self.buffer)
            )),
            Err(e) => Err(format!(
                "after the close frames the server must close TCP; it did not ({e})"
            )),
        }
    }

    /// Sends a close (1000) unless one was sent, and drops the connection without waiting.
    fn goodbye(mut self) {
        if !self.close_sent {
            let _ = self.send(FIN | Opcode::Close as u8, &1000u16.to_be_bytes());
        }
    }
}
