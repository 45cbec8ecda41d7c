//! The WebSocket demo over raw TCP: the handshake byte for byte, then frames written and read
//! by hand. The frames here are built and parsed by the tests' own small code (`support/ws.rs`),
//! not the server's codec, so a bug there cannot hide itself.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod support;

use support::ws::{
    ACCEPT, BINARY, CLOSE, FIN, KEY, PING, PONG, TEXT, big_frame_header, close_payload, frame,
    upgrade, upgrade_request,
};
use support::{Client, head, start};

// ---- the handshake ---------------------------------------------------------------------------

#[test]
fn the_handshake_answers_101_with_the_rfc_accept_key() {
    let server = start();
    let (mut ws, switched) = upgrade(&server, "/ws", "");
    let date_line = switched
        .head
        .split("\r\n")
        .find(|l| l.starts_with("Date: "))
        .unwrap();
    assert_eq!(
        switched.head.replace(&format!("{date_line}\r\n"), ""),
        head(
            "HTTP/1.1 101 Switching Protocols",
            &[
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade"),
                ("Sec-WebSocket-Accept", ACCEPT),
            ]
        )
    );
    // §5.7: the RFC's masked "Hello" comes back unmasked.
    ws.send([
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ]);
    assert_eq!(ws.read_frame(), Some((FIN | TEXT, b"Hello".to_vec())));
}

#[test]
fn frames_sent_with_the_handshake_are_not_lost() {
    let server = start();
    let mut client = Client::connect(&server);
    let mut bytes = upgrade_request("/ws", "").into_bytes();
    bytes.extend(frame(FIN | TEXT, b"early"));
    bytes.extend(frame(FIN | CLOSE, &close_payload(1000, "")));
    client.send(bytes);
    let reply = client.read_reply();
    assert_eq!(reply.status, 101);
    assert_eq!(
        client.read_to_end(),
        [&[0x81, 5][..], b"early", &[0x88, 2, 0x03, 0xe8]].concat()
    );
}

#[test]
fn a_wrong_version_gets_426_with_the_version_we_speak() {
    let server = start();
    let request = upgrade_request("/ws", "").replace("Version: 13", "Version: 8");
    let reply = Client::connect(&server).exchange(request);
    assert_eq!(
        reply.head_without_date(),
        head(
            "HTTP/1.1 426 Upgrade Required",
            &[
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Upgrade", "websocket"),
                ("Sec-WebSocket-Version", "13"),
                ("Content-Length", "45"),
                ("Connection", "Upgrade"),
            ]
        )
    );
    assert_eq!(
        reply.text(),
        "this server speaks WebSocket version 13 only\n"
    );
}

#[test]
fn bad_handshakes_get_400_405_or_403() {
    let server = start();
    let good = upgrade_request("/ws", "");
    let cases: &[(String, u16, &str)] = &[
        (
            good.replace(&format!("Sec-WebSocket-Key: {KEY}\r\n"), ""),
            400,
            "Sec-WebSocket-Key must be base64 of 16 bytes, sent once\n",
        ),
        (
            good.replace(KEY, "c2hvcnQ="),
            400,
            "Sec-WebSocket-Key must be base64 of 16 bytes, sent once\n",
        ),
        (
            good.replace("Upgrade: websocket\r\n", ""),
            400,
            "this is a WebSocket endpoint: send Upgrade: websocket\n",
        ),
        (
            good.replace("Connection: Upgrade", "Connection: keep-alive"),
            400,
            "a WebSocket handshake needs Connection: Upgrade\n",
        ),
        (
            good.replace("Sec-WebSocket-Version: 13\r\n", ""),
            400,
            "Sec-WebSocket-Version is missing\n",
        ),
        (
            good.replace("GET /ws", "GET /ws?drop_after=zero"),
            400,
            "drop_after must be a whole number, 1 or more\n",
        ),
        (
            good.replace("\r\n\r\n", "\r\nOrigin: http://evil.example\r\n\r\n"),
            403,
            "pages from http://evil.example may not open this socket\n",
        ),
        (
            good.replace("\r\n\r\n", "\r\nOrigin: http://localhost:9999\r\n\r\n"),
            403,
            "pages from http://localhost:9999 may not open this socket\n",
        ),
        (
            // One allowed and one not: which page is it? Refused, not the first one believed.
            good.replace(
                "\r\n\r\n",
                "\r\nOrigin: http://localhost:8088\r\nOrigin: http://evil.example\r\n\r\n",
            ),
            403,
            "more than one Origin header: a request that may open this socket must say which page sent it\n",
        ),
        (
            good.replace("GET", "POST"),
            405,
            "this path does not accept that method\n",
        ),
    ];
    for (request, status, body) in cases {
        let reply = Client::connect(&server).exchange(request);
        assert_eq!(
            (reply.status, reply.text().as_str()),
            (*status, *body),
            "{request}"
        );
    }
    let mut client = Client::connect(&server);
    client.send(good.replace("GET", "HEAD"));
    let reply = client.read_reply_to(true);
    assert_eq!(
        (reply.status, reply.header("allow")),
        (400, None),
        "the path answers HEAD"
    );
}

