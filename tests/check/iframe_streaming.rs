//! Hidden-iframe streaming's rules (`docs/06-iframe-streaming.md`, its exercise) against
//! webwire, a small server written from the chapter, and that server broken one rule at a
//! time. Its pace and its random numbers are chapter 05's (`xhr_streaming.rs`).

use std::net::TcpStream;
use std::thread;

use crate::harness::{self, Request, respond, write};
use crate::support;
use crate::xhr_streaming::{TICK, random_below};

const TECHNIQUE: &str = "iframe-streaming";

/// Which rule the server breaks, if any.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Break {
    None,
    Answers,
    NoStore,
    Chunked,
    DocumentStart,
    ScriptPerChunk,
    Calls,
    OverTime,
    Ends,
    PostMessage,
    TargetRefused,
    BadCount,
    Http10,
    Head,
    GetOnly,
}

/// The rule each break should fail, alone.
const BREAKS: [(Break, &str); 14] = [
    (Break::Answers, "iframe-streaming.answers"),
    (Break::NoStore, "iframe-streaming.no-store"),
    (Break::Chunked, "iframe-streaming.chunked"),
    (Break::DocumentStart, "iframe-streaming.document-start"),
    (Break::ScriptPerChunk, "iframe-streaming.script-per-chunk"),
    (Break::Calls, "iframe-streaming.calls"),
    (Break::OverTime, "iframe-streaming.over-time"),
    (Break::Ends, "iframe-streaming.ends"),
    (Break::PostMessage, "iframe-streaming.post-message"),
    (Break::TargetRefused, "iframe-streaming.target-refused"),
    (Break::BadCount, "iframe-streaming.bad-count"),
    (Break::Http10, "iframe-streaming.http-1-0"),
    (Break::Head, "iframe-streaming.head"),
    (Break::GetOnly, "iframe-streaming.get-only"),
];

const DOCUMENT_START: &str = "<!doctype html>\n<html><head><meta charset=\"utf-8\">\
    <title>stream</title></head><body>\n";
const DOCUMENT_END: &str = "</body></html>\n";

