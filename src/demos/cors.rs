//! CORS: a server names the other origins that may read its answers, and the browser obeys.
//!
//! A page may *send* requests anywhere (a form, an image, a script tag always could), but its
//! script may *read* only answers from its own origin: scheme, host and port. Before CORS, a
//! page that needed another origin's data used JSONP, a proxy, or Flash. Cross-Origin Resource
//! Sharing (now part of the Fetch standard) lets the other server opt in: the browser adds
//! `Origin` to every cross-origin `XMLHttpRequest`, and hands the answer to the script only if
//! the answer names that origin in `Access-Control-Allow-Origin`. Otherwise the script gets
//! `status` 0 and an `error` event, and never learns why: only the console says.
//!
//! ```text
//! GET /cors HTTP/1.1\r\n
//! Host: 127.0.0.1:8088\r\n
//! Origin: http://localhost:8088\r\n
//! \r\n
//!
//! HTTP/1.1 200 OK\r\n
//! Date: Mon, 23 Nov 2026 17:10:01 GMT\r\n
//! Server: webwire\r\n
//! X-Content-Type-Options: nosniff\r\n
//! Content-Type: text/plain; charset=utf-8\r\n
//! Cache-Control: no-store\r\n
//! Access-Control-Allow-Origin: http://localhost:8088\r\n
//! Vary: Origin\r\n
//! X-CORS-Verdict: allowed: Access-Control-Allow-Origin names this origin\r\n
//! Content-Length: 30\r\n
//! \r\n
//! Mon, 23 Nov 2026 17:10:01 GMT\n
//! ```
//!
//! A request a form could not have sent (a `PUT`, a JSON body, a custom header) is *preflighted*:
//! the browser first asks `OPTIONS /cors` with `Access-Control-Request-Method` and `-Headers`,
//! and sends the real request only if the answer allows them. `/cors/cookie` shows requests with
//! credentials, `/cors/headers` which response headers a page may read, and `/cors/log` what the
//! server saw, including the requests whose answers the browser hid. Every answer carries
//! `X-CORS-Verdict`, the server's forecast of what the browser will do with it, for `--trace`
//! and devtools (the page cannot read it), and the same line goes to the log.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use crate::demos::{Demo, Setup};
use crate::handler::{Context, Reply, with_state};
use crate::http::method::Method;
use crate::http::request::{Request, comma_list, is_token_byte};
use crate::http::response::{Response, http_date};
use crate::json;
use crate::text::cut;

use crate::router::Route;

// ANCHOR: cors_limits
/// `Access-Control-Max-Age` on a preflight answer: how long the browser may skip asking again.
/// Ten minutes. Chromium caps any value at 7200 s and Firefox at 86400 s; with no header, 5 s.
pub const PREFLIGHT_MAX_AGE_SECS: u32 = 600;
/// `Max-Age` of the demo cookie that `POST /cors/cookie` sets: one hour.
pub const CORS_COOKIE_MAX_AGE_SECS: u32 = 3600;
/// Requests whose details `/cors/log` keeps, newest last; older ones are dropped (the counts go on).
pub const CORS_RECENT: usize = 20;
/// Longest text kept of each logged field (origin, target, …) and of an echoed body; longer is cut.
pub const MAX_CORS_FIELD_BYTES: usize = 256;
// ANCHOR_END: cors_limits

mod log;

use log::{State, log};

pub const DEMO: Demo = Demo {
    name: "cors",
    title: "CORS",
    summary: "XMLHttpRequest to another origin: simple and preflighted requests, credentials, \
              exposed headers, and what the browser hides",
    chapter: "08-cors.md",
    page: include_str!("../../demos/cors.html"),
    extra_pages: &[],
    routes,
};

