//! The chat room over raw TCP: `POST /chat/send`, every way of receiving (`/chat/poll`,
//! `/chat/longpoll`, `/chat/stream`, `/chat/iframe`, `/chat/events`, `/chat/jsonp`,
//! `/chat/ws`), resuming from a cursor, the gap signal, the caps, and `/stats`.
//!
//! Whether a connection is being held is read from `/stats`, never guessed from a sleep.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod support;

use std::thread;
use std::time::Duration;

use support::ws::upgrade;
use support::{
    Client, Reply, clients_waiting, get, head, ids, number, post_request, start_custom, stat,
    test_config, wait_open, wait_stat,
};
use webwire::Running;
use webwire::demos::chat::{CHAT_ROOM_CAPACITY, MAX_CHAT_TEXT_BYTES};
use webwire::hub::MAX_BATCH_EVENTS;

const ORIGIN: &str = "http://localhost:8088";

fn server(hold: Duration) -> Running {
    let mut config = test_config();
    config.tick = Duration::from_millis(20);
    config.hold = hold;
    start_custom(config, Vec::new())
}

/// Sends a form body; answers the reply.
fn post(server: &Running, content_type: &str, extra: &str, body: &[u8]) -> Reply {
    let mut client = Client::connect(server);
    client.send(format!(
        "POST /chat/send{extra} HTTP/1.1\r\nHost: localhost:8088\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    ));
    client.send(body);
    client.read_reply()
}

/// Publishes `text` from `from` and returns its id.
fn say(server: &Running, from: &str, text: &str) -> u64 {
    let reply = post(
        server,
        "application/x-www-form-urlencoded",
        "",
        format!("from={from}&text={text}").as_bytes(),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    number(&reply.text(), "id")
}

fn request(target: &str) -> String {
    format!("GET {target} HTTP/1.1\r\nHost: localhost:8088\r\nOrigin: {ORIGIN}\r\n\r\n")
}

// --- sending ---------------------------------------------------------------------------------

#[test]
fn a_send_answers_its_id_and_poll_returns_the_message_exactly() {
    let server = server(Duration::from_secs(5));
    let reply = post(
        &server,
        "application/x-www-form-urlencoded",
        "",
        b"from=ann&text=hello+%3C%2Fscript%3E",
    );
    assert_eq!(reply.text(), "{\"id\":1}");
    let plain = post(
        &server,
        "text/plain;charset=UTF-8",
        "?from=bob",
        "two\nlines é".as_bytes(),
    );
    assert_eq!(plain.text(), "{\"id\":2}");
    let reply = Client::connect(&server).exchange(request("/chat/poll?since=0"));
    let body = reply.text();
    let ts = |n| number(&body[body.find(&format!("\"id\":{n}")).unwrap()..], "ts");
    let want = format!(
        "[{{\"id\":1,\"from\":\"ann\",\"text\":\"hello \\u003c/script>\",\"ts\":{}}},\
         {{\"id\":2,\"from\":\"bob\",\"text\":\"two\\nlines é\",\"ts\":{}}}]",
        ts(1),
        ts(2)
    );
    assert_eq!(body, want);
    assert_eq!(
        reply.head_without_date(),
        head(
            "HTTP/1.1 200 OK",
            &[
                ("Content-Type", "application/json"),
                ("Cache-Control", "no-store"),
                ("Vary", "Origin"),
                ("Access-Control-Allow-Origin", ORIGIN),
                ("Content-Length", &want.len().to_string()),
            ]
        )
    );
    let later = get(&server, "/chat/poll?since=2");
    assert_eq!(later.text(), "[]");
    assert_eq!(
        later.header("access-control-allow-origin"),
        None,
        "no Origin, no CORS"
    );
}

#[test]
fn bad_sends_are_refused_with_a_reason() {
    let server = server(Duration::from_secs(5));
    let form = "application/x-www-form-urlencoded";
    let too_long = format!("text={}", "a".repeat(MAX_CHAT_TEXT_BYTES + 1));
    let longest = format!("text={}", "a".repeat(MAX_CHAT_TEXT_BYTES));
    let cases: &[(&str, &str, &[u8], u16, &str)] = &[
        (
            form,
            "",
            b"text=",
            400,
            "text is empty: there is nothing to send\n",
        ),
        (
            form,
            "",
            b"text=+++",
            400,
            "text is empty: there is nothing to send\n",
        ),
        (
            form,
            "",
            b"from=ann",
            400,
            "text is missing: send a form body text=...\n",
        ),
        (
            form,
            "",
            too_long.as_bytes(),
            400,
            "text is longer than 4096 bytes of UTF-8\n",
        ),
        (
            form,
            "",
            b"from=a%0Ab&text=hi",
            400,
            "from must be a name without line breaks or control characters\n",
        ),
        (
            "text/plain",
            "",
            b"\xff\xfe",
            400,
            "the body is not UTF-8 text\n",
        ),
        (
            "application/json",
            "",
            b"{\"text\":\"hi\"}",
            415,
            "send a form (application/x-www-form-urlencoded) or text/plain\n",
        ),
    ];
    for (content_type, extra, body, status, reason) in cases {
        let reply = post(&server, content_type, extra, body);
        assert_eq!((reply.status, reply.text().as_str()), (*status, *reason));
    }
    assert_eq!(
        post(&server, form, "", longest.as_bytes()).status,
        200,
        "exactly 4 KiB"
    );
    // A page from another site may not speak in the room (a form posts without CORS).
    let mut client = Client::connect(&server);
    let foreign = client.exchange(
        "POST /chat/send HTTP/1.1\r\nHost: localhost:8088\r\nOrigin: http://evil.test\r\n\
         Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi",
    );
    assert_eq!(foreign.status, 403);
    assert_eq!(
        foreign.text(),
        "pages from http://evil.test may not post to this room\n"
    );
    assert_eq!(get(&server, "/chat/send").status, 405);
    for target in [
        "/chat/poll",
        "/chat/poll?since=-1",
        "/chat/longpoll?since=x",
    ] {
        assert_eq!(get(&server, target).status, 400, "{target}");
    }
    let last = get(&server, "/stats").text();
    assert_eq!(
        number(&last, "last_id"),
        1,
        "only the 4 KiB text was published"
    );
}

// --- receiving on every transport ----------------------------------------------------------

/// Opens a stream and returns the client, past the head.
fn open_stream(server: &Running, target: &str) -> (Client, Reply) {
    let mut client = Client::connect(server);
    client.send(request(target));
    let head = client.read_reply_to(true);
    (client, head)
}

#[test]
fn a_long_poll_is_held_until_a_message_wakes_it() {
    let server = server(Duration::from_secs(10));
    let mut client = Client::connect(&server);
    client.send(request("/chat/longpoll?since=0"));
    wait_open(&server, "longpoll", 1);
    say(&server, "ann", "wake");
    let reply = client.read_reply();
    assert_eq!(ids(&reply.text()), [1]);
    assert!(reply.text().contains("\"text\":\"wake\""));
    wait_open(&server, "longpoll", 0);
    // With nothing new, the hold ends in an empty answer.
    let quick = self::server(Duration::from_millis(50));
    assert_eq!(get(&quick, "/chat/longpoll?since=0").text(), "[]");
}

#[test]
fn streams_frame_each_message_their_own_way() {
    let server = server(Duration::from_secs(10));
    say(&server, "ann", "first");
    let (mut stream, opened) = open_stream(&server, "/chat/stream?since=0");
    assert_eq!(
        opened.head_without_date(),
        head(
            "HTTP/1.1 200 OK",
            &[
                ("Content-Type", "application/x-ndjson"),
                ("Cache-Control", "no-store"),
                ("Vary", "Origin"),
                ("Access-Control-Allow-Origin", ORIGIN),
                ("Transfer-Encoding", "chunked"),
            ]
        )
    );
    let line = String::from_utf8(stream.read_chunk().unwrap()).unwrap();
    assert!(line.starts_with("{\"id\":1,\"from\":\"ann\",\"text\":\"first\",\"ts\":"));
    assert!(
        line.ends_with("}\n") && line.matches('\n').count() == 1,
        "{line:?}"
    );

    let (mut iframe, opened) = open_stream(&server, "/chat/iframe?since=0");
    assert_eq!(
        opened.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(
        iframe.read_chunk().unwrap(),
        b"<!doctype html>\n<meta charset=\"utf-8\"><title>/chat/iframe</title>\n"
    );
    let script = String::from_utf8(iframe.read_chunk().unwrap()).unwrap();
    assert!(
        script.starts_with("<script>parent.chatRecord({\"id\":1,"),
        "{script}"
    );
    assert!(script.ends_with("})</script>\n"));
    let (mut posted, _) = open_stream(
        &server,
        "/chat/iframe?since=0&target=http%3A%2F%2F127.0.0.1%3A8088",
    );
    posted.read_chunk();
    let script = String::from_utf8(posted.read_chunk().unwrap()).unwrap();
    assert!(
        script.ends_with("}, \"http://127.0.0.1:8088\")</script>\n"),
        "{script}"
    );
    let bad = get(
        &server,
        "/chat/iframe?since=0&target=http%3A%2F%2Fevil.test",
    );
    assert_eq!(bad.status, 400);

    let (mut events, opened) = open_stream(&server, "/chat/events");
    assert_eq!(opened.header("content-type"), Some("text/event-stream"));
    assert_eq!(events.read_chunk().unwrap(), b"retry: 20\n\n");
    let event = String::from_utf8(events.read_chunk().unwrap()).unwrap();
    assert!(
        event.starts_with("id: 1\ndata: {\"id\":1,\"from\":\"ann\""),
        "{event}"
    );
    assert!(event.ends_with("}\n\n"));

    // A message published now reaches every open stream at once.
    say(&server, "bob", "second");
    for client in [&mut stream, &mut iframe, &mut events] {
        let piece = String::from_utf8(client.read_chunk().unwrap()).unwrap();
        assert_eq!(ids(&piece), [2], "{piece}");
    }
}

#[test]
fn jsonp_calls_back_with_the_same_records() {
    let server = server(Duration::from_secs(5));
    say(&server, "ann", "hi");
    let reply = get(&server, "/chat/jsonp?since=0&cb=room.got");
    assert_eq!(
        reply.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    let body = reply.text();
    assert!(
        body.starts_with("/**/room.got([{\"id\":1,\"from\":\"ann\",\"text\":\"hi\""),
        "{body}"
    );
    assert!(body.ends_with("}]);"));
    for target in [
        "/chat/jsonp?since=0",
        "/chat/jsonp?since=0&cb=alert(1)",
        "/chat/jsonp?cb=f",
    ] {
        assert_eq!(get(&server, target).status, 400, "{target}");
    }
}

// --- WebSocket ---------------------------------------------------------------------------------

/// Opens a chat socket as the demo page does, from its own origin.
fn open_socket(server: &Running, target: &str) -> Client {
    let (socket, _) = upgrade(server, target, &format!("Origin: {ORIGIN}\r\n"));
    socket
}

#[test]
fn a_socket_receives_messages_and_publishes_its_frames() {
    let server = server(Duration::from_secs(10));
    say(&server, "ann", "before");
    let mut socket = open_socket(&server, "/chat/ws?since=0&from=carol");
    assert_eq!(ids(&socket.read_text()), [1]);
    socket.send_text("over the socket");
    let echo = socket.read_text();
    assert!(
        echo.starts_with("{\"id\":2,\"from\":\"carol\",\"text\":\"over the socket\",\"ts\":"),
        "{echo}"
    );
    assert_eq!(
        ids(&get(&server, "/chat/poll?since=1").text()),
        [2],
        "everyone sees it"
    );
    socket.send_text(" ");
    assert_eq!(
        socket.read_text(),
        "{\"error\":\"text is empty: there is nothing to send\"}"
    );
    say(&server, "ann", "after");
    assert_eq!(ids(&socket.read_text()), [3]);
    assert_eq!(
        get(&server, "/chat/ws?since=0").status,
        400,
        "not a handshake"
    );
}

// --- resuming: nothing lost, nothing twice -----------------------------------------------------

/// One connection's worth of receiving on `transport` from `since`: the message ids it got
/// before it was cut (a stream is cut after its first piece of messages).
fn session(server: &Running, transport: &str, since: u64) -> Vec<u64> {
    match transport {
        "poll" | "longpoll" => {
            ids(&get(server, &format!("/chat/{transport}?since={since}")).text())
        }
        "jsonp" => ids(&get(server, &format!("/chat/jsonp?since={since}&cb=f")).text()),
        "ws" => {
            let mut socket = open_socket(server, &format!("/chat/ws?since={since}"));
            ids(&socket.read_text()) // then dropped: TCP closes with no close frame
        }
        "sse" => {
            let mut client = Client::connect(server);
            client.send(format!(
                "GET /chat/events HTTP/1.1\r\nHost: t\r\nLast-Event-ID: {since}\r\n\r\n"
            ));
            client.read_reply_to(true);
            client.read_chunk(); // retry:
            ids(&String::from_utf8(client.read_chunk().unwrap()).unwrap())
        }
        _ => {
            let (mut client, _) = open_stream(server, &format!("/chat/{transport}?since={since}"));
            if transport == "iframe" {
                client.read_chunk(); // the document's start
            }
            ids(&String::from_utf8(client.read_chunk().unwrap()).unwrap())
        }
    }
}

#[test]
fn every_transport_resumes_from_its_cursor_with_nothing_lost_or_twice() {
    const BURST: u64 = 150;
    for transport in ["poll", "longpoll", "stream", "iframe", "sse", "jsonp", "ws"] {
        let server = server(Duration::from_secs(5));
        let publisher = thread::scope(|scope| {
            let publisher = scope.spawn(|| {
                let mut client = Client::connect(&server);
                for n in 1..=BURST {
                    let reply = client.exchange(post_request(
                        "/chat/send",
                        "application/x-www-form-urlencoded",
                        &format!("text=m{n}"),
                    ));
                    assert_eq!(reply.status, 200);
                }
            });
            let mut got: Vec<u64> = Vec::new();
            let mut sessions = 0;
            while got.last() != Some(&BURST) {
                let since = got.last().copied().unwrap_or(0);
                got.extend(session(&server, transport, since));
                sessions += 1;
            }
            assert_eq!(got, (1..=BURST).collect::<Vec<_>>(), "{transport}");
            assert!(sessions > 1, "{transport}: reconnected during the burst");
            publisher.join()
        });
        assert!(publisher.is_ok());
    }
}

// --- the gap signal ------------------------------------------------------------------------------

#[test]
fn a_cursor_older_than_the_room_gets_a_gap_signal_on_every_transport() {
    let server = server(Duration::from_secs(5));
    let mut client = Client::connect(&server);
    let total = CHAT_ROOM_CAPACITY as u64 + 2; // ids 1 and 2 fall out of the room
    for _ in 0..total {
        let reply = client.exchange(post_request("/chat/send", "text/plain", "x"));
        assert_eq!(reply.status, 200);
    }
    let gap = "{\"gap\":{\"after\":0,\"resume\":3}}";
    let poll = get(&server, "/chat/poll?since=0").text();
    assert!(
        poll.starts_with(&format!("[{gap},{{\"id\":3,")),
        "{}",
        &poll[..80]
    );
    assert_eq!(
        ids(&poll).len(),
        MAX_BATCH_EVENTS,
        "one batch; the rest from the cursor"
    );
    assert!(
        get(&server, "/chat/longpoll?since=0")
            .text()
            .starts_with(&format!("[{gap},"))
    );
    let jsonp = get(&server, "/chat/jsonp?since=0&cb=f").text();
    assert!(jsonp.starts_with(&format!("/**/f([{gap},")));
    assert_eq!(
        get(&server, "/chat/poll?since=1").text().get(..32),
        Some("[{\"gap\":{\"after\":1,\"resume\":3}},")
    );
    assert!(
        !get(&server, "/chat/poll?since=2").text().contains("gap"),
        "3 is kept"
    );

    let (mut stream, _) = open_stream(&server, "/chat/stream?since=0");
    let first = String::from_utf8(stream.read_chunk().unwrap()).unwrap();
    assert!(first.starts_with(&format!("{gap}\n{{\"id\":3,")));
    let (mut events, _) = open_stream(&server, "/chat/events?since=0");
    events.read_chunk();
    let first = String::from_utf8(events.read_chunk().unwrap()).unwrap();
    assert!(first.starts_with(&format!("id: 2\nevent: gap\ndata: {gap}\n\nid: 3\n")));
    let mut socket = open_socket(&server, "/chat/ws?since=0");
    assert_eq!(socket.read_text(), gap);

    // A cursor from before a restart (above the newest id) starts over, said as a gap too.
    let restarted = get(&server, "/chat/poll?since=5000").text();
    assert!(restarted.starts_with("[{\"gap\":{\"after\":5000,\"resume\":3}},{\"id\":3,"));
    let empty = self::server(Duration::from_secs(5));
    assert_eq!(
        get(&empty, "/chat/longpoll?since=7").text(),
        "[{\"gap\":{\"after\":7,\"resume\":1}}]",
        "answered at once, not held"
    );
}

// --- vanished clients and caps ---------------------------------------------------------------------

#[test]
fn a_vanished_client_frees_its_place_on_every_held_transport() {
    let server = server(Duration::from_secs(30));
    for (transport, target) in [
        ("longpoll", "/chat/longpoll?since=0"),
        ("stream", "/chat/stream?since=0"),
        ("iframe", "/chat/iframe?since=0"),
        ("sse", "/chat/events"),
    ] {
        let mut client = Client::connect(&server);
        client.send(request(target));
        wait_open(&server, transport, 1);
        drop(client);
        wait_open(&server, transport, 0); // long before the 30 s hold
    }
    let socket = open_socket(&server, "/chat/ws?since=0");
    wait_open(&server, "ws", 1);
    drop(socket);
    wait_open(&server, "ws", 0);
}

#[test]
fn one_held_connection_past_the_servers_share_is_503_on_every_transport() {
    // Four held places for the whole server (`--max-held 4`), shared by every transport.
    let mut config = test_config();
    config.hold = Duration::from_secs(30);
    config.max_held = Some(4);
    let server = start_custom(config, Vec::new());
    let polls = clients_waiting(&server, &request("/chat/longpoll?since=0"), 2);
    let mut streams = Vec::new();
    for _ in 0..2 {
        let mut stream = Client::connect(&server);
        stream.send(request("/chat/stream?since=0"));
        assert_eq!(stream.read_reply_to(true).status, 200);
        streams.push(stream);
    }
    wait_open(&server, "longpoll", 2);
    let reason = "too many requests are held open (4, --max-held); try again shortly\n";
    for path in ["/chat/longpoll?since=0", "/chat/stream?since=0"] {
        let refused = Client::connect(&server).exchange(request(path));
        assert_eq!(refused.status, 503, "{path}");
        assert_eq!(refused.header("retry-after"), Some("1"));
        assert_eq!(refused.text(), reason);
    }
    // A request answered at once is not held: it is served.
    assert_eq!(
        Client::connect(&server)
            .exchange(request("/chat/poll?since=0"))
            .status,
        200
    );
    drop(polls);
    wait_open(&server, "longpoll", 0);
    let mut stream = Client::connect(&server);
    stream.send(request("/chat/stream?since=0"));
    assert_eq!(
        stream.read_reply_to(true).status,
        200,
        "a place given back is taken again"
    );
}

// --- /stats ------------------------------------------------------------------------------------------

#[test]
fn stats_count_requests_bytes_and_messages_per_transport() {
    let server = server(Duration::from_secs(5));
    say(&server, "ann", "one");
    say(&server, "ann", "two");
    let poll = "GET /chat/poll?since=0 HTTP/1.1\r\nHost: t\r\n\r\n";
    let reply = Client::connect(&server).exchange(poll);
    let stats = get(&server, "/stats").text();
    assert_eq!(number(&stats, "last_id"), 2);
    assert_eq!(number(&stats, "tick_ms"), 20);
    assert_eq!(number(&stats, "hold_ms"), 5000);
    assert_eq!(stat(&server, "poll", "requests"), 1);
    assert_eq!(stat(&server, "poll", "bytes_in"), poll.len() as u64);
    assert_eq!(
        stat(&server, "poll", "bytes_out"),
        (reply.head.len() + reply.body.len()) as u64,
        "head and body, as they crossed the wire"
    );
    assert_eq!(stat(&server, "poll", "delivered"), 2);
    let send = &stats[stats.find("\"send\"").unwrap()..];
    assert_eq!(number(send, "requests"), 2);
    for transport in ["longpoll", "stream", "iframe", "sse", "jsonp", "ws"] {
        assert_eq!(stat(&server, transport, "requests"), 0, "{transport}");
    }
    get(&server, "/chat/jsonp?since=1&cb=f");
    assert_eq!(stat(&server, "jsonp", "delivered"), 1);
    let mut socket = open_socket(&server, "/chat/ws?since=0");
    assert_eq!(ids(&(socket.read_text() + &socket.read_text())), [1, 2]);
    wait_open(&server, "ws", 1);
    assert_eq!(stat(&server, "ws", "requests"), 1, "the upgrade");
    wait_stat(&server, "ws", "delivered", 2); // counted once the frames are out
}

// --- --allow-origin ---------------------------------------------------------------------------

#[test]
fn an_allow_origin_is_honoured_by_every_chat_transport_that_checks_origins() {
    let extra = "http://app.test:3000";
    let mut config = test_config();
    config.extra_origins = vec![extra.to_string()];
    let server = start_custom(config, Vec::new());
    let from = |origin: &str, request: &str| {
        request.replacen("\r\n", &format!("\r\nOrigin: {origin}\r\n"), 1)
    };
    // Sending: a page from the extra origin may post; a stranger may not.
    let send = post_request("/chat/send", "text/plain", "hi");
    let mut client = Client::connect(&server);
    assert_eq!(client.exchange(from(extra, &send)).status, 200);
    let stranger = client.exchange(from("http://evil.example", &send));
    assert_eq!(stranger.status, 403);
    // Reading: the extra origin is named in Access-Control-Allow-Origin.
    let poll = "GET /chat/poll?since=0 HTTP/1.1\r\nHost: localhost:8088\r\n\r\n";
    let reply = client.exchange(from(extra, poll));
    assert_eq!(reply.header("access-control-allow-origin"), Some(extra));
    // The hidden iframe may post its records to it.
    let iframe =
        format!("GET /chat/iframe?since=0&target={extra} HTTP/1.1\r\nHost: localhost:8088\r\n\r\n");
    let mut frame = Client::connect(&server);
    frame.send(iframe);
    assert_eq!(frame.read_reply_to(true).status, 200);
    // The WebSocket handshake accepts it.
    let (_, switched) = upgrade(&server, "/chat/ws?since=0", &format!("Origin: {extra}\r\n"));
    assert_eq!(switched.status, 101);
}

#[test]
fn a_socket_without_a_cursor_starts_from_now() {
    // `new WebSocket("/chat/ws")`, as simply as `new EventSource(...)`: no 400, and not the
    // room's history either: the first record is the next message.
    let server = server(Duration::from_secs(10));
    say(&server, "ann", "before");
    let mut socket = open_socket(&server, "/chat/ws");
    say(&server, "bob", "after");
    let record = socket.read_text();
    assert_eq!(ids(&record), [2], "{record}");
    assert!(record.contains("\"text\":\"after\""), "{record}");
}
