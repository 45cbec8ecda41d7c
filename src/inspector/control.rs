//! The inspector's routes, as the panel on every page uses them (`demos/inspector.js`):
//!
//! ```text
//! POST /inspector             opens this browser's session (or finds it again):
//!                             Set-Cookie: webwire-inspector=TOKEN; Path=/; HttpOnly; SameSite=Strict
//! GET /inspector              {"enabled":true,"open":false}
//! DELETE /inspector           ends it (the panel was closed); the cookie is expired
//! GET /inspector/feed?since=N a WebSocket: every entry after N, one text frame of JSON each,
//!                             as it is appended; {"kind":"live"} once the backlog is sent;
//!                             {"kind":"skipped","count":K} where entries were dropped
//! ```
//!
//! A page of this server only (the one origin rule, `origins.rs`), and only where the server
//! allows it (`--inspector`, or loopback alone). The feed is a WebSocket, not an event stream:
//! a browser gives each host six HTTP connections, and a panel holding one of them would
//! change what the demo beside it does; WebSockets are counted apart.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use super::{COOKIE, Session};
use crate::handler::{Context, Reply, Upgraded};
use crate::held::Place;
use crate::http::method::Method;
use crate::http::request::Request;
use crate::http::response::Response;
use crate::json::Object;
use crate::limits::THREAD_STACK_BYTES;
use crate::origins::{refusal_reason, verdict};
use crate::router::Route;
use crate::ws::connection::{Next, Sender};
use crate::ws::handshake;

/// The longest a feed sleeps before it looks whether its session still exists (and tells
/// the session it is still being read, for `SESSION_IDLE`).
const FEED_LOOK: Duration = Duration::from_secs(5);

pub fn routes() -> Vec<Route> {
    vec![
        Route::get("/inspector", show),
        Route::post("/inspector", open),
        Route::new(Method::Delete, "/inspector", close),
        Route::get("/inspector/feed", feed),
    ]
}

fn json(body: String) -> Response {
    Response::new(200)
        .with_header("Content-Type", "application/json")
        .with_header("Cache-Control", "no-store")
        .with_body(body.into_bytes())
}

fn show(request: &Request, context: &Context) -> Reply {
    let inspector = &context.app.inspector;
    let body = Object::new()
        .bool("enabled", inspector.enabled)
        .bool("open", inspector.session_of(request).is_some())
        .finish();
    json(body).into()
}

/// Why a page may not use the inspector here, if it may not.
fn refused(request: &Request, context: &Context, what: &str) -> Option<Response> {
    if !context.app.inspector.enabled {
        let reason = match context.app.config.inspector {
            Some(false) => "this server was started with --inspector off",
            _ => {
                "the inspector is on only when the server listens on loopback; start it with \
                 --inspector on to allow it"
            }
        };
        return Some(Response::refusal(403, reason));
    }
    let verdict = verdict(request, &context.app.config.extra_origins);
    refusal_reason(&verdict, what).map(|reason| Response::refusal(403, &reason))
}

// ANCHOR: open
fn open(request: &Request, context: &Context) -> Reply {
    if let Some(refusal) = refused(request, context, "open the wire inspector") {
        return refusal.into();
    }
    let session = match context.app.inspector.open(request) {
        Ok(session) => session,
        Err(e) => {
            let reason = format!("no random token could be made: {e}");
            return Response::refusal(500, &reason).into();
        }
    };
    // HttpOnly: no script needs it, the browser sends it. (The panel shows it in the heads
    // it lists, to this same browser: a page's script could open the feed itself anyway.)
    // SameSite=Strict: another site's page cannot make this browser's requests carry it
    // (the SameSite attribute, RFC 6265bis).
    let cookie = format!(
        "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict",
        session.token
    );
    let body = Object::new()
        .bool("open", true)
        .number("last", session.log.last_id())
        .finish();
    json(body).with_header("Set-Cookie", cookie).into()
}
// ANCHOR_END: open

fn close(request: &Request, context: &Context) -> Reply {
    if let Some(refusal) = refused(request, context, "close the wire inspector") {
        return refusal.into();
    }
    context.app.inspector.close(request);
    Response::new(204)
        .with_header(
            "Set-Cookie",
            format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
        )
        .into()
}

