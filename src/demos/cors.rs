//! CORS — work in progress.

use crate::demos::Demo;

pub const DEMO: Demo = Demo {
    name: "cors",
    title: "CORS",
    summary: "(to be written)",
    chapter: "08-cors.md",
    page: include_str!("../../demos/cors.html"),
    routes: &[],
};
