//! Server-Sent Events — work in progress.

use crate::demos::Demo;

pub const DEMO: Demo = Demo {
    name: "sse",
    title: "Server-Sent Events",
    summary: "(to be written)",
    chapter: "07-sse.md",
    page: include_str!("../../demos/sse.html"),
    routes: &[],
};
