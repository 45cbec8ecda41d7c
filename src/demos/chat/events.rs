//! Server-Sent Events: `GET /chat/events`, read by `EventSource`.
//!
//! The stream starts with `retry:` (how long the browser waits before reconnecting: the
//! server's tick), then sends each message as an event whose `id:` is the message's id and
//! whose data is its JSON. The browser remembers the last id and, when the connection drops,
//! reconnects on its own with `Last-Event-ID: N`: the cursor, kept by the browser. A new
//! `EventSource` cannot set that header, so `?since=N` gives the first cursor; the header wins
//! when both are there. The gap signal is an event named `gap` (`addEventListener("gap")`)
//! whose id is `resume - 1`, so a reconnection after it asks from the right place. The stream
//! never ends by itself; idle for `--hold-ms`, it sends a `: keepalive` comment.

use crate::demos::sse::event;
use crate::handler::{Context, Reply};
use crate::http::request::Request;
use crate::http::response::Response;
use crate::limits::RETRY_AFTER_SECS;
use crate::random::Xorshift;

use super::room::{Batch, heartbeat_json, message_json, parse_since, wants_heartbeat};
use super::stream::Follower;
use super::{State, Transport, for_origin, refuse};

// ANCHOR: events
/// `GET /chat/events[?since=N][&heartbeat=1]`, resuming from `Last-Event-ID` when the browser sends one.
pub fn events(chat: &State, request: &Request, context: &Context) -> Reply {
    let since = match (last_event_id(request), request.query_param("since")) {
        (Some(id), _) => id,
        (None, None) => 0,
        (None, Some(since)) => match parse_since(Some(&since)) {
            Ok(since) => since,
            Err(reason) => return refuse(request, context, 400, &reason),
        },
    };
    let heartbeat = match wants_heartbeat(request) {
        Ok(heartbeat) => heartbeat,
        Err(reason) => return refuse(request, context, 400, &reason),
    };
    let head = Response::new(200).with_header("Content-Type", "text/event-stream");
    let head = for_origin(head, request, context);
    let Some(follower) = Follower::start(chat, context, Transport::Events, since) else {
        return come_back_later(head);
    };
    let retry_ms = context.app.config.tick.as_millis();
    // With `heartbeat=1`, a `heartbeat` event at once and in place of each comment: a page
    // sees events, never comments.
    let keepalive = match heartbeat {
        true => event(
            None,
            Some("heartbeat"),
            Some(&heartbeat_json(context.app.config.hold)),
        ),
        false => ": keepalive\n".to_string(),
    };
    Reply::stream(head, move |out| {
        out.send(format!("retry: {retry_ms}\n\n").as_bytes())?;
        if heartbeat {
            out.send(keepalive.as_bytes())?;
        }
        // Messages are written by the publisher while the stream sleeps: see `hub::Courier`.
        follower
            .direct(sse_events)
            .run(out, None, &keepalive, sse_events)
    })
}

// ANCHOR: come_back_later
/// The answer when every place is taken: not 503. For `EventSource`, any status but 200 (or
/// a 200 that is not `text/event-stream`) "fails the connection" for good: the browser fires
/// `error`, sets `readyState` to CLOSED and never tries again (WHATWG HTML, "Server-sent
/// events", the processing model). A 200 event stream that ends at once is the opposite: the
/// browser waits `retry:` milliseconds and reconnects by itself, with its `Last-Event-ID`. So
/// a full server says "come back in a moment" in the protocol's own words, with a random
/// part in the wait so that clients turned away together do not all return together.
fn come_back_later(head: Response) -> Reply {
    let wait_ms = RETRY_AFTER_SECS as u64 * 1000 + Xorshift::seeded().below(1000);
    let body = format!("retry: {wait_ms}\n: the server is full; come back in {wait_ms} ms\n\n");
    head.with_body(body.into_bytes()).into()
}
// ANCHOR_END: come_back_later

/// A batch as events: the gap (if any), then one event per message, ids as the cursor.
fn sse_events(batch: &Batch) -> String {
    let gap = batch
        .gap
        .map(|gap| event(Some(gap.resume - 1), Some("gap"), Some(&gap.to_json())));
    let messages = batch
        .messages
        .iter()
        .map(|m| event(Some(m.id), None, Some(&message_json(m))));
    gap.into_iter().chain(messages).collect()
}

/// `Last-Event-ID` as a cursor. It is whatever id the browser was last given, as text; one
/// that is not a whole number is ignored, as if absent: the client did nothing wrong.
fn last_event_id(request: &Request) -> Option<u64> {
    parse_since(request.header("last-event-id")).ok()
}
// ANCHOR_END: events

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demos::chat::room::Gap;
    use crate::hub::Event;

    #[test]
    fn a_gap_moves_the_browsers_last_event_id() {
        let batch = Batch {
            since: 2,
            gap: Some(Gap {
                after: 2,
                resume: 9,
            }),
            messages: vec![Event {
                id: 9,
                text: "ann\nhi".to_string(),
                ts: 5,
            }],
        };
        assert_eq!(
            sse_events(&batch),
            "id: 8\nevent: gap\ndata: {\"gap\":{\"after\":2,\"resume\":9}}\n\n\
             id: 9\ndata: {\"id\":9,\"from\":\"ann\",\"text\":\"hi\",\"ts\":5}\n\n"
        );
    }
}
