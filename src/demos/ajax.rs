//! Ajax: `XMLHttpRequest` itself, against endpoints that show what it sent and received.
//!
//! Before Ajax, a page got new data from the server one way: by being replaced. A form was
//! submitted, the whole page came back. IE5 shipped an ActiveX object that let script make an
//! HTTP request of its own and read the answer in the background; Mozilla, Safari and Opera
//! copied it as `XMLHttpRequest`, Google Maps and Gmail showed what it could do, and the W3C
//! (now WHATWG) wrote down what the browsers did. Every Comet technique in the later chapters
//! is built from these requests.
//!
//! A page calls `xhr.open("GET", url)`, maybe `xhr.setRequestHeader(...)`, then `xhr.send(body)`;
//! the browser walks `readyState` from 0 (unsent) to 4 (done), firing `readystatechange` at each
//! step, and on the wire there is nothing special at all — an ordinary request (a browser adds
//! a dozen more headers) and an ordinary response:
//!
//! ```text
//! GET /ajax/echo?q=a%20b HTTP/1.1
//! Host: localhost:8088
//! MyHeader: MyValue
//!
//! HTTP/1.1 200 OK
//! Date: Mon, 23 Nov 2026 16:59:18 GMT
//! Server: webwire
//! X-Content-Type-Options: nosniff
//! Content-Type: application/json
//! Cache-Control: no-store
//! MyHeader: MyValue
//! Content-Length: 193
//!
//! {"method":"GET","target":"/ajax/echo?q=a%20b","path":"/ajax/echo","query":[["q","a b"]],
//! "headers":[["Host","localhost:8088"],["MyHeader","MyValue"]],
//! "body":{"type":"","bytes":0,"kind":"none"}}
//! ```
//!
//! (The body is one line on the wire, folded here; `tests/ajax.rs` checks this exchange.)
//!
//! So the server's side of this chapter is a set of endpoints that make the browser's side
//! visible: `/ajax/echo` reports what arrived, `/ajax/slow` answers late (for `timeout` and
//! `abort()`), `/ajax/large` sends a long body slowly (for progress events), `/ajax/xml-as-text`
//! mislabels XML (for `overrideMimeType()`), `/ajax/cached` answers 304 (for validation).

use std::thread;
use std::time::{Duration, Instant};

use crate::demos::{Demo, Setup};
use crate::handler::{Context, Reply};
use crate::http::multipart;
use crate::http::query::form_pairs;
use crate::http::request::Request;
use crate::http::response::Response;
use crate::json;

use crate::router::Route;

// ANCHOR: ajax_limits
/// Longest wait `/ajax/slow?ms=` accepts; more is 400. Longer than any `xhr.timeout` worth showing.
pub const MAX_SLOW_MS: u64 = 30_000;
/// Largest body `/ajax/large?bytes=` sends; more is 400. Enough for a progress bar to crawl.
pub const MAX_LARGE_BYTES: u64 = 4 * 1024 * 1024;
/// Longest time `/ajax/large?ms=` may spread its body over; more is 400.
pub const MAX_LARGE_MS: u64 = 30_000;
/// How many evenly paced pieces `/ajax/large` cuts its body into.
pub const LARGE_PIECES: u64 = 20;
/// Largest body `/ajax/echo` shows in its report; a larger one is reported by its size and
/// kind only (and its parts, for multipart). Escaped as JSON, text can grow six times.
pub const MAX_ECHO_BODY_BYTES: usize = 16 * 1024;
// ANCHOR_END: ajax_limits

pub const DEMO: Demo = Demo {
    name: "ajax",
    title: "Ajax",
    summary: "XMLHttpRequest itself: ready states, query strings, form, JSON and file bodies, \
              custom headers, timeout and abort, progress, overrideMimeType, 304",
    chapter: "02-ajax.md",
    page: include_str!("../../demos/ajax.html"),
    extra_pages: &[],
    routes,
};

/// The routes, read like a table.
fn routes(_: &Setup) -> Result<Vec<Route>, String> {
    Ok(vec![
        Route::any("/ajax/echo", echo),
        Route::get("/ajax/slow", slow),
        Route::get("/ajax/large", large),
        Route::get("/ajax/xml-as-text", xml_as_text),
        Route::get("/ajax/cached", cached),
    ])
}

// ANCHOR: echo
/// Any method: a JSON report of what arrived, its body parsed by its Content-Type.
fn echo(request: &Request, _: &Context) -> Reply {
    let body = match body_report(request) {
        Ok(body) => body,
        Err(reason) => return bad_request(&reason),
    };
    let report = json::Object::new()
        .string("method", request.method.as_str())
        .string("target", &request.target)
        .string("path", &request.path)
        .raw("query", &pairs(&request.query_params()))
        .raw("headers", &pairs(&request.headers))
        .raw("body", &body)
        .finish();
    let mut response = Response::new(200)
        .with_header("Content-Type", "application/json")
        .with_header("Cache-Control", "no-store");
    // The book's custom header, sent back so the page can read it with getResponseHeader().
    // The parser already refused control characters in it, so it cannot break our head.
    if let Some(value) = request.header("MyHeader") {
        response = response.with_header("MyHeader", value);
    }
    response
        .with_body(format!("{report}\n").into_bytes())
        .into()
}
// ANCHOR_END: echo

