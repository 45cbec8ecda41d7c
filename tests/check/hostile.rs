//! The checker against hostile servers: servers that never stop sending, or send a piece and
//! then nothing. A learner's server can do any of this by mistake, and the checker is a client
//! on the learner's machine: whatever the server does, a run must end, in bounded memory,
//! with the rule that was broken failed and a report a person can read.
//!
//! No test here measures time: each run's patience is short so that it ends quickly, and each
//! asserts what the report says and how long it is.

use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use webwire::check::{self, Outcome, Target, Verdict};

use crate::harness::{self, Request, write};

/// How long these runs wait for something that should come: short, since here it never does.
const PATIENCE: Duration = Duration::from_millis(500);

/// The longest report a run against a hostile server may print. A report is one line per
/// rule (about 20), each failure with its bytes cut to `check::MAX_SHOWN_BYTES`; a few also
/// list chunks (8 at most) or, for WebSocket, the frames of a session: 24 lines of a hundred
/// bytes or two, in each of 11 sessions, about 35 KB against the fragment flood below. 96 KiB
/// is well above all that, and orders of magnitude below what the floods made of a report
/// before the caps (9 MB and 80 MB).
const MAX_REPORT_BYTES: usize = 96 * 1024;

/// The longest line of such a report: a failure shows its bytes and, at most, a list of 8
/// chunks, each cut to `check::MAX_SHOWN_BYTES` (600 printable bytes here): under 6 KB.
/// Uncapped, the list of an endless stream's chunks was a line of 41 KB.
const MAX_LINE_BYTES: usize = 8 * 1024;

/// How long a hostile server holds a connection it has stopped writing to: longer than the
/// patience, so the checker is the one that gives up.
const HOLD: Duration = Duration::from_secs(3);

/// Runs `technique`'s rules against `url` with the short patience: the outcomes, and the
/// report as a person reads it, checked for size.
fn run(technique: &str, url: &str) -> (Vec<Outcome>, String) {
    let technique = check::find(technique).unwrap();
    let mut target = Target::new(url).unwrap();
    target.patience = PATIENCE;
    let outcomes = check::run(technique, &target);
    let report = check::text_report(technique, &target, &outcomes);
    assert!(
        report.len() < MAX_REPORT_BYTES,
        "a report of {} bytes:\n{}",
        report.len(),
        &report[..report.len().min(4096)]
    );
    let longest = report.lines().map(str::len).max().unwrap_or(0);
    assert!(longest < MAX_LINE_BYTES, "a line of {longest} bytes");
    (outcomes, report)
}

/// The verdict of rule `id`.
fn verdict<'a>(outcomes: &'a [Outcome], id: &str) -> &'a Verdict {
    &outcomes
        .iter()
        .find(|o| o.rule.id == id)
        .unwrap_or_else(|| panic!("no rule {id}"))
        .verdict
}

/// Rule `id` failed; its message.
fn failure<'a>(outcomes: &'a [Outcome], id: &str, report: &str) -> &'a str {
    match verdict(outcomes, id) {
        Verdict::Fail(why) => why,
        other => panic!("{id} should have failed, not {other:?}; the report:\n{report}"),
    }
}

/// Writes `bytes` again and again until the checker hangs up.
fn flood(stream: &TcpStream, bytes: &[u8]) {
    while write(stream, bytes) {}
}

// ---- WebSocket -------------------------------------------------------------------------------

/// A 101 to any handshake (its accept key is wrong: only the frames matter here), then
/// `frames`.
fn websocket(frames: fn(&TcpStream)) -> harness::Server {
    harness::serve(move |_: Request, stream| {
        write(
            &stream,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: x\r\n\r\n",
        );
        frames(&stream);
    })
}

#[test]
fn a_websocket_message_in_endless_fragments_is_cut_off() {
    // A text message begun, then continuations of 65,535 bytes, never the last.
    let server = websocket(|stream| {
        write(stream, b"\x01\x01a");
        let mut frame = b"\x00\x7e\xff\xff".to_vec();
        frame.resize(4 + 0xffff, b'a');
        flood(stream, &frame);
    });
    let (outcomes, report) = run("websocket", &server.url("/ws").replace("http:", "ws:"));
    let why = failure(&outcomes, "websocket.echo-binary", &report);
    assert!(why.contains("grew over 4194304 bytes"), "{why}");
}

#[test]
fn a_websocket_ping_flood_is_cut_off_and_its_transcript_capped() {
    let server = websocket(|stream| flood(stream, b"\x89\x00"));
    let (outcomes, report) = run("websocket", &server.url("/ws").replace("http:", "ws:"));
    let why = failure(&outcomes, "websocket.echo-binary", &report);
    assert!(why.contains("pings while the checker waited"), "{why}");
    assert!(why.contains(" more frames)"), "{why}");
}

// ---- Server-Sent Events ------------------------------------------------------------------------

