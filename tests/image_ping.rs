//! Image ping (`docs/10-image-ping.md`) over raw TCP: `GET /ping?…` is counted and answered
//! with 204 or a 1×1 GIF; `GET /ping/stats` reports the bounded tally as JSON.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod support;

use webwire::clock::now_millis;

use support::{Client, get, head, start};
use webwire::demos::image_ping::{MAX_PING_QUERY_BYTES, PING_RECENT};

fn ping_204_head() -> String {
    head("HTTP/1.1 204 No Content", &[("Cache-Control", "no-store")])
}

/// The 43-byte transparent GIF, written out independently of the server's copy.
const GIF: &[u8] = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff\
    \x21\xf9\x04\x01\x00\x00\x00\x00\x2c\x00\x00\x00\x00\x01\x00\x01\x00\x00\
    \x02\x02\x44\x01\x00\x3b";

/// The stats with every `"at":<millis>` replaced by `"at":0`, and the times that were there.
fn stats_without_times(server: &webwire::Running) -> (String, Vec<u64>) {
    let reply = get(server, "/ping/stats");
    assert_eq!(reply.status, 200);
    let text = reply.text();
    let mut out = String::new();
    let mut times = Vec::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find("\"at\":") {
        out.push_str(&rest[..i + 5]);
        rest = &rest[i + 5..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        times.push(
            rest[..digits]
                .parse()
                .expect("a whole number of milliseconds"),
        );
        out.push('0');
        rest = &rest[digits..];
    }
    out.push_str(rest);
    (out, times)
}

fn count(server: &webwire::Running) -> String {
    let (stats, _) = stats_without_times(server);
    let start = stats.find("\"count\":").expect("a count") + 8;
    stats[start..].split(',').next().unwrap_or("").to_string()
}

#[test]
fn a_ping_is_answered_204_with_no_body() {
    let server = start();
    let mut client = Client::connect(&server);
    let reply = client.exchange("GET /ping?event=click HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(reply.head_without_date(), ping_204_head());
    assert!(reply.body.is_empty());
    // 204 has no body and no Content-Length, yet the connection goes on (RFC 9112 §6.3).
    let next = client.exchange("GET /ping?event=again HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(next.status, 204);
}

#[test]
fn gif_1_is_answered_with_a_transparent_pixel() {
    let server = start();
    let reply = get(&server, "/ping?event=view&gif=1");
    assert_eq!(
        reply.head_without_date(),
        head(
            "HTTP/1.1 200 OK",
            &[
                ("Content-Type", "image/gif"),
                ("Cache-Control", "no-store"),
                ("Content-Length", "43"),
            ],
        )
    );
    assert_eq!(reply.body, GIF);
    assert_eq!(
        get(&server, "/ping?gif=0").status,
        204,
        "gif=0 asks for 204"
    );
}

#[test]
fn stats_report_each_ping_as_json() {
    let server = start();
    assert_eq!(
        stats_without_times(&server).0,
        r#"{"count":0,"kept":20,"recent":[]}"#
    );
    let before = now_millis();
    let mut client = Client::connect(&server);
    client.exchange(
        "GET /ping?message=hello%20there&_=1 HTTP/1.1\r\nHost: 127.0.0.1:8088\r\n\
         Referer: http://localhost:8088/\r\n\r\n",
    );
    // Raw quotes and angle brackets are legal in a request target; the JSON must escape them.
    client.exchange("GET /ping?q=\"<b>\"&gif=1 HTTP/1.1\r\nHost: test\r\n\r\n");
    let after = now_millis();
    let (stats, times) = stats_without_times(&server);
    assert_eq!(
        stats,
        r#"{"count":2,"kept":20,"recent":[{"n":1,"at":0,"status":204,"query":"message=hello%20there&_=1","referer":"http://localhost:8088/"},{"n":2,"at":0,"status":200,"query":"q=\"\u003cb>\"&gif=1","referer":""}]}"#
    );
    assert!(
        times.iter().all(|&t| before <= t && t <= after),
        "{times:?} not within [{before}, {after}]"
    );
    let reply = get(&server, "/ping/stats");
    assert_eq!(
        reply.head_without_date(),
        head(
            "HTTP/1.1 200 OK",
            &[
                ("Content-Type", "application/json"),
                ("Cache-Control", "no-store"),
                ("Content-Length", &reply.body.len().to_string()),
            ],
        )
    );
}

#[test]
fn the_tally_keeps_counting_but_lists_only_the_newest() {
    let server = start();
    let mut client = Client::connect(&server);
    let total = PING_RECENT + 3;
    for n in 1..=total {
        let reply = client.exchange(format!("GET /ping?n={n} HTTP/1.1\r\nHost: test\r\n\r\n"));
        assert_eq!(reply.status, 204);
    }
    let (stats, times) = stats_without_times(&server);
    assert_eq!(times.len(), PING_RECENT);
    assert!(stats.starts_with(&format!(
        r#"{{"count":{total},"kept":{PING_RECENT},"recent":[{{"n":4,"at":0,"status":204,"query":"n=4","#
    )));
    assert!(stats.ends_with(&format!(r#""query":"n={total}","referer":""}}]}}"#)));
}

#[test]
fn an_over_long_query_is_414_and_not_counted() {
    let server = start();
    let longest = format!("/ping?m={}", "x".repeat(MAX_PING_QUERY_BYTES - 2));
    assert_eq!(get(&server, &longest).status, 204, "exactly at the limit");
    let reply = get(&server, &format!("{longest}y"));
    assert_eq!(
        reply.head_without_date(),
        head(
            "HTTP/1.1 414 URI Too Long",
            &[
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", "40"),
            ],
        )
    );
    assert_eq!(reply.text(), "a ping's query may be at most 512 bytes\n");
    assert_eq!(count(&server), "1");
}

#[test]
fn a_gif_value_other_than_0_or_1_is_400_and_not_counted() {
    let server = start();
    let reply = get(&server, "/ping?gif=yes");
    assert_eq!(reply.status, 400);
    assert_eq!(reply.text(), "gif must be 1 (a GIF) or 0 (204)\n");
    assert_eq!(count(&server), "0");
}

#[test]
fn head_shows_the_answer_without_counting() {
    let server = start();
    let mut client = Client::connect(&server);
    client.send("HEAD /ping?event=curl-I HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(
        client.read_reply_to(true).head_without_date(),
        ping_204_head()
    );
    assert_eq!(count(&server), "0");
}

#[test]
fn a_ping_can_only_be_a_get() {
    // An image only ever GETs; anything else is not a ping.
    let server = start();
    let reply = Client::connect(&server)
        .exchange("POST /ping HTTP/1.1\r\nHost: test\r\nContent-Length: 2\r\n\r\nhi");
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("Allow"), Some("GET, HEAD, OPTIONS"));
    assert_eq!(count(&server), "0");
}
