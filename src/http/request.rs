//! Reading an HTTP/1.1 request head from bytes (RFC 9112 §2–§7).
//!
//! A browser opens a TCP connection and sends text like this, every line ending in CR LF:
//!
//! ```text
//! GET /time?since=3 HTTP/1.1\r\n
//! Host: localhost:8088\r\n
//! Accept: */*\r\n
//! \r\n
//! ```
//!
//! `parse_head` is a pure function over the bytes received so far. It answers one of three
//! things: the head is complete (here is the request, and how many bytes it took), it is
//! incomplete (read more and call again — not an error: TCP may deliver the head one byte at a
//! time), or it is broken (a `RequestError` that names the rule and carries its status code).
//! It never reads a socket and never allocates more than the limits in `limits.rs` allow.
//!
//! It is strict where leniency lets two parsers disagree about where a request ends — the
//! root of request smuggling: no bare LF, no space before a colon, no folded lines, no
//! Content-Length beside Transfer-Encoding.

use crate::http::method::Method;
use crate::http::query;
use crate::http::target::{check_host, split_target};
use crate::limits::{MAX_BODY_BYTES, MAX_HEAD_BYTES, MAX_HEADERS, MAX_REQUEST_LINE};

/// The two versions of HTTP/1 (RFC 9112 §2.3). Any `HTTP/1.x` above 1.1 is served as 1.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

impl Version {
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        }
    }
}

/// How the body that follows the head is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No Content-Length and no Transfer-Encoding: a request without a body.
    Empty,
    /// `Content-Length: N`: exactly N bytes follow.
    Length(usize),
    /// `Transfer-Encoding: chunked`: size-prefixed chunks until a zero-size one.
    Chunked,
}

/// A parsed request. The body is filled in by the server after the head (see `body.rs`).
#[derive(Debug, Clone)]
pub struct Request {
    /// The method, case-sensitive (RFC 9110 §9.1): `get` is not `GET`.
    pub method: Method,
    /// The request target exactly as sent, for logs and traces.
    pub target: String,
    /// The target's path, percent-decoded. Empty for a CONNECT target, `*` for `OPTIONS *`.
    pub path: String,
    /// The raw query string after `?`, not decoded (see `query_params`).
    pub query: String,
    pub version: Version,
    /// Header lines in the order received; names keep their spelling, values are trimmed.
    pub headers: Vec<(String, String)>,
    pub framing: BodyFraming,
    /// The client sent `Expect: 100-continue` and waits for a go-ahead before its body.
    pub expects_continue: bool,
    pub body: Vec<u8>,
}

/// What `parse_head` makes of the bytes so far.
#[derive(Debug)]
pub enum Parsed {
    /// The whole head arrived; it used this many bytes of the buffer.
    Complete(Request, usize),
    /// More bytes are needed.
    Incomplete,
}

pub use crate::http::error::RequestError;

impl Request {
    /// The first header with this name, compared case-insensitively (RFC 9110 §5.1).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every header with this name, in order (a header may be sent several times).
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// True if a comma-separated header such as `Connection: keep-alive, Upgrade` lists
    /// `token`, in any of its lines, ignoring case.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        comma_list(self.header_values(name)).any(|t| t.eq_ignore_ascii_case(token))
    }

    /// The query string decoded into name/value pairs, repeated names kept.
    pub fn query_params(&self) -> Vec<(String, String)> {
        query::parse_form(self.query.as_bytes())
    }

    /// The first query parameter with this name, decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query_params()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    /// A query parameter that must be a whole number within `range` (`query::number_in`);
    /// `Ok(None)` when it is absent.
    pub fn number_param(
        &self,
        name: &str,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<Option<u64>, String> {
        self.query_param(name)
            .map(|text| query::number_in(name, &text, range))
            .transpose()
    }

    /// The body's media type from `Content-Type`, lower-cased and without its parameters
    /// (`Text/Plain; charset=utf-8` is `text/plain`): media type names are case-insensitive
    /// and end at the first `;` (RFC 9110 §8.3.1). `None` with no `Content-Type`.
    pub fn media_type(&self) -> Option<String> {
        let content_type = self.header("content-type")?;
        let essence = content_type.split(';').next().unwrap_or("");
        Some(essence.trim().to_ascii_lowercase())
    }

    /// True if the client already has the version tagged `etag`: its `If-None-Match` lists
    /// that tag, or `*`. Compared weakly, `W/"x"` matching `"x"` (RFC 9110 §13.1.2), and over
    /// every `If-None-Match` line. The answer is then `304 Not Modified`, with no body.
    pub fn client_has_etag(&self, etag: &str) -> bool {
        comma_list(self.header_values("if-none-match"))
            .any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
    }

    // ANCHOR: keep_alive
    /// Whether the connection stays open after this request (RFC 9112 §9.3): HTTP/1.1 is
    /// persistent unless the client says `Connection: close`; HTTP/1.0 closes unless it says
    /// `Connection: keep-alive`.
    pub fn keep_alive(&self) -> bool {
        match self.version {
            Version::Http11 => !self.has_token("connection", "close"),
            Version::Http10 => self.has_token("connection", "keep-alive"),
        }
    }
    // ANCHOR_END: keep_alive
}

