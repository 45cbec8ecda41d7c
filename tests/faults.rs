//! Faults over raw TCP: what each middlebox behaviour the server can play (`src/faults/`) does
//! to the bytes a client reads — buffer, strip-upgrade, stall-sockets, idle-cut, hold-cap, latency,
//! bandwidth, drop — asked for by one request (`?faults=`, `Webwire-Faults:`) or for the whole
//! server (`config.faults`, `POST /faults`); the switch's own answers; and the chat's
//! `heartbeat=1`, which is how a client sees through them.
//!
//! Every assertion is what a client would see: status lines, exact heads (Date aside), exact
//! bodies, a close with or without the last chunk. Times are only ever lower bounds that the
//! relay's own sleeps guarantee; whether a connection is held is read from `/stats`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod support;

use std::io::Read;
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use support::ws::{CLOSE, FIN, TEXT, close_payload, frame, upgrade, upgrade_request};
use support::{Client, Reply, find, get, head, start_custom, test_config, wait_open};
use webwire::Running;
use webwire::config::Config;
use webwire::faults::Faults;

const ORIGIN: &str = "http://localhost:8088";

// --- buffer ------------------------------------------------------------------------------------

/// nginx's `proxy_buffering`: an event stream reaches the client only in blocks of the buffer's
/// size, so the first thing the client reads is one block, head and all, never the head alone.
#[test]
fn buffer_holds_an_event_stream_back_until_a_block_has_gathered() {
    let server = chat_server(Duration::from_secs(10));
    let mut client = raw_connect(&server);
    send_raw(
        &mut client,
        &request(&with_faults("/chat/events?since=0", "buffer=300")),
    );
    // The head and `retry:` alone are about 230 bytes: not enough. Messages are published
    // once the stream is open, from another thread, while this one is already reading.
    let block = thread::scope(|scope| {
        let poster = scope.spawn(|| {
            wait_open(&server, "sse", 1);
            for n in 1..=8 {
                say(&server, &format!("message+{n}"));
            }
        });
        let mut first = vec![0u8; 64 * 1024];
        let n = client.read(&mut first).unwrap();
        first.truncate(n);
        poster.join().unwrap();
        first
    });
    let text = String::from_utf8_lossy(&block);
    assert!(
        block.len() >= 300,
        "the first read is one block of at least 300 bytes: {text:?}"
    );
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text:?}");
    let head_end = find(&block, b"\r\n\r\n").expect("the whole head is in the block") + 4;
    assert_eq!(
        without_date(&text[..head_end]),
        head(
            "HTTP/1.1 200 OK",
            &[
                ("Content-Type", "text/event-stream"),
                ("Cache-Control", "no-store"),
                ("Vary", "Origin"),
                ("Transfer-Encoding", "chunked"),
                ("Connection", "close"),
            ]
        )
    );
    assert!(
        text[head_end..].starts_with("b\r\nretry: 20\n\n\r\n"),
        "{text:?}"
    );
}

/// A buffering proxy lets a response go whole once it has ended, however short: `/time` is
/// one block, closed after it, since a relayed connection carries one request.
#[test]
fn buffer_lets_a_short_response_through_whole_when_it_ends() {
    let server = start_custom(test_config(), Vec::new());
    let mut client = raw_connect(&server);
    send_raw(&mut client, &request(&with_faults("/time", "buffer=4k")));
    let mut block = vec![0u8; 64 * 1024];
    let n = client.read(&mut block).unwrap();
    let text = String::from_utf8_lossy(&block[..n]).into_owned();
    let head_end = text.find("\r\n\r\n").expect("a whole head") + 4;
    assert_eq!(without_date(&text[..head_end]), time_head(true));
    assert_eq!(
        text.len() - head_end,
        30,
        "the whole body in the same read: {text:?}"
    );
    assert!(text.ends_with(" GMT\n"), "{text:?}");
    assert_eq!(
        read_to_eof(&mut client),
        b"",
        "then the close, and nothing else"
    );
}

