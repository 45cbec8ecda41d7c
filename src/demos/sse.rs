//! Server-Sent Events: one long response that the browser reads as a series of events, and
//! asks for again by itself when it ends.
//!
//! XHR streaming and the hidden iframe made a response that never ends carry news, but every
//! page had to invent its own framing, its own reconnection and its own way to say where it had
//! got to. HTML5 standardised all three as `EventSource` (WHATWG HTML §9.2). The server answers
//! with `Content-Type: text/event-stream` and writes plain text: `field: value` lines, a blank
//! line after each event. The browser fires a DOM event for each one, remembers the last `id`,
//! and when the response ends, cleanly or not, waits `retry` milliseconds and asks again with a
//! `Last-Event-ID` header, so the server can go on where the page left off.
//!
//! The articles' server sends ten events, one every two seconds, then ends the response. So
//! does this one, and the browser's reconnection carries on from there:
//!
//! ```text
//! GET /evt HTTP/1.1\r\n
//! Host: localhost:8088\r\n
//! Accept: text/event-stream\r\n
//! Cache-Control: no-cache\r\n
//! Last-Event-ID: 10\r\n
//! \r\n
//!
//! HTTP/1.1 200 OK\r\n
//! Date: Mon, 23 Nov 2026 16:40:05 GMT\r\n
//! Server: webwire\r\n
//! X-Content-Type-Options: nosniff\r\n
//! Content-Type: text/event-stream\r\n
//! Cache-Control: no-cache\r\n
//! Access-Control-Allow-Origin: *\r\n
//! Transfer-Encoding: chunked\r\n
//! \r\n
//! 38\r\n
//! retry: 2000\nid: 11\ndata: Mon, 23 Nov 2026 16:40:05 GMT\n\n\r\n
//! ```
//!
//! and two seconds later `id: 12`, and so on to `id: 20`, then the last chunk, `0\r\n\r\n`.
//! `?stop=1`, or a client that has had everything up to `?total=N`, gets `204 No Content`:
//! like any status but 200 it tells an `EventSource` never to come back, and it alone says so
//! without claiming that something went wrong.

use std::io;
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::demos::{Demo, Setup};
use crate::handler::{Context, Reply};
use crate::http::body::BodyWriter;
use crate::http::query::whole_number;
use crate::http::request::Request;
use crate::http::response::{Response, http_date};

use crate::router::Route;

// ANCHOR: sse_limits
/// Events in one `/evt` response unless `?count=` says otherwise: the article's ten.
pub const SSE_DEFAULT_COUNT: u64 = 10;
/// Most events one `/evt` response may be asked for (`?count=`); more is 400.
pub const SSE_MAX_COUNT: u64 = 1000;
/// Highest event id. A `Last-Event-ID` above it is ignored (the stream starts over), a query
/// id above it is 400, and a client that has it gets 204: the stream is over. Far below 2^53,
/// so every id is exact as a JavaScript number.
pub const SSE_MAX_ID: u64 = 1_000_000_000_000;
// ANCHOR_END: sse_limits

pub const DEMO: Demo = Demo {
    name: "sse",
    title: "Server-Sent Events",
    summary: "EventSource on GET /evt: ids, a named event, retry, and Last-Event-ID resumption",
    chapter: "07-sse.md",
    page: include_str!("../../demos/sse.html"),
    extra_pages: &[],
    routes,
};

/// The routes, read like a table.
fn routes(_: &Setup) -> Result<Vec<Route>, String> {
    Ok(vec![Route::get("/evt", evt)])
}

/// The events one response carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Plan {
    /// One past the last id the client has: where it left off.
    first: u64,
    /// The last id of this response; then the response ends and the browser reconnects.
    last: u64,
    /// Cut the connection right after this id, as a failing network would (`?drop_at=`).
    drop_at: Option<u64>,
}

// ANCHOR: evt
/// `GET /evt`: the stream, or `204` to stop for good, or `400` for a query out of range.
fn evt(request: &Request, context: &Context) -> Reply {
    let plan = match plan(request) {
        Ok(Some(plan)) => plan,
        // Any status but 200 "fails the connection": readyState CLOSED, no reconnection
        // (WHATWG HTML §9.2.3). 204 says it without claiming that anything went wrong.
        Ok(None) => return for_any_origin(Response::new(204)).into(),
        Err(reason) => return for_any_origin(Response::refusal(400, &reason)).into(),
    };
    let (tick, hold) = (context.app.config.tick, context.app.config.hold);
    let head = for_any_origin(Response::new(200).with_header("Content-Type", "text/event-stream"));
    Reply::stream(head, move |out| send(out, plan, tick, hold))
}

