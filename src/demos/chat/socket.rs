//! WebSocket: `GET /chat/ws[?since=N][&from=NAME]`, both directions on one connection.
//! Without `since` it starts from now: the next message is the first it gets.
//!
//! After the 101, every record (messages, and the gap signal) arrives as one text frame of
//! JSON, and every text frame the client sends is published in the room as a message from
//! NAME. A frame that cannot be a message (empty, too long, binary) is answered with
//! `{"error":"…"}` and the socket stays open. Two threads share the connection: this one
//! reads frames (`Connection::run`), a second one waits on the room and writes; the codec's
//! `Sender` writes each frame whole, so their frames never interleave. When the reading ends,
//! a flag tells the writer and an unpark wakes it from its wait on the room; the scope joins
//! it before the connection's thread moves on.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::handler::{Context, Reply, Upgraded};
use crate::http::request::Request;
use crate::json::Object;
use crate::limits::THREAD_STACK_BYTES;
use crate::ws::connection::{Message, Next, Sender};
use crate::ws::handshake;

use super::room::{
    check_name, check_text, heartbeat_json, message_json, parse_since, publish, wait,
    wants_heartbeat,
};
use super::{State, Tally, Transport, full, refuse};
use crate::held::Place;
use crate::hub::{Courier, Event};
use crate::net::Taken;
use crate::room::Room;

// ANCHOR: ws
/// `GET /chat/ws[?since=N][&from=NAME][&heartbeat=1]`: the handshake, then the room both ways.
pub fn ws(chat: &State, request: &Request, context: &Context) -> Reply {
    // No cursor: a plain `new WebSocket("/chat/ws")` starts from now, with the next message;
    // `since=N` resumes after N.
    let since = match request.query_param("since") {
        None => chat.room.newest(),
        Some(since) => match parse_since(Some(&since)) {
            Ok(since) => since,
            Err(reason) => return refuse(request, context, 400, &reason),
        },
    };
    let from = match check_name(request.query_param("from").as_deref()) {
        Ok(from) => from,
        Err(reason) => return refuse(request, context, 400, &reason),
    };
    // `heartbeat=1`: a heartbeat record at once, and after every `--hold-ms` of quiet.
    let heartbeat = match wants_heartbeat(request) {
        Ok(true) => Some(heartbeat_json(context.app.config.hold)),
        Ok(false) => None,
        Err(reason) => return refuse(request, context, 400, &reason),
    };
    let accepted = match handshake::check(request, &context.app.config.extra_origins, &[]) {
        Ok(accepted) => accepted,
        Err(refusal) => return refusal.into(),
    };
    let tally = Arc::clone(chat.tally(Transport::Socket));
    // Two held places: one for the connection, one for the writer thread it will start.
    let (Some(place), Some(writer_place)) = (context.hold(), context.hold()) else {
        return full(request, context);
    };
    let room = Arc::clone(&chat.room);
    Reply::upgrade(handshake::switching_protocols(&accepted), move |upgraded| {
        let reader = Reader { since, heartbeat };
        talk(
            upgraded,
            &room,
            &tally,
            &reader,
            &from,
            [place, writer_place],
        );
    })
}

/// Where the socket's reader starts, and the heartbeat it asked for, if any.
struct Reader {
    since: u64,
    heartbeat: Option<String>,
}

fn talk(
    upgraded: Upgraded,
    room: &Room,
    tally: &Arc<Tally>,
    reader: &Reader,
    from: &str,
    _places: [Place; 2],
) {
    let hold = upgraded.app.config.hold;
    // The writer's thread takes a seat like a connection: threads are what run out.
    let writer_seat = upgraded.second_thread();
    let Ok(connection) = upgraded.websocket() else {
        return; // the socket failed before the first frame
    };
    let sender = connection.sender();
    let ended = AtomicBool::new(false);
    thread::scope(|scope| {
        // No seat, or no thread: the writer is `None`, and the socket says so and closes.
        let writer = writer_seat.as_ref().and_then(|_| {
            thread::Builder::new()
                .name("chat-ws-writer".to_string())
                .stack_size(THREAD_STACK_BYTES)
                .spawn_scoped(scope, || push(room, tally, hold, reader, &sender, &ended))
                .ok()
        });
        if writer.is_none() {
            // 1013 Try Again Later (RFC 6455 §7.4.1 registry): the machine's thread limit.
            let _ = sender.close(
                Some(1013),
                "the server could not start a writer; try again later",
            );
        }
        connection.run(|sender, message| {
            let reply = match message {
                Message::Text(text) => match check_text(&text) {
                    Ok(()) => match publish(room, from, &text) {
                        // It comes back like any other message.
                        Ok(_) => return Ok(Next::Continue),
                        // The room's Redis could not take it: an error record, as for a text
                        // the room refuses, whose reason says whether it may still appear.
                        Err(unavailable) => unavailable.reason().to_string(),
                    },
                    Err(reason) => reason,
                },
                Message::Binary(_) => "send text frames: a binary frame is not a message".into(),
            };
            sender.text(&Object::new().string("error", &reply).finish())?;
            Ok(Next::Continue)
        });
        // Tell the writer, and wake it: it may be asleep waiting on the room.
        ended.store(true, Ordering::SeqCst);
        if let Some(writer) = &writer {
            writer.thread().unpark();
        }
    });
}

/// The writer: every record after the cursor, as a text frame, until the connection ends.
fn push(
    room: &Room,
    tally: &Arc<Tally>,
    hold: Duration,
    reader: &Reader,
    sender: &Sender,
    ended: &AtomicBool,
) {
    let mut cursor = reader.since;
    if let Some(heartbeat) = &reader.heartbeat
        && sender.text(heartbeat).is_err()
    {
        return;
    }
    // On the room's list until the connection ends; the publisher writes to the socket
    // itself while this thread sleeps (`hub::Courier`).
    let courier = SocketCourier {
        sender: sender.clone(),
        tally: Arc::clone(tally),
    };
    let waiter = room.hub().waiter_with(Arc::new(courier));
    while !ended.load(Ordering::SeqCst) {
        let deadline = Instant::now() + hold;
        let batch = wait(room, Some(&waiter), cursor, deadline, || {
            ended.load(Ordering::SeqCst)
        });
        if sender.catch_up().is_err() {
            return; // a frame the publisher began could not be finished: cut
        }
        if let Some(heartbeat) = &reader.heartbeat
            && batch.is_empty()
            && Instant::now() >= deadline
            && sender.text(heartbeat).is_err()
        {
            return;
        }
        for record in batch.records() {
            if sender.text(&record).is_err() {
                return; // gone, or closing: the reader ends the connection
            }
        }
        tally.delivered(batch.messages.len());
        cursor = batch.cursor();
    }
}
// ANCHOR_END: ws

/// Writes a message to the socket from the thread that adds it to the room (a sender's, or
/// with Redis the room's follower) while the writer sleeps.
struct SocketCourier {
    sender: Sender,
    tally: Arc<Tally>,
}

impl Courier for SocketCourier {
    fn deliver(&self, event: &Event) -> Taken {
        let text = self.tally.rendered(event, message_json);
        let taken = self.sender.text_briefly(&text);
        if taken != Taken::Nothing {
            self.tally.delivered(1);
        }
        taken
    }
}
