//! Clients that read slowly, stop reading, leave oddly or send cheap requests that would cost
//! the server dearly: what each of them sees, and that everyone else is still served
//! (chapter 01, "What a client can make the server hold").

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod support;

use std::io::Read;
use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::Duration;

use support::ws::{big_frame_header, upgrade};
use support::{
    Client, clients_waiting, get, ids, post_request, start_custom, stat, test_config, wait_open,
};
use webwire::Running;
use webwire::config::Config;
use webwire::demos::ajax::MAX_ECHO_BODY_BYTES;
use webwire::demos::chat::MAX_CHAT_TEXT_BYTES;
use webwire::hub::{MAX_BATCH_EVENTS, MAX_BATCH_TEXT_BYTES};

/// The largest catch-up answer (chapter 01): every text byte escaped to six (`<` is
/// `\u003c`), plus each record's own JSON around it.
const BATCH_BOUND: usize = 6 * MAX_BATCH_TEXT_BYTES + MAX_BATCH_EVENTS * 100;

fn server_with(change: impl FnOnce(&mut Config)) -> Running {
    let mut config = test_config();
    config.hold = Duration::from_secs(30);
    change(&mut config);
    start_custom(config, Vec::new())
}

/// Fills the room with `count` messages of the longest text, all `<`: six bytes each in JSON.
fn fill_room(server: &Running, count: usize) {
    let mut client = Client::connect(server);
    let text = "<".repeat(MAX_CHAT_TEXT_BYTES);
    for _ in 0..count {
        let reply = client.exchange(post_request("/chat/send", "text/plain", &text));
        assert_eq!(reply.status, 200);
    }
}

fn request(target: &str) -> String {
    format!("GET {target} HTTP/1.1\r\nHost: localhost:8088\r\n\r\n")
}

// --- a reader far behind gets bounded pieces ---------------------------------------------------

#[test]
fn a_reader_far_behind_gets_the_backlog_in_bounded_answers_on_every_polling_transport() {
    let server = server_with(|_| {});
    fill_room(&server, 30);
    for target in ["/chat/poll", "/chat/longpoll", "/chat/jsonp"] {
        let mut seen = Vec::new();
        let mut client = Client::connect(&server);
        while seen.len() < 30 {
            let since = seen.last().copied().unwrap_or(0);
            let reply = client.exchange(request(&format!("{target}?since={since}&cb=f")));
            assert!(
                reply.body.len() <= BATCH_BOUND,
                "{target}: {}",
                reply.body.len()
            );
            let got = ids(&reply.text());
            assert!(
                !got.is_empty(),
                "{target}: more is there, so an answer has some"
            );
            seen.extend(got);
        }
        assert_eq!(
            seen,
            (1..=30).collect::<Vec<_>>(),
            "{target}: all, once, in order"
        );
    }
}

#[test]
fn an_event_stream_sends_a_backlog_in_bounded_pieces() {
    let server = server_with(|_| {});
    fill_room(&server, 30);
    let mut client = Client::connect(&server);
    client.send(request("/chat/events?since=0"));
    let head = client.read_reply_to(true);
    assert_eq!(head.status, 200);
    let mut seen = Vec::new();
    while seen.len() < 30 {
        let piece = client.read_chunk().expect("the stream goes on");
        assert!(
            piece.len() <= BATCH_BOUND,
            "one piece of {} bytes",
            piece.len()
        );
        seen.extend(ids(&String::from_utf8(piece).unwrap()));
    }
    assert_eq!(seen, (1..=30).collect::<Vec<_>>());
}

// --- a reader that stops is cut between whole pieces, and loses nothing -----------------------

