//! Server-Sent Events (`docs/07-sse.md`) over raw TCP. The responses are read by an event-stream
//! parser written here from the WHATWG rules (HTML §9.2.5–9.2.6), not by the server's code, and
//! it keeps what a browser's `EventSource` keeps between connections: the last event ID and the
//! reconnection time.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod support;

use std::time::{Duration, SystemTime};

use support::{Client, clock_between, head, start_custom, test_config};
use webwire::demos::sse::event;

// ---- an EventSource, minus the DOM --------------------------------------------------------------

/// One event as a page would receive it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Event {
    /// `event.type`: "message", or the stream's `event:` name.
    kind: String,
    data: String,
    last_event_id: String,
}

/// What an `EventSource` does with the bytes of its responses.
#[derive(Default)]
struct EventSource {
    // Kept from one connection to the next (§9.2.3).
    last_event_id: String,
    reconnection_time: Option<u64>,
    events: Vec<Event>,
    // Each connection starts these afresh (§9.2.6).
    line: Vec<u8>,
    after_cr: bool,
    first_line: bool,
    data: String,
    event_type: String,
    last_event_id_buffer: String,
}

impl EventSource {
    /// A new response: "a data buffer, an event type buffer, and a last event ID buffer …
    /// initialized to the empty string".
    fn connect(&mut self) {
        self.line.clear();
        self.after_cr = false;
        self.first_line = true;
        self.data.clear();
        self.event_type.clear();
        self.last_event_id_buffer.clear();
    }

    /// Lines end at CR LF, at LF, or at a lone CR; a CR LF split across two reads is one end.
    fn feed(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            match byte {
                b'\n' if self.after_cr => self.after_cr = false,
                b'\r' | b'\n' => {
                    self.after_cr = byte == b'\r';
                    let line = std::mem::take(&mut self.line);
                    self.process_line(&String::from_utf8_lossy(&line));
                }
                _ => {
                    self.after_cr = false;
                    self.line.push(byte);
                }
            }
        }
    }

    fn process_line(&mut self, line: &str) {
        // One U+FEFF at the very start of the stream is a byte order mark, not text.
        let line = match std::mem::take(&mut self.first_line) {
            true => line.strip_prefix('\u{feff}').unwrap_or(line),
            false => line,
        };
        if line.is_empty() {
            return self.dispatch();
        }
        if line.starts_with(':') {
            return; // a comment
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => self.event_type = value.to_string(),
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
            }
            "id" if !value.contains('\0') => self.last_event_id_buffer = value.to_string(),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                self.reconnection_time = value.parse().ok();
            }
            _ => {} // unknown fields are ignored
        }
    }

    /// "Dispatch the event".
    fn dispatch(&mut self) {
        self.last_event_id = self.last_event_id_buffer.clone();
        if self.data.is_empty() {
            self.event_type.clear();
            return;
        }
        if self.data.ends_with('\n') {
            self.data.pop();
        }
        let kind = match self.event_type.is_empty() {
            true => "message".to_string(),
            false => std::mem::take(&mut self.event_type),
        };
        self.events.push(Event {
            kind,
            data: std::mem::take(&mut self.data),
            last_event_id: self.last_event_id.clone(),
        });
    }

    /// The response ended: an incomplete line and an undispatched event are thrown away.
    fn end_of_stream(&mut self) {
        self.connect();
    }

    /// The events' ids, as numbers.
    fn ids(&self) -> Vec<u64> {
        let ids = self.events.iter().map(|e| e.last_event_id.parse().unwrap());
        ids.collect()
    }
}

fn parse(text: &str) -> EventSource {
    let mut source = EventSource::default();
    source.connect();
    source.feed(text.as_bytes());
    source.end_of_stream();
    source
}

fn message(data: &str, last_event_id: &str) -> Event {
    Event {
        kind: "message".to_string(),
        data: data.to_string(),
        last_event_id: last_event_id.to_string(),
    }
}

// The parser first checks itself against the specification's own examples (§9.2.6).

#[test]
fn the_parser_agrees_with_the_specs_examples() {
    let four_blocks = ": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n";
    let source = parse(four_blocks);
    assert_eq!(
        source.events,
        [message("first event", "1"), message("second event", "")],
        "an empty id resets it; the last block has no blank line, so it never fires"
    );

    let source = parse("data\n\ndata\ndata\n\ndata:");
    assert_eq!(source.events, [message("", ""), message("\n", "")]);

    let source = parse("data:test\n\ndata: test\n\n");
    assert_eq!(source.events, [message("test", ""), message("test", "")]);

    let source = parse("data: YHOO\ndata: +2\r\ndata: 10\r\rretry: 10\nretry: x\n\n");
    assert_eq!(source.events, [message("YHOO\n+2\n10", "")]);
    assert_eq!(source.reconnection_time, Some(10), "retry: x is ignored");
}

