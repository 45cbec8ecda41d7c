//! What every integration test needs: a server on a free port, and a raw-TCP client that
//! writes exact bytes and reads exact responses. The client parses responses with its own
//! small code, not the server's, so a bug in the server's HTTP code cannot hide itself.

#![allow(dead_code)] // each test file uses a different part of this

pub mod ws;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use webwire::config::Config;
use webwire::http::response::http_date;
use webwire::router::Route;
use webwire::{Running, start_with};

/// A test configuration: a free port on 127.0.0.1, no log, and timeouts short enough that
/// the timeout tests finish quickly, yet long enough that a test thread the machine keeps
/// waiting for a moment (CI has two busy cores) is not mistaken for an idle client.
pub fn test_config() -> Config {
    let mut config = Config {
        bind: "127.0.0.1".to_string(),
        port: 0,
        quiet: true,
        ..Config::default()
    };
    config.timeouts.header = Duration::from_millis(1000);
    config.timeouts.body = Duration::from_millis(1000);
    config.timeouts.idle = Duration::from_millis(1000);
    config.timeouts.write = Duration::from_millis(1000);
    config.timeouts.linger = Duration::from_millis(500);
    config
}

pub fn start() -> Running {
    start_custom(test_config(), Vec::new())
}

pub fn start_custom(config: Config, routes: Vec<Route>) -> Running {
    start_with(config, routes).expect("the server starts")
}

pub fn address(server: &Running) -> SocketAddr {
    server.addrs[0]
}

/// A response as read off the wire.
#[derive(Debug)]
pub struct Reply {
    /// The head exactly as received, CR LFs included.
    pub head: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked if it was chunked.
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The header lines in order, without the Date line (which changes every second).
    pub fn head_without_date(&self) -> String {
        self.head
            .split_inclusive("\r\n")
            .filter(|line| !line.starts_with("Date: "))
            .collect()
    }
}

// ---- response heads, as the server writes them ----------------------------------------------

/// A head as the server writes it, minus the Date line (compare `Reply::head_without_date`):
/// the status line, then `Server: webwire` and `X-Content-Type-Options: nosniff`, which every
/// answer starts with, then `headers` in order, then the blank line.
pub fn head(status_line: &str, headers: &[(&str, &str)]) -> String {
    let mut lines = vec![("X-Content-Type-Options", "nosniff")];
    lines.extend_from_slice(headers);
    head_sniffable(status_line, &lines)
}

