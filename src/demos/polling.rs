//! Short polling — work in progress.

use crate::demos::Demo;

pub const DEMO: Demo = Demo {
    name: "polling",
    title: "Short polling",
    summary: "(to be written)",
    chapter: "03-polling.md",
    page: include_str!("../../demos/polling.html"),
    routes: &[],
};