/// Proxies buffer HTTP responses, not the protocol a 101 switched to: an echo through
/// `buffer=4k` comes back at once, frame by frame.
#[test]
fn buffer_leaves_a_websocket_alone_after_its_101() {
    let server = start_custom(test_config(), Vec::new());
    let (mut socket, switched) = upgrade(&server, &with_faults("/ws", "buffer=4k"), "");
    assert_eq!(switched.header("connection"), Some("Upgrade"), "not closed");
    socket.send(frame(FIN | TEXT, b"Hello"));
    assert_eq!(socket.read_frame(), Some((FIN | TEXT, b"Hello".to_vec())));
    socket.send(frame(FIN | CLOSE, &close_payload(1000, "")));
    assert_eq!(
        socket.read_frame(),
        Some((FIN | CLOSE, close_payload(1000, "")))
    );
    assert!(socket.is_closed_by_server());
}

/// An antivirus that scans WebSocket traffic lets the handshake through and holds the frames:
/// the socket opens, and what the server sends comes only when the connection ends. The echo
/// of a frame does not arrive while the socket is open (a read waits in vain: that wait is the
/// point, and a relay that let the echo through would fail it at once); after a close, the
/// echo and the close frame come together.
#[test]
fn stall_sockets_lets_the_handshake_through_and_holds_every_frame() {
    let server = start_custom(test_config(), Vec::new());
    let (mut socket, switched) = upgrade(&server, &with_faults("/ws", "stall-sockets"), "");
    assert_eq!(switched.status, 101);
    socket.send(frame(FIN | TEXT, b"Hello"));
    socket
        .stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut byte = [0u8; 1];
    let waited = socket.stream.read(&mut byte);
    assert!(
        waited.as_ref().is_err_and(|e| matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        )),
        "the echo was not held: {waited:?}"
    );
    socket
        .stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    socket.send(frame(FIN | CLOSE, &close_payload(1000, "")));
    assert_eq!(socket.read_frame(), Some((FIN | TEXT, b"Hello".to_vec())));
    assert_eq!(
        socket.read_frame(),
        Some((FIN | CLOSE, close_payload(1000, "")))
    );
    assert!(socket.is_closed_by_server());
}

/// A request timeout on a socket that a scanner holds: the server did answer (the 101, the
/// echo), so the proxy gives up with what it had, never with a 504 in the middle of a
/// WebSocket; then the connection ends.
#[test]
fn stall_sockets_with_a_hold_cap_lets_the_held_frames_go_then_cuts() {
    let server = start_custom(test_config(), Vec::new());
    let (mut socket, switched) = upgrade(
        &server,
        &with_faults("/ws", "stall-sockets,hold-cap=300ms"),
        "",
    );
    assert_eq!(switched.status, 101);
    socket.send(frame(FIN | TEXT, b"Hi"));
    assert_eq!(socket.read_frame(), Some((FIN | TEXT, b"Hi".to_vec())));
    assert!(socket.is_closed_by_server());
}

/// A buffering proxy passes an interim `100 Continue` on (nginx even sends its own): a client
/// that waits for it before sending its body, as RFC 9110 §10.1.1 lets it, must get it.
#[test]
fn buffer_passes_100_continue_on_so_the_body_can_follow() {
    let server = start_custom(test_config(), Vec::new());
    let mut client = Client::connect(&server);
    client.send(format!(
        "POST {} HTTP/1.1\r\nHost: localhost:8088\r\nContent-Type: text/plain\r\n\
         Expect: 100-continue\r\nContent-Length: 5\r\n\r\n",
        with_faults("/ajax/echo", "buffer=4k")
    ));
    let go_on = client.read_reply();
    assert_eq!(go_on.head, "HTTP/1.1 100 Continue\r\n\r\n");
    client.send("hello");
    let echoed = client.read_reply();
    assert_eq!(echoed.status, 200, "{}{}", echoed.head, echoed.text());
}

/// A relayed connection carries one request, so that a response ends with the connection and
/// a buffering relay can see it end. A handshake that is refused is a plain response: it must
/// close too, or `buffer` holds the refusal until the server's idle timeout (15 s by default).
#[test]
fn a_refused_handshake_through_a_relay_is_answered_and_closed() {
    let server = start_custom(test_config(), Vec::new());
    let mut client = Client::connect(&server);
    let refused = client.exchange(upgrade_request(
        &with_faults("/ws", "buffer=4k"),
        "Origin: http://evil.test\r\n",
    ));
    let reason = "pages from http://evil.test may not open this socket\n";
    assert_eq!(refused.text(), reason);
    assert_eq!(
        refused.head_without_date(),
        head(
            "HTTP/1.1 403 Forbidden",
            &[
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", &reason.len().to_string()),
                ("Connection", "close"),
            ]
        )
    );
    assert!(client.is_closed_by_server());
}

