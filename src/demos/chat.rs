//! Chat: one room that every technique joins — the problem the articles start from.
//!
//! Browser A sends, the server relays, browser B sees it at once. Every chapter before this
//! one answers "how does B hear about it?" with one technique; here they all answer at once,
//! about the same room, so a learner can open one client per technique side by side and see
//! what each costs (`GET /stats`, and the `/compare.html` page).
//!
//! The relay is one event log (`hub.rs`) and many readers. A reader never asks "what is new?"
//! but "what came after id N?", N being the last id it saw: its *cursor*. Polls, reconnections
//! and held requests all carry it, so nothing published while a reader was away is lost, and
//! nothing it already had is sent twice.
//!
//! ```text
//! POST /chat/send HTTP/1.1                 HTTP/1.1 200 OK
//! Host: localhost:8088                     Content-Type: application/json
//! Content-Type: application/x-www-form-urlencoded
//! Content-Length: 19                       {"id":7}
//!
//! from=ann&text=hello
//!
//! GET /chat/poll?since=6 HTTP/1.1          HTTP/1.1 200 OK
//! Host: localhost:8088                     Content-Type: application/json
//!
//!                                          [{"id":7,"from":"ann","text":"hello","ts":1795478399000}]
//! ```
//!
//! One small file per transport, each with its route: `poll.rs` (short and long polling),
//! `stream.rs` (XHR streaming and the hidden iframe), `events.rs` (Server-Sent Events),
//! `jsonp.rs`, `socket.rs` (WebSocket); `room.rs` is the room itself (sending, cursors, the
//! gap signal) and `stats.rs` the counters.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::demos::{Demo, Setup};
use crate::handler::{Context, Reply, held_full_reason, with_state};
use crate::http::request::Request;
use crate::http::response::Response;
use crate::hub::Event;
use crate::limits::RETRY_AFTER_SECS;
use crate::room::Room;
use crate::router::Route;

mod events;
mod jsonp;
mod poll;
pub mod room;
mod socket;
mod stats;
mod stream;

// ANCHOR: chat_limits
/// Messages the chat room keeps; a reader further behind gets a gap signal, then the newest.
pub const CHAT_ROOM_CAPACITY: usize = 1000;
/// Longest message text, in UTF-8 bytes (4 KiB); longer is 400 (or an error record on a socket).
pub const MAX_CHAT_TEXT_BYTES: usize = 4 * 1024;
/// Longest sender name, in characters; longer is 400.
pub const MAX_CHAT_NAME_CHARS: usize = 32;
/// Body bytes after which an XHR or iframe stream ends and its client reconnects from its
/// cursor: the browser keeps a whole response (`responseText`, the iframe's document) in
/// memory, so a stream that never ended would grow without bound. sockjs uses 128 KiB too.
pub const CHAT_STREAM_MAX_BYTES: u64 = 128 * 1024;
// ANCHOR_END: chat_limits

/// The room's name: with `--room redis://…` its stream is `webwire:chat` (`room::stream_key`).
pub const ROOM_NAME: &str = "chat";

pub const DEMO: Demo = Demo {
    name: "chat",
    title: "Chat",
    summary: "one chat room that every technique joins, side by side; /stats and a live comparison",
    chapter: "13-chat.md",
    page: include_str!("../../demos/chat.html"),
    extra_pages: &[
        ("/compare.html", include_str!("../../demos/compare.html")),
        ("/fallback.html", include_str!("../../demos/fallback.html")),
    ],
    routes,
};

/// The routes, read like a table.
fn routes(setup: &Setup) -> Result<Vec<Route>, String> {
    let room = Room::open(
        &setup.config.room,
        ROOM_NAME,
        CHAT_ROOM_CAPACITY,
        setup.log.clone(),
        setup.trace.clone(),
    )?;
    let chat = Arc::new(State::with_room(room));
    Ok(vec![
        Route::post("/chat/send", with_state(&chat, room::send)),
        Route::get("/chat/poll", with_state(&chat, poll::poll)),
        Route::get("/chat/longpoll", with_state(&chat, poll::long_poll)),
        Route::get("/chat/stream", with_state(&chat, stream::xhr_stream)),
        Route::get("/chat/iframe", with_state(&chat, stream::iframe)),
        Route::get("/chat/events", with_state(&chat, events::events)),
        Route::get("/chat/jsonp", with_state(&chat, jsonp::jsonp)),
        Route::get("/chat/ws", with_state(&chat, socket::ws)),
        Route::get("/stats", with_state(&chat, stats::stats)),
    ])
}

// ANCHOR: transports
/// The ways a client can receive, each with its own path and its own counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Poll,
    LongPoll,
    Stream,
    Iframe,
    Events,
    Jsonp,
    Socket,
}

impl Transport {
    pub const ALL: [Transport; 7] = [
        Transport::Poll,
        Transport::LongPoll,
        Transport::Stream,
        Transport::Iframe,
        Transport::Events,
        Transport::Jsonp,
        Transport::Socket,
    ];

