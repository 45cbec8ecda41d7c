//! Streams: one response that never ends, a piece per batch of messages. The body of every
//! chat stream — XHR streaming and the hidden iframe here, Server-Sent Events in `events.rs`
//! — is `Follower::run`: wait on the room, write what came, move the cursor, repeat.
//!
//! `GET /chat/stream?since=N` is XHR streaming: one JSON record per line (NDJSON), a blank
//! line as a keepalive when idle for `--hold-ms`. The page reads `responseText` as it grows,
//! from where it stopped last time. `GET /chat/iframe?since=N[&target=ORIGIN]` is the forever
//! frame: an HTML document with one `<script>parent.chatRecord({…})</script>` per record, or
//! `parent.postMessage({…}, ORIGIN)` when the iframe is on the page's other origin. Both end
//! after `CHAT_STREAM_MAX_BYTES`, because the browser keeps the whole response in memory;
//! the page then reconnects from its cursor, losing nothing.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::demos::chat::CHAT_STREAM_MAX_BYTES;
use crate::handler::{Context, Reply};
use crate::http::body::{BodyCourier, BodyWriter};
use crate::http::request::Request;
use crate::http::response::Response;
use crate::hub::{Courier, Event};
use crate::net::{ClientWatch, Taken};
use crate::room::Room;

use super::room::{Batch, heartbeat_json, parse_since, wait, wants_heartbeat};
use super::{State, Tally, Transport, for_origin, full, refuse};
use crate::held::Place;

// ANCHOR: follower
/// A stream's reader in the room: where it is, and how to tell it has gone.
pub(super) struct Follower {
    room: Arc<Room>,
    cursor: u64,
    /// A watch on the connection's socket, to notice the client leaving while we wait.
    client: ClientWatch,
    hold: Duration,
    tally: Arc<Tally>,
    /// Held for as long as the stream runs.
    _place: Place,
    /// How the publisher writes a message itself, if it may (`direct`).
    direct: Option<fn(&Batch) -> String>,
}

impl Follower {
    /// A follower starting after `since`, or `None` when every held place is taken.
    pub(super) fn start(
        chat: &State,
        context: &Context,
        transport: Transport,
        since: u64,
    ) -> Option<Follower> {
        let place = context.hold()?;
        let tally = Arc::clone(chat.tally(transport));
        let client = context.watch();
        Some(Follower {
            room: Arc::clone(&chat.room),
            cursor: since,
            client,
            hold: context.app.config.hold,
            tally,
            _place: place,
            direct: None,
        })
    }

    /// Lets the room's publisher write messages to this stream while it sleeps, each made by
    /// `render` (which must make the same piece `run`'s own `render` would).
    pub(super) fn direct(mut self, render: fn(&Batch) -> String) -> Follower {
        self.direct = Some(render);
        self
    }

    /// Sends each batch as `render` writes it, one chunk per batch, as soon as it is
    /// published (the room wakes us, or, after `direct`, writes it for us while we sleep).
    /// Idle for `hold`, it
    /// sends `keepalive`, so proxies see a live connection. Returns when the client has gone
    /// or a write failed (an error), or once `limit` body bytes are out (done).
    pub(super) fn run(
        mut self,
        out: &mut BodyWriter,
        limit: Option<u64>,
        keepalive: &str,
        render: impl Fn(&Batch) -> String,
    ) -> io::Result<()> {
        // On the room's list for as long as the stream runs.
        let waiter = match (limit, out.courier(), self.direct) {
            (None, Some(body), Some(render)) => {
                self.room.hub().waiter_with(Arc::new(StreamCourier {
                    body,
                    tally: Arc::clone(&self.tally),
                    render,
                }))
            }
            _ => self.room.hub().waiter(),
        };
        loop {
            let deadline = Instant::now() + self.hold;
            let batch = wait(&self.room, Some(&waiter), self.cursor, deadline, || {
                self.client.client_gone()
            });
            out.catch_up()?; // what the publisher began and the socket did not take at once
            self.cursor = batch.cursor();
            if batch.is_empty() {
                if self.client.client_gone() {
                    return Err(io::Error::other("client gone"));
                }
                if Instant::now() >= deadline {
                    out.send(keepalive.as_bytes())?;
                }
                continue;
            }
            out.send(render(&batch).as_bytes())?;
            self.tally.delivered(batch.messages.len());
            if limit.is_some_and(|limit| out.bytes >= limit) {
                return Ok(());
            }
        }
    }
}
// ANCHOR_END: follower

// ANCHOR: stream_courier
/// Writes a message to a sleeping stream from the thread that adds it to the room (a
/// sender's, or with Redis the room's follower; `hub::Courier`): the piece its own thread
/// would have sent, made once for every stream of the transport.
struct StreamCourier {
    body: Arc<BodyCourier>,
    tally: Arc<Tally>,
    render: fn(&Batch) -> String,
}

