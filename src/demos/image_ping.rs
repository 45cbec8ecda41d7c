//! Image ping: `new Image()` as a one-way message to any server, even on another origin.
//!
//! A page may load an image from anywhere; that was true long before CORS existed. So a script
//! that wants to tell a server something creates an image it never shows, and puts the message
//! in the image's URL: `img.src = "http://other.example/ping?event=click"`. The browser sends
//! the GET at once. This is how ad networks and analytics counted page views and clicks.
//!
//! What comes back is hidden from the page: it learns only whether an image arrived (`load`)
//! or not (`error`), never the status, the headers or the bytes. The message can only travel
//! in a GET's query string. One way, then, and small.
//!
//! ```text
//! GET /ping?event=click&n=1&_=1795452005123 HTTP/1.1\r\n
//! Host: 127.0.0.1:8088\r\n
//! Referer: http://localhost:8088/\r\n
//! \r\n
//!
//! HTTP/1.1 204 No Content\r\n
//! Date: Mon, 23 Nov 2026 16:40:05 GMT\r\n
//! Server: webwire\r\n
//! X-Content-Type-Options: nosniff\r\n
//! Cache-Control: no-store\r\n
//! \r\n
//! ```
//!
//! With `?gif=1` the answer is a 1×1 transparent GIF instead, and the image fires `load`.
//! `GET /ping/stats` reports, as JSON read with an ordinary XHR, what the server counted.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use crate::clock::now_millis;
use crate::demos::{Demo, Setup};
use crate::handler::{Context, Reply, with_state};
use crate::http::method::Method;
use crate::http::request::Request;
use crate::http::response::Response;
use crate::json;
use crate::text::cut;

use crate::router::Route;

// ANCHOR: image_ping_limits
/// Pings whose details `/ping/stats` keeps, newest last; older ones are dropped (the count
/// goes on). The tally's memory is bounded by this times the two caps below.
pub const PING_RECENT: usize = 20;
/// Longest query string a ping may carry: past it, 414 and the ping is not recorded.
pub const MAX_PING_QUERY_BYTES: usize = 512;
/// Longest `Referer` kept with a ping; a longer one is cut to this many bytes.
pub const MAX_PING_REFERER_BYTES: usize = 256;
// ANCHOR_END: image_ping_limits

pub const DEMO: Demo = Demo {
    name: "image-ping",
    title: "Image ping",
    summary: "new Image() sends GET /ping?…: a one-way message, even to another origin",
    chapter: "10-image-ping.md",
    page: include_str!("../../demos/image-ping.html"),
    extra_pages: &[],
    routes,
};

/// The routes, read like a table.
fn routes(_: &Setup) -> Result<Vec<Route>, String> {
    let tally = Arc::new(State::default());
    Ok(vec![
        Route::get("/ping", with_state(&tally, ping)),
        Route::get("/ping/stats", with_state(&tally, stats)),
    ])
}

// ANCHOR: gif
/// The classic transparent 1×1 GIF: 43 bytes (the GIF89a specification, sections 17–27).
#[rustfmt::skip] // one line per part of the file, whatever the line lengths
const PIXEL_GIF: [u8; 43] = [
    b'G', b'I', b'F', b'8', b'9', b'a', // signature and version
    1, 0, 1, 0, // logical screen: 1 × 1 (little-endian)
    0x80, 0, 0, // a global colour table of 2 entries; background 0; no aspect ratio
    0, 0, 0, 0xff, 0xff, 0xff, // the table: black, white
    0x21, 0xf9, 4, 1, 0, 0, 0, 0, // graphic control extension: colour 0 is transparent
    0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0, // image descriptor: at (0, 0), 1 × 1, no local table
    2, 2, 0x44, 0x01, 0, // LZW, code size 2: one 2-byte block (clear, pixel 0, end)
    0x3b, // trailer
];
// Checked when the code is compiled: the GIF89a signature, a 1 × 1 screen, the trailer.
const _: () = assert!(
    PIXEL_GIF[0] == b'G'
        && PIXEL_GIF[3] == b'8'
        && PIXEL_GIF[4] == b'9'
        && PIXEL_GIF[5] == b'a'
        && PIXEL_GIF[6] == 1
        && PIXEL_GIF[8] == 1
        && PIXEL_GIF[42] == 0x3b
);
// ANCHOR_END: gif

/// One ping as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ping {
    /// 1 for the first ping since the server started, 2 for the next, …
    pub number: u64,
    /// Milliseconds since 1970, as JavaScript's `Date.now()`.
    pub at: u64,
    /// The query string as sent, still percent-encoded.
    pub query: String,
    /// 204, or 200 for a GIF.
    pub status: u16,
    /// The page that sent it, as far as the browser's referrer policy tells.
    pub referer: String,
}

/// What the server remembers: a count, and the last few pings.
#[derive(Default)]
pub struct State {
    tally: Mutex<Tally>,
}

#[derive(Default)]
struct Tally {
    count: u64,
    recent: VecDeque<Ping>,
}

