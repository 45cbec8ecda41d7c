//! The server core over raw TCP: every rule of `docs/01-http-by-hand.md`, checked on the
//! bytes a client would see.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod support;

use std::io;
use std::sync::{Condvar, Mutex};
use std::thread;
use std::time::Duration;

use support::{Client, get, head, start, start_custom, test_config};
use webwire::handler::{Context, Reply};
use webwire::http::method::Method;
use webwire::http::request::Request;
use webwire::http::response::Response;
use webwire::router::Route;

// ---- test-only routes ----------------------------------------------------------------------

/// Answers with the body it received, so body decoding can be checked byte for byte.
fn echo_body(request: &Request, _: &Context) -> Reply {
    Response::new(200)
        .with_header("Content-Type", "application/octet-stream")
        .with_body(request.body.clone())
        .into()
}

/// Asks the server to close the connection after this response.
fn goodbye(_: &Request, _: &Context) -> Reply {
    Response::text(200, "bye\n")
        .with_header("Connection", "Close")
        .into()
}

fn panics(_: &Request, _: &Context) -> Reply {
    panic!("a handler bug (this panic is expected by the test)")
}

fn three_pieces(_: &Request, _: &Context) -> Reply {
    Reply::stream(
        Response::new(200).with_header("Content-Type", "text/plain"),
        |out| {
            out.send(b"one\n")?;
            out.send(b"two\n")?;
            out.send(b"three\n")
        },
    )
}

/// A one-shot signal between a handler thread and a test: set once, waited for.
struct Signal(Mutex<Option<bool>>, Condvar);

impl Signal {
    const fn new() -> Signal {
        Signal(Mutex::new(None), Condvar::new())
    }
    fn set(&self, value: bool) {
        *self.0.lock().unwrap() = Some(value);
        self.1.notify_all();
    }
    /// Waits for the value; the long timeout is only a safety net against a hang.
    fn wait(&self) -> Option<bool> {
        let guard = self.0.lock().unwrap();
        let (guard, _) = self
            .1
            .wait_timeout_while(guard, Duration::from_secs(20), |v| v.is_none())
            .unwrap();
        *guard
    }
}

static GATE: Signal = Signal::new();

/// Sends one piece, then waits until the test has seen it before sending the next.
fn gated(_: &Request, _: &Context) -> Reply {
    Reply::stream(Response::new(200), |out| {
        out.send(b"first")?;
        GATE.wait();
        out.send(b"second")
    })
}

static GONE_ENDED: Signal = Signal::new();
static STALLED_ENDED: Signal = Signal::new();

fn endless(ended: &'static Signal) -> Reply {
    Reply::stream(Response::new(200), move |out| {
        let piece = vec![b'x'; 16 * 1024];
        let mut result = Ok(());
        for _ in 0..100_000 {
            result = out.send(&piece);
            if result.is_err() {
                break;
            }
        }
        ended.set(result.is_err());
        result
    })
}

fn endless_for_gone(_: &Request, _: &Context) -> Reply {
    endless(&GONE_ENDED)
}

fn endless_for_stalled(_: &Request, _: &Context) -> Reply {
    endless(&STALLED_ENDED)
}

/// Switches to a toy protocol: read five bytes, send them back in capitals, hang up.
fn shout(_: &Request, _: &Context) -> Reply {
    let head = Response::new(101)
        .with_header("Upgrade", "shout")
        .with_header("Connection", "Upgrade");
    Reply::upgrade(head, |upgraded| {
        let mut word = upgraded.buffered;
        while word.len() < 5 {
            let mut more = [0u8; 5];
            match io::Read::read(&mut &*upgraded.stream, &mut more) {
                Ok(0) | Err(_) => return,
                Ok(n) => word.extend_from_slice(&more[..n]),
            }
        }
        let _ = io::Write::write_all(&mut &*upgraded.stream, &word.to_ascii_uppercase());
    })
}

/// `GET /test/traffic?path=P`: the server's counters for path P, as
/// `requests open bytes_in bytes_out`.
fn traffic(request: &Request, context: &Context) -> Reply {
    let path = request.query_param("path").unwrap_or_default();
    let t = context.app.traffic.snapshot(&path);
    Response::text(
        200,
        format!("{} {} {} {}", t.requests, t.open, t.bytes_in, t.bytes_out),
    )
    .into()
}

static HELD_ENTERED: Signal = Signal::new();
static HELD_RELEASE: Signal = Signal::new();

/// Holds its request inside the handler, as a long poll does, until the test lets go.
fn held(_: &Request, _: &Context) -> Reply {
    HELD_ENTERED.set(true);
    HELD_RELEASE.wait();
    Response::text(200, "let go\n").into()
}

