//! Ajax's rules (`docs/02-ajax.md`, its exercise) against webwire, a small server written
//! from the chapter, and that server broken one rule at a time.
//!
//! The server below is what a learner would write from the exercise's tables: five paths
//! under `/ajax`, the echo's report built by hand (a JSON library's string escaping and
//! validation stand in for the ones every language has), forms and multipart bodies parsed by
//! hand.

use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use crate::harness::{self, Request, respond, write};
use crate::support;

const TECHNIQUE: &str = "ajax";

/// Which rule the server breaks, if any.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Break {
    None,
    Echo,
    EchoMethods,
    EchoTarget,
    EchoQuery,
    EchoHeaders,
    MyHeader,
    Head,
    Options,
    Trace,
    BodyNone,
    BodyForm,
    BodyJson,
    BodyText,
    BodyMultipart,
    BodyBytes,
    MediaType,
    BodyCut,
    BadJson,
    BadMultipart,
    Slow,
    Large,
    LargePaced,
    BadNumbers,
    XmlAsText,
    Etag,
    NotModified,
    WeakMatch,
    NoMatch,
    /// Not a break of its own: large-paced's, the body held back for `ms` and then sent
    /// with the head, at once.
    HeldBack,
}

/// The rule each break should fail, alone.
const BREAKS: [(Break, &str); 28] = [
    (Break::Echo, "ajax.echo"),
    (Break::EchoMethods, "ajax.echo-methods"),
    (Break::EchoTarget, "ajax.echo-target"),
    (Break::EchoQuery, "ajax.echo-query"),
    (Break::EchoHeaders, "ajax.echo-headers"),
    (Break::MyHeader, "ajax.my-header"),
    (Break::Head, "ajax.head"),
    (Break::Options, "ajax.options"),
    (Break::Trace, "ajax.trace"),
    (Break::BodyNone, "ajax.body-none"),
    (Break::BodyForm, "ajax.body-form"),
    (Break::BodyJson, "ajax.body-json"),
    (Break::BodyText, "ajax.body-text"),
    (Break::BodyMultipart, "ajax.body-multipart"),
    (Break::BodyBytes, "ajax.body-bytes"),
    (Break::MediaType, "ajax.media-type"),
    (Break::BodyCut, "ajax.body-cut"),
    (Break::BadJson, "ajax.bad-json"),
    (Break::BadMultipart, "ajax.bad-multipart"),
    (Break::Slow, "ajax.slow"),
    (Break::Large, "ajax.large"),
    (Break::LargePaced, "ajax.large-paced"),
    (Break::BadNumbers, "ajax.bad-numbers"),
    (Break::XmlAsText, "ajax.xml-as-text"),
    (Break::Etag, "ajax.etag"),
    (Break::NotModified, "ajax.not-modified"),
    (Break::WeakMatch, "ajax.weak-match"),
    (Break::NoMatch, "ajax.no-match"),
];

/// The methods the echo answers with its report, as `Allow` lists them.
const ALLOW: &str = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";
/// The most of a body a report shows.
const MAX_SHOWN: usize = 16 * 1024;
/// What `/ajax/large` repeats.
const LINE: &[u8] = b"webwire /ajax/large: sixty-four bytes, sent again and again....\n";
const ETAG: &str = "\"ajax-cached-v1\"";
const CACHED_TEXT: &[u8] = b"This text has not changed since it was first written.\n";

/// `/ajax/…` as the chapter's exercise describes it.
fn server(broken: Break) -> impl Fn(Request, TcpStream) + Send + Sync + 'static {
    move |request, stream| match request.path() {
        "/ajax/echo" => echo(&request, &stream, broken),
        "/ajax/slow" => slow(&request, &stream, broken),
        "/ajax/large" => large(&request, &stream, broken),
        "/ajax/xml-as-text" => {
            let media_type = match broken {
                Break::XmlAsText => "application/xml",
                _ => "text/plain; charset=utf-8",
            };
            let xml = b"<?xml version=\"1.0\"?>\n<books><book>Ajax and Comet</book></books>\n";
            respond(&stream, "200 OK", &[("Content-Type", media_type)], xml);
        }
        "/ajax/cached" => cached(&request, &stream, broken),
        _ => respond(&stream, "404 Not Found", &[], b""),
    }
}

fn refuse(stream: &TcpStream, status: &str, reason: &str) {
    let headers = [("Content-Type", "text/plain; charset=utf-8")];
    respond(stream, status, &headers, format!("{reason}\n").as_bytes());
}

// ---- the echo --------------------------------------------------------------------------------

