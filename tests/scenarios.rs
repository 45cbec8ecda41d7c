//! `webwire check --client`: the scenarios a client under test must survive, played against
//! a raw socket that stands for the client. Each scenario's bytes are checked as they leave
//! the server, then the verdicts: a client that behaves gets `pass`, and one that misbehaves
//! in the way the scenario is about gets `fail`, with the reason.
//!
//! The socket's bytes are read and written by this file's own small code, not the server's
//! codecs, so a bug there cannot hide itself.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use support::ws::{CLOSE, FIN, KEY, PONG, TEXT, close_payload, frame, upgrade_request};
use support::{address, get, test_config};
use webwire::Running;
use webwire::scenarios::{self, Family};

fn start(family: Family) -> Running {
    scenarios::start(family, test_config()).expect("the scenario server starts")
}

/// A client socket, read exactly: the bytes on the wire, nothing parsed away.
struct Raw {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    fn open(address: SocketAddr) -> Raw {
        let stream = TcpStream::connect(address).unwrap();
        // A safety net: a server that hangs fails the test instead of hanging it.
        stream
            .set_read_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        Raw {
            stream,
            buf: Vec::new(),
        }
    }

    fn send(&mut self, bytes: impl AsRef<[u8]>) {
        self.stream.write_all(bytes.as_ref()).unwrap();
    }

    /// Reads more; 0 once the server has closed (a reset counts as closed).
    fn fill(&mut self) -> usize {
        let mut chunk = [0u8; 4096];
        match self.stream.read(&mut chunk) {
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                n
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => 0,
            Err(e) => panic!("read failed: {e}"),
        }
    }

    /// The response head, without its `Date` line (which changes every second).
    fn head(&mut self) -> String {
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head: Vec<u8> = self.buf.drain(..end + 4).collect();
                return String::from_utf8(head)
                    .unwrap()
                    .split_inclusive("\r\n")
                    .filter(|line| !line.starts_with("Date: "))
                    .collect();
            }
            assert!(self.fill() > 0, "closed before a whole head");
        }
    }

    /// Exactly `n` bytes.
    fn take(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            assert!(self.fill() > 0, "closed after {:?}", self.buf);
        }
        self.buf.drain(..n).collect()
    }

    /// One chunk of a chunked body, its framing checked; `None` for the last chunk.
    fn chunk(&mut self) -> Option<Vec<u8>> {
        let line_end = loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                break i;
            }
            assert!(self.fill() > 0, "closed inside a chunk size");
        };
        let line: Vec<u8> = self.buf.drain(..line_end + 2).collect();
        let size = usize::from_str_radix(std::str::from_utf8(&line).unwrap().trim_end(), 16)
            .expect("a chunk size in hex");
        let data = self.take(size);
        assert_eq!(self.take(2), b"\r\n", "CR LF after a chunk");
        (size > 0).then_some(data)
    }

    /// Whether the server closed the connection, with nothing more sent.
    fn closed(&mut self) -> bool {
        self.buf.is_empty() && self.fill() == 0
    }
}

const STREAM_HEAD: &str = "HTTP/1.1 200 OK\r\nServer: webwire\r\nX-Content-Type-Options: nosniff\r\n\
    Content-Type: text/event-stream\r\nCache-Control: no-store\r\n\
    Access-Control-Allow-Origin: *\r\nTransfer-Encoding: chunked\r\n\r\n";

const NO_CONTENT_HEAD: &str = "HTTP/1.1 204 No Content\r\nServer: webwire\r\n\
    X-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\n\
    Access-Control-Allow-Origin: *\r\n\r\n";

/// A GET of `target` as an `EventSource` sends it, with `Last-Event-ID` if given.
fn open(server: &Running, target: &str, last_event_id: Option<&str>) -> Raw {
    let mut raw = Raw::open(address(server));
    let header = last_event_id.map_or(String::new(), |id| format!("Last-Event-ID: {id}\r\n"));
    raw.send(format!(
        "GET {target} HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\
         Cache-Control: no-cache\r\n{header}\r\n"
    ));
    raw
}

