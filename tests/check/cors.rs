//! CORS's rules (`docs/08-cors.md`, its exercise) against webwire, a small server written
//! from the chapter, and that server broken one rule at a time.

use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use webwire::http::response::http_date;

use crate::harness::{self, Request, read_request, write};
use crate::support;

const TECHNIQUE: &str = "cors";

/// Which rule the server breaks, if any.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Break {
    None,
    /// Only `http://localhost:PORT` is allowed, not `http://127.0.0.1:PORT`.
    Simple,
    /// Origins compared ignoring case: `http://LOCALHOST:PORT` passes.
    Refused,
    /// The first of several `Origin` lines is judged.
    RepeatedOrigin,
    /// The allowed origins take the port the server listens on, not the one `Host` names.
    HostWithoutPort,
    /// `Vary: Origin` only on answers that name an origin.
    Vary,
    /// No `Access-Control-Max-Age`.
    Preflight,
    /// Header names compared case-sensitively, and a preflight asking for another refused.
    PreflightLists,
    /// The preflight names whatever origin asks.
    PreflightRefused,
    /// The answer to the request after the preflight forgets `Access-Control-Allow-Origin`.
    Actual,
    /// The 400 for a broken JSON body forgets it too.
    Errors,
    /// `Access-Control-Allow-Origin: *` with credentials.
    Credentials,
    /// The cookie set for anyone who asks.
    SetCookie,
    /// No `Access-Control-Expose-Headers`.
    Expose,
    /// The connection closed after every refusal.
    KeepsConnection,
}

/// The rule each break should fail, alone.
const BREAKS: [(Break, &str); 14] = [
    (Break::Simple, "cors.simple"),
    (Break::Refused, "cors.refused"),
    (Break::RepeatedOrigin, "cors.repeated-origin"),
    (Break::HostWithoutPort, "cors.host-without-port"),
    (Break::Vary, "cors.vary-origin"),
    (Break::Preflight, "cors.preflight"),
    (Break::PreflightLists, "cors.preflight-lists"),
    (Break::PreflightRefused, "cors.preflight-refused"),
    (Break::Actual, "cors.actual-request"),
    (Break::Errors, "cors.errors-shared"),
    (Break::Credentials, "cors.credentials"),
    (Break::SetCookie, "cors.set-cookie"),
    (Break::Expose, "cors.expose-headers"),
    (Break::KeepsConnection, "cors.refusal-keeps-connection"),
];

/// What the server keeps: the cookies it set and the `/cors/headers` answers it gave.
#[derive(Default)]
struct State {
    cookies_set: AtomicU64,
    headers_served: AtomicU64,
}

/// One answer: status line, headers, body.
struct Answer {
    status: &'static str,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn new(status: &'static str, content_type: &str, body: impl Into<Vec<u8>>) -> Answer {
        let mut headers = Vec::new();
        if !content_type.is_empty() {
            headers.push(("Content-Type".to_string(), content_type.to_string()));
        }
        Answer {
            status,
            headers,
            body: body.into(),
        }
    }

    fn with(mut self, name: &str, value: &str) -> Answer {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    fn has(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    }
}

/// The `Origin` of the request, judged: `Ok(Some(origin))` allowed, `Ok(None)` no Origin,
/// `Err(())` refused.
fn judge(request: &Request, port: u16, broken: Break) -> Result<Option<&str>, ()> {
    let origins = request.all("origin");
    let origin = match origins.as_slice() {
        [] => return Ok(None),
        [origin] => *origin,
        [origin, ..] if broken == Break::RepeatedOrigin => *origin,
        _ => return Err(()),
    };
    // The port is the one Host names; 80 if it names none.
    let host = request.header("host").unwrap_or("");
    let named_port = match host.rsplit_once(':') {
        Some((_, port)) if !host.ends_with(']') => port.parse().unwrap_or(0),
        _ => 80,
    };
    let port = if broken == Break::HostWithoutPort {
        port
    } else {
        named_port
    };
    let suffix = if port == 80 {
        String::new()
    } else {
        format!(":{port}")
    };
    let mut allowed = vec![format!("http://localhost{suffix}")];
    if broken != Break::Simple {
        allowed.push(format!("http://127.0.0.1{suffix}"));
    }
    let same = |a: &String| match broken {
        Break::Refused => a.eq_ignore_ascii_case(origin),
        _ => a == origin,
    };
    if allowed.iter().any(same) {
        Ok(Some(origin))
    } else {
        Err(())
    }
}

fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_or_null(text: Option<&str>) -> String {
    text.map_or("null".to_string(), json_string)
}

