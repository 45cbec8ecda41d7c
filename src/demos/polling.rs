//! Short polling: the page asks "anything new?" on a timer, and the server answers at once.
//!
//! Before browsers could hold a response open or receive pushes, the only way for a page to
//! follow something that changes on the server was to ask again and again: `setInterval` or
//! `setTimeout`, an `XMLHttpRequest`, show the answer, repeat. It works in every browser that
//! has XHR, and it needs nothing special from the server. Its cost is the point of this demo:
//! every poll is a complete request and response, headers and all, whether or not anything
//! changed, and news waits up to a whole interval before the page sees it.
//!
//! The articles' server answers `GET /time` with its clock. So does this one:
//!
//! ```text
//! GET /time HTTP/1.1\r\n
//! Host: localhost:8088\r\n
//! \r\n
//!
//! HTTP/1.1 200 OK\r\n
//! Date: Mon, 23 Nov 2026 16:40:05 GMT\r\n
//! Server: webwire\r\n
//! X-Content-Type-Options: nosniff\r\n
//! Content-Type: text/plain; charset=utf-8\r\n
//! Cache-Control: no-store\r\n
//! X-Poll-Interval-Ms: 2000\r\n
//! Content-Length: 30\r\n
//! \r\n
//! Mon, 23 Nov 2026 16:40:05 GMT\n
//! ```
//!
//! The page learns how often to ask from `X-Poll-Interval-Ms` (the server's `--tick-ms`), so
//! `--tick-ms 50` speeds the page up as well as the tests.

use std::time::{Duration, SystemTime};

use crate::demos::{Demo, Setup};
use crate::handler::{Context, Reply};
use crate::http::request::Request;
use crate::http::response::{Response, http_date};
use crate::router::Route;

pub const DEMO: Demo = Demo {
    name: "polling",
    title: "Short polling",
    summary: "the page asks GET /time every two seconds; count what each answer costs",
    chapter: "03-polling.md",
    page: include_str!("../../demos/polling.html"),
    extra_pages: &[],
    routes,
};

/// The routes, read like a table.
fn routes(_: &Setup) -> Result<Vec<Route>, String> {
    Ok(vec![Route::get("/time", time)])
}

/// `GET /time`: the server's clock, now. Any query string is ignored, so the cache-busting
/// `?_=1700000000000` that old jQuery (`cache: false`) appended still works.
fn time(_request: &Request, context: &Context) -> Reply {
    time_answer(SystemTime::now(), context.app.config.tick).into()
}

// ANCHOR: time_answer
/// The answer to one poll, at `now`, telling the page to poll again after `interval`.
pub fn time_answer(now: SystemTime, interval: Duration) -> Response {
    // The articles' Node server sends `new Date().toLocaleString()`: the server's own time
    // zone and locale, which a client elsewhere cannot interpret. Rust's std has no time zones,
    // and UTC is unambiguous anyway, so we send UTC in the format HTTP itself uses for dates
    // (IMF-fixdate, RFC 9110 §5.6.7). JavaScript's `Date.parse` is required to read it (it is
    // what `Date.prototype.toUTCString` writes), so the page can show it in the reader's zone.
    let body = format!("{}\n", http_date(now));
    Response::text(200, body)
        // Every poll must reach the server: a cached answer would show a stale clock.
        // `no-store` forbids keeping it at all (RFC 9111 §5.2.2.5), so no cache, the
        // browser's or a proxy's, can answer in the server's place.
        .with_header("Cache-Control", "no-store")
        // How long the page should wait before the next poll. A header rides along with every
        // answer, so the server can slow its clients down when busy (GitHub's events API does
        // the same with `X-Poll-Interval`); the page is a compiled-in file and cannot carry it.
        .with_header("X-Poll-Interval-Ms", interval.as_millis().to_string())
}
// ANCHOR_END: time_answer

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn the_answer_is_the_clock_in_utc() {
        let at = UNIX_EPOCH + Duration::from_secs(1_795_452_005);
        let answer = time_answer(at, Duration::from_millis(2000));
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body, b"Mon, 23 Nov 2026 16:40:05 GMT\n");
        assert_eq!(
            answer.headers,
            [
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Cache-Control", "no-store"),
                ("X-Poll-Interval-Ms", "2000"),
            ]
            .map(|(n, v)| (n.to_string(), v.to_string()))
        );
    }

    #[test]
    fn the_interval_is_whole_milliseconds() {
        let answer = time_answer(UNIX_EPOCH, Duration::from_micros(50_900));
        assert_eq!(answer.header("X-Poll-Interval-Ms"), Some("50"));
        assert_eq!(answer.body, b"Thu, 01 Jan 1970 00:00:00 GMT\n");
    }
}