/// Opens `target` and reads its stream: the head, then every chunk, which must be
/// `pieces`; then the last chunk (`cut: false`) or the connection closed without it.
fn stream(server: &Running, target: &str, id: Option<&str>, pieces: &[&[u8]], cut: bool) {
    let mut raw = open(server, target, id);
    assert_eq!(raw.head(), STREAM_HEAD, "{target}");
    for piece in pieces {
        assert_eq!(
            String::from_utf8_lossy(&raw.chunk().expect("a piece")),
            String::from_utf8_lossy(piece),
            "{target}"
        );
    }
    if cut {
        assert!(raw.closed(), "{target}: cut, with no last chunk");
    } else {
        assert_eq!(raw.chunk(), None, "{target}: the last chunk");
    }
}

/// Opens `target` and expects `204 No Content`.
fn stopped(server: &Running, target: &str, id: Option<&str>) {
    let mut raw = open(server, target, id);
    assert_eq!(raw.head(), NO_CONTENT_HEAD, "{target}");
}

/// The verdict of `scenario` in `run` once it is not pending (or after 15 s): the word and
/// the reason, from `GET /results`.
fn verdict(server: &Running, run: &str, scenario: &str) -> (String, String) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let results = get(server, &format!("/results?run={run}")).text();
        let found = results
            .split_once(&format!("\"scenario\":\"{scenario}\",\"verdict\":\""))
            .map(|(_, rest)| {
                let (word, rest) = rest.split_once('"').unwrap();
                let why = rest
                    .strip_prefix(",\"why\":\"")
                    .and_then(|r| r.split_once("\",\"seen\":"))
                    .unwrap()
                    .0;
                (word.to_string(), why.replace("\\\"", "\""))
            });
        match found {
            Some((word, why)) if word != "pending" || Instant::now() > deadline => {
                return (word, why);
            }
            None if Instant::now() > deadline => panic!("{scenario} never played: {results}"),
            _ => thread::sleep(Duration::from_millis(100)),
        }
    }
}

fn passes(server: &Running, run: &str, scenario: &str) -> String {
    let (word, why) = verdict(server, run, scenario);
    assert_eq!(word, "pass", "{scenario} in {run}: {why}");
    why
}

fn fails(server: &Running, run: &str, scenario: &str) -> String {
    let (word, why) = verdict(server, run, scenario);
    assert_eq!(word, "fail", "{scenario} in {run}: {why}");
    why
}

/// The part of `why` before its first digit, to compare reasons that carry a measured time.
fn without_time(why: &str) -> &str {
    &why[..why.find(|c: char| c.is_ascii_digit()).unwrap_or(why.len())]
}

// ---- the listing and the results -------------------------------------------------------------

#[test]
fn the_listing_names_every_scenario_and_a_run_is_required() {
    for family in Family::ALL {
        let server = start(family);
        let listing = get(&server, "/");
        assert_eq!(listing.status, 200);
        assert_eq!(
            listing.header("content-type"),
            Some("text/plain; charset=utf-8")
        );
        let text = listing.text();
        for scenario in family.scenarios() {
            assert!(
                text.contains(&format!("{}?run=RUN", scenario.path)),
                "{text}"
            );
            assert!(text.contains(scenario.cite.split_whitespace().next().unwrap()));
        }
        let path = family.scenarios()[0].path;
        let refused = get(&server, path);
        assert_eq!(refused.status, 400);
        assert!(refused.text().starts_with("add ?run=RUN to the URL"));
        assert_eq!(get(&server, &format!("{path}?run=a.b")).status, 400);
        assert_eq!(get(&server, "/results").status, 400);
        let empty = get(&server, "/results?run=nobody");
        assert_eq!(empty.header("content-type"), Some("application/json"));
        assert_eq!(empty.text(), "{\"run\":\"nobody\",\"scenarios\":[]}\n");
    }
}

