//! The image ping's rules (`docs/10-image-ping.md`, its exercise) against webwire, a small
//! server written from the chapter, and that server broken one rule at a time.

use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::harness::{self, Request, respond, write};
use crate::support;

const TECHNIQUE: &str = "image-ping";

/// Which rule the server breaks, if any.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Break {
    None,
    /// `Content-Length: 0` on the 204.
    Answers,
    /// A pixel that is not transparent (one flag off).
    Gif,
    /// `no-cache`, which lets a cache keep the answer (and ask again, or not).
    NoStore,
    /// The query recorded decoded, not as sent.
    Counted,
    /// HEAD counted as a ping.
    Head,
    /// Any `gif` but 1 taken as 0, and counted.
    BadInput,
}

/// The rule each break should fail, alone.
const BREAKS: [(Break, &str); 6] = [
    (Break::Answers, "image-ping.answers"),
    (Break::Gif, "image-ping.gif"),
    (Break::NoStore, "image-ping.no-store"),
    (Break::Counted, "image-ping.counted"),
    (Break::Head, "image-ping.head"),
    (Break::BadInput, "image-ping.bad-input"),
];

/// The exercise's 43 bytes, copied from its hex dump.
const GIF: [u8; 43] = [
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// One ping, as `/ping/stats` lists it.
struct Ping {
    n: u64,
    at: u128,
    status: u16,
    query: String,
    referer: String,
}

#[derive(Default)]
struct Tally {
    count: u64,
    recent: Vec<Ping>,
}

/// A JSON string: the stats echo what strangers sent.
fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `+` a space and `%XX` a byte: what a framework hands over as "the query".
fn decode(text: &str) -> String {
    let mut out = Vec::new();
    let bytes = text.replace('+', " ").into_bytes();
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
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A head with no Content-Length unless one is given: a 204 has none.
fn answer(stream: &TcpStream, status: &str, headers: &[(&str, &str)], body: &[u8]) {
    let mut bytes = format!("HTTP/1.1 {status}\r\n");
    for (name, value) in headers {
        bytes.push_str(&format!("{name}: {value}\r\n"));
    }
    bytes.push_str("Connection: close\r\n\r\n");
    let mut bytes = bytes.into_bytes();
    bytes.extend_from_slice(body);
    write(stream, bytes);
}

/// `GET /ping` and `GET /ping/stats` as the chapter's exercise describes them.
fn server(broken: Break) -> impl Fn(Request, TcpStream) + Send + Sync + 'static {
    let tally = Arc::new(Mutex::new(Tally::default()));
    move |request, stream| {
        let cache = match broken {
            Break::NoStore => "no-cache",
            _ => "no-store",
        };
        if request.path() == "/ping/stats" {
            let tally = tally.lock().unwrap();
            let recent: Vec<String> = tally
                .recent
                .iter()
                .map(|p| {
                    format!(
                        r#"{{"n":{},"at":{},"status":{},"query":{},"referer":{}}}"#,
                        p.n,
                        p.at,
                        p.status,
                        json_string(&p.query),
                        json_string(&p.referer)
                    )
                })
                .collect();
            let body = format!(
                r#"{{"count":{},"kept":20,"recent":[{}]}}"#,
                tally.count,
                recent.join(",")
            );
            let headers = [
                ("Content-Type", "application/json"),
                ("Cache-Control", "no-store"),
            ];
            respond(&stream, "200 OK", &headers, body.as_bytes());
            return;
        }
        let query = request.target.split_once('?').map_or("", |(_, q)| q);
        let plain = ("Content-Type", "text/plain; charset=utf-8");
        if query.len() > 512 {
            let reason = b"a ping's query may be at most 512 bytes\n";
            respond(&stream, "414 URI Too Long", &[plain], reason);
            return;
        }
        let gif = request.query("gif").map(decode);
        let gif = match gif.as_deref() {
            None | Some("0") => false,
            Some("1") => true,
            Some(_) if broken == Break::BadInput => false,
            Some(_) => {
                let reason = b"gif must be 1 (a GIF) or 0 (204)\n";
                respond(&stream, "400 Bad Request", &[plain], reason);
                return;
            }
        };
        let head = request.method == "HEAD";
        if !head || broken == Break::Head {
            let mut tally = tally.lock().unwrap();
            tally.count += 1;
            let ping = Ping {
                n: tally.count,
                at: SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_millis(),
                status: if gif { 200 } else { 204 },
                query: match broken {
                    Break::Counted => decode(query),
                    _ => query.to_string(),
                },
                referer: request.header("referer").unwrap_or("").to_string(),
            };
            if tally.recent.len() == 20 {
                tally.recent.remove(0);
            }
            tally.recent.push(ping);
        }
        if gif {
            let mut pixel = GIF;
            if broken == Break::Gif {
                pixel[22] = 0; // the graphic control extension's "colour 0 is transparent" flag
            }
            let body: &[u8] = if head { b"" } else { &pixel };
            let headers = [
                ("Content-Type", "image/gif"),
                ("Cache-Control", cache),
                ("Content-Length", "43"),
            ];
            answer(&stream, "200 OK", &headers, body);
        } else {
            let mut headers = vec![("Cache-Control", cache)];
            if broken == Break::Answers {
                headers.push(("Content-Length", "0"));
            }
            answer(&stream, "204 No Content", &headers, b"");
        }
    }
}

#[test]
fn webwire_passes_every_rule() {
    let server = support::start();
    let url = format!("http://{}/ping", support::address(&server));
    harness::assert_all_pass(TECHNIQUE, &url);
}

#[test]
fn a_server_written_from_the_chapter_passes_every_rule() {
    let server = harness::serve(server(Break::None));
    harness::assert_all_pass(TECHNIQUE, &server.url("/ping"));
}

#[test]
fn each_rule_fails_alone_when_broken() {
    harness::assert_each_rule_fails_alone(TECHNIQUE, &BREAKS, |broken| {
        harness::serve(server(broken)).url("/ping")
    });
}