fn test_routes() -> Vec<Route> {
    vec![
        Route::new(Method::Get, "/test/held", held),
        Route::new(Method::Get, "/test/traffic", traffic),
        Route::new(Method::Get, "/test/shout", shout),
        Route::new(Method::Post, "/test/echo", echo_body),
        Route::new(Method::Get, "/test/panic", panics),
        Route::new(Method::Get, "/test/goodbye", goodbye),
        Route::new(Method::Get, "/test/three", three_pieces),
        Route::new(Method::Get, "/test/gated", gated),
        Route::new(Method::Get, "/test/endless-gone", endless_for_gone),
        Route::new(Method::Get, "/test/endless-stalled", endless_for_stalled),
    ]
}

fn start_with_test_routes() -> webwire::Running {
    start_custom(test_config(), test_routes())
}

const GET_INDEX: &str = "GET / HTTP/1.1\r\nHost: test\r\n\r\n";

// ---- pages, keep-alive, pipelining -----------------------------------------------------------

#[test]
fn the_index_page_has_the_standard_headers() {
    let server = start();
    let reply = get(&server, "/");
    assert_eq!(reply.status, 200);
    assert!(
        reply.head.starts_with("HTTP/1.1 200 OK\r\nDate: "),
        "{}",
        reply.head
    );
    let etag = reply.header("etag").expect("an ETag").to_string();
    assert_eq!(
        reply.head_without_date(),
        head(
            "HTTP/1.1 200 OK",
            &[
                ("ETag", &etag),
                ("Cache-Control", "no-cache"),
                ("Content-Type", "text/html; charset=utf-8"),
                ("Content-Length", &reply.body.len().to_string()),
            ],
        )
    );
    assert!(reply.text().contains("<title>webwire"));
}

#[test]
fn a_request_written_one_byte_at_a_time() {
    let server = start();
    let mut client = Client::connect(&server);
    client.send_bytewise(GET_INDEX);
    let reply = client.read_reply();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, get(&server, "/").body);
}

#[test]
fn keep_alive_serves_many_requests_on_one_connection() {
    let server = start();
    let mut client = Client::connect(&server);
    for _ in 0..3 {
        let reply = client.exchange(GET_INDEX);
        assert_eq!(reply.status, 200);
        assert_eq!(
            reply.header("connection"),
            None,
            "HTTP/1.1 is persistent by default"
        );
    }
}