    /// The name `/stats` and the pages use.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Poll => "poll",
            Transport::LongPoll => "longpoll",
            Transport::Stream => "stream",
            Transport::Iframe => "iframe",
            Transport::Events => "sse",
            Transport::Jsonp => "jsonp",
            Transport::Socket => "ws",
        }
    }

    pub fn path(self) -> &'static str {
        match self {
            Transport::Poll => "/chat/poll",
            Transport::LongPoll => "/chat/longpoll",
            Transport::Stream => "/chat/stream",
            Transport::Iframe => "/chat/iframe",
            Transport::Events => "/chat/events",
            Transport::Jsonp => "/chat/jsonp",
            Transport::Socket => "/chat/ws",
        }
    }
}
// ANCHOR_END: transports

/// One transport's own counter (the server counts requests, bytes and open connections per
/// path itself). Held connections are not capped per transport: every transport takes its
/// places from the server's one `--max-held` share (`Context::hold`).
#[derive(Debug, Default)]
pub struct Tally {
    /// Messages handed to clients (a gap signal is not a message).
    delivered: AtomicU64,
    /// The newest message as this transport writes it, made once for all of its readers
    /// when the publisher writes it to them itself (`hub::Courier`).
    rendered: Mutex<Option<(u64, Arc<str>)>>,
}

impl Tally {
    fn delivered(&self, messages: usize) {
        self.delivered.fetch_add(messages as u64, Ordering::Relaxed);
    }

    /// `event` as `render` writes it, made once per event however many readers get it.
    fn rendered(&self, event: &Event, render: impl FnOnce(&Event) -> String) -> Arc<str> {
        let mut slot = self
            .rendered
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match &*slot {
            Some((id, text)) if *id == event.id => Arc::clone(text),
            _ => {
                let text: Arc<str> = render(event).into();
                *slot = Some((event.id, Arc::clone(&text)));
                text
            }
        }
    }
}

// ANCHOR: state
/// The room and its counters: one per server, captured by the chat's handlers.
pub struct State {
    /// Every message, numbered; the newest `CHAT_ROOM_CAPACITY` are kept, in memory or in
    /// Redis (`--room`). An `Arc`, because a stream's body runs after its handler has
    /// returned and must still reach it.
    pub room: Arc<Room>,
    tallies: [Arc<Tally>; 7],
}

impl Default for State {
    fn default() -> Self {
        State::with_room(Room::in_memory(CHAT_ROOM_CAPACITY))
    }
}

impl State {
    pub fn with_room(room: Room) -> State {
        State {
            room: Arc::new(room),
            tallies: Default::default(),
        }
    }

    pub fn tally(&self, transport: Transport) -> &Arc<Tally> {
        &self.tallies[transport as usize]
    }
}
// ANCHOR_END: state

/// Every held place is taken (`--max-held`): 503, readable from the other origin too.
fn full(request: &Request, context: &Context) -> Reply {
    try_again_soon(request, context, &held_full_reason(context.app))
}

/// 503 with `Retry-After`: nothing was done, and the same request may succeed in a moment
/// (RFC 9110 §15.6.4).
fn try_again_soon(request: &Request, context: &Context, reason: &str) -> Reply {
    refusal(request, context, 503, reason)
        .with_header("Retry-After", RETRY_AFTER_SECS.to_string())
        .into()
}

// ANCHOR: for_origin
/// Every chat answer may be read by a page from either demo origin (or an `--allow-origin`):
/// the page spreads its panels over both host names (see `13-chat.md`), so half of them read
/// across origins. The origin is echoed rather than `*`, and `Vary: Origin` tells caches the
/// answer depends on it (Fetch spec, "CORS protocol and HTTP caches").
fn for_origin(response: Response, request: &Request, context: &Context) -> Response {
    let response = response
        .with_header("Cache-Control", "no-store")
        .with_header("Vary", "Origin");
    match request.header("origin") {
        Some(origin) if context.origin_allowed(request, origin) => {
            response.with_header("Access-Control-Allow-Origin", origin)
        }
        _ => response,
    }
}
// ANCHOR_END: for_origin

/// JSON, never stored by a cache: a stored answer replayed for the next poll is news lost.
fn json_reply(request: &Request, context: &Context, body: String) -> Reply {
    let response = Response::new(200)
        .with_header("Content-Type", "application/json")
        .with_body(body.into_bytes());
    for_origin(response, request, context).into()
}

/// A one-line reason, readable from the other origin too.
fn refusal(request: &Request, context: &Context, status: u16, reason: &str) -> Response {
    for_origin(Response::refusal(status, reason), request, context)
}

fn refuse(request: &Request, context: &Context, status: u16, reason: &str) -> Reply {
    refusal(request, context, status, reason).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_transport_has_its_own_path_and_tally() {
        let state = State::default();
        for (i, transport) in Transport::ALL.iter().enumerate() {
            assert_eq!(*transport as usize, i);
            let config = crate::config::Config::default();
            let setup = Setup {
                config: &config,
                log: None,
                trace: None,
            };
            let routes = (DEMO.routes)(&setup).unwrap();
            assert!(routes.iter().any(|r| r.path == transport.path()));
        }
        state.tally(Transport::Socket).delivered(2);
        assert_eq!(
            state
                .tally(Transport::Poll)
                .delivered
                .load(Ordering::Relaxed),
            0
        );
    }
}
