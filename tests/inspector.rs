//! The wire inspector (`src/inspector/`) over raw TCP: the session's routes byte for byte
//! (`POST`, `GET` and `DELETE /inspector`), the feed's refusals, and what the feed
//! (`GET /inspector/feed`, a WebSocket) shows of a tapped connection — a keep-alive exchange,
//! pipelined requests, a WebSocket, an event stream, garbage, faults — entry by entry, in order.
//!
//! The feed's JSON is read by this file's own small parser and its frames by `support/ws.rs`,
//! not by the server's code. Every wait is a read of the feed until the entry that says the
//! thing happened arrives; the client sockets' read timeout is only a guard against a hang.
//! What the feed shows of a head is `--trace`'s spelling (CR and LF written out, a line ending
//! after each `\n`): `spelled` below writes it from the bytes the client sent or received.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod support;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use support::ws::{BINARY, CLOSE, FIN, TEXT, close_payload, frame, upgrade, upgrade_request};
use support::{Client, Reply, head, start_custom, test_config};
use webwire::Running;
use webwire::config::Config;
use webwire::inspector::MAX_ENTRY_JSON_BYTES;

/// A page of this server, as `support::ws::upgrade_request`'s `Host: localhost:8088` names it.
const ORIGIN: &str = "http://localhost:8088";
const COOKIE: &str = "webwire-inspector";

// ---- the session: POST, GET and DELETE /inspector -------------------------------------------

/// The panel's `fetch('/inspector', {method: 'POST'})`: a session, its cookie (32 hex digits,
/// sent by the browser only: `HttpOnly`, and never on another site's requests: `Strict`),
/// and where its log stands. `GET /inspector` says whether the cookie names a live session.
#[test]
fn post_opens_a_session_with_its_cookie_and_get_says_whether_one_is_open() {
    let server = server();
    let before = Client::connect(&server).exchange(session_request("GET", None, None));
    assert_json(&before, "{\"enabled\":true,\"open\":false}", None);

    let opened = Client::connect(&server).exchange(session_request("POST", None, Some(ORIGIN)));
    let token = token_of(&opened);
    let cookie = format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict");
    assert_json(&opened, "{\"open\":true,\"last\":0}", Some(&cookie));

    let asked = |cookie: Option<&str>| {
        Client::connect(&server)
            .exchange(session_request("GET", cookie, None))
            .text()
    };
    assert_eq!(asked(Some(&token)), "{\"enabled\":true,\"open\":true}");
    assert_eq!(asked(None), "{\"enabled\":true,\"open\":false}");
    let stranger = "0".repeat(32);
    assert_eq!(asked(Some(&stranger)), "{\"enabled\":true,\"open\":false}");

    // A tapped exchange puts four entries in the log (the connection, the request's head,
    // the answer's head, its body); kept open, nothing more comes. POST again with the
    // cookie finds the same session and says where its log stands.
    let mut tapped = Client::connect(&server);
    tapped.exchange(get_request("/time", &token));
    let again =
        Client::connect(&server).exchange(session_request("POST", Some(&token), Some(ORIGIN)));
    assert_json(&again, "{\"open\":true,\"last\":4}", Some(&cookie));

    // Without the cookie (another browser, or curl with no Origin): another session.
    let other = Client::connect(&server).exchange(session_request("POST", None, None));
    assert_eq!(other.status, 200);
    assert_ne!(token_of(&other), token);
    assert_eq!(other.text(), "{\"open\":true,\"last\":0}");

    // Another site's page may not open one (the one origin rule, `origins.rs`).
    let reason = "pages from http://evil.test may not open the wire inspector\n";
    let refused =
        Client::connect(&server).exchange(session_request("POST", None, Some("http://evil.test")));
    assert_eq!(refused.head_without_date(), refusal_head(403, reason));
    assert_eq!(refused.text(), reason);
}

/// `DELETE /inspector` (the panel closed): 204, the cookie expired; the session is gone, so
/// the old cookie opens no feed, and a request carrying it is shown to nobody, even while
/// another session is open.
#[test]
fn delete_ends_the_session_and_the_old_cookie_then_taps_nothing() {
    let server = server();
    let old = open_session(&server);
    let ended =
        Client::connect(&server).exchange(session_request("DELETE", Some(&old), Some(ORIGIN)));
    assert_eq!(
        ended.head_without_date(),
        head(
            "HTTP/1.1 204 No Content",
            &[(
                "Set-Cookie",
                "webwire-inspector=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
            )]
        )
    );
    assert_eq!(ended.body, b"");
    let asked = Client::connect(&server).exchange(session_request("GET", Some(&old), None));
    assert_eq!(asked.text(), "{\"enabled\":true,\"open\":false}");
    let refused = Client::connect(&server).exchange(feed_request(&old, "0", ORIGIN));
    assert_eq!(refused.status, 403);
    assert_eq!(refused.text(), NO_SESSION);

    // Another browser's session is open: requests are looked at again. The old cookie's
    // connection is not shown to it (nor to anyone); the new cookie's is, first.
    let new = open_session(&server);
    assert_ne!(new, old);
    let mut with_old = Client::connect(&server);
    assert_eq!(with_old.exchange(get_request("/time", &old)).status, 200);
    let mut with_new = Client::connect(&server);
    let port = local_port(&with_new);
    assert_eq!(with_new.exchange(get_request("/time", &new)).status, 200);
    let mut feed = Feed::open(&server, &new, 0);
    let (backlog, live) = feed.backlog();
    assert_eq!(live, 4);
    assert_eq!(backlog[0].shown, opened(backlog[0].conn, port));
    assert!(
        backlog.iter().all(|e| e.conn == backlog[0].conn),
        "{backlog:#?}"
    );

    // Closing needs a page of this server too; closing what is not open is still a 204.
    let reason = "pages from http://evil.test may not close the wire inspector\n";
    let refused = Client::connect(&server).exchange(session_request(
        "DELETE",
        Some(&new),
        Some("http://evil.test"),
    ));
    assert_eq!(refused.head_without_date(), refusal_head(403, reason));
    let again = Client::connect(&server).exchange(session_request("DELETE", Some(&old), None));
    assert_eq!(again.status, 204);
}

/// A feed open when its session ends (the panel closed in another tab) is told so: a close
/// frame 1000 with the reason, which the panel shows instead of reconnecting. The feed looks
/// at its session every `FEED_LOOK` (5 s): the read waits for the close frame, no longer.
#[test]
fn a_feed_whose_session_ends_is_closed_with_1000_and_the_reason() {
    let server = server();
    let token = open_session(&server);
    let mut feed = Feed::open(&server, &token, 0);
    assert_eq!(feed.backlog().1, 0);
    let ended =
        Client::connect(&server).exchange(session_request("DELETE", Some(&token), Some(ORIGIN)));
    assert_eq!(ended.status, 204);
    assert_eq!(
        feed.socket.read_frame(),
        Some((FIN | CLOSE, close_payload(1000, "the inspector was closed")))
    );
    feed.socket
        .send(frame(FIN | CLOSE, &close_payload(1000, "")));
    assert!(feed.socket.is_closed_by_server());
}

