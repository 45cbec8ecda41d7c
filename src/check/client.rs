//! The checker's HTTP/1.1 client, by hand on `std::net`: it writes exact bytes, reads the
//! answer with a limit on everything, and keeps what it read so a failed rule can show it.
//!
//! It is deliberately separate from the server's parser (`http/`): a checker that shared the
//! server's code would agree with the server's bugs.

use std::fmt;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use super::show;

/// The most the client reads for one response head. A server that sends more is failing.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// The most the client reads for one response body (or one stream, over a rule's time).
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// An `http://` (or `ws://`) URL, the only kinds `check` talks to: TLS is out of scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// `ws` or `http`, as given.
    pub scheme: String,
    /// As written: a name, an IPv4 address, or an IPv6 one without its brackets.
    pub host: String,
    pub port: u16,
    /// The path and query, `/` when the URL had none.
    pub target: String,
}

impl Url {
    pub fn parse(text: &str) -> Result<Url, String> {
        let (scheme, rest) = text
            .split_once("://")
            .ok_or("a URL starts with http:// or ws://")?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "ws" {
            return Err(format!(
                "{scheme}:// is not checked: http:// or ws:// (TLS is out of scope)"
            ));
        }
        let (authority, target) = match rest.find(['/', '?']) {
            Some(i) if rest[i..].starts_with('/') => (&rest[..i], rest[i..].to_string()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_string()),
        };
        let target = target.split('#').next().unwrap_or("/").to_string();
        let (host, port) = if let Some(inner) = authority.strip_prefix('[') {
            let (host, after) = inner.split_once(']').ok_or("an IPv6 host needs its ]")?;
            (host, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        if host.is_empty() || host.contains('@') {
            return Err("the URL needs a host (and no user name)".to_string());
        }
        let port = match port {
            Some(port) => port
                .parse()
                .map_err(|_| format!("{port}: not a port number"))?,
            None => 80,
        };
        Ok(Url {
            scheme,
            host: host.to_string(),
            port,
            target,
        })
    }

    /// The `Host` header's value: the port only when it is not the default (RFC 9110 §7.2).
    pub fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == 80 {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    /// The path without its query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("/")
    }

    /// The same server, another target: `with_target("/evt?x=1")`.
    pub fn with_target(&self, target: &str) -> Url {
        Url {
            target: target.to_string(),
            ..self.clone()
        }
    }

    /// This URL's path with `suffix` after it, the query dropped: `/longpoll` → `/longpoll/publish`.
    pub fn joined(&self, suffix: &str) -> Url {
        self.with_target(&format!("{}{suffix}", self.path().trim_end_matches('/')))
    }

    /// This URL's path with `query` (no `?`) as its query, replacing any.
    pub fn with_query(&self, query: &str) -> Url {
        self.with_target(&format!("{}?{query}", self.path()))
    }

    /// The same URL as an `http://` origin a browser would send: `http://localhost:8088`.
    pub fn origin(&self) -> String {
        format!("http://{}", self.authority())
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}{}", self.scheme, self.authority(), self.target)
    }
}

/// A response's head as read: the status, the headers, and the exact bytes.
#[derive(Debug, Clone)]
pub struct Head {
    /// The head's bytes, from the status line to the blank line, CR LFs included.
    pub raw: Vec<u8>,
    /// `HTTP/1.1`, as sent.
    pub version: String,
    pub status: u16,
    /// Name and value, in order; values trimmed of surrounding spaces.
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of header `name`, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Whether header `name` lists `token` (comma-separated, case-insensitive), in any of its
    /// lines: `Vary: Accept-Encoding, Origin` lists `origin`.
    pub fn lists(&self, name: &str, token: &str) -> bool {
        self.all(name).iter().any(|value| {
            value
                .split(',')
                .any(|item| item.trim().eq_ignore_ascii_case(token))
        })
    }

