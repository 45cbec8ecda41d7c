//! Server-Sent Events' rules (`docs/07-sse.md`, its exercise) against webwire, a small server
//! written from the chapter's tables, and that server broken one rule at a time.

use std::net::TcpStream;
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use webwire::http::response::http_date;

use crate::harness::{self, Request, Server};
use crate::support;

const TECHNIQUE: &str = "sse";

/// Which rule the server breaks, if any.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Break {
    None,
    Head,
    NoCache,
    AnyOrigin,
    Chunked,
    Http10,
    Format,
    WholeEvents,
    Retry,
    Ids,
    Count,
    Data,
    NamedEvent,
    MultilineData,
    IdOnly,
    Resume,
    LastIdQuery,
    LastEventIdValues,
    Total,
    Stop,
    BadQuery,
    Injection,
}

/// The rule each break should fail, alone.
const BREAKS: [(Break, &str); 21] = [
    (Break::Head, "sse.head"),
    (Break::NoCache, "sse.no-cache"),
    (Break::AnyOrigin, "sse.any-origin"),
    (Break::Chunked, "sse.chunked"),
    (Break::Http10, "sse.http10"),
    (Break::Format, "sse.format"),
    (Break::WholeEvents, "sse.whole-events"),
    (Break::Retry, "sse.retry"),
    (Break::Ids, "sse.ids"),
    (Break::Count, "sse.count"),
    (Break::Data, "sse.data"),
    (Break::NamedEvent, "sse.named-event"),
    (Break::MultilineData, "sse.multiline-data"),
    (Break::IdOnly, "sse.id-only"),
    (Break::Resume, "sse.resume"),
    (Break::LastIdQuery, "sse.last-id-query"),
    (Break::LastEventIdValues, "sse.last-event-id-values"),
    (Break::Total, "sse.total"),
    (Break::Stop, "sse.stop"),
    (Break::BadQuery, "sse.bad-query"),
    (Break::Injection, "sse.injection"),
];

/// The time between two events, and the longest silence before a keepalive comment: one
/// comes between every two events, so the rules see comments too.
const TICK: Duration = Duration::from_millis(40);
const HOLD: Duration = Duration::from_millis(25);
/// The last id there is, the chapter's 10^12.
const MAX_ID: u64 = 1_000_000_000_000;

/// The first query parameter `name`, percent-decoded (`+` is a space).
fn param(request: &Request, name: &str) -> Option<String> {
    request.query(name).map(decode)
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'+', _) => out.push(b' '),
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 2;
            }
            (byte, _) => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Answers every connection with `evt`, on a thread each.
fn serve(broken: Break) -> Server {
    harness::serve(move |request, stream| evt(broken, &request, stream))
}

/// A whole number from `low` to `high`, digits only; the error is the 400's reason.
fn number(name: &str, text: &str, low: u64, high: u64) -> Result<u64, String> {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    match text.parse::<u64>() {
        Ok(n) if digits && (low..=high).contains(&n) => Ok(n),
        _ => Err(format!(
            "{name} must be a whole number from {low} to {high}"
        )),
    }
}

/// What the request asks for: the ids to send, `None` for 204, or the 400's reason.
fn plan(broken: Break, request: &Request) -> Result<Option<(u64, u64)>, String> {
    let mut count = match param(request, "count") {
        Some(text) if broken == Break::BadQuery => {
            let n: u64 = text.parse().map_err(|_| "count must be a whole number")?;
            n.clamp(1, 1000)
        }
        Some(text) => number("count", &text, 1, 1000)?,
        None => 10,
    };
    if broken == Break::Count {
        count = 10;
    }
    let total = match param(request, "total") {
        Some(text) => number("total", &text, 1, MAX_ID)?,
        None => MAX_ID,
    };
    let last_id = match param(request, "last_id") {
        Some(text) if broken == Break::Injection => {
            let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
            Some(number("last_id", &digits, 0, MAX_ID)?)
        }
        Some(text) => Some(number("last_id", &text, 0, MAX_ID)?),
        None => None,
    };
    let stop = match param(request, "stop").as_deref() {
        None | Some("0") => false,
        Some("1") => broken != Break::Stop,
        Some(_) => return Err("stop must be 1 (stop for good) or 0".to_string()),
    };
    let header = request.header("Last-Event-ID").and_then(|value| {
        let value = match broken {
            Break::LastEventIdValues => value.strip_prefix('+').unwrap_or(value),
            _ => value,
        };
        number("Last-Event-ID", value, 0, MAX_ID).ok()
    });
    let last_id = if broken == Break::LastIdQuery {
        None
    } else {
        last_id
    };
    let mut after = header.or(last_id).unwrap_or(0);
    if broken == Break::Total && after > total {
        after = 0; // what chapter 07 once said: past the last id, start over
    }
    if stop || after >= total {
        return Ok(None);
    }
    let first = match broken {
        Break::Resume => after.max(1),
        _ => after + 1,
    };
    Ok(Some((first, (first + count - 1).min(total))))
}

