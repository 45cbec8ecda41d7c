//! The chapters as a site (`src/site/`), over raw TCP: rendered chapters, the Markdown for
//! whoever asks for it, a browser sent from the `.md` to the rendered page, and the project's
//! files under `/source/`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod support;

use support::{Client, get, start};

#[test]
fn a_chapter_is_served_as_html_with_its_contents_and_neighbours() {
    let server = start();
    let reply = get(&server, "/docs/07-sse");
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let html = reply.text();
    for part in [
        "<title>07 — Server-Sent Events — webwire</title>",
        "<p class=\"try\">Try it: <a href=\"/sse.html\">the Server-Sent Events demo</a></p>",
        "<nav class=\"contents\" aria-label=\"Contents\">",
        "<h1 id=\"07--server-sent-events\">07 — Server-Sent Events</h1>",
        // A link between chapters, written `05-xhr-streaming.md` for GitHub, rewritten here.
        "<a href=\"/docs/05-xhr-streaming\">XHR streaming</a>",
        "<a rel=\"prev\" href=\"/docs/06-iframe-streaming\">",
        "<a rel=\"next\" href=\"/docs/08-cors\">",
    ] {
        assert!(html.contains(part), "{part}");
    }
    // The chapter list is the docs' README, at /docs/.
    let list = get(&server, "/docs/").text();
    assert!(
        list.contains("<a href=\"/docs/07-sse\">Server-Sent Events</a>"),
        "{list}"
    );
}

#[test]
fn a_browser_asking_for_the_markdown_is_sent_to_the_rendered_chapter() {
    let server = start();
    let mut client = Client::connect(&server);
    // What a browser sends when it follows a link.
    let reply = client.exchange(
        "GET /docs/07-sse.md HTTP/1.1\r\nHost: t\r\n\
         Accept: text/html,application/xhtml+xml,*/*;q=0.8\r\n\r\n",
    );
    assert_eq!(reply.status, 307);
    assert_eq!(reply.header("location"), Some("/docs/07-sse"));
    assert_eq!(reply.header("vary"), Some("Accept"));
    // Temporary: the Markdown is still there for others, so no browser may remember it.
    assert_eq!(reply.header("cache-control"), Some("no-cache"));
    // `curl`'s `*/*`, HTML refused with q=0, or Markdown preferred: the Markdown itself.
    for accept in [
        "*/*",
        "text/html;q=0, */*",
        "text/markdown, text/html;q=0.1",
    ] {
        let reply = client.exchange(format!(
            "GET /docs/07-sse.md HTTP/1.1\r\nHost: t\r\nAccept: {accept}\r\n\r\n"
        ));
        assert_eq!(reply.status, 200, "{accept}");
        assert_eq!(
            reply.header("content-type"),
            Some("text/markdown; charset=utf-8")
        );
        assert_eq!(reply.header("vary"), Some("Accept"));
        assert_eq!(reply.body, include_bytes!("../docs/07-sse.md"));
    }
}

#[test]
fn the_projects_files_are_readable_under_source() {
    let server = start();
    let reply = get(&server, "/source/src/ws/frame.rs");
    assert_eq!(reply.status, 200);
    let html = reply.text();
    assert!(
        html.contains("<h1><code>src/ws/frame.rs</code></h1>"),
        "{html}"
    );
    // Escaped: the code is text, never markup.
    assert!(html.contains("&lt;") && !html.contains("<u8>"), "{html}");
    let index = get(&server, "/source/").text();
    assert!(index.contains("<a href=\"/source/src/lib.rs\"><code>src/lib.rs</code></a>"));
    // Only the project's own files: nothing else on the disk is reachable.
    for path in [
        "/source/../Cargo.lock",
        "/source/target/debug/webwire",
        "/source/docs/07-sse.md",
    ] {
        assert_eq!(get(&server, path).status, 404, "{path}");
    }
}

#[test]
fn every_diagram_is_drawn_as_svg_with_its_source_kept() {
    let server = start();
    for (file, markdown) in webwire::pages::DOCS {
        let blocks = markdown.matches("```mermaid\n").count();
        let path = webwire::site::chapter_path(file);
        let html = get(&server, &path).text();
        let drawn = html
            .matches("<svg xmlns=\"http://www.w3.org/2000/svg\"")
            .count();
        assert_eq!(drawn, blocks, "{path}: {blocks} diagrams, {drawn} drawn");
        // Mermaid's line breaks are lines in the drawing, never text (the source keeps them).
        for svg in html.split("<svg ").skip(1) {
            let svg = svg.split("</svg>").next().unwrap_or("");
            assert!(!svg.contains("&lt;br"), "{path} draws a <br> as text");
        }
        assert_eq!(
            html.matches("<summary>The diagram's source (Mermaid)</summary>")
                .count(),
            blocks,
            "{path}"
        );
    }
}