#[test]
fn own_origins_and_clients_without_origin_may_connect() {
    let server = start();
    upgrade(&server, "/ws", "Origin: http://localhost:8088\r\n");
    upgrade(&server, "/ws", "Origin: http://127.0.0.1:8088\r\n");
    upgrade(&server, "/ws", ""); // no Origin: not a browser
}

#[test]
fn one_supported_subprotocol_is_chosen_never_the_list() {
    let server = start();
    let (_, switched) = upgrade(
        &server,
        "/ws",
        "Sec-WebSocket-Protocol: mqtt, chat, echo\r\n",
    );
    assert!(
        switched
            .head
            .ends_with("Sec-WebSocket-Protocol: chat\r\n\r\n"),
        "{}",
        switched.head
    );
    let (_, switched) = upgrade(&server, "/ws", "Sec-WebSocket-Protocol: mqtt\r\n");
    assert!(
        !switched.head.contains("Sec-WebSocket-Protocol"),
        "{}",
        switched.head
    );
}

#[test]
fn permessage_deflate_is_never_accepted() {
    let server = start();
    let offer = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";
    let (_, switched) = upgrade(&server, "/ws", offer);
    assert!(
        !switched.head.contains("Sec-WebSocket-Extensions"),
        "{}",
        switched.head
    );
}

// ---- the echo --------------------------------------------------------------------------------

#[test]
fn text_stays_text_and_binary_stays_binary() {
    let server = start();
    let (mut ws, _) = upgrade(&server, "/ws", "");
    ws.send(frame(FIN | TEXT, "κόσμε".as_bytes()));
    ws.send(frame(FIN | BINARY, &[0, 1, 2, 255]));
    ws.send(frame(FIN | TEXT, b""));
    assert_eq!(
        ws.read_frame(),
        Some((FIN | TEXT, "κόσμε".as_bytes().to_vec()))
    );
    assert_eq!(ws.read_frame(), Some((FIN | BINARY, vec![0, 1, 2, 255])));
    assert_eq!(ws.read_frame(), Some((FIN | TEXT, Vec::new())));
}

#[test]
fn a_fragmented_message_with_pings_between_its_fragments() {
    let server = start();
    let (mut ws, _) = upgrade(&server, "/ws", "");
    ws.send(frame(TEXT, b"frag"));
    ws.send(frame(FIN | PING, b"are you there?"));
    ws.send(frame(0, b"ment"));
    ws.send(frame(FIN | PONG, b"unsolicited: ignored"));
    ws.send(frame(FIN | PING, b""));
    // One byte at a time: frames may be cut anywhere by the network.
    for byte in frame(FIN, b"ed") {
        ws.send([byte]);
    }
    assert_eq!(
        ws.read_frame(),
        Some((FIN | PONG, b"are you there?".to_vec()))
    );
    assert_eq!(ws.read_frame(), Some((FIN | PONG, Vec::new())));
    assert_eq!(ws.read_frame(), Some((FIN | TEXT, b"fragmented".to_vec())));
}

#[test]
fn large_messages_in_each_length_form_up_to_the_limit() {
    let server = start();
    let (mut ws, _) = upgrade(&server, "/ws", "");
    for len in [125, 126, 65535, 65536, 1 << 20] {
        let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        ws.send(frame(FIN | BINARY, &payload));
        assert_eq!(
            ws.read_frame(),
            Some((FIN | BINARY, payload)),
            "{len} bytes"
        );
    }
    // Exactly 16 MiB, in 16 fragments of 1 MiB: accepted and echoed whole.
    let mib: Vec<u8> = vec![b'x'; 1 << 20];
    ws.send(frame(TEXT, &mib));
    for _ in 0..14 {
        ws.send(frame(0, &mib));
    }
    ws.send(frame(FIN, &mib));
    let (first, payload) = ws.read_frame().unwrap();
    assert_eq!((first, payload.len()), (FIN | TEXT, 16 << 20));
}

