//! JSONP polling: a `<script>` from the other origin, asked again every `--tick-ms`.
//!
//! `GET /chat/jsonp?since=N&cb=NAME` answers `/**/NAME([records]);` — the same array as
//! `/chat/poll`, gap signal included, as a call. A script element may load from any origin,
//! which is the whole trick (and the whole risk: chapter 09). The callback name is checked
//! by the JSONP demo's own rule.

use crate::demos::jsonp::MAX_CALLBACK_LEN;
use crate::demos::jsonp::{check_callback, script};
use crate::handler::{Context, Reply};
use crate::http::request::Request;
use crate::http::response::Response;
use crate::json;

use super::room::{parse_since, read};
use super::{State, Transport, refuse};

// ANCHOR: jsonp
/// `GET /chat/jsonp?since=N&cb=NAME`: the messages after N (one batch), as a script calling NAME.
pub fn jsonp(chat: &State, request: &Request, context: &Context) -> Reply {
    let since = match parse_since(request.query_param("since").as_deref()) {
        Ok(since) => since,
        Err(reason) => return refuse(request, context, 400, &reason),
    };
    let Some(callback) = request.query_param("cb") else {
        return refuse(
            request,
            context,
            400,
            "cb is missing: ?cb=NAME names the function to call",
        );
    };
    if check_callback(&callback).is_err() {
        let reason = format!(
            "cb must be a JavaScript name, or names joined by dots (at most {MAX_CALLBACK_LEN} characters)"
        );
        return refuse(request, context, 400, &reason);
    }
    let batch = read(&chat.room, since);
    let tally = chat.tally(Transport::Jsonp);
    tally.delivered(batch.messages.len());
    let body = script(&callback, &json::array(batch.records()));
    Response::new(200)
        .with_header("Content-Type", "text/javascript; charset=utf-8")
        .with_header("Cache-Control", "no-store")
        .with_body(body.into_bytes())
        .into()
}
// ANCHOR_END: jsonp
