//! The techniques, one module each. Every module exports a `DEMO` that says what it is
//! called, which page and chapter belong to it, and which routes it answers — so adding a
//! technique is one new module and one line in `ALL`.

use crate::router::Handler;

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
    /// (method, path, handler), read like a table.
    pub routes: &'static [(&'static str, &'static str, Handler)],
}

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
