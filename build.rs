//! Lists the project's own source files for the site's `/source/` pages, so that a chapter's
//! link to `../src/ws/frame.rs` works on the server as on GitHub. The list is written to
//! `$OUT_DIR/sources.rs` as `include_str!`s: the files are compiled into the binary, like the
//! chapters, and no request path ever reaches the filesystem.

use std::fs;
use std::path::{Path, PathBuf};

/// The folders whose files are listed, and the kinds of file that are.
const FOLDERS: &[&str] = &["src", "tests", "demos", ".ci", "docs/nginx"];
const EXTENSIONS: &[&str] = &[
    "rs", "mjs", "py", "html", "css", "txt", "toml", "json", "conf",
];
/// Scripts without an extension.
const SCRIPTS: &[&str] = &[
    "tests/run-all",
    "tests/conformance/run-autobahn",
    ".ci/run",
    "tests/measure/shared-room.sh",
];
/// Not the project's own: installed packages, lock files, and the Markdown spec's examples.
/// Files not in git but on the disk in these folders are listed too: keep them out of there.
const SKIPPED: &[&str] = &["node_modules", "package-lock.json", "tests/data"];

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    // The licences too: the source served carries its notice.
    let mut files: Vec<PathBuf> = ["Cargo.toml", "build.rs", "LICENSE-MIT", "LICENSE-APACHE"]
        .iter()
        .map(PathBuf::from)
        .collect();
    for folder in FOLDERS {
        if !holds_skipped(&root.join(folder)) {
            println!("cargo:rerun-if-changed={folder}");
        }
        collect(&root, Path::new(folder), &mut files);
    }
    // Run again when a listed file changes. A folder is watched whole (cargo looks through it
    // all) unless it holds something skipped: `tests/browser/node_modules` has thousands of
    // files, so `tests` and `tests/browser` are watched through their listed files only (a new
    // file there shows up at the next build that runs this script).
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    files.sort();
    let mut out = String::from("/// The project's source files: (path from the root, text).\n");
    out.push_str("pub const SOURCES: &[(&str, &str)] = &[\n");
    for file in &files {
        let path = file.to_string_lossy().replace('\\', "/");
        let absolute = root.join(file);
        out.push_str(&format!(
            "    ({path:?}, include_str!({:?})),\n",
            absolute.to_string_lossy()
        ));
    }
    out.push_str("];\n");
    let target = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join("sources.rs");
    // A build script fails by panicking; the message beats a later "file not found" from
    // `include!`.
    if let Err(e) = fs::write(&target, out) {
        panic!("cannot write {}: {e}", target.display());
    }
}

/// Whether a folder holds, anywhere below it, something that is skipped.
fn holds_skipped(folder: &Path) -> bool {
    let Ok(entries) = fs::read_dir(folder) else {
        return false;
    };
    entries.flatten().any(|entry| {
        let name = entry.file_name().to_string_lossy().into_owned();
        SKIPPED
            .iter()
            .any(|skip| skip.ends_with(&name) && !skip.contains('/'))
            || (entry.file_type().is_ok_and(|t| t.is_dir()) && holds_skipped(&entry.path()))
    })
}

fn collect(root: &Path, relative: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(root.join(relative)) else {
        return;
    };
    for entry in entries.flatten() {
        let path = relative.join(entry.file_name());
        let name = path.to_string_lossy().replace('\\', "/");
        if SKIPPED
            .iter()
            .any(|skip| name.ends_with(skip) || name.contains(&format!("{skip}/")))
        {
            continue;
        }
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            if !holds_skipped(&root.join(&path)) {
                println!("cargo:rerun-if-changed={name}");
            }
            collect(root, &path, files);
        } else if SCRIPTS.contains(&name.as_str())
            || path
                .extension()
                .is_some_and(|e| EXTENSIONS.contains(&e.to_string_lossy().as_ref()))
        {
            files.push(path);
        }
    }
}
