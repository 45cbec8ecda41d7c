//! Long polling: the page asks, and the server does not answer until it has something to say.
//!
//! Short polling (chapter 03) asks every two seconds and is mostly told "nothing new". Long
//! polling turns the wait around: the page sends one request and the server *holds* it — no
//! status line, not a byte — until there is news or a hold timeout passes; then it answers and
//! the page asks again at once. Before WebSocket and `EventSource` this was how a server
//! pushed ("Comet"): it needs nothing but `XMLHttpRequest`, so it worked in every browser.
//!
//! Two versions live here. `GET /longpoll/random` is the article's: every tick the server
//! draws a digit to decide whether "the data changed", and answers when it did. It shows the
//! shape, but nothing in it says *which* news a client has already had. `GET /longpoll?since=N`
//! is the version worth copying: every event has an increasing id (the log in `hub.rs`), and
//! the page sends the last id it saw:
//!
//! ```text
//! GET /longpoll?since=3 HTTP/1.1
//! Host: localhost:8088
//!
//!                        (held until event 4 is published, or for 25 s)
//! HTTP/1.1 200 OK
//! Content-Type: application/json
//! Cache-Control: no-store
//! Access-Control-Allow-Origin: *
//! Content-Length: 44
//!
//! [{"id":4,"text":"hello","ts":1795478399000}]
//! ```
//!
//! Because the cursor travels with each request, an event published while the page was
//! between two requests is not lost: the next request finds it waiting. Each held request
//! pins a thread, so they are counted and capped, and one whose client left is let go within
//! `GONE_CHECK_INTERVAL` instead of at the end of the hold.

use std::sync::{Arc, Once, Weak};
use std::thread;
use std::time::{Duration, Instant};

use crate::clock::now_millis;
use crate::demos::{Demo, Setup};
use crate::handler::{Context, Reply, held_full_reason, with_state};
use crate::held::Places;
use crate::http::query::{self, form_value};
use crate::http::request::Request;
use crate::http::response::Response;
use crate::hub::{Event, Hub};
use crate::json::{self, Object};
use crate::limits::RETRY_AFTER_SECS;
use crate::origins::{refusal_reason, verdict};
use crate::random::Xorshift;
use crate::router::Route;

// ANCHOR: long_polling_limits
/// Events the long-poll log keeps. A client further behind than this misses the oldest.
pub const LONG_POLL_LOG_CAPACITY: usize = 256;
/// Longest event text `POST /longpoll/publish` accepts, in UTF-8 bytes. Past it: 400.
pub const MAX_EVENT_TEXT_BYTES: usize = 1024;
// ANCHOR_END: long_polling_limits

pub const DEMO: Demo = Demo {
    name: "long-polling",
    title: "Long polling",
    summary: "a request the server holds until there is news; ids so that nothing is lost",
    chapter: "04-long-polling.md",
    page: include_str!("../../demos/long-polling.html"),
    extra_pages: &[],
    routes,
};

/// The routes, read like a table.
fn routes(_: &Setup) -> Result<Vec<Route>, String> {
    let state = Arc::new(State::default());
    Ok(vec![
        Route::get("/longpoll", with_state(&state, poll)),
        Route::post("/longpoll/publish", with_state(&state, publish)),
        Route::get("/longpoll/random", with_state(&state, random)),
        Route::get("/longpoll/stats", with_state(&state, stats)),
    ])
}

/// The ticker publishes `tick 5`, `tick 10`, … : one event every this many ticks (10 s at the
/// default 2 s tick), rare enough that a held request is visibly held.
const TICKS_PER_EVENT: u64 = 5;

// ANCHOR: state
/// What the demo keeps between requests: one per server, captured by its handlers.
pub struct State {
    /// The numbered events. The ticker thread holds it weakly, so it stops with the server.
    pub hub: Arc<Hub>,
    /// Requests being held right now, both variants. Not capped here: each also holds one of
    /// the server's `--max-held` places (`Context::hold`), shared with every other demo.
    waiting: Arc<Places>,
    /// The ticker starts with the first long poll, once.
    ticker: Once,
}
// ANCHOR_END: state