/// A whole request head, parsed: for unit tests that need a `Request`.
#[cfg(test)]
pub fn parsed(head: &str) -> Request {
    match parse_head(head.as_bytes()) {
        Ok(Parsed::Complete(request, _)) => request,
        _ => panic!("not a complete head: {head:?}"),
    }
}

/// Splits header values on commas and trims the optional whitespace around each element,
/// skipping empty ones (RFC 9110 §5.6.1).
pub fn comma_list<'a>(values: impl Iterator<Item = &'a str>) -> impl Iterator<Item = &'a str> {
    values
        .flat_map(|v| v.split(','))
        .map(|t| t.trim_matches([' ', '\t']))
        .filter(|t| !t.is_empty())
}

/// Parses a request head from the start of `buf`. See the module comment.
pub fn parse_head(buf: &[u8]) -> Result<Parsed, RequestError> {
    // RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request line
    // (some old clients send an extra CR LF after a POST body).
    let mut pos = 0;
    while buf[pos..].starts_with(b"\r\n") && pos < MAX_HEAD_BYTES {
        pos += 2;
    }

    // ANCHOR: request_line
    // A request starts with its method, a token. A byte that can be no part of one means this
    // is not HTTP at all — a TLS handshake, binary noise — so refuse at once, not after the
    // whole header timeout. (CR and LF are left to the line rules below.)
    if let Some(&bad) = buf[pos..]
        .iter()
        .take_while(|&&b| b != b' ')
        .find(|&&b| !is_token_byte(b) && b != b'\r' && b != b'\n')
    {
        // A TLS record starts with its type, 22 (0x16) for a handshake (RFC 8446 §5.1).
        return Err(if buf[pos] == 0x16 && bad == 0x16 {
            RequestError::TlsHandshake
        } else {
            RequestError::InvalidMethod
        });
    }
    let Some((line, next)) = next_line(buf, pos)? else {
        if buf.len() - pos > MAX_REQUEST_LINE {
            return Err(RequestError::RequestLineTooLong);
        }
        return Ok(Parsed::Incomplete);
    };
    if next - pos > MAX_REQUEST_LINE {
        return Err(RequestError::RequestLineTooLong);
    }
    let (method, target, version) = parse_request_line(line)?;
    // ANCHOR_END: request_line
    pos = next;

    let mut headers = Vec::new();
    loop {
        let Some((line, next)) = next_line(buf, pos)? else {
            if buf.len() > MAX_HEAD_BYTES {
                return Err(RequestError::HeadTooLarge);
            }
            return Ok(Parsed::Incomplete);
        };
        if next > MAX_HEAD_BYTES {
            return Err(RequestError::HeadTooLarge);
        }
        pos = next;
        if line.is_empty() {
            break; // the blank line that ends the head
        }
        if headers.len() == MAX_HEADERS {
            return Err(RequestError::TooManyHeaders);
        }
        headers.push(parse_header_line(line)?);
    }

    let mut request = Request {
        method,
        target: target.to_string(),
        path: String::new(),
        query: String::new(),
        version,
        headers,
        framing: BodyFraming::Empty,
        expects_continue: false,
        body: Vec::new(),
    };
    split_target(&mut request)?;
    check_host(&request)?;
    request.framing = body_framing(&request)?;
    request.expects_continue = expects_continue(&request)?;
    Ok(Parsed::Complete(request, pos))
}