#[test]
fn a_cr_lf_split_between_reads_is_one_line_end() {
    let mut source = EventSource::default();
    source.connect();
    for piece in ["\u{feff}event: add\r", "\ndata: 1\r", "\n\r", "\n"] {
        source.feed(piece.as_bytes());
    }
    assert_eq!(
        source.events,
        [Event {
            kind: "add".to_string(),
            data: "1".to_string(),
            last_event_id: String::new()
        }]
    );
}

// ---- the event writer, read back by the parser ---------------------------------------------------

#[test]
fn whatever_a_value_holds_it_arrives_as_one_event_with_the_same_text() {
    let tricky = [
        "plain",
        "two\nlines",
        "cr lf\r\nand a lone cr\rend",
        "x\n\nid: 999\nevent: admin\n\ndata: injected\n\n",
        "",
        "\n",
        " leading space",
        ": not a comment",
    ];
    for value in tricky {
        let source = parse(&event(Some(7), Some("note\n\nid: 1"), Some(value)));
        // Every line break, whatever its kind, comes back as "\n".
        let expected = value.replace("\r\n", "\n").replace('\r', "\n");
        assert_eq!(
            source.events,
            [Event {
                kind: "noteid: 1".to_string(),
                data: expected,
                last_event_id: "7".to_string()
            }],
            "{value:?}"
        );
    }
}

// ---- /evt ---------------------------------------------------------------------------------------

fn sse_server(tick: Duration, hold: Duration, max_conns: usize) -> webwire::Running {
    let mut config = test_config();
    config.tick = tick;
    config.hold = hold;
    config.max_conns = Some(max_conns);
    start_custom(config, Vec::new())
}

fn fast_server() -> webwire::Running {
    sse_server(Duration::from_millis(5), Duration::from_secs(25), 64)
}

fn request(target: &str, last_event_id: Option<&str>) -> String {
    let header = last_event_id.map_or(String::new(), |id| format!("Last-Event-ID: {id}\r\n"));
    format!(
        "GET {target} HTTP/1.1\r\nHost: localhost:8088\r\nAccept: text/event-stream\r\n\
         Cache-Control: no-cache\r\n{header}\r\n"
    )
}

fn stream_head() -> String {
    head(
        "HTTP/1.1 200 OK",
        &[
            ("Content-Type", "text/event-stream"),
            ("Cache-Control", "no-cache"),
            ("Access-Control-Allow-Origin", "*"),
            ("Transfer-Encoding", "chunked"),
        ],
    )
}

fn stop_head() -> String {
    head(
        "HTTP/1.1 204 No Content",
        &[
            ("Cache-Control", "no-cache"),
            ("Access-Control-Allow-Origin", "*"),
        ],
    )
}

/// Sends what an EventSource sends (with its last event ID, if it has one), and feeds every
/// chunk of the answer to it until the response ends. Returns the chunks as they came.
fn connect(client: &mut Client, source: &mut EventSource, target: &str) -> Vec<String> {
    let id = Some(source.last_event_id.as_str()).filter(|id| !id.is_empty());
    client.send(request(target, id));
    let head = client.read_reply_to(true);
    assert_eq!(head.head_without_date(), stream_head());
    source.connect();
    let mut chunks = Vec::new();
    while let Some(chunk) = client.read_chunk() {
        source.feed(&chunk);
        chunks.push(String::from_utf8(chunk).expect("UTF-8"));
    }
    source.end_of_stream();
    chunks
}

#[test]
fn ten_events_one_chunk_each_then_a_clean_end() {
    let server = fast_server();
    let mut client = Client::connect(&server);
    let mut source = EventSource::default();
    let before = SystemTime::now();
    let chunks = connect(&mut client, &mut source, "/evt");
    let clock = clock_between(before, SystemTime::now());

    assert_eq!(source.reconnection_time, Some(5), "retry follows the tick");
    assert_eq!(source.ids(), [1, 2, 3, 4, 5, 6, 7, 8, 10]);
    assert_eq!(source.last_event_id, "10");
    assert_eq!(chunks.len(), 10, "one chunk per block");
    assert!(
        chunks[0].starts_with("retry: 5\nid: 1\ndata: "),
        "{:?}",
        chunks[0]
    );
    assert_eq!(
        chunks[8], "id: 9\n\n",
        "an id alone: nothing fires, the id moves on"
    );
    for (chunk, id) in chunks.iter().zip(1..) {
        assert!(chunk.contains(&format!("id: {id}\n")) && chunk.ends_with("\n\n"));
    }
    for event in &source.events {
        let id: u64 = event.last_event_id.parse().unwrap();
        let kind = if id == 3 { "myevent" } else { "message" };
        assert_eq!(event.kind, kind, "event {id}");
        let (time, rest) = event.data.split_once('\n').unwrap_or((&event.data, ""));
        assert!(clock.iter().any(|t| t == time), "{time:?} is not the clock");
        if id == 6 {
            assert!(rest.ends_with(" ms since 1970"), "{rest:?}");
        } else {
            assert_eq!(rest, "", "event {id} is one line");
        }
    }
}

