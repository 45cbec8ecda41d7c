//! postMessage — work in progress.

use crate::demos::Demo;

pub const DEMO: Demo = Demo {
    name: "postmessage",
    title: "postMessage",
    summary: "(to be written)",
    chapter: "11-postmessage.md",
    page: include_str!("../../demos/postmessage.html"),
    routes: &[],
};
