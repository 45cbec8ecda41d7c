//! XHR streaming (`docs/05-xhr-streaming.md`) over raw TCP: `GET /stream` sends a random
//! number per line, one chunk each, one per tick, and each is on the wire before the next
//! exists; HTTP/1.0 gets the same numbers delimited by the close; a client that leaves ends
//! the stream.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod support;

use std::time::{Duration, Instant};

use support::{Client, find, head, head_sniffable, start_custom, test_config};
use webwire::Running;

fn stream_server(tick: Duration) -> Running {
    let mut config = test_config();
    config.tick = tick;
    start_custom(config, Vec::new())
}

/// The head of every `/stream` answer on HTTP/1.1, without its Date line.
fn stream_head() -> String {
    head(
        "HTTP/1.1 200 OK",
        &[
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Cache-Control", "no-store"),
            ("Transfer-Encoding", "chunked"),
        ],
    )
}

/// The number in one line as the server writes it: 1 to 4 digits (no leading zero) and a
/// line feed, below 10000.
fn number_in(line: &[u8]) -> u64 {
    let text = std::str::from_utf8(line).expect("ASCII");
    let digits = text
        .strip_suffix('\n')
        .unwrap_or_else(|| panic!("{text:?}: no LF"));
    assert!(
        (1..=4).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()),
        "{text:?} is not a number below 10000"
    );
    assert!(digits == "0" || !digits.starts_with('0'), "{text:?}");
    digits.parse().expect("digits")
}