#[test]
fn connection_close_is_honoured() {
    let server = start();
    let mut client = Client::connect(&server);
    let reply = client.exchange("GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    assert_eq!(reply.header("connection"), Some("close"));
    assert!(client.is_closed_by_server());
}

#[test]
fn a_handler_may_close_the_connection() {
    let server = start_with_test_routes();
    let mut client = Client::connect(&server);
    let reply = client.exchange("GET /test/goodbye HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(
        reply.head.matches("Connection").count(),
        1,
        "{}",
        reply.head
    );
    assert_eq!(reply.header("connection"), Some("close"));
    assert!(client.is_closed_by_server());
}

#[test]
fn closing_lingers_so_late_bytes_do_not_reset_the_connection() {
    // After a `Connection: close` response the client still sends something (a pipelined
    // request, the rest of a body). Had the server closed its socket outright, those bytes would
    // be answered with a TCP reset, and the client's next write would fail; instead the server
    // stops writing and reads and discards for a while (RFC 9112 §9.6).
    let mut config = test_config();
    config.timeouts.linger = Duration::from_secs(10); // longer than this test could take
    let server = start_custom(config, Vec::new());
    let mut client = Client::connect(&server);
    let reply = client.exchange("GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_eq!(reply.header("connection"), Some("close"));
    assert!(
        client.is_closed_by_server(),
        "the server's side is closed: end of stream"
    );
    for late in ["GET / HTTP/1.1\r\n", "Host: t\r\n\r\n"] {
        let written = io::Write::write_all(&mut client.stream, late.as_bytes());
        assert!(written.is_ok(), "no reset: {written:?}");
    }
}

#[test]
fn http_1_0_closes_unless_asked_to_keep_alive() {
    let server = start();
    let mut client = Client::connect(&server);
    let reply = client.exchange("GET / HTTP/1.0\r\n\r\n");
    // The server's own version on the status line (RFC 9110 §6.2); HTTP/1.0's framing.
    assert!(reply.head.starts_with("HTTP/1.1 200 OK\r\n"));
    assert_eq!(reply.header("connection"), Some("close"));
    assert!(client.is_closed_by_server());

    let mut client = Client::connect(&server);
    let reply = client.exchange("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(reply.header("connection"), Some("keep-alive"));
    assert_eq!(
        client.exchange("GET / HTTP/1.0\r\n\r\n").status,
        200,
        "still open"
    );
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let server = start();
    let mut client = Client::connect(&server);
    client.send(
        "GET /style.css HTTP/1.1\r\nHost: t\r\n\r\n\
         GET /nowhere HTTP/1.1\r\nHost: t\r\n\r\n\
         HEAD / HTTP/1.1\r\nHost: t\r\n\r\n\
         GET / HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    assert_eq!(
        client.read_reply().header("content-type"),
        Some("text/css; charset=utf-8")
    );
    assert_eq!(client.read_reply().status, 404);
    let head = client.read_reply_to(true);
    let full = client.read_reply();
    assert_eq!((head.status, full.status), (200, 200));
    assert_eq!(head.header("content-length"), full.header("content-length"));
}

#[test]
fn head_is_get_without_the_body() {
    let server = start();
    let mut client = Client::connect(&server);
    client.send("HEAD / HTTP/1.1\r\nHost: t\r\n\r\n");
    let head = client.read_reply_to(true);
    // Had a body followed, it would be read as the start of the next response.
    let next = client.exchange("GET /style.css HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-length").unwrap(),
        get(&server, "/").body.len().to_string()
    );
    assert!(next.head.starts_with("HTTP/1.1 200 OK\r\n"));
}

#[test]
fn absolute_form_and_leading_empty_lines() {
    let server = start();
    let mut client = Client::connect(&server);
    let reply = client.exchange("GET http://test/style.css HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(
        reply.header("content-type"),
        Some("text/css; charset=utf-8")
    );
    assert_eq!(client.exchange(format!("\r\n{GET_INDEX}")).status, 200);
}

#[test]
fn etag_revalidation_gives_304() {
    let server = start();
    let etag = get(&server, "/").header("etag").unwrap().to_string();
    let mut client = Client::connect(&server);
    for tag in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"other\", {etag}"),
        "*".into(),
    ] {
        let reply = client.exchange(format!(
            "GET / HTTP/1.1\r\nHost: t\r\nIf-None-Match: {tag}\r\n\r\n"
        ));
        assert_eq!(reply.status, 304, "{tag}");
        assert_eq!(
            reply.head_without_date(),
            head(
                "HTTP/1.1 304 Not Modified",
                &[("ETag", &etag), ("Cache-Control", "no-cache"),],
            )
        );
    }
    let stale = client.exchange("GET / HTTP/1.1\r\nHost: t\r\nIf-None-Match: \"old\"\r\n\r\n");
    assert_eq!(stale.status, 200);
}

#[test]
fn docs_are_served_as_markdown() {
    let server = start();
    let reply = get(&server, "/docs/01-http-by-hand.md");
    assert_eq!(
        reply.header("content-type"),
        Some("text/markdown; charset=utf-8")
    );
    assert_eq!(reply.body, include_bytes!("../docs/01-http-by-hand.md"));
}

#[test]
fn the_browsers_favicon_request_gets_an_empty_answer() {
    let server = start();
    let reply = get(&server, "/favicon.ico");
    assert_eq!(
        reply.head_without_date(),
        head(
            "HTTP/1.1 204 No Content",
            &[("Cache-Control", "max-age=86400"),],
        )
    );
}

// ---- methods --------------------------------------------------------------------------------

#[test]
fn unknown_paths_get_404_with_a_link_home() {
    let server = start();
    let reply = get(&server, "/no/such/page?<x>");
    assert_eq!(reply.status, 404);
    assert_eq!(
        reply.text(),
        "<!doctype html>\n<meta charset=\"utf-8\">\n<title>404 Not Found</title>\n\
         <p>Nothing here at <code>/no/such/page</code>. <a href=\"/\">The index</a> lists every demo.</p>\n"
    );
}

#[test]
fn options_lists_the_allowed_methods() {
    let server = start();
    let mut client = Client::connect(&server);
    let reply = client.exchange("OPTIONS / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(
        (reply.status, reply.header("allow")),
        (204, Some("GET, HEAD, OPTIONS"))
    );
    assert_eq!(
        reply.header("content-length"),
        None,
        "204 has no Content-Length"
    );
    // `OPTIONS *` is about the whole server: every method some route accepts.
    let reply = client.exchange("OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(
        (reply.status, reply.header("allow")),
        (204, Some("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"))
    );
}

