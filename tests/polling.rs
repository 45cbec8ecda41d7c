//! Short polling (`docs/03-polling.md`) over raw TCP: `GET /time` answers at once with the
//! server's clock in UTC, never cacheable, and tells the page how often to ask.

mod support;

use std::time::{Duration, SystemTime};

use support::{Client, get, start, start_custom, test_config};
use webwire::http::response::http_date;

fn polling_server(tick_ms: u64) -> webwire::Running {
    let mut config = test_config();
    config.tick = Duration::from_millis(tick_ms);
    start_custom(config, Vec::new())
}

/// The head every `/time` answer has (without its Date line), for a given interval.
fn time_head(interval_ms: u64) -> String {
    format!(
        "HTTP/1.1 200 OK\r\n\
         Server: webwire\r\n\
         X-Content-Type-Options: nosniff\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Cache-Control: no-store\r\n\
         X-Poll-Interval-Ms: {interval_ms}\r\n\
         Content-Length: 30\r\n\
         \r\n"
    )
}

/// Every whole second from `before` to `after`, as `/time` would write it.
fn seconds_between(before: SystemTime, after: SystemTime) -> Vec<String> {
    let mut seconds = vec![format!("{}\n", http_date(before))];
    let mut at = before;
    while at < after {
        at += Duration::from_millis(200);
        let text = format!("{}\n", http_date(at.min(after)));
        if !seconds.contains(&text) {
            seconds.push(text);
        }
    }
    seconds
}

#[test]
fn time_is_the_clock_in_utc_never_stored_with_the_interval() {
    let server = polling_server(20);
    let before = SystemTime::now();
    let reply = get(&server, "/time");
    let after = SystemTime::now();
    assert_eq!(reply.head_without_date(), time_head(20));
    assert!(
        seconds_between(before, after).contains(&reply.text()),
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
        "HTTP/1.1 405 Method Not Allowed\r\n\
         Server: webwire\r\n\
         X-Content-Type-Options: nosniff\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Allow: GET, HEAD, OPTIONS\r\n\
         Content-Length: 38\r\n\
         \r\n"
    );
    assert_eq!(reply.text(), "this path does not accept that method\n");
}
