//! Short polling (`docs/03-polling.md`) over raw TCP: `GET /time` answers at once with the
//! server's clock in UTC, never cacheable, and tells the page how often to ask.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod support;

use std::time::{Duration, SystemTime};

use support::{Client, get, head, is_time_between, start, start_custom, test_config};

fn polling_server(tick_ms: u64) -> webwire::Running {
    let mut config = test_config();
    config.tick = Duration::from_millis(tick_ms);
    start_custom(config, Vec::new())
}

/// The head every `/time` answer has (without its Date line), for a given interval.
fn time_head(interval_ms: u64) -> String {
    head(
        "HTTP/1.1 200 OK",
        &[
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Cache-Control", "no-store"),
            ("X-Poll-Interval-Ms", &interval_ms.to_string()),
            ("Content-Length", "30"),
        ],
    )
}

#[test]
fn time_is_the_clock_in_utc_never_stored_with_the_interval() {
    let server = polling_server(20);
    let before = SystemTime::now();
    let reply = get(&server, "/time");
    let after = SystemTime::now();
    assert_eq!(reply.head_without_date(), time_head(20));
    assert!(
        is_time_between(&reply.text(), before, after),
        "{:?} is not the clock during the request",
        reply.text()
    );
}

#[test]
fn the_interval_is_the_default_two_seconds_without_tick_ms() {
    let server = start();
    let reply = get(&server, "/time");
    assert_eq!(reply.header("X-Poll-Interval-Ms"), Some("2000"));
}

#[test]
fn a_cache_buster_query_is_ignored() {
    // jQuery's `cache: false` appends `_=<Date.now()>`; it must not change the answer.
    let server = polling_server(20);
    let reply = get(&server, "/time?_=1795452005123");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.head_without_date(), time_head(20));
}

#[test]
fn polls_follow_each_other_on_one_keep_alive_connection() {
    let server = polling_server(50);
    let mut client = Client::connect(&server);
    for _ in 0..3 {
        let reply = client.exchange("GET /time HTTP/1.1\r\nHost: localhost:8088\r\n\r\n");
        assert_eq!(reply.head_without_date(), time_head(50));
        assert!(reply.text().ends_with(" GMT\n"), "{:?}", reply.text());
    }
}

#[test]
fn head_time_has_the_same_head_and_no_body() {
    let server = polling_server(20);
    let mut client = Client::connect(&server);
    client.send("HEAD /time HTTP/1.1\r\nHost: test\r\n\r\n");
    let reply = client.read_reply_to(true);
    assert_eq!(reply.head_without_date(), time_head(20));
    // The connection is still usable: no stray body bytes were sent after the head.
    let next = client.exchange("GET /time HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(next.head_without_date(), time_head(20));
}

#[test]
fn time_accepts_only_get() {
    let server = polling_server(20);
    let reply = Client::connect(&server)
        .exchange("POST /time HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(
        reply.head_without_date(),
        head(
            "HTTP/1.1 405 Method Not Allowed",
            &[
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Allow", "GET, HEAD, OPTIONS"),
                ("Content-Length", "38"),
            ]
        )
    );
    assert_eq!(reply.text(), "this path does not accept that method\n");
}