// ---- Server-Sent Events ----------------------------------------------------------------------

const DROP_FIRST: &[u8] = b"retry: 250\nid: 1\ndata: first\n\n";
const DROP_HALF: &[u8] = b"id: 2\ndata: this event is never finish";

#[test]
fn drop_mid_event_a_client_that_resumes_after_the_whole_event_passes() {
    let server = start(Family::Sse);
    let target = "/sse/drop-mid-event?run=good";
    stream(&server, target, None, &[DROP_FIRST, DROP_HALF], true);
    stream(
        &server,
        target,
        Some("1"),
        &[
            b"event: expect\ndata: {\"scenario\":\"/sse/drop-mid-event\",\"events\":[{\"type\":\
            \"message\",\"data\":\"first\",\"lastEventId\":\"1\"}],\"then\":\"the stream ends; \
            a reconnection gets 204\"}\n\n",
        ],
        false,
    );
    let why = passes(&server, "good", "/sse/drop-mid-event");
    assert_eq!(without_time(&why), "reconnected ");
    assert!(
        why.ends_with(" ms after the cut with Last-Event-ID: 1"),
        "{why}"
    );
    stopped(&server, target, Some("1")); // the script is over

    // The results say what the server saw, request by request.
    let results = get(&server, "/results?run=good").text();
    assert!(results.contains(
        "\"request 1, no Last-Event-ID: answered 200 text/event-stream, 2 pieces, then the \
         connection cut\""
    ));
    assert!(results.contains("Last-Event-ID: 1: answered 200 text/event-stream, 1 piece"));
}

#[test]
fn drop_mid_event_a_client_that_keeps_the_half_or_forgets_the_id_fails() {
    let server = start(Family::Sse);
    for (run, id, why) in [
        (
            "half",
            Some("2"),
            "Last-Event-ID: 2: the id of the unfinished event",
        ),
        (
            "none",
            None,
            "no Last-Event-ID: the last event dispatched had id 1",
        ),
    ] {
        let target = format!("/sse/drop-mid-event?run={run}");
        stream(&server, &target, None, &[DROP_FIRST, DROP_HALF], true);
        let mut again = open(&server, &target, id);
        assert_eq!(again.head(), STREAM_HEAD);
        let failed = fails(&server, run, "/sse/drop-mid-event");
        assert!(failed.contains(why), "{failed}");
    }
}

#[test]
fn id_without_data_the_id_must_come_back() {
    let server = start(Family::Sse);
    let first: &[&[u8]] = &[b"retry: 250\nid: 5\n\n"];
    stream(&server, "/sse/id-without-data?run=a", None, first, true);
    let mut again = open(&server, "/sse/id-without-data?run=a", Some("5"));
    assert_eq!(again.head(), STREAM_HEAD);
    assert!(
        String::from_utf8(again.chunk().unwrap())
            .unwrap()
            .starts_with(
                "event: expect\ndata: {\"scenario\":\"/sse/id-without-data\",\"events\":[],"
            )
    );
    passes(&server, "a", "/sse/id-without-data");

    // What Firefox ESR 153 does: it forgets the id of an event with no data.
    stream(&server, "/sse/id-without-data?run=b", None, first, true);
    drop(open(&server, "/sse/id-without-data?run=b", None));
    let why = fails(&server, "b", "/sse/id-without-data");
    assert!(
        why.ends_with(
            "with no Last-Event-ID: a block with an id and no data fires nothing but still \
             sets the last event ID to 5 (HTML §9.2.6, dispatch step 1)"
        ),
        "{why}"
    );
}

