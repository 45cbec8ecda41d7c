//! `webwire check` graded: every technique's rules pass against webwire and against a small
//! server written from the chapter alone, and each rule fails, alone, against that server
//! broken in exactly the way the rule forbids. A rule no server can fail would prove nothing.
//!
//! One module per technique; each holds its hand-written server (correct unless told which
//! rule to break) and its tests. `harness.rs` is what they share: a listener that parses a
//! request and hands it, with the socket, to the server under test.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed test is the point

#[path = "../support/mod.rs"]
mod support;

mod harness;

mod cors;
mod iframe_streaming;
mod image_ping;
mod jsonp;
mod long_polling;
mod polling;
mod sse;
mod websocket;
mod xhr_streaming;