/// The same head without `X-Content-Type-Options: nosniff`, for an answer that lets the
/// browser sniff (only `/stream?sniff=1` does).
pub fn head_sniffable(status_line: &str, headers: &[(&str, &str)]) -> String {
    let mut head = format!("{status_line}\r\nServer: webwire\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head + "\r\n"
}

pub struct Client {
    pub stream: TcpStream,
    /// Bytes received and not yet handed out.
    pending: Vec<u8>,
}

impl Client {
    pub fn connect(server: &Running) -> Client {
        Client::connect_to(address(server))
    }

    /// `connect`, to a server known only by its address: one in another process.
    pub fn connect_to(address: SocketAddr) -> Client {
        let stream = TcpStream::connect(address).expect("connect");
        // A safety net so a broken server fails the test instead of hanging it.
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Client {
            stream,
            pending: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: impl AsRef<[u8]>) {
        self.stream.write_all(bytes.as_ref()).expect("send");
    }

    /// Sends one byte per `write` — the worst a network can do to a parser.
    pub fn send_bytewise(&mut self, bytes: impl AsRef<[u8]>) {
        for byte in bytes.as_ref() {
            self.stream.write_all(&[*byte]).expect("send a byte");
        }
    }

    /// Reads one response; `head_request` for a response to HEAD (no body follows).
    pub fn read_reply_to(&mut self, head_request: bool) -> Reply {
        let head_end = loop {
            if let Some(i) = find(&self.pending, b"\r\n\r\n") {
                break i + 4;
            }
            assert!(
                self.fill() > 0,
                "connection closed before a whole head: {:?}",
                self.pending_text()
            );
        };
        let head = String::from_utf8(self.pending.drain(..head_end).collect()).expect("ASCII head");
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
        let headers: Vec<(String, String)> = lines
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (n, v) = l.split_once(':').expect("header colon");
                (n.to_string(), v.trim().to_string())
            })
            .collect();
        let mut reply = Reply {
            head,
            status,
            headers,
            body: Vec::new(),
        };
        if head_request || status == 204 || status == 304 || (100..200).contains(&status) {
            return reply;
        }
        if reply.header("transfer-encoding") == Some("chunked") {
            reply.body = self.read_chunked();
        } else if let Some(length) = reply.header("content-length") {
            let length: usize = length.parse().expect("numeric Content-Length");
            while self.pending.len() < length {
                assert!(self.fill() > 0, "closed inside a body");
            }
            reply.body = self.pending.drain(..length).collect();
        } else {
            reply.body = self.read_to_end(); // close-delimited (HTTP/1.0 streams)
        }
        reply
    }

    pub fn read_reply(&mut self) -> Reply {
        self.read_reply_to(false)
    }

    /// Sends a request and reads its response.
    pub fn exchange(&mut self, request: impl AsRef<[u8]>) -> Reply {
        self.send(request);
        self.read_reply()
    }

    /// Reads one chunk of a chunked body: its data, or `None` for the last chunk.
    pub fn read_chunk(&mut self) -> Option<Vec<u8>> {
        let line_end = loop {
            if let Some(i) = find(&self.pending, b"\r\n") {
                break i;
            }
            assert!(self.fill() > 0, "closed inside a chunk size");
        };
        let size_line = String::from_utf8(self.pending.drain(..line_end + 2).collect()).unwrap();
        let size = usize::from_str_radix(size_line.trim_end(), 16).expect("hex chunk size");
        while self.pending.len() < size + 2 {
            assert!(self.fill() > 0, "closed inside a chunk");
        }
        let data: Vec<u8> = self.pending.drain(..size).collect();
        assert_eq!(
            self.pending.drain(..2).collect::<Vec<u8>>(),
            b"\r\n",
            "CR LF after chunk data"
        );
        (size > 0).then_some(data)
    }

    fn read_chunked(&mut self) -> Vec<u8> {
        let mut body = Vec::new();
        while let Some(data) = self.read_chunk() {
            body.extend(data);
        }
        // The last chunk is followed by an empty trailer section: read_chunk consumed its CR LF.
        body
    }

    /// Everything until the server closes.
    pub fn read_to_end(&mut self) -> Vec<u8> {
        while self.fill() > 0 {}
        std::mem::take(&mut self.pending)
    }

    /// True if the server has closed the connection (and sent nothing more).
    pub fn is_closed_by_server(&mut self) -> bool {
        self.fill() == 0 && self.pending.is_empty()
    }

    pub fn shutdown_write(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    fn fill(&mut self) -> usize {
        let mut chunk = [0u8; 8192];
        match self.stream.read(&mut chunk) {
            Ok(n) => {
                self.pending.extend_from_slice(&chunk[..n]);
                n
            }
            // A reset after the server closed counts as closed.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => 0,
            Err(e) => panic!("read failed: {e}"),
        }
    }

    fn pending_text(&self) -> String {
        String::from_utf8_lossy(&self.pending).into_owned()
    }
}

pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `n` fresh connections that have each sent `request` and not read its answer yet: places
/// for the server to hold.
pub fn clients_waiting(server: &Running, request: &str, n: usize) -> Vec<Client> {
    (0..n)
        .map(|_| {
            let mut client = Client::connect(server);
            client.send(request);
            client
        })
        .collect()
}

/// GET a path on a fresh connection.
pub fn get(server: &Running, path: &str) -> Reply {
    Client::connect(server).exchange(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n"))
}

/// A POST of `body` to `target` as `content_type`, with `Host: t`.
pub fn post_request(target: &str, content_type: &str, body: &str) -> String {
    format!(
        "POST {target} HTTP/1.1\r\nHost: t\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Every second from `before` to `after` as an HTTP date: what a clock read in between says.
pub fn clock_between(before: SystemTime, after: SystemTime) -> Vec<String> {
    let mut seconds = vec![http_date(before)];
    let mut at = before;
    while at < after {
        at += Duration::from_millis(200);
        let second = http_date(at.min(after));
        if !seconds.contains(&second) {
            seconds.push(second);
        }
    }
    seconds
}

/// Whether `text` is what `/time` (and `GET /cors`) answers when asked between `before` and
/// `after`: one of the clock's seconds as an HTTP date, and a line feed.
pub fn is_time_between(text: &str, before: SystemTime, after: SystemTime) -> bool {
    let seconds = clock_between(before, after);
    seconds.iter().any(|second| format!("{second}\n") == text)
}

// ---- JSON answers, and the chat's /stats ------------------------------------------------------

/// The number after the first `"name":` in a JSON text.
pub fn number(json: &str, name: &str) -> u64 {
    let key = format!("\"{name}\":");
    let start = json
        .find(&key)
        .unwrap_or_else(|| panic!("no {key} in {json}"))
        + key.len();
    let digits: String = json[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().expect("a number")
}

/// The ids of every message in a text, in order: each message's JSON starts `{"id":N`.
pub fn ids(text: &str) -> Vec<u64> {
    text.match_indices("{\"id\":")
        .map(|(at, _)| number(&text[at..], "id"))
        .collect()
}

/// `/stats`'s `field` for one chat transport.
pub fn stat(server: &Running, transport: &str, field: &str) -> u64 {
    let stats = get(server, "/stats").text();
    let at = stats
        .find(&format!("\"name\":\"{transport}\""))
        .unwrap_or_else(|| panic!("{transport} missing from {stats}"));
    number(&stats[at..], field)
}

/// Waits until `/stats` shows `field` at `n` for `transport`: the server's own signal, never
/// a guess from a sleep. The deadline only stops a broken server from hanging the test.
pub fn wait_stat(server: &Running, transport: &str, field: &str, n: u64) {
    let give_up = Instant::now() + Duration::from_secs(20);
    while stat(server, transport, field) != n {
        assert!(
            Instant::now() < give_up,
            "{transport} never had {field} {n}"
        );
        thread::sleep(Duration::from_millis(5));
    }
}

/// Waits until `/stats` shows `n` connections open on `transport`.
pub fn wait_open(server: &Running, transport: &str, n: u64) {
    wait_stat(server, transport, "open", n);
}
