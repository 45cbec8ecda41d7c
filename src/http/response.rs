//! Writing a response: a status line, header lines, a blank line, then the body.
//!
//! ```text
//! HTTP/1.1 200 OK\r\n
//! Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n
//! Server: webwire\r\n
//! X-Content-Type-Options: nosniff\r\n
//! Content-Type: text/plain; charset=utf-8\r\n
//! Content-Length: 9\r\n
//! \r\n
//! 12:00:00
//! ```
//!
//! A handler builds a `Response` (status, its own headers, body); the server adds the headers
//! every response carries and writes head and body with one `write` call, so a small response
//! leaves in a single TCP segment.

use std::cell::RefCell;
use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::http::request::Version;

/// A complete response as a handler returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Send `X-Content-Type-Options: nosniff` (the default): the browser must trust the
    /// `Content-Type` and never guess from the bytes. Only a demo that shows what sniffing
    /// does turns it off.
    pub nosniff: bool,
}

impl Response {
    /// A response with this status, no headers and no body.
    pub fn new(status: u16) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            nosniff: true,
        }
    }

    /// Plain UTF-8 text.
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Response::new(status)
            .with_header("Content-Type", "text/plain; charset=utf-8")
            .with_body(body.into().into_bytes())
    }

    // ANCHOR: refusal
    /// A refusal: the status and one line saying why, as plain text. Every 4xx and 5xx the
    /// server or a demo writes itself is made here, so they all look alike on the wire.
    pub fn refusal(status: u16, reason: &str) -> Self {
        Response::text(status, format!("{reason}\n"))
    }
    // ANCHOR_END: refusal

    /// An HTML document.
    pub fn html(status: u16, body: impl Into<String>) -> Self {
        Response::new(status)
            .with_header("Content-Type", "text/html; charset=utf-8")
            .with_body(body.into().into_bytes())
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// Leaves out `X-Content-Type-Options: nosniff`, letting the browser sniff the body.
    pub fn allow_sniffing(mut self) -> Self {
        self.nosniff = false;
        self
    }

    pub fn with_body(mut self, body: Vec<u8>) -> Self {
        self.body = body;
        self
    }

    /// The first header with this name, ignoring case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// How the server ends the body it is about to send (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delimit {
    /// `Content-Length: N` — the usual case.
    Length(usize),
    /// `Transfer-Encoding: chunked` — a stream on HTTP/1.1.
    Chunked,
    /// Neither: the body ends when the connection closes — a stream on HTTP/1.0.
    Close,
    /// No body at all and no length header: 1xx, 204 and 304 (RFC 9110 §8.6).
    NoBody,
}

// ANCHOR: head_bytes
/// The status line and header section, ending in the blank line.
pub fn head_bytes(
    version: Version,
    response: &Response,
    delimit: Delimit,
    keep_alive: bool,
) -> Vec<u8> {
    // Pieces pushed onto one buffer, not formatted: this runs for every response.
    let mut head = String::with_capacity(256);
    // RFC 9110 §6.2: a server sends its own highest version, HTTP/1.1, to an HTTP/1.0 client
    // too; the client's version still decides the framing (no chunks, close by default).
    head.push_str(Version::Http11.as_str());
    let _ = write!(head, " {} ", response.status);
    head.push_str(reason_phrase(response.status));
    head.push_str("\r\nDate: ");
    push_date_now(&mut head);
    head.push_str("\r\nServer: webwire\r\n");
    if response.nosniff {
        head.push_str("X-Content-Type-Options: nosniff\r\n");
    }
    // The server alone frames the message: a handler's own framing headers would contradict
    // the ones below (the server reads a handler's `Connection: close` before this).
    // A 101 is the exception: its `Connection: Upgrade` is the handler's to send.
    let switching = response.status == 101;
    let framing = ["content-length", "transfer-encoding", "connection"];
    for (name, value) in &response.headers {
        let owned_by_server = framing.iter().any(|f| name.eq_ignore_ascii_case(f));
        if !owned_by_server || (switching && name.eq_ignore_ascii_case("connection")) {
            head.push_str(name);
            head.push_str(": ");
            head.push_str(value);
            head.push_str("\r\n");
        }
    }
    match delimit {
        Delimit::Length(n) => {
            let _ = write!(head, "Content-Length: {n}\r\n");
        }
        Delimit::Chunked => head.push_str("Transfer-Encoding: chunked\r\n"),
        Delimit::Close | Delimit::NoBody => {}
    }
    // HTTP/1.1 is persistent by default, so only "close" needs saying there; an HTTP/1.0
    // client that asked for keep-alive must be told it got it (RFC 9112 §9.3, Appendix C.2.2).
    // A response that offers another protocol (`Upgrade`, as on a 426) must name `upgrade` in
    // `Connection` too (RFC 9110 §7.8).
    let offers_upgrade = !switching && response.header("upgrade").is_some();
    let mut options: Vec<&str> = Vec::new();
    if switching {
        // The connection goes on, in another protocol: neither close nor keep-alive.
    } else if !keep_alive {
        options.push("close");
    } else if version == Version::Http10 {
        options.push("keep-alive");
    }
    if offers_upgrade {
        options.push("Upgrade");
    }
    if !options.is_empty() {
        head.push_str(&format!("Connection: {}\r\n", options.join(", ")));
    }
    head.push_str("\r\n");
    head.into_bytes()
}
// ANCHOR_END: head_bytes