#[test]
fn retry_change_the_reconnection_waits_the_last_retry() {
    let server = start(Family::Sse);
    let pieces: &[&[u8]] = &[
        b"retry: 100\ndata: retry is 100 ms\n\n",
        b"retry: 1500\ndata: retry is now 1500 ms\n\n",
    ];
    // Too soon: at once, as a client that kept the first value (or none) might.
    stream(&server, "/sse/retry-change?run=soon", None, pieces, true);
    drop(open(&server, "/sse/retry-change?run=soon", None));
    let why = fails(&server, "soon", "/sse/retry-change");
    assert!(
        why.ends_with(
            ": sooner than 1500 ms, the last retry value (HTML §9.2.6 sets it, §9.2.3 waits it)"
        ),
        "{why}"
    );

    stream(&server, "/sse/retry-change?run=late", None, pieces, true);
    thread::sleep(Duration::from_millis(1500));
    let mut again = open(&server, "/sse/retry-change?run=late", None);
    assert_eq!(again.head(), STREAM_HEAD);
    let last = String::from_utf8(again.chunk().unwrap()).unwrap();
    assert!(last.starts_with("retry: 250\nevent: expect\n"), "{last}");
    let why = passes(&server, "late", "/sse/retry-change");
    assert!(why.ends_with("no sooner than the last retry"), "{why}");
}

#[test]
fn stop_with_204_a_client_must_never_come_back() {
    let server = start(Family::Sse);
    let pieces: &[&[u8]] = &[
        b"retry: 250\nid: 1\ndata: one\n\n",
        b"event: expect\ndata: {\"scenario\":\"/sse/stop-with-204\",\"events\":[{\"type\":\
          \"message\",\"data\":\"one\",\"lastEventId\":\"1\"}],\"then\":\"the stream ends; the \
          reconnection gets 204: error, readyState 2 (CLOSED), and no request ever again\"}\n\n",
    ];
    for run in ["good", "bad"] {
        let target = format!("/sse/stop-with-204?run={run}");
        stream(&server, &target, None, pieces, false);
        stopped(&server, &target, Some("1"));
    }
    // The bad client comes back after the 204, and is told 204 again.
    stopped(&server, "/sse/stop-with-204?run=bad", Some("1"));
    let why = fails(&server, "bad", "/sse/stop-with-204");
    assert!(
        why.starts_with("came back after the 204: reconnected "),
        "{why}"
    );
    // The good one is judged after GONE_FOR_GOOD_AFTER of silence.
    let why = passes(&server, "good", "/sse/stop-with-204");
    assert!(
        why.ends_with(", got 204, and did not come back in 6 s"),
        "{why}"
    );
}

#[test]
fn bom_and_line_endings_are_sent_as_written() {
    let server = start(Family::Sse);
    let target = "/sse/bom-and-line-endings?run=a";
    let mut raw = open(&server, target, None);
    assert_eq!(raw.head(), STREAM_HEAD);
    let pieces: [&[u8]; 6] = [
        b"\xEF\xBB\xBFid: 1\r\nretry: 250\r\ndata: after the BOM\r\n\r\n",
        b"id: 2\rdata: lone CR\r\r",
        b"id: 3\ndata: LF\n\n",
        b"data: mixed 1\r\ndata: mixed 2\rdata: mixed 3\n\r\n",
        b"id: 4\rdata: CR LF split\r",
        b"\ndata: across two reads\r\n\r\n",
    ];
    for piece in pieces {
        assert_eq!(raw.chunk().unwrap(), piece);
    }
    let expect = String::from_utf8(raw.chunk().unwrap()).unwrap();
    assert!(expect.contains(
        "{\"type\":\"message\",\"data\":\"CR LF split\\nacross two reads\",\"lastEventId\":\"4\"}]"
    ));
    assert_eq!(raw.chunk(), None);
    stopped(&server, target, Some("4"));
    passes(&server, "a", "/sse/bom-and-line-endings");

    // A client that missed the lone CR after `id: 4` has no 4 to send.
    let target = "/sse/bom-and-line-endings?run=b";
    let mut raw = open(&server, target, None);
    raw.head();
    while raw.chunk().is_some() {}
    stopped(&server, target, Some("3"));
    let why = fails(&server, "b", "/sse/bom-and-line-endings");
    assert!(
        why.contains("the last id was 4, on a line ended by a lone CR"),
        "{why}"
    );
}