// ---- the feed's refusals ---------------------------------------------------------------------

/// The feed is a page's own: no session, an unknown one, another site's page, a cursor that
/// is not a number, or no WebSocket at all — each refused with its status and one line.
#[test]
fn the_feed_refuses_with_a_status_and_a_one_line_reason() {
    let server = server();
    let token = open_session(&server);
    let with_cookie = |extra: &str| format!("Cookie: {COOKIE}={token}\r\n{extra}");
    let feed = "/inspector/feed?since=0";
    let cases: Vec<(String, u16, &str)> = vec![
        (
            upgrade_request(feed, &format!("Origin: {ORIGIN}\r\n")),
            403,
            NO_SESSION,
        ),
        (
            upgrade_request(
                feed,
                &format!(
                    "Origin: {ORIGIN}\r\nCookie: {COOKIE}={}\r\n",
                    "0".repeat(32)
                ),
            ),
            403,
            NO_SESSION,
        ),
        (
            // The token with one digit more is another token.
            upgrade_request(feed, &format!("Cookie: {COOKIE}={token}0\r\n")),
            403,
            NO_SESSION,
        ),
        (
            upgrade_request(feed, &with_cookie("Origin: http://evil.test\r\n")),
            403,
            "pages from http://evil.test may not read the wire inspector's feed\n",
        ),
        (
            upgrade_request(feed, &with_cookie("Origin: http://localhost:9999\r\n")),
            403,
            "pages from http://localhost:9999 may not read the wire inspector's feed\n",
        ),
        (
            upgrade_request(feed, &with_cookie("Origin: null\r\n")),
            403,
            "pages from null may not read the wire inspector's feed\n",
        ),
        (
            upgrade_request(
                feed,
                &with_cookie(&format!("Origin: {ORIGIN}\r\nOrigin: http://evil.test\r\n")),
            ),
            403,
            "more than one Origin header: a request that may read the wire inspector's feed \
             must say which page sent it\n",
        ),
        (
            upgrade_request(
                "/inspector/feed?since=abc",
                &with_cookie(&format!("Origin: {ORIGIN}\r\n")),
            ),
            400,
            BAD_SINCE,
        ),
        (
            upgrade_request("/inspector/feed?since=-1", &with_cookie("")),
            400,
            BAD_SINCE,
        ),
        (
            upgrade_request("/inspector/feed?since=", &with_cookie("")),
            400,
            BAD_SINCE,
        ),
        (
            format!(
                "GET {feed} HTTP/1.1\r\nHost: localhost:8088\r\n{}\r\n",
                with_cookie("")
            ),
            400,
            "this is a WebSocket endpoint: send Upgrade: websocket\n",
        ),
    ];
    for (request, status, reason) in cases {
        let reply = Client::connect(&server).exchange(&request);
        assert_eq!(
            reply.head_without_date(),
            refusal_head(status, reason),
            "{request}"
        );
        assert_eq!(reply.text(), reason, "{request}");
        assert!(!reply.text().trim_end().contains('\n'), "one line");
    }
    // The demo's other origin is a page of this server too.
    let (mut socket, _) = upgrade(
        &server,
        feed,
        &with_cookie("Origin: http://127.0.0.1:8088\r\n"),
    );
    assert_eq!(
        socket.read_text(),
        "{\"kind\":\"live\",\"seq\":0}",
        "accepted"
    );
}

// ---- what the feed shows ---------------------------------------------------------------------

/// Two `GET /time` on one keep-alive connection carrying the cookie: the connection, then each
/// head and body as it crossed the wire, all under the connection's number; then each side's
/// FIN as it happened (the browser's first: the server closes because it read it).
#[test]
fn a_tapped_keep_alive_connection_shows_each_head_and_body_in_order_then_each_fin() {
    let server = server();
    let token = open_session(&server);
    let mut feed = Feed::open(&server, &token, 0);
    assert_eq!(feed.backlog(), (Vec::new(), 0));

    let mut client = Client::connect(&server);
    let port = local_port(&client);
    let request =
        format!("GET /time HTTP/1.1\r\nHost: localhost:8088\r\nCookie: {COOKIE}={token}\r\n\r\n");
    let first = client.exchange(&request);
    let second = client.exchange(&request);
    assert_eq!((first.status, second.status), (200, 200));
    client.shutdown_write();
    assert!(client.is_closed_by_server());

    let entries = feed.until(|e| is_fin(e, Side::Server));
    let conn = entries[0].conn;
    let asked = Shown {
        dir: ">".into(),
        kind: "head".into(),
        label: "GET /time".into(),
        arrow: true,
        bytes: request.len() as u64,
        text: format!(
            "GET /time HTTP/1.1\\r\\n\nHost: localhost:8088\\r\\n\n\
             Cookie: {COOKIE}={token}\\r\\n\n\\r\\n\n"
        ),
    };
    assert_eq!(
        shown(&entries),
        [
            opened(conn, port),
            asked.clone(),
            answered(&first),
            body(&first.body),
            asked,
            answered(&second),
            body(&second.body),
            fin(conn, Side::Browser),
            fin(conn, Side::Server),
        ]
    );
    assert!(entries.iter().all(|e| e.conn == conn), "{entries:#?}");
    let seqs: Vec<u64> = entries.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=9).collect::<Vec<u64>>());
    // The answer's head is the one the client read, Date and all, spelled out.
    assert!(
        entries[2]
            .shown
            .text
            .starts_with("HTTP/1.1 200 OK\\r\\n\nDate: "),
        "{:?}",
        entries[2].shown.text
    );
}

/// An entry is one line of JSON, its fields in a fixed order; `since` resumes after an entry,
/// and `{"kind":"live"}` says where the backlog ends.
#[test]
fn the_feed_sends_entries_after_since_then_says_it_is_live() {
    let server = server();
    let token = open_session(&server);
    let mut client = Client::connect(&server);
    let port = local_port(&client);
    client.exchange(get_request("/time", &token));

    let mut feed = Feed::open(&server, &token, 0);
    let (all, live) = feed.backlog();
    assert_eq!(live, 4);
    assert_eq!(
        all.iter().map(|e| e.seq).collect::<Vec<u64>>(),
        [1, 2, 3, 4]
    );
    let conn = all[0].conn;
    let at = all[0].message.number("at");
    assert_eq!(
        all[0].message.raw,
        format!(
            "{{\"seq\":1,\"conn\":{conn},\"dir\":\">\",\"kind\":\"note\",\"at\":{at},\
             \"label\":\"connection\",\"arrow\":false,\"bytes\":0,\
             \"text\":\"connection #{conn} 127.0.0.1:{port}: shown from here\\n\"}}"
        )
    );
    // The server's direction is `<`, escaped as JSON that can sit in a <script> (json.rs).
    assert!(
        all[2].message.raw.contains("\"dir\":\"\\u003c\""),
        "{}",
        all[2].message.raw
    );

    let mut resumed = Feed::open(&server, &token, 2);
    let (rest, live) = resumed.backlog();
    assert_eq!(live, 4);
    assert_eq!(
        rest.iter()
            .map(|e| e.message.raw.clone())
            .collect::<Vec<_>>(),
        all[2..]
            .iter()
            .map(|e| e.message.raw.clone())
            .collect::<Vec<_>>()
    );
    let mut caught_up = Feed::open(&server, &token, 4);
    assert_eq!(caught_up.backlog(), (Vec::new(), 4));

    // Live entries follow the marker on a feed that is already open.
    client.exchange(get_request("/time", &token));
    let more = caught_up.until(|e| e.shown.kind == "body");
    assert_eq!(more.iter().map(|e| e.seq).collect::<Vec<u64>>(), [5, 6, 7]);
}