fn echo(request: &Request, stream: &TcpStream, broken: Break) {
    let method = request.method.as_str();
    // TRACE is refused; a broken server refuses another method, or answers TRACE.
    let refused = match broken {
        Break::EchoMethods => ["TRACE", "DELETE"],
        Break::Options => ["TRACE", "OPTIONS"],
        Break::Trace => ["", ""],
        _ => ["TRACE", "TRACE"],
    };
    if method == "OPTIONS" && broken != Break::Options {
        return respond(stream, "204 No Content", &[("Allow", ALLOW)], b"");
    }
    if refused.contains(&method) {
        let headers = [("Allow", ALLOW), ("Content-Type", "text/plain")];
        return respond(stream, "405 Method Not Allowed", &headers, b"not here\n");
    }
    let body = match body_report(request, broken) {
        Ok(body) => body,
        Err(reason) => return refuse(stream, "400 Bad Request", reason),
    };
    let (path, query) = request
        .target
        .split_once('?')
        .unwrap_or((request.target.as_str(), ""));
    let path = String::from_utf8_lossy(&percent(path)).into_owned();
    let target = match broken {
        Break::EchoTarget => format!("{path}?{}", String::from_utf8_lossy(&percent(query))),
        _ => request.target.clone(),
    };
    let query = pairs(&form_pairs(query.as_bytes(), broken != Break::EchoQuery));
    let headers: Vec<(String, String)> = request
        .headers
        .iter()
        .map(|(name, value)| match broken {
            Break::EchoHeaders => (name.to_ascii_lowercase(), value.clone()),
            _ => (name.clone(), value.clone()),
        })
        .collect();
    let report = format!(
        "{{\"method\":{},\"target\":{},\"path\":{},\"query\":{query},\"headers\":{},\"body\":{body}}}\n",
        string(method),
        string(&target),
        string(&path),
        pairs(&headers),
    );
    let cache = match broken {
        Break::Echo => "no-cache",
        _ => "no-store",
    };
    let mut headers = vec![
        ("Content-Type", "application/json"),
        ("Cache-Control", cache),
    ];
    if let Some(value) = request.header("MyHeader")
        && broken != Break::MyHeader
    {
        headers.push(("MyHeader", value));
    }
    if method == "HEAD" && broken != Break::Head {
        let mut head = "HTTP/1.1 200 OK\r\n".to_string();
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            report.len()
        ));
        write(stream, head);
        return;
    }
    respond(stream, "200 OK", &headers, report.as_bytes());
}

/// The report's `body` member, or the reason for a 400.
fn body_report(request: &Request, broken: Break) -> Result<String, &'static str> {
    let content_type = request.header("Content-Type").unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    let media_type = match broken {
        Break::MediaType => essence.to_string(),
        _ => essence.to_ascii_lowercase(),
    };
    let bytes = &request.body;
    let start = format!(
        "{{\"type\":{},\"bytes\":{}",
        string(content_type),
        bytes.len()
    );
    let text = String::from_utf8_lossy(bytes);
    let fits = bytes.len() <= MAX_SHOWN || broken == Break::BodyCut;
    let rest = match media_type.as_str() {
        "" if bytes.is_empty() => match broken {
            Break::BodyNone => ",\"kind\":\"empty\"".to_string(),
            _ => ",\"kind\":\"none\"".to_string(),
        },
        "application/x-www-form-urlencoded" => format!(
            ",\"kind\":\"form\",\"fields\":{}",
            pairs(&form_pairs(bytes, broken != Break::BodyForm))
        ),
        "application/json" => {
            let valid = std::str::from_utf8(bytes)
                .ok()
                .filter(|text| webwire::json::validate(text).is_ok());
            match (valid, broken) {
                (Some(_), Break::BodyJson) => {
                    // Read as Latin-1: every byte a character of its own.
                    let latin1: String = bytes.iter().map(|&b| b as char).collect();
                    format!(",\"kind\":\"json\",\"json\":{}", latin1.trim())
                }
                (Some(json), _) if fits => format!(",\"kind\":\"json\",\"json\":{}", json.trim()),
                (Some(_), _) => ",\"kind\":\"json\",\"json\":null,\"cut\":true".to_string(),
                (None, Break::BadJson) => format!(",\"kind\":\"text\",\"text\":{}", string(&text)),
                (None, _) => return Err("the body is not JSON"),
            }
        }
        "multipart/form-data" => {
            let parts = match (multipart(content_type, bytes, broken), broken) {
                (Ok(parts), _) => parts,
                (Err(_), Break::BadMultipart) => Vec::new(),
                (Err(reason), _) => return Err(reason),
            };
            format!(",\"kind\":\"multipart\",\"parts\":[{}]", parts.join(","))
        }
        t if t.starts_with("text/") && fits => {
            let text = match broken {
                Break::BodyText => text.trim(),
                _ => text.as_ref(),
            };
            format!(",\"kind\":\"text\",\"text\":{}", string(text))
        }
        t if t.starts_with("text/") => ",\"kind\":\"text\",\"text\":null,\"cut\":true".to_string(),
        _ => match broken {
            Break::BodyBytes => ",\"kind\":\"binary\"".to_string(),
            _ => ",\"kind\":\"bytes\"".to_string(),
        },
    };
    Ok(format!("{start}{rest}}}"))
}

