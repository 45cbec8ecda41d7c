//! XHR streaming's rules (`docs/05-xhr-streaming.md`, its exercise) against webwire, a small
//! server written from the chapter, and that server broken one rule at a time.
//!
//! The chapter's server answers an HTTP/1.0 request differently (no chunks), and the
//! harness's `Request` has no version, so this file has a listener of its own that passes
//! the request line's version along; chapter 06's test uses it too.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::harness::{self, Request, Server, respond, write};
use crate::support;

const TECHNIQUE: &str = "xhr-streaming";

/// The chapter's pace: a number every two seconds.
pub const TICK: Duration = Duration::from_secs(2);

/// Which rule the server breaks, if any.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Break {
    None,
    Answers,
    Nosniff,
    NoStore,
    Chunked,
    LinePerChunk,
    Numbers,
    OverTime,
    Ends,
    Padding,
    Http10,
    Head,
    GetOnly,
    BadOptions,
}

/// The rule each break should fail, alone.
const BREAKS: [(Break, &str); 13] = [
    (Break::Answers, "xhr-streaming.answers"),
    (Break::Nosniff, "xhr-streaming.nosniff"),
    (Break::NoStore, "xhr-streaming.no-store"),
    (Break::Chunked, "xhr-streaming.chunked"),
    (Break::LinePerChunk, "xhr-streaming.line-per-chunk"),
    (Break::Numbers, "xhr-streaming.numbers"),
    (Break::OverTime, "xhr-streaming.over-time"),
    (Break::Ends, "xhr-streaming.ends"),
    (Break::Padding, "xhr-streaming.padding"),
    (Break::Http10, "xhr-streaming.http-1-0"),
    (Break::Head, "xhr-streaming.head"),
    (Break::GetOnly, "xhr-streaming.get-only"),
    (Break::BadOptions, "xhr-streaming.bad-options"),
];

/// `GET /stream` as the chapter's exercise describes it.
fn server(broken: Break) -> impl Fn(Request, &str, TcpStream) + Send + Sync + 'static {
    move |request, version, stream| {
        if request.path() != "/stream" {
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
        let lenient = broken == Break::BadOptions;
        let count = option(&request, "count", 1..=1000, 10, lenient);
        let pad = option(&request, "pad", 0..=4096, 0, lenient);
        let (Some(count), Some(pad)) = (count, pad) else {
            return respond(
                &stream,
                "400 Bad Request",
                &[("Content-Type", "text/plain; charset=utf-8")],
                b"count must be a whole number from 1 to 1000, pad from 0 to 4096\n",
            );
        };
        // HTTP/1.1 gets chunks; an HTTP/1.0 client cannot read them, so its body is bare and
        // the close ends it.
        let chunked = match broken {
            Break::Chunked => false,
            Break::Http10 => true,
            _ => version == "HTTP/1.1",
        };
        let mut head = String::from("HTTP/1.1 200 OK\r\n");
        head.push_str(match broken {
            Break::Answers => "Content-Type: text/html; charset=utf-8\r\n",
            _ => "Content-Type: text/plain; charset=utf-8\r\n",
        });
        if broken != Break::Nosniff {
            head.push_str("X-Content-Type-Options: nosniff\r\n");
        }
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
        let send = |bytes: &[u8]| {
            if chunked {
                let mut chunk = format!("{:x}\r\n", bytes.len()).into_bytes();
                chunk.extend_from_slice(bytes);
                chunk.extend_from_slice(b"\r\n");
                write(&stream, chunk)
            } else {
                write(&stream, bytes)
            }
        };
        if pad > 0 && broken != Break::Padding {
            let mut padding = vec![b' '; pad as usize - 1];
            padding.push(b'\n');
            send(&padding);
        }
        let lines: Vec<String> = (0..count)
            .map(|_| match broken {
                Break::Numbers => format!("Number is {}\n", random_below(10_000)),
                _ => format!("{}\n", random_below(10_000)),
            })
            .collect();
        if broken == Break::OverTime {
            // Every line made first, then written together: a buffered body.
            thread::sleep(TICK * (count as u32 - 1));
        }
        for (n, line) in lines.iter().enumerate() {
            if n > 0 && broken != Break::OverTime {
                thread::sleep(TICK);
            }
            let sent = match broken {
                Break::LinePerChunk => send(&line.as_bytes()[..1]) && send(&line.as_bytes()[1..]),
                _ => send(line.as_bytes()),
            };
            if !sent {
                return; // the client left
            }
        }
        if chunked && broken != Break::Ends {
            write(&stream, "0\r\n\r\n");
        }
    }
}

