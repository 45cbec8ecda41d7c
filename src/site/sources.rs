//! The project's own files, compiled in (`build.rs` lists them), for `/source/<path>`.

include!(concat!(env!("OUT_DIR"), "/sources.rs"));

/// The text of a file, by its path from the project's root (`src/ws/frame.rs`).
pub fn find(path: &str) -> Option<&'static str> {
    SOURCES
        .iter()
        .find(|(name, _)| *name == path)
        .map(|(_, text)| *text)
}
