//! Long polling over raw TCP: `GET /longpoll?since=N`, `POST /longpoll/publish`, the
//! article's `GET /longpoll/random` and `GET /longpoll/stats`, byte for byte.
//!
//! Tests that compare whole bodies set a tick of an hour, so the ticker never adds an event
//! behind their back. Whether a request is being held is read from `/longpoll/stats`, never
//! guessed from a sleep.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod support;

use std::time::{Duration, Instant};

use support::{
    Client, Reply, clients_waiting, get, head, number, post_request, start_custom, test_config,
};
use webwire::Running;
use webwire::demos::long_polling::MAX_EVENT_TEXT_BYTES;

/// Held requests the test servers allow (`--max-held`).
const MAX_HELD: usize = 16;

const AN_HOUR: Duration = Duration::from_secs(3600);

/// A server whose ticker and hold are as given.
fn server(tick: Duration, hold: Duration) -> Running {
    let mut config = test_config();
    config.tick = tick;
    config.hold = hold;
    config.max_held = Some(MAX_HELD);
    start_custom(config, Vec::new())
}

/// The head of a JSON answer of `length` bytes.
fn json_head(length: usize) -> String {
    head(
        "HTTP/1.1 200 OK",
        &[
            ("Content-Type", "application/json"),
            ("Cache-Control", "no-store"),
            ("Access-Control-Allow-Origin", "*"),
            ("Content-Length", &length.to_string()),
        ],
    )
}

/// The head of a refusal (a one-line reason as plain text) from the long-polling demo.
fn refusal_head(status_line: &str, reason: &str) -> String {
    head(
        status_line,
        &[
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Cache-Control", "no-store"),
            ("Access-Control-Allow-Origin", "*"),
            ("Content-Length", &reason.len().to_string()),
        ],
    )
}

fn poll_request(since: &str) -> String {
    format!("GET /longpoll?since={since} HTTP/1.1\r\nHost: t\r\n\r\n")
}

/// POSTs a form body to /longpoll/publish.
fn publish(server: &Running, form: &str) -> Reply {
    Client::connect(server).exchange(post_request(
        "/longpoll/publish",
        "application/x-www-form-urlencoded",
        form,
    ))
}

/// Waits until the server holds exactly `count` requests. It asks `/longpoll/stats` over and
/// over (a condition, like a browser test's `waitForFunction`); the deadline only stops a
/// broken server from hanging the test.
fn wait_until_waiting(server: &Running, count: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut client = Client::connect(server);
    loop {
        let stats = client.exchange("GET /longpoll/stats HTTP/1.1\r\nHost: t\r\n\r\n");
        if number(&stats.text(), "waiting") == count {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "still {} held, not {count}",
            stats.text()
        );
        std::thread::sleep(Duration::from_millis(5)); // pacing, not synchronisation
    }
}

// ---- GET /longpoll?since=N -------------------------------------------------------------------

