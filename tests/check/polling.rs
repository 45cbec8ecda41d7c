//! Short polling's rules (`docs/03-polling.md`, its exercise) against webwire, a small server
//! written from the chapter, and that server broken one rule at a time.

use std::net::TcpStream;
use std::time::SystemTime;

use webwire::http::response::http_date;

use crate::harness::{self, Request, respond, write};
use crate::support;

const TECHNIQUE: &str = "polling";

/// Which rule the server breaks, if any.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Break {
    None,
    Answers,
    NoStore,
    Interval,
    Clock,
    QueryIgnored,
    Head,
    Methods,
}

/// The rule each break should fail, alone.
const BREAKS: [(Break, &str); 7] = [
    (Break::Answers, "polling.answers"),
    (Break::NoStore, "polling.no-store"),
    (Break::Interval, "polling.interval"),
    (Break::Clock, "polling.clock"),
    (Break::QueryIgnored, "polling.query-ignored"),
    (Break::Head, "polling.head"),
    (Break::Methods, "polling.methods"),
];

/// `GET /time` as the chapter's exercise describes it.
fn server(broken: Break) -> impl Fn(Request, TcpStream) + Send + Sync + 'static {
    move |request, stream| {
        let is_head = request.method == "HEAD";
        if !matches!(request.method.as_str(), "GET" | "HEAD") && broken != Break::Methods {
            let reason = b"this path does not accept that method\n";
            let allow = [("Content-Type", "text/plain"), ("Allow", "GET, HEAD")];
            return respond(&stream, "405 Method Not Allowed", &allow, reason);
        }
        if broken == Break::QueryIgnored && request.target.contains('?') {
            return respond(&stream, "400 Bad Request", &[], b"what is this query?\n");
        }
        let body = match broken {
            Break::Clock => "Monday 23 November\n".to_string(),
            _ => format!("{}\n", http_date(SystemTime::now())),
        };
        let media_type = match broken {
            Break::Answers => "text/html",
            _ => "text/plain; charset=utf-8",
        };
        let cache = match broken {
            Break::NoStore => "no-cache",
            _ => "no-store",
        };
        let interval = match broken {
            Break::Interval => "2s",
            _ => "2000",
        };
        let headers = [
            ("Content-Type", media_type),
            ("Cache-Control", cache),
            ("X-Poll-Interval-Ms", interval),
        ];
        if is_head && broken != Break::Head {
            // The head a GET would get, Content-Length included, and nothing after it.
            let mut head = "HTTP/1.1 200 OK\r\n".to_string();
            for (name, value) in headers {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            head.push_str(&format!(
                "Content-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            ));
            write(&stream, head);
            return;
        }
        respond(&stream, "200 OK", &headers, body.as_bytes());
    }
}

#[test]
fn webwire_passes_every_rule() {
    let server = support::start();
    let url = format!("http://{}/time", support::address(&server));
    harness::assert_all_pass(TECHNIQUE, &url);
}

#[test]
fn a_server_written_from_the_chapter_passes_every_rule() {
    let server = harness::serve(server(Break::None));
    harness::assert_all_pass(TECHNIQUE, &server.url("/time"));
}

#[test]
fn each_rule_fails_alone_when_broken() {
    harness::assert_each_rule_fails_alone(TECHNIQUE, &BREAKS, |broken| {
        harness::serve(server(broken)).url("/time")
    });
}