// ANCHOR: body_report
/// The `body` field of the report, or why the body is not what its Content-Type says.
///
/// A report shows at most `MAX_ECHO_BODY_BYTES` of what the body carried: the rest is
/// counted in `bytes` but not shown, and the report says `"cut":true`. Without the cap, a
/// body of 1 MiB of NUL bytes would come back as 6 MiB of `\u0000`, and a hundred clients
/// that post one and never read the answer would make the server hold 600 MiB.
fn body_report(request: &Request) -> Result<String, String> {
    let content_type = request.header("content-type").unwrap_or("");
    let media_type = request.media_type().unwrap_or_default();
    let bytes = &request.body;
    let mut room = Room(MAX_ECHO_BODY_BYTES);
    let report = json::Object::new()
        .string("type", content_type)
        .number("bytes", bytes.len() as u64);
    let report = match media_type.as_str() {
        _ if bytes.is_empty() && content_type.is_empty() => report.string("kind", "none"),
        "application/x-www-form-urlencoded" => {
            // One pair at a time: a megabyte of `a&a&…` never becomes half a million Strings.
            let mut shown = Vec::new();
            let mut cut = false;
            for (name, value) in form_pairs(bytes) {
                if !room.take(name.len() + value.len()) {
                    cut = true;
                    break;
                }
                shown.push((name, value));
            }
            say_cut(
                report.string("kind", "form").raw("fields", &pairs(&shown)),
                cut,
            )
        }
        "application/json" => {
            let text = std::str::from_utf8(bytes).map_err(|_| "the JSON body is not UTF-8")?;
            json::validate(text).map_err(|e| e.to_string())?;
            // Checked, so it can go into the report as it is: JSON inside JSON.
            let shown = room.take(text.len());
            let json = if shown { text.trim() } else { "null" };
            say_cut(report.string("kind", "json").raw("json", json), !shown)
        }
        "multipart/form-data" => {
            let boundary = multipart::boundary(content_type)
                .map_err(super::super::http::multipart::MultipartError::reason)?;
            let parts = multipart::parse(bytes, &boundary)
                .map_err(super::super::http::multipart::MultipartError::reason)?;
            let mut cut = false;
            let mut shown = Vec::new();
            for part in &parts {
                let names = part.name.len() + part.filename.as_ref().map_or(0, String::len);
                let names = names + part.content_type.as_ref().map_or(0, String::len);
                if !room.take(names) {
                    cut = true;
                    break;
                }
                let mut fields = json::Object::new()
                    .string("name", &part.name)
                    .raw("filename", &string_or_null(&part.filename))
                    .raw("type", &string_or_null(&part.content_type))
                    .number("size", part.content.len() as u64);
                // A file is reported by its size; a field's value is shown if it fits.
                if part.filename.is_none() {
                    let value = String::from_utf8_lossy(part.content);
                    match room.take(value.len()) {
                        true => fields = fields.string("value", &value),
                        false => cut = true,
                    }
                }
                shown.push(fields.finish());
            }
            let parts = json::array(shown);
            say_cut(report.string("kind", "multipart").raw("parts", &parts), cut)
        }
        t if t.starts_with("text/") => {
            let text = String::from_utf8_lossy(bytes);
            let shown = room.take(text.len());
            let shown_text = if shown {
                json::string(&text)
            } else {
                "null".into()
            };
            say_cut(
                report.string("kind", "text").raw("text", &shown_text),
                !shown,
            )
        }
        _ => report.string("kind", "bytes"),
    };
    Ok(report.finish())
}

/// `"cut":true` on a report that does not show all of its body (and nothing otherwise).
fn say_cut(report: json::Object, cut: bool) -> json::Object {
    match cut {
        true => report.bool("cut", true),
        false => report,
    }
}

/// How much of a body a report may still show, in bytes of the body's own text.
struct Room(usize);

impl Room {
    /// Takes `bytes` (plus a little for the JSON around each piece) if they fit.
    fn take(&mut self, bytes: usize) -> bool {
        let cost = bytes + 8;
        let fits = cost <= self.0;
        if fits {
            self.0 -= cost;
        }
        fits
    }
}
// ANCHOR_END: body_report

// ANCHOR: slow
/// Answers after `ms` milliseconds (default: one tick), for `xhr.timeout` and `abort()`.
fn slow(request: &Request, context: &Context) -> Reply {
    let ms = match number_param(request, "ms", MAX_SLOW_MS) {
        Ok(ms) => ms.unwrap_or(context.app.config.tick.as_millis() as u64),
        Err(reply) => return reply,
    };
    // A page that timed out or aborted has closed its connection: stop waiting for nobody.
    context.client_stays_until(Instant::now() + Duration::from_millis(ms));
    Response::text(200, format!("answered after {ms} ms\n"))
        .with_header("Cache-Control", "no-store")
        .into()
}
// ANCHOR_END: slow

