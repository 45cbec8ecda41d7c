//! Long polling's rules (`docs/04-long-polling.md`, its exercise) against webwire, a small
//! server written from the chapter's tables, and that server broken one rule at a time.

use std::net::TcpStream;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::harness::{self, Request, respond, write};
use crate::support;

const TECHNIQUE: &str = "long-polling";

/// Which rule the server breaks, if any.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Break {
    None,
    /// The publish answers `201 Created`.
    Publish,
    /// An empty or blank text is published like any other.
    PublishRefused,
    /// `Origin` is not looked at.
    PublishOrigin,
    /// A poll's events leave out `ts`.
    News,
    /// A poll's answer has no `Access-Control-Allow-Origin`.
    Headers,
    /// With nothing new, `[]` at once: short polling.
    Hold,
    /// A held poll, once woken, answers only the newest event: the naive design's "hand the
    /// new event to whoever waits", where a slow wake-up finds a later event in the slot.
    Lossless,
    /// `since=007` is refused: a parser that wants `0|[1-9][0-9]*`.
    SinceForms,
    /// `since` parsed leniently: absent is 0, spaces and a `+` are stripped.
    SinceRefused,
    /// A cursor above the newest id is taken at its word: `[]` (after the hold, here at once).
    SinceAhead,
    /// HEAD gets the body too.
    Head,
    /// 405 without `Allow`.
    Methods,
}

/// The rule each break should fail, alone.
const BREAKS: [(Break, &str); 12] = [
    (Break::Publish, "long-polling.publish"),
    (Break::PublishRefused, "long-polling.publish-refused"),
    (Break::PublishOrigin, "long-polling.publish-origin"),
    (Break::News, "long-polling.news"),
    (Break::Headers, "long-polling.headers"),
    (Break::Hold, "long-polling.hold"),
    (Break::Lossless, "long-polling.lossless"),
    (Break::SinceForms, "long-polling.since-forms"),
    (Break::SinceRefused, "long-polling.since-refused"),
    (Break::SinceAhead, "long-polling.since-ahead"),
    (Break::Head, "long-polling.head"),
    (Break::Methods, "long-polling.methods"),
];

/// The chapter's hold. The check never waits it out: its publishes end every hold.
const HOLD: Duration = Duration::from_secs(25);
/// The longest text, in UTF-8 bytes.
const MAX_TEXT_BYTES: usize = 1024;

/// The log: events as `(id, text, ts)`, ids from 1, and a condition variable that every
/// publish notifies.
#[derive(Default)]
struct Log {
    events: Mutex<Vec<(u64, String, u64)>>,
    news: Condvar,
}

/// `GET /longpoll?since=N` and `POST /longpoll/publish` as the chapter's exercise describes
/// them.
fn server(broken: Break) -> impl Fn(Request, TcpStream) + Send + Sync + 'static {
    let log = Arc::new(Log::default());
    move |request, stream| {
        let allowed = match request.path() {
            "/longpoll" => "GET, HEAD",
            "/longpoll/publish" => "POST",
            _ => return respond(&stream, "404 Not Found", &[], b"no such path\n"),
        };
        let method = request.method.as_str();
        match (allowed, method) {
            ("GET, HEAD", "GET" | "HEAD") => poll(&log, &request, &stream, broken),
            ("POST", "POST") => publish(&log, &request, &stream, broken),
            _ if broken == Break::Methods => {
                respond(&stream, "405 Method Not Allowed", &[], b"no\n");
            }
            _ => respond(
                &stream,
                "405 Method Not Allowed",
                &[("Allow", allowed)],
                b"this path does not accept that method\n",
            ),
        }
    }
}

fn poll(log: &Log, request: &Request, stream: &TcpStream, broken: Break) {
    let Some(since) = since(request.query("since"), broken) else {
        return refuse(stream, "400 Bad Request", "since must be a whole number");
    };
    let mut events = log.events.lock().unwrap();
    let newest = events.last().map_or(0, |e| e.0);
    let since = match since > newest {
        true if broken == Break::SinceAhead => return answer(request, stream, "[]", broken),
        true => 0, // from before a restart: start over
        false => since,
    };
    let deadline = Instant::now() + HOLD;
    while events.last().map_or(0, |e| e.0) <= since {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || broken == Break::Hold {
            break;
        }
        let woken = log.news.wait_timeout(events, left).unwrap().0;
        events = woken;
        if broken == Break::Lossless && events.last().is_some_and(|e| e.0 > since) {
            // A slow wake-up: by the time it looks, the burst has gone on.
            let seen = events.len();
            let until = Instant::now() + Duration::from_millis(200);
            while events.len() == seen && Instant::now() < until {
                let left = until.saturating_duration_since(Instant::now());
                events = log.news.wait_timeout(events, left).unwrap().0;
            }
            let newest = events.last().unwrap();
            let body = format!("[{}]", event_json(newest, broken));
            drop(events);
            return answer(request, stream, &body, broken);
        }
    }
    let after: Vec<String> = events
        .iter()
        .filter(|e| e.0 > since)
        .map(|e| event_json(e, broken))
        .collect();
    drop(events);
    answer(request, stream, &format!("[{}]", after.join(",")), broken);
}