/// The log keeps `MAX_ENTRIES` (1000): a feed that asks for more than it holds is told how
/// many were dropped, then gets the oldest one kept.
#[test]
fn a_feed_further_behind_than_the_log_keeps_is_told_how_many_it_missed() {
    let server = server();
    let token = open_session(&server);
    let mut client = Client::connect(&server);
    // One note, then three entries per exchange: 1 + 3 × 340 = 1021 entries.
    for _ in 0..340 {
        assert_eq!(client.exchange(get_request("/time", &token)).status, 200);
    }
    let mut feed = Feed::open(&server, &token, 0);
    let skipped = feed.message();
    assert_eq!(
        skipped.raw,
        "{\"kind\":\"skipped\",\"count\":21,\"seq\":21}"
    );
    let first = Entry::from(feed.message());
    assert_eq!(first.seq, 22);
    let (rest, live) = feed.backlog();
    assert_eq!(live, 1021);
    assert_eq!(rest.len(), 999);
}

/// Entries start with the first request that carries the cookie: what the connection
/// carried before is not shown, and the note says so ("shown from here").
#[test]
fn a_connection_is_shown_from_its_first_request_that_carries_the_cookie() {
    let server = server();
    let token = open_session(&server);
    let mut client = Client::connect(&server);
    let port = local_port(&client);
    let plain = "GET /time?plain HTTP/1.1\r\nHost: localhost:8088\r\n\r\n";
    assert_eq!(client.exchange(plain).status, 200);
    let request = get_request("/time?marked", &token);
    let marked = client.exchange(&request);
    let mut feed = Feed::open(&server, &token, 0);
    let (entries, live) = feed.backlog();
    assert_eq!(live, 4);
    let conn = entries[0].conn;
    assert_eq!(
        shown(&entries),
        [
            opened(conn, port),
            asked(&request, "GET /time?marked"),
            answered(&marked),
            body(&marked.body),
        ]
    );
}

/// Two heads in one write are shown as two, in order, and each answer after its own request:
/// a `HEAD`'s answer says `Content-Length: 30` and has no body (RFC 9110 §9.3.2), so no body
/// entry; the `GET`'s has one. The same again once the tap, not the server, reads the bytes.
#[test]
fn pipelined_requests_are_shown_in_order_and_a_head_answer_has_no_body_entry() {
    let server = server();
    let token = open_session(&server);
    let mut client = Client::connect(&server);
    let port = local_port(&client);
    let head_request = get_request("/time", &token).replacen("GET", "HEAD", 1);
    let get = get_request("/time?then", &token);
    // The first write: the server reads both heads at once, before the tap exists.
    client.send(format!("{head_request}{get}"));
    let head_answer = client.read_reply_to(true);
    let get_answer = client.read_reply();
    // The second: through the tap.
    client.send(format!("{get}{head_request}"));
    let get_again = client.read_reply();
    let head_again = client.read_reply_to(true);
    for answer in [&head_answer, &get_answer, &get_again, &head_again] {
        assert_eq!(answer.status, 200);
        assert_eq!(answer.header("content-length"), Some("30"));
    }
    client.shutdown_write();
    assert!(client.is_closed_by_server());

    let mut feed = Feed::open(&server, &token, 0);
    let entries = feed.until(|e| is_fin(e, Side::Server));
    let conn = entries[0].conn;
    assert_eq!(
        shown(&entries),
        [
            opened(conn, port),
            asked(&head_request, "HEAD /time"),
            asked(&get, "GET /time?then"),
            answered(&head_answer),
            answered(&get_answer),
            body(&get_answer.body),
            asked(&get, "GET /time?then"),
            asked(&head_request, "HEAD /time"),
            answered(&get_again),
            body(&get_again.body),
            answered(&head_again),
            fin(conn, Side::Browser),
            fin(conn, Side::Server),
        ]
    );
}

/// The echo demo (`GET /ws`) through a tap works as ever, and the feed shows each frame: the
/// browser's masked ones unmasked (`mask=1`), the server's (`mask=0`), a long one's first 256
/// bytes, a binary one's bytes, and both close frames with their code's name.
#[test]
fn a_websocket_through_a_tap_still_echoes_and_its_frames_are_shown_unmasked() {
    let server = server();
    let token = open_session(&server);
    let handshake = upgrade_request("/ws", &format!("Cookie: {COOKIE}={token}\r\n"));
    let mut socket = Client::connect(&server);
    let port = local_port(&socket);
    let switched = socket.exchange(&handshake);
    assert_eq!(switched.status, 101);

    socket.send(frame(FIN | TEXT, b"Hello"));
    assert_eq!(socket.read_frame(), Some((FIN | TEXT, b"Hello".to_vec())));
    let long: String = ('a'..='z').cycle().take(300).collect();
    socket.send(frame(FIN | TEXT, long.as_bytes()));
    assert_eq!(
        socket.read_frame(),
        Some((FIN | TEXT, long.clone().into_bytes()))
    );
    socket.send(frame(FIN | BINARY, &[0, 1, 0xfe]));
    assert_eq!(socket.read_frame(), Some((FIN | BINARY, vec![0, 1, 0xfe])));
    socket.send(frame(FIN | CLOSE, &close_payload(1000, "")));
    assert_eq!(
        socket.read_frame(),
        Some((FIN | CLOSE, close_payload(1000, "")))
    );
    assert!(
        socket.is_closed_by_server(),
        "the close handshake completes"
    );
    drop(socket);

    let mut feed = Feed::open(&server, &token, 0);
    let entries = feed.until(|e| is_fin(e, Side::Browser));
    let conn = entries[0].conn;
    let frame_entry = |dir: &str, text: String, label: &str, bytes: u64| Shown {
        dir: dir.into(),
        kind: "frame".into(),
        label: label.into(),
        arrow: true,
        bytes,
        text,
    };
    let long_text = |mask: u8| {
        format!(
            "fin=1 rsv=000 op=1 text mask={mask} len=300\n{}… 44 more bytes\n",
            &long[..256]
        )
    };
    let long_label = format!("text {}…", &long[..32]);
    let close_text = |mask: u8| {
        format!("fin=1 rsv=000 op=8 close mask={mask} len=2 code=1000 (normal closure) \"\"")
    };
    let close_label = "close 1000 (normal closure) \"\"";
    let binary_text =
        |mask: u8| format!("fin=1 rsv=000 op=2 binary mask={mask} len=3\n\\x00\\x01\\xfe");
    assert_eq!(
        shown(&entries),
        [
            opened(conn, port),
            asked(&handshake, "GET /ws"),
            answered(&switched),
            frame_entry(
                ">",
                "fin=1 rsv=000 op=1 text mask=1 len=5\nHello".into(),
                "text Hello",
                11
            ),
            frame_entry(
                "<",
                "fin=1 rsv=000 op=1 text mask=0 len=5\nHello".into(),
                "text Hello",
                7
            ),
            frame_entry(">", long_text(1), &long_label, 2 + 2 + 4 + 300),
            frame_entry("<", long_text(0), &long_label, 2 + 2 + 300),
            frame_entry(">", binary_text(1), "binary (3 bytes)", 2 + 4 + 3),
            frame_entry("<", binary_text(0), "binary (3 bytes)", 2 + 3),
            frame_entry(">", close_text(1), close_label, 2 + 4 + 2),
            frame_entry("<", close_text(0), close_label, 2 + 2),
            fin(conn, Side::Server),
            fin(conn, Side::Browser),
        ]
    );
}

