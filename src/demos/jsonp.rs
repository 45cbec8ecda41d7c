//! JSONP — work in progress.

use crate::demos::Demo;

pub const DEMO: Demo = Demo {
    name: "jsonp",
    title: "JSONP",
    summary: "(to be written)",
    chapter: "09-jsonp.md",
    page: include_str!("../../demos/jsonp.html"),
    routes: &[],
};