impl Default for State {
    fn default() -> Self {
        State {
            hub: Arc::new(Hub::new(LONG_POLL_LOG_CAPACITY)),
            waiting: Places::new(usize::MAX),
            ticker: Once::new(),
        }
    }
}

impl State {
    /// Starts the thread that publishes `tick N` every few ticks, the first time it is called.
    /// Lazily, so a server that never serves a long poll never runs it.
    fn start_ticker(&self, tick: Duration) {
        self.ticker.call_once(|| {
            let hub = Arc::downgrade(&self.hub);
            // If the thread cannot start, the demo still works: the form publishes.
            let _ = thread::Builder::new()
                .name("longpoll-ticker".to_string())
                .spawn(move || ticker(hub, tick));
        });
    }
}

fn ticker(hub: Weak<Hub>, tick: Duration) {
    let mut ticks: u64 = 0;
    loop {
        thread::sleep(tick);
        ticks += 1;
        if ticks.is_multiple_of(TICKS_PER_EVENT) {
            let Some(hub) = hub.upgrade() else { return }; // the server is gone
            hub.publish(&format!("tick {ticks}"));
        }
    }
}

// ANCHOR: poll
/// `GET /longpoll?since=N`: the events after N at once (one batch: a reader far behind asks
/// again from its new cursor), or wait for the next one.
fn poll(state: &State, request: &Request, context: &Context) -> Reply {
    state.start_ticker(context.app.config.tick);
    let since = match parse_since(request.query_param("since").as_deref()) {
        Ok(since) => since,
        Err(reason) => return refuse(400, &reason),
    };
    // A cursor above the newest id comes from an earlier run of the server (ids start at 1
    // again after a restart): start that client over, or it would wait for ids it "has seen".
    let newest = state.hub.last_id();
    let since = if since > newest { 0 } else { since };
    let news = state.hub.after(since);
    if !news.is_empty() {
        return events_reply(&news); // no wait, so no place taken
    }
    let (Some(_place), _counted) = (context.hold(), state.waiting.take()) else {
        return too_many_waiting(context);
    };
    let deadline = Instant::now() + context.app.config.hold;
    let news = state
        .hub
        .wait_after(since, deadline, || context.client_gone());
    events_reply(&news) // `[]` after the hold: "nothing new, ask again"
}
// ANCHOR_END: poll

/// `since` is the last id the client saw: digits only (`u64::from_str` would take "+5").
fn parse_since(value: Option<&str>) -> Result<u64, String> {
    query::cursor(value, "event", "/longpoll?since=0")
}

fn events_reply(events: &[Event]) -> Reply {
    json_reply(200, json::array(events.iter().map(Event::to_json)))
}

// ANCHOR: publish
/// `POST /longpoll/publish` with a form body `text=...`: appends an event and answers it.
/// 200, not 201: an event has no URL of its own, and 201 would promise one (RFC 9110
/// §15.3.2: the new resource is named by `Location`, or else is the request's own target).
fn publish(state: &State, request: &Request, context: &Context) -> Reply {
    // A form can be posted here from any site without a preflight: the same rule as the
    // chat room's (`origins::verdict`), so a foreign page cannot publish.
    let verdict = verdict(request, &context.app.config.extra_origins);
    if let Some(reason) = refusal_reason(&verdict, "publish here") {
        return refuse(403, &reason);
    }
    let form = "application/x-www-form-urlencoded";
    // No Content-Type at all is taken as a form too: a hand-written client may leave it out.
    if request
        .media_type()
        .is_some_and(|media_type| media_type != form)
    {
        return refuse(
            415,
            "send the text as a form: Content-Type: application/x-www-form-urlencoded",
        );
    }
    let text = form_value(&request.body, "text").unwrap_or_default();
    if text.trim().is_empty() {
        return refuse(400, "text is missing or empty: send a form body text=...");
    }
    if text.len() > MAX_EVENT_TEXT_BYTES {
        let reason = format!("text is longer than {MAX_EVENT_TEXT_BYTES} bytes");
        return refuse(400, &reason);
    }
    let event = state.hub.publish(&text);
    json_reply(200, event.to_json())
}
// ANCHOR_END: publish