/// `GET /evt` through a tap: each chunk with its size line and CR LFs as they crossed the
/// wire, the event inside it after it, and the last chunk; the chunks of an event stream are
/// drawn as their events (the chunk has no arrow, the event has).
#[test]
fn an_event_stream_through_a_tap_shows_its_chunks_and_their_events() {
    let mut config = config();
    config.tick = Duration::from_millis(20);
    let server = start_custom(config, Vec::new());
    let token = open_session(&server);
    let mut client = Client::connect(&server);
    let port = local_port(&client);
    // `Connection: close`: the whole response, then the close, so the bytes can be read raw.
    let request = format!(
        "GET /evt?count=2 HTTP/1.1\r\nHost: localhost:8088\r\nAccept: text/event-stream\r\n\
         Cookie: {COOKIE}={token}\r\nConnection: close\r\n\r\n"
    );
    client.send(&request);
    let wire = client.read_to_end();
    drop(client);
    let head_end = support::find(&wire, b"\r\n\r\n").unwrap() + 4;
    let stream_head = std::str::from_utf8(&wire[..head_end]).unwrap();
    assert!(
        stream_head.contains("\r\nContent-Type: text/event-stream\r\n")
            && stream_head.contains("\r\nTransfer-Encoding: chunked\r\n"),
        "{stream_head}"
    );
    let chunks = raw_chunks(&wire[head_end..]);
    assert_eq!(chunks.len(), 3, "two events and the last chunk: {chunks:?}");
    let (size_1, data_1) = &chunks[0];
    let (size_2, data_2) = &chunks[1];
    assert_eq!(chunks[2], ("0".to_string(), Vec::new()));
    let event_1 = String::from_utf8(data_1.clone()).unwrap();
    let event_2 = String::from_utf8(data_2.clone()).unwrap();
    assert!(
        event_1.starts_with("retry: 20\nid: 1\ndata: ") && event_1.ends_with(" GMT\n\n"),
        "{event_1:?}"
    );
    assert!(
        event_2.starts_with("id: 2\ndata: ") && event_2.ends_with(" GMT\n\n"),
        "{event_2:?}"
    );

    let mut feed = Feed::open(&server, &token, 0);
    let entries = feed.until(|e| is_fin(e, Side::Browser));
    let conn = entries[0].conn;
    let chunk = |size: &str, data: &[u8]| Shown {
        dir: "<".into(),
        kind: "chunk".into(),
        label: format!("chunk, {} bytes", data.len()),
        arrow: false,
        bytes: (size.len() + 2 + data.len() + 2) as u64,
        text: format!("{size}\\r\\n\n{}\\r\\n\n", spelled(data)),
    };
    let event = |text: &str, label: &str| Shown {
        dir: "<".into(),
        kind: "event".into(),
        label: label.into(),
        arrow: true,
        bytes: text.len() as u64,
        text: text.into(),
    };
    let last_chunk = Shown {
        dir: "<".into(),
        kind: "chunk".into(),
        label: "last chunk".into(),
        arrow: true,
        bytes: 5,
        text: "0\\r\\n\n\\r\\n\n".into(),
    };
    let stream_head_entry = Shown {
        dir: "<".into(),
        kind: "head".into(),
        label: "200 OK".into(),
        arrow: true,
        bytes: stream_head.len() as u64,
        text: spelled(stream_head.as_bytes()),
    };
    assert_eq!(
        shown(&entries),
        [
            opened(conn, port),
            asked(&request, "GET /evt?count=2"),
            stream_head_entry,
            chunk(size_1, data_1),
            event(&event_1, "event: message id: 1"),
            chunk(size_2, data_2),
            event(&event_2, "event: message id: 2"),
            last_chunk,
            fin(conn, Side::Server),
            fin(conn, Side::Browser),
        ]
    );
}

/// The inspector's own exchanges are never shown, on a tapped connection too: `POST` and
/// `GET /inspector` between two shown requests leave no trace, and a feed opened on a tapped
/// connection silences it for good (a feed that showed its own frames would feed itself).
/// Another feed watches; a second connection's exchange marks the end of what could appear.
#[test]
fn the_inspectors_own_requests_on_a_tapped_connection_are_never_shown() {
    let server = server();
    let token = open_session(&server);
    let mut watcher = Feed::open(&server, &token, 0);
    assert_eq!(watcher.backlog().1, 0);

    let mut client = Client::connect(&server);
    let port = local_port(&client);
    let first = client.exchange(get_request("/time", &token));
    let reopened = client.exchange(session_request("POST", Some(&token), Some(ORIGIN)));
    assert_eq!(reopened.status, 200);
    let asked_open = client.exchange(session_request("GET", Some(&token), None));
    assert_eq!(asked_open.text(), "{\"enabled\":true,\"open\":true}");
    let second = client.exchange(get_request("/time?again", &token));
    // The same connection becomes a feed.
    let switched = client.exchange(feed_request(&token, "7", ORIGIN));
    assert_eq!(switched.status, 101);
    assert_eq!(client.read_text(), "{\"kind\":\"live\",\"seq\":7}");
    client.send(frame(FIN | CLOSE, &close_payload(1000, "")));
    assert_eq!(
        client.read_frame(),
        Some((FIN | CLOSE, close_payload(1000, "")))
    );
    client.shutdown_write();
    assert!(client.is_closed_by_server());
    drop(client);

    let mut marker = Client::connect(&server);
    let marker_port = local_port(&marker);
    let marked = marker.exchange(get_request("/time?marker", &token));
    marker.shutdown_write();
    assert!(marker.is_closed_by_server());

    // Everything up to the marker's last entry: whatever the first connection showed of its
    // own requests would be before it.
    let mut entries: Vec<Entry> = Vec::new();
    let mut marker_conn = None;
    loop {
        let entry = watcher.entry();
        if entry.shown == opened(entry.conn, marker_port) {
            marker_conn = Some(entry.conn);
        }
        let done = Some(entry.conn) == marker_conn && is_fin(&entry, Side::Server);
        entries.push(entry);
        if done {
            break;
        }
        assert!(entries.len() < 100, "no end in sight: {entries:#?}");
    }
    let conn = entries[0].conn;
    let tapped: Vec<Shown> = entries
        .iter()
        .filter(|e| e.conn == conn)
        .map(|e| e.shown.clone())
        .collect();
    assert_eq!(
        tapped,
        [
            opened(conn, port),
            asked(&get_request("/time", &token), "GET /time"),
            answered(&first),
            body(&first.body),
            asked(&get_request("/time?again", &token), "GET /time?again"),
            answered(&second),
            body(&second.body),
        ],
        "{entries:#?}"
    );
    let marker_entries: Vec<&Entry> = entries.iter().filter(|e| e.conn != conn).collect();
    assert_eq!(marker_entries.len(), 6, "{entries:#?}");
    assert_eq!(marker_entries[3].shown, body(&marked.body));
}