    /// The media type without parameters, lower case: `text/event-stream`.
    pub fn media_type(&self) -> Option<String> {
        self.header("Content-Type").map(|value| {
            value
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
    }

    /// The head for a failure message.
    pub fn shown(&self) -> String {
        show(&self.raw)
    }
}

/// A whole response.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub head: Head,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl Exchange {
    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Head and body for a failure message.
    pub fn shown(&self) -> String {
        let mut all = self.head.raw.clone();
        all.extend_from_slice(&self.body);
        show(&all)
    }
}

/// How the body after a head is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    None,
    Length(usize),
    Chunked,
    UntilClose,
}

/// One connection to the server under check.
pub struct Connection {
    stream: TcpStream,
    /// Read from the socket, not yet consumed.
    buffer: Vec<u8>,
    /// How long one read may wait.
    patience: Duration,
    /// The framing of the body being read, and what is left of it.
    framing: Framing,
    left: usize,
    /// Whether the body being read has ended.
    body_done: bool,
}

impl Connection {
    /// Connects to `url`'s host and port.
    pub fn open(url: &Url, patience: Duration) -> Result<Connection, String> {
        let addrs = (url.host.as_str(), url.port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {}: {e}", url.host))?;
        let mut last = format!("{} resolves to no address", url.host);
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, patience) {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    return Ok(Connection {
                        stream,
                        buffer: Vec::new(),
                        patience,
                        framing: Framing::None,
                        left: 0,
                        body_done: true,
                    });
                }
                Err(e) => last = format!("cannot connect to {addr}: {e}"),
            }
        }
        Err(last)
    }

    /// The socket, for a rule that needs it raw (a WebSocket after its 101).
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Bytes read past what was consumed (a WebSocket's first frames after the 101).
    pub fn take_buffered(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buffer)
    }

    pub fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        let _ = self.stream.set_write_timeout(Some(self.patience));
        self.stream
            .write_all(bytes)
            .and_then(|()| self.stream.flush())
            .map_err(|e| format!("sending the request failed: {e}"))
    }

    /// Reads more from the socket before `deadline`: `Ok(0)` when the server closed.
    fn fill(&mut self, deadline: Instant) -> Result<usize, String> {
        let now = Instant::now();
        if now >= deadline {
            return Err(Waited.to_string());
        }
        let _ = self.stream.set_read_timeout(Some(deadline - now));
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(n) => {
                    self.buffer.extend_from_slice(&chunk[..n]);
                    return Ok(n);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Err(Waited.to_string());
                }
                // A reset after the server's answer reads, for a checker, like a close.
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return Ok(0),
                Err(e) => return Err(format!("reading failed: {e}")),
            }
        }
    }

    /// Reads one response head within the patience. `to_head` says whether the request was
    /// HEAD (so a Content-Length promises no body).
    pub fn read_head(&mut self, to_head: bool) -> Result<Head, String> {
        let deadline = Instant::now() + self.patience;
        let end = loop {
            if let Some(i) = find(&self.buffer, b"\r\n\r\n") {
                break i + 4;
            }
            if self.buffer.len() > MAX_HEAD_BYTES {
                return Err(format!(
                    "the response head is over {MAX_HEAD_BYTES} bytes: {}",
                    show(&self.buffer)
                ));
            }
            match self.fill(deadline) {
                Ok(0) if self.buffer.is_empty() => {
                    return Err("the server closed the connection without answering".into());
                }
                Ok(0) => {
                    return Err(format!(
                        "the server closed the connection in the middle of a head: {}",
                        show(&self.buffer)
                    ));
                }
                Ok(_) => {}
                Err(e) if self.buffer.is_empty() => {
                    return Err(format!("no answer: {e}"));
                }
                Err(e) => {
                    return Err(format!("no whole head ({e}); got {}", show(&self.buffer)));
                }
            }
        };
        let raw: Vec<u8> = self.buffer.drain(..end).collect();
        let head = parse_head(&raw)?;
        self.framing = framing(&head, to_head)?;
        self.left = match self.framing {
            Framing::Length(n) => n,
            _ => 0,
        };
        self.body_done = matches!(self.framing, Framing::None | Framing::Length(0));
        Ok(head)
    }

    /// The next piece of the body as the server sent it: one chunk's data when chunked,
    /// whatever one read returned otherwise. `Ok(None)` when the body has ended. Waits at most
    /// until `deadline`; an error says what went wrong (`Waited` when nothing came in time).
    pub fn next_piece(&mut self, deadline: Instant) -> Result<Option<Vec<u8>>, String> {
        if self.body_done {
            return Ok(None);
        }
        match self.framing {
            Framing::None => Ok(None),
            Framing::Length(_) => {
                if self.buffer.is_empty() && self.fill(deadline)? == 0 {
                    return Err(format!(
                        "the server closed the connection {} bytes before the end of the body",
                        self.left
                    ));
                }
                let n = self.left.min(self.buffer.len());
                let piece: Vec<u8> = self.buffer.drain(..n).collect();
                self.left -= n;
                self.body_done = self.left == 0;
                Ok(Some(piece))
            }
            Framing::UntilClose => {
                if self.buffer.is_empty() && self.fill(deadline)? == 0 {
                    self.body_done = true;
                    return Ok(None);
                }
                Ok(Some(std::mem::take(&mut self.buffer)))
            }
            Framing::Chunked => self.next_chunk(deadline),
        }
    }

    /// One chunk (RFC 9112 §7.1): `size[;ext] CRLF data CRLF`, `0 CRLF [trailers] CRLF` last.
    fn next_chunk(&mut self, deadline: Instant) -> Result<Option<Vec<u8>>, String> {
        let line_end = loop {
            if let Some(i) = find(&self.buffer, b"\r\n") {
                break i;
            }
            if self.buffer.len() > 1024 {
                return Err(format!(
                    "a chunk-size line is too long: {}",
                    show(&self.buffer)
                ));
            }
            if self.fill(deadline)? == 0 {
                return Err(format!(
                    "the server closed the connection inside a chunked body (no last chunk){}",
                    if self.buffer.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", show(&self.buffer))
                    }
                ));
            }
        };
        let line = String::from_utf8_lossy(&self.buffer[..line_end]).into_owned();
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .ok()
            .filter(|_| !size_text.is_empty() && size_text.len() <= 8)
            .ok_or_else(|| format!("not a chunk size: {}", show(line.as_bytes())))?;
        if size == 0 {
            // Trailers, if any, then the blank line.
            loop {
                if let Some(i) = find(&self.buffer[line_end..], b"\r\n\r\n") {
                    self.buffer.drain(..line_end + i + 4);
                    self.body_done = true;
                    return Ok(None);
                }
                if self.buffer.len() > MAX_HEAD_BYTES {
                    return Err("the chunked body's trailer section is too long".into());
                }
                if self.fill(deadline)? == 0 {
                    return Err(format!(
                        "the last chunk is not followed by a blank line: {}",
                        show(&self.buffer)
                    ));
                }
            }
        }
        if size > MAX_BODY_BYTES {
            return Err(format!(
                "a chunk of {size} bytes is over the checker's limit"
            ));
        }
        let need = line_end + 2 + size + 2;
        while self.buffer.len() < need {
            if self.fill(deadline)? == 0 {
                return Err(format!(
                    "the server closed the connection inside a {size}-byte chunk"
                ));
            }
        }
        let chunk: Vec<u8> = self.buffer.drain(..need).collect();
        if &chunk[need - 2..] != b"\r\n" {
            return Err(format!(
                "a chunk's data is not followed by CRLF: {}",
                show(&chunk)
            ));
        }
        Ok(Some(chunk[line_end + 2..need - 2].to_vec()))
    }

    /// The rest of the body, within the patience.
    pub fn read_body(&mut self) -> Result<Vec<u8>, String> {
        let deadline = Instant::now() + self.patience;
        let mut body = Vec::new();
        while let Some(piece) = self.next_piece(deadline).map_err(|e| {
            if body.is_empty() {
                e
            } else {
                format!("{e}; the body so far: {}", show(&body))
            }
        })? {
            body.extend_from_slice(&piece);
            if body.len() > MAX_BODY_BYTES {
                return Err(format!("the body is over {MAX_BODY_BYTES} bytes"));
            }
        }
        Ok(body)
    }

    /// Reads a whole response.
    pub fn read_response(&mut self, to_head: bool) -> Result<Exchange, String> {
        let head = self.read_head(to_head)?;
        let body = self
            .read_body()
            .map_err(|e| format!("{e}\nafter the head {}", head.shown()))?;
        Ok(Exchange { head, body })
    }

    /// Whether the server closes the connection (reads end) before `deadline`; bytes that
    /// arrive first are returned as an error.
    pub fn closes_before(&mut self, deadline: Instant) -> Result<bool, String> {
        loop {
            match self.fill(deadline) {
                Ok(0) => return Ok(self.buffer.is_empty()),
                Ok(_) => {
                    if self.buffer.len() > MAX_HEAD_BYTES {
                        return Err(format!("unexpected bytes: {}", show(&self.buffer)));
                    }
                }
                Err(_) => return Ok(false),
            }
        }
    }
}

