//! XHR streaming — work in progress.

use crate::demos::Demo;

pub const DEMO: Demo = Demo {
    name: "xhr-streaming",
    title: "XHR streaming",
    summary: "(to be written)",
    chapter: "05-xhr-streaming.md",
    page: include_str!("../../demos/xhr-streaming.html"),
    routes: &[],
};