// ANCHOR: next_line
/// Finds the line starting at `from`. `Ok(None)` if its end has not arrived yet.
/// RFC 9112 §2.2 lets a recipient accept a bare LF; we refuse it, so that this server and any
/// proxy in front of it can never disagree about where a line ends.
fn next_line(buf: &[u8], from: usize) -> Result<Option<(&[u8], usize)>, RequestError> {
    let Some(offset) = buf[from..].iter().position(|&b| b == b'\n') else {
        return Ok(None);
    };
    let lf = from + offset;
    if lf == from || buf[lf - 1] != b'\r' {
        return Err(RequestError::BareLineFeed);
    }
    Ok(Some((&buf[from..lf - 1], lf + 1)))
}
// ANCHOR_END: next_line

/// `request-line = method SP request-target SP HTTP-version` (RFC 9112 §3), one space each.
fn parse_request_line(line: &[u8]) -> Result<(Method, &str, Version), RequestError> {
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(RequestError::MalformedRequestLine);
    };
    if method.is_empty() || !method.iter().all(|&b| is_token_byte(b)) {
        return Err(RequestError::InvalidMethod);
    }
    // A target is printable ASCII with no spaces; anything else must be percent-encoded.
    if target.is_empty() || !target.iter().all(|&b| (0x21..=0x7e).contains(&b)) {
        return Err(RequestError::InvalidTarget);
    }
    let version = match version {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            match (major, minor) {
                (b'1', b'0') => Version::Http10,
                (b'1', _) => Version::Http11,
                _ => return Err(RequestError::UnsupportedVersion),
            }
        }
        _ => return Err(RequestError::MalformedVersion),
    };
    // Both were checked to be ASCII above, so these conversions cannot fail.
    let method = Method::from_token(&String::from_utf8_lossy(method));
    let target = std::str::from_utf8(target).map_err(|_| RequestError::InvalidTarget)?;
    Ok((method, target, version))
}

/// `field-line = field-name ":" OWS field-value OWS` (RFC 9112 §5).
fn parse_header_line(line: &[u8]) -> Result<(String, String), RequestError> {
    // §5.2: obs-fold (a line that continues the previous one) must be rejected or replaced.
    if line[0] == b' ' || line[0] == b'\t' {
        return Err(RequestError::ObsoleteLineFolding);
    }
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or(RequestError::MissingColon)?;
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    // §5.1: "A server MUST reject ... any received request message that contains whitespace
    // between a header field name and colon with a response status code of 400".
    if name.ends_with(b" ") || name.ends_with(b"\t") {
        return Err(RequestError::SpaceBeforeColon);
    }
    if name.is_empty() || !name.iter().all(|&b| is_token_byte(b)) {
        return Err(RequestError::InvalidHeaderName);
    }
    // Optional whitespace around the value is SP and HTAB only (§5.6.3). `trim_ascii` would
    // also strip form feed and CR, and `\x0cchunked` would pass as `chunked`; left in, they
    // are refused just below.
    let value = trim_ows(value);
    // RFC 9110 §5.5: field-vchar, SP, HTAB and obs-text; no NUL, no bare CR, no other CTL.
    if !value
        .iter()
        .all(|&b| b == b'\t' || b == b' ' || (0x21..=0x7e).contains(&b) || b >= 0x80)
    {
        return Err(RequestError::InvalidHeaderValue);
    }
    let name = String::from_utf8_lossy(name).into_owned();
    Ok((name, String::from_utf8_lossy(value).into_owned()))
}

/// `value` without the optional whitespace (SP, HTAB) around it.
fn trim_ows(value: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !is_ows(b)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |i| i + 1);
    &value[start..end]
}