/// The error text when nothing came in time.
pub struct Waited;

impl fmt::Display for Waited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("nothing came in time")
    }
}

/// Whether an error from `next_piece` only means nothing came before the deadline.
pub fn is_waited(error: &str) -> bool {
    error == Waited.to_string()
}

/// A request's bytes: `METHOD target HTTP/1.1`, `Host`, the given headers, then `body` with
/// its `Content-Length` when there is one.
pub fn request(method: &str, url: &Url, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "{method} {} HTTP/1.1\r\nHost: {}\r\n",
        url.target,
        url.authority()
    );
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || matches!(method, "POST" | "PUT") {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// One request on a new connection (`Connection: close` is sent), its whole response read.
pub fn exchange(
    url: &Url,
    patience: Duration,
    method: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Exchange, String> {
    let mut headers = headers.to_vec();
    headers.push(("Connection", "close"));
    let mut connection = Connection::open(url, patience)?;
    connection.send(&request(method, url, &headers, body))?;
    connection.read_response(method == "HEAD")
}

/// `GET url` with `headers`, on a new connection.
pub fn get(url: &Url, patience: Duration, headers: &[(&str, &str)]) -> Result<Exchange, String> {
    exchange(url, patience, "GET", headers, b"")
}

/// A head parsed leniently enough to report on: status line, then `name: value` lines.
fn parse_head(raw: &[u8]) -> Result<Head, String> {
    let text = std::str::from_utf8(raw)
        .map_err(|_| format!("the response head is not UTF-8: {}", show(raw)))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("").to_string();
    let status = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|s| (100..=999).contains(s) && version.starts_with("HTTP/"))
        .ok_or_else(|| format!("not an HTTP status line: {}", show(status_line.as_bytes())))?;
    let mut headers = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("a header line with no colon: {}", show(line.as_bytes())))?;
        headers.push((name.to_string(), value.trim().to_string()));
    }
    Ok(Head {
        raw: raw.to_vec(),
        version,
        status,
        headers,
    })
}