#[test]
fn wrong_and_unknown_methods() {
    let server = start();
    let mut client = Client::connect(&server);
    let cases = [
        ("POST", 405, "this path does not accept that method\n"),
        ("DELETE", 405, "this path does not accept that method\n"),
        (
            "TRACE",
            405,
            "TRACE is disabled: it echoes the request, cookies included (cross-site tracing)\n",
        ),
        ("BREW", 501, "this server does not know that method\n"),
        ("get", 501, "this server does not know that method\n"),
    ];
    for (method, status, reason) in cases {
        let reply = client.exchange(format!("{method} / HTTP/1.1\r\nHost: t\r\n\r\n"));
        assert_eq!(
            (reply.status, reply.text().as_str()),
            (status, reason),
            "{method}"
        );
        if status == 405 {
            assert_eq!(
                reply.header("allow"),
                Some("GET, HEAD, OPTIONS"),
                "405 says what works"
            );
        }
    }
    let reply =
        client.exchange("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (501, "CONNECT is for proxies, and this is not one\n")
    );
}

// ---- request bodies -------------------------------------------------------------------------

#[test]
fn a_content_length_body_split_across_writes() {
    let server = start_with_test_routes();
    let mut client = Client::connect(&server);
    client.send_bytewise(
        "POST /test/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello world",
    );
    assert_eq!(client.read_reply().body, b"hello world");
    let reply = client.exchange("POST /test/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(reply.body, b"", "and the connection is still in step");
}

#[test]
fn a_chunked_body_with_extension_and_trailer() {
    let server = start_with_test_routes();
    let mut client = Client::connect(&server);
    client.send_bytewise(
        "POST /test/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
         5;note=x\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: 1\r\n\r\n",
    );
    assert_eq!(client.read_reply().body, b"hello world");
    assert_eq!(
        client.exchange(GET_INDEX).status,
        200,
        "nothing left over on the connection"
    );
}

#[test]
fn expect_100_continue_gets_a_go_ahead_before_the_body() {
    let server = start_with_test_routes();
    let mut client = Client::connect(&server);
    client.send(
        "POST /test/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
    );
    let interim = client.read_reply();
    assert_eq!(interim.head, "HTTP/1.1 100 Continue\r\n\r\n");
    client.send("body");
    let reply = client.read_reply();
    assert_eq!((reply.status, reply.body.as_slice()), (200, &b"body"[..]));
}

#[test]
fn a_body_that_never_arrives_gets_408() {
    let server = start_with_test_routes();
    let mut client = Client::connect(&server);
    client.send("POST /test/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
    let reply = client.read_reply();
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (408, "the request body did not arrive in time\n")
    );
    assert!(client.is_closed_by_server());
}

#[test]
fn a_request_that_would_be_refused_gets_no_100_continue() {
    let server = start_with_test_routes();
    let mut client = Client::connect(&server);
    client
        .send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 500\r\nExpect: 100-continue\r\n\r\n");
    let reply = client.read_reply();
    assert_eq!(
        reply.status, 405,
        "the final answer at once, not 100: {}",
        reply.head
    );
    assert_eq!(
        reply.header("connection"),
        Some("close"),
        "the unread body cannot stay"
    );
}

#[test]
fn a_too_large_body_is_refused_before_it_is_sent() {
    let server = start_with_test_routes();
    let mut client = Client::connect(&server);
    client.send("POST /test/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1048577\r\nExpect: 100-continue\r\n\r\n");
    let reply = client.read_reply();
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (413, "the body is larger than 1 MiB\n")
    );
    assert!(client.is_closed_by_server());
}

#[test]
fn a_too_large_chunked_body_is_cut_off() {
    let server = start_with_test_routes();
    let mut client = Client::connect(&server);
    client.send("POST /test/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    let piece = format!("10000\r\n{}\r\n", "x".repeat(0x10000));
    for _ in 0..17 {
        // 17 chunks of 64 KiB pass 1 MiB. The server stops reading there, so a later write
        // may fail: that is expected, and the reply is already on its way.
        if client.stream.write_all_ok(piece.as_bytes()).is_err() {
            break;
        }
    }
    let reply = client.read_reply();
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (413, "the body is larger than 1 MiB\n")
    );
}

/// `write_all` that reports failure instead of panicking.
trait WriteAllOk {
    fn write_all_ok(&mut self, bytes: &[u8]) -> io::Result<()>;
}

impl WriteAllOk for std::net::TcpStream {
    fn write_all_ok(&mut self, bytes: &[u8]) -> io::Result<()> {
        io::Write::write_all(self, bytes)
    }
}

// ---- bad input ------------------------------------------------------------------------------