/// Whole frames from the server's bytes: (payloads, the bytes of a cut frame after them).
fn split_frames(mut bytes: &[u8]) -> (Vec<Vec<u8>>, Vec<u8>) {
    let mut frames = Vec::new();
    loop {
        let header = match bytes {
            [_, 126, a, b, ..] => Some((4, u16::from_be_bytes([*a, *b]) as usize)),
            [_, 127, rest @ ..] if rest.len() >= 8 => Some((
                10,
                u64::from_be_bytes(rest[..8].try_into().unwrap()) as usize,
            )),
            [_, len, ..] if *len < 126 => Some((2, *len as usize)),
            _ => None,
        };
        match header {
            Some((at, len)) if bytes.len() >= at + len => {
                assert_eq!(bytes[0], 0x81, "only whole text frames before the cut");
                frames.push(bytes[at..at + len].to_vec());
                bytes = &bytes[at + len..];
            }
            _ => return (frames, bytes.to_vec()),
        }
    }
}

/// A reader that will stall: its read timeout outlasts the server's cut by far.
fn patient(client: Client) -> Client {
    client
        .stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    client
}

/// A chat socket from `since`, past its 101.
fn open_socket(server: &Running, since: u64) -> Client {
    let (socket, _) = upgrade(server, &format!("/chat/ws?since={since}"), "");
    patient(socket)
}

#[test]
fn a_chat_socket_that_stops_reading_is_cut_after_whole_frames_and_resumes_losslessly() {
    let server = server_with(|_| {});
    let total = 300; // about 7 MB of frames: far more than the kernel's buffers take
    fill_room(&server, total);
    let mut stalled = open_socket(&server, 0);
    wait_open(&server, "ws", 1);
    // Not reading: the writer's frame cannot drain within the write timeout, and the server
    // cuts the connection as a whole.
    wait_open(&server, "ws", 0);
    // What it had sent, to the cut (an end of stream or a reset both end it).
    let (frames, cut) = split_frames(&stalled.read_to_end());
    let texts: Vec<String> = frames
        .into_iter()
        .map(|f| String::from_utf8(f).unwrap())
        .collect();
    let got: Vec<u64> = texts.iter().flat_map(|t| ids(t)).collect();
    assert!(
        !got.is_empty() && got.len() < total,
        "{} whole frames",
        got.len()
    );
    assert_eq!(got, (1..=got.len() as u64).collect::<Vec<_>>());
    // After the last whole frame: at most part of one more, and nothing after it (no later
    // frame, no pong): its bytes are the start of the next record, all printable JSON.
    if cut.len() > 4 {
        assert!(
            cut[4..].iter().all(|b| (b' '..=b'~').contains(b)),
            "only a record's bytes"
        );
        assert!(cut[4..].starts_with(b"{\"id\":"), "{:?}", &cut[..12]);
    }
    // The page reconnects from the last id it got, and gets every other message once.
    let last = *got.last().unwrap();
    let mut resumed = open_socket(&server, last);
    let mut seen = Vec::new();
    while seen.len() < total - last as usize {
        let (first, frame) = resumed
            .read_frame()
            .unwrap_or_else(|| panic!("closed after {} of the rest", seen.len()));
        assert_eq!(first, 0x81, "only whole text frames");
        seen.extend(ids(&String::from_utf8(frame).unwrap()));
    }
    assert_eq!(
        seen,
        (last + 1..=total as u64).collect::<Vec<_>>(),
        "no gap, none twice"
    );
}

#[test]
fn an_event_stream_that_stops_reading_is_cut_after_whole_chunks() {
    let server = server_with(|_| {});
    fill_room(&server, 300);
    let mut stalled = patient(Client::connect(&server));
    stalled.send(request("/chat/events?since=0"));
    wait_open(&server, "sse", 1);
    wait_open(&server, "sse", 0);
    let bytes = stalled.read_to_end();
    let text = String::from_utf8_lossy(&bytes);
    let body_start = text.find("\r\n\r\n").unwrap() + 4;
    // Whole chunks, then at most part of one: never the last chunk, which would say the
    // stream ended properly, and never anything after the partial one.
    let mut rest = &bytes[body_start..];
    let mut ids_seen = Vec::new();
    while let Some(line_end) = support::find(rest, b"\r\n") {
        let size =
            usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).unwrap(), 16).unwrap();
        assert_ne!(size, 0, "a cut stream has no last chunk");
        if rest.len() < line_end + 2 + size + 2 {
            break; // the piece that was cut
        }
        let data = &rest[line_end + 2..line_end + 2 + size];
        ids_seen.extend(ids(&String::from_utf8_lossy(data)));
        rest = &rest[line_end + 2 + size + 2..];
    }
    assert!(!ids_seen.is_empty() && ids_seen.len() < 300);
    assert_eq!(ids_seen, (1..=ids_seen.len() as u64).collect::<Vec<_>>());
}

