//! A listener for hand-written servers under check: it reads one request's head (and a body
//! with a Content-Length), parses it plainly, and hands it with the socket to the server
//! function on a thread of its own. Connections serve one request and close, unless the
//! server function keeps the socket (a stream, a WebSocket, more requests).
//!
//! Then the assertions every technique makes: all rules pass, or one rule fails alone, and
//! each rule has a break that fails it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;

use webwire::check::{self, Outcome, Target, Verdict};

/// A request as the server under check sees it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// The request line's version: `HTTP/1.1`, `HTTP/1.0` (an HTTP/1.0 client gets no chunks,
    /// and no WebSocket).
    pub version: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of header `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// The raw value of query parameter `name` (not percent-decoded), if present.
    pub fn query(&self, name: &str) -> Option<&str> {
        let query = self.target.split_once('?')?.1;
        query.split('&').find_map(|pair| {
            let (n, v) = pair.split_once('=').unwrap_or((pair, ""));
            (n == name).then_some(v)
        })
    }
}

/// A server under check, listening on 127.0.0.1 on a free port until the test ends.
pub struct Server {
    pub port: u16,
}

impl Server {
    /// The URL of `path` on this server: `url("/evt")`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

/// Serves every connection with `handle`, on a thread each.
pub fn serve(handle: impl Fn(Request, TcpStream) + Send + Sync + 'static) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = Arc::new(handle);
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let handle = Arc::clone(&handle);
            thread::spawn(move || {
                if let Some(request) = read_request(&stream) {
                    handle(request, stream);
                }
            });
        }
    });
    Server { port }
}

/// Reads one request: the head up to the blank line, then `Content-Length` bytes of body.
/// `None` when the client sent no whole request (or a request line without a version).
pub fn read_request(mut stream: &TcpStream) -> Option<Request> {
    let mut bytes = Vec::new();
    let mut byte = [0u8; 1];
    // One byte at a time, so nothing after the head is swallowed (a WebSocket's first frame).
    while !bytes.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).ok()? == 0 || bytes.len() > 64 * 1024 {
            return None;
        }
        bytes.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let mut lines = text.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let target = first.next()?.to_string();
    let version = first.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.to_string(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("Content-Length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        target,
        version,
        headers,
        body,
    })
}

/// Writes `bytes` and ignores a client that left (the checker may stop reading early).
pub fn write(mut stream: &TcpStream, bytes: impl AsRef<[u8]>) -> bool {
    stream
        .write_all(bytes.as_ref())
        .and_then(|()| stream.flush())
        .is_ok()
}

/// A complete response: status line, `headers`, Content-Length, Connection: close, `body`.
pub fn respond(stream: &TcpStream, status: &str, headers: &[(&str, &str)], body: &[u8]) {
    let mut head = format!("HTTP/1.1 {status}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    write(stream, bytes);
}

/// Runs `technique`'s rules against `url`.
pub fn check(technique: &str, url: &str) -> Vec<Outcome> {
    let technique = check::find(technique).expect("a technique check knows");
    let target = Target::new(url).unwrap();
    check::run(technique, &target)
}

/// Asserts that every rule passed, printing the report if not.
pub fn assert_all_pass(technique: &str, url: &str) {
    let outcomes = check(technique, url);
    let failed: Vec<String> = outcomes
        .iter()
        .filter(|o| o.verdict != Verdict::Pass)
        .map(|o| format!("{}: {:?}", o.rule.id, o.verdict))
        .collect();
    assert!(failed.is_empty(), "against {url}:\n{}", failed.join("\n"));
}

/// Asserts that rule `id` failed and every other rule passed: the server broke that rule
/// alone, and the checker saw exactly that.
pub fn assert_only_fails(technique: &str, url: &str, id: &str) {
    let outcomes = check(technique, url);
    assert!(
        outcomes.iter().any(|o| o.rule.id == id),
        "{technique} has no rule {id}"
    );
    let wrong: Vec<String> = outcomes
        .iter()
        .filter(|o| (o.rule.id == id) != matches!(o.verdict, Verdict::Fail(_)))
        .filter(|o| !(o.rule.id != id && o.verdict == Verdict::Pass))
        .map(|o| format!("{}: {:?}", o.rule.id, o.verdict))
        .collect();
    assert!(
        wrong.is_empty(),
        "breaking {id} at {url} should fail it alone; instead:\n{}",
        wrong.join("\n")
    );
}

/// Every rule id of `technique`, to show each has a breaking test.
pub fn rule_ids(technique: &str) -> Vec<&'static str> {
    check::find(technique)
        .unwrap()
        .rules
        .iter()
        .map(|r| r.id)
        .collect()
}

/// Asserts that `breaks` name every rule of `technique` exactly once, and that each break
/// fails its rule alone: `url_of` starts the server broken that way and gives the URL to
/// check. The breaks run at once, a thread each (many runs mostly wait: on a stream's ticks,
/// a hold, a slow answer; one after another, a module would take a minute), and every break
/// that did not fail its rule alone is reported, not only the first.
pub fn assert_each_rule_fails_alone<B: Copy + Send>(
    technique: &str,
    breaks: &[(B, &'static str)],
    url_of: impl Fn(B) -> String + Sync,
) {
    let mut covered: Vec<&str> = breaks.iter().map(|&(_, id)| id).collect();
    covered.sort_unstable();
    let mut ids = rule_ids(technique);
    ids.sort_unstable();
    assert_eq!(covered, ids, "every rule has a break");
    let url_of = &url_of;
    let failures: Vec<String> = thread::scope(|scope| {
        let runs: Vec<_> = breaks
            .iter()
            .map(|&(broken, id)| {
                scope.spawn(move || assert_only_fails(technique, &url_of(broken), id))
            })
            .collect();
        runs.into_iter()
            .filter_map(|run| run.join().err())
            .map(|panic| {
                panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(ToString::to_string))
                    .unwrap_or_default()
            })
            .collect()
    });
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
