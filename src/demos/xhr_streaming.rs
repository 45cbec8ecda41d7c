//! XHR streaming: one request, and an answer that keeps arriving while the page reads it.
//!
//! Polling asks again and again; long polling gets one piece of news per request. Streaming
//! asks once: the server sends the head, then writes a piece of the body whenever it has news,
//! and never says how long the body will be. Firefox, Safari, Opera and Chrome let a script
//! read an unfinished response (the old Internet Explorers hid it until the end): while bytes
//! arrive, an `XMLHttpRequest` sits in `readyState` 3 (LOADING), fires `readystatechange` again
//! and again, and `responseText` holds everything received so far. The page remembers how much
//! of it it has already handled and takes only the rest.
//!
//! The article's server sends a random number below 10000 every two seconds, ten times, then
//! ends the response. So does this one, one number per line so that the page can tell where
//! one ends and the next begins:
//!
//! ```text
//! GET /stream HTTP/1.1\r\n
//! Host: localhost:8088\r\n
//! \r\n
//!
//! HTTP/1.1 200 OK\r\n
//! Date: Mon, 23 Nov 2026 16:40:05 GMT\r\n
//! Server: webwire\r\n
//! X-Content-Type-Options: nosniff\r\n
//! Content-Type: text/plain; charset=utf-8\r\n
//! Cache-Control: no-store\r\n
//! Transfer-Encoding: chunked\r\n
//! \r\n
//! 5\r\n4821\n\r\n          at once
//! 3\r\n77\n\r\n            two seconds later
//! …                        ten numbers in all
//! 0\r\n\r\n                the end, right after the tenth
//! ```
//!
//! `X-Content-Type-Options: nosniff` is what lets it stream in Chromium: without it, Chromium
//! holds a `text/plain` response back (its head too) until 1024 bytes have arrived, to guess
//! whether it is really text. `?sniff=1` leaves the header out so you can watch the stall, and
//! `?pad=N` sends N bytes of blank padding first, the old cure for it.

use std::thread;

use crate::demos::{Demo, Setup};
use crate::handler::{Context, Reply};
use crate::http::request::Request;
use crate::http::response::Response;

use crate::random::Xorshift;
use crate::router::Route;

// ANCHOR: xhr_streaming_limits
/// Most numbers one `GET /stream?count=N` may ask for; more is 400. With the pace it bounds how
/// long one request can hold its thread: 1000 × the default 2 s is about half an hour.
pub const MAX_STREAM_COUNT: usize = 1000;
/// Most bytes of padding `GET /stream?pad=N` may ask for before the numbers; more is 400. Twice
/// the largest prelude streaming libraries sent (sockjs: 2 KiB + 1 for old Internet Explorer).
pub const MAX_STREAM_PAD_BYTES: usize = 4096;
// ANCHOR_END: xhr_streaming_limits

pub const DEMO: Demo = Demo {
    name: "xhr-streaming",
    title: "XHR streaming",
    summary: "one GET /stream, ten random numbers two seconds apart, read at readyState 3 as they land",
    chapter: "05-xhr-streaming.md",
    page: include_str!("../../demos/xhr-streaming.html"),
    extra_pages: &[],
    routes,
};

/// The routes, read like a table.
fn routes(_: &Setup) -> Result<Vec<Route>, String> {
    Ok(vec![Route::get("/stream", stream)])
}

/// How many numbers a stream sends when the request does not say: the article's ten.
const ARTICLE_COUNT: usize = 10;
/// Every number is below this: the article's `Math.floor(10000 * Math.random())`.
const NUMBER_BOUND: u64 = 10_000;

/// What a `/stream` request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// How many numbers: `?count=N`, 1 to `MAX_STREAM_COUNT` (default 10).
    pub count: usize,
    /// `?sniff=1`: leave out `X-Content-Type-Options: nosniff`.
    pub sniff: bool,
    /// `?pad=N`: bytes of blank padding before the first number (default 0).
    pub pad: usize,
}

// ANCHOR: stream
/// `GET /stream`: a random number per line, one line per tick, `count` lines, then the end.
fn stream(request: &Request, context: &Context) -> Reply {
    let options = match parse_options(request) {
        Ok(options) => options,
        Err(reason) => return Response::refusal(400, &reason).into(),
    };
    let mut head = Response::new(200)
        .with_header("Content-Type", "text/plain; charset=utf-8")
        // A stream of fresh numbers: no cache, the browser's or a proxy's, may keep a copy
        // and replay it (RFC 9111 §5.2.2.5).
        .with_header("Cache-Control", "no-store");
    if options.sniff {
        head = head.allow_sniffing();
    }
    let tick = context.app.config.tick;
    let mut random = Xorshift::seeded();
    Reply::stream(head, move |out| {
        if options.pad > 0 {
            out.send(&padding(options.pad))?;
        }
        for n in 0..options.count {
            // The first number goes at once, so the page shows something straight away;
            // the article's server waited one tick first.
            if n > 0 {
                thread::sleep(tick);
            }
            // Each `send` is one chunk, on the wire before we sleep again. A client that
            // has gone makes it fail, and `?` ends the stream there.
            let line = format!("{}\n", random.below(NUMBER_BOUND));
            out.send(line.as_bytes())?;
        }
        Ok(())
    })
}
// ANCHOR_END: stream

