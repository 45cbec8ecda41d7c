//! Hidden-iframe streaming (`docs/06-iframe-streaming.md`) over raw TCP: `GET /htmlfile` is an
//! HTML document sent one chunk at a time: its start, one whole `<script>` block per value,
//! its end. With `?target=` the scripts post to that origin, which must be one of the two demo
//! origins on the request's port.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod support;

use std::time::Duration;

use support::{Client, head, start_custom, test_config};
use webwire::demos::iframe_streaming::MAX_HTMLFILE_COUNT;

const DOCUMENT_START: &str = "<!doctype html>\n<html><head><meta charset=\"utf-8\">\
    <title>/htmlfile</title></head><body>\n<p>A stream of script blocks for a parent page.</p>\n";
const DOCUMENT_END: &str = "</body></html>\n";

fn stream_head() -> String {
    head(
        "HTTP/1.1 200 OK",
        &[
            ("Content-Type", "text/html; charset=utf-8"),
            ("Cache-Control", "no-store"),
            ("Transfer-Encoding", "chunked"),
        ],
    )
}

fn server_with_tick(tick: Duration) -> webwire::Running {
    let mut config = test_config();
    config.tick = tick;
    config.demo = Some("iframe-streaming".to_string());
    start_custom(config, Vec::new())
}

/// The random number inside `<script>{before}"NNNN"{after}</script>\n`, checked to be one.
fn value_in(chunk: &[u8], before: &str, after: &str) -> u32 {
    let text = String::from_utf8(chunk.to_vec()).expect("UTF-8");
    let inner = text
        .strip_prefix(&format!("<script>{before}\""))
        .and_then(|rest| rest.strip_suffix(&format!("\"{after}</script>\n")))
        .unwrap_or_else(|| panic!("not one whole script block: {text:?}"));
    assert!(
        !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_digit()),
        "{inner:?}"
    );
    let value: u32 = inner.parse().expect("a number");
    assert!(value < 10_000, "{value}");
    value
}

#[test]
fn htmlfile_is_a_document_sent_one_script_block_per_chunk() {
    let server = server_with_tick(Duration::from_millis(1));
    let mut client = Client::connect(&server);
    client.send("GET /htmlfile HTTP/1.1\r\nHost: localhost:8088\r\n\r\n");
    let head = client.read_reply_to(true);
    assert_eq!(head.head_without_date(), stream_head());
    assert_eq!(
        client.read_chunk().as_deref(),
        Some(DOCUMENT_START.as_bytes())
    );
    for _ in 0..10 {
        let chunk = client.read_chunk().expect("a value");
        value_in(&chunk, "parent.process(", ")");
    }
    assert_eq!(
        client.read_chunk().as_deref(),
        Some(DOCUMENT_END.as_bytes())
    );
    assert_eq!(
        client.read_chunk(),
        None,
        "the last chunk: ten values, the default"
    );
    let next = client.exchange("GET /htmlfile?count=1 HTTP/1.1\r\nHost: localhost:8088\r\n\r\n");
    assert_eq!(next.status, 200, "the connection is kept after the stream");
}

#[test]
fn count_sets_how_many_values() {
    let server = server_with_tick(Duration::from_millis(1));
    for count in [1, 3, MAX_HTMLFILE_COUNT] {
        let mut client = Client::connect(&server);
        let request = format!("GET /htmlfile?count={count} HTTP/1.1\r\nHost: x\r\n\r\n");
        let reply = client.exchange(request);
        let body = reply.text();
        let values = body
            .strip_prefix(DOCUMENT_START)
            .and_then(|rest| rest.strip_suffix(DOCUMENT_END))
            .expect("start … end");
        assert_eq!(values.lines().count(), count as usize);
    }
}

#[test]
fn the_first_value_is_on_the_wire_before_the_second_is_made() {
    // A tick of an hour: while this test runs, the second value cannot exist. If the server
    // held pieces back until the end, the read below would wait in vain.
    let server = server_with_tick(Duration::from_secs(3600));
    let mut client = Client::connect(&server);
    client.send("GET /htmlfile HTTP/1.1\r\nHost: localhost:8088\r\n\r\n");
    assert_eq!(
        client.read_reply_to(true).head_without_date(),
        stream_head()
    );
    assert_eq!(
        client.read_chunk().as_deref(),
        Some(DOCUMENT_START.as_bytes())
    );
    let first = client.read_chunk().expect("the first value");
    value_in(&first, "parent.process(", ")");
}

#[test]
fn a_target_turns_calls_into_post_messages_to_that_origin() {
    let server = server_with_tick(Duration::from_millis(1));
    let cases = [
        (
            "127.0.0.1:8088",
            "http%3A%2F%2Flocalhost%3A8088",
            "http://localhost:8088",
        ),
        (
            "localhost:8088",
            "http://127.0.0.1:8088",
            "http://127.0.0.1:8088",
        ),
        ("127.0.0.1", "http://localhost", "http://localhost"),
    ];
    for (host, query, origin) in cases {
        let mut client = Client::connect(&server);
        let request =
            format!("GET /htmlfile?count=2&target={query} HTTP/1.1\r\nHost: {host}\r\n\r\n");
        client.send(request);
        assert_eq!(
            client.read_reply_to(true).head_without_date(),
            stream_head()
        );
        assert_eq!(
            client.read_chunk().as_deref(),
            Some(DOCUMENT_START.as_bytes())
        );
        for _ in 0..2 {
            let chunk = client.read_chunk().expect("a value");
            value_in(&chunk, "parent.postMessage(", &format!(", \"{origin}\")"));
        }
        assert_eq!(
            client.read_chunk().as_deref(),
            Some(DOCUMENT_END.as_bytes())
        );
        assert_eq!(client.read_chunk(), None);
    }
}