/// The routes, read like a table.
fn routes(_: &Setup) -> Result<Vec<Route>, String> {
    let state = Arc::new(State::default());
    Ok(vec![
        Route::get("/cors", with_state(&state, time)),
        Route::new(Method::Options, "/cors", with_state(&state, preflight)),
        Route::post("/cors", with_state(&state, echo)),
        Route::new(Method::Put, "/cors", with_state(&state, echo)),
        Route::get("/cors/cookie", with_state(&state, read_cookie)),
        Route::post("/cors/cookie", with_state(&state, set_cookie)),
        Route::get("/cors/headers", with_state(&state, headers)),
        Route::get("/cors/log", with_state(&state, log)),
    ])
}

/// What a preflight may ask for. GET, HEAD and POST need no permission (they are
/// CORS-safelisted methods), but listing them costs nothing and reads plainly.
const ALLOWED_METHODS: &str = "GET, POST, PUT";
const ALLOWED_HEADERS: [&str; 2] = ["Content-Type", "X-Custom-Header"];
const COOKIE_NAME: &str = "webwire_cors";

// ANCHOR: verdicts
const NOT_CORS: &str = "not CORS: no Origin header (curl, or a same-origin GET)";
const ALLOWED: &str = "allowed: Access-Control-Allow-Origin names this origin";
const BLOCKED: &str = "blocked: this origin is not on the allow-list, so no \
                       Access-Control-Allow-Origin; the page sees status 0";
const BLOCKED_NULL: &str = "blocked: Origin null (a sandboxed frame, a file: page) is never \
                            on the allow-list; the page sees status 0";
const BLOCKED_TWO: &str = "blocked: more than one Origin header";
const CREDENTIALED: &str = "allowed, with credentials too: the exact origin and \
                            Access-Control-Allow-Credentials: true";
const WILDCARD: &str = "blocked if sent with credentials: Access-Control-Allow-Origin: * \
                        never shares those; the page sees status 0";
const NO_ALLOW_CREDENTIALS: &str = "blocked if sent with credentials: no \
                                    Access-Control-Allow-Credentials: true; the page sees status 0";
// ANCHOR_END: verdicts

// ANCHOR: share
/// The request's `Origin`, judged: the origin to name in the answer, `None` when there is no
/// `Origin` (not a CORS request), or the verdict that refuses it.
fn judge<'a>(request: &'a Request, context: &Context) -> Result<Option<&'a str>, &'static str> {
    let mut origins = request.header_values("origin");
    let origin = match (origins.next(), origins.next()) {
        (None, _) => return Ok(None),
        (Some(_), Some(_)) => return Err(BLOCKED_TWO),
        (Some(origin), None) => origin,
    };
    match origin {
        _ if context.origin_allowed(request, origin) => Ok(Some(origin)),
        "null" => Err(BLOCKED_NULL),
        _ => Err(BLOCKED),
    }
}

/// Names the origin in the answer when it is allowed; sends no CORS header at all when not.
fn share(state: &State, request: &Request, context: &Context, response: Response) -> Reply {
    match judge(request, context) {
        Ok(Some(origin)) => {
            let response = response.with_header("Access-Control-Allow-Origin", origin);
            finish(state, request, context, response, ALLOWED)
        }
        Ok(None) => finish(state, request, context, response, NOT_CORS),
        Err(verdict) => finish(state, request, context, response, verdict),
    }
}

/// Every `/cors` answer ends here: logged with its verdict, and marked `Vary: Origin`, since
/// it depends on that header (a cache must not hand one origin's answer to another).
fn finish(
    state: &State,
    request: &Request,
    context: &Context,
    response: Response,
    verdict: &str,
) -> Reply {
    state.record(request, response.status, verdict);
    let (method, target) = (&request.method, &request.target);
    let origin = request.header("origin").unwrap_or("none");
    context.app.log(&format!(
        "cors: {method} {target}, Origin: {origin} -> {verdict}"
    ));
    let response = response.with_header("Vary", "Origin");
    response.with_header("X-CORS-Verdict", verdict).into()
}
// ANCHOR_END: share

/// `GET /cors`: the article's endpoint, the time as text. A simple request: no preflight.
fn time(state: &State, request: &Request, context: &Context) -> Reply {
    let now = http_date(SystemTime::now());
    let response = Response::text(200, format!("{now}\n")).with_header("Cache-Control", "no-store");
    share(state, request, context, response)
}