#[test]
fn multiline_data_and_fields_are_sent_as_written() {
    let server = start(Family::Sse);
    let target = "/sse/multiline-data-and-fields?run=a";
    let mut raw = open(&server, target, None);
    assert_eq!(raw.head(), STREAM_HEAD);
    let pieces: [&[u8]; 4] = [
        b"retry: 250\n: a comment, then a blank line: nothing fires\n\n\
          id: 1\ndata: first line\ndata: second line\n\n",
        b"id: 2\nevent: custom\nunknown: ignored\ndata\ndata:no space\n\
          data:  one space kept\n: a comment inside an event\n\n",
        b"id:3\ndata:\n\n",
        b"data: the type is message again\n\n",
    ];
    for piece in pieces {
        assert_eq!(raw.chunk().unwrap(), piece);
    }
    let expect = String::from_utf8(raw.chunk().unwrap()).unwrap();
    assert!(expect.contains(
        "{\"type\":\"custom\",\"data\":\"\\nno space\\n one space kept\",\"lastEventId\":\"2\"}"
    ));
    assert_eq!(raw.chunk(), None);
    stopped(&server, target, Some("3"));
    passes(&server, "a", "/sse/multiline-data-and-fields");
}

#[test]
fn id_with_null_is_ignored_so_the_last_id_is_7() {
    let server = start(Family::Sse);
    let pieces: &[&[u8]] = &[
        b"retry: 250\nid: 7\ndata: seven\n\n",
        b"id: 8\x009\ndata: the id of this event holds U+0000: ignored\n\n",
    ];
    for (run, id, verdict_word) in [("a", "7", "pass"), ("b", "89", "fail")] {
        let target = format!("/sse/id-with-null?run={run}");
        let mut raw = open(&server, &target, None);
        assert_eq!(raw.head(), STREAM_HEAD);
        for piece in pieces {
            assert_eq!(raw.chunk().unwrap(), *piece);
        }
        assert!(raw.chunk().is_some(), "the expect event");
        assert_eq!(raw.chunk(), None);
        stopped(&server, &target, Some(id));
        assert_eq!(verdict(&server, run, "/sse/id-with-null").0, verdict_word);
    }
    // A client that kept the NUL cannot send it: no header may hold one, and the server's
    // parser refuses it before the scenario sees it.
    let mut raw = open(&server, "/sse/id-with-null?run=c", Some("8\09"));
    assert!(raw.head().starts_with("HTTP/1.1 400 Bad Request\r\n"));
}

#[test]
fn wrong_media_type_a_client_must_not_come_back() {
    let server = start(Family::Sse);
    for run in ["good", "bad"] {
        let mut raw = open(&server, &format!("/sse/wrong-media-type?run={run}"), None);
        let body = "retry: 250\ndata: you must not see this: it came as text/plain\n\n";
        assert_eq!(
            raw.head(),
            format!(
                "HTTP/1.1 200 OK\r\nServer: webwire\r\nX-Content-Type-Options: nosniff\r\n\
                 Content-Type: text/plain; charset=utf-8\r\nCache-Control: no-store\r\n\
                 Access-Control-Allow-Origin: *\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
        );
        assert_eq!(raw.take(body.len()), body.as_bytes());
    }
    drop(open(&server, "/sse/wrong-media-type?run=bad", None));
    let why = fails(&server, "bad", "/sse/wrong-media-type");
    assert!(
        why.ends_with(
            "a 200 whose Content-Type is not text/event-stream fails the connection for good \
             (HTML §9.2.3)"
        ),
        "{why}"
    );
    let why = passes(&server, "good", "/sse/wrong-media-type");
    assert_eq!(why, "did not come back in 6 s after the text/plain answer");
}

// ---- WebSocket -------------------------------------------------------------------------------

/// Opens the WebSocket scenario at `target` and reads the 101; `accept` is the
/// `Sec-WebSocket-Accept` it must carry.
fn upgrade(server: &Running, target: &str, accept: &str) -> Raw {
    let mut raw = Raw::open(address(server));
    raw.send(upgrade_request(target, "Origin: http://elsewhere.test\r\n"));
    assert_eq!(
        raw.head(),
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nServer: webwire\r\n\
             X-Content-Type-Options: nosniff\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\n\r\n"
        ),
        "{target}: any origin is welcome"
    );
    raw
}

