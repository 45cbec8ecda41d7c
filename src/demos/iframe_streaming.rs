//! Hidden-iframe streaming — work in progress.

use crate::demos::Demo;

pub const DEMO: Demo = Demo {
    name: "iframe-streaming",
    title: "Hidden-iframe streaming",
    summary: "(to be written)",
    chapter: "06-iframe-streaming.md",
    page: include_str!("../../demos/iframe-streaming.html"),
    routes: &[],
};
