//! XHR streaming's rules (`docs/05-xhr-streaming.md`, its exercise) against webwire, a small
//! server written from the chapter, and that server broken one rule at a time.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use crate::harness::{self, Request, respond, write};
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
    /// Not a break of its own: over-time's, with a tick under the exercise's half second.
    FastTick,
}

/// `Break::FastTick`'s tick: the one `--tick-ms 200` gives webwire, less a millisecond.
const FAST_TICK: Duration = Duration::from_millis(199);

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
fn server(broken: Break) -> impl Fn(Request, TcpStream) + Send + Sync + 'static {
    move |request, stream| {
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
            _ => request.version == "HTTP/1.1",
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
                thread::sleep(if broken == Break::FastTick {
                    FAST_TICK
                } else {
                    TICK
                });
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

#[test]
fn webwire_passes_every_rule() {
    let server = support::start();
    let url = format!("http://{}/stream", support::address(&server));
    harness::assert_all_pass(TECHNIQUE, &url);
}

#[test]
fn a_server_written_from_the_chapter_passes_every_rule() {
    let server = harness::serve(server(Break::None));
    harness::assert_all_pass(TECHNIQUE, &server.url("/stream"));
}

#[test]
fn each_rule_fails_alone_when_broken() {
    harness::assert_each_rule_fails_alone(TECHNIQUE, &BREAKS, |broken| {
        harness::serve(server(broken)).url("/stream")
    });
}

#[test]
fn a_tick_under_half_a_second_is_named_as_such() {
    let server = harness::serve(server(Break::FastTick));
    let outcomes = harness::check(TECHNIQUE, &server.url("/stream"));
    let over_time = outcomes
        .iter()
        .find(|o| o.rule.id == "xhr-streaming.over-time")
        .unwrap();
    let webwire::check::Verdict::Fail(why) = &over_time.verdict else {
        panic!("{:?}", over_time.verdict);
    };
    assert!(
        why.contains(" ms apart (at most ")
            && why.contains(
                "under the 500 ms the check needs (the exercise's tick is at least 0.5 s)"
            ),
        "{why}"
    );
}