/// The RFC's example key's accept value (§1.3).
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

const FRAGMENTS: &[u8] = b"\x01\x03Hel\x89\x0cwebwire ping\x00\x04lo, \x80\x05world";
const SERVER_CLOSE: &[u8] = b"\x88\x0f\x03\xe8scenario over";

#[test]
fn fragmented_with_ping_a_client_that_pongs_and_sends_back_the_whole_message_passes() {
    let server = start(Family::WebSocket);
    let mut ws = upgrade(&server, "/ws/fragmented-with-ping?run=good", ACCEPT);
    assert_eq!(ws.take(FRAGMENTS.len()), FRAGMENTS);
    ws.send(frame(FIN | PONG, b"webwire ping"));
    ws.send(frame(FIN | TEXT, b"Hello, world"));
    assert_eq!(
        ws.take(SERVER_CLOSE.len()),
        SERVER_CLOSE,
        "the server ends the scene"
    );
    ws.send(frame(FIN | CLOSE, &close_payload(1000, "")));
    assert!(ws.closed());
    let why = passes(&server, "good", "/ws/fragmented-with-ping");
    assert_eq!(
        why,
        "answered the ping with a pong carrying \"webwire ping\", and sent back \"Hello, world\" \
         whole"
    );
}

#[test]
fn fragmented_with_ping_a_wrong_pong_or_a_piece_of_the_message_fails() {
    let server = start(Family::WebSocket);
    let cases: [(&str, &[&[u8]], &str); 3] = [
        (
            "pong",
            &[b"\x8a\x84\0\0\0\0ping"],
            "a pong carrying \"ping\", not the ping's \"webwire ping\" (RFC 6455 §5.5.3)",
        ),
        (
            "piece",
            &[b"\x81\x83\0\0\0\0Hel"],
            "sent back \"Hel\", not the whole message \"Hello, world\": fragments are one \
             message (RFC 6455 §5.4)",
        ),
        (
            "nopong",
            &[b"\x81\x8c\0\0\0\0Hello, world", b"\x88\x82\0\0\0\0\x03\xe8"],
            "no pong (RFC 6455 §5.5.2: a ping is answered with a pong): the client closed \
             (code 1000, reason \"\")",
        ),
    ];
    for (run, frames, why) in cases {
        let mut ws = upgrade(
            &server,
            &format!("/ws/fragmented-with-ping?run={run}"),
            ACCEPT,
        );
        assert_eq!(ws.take(FRAGMENTS.len()), FRAGMENTS);
        for frame in frames {
            ws.send(frame);
        }
        assert_eq!(fails(&server, run, "/ws/fragmented-with-ping"), why);
    }
}