// ANCHOR: ping
/// `GET /ping?anything`: count it, remember it, and answer with no content (or a GIF).
fn ping(tally: &State, request: &Request, _: &Context) -> Reply {
    if request.query.len() > MAX_PING_QUERY_BYTES {
        let reason = format!("a ping's query may be at most {MAX_PING_QUERY_BYTES} bytes");
        return Response::refusal(414, &reason).into();
    }
    let gif = match request.query_param("gif").as_deref() {
        None | Some("0") => false,
        Some("1") => true,
        Some(_) => return Response::refusal(400, "gif must be 1 (a GIF) or 0 (204)").into(),
    };
    // HEAD asks what a GET would answer; it is not a ping (curl -I should not count).
    if request.method == Method::Get {
        let referer = request.header("referer").unwrap_or("");
        let status = if gif { 200 } else { 204 };
        tally.record(&request.query, status, referer);
    }
    // `no-store`: every ping must reach us, none may be answered from a cache. The page still
    // makes each URL unique (`&_=…`): the browser's own list of images already loaded by
    // this document may answer a repeated URL without asking the network at all.
    let answer = match gif {
        true => Response::new(200)
            .with_header("Content-Type", "image/gif")
            .with_body(PIXEL_GIF.to_vec()),
        // 204: "nothing to send back" (RFC 9110 §15.3.5). Not an image, so the page's
        // image fires `error`: all it learns is that the request was answered.
        false => Response::new(204),
    };
    answer.with_header("Cache-Control", "no-store").into()
}
// ANCHOR_END: ping

/// `GET /ping/stats`: `{"count":2,"kept":20,"recent":[{"n":1,"at":…,"status":204,
/// "query":"event=click","referer":"http://localhost:8088/"},…]}`, oldest first.
fn stats(tally: &State, _: &Request, _: &Context) -> Reply {
    Response::new(200)
        .with_header("Content-Type", "application/json")
        .with_header("Cache-Control", "no-store")
        .with_body(tally.to_json().into_bytes())
        .into()
}

impl State {
    /// Records one ping, now, and returns its number.
    pub fn record(&self, query: &str, status: u16, referer: &str) -> u64 {
        // A panic elsewhere while holding the lock cannot leave the tally half-updated
        // (each field is written in one step), so a poisoned lock is still safe to use.
        let mut tally = self
            .tally
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        tally.count += 1;
        let ping = Ping {
            number: tally.count,
            at: now_millis(),
            query: query.to_string(),
            status,
            referer: cut(referer, MAX_PING_REFERER_BYTES).to_string(),
        };
        if tally.recent.len() == PING_RECENT {
            tally.recent.pop_front();
        }
        tally.recent.push_back(ping);
        tally.count
    }

    /// The tally as `/ping/stats` sends it.
    pub fn to_json(&self) -> String {
        let tally = self
            .tally
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let recent = tally.recent.iter().map(|ping| {
            json::Object::new()
                .number("n", ping.number)
                .number("at", ping.at)
                .number("status", u64::from(ping.status))
                .string("query", &ping.query)
                .string("referer", &ping.referer)
                .finish()
        });
        json::Object::new()
            .number("count", tally.count)
            .number("kept", PING_RECENT as u64)
            .raw("recent", &json::array(recent))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tally_keeps_a_count_and_the_newest_pings() {
        let state = State::default();
        for n in 1..=PING_RECENT as u64 + 5 {
            assert_eq!(state.record(&format!("n={n}"), 204, ""), n);
        }
        let tally = state.tally.lock().unwrap();
        assert_eq!(tally.count, PING_RECENT as u64 + 5);
        assert_eq!(tally.recent.len(), PING_RECENT);
        assert_eq!(tally.recent[0].query, "n=6", "the five oldest are gone");
        assert_eq!(tally.recent[PING_RECENT - 1].number, PING_RECENT as u64 + 5);
    }

    #[test]
    fn stats_are_json_with_every_field() {
        let state = State::default();
        assert_eq!(state.to_json(), r#"{"count":0,"kept":20,"recent":[]}"#);
        state.record("a=%22b%22&gif=1", 200, "http://localhost:8088/\"x\"");
        let text = state.to_json();
        assert!(json::validate(&text).is_ok(), "{text}");
        let at = state.tally.lock().unwrap().recent[0].at;
        assert_eq!(
            text,
            format!(
                r#"{{"count":1,"kept":20,"recent":[{{"n":1,"at":{at},"status":200,"query":"a=%22b%22&gif=1","referer":"http://localhost:8088/\"x\""}}]}}"#
            )
        );
    }

    #[test]
    fn long_referers_are_cut_at_a_character() {
        assert_eq!(cut("abc", 10), "abc");
        assert_eq!(cut("abcdef", 3), "abc");
        assert_eq!(cut("aé", 2), "a", "é is two bytes; half of it is not kept");
        let state = State::default();
        state.record("", 204, &"r".repeat(MAX_PING_REFERER_BYTES + 1));
        let kept = state.tally.lock().unwrap().recent[0].referer.len();
        assert_eq!(kept, MAX_PING_REFERER_BYTES);
    }
}