/// What `/ajax/large` repeats: 64 bytes, so a body's size is easy to check by eye.
const LINE: &[u8; 64] = b"webwire /ajax/large: sixty-four bytes, sent again and again....\n";
// Checked when the code is compiled: one line of plain text.
const _: () = assert!(LINE.is_ascii() && LINE[63] == b'\n');

// ANCHOR: large
/// `bytes` bytes (default 1 MiB) in `LARGE_PIECES` pieces spread over `ms` milliseconds
/// (default: two ticks). The head says `Content-Length`, so the browser knows the total
/// before the first piece and can report progress as a fraction (`lengthComputable`).
fn large(request: &Request, context: &Context) -> Reply {
    let (bytes, ms) = match (
        number_param(request, "bytes", MAX_LARGE_BYTES),
        number_param(request, "ms", MAX_LARGE_MS),
    ) {
        (Ok(bytes), Ok(ms)) => (
            bytes.unwrap_or(1024 * 1024) as usize,
            ms.map_or(2 * context.app.config.tick, Duration::from_millis),
        ),
        (Err(reply), _) | (_, Err(reply)) => return reply,
    };
    let piece_size = bytes.div_ceil(LARGE_PIECES as usize).max(1);
    let pause = ms / LARGE_PIECES as u32;
    let head = Response::new(200)
        .with_header("Content-Type", "text/plain; charset=utf-8")
        .with_header("Cache-Control", "no-store");
    // Not a chunked `Reply::Stream`: a chunked body has no length in its head.
    Reply::sized_stream(head, bytes, move |out| {
        for start in (0..bytes).step_by(piece_size) {
            if start > 0 {
                thread::sleep(pause);
            }
            let end = (start + piece_size).min(bytes);
            let piece: Vec<u8> = (start..end).map(|i| LINE[i % LINE.len()]).collect();
            out.send(&piece)?; // fails once the page has aborted: the stream ends there
        }
        Ok(())
    })
}
// ANCHOR_END: large

/// Three books as XML, to be sent under the wrong Content-Type.
const BOOKS_XML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<books>\n  \
    <book year=\"2005\">Professional Ajax</book>\n  \
    <book year=\"2012\">Professional JavaScript for Web Developers</book>\n  \
    <book year=\"2013\">Ajax and Comet</book>\n</books>\n";

/// XML labelled `text/plain`: `responseXML` stays null until the page calls
/// `overrideMimeType("text/xml")`.
fn xml_as_text(_: &Request, _: &Context) -> Reply {
    Response::text(200, BOOKS_XML)
        .with_header("Cache-Control", "no-store")
        .into()
}

/// The entity tag of `/ajax/cached`'s one unchanging text.
const CACHED_ETAG: &str = "\"ajax-cached-v1\"";

// ANCHOR: cached
/// A text that never changes, with an `ETag`; asked with that tag in `If-None-Match`, a 304
/// and no body. `no-cache`: the browser may keep it but must ask before reusing it.
fn cached(request: &Request, _: &Context) -> Reply {
    let response = Response::new(200)
        .with_header("ETag", CACHED_ETAG)
        .with_header("Cache-Control", "no-cache");
    if request.client_has_etag(CACHED_ETAG) {
        // A 304 repeats the validators and caching headers a 200 would carry (§15.4.5).
        return Response {
            status: 304,
            ..response
        }
        .into();
    }
    response
        .with_header("Content-Type", "text/plain; charset=utf-8")
        .with_body(b"This text has not changed since it was first written.\n".to_vec())
        .into()
}
// ANCHOR_END: cached

/// A query parameter that must be a whole number from 0 to `max`; `Ok(None)` if absent.
fn number_param(request: &Request, name: &str, max: u64) -> Result<Option<u64>, Reply> {
    request
        .number_param(name, 0..=max)
        .map_err(|reason| bad_request(&reason))
}

fn bad_request(reason: &str) -> Reply {
    Response::refusal(400, reason).into()
}

/// `[["name","value"],...]`, in order, repeats kept.
fn pairs(pairs: &[(String, String)]) -> String {
    json::array(
        pairs
            .iter()
            .map(|(name, value)| json::array([json::string(name), json::string(value)])),
    )
}

fn string_or_null(value: &Option<String>) -> String {
    value.as_deref().map_or("null".to_string(), json::string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_keep_order_and_escape() {
        let list = [
            ("b".to_string(), "2".to_string()),
            ("a\"".to_string(), "城".to_string()),
            ("b".to_string(), String::new()),
        ];
        assert_eq!(pairs(&list), r#"[["b","2"],["a\"","城"],["b",""]]"#);
        assert_eq!(pairs(&[]), "[]");
        assert_eq!(string_or_null(&None), "null");
        assert_eq!(string_or_null(&Some("x".to_string())), "\"x\"");
    }
}
