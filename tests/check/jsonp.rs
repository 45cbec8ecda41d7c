//! JSONP's rules (`docs/09-jsonp.md`, its exercise) against webwire, a small server written
//! from the chapter, and that server broken one rule at a time.

use std::net::TcpStream;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::harness::{self, Request, respond};
use crate::support;

const TECHNIQUE: &str = "jsonp";

/// Which rule the server breaks, if any.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Break {
    None,
    /// The articles' `application/javascript`.
    Script,
    /// No `nosniff` on a refusal.
    Nosniff,
    /// No `/**/` before the call.
    Shape,
    /// No `$` in names (a regex copied from somewhere).
    Names,
    /// No reserved-word check: `cb=while` freezes the page.
    BadNames,
    /// The first of two callbacks wins.
    OneCallback,
    /// The last value of a repeated parameter wins.
    Echo,
    /// `<` left raw, as most JSON encoders do.
    Escapes,
}

/// The rule each break should fail, alone.
const BREAKS: [(Break, &str); 8] = [
    (Break::Script, "jsonp.script"),
    (Break::Nosniff, "jsonp.nosniff"),
    (Break::Shape, "jsonp.shape"),
    (Break::Names, "jsonp.names"),
    (Break::BadNames, "jsonp.bad-names"),
    (Break::OneCallback, "jsonp.one-callback"),
    (Break::Echo, "jsonp.echo"),
    (Break::Escapes, "jsonp.escapes"),
];

/// The exercise's reserved words: a callback may not start with one.
#[rustfmt::skip] // the exercise's list, a few to a line
const RESERVED_WORDS: [&str; 38] = [
    "await", "break", "case", "catch", "class", "const", "continue", "debugger", "default",
    "delete", "do", "else", "enum", "export", "extends", "false", "finally", "for", "function",
    "if", "import", "in", "instanceof", "new", "null", "return", "super", "switch", "this",
    "throw", "true", "try", "typeof", "var", "void", "while", "with", "yield",
];

/// `application/x-www-form-urlencoded`: `+` is a space, `%XX` a byte, a broken `%` stays.
fn decode(text: &str) -> String {
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
                continue;
            }
            (b'+', _) => out.push(b' '),
            (byte, _) => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A JSON string, escaping `<`, U+2028 and U+2029 as the exercise says.
fn json_string(text: &str, broken: Break) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '<' if broken == Break::Escapes => out.push('<'),
            c if (c as u32) < 0x20 || c == '<' || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The refusal's reason, or `None` for a good callback.
fn refuse(name: &str, broken: Break) -> Option<&'static str> {
    if name.len() > 64 {
        return Some("a callback name may be at most 64 characters\n");
    }
    let first_ok =
        |b: u8| b.is_ascii_alphabetic() || b == b'_' || (b == b'$' && broken != Break::Names);
    let rest_ok = |b: u8| first_ok(b) || b.is_ascii_digit();
    let is_name =
        |part: &str| part.bytes().next().is_some_and(first_ok) && part.bytes().all(rest_ok);
    if !name.split('.').all(is_name) {
        return Some(
            "a callback must be a JavaScript name, or names joined by dots: \
             letters, digits, _ and $, not starting with a digit\n",
        );
    }
    let first = name.split('.').next().unwrap_or("");
    if broken != Break::BadNames && RESERVED_WORDS.contains(&first) {
        return Some("a callback cannot start with a JavaScript reserved word\n");
    }
    None
}

/// `GET /jsonp` as the chapter's exercise describes it.
fn server(broken: Break) -> impl Fn(Request, TcpStream) + Send + Sync + 'static {
    move |request, stream| {
        let query = request.target.split_once('?').map_or("", |(_, q)| q);
        let pairs: Vec<(String, String)> = query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                (decode(name), decode(value))
            })
            .collect();
        let is_callback = |name: &str| name == "cb" || name == "callback";
        let callbacks: Vec<&str> = pairs
            .iter()
            .filter(|(name, _)| is_callback(name))
            .map(|(_, value)| value.as_str())
            .collect();
        let refusal = match callbacks.as_slice() {
            [] => Some("a callback name is needed: ?cb=NAME or ?callback=NAME\n"),
            [name] => refuse(name, broken),
            [name, ..] if broken == Break::OneCallback => refuse(name, broken),
            _ => Some("give the callback once: cb= or callback=, not both or twice\n"),
        };
        if let Some(reason) = refusal {
            let mut headers = vec![("Content-Type", "text/plain; charset=utf-8")];
            if broken != Break::Nosniff {
                headers.push(("X-Content-Type-Options", "nosniff"));
            }
            respond(&stream, "400 Bad Request", &headers, reason.as_bytes());
            return;
        }
        let callback = callbacks[0];
        let mut echoed: Vec<(&str, &str)> = Vec::new();
        for (name, value) in &pairs {
            if is_callback(name) {
                continue;
            }
            match echoed.iter_mut().find(|(n, _)| n == name) {
                Some(seen) if broken == Break::Echo => seen.1 = value,
                Some(_) => {}
                None => echoed.push((name, value)),
            }
        }
        let members: Vec<String> = echoed
            .iter()
            .map(|(n, v)| format!("{}:{}", json_string(n, broken), json_string(v, broken)))
            .collect();
        let time = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis();
        let data = format!(
            r#"{{"time":{time},"poll_ms":1000,"query":{{{}}}}}"#,
            members.join(",")
        );
        let prefix = if broken == Break::Shape { "" } else { "/**/" };
        let body = format!("{prefix}{callback}({data});");
        let media_type = match broken {
            Break::Script => "application/javascript; charset=utf-8",
            _ => "text/javascript; charset=utf-8",
        };
        respond(
            &stream,
            "200 OK",
            &[
                ("Content-Type", media_type),
                ("X-Content-Type-Options", "nosniff"),
                ("Cache-Control", "no-store"),
            ],
            body.as_bytes(),
        );
    }
}

#[test]
fn webwire_passes_every_rule() {
    let server = support::start();
    let url = format!("http://{}/jsonp", support::address(&server));
    harness::assert_all_pass(TECHNIQUE, &url);
}

#[test]
fn a_server_written_from_the_chapter_passes_every_rule() {
    let server = harness::serve(server(Break::None));
    harness::assert_all_pass(TECHNIQUE, &server.url("/jsonp"));
}

#[test]
fn each_rule_fails_alone_when_broken() {
    harness::assert_each_rule_fails_alone(TECHNIQUE, &BREAKS, |broken| {
        harness::serve(server(broken)).url("/jsonp")
    });
}
