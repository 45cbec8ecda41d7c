//! Chat — work in progress.

use crate::demos::Demo;

pub const DEMO: Demo = Demo {
    name: "chat",
    title: "Chat",
    summary: "(to be written)",
    chapter: "13-chat.md",
    page: include_str!("../../demos/chat.html"),
    routes: &[],
};

/// The room's shared state (to be written).
#[derive(Default)]
pub struct State {}
