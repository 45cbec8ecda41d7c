//! WebSocket — work in progress.

use crate::demos::Demo;

pub const DEMO: Demo = Demo {
    name: "websocket",
    title: "WebSocket",
    summary: "(to be written)",
    chapter: "12-websocket.md",
    page: include_str!("../../demos/websocket.html"),
    routes: &[],
};
