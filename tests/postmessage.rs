//! postMessage (`docs/11-postmessage.md`) over raw TCP. The messages themselves never reach
//! the server: they go from window to window inside the browser. What the server does is serve
//! the two pages, the parent at `/postmessage.html` and the child frame at
//! `/postmessage-child.html`, whole, with an ETag, and the same to both origins.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod support;

use support::{Client, get, head, start, start_custom, test_config};

const PARENT: &str = include_str!("../demos/postmessage.html");
const CHILD: &str = include_str!("../demos/postmessage-child.html");

/// A server with the postmessage demo alone, as `cargo run -- postmessage` starts it.
fn postmessage_server() -> webwire::Running {
    let mut config = test_config();
    config.demo = Some("postmessage".to_string());
    start_custom(config, Vec::new())
}

/// The page's ETag worked out here, independently: the first 16 hex digits of its SHA-1.
fn etag_of(page: &str) -> String {
    let digest = sha1_smol::Sha1::from(page).digest().to_string();
    format!("\"{}\"", &digest[..16])
}

/// The head of a page sent whole.
fn page_head(page: &str) -> String {
    head(
        "HTTP/1.1 200 OK",
        &[
            ("ETag", &etag_of(page)),
            ("Cache-Control", "no-cache"),
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", &page.len().to_string()),
        ],
    )
}

#[test]
fn the_parent_page_is_served_whole() {
    for server in [postmessage_server(), start()] {
        let reply = get(&server, "/postmessage.html");
        assert_eq!(reply.head_without_date(), page_head(PARENT));
        assert_eq!(reply.text(), PARENT);
    }
}

#[test]
fn the_child_page_is_served_whole() {
    for server in [postmessage_server(), start()] {
        let reply = get(&server, "/postmessage-child.html");
        assert_eq!(reply.head_without_date(), page_head(CHILD));
        assert_eq!(reply.text(), CHILD);
    }
}

#[test]
fn both_origins_get_the_same_bytes() {
    // Each page works out in the browser which origin it is on; the server does not look at
    // Host or at who asks. The frame's request as Chromium sends it, from either origin:
    let server = postmessage_server();
    let mut client = Client::connect(&server);
    for (host, referer) in [
        ("127.0.0.1:8088", "http://localhost:8088/"),
        ("localhost:8088", "http://127.0.0.1:8088/"),
    ] {
        let reply = client.exchange(format!(
            "GET /postmessage-child.html HTTP/1.1\r\nHost: {host}\r\n\
             Sec-Fetch-Site: cross-site\r\nSec-Fetch-Mode: navigate\r\nSec-Fetch-Dest: iframe\r\n\
             Referer: {referer}\r\n\r\n"
        ));
        assert_eq!(reply.head_without_date(), page_head(CHILD), "{host}");
        assert_eq!(reply.text(), CHILD, "{host}");
    }
}

#[test]
fn a_child_page_the_browser_has_is_revalidated_with_304() {
    let server = postmessage_server();
    let etag = etag_of(CHILD);
    let reply = Client::connect(&server).exchange(format!(
        "GET /postmessage-child.html HTTP/1.1\r\nHost: 127.0.0.1:8088\r\nIf-None-Match: {etag}\r\n\r\n"
    ));
    assert_eq!(
        reply.head_without_date(),
        head(
            "HTTP/1.1 304 Not Modified",
            &[("ETag", &etag), ("Cache-Control", "no-cache"),],
        )
    );
    assert!(reply.body.is_empty());
}

#[test]
fn head_shows_the_child_pages_head_without_its_body() {
    let server = postmessage_server();
    let mut client = Client::connect(&server);
    client.send("HEAD /postmessage-child.html HTTP/1.1\r\nHost: t\r\n\r\n");
    let reply = client.read_reply_to(true);
    assert_eq!(reply.head_without_date(), page_head(CHILD));
    assert!(reply.body.is_empty());
    // The connection goes on: the length announced was not a body to wait for.
    assert_eq!(
        client
            .exchange("GET /postmessage.html HTTP/1.1\r\nHost: t\r\n\r\n")
            .status,
        200
    );
}

#[test]
fn the_pages_can_only_be_read() {
    let server = postmessage_server();
    for path in ["/postmessage.html", "/postmessage-child.html"] {
        let reply = Client::connect(&server).exchange(format!(
            "POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"
        ));
        assert_eq!(
            reply.head_without_date(),
            head(
                "HTTP/1.1 405 Method Not Allowed",
                &[
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("Allow", "GET, HEAD, OPTIONS"),
                    ("Content-Length", "38"),
                ],
            ),
            "{path}"
        );
        assert_eq!(reply.text(), "this path does not accept that method\n");
    }
}

#[test]
fn the_child_page_comes_only_with_its_demo() {
    let mut config = test_config();
    config.demo = Some("image-ping".to_string());
    let server = start_custom(config, Vec::new());
    for path in ["/postmessage.html", "/postmessage-child.html"] {
        assert_eq!(get(&server, path).status, 404, "{path}");
    }
}

#[test]
fn the_index_links_the_demo_and_its_chapter() {
    let server = postmessage_server();
    let index = get(&server, "/").text();
    assert!(
        index.contains(
            "<li><a href=\"/postmessage.html\">postMessage</a> — a page and a frame on another \
             origin talk with postMessage, checking event.origin \
             <a class=\"chapter\" href=\"/docs/11-postmessage\">chapter</a></li>\n"
        ),
        "{index}"
    );
    // The child is a part of the demo, not a demo: the index does not list it.
    assert!(!index.contains("postmessage-child"));
    assert_eq!(get(&server, "/docs/11-postmessage").status, 200);
    assert_eq!(get(&server, "/docs/11-postmessage.md").status, 200);
}