#[test]
fn bad_requests_get_their_status_and_reason_and_the_server_carries_on() {
    let long_target = format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(9000));
    let big_head = format!(
        "GET / HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
        "a".repeat(17_000)
    );
    let many_headers = format!("GET / HTTP/1.1\r\nHost: t\r\n{}\r\n", "X: y\r\n".repeat(65));
    let cases: Vec<(String, u16, &str)> = vec![
        ("GET / HTTP/1.1\nHost: t\n\n".into(), 400, "lines must end in CR LF, not a bare LF (with netcat, use nc -C)"),
        ("GET  / HTTP/1.1\r\nHost: t\r\n\r\n".into(), 400, "the request line must be METHOD SP TARGET SP VERSION"),
        ("GET / HTTP/1.1\r\nHost : t\r\n\r\n".into(), 400, "whitespace between a header name and its colon"),
        ("GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n".into(), 400, "a header line starts with whitespace (obsolete line folding)"),
        ("GET / HTTP/1.1\r\nHost: t\r\nX(y): a\r\n\r\n".into(), 400, "a header name is not a valid token"),
        ("GET / HTTP/1.1\r\nHost: t\r\nX: a\x00b\r\n\r\n".into(), 400, "a header value contains a control character"),
        ("GET / HTTP/1.1\r\n\r\n".into(), 400, "an HTTP/1.1 request needs a Host header"),
        ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".into(), 400, "more than one Host header"),
        ("GET / HTTP/1.1\r\nHost: a b\r\n\r\n".into(), 400, "the Host header is not a valid host[:port]"),
        ("GET /%zz HTTP/1.1\r\nHost: t\r\n\r\n".into(), 400, "the request target is not a valid path, absolute URL or *"),
        ("GET / HTTP/2.0\r\nHost: t\r\n\r\n".into(), 505, "only HTTP/1.0 and HTTP/1.1 are served here"),
        ("GET / HTTX/1.1\r\nHost: t\r\n\r\n".into(), 400, "the version must look like HTTP/1.1"),
        (long_target, 414, "the request line is longer than 8 KiB"),
        (big_head, 431, "the header section is larger than 16 KiB"),
        (many_headers, 431, "more than 64 header lines"),
        ("POST /test/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".into(), 400, "Content-Length and Transfer-Encoding together"),
        ("POST /test/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd".into(), 400, "several different Content-Length values"),
        ("POST /test/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3a\r\n\r\nabc".into(), 400, "Content-Length is not a decimal number"),
        ("POST /test/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 184467440737095516160\r\n\r\n".into(), 400, "Content-Length is not a decimal number"),
        ("POST /test/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".into(), 400, "a chunk is malformed (size line, hex digits or CR LF)"),
        // RFC 9112 §6.3: chunked is not the final coding, so the length is unknowable: 400.
        ("POST /test/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n".into(), 400, "chunked must be applied exactly once, as the final coding"),
        ("POST /test/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n".into(), 501, "only the chunked transfer coding is supported"),
        ("POST /test/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, chunked\r\n\r\n".into(), 400, "chunked must be applied exactly once, as the final coding"),
        ("POST /test/echo HTTP/1.1\r\nHost: t\r\nExpect: teapot\r\nContent-Length: 1\r\n\r\nx".into(), 417, "the only expectation supported is 100-continue"),
    ];
    let server = start_with_test_routes();
    for (request, status, reason) in cases {
        let mut client = Client::connect(&server);
        client.send(&request);
        let reply = client.read_reply();
        let shown = request.chars().take(60).collect::<String>();
        assert_eq!(
            (reply.status, reply.text()),
            (status, format!("{reason}\n")),
            "{shown:?}"
        );
        assert_eq!(reply.header("connection"), Some("close"), "{shown:?}");
        assert_eq!(
            reply.header("content-type"),
            Some("text/plain; charset=utf-8")
        );
        assert!(client.is_closed_by_server(), "closed after {shown:?}");
        assert_eq!(
            get(&server, "/").status,
            200,
            "still serving after {shown:?}"
        );
    }
}

#[test]
fn an_error_response_byte_for_byte() {
    let server = start();
    let mut client = Client::connect(&server);
    client.send_bytewise("GET / HTTP/1.1\nHost: t\n\n");
    assert_eq!(
        client.read_reply().head_without_date(),
        head(
            "HTTP/1.1 400 Bad Request",
            &[
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", "64"),
                ("Connection", "close"),
            ],
        )
    );
}

// ---- timeouts and limits --------------------------------------------------------------------

#[test]
fn a_head_that_never_finishes_gets_408() {
    let server = start();
    let mut client = Client::connect(&server);
    client.send("GET / HTTP/1.1\r\nHost: t\r\n");
    let reply = client.read_reply();
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (408, "the request head did not arrive in time\n")
    );
    assert!(client.is_closed_by_server());
}