/// `GET /evt` as the chapter's exercise describes it.
fn evt(broken: Break, request: &Request, stream: TcpStream) {
    let cache = match broken {
        Break::NoCache => "",
        _ => "Cache-Control: no-cache\r\n",
    };
    let origin = match broken {
        Break::AnyOrigin => "",
        _ => "Access-Control-Allow-Origin: *\r\n",
    };
    let (first, last) = match plan(broken, request) {
        Ok(Some(ids)) => ids,
        Ok(None) => {
            let head =
                format!("HTTP/1.1 204 No Content\r\n{cache}{origin}Connection: close\r\n\r\n");
            harness::write(&stream, head);
            return;
        }
        Err(reason) => {
            let body = format!("{reason}\n");
            harness::write(
                &stream,
                format!(
                    "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n\
                     {cache}{origin}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                ),
            );
            return;
        }
    };
    let http10 = request.version == "HTTP/1.0";
    let chunked = match broken {
        Break::Chunked => false,
        Break::Http10 => true,
        _ => !http10,
    };
    let media_type = match broken {
        Break::Head => "text/plain",
        _ => "text/event-stream",
    };
    let framing = if chunked {
        "Transfer-Encoding: chunked\r\n"
    } else {
        "Connection: close\r\n"
    };
    let head =
        format!("HTTP/1.1 200 OK\r\nContent-Type: {media_type}\r\n{cache}{origin}{framing}\r\n");
    if !harness::write(&stream, head) {
        return;
    }
    let send = |piece: &str| {
        if chunked {
            harness::write(&stream, format!("{:x}\r\n{piece}\r\n", piece.len()))
        } else {
            harness::write(&stream, piece)
        }
    };
    let mut piece = String::new();
    if broken == Break::Format {
        piece.push_str("keepalive\n"); // a comment that lost its colon
    }
    if broken == Break::Injection
        && let Some(text) = param(request, "last_id")
    {
        piece.push_str(&format!(": resuming after {text}\n"));
    }
    let millis = TICK.as_millis();
    piece.push_str(&match broken {
        Break::Retry => format!("retry: {millis}ms\n"),
        _ => format!("retry: {millis}\n"),
    });
    // Break::Ids loses every other id, and still sends as many events.
    let step = if broken == Break::Ids { 2 } else { 1 };
    for id in (0..=last - first).map(|n| first + n * step) {
        if id > first {
            thread::sleep(HOLD);
            if !send(": keepalive\n") {
                return;
            }
            thread::sleep(TICK - HOLD);
        }
        piece.push_str(&scripted(broken, id));
        let sent = if broken == Break::WholeEvents {
            // id and data in two writes, like the Zhihu article's server
            let id_line = format!("id: {id}\n");
            let at = piece.find(&id_line).map_or(0, |at| at + id_line.len());
            send(&piece[..at]) && send(&piece[at..])
        } else {
            send(&piece)
        };
        if !sent {
            return;
        }
        piece.clear();
    }
    if chunked {
        harness::write(&stream, "0\r\n\r\n");
    }
}

/// Event `id` of the script: ids ending in 3, 6 and 9 show one more thing each.
fn scripted(broken: Break, id: u64) -> String {
    let now = SystemTime::now();
    let time = http_date(now);
    let millis = now.duration_since(UNIX_EPOCH).unwrap().as_millis();
    match id % 10 {
        3 if broken == Break::NamedEvent => event(id, None, Some(&time)),
        3 => event(id, Some("myevent"), Some(&time)),
        6 if broken == Break::MultilineData => {
            event(id, None, Some(&format!("{time} {millis} ms since 1970")))
        }
        6 => event(id, None, Some(&format!("{time}\n{millis} ms since 1970"))),
        9 if broken == Break::IdOnly => event(id, None, Some("")),
        9 => event(id, None, None),
        _ if broken == Break::Data => event(id, None, Some(&format!("{}", millis / 1000))),
        _ => event(id, None, Some(&time)),
    }
}

/// One event: `id:`, maybe `event:`, a `data:` line per line of `data`, a blank line.
fn event(id: u64, name: Option<&str>, data: Option<&str>) -> String {
    let mut block = format!("id: {id}\n");
    if let Some(name) = name {
        block.push_str(&format!("event: {name}\n"));
    }
    if let Some(data) = data {
        for line in data.replace("\r\n", "\n").replace('\r', "\n").split('\n') {
            block.push_str(&format!("data: {line}\n"));
        }
    }
    block.push('\n');
    block
}

#[test]
fn webwire_passes_every_rule() {
    let server = support::start();
    let url = format!("http://{}/evt", support::address(&server));
    harness::assert_all_pass(TECHNIQUE, &url);
}

#[test]
fn a_server_written_from_the_chapter_passes_every_rule() {
    let server = serve(Break::None);
    harness::assert_all_pass(TECHNIQUE, &server.url("/evt"));
}

#[test]
fn each_rule_fails_alone_when_broken() {
    harness::assert_each_rule_fails_alone(TECHNIQUE, &BREAKS, |broken| serve(broken).url("/evt"));
}
