//! The switch: `GET /faults` says which faults are on for the whole server, `POST /faults`
//! changes them. Every demo page has a panel that uses it (`demos/faults.js`).
//!
//! ```text
//! POST /faults HTTP/1.1                          HTTP/1.1 200 OK
//! Origin: http://localhost:8088                  Content-Type: application/json
//! Content-Type: application/x-www-form-urlencoded
//!                                                {"faults":"buffer=4k","control":true}
//! spec=buffer%3D4k
//! ```
//!
//! Switching a fault on changes the network for every client of this server, so only a page
//! of this server may do it (the one origin rule, `origins.rs`), and only when the server
//! listens on loopback alone, where every client is on this machine; `--fault-control on`
//! allows it elsewhere, `--fault-control off` nowhere. A request's own `faults=` affects only
//! that request and is always allowed.

use crate::handler::{Context, Reply};
use crate::http::query::parse_form;
use crate::http::request::Request;
use crate::http::response::Response;
use crate::json::Object;
use crate::origins::{refusal_reason, verdict};
use crate::router::Route;

use super::Faults;

/// `GET /faults` and `POST /faults`.
pub fn routes() -> Vec<Route> {
    vec![Route::get("/faults", show), Route::post("/faults", change)]
}

fn show(_request: &Request, context: &Context) -> Reply {
    answer(context)
}

// ANCHOR: change
fn change(request: &Request, context: &Context) -> Reply {
    if !context.app.fault_control {
        let reason = match context.app.config.fault_control {
            Some(false) => {
                "this server was started with --fault-control off: pages may not switch faults"
            }
            _ => {
                "faults can be switched from a page only when the server listens on loopback; \
                 start it with --fault-control on to allow it"
            }
        };
        return Response::refusal(403, reason).into();
    }
    let verdict = verdict(request, &context.app.config.extra_origins);
    if let Some(reason) = refusal_reason(&verdict, "switch this server's faults") {
        return Response::refusal(403, &reason).into();
    }
    if request.media_type().as_deref() != Some("application/x-www-form-urlencoded") {
        return Response::refusal(415, "send a form: spec=buffer%3D4k%2Cidle-cut%3D2s").into();
    }
    let Some(spec) = parse_form(&request.body)
        .into_iter()
        .find(|(name, _)| name == "spec")
        .map(|(_, spec)| spec)
    else {
        return Response::refusal(400, "the form needs spec=…, e.g. spec=buffer or spec=none")
            .into();
    };
    match Faults::parse(&spec) {
        Ok(faults) => {
            context.app.faults.set(faults);
            context
                .app
                .log(&format!("faults for the whole server are now: {faults}"));
            answer(context)
        }
        Err(reason) => Response::refusal(400, &reason).into(),
    }
}
// ANCHOR_END: change

fn answer(context: &Context) -> Reply {
    let body = Object::new()
        .string("faults", &context.app.faults.server_wide().to_string())
        .bool("control", context.app.fault_control)
        .finish();
    Response::new(200)
        .with_header("Content-Type", "application/json")
        .with_header("Cache-Control", "no-store")
        .with_body(body.into_bytes())
        .into()
}