#[test]
fn a_stream_is_ten_numbers_one_chunk_each_then_the_last_chunk() {
    let server = stream_server(Duration::from_millis(5));
    let mut client = Client::connect(&server);
    client.send("GET /stream HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(
        client.read_reply_to(true).head_without_date(),
        stream_head()
    );
    for _ in 0..10 {
        let chunk = client.read_chunk().expect("a number, not the last chunk");
        number_in(&chunk);
    }
    assert_eq!(client.read_chunk(), None, "the article's ten, then the end");
    // The body was properly ended, so the connection goes on.
    let next = client.exchange("GET /stream?count=1 HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(next.head_without_date(), stream_head());
    number_in(&next.body);
}

#[test]
fn the_wire_is_one_chunk_per_number_sized_in_hex() {
    let server = stream_server(Duration::from_millis(5));
    let mut client = Client::connect(&server);
    client.send("GET /stream?count=4 HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    let wire = client.read_to_end();
    let body_start = find(&wire, b"\r\n\r\n").expect("a head") + 4;
    let body = String::from_utf8(wire[body_start..].to_vec()).expect("ASCII");
    // Rebuild the exact framing from the numbers themselves: "<hex size>\r\n<line>\r\n" each,
    // then the zero-size last chunk and the empty trailer section.
    let numbers: Vec<&str> = body
        .split("\r\n")
        .filter(|part| part.ends_with('\n'))
        .collect();
    assert_eq!(numbers.len(), 4, "{body:?}");
    let mut expected = String::new();
    for line in &numbers {
        number_in(line.as_bytes());
        expected.push_str(&format!("{:x}\r\n{line}\r\n", line.len()));
    }
    expected.push_str("0\r\n\r\n");
    assert_eq!(body, expected);
}

#[test]
fn count_sets_how_many_numbers() {
    let server = stream_server(Duration::from_millis(1));
    let mut client = Client::connect(&server);
    let reply = client.exchange("GET /stream?count=3 HTTP/1.1\r\nHost: test\r\n\r\n");
    let lines: Vec<&[u8]> = reply.body.split_inclusive(|&b| b == b'\n').collect();
    assert_eq!(lines.len(), 3, "{:?}", reply.text());
    lines.iter().for_each(|line| {
        number_in(line);
    });
}

#[test]
fn the_first_number_is_on_the_wire_while_the_server_waits_for_the_second() {
    // A minute between numbers: when the first arrives, the second does not exist yet. A
    // server that buffered the body would send nothing for nine minutes, and the client's
    // 10-second read timeout would fail the test.
    let server = stream_server(Duration::from_secs(60));
    let mut client = Client::connect(&server);
    client.send("GET /stream HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(
        client.read_reply_to(true).head_without_date(),
        stream_head()
    );
    let first = client.read_chunk().expect("the first number");
    number_in(&first);
}

#[test]
fn pad_sends_one_blank_line_of_that_many_bytes_first() {
    let server = stream_server(Duration::from_secs(60));
    let mut client = Client::connect(&server);
    client.send("GET /stream?pad=1024 HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(
        client.read_reply_to(true).head_without_date(),
        stream_head()
    );
    let padding = client.read_chunk().expect("the padding");
    assert_eq!(padding, [" ".repeat(1023).as_bytes(), b"\n"].concat());
    number_in(&client.read_chunk().expect("then the first number"));
}

#[test]
fn sniff_1_leaves_out_nosniff() {
    let server = stream_server(Duration::from_millis(1));
    let mut client = Client::connect(&server);
    let reply = client.exchange("GET /stream?sniff=1&count=1 HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(
        reply.head_without_date(),
        head_sniffable(
            "HTTP/1.1 200 OK",
            &[
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Cache-Control", "no-store"),
                ("Transfer-Encoding", "chunked"),
            ],
        )
    );
    number_in(&reply.body);
    let reply = client.exchange("GET /stream?sniff=0&count=1 HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(
        reply.head_without_date(),
        stream_head(),
        "sniff=0 is the default"
    );
}

#[test]
fn http_1_0_gets_the_numbers_delimited_by_the_close() {
    let server = stream_server(Duration::from_millis(5));
    let mut client = Client::connect(&server);
    let reply = client.exchange("GET /stream?count=3 HTTP/1.0\r\n\r\n");
    assert_eq!(
        reply.head_without_date(),
        head(
            "HTTP/1.1 200 OK",
            &[
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Cache-Control", "no-store"),
                ("Connection", "close"),
            ],
        )
    );
    // No chunk framing at all: three bare lines, and the end of the connection ends the body.
    let lines: Vec<&[u8]> = reply.body.split_inclusive(|&b| b == b'\n').collect();
    assert_eq!(lines.len(), 3, "{:?}", reply.text());
    lines.iter().for_each(|line| {
        number_in(line);
    });
    assert!(client.is_closed_by_server());
}

#[test]
fn bad_options_are_400_with_a_reason_and_the_connection_goes_on() {
    let server = stream_server(Duration::from_millis(1));
    let mut client = Client::connect(&server);
    let count = "count must be a whole number from 1 to 1000\n";
    let pad = "pad must be a whole number from 0 to 4096\n";
    for (query, reason) in [
        ("count=0", count),
        ("count=1001", count),
        ("count=ten", count),
        ("count=+5", count),
        ("pad=4097", pad),
        ("pad=-1", pad),
        (
            "sniff=true",
            "sniff must be 1 (let the browser sniff) or 0\n",
        ),
    ] {
        let reply = client.exchange(format!(
            "GET /stream?{query} HTTP/1.1\r\nHost: test\r\n\r\n"
        ));
        assert_eq!(
            reply.head_without_date(),
            head(
                "HTTP/1.1 400 Bad Request",
                &[
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("Content-Length", &reason.len().to_string()),
                ],
            ),
            "{query}"
        );
        assert_eq!(reply.text(), reason, "{query}");
    }
    // The limits themselves are allowed (HEAD checks the options without sending a body).
    client.send("HEAD /stream?count=1000&pad=4096 HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(client.read_reply_to(true).status, 200);
}

#[test]
fn a_repeated_option_is_read_the_first_time_only() {
    // Regression: `/stream` took the last `count=` and checked every one (`count=x&count=1`
    // was 400), while `/evt`, `/longpoll` and `/htmlfile` read the first and nothing after it.
    let server = stream_server(Duration::from_millis(1));
    let mut client = Client::connect(&server);
    for (query, status, numbers) in [
        ("count=2&count=1", 200, 2),
        ("count=1&count=2", 200, 1),
        ("count=1&count=x", 200, 1), // the repeat is not read, so not checked
        ("count=x&count=1", 400, 0), // the first one counts, and it is bad
    ] {
        let reply = client.exchange(format!(
            "GET /stream?{query} HTTP/1.1\r\nHost: test\r\n\r\n"
        ));
        assert_eq!(reply.status, status, "{query}");
        if status == 200 {
            let lines: Vec<&[u8]> = reply.body.split_inclusive(|&b| b == b'\n').collect();
            assert_eq!(lines.len(), numbers, "{query}: {:?}", reply.text());
            lines.iter().for_each(|line| {
                number_in(line);
            });
        }
    }
}

#[test]
fn head_stream_is_the_head_alone() {
    let server = stream_server(Duration::from_secs(60));
    let mut client = Client::connect(&server);
    for _ in 0..2 {
        client.send("HEAD /stream HTTP/1.1\r\nHost: test\r\n\r\n");
        // No numbers follow, and no minute-long wait: the second HEAD is answered at once
        // on the same connection.
        assert_eq!(
            client.read_reply_to(true).head_without_date(),
            stream_head()
        );
    }
}

#[test]
fn stream_accepts_only_get() {
    let server = stream_server(Duration::from_millis(1));
    let reply = Client::connect(&server)
        .exchange("POST /stream HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("GET, HEAD, OPTIONS"));
}

#[test]
fn two_streams_at_once_get_different_numbers() {
    let server = stream_server(Duration::from_millis(1));
    let (mut a, mut b) = (Client::connect(&server), Client::connect(&server));
    a.send("GET /stream HTTP/1.1\r\nHost: test\r\n\r\n");
    b.send("GET /stream HTTP/1.1\r\nHost: test\r\n\r\n");
    let (a, b) = (a.read_reply().body, b.read_reply().body);
    // Ten numbers each: the same twice by chance is a one in 10^40 event.
    assert_ne!(a, b);
}

#[test]
fn a_client_that_vanishes_ends_its_stream() {
    // One connection at a time: while a stream's thread lives, any other client gets 503.
    let mut config = test_config();
    config.tick = Duration::from_millis(20);
    config.max_conns = Some(1);
    let server = start_custom(config, Vec::new());
    let mut leaver = Client::connect(&server);
    // A thousand numbers: twenty seconds of stream, if nobody noticed the client leave.
    leaver.send("GET /stream?count=1000 HTTP/1.1\r\nHost: test\r\n\r\n");
    leaver.read_reply_to(true);
    number_in(&leaver.read_chunk().expect("a first number"));
    drop(leaver);
    // The stream's next write or the one after fails, its thread ends, and its slot is free.
    // Ask until it is; the deadline is only a safety net, far below the twenty seconds.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = Client::connect(&server)
            .exchange("GET /stream?count=1 HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
        if reply.status == 200 {
            number_in(&reply.body);
            break;
        }
        assert_eq!(reply.status, 503, "{}", reply.text());
        assert!(
            Instant::now() < deadline,
            "the stream went on without its client"
        );
        std::thread::sleep(Duration::from_millis(5)); // a pause between tries, not a wait for a signal
    }
}