#[test]
fn close_echo_a_close_is_answered_with_a_close() {
    let server = start(Family::WebSocket);
    let mut ws = upgrade(&server, "/ws/close-echo?run=good", ACCEPT);
    assert_eq!(ws.take(SERVER_CLOSE.len()), SERVER_CLOSE);
    ws.send(frame(FIN | CLOSE, &close_payload(1000, "bye")));
    assert!(ws.closed(), "the server closes TCP first");
    assert_eq!(
        passes(&server, "good", "/ws/close-echo"),
        "answered the close with a close frame (code 1000, reason \"bye\")"
    );

    // Hanging up without a close frame fails.
    let mut ws = upgrade(&server, "/ws/close-echo?run=rude", ACCEPT);
    assert_eq!(ws.take(SERVER_CLOSE.len()), SERVER_CLOSE);
    drop(ws);
    assert_eq!(
        fails(&server, "rude", "/ws/close-echo"),
        "closed the TCP connection without a close frame: a close is answered with a close \
         (RFC 6455 §5.5.1)"
    );
}

/// The scenes where the client must fail the connection: the frame the server sends, what
/// the `why`s call it, and the close code a client's close frame should carry, with its name.
const MUST_FAIL: [(&str, &[u8], &str, &str); 3] = [
    (
        "/ws/invalid-utf8",
        b"\x81\x14\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",
        "a text frame that is not UTF-8",
        "1007 (invalid payload data)",
    ),
    (
        "/ws/masked-from-server",
        // "masked by the server" XOR 37 fa 21 3d, RFC 6455 §5.3
        b"\x81\x94\x37\xfa\x21\x3d\x5a\x9b\x52\x56\x52\x9e\x01\x5f\x4e\xda\x55\x55\x52\xda\x52\x58\x45\x8c\x44\x4f",
        "a masked frame from the server",
        "1002 (protocol error)",
    ),
    (
        "/ws/reserved-opcode",
        b"\x83\x08reserved",
        "a frame with opcode 3",
        "1002 (protocol error)",
    ),
];

/// The code in `named`: `1007 (…)` is 1007.
fn code_of(named: &str) -> u16 {
    named.split(' ').next().unwrap().parse().unwrap()
}

/// The close frame the server answers a client's close with: the client's code back, or
/// none.
fn close_answer(code: Option<u16>) -> Vec<u8> {
    match code {
        Some(code) => [&[0x88, 0x02][..], &code.to_be_bytes()].concat(),
        None => vec![0x88, 0x00],
    }
}

#[test]
fn a_client_that_fails_the_connection_with_the_named_code_passes() {
    let server = start(Family::WebSocket);
    for (path, bytes, what, named) in MUST_FAIL {
        let code = code_of(named);
        // A close frame with the code §7.4.1 names, then the server closes TCP.
        let mut ws = upgrade(&server, &format!("{path}?run=code"), ACCEPT);
        assert_eq!(ws.take(bytes.len()), bytes, "{path}");
        ws.send(frame(FIN | CLOSE, &close_payload(code, "")));
        assert_eq!(
            ws.take(4),
            close_answer(Some(code)),
            "{path}: the close answered"
        );
        assert!(ws.closed());
        assert_eq!(
            passes(&server, "code", path),
            format!("failed the connection after {what}: close {code} \"\"")
        );
    }
}

#[test]
fn a_client_that_fails_the_connection_without_the_named_code_passes_non_strict() {
    let server = start(Family::WebSocket);
    for (path, bytes, what, named) in MUST_FAIL {
        let failed =
            format!("non-strict: failed the connection after {what}, as it must (RFC 6455 §7.1.7)");

        // A close frame with another code: Chromium's 1002 for invalid UTF-8, say; here 1000.
        let mut ws = upgrade(&server, &format!("{path}?run=other"), ACCEPT);
        assert_eq!(ws.take(bytes.len()), bytes, "{path}");
        ws.send(frame(FIN | CLOSE, &close_payload(1000, "")));
        assert_eq!(
            ws.take(4),
            close_answer(Some(1000)),
            "{path}: the close answered"
        );
        assert!(ws.closed());
        assert_eq!(
            passes(&server, "other", path),
            format!("{failed}, but with close 1000 (normal closure) where §7.4.1 names {named}")
        );

        // A close frame with no code at all (§5.5.1 allows it; the SHOULD wants one).
        let mut ws = upgrade(&server, &format!("{path}?run=nocode"), ACCEPT);
        assert_eq!(ws.take(bytes.len()), bytes, "{path}");
        ws.send(frame(FIN | CLOSE, b""));
        assert_eq!(ws.take(2), close_answer(None), "{path}: the close answered");
        assert!(ws.closed());
        assert_eq!(
            passes(&server, "nocode", path),
            format!("{failed}, but with a close frame carrying no code where §7.4.1 names {named}")
        );

        // No close frame: TCP closed, as Firefox ESR does.
        let mut ws = upgrade(&server, &format!("{path}?run=tcp"), ACCEPT);
        assert_eq!(ws.take(bytes.len()), bytes, "{path}");
        drop(ws);
        assert_eq!(
            passes(&server, "tcp", path),
            format!(
                "{failed}, but closed the TCP connection with no close frame, where §7.1.7 \
                 says it SHOULD send one first, with the code §7.4.1 names: {named}"
            )
        );
    }
}

