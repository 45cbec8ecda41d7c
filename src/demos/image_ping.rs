//! Image ping — work in progress.

use crate::demos::Demo;

pub const DEMO: Demo = Demo {
    name: "image-ping",
    title: "Image ping",
    summary: "(to be written)",
    chapter: "10-image-ping.md",
    page: include_str!("../../demos/image-ping.html"),
    routes: &[],
};

/// The demo's shared state (to be written).
#[derive(Default)]
pub struct State {}