// ANCHOR: body_framing
/// Decides how the body is delimited, refusing every ambiguity (RFC 9112 §6.1, §6.3).
fn body_framing(request: &Request) -> Result<BodyFraming, RequestError> {
    let codings: Vec<&str> = comma_list(request.header_values("transfer-encoding")).collect();
    // Every element of a Content-Length list, empty ones kept: `3,` is not a list of equal
    // valid values (§6.3 item 5) but a malformed one, and must not pass as `3`.
    let lengths: Vec<&str> = request
        .header_values("content-length")
        .flat_map(|v| v.split(','))
        .map(|t| t.trim_matches([' ', '\t']))
        .collect();
    let has_transfer_encoding = request.header("transfer-encoding").is_some();

    // ANCHOR: transfer_encoding
    if has_transfer_encoding {
        // §6.3: both present is how request smuggling works; we refuse instead of guessing.
        if !lengths.is_empty() || request.header("content-length").is_some() {
            return Err(RequestError::LengthWithTransferEncoding);
        }
        if request.version == Version::Http10 {
            return Err(RequestError::TransferEncodingInHttp10);
        }
        // §6.3: chunked that is not the final coding leaves the length unknowable: 400 and
        // close, whatever the other codings are. Chunked last after others we cannot undo
        // (`gzip, chunked`) is a coding we do not implement: 501.
        if !codings
            .last()
            .is_some_and(|c| c.eq_ignore_ascii_case("chunked"))
        {
            return Err(RequestError::ChunkedNotFinal);
        }
        if codings.iter().any(|c| !c.eq_ignore_ascii_case("chunked")) {
            return Err(RequestError::UnsupportedTransferCoding);
        }
        if codings.len() != 1 {
            return Err(RequestError::ChunkedNotFinal); // chunked twice
        }
        return Ok(BodyFraming::Chunked);
    }
    // ANCHOR_END: transfer_encoding
    if request.header("content-length").is_none() {
        return Ok(BodyFraming::Empty);
    }
    // §6.3 item 5: a list of identical valid values (`5, 5`) may be accepted as one.
    let mut length = None;
    for text in &lengths {
        // 1*DIGIT only: no sign, no spaces inside, and short enough not to overflow.
        if text.len() > 18 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(RequestError::InvalidContentLength);
        }
        let value: u64 = text
            .parse()
            .map_err(|_| RequestError::InvalidContentLength)?;
        if length.is_some_and(|seen| seen != value) {
            return Err(RequestError::ConflictingContentLengths);
        }
        length = Some(value);
    }
    let length = length.ok_or(RequestError::InvalidContentLength)?;
    if length > MAX_BODY_BYTES as u64 {
        return Err(RequestError::BodyTooLarge);
    }
    Ok(match length {
        0 => BodyFraming::Empty,
        n => BodyFraming::Length(n as usize),
    })
}
// ANCHOR_END: body_framing

/// RFC 9110 §10.1.1: `Expect: 100-continue` asks for a `100 Continue` before the body is sent;
/// any other expectation may be refused with 417. HTTP/1.0 clients never wait for 100.
fn expects_continue(request: &Request) -> Result<bool, RequestError> {
    match request.header("expect") {
        None => Ok(false),
        Some(value) if value.eq_ignore_ascii_case("100-continue") => {
            Ok(request.version == Version::Http11 && request.framing != BodyFraming::Empty)
        }
        Some(_) => Err(RequestError::UnsupportedExpectation),
    }
}