// ANCHOR: preflight
/// `OPTIONS /cors` with `Access-Control-Request-Method`: may the real request follow? Our
/// lists are fixed, so one answer can be cached for every method and header it names; the
/// browser compares them with what it wants to send, and the verdict predicts its answer.
fn preflight(state: &State, request: &Request, context: &Context) -> Reply {
    // CORS ignores `Allow` (Fetch §3.3.3), but it is the answer to a plain OPTIONS.
    let response = Response::new(204).with_header("Allow", "GET, HEAD, OPTIONS, POST, PUT");
    let Some(method) = request.header("access-control-request-method") else {
        return share(state, request, context, response); // not a preflight
    };
    let origin = match judge(request, context) {
        Ok(Some(origin)) => origin,
        Ok(None) => return finish(state, request, context, response, NOT_CORS),
        Err(verdict) => return finish(state, request, context, response, verdict),
    };
    let names = request.header_values("access-control-request-headers");
    let verdict = preflight_verdict(method, comma_list(names).collect());
    let response = response
        .with_header("Access-Control-Allow-Origin", origin)
        .with_header("Access-Control-Allow-Methods", ALLOWED_METHODS)
        .with_header("Access-Control-Allow-Headers", ALLOWED_HEADERS.join(", "))
        .with_header("Access-Control-Max-Age", PREFLIGHT_MAX_AGE_SECS.to_string());
    finish(state, request, context, response, &verdict)
}

/// What the browser will conclude from our lists (the Fetch standard's "CORS-preflight
/// fetch"): methods compare exactly, header names ignoring case.
fn preflight_verdict(method: &str, names: Vec<&str>) -> String {
    if method.is_empty() || !method.bytes().all(is_token_byte) {
        return "preflight fails: Access-Control-Request-Method is not a method".to_string();
    }
    if !ALLOWED_METHODS.split(", ").any(|allowed| allowed == method) {
        return format!("preflight fails: {method} is not in Access-Control-Allow-Methods");
    }
    for name in &names {
        if !name.bytes().all(is_token_byte) {
            return "preflight fails: Access-Control-Request-Headers is not a list of names"
                .to_string();
        }
        if !ALLOWED_HEADERS.iter().any(|a| a.eq_ignore_ascii_case(name)) {
            return format!("preflight fails: {name} is not in Access-Control-Allow-Headers");
        }
    }
    let secs = PREFLIGHT_MAX_AGE_SECS;
    let asked = names.join(", ");
    format!("preflight passes: {method} [{asked}] may follow; no need to ask again for {secs} s")
}
// ANCHOR_END: preflight

/// `POST` or `PUT /cors`: what arrived. A `PUT`, a JSON body or `X-Custom-Header` reach this
/// only after a preflight; a `POST` of `text/plain` does not need one.
fn echo(state: &State, request: &Request, context: &Context) -> Reply {
    if request.media_type().as_deref() == Some("application/json") {
        // JSON is UTF-8 (RFC 8259 §8.1), so a bad byte is an error, not a U+FFFD.
        let error = match std::str::from_utf8(&request.body) {
            Ok(text) => json::validate(text).err().map(|e| e.to_string()),
            Err(_) => Some("not UTF-8".to_string()),
        };
        if let Some(error) = error {
            // An error the page should read needs the CORS headers too, or it is status 0.
            let reason = format!("the body is labelled application/json but is {error}");
            return share(state, request, context, Response::refusal(400, &reason));
        }
    }
    let body = String::from_utf8_lossy(&request.body);
    let custom_header = request.header("x-custom-header");
    let report = json::Object::new()
        .string("method", request.method.as_str())
        .raw(
            "contentType",
            &string_or_null(request.header("content-type")),
        )
        .raw("customHeader", &string_or_null(custom_header))
        .string("body", cut(&body, MAX_CORS_FIELD_BYTES))
        .finish();
    let response = Response::new(200)
        .with_header("Content-Type", "application/json")
        .with_header("Cache-Control", "no-store")
        .with_body(report.into_bytes());
    share(state, request, context, response)
}

