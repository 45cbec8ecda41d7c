//! Long polling — work in progress.

use crate::demos::Demo;

pub const DEMO: Demo = Demo {
    name: "long-polling",
    title: "Long polling",
    summary: "(to be written)",
    chapter: "04-long-polling.md",
    page: include_str!("../../demos/long-polling.html"),
    routes: &[],
};

/// The demo's shared state (to be written).
#[derive(Default)]
pub struct State {}