/// One request's answer, as the exercise's table says.
fn answer(request: &Request, port: u16, state: &State, broken: Break) -> Answer {
    let judged = judge(request, port, broken);
    let origin = judged.ok().flatten();
    let share = |answer: Answer| match origin {
        Some(origin) => answer.with("Access-Control-Allow-Origin", origin),
        None => answer,
    };
    let plain = "text/plain; charset=utf-8";
    match (request.method.as_str(), request.path()) {
        ("GET", "/cors") => {
            let now = http_date(SystemTime::now());
            share(Answer::new("200 OK", plain, format!("{now}\n")))
        }
        ("OPTIONS", "/cors") => {
            let answer = Answer::new("204 No Content", "", "");
            let Some(_) = request.header("access-control-request-method") else {
                return share(answer);
            };
            let origin = match (origin, request.header("origin")) {
                (Some(origin), _) => origin,
                (None, Some(origin)) if broken == Break::PreflightRefused => origin,
                _ => return answer,
            };
            if broken == Break::PreflightLists {
                let asked = request.all("access-control-request-headers");
                let known = ["content-type", "x-custom-header"];
                let names = asked.iter().flat_map(|v| v.split(',')).map(str::trim);
                if !names.filter(|n| !n.is_empty()).all(|n| known.contains(&n)) {
                    return Answer::new("403 Forbidden", plain, "no\n");
                }
            }
            let answer = answer
                .with("Access-Control-Allow-Origin", origin)
                .with("Access-Control-Allow-Methods", "GET, POST, PUT")
                .with(
                    "Access-Control-Allow-Headers",
                    "Content-Type, X-Custom-Header",
                );
            match broken {
                Break::Preflight => answer,
                _ => answer.with("Access-Control-Max-Age", "600"),
            }
        }
        ("PUT" | "POST", "/cors") => {
            let content_type = request.header("content-type");
            let is_json = content_type.is_some_and(|t| {
                let media_type = t.split(';').next().unwrap_or("").trim();
                media_type.eq_ignore_ascii_case("application/json")
            });
            let body = String::from_utf8_lossy(&request.body).into_owned();
            if is_json && webwire::json::validate(&body).is_err() {
                let answer = Answer::new("400 Bad Request", plain, "not JSON\n");
                return match broken {
                    Break::Errors => answer,
                    _ => share(answer),
                };
            }
            let report = format!(
                r#"{{"method":{},"contentType":{},"customHeader":{},"body":{}}}"#,
                json_string(&request.method),
                json_or_null(content_type),
                json_or_null(request.header("x-custom-header")),
                json_string(&body)
            );
            let answer = Answer::new("200 OK", "application/json", report);
            match broken {
                Break::Actual => answer,
                _ => share(answer),
            }
        }
        ("GET", "/cors/cookie") => {
            let cookie = request.all("cookie").into_iter().flat_map(|v| v.split(';'));
            let ours = cookie
                .map(str::trim)
                .find_map(|pair| pair.strip_prefix("webwire_cors="));
            let body = format!(r#"{{"cookie":{}}}"#, json_or_null(ours));
            let answer = Answer::new("200 OK", "application/json", body);
            match (origin, broken) {
                (Some(_), Break::Credentials) => answer
                    .with("Access-Control-Allow-Origin", "*")
                    .with("Access-Control-Allow-Credentials", "true"),
                (Some(origin), _) => answer
                    .with("Access-Control-Allow-Origin", origin)
                    .with("Access-Control-Allow-Credentials", "true"),
                (None, _) => answer,
            }
        }
        ("POST", "/cors/cookie") => {
            if judged.is_err() && broken != Break::SetCookie {
                return Answer::new("403 Forbidden", plain, "only the demo origins\n");
            }
            let n = state.cookies_set.fetch_add(1, Ordering::Relaxed) + 1;
            let cookie = format!(
                "webwire_cors={n}; Path=/cors; Max-Age=3600; HttpOnly; SameSite=None; Secure; \
                 Partitioned"
            );
            let answer = Answer::new("200 OK", plain, format!("set webwire_cors={n}\n"))
                .with("Set-Cookie", &cookie);
            match origin {
                Some(origin) => answer
                    .with("Access-Control-Allow-Origin", origin)
                    .with("Access-Control-Allow-Credentials", "true"),
                None => answer,
            }
        }
        ("GET", "/cors/headers") => {
            let n = state.headers_served.fetch_add(1, Ordering::Relaxed) + 1;
            let answer = Answer::new("200 OK", plain, "Which of my headers may you read?\n")
                .with("X-Request-Count", &n.to_string());
            let answer = match (origin, broken) {
                (Some(_), Break::Expose) | (None, _) => answer,
                (Some(_), _) => answer.with("Access-Control-Expose-Headers", "X-Request-Count"),
            };
            share(answer)
        }
        _ => Answer::new("404 Not Found", plain, "not found\n"),
    }
}

/// `/cors`, `/cors/cookie` and `/cors/headers` as the chapter's exercise describes them, one
/// request after another on a connection until the client says `Connection: close`.
fn server(broken: Break) -> impl Fn(Request, TcpStream) + Send + Sync + 'static {
    let state = Arc::new(State::default());
    move |first, stream| {
        let port = stream.local_addr().unwrap().port();
        let mut next = Some(first);
        while let Some(request) = next {
            let mut answer = answer(&request, port, &state, broken);
            let named = answer.has("Access-Control-Allow-Origin");
            if broken != Break::Vary || named {
                answer = answer.with("Vary", "Origin");
            }
            let refused =
                request.header("origin").is_some() && !named || !answer.status.starts_with('2');
            let close = request
                .header("connection")
                .is_some_and(|v| v.eq_ignore_ascii_case("close"))
                || (broken == Break::KeepsConnection && refused);
            let mut head = format!("HTTP/1.1 {}\r\n", answer.status);
            for (name, value) in &answer.headers {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            if !answer.status.starts_with("204") {
                head.push_str(&format!("Content-Length: {}\r\n", answer.body.len()));
            }
            if close {
                head.push_str("Connection: close\r\n");
            }
            head.push_str("\r\n");
            let mut bytes = head.into_bytes();
            bytes.extend_from_slice(&answer.body);
            if !write(&stream, bytes) || close {
                return;
            }
            next = read_request(&stream);
        }
    }
}

#[test]
fn webwire_passes_every_rule() {
    let server = support::start();
    let url = format!("http://{}/cors", support::address(&server));
    harness::assert_all_pass(TECHNIQUE, &url);
}

#[test]
fn a_server_written_from_the_chapter_passes_every_rule() {
    let server = harness::serve(server(Break::None));
    harness::assert_all_pass(TECHNIQUE, &server.url("/cors"));
}

#[test]
fn each_rule_fails_alone_when_broken() {
    harness::assert_each_rule_fails_alone(TECHNIQUE, &BREAKS, |broken| {
        harness::serve(server(broken)).url("/cors")
    });
}