// ANCHOR: feed
/// `GET /inspector/feed?since=N`: the session's entries after N, then each as it comes.
fn feed(request: &Request, context: &Context) -> Reply {
    if let Some(refusal) = refused(request, context, "read the wire inspector's feed") {
        return refusal.into();
    }
    let Some(session) = context.app.inspector.session_of(request) else {
        return Response::refusal(
            403,
            "no inspector session for this browser: POST /inspector first (the panel does)",
        )
        .into();
    };
    let since = match request.query_param("since").map(|s| s.parse::<u64>()) {
        None => 0,
        Some(Ok(since)) => since,
        Some(Err(_)) => {
            return Response::refusal(400, "since must be an entry number, e.g. since=0").into();
        }
    };
    let accepted = match handshake::check(request, &context.app.config.extra_origins, &[]) {
        Ok(accepted) => accepted,
        Err(refusal) => return refusal.into(),
    };
    // Two held places: one for the connection, one for the writer thread.
    let (Some(place), Some(writer_place)) = (context.hold(), context.hold()) else {
        return Response::refusal(503, &crate::handler::held_full_reason(context.app))
            .with_header("Retry-After", crate::limits::RETRY_AFTER_SECS.to_string())
            .into();
    };
    Reply::upgrade(handshake::switching_protocols(&accepted), move |upgraded| {
        talk(upgraded, &session, since, [place, writer_place]);
    })
}

/// A reader for the browser's frames (a close, a ping), and a writer for the entries.
fn talk(upgraded: Upgraded, session: &Arc<Session>, since: u64, _places: [Place; 2]) {
    let app = upgraded.app;
    let writer_seat = upgraded.second_thread();
    let Ok(connection) = upgraded.websocket() else {
        return;
    };
    let sender = connection.sender();
    let ended = AtomicBool::new(false);
    thread::scope(|scope| {
        let writer = writer_seat.as_ref().and_then(|_| {
            thread::Builder::new()
                .name("inspector-feed".to_string())
                .stack_size(THREAD_STACK_BYTES)
                .spawn_scoped(scope, || {
                    let still_open = || app.inspector.is_open(&session.token);
                    push(session, since, &sender, &ended, still_open);
                })
                .ok()
        });
        if writer.is_none() {
            // 1013 Try Again Later (RFC 6455 §7.4.1 registry): the machine's thread limit.
            let _ = sender.close(Some(1013), "the server could not start a writer");
        }
        connection.run(|_, _| Ok(Next::Continue)); // the browser has nothing to say
        ended.store(true, Ordering::SeqCst);
        if let Some(writer) = &writer {
            writer.thread().unpark();
        }
    });
}

/// The writer: the entries after `since`, then each new one, until the connection ends or
/// the session does.
fn push(
    session: &Session,
    since: u64,
    sender: &Sender,
    ended: &AtomicBool,
    still_open: impl Fn() -> bool,
) {
    let waiter = session.log.waiter();
    // A cursor past the log's end is from an older log (the server restarted, or the session
    // was replaced): everything here is new to it.
    let mut cursor = match since > session.log.last_id() {
        true => 0,
        false => since,
    };
    let mut live = false;
    while !ended.load(Ordering::SeqCst) {
        session.touch();
        if !live && cursor >= session.log.last_id() {
            // The backlog is sent: what follows happens now.
            let said = Object::new()
                .string("kind", "live")
                .number("seq", cursor)
                .finish();
            if sender.text(&said).is_err() {
                return;
            }
            live = true;
        }
        let deadline = Instant::now() + FEED_LOOK;
        let (from, entries) = waiter.wait_after(cursor, deadline, || ended.load(Ordering::SeqCst));
        if !still_open() {
            let _ = sender.close(Some(1000), "the inspector was closed");
            return;
        }
        // The log keeps `MAX_ENTRIES`: a feed further behind is told what it missed.
        if let Some(first) = entries.first()
            && first.id > from + 1
        {
            let skipped = Object::new()
                .string("kind", "skipped")
                .number("count", first.id - from - 1)
                .number("seq", first.id - 1)
                .finish();
            if sender.text(&skipped).is_err() {
                return;
            }
        }
        for entry in &entries {
            // `{"conn":…}` becomes `{"seq":12,"conn":…}`.
            let text = format!("{{\"seq\":{},{}", entry.id, &entry.text[1..]);
            if sender.text(&text).is_err() {
                return;
            }
            cursor = entry.id;
        }
        cursor = cursor.max(from);
    }
}
// ANCHOR_END: feed