#[test]
fn each_event_is_one_chunk_with_exact_framing() {
    let server = fast_server();
    let mut client = Client::connect(&server);
    client.send("GET /evt?count=2 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let head = client.read_reply_to(true);
    assert_eq!(head.header("connection"), Some("close"));
    let raw = String::from_utf8(client.read_to_end()).unwrap();
    let first = raw.split("\r\n").nth(1).unwrap_or_default();
    let time = first
        .strip_prefix("retry: 5\nid: 1\ndata: ")
        .unwrap_or_default();
    let time = time.strip_suffix("\n\n").unwrap_or_default();
    assert_eq!(time.len(), 29, "an IMF-fixdate: {raw:?}");
    let second = raw.split("\r\n").nth(3).unwrap_or_default();
    assert_eq!(
        raw,
        format!(
            "{:x}\r\n{first}\r\n{:x}\r\n{second}\r\n0\r\n\r\n",
            first.len(),
            second.len()
        ),
        "size in hex, CR LF, the block, CR LF; then the last chunk"
    );
    assert!(second.starts_with("id: 2\ndata: "));
}

#[test]
fn the_first_event_is_on_the_wire_before_the_second_exists() {
    // With an hour between events, the second cannot have been made when the first arrives:
    // the server flushed the first one alone.
    let server = sse_server(Duration::from_secs(3600), Duration::from_secs(3600), 64);
    let mut client = Client::connect(&server);
    client.send(request("/evt", None));
    assert_eq!(
        client.read_reply_to(true).head_without_date(),
        stream_head()
    );
    let first = client.read_chunk().expect("the first event");
    let mut source = EventSource::default();
    source.connect();
    source.feed(&first);
    assert_eq!(source.ids(), [1]);
    assert_eq!(source.reconnection_time, Some(3_600_000));
}

#[test]
fn a_reconnection_with_last_event_id_resumes_after_it() {
    let server = fast_server();
    let mut client = Client::connect(&server);
    let mut source = EventSource::default();
    connect(&mut client, &mut source, "/evt");
    // The browser asks again (on the same kept-alive connection), with Last-Event-ID: 10.
    connect(&mut client, &mut source, "/evt");
    assert_eq!(source.last_event_id, "20");
    connect(&mut client, &mut source, "/evt?count=4");
    let expected: Vec<u64> = (1..=24).filter(|id| id % 10 != 9).collect();
    assert_eq!(source.ids(), expected, "no gap, no duplicate");
}

#[test]
fn an_id_with_no_data_still_moves_the_resume_point() {
    let server = fast_server();
    let mut client = Client::connect(&server);
    let mut source = EventSource::default();
    connect(&mut client, &mut source, "/evt?count=9");
    assert_eq!(source.ids().last(), Some(&8), "the last event the page saw");
    assert_eq!(source.last_event_id, "9", "what the browser sends back");
    connect(&mut client, &mut source, "/evt?count=1");
    assert_eq!(source.ids().last(), Some(&10));
}

#[test]
fn a_last_event_id_that_is_not_a_number_starts_over() {
    let server = fast_server();
    for junk in ["abc", "-4", "+4", "4.0", "99999999999999999999999999"] {
        let mut client = Client::connect(&server);
        let mut source = EventSource {
            last_event_id: junk.to_string(),
            ..EventSource::default()
        };
        connect(&mut client, &mut source, "/evt?count=2");
        assert_eq!(source.ids(), [1, 2], "Last-Event-ID: {junk}");
    }
}

#[test]
fn stop_and_the_end_of_the_total_are_204() {
    let server = fast_server();
    let mut client = Client::connect(&server);
    let reply = client.exchange(request("/evt?stop=1", None));
    assert_eq!(reply.head_without_date(), stop_head());
    assert_eq!(reply.body, b"");

    // `total=12`: the second response stops at 12, and the next reconnection is refused.
    let mut source = EventSource::default();
    connect(&mut client, &mut source, "/evt?total=12");
    connect(&mut client, &mut source, "/evt?total=12");
    assert_eq!(source.ids(), [1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12]);
    let reply = client.exchange(request("/evt?total=12", Some("12")));
    assert_eq!(reply.head_without_date(), stop_head());
    assert_eq!(
        client.exchange(request("/evt?count=1", None)).status,
        200,
        "the connection is still good"
    );
}

#[test]
fn drop_at_cuts_the_connection_with_no_last_chunk() {
    let server = fast_server();
    let mut client = Client::connect(&server);
    client.send(request("/evt?last_id=4&drop_at=6", None));
    assert_eq!(
        client.read_reply_to(true).head_without_date(),
        stream_head()
    );
    let mut source = EventSource::default();
    source.connect();
    for _ in 0..2 {
        source.feed(&client.read_chunk().expect("an event"));
    }
    assert!(
        client.is_closed_by_server(),
        "no `0\\r\\n\\r\\n`: a broken body"
    );
    assert_eq!(source.ids(), [5, 6]);

    // The browser reconnects on the same URL with its header, which wins over `last_id`;
    // the cut is behind it now.
    let mut client = Client::connect(&server);
    connect(&mut client, &mut source, "/evt?last_id=4&drop_at=6&count=2");
    assert_eq!(source.ids(), [5, 6, 7, 8]);
}

#[test]
fn a_long_silence_is_filled_with_keepalive_comments() {
    let server = sse_server(Duration::from_secs(3600), Duration::from_millis(10), 64);
    let mut client = Client::connect(&server);
    client.send(request("/evt", None));
    client.read_reply_to(true);
    assert!(client.read_chunk().is_some(), "event 1");
    for _ in 0..3 {
        assert_eq!(client.read_chunk().as_deref(), Some(&b": keepalive\n"[..]));
    }
}

#[test]
fn a_client_that_leaves_frees_its_thread_at_the_next_write() {
    // One connection at a time: while the stream's thread lives, others get 503.
    let server = sse_server(Duration::from_secs(3600), Duration::from_millis(10), 1);
    let mut client = Client::connect(&server);
    client.send(request("/evt", None));
    client.read_reply_to(true);
    assert!(client.read_chunk().is_some());
    drop(client);
    // The next keepalive write fails (or the one after: the first may only draw a reset),
    // the handler returns, and the slot is free. Each attempt is one request; the bound
    // only keeps a broken server from hanging the test.
    let mut refused = 0;
    loop {
        let reply = Client::connect(&server).exchange("GET /sse.html HTTP/1.1\r\nHost: t\r\n\r\n");
        if reply.status == 200 {
            break;
        }
        assert_eq!(reply.status, 503);
        refused += 1;
        assert!(refused < 500, "the stream's thread never ended");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn head_gets_the_stream_head_and_no_body() {
    let server = fast_server();
    let mut client = Client::connect(&server);
    client.send("HEAD /evt HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(
        client.read_reply_to(true).head_without_date(),
        stream_head()
    );
    let mut source = EventSource::default();
    connect(&mut client, &mut source, "/evt?count=1");
    assert_eq!(source.ids(), [1], "no stray body came before this");
}

#[test]
fn queries_out_of_range_get_400_with_the_range() {
    let server = fast_server();
    let mut client = Client::connect(&server);
    let reply = client.exchange(request("/evt?count=0", None));
    assert_eq!(
        reply.head_without_date(),
        head(
            "HTTP/1.1 400 Bad Request",
            &[
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Cache-Control", "no-cache"),
                ("Access-Control-Allow-Origin", "*"),
                ("Content-Length", "44"),
            ],
        )
    );
    assert_eq!(
        reply.text(),
        "count must be a whole number from 1 to 1000\n"
    );
    for (target, reason) in [
        (
            "/evt?count=abc",
            "count must be a whole number from 1 to 1000\n",
        ),
        (
            "/evt?total=0",
            "total must be a whole number from 1 to 1000000000000\n",
        ),
        (
            "/evt?last_id=-1",
            "last_id must be a whole number from 0 to 1000000000000\n",
        ),
        (
            "/evt?drop_at=0",
            "drop_at must be a whole number from 1 to 1000000000000\n",
        ),
        ("/evt?stop=true", "stop must be 1 (stop for good) or 0\n"),
    ] {
        let reply = client.exchange(request(target, None));
        assert_eq!((reply.status, reply.text().as_str()), (400, reason));
    }
}

#[test]
fn evt_accepts_only_get() {
    let server = fast_server();
    let reply = Client::connect(&server)
        .exchange("POST /evt HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("GET, HEAD, OPTIONS"));
}
