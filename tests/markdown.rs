//! The chapters' Markdown renderer (`src/site/markdown/`) against the examples of the GitHub
//! Flavored Markdown spec, for the sections whose constructs the chapters use
//! (`tests/data/markdown-examples.txt`: the spec's cases, Markdown in and HTML out).
//!
//! Every example must render exactly as the spec says, except those listed in `UNSUPPORTED`
//! with the construct they need, which the chapters do not use. The list is checked both
//! ways: an example that starts passing must come off it, so it never hides a regression.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use webwire::site::markdown::{Options, render};

struct Example {
    number: usize,
    section: String,
    markdown: String,
    html: String,
}

fn examples() -> Vec<Example> {
    let text = include_str!("data/markdown-examples.txt");
    let mut examples = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(header) = line.strip_prefix("@@@@ ") else {
            continue;
        };
        let (number, section) = header.split_once(" · ").unwrap();
        let mut markdown = String::new();
        for line in lines.by_ref() {
            if line == "@@@@ html" {
                break;
            }
            markdown.push_str(line);
            markdown.push('\n');
        }
        let mut html = String::new();
        for line in lines.by_ref() {
            if line == "@@@@ end" {
                break;
            }
            html.push_str(line);
            html.push('\n');
        }
        examples.push(Example {
            number: number.parse().unwrap(),
            section: section.to_string(),
            markdown,
            html,
        });
    }
    examples
}

/// Examples the renderer does not claim, each with what it would need. The chapters use none
/// of these constructs: `every_chapter_renders_without_leftover_link_syntax` below would see
/// a reference link left as text.
const UNSUPPORTED: &[(&str, &[usize])] = &[
    (
        "link reference definitions: [text][label], [label] and a [label]: url line",
        &[
            297, 319, 535, 536, 537, 538, 539, 540, 541, 542, 543, 544, 545, 546, 547, 548, 549,
            550, 551, 552, 553, 557, 558, 561, 562, 563, 564, 565, 566, 567, 568, 569, 570, 571,
            572, 573, 574, 575, 576, 577, 578, 579, 581, 584, 585, 590, 591, 592, 593, 594, 595,
            596, 597, 599, 600, 601,
        ],
    ),
    (
        "raw HTML: escaped as text, and HTML comments dropped, by design: no markup from the \
         Markdown reaches the page",
        &[288, 289, 317, 354, 484, 485, 486, 500, 503, 532, 663, 664],
    ),
    (
        "named entities decoded inside a link destination or title",
        &[511, 514],
    ),
    (
        "a tab inside a list item or quote, counted from the container's own column",
        &[5, 6, 7],
    ),
];

/// The reference renderer's output, compared loosely where HTML allows it: the spec's own
/// test runner normalizes white space between tags the same way.
fn normalize(html: &str) -> String {
    html.trim_end().replace(">\n<", "><")
}

#[test]
fn the_spec_examples_render_as_the_spec_says() {
    let examples = examples();
    assert!(examples.len() > 400, "{} examples read", examples.len());
    let unsupported: Vec<usize> = UNSUPPORTED
        .iter()
        .flat_map(|(_, n)| n.iter().copied())
        .collect();
    let mut failing = Vec::new();
    let mut passing_but_listed = Vec::new();
    for example in &examples {
        let got = render(&example.markdown, &Options::default()).html;
        let passes = normalize(&got) == normalize(&example.html);
        let listed = unsupported.contains(&example.number);
        if !passes && !listed {
            failing.push(format!(
                "example {} ({}):\n--- markdown\n{}--- expected\n{}--- got\n{}",
                example.number, example.section, example.markdown, example.html, got
            ));
        }
        if passes && listed {
            passing_but_listed.push(example.number);
        }
    }
    let summary: Vec<String> = failing
        .iter()
        .map(|f| f.lines().next().unwrap_or("").to_string())
        .collect();
    assert!(
        failing.is_empty(),
        "{} examples fail: {}\n\n{}",
        failing.len(),
        summary.join(", "),
        failing
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        passing_but_listed.is_empty(),
        "these now pass: take them off UNSUPPORTED: {passing_but_listed:?}"
    );
}

/// The chapters use nothing the renderer leaves as text: no link syntax survives rendering
/// outside code (a reference link or a broken inline link would).
#[test]
fn every_chapter_renders_without_leftover_link_syntax() {
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    let mut chapters: Vec<_> = std::fs::read_dir(&docs)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .collect();
    chapters.sort();
    assert!(chapters.len() >= 17);
    for path in chapters {
        let markdown = std::fs::read_to_string(&path).unwrap();
        let html = render(&markdown, &Options::default()).html;
        // Take code blocks and code spans out: link syntax in code is quoted, not used.
        let mut prose = String::new();
        let mut rest = html.as_str();
        while let Some(start) = rest.find("<code") {
            prose.push_str(&rest[..start]);
            let end = rest[start..]
                .find("</code>")
                .map_or(rest.len(), |e| start + e + 7);
            rest = &rest[end..];
        }
        prose.push_str(rest);
        for leftover in ["](", "][", "]: "] {
            assert!(
                !prose.contains(leftover),
                "{} has {leftover:?} left after rendering: {}",
                path.display(),
                prose
                    .lines()
                    .find(|line| line.contains(leftover))
                    .unwrap_or("")
            );
        }
    }
}