#[test]
fn a_client_that_goes_on_or_stays_open_fails() {
    let server = start(Family::WebSocket);
    for (path, bytes, what, _) in MUST_FAIL {
        let mut ws = upgrade(&server, &format!("{path}?run=echo"), ACCEPT);
        assert_eq!(ws.take(bytes.len()), bytes);
        ws.send(frame(FIN | TEXT, b"got it"));
        assert_eq!(
            fails(&server, "echo", path),
            format!(
                "sent a text message (\"got it\") after {what}: it should have failed the \
                 connection (RFC 6455 §7.1.7)"
            )
        );
    }
    // One that stays open is judged after WS_PATIENCE, each scene at once.
    let open: Vec<Raw> = MUST_FAIL
        .iter()
        .map(|(path, bytes, _, _)| {
            let mut ws = upgrade(&server, &format!("{path}?run=open"), ACCEPT);
            assert_eq!(ws.take(bytes.len()), *bytes);
            ws
        })
        .collect();
    for (path, _, what, _) in MUST_FAIL {
        assert_eq!(
            fails(&server, "open", path),
            format!("still open 5 s after {what}: a client fails the connection (RFC 6455 §7.1.7)")
        );
    }
    drop(open);
}

#[test]
fn bad_accept_a_client_must_not_open() {
    let server = start(Family::WebSocket);
    // SHA-1 of the key alone, without the GUID: what a careless server sends.
    let careless = STANDARD.encode(sha1_smol::Sha1::from(KEY).digest().bytes());
    assert_ne!(careless, ACCEPT);
    let text = b"\x81\x15you must not see this";

    let mut ws = upgrade(&server, "/ws/bad-accept?run=good", &careless);
    assert_eq!(ws.take(text.len()), text);
    drop(ws);
    assert_eq!(
        passes(&server, "good", "/ws/bad-accept"),
        "closed the TCP connection without sending a frame: it did not open"
    );

    let mut ws = upgrade(&server, "/ws/bad-accept?run=bad", &careless);
    assert_eq!(ws.take(text.len()), text);
    ws.send(frame(FIN | TEXT, b"you must not see this"));
    assert_eq!(
        fails(&server, "bad", "/ws/bad-accept"),
        "sent a text frame, though Sec-WebSocket-Accept was wrong: a client checks it and \
         fails the connection (RFC 6455 §4.1)"
    );
}

#[test]
fn a_handshake_the_server_refuses_fails_the_scenario() {
    let server = start(Family::WebSocket);
    let mut raw = Raw::open(address(&server));
    raw.send(
        "GET /ws/close-echo?run=nokey HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    assert!(raw.head().starts_with("HTTP/1.1 400 Bad Request\r\n"));
    assert_eq!(
        fails(&server, "nokey", "/ws/close-echo"),
        "the opening handshake was refused with 400: Sec-WebSocket-Key must be base64 of 16 \
         bytes, sent once (RFC 6455 §4.1)"
    );
}