/// Headers every answer from `/evt` carries. `no-cache`: no cache may answer with a copy it
/// kept without asking us first (RFC 9111 §5.2.2.4). `*`: any page may read it, as in the
/// article, so the page's cross-origin copy works; on a `204` or `400` too, so the browser
/// reacts to the status, not to a CORS failure.
fn for_any_origin(response: Response) -> Response {
    response
        .with_header("Cache-Control", "no-cache")
        .with_header("Access-Control-Allow-Origin", "*")
}
// ANCHOR_END: evt

// ANCHOR: plan
/// What one request asks for, or `None` to stop, or the reason it is refused.
fn plan(request: &Request) -> Result<Option<Plan>, String> {
    let count = request
        .number_param("count", 1..=SSE_MAX_COUNT)?
        .unwrap_or(SSE_DEFAULT_COUNT);
    let total = request
        .number_param("total", 1..=SSE_MAX_ID)?
        .unwrap_or(SSE_MAX_ID);
    let last_id = request.number_param("last_id", 0..=SSE_MAX_ID)?;
    let drop_at = request.number_param("drop_at", 1..=SSE_MAX_ID)?;
    let stop = match request.query_param("stop").as_deref() {
        None | Some("0") => false,
        Some("1") => true,
        Some(_) => return Err("stop must be 1 (stop for good) or 0".to_string()),
    };
    // The browser's own header wins over `?last_id=`: the page puts the id in the URL only
    // when it opens a new EventSource (which cannot send the header), and the browser's
    // reconnections of that EventSource send the header, with a newer id, on the same URL.
    let after = last_event_id(request).or(last_id).unwrap_or(0);
    if stop || after >= total {
        return Ok(None);
    }
    let last = (after + count).min(total); // no overflow: both are at most SSE_MAX_ID
    Ok(Some(Plan {
        first: after + 1,
        last,
        drop_at,
    }))
}

/// `Last-Event-ID` as one of our ids. The browser sends back whatever id it was last given,
/// as text; one that is not a whole number we could have sent (a word, `+5`, above
/// `SSE_MAX_ID`) is ignored, as if absent. Never an error: the client did nothing wrong. (One
/// we could have sent, at or past `total`, is a client that has everything: `plan` says 204.)
fn last_event_id(request: &Request) -> Option<u64> {
    let value = request.header("last-event-id")?;
    whole_number(value).filter(|&id| id <= SSE_MAX_ID)
}

// ANCHOR_END: plan

// ANCHOR: send
/// The body: the first event at once, then one every tick. Each event is one chunk, whole, so
/// a connection that breaks can never leave half an event behind.
fn send(out: &mut BodyWriter, plan: Plan, tick: Duration, hold: Duration) -> io::Result<()> {
    // How long the browser waits before reconnecting (the server's pace, so tests are quick).
    // It rides in the first event's block: the browser knows it before anything can go wrong.
    let mut piece = format!("retry: {}\n", tick.as_millis());
    for id in plan.first..=plan.last {
        if id > plan.first {
            wait(out, tick, hold)?;
        }
        piece.push_str(&scripted_event(id, SystemTime::now()));
        out.send(piece.as_bytes())?;
        piece.clear();
        if plan.drop_at == Some(id) {
            // Returning an error makes the server close the socket with no last chunk: to
            // the browser, a network failure. It reconnects exactly as after a clean end.
            return Err(io::Error::other(format!(
                "cut on purpose after id {id} (drop_at)"
            )));
        }
    }
    Ok(()) // the server sends the last chunk; the browser reconnects after `retry` ms
}

/// Sleeps one tick. A stream silent for longer than `hold` (the server's `--hold-ms`, 25 s
/// by default) sends a comment line meanwhile: proxies cut connections that look idle
/// (WHATWG HTML §9.2.7 suggests one every 15 s or so), and the write is also how this
/// thread notices a client that has gone.
fn wait(out: &mut BodyWriter, tick: Duration, hold: Duration) -> io::Result<()> {
    let mut left = tick;
    while left > hold {
        thread::sleep(hold);
        left -= hold;
        out.send(b": keepalive\n")?;
    }
    thread::sleep(left);
    Ok(())
}
// ANCHOR_END: send

