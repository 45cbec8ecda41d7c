//! A full server still serves the patient (chapter 15): whatever fills the connection limit —
//! slow heads, idle keep-alive connections, held streams, one greedy address — a normal
//! client that comes next is served, and a reader that stops reading delays nobody else.
//! Speed and memory are measured by `tests/measure/scale.mjs`, never here.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod support;

use std::time::Duration;

use support::ws::{upgrade, upgrade_request};
use support::{Client, get, post_request, start_custom, test_config};
use webwire::Running;
use webwire::config::Config;

const GET_INDEX: &str = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
/// A chat XHR stream: held open for as long as its client stays.
const STREAM: &str = "GET /chat/stream?since=0 HTTP/1.1\r\nHost: t\r\n\r\n";

fn server_with(change: impl FnOnce(&mut Config)) -> Running {
    let mut config = test_config();
    config.hold = Duration::from_secs(60);
    config.timeouts.header = Duration::from_secs(60); // the attackers must not time out
    config.timeouts.idle = Duration::from_secs(60);
    change(&mut config);
    start_custom(config, Vec::new())
}

/// A stream held open on the chat's XHR streaming transport, its head read.
fn open_stream(server: &Running) -> Client {
    let mut client = Client::connect(server);
    client.send(STREAM);
    assert_eq!(client.read_reply_to(true).status, 200);
    client
}

#[test]
fn slowloris_heads_filling_the_server_do_not_keep_a_normal_client_out() {
    let server = server_with(|config| config.max_conns = Some(8));
    // Eight connections, each one byte into its head, as slowloris sends them.
    let mut slow: Vec<Client> = (0..8)
        .map(|_| {
            let mut client = Client::connect(&server);
            client.send("G");
            client
        })
        .collect();
    // A normal client comes: the slowest head, the oldest, makes room, and is told why.
    let mut first = Client::connect(&server);
    assert_eq!(first.exchange(GET_INDEX).status, 200);
    let reply = slow[0].read_reply();
    assert_eq!(reply.status, 408);
    assert_eq!(reply.header("connection"), Some("close"));
    // Two more come. Each takes the seat of the one before, idle now: an idle keep-alive
    // connection is cheaper to lose than a head under way.
    let mut second = Client::connect(&server);
    assert_eq!(second.exchange(GET_INDEX).status, 200);
    assert!(first.is_closed_by_server());
    assert_eq!(get(&server, "/").status, 200);
    assert!(second.is_closed_by_server());
    assert!(still_open(&mut slow[1]), "the other heads wait on");
}

#[test]
fn idle_keep_alive_clients_filling_the_server_do_not_keep_a_normal_client_out() {
    let server = server_with(|config| config.max_conns = Some(8));
    // Eight clients that each sent one request and keep their connection for the next.
    let mut idle: Vec<Client> = (0..8)
        .map(|_| {
            let mut client = Client::connect(&server);
            assert_eq!(client.exchange(GET_INDEX).status, 200);
            client
        })
        .collect();
    let _normal = served_clients(&server, 3);
    // The longest idle were closed, without a word: no request of theirs was in flight.
    for client in idle.iter_mut().take(3) {
        assert!(client.is_closed_by_server());
    }
    assert_eq!(
        idle[7].exchange(GET_INDEX).status,
        200,
        "the newest goes on"
    );
}

#[test]
fn held_streams_fill_only_their_share_and_a_normal_client_is_served() {
    // Eight connections: seven may be held (`--max-held` is 7/8 of `--max-conns`).
    let server = server_with(|config| config.max_conns = Some(8));
    let held: Vec<Client> = (0..7).map(|_| open_stream(&server)).collect();
    let refused = Client::connect(&server).exchange(STREAM);
    assert_eq!(refused.status, 503);
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert_eq!(
        refused.text(),
        "too many requests are held open (7, --max-held); try again shortly\n"
    );
    // The eighth seat is there for requests answered at once, one after another.
    for _ in 0..3 {
        let mut client = Client::connect(&server);
        assert_eq!(client.exchange(GET_INDEX).status, 200);
    }
    // Even with that seat taken by an idle keep-alive client, the next one gets in.
    let mut idle = once_there_is_room(&server, GET_INDEX, false);
    assert_eq!(get(&server, "/").status, 200);
    assert!(idle.is_closed_by_server());
    drop(held);
}

#[test]
fn one_address_is_capped_by_max_conns_per_client() {
    let server = server_with(|config| config.max_conns_per_client = Some(2));
    let streams: Vec<Client> = (0..2).map(|_| open_stream(&server)).collect();
    let reply = Client::connect(&server).read_reply();
    assert_eq!(reply.status, 503);
    assert_eq!(reply.header("retry-after"), Some("1"));
    assert_eq!(
        reply.text(),
        "this address has 2 connections open (--max-conns-per-client); try again shortly\n"
    );
    drop(streams);

    // At its cap, an address makes room among its own connections: its idle one goes. (The
    // two streams' threads see their clients gone within a moment: wait for the seats.)
    let mut busy = once_there_is_room(&server, STREAM, true);
    let mut idle = once_there_is_room(&server, GET_INDEX, false);
    assert_eq!(get(&server, "/").status, 200);
    assert!(idle.is_closed_by_server());
    assert!(still_open(&mut busy), "a held stream is never taken back");
}