#[test]
fn a_trickling_reader_cannot_stretch_the_write_deadline() {
    // A socket's own write timeout restarts with every system call that moves a byte: a
    // client reading a little, often, kept a piece's write alive for ever. The deadline is
    // per piece, so such a client is cut.
    let server = server_with(|_| {});
    fill_room(&server, 300);
    let mut slow = patient(Client::connect(&server));
    slow.send(request("/chat/events?since=0"));
    wait_open(&server, "sse", 1);
    // Read a little, often, until the server counts the stream closed. Most of what it
    // wrote is still in the kernel's buffers then: the cut comes long before the end.
    let mut received = 0;
    let mut chunk = [0u8; 512];
    let whole = 300 * 6 * MAX_CHAT_TEXT_BYTES;
    while stat(&server, "sse", "open") == 1 {
        received += slow.stream.read(&mut chunk).unwrap();
        assert!(
            received < whole / 4,
            "still served after {received} bytes: never cut"
        );
        thread::sleep(Duration::from_millis(20)); // the client's pace: about 25 KB/s
    }
    assert_eq!(get(&server, "/time").status, 200, "everyone else is served");
}

// --- cheap requests that would cost a lot ------------------------------------------------------

#[test]
fn the_echo_shows_a_bounded_part_of_a_large_body() {
    let server = server_with(|_| {});
    let body = vec![0u8; 1024 * 1024];
    let mut client = Client::connect(&server);
    client.send(format!(
        "POST /ajax/echo HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    ));
    client.send(&body);
    let reply = client.read_reply();
    assert_eq!(reply.status, 200);
    let text = reply.text();
    assert!(
        text.ends_with(
            "\"body\":{\"type\":\"text/plain\",\"bytes\":1048576,\"kind\":\"text\",\
             \"text\":null,\"cut\":true}}\n"
        ),
        "{text}"
    );
    assert!(
        reply.body.len() < 1024,
        "described, not shown: {} bytes",
        reply.body.len()
    );
    // A body that fits is shown whole, escaped.
    let small = "\0".repeat(MAX_ECHO_BODY_BYTES - 8);
    let reply = client.exchange(post_request("/ajax/echo", "text/plain", &small));
    assert!(
        reply
            .text()
            .contains(&"\\u0000".repeat(MAX_ECHO_BODY_BYTES - 8))
    );
    assert!(!reply.text().contains("\"cut\""));
}

/// A request head for `/ajax/echo` with a body of `length` bytes.
fn echo_head(length: usize) -> String {
    format!(
        "POST /ajax/echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: {length}\r\n\r\n"
    )
}

#[test]
fn bodies_past_the_memory_budget_get_503_and_the_rest_are_served() {
    let budget = 256 * 1024;
    let server = server_with(|config| {
        config.memory_budget = budget;
        config.timeouts.body = Duration::from_secs(60); // nobody times out meanwhile
    });
    // A body of most of the budget, all but its last 10 bytes, held there.
    let mut holder = Client::connect(&server);
    holder.send(echo_head(budget - 2048));
    holder.send(vec![b'x'; budget - 2048 - 10]);
    // Small bodies alongside it: served while the server has not yet taken the holder's
    // bytes, refused once it has. (If a small one holds its 4 KiB at the very moment the
    // holder grows, the holder is the one refused: the budget is first come, first served.)
    let mut prober = Client::connect(&server);
    let mut tries = 0;
    let (refused, served) = loop {
        tries += 1;
        assert!(tries < 100_000, "nobody was ever refused");
        let reply = prober.exchange(format!("{}{}", echo_head(4096), "y".repeat(4096)));
        if reply.status == 503 {
            holder.send(vec![b'x'; 10]);
            assert_eq!(holder.read_reply().status, 200, "the holder goes on");
            break (reply, &mut holder);
        }
        assert_eq!(reply.status, 200);
        if has_data(&holder.stream) {
            break (holder.read_reply(), &mut prober);
        }
    };
    assert_eq!(refused.status, 503);
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert_eq!(
        refused.text(),
        "the server's memory for request bodies is all in use just now; try again shortly\n"
    );
    // The one served answers another request, so its bytes were given back; now a body as
    // large as the holder's fits.
    let time = served.exchange("GET /time HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(time.status, 200);
    let mut again = Client::connect(&server);
    again.send(echo_head(budget - 2048));
    again.send(vec![b'z'; budget - 2048]);
    assert_eq!(again.read_reply().status, 200);
}

/// Whether the server has sent something on `stream` (without waiting or taking it).
fn has_data(stream: &TcpStream) -> bool {
    stream.set_nonblocking(true).unwrap();
    let ready = matches!(stream.peek(&mut [0u8; 1]), Ok(n) if n > 0);
    stream.set_nonblocking(false).unwrap();
    ready
}

#[test]
fn websocket_messages_past_the_memory_budget_close_with_1013() {
    let budget = 256 * 1024;
    let server = server_with(|config| config.memory_budget = budget);
    let (mut first, _) = upgrade(&server, "/ws", "");
    // A header announcing 16 MiB takes nothing from the budget: only bytes that arrive do.
    first.send(big_frame_header(16 * 1024 * 1024, true));
    first.send(b"a");
    let (mut second, _) = upgrade(&server, "/ws", "");
    // The first fragment of a message, then a ping: the pong says the fragment was read.
    second.send(big_frame_header(budget as u64 / 2, false));
    second.send(vec![b'a'; budget / 2]);
    second.send([0x89, 0x80, 0, 0, 0, 0]);
    let mut pong = [0u8; 2];
    second.stream.read_exact(&mut pong).unwrap();
    assert_eq!(pong, [0x8A, 0]);
    // Half the budget is held by the second's message in progress; the first's, already
    // past one byte, cannot grow by another half beside it: close 1013, Try Again Later.
    first.send(vec![b'b'; budget / 2]);
    let mut frame = [0u8; 4];
    first.stream.read_exact(&mut frame).unwrap();
    assert_eq!(frame[..2], [0x88, 30], "a close frame");
    assert_eq!(u16::from_be_bytes([frame[2], frame[3]]), 1013);
    let mut reason = vec![0u8; 28];
    first.stream.read_exact(&mut reason).unwrap();
    assert_eq!(reason, b"server busy: try again later");
}

// --- leaving, and coming back when full ---------------------------------------------------------

#[test]
fn a_client_that_sends_a_byte_more_and_leaves_frees_its_long_poll_at_once() {
    let server = server_with(|_| {});
    let mut client = Client::connect(&server);
    client.send(request("/chat/longpoll?since=0"));
    wait_open(&server, "longpoll", 1);
    client.send("G"); // one stray byte: a peek sees it, not the close behind it
    client.stream.shutdown(Shutdown::Write).unwrap();
    wait_open(&server, "longpoll", 0); // long before the 30 s hold
}

#[test]
fn a_request_pipelined_behind_a_long_poll_is_answered_after_it() {
    let server = server_with(|_| {});
    let mut client = Client::connect(&server);
    client.send(request("/chat/longpoll?since=0"));
    wait_open(&server, "longpoll", 1);
    // Read by the watch while the poll is held, and kept for its turn.
    client.send("GET /chat/poll?since=0 HTTP/1.1\r\nHost: t\r\n\r\n");
    let mut other = Client::connect(&server);
    let reply = other.exchange(post_request("/chat/send", "text/plain", "hi"));
    assert_eq!(reply.status, 200);
    assert_eq!(ids(&client.read_reply().text()), [1], "the long poll");
    assert_eq!(
        ids(&client.read_reply().text()),
        [1],
        "then the pipelined poll"
    );
}

#[test]
fn a_full_event_stream_says_retry_instead_of_a_final_503() {
    const HELD: usize = 8;
    let server = server_with(|config| config.max_held = Some(HELD));
    let held = clients_waiting(&server, &request("/chat/events"), HELD);
    wait_open(&server, "sse", HELD as u64);
    let reply = Client::connect(&server).exchange(request("/chat/events?since=5"));
    // 200 and an event stream that ends at once: EventSource waits `retry` ms and
    // reconnects by itself; a 503 would have closed it for good.
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("text/event-stream"));
    let text = reply.text();
    let wait: u64 = text
        .strip_prefix("retry: ")
        .and_then(|rest| rest.split('\n').next())
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("{text:?}"));
    assert!(
        (1000..2000).contains(&wait),
        "one second and a random part: {wait}"
    );
    assert_eq!(
        text,
        format!("retry: {wait}\n: the server is full; come back in {wait} ms\n\n")
    );
    drop(held);
}

#[test]
fn a_form_of_a_million_empty_fields_is_read_one_field_at_a_time() {
    // `a&a&a&…`: collected at once, half a million pairs of Strings, forty times the body.
    // The chat looks for `text` one pair at a time, and the echo shows what fits.
    let server = server_with(|_| {});
    let form = "a&".repeat(512 * 1024);
    let mut client = Client::connect(&server);
    let send = post_request("/chat/send", "application/x-www-form-urlencoded", &form);
    let reply = client.exchange(send);
    assert_eq!(
        (reply.status, reply.text()),
        (
            400,
            "text is missing: send a form body text=...\n".to_string()
        )
    );
    let echo = post_request("/ajax/echo", "application/x-www-form-urlencoded", &form);
    let report = client.exchange(echo).text();
    assert!(report.contains("\"kind\":\"form\""), "{report}");
    assert!(
        report.ends_with(",\"cut\":true}}\n"),
        "some fields shown, the rest cut"
    );
    assert!(
        report.len() < 6 * MAX_ECHO_BODY_BYTES,
        "{} bytes",
        report.len()
    );
}

#[test]
fn a_body_sent_with_a_stream_or_upgrade_request_gives_its_memory_back_at_once() {
    let budget = 256 * 1024;
    let server = server_with(|config| config.memory_budget = budget);
    // A GET may carry a body. These two hold most of the budget each, then stay open for
    // as long as they like: an event stream and a WebSocket.
    let big = budget - 16 * 1024;
    let mut stream = Client::connect(&server);
    stream.send(format!(
        "GET /chat/events HTTP/1.1\r\nHost: t\r\nContent-Length: {big}\r\n\r\n{}",
        "x".repeat(big)
    ));
    assert_eq!(stream.read_reply_to(true).status, 200);
    let upgrade_with_body = format!(
        "GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Content-Length: {big}\r\n\r\n{}",
        "x".repeat(big)
    );
    let mut socket = Client::connect(&server);
    assert_eq!(socket.exchange(upgrade_with_body).status, 101);
    // Both are open, and neither holds its body: another body as large still fits.
    let mut client = Client::connect(&server);
    client.send(echo_head(big));
    client.send(vec![b'z'; big]);
    assert_eq!(client.read_reply().status, 200);
}

#[test]
fn a_websocket_message_that_never_finishes_is_closed_with_1008() {
    // The message's bytes hold the memory budget, so it must arrive within the body timeout
    // (1 s in the tests), however slowly the client trickles it.
    let server = server_with(|_| {});
    let (mut socket, _) = upgrade(&server, "/ws", "");
    // A binary frame of 1,024 bytes (16-bit length form, mask key 0), and only 100 of them.
    socket.send([0x82, 0xFE, 0x04, 0x00, 0, 0, 0, 0]);
    socket.send(vec![b'a'; 100]); // the other 924 never come
    let (first, payload) = socket.read_frame().expect("a close frame");
    assert_eq!(first, 0x88);
    assert_eq!(&payload[..2], 1008u16.to_be_bytes());
    assert_eq!(&payload[2..], b"message took too long to arrive");
}