/// Query parameter `name`: absent is `default`; present, plain digits within `range`, or
/// `None` for a 400. `lenient` is the broken server's way: anything else is the default.
fn option(
    request: &Request,
    name: &str,
    range: std::ops::RangeInclusive<u64>,
    default: u64,
    lenient: bool,
) -> Option<u64> {
    let Some(text) = request.query(name) else {
        return Some(default);
    };
    let number = Some(text)
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|t| t.parse::<u64>().ok())
        .filter(|n| range.contains(n));
    match (number, lenient) {
        (None, true) => Some(default),
        (number, _) => number,
    }
}

/// A number below `bound`, different each time: std has no random numbers, but it seeds
/// every `RandomState` afresh.
pub fn random_below(bound: u64) -> u64 {
    RandomState::new().hash_one(0u8) % bound
}

/// Serves every connection on a thread of its own with `handle`, which gets the request, the
/// request line's version (`HTTP/1.1`, `HTTP/1.0`) and the socket.
pub fn serve(handle: impl Fn(Request, &str, TcpStream) + Send + Sync + 'static) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = Arc::new(handle);
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let handle = Arc::clone(&handle);
            thread::spawn(move || {
                if let Some((request, version)) = read_request(&stream) {
                    handle(request, &version, stream);
                }
            });
        }
    });
    Server { port }
}

/// One request's head, a byte at a time, and its Content-Length of body (read and dropped).
fn read_request(mut stream: &TcpStream) -> Option<(Request, String)> {
    let mut bytes = Vec::new();
    let mut byte = [0u8; 1];
    while !bytes.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).ok()? == 0 || bytes.len() > 64 * 1024 {
            return None;
        }
        bytes.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let mut lines = text.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, target, version) = (first.next()?, first.next()?, first.next()?);
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.to_string(), v.trim().to_string()))
        .collect();
    let request = Request {
        method: method.to_string(),
        target: target.to_string(),
        headers,
        body: Vec::new(),
    };
    let length: usize = request
        .header("Content-Length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).ok()?;
    Some((request, version.to_string()))
}

/// Runs `check` for every break at once (each stream takes two ticks), and names every
/// break that did not fail its rule alone.
pub fn each_alone<B: Copy + Send + 'static>(
    technique: &'static str,
    path: &'static str,
    breaks: &[(B, &'static str)],
    serve_broken: fn(B) -> Server,
) {
    let runs: Vec<_> = breaks
        .iter()
        .map(|&(broken, id)| {
            thread::spawn(move || {
                let server = serve_broken(broken);
                harness::assert_only_fails(technique, &server.url(path), id);
            })
        })
        .collect();
    let failures: Vec<String> = runs
        .into_iter()
        .filter_map(|run| run.join().err())
        .map(|panic| {
            panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(ToString::to_string))
                .unwrap_or_default()
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn webwire_passes_every_rule() {
    let server = support::start();
    let url = format!("http://{}/stream", support::address(&server));
    harness::assert_all_pass(TECHNIQUE, &url);
}

#[test]
fn a_server_written_from_the_chapter_passes_every_rule() {
    let server = serve(server(Break::None));
    harness::assert_all_pass(TECHNIQUE, &server.url("/stream"));
}

#[test]
fn each_rule_fails_alone_when_broken() {
    let mut covered: Vec<&str> = BREAKS.iter().map(|(_, id)| *id).collect();
    covered.sort_unstable();
    let mut ids = harness::rule_ids(TECHNIQUE);
    ids.sort_unstable();
    assert_eq!(covered, ids, "every rule has a break");
    each_alone(TECHNIQUE, "/stream", &BREAKS, |broken| {
        serve(server(broken))
    });
}