// ANCHOR: script
/// Event `id` of the demo's stream: the server's clock, as in the articles. Ids ending in 3, 6
/// and 9 each show one more thing the format can do.
pub fn scripted_event(id: u64, now: SystemTime) -> String {
    let time = http_date(now);
    match id % 10 {
        // A named event: only `addEventListener('myevent', …)` hears it, not `onmessage`.
        3 => event(Some(id), Some("myevent"), Some(&time)),
        // A value with a line break travels as two `data:` lines; the browser joins them
        // again with "\n".
        6 => {
            let millis = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
            event(
                Some(id),
                None,
                Some(&format!("{time}\n{millis} ms since 1970")),
            )
        }
        // An id with no data: no event fires, but the browser's last event ID becomes 9, so
        // a reconnection now would resume at 10.
        9 => event(Some(id), None, None),
        _ => event(Some(id), None, Some(&time)),
    }
}
// ANCHOR_END: script

// ANCHOR: event
/// One event as `text/event-stream` text (WHATWG HTML §9.2.5), ending with the blank line that
/// makes the browser dispatch it. `data: None` sends no `data:` line at all, so no event
/// fires; `Some("")` fires one with empty data.
///
/// The parser ends a line at CR LF, at LF and at a lone CR, so each is a line break here too:
/// a value is split there into several `data:` lines, which the browser joins with "\n". No
/// value can end its field early and smuggle in an `id:`, an `event:` or a whole event. A
/// name must be one line, so line breaks in it are dropped.
pub fn event(id: Option<u64>, name: Option<&str>, data: Option<&str>) -> String {
    let mut block = String::new();
    if let Some(id) = id {
        block.push_str(&format!("id: {id}\n"));
    }
    if let Some(name) = name {
        let name: String = name.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
        block.push_str(&format!("event: {name}\n"));
    }
    for line in data.map(lines).unwrap_or_default() {
        // Always "field: value": the parser removes one space after the colon, exactly the
        // one written here, so a value that starts with a space keeps it.
        block.push_str(&format!("data: {line}\n"));
    }
    block.push('\n');
    block
}