/// The router serves `/%69nspector/feed` as `/inspector/feed` (the path is percent-decoded,
/// RFC 3986 §2.3), and a page can open `ws://localhost:8088/%69nspector/feed` as it is. The
/// feed must then show nothing of its own connection; the first thing it sends must be
/// `live`, since nothing else happened.
#[test]
fn a_feed_opened_as_a_percent_encoded_path_shows_nothing_of_itself() {
    let server = server();
    let token = open_session(&server);
    let mut feed = Client::connect(&server);
    let switched = feed.exchange(upgrade_request(
        "/%69nspector/feed?since=0",
        &format!("Origin: {ORIGIN}\r\nCookie: {COOKIE}={token}\r\n"),
    ));
    assert_eq!(switched.status, 101, "the router serves it as the feed");
    assert_first_message_is_live(&mut feed, 0);
}

/// The same for the absolute form (`GET http://host/inspector/feed`), which a server must
/// accept (RFC 9112 §3.2.2) and this one does.
#[test]
fn a_feed_opened_in_absolute_form_shows_nothing_of_itself() {
    let server = server();
    let token = open_session(&server);
    let mut feed = Client::connect(&server);
    let switched = feed.exchange(upgrade_request(
        "http://localhost:8088/inspector/feed?since=0",
        &format!("Origin: {ORIGIN}\r\nCookie: {COOKIE}={token}\r\n"),
    ));
    assert_eq!(switched.status, 101, "the router serves it as the feed");
    assert_first_message_is_live(&mut feed, 0);
}

/// RFC 9112 §2.2: a server SHOULD ignore an empty line before a request line, and this one
/// does. On a tapped connection, a feed asked for after one must still silence it.
#[test]
fn a_feed_asked_for_after_an_empty_line_on_a_tapped_connection_shows_nothing_of_itself() {
    let server = server();
    let token = open_session(&server);
    let mut client = Client::connect(&server);
    assert_eq!(client.exchange(get_request("/time", &token)).status, 200);
    let switched = client.exchange(format!("\r\n{}", feed_request(&token, "4", ORIGIN)));
    assert_eq!(switched.status, 101, "the server skips the empty line");
    assert_first_message_is_live(&mut client, 4);
}

/// Bytes that are not HTTP (a TLS ClientHello sent to the plain port) on a tapped connection:
/// the server answers 400 and closes, as it would untapped; the feed shows the 400 and, when
/// the browser closes, the bytes it sent, raw. The server, and the session, go on.
#[test]
fn garbage_on_a_tapped_connection_is_answered_400_and_shown_raw() {
    let server = server();
    let token = open_session(&server);
    let mut client = Client::connect(&server);
    let port = local_port(&client);
    let first = client.exchange(get_request("/time", &token));
    let garbage: &[u8] = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\xa5\xee\x7f";
    client.send(garbage);
    let refused = client.read_reply();
    assert_eq!(refused.status, 400, "{}{}", refused.head, refused.text());
    assert_eq!(refused.header("connection"), Some("close"));
    assert!(client.is_closed_by_server());
    client.shutdown_write();
    drop(client);

    let mut feed = Feed::open(&server, &token, 0);
    let entries = feed.until(|e| is_fin(e, Side::Browser));
    let conn = entries[0].conn;
    let raw = Shown {
        dir: ">".into(),
        kind: "raw".into(),
        label: "part of a head".into(),
        arrow: true,
        bytes: garbage.len() as u64,
        text: "\\x16\\x03\\x01\\x02\\x00\\x01\\x00\\x01\\xfc\\x03\\x03\\xa5\\xee\\x7f".into(),
    };
    assert_eq!(
        shown(&entries),
        [
            opened(conn, port),
            asked(&get_request("/time", &token), "GET /time"),
            answered(&first),
            body(&first.body),
            answered(&refused),
            body(&refused.body),
            fin(conn, Side::Server),
            raw,
            fin(conn, Side::Browser),
        ]
    );

    // Others are served, and shown, as before.
    let mut next = Client::connect(&server);
    let next_port = local_port(&next);
    assert_eq!(next.exchange(get_request("/time", &token)).status, 200);
    let more = feed.until(|e| e.shown.kind == "body");
    assert_eq!(more[0].shown, opened(more[0].conn, next_port));
    assert_ne!(more[0].conn, conn);
}

/// A tapped connection whose later request asks for faults (`?faults=latency=50ms`, a relay
/// behind the tap): the request is answered as a relayed one (`Connection: close`), and the
/// feed shows it as the client saw it. A fresh connection whose first request carries both
/// the cookie and the faults is tapped and relayed too.
#[test]
fn faults_on_a_tapped_connection_still_answer_and_the_feed_shows_them() {
    let server = server();
    let token = open_session(&server);
    let mut client = Client::connect(&server);
    let port = local_port(&client);
    let plain = client.exchange(get_request("/time", &token));
    assert_eq!(plain.header("connection"), None, "kept alive");
    let faulted_request = get_request("/time?faults=latency%3D50ms", &token);
    let faulted = client.exchange(&faulted_request);
    assert_eq!(faulted.status, 200);
    assert_eq!(faulted.header("connection"), Some("close"), "relayed");
    assert!(faulted.text().ends_with(" GMT\n"));
    assert!(client.is_closed_by_server());
    drop(client);

    let mut feed = Feed::open(&server, &token, 0);
    let entries = feed.until(|e| is_fin(e, Side::Browser));
    let conn = entries[0].conn;
    assert_eq!(
        shown(&entries),
        [
            opened(conn, port),
            asked(&get_request("/time", &token), "GET /time"),
            answered(&plain),
            body(&plain.body),
            asked(&faulted_request, "GET /time?faults=latency%3D50ms"),
            answered(&faulted),
            body(&faulted.body),
            fin(conn, Side::Server),
            fin(conn, Side::Browser),
        ]
    );

    let mut fresh = Client::connect(&server);
    let fresh_port = local_port(&fresh);
    let answer = fresh.exchange(&faulted_request);
    assert_eq!(answer.header("connection"), Some("close"), "relayed");
    assert!(fresh.is_closed_by_server());
    drop(fresh);
    let entries = feed.until(|e| is_fin(e, Side::Browser));
    let conn = entries[0].conn;
    assert_eq!(
        shown(&entries),
        [
            opened(conn, fresh_port),
            asked(&faulted_request, "GET /time?faults=latency%3D50ms"),
            answered(&answer),
            body(&answer.body),
            fin(conn, Side::Server),
            fin(conn, Side::Browser),
        ]
    );
}