// ANCHOR: random
/// `GET /longpoll/random`, the article's version: hold the request and, every tick, draw a
/// digit; 0 to 5 (six chances in ten) stand for "the data changed" and end the wait. The
/// first draw comes one tick in, as with the article's `setInterval`: right after an answer,
/// nothing has changed yet.
fn random(state: &State, _: &Request, context: &Context) -> Reply {
    let (Some(_place), _counted) = (context.hold(), state.waiting.take()) else {
        return too_many_waiting(context);
    };
    let (tick, hold) = (context.app.config.tick, context.app.config.hold);
    let deadline = Instant::now() + hold;
    let mut next_check = Instant::now() + tick;
    let mut draws: Vec<u64> = Vec::new();
    let mut random = Xorshift::seeded(); // not cryptographic: see src/random.rs
    let changed = loop {
        if next_check > deadline {
            context.client_stays_until(deadline); // the rest of the hold
            break false;
        }
        if !context.client_stays_until(next_check) {
            break false; // gone: the answer below goes nowhere, and the thread is free
        }
        let draw = random.below(10); // the article's Math.floor(10 * Math.random())
        draws.push(draw);
        if draw <= 5 {
            break true;
        }
        next_check += tick;
    };
    let body = Object::new()
        .bool("changed", changed)
        .raw("draws", &json::array(draws.iter().map(u64::to_string)))
        .number("ts", now_millis())
        .finish();
    json_reply(200, body)
}
// ANCHOR_END: random

/// `GET /longpoll/stats`: how many requests are held now, the server's cap on held requests
/// (`--max-held`, shared with every demo), and the newest id.
fn stats(state: &State, _: &Request, context: &Context) -> Reply {
    let body = Object::new()
        .number("waiting", state.waiting.taken() as u64)
        .number("max_waiting", context.app.capacity.held as u64)
        .number("last_id", state.hub.last_id())
        .finish();
    json_reply(200, body)
}

// ANCHOR: json_reply
/// Every answer with data here (each 200): JSON, never stored by a cache (a stored `[]`
/// replayed for the next poll would be news lost — old IE cached identical XHR GETs), readable
/// from any origin (the data is public and no cookies are involved), so the page may poll
/// through the other host name (`localhost` ↔ `127.0.0.1`) and keep its own host's six
/// connections free.
fn json_reply(status: u16, body: String) -> Reply {
    Response::new(status)
        .with_header("Content-Type", "application/json")
        .with_header("Cache-Control", "no-store")
        .with_header("Access-Control-Allow-Origin", "*")
        .with_body(body.into_bytes())
        .into()
}
// ANCHOR_END: json_reply

// ANCHOR: refusals
/// A one-line reason, for bad input and for a full waiting room: plain text, not JSON, but
/// never stored and readable from any origin like every other answer here, so a page that
/// polls through the other host name can show why it was refused.
fn refuse(status: u16, reason: &str) -> Reply {
    refusal(status, reason).into()
}

fn refusal(status: u16, reason: &str) -> Response {
    Response::refusal(status, reason)
        .with_header("Cache-Control", "no-store")
        .with_header("Access-Control-Allow-Origin", "*")
}

fn too_many_waiting(context: &Context) -> Reply {
    refusal(503, &held_full_reason(context.app))
        .with_header("Retry-After", RETRY_AFTER_SECS.to_string())
        .into()
}
// ANCHOR_END: refusals