/// `text` cut into lines where an event-stream parser would cut it: CR LF, LF, lone CR.
fn lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(['\r', '\n']) {
        lines.push(&rest[..at]);
        let ending = if rest[at..].starts_with("\r\n") { 2 } else { 1 };
        rest = &rest[at + ending..];
    }
    lines.push(rest);
    lines
}
// ANCHOR_END: event

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::request::parsed as request;

    fn plan_for(target: &str, last_event_id: Option<&str>) -> Result<Option<Plan>, String> {
        let header = last_event_id.map_or(String::new(), |v| format!("Last-Event-ID: {v}\r\n"));
        plan(&request(&format!(
            "GET {target} HTTP/1.1\r\nHost: t\r\n{header}\r\n"
        )))
    }

    fn stream(first: u64, last: u64) -> Result<Option<Plan>, String> {
        Ok(Some(Plan {
            first,
            last,
            drop_at: None,
        }))
    }

    #[test]
    fn events_as_the_spec_writes_them() {
        assert_eq!(event(Some(1), None, Some("hi")), "id: 1\ndata: hi\n\n");
        assert_eq!(
            event(Some(101), Some("myevent"), Some("third event")),
            "id: 101\nevent: myevent\ndata: third event\n\n"
        );
        assert_eq!(
            event(None, None, Some("")),
            "data: \n\n",
            "fires, with empty data"
        );
        assert_eq!(
            event(Some(9), None, None),
            "id: 9\n\n",
            "an id alone fires nothing"
        );
        assert_eq!(
            event(None, None, Some(" padded")),
            "data:  padded\n\n",
            "the parser removes one space: ours"
        );
    }

    #[test]
    fn every_line_break_starts_a_new_data_line() {
        let cases = [
            ("a\nb", "data: a\ndata: b\n\n", "LF"),
            (
                "a\r\nb",
                "data: a\ndata: b\n\n",
                "CR LF is one break, not two",
            ),
            ("a\rb", "data: a\ndata: b\n\n", "a lone CR"),
            (
                "a\r\rb",
                "data: a\ndata: \ndata: b\n\n",
                "two CRs: an empty line between",
            ),
            (
                "a\n",
                "data: a\ndata: \n\n",
                "a final break is kept: the data ends in \\n",
            ),
            ("\n", "data: \ndata: \n\n", "only a break"),
        ];
        for (value, wire, why) in cases {
            assert_eq!(event(None, None, Some(value)), wire, "{why}");
        }
    }

    #[test]
    fn no_value_can_inject_a_field_or_an_event() {
        let evil = "x\n\nid: 999\nevent: admin\rdata: gotcha\r\n";
        let block = event(Some(1), Some("a\r\nb\nc\rd"), Some(evil));
        assert_eq!(
            block,
            "id: 1\nevent: abcd\ndata: x\ndata: \ndata: id: 999\ndata: event: admin\n\
             data: data: gotcha\ndata: \n\n"
        );
        // Every line but the final blank one is one of ours, and there is one blank line.
        assert_eq!(block.matches("\n\n").count(), 1);
        assert!(!block.contains('\r'));
    }

    #[test]
    fn the_script_shows_each_feature_once_in_ten() {
        let at = UNIX_EPOCH + Duration::from_secs(1_795_452_005);
        let time = "Mon, 23 Nov 2026 16:40:05 GMT";
        assert_eq!(scripted_event(1, at), format!("id: 1\ndata: {time}\n\n"));
        assert_eq!(
            scripted_event(13, at),
            format!("id: 13\nevent: myevent\ndata: {time}\n\n")
        );
        assert_eq!(
            scripted_event(6, at),
            format!("id: 6\ndata: {time}\ndata: 1795452005000 ms since 1970\n\n")
        );
        assert_eq!(scripted_event(29, at), "id: 29\n\n");
        assert_eq!(scripted_event(10, at), format!("id: 10\ndata: {time}\n\n"));
    }

    #[test]
    fn a_request_plans_ten_events_from_where_the_client_left_off() {
        assert_eq!(plan_for("/evt", None), stream(1, 10), "the article's ten");
        assert_eq!(plan_for("/evt", Some("10")), stream(11, 20));
        assert_eq!(plan_for("/evt?count=3", Some("007")), stream(8, 10));
        assert_eq!(plan_for("/evt?last_id=4", None), stream(5, 14));
        assert_eq!(
            plan_for("/evt?last_id=4", Some("12")),
            stream(13, 22),
            "the header is newer than the URL"
        );
        assert_eq!(plan_for("/evt?total=15", Some("10")), stream(11, 15));
        assert_eq!(
            plan_for("/evt?drop_at=12", Some("10")),
            Ok(Some(Plan {
                first: 11,
                last: 20,
                drop_at: Some(12)
            }))
        );
    }

    #[test]
    fn a_last_event_id_that_is_not_ours_starts_over() {
        for junk in [
            "",
            "abc",
            "-1",
            "+5",
            "1.5",
            " 7x",
            "99999999999999999999999",
        ] {
            assert_eq!(plan_for("/evt", Some(junk)), stream(1, 10), "{junk:?}");
        }
        let too_big = (SSE_MAX_ID + 1).to_string();
        assert_eq!(plan_for("/evt", Some(&too_big)), stream(1, 10));
        assert_eq!(
            plan_for("/evt?last_id=20", Some("junk")),
            stream(21, 30),
            "then the URL's id counts"
        );
    }

    #[test]
    fn stop_and_the_end_of_the_total_are_204() {
        assert_eq!(plan_for("/evt?stop=1", None), Ok(None));
        assert_eq!(plan_for("/evt?stop=0", None), stream(1, 10));
        assert_eq!(plan_for("/evt?total=15", Some("15")), Ok(None));
        assert_eq!(plan_for("/evt?total=15", Some("40")), Ok(None));
        let last = SSE_MAX_ID.to_string();
        assert_eq!(plan_for("/evt", Some(&last)), Ok(None), "ids run out");
    }

    #[test]
    fn queries_out_of_range_are_refused_with_the_range() {
        let cases = [
            (
                "/evt?count=0",
                "count must be a whole number from 1 to 1000",
            ),
            (
                "/evt?count=1001",
                "count must be a whole number from 1 to 1000",
            ),
            (
                "/evt?count=%2B5",
                "count must be a whole number from 1 to 1000",
            ),
            ("/evt?count=", "count must be a whole number from 1 to 1000"),
            (
                "/evt?total=0",
                "total must be a whole number from 1 to 1000000000000",
            ),
            (
                "/evt?last_id=x",
                "last_id must be a whole number from 0 to 1000000000000",
            ),
            (
                "/evt?drop_at=-3",
                "drop_at must be a whole number from 1 to 1000000000000",
            ),
            ("/evt?stop=yes", "stop must be 1 (stop for good) or 0"),
        ];
        for (target, reason) in cases {
            assert_eq!(plan_for(target, None), Err(reason.to_string()), "{target}");
        }
    }
}