/// The panel closed and opened again (`DELETE`, then `POST`: a new session, a new cookie)
/// while the page's keep-alive connection stays open, as browsers keep them: that
/// connection's next request carries the new cookie and must be shown in the new session.
#[test]
fn a_connection_tapped_for_an_ended_session_is_shown_to_the_next_one() {
    let server = server();
    let old = open_session(&server);
    let mut client = Client::connect(&server);
    let port = local_port(&client);
    assert_eq!(client.exchange(get_request("/time", &old)).status, 200);
    let ended =
        Client::connect(&server).exchange(session_request("DELETE", Some(&old), Some(ORIGIN)));
    assert_eq!(ended.status, 204);
    let new = open_session(&server);

    let request = get_request("/time?after", &new);
    let answer = client.exchange(&request);
    assert_eq!(answer.status, 200);
    let mut feed = Feed::open(&server, &new, 0);
    let (entries, _) = feed.backlog();
    assert!(
        !entries.is_empty(),
        "the new session shows nothing of a request that carried its cookie"
    );
    // Whether the connection is announced again is the fix's to choose; if it is, as a
    // connection shown from here.
    let conn = entries[0].conn;
    assert!(entries.iter().all(|e| e.conn == conn), "{entries:#?}");
    let notes: Vec<Shown> = entries
        .iter()
        .filter(|e| e.shown.kind == "note")
        .map(|e| e.shown.clone())
        .collect();
    assert!(
        notes.is_empty() || notes == [opened(conn, port)],
        "{notes:#?}"
    );
    let rest: Vec<Shown> = entries
        .iter()
        .filter(|e| e.shown.kind != "note")
        .map(|e| e.shown.clone())
        .collect();
    assert_eq!(
        rest,
        [
            asked(&request, "GET /time?after"),
            answered(&answer),
            body(&answer.body),
        ]
    );
}

/// `MAX_ENTRY_JSON_BYTES`: "the most text one entry carries, as JSON", the bound on a
/// session's memory (`MAX_SESSIONS × MAX_ENTRIES ×` it = 32 MiB). Two heads a client may
/// send must each still make an entry of at most 4 KiB: a header of `<`s (the text is cut to
/// 2 KiB, but JSON writes each `<` as six bytes, `\u003c`), and a request line with a long
/// method (the server answers 501; the label repeats the method uncut).
#[test]
fn an_entry_is_at_most_max_entry_json_bytes_of_json() {
    let server = server();
    let token = open_session(&server);
    let mut client = Client::connect(&server);
    let angles = format!(
        "GET /time HTTP/1.1\r\nHost: localhost:8088\r\nCookie: {COOKIE}={token}\r\n\
         X-Angles: {}\r\n\r\n",
        "<".repeat(3000)
    );
    assert_eq!(client.exchange(&angles).status, 200);
    let long_method = format!(
        "{} /time HTTP/1.1\r\nHost: localhost:8088\r\nCookie: {COOKIE}={token}\r\n\r\n",
        "A".repeat(6000)
    );
    assert_eq!(client.exchange(&long_method).status, 501);
    let mut feed = Feed::open(&server, &token, 0);
    let (entries, live) = feed.backlog();
    assert_eq!(live, 7);
    let sizes: Vec<(u64, usize)> = [&entries[1], &entries[4]]
        .iter()
        .map(|entry| {
            assert_eq!(
                (entry.shown.dir.as_str(), entry.shown.kind.as_str()),
                (">", "head")
            );
            // The feed adds `"seq":N,` to the entry as the log keeps it.
            let seq = format!("\"seq\":{},", entry.seq);
            (entry.seq, entry.message.raw.len() - seq.len())
        })
        .collect();
    assert!(
        sizes.iter().all(|&(_, size)| size <= MAX_ENTRY_JSON_BYTES),
        "entries (seq, bytes of JSON) over MAX_ENTRY_JSON_BYTES ({MAX_ENTRY_JSON_BYTES}): {sizes:?}"
    );
}

// ---- where the inspector is off --------------------------------------------------------------

/// `--inspector off`: the panel is told why, naming the flag; nothing opens.
#[test]
fn inspector_off_refuses_with_the_reason_naming_the_flag() {
    let mut config = config();
    config.inspector = Some(false);
    let server = start_custom(config, Vec::new());
    let reason = "this server was started with --inspector off\n";
    for method in ["POST", "DELETE"] {
        let refused =
            Client::connect(&server).exchange(session_request(method, None, Some(ORIGIN)));
        assert_eq!(
            refused.head_without_date(),
            refusal_head(403, reason),
            "{method}"
        );
        assert_eq!(refused.text(), reason);
    }
    let refused = Client::connect(&server).exchange(feed_request(&"0".repeat(32), "0", ORIGIN));
    assert_eq!(refused.head_without_date(), refusal_head(403, reason));
    let asked = Client::connect(&server).exchange(session_request("GET", None, None));
    assert_json(&asked, "{\"enabled\":false,\"open\":false}", None);
}

/// Listening on every address (`--bind 0.0.0.0`) with no `--inspector`: off, since clients
/// on other machines could reach it; the reason names the flag that turns it on, and
/// `--inspector on` does. (Binding 0.0.0.0 on port 0 needs no privilege; the client connects
/// to 0.0.0.0, which Linux routes to this machine.)
#[test]
fn on_every_address_the_inspector_is_off_unless_the_flag_turns_it_on() {
    let on_all = |inspector: Option<bool>| {
        let mut config: Config = config();
        config.bind = "0.0.0.0".to_string();
        config.inspector = inspector;
        start_custom(config, Vec::new())
    };
    let server = on_all(None);
    let reason = "the inspector is on only when the server listens on loopback; start it with \
                  --inspector on to allow it\n";
    let refused = Client::connect(&server).exchange(session_request("POST", None, Some(ORIGIN)));
    assert_eq!(refused.head_without_date(), refusal_head(403, reason));
    assert_eq!(refused.text(), reason);
    let asked = Client::connect(&server).exchange(session_request("GET", None, None));
    assert_eq!(asked.text(), "{\"enabled\":false,\"open\":false}");
    drop(server);

    let server = on_all(Some(true));
    let opened = Client::connect(&server).exchange(session_request("POST", None, Some(ORIGIN)));
    assert_eq!(opened.status, 200);
    assert_eq!(opened.text(), "{\"open\":true,\"last\":0}");
}

// ---- helpers ---------------------------------------------------------------------------------

/// The test configuration, with a keep-alive connection left idle for a minute rather than a
/// second: the tests count entries, and a connection the server closed for idling would add
/// its two FIN notes wherever a busy machine let the second pass.
fn config() -> Config {
    let mut config = test_config();
    config.timeouts.idle = Duration::from_secs(60);
    config
}

fn server() -> Running {
    start_custom(config(), Vec::new())
}

const NO_SESSION: &str =
    "no inspector session for this browser: POST /inspector first (the panel does)\n";