// --- strip-upgrade -----------------------------------------------------------------------------

/// nginx without `proxy_set_header Upgrade/Connection` drops both (hop-by-hop, RFC 9110
/// §7.6.1): the server sees a plain GET and answers exactly what it answers a plain GET.
#[test]
fn strip_upgrade_makes_a_handshake_the_plain_get_it_becomes() {
    let server = chat_server(Duration::from_secs(10));
    for path in ["/ws", "/chat/ws"] {
        let plain = get(&server, path);
        assert_eq!(plain.status, 400);
        let stripped = Client::connect(&server)
            .exchange(upgrade_request(path, "Webwire-Faults: strip-upgrade\r\n"));
        assert_eq!(stripped.head_without_date(), plain.head_without_date());
        assert_eq!(
            stripped.text(),
            "this is a WebSocket endpoint: send Upgrade: websocket\n"
        );
        assert_eq!(
            stripped.head_without_date(),
            head(
                "HTTP/1.1 400 Bad Request",
                &[
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("Content-Length", "54"),
                ]
            ),
            "{path}"
        );
    }
}

// --- idle-cut ----------------------------------------------------------------------------------

/// nginx's `proxy_read_timeout`, a load balancer's idle timeout: a stream with no byte either
/// way is closed without a word — no last chunk, so the client knows it was cut.
#[test]
fn idle_cut_closes_a_silent_stream_without_a_last_chunk() {
    let server = chat_server(Duration::from_secs(10));
    let (mut client, opened) = open_head(
        &server,
        &with_faults("/chat/stream?since=0", "idle-cut=300ms"),
    );
    assert_eq!(opened.head_without_date(), ndjson_head());
    assert_eq!(client.read_to_end(), b"", "EOF, and no 0\\r\\n\\r\\n");
}

/// The reason streams send keepalives: with one every `hold` (100 ms), a 500 ms idle cut never
/// comes. Eight keepalives take at least 800 ms, so the stream outlived the cut's time.
#[test]
fn idle_cut_spares_a_stream_that_sends_keepalives() {
    let server = chat_server(Duration::from_millis(100));
    let (mut client, opened) = open_head(
        &server,
        &with_faults("/chat/stream?since=0", "idle-cut=500ms"),
    );
    assert_eq!(opened.head_without_date(), ndjson_head());
    for n in 0..8 {
        assert_eq!(
            client.read_chunk().as_deref(),
            Some(&b"\n"[..]),
            "keepalive {n}"
        );
    }
}

// --- hold-cap ----------------------------------------------------------------------------------