/// `GET /htmlfile` as the chapter's exercise describes it.
fn server(broken: Break) -> impl Fn(Request, TcpStream) + Send + Sync + 'static {
    move |request, stream| {
        if request.path() != "/htmlfile" {
            return respond(&stream, "404 Not Found", &[], b"no such path\n");
        }
        let method = request.method.as_str();
        if !matches!(method, "GET" | "HEAD") && broken != Break::GetOnly {
            return respond(
                &stream,
                "405 Method Not Allowed",
                &[("Allow", "GET, HEAD")],
                b"GET or HEAD\n",
            );
        }
        let refuse = |reason: &str| {
            respond(
                &stream,
                "400 Bad Request",
                &[("Content-Type", "text/plain; charset=utf-8")],
                reason.as_bytes(),
            );
        };
        let count = match request.query("count") {
            None => 10,
            Some(text) => match text.parse::<u64>() {
                Ok(n) if text.bytes().all(|b| b.is_ascii_digit()) && (1..=100).contains(&n) => n,
                _ if broken == Break::BadCount => 10,
                _ => return refuse("count must be a whole number from 1 to 100\n"),
            },
        };
        let target = match request.query("target").map(percent_decoded) {
            None => None,
            Some(origin) if allowed(&origin, request.header("Host").unwrap_or("")) => Some(origin),
            Some(origin)
                if broken == Break::TargetRefused
                    && (origin.starts_with("http://localhost:")
                        || origin.starts_with("http://127.0.0.1:")) =>
            {
                Some(origin)
            }
            Some(_) => return refuse("target must be this server's origin\n"),
        };
        let chunked = match broken {
            Break::Chunked => false,
            Break::Http10 => true,
            _ => request.version == "HTTP/1.1",
        };
        let mut head = String::from("HTTP/1.1 200 OK\r\n");
        head.push_str(match broken {
            Break::Answers => "Content-Type: text/html\r\n",
            _ => "Content-Type: text/html; charset=utf-8\r\n",
        });
        head.push_str(match broken {
            Break::NoStore => "Cache-Control: no-cache\r\n",
            _ => "Cache-Control: no-store\r\n",
        });
        head.push_str(match chunked {
            true => "Transfer-Encoding: chunked\r\n\r\n",
            false => "Connection: close\r\n\r\n",
        });
        write(&stream, head);
        if method == "HEAD" && broken != Break::Head {
            return;
        }
        let send = |text: &str| {
            if chunked {
                write(&stream, format!("{:x}\r\n{text}\r\n", text.len()))
            } else {
                write(&stream, text)
            }
        };
        send(match broken {
            Break::DocumentStart => &DOCUMENT_START["<!doctype html>\n".len()..],
            _ => DOCUMENT_START,
        });
        let blocks: Vec<String> = (0..count)
            .map(|_| {
                let data = random_below(10_000).to_string();
                match (&target, broken) {
                    (None, Break::Calls) => {
                        format!("<script>parent.process({data})</script>\n")
                    }
                    (None, _) => format!("<script>parent.process({})</script>\n", js(&data)),
                    (Some(_), Break::PostMessage) => {
                        format!(
                            "<script>parent.postMessage({}, \"*\")</script>\n",
                            js(&data)
                        )
                    }
                    (Some(origin), _) => format!(
                        "<script>parent.postMessage({}, {})</script>\n",
                        js(&data),
                        js(origin)
                    ),
                }
            })
            .collect();
        if broken == Break::OverTime {
            thread::sleep(TICK * (count as u32 - 1));
        }
        for (n, block) in blocks.iter().enumerate() {
            if n > 0 && broken != Break::OverTime {
                thread::sleep(TICK);
            }
            let sent = match broken {
                Break::ScriptPerChunk => send(&block[..10]) && send(&block[10..]),
                _ => send(block),
            };
            if !sent {
                return; // the page went away
            }
        }
        send(DOCUMENT_END);
        if chunked && broken != Break::Ends {
            write(&stream, "0\r\n\r\n");
        }
    }
}

/// Whether `origin` is one of the two this server trusts: `http://localhost:PORT` or
/// `http://127.0.0.1:PORT`, PORT from the `Host` header (none means 80, and an origin leaves
/// out port 80).
fn allowed(origin: &str, host: &str) -> bool {
    let port = match host.rsplit_once(':') {
        Some((_, port)) => port.parse::<u16>().ok(),
        None => Some(80),
    };
    let Some(port) = port else {
        return false;
    };
    let suffix = if port == 80 {
        String::new()
    } else {
        format!(":{port}")
    };
    origin == format!("http://localhost{suffix}") || origin == format!("http://127.0.0.1{suffix}")
}

/// A JSON string literal that is safe inside a `<script>`: `"` and `\` escaped, control
/// characters, U+2028 and U+2029 as `\uXXXX`, and every `<` as `\u003c`.
fn js(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '<' | '\u{2028}' | '\u{2029}' | '\0'..='\u{1f}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A query value decoded: `%XX` is that byte, `+` a space.
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
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
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn webwire_passes_every_rule() {
    let server = support::start();
    let url = format!("http://{}/htmlfile", support::address(&server));
    harness::assert_all_pass(TECHNIQUE, &url);
}

#[test]
fn a_server_written_from_the_chapter_passes_every_rule() {
    let server = harness::serve(server(Break::None));
    harness::assert_all_pass(TECHNIQUE, &server.url("/htmlfile"));
}

#[test]
fn each_rule_fails_alone_when_broken() {
    harness::assert_each_rule_fails_alone(TECHNIQUE, &BREAKS, |broken| {
        harness::serve(server(broken)).url("/htmlfile")
    });
}