#[test]
fn a_trickling_client_cannot_extend_the_header_deadline() {
    // One byte every 20 ms of a header that never ends. Were the deadline re-armed on every
    // read, this would go on until the 16 KiB limit (431) instead of stopping at 408.
    let server = start();
    let mut client = Client::connect(&server);
    client.send("GET / HTTP/1.1\r\nHost: t\r\nX-Slow: ");
    let mut writer = client.stream.try_clone().unwrap();
    let trickle = thread::spawn(move || {
        for _ in 0..2000 {
            if writer.write_all_ok(b"a").is_err() {
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
    });
    assert_eq!(client.read_reply().status, 408);
    client.shutdown_write();
    drop(client);
    trickle.join().unwrap();
}

#[test]
fn an_idle_keep_alive_connection_is_closed_silently() {
    let server = start();
    let mut client = Client::connect(&server);
    assert_eq!(client.exchange(GET_INDEX).status, 200);
    assert!(
        client.is_closed_by_server(),
        "no 408: no request was in flight"
    );
}

#[test]
fn a_connection_that_sends_nothing_is_closed_silently() {
    let server = start();
    let mut client = Client::connect(&server);
    assert!(client.is_closed_by_server());
}

/// Opens a Server-Sent Events stream and reads its head: a connection held busy.
fn open_stream(server: &webwire::Running) -> Client {
    let mut client = Client::connect(server);
    client.send("GET /chat/events HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(client.read_reply_to(true).status, 200);
    client
}

#[test]
fn exactly_at_max_conns_busy_connections_leave_a_503_that_names_the_flag() {
    let mut config = test_config();
    config.max_conns = Some(3);
    config.max_held = Some(3); // every seat may be held, so nothing can be taken back
    let server = start_custom(config, Vec::new());
    // Not before the limit: all three are served.
    let streams: Vec<Client> = (0..3).map(|_| open_stream(&server)).collect();

    let mut fourth = Client::connect(&server);
    let reply = fourth.read_reply();
    assert_eq!(reply.status, 503);
    assert_eq!(reply.header("retry-after"), Some("1"));
    assert_eq!(reply.header("connection"), Some("close"));
    assert_eq!(
        reply.text(),
        "the server is full (3 connections, --max-conns); try again shortly\n"
    );

    // A connection that ends frees its seat before its client sees the close.
    drop(streams);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while get(&server, "/").status != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "the seats never came back"
        );
    }
}

#[test]
fn at_max_conns_the_longest_idle_keep_alive_connection_makes_room() {
    let mut config = test_config();
    config.max_conns = Some(2);
    config.timeouts.idle = Duration::from_secs(30); // the two must stay open for the test
    let server = start_custom(config, Vec::new());
    let mut first = Client::connect(&server);
    let mut second = Client::connect(&server);
    assert_eq!(first.exchange(GET_INDEX).status, 200);
    assert_eq!(second.exchange(GET_INDEX).status, 200);

    // Both idle, the server full: the one idle longest is closed for the newcomer, as
    // nginx does with its keep-alive connections.
    let mut third = Client::connect(&server);
    assert_eq!(third.exchange(GET_INDEX).status, 200);
    assert!(first.is_closed_by_server(), "idle longest: closed");
    assert_eq!(second.exchange(GET_INDEX).status, 200, "the other goes on");
}

#[test]
fn at_max_conns_the_slowest_unfinished_head_makes_room_with_a_408() {
    let mut config = test_config();
    config.max_conns = Some(2);
    config.timeouts.header = Duration::from_secs(30); // slow, but not out of time
    let server = start_custom(config, Vec::new());
    let mut slowest = Client::connect(&server);
    slowest.send("GET / HTTP/1.1\r\nHo");
    // The server must have read it before the second one starts, or "slowest" is a guess.
    let mut slow = Client::connect(&server);
    slow.send("GET / HTTP/1.1\r\n");
    let mut patient = Client::connect(&server);
    assert_eq!(patient.exchange(GET_INDEX).status, 200);

    let reason =
        "the server is full, and this request head was the slowest to arrive; send it again\n";
    let taken = slowest.read_reply();
    assert_eq!((taken.status, taken.text().as_str()), (408, reason));
    slow.send("Host: t\r\n\r\n");
    assert_eq!(slow.read_reply().status, 200, "the other head finishes");
}

#[test]
fn a_panicking_handler_costs_one_500_and_nothing_else() {
    let server = start_with_test_routes();
    let mut client = Client::connect(&server);
    let reply = client.exchange("GET /test/panic HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (500, "the handler failed; the server log has the details\n")
    );
    assert_eq!(client.exchange(GET_INDEX).status, 200, "same connection");
    assert_eq!(get(&server, "/").status, 200, "new connection");
}

// ---- streaming responses --------------------------------------------------------------------

#[test]
fn a_stream_is_chunked_on_http_1_1() {
    let server = start_with_test_routes();
    let mut client = Client::connect(&server);
    client.send("GET /test/three HTTP/1.1\r\nHost: t\r\n\r\n");
    let reply = client.read_reply();
    assert_eq!(
        reply.head_without_date(),
        head(
            "HTTP/1.1 200 OK",
            &[
                ("Content-Type", "text/plain"),
                ("Transfer-Encoding", "chunked"),
            ],
        )
    );
    assert_eq!(reply.body, b"one\ntwo\nthree\n");
    assert_eq!(
        client.exchange(GET_INDEX).status,
        200,
        "kept alive after the last chunk"
    );
}

#[test]
fn a_stream_on_http_1_0_ends_with_the_connection() {
    let server = start_with_test_routes();
    let mut client = Client::connect(&server);
    client.send("GET /test/three HTTP/1.0\r\n\r\n");
    let reply = client.read_reply();
    assert_eq!(reply.header("transfer-encoding"), None);
    assert_eq!(reply.header("connection"), Some("close"));
    assert_eq!(reply.body, b"one\ntwo\nthree\n");
}

#[test]
fn each_piece_is_on_the_wire_before_the_next_is_made() {
    let server = start_with_test_routes();
    let mut client = Client::connect(&server);
    client.send("GET /test/gated HTTP/1.1\r\nHost: t\r\n\r\n");
    let head = client.read_reply_to(true);
    assert_eq!(head.header("transfer-encoding"), Some("chunked"));
    // The handler is now blocked until GATE is set: the first chunk must already be here.
    assert_eq!(client.read_chunk().as_deref(), Some(&b"first"[..]));
    GATE.set(true);
    assert_eq!(client.read_chunk().as_deref(), Some(&b"second"[..]));
    assert_eq!(client.read_chunk(), None);
}

#[test]
fn a_client_that_leaves_mid_stream_ends_the_handler() {
    let server = start_with_test_routes();
    let mut client = Client::connect(&server);
    client.send("GET /test/endless-gone HTTP/1.1\r\nHost: t\r\n\r\n");
    client.read_reply_to(true);
    assert!(client.read_chunk().is_some());
    drop(client);
    assert_eq!(
        GONE_ENDED.wait(),
        Some(true),
        "the handler saw its write fail and stopped"
    );
    assert_eq!(get(&server, "/").status, 200);
}

#[test]
fn a_client_that_stops_reading_cannot_pin_the_thread() {
    let server = start_with_test_routes();
    let mut client = Client::connect(&server);
    client.send("GET /test/endless-stalled HTTP/1.1\r\nHost: t\r\n\r\n");
    // Never read: the socket buffers fill, a write blocks, and the write timeout ends it.
    assert_eq!(STALLED_ENDED.wait(), Some(true));
    drop(client);
}

// ---- traffic counters ------------------------------------------------------------------------

#[test]
fn every_byte_on_the_wire_is_counted_per_path() {
    let server = start_with_test_routes();
    let mut client = Client::connect(&server);
    let request = "POST /test/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    client.send(request);
    let echo = client.read_reply();
    client.send("GET /test/three HTTP/1.1\r\nHost: t\r\n\r\n");
    let stream_head = client.read_reply_to(true);
    let mut stream_wire = stream_head.head.len();
    while let Some(chunk) = client.read_chunk() {
        stream_wire += format!("{:x}\r\n", chunk.len()).len() + chunk.len() + 2;
    }
    stream_wire += "0\r\n\r\n".len();
    let counted = |client: &mut Client, path: &str| {
        client
            .exchange(format!(
                "GET /test/traffic?path={path} HTTP/1.1\r\nHost: t\r\n\r\n"
            ))
            .text()
    };
    let echo_wire = echo.head.len() + echo.body.len();
    assert_eq!(
        counted(&mut client, "/test/echo"),
        format!("1 0 {} {echo_wire}", request.len())
    );
    let stream_request = "GET /test/three HTTP/1.1\r\nHost: t\r\n\r\n".len();
    assert_eq!(
        counted(&mut client, "/test/three"),
        format!("1 0 {stream_request} {stream_wire}")
    );
    assert_eq!(
        counted(&mut client, "/nowhere"),
        "0 0 0 0",
        "unrouted paths are not counted"
    );
}

#[test]
fn a_request_held_in_its_handler_counts_as_open() {
    let server = start_with_test_routes();
    let mut waiting = Client::connect(&server);
    waiting.send("GET /test/held HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(HELD_ENTERED.wait(), Some(true));
    let counted = |path: &str| get(&server, &format!("/test/traffic?path={path}")).text();
    assert!(
        counted("/test/held").starts_with("1 1 "),
        "one request, open now"
    );
    HELD_RELEASE.set(true);
    assert_eq!(waiting.read_reply().text(), "let go\n");
    // Asked on the same connection, so the server has finished with the first request.
    let after = waiting.exchange("GET /test/traffic?path=/test/held HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(after.text().starts_with("1 0 "), "answered: open no more");
}

// ---- switching protocols ------------------------------------------------------------------

#[test]
fn an_upgrade_hands_the_socket_over_with_the_bytes_already_read() {
    let server = start_with_test_routes();
    let mut client = Client::connect(&server);
    // "hel" arrives with the head, so the server has read it already; "lo" comes later.
    client.send(
        "GET /test/shout HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: shout\r\n\r\nhel",
    );
    let reply = client.read_reply();
    assert_eq!(
        reply.head_without_date(),
        head(
            "HTTP/1.1 101 Switching Protocols",
            &[("Upgrade", "shout"), ("Connection", "Upgrade"),],
        )
    );
    client.send("lo");
    assert_eq!(client.read_to_end(), b"HELLO");
}

// ---- listening ------------------------------------------------------------------------------

#[test]
fn localhost_means_both_loopback_addresses_on_one_port() {
    let config = webwire::config::Config {
        bind: "localhost".to_string(),
        ..test_config()
    };
    let server = start_custom(config, Vec::new());
    let port = server.port();
    assert!(
        server.addrs.iter().all(|a| a.port() == port),
        "{:?}",
        server.addrs
    );
    assert!(
        server
            .addrs
            .iter()
            .any(|a| a.ip().is_loopback() && a.is_ipv4())
    );
    for addr in &server.addrs {
        // ::1 is skipped on a machine without IPv6; whatever was bound must answer.
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        io::Write::write_all(
            &mut stream,
            b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
        let mut text = String::new();
        io::Read::read_to_string(&mut stream, &mut text).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{addr}: {text}");
    }
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let server = start();
    let config = webwire::config::Config {
        port: server.port(),
        ..test_config()
    };
    let error = webwire::start(config)
        .err()
        .expect("the second server must not start");
    assert_eq!(
        error.to_string(),
        format!(
            "127.0.0.1:{} is already in use (another webwire?); pick another port with --port N",
            server.port()
        )
    );
}

// ---- strict to the letter (issue 13) ----------------------------------------------------------

#[test]
fn a_form_feed_before_chunked_is_refused_and_nothing_is_smuggled_behind_it() {
    let server = start();
    let mut client = Client::connect(&server);
    client.send(
        "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: \x0cchunked\r\n\r\n0\r\n\r\n\
         GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    let reply = client.read_reply();
    assert_eq!(reply.status, 400);
    assert_eq!(reply.header("connection"), Some("close"));
    assert!(client.is_closed_by_server(), "one answer, then the close");
}

#[test]
fn chunked_that_is_not_the_last_coding_is_400_and_a_close() {
    // RFC 9112 §6.3: the length cannot be known; 400, then close. (`gzip, chunked` is 501.)
    let server = start();
    let mut client = Client::connect(&server);
    let reply =
        client.exchange("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n");
    assert_eq!(reply.status, 400);
    assert!(client.is_closed_by_server());
    let reply = Client::connect(&server)
        .exchange("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
    assert_eq!(reply.status, 501);
}

#[test]
fn a_content_length_list_with_an_empty_element_is_400() {
    let server = start();
    for value in ["3,", ",3", "3, ,3"] {
        let reply = Client::connect(&server).exchange(format!(
            "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: {value}\r\n\r\nabc"
        ));
        assert_eq!(reply.status, 400, "{value:?}");
    }
    let reply = Client::connect(&server)
        .exchange("POST /ajax/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3, 3\r\n\r\nabc");
    assert_eq!(reply.status, 200, "equal values may be taken as one (§6.3)");
}

#[test]
fn bytes_that_cannot_start_a_request_are_refused_at_once() {
    // With a minute of header timeout, an answer at all proves it came at once.
    let mut config = test_config();
    config.timeouts.header = Duration::from_secs(60);
    let server = start_custom(config, Vec::new());
    // The start of a TLS ClientHello: record type 22 (handshake), version 3.1.
    let mut client = Client::connect(&server);
    client.send(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03");
    let reply = client.read_reply();
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.text(),
        "this is a plain http:// server, and that was a TLS handshake: use http://, not https://\n"
    );
    let mut client = Client::connect(&server);
    client.send(b"\x00\x01\x02");
    let reply = client.read_reply();
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (400, "the method is not a valid token\n")
    );
    // A method arriving a byte at a time is still waited for.
    let mut client = Client::connect(&server);
    client.send_bytewise("GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(client.read_reply().status, 200);
}