/// A client whose `request` was answered 200, asked again on a new connection until it is:
/// seats and held places come back a moment after their clients have gone. `head_only` for
/// a stream, whose body never ends.
fn once_there_is_room(server: &Running, request: &str, head_only: bool) -> Client {
    loop {
        let mut client = Client::connect(server);
        client.send(request);
        if client.read_reply_to(head_only).status == 200 {
            return client;
        }
    }
}

/// `n` clients, each served a request on its own connection, kept open.
fn served_clients(server: &Running, n: usize) -> Vec<Client> {
    (0..n)
        .map(|_| {
            let mut client = Client::connect(server);
            assert_eq!(client.exchange(GET_INDEX).status, 200);
            client
        })
        .collect()
}

/// True if the server has not closed the connection: a read finds data, or nothing yet.
fn still_open(client: &mut Client) -> bool {
    client.stream.set_nonblocking(true).unwrap();
    // A peek, not a read: the byte stays for whoever reads the stream next.
    let open = !matches!(client.stream.peek(&mut [0u8; 1]), Ok(0));
    client.stream.set_nonblocking(false).unwrap();
    open
}

#[test]
fn a_reader_that_stops_reading_delays_no_other_reader_and_gets_whole_frames_later() {
    // Writes may wait a minute. Had the fan-out waited on a stalled reader, the others
    // would get the last message only once it was dropped, a minute on; instead they get
    // every message while it is still connected and stuck. The publisher writes to sleeping
    // streams itself and, when a socket takes only part of a message, leaves the rest to the
    // stream's own thread: the stalled readers must still get whole chunks and frames.
    let server = server_with(|config| config.timeouts.write = Duration::from_secs(60));
    let mut stalled = Client::connect(&server);
    stalled.send("GET /chat/events HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(stalled.read_reply_to(true).status, 200);
    let (mut stalled_socket, reply) = upgrade(&server, "/chat/ws?since=0", "");
    assert_eq!(reply.status, 101);
    let messages = 3000; // 12 MB of text: the stalled sockets' buffers fill many times over
    let last = format!("\"id\":{messages},");
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let mut reader = Client::connect(&server);
            reader.send("GET /chat/events HTTP/1.1\r\nHost: t\r\n\r\n");
            assert_eq!(reader.read_reply_to(true).status, 200);
            let last = last.clone();
            std::thread::spawn(move || until_in_a_chunk(&mut reader, &last))
        })
        .collect();
    let text = "x".repeat(4000);
    let mut publisher = Client::connect(&server);
    for _ in 0..messages {
        let reply = publisher.exchange(post_request("/chat/send", "text/plain", &text));
        assert_eq!(reply.status, 200, "a publish is never held up by a reader");
    }
    for reader in readers {
        assert!(reader.join().unwrap(), "every reader got the last message");
    }
    assert!(
        still_open(&mut stalled),
        "while the stalled ones are still there"
    );
    assert!(still_open(&mut stalled_socket));

    // Now they read: every chunk and every frame is whole, up to the last message.
    assert!(until_in_a_chunk(&mut stalled, &last));
    loop {
        let (opcode, payload) = stalled_socket.read_frame().expect("a whole frame");
        assert_eq!(opcode, 0x81, "whole text frames only");
        let record = String::from_utf8(payload).expect("whole UTF-8 text");
        assert!(record.starts_with('{') && record.ends_with('}'), "{record}");
        if record.contains(&last) {
            break;
        }
    }
}

/// Reads chunks (each one checked whole: size, data, CR LF) until one contains `needle`.
/// One chunk per batch, and a batch is whole events, so an id shows up whole in one chunk.
fn until_in_a_chunk(client: &mut Client, needle: &str) -> bool {
    while let Some(chunk) = client.read_chunk() {
        if String::from_utf8_lossy(&chunk).contains(needle) {
            return true;
        }
    }
    false
}

#[test]
fn a_chat_sockets_writer_thread_counts_like_a_connection() {
    // Two seats, two held places: one chat socket takes both (its connection and the thread
    // that writes to it), so the next connection finds the server full.
    let server = server_with(|config| {
        config.max_conns = Some(2);
        config.max_held = Some(2);
    });
    let (mut socket, reply) = upgrade(&server, "/chat/ws?since=0", "");
    assert_eq!(reply.status, 101);
    // A message sent on the socket comes back through the writer: it has its seat now.
    socket.send_text("hi");
    assert!(socket.read_text().contains("\"text\":\"hi\""));
    let refused = Client::connect(&server).read_reply();
    assert_eq!(refused.status, 503);
    assert_eq!(
        refused.text(),
        "the server is full (2 connections, --max-conns); try again shortly\n"
    );
    assert!(still_open(&mut socket), "the socket goes on");
}

#[test]
fn a_chat_socket_takes_two_held_places() {
    let server = server_with(|config| config.max_held = Some(3));
    let (_first, reply) = upgrade(&server, "/chat/ws?since=0", "");
    assert_eq!(reply.status, 101, "two of the three places");
    let reply = Client::connect(&server).exchange(upgrade_request("/chat/ws?since=0", ""));
    assert_eq!(reply.status, 503, "one place left, two needed");
    // An event stream needs one: it fits.
    let mut stream = Client::connect(&server);
    stream.send("GET /chat/events HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(stream.read_reply_to(true).status, 200);
}