const BAD_SINCE: &str = "since must be an entry number, e.g. since=0\n";

/// `METHOD /inspector` as the panel's `fetch` sends it, with the cookie and `Origin` if given.
fn session_request(method: &str, token: Option<&str>, origin: Option<&str>) -> String {
    let mut request = format!("{method} /inspector HTTP/1.1\r\nHost: localhost:8088\r\n");
    if let Some(origin) = origin {
        request.push_str(&format!("Origin: {origin}\r\n"));
    }
    if let Some(token) = token {
        request.push_str(&format!("Cookie: {COOKIE}={token}\r\n"));
    }
    if method == "POST" {
        request.push_str("Content-Length: 0\r\n");
    }
    request + "\r\n"
}

/// A GET carrying the session's cookie, as the browser sends it with every request.
fn get_request(target: &str, token: &str) -> String {
    format!("GET {target} HTTP/1.1\r\nHost: localhost:8088\r\nCookie: {COOKIE}={token}\r\n\r\n")
}

/// The feed's opening handshake, as the panel's `new WebSocket(…)` on a page from `origin`.
fn feed_request(token: &str, since: &str, origin: &str) -> String {
    upgrade_request(
        &format!("/inspector/feed?since={since}"),
        &format!("Origin: {origin}\r\nCookie: {COOKIE}={token}\r\n"),
    )
}

/// Opens a session as the panel does and returns its token.
fn open_session(server: &Running) -> String {
    let opened = Client::connect(server).exchange(session_request("POST", None, Some(ORIGIN)));
    assert_eq!(opened.status, 200, "{}", opened.text());
    token_of(&opened)
}

/// The token a `Set-Cookie` gives: 32 lowercase hex digits (128 bits).
fn token_of(reply: &Reply) -> String {
    let cookie = reply.header("set-cookie").expect("a Set-Cookie");
    let value = cookie
        .strip_prefix("webwire-inspector=")
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("not the inspector's cookie: {cookie}"));
    assert_eq!(value.len(), 32, "{cookie}");
    assert!(
        value
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{cookie}"
    );
    value.to_string()
}

/// A JSON answer from `/inspector`: exactly `json`, under its head (with `Set-Cookie`).
fn assert_json(reply: &Reply, json: &str, cookie: Option<&str>) {
    let length = json.len().to_string();
    let mut headers = vec![
        ("Content-Type", "application/json"),
        ("Cache-Control", "no-store"),
    ];
    if let Some(cookie) = cookie {
        headers.push(("Set-Cookie", cookie));
    }
    headers.push(("Content-Length", &length));
    assert_eq!(reply.head_without_date(), head("HTTP/1.1 200 OK", &headers));
    assert_eq!(reply.text(), json);
}

/// A plain one-line refusal's head (`Response::refusal`), kept alive.
fn refusal_head(status: u16, reason: &str) -> String {
    let line = match status {
        400 => "HTTP/1.1 400 Bad Request",
        403 => "HTTP/1.1 403 Forbidden",
        _ => unreachable!("no {status} here"),
    };
    head(
        line,
        &[
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", &reason.len().to_string()),
        ],
    )
}

fn local_port(client: &Client) -> u16 {
    client.stream.local_addr().unwrap().port()
}

/// The first message a feed sends must be `{"kind":"live","seq":since}`: nothing happened.
fn assert_first_message_is_live(feed: &mut Client, since: u64) {
    let (first, payload) = feed.read_frame().expect("a frame");
    assert_eq!(first, FIN | TEXT);
    let text = String::from_utf8(payload).unwrap();
    assert_eq!(
        text,
        format!("{{\"kind\":\"live\",\"seq\":{since}}}"),
        "the feed shows its own connection"
    );
}

/// The chunks of a chunked body as they are on the wire: each size line as written, and data.
fn raw_chunks(mut body: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut chunks = Vec::new();
    loop {
        let line_end = support::find(body, b"\r\n").expect("a size line");
        let size_line = std::str::from_utf8(&body[..line_end]).unwrap().to_string();
        let size = usize::from_str_radix(&size_line, 16).expect("a hex size");
        body = &body[line_end + 2..];
        chunks.push((size_line, body[..size].to_vec()));
        assert_eq!(&body[size..size + 2], b"\r\n");
        body = &body[size + 2..];
        if size == 0 {
            assert!(body.is_empty(), "nothing after the last chunk: {body:?}");
            return chunks;
        }
    }
}

/// Bytes as the inspector (and `--trace`) shows them, per `decode::shown`'s contract: UTF-8
/// as text, CR and LF spelled out with a line break after each `\n`, a tab as `\t`, other
/// control characters and bytes that are not UTF-8 as `\xNN`.
fn spelled(bytes: &[u8]) -> String {
    let mut out = String::new();
    for piece in bytes.utf8_chunks() {
        for c in piece.valid().chars() {
            match c {
                '\r' => out.push_str("\\r"),
                '\n' => out.push_str("\\n\n"),
                '\t' => out.push_str("\\t"),
                c if c.is_control() && (c as u32) < 0x100 => {
                    out.push_str(&format!("\\x{:02x}", c as u32));
                }
                c => out.push(c),
            }
        }
        for byte in piece.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out
}

// ---- expected entries ------------------------------------------------------------------------

/// What one entry shows: everything but its number, its connection and its time.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Shown {
    dir: String,
    kind: String,
    label: String,
    arrow: bool,
    bytes: u64,
    text: String,
}

fn shown(entries: &[Entry]) -> Vec<Shown> {
    entries.iter().map(|e| e.shown.clone()).collect()
}

fn note(dir: &str, label: &str, text: String) -> Shown {
    Shown {
        dir: dir.into(),
        kind: "note".into(),
        label: label.into(),
        arrow: false,
        bytes: 0,
        text,
    }
}

/// The note that opens a connection's entries: its number and the client's address.
fn opened(conn: u64, port: u16) -> Shown {
    note(
        ">",
        "connection",
        format!("connection #{conn} 127.0.0.1:{port}: shown from here\n"),
    )
}

#[derive(Clone, Copy)]
enum Side {
    Browser,
    Server,
}

/// The note that one side closed its half of the connection.
fn fin(conn: u64, side: Side) -> Shown {
    let (dir, who) = match side {
        Side::Browser => (">", "the browser"),
        Side::Server => ("<", "the server"),
    };
    note(
        dir,
        "FIN",
        format!("connection #{conn}: {who} closed its side (FIN)\n"),
    )
}

fn is_fin(entry: &Entry, side: Side) -> bool {
    entry.shown == fin(entry.conn, side)
}

/// A request's head, exactly as sent (`request` is the head alone).
fn asked(request: &str, label: &str) -> Shown {
    Shown {
        dir: ">".into(),
        kind: "head".into(),
        label: label.into(),
        arrow: true,
        bytes: request.len() as u64,
        text: spelled(request.as_bytes()),
    }
}