// ANCHOR: set_cookie
/// `POST /cors/cookie`: sets the demo cookie, sent back only on credentialed requests.
fn set_cookie(state: &State, request: &Request, context: &Context) -> Reply {
    let origin = match judge(request, context) {
        Ok(origin) => origin,
        // CORS would only hide our answer: the browser stores the cookie all the same. A
        // server that must not act for strangers checks Origin itself (CORS is no CSRF guard).
        Err(verdict) => {
            let refusal = Response::refusal(403, "only the demo origins may set the demo cookie");
            return finish(state, request, context, refusal, verdict);
        }
    };
    let value = state.cookies_set.fetch_add(1, Ordering::Relaxed) + 1;
    // Cross-site (localhost and 127.0.0.1 are two sites), a cookie travels only with
    // SameSite=None, which needs Secure: allowed over plain http on loopback, a potentially
    // trustworthy origin. Partitioned (CHIPS) keeps it when third-party cookies are blocked.
    let cookie = format!(
        "{COOKIE_NAME}={value}; Path=/cors; Max-Age={CORS_COOKIE_MAX_AGE_SECS}; HttpOnly; \
         SameSite=None; Secure; Partitioned"
    );
    let response = Response::text(200, format!("set {COOKIE_NAME}={value}\n"))
        .with_header("Cache-Control", "no-store")
        .with_header("Set-Cookie", cookie);
    match origin {
        Some(origin) => {
            let response = credentialed(response, origin);
            finish(state, request, context, response, CREDENTIALED)
        }
        None => finish(state, request, context, response, NOT_CORS),
    }
}

/// The two headers that let a page read an answer to a request sent with credentials.
fn credentialed(response: Response, origin: &str) -> Response {
    response
        .with_header("Access-Control-Allow-Origin", origin)
        .with_header("Access-Control-Allow-Credentials", "true")
}
// ANCHOR_END: set_cookie

// ANCHOR: read_cookie
/// `GET /cors/cookie?variant=…`: reports the demo cookie that arrived, shared the right way
/// (`correct`, the default) or one of the two wrong ways a browser refuses with credentials.
fn read_cookie(state: &State, request: &Request, context: &Context) -> Reply {
    let variant = request.query_param("variant");
    let variant = variant.as_deref().unwrap_or("correct");
    if !["correct", "wildcard", "no-allow-credentials"].contains(&variant) {
        let reason = "variant must be correct, wildcard or no-allow-credentials";
        return share(state, request, context, Response::refusal(400, reason));
    }
    let report = json::Object::new().raw("cookie", &string_or_null(demo_cookie(request)));
    let response = Response::new(200)
        .with_header("Content-Type", "application/json")
        .with_header("Cache-Control", "no-store")
        .with_body(report.finish().into_bytes());
    let (response, verdict) = match (judge(request, context), variant) {
        (Err(verdict), _) => (response, verdict),
        (Ok(None), _) => (response, NOT_CORS),
        (Ok(Some(origin)), "correct") => (credentialed(response, origin), CREDENTIALED),
        (Ok(Some(_)), "wildcard") => (credentialed(response, "*"), WILDCARD),
        (Ok(Some(origin)), _) => (
            response.with_header("Access-Control-Allow-Origin", origin),
            NO_ALLOW_CREDENTIALS,
        ),
    };
    finish(state, request, context, response, verdict)
}
// ANCHOR_END: read_cookie

/// The value of our cookie in `Cookie:` (one header in HTTP/1.1, `a=1; b=2`). Cookies ignore
/// ports, so other servers on this host may have added theirs: those are not reported.
fn demo_cookie(request: &Request) -> Option<&str> {
    let pairs = request.header_values("cookie").flat_map(|v| v.split(';'));
    let mut values = pairs.filter_map(|pair| pair.trim().strip_prefix("webwire_cors="));
    values.next()
}

