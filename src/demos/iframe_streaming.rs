//! Hidden-iframe streaming: a document that never finishes loading, and runs a script in the
//! parent page every time a piece of it arrives.
//!
//! Before `XMLHttpRequest` could show a response while it was still arriving (old Internet
//! Explorer refused to read `responseText` before the end), there was one thing every browser
//! did progressively: parse HTML. A browser runs each `<script>` element of a page as soon as
//! its end tag has arrived, long before the rest of the page exists. So a page creates an
//! iframe it never shows, points it at a URL that answers with a document sent slowly, one
//! `<script>` at a time, and each script calls a function of the page around it:
//! `parent.process("4821")`. The server pushes; the iframe's parser delivers. This "forever
//! frame" was the first Comet transport, and the reason it was called Comet at all.
//!
//! ```text
//! GET /htmlfile HTTP/1.1\r\n
//! Host: localhost:8088\r\n
//! \r\n
//!
//! HTTP/1.1 200 OK\r\n
//! Date: Mon, 23 Nov 2026 16:40:05 GMT\r\n
//! Server: webwire\r\n
//! X-Content-Type-Options: nosniff\r\n
//! Content-Type: text/html; charset=utf-8\r\n
//! Cache-Control: no-store\r\n
//! Transfer-Encoding: chunked\r\n
//! \r\n
//! 8c\r\n<!doctype html>…<body>\n…</p>\n\r\n           (the document's start, at once)
//! 28\r\n<script>parent.process("4821")</script>\n\r\n   (the first value, at once)
//! 27\r\n<script>parent.process("107")</script>\n\r\n    (one every tick, ten in all)
//! f\r\n</body></html>\n\r\n                            (the end: the iframe fires load)
//! 0\r\n\r\n
//! ```
//!
//! A script in one origin cannot call into a page of another, so for an iframe from the
//! page's other origin (`localhost` ↔ `127.0.0.1`) `?target=<the page's origin>` switches the
//! scripts to `parent.postMessage("4821", "http://localhost:8088")`. `?count=N` changes how
//! many values are sent; `--tick-ms` how often.

use std::io;
use std::thread;
use std::time::Duration;

use crate::demos::{Demo, Setup};
use crate::handler::{Context, Reply};
use crate::http::body::BodyWriter;
use crate::http::request::Request;
use crate::http::response::Response;
use crate::json;

use crate::random::Xorshift;
use crate::router::Route;

// ANCHOR: iframe_streaming_limits
/// Most values one `/htmlfile?count=N` stream may ask for (more is 400): at the default tick
/// of 2 s, 100 values hold a thread and a connection for 200 s, and no longer.
pub const MAX_HTMLFILE_COUNT: u64 = 100;
// ANCHOR_END: iframe_streaming_limits

pub const DEMO: Demo = Demo {
    name: "iframe-streaming",
    title: "Hidden-iframe streaming",
    summary: "a hidden iframe loads GET /htmlfile, a document that arrives one <script> at a time",
    chapter: "06-iframe-streaming.md",
    page: include_str!("../../demos/iframe-streaming.html"),
    extra_pages: &[],
    routes,
};

/// The routes, read like a table.
fn routes(_: &Setup) -> Result<Vec<Route>, String> {
    Ok(vec![Route::get("/htmlfile", htmlfile)])
}

/// Values a stream sends when `?count=` does not say: the article's ten.
const DEFAULT_COUNT: u64 = 10;

// ANCHOR: document
/// The start of the streamed document: enough to make it a document, sent at once. The text
/// is for a reader who opens `/htmlfile` directly; in the hidden iframe nobody sees it.
const DOCUMENT_START: &str = "<!doctype html>\n<html><head><meta charset=\"utf-8\">\
    <title>/htmlfile</title></head><body>\n<p>A stream of script blocks for a parent page.</p>\n";
/// The end: once it has arrived, the iframe's document is complete and fires `load`.
const DOCUMENT_END: &str = "</body></html>\n";
// ANCHOR_END: document

/// How the iframe's scripts reach the page around it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Deliver {
    /// `parent.process(data)`: a direct call, possible only within one origin.
    Call,
    /// `parent.postMessage(data, origin)`: the page is on `origin`, the iframe is not.
    PostMessage(String),
}

// ANCHOR: htmlfile
/// `GET /htmlfile[?count=N][&target=ORIGIN]`: a document sent one script block at a time.
fn htmlfile(request: &Request, context: &Context) -> Reply {
    let count = match request.number_param("count", 1..=MAX_HTMLFILE_COUNT) {
        Ok(count) => count.unwrap_or(DEFAULT_COUNT),
        Err(reason) => return Response::refusal(400, &reason).into(),
    };
    let deliver = match request.query_param("target") {
        None => Deliver::Call,
        Some(origin) if context.origin_allowed(request, &origin) => Deliver::PostMessage(origin),
        Some(_) => return Response::refusal(400, TARGET_REFUSED).into(),
    };
    let tick = context.app.config.tick;
    let head = Response::new(200)
        .with_header("Content-Type", "text/html; charset=utf-8")
        // A stream is news as it happens: no cache may keep it and replay it later.
        .with_header("Cache-Control", "no-store");
    Reply::stream(head, move |out| send_values(out, &deliver, count, tick))
}
// ANCHOR_END: htmlfile

// ANCHOR: send_values
/// The body: the document's start, `count` values a `tick` apart, the document's end. Each
/// `send` is one chunk and holds whole script blocks only: the parser runs a script when its
/// `</script>` arrives, so half a block would wait for the next chunk. A failed write (the
/// page closed, the iframe was removed) ends the stream at once.
fn send_values(
    out: &mut BodyWriter,
    deliver: &Deliver,
    count: u64,
    tick: Duration,
) -> io::Result<()> {
    out.send(DOCUMENT_START.as_bytes())?;
    let mut random = Xorshift::seeded();
    for n in 1..=count {
        if n > 1 {
            thread::sleep(tick);
        }
        let value = (random.below(10_000)).to_string();
        out.send(script_block(deliver, &value).as_bytes())?;
    }
    out.send(DOCUMENT_END.as_bytes())
}
// ANCHOR_END: send_values