/// A response's head, exactly as the client read it; the label is its status and phrase.
fn answered(reply: &Reply) -> Shown {
    let status_line = reply.head.split("\r\n").next().unwrap();
    Shown {
        dir: "<".into(),
        kind: "head".into(),
        label: status_line.trim_start_matches("HTTP/1.1 ").into(),
        arrow: true,
        bytes: reply.head.len() as u64,
        text: spelled(reply.head.as_bytes()),
    }
}

/// A body with a `Content-Length`, whole: drawn with its head, so no arrow of its own.
fn body(bytes: &[u8]) -> Shown {
    Shown {
        dir: "<".into(),
        kind: "body".into(),
        label: format!("body, {} bytes", bytes.len()),
        arrow: false,
        bytes: bytes.len() as u64,
        text: spelled(bytes),
    }
}

// ---- the feed, read by this file's own code --------------------------------------------------

/// A feed's WebSocket, opened as the panel opens it (a page of this server, with the cookie).
struct Feed {
    socket: Client,
}

impl Feed {
    fn open(server: &Running, token: &str, since: u64) -> Feed {
        let (socket, switched) = upgrade(
            server,
            &format!("/inspector/feed?since={since}"),
            &format!("Origin: {ORIGIN}\r\nCookie: {COOKIE}={token}\r\n"),
        );
        assert_eq!(switched.header("upgrade"), Some("websocket"));
        Feed { socket }
    }

    /// The next message: one final text frame of JSON.
    fn message(&mut self) -> Message {
        let frame = catch_unwind(AssertUnwindSafe(|| self.socket.read_frame()));
        let (first, payload) = match frame {
            Ok(Some(frame)) => frame,
            Ok(None) => panic!("the feed closed"),
            Err(_) => panic!("the feed sent nothing more (the read timed out or failed)"),
        };
        assert_eq!(first, FIN | TEXT, "{payload:?}");
        Message::parse(String::from_utf8(payload).expect("UTF-8"))
    }

    /// The entries up to the `live` marker, and the marker's `seq`.
    fn backlog(&mut self) -> (Vec<Entry>, u64) {
        let mut entries = Vec::new();
        loop {
            let message = self.message();
            if message.text("kind") == "live" {
                return (entries, message.number("seq"));
            }
            entries.push(Entry::from(message));
        }
    }

    /// The next entry, past any `live` marker.
    fn entry(&mut self) -> Entry {
        loop {
            let message = self.message();
            if message.text("kind") != "live" {
                return Entry::from(message);
            }
        }
    }

    /// Entries up to and with the first for which `last` is true.
    fn until(&mut self, last: impl Fn(&Entry) -> bool) -> Vec<Entry> {
        let mut entries = Vec::new();
        loop {
            let entry = self.entry();
            let done = last(&entry);
            entries.push(entry);
            if done {
                return entries;
            }
            assert!(entries.len() < 100, "no end in sight: {entries:#?}");
        }
    }
}

/// One entry of the feed.
#[derive(Debug, Clone)]
struct Entry {
    seq: u64,
    conn: u64,
    shown: Shown,
    message: Message,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Entry) -> bool {
        self.message.raw == other.message.raw
    }
}

impl From<Message> for Entry {
    fn from(message: Message) -> Entry {
        let names: Vec<&str> = message.fields.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "seq", "conn", "dir", "kind", "at", "label", "arrow", "bytes", "text"
            ],
            "{}",
            message.raw
        );
        let conn = message.number("conn");
        Entry {
            seq: message.number("seq"),
            conn,
            shown: Shown {
                dir: message.text("dir").into(),
                kind: message.text("kind").into(),
                label: message.text("label").into(),
                arrow: message.boolean("arrow"),
                bytes: message.number("bytes"),
                text: message.text("text").into(),
            },
            message,
        }
    }
}

/// A feed message: a flat JSON object of strings, whole numbers and booleans.
#[derive(Debug, Clone, PartialEq)]
struct Message {
    raw: String,
    fields: Vec<(String, Json)>,
}

#[derive(Debug, Clone, PartialEq)]
enum Json {
    Text(String),
    Number(u64),
    Bool(bool),
}

impl Message {
    fn get(&self, name: &str) -> &Json {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("no {name} in {}", self.raw))
    }

    fn text(&self, name: &str) -> &str {
        match self.get(name) {
            Json::Text(text) => text,
            other => panic!("{name} is {other:?} in {}", self.raw),
        }
    }

    fn number(&self, name: &str) -> u64 {
        match self.get(name) {
            Json::Number(n) => *n,
            other => panic!("{name} is {other:?} in {}", self.raw),
        }
    }

    fn boolean(&self, name: &str) -> bool {
        match self.get(name) {
            Json::Bool(b) => *b,
            other => panic!("{name} is {other:?} in {}", self.raw),
        }
    }

    /// Parses `{"name":value,…}` (RFC 8259, the subset the feed writes), strictly.
    fn parse(raw: String) -> Message {
        let mut chars = raw.chars().peekable();
        let mut fields = Vec::new();
        assert_eq!(chars.next(), Some('{'), "{raw}");
        if chars.peek() == Some(&'}') {
            chars.next();
        } else {
            loop {
                let name = json_string(&mut chars, &raw);
                assert_eq!(chars.next(), Some(':'), "{raw}");
                let value = match chars.peek() {
                    Some('"') => Json::Text(json_string(&mut chars, &raw)),
                    Some(c) if c.is_ascii_digit() => {
                        let mut digits = String::new();
                        while let Some(c) = chars.peek().filter(|c| c.is_ascii_digit()) {
                            digits.push(*c);
                            chars.next();
                        }
                        Json::Number(digits.parse().unwrap())
                    }
                    _ => {
                        let word: String =
                            std::iter::from_fn(|| chars.next_if(char::is_ascii_alphabetic))
                                .collect();
                        match word.as_str() {
                            "true" => Json::Bool(true),
                            "false" => Json::Bool(false),
                            _ => panic!("not a value the feed sends: {word:?} in {raw}"),
                        }
                    }
                };
                fields.push((name, value));
                match chars.next() {
                    Some(',') => {}
                    Some('}') => break,
                    other => panic!("{other:?} after a value in {raw}"),
                }
            }
        }
        assert_eq!(chars.next(), None, "one object and nothing after it: {raw}");
        Message { raw, fields }
    }
}

fn json_string(chars: &mut std::iter::Peekable<std::str::Chars>, raw: &str) -> String {
    assert_eq!(chars.next(), Some('"'), "{raw}");
    let mut out = String::new();
    loop {
        match chars
            .next()
            .unwrap_or_else(|| panic!("unended string in {raw}"))
        {
            '"' => return out,
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some('t') => out.push('\t'),
                Some('"') => out.push('"'),
                Some('\\') => out.push('\\'),
                Some('/') => out.push('/'),
                Some('u') => {
                    let hex: String = chars.by_ref().take(4).collect();
                    let code = u32::from_str_radix(&hex, 16).unwrap();
                    out.push(char::from_u32(code).expect("no surrogates in the feed"));
                }
                other => panic!("bad escape {other:?} in {raw}"),
            },
            c if (c as u32) < 0x20 => panic!("a raw control character in a string: {raw}"),
            c => out.push(c),
        }
    }
}