/// The cursor, by the chapter's table: ASCII digits, leading zeros allowed, at most
/// 2^64 - 1. `None` is a 400.
fn since(value: Option<&str>, broken: Break) -> Option<u64> {
    let value = match (value, broken) {
        (None, Break::SinceRefused) => "0",
        (Some(value), Break::SinceRefused) => value.trim_start_matches(['+', ' ']),
        (None, _) => return None,
        (Some(value), _) => value,
    };
    if broken == Break::SinceForms && value.len() > 1 && value.starts_with('0') {
        return None;
    }
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok() // too large for 64 bits: None
}

fn publish(log: &Log, request: &Request, stream: &TcpStream, broken: Break) {
    let host = request.header("Host").unwrap_or("");
    let origins = request.all("Origin");
    let ours = origins.len() == 1 && origins[0] == format!("http://{host}");
    if !origins.is_empty() && !ours && broken != Break::PublishOrigin {
        return refuse(
            stream,
            "403 Forbidden",
            "pages from other sites may not publish",
        );
    }
    let form = request.header("Content-Type").is_none_or(|value| {
        let media_type = value.split(';').next().unwrap_or("").trim();
        media_type.eq_ignore_ascii_case("application/x-www-form-urlencoded")
    });
    if !form {
        return refuse(
            stream,
            "415 Unsupported Media Type",
            "send the text as a form",
        );
    }
    let text = String::from_utf8_lossy(&request.body)
        .split('&')
        .find_map(|pair| pair.strip_prefix("text=").map(decode))
        .unwrap_or_default();
    if text.trim().is_empty() && broken != Break::PublishRefused {
        return refuse(stream, "400 Bad Request", "text is missing or empty");
    }
    if text.len() > MAX_TEXT_BYTES {
        return refuse(stream, "400 Bad Request", "text is longer than 1024 bytes");
    }
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let mut events = log.events.lock().unwrap();
    let event = (events.len() as u64 + 1, text, ts);
    let body = event_json(&event, Break::None);
    events.push(event);
    log.news.notify_all();
    drop(events);
    let status = match broken {
        Break::Publish => "201 Created",
        _ => "200 OK",
    };
    respond(
        stream,
        status,
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
}

/// A poll's answer: JSON, never stored, readable from any origin; the body left out for HEAD.
fn answer(request: &Request, stream: &TcpStream, body: &str, broken: Break) {
    let mut headers = vec![
        ("Content-Type", "application/json"),
        ("Cache-Control", "no-store"),
    ];
    if broken != Break::Headers {
        headers.push(("Access-Control-Allow-Origin", "*"));
    }
    if request.method == "HEAD" && broken != Break::Head {
        let mut head = "HTTP/1.1 200 OK\r\n".to_string();
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        ));
        write(stream, head);
        return;
    }
    respond(stream, "200 OK", &headers, body.as_bytes());
}

fn refuse(stream: &TcpStream, status: &str, reason: &str) {
    let headers = [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Cache-Control", "no-store"),
        ("Access-Control-Allow-Origin", "*"),
    ];
    respond(stream, status, &headers, format!("{reason}\n").as_bytes());
}

fn event_json((id, text, ts): &(u64, String, u64), broken: Break) -> String {
    let mut escaped = String::new();
    for c in text.chars() {
        match c {
            '"' => escaped.push_str("\\\""),
            '\\' => escaped.push_str("\\\\"),
            c if (c as u32) < 0x20 => escaped.push_str(&format!("\\u{:04x}", c as u32)),
            c => escaped.push(c),
        }
    }
    match broken {
        Break::News => format!(r#"{{"id":{id},"text":"{escaped}"}}"#),
        _ => format!(r#"{{"id":{id},"text":"{escaped}","ts":{ts}}}"#),
    }
}

/// A form value: `+` is a space, `%XX` a byte, the result read as UTF-8.
fn decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
                continue;
            }
            (b'+', _) => out.push(b' '),
            (byte, _) => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn webwire_passes_every_rule() {
    let server = support::start();
    let url = format!("http://{}/longpoll", support::address(&server));
    harness::assert_all_pass(TECHNIQUE, &url);
}

#[test]
fn a_server_written_from_the_chapter_passes_every_rule() {
    let server = harness::serve(server(Break::None));
    harness::assert_all_pass(TECHNIQUE, &server.url("/longpoll"));
}

#[test]
fn each_rule_fails_alone_when_broken() {
    // All twelve at once, `lossless`'s 8 pollers each, is safe on 2 busy cores: a starved
    // server answers more polls from its log, which the rule checks the same way, and
    // `Break::Lossless` drops events whenever a burst goes on while a poll wakes.
    harness::assert_each_rule_fails_alone(TECHNIQUE, &BREAKS, |broken| {
        harness::serve(server(broken)).url("/longpoll")
    });
}
