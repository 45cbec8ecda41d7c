//! The docs quote code; this keeps every quote true.
//!
//! In a chapter, a fenced code block right after a line
//! `<!-- excerpt: src/limits.rs limits -->` must equal the region of `src/limits.rs` between
//! the lines `// ANCHOR: limits` and `// ANCHOR_END: limits` (or `<!-- ANCHOR: limits -->` in
//! HTML; other ANCHOR lines inside are
//! left out, and the common indentation is removed). Change the code, and this test names
//! every chapter that now quotes it wrongly.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::fs;
use std::path::Path;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The lines of `path` between the markers of `anchor`, dedented.
fn region(path: &str, anchor: &str) -> Result<String, String> {
    let text =
        fs::read_to_string(Path::new(ROOT).join(path)).map_err(|e| format!("{path}: {e}"))?;
    let start = format!("ANCHOR: {anchor}");
    let end = format!("ANCHOR_END: {anchor}");
    let lines: Vec<&str> = text.lines().collect();
    // A marker line ends in the marker, or in the marker and `-->` (in HTML).
    let marks = |line: &str, marker: &str| {
        let line = line.trim_end();
        let line = line.strip_suffix("-->").unwrap_or(line).trim_end();
        line.ends_with(marker)
    };
    let first = lines
        .iter()
        .position(|l| marks(l, &start))
        .ok_or_else(|| format!("{path}: no `{start}`"))?;
    let last = lines
        .iter()
        .position(|l| marks(l, &end))
        .ok_or_else(|| format!("{path}: no `{end}`"))?;
    let body: Vec<&str> = lines[first + 1..last]
        .iter()
        .copied()
        .filter(|l| !l.contains("ANCHOR: ") && !l.contains("ANCHOR_END: "))
        .collect();
    let indent = body
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    Ok(body
        .iter()
        .map(|l| l.get(indent..).unwrap_or("").trim_end())
        .collect::<Vec<_>>()
        .join("\n"))
}

/// Every (chapter, source, anchor, quoted text) in `docs/`.
fn excerpts() -> Vec<(String, String, String, String)> {
    let mut found = Vec::new();
    let mut chapters: Vec<_> = fs::read_dir(Path::new(ROOT).join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    chapters.sort();
    for chapter in chapters {
        let name = chapter.file_name().unwrap().to_string_lossy().into_owned();
        let text = fs::read_to_string(&chapter).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let Some(spec) = line
                .trim()
                .strip_prefix("<!-- excerpt:")
                .and_then(|s| s.strip_suffix("-->"))
            else {
                continue;
            };
            let mut words = spec.split_whitespace();
            let (Some(source), Some(anchor)) = (words.next(), words.next()) else {
                panic!("{name}:{}: write <!-- excerpt: PATH ANCHOR -->", i + 1);
            };
            assert!(
                lines.get(i + 1).is_some_and(|l| l.starts_with("```")),
                "{name}:{}: the excerpt marker must sit right above a ``` block",
                i + 1
            );
            let quoted: Vec<&str> = lines[i + 2..]
                .iter()
                .copied()
                .take_while(|l| !l.starts_with("```"))
                .map(str::trim_end)
                .collect();
            found.push((
                name.clone(),
                source.to_string(),
                anchor.to_string(),
                quoted.join("\n"),
            ));
        }
    }
    found
}

#[test]
fn every_excerpt_in_the_docs_matches_its_source() {
    let excerpts = excerpts();
    assert!(
        excerpts.len() > 50,
        "the excerpt markers are not being found"
    );
    let mut wrong = Vec::new();
    for (chapter, source, anchor, quoted) in excerpts {
        match region(&source, &anchor) {
            Ok(actual) if actual == quoted => {}
            Ok(actual) => wrong.push(format!(
                "{chapter} quotes {source} `{anchor}` wrongly; it is now:\n{actual}\n"
            )),
            Err(e) => wrong.push(format!("{chapter}: {e}")),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn chapter_links_point_at_files_that_exist() {
    // Relative links between chapters, such as (01-http-by-hand.md) or (../src/server.rs).
    let docs = Path::new(ROOT).join("docs");
    for entry in fs::read_dir(&docs).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "md") {
            continue; // docs/img holds the figures the chapters show
        }
        let text = fs::read_to_string(&path).unwrap();
        for target in text
            .split("](")
            .skip(1)
            .filter_map(|rest| rest.split(')').next())
        {
            let file = target.split('#').next().unwrap_or("");
            if file.is_empty() || file.contains("://") || file.starts_with('/') {
                continue; // an anchor, a web address, or a path on the running server
            }
            assert!(
                docs.join(file).exists(),
                "{} links to {target}, which does not exist",
                path.display()
            );
        }
    }
}

/// `docs/reference.md` is the page a client author reads for every route: a route added to a
/// demo, or a page to the server, without a line there fails here. Each path must appear in
/// backticks, as the page writes them; the project's files are one pattern, `/source/<path>`.
#[test]
fn the_reference_names_every_route_the_server_has() {
    let reference = fs::read_to_string(Path::new(ROOT).join("docs/reference.md")).unwrap();
    let mut missing: Vec<String> = Vec::new();
    let mut check = |path: &str| {
        let shown = if path.starts_with("/source/") && path != "/source/" {
            "/source/<path>".to_string()
        } else {
            path.to_string()
        };
        if !reference.contains(&format!("`{shown}`")) && !missing.contains(&shown) {
            missing.push(shown);
        }
    };
    let config = webwire::config::Config::default();
    let setup = webwire::demos::Setup {
        config: &config,
        log: None,
        trace: None,
    };
    for demo in webwire::demos::ALL {
        for route in (demo.routes)(&setup).expect("an in-memory room always starts") {
            check(&route.path);
        }
    }
    for page in webwire::pages::build(webwire::demos::ALL) {
        check(&page.path);
    }
    assert!(
        missing.is_empty(),
        "docs/reference.md does not name: {missing:?}"
    );
}
