//! `GET /stats`: what each transport has cost so far, measured on the wire.
//!
//! The server counts every routed path's requests and bytes in and out, heads and framing
//! included (`traffic.rs`); the room adds how many messages each transport handed over, and
//! how many connections it holds now. Divide by the messages and you have requests per
//! message and bytes per message: what `/compare.html` shows live.

use crate::handler::{Context, Reply};
use crate::http::request::Request;
use crate::json::{self, Object};

use super::{State, Transport, json_reply};

// ANCHOR: stats
/// `GET /stats`: the room, the pace, and one object per transport.
pub fn stats(chat: &State, request: &Request, context: &Context) -> Reply {
    let app = context.app;
    let transports = Transport::ALL.iter().map(|&transport| {
        let wire = app.traffic.snapshot(transport.path());
        let tally = chat.tally(transport);
        Object::new()
            .string("name", transport.name())
            .string("path", transport.path())
            // Counted by the server: a long poll while it waits, a stream, a socket.
            .number("open", wire.open)
            .number("requests", wire.requests)
            .number("bytes_in", wire.bytes_in)
            .number("bytes_out", wire.bytes_out)
            .number(
                "delivered",
                tally.delivered.load(std::sync::atomic::Ordering::Relaxed),
            )
            .finish()
    });
    let send = app.traffic.snapshot("/chat/send");
    let body = Object::new()
        .number("last_id", chat.room.hub().last_id())
        // Where the room lives: `in memory`, or the Redis stream it shares (chapter 17).
        .string("room", &chat.room.describe())
        .number("tick_ms", app.config.tick.as_millis() as u64)
        .number("hold_ms", app.config.hold.as_millis() as u64)
        .raw(
            "send",
            &Object::new()
                .number("requests", send.requests)
                .number("bytes_in", send.bytes_in)
                .number("bytes_out", send.bytes_out)
                .finish(),
        )
        .raw("transports", &json::array(transports))
        .finish();
    json_reply(request, context, body)
}
// ANCHOR_END: stats