/// An event stream's head, as a correct server writes it.
const SSE_HEAD: &str = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\
                        Cache-Control: no-cache\r\nAccess-Control-Allow-Origin: *\r\n\
                        Transfer-Encoding: chunked\r\n\r\n";

#[test]
fn an_event_stream_with_no_line_end_ever_is_cut_off_and_judges_no_line() {
    // Chunks of 1 KiB, "data: xdata: x…", forever: not one line ends.
    let server = harness::serve(|_: Request, stream| {
        write(&stream, SSE_HEAD);
        let mut chunk = b"400\r\n".to_vec();
        chunk.extend(b"data: x".iter().cycle().take(0x400));
        chunk.extend_from_slice(b"\r\n");
        flood(&stream, &chunk);
    });
    let (outcomes, report) = run("sse", &server.url("/evt"));
    let why = failure(&outcomes, "sse.count", &report);
    assert!(
        why.contains("bytes of stream, and no event was complete"),
        "{why}"
    );
    for id in ["sse.format", "sse.retry"] {
        assert!(
            matches!(verdict(&outcomes, id), Verdict::Skip(_)),
            "{id} had nothing to judge: {:?}",
            verdict(&outcomes, id)
        );
    }
}

#[test]
fn an_event_stream_of_endless_empty_comments_is_cut_off() {
    // ":\n\n" again and again: blocks that are no event, each kept parsed, so the checker
    // stops at its limit for one response (`sse::MAX_STREAM_BYTES`, 256 KiB).
    let server = harness::serve(|_: Request, stream| {
        write(&stream, SSE_HEAD);
        let body = b":\n\n".repeat(1000);
        let chunk = [format!("{:x}\r\n", body.len()).as_bytes(), &body, b"\r\n"].concat();
        flood(&stream, &chunk);
    });
    let (outcomes, report) = run("sse", &server.url("/evt"));
    let why = failure(&outcomes, "sse.count", &report);
    assert!(
        why.contains("over 262144 bytes of stream, and no event was complete"),
        "{why}"
    );
}

#[test]
fn an_event_stream_that_stops_inside_an_event_says_what_came() {
    // The first request gets half an event and then nothing; every other one a 404 at once,
    // so that the run waits out its patience once.
    let server = harness::serve(|request: Request, stream| {
        if request.query("count") == Some("2") && request.header("Last-Event-ID").is_none() {
            write(&stream, format!("{SSE_HEAD}7\r\ndata: x\r\n"));
            thread::sleep(HOLD);
        } else {
            harness::respond(&stream, "404 Not Found", &[], b"");
        }
    });
    let (outcomes, report) = run("sse", &server.url("/evt"));
    let why = failure(&outcomes, "sse.count", &report);
    assert!(
        why.contains("no event was complete within the patience (500ms; 7 bytes came)"),
        "{why}"
    );
    for id in ["sse.format", "sse.retry"] {
        assert!(
            matches!(verdict(&outcomes, id), Verdict::Skip(_)),
            "{id} had nothing to judge: {:?}",
            verdict(&outcomes, id)
        );
    }
}

// ---- XHR and iframe streaming ------------------------------------------------------------------

#[test]
fn an_endless_stream_of_chunks_is_listed_only_in_part() {
    // What an SSE server that ignores the path would send to /stream: 1 KiB chunks, no line.
    let server = harness::serve(|_: Request, stream| {
        write(
            &stream,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n",
        );
        let mut chunk = b"400\r\n".to_vec();
        chunk.extend(b"data: x".iter().cycle().take(0x400));
        chunk.extend_from_slice(b"\r\n");
        flood(&stream, &chunk);
    });
    let (outcomes, report) = run("xhr-streaming", &server.url("/stream"));
    let why = failure(&outcomes, "xhr-streaming.line-per-chunk", &report);
    assert!(why.contains(" chunks in all)"), "{why}");
}

#[test]
fn an_endless_stream_of_half_script_blocks_is_listed_only_in_part() {
    // One whole block, then chunks that each open a block and never close it.
    let server = harness::serve(|_: Request, stream| {
        write(
            &stream,
            "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\
             Transfer-Encoding: chunked\r\n\r\n",
        );
        let block = b"<script>parent.process(\"1\")</script>\n";
        write(
            &stream,
            [format!("{:x}\r\n", block.len()).as_bytes(), block, b"\r\n"].concat(),
        );
        let mut chunk = b"400\r\n<script>".to_vec();
        chunk.resize(5 + 0x400, b'x');
        chunk.extend_from_slice(b"\r\n");
        flood(&stream, &chunk);
    });
    let (outcomes, report) = run("iframe-streaming", &server.url("/htmlfile"));
    let why = failure(&outcomes, "iframe-streaming.script-per-chunk", &report);
    assert!(why.contains(" chunks in all)"), "{why}");
}
