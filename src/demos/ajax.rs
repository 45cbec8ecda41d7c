//! Ajax — work in progress.

use crate::demos::Demo;

pub const DEMO: Demo = Demo {
    name: "ajax",
    title: "Ajax",
    summary: "(to be written)",
    chapter: "02-ajax.md",
    page: include_str!("../../demos/ajax.html"),
    routes: &[],
};