impl Courier for StreamCourier {
    fn deliver(&self, event: &Event) -> Taken {
        let piece = self
            .tally
            .rendered(event, |event| (self.render)(&Batch::of_one(event)));
        let taken = self.body.send_briefly(piece.as_bytes());
        if taken != Taken::Nothing {
            self.tally.delivered(1);
        }
        taken
    }
}
// ANCHOR_END: stream_courier

// ANCHOR: xhr_stream
/// `GET /chat/stream?since=N[&heartbeat=1]`: one JSON record per line, for as long as the
/// client stays.
pub fn xhr_stream(chat: &State, request: &Request, context: &Context) -> Reply {
    let since = match parse_since(request.query_param("since").as_deref()) {
        Ok(since) => since,
        Err(reason) => return refuse(request, context, 400, &reason),
    };
    let heartbeat = match wants_heartbeat(request) {
        Ok(heartbeat) => heartbeat,
        Err(reason) => return refuse(request, context, 400, &reason),
    };
    let Some(follower) = Follower::start(chat, context, Transport::Stream, since) else {
        return full(request, context);
    };
    // NDJSON has no registered media type; `nosniff` (on every answer) lets Chromium hand
    // over each piece at once instead of buffering to sniff it (chapter 05).
    let head = Response::new(200).with_header("Content-Type", "application/x-ndjson");
    let head = for_origin(head, request, context);
    let lines = |batch: &Batch| batch.records().iter().map(|r| format!("{r}\n")).collect();
    // With `heartbeat=1`, a heartbeat line at once and in place of each blank keepalive.
    let keepalive = match heartbeat {
        true => format!("{}\n", heartbeat_json(context.app.config.hold)),
        false => "\n".to_string(),
    };
    Reply::stream(head, move |out| {
        if heartbeat {
            out.send(keepalive.as_bytes())?;
        }
        follower.run(out, Some(CHAT_STREAM_MAX_BYTES), &keepalive, lines)
    })
}
// ANCHOR_END: xhr_stream

// ANCHOR: iframe
/// `GET /chat/iframe?since=N[&target=ORIGIN]`: a document sent one script block per record.
pub fn iframe(chat: &State, request: &Request, context: &Context) -> Reply {
    let since = match parse_since(request.query_param("since").as_deref()) {
        Ok(since) => since,
        Err(reason) => return refuse(request, context, 400, &reason),
    };
    // The scripts call into the parent page directly, which only works within one origin;
    // from the other origin they post each record to it instead. The target must be a demo
    // origin: any other would let any site frame this and have the room posted to itself.
    let target = request.query_param("target");
    if let Some(origin) = &target
        && !context.origin_allowed(request, origin)
    {
        let reason = "target must be one of this server's origins, e.g. http://localhost:PORT";
        return refuse(request, context, 400, reason);
    }
    let Some(follower) = Follower::start(chat, context, Transport::Iframe, since) else {
        return full(request, context);
    };
    let head = Response::new(200).with_header("Content-Type", "text/html; charset=utf-8");
    let head = for_origin(head, request, context);
    Reply::stream(head, move |out| {
        out.send(b"<!doctype html>\n<meta charset=\"utf-8\"><title>/chat/iframe</title>\n")?;
        let scripts = |batch: &Batch| {
            let records = batch.records();
            records
                .iter()
                .map(|r| script_block(r, target.as_deref()))
                .collect()
        };
        follower.run(out, Some(CHAT_STREAM_MAX_BYTES), "\n", scripts)?;
        out.send(b"</html>\n") // the iframe fires `load`: the page reconnects
    })
}

/// One record as one script block. The record is JSON built by `json::Object`, whose strings
/// escape every `<` (so no `</script>` can end the block early) and U+2028/U+2029; the
/// target is escaped the same way. JSON is a JavaScript expression: an object literal.
fn script_block(record: &str, target: Option<&str>) -> String {
    match target {
        None => format!("<script>parent.chatRecord({record})</script>\n"),
        Some(origin) => {
            let origin = crate::json::string(origin);
            format!("<script>parent.postMessage({record}, {origin})</script>\n")
        }
    }
}
// ANCHOR_END: iframe

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_blocks_call_the_parent_or_post_to_it() {
        let record = r#"{"id":1,"text":"\u003c/script>"}"#;
        assert_eq!(
            script_block(record, None),
            "<script>parent.chatRecord({\"id\":1,\"text\":\"\\u003c/script>\"})</script>\n"
        );
        assert_eq!(
            script_block("{}", Some("http://localhost:8088")),
            "<script>parent.postMessage({}, \"http://localhost:8088\")</script>\n"
        );
    }
}