#[test]
fn bad_counts_and_targets_are_400_and_the_connection_goes_on() {
    let server = server_with_tick(Duration::from_millis(1));
    let count_reason = format!("count must be a whole number from 1 to {MAX_HTMLFILE_COUNT}\n");
    let target_reason = "target must be http://localhost:PORT or http://127.0.0.1:PORT, this po\
                         rt, or an origin given with --allow-origin\n";
    let too_many = format!("count={}", MAX_HTMLFILE_COUNT + 1);
    let cases: Vec<(&str, &str, &str)> = vec![
        ("count=0", "localhost:8088", &count_reason),
        (&too_many, "localhost:8088", &count_reason),
        ("count=ten", "localhost:8088", &count_reason),
        ("count=%2B5", "localhost:8088", &count_reason),
        ("count=", "localhost:8088", &count_reason),
        ("count=99999999999", "localhost:8088", &count_reason),
        ("target=*", "localhost:8088", target_reason),
        ("target=", "localhost:8088", target_reason),
        (
            "target=http://evil.example",
            "localhost:8088",
            target_reason,
        ),
        (
            "target=http://localhost:9999",
            "localhost:8088",
            target_reason,
        ),
        (
            "target=http://localhost:8088/",
            "localhost:8088",
            target_reason,
        ),
        (
            "target=https://localhost:8088",
            "localhost:8088",
            target_reason,
        ),
        (
            "target=http://localhost:8088",
            "evil.example",
            target_reason,
        ),
        (
            "target=http://localhost:99999",
            "localhost:99999",
            target_reason,
        ),
    ];
    let mut client = Client::connect(&server);
    for (query, host, reason) in cases {
        let reply = client.exchange(format!(
            "GET /htmlfile?{query} HTTP/1.1\r\nHost: {host}\r\n\r\n"
        ));
        assert_eq!(
            (reply.status, reply.text().as_str()),
            (400, reason),
            "{query} with Host: {host}"
        );
        assert_eq!(
            reply.header("content-type"),
            Some("text/plain; charset=utf-8")
        );
    }
    let reply = client.exchange("GET /htmlfile?count=1 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(reply.status, 200, "the same connection still works");
}

#[test]
fn http_1_0_gets_the_same_document_ended_by_the_close() {
    let server = server_with_tick(Duration::from_millis(1));
    let mut client = Client::connect(&server);
    let reply = client.exchange("GET /htmlfile?count=2 HTTP/1.0\r\n\r\n");
    assert_eq!(
        reply.head_without_date(),
        head(
            "HTTP/1.1 200 OK",
            &[
                ("Content-Type", "text/html; charset=utf-8"),
                ("Cache-Control", "no-store"),
                ("Connection", "close"),
            ],
        )
    );
    let body = reply.text();
    let values = body
        .strip_prefix(DOCUMENT_START)
        .and_then(|rest| rest.strip_suffix(DOCUMENT_END))
        .expect("start … end, then the close");
    let blocks: Vec<&str> = values.split_inclusive('\n').collect();
    assert_eq!(blocks.len(), 2);
    for block in blocks {
        value_in(block.as_bytes(), "parent.process(", ")");
    }
    assert!(client.is_closed_by_server());
}

#[test]
fn http_1_0_without_host_cannot_name_a_target() {
    let server = server_with_tick(Duration::from_millis(1));
    // No Host: nothing names the port the page is on, so no target is accepted. Regression:
    // `http://localhost` and `http://127.0.0.1` were, as if the missing Host said port 80.
    for target in [
        "http://localhost:8088",
        "http://localhost",
        "http://127.0.0.1",
    ] {
        let reply = Client::connect(&server)
            .exchange(format!("GET /htmlfile?target={target} HTTP/1.0\r\n\r\n"));
        assert_eq!(reply.status, 400, "{target}");
        assert_eq!(
            reply.text(),
            "target must be http://localhost:PORT or http://127.0.0.1:PORT, this po\
             rt, or an origin given with --allow-origin\n",
            "{target}"
        );
    }
}

#[test]
fn a_target_given_with_allow_origin_is_accepted() {
    let mut config = test_config();
    config.tick = Duration::from_millis(1);
    config.extra_origins = vec!["http://app.test:3000".to_string()];
    let server = start_custom(config, Vec::new());
    let reply = Client::connect(&server).exchange(
        "GET /htmlfile?count=1&target=http://app.test:3000 HTTP/1.1\r\nHost: localhost:8088\r\n\r\n",
    );
    assert_eq!(reply.status, 200);
    assert!(
        reply
            .text()
            .contains(", \"http://app.test:3000\")</script>"),
        "{}",
        reply.text()
    );
}

#[test]
fn head_shows_the_stream_head_and_sends_nothing_more() {
    let server = server_with_tick(Duration::from_secs(3600));
    let mut client = Client::connect(&server);
    client.send("HEAD /htmlfile HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(
        client.read_reply_to(true).head_without_date(),
        stream_head()
    );
    // No body follows: the next bytes on this connection are the next response's. (One
    // value needs no tick, so it comes at once even with this hour-long one.)
    let next = client.exchange("GET /htmlfile?count=1 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(next.head_without_date(), stream_head());
    assert!(next.text().starts_with(DOCUMENT_START));
}