/// How the body after `head` is delimited (RFC 9112 §6.3).
fn framing(head: &Head, to_head: bool) -> Result<Framing, String> {
    if to_head || head.status < 200 || head.status == 204 || head.status == 304 {
        return Ok(Framing::None);
    }
    if let Some(coding) = head.header("Transfer-Encoding") {
        if coding.eq_ignore_ascii_case("chunked") {
            return Ok(Framing::Chunked);
        }
        return Err(format!(
            "a transfer coding the checker does not read: {coding}"
        ));
    }
    match head.header("Content-Length") {
        Some(length) => length
            .parse()
            .map(Framing::Length)
            .map_err(|_| format!("not a Content-Length: {}", show(length.as_bytes()))),
        None => Ok(Framing::UntilClose),
    }
}

/// Where `needle` first starts in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let url = Url::parse("http://localhost:8088/evt?x=1#top").unwrap();
        assert_eq!(url.host, "localhost");
        assert_eq!(url.port, 8088);
        assert_eq!(url.target, "/evt?x=1");
        assert_eq!(url.path(), "/evt");
        assert_eq!(url.joined("/publish").target, "/evt/publish");
        assert_eq!(url.with_query("since=0").target, "/evt?since=0");
        assert_eq!(url.authority(), "localhost:8088");
        assert_eq!(url.to_string(), "http://localhost:8088/evt?x=1");
        let url = Url::parse("ws://[::1]/ws").unwrap();
        assert_eq!((url.host.as_str(), url.port), ("::1", 80));
        assert_eq!(url.authority(), "[::1]");
        assert_eq!(Url::parse("http://a.test?q").unwrap().target, "/?q");
        assert!(Url::parse("https://a.test/").is_err());
        assert!(Url::parse("localhost:8088").is_err());
        assert!(Url::parse("http://:80/").is_err());
        assert!(Url::parse("http://a:b/").is_err());
    }

    #[test]
    fn heads() {
        let head = parse_head(b"HTTP/1.1 200 OK\r\nVary: A, origin\r\nX: 1\r\n\r\n").unwrap();
        assert_eq!(head.status, 200);
        assert!(head.lists("vary", "Origin"));
        assert_eq!(head.header("x"), Some("1"));
        assert!(parse_head(b"HTTP/1.1 OK\r\n\r\n").is_err());
    }
}