/// Heroku's 30 s router timeout, a Google load balancer's backend timeout: a request still
/// unanswered at the cap gets the proxy's own 504 (no Date, no Server: not ours), then a close.
#[test]
fn hold_cap_answers_a_long_poll_still_held_with_the_proxys_504() {
    let server = chat_server(Duration::from_secs(10));
    let mut client = raw_connect(&server);
    send_raw(
        &mut client,
        &request(&with_faults("/chat/longpoll?since=0", "hold-cap=300ms")),
    );
    let body = "the proxy waited 300ms for an answer (webwire fault hold-cap)\n";
    assert_eq!(
        String::from_utf8(read_to_eof(&mut client)).unwrap(),
        format!(
            "HTTP/1.1 504 Gateway Timeout\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    );
}

/// A response already under way at the cap cannot become a 504: the proxy just ends it, and
/// the client sees the stream stop with no last chunk.
#[test]
fn hold_cap_cuts_an_open_stream_after_its_data_without_a_last_chunk() {
    let server = chat_server(Duration::from_secs(10));
    say(&server, "before");
    let (mut client, opened) = open_head(
        &server,
        &with_faults("/chat/stream?since=0", "hold-cap=300ms"),
    );
    assert_eq!(opened.head_without_date(), ndjson_head());
    let line = client.read_chunk().expect("the message");
    assert!(
        line.starts_with(b"{\"id\":1,\"from\":\"ann\",\"text\":\"before\",\"ts\":")
            && line.ends_with(b"}\n"),
        "{:?}",
        String::from_utf8_lossy(&line)
    );
    assert_eq!(client.read_to_end(), b"", "EOF, and no 0\\r\\n\\r\\n");
}

/// A proxy that gives up on a response the server *did* start passes on what it had, then
/// cuts: a 504 would claim the server never answered. Here the buffer holds the head and the
/// message when the cap comes; they go out, and the connection ends without a last chunk.
#[test]
fn hold_cap_after_the_server_answered_passes_what_the_buffer_held_then_cuts() {
    let server = chat_server(Duration::from_secs(10));
    say(&server, "held");
    let (mut client, opened) = open_head(
        &server,
        &with_faults("/chat/stream?since=0", "buffer=4k,hold-cap=300ms"),
    );
    assert_eq!(opened.head_without_date(), ndjson_head());
    let line = client.read_chunk().expect("the message");
    assert!(
        line.starts_with(b"{\"id\":1,\"from\":\"ann\",\"text\":\"held\",\"ts\":"),
        "{:?}",
        String::from_utf8_lossy(&line)
    );
    assert_eq!(client.read_to_end(), b"", "EOF, and no 0\r\n\r\n");
}

/// HTTP/1.0 with `Connection: keep-alive` asks to keep the connection; through a relay it
/// carries one request all the same, so a buffered answer is let go when it ends, not after
/// the server's idle timeout.
#[test]
fn an_http_1_0_keep_alive_request_through_a_relay_is_answered_and_closed() {
    let server = start_custom(test_config(), Vec::new());
    let mut stream = raw_connect(&server);
    send_raw(
        &mut stream,
        &format!(
            "GET {} HTTP/1.0\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n",
            with_faults("/time", "buffer=4k")
        ),
    );
    let bytes = read_to_eof(&mut stream);
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("\r\nConnection: close\r\n"), "{text}");
    assert!(text.ends_with(" GMT\n"), "{text}");
}

// --- latency -----------------------------------------------------------------------------------

/// A long path adds its delay each way and changes nothing else: the same answer, later. The
/// relay sleeps 100 ms on the way in and 100 ms on the way out, so 200 ms is a floor.
#[test]
fn latency_delays_each_way_and_changes_no_byte() {
    let server = start_custom(test_config(), Vec::new());
    let asked = Instant::now();
    let reply = get(&server, &with_faults("/time", "latency=100ms"));
    let took = asked.elapsed();
    assert_eq!(reply.head_without_date(), time_head(true));
    assert!(reply.text().ends_with(" GMT\n"), "{:?}", reply.text());
    assert!(took >= Duration::from_millis(200), "took {took:?}");
    let straight = get(&server, "/time");
    assert_eq!(
        straight.head_without_date(),
        time_head(false),
        "the same head, but kept alive"
    );
}

// --- bandwidth ---------------------------------------------------------------------------------

/// A narrow link (2 KiB/s, a poor 2G connection) delivers every byte, slowly: the relay sends
/// slices of 1/20 s worth, each when the rate allows, so all but the last slice take their time.
#[test]
fn bandwidth_paces_a_response_and_changes_no_byte() {
    let server = start_custom(test_config(), Vec::new());
    let mut client = raw_connect(&server);
    let asked = Instant::now();
    send_raw(
        &mut client,
        &request(&with_faults("/ajax/large?bytes=2048&ms=20", "bandwidth=2k")),
    );
    let all = read_to_eof(&mut client);
    let took = asked.elapsed();
    let head_end = find(&all, b"\r\n\r\n").unwrap() + 4;
    assert_eq!(
        without_date(std::str::from_utf8(&all[..head_end]).unwrap()),
        head(
            "HTTP/1.1 200 OK",
            &[
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Cache-Control", "no-store"),
                ("Content-Length", "2048"),
                ("Connection", "close"),
            ]
        )
    );
    let line = b"webwire /ajax/large: sixty-four bytes, sent again and again....\n";
    assert_eq!(&all[head_end..], line.repeat(32), "every byte, unchanged");
    let floor = (all.len() as f64 - 2048.0 / 20.0) / 2048.0;
    assert!(
        took.as_secs_f64() >= floor,
        "{} bytes took {took:?}, under {floor:.2} s",
        all.len()
    );
}

// --- drop --------------------------------------------------------------------------------------

/// A connection lost mid-message (a train into a tunnel): past 100 bytes, the next piece the
/// server writes is cut in half with the connection, so the chunked body ends inside a chunk.
#[test]
fn drop_cuts_the_connection_in_the_middle_of_a_chunk() {
    let server = chat_server(Duration::from_secs(10));
    let (mut client, opened) = open_head(&server, &with_faults("/chat/stream?since=0", "drop=100"));
    assert_eq!(opened.head_without_date(), ndjson_head());
    assert!(opened.head.len() >= 100, "the head alone passes 100 bytes");
    say(&server, "this+message+is+cut+in+half");
    let rest = client.read_to_end();
    let whole = "{\"id\":1,\"from\":\"ann\",\"text\":\"this message is cut in half\",\"ts\":";
    match chunked_end(&rest) {
        ChunkedEnd::InsideChunk { declared, data } => {
            assert!(data.len() < declared, "{rest:?}");
            assert!(
                whole.as_bytes().starts_with(&data) || data.starts_with(whole.as_bytes()),
                "the start of the message: {:?}",
                String::from_utf8_lossy(&data)
            );
        }
        other => panic!("the body ended {other:?}, not inside a chunk: {rest:?}"),
    }
}

// --- a request's own spec ----------------------------------------------------------------------

/// A spec that does not parse is the request's mistake: 400 and the one-line reason, whether
/// it came as `?faults=` or as the header.
/// The reason quotes what the client sent: its line breaks escaped, so it stays one line.
#[test]
fn a_bad_spec_with_line_breaks_is_refused_in_one_line() {
    let server = start_custom(test_config(), Vec::new());
    let reply = get(&server, "/time?faults=latency%3D1%0d%0aX-Injected:%201");
    assert_eq!(reply.status, 400);
    let text = reply.text();
    assert_eq!(text.matches('\n').count(), 1, "{text:?}");
    assert!(!text.contains('\r'), "{text:?}");
    assert!(text.ends_with('\n'));
}

#[test]
fn a_requests_own_spec_that_does_not_parse_is_400_with_the_reason() {
    let server = start_custom(test_config(), Vec::new());
    let reason = "no fault is called \"nope\"; the faults are buffer, strip-upgrade, stall-sockets, idle-cut, \
                  hold-cap, latency, bandwidth, drop\n";
    let reply = get(&server, "/time?faults=nope");
    assert_eq!(reply.head_without_date(), refusal_head(400, reason));
    assert_eq!(reply.text(), reason);
    let reason = "buffer=0: give a size from 1 byte to 64 MiB, in bytes or KiB, e.g. 4k\n";
    let reply = Client::connect(&server)
        .exchange("GET /time HTTP/1.1\r\nHost: t\r\nWebwire-Faults: buffer=0\r\n\r\n");
    assert_eq!(reply.head_without_date(), refusal_head(400, reason));
    assert_eq!(reply.text(), reason);
    let reason = "the faults spec is over 256 bytes\n";
    let reply = get(&server, &format!("/time?faults={}", "buffer%2C".repeat(40)));
    assert_eq!(reply.text(), reason);
}

// --- server-wide -------------------------------------------------------------------------------

/// However broken the network is made, the page that turns it off must still load: the
/// server-wide faults skip the pages and `/faults`, and a request may say `none` for itself.
#[test]
fn server_wide_faults_spare_the_pages_the_switch_and_a_request_saying_none() {
    let server = server_with(|config| config.faults = Faults::parse("buffer=64k").unwrap());
    let mut client = Client::connect(&server);
    let page = client.exchange(request("/polling.html"));
    assert_eq!(page.status, 200);
    assert_eq!(page.header("connection"), None, "kept alive: not relayed");
    let switch = client.exchange(request("/faults"));
    assert_eq!(
        switch.text(),
        "{\"faults\":\"buffer=64k\",\"control\":true}"
    );
    assert_eq!(switch.header("connection"), None);
    let spared = client
        .exchange("GET /time HTTP/1.1\r\nHost: localhost:8088\r\nWebwire-Faults: none\r\n\r\n");
    assert_eq!(spared.head_without_date(), time_head(false));
    // A demo endpoint is relayed: one request, `Connection: close`, then the close.
    let faulted = client.exchange(request("/time"));
    assert_eq!(faulted.head_without_date(), time_head(true));
    assert!(client.is_closed_by_server());
}

// --- the switch: GET and POST /faults ----------------------------------------------------------

/// The panel on every page reads `GET /faults` and writes `POST /faults`; the answer is the
/// canonical spec, so the panel shows what the server understood.
#[test]
fn post_faults_switches_the_whole_server_and_get_says_so() {
    let server = start_custom(test_config(), Vec::new());
    let shown = get(&server, "/faults");
    assert_json(&shown, "{\"faults\":\"none\",\"control\":true}");
    let set = switch(&server, ORIGIN, "spec=latency%3D10ms");
    assert_json(&set, "{\"faults\":\"latency=10ms\",\"control\":true}");
    assert_eq!(
        get(&server, "/faults").text(),
        "{\"faults\":\"latency=10ms\",\"control\":true}"
    );
    assert_eq!(
        get(&server, "/time").head_without_date(),
        time_head(true),
        "now relayed"
    );

    let off = switch(&server, ORIGIN, "spec=none");
    assert_eq!(off.text(), "{\"faults\":\"none\",\"control\":true}");
    assert_eq!(get(&server, "/time").head_without_date(), time_head(false));
}

/// Switching faults changes the network for every client, so only this server's pages may,
/// with a form, and a spec that parses; each refusal says why in one line.
#[test]
fn post_faults_refuses_foreign_pages_other_bodies_and_bad_specs() {
    let server = start_custom(test_config(), Vec::new());
    let refusals = [
        (
            switch(&server, "http://evil.test", "spec=buffer"),
            403,
            "pages from http://evil.test may not switch this server's faults\n",
        ),
        (
            Client::connect(&server).exchange(format!(
                "POST /faults HTTP/1.1\r\nHost: localhost:8088\r\nOrigin: {ORIGIN}\r\n\
                 Content-Type: application/json\r\nContent-Length: 17\r\n\r\n{{\"spec\":\"buffer\"}}"
            )),
            415,
            "send a form: spec=buffer%3D4k%2Cidle-cut%3D2s\n",
        ),
        (
            switch(&server, ORIGIN, "spec=bufer"),
            400,
            "no fault is called \"bufer\"; the faults are buffer, strip-upgrade, stall-sockets, idle-cut, \
             hold-cap, latency, bandwidth, drop\n",
        ),
        (
            switch(&server, ORIGIN, "faults=buffer"),
            400,
            "the form needs spec=…, e.g. spec=buffer or spec=none\n",
        ),
    ];
    for (reply, status, reason) in refusals {
        assert_eq!(reply.head_without_date(), refusal_head(status, reason));
        assert_eq!(reply.text(), reason);
    }
    assert_eq!(
        get(&server, "/faults").text(),
        "{\"faults\":\"none\",\"control\":true}",
        "nothing was switched"
    );
}

/// `--fault-control off`: the panel may look, but no page may switch anything.
#[test]
fn fault_control_off_refuses_every_switch() {
    let server = server_with(|config| config.fault_control = Some(false));
    let reason = "this server was started with --fault-control off: pages may not switch faults\n";
    let refused = switch(&server, ORIGIN, "spec=buffer");
    assert_eq!(refused.head_without_date(), refusal_head(403, reason));
    assert_eq!(refused.text(), reason);
    assert_eq!(
        get(&server, "/faults").text(),
        "{\"faults\":\"none\",\"control\":false}"
    );
}

// --- heartbeat=1 -------------------------------------------------------------------------------

/// A client behind a buffering proxy cannot tell a quiet room from a held-back stream; with
/// `heartbeat=1` the stream proves itself at once, and again after every `hold` of quiet.
#[test]
fn heartbeats_open_an_event_stream_and_recur_when_it_is_quiet() {
    let server = chat_server(Duration::from_millis(200));
    let (mut client, opened) = open_head(&server, "/chat/events?heartbeat=1");
    assert_eq!(opened.status, 200);
    assert_eq!(client.read_chunk().as_deref(), Some(&b"retry: 20\n\n"[..]));
    let beat = b"event: heartbeat\ndata: {\"heartbeat\":{\"every_ms\":200}}\n\n";
    assert_eq!(client.read_chunk().as_deref(), Some(&beat[..]), "at once");
    assert_eq!(
        client.read_chunk().as_deref(),
        Some(&beat[..]),
        "after the quiet"
    );
}

/// The same on XHR streaming: a heartbeat line first, in place of the blank keepalive line.
#[test]
fn heartbeats_open_an_xhr_stream_and_recur_when_it_is_quiet() {
    let server = chat_server(Duration::from_millis(200));
    let (mut client, opened) = open_head(&server, "/chat/stream?since=0&heartbeat=1");
    assert_eq!(opened.head_without_date(), ndjson_head_kept());
    let beat = b"{\"heartbeat\":{\"every_ms\":200}}\n";
    assert_eq!(client.read_chunk().as_deref(), Some(&beat[..]), "at once");
    assert_eq!(
        client.read_chunk().as_deref(),
        Some(&beat[..]),
        "after the quiet"
    );
}

/// The same on the chat's socket: the heartbeat is its first text frame, then one per quiet
/// `hold` (a WebSocket's own pings are invisible to a page).
#[test]
fn heartbeats_open_a_chat_socket_and_recur_when_it_is_quiet() {
    let server = chat_server(Duration::from_millis(200));
    let (mut socket, _) = upgrade(
        &server,
        "/chat/ws?heartbeat=1",
        &format!("Origin: {ORIGIN}\r\n"),
    );
    let beat = "{\"heartbeat\":{\"every_ms\":200}}";
    assert_eq!(socket.read_text(), beat, "at once");
    assert_eq!(socket.read_text(), beat, "after the quiet");
}

/// `heartbeat` is a switch with one value: anything else is refused, on every transport.
#[test]
fn heartbeat_other_than_1_is_refused_with_the_reason() {
    let server = chat_server(Duration::from_secs(10));
    let reason = "heartbeat=1 asks for heartbeats; leave it out for none\n";
    let expected = head(
        "HTTP/1.1 400 Bad Request",
        &[
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Cache-Control", "no-store"),
            ("Vary", "Origin"),
            ("Content-Length", "55"),
        ],
    );
    for target in [
        "/chat/events?heartbeat=2",
        "/chat/stream?since=0&heartbeat=2",
    ] {
        let reply = get(&server, target);
        assert_eq!(reply.head_without_date(), expected, "{target}");
        assert_eq!(reply.text(), reason, "{target}");
    }
    let reply = Client::connect(&server).exchange(upgrade_request("/chat/ws?heartbeat=2", ""));
    assert_eq!(reply.head_without_date(), expected, "/chat/ws");
    assert_eq!(reply.text(), reason);
}

// --- helpers -----------------------------------------------------------------------------------

/// A server with the test configuration, changed by `change`.
fn server_with(change: impl FnOnce(&mut Config)) -> Running {
    let mut config = test_config();
    change(&mut config);
    start_custom(config, Vec::new())
}

/// A server for the chat: a 20 ms tick (the `retry:` value) and `hold` between keepalives.
fn chat_server(hold: Duration) -> Running {
    server_with(|config| {
        config.tick = Duration::from_millis(20);
        config.hold = hold;
    })
}

/// `target` asking for `spec` itself, URL-encoded as a page's `encodeURIComponent` would.
fn with_faults(target: &str, spec: &str) -> String {
    let joiner = if target.contains('?') { '&' } else { '?' };
    let spec = spec.replace('=', "%3D").replace(',', "%2C");
    format!("{target}{joiner}faults={spec}")
}

fn request(target: &str) -> String {
    format!("GET {target} HTTP/1.1\r\nHost: localhost:8088\r\n\r\n")
}

/// Publishes `text` (form-encoded) in the chat room as `ann`.
fn say(server: &Running, text: &str) {
    let sent = Client::connect(server).exchange(format!(
        "POST /chat/send HTTP/1.1\r\nHost: localhost:8088\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\nfrom=ann&text={text}",
        "from=ann&text=".len() + text.len()
    ));
    assert_eq!(sent.status, 200, "{}", sent.text());
}

/// `POST /faults` with `form`, as the panel (`demos/faults.js`) on a page from `origin` sends
/// it: `fetch` with a `URLSearchParams` body.
fn switch(server: &Running, origin: &str, form: &str) -> Reply {
    Client::connect(server).exchange(format!(
        "POST /faults HTTP/1.1\r\nHost: localhost:8088\r\nOrigin: {origin}\r\n\
         Content-Type: application/x-www-form-urlencoded;charset=UTF-8\r\n\
         Content-Length: {}\r\n\r\n{form}",
        form.len()
    ))
}

/// Sends `GET target` and reads the head alone: a stream's body is read piece by piece after.
fn open_head(server: &Running, target: &str) -> (Client, Reply) {
    let mut client = Client::connect(server);
    client.send(request(target));
    let head = client.read_reply_to(true);
    (client, head)
}

/// A bare socket, for tests that look at what each `read` returns.
fn raw_connect(server: &Running) -> TcpStream {
    let stream = TcpStream::connect(support::address(server)).unwrap();
    // A safety net so a broken server fails the test instead of hanging it.
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

fn send_raw(stream: &mut TcpStream, text: &str) {
    std::io::Write::write_all(stream, text.as_bytes()).unwrap();
}

/// Every byte until the server closes; a close must be a FIN, never a timeout.
fn read_to_eof(stream: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    stream.read_to_end(&mut all).unwrap();
    all
}

/// A head without its Date line.
fn without_date(head: &str) -> String {
    head.split_inclusive("\r\n")
        .filter(|line| !line.starts_with("Date: "))
        .collect()
}

/// `/time`'s head with the test configuration's 2 s tick, relayed (`Connection: close`) or not.
fn time_head(relayed: bool) -> String {
    let mut headers = vec![
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Cache-Control", "no-store"),
        ("X-Poll-Interval-Ms", "2000"),
        ("Content-Length", "30"),
    ];
    if relayed {
        headers.push(("Connection", "close"));
    }
    head("HTTP/1.1 200 OK", &headers)
}

/// `/chat/stream`'s head, relayed.
fn ndjson_head() -> String {
    head(
        "HTTP/1.1 200 OK",
        &[
            ("Content-Type", "application/x-ndjson"),
            ("Cache-Control", "no-store"),
            ("Vary", "Origin"),
            ("Transfer-Encoding", "chunked"),
            ("Connection", "close"),
        ],
    )
}

/// `/chat/stream`'s head, not relayed.
fn ndjson_head_kept() -> String {
    head(
        "HTTP/1.1 200 OK",
        &[
            ("Content-Type", "application/x-ndjson"),
            ("Cache-Control", "no-store"),
            ("Vary", "Origin"),
            ("Transfer-Encoding", "chunked"),
        ],
    )
}

/// `/faults`'s answer: exactly `json`, under its head.
fn assert_json(reply: &Reply, json: &str) {
    let length = json.len().to_string();
    assert_eq!(
        reply.head_without_date(),
        head(
            "HTTP/1.1 200 OK",
            &[
                ("Content-Type", "application/json"),
                ("Cache-Control", "no-store"),
                ("Content-Length", &length),
            ],
        )
    );
    assert_eq!(reply.text(), json);
}

/// A plain one-line refusal's head (`Response::refusal`), kept alive.
fn refusal_head(status: u16, reason: &str) -> String {
    let line = match status {
        400 => "HTTP/1.1 400 Bad Request",
        403 => "HTTP/1.1 403 Forbidden",
        415 => "HTTP/1.1 415 Unsupported Media Type",
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

/// Where a chunked body that stopped stopped.
#[derive(Debug, PartialEq, Eq)]
enum ChunkedEnd {
    /// After the last chunk and its blank line: a response complete.
    Complete,
    /// After a whole chunk, before the next one's size: cut, but between messages.
    BetweenChunks,
    /// In a chunk's size line (nothing of it yet) or in its data: `data` of `declared` bytes.
    InsideChunk { declared: usize, data: Vec<u8> },
}

/// Parses `body` (what followed the head) as chunks, by this file's own code.
fn chunked_end(mut body: &[u8]) -> ChunkedEnd {
    loop {
        if body.is_empty() {
            return ChunkedEnd::BetweenChunks;
        }
        let Some(line_end) = find(body, b"\r\n") else {
            return ChunkedEnd::InsideChunk {
                declared: usize::MAX,
                data: Vec::new(),
            };
        };
        let size = std::str::from_utf8(&body[..line_end]).unwrap();
        let size = usize::from_str_radix(size, 16).expect("a hex chunk size");
        body = &body[line_end + 2..];
        if size == 0 {
            assert_eq!(body, b"\r\n", "an empty trailer section");
            return ChunkedEnd::Complete;
        }
        if body.len() < size + 2 {
            let data = body[..body.len().min(size)].to_vec();
            return ChunkedEnd::InsideChunk {
                declared: size,
                data,
            };
        }
        assert_eq!(&body[size..size + 2], b"\r\n", "CR LF after a chunk's data");
        body = &body[size + 2..];
    }
}