// ANCHOR: date_now
/// Appends `Date`'s value for now. It changes once a second, and a busy connection answers
/// many requests in one second, so each connection's thread formats it once per second and
/// copies it the rest of the time (nginx keeps a cached time string for the same reason).
fn push_date_now(head: &mut String) {
    thread_local! {
        static DATE: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    DATE.with_borrow_mut(|(cached_second, text)| {
        if *cached_second != second {
            *text = http_date(now);
            *cached_second = second;
        }
        head.push_str(text);
    });
}
// ANCHOR_END: date_now

/// Responses that never carry a body, whatever the method (RFC 9110 §6.4.1).
pub fn status_has_no_body(status: u16) -> bool {
    (100..200).contains(&status) || status == 204 || status == 304
}

/// The reason phrase of every status RFC 9110 §15 defines, and of 426, 428, 429 and 431
/// (RFC 6585). A code outside them gets none: the status line then ends `299 ` with its
/// space, which RFC 9112 §4 allows ("a client SHOULD ignore the reason-phrase content").
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// Formats a time as an IMF-fixdate, the only date format HTTP senders may use
/// (RFC 9110 §5.6.7): `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let (hour, minute, second) = (secs / 3600 % 24, secs / 60 % 60, secs % 60);
    let (year, month, day) = civil_from_days(days);
    // 1970-01-01 was a Thursday.
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    let month_name = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(month - 1) as usize];
    format!("{weekday}, {day:02} {month_name} {year} {hour:02}:{minute:02}:{second:02} GMT")
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar.
/// Howard Hinnant's `civil_from_days`, from "chrono-Compatible Low-Level Date Algorithms".
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_of_rfc_9110_has_its_reason_phrase() {
        // RFC 9110 §15's codes, and RFC 6585's four that this server may send.
        let named = [
            100, 101, 200, 201, 202, 203, 204, 205, 206, 300, 301, 302, 303, 304, 305, 307, 308,
            400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416,
            417, 421, 422, 426, 428, 429, 431, 500, 501, 502, 503, 504, 505,
        ];
        for status in named {
            assert!(!reason_phrase(status).is_empty(), "{status}");
        }
        assert_eq!(
            reason_phrase(413),
            "Content Too Large",
            "RFC 9110's name, not 7231's"
        );
        assert_eq!(reason_phrase(299), "", "none for a code nobody defined");
    }
    use std::time::Duration;

    #[test]
    fn dates_match_the_rfc_example() {
        let at = |secs| UNIX_EPOCH + Duration::from_secs(secs);
        assert_eq!(http_date(at(784_111_777)), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(at(0)), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(
            http_date(at(951_782_400)),
            "Tue, 29 Feb 2000 00:00:00 GMT",
            "leap day"
        );
        assert_eq!(
            http_date(at(1_795_478_399)),
            "Mon, 23 Nov 2026 23:59:59 GMT"
        );
    }

    #[test]
    fn head_lines_in_order() {
        let response = Response::text(200, "hi").with_header("Cache-Control", "no-store");
        let head = head_bytes(Version::Http11, &response, Delimit::Length(2), true);
        let head = String::from_utf8(head).unwrap();
        let lines: Vec<&str> = head.split("\r\n").collect();
        assert_eq!(lines[0], "HTTP/1.1 200 OK");
        assert!(lines[1].starts_with("Date: "));
        assert_eq!(
            lines[2..].to_vec(),
            [
                "Server: webwire",
                "X-Content-Type-Options: nosniff",
                "Content-Type: text/plain; charset=utf-8",
                "Cache-Control: no-store",
                "Content-Length: 2",
                "",
                ""
            ]
        );
    }

    #[test]
    fn connection_header_only_when_needed() {
        let r = Response::new(204);
        let head = |v, keep| String::from_utf8(head_bytes(v, &r, Delimit::NoBody, keep)).unwrap();
        assert!(!head(Version::Http11, true).contains("Connection"));
        assert!(head(Version::Http11, false).contains("Connection: close\r\n"));
        assert!(head(Version::Http10, true).contains("Connection: keep-alive\r\n"));
        assert!(
            !head(Version::Http11, true).contains("Content-Length"),
            "204 has none"
        );
    }
}
