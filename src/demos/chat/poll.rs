//! Short and long polling: one request, one JSON array of records, then ask again.
//!
//! `GET /chat/poll?since=N` answers at once — often `[]`; the page asks again every
//! `--tick-ms` (2 s). `GET /chat/longpoll?since=N` answers at once if there is news, or else
//! holds the request until a message is published (the room wakes it) or `--hold-ms` (25 s)
//! passes, then answers `[]`; the page asks again at once. The gap signal is the array's
//! first record: `[{"gap":{"after":3,"resume":1204}},{"id":1204,…},…]`.

use std::time::Instant;

use crate::handler::{Context, Reply};
use crate::http::request::Request;
use crate::json;

use super::room::{Batch, parse_since, read, wait};
use super::{State, Transport, full, json_reply, refuse};

// ANCHOR: poll
/// `GET /chat/poll?since=N`: the messages after N, now: at most one batch (`hub.rs`); the
/// client asks again at once from its new cursor when the answer had any.
pub fn poll(chat: &State, request: &Request, context: &Context) -> Reply {
    let since = match parse_since(request.query_param("since").as_deref()) {
        Ok(since) => since,
        Err(reason) => return refuse(request, context, 400, &reason),
    };
    let batch = read(&chat.room, since);
    answer(chat, request, context, Transport::Poll, &batch)
}

/// `GET /chat/longpoll?since=N`: the same, but an empty answer waits for the next message.
pub fn long_poll(chat: &State, request: &Request, context: &Context) -> Reply {
    let since = match parse_since(request.query_param("since").as_deref()) {
        Ok(since) => since,
        Err(reason) => return refuse(request, context, 400, &reason),
    };
    let batch = read(&chat.room, since);
    if !batch.is_empty() {
        return answer(chat, request, context, Transport::LongPoll, &batch); // no wait, no place
    }
    let Some(_place) = context.hold() else {
        return full(request, context);
    };
    let deadline = Instant::now() + context.app.config.hold;
    let waiter = chat.room.hub().waiter();
    let batch = wait(&chat.room, Some(&waiter), since, deadline, || {
        context.client_gone()
    });
    answer(chat, request, context, Transport::LongPoll, &batch) // `[]` after the hold
}
// ANCHOR_END: poll

fn answer(
    chat: &State,
    request: &Request,
    context: &Context,
    transport: Transport,
    batch: &Batch,
) -> Reply {
    chat.tally(transport).delivered(batch.messages.len());
    json_reply(request, context, json::array(batch.records()))
}
