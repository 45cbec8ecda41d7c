//! The techniques, one module each. Every module exports a `DEMO` that says what it is
//! called, which pages and chapter belong to it, and how to build its routes — so adding a
//! technique is one new module and one line in `ALL`, and nothing in the core changes.

use crate::config::Config;
use crate::log::Log;
use crate::router::Route;

pub mod ajax;
pub mod chat;
pub mod cors;
pub mod iframe_streaming;
pub mod image_ping;
pub mod jsonp;
pub mod long_polling;
pub mod polling;
pub mod postmessage;
pub mod sse;
pub mod websocket;
pub mod xhr_streaming;

// ANCHOR: demo
pub struct Demo {
    /// The name on the command line (`cargo run -- polling`) and of the page (`/polling.html`).
    pub name: &'static str,
    pub title: &'static str,
    /// One line for the index page.
    pub summary: &'static str,
    /// The chapter's file in `docs/`.
    pub chapter: &'static str,
    /// The browser page, `demos/<name>.html`, compiled in.
    pub page: &'static str,
    /// Pages besides `/<name>.html`, as (path, HTML): a child frame, a second view.
    pub extra_pages: &'static [(&'static str, &'static str)],
    /// Builds the demo's routes, once, at start. Each handler captures whatever state the
    /// demo keeps, so the state lives and dies with the demo, not in the core. A demo that
    /// cannot start (the chat's Redis is unreachable) says why in one line.
    pub routes: fn(&Setup) -> Result<Vec<Route>, String>,
}

/// What a demo may use while it builds its routes: the configuration, and the server's log
/// (`None` with `--quiet`) and trace (`None` without `--trace`) for a part that runs on its
/// own, such as the follower of a room in Redis.
pub struct Setup<'a> {
    pub config: &'a Config,
    pub log: Option<Log>,
    pub trace: Option<Log>,
}
// ANCHOR_END: demo

/// Every demo that works, in the articles' teaching order.
pub const ALL: &[&Demo] = &[
    &ajax::DEMO,
    &polling::DEMO,
    &long_polling::DEMO,
    &xhr_streaming::DEMO,
    &iframe_streaming::DEMO,
    &sse::DEMO,
    &cors::DEMO,
    &jsonp::DEMO,
    &image_ping::DEMO,
    &postmessage::DEMO,
    &websocket::DEMO,
    &chat::DEMO,
];

/// The demo with this name.
pub fn find(name: &str) -> Option<&'static Demo> {
    ALL.iter().copied().find(|demo| demo.name == name)
}
