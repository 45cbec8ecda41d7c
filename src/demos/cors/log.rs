//! What the CORS demo remembers, and `GET /cors/log`, which shows it: counts, the last few
//! requests with their verdicts, and the allow-list in force.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use super::{CORS_RECENT, MAX_CORS_FIELD_BYTES, demo_cookie, string_or_null};
use crate::handler::{Context, Reply};
use crate::http::method::Method;
use crate::http::request::Request;
use crate::http::response::Response;
use crate::json;
use crate::origins::{demo_origins, port_of_host};
use crate::text::cut;

/// `GET /cors/log`: what the server saw, as JSON. Public and read without credentials, so
/// `*` is right here: a page on any origin may read it, also one whose calls were refused.
pub(super) fn log(state: &State, request: &Request, context: &Context) -> Reply {
    let host = request.header("host").unwrap_or("");
    let mut allowed: Vec<String> = port_of_host(host).map_or(vec![], |p| demo_origins(p).into());
    allowed.extend(context.app.config.extra_origins.iter().cloned());
    Response::new(200)
        .with_header("Content-Type", "application/json")
        .with_header("Cache-Control", "no-store")
        .with_header("Access-Control-Allow-Origin", "*")
        .with_body(state.to_json(&allowed).into_bytes())
        .into()
}

/// What the server remembers: counts, the last few requests, and two counters.
#[derive(Default)]
pub struct State {
    log: Mutex<Log>,
    pub(super) cookies_set: AtomicU64,
    pub(super) headers_served: AtomicU64,
}

#[derive(Default)]
struct Log {
    preflights: u64,
    requests: u64,
    recent: VecDeque<String>,
}

impl State {
    /// Counts a request and keeps it, as the JSON object `/cors/log` lists.
    pub(super) fn record(&self, request: &Request, status: u16, verdict: &str) {
        let field =
            |name: &str| string_or_null(request.header(name).map(|v| cut(v, MAX_CORS_FIELD_BYTES)));
        let cookie = string_or_null(demo_cookie(request).map(|v| cut(v, MAX_CORS_FIELD_BYTES)));
        // A poisoned lock only means another thread panicked; the counts are still whole.
        let mut log = self
            .log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let preflight = request.method == Method::Options
            && request.header("access-control-request-method").is_some();
        match preflight {
            true => log.preflights += 1,
            false => log.requests += 1,
        }
        let entry = json::Object::new()
            .number("n", log.preflights + log.requests)
            .string("method", request.method.as_str())
            .string("target", cut(&request.target, MAX_CORS_FIELD_BYTES))
            .raw("origin", &field("origin"))
            .raw("requestMethod", &field("access-control-request-method"))
            .raw("requestHeaders", &field("access-control-request-headers"))
            .raw("cookie", &cookie)
            .number("status", u64::from(status))
            .string("verdict", verdict)
            .finish();
        if log.recent.len() == CORS_RECENT {
            log.recent.pop_front();
        }
        log.recent.push_back(entry);
    }

    /// `{"preflights":1,"requests":2,"allowList":[…],"recent":[…]}`, oldest first.
    pub(super) fn to_json(&self, allow_list: &[String]) -> String {
        let log = self
            .log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let allowed = allow_list.iter().map(|origin| json::string(origin));
        json::Object::new()
            .number("preflights", log.preflights)
            .number("requests", log.requests)
            .raw("allowList", &json::array(allowed))
            .raw("recent", &json::array(log.recent.iter().cloned()))
            .finish()
    }
}