#[test]
fn publish_answers_the_new_event_and_a_poll_gets_it_at_once() {
    let server = server(AN_HOUR, AN_HOUR);
    let before = webwire::clock::now_millis();
    let published = publish(&server, "text=hello");
    let ts = number(&published.text(), "ts");
    let event = format!(r#"{{"id":1,"text":"hello","ts":{ts}}}"#);
    assert!((before..=webwire::clock::now_millis()).contains(&ts));
    assert_eq!(published.head_without_date(), json_head(event.len()));
    assert_eq!(published.text(), event);

    // The hold is an hour: only "there is news already" can answer this in time.
    let polled = get(&server, "/longpoll?since=0");
    let body = format!("[{event}]");
    assert_eq!(polled.head_without_date(), json_head(body.len()));
    assert_eq!(polled.text(), body);
}

#[test]
fn with_nothing_new_the_poll_is_held_then_answers_an_empty_array() {
    let server = server(AN_HOUR, Duration::from_millis(50));
    let reply = get(&server, "/longpoll?since=0");
    assert_eq!(reply.head_without_date(), json_head(2));
    assert_eq!(reply.text(), "[]");
}

#[test]
fn a_held_poll_wakes_on_publish() {
    let server = server(AN_HOUR, AN_HOUR);
    let mut waiting = Client::connect(&server);
    waiting.send(poll_request("0"));
    wait_until_waiting(&server, 1);
    let event = publish(&server, "text=news").text();
    // An hour's hold: this reply can only have been sent by the publish.
    assert_eq!(waiting.read_reply().text(), format!("[{event}]"));
    wait_until_waiting(&server, 0);
}

#[test]
fn nothing_published_between_polls_is_lost() {
    let server = server(AN_HOUR, AN_HOUR);
    let mut client = Client::connect(&server);
    let one = publish(&server, "text=one").text();
    assert_eq!(
        client.exchange(poll_request("0")).text(),
        format!("[{one}]")
    );
    // The client is between two requests (it is "rendering") while two more are published.
    // A server that only tells the requests waiting at that moment would lose both.
    let two = publish(&server, "text=two").text();
    let three = publish(&server, "text=three").text();
    assert_eq!(
        client.exchange(poll_request("1")).text(),
        format!("[{two},{three}]")
    );
    // And with a held poll in between, every event still arrives once, in order.
    client.send(poll_request("3"));
    wait_until_waiting(&server, 1);
    let four = publish(&server, "text=four").text();
    assert_eq!(client.read_reply().text(), format!("[{four}]"));
}

#[test]
fn a_client_that_leaves_frees_its_held_poll() {
    let server = server(AN_HOUR, AN_HOUR);
    let mut client = Client::connect(&server);
    client.send(poll_request("0"));
    wait_until_waiting(&server, 1);
    drop(client);
    // The hold is an hour and the stats deadline ten seconds: only noticing the closed
    // connection can bring the count back to 0.
    wait_until_waiting(&server, 0);
}

#[test]
fn a_cursor_from_before_a_restart_starts_over() {
    let server = server(AN_HOUR, AN_HOUR);
    let event = publish(&server, "text=first+after+restart").text();
    assert_eq!(
        get(&server, "/longpoll?since=41").text(),
        format!("[{event}]")
    );
}

#[test]
fn since_must_be_a_whole_number() {
    let server = server(AN_HOUR, AN_HOUR);
    let not_a_number = "since must be a whole number: the last event id you saw, or 0\n";
    for (target, reason) in [
        (
            "/longpoll",
            "since is missing: ask /longpoll?since=0, then send the last id you saw\n",
        ),
        ("/longpoll?since=", not_a_number),
        ("/longpoll?since=abc", not_a_number),
        ("/longpoll?since=-1", not_a_number),
        ("/longpoll?since=%2B1", not_a_number),
        ("/longpoll?since=1.5", not_a_number),
        ("/longpoll?since=1e3", not_a_number),
        (
            "/longpoll?since=99999999999999999999",
            "since is too large: event ids fit in 64 bits\n",
        ),
    ] {
        let mut client = Client::connect(&server);
        let reply = client.exchange(format!("GET {target} HTTP/1.1\r\nHost: t\r\n\r\n"));
        assert_eq!(
            reply.head_without_date(),
            refusal_head("HTTP/1.1 400 Bad Request", reason),
            "{target}"
        );
        assert_eq!(reply.text(), reason, "{target}");
        // Nothing else is affected: the same connection goes on, nothing is held.
        assert_eq!(
            client
                .exchange("GET /longpoll/stats HTTP/1.1\r\nHost: t\r\n\r\n")
                .text(),
            format!(r#"{{"waiting":0,"max_waiting":{MAX_HELD},"last_id":0}}"#)
        );
    }
}

#[test]
fn past_the_cap_a_poll_gets_503_and_a_freed_place_lets_the_next_in() {
    let server = server(AN_HOUR, AN_HOUR);
    let mut held = clients_waiting(&server, &poll_request("0"), MAX_HELD);
    wait_until_waiting(&server, MAX_HELD as u64);

    let reason = "too many requests are held open (16, --max-held); try again shortly\n";
    for path in ["/longpoll?since=0", "/longpoll/random"] {
        let reply = get(&server, path);
        assert_eq!(
            reply.head_without_date(),
            head(
                "HTTP/1.1 503 Service Unavailable",
                &[
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("Cache-Control", "no-store"),
                    ("Access-Control-Allow-Origin", "*"),
                    ("Retry-After", "1"),
                    ("Content-Length", &reason.len().to_string()),
                ]
            ),
            "{path}"
        );
        assert_eq!(reply.text(), reason);
    }

    // One client leaves; its place is given back, and a new poll is held in it.
    drop(held.pop());
    wait_until_waiting(&server, MAX_HELD as u64 - 1);
    let mut newcomer = Client::connect(&server);
    newcomer.send(poll_request("0"));
    wait_until_waiting(&server, MAX_HELD as u64);

    let event = publish(&server, "text=for+everyone").text();
    assert_eq!(newcomer.read_reply().text(), format!("[{event}]"));
    for client in &mut held {
        assert_eq!(client.read_reply().text(), format!("[{event}]"));
    }
    wait_until_waiting(&server, 0);
}

#[test]
fn the_ticker_publishes_every_fifth_tick() {
    let server = server(Duration::from_millis(10), AN_HOUR);
    let mut client = Client::connect(&server);
    // The first poll starts the ticker; its first event is the fifth tick.
    let first = client.exchange(poll_request("0")).text();
    let ts = number(&first, "ts");
    assert!(
        first.starts_with(&format!(r#"[{{"id":1,"text":"tick 5","ts":{ts}}}"#)),
        "{first}"
    );
    let second = client.exchange(poll_request("1")).text();
    let ts = number(&second, "ts");
    assert!(
        second.starts_with(&format!(r#"[{{"id":2,"text":"tick 10","ts":{ts}}}"#)),
        "{second}"
    );
}

// ---- POST /longpoll/publish ------------------------------------------------------------------

#[test]
fn published_text_is_decoded_and_escaped_as_json() {
    let server = server(AN_HOUR, AN_HOUR);
    let reply = publish(
        &server,
        "other=1&text=say+%22hi%22%0A%E4%BD%A0%E5%A5%BD+%3C/b%3E",
    );
    let ts = number(&reply.text(), "ts");
    assert_eq!(
        reply.text(),
        format!(r#"{{"id":1,"text":"say \"hi\"\n你好 \u003c/b>","ts":{ts}}}"#)
    );
}

#[test]
fn publish_refuses_bad_input() {
    let server = server(AN_HOUR, AN_HOUR);
    let longest = "a".repeat(MAX_EVENT_TEXT_BYTES);
    let missing = "text is missing or empty: send a form body text=...\n";
    for (form, reason) in [
        ("", missing),
        ("name=x", missing),
        ("text=", missing),
        ("text=+%20+", missing),
        (
            &format!("text={longest}a")[..],
            "text is longer than 1024 bytes\n",
        ),
    ] {
        let reply = publish(&server, form);
        assert_eq!(
            reply.head_without_date(),
            refusal_head("HTTP/1.1 400 Bad Request", reason),
            "{form:.20}"
        );
        assert_eq!(reply.text(), reason, "{form:.20}");
    }
    // Exactly at the cap is fine, and is the first event: the refusals published nothing.
    let accepted = publish(&server, &format!("text={longest}"));
    assert_eq!(accepted.status, 200);
    assert_eq!(number(&accepted.text(), "id"), 1);

    let json = r#"{"text":"hi"}"#;
    let reply = Client::connect(&server).exchange(post_request(
        "/longpoll/publish",
        "application/json",
        json,
    ));
    let reason = "send the text as a form: Content-Type: application/x-www-form-urlencoded\n";
    assert_eq!(
        reply.head_without_date(),
        refusal_head("HTTP/1.1 415 Unsupported Media Type", reason)
    );
    assert_eq!(reply.text(), reason);

    // A browser's form type carries a charset parameter; that is still a form.
    let reply = Client::connect(&server).exchange(post_request(
        "/longpoll/publish",
        "application/x-www-form-urlencoded;charset=UTF-8",
        "text=ok",
    ));
    assert_eq!((reply.status, number(&reply.text(), "id")), (200, 2));
}

#[test]
fn publish_is_post_only() {
    let server = server(AN_HOUR, AN_HOUR);
    let reply = get(&server, "/longpoll/publish");
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("POST, OPTIONS"));
}

// ---- GET /longpoll/random (the article's version) --------------------------------------------

#[test]
fn random_answers_unchanged_when_the_hold_ends_before_a_check() {
    let server = server(AN_HOUR, Duration::from_millis(50));
    let reply = get(&server, "/longpoll/random");
    let ts = number(&reply.text(), "ts");
    let body = format!(r#"{{"changed":false,"draws":[],"ts":{ts}}}"#);
    assert_eq!(reply.head_without_date(), json_head(body.len()));
    assert_eq!(reply.text(), body);
}

#[test]
fn random_answers_at_the_first_draw_that_says_changed() {
    let server = server(Duration::from_millis(2), AN_HOUR);
    for _ in 0..5 {
        let reply = get(&server, "/longpoll/random");
        let text = reply.text();
        let ts = number(&text, "ts");
        let draws = text
            .strip_prefix(r#"{"changed":true,"draws":["#)
            .and_then(|rest| rest.strip_suffix(&format!(r#"],"ts":{ts}}}"#)))
            .unwrap_or_else(|| panic!("{text}"));
        let draws: Vec<u64> = draws.split(',').map(|d| d.parse().unwrap()).collect();
        let (last, before) = draws.split_last().unwrap();
        assert!(*last <= 5, "{text}: the last draw ended the wait");
        assert!(
            before.iter().all(|&d| (6..=9).contains(&d)),
            "{text}: the others did not"
        );
    }
}

#[test]
fn random_lets_go_of_a_client_that_left() {
    let server = server(AN_HOUR, AN_HOUR);
    let mut client = Client::connect(&server);
    client.send("GET /longpoll/random HTTP/1.1\r\nHost: t\r\n\r\n");
    wait_until_waiting(&server, 1);
    drop(client);
    wait_until_waiting(&server, 0);
}

// ---- GET /longpoll/stats ---------------------------------------------------------------------

#[test]
fn stats_byte_for_byte() {
    let server = server(AN_HOUR, AN_HOUR);
    publish(&server, "text=a");
    let reply = get(&server, "/longpoll/stats");
    let body = format!(r#"{{"waiting":0,"max_waiting":{MAX_HELD},"last_id":1}}"#);
    assert_eq!(reply.head_without_date(), json_head(body.len()));
    assert_eq!(reply.text(), body);
}

#[test]
fn publish_follows_the_one_origin_rule_for_changing_state() {
    // The same rule as the chat room's: a form posted from another site's page is refused,
    // as is a request whose Origin is ambiguous; the demo origins and plain clients may post.
    let server = server(AN_HOUR, AN_HOUR);
    let with = |origins: &str| {
        Client::connect(&server).exchange(format!(
            "POST /longpoll/publish HTTP/1.1\r\nHost: localhost:8088\r\n{origins}\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 6\r\n\r\ntext=x"
        ))
    };
    let foreign = with("Origin: http://evil.example\r\n");
    assert_eq!(
        (foreign.status, foreign.text().as_str()),
        (403, "pages from http://evil.example may not publish here\n")
    );
    let two = with("Origin: http://localhost:8088\r\nOrigin: http://evil.example\r\n");
    assert_eq!(two.status, 403);
    assert_eq!(with("Origin: http://localhost:8088\r\n").status, 200);
    assert_eq!(with("").status, 200, "no Origin: not a browser");
}