/// `tchar` of RFC 9110 §5.6.2: the characters of methods and header names.
pub fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Request, RequestError> {
        match parse_head(text.as_bytes())? {
            Parsed::Complete(request, used) => {
                assert_eq!(used, text.len(), "the whole head is consumed");
                Ok(request)
            }
            Parsed::Incomplete => panic!("incomplete: {text:?}"),
        }
    }

    fn error_of(text: &str) -> RequestError {
        match parse_head(text.as_bytes()) {
            Err(e) => e,
            Ok(other) => panic!("expected an error for {text:?}, got {other:?}"),
        }
    }

    #[test]
    fn a_simple_get() {
        let r = parse("GET /time?since=3 HTTP/1.1\r\nHost: localhost:8088\r\nAccept: */*\r\n\r\n")
            .unwrap();
        assert_eq!(r.method, Method::Get);
        assert_eq!(r.path, "/time");
        assert_eq!(r.query, "since=3");
        assert_eq!(r.version, Version::Http11);
        assert_eq!(r.header("HOST"), Some("localhost:8088"));
        assert_eq!(r.framing, BodyFraming::Empty);
        assert!(r.keep_alive());
    }

    #[test]
    fn every_prefix_is_incomplete() {
        // TCP may split a head anywhere; no prefix of a valid head is an error.
        let text = b"POST /a%20b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n";
        for end in 0..text.len() {
            assert!(
                matches!(parse_head(&text[..end]), Ok(Parsed::Incomplete)),
                "prefix of {end} bytes"
            );
        }
        assert!(matches!(parse_head(text), Ok(Parsed::Complete(_, n)) if n == text.len()));
    }

    #[test]
    fn the_head_stops_at_the_blank_line() {
        let text = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\n";
        let Ok(Parsed::Complete(r, used)) = parse_head(text) else {
            panic!("not complete")
        };
        assert_eq!(r.path, "/");
        assert_eq!(
            &text[used..],
            b"GET /next HTTP/1.1\r\n",
            "pipelined bytes left over"
        );
    }

    #[test]
    fn accepted_forms() {
        let ok: &[(&str, &str, &str)] = &[
            (
                "\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
                "/",
                "an empty line before is ignored",
            ),
            ("GET /x HTTP/1.0\r\n\r\n", "/x", "HTTP/1.0 needs no Host"),
            (
                "GET http://h:1/p?q HTTP/1.1\r\nHost: h:1\r\n\r\n",
                "/p",
                "absolute-form",
            ),
            (
                "GET HTTP://h HTTP/1.1\r\nHost: h\r\n\r\n",
                "/",
                "scheme is case-insensitive",
            ),
            (
                "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
                "*",
                "asterisk-form",
            ),
            (
                "GET /caf%C3%A9 HTTP/1.1\r\nHost: h\r\n\r\n",
                "/café",
                "path is decoded",
            ),
            (
                "GET / HTTP/1.1\r\nHost: [::1]:8088\r\n\r\n",
                "/",
                "IPv6 literal host",
            ),
            (
                "GET / HTTP/1.1\r\nHost: h\r\nX:\r\n\r\n",
                "/",
                "an empty value",
            ),
            (
                "GET / HTTP/1.1\r\nHost:h\r\nA:  b \t\r\n\r\n",
                "/",
                "no OWS, and OWS trimmed",
            ),
            (
                "GET / HTTP/1.9\r\nHost: h\r\n\r\n",
                "/",
                "a later 1.x is served as 1.1",
            ),
        ];
        for (text, path, why) in ok {
            let r = parse(text).unwrap_or_else(|e| panic!("{why}: {e:?}"));
            assert_eq!(r.path, *path, "{why}");
        }
    }

    #[test]
    fn rejected_heads() {
        use RequestError::*;
        let long_target = format!("GET /{} HTTP/1.1\r\nHost: h\r\n\r\n", "a".repeat(9000));
        let big_header = format!(
            "GET / HTTP/1.1\r\nHost: h\r\nX: {}\r\n\r\n",
            "a".repeat(17000)
        );
        let many = format!("GET / HTTP/1.1\r\nHost: h\r\n{}\r\n", "A: b\r\n".repeat(64));
        let cases: Vec<(&str, RequestError, &str)> = vec![
            (
                "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \x0cchunked\r\n\r\n",
                InvalidHeaderValue,
                "a form feed is not optional whitespace",
            ),
            (
                "GET / HTTP/1.1\r\nHost: h\r\nX: a\x0c\r\n\r\n",
                InvalidHeaderValue,
                "a trailing form feed",
            ),
            ("GET / HTTP/1.1\nHost: h\n\n", BareLineFeed, "bare LF"),
            (
                "GET / HTTP/1.1\r\nHost: h\n\r\n",
                BareLineFeed,
                "one bare LF in a header",
            ),
            (
                "GET  / HTTP/1.1\r\nHost: h\r\n\r\n",
                MalformedRequestLine,
                "two spaces",
            ),
            (
                "GET / HTTP/1.1 x\r\nHost: h\r\n\r\n",
                MalformedRequestLine,
                "four parts",
            ),
            ("GET /\r\n\r\n", MalformedRequestLine, "HTTP/0.9 style"),
            (
                "G(T / HTTP/1.1\r\nHost: h\r\n\r\n",
                InvalidMethod,
                "( is not a tchar",
            ),
            (
                "GET /\x01 HTTP/1.1\r\nHost: h\r\n\r\n",
                InvalidTarget,
                "control byte",
            ),
            (
                "GET x HTTP/1.1\r\nHost: h\r\n\r\n",
                InvalidTarget,
                "no leading slash",
            ),
            (
                "GET /%zz HTTP/1.1\r\nHost: h\r\n\r\n",
                InvalidTarget,
                "bad escape",
            ),
            (
                "GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n",
                InvalidTarget,
                "fragment",
            ),
            (
                "GET * HTTP/1.1\r\nHost: h\r\n\r\n",
                InvalidTarget,
                "* is for OPTIONS",
            ),
            (
                "GET / HTTP/1.1.1\r\nHost: h\r\n\r\n",
                MalformedVersion,
                "extra digits",
            ),
            (
                "GET / http/1.1\r\nHost: h\r\n\r\n",
                MalformedVersion,
                "HTTP is case-sensitive",
            ),
            (
                "GET / HTTP/2.0\r\nHost: h\r\n\r\n",
                UnsupportedVersion,
                "HTTP/2 in text",
            ),
            (&long_target, RequestLineTooLong, "over 8 KiB"),
            (&big_header, HeadTooLarge, "over 16 KiB"),
            (&many, TooManyHeaders, "65 header lines"),
            (
                "GET / HTTP/1.1\r\nHost: h\r\nA: b\r\n c\r\n\r\n",
                ObsoleteLineFolding,
                "fold",
            ),
            (
                "GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n",
                MissingColon,
                "no colon",
            ),
            (
                "GET / HTTP/1.1\r\nHost : h\r\n\r\n",
                SpaceBeforeColon,
                "space before colon",
            ),
            (
                "GET / HTTP/1.1\r\nHost: h\r\nA\tB: c\r\n\r\n",
                InvalidHeaderName,
                "tab in name",
            ),
            (
                "GET / HTTP/1.1\r\nHost: h\r\n: c\r\n\r\n",
                InvalidHeaderName,
                "empty name",
            ),
            (
                "GET / HTTP/1.1\r\nHost: h\r\nA: b\0c\r\n\r\n",
                InvalidHeaderValue,
                "NUL",
            ),
            (
                "GET / HTTP/1.1\r\nHost: h\r\nA: b\rc\r\n\r\n",
                InvalidHeaderValue,
                "bare CR",
            ),
            ("GET / HTTP/1.1\r\n\r\n", MissingHost, "1.1 without Host"),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
                MultipleHosts,
                "two Hosts",
            ),
            (
                "GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
                InvalidHost,
                "space in Host",
            ),
            (
                "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
                InvalidHost,
                "slash in Host",
            ),
            (
                "GET / HTTP/1.1\r\nHost: a:80x\r\n\r\n",
                InvalidHost,
                "bad port",
            ),
            ("GET / HTTP/1.1\r\nHost:\r\n\r\n", InvalidHost, "empty Host"),
        ];
        for (text, want, why) in cases {
            assert_eq!(error_of(text), want, "{why}");
        }
    }

    #[test]
    fn body_framing_rules() {
        use RequestError::*;
        let head = |extra: &str| format!("POST / HTTP/1.1\r\nHost: h\r\n{extra}\r\n");
        let framing = |extra: &str| parse(&head(extra)).map(|r| r.framing);
        assert_eq!(framing("Content-Length: 5\r\n"), Ok(BodyFraming::Length(5)));
        assert_eq!(framing("Content-Length: 0\r\n"), Ok(BodyFraming::Empty));
        assert_eq!(
            framing("Content-Length: 5, 5\r\n"),
            Ok(BodyFraming::Length(5)),
            "same twice"
        );
        assert_eq!(
            framing("Transfer-Encoding: chunked\r\n"),
            Ok(BodyFraming::Chunked)
        );
        assert_eq!(
            framing("Transfer-Encoding: CHUNKED\r\n"),
            Ok(BodyFraming::Chunked)
        );
        let bad: &[(&str, RequestError, &str)] = &[
            (
                "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
                LengthWithTransferEncoding,
                "CL.TE smuggling",
            ),
            (
                "Content-Length: 5\r\nContent-Length: 6\r\n",
                ConflictingContentLengths,
                "two values",
            ),
            (
                "Content-Length: 5, 6\r\n",
                ConflictingContentLengths,
                "a list of two values",
            ),
            ("Content-Length: -1\r\n", InvalidContentLength, "a sign"),
            (
                "Content-Length: +5\r\n",
                InvalidContentLength,
                "a plus sign",
            ),
            ("Content-Length: 0x10\r\n", InvalidContentLength, "hex"),
            ("Content-Length:\r\n", InvalidContentLength, "empty"),
            (
                "Content-Length: 99999999999999999999999\r\n",
                InvalidContentLength,
                "overflow",
            ),
            ("Content-Length: 2000000\r\n", BodyTooLarge, "over 1 MiB"),
            (
                "Transfer-Encoding: gzip, chunked\r\n",
                UnsupportedTransferCoding,
                "gzip",
            ),
            (
                "Transfer-Encoding: chunked, chunked\r\n",
                ChunkedNotFinal,
                "chunked twice",
            ),
            ("Transfer-Encoding:\r\n", ChunkedNotFinal, "empty coding"),
            (
                "Transfer-Encoding: chunked, gzip\r\n",
                ChunkedNotFinal,
                "chunked not last: 400, not 501",
            ),
            (
                "Content-Length: 3,\r\n",
                InvalidContentLength,
                "an empty element",
            ),
            (
                "Content-Length: ,3\r\n",
                InvalidContentLength,
                "an empty first element",
            ),
            (
                "Expect: something\r\n",
                UnsupportedExpectation,
                "unknown expectation",
            ),
        ];
        for (extra, want, why) in bad {
            assert_eq!(framing(extra), Err(*want), "{why}");
        }
        let r10 = "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(error_of(r10), TransferEncodingInHttp10);
    }

    #[test]
    fn continue_is_only_for_a_body_over_http11() {
        let r =
            parse("PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\nExpect: 100-Continue\r\n\r\n");
        assert!(r.unwrap().expects_continue);
        let r = parse("PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n");
        assert!(!r.unwrap().expects_continue, "no body, nothing to wait for");
    }

    #[test]
    fn etags_are_compared_weakly_over_every_line() {
        let has = |lines: &str| {
            let text = format!("GET / HTTP/1.1\r\nHost: h\r\n{lines}\r\n");
            parse(&text).unwrap().client_has_etag("\"abc\"")
        };
        assert!(has("If-None-Match: \"abc\"\r\n"));
        assert!(has("If-None-Match: W/\"abc\"\r\n"), "weak comparison");
        assert!(has("If-None-Match: \"x\", \"abc\"\r\n"), "a list");
        assert!(
            has("If-None-Match: \"x\"\r\nIf-None-Match: \"abc\"\r\n"),
            "a second line"
        );
        assert!(has("If-None-Match: *\r\n"));
        assert!(!has("If-None-Match: \"abd\"\r\n"));
        assert!(!has("If-None-Match: abc\r\n"), "a tag is quoted");
        assert!(!has(""));
    }

    #[test]
    fn connection_tokens() {
        let r = |text: &str| parse(text).unwrap();
        assert!(!r("GET / HTTP/1.1\r\nHost: h\r\nConnection: Close\r\n\r\n").keep_alive());
        assert!(!r("GET / HTTP/1.0\r\n\r\n").keep_alive());
        assert!(r("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive());
        let upgrade = r("GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\n\r\n");
        assert!(upgrade.has_token("connection", "upgrade"));
    }
}