#[test]
fn drop_after_cuts_the_connection_without_a_close_frame() {
    let server = start();
    let (mut ws, _) = upgrade(&server, "/ws?drop_after=2", "");
    for word in [&b"one"[..], b"two", b"three"] {
        ws.send(frame(FIN | TEXT, word));
    }
    assert_eq!(ws.read_frame(), Some((FIN | TEXT, b"one".to_vec())));
    assert_eq!(ws.read_frame(), Some((FIN | TEXT, b"two".to_vec())));
    assert!(ws.is_closed_by_server(), "no third echo and no close frame");
}

// ---- closing ---------------------------------------------------------------------------------

#[test]
fn a_close_is_answered_once_with_its_code_and_reason_then_tcp_closes() {
    let server = start();
    let (mut ws, _) = upgrade(&server, "/ws", "");
    ws.send(frame(FIN | CLOSE, &close_payload(4000, "bye é")));
    ws.send(frame(FIN | TEXT, b"after the close: ignored"));
    assert_eq!(
        ws.read_frame(),
        Some((FIN | CLOSE, close_payload(4000, "bye é")))
    );
    assert!(ws.is_closed_by_server());

    let (mut ws, _) = upgrade(&server, "/ws", "");
    ws.send(frame(FIN | CLOSE, b""));
    assert_eq!(
        ws.read_frame(),
        Some((FIN | CLOSE, Vec::new())),
        "none for none"
    );
    assert!(ws.is_closed_by_server());
}

#[test]
fn protocol_errors_close_with_their_code_and_nothing_else() {
    let unmasked = [0x81, 0x02, b'h', b'i'].to_vec();
    let too_big = big_frame_header((16u64 << 20) + 1, true); // one byte over, announced only
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (unmasked, 1002),
        (frame(0xC0 | TEXT, b"rsv1"), 1002),
        (frame(FIN | 0x3, b"opcode 3"), 1002),
        (frame(PING, b"fragmented ping"), 1002),
        (frame(FIN | PING, &[0; 126]), 1002),
        (frame(FIN, b"continuation of nothing"), 1002),
        ([frame(TEXT, b"a"), frame(FIN | TEXT, b"b")].concat(), 1002),
        (frame(FIN | CLOSE, &close_payload(1005, "")), 1002),
        (frame(FIN | CLOSE, &[0x03]), 1002),
        (frame(FIN | TEXT, b"\xce\xba\xff"), 1007),
        ([frame(TEXT, b"\xe2\x82"), frame(FIN, b"")].concat(), 1007),
        (frame(FIN | CLOSE, b"\x03\xe8\xff"), 1007),
        (too_big, 1009),
    ];
    let server = start();
    for (bytes, code) in cases {
        let (mut ws, _) = upgrade(&server, "/ws", "");
        ws.send(&bytes);
        let (first, payload) = ws.read_frame().expect("a close frame");
        assert_eq!(
            (first, payload[..2].to_vec()),
            (FIN | CLOSE, code.to_be_bytes().to_vec()),
            "{bytes:x?}: {:?}",
            String::from_utf8_lossy(&payload[2..])
        );
        assert!(
            ws.is_closed_by_server(),
            "{bytes:x?}: nothing after the close frame"
        );
    }
}

#[test]
fn invalid_utf8_fails_before_the_message_ends() {
    let server = start();
    let (mut ws, _) = upgrade(&server, "/ws", "");
    // The first fragment is already impossible UTF-8; the message is never finished.
    ws.send(frame(TEXT, b"ok \xf4\x90"));
    let (first, payload) = ws.read_frame().expect("a close frame");
    assert_eq!((first, &payload[..2]), (FIN | CLOSE, &[0x03, 0xef][..]));
}

#[test]
fn a_client_that_vanishes_mid_message_ends_the_connection() {
    let server = start();
    let (mut ws, _) = upgrade(&server, "/ws", "");
    let whole = frame(FIN, &[7; 1000]);
    ws.send(frame(BINARY, b"first fragment"));
    ws.send(&whole[..500]);
    ws.stream.shutdown(std::net::Shutdown::Write).unwrap();
    // The server's loop sees the end of the stream and closes too, without a close frame.
    assert!(ws.is_closed_by_server());
}

#[test]
fn an_allow_origin_may_open_a_socket() {
    let mut config = support::test_config();
    config.extra_origins = vec!["http://app.test:3000".to_string()];
    let server = support::start_custom(config, Vec::new());
    let (_, switched) = upgrade(&server, "/ws", "Origin: http://app.test:3000\r\n");
    assert_eq!(switched.status, 101);
    let refused = Client::connect(&server)
        .exchange(upgrade_request("/ws", "Origin: http://app.test:3001\r\n"));
    assert_eq!(refused.status, 403);
}