/// A form or a query: pairs split at `&`, name and value at the first `=`, `+` a space (unless
/// told not to), `%XX` a byte, the bytes read as UTF-8 with U+FFFD for what is not.
fn form_pairs(input: &[u8], plus_is_space: bool) -> Vec<(String, String)> {
    input
        .split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = match pair.iter().position(|&b| b == b'=') {
                Some(eq) => (&pair[..eq], &pair[eq + 1..]),
                None => (pair, &pair[pair.len()..]),
            };
            let decode = |part: &[u8]| {
                let spaced: Vec<u8> = part
                    .iter()
                    .map(|&b| if b == b'+' && plus_is_space { b' ' } else { b })
                    .collect();
                String::from_utf8_lossy(&percent(&spaced)).into_owned()
            };
            (decode(name), decode(value))
        })
        .collect()
}

/// `%XX` as a byte; a `%` without two hex digits after it stays as it is.
fn percent(input: impl AsRef<[u8]>) -> Vec<u8> {
    let input = input.as_ref();
    let mut out = Vec::new();
    let mut i = 0;
    while i < input.len() {
        let hex = input
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (input[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    out
}

/// Each part of a `multipart/form-data` body as its report object, or why the body is not one.
fn multipart(content_type: &str, body: &[u8], broken: Break) -> Result<Vec<String>, &'static str> {
    let boundary = content_type
        .split(';')
        .skip(1)
        .filter_map(|p| p.trim().strip_prefix("boundary="))
        .map(|b| b.trim_matches('"'))
        .next()
        .filter(|b| !b.is_empty())
        .ok_or("multipart/form-data needs a boundary parameter")?;
    let dash = format!("--{boundary}");
    let delimiter = format!("\r\n--{boundary}");
    let mut rest = body
        .strip_prefix(dash.as_bytes())
        .ok_or("the body does not start with the boundary")?;
    let mut parts = Vec::new();
    loop {
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        rest = rest
            .strip_prefix(b"\r\n")
            .ok_or("a boundary line is not ended by CR LF")?;
        let end =
            find(rest, delimiter.as_bytes()).ok_or("the body ends before its last boundary")?;
        let part = &rest[..end];
        rest = &rest[end + delimiter.len()..];
        let split = find(part, b"\r\n\r\n").ok_or("a part has no blank line")?;
        let (head, content) = (&part[..split], &part[split + 4..]);
        let head = String::from_utf8_lossy(head);
        let (mut name, mut filename, mut media_type) = (None, None, None);
        for line in head.split("\r\n") {
            let Some((field, value)) = line.split_once(':') else {
                continue;
            };
            if field.eq_ignore_ascii_case("Content-Type") {
                media_type = Some(value.trim().to_string());
            }
            if field.eq_ignore_ascii_case("Content-Disposition") {
                for parameter in value.split(';').skip(1) {
                    match parameter.trim().split_once('=') {
                        Some(("name", v)) => name = Some(v.trim_matches('"').to_string()),
                        Some(("filename", v)) => filename = Some(v.trim_matches('"').to_string()),
                        _ => {}
                    }
                }
            }
        }
        let name = name.ok_or("a part has no name")?;
        let or_null = |v: &Option<String>| v.as_deref().map_or("null".to_string(), string);
        let value = String::from_utf8_lossy(content);
        let shows_value = filename.is_none() || broken == Break::BodyMultipart;
        parts.push(format!(
            "{{\"name\":{},\"filename\":{},\"type\":{},\"size\":{}{}}}",
            string(&name),
            or_null(&filename),
            or_null(&media_type),
            content.len(),
            match shows_value {
                true => format!(",\"value\":{}", string(&value)),
                false => String::new(),
            }
        ));
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn string(text: &str) -> String {
    webwire::json::string(text)
}

fn pairs(pairs: &[(String, String)]) -> String {
    let items: Vec<String> = pairs
        .iter()
        .map(|(n, v)| format!("[{},{}]", string(n), string(v)))
        .collect();
    format!("[{}]", items.join(","))
}

// ---- slow, large -----------------------------------------------------------------------------

/// A query number from 0 to `max`, plain digits; `Ok(None)` when absent.
fn number(request: &Request, name: &str, max: u64) -> Result<Option<u64>, String> {
    let Some(raw) = request.query(name) else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&percent(raw.replace('+', " "))).into_owned();
    match text.parse::<u64>() {
        Ok(n) if n <= max && text.bytes().all(|b| b.is_ascii_digit()) => Ok(Some(n)),
        _ => Err(format!("{name} must be a whole number from 0 to {max}")),
    }
}

fn slow(request: &Request, stream: &TcpStream, broken: Break) {
    let ms = match number(request, "ms", 30_000) {
        Ok(ms) => ms.unwrap_or(2000),
        Err(reason) => return refuse(stream, "400 Bad Request", &reason),
    };
    if broken != Break::Slow {
        thread::sleep(Duration::from_millis(ms));
    }
    let text = format!("answered after {ms} ms\n");
    respond(
        stream,
        "200 OK",
        &[("Content-Type", "text/plain")],
        text.as_bytes(),
    );
}

fn large(request: &Request, stream: &TcpStream, broken: Break) {
    let max_bytes = match broken {
        Break::BadNumbers => u64::MAX,
        _ => 4 * 1024 * 1024,
    };
    let (bytes, ms) = match (
        number(request, "bytes", max_bytes),
        number(request, "ms", 30_000),
    ) {
        (Ok(bytes), Ok(ms)) => (bytes.unwrap_or(1024 * 1024) as usize, ms.unwrap_or(4000)),
        (Err(reason), _) | (_, Err(reason)) => return refuse(stream, "400 Bad Request", &reason),
    };
    let line = match broken {
        Break::Large => b"x".as_slice(),
        _ => LINE,
    };
    let body: Vec<u8> = line.iter().copied().cycle().take(bytes).collect();
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {bytes}\r\n\
         Connection: close\r\n\r\n"
    );
    if broken == Break::HeldBack {
        thread::sleep(Duration::from_millis(ms));
        write(stream, [head.as_bytes(), &body].concat());
        return;
    }
    write(stream, head);
    // 20 pieces, a twentieth of the time between two.
    let pause = match broken {
        Break::LargePaced => Duration::ZERO,
        _ => Duration::from_millis(ms / 20),
    };
    for (i, piece) in body.chunks(bytes.div_ceil(20).max(1)).enumerate() {
        if i > 0 {
            thread::sleep(pause);
        }
        if !write(stream, piece) {
            return;
        }
    }
}

// ---- the cached text -------------------------------------------------------------------------

fn cached(request: &Request, stream: &TcpStream, broken: Break) {
    let cache = match broken {
        Break::Etag => "max-age=60",
        _ => "no-cache",
    };
    let tags = request.all("If-None-Match");
    let matches = match broken {
        Break::NoMatch => !tags.is_empty(),
        Break::WeakMatch => tags.contains(&ETAG),
        _ => tags
            .iter()
            .flat_map(|line| line.split(','))
            .map(str::trim)
            .any(|tag| tag == "*" || tag.trim_start_matches("W/") == ETAG),
    };
    let headers = [("ETag", ETAG), ("Cache-Control", cache)];
    if matches && broken != Break::NotModified {
        let mut head = "HTTP/1.1 304 Not Modified\r\n".to_string();
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        write(stream, head + "Connection: close\r\n\r\n");
        return;
    }
    let status = match matches {
        true => "304 Not Modified",
        false => "200 OK",
    };
    let mut headers = headers.to_vec();
    headers.push(("Content-Type", "text/plain; charset=utf-8"));
    respond(stream, status, &headers, CACHED_TEXT);
}

#[test]
fn webwire_passes_every_rule() {
    let server = support::start();
    let url = format!("http://{}/ajax", support::address(&server));
    harness::assert_all_pass(TECHNIQUE, &url);
}

#[test]
fn a_server_written_from_the_chapter_passes_every_rule() {
    let server = harness::serve(server(Break::None));
    harness::assert_all_pass(TECHNIQUE, &server.url("/ajax"));
}

#[test]
fn each_rule_fails_alone_when_broken() {
    harness::assert_each_rule_fails_alone(TECHNIQUE, &BREAKS, |broken| {
        harness::serve(server(broken)).url("/ajax")
    });
}

#[test]
fn a_body_held_back_and_sent_with_its_head_is_not_paced() {
    let server = harness::serve(server(Break::HeldBack));
    harness::assert_only_fails(TECHNIQUE, &server.url("/ajax"), "ajax.large-paced");
}