// ANCHOR: script_block
/// One value as one complete script block. `data` becomes a JavaScript string literal by
/// way of `json::string`, which escapes `"` and `\` (or the string would end early), U+2028
/// and U+2029 (line terminators inside strings before ES2019), and every `<`: the HTML parser
/// ends a script at the first `</script`, and `<!--` changes how it looks for that end, both
/// before JavaScript sees a byte (HTML Standard, "script data" states). `\u003c` is still `<`.
fn script_block(deliver: &Deliver, data: &str) -> String {
    let data = json::string(data);
    match deliver {
        Deliver::Call => format!("<script>parent.process({data})</script>\n"),
        Deliver::PostMessage(origin) => {
            let origin = json::string(origin);
            format!("<script>parent.postMessage({data}, {origin})</script>\n")
        }
    }
}
// ANCHOR_END: script_block

// ANCHOR: check_target
/// A `postMessage` target must be an origin this server talks to: one of the two demo
/// origins on the port the request came to, or one given with `--allow-origin` — the same
/// rule as CORS and the WebSocket handshake (`origins.rs`). Accepting any origin would let
/// any site frame `/htmlfile` and have the stream posted to itself: the target is an access
/// decision, like CORS's `Access-Control-Allow-Origin`. (And never `"*"`: it posts to
/// whatever document the parent happens to be, even after it navigated elsewhere.)
const TARGET_REFUSED: &str = "target must be http://localhost:PORT or http://127.0.0.1:PORT, \
     this port, or an origin given with --allow-origin";
// ANCHOR_END: check_target

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::query::whole_number;
    use std::io::Write;

    #[test]
    fn hostile_data_cannot_leave_its_script_or_its_string() {
        let call = |data| script_block(&Deliver::Call, data);
        let cases = [
            ("4821", r#"parent.process("4821")"#),
            (
                "</script><script>alert(1)</script>",
                r#"parent.process("\u003c/script>\u003cscript>alert(1)\u003c/script>")"#,
            ),
            ("</SCRIPT >", r#"parent.process("\u003c/SCRIPT >")"#),
            (
                "<!--<script>",
                r#"parent.process("\u003c!--\u003cscript>")"#,
            ),
            (
                r#"" + alert(1) + ""#,
                r#"parent.process("\" + alert(1) + \"")"#,
            ),
            ("it's", r#"parent.process("it's")"#),
            (r"\", r#"parent.process("\\")"#),
            (r#"\""#, r#"parent.process("\\\"")"#),
            (
                "a\u{2028}b\u{2029}c",
                r#"parent.process("a\u2028b\u2029c")"#,
            ),
            ("line\nbreak", r#"parent.process("line\nbreak")"#),
        ];
        for (data, want) in cases {
            assert_eq!(call(data), format!("<script>{want}</script>\n"), "{data:?}");
        }
    }

    #[test]
    fn post_message_names_its_target_origin_escaped_too() {
        let deliver = Deliver::PostMessage("http://localhost:8088".to_string());
        assert_eq!(
            script_block(&deliver, "</script>"),
            "<script>parent.postMessage(\"\\u003c/script>\", \"http://localhost:8088\")</script>\n"
        );
        let odd = Deliver::PostMessage("</script>\"".to_string());
        assert_eq!(
            script_block(&odd, "1"),
            "<script>parent.postMessage(\"1\", \"\\u003c/script>\\\"\")</script>\n"
        );
    }

    /// A socket whose client leaves after `accepted` writes: every later write fails.
    struct LeavesAfter {
        accepted: usize,
        attempts: usize,
    }

    impl Write for LeavesAfter {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.attempts += 1;
            match self.attempts <= self.accepted {
                true => Ok(bytes.len()),
                false => Err(io::ErrorKind::BrokenPipe.into()),
            }
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_client_that_leaves_ends_the_stream_at_the_next_write() {
        let mut socket = LeavesAfter {
            accepted: 2,
            attempts: 0,
        };
        let mut out = BodyWriter::new(&mut socket, true);
        let result = send_values(&mut out, &Deliver::Call, MAX_HTMLFILE_COUNT, Duration::ZERO);
        assert_eq!(result.map_err(|e| e.kind()), Err(io::ErrorKind::BrokenPipe));
        assert_eq!(out.pieces, 2, "the document's start and the first value");
        assert_eq!(socket.attempts, 3, "no write after the one that failed");
    }

    #[test]
    fn a_whole_stream_is_start_values_end() {
        let mut wire = Vec::new();
        let mut out = BodyWriter::new(&mut wire, false);
        send_values(&mut out, &Deliver::Call, 3, Duration::ZERO).unwrap();
        assert_eq!(out.pieces, 5);
        let text = String::from_utf8(wire).unwrap();
        let values = text
            .strip_prefix(DOCUMENT_START)
            .and_then(|rest| rest.strip_suffix(DOCUMENT_END))
            .expect("start … end");
        let lines: Vec<&str> = values.lines().collect();
        assert_eq!(lines.len(), 3);
        for line in lines {
            let number = line
                .strip_prefix("<script>parent.process(\"")
                .and_then(|rest| rest.strip_suffix("\")</script>"))
                .expect(line);
            assert!(
                whole_number::<u64>(number).is_some_and(|n| n < 10_000),
                "{line}"
            );
        }
    }
}