// ANCHOR: options
/// Reads `count`, `sniff` and `pad` from the query, each from the first parameter of that
/// name, as `/evt` and `/htmlfile` read theirs (`Request::query_param`): a repeat is not
/// read, so `count=1&count=x` is 1. Anything else in the query is ignored (a cache-buster,
/// say). The error is the one-line reason for a 400.
fn parse_options(request: &Request) -> Result<Options, String> {
    let count = request.number_param("count", 1..=MAX_STREAM_COUNT as u64)?;
    let pad = request.number_param("pad", 0..=MAX_STREAM_PAD_BYTES as u64)?;
    let sniff = match request.query_param("sniff").as_deref() {
        None | Some("0") => false,
        Some("1") => true,
        Some(_) => return Err("sniff must be 1 (let the browser sniff) or 0".to_string()),
    };
    Ok(Options {
        count: count.map_or(ARTICLE_COUNT, |n| n as usize),
        sniff,
        pad: pad.map_or(0, |n| n as usize),
    })
}
// ANCHOR_END: options

/// `size` bytes that the page reads as one blank line: spaces, then a line feed.
fn padding(size: usize) -> Vec<u8> {
    let mut bytes = vec![b' '; size];
    if let Some(last) = bytes.last_mut() {
        *last = b'\n';
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::request::parsed;

    /// The options of `GET /stream?<query>`.
    fn parse_options(query: &str) -> Result<Options, String> {
        super::parse_options(&parsed(&format!(
            "GET /stream?{query} HTTP/1.1\r\nHost: a\r\n\r\n"
        )))
    }

    #[test]
    fn options_default_to_the_article() {
        let article = Options {
            count: 10,
            sniff: false,
            pad: 0,
        };
        assert_eq!(parse_options(""), Ok(article));
        assert_eq!(parse_options("_=1795452005123"), Ok(article), "ignored");
        assert_eq!(
            parse_options("count=3&sniff=1&pad=1024"),
            Ok(Options {
                count: 3,
                sniff: true,
                pad: 1024
            })
        );
        assert_eq!(
            parse_options("count=1000&sniff=0&pad=4096").map(|o| o.count),
            Ok(1000)
        );
        assert_eq!(
            parse_options("%63ount=3").map(|o| o.count),
            Ok(3),
            "names are percent-decoded too"
        );
    }

    #[test]
    fn a_repeated_option_is_read_once_the_first_time() {
        let count = |query| parse_options(query).map(|o| o.count);
        assert_eq!(count("count=2&count=1"), Ok(2));
        assert_eq!(count("count=1&count=2"), Ok(1));
        assert_eq!(count("count=1&count=x"), Ok(1), "the repeat is not read");
        let refused = Err("count must be a whole number from 1 to 1000".to_string());
        assert_eq!(count("count=x&count=1"), refused, "the first one counts");
        let sniff = |query| parse_options(query).map(|o| o.sniff);
        assert_eq!(sniff("sniff=1&sniff=yes"), Ok(true));
    }

    #[test]
    fn out_of_range_options_are_refused_with_a_reason() {
        let count = "count must be a whole number from 1 to 1000";
        let pad = "pad must be a whole number from 0 to 4096";
        let sniff = "sniff must be 1 (let the browser sniff) or 0";
        for (query, reason) in [
            ("count=0", count),
            ("count=1001", count),
            ("count=", count),
            ("count", count), // no `=`: the same as `count=`
            ("count=+5", count),
            ("count=-1", count),
            ("count=2.5", count),
            ("count=99999999999999999999999", count), // overflows usize
            ("count=%31%30", "ok"),                   // "10", percent-encoded, is fine
            ("pad=4097", pad),
            ("pad=x", pad),
            ("sniff=yes", sniff),
            ("sniff=", sniff),
        ] {
            let got = parse_options(query).err();
            let want = (reason != "ok").then(|| reason.to_string());
            assert_eq!(got, want, "{query}");
        }
    }

    #[test]
    fn padding_is_one_blank_line_of_exactly_the_size() {
        assert_eq!(padding(1), b"\n");
        assert_eq!(padding(4), b"   \n");
        let kib = padding(1024);
        assert_eq!(kib.len(), 1024);
        assert!(kib[..1023].iter().all(|&b| b == b' '));
    }
}