// ANCHOR: headers
/// `GET /cors/headers`: the seven CORS-safelisted response headers, which a page may always
/// read, one exposed header, and two that stay hidden.
fn headers(state: &State, request: &Request, context: &Context) -> Reply {
    let served = &state.headers_served;
    let count = served.fetch_add(1, Ordering::Relaxed) + 1;
    let response = Response::text(200, "Which of my headers may you read?\n")
        .with_header("Cache-Control", "no-store")
        .with_header("Content-Language", "en")
        .with_header("Expires", "0") // an invalid date, which means "already expired"
        // The day CORS became a W3C Recommendation; any fixed date would do.
        .with_header("Last-Modified", "Thu, 16 Jan 2014 00:00:00 GMT")
        .with_header("Pragma", "no-cache")
        .with_header("ETag", "\"v1\"") // the article lists it as readable; it is not
        .with_header("X-Request-Count", count.to_string())
        .with_header("X-Request-Id", format!("cors-{count}"));
    let response = match judge(request, context) {
        Ok(Some(_)) => response.with_header("Access-Control-Expose-Headers", "X-Request-Count"),
        _ => response,
    };
    share(state, request, context, response)
}
// ANCHOR_END: headers

fn string_or_null(text: Option<&str>) -> String {
    text.map_or("null".to_string(), json::string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preflights_match_methods_exactly_and_header_names_in_any_case() {
        let verdict = |method, names: &[&str]| preflight_verdict(method, names.to_vec());
        assert_eq!(
            verdict("PUT", &["content-type", "X-CUSTOM-HEADER"]),
            "preflight passes: PUT [content-type, X-CUSTOM-HEADER] may follow; \
             no need to ask again for 600 s"
        );
        assert!(verdict("POST", &[]).starts_with("preflight passes: POST []"));
        assert_eq!(
            verdict("put", &[]),
            "preflight fails: put is not in Access-Control-Allow-Methods"
        );
        assert_eq!(
            verdict("DELETE", &[]),
            "preflight fails: DELETE is not in Access-Control-Allow-Methods"
        );
        assert_eq!(
            verdict("PUT", &["x-custom-header", "x-evil"]),
            "preflight fails: x-evil is not in Access-Control-Allow-Headers"
        );
        assert_eq!(
            verdict("PUT", &["x y"]),
            "preflight fails: Access-Control-Request-Headers is not a list of names"
        );
        assert_eq!(
            verdict("P(T", &[]),
            "preflight fails: Access-Control-Request-Method is not a method"
        );
    }

    #[test]
    fn the_log_keeps_counts_and_the_newest_requests() {
        let state = State::default();
        let request = |method: &str, extra: &str| {
            let head = format!("{method} /cors HTTP/1.1\r\nHost: h\r\n{extra}\r\n");
            match crate::http::request::parse_head(head.as_bytes()) {
                Ok(crate::http::request::Parsed::Complete(request, _)) => request,
                other => panic!("{other:?}"),
            }
        };
        let preflight = request(
            "OPTIONS",
            "Origin: o\r\nAccess-Control-Request-Method: PUT\r\n",
        );
        state.record(&preflight, 204, "v1");
        for _ in 0..CORS_RECENT {
            state.record(
                &request("PUT", "Cookie: a=1; webwire_cors=7\r\n"),
                200,
                "v2",
            );
        }
        let text = state.to_json(&["http://x".to_string()]);
        assert!(json::validate(&text).is_ok(), "{text}");
        assert!(text.starts_with(r#"{"preflights":1,"requests":20,"allowList":["http://x"],"#));
        assert!(!text.contains("\"v1\""), "the oldest is gone");
        assert!(text.ends_with(
            r#"{"n":21,"method":"PUT","target":"/cors","origin":null,"requestMethod":null,"requestHeaders":null,"cookie":"7","status":200,"verdict":"v2"}]}"#
        ));
    }

    #[test]
    fn long_fields_are_cut_at_a_character() {
        assert_eq!(cut("abc", 10), "abc");
        assert_eq!(cut("aé", 2), "a");
    }
}
