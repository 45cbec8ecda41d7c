//! JSONP (`docs/09-jsonp.md`) over raw TCP: `GET /jsonp?cb=NAME` (or `callback=NAME`) answers
//! with a script calling NAME, only when NAME is a dotted JavaScript name; anything else is a
//! plain-text 400 with no script in it. `GET /jsonp/never` holds the request, then says 204.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod support;

use webwire::clock::now_millis;

use std::time::{Duration, Instant};

use support::{Client, get, head, start_custom, test_config};

fn jsonp_server(tick_ms: u64, hold_ms: u64) -> webwire::Running {
    let mut config = test_config();
    config.tick = Duration::from_millis(tick_ms);
    config.hold = Duration::from_millis(hold_ms);
    start_custom(config, Vec::new())
}

/// The body with its `"time":<millis>` replaced by `"time":0`, and the time that was there.
fn without_time(body: &str) -> (String, u64) {
    let start = body.find("\"time\":").expect("a time") + 7;
    let digits = body[start..].bytes().take_while(u8::is_ascii_digit).count();
    let time = body[start..start + digits]
        .parse()
        .expect("whole milliseconds");
    let rest = &body[start + digits..];
    (format!("{}0{rest}", &body[..start]), time)
}

fn script_head(length: usize) -> String {
    head(
        "HTTP/1.1 200 OK",
        &[
            ("Content-Type", "text/javascript; charset=utf-8"),
            ("Cache-Control", "no-store"),
            ("Content-Length", &length.to_string()),
        ],
    )
}

#[test]
fn a_good_callback_gets_a_script_calling_it_with_the_time_and_the_query() {
    let server = jsonp_server(20, 1000);
    let good: &[(&str, &str, &str)] = &[
        (
            "cb=callback",
            r#"/**/callback({"time":0,"poll_ms":10,"query":{}});"#,
            "the article's own URL",
        ),
        (
            "callback=processJSON&name=jimmy&age=18",
            r#"/**/processJSON({"time":0,"poll_ms":10,"query":{"name":"jimmy","age":"18"}});"#,
            "the other article's, with its name and age",
        ),
        (
            "callback=jQuery360071826423583218_1700000000000&_=1700000000001",
            r#"/**/jQuery360071826423583218_1700000000000({"time":0,"poll_ms":10,"query":{"_":"1700000000001"}});"#,
            "what jQuery's callback=? becomes, with its cache-buster",
        ),
        (
            "name=jimmy&cb=app.on_data",
            r#"/**/app.on_data({"time":0,"poll_ms":10,"query":{"name":"jimmy"}});"#,
            "a method, named after the other parameters",
        ),
        (
            "cb=%24.fn.x",
            r#"/**/$.fn.x({"time":0,"poll_ms":10,"query":{}});"#,
            "percent-encoded $, decoded",
        ),
        (
            "cb=a&name=first&name=second&flag",
            r#"/**/a({"time":0,"poll_ms":10,"query":{"name":"first","flag":""}});"#,
            "a repeated name keeps its first value; a bare name is empty",
        ),
    ];
    let mut client = Client::connect(&server);
    for (query, expected, why) in good {
        let before = now_millis();
        let reply = client.exchange(format!("GET /jsonp?{query} HTTP/1.1\r\nHost: t\r\n\r\n"));
        let after = now_millis();
        assert_eq!(
            reply.head_without_date(),
            script_head(reply.body.len()),
            "{why}"
        );
        let (body, time) = without_time(&reply.text());
        assert_eq!(body, *expected, "{why}");
        assert!(
            before <= time && time <= after,
            "{why}: {time} not the time"
        );
    }
}

#[test]
fn the_echo_is_json_with_line_separators_and_angle_brackets_escaped() {
    let server = jsonp_server(20, 1000);
    // U+2028, U+2029, "</script>", a quote, a backslash and a newline, percent-encoded.
    let reply = get(
        &server,
        "/jsonp?cb=show&text=%E2%80%A8%E2%80%A9%3C%2Fscript%3E%22%5C%0A",
    );
    let (body, _) = without_time(&reply.text());
    assert_eq!(
        body,
        r#"/**/show({"time":0,"poll_ms":10,"query":{"text":"\u2028\u2029\u003c/script>\"\\\n"}});"#
    );
    assert!(reply.body.is_ascii(), "no raw U+2028 or U+2029 bytes");
}

#[test]
fn the_page_is_told_to_poll_every_second_by_default() {
    let mut config = test_config();
    config.tick = webwire::config::DEFAULT_TICK;
    let server = start_custom(config, Vec::new());
    let (body, _) = without_time(&get(&server, "/jsonp?cb=x").text());
    assert_eq!(body, r#"/**/x({"time":0,"poll_ms":1000,"query":{}});"#);
}

const NOT_A_NAME: &str = "a callback must be a JavaScript name, or names joined by dots: \
                          letters, digits, _ and $, not starting with a digit\n";
const RESERVED: &str = "a callback cannot start with a JavaScript reserved word\n";
const TOO_LONG: &str = "a callback name may be at most 64 characters\n";
const MISSING: &str = "a callback name is needed: ?cb=NAME or ?callback=NAME\n";
const REPEATED: &str = "give the callback once: cb= or callback=, not both or twice\n";

#[test]
fn anything_but_a_dotted_name_is_400_plain_text_with_no_script() {
    let server = jsonp_server(20, 1000);
    let too_long = format!("cb={}", "a".repeat(65));
    let hostile: &[(&str, &str, &str)] = &[
        (
            "cb=alert(1)//",
            NOT_A_NAME,
            "the classic: alert(1)//({…}) runs",
        ),
        (
            "cb=alert%281%29%2F%2F",
            NOT_A_NAME,
            "the same, percent-encoded",
        ),
        (
            "callback=%3C%2Fscript%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E",
            NOT_A_NAME,
            "HTML, for a page that shows the answer",
        ),
        ("cb=a;alert(1)", NOT_A_NAME, "a second statement"),
        (
            "cb=a%0Aalert(1)",
            NOT_A_NAME,
            "a newline starts a new statement",
        ),
        ("cb=a%E2%80%A8alert(1)", NOT_A_NAME, "so does U+2028"),
        ("cb=a+b", NOT_A_NAME, "+ is a space in a query"),
        ("cb=top[0]", NOT_A_NAME, "brackets"),
        ("cb=", NOT_A_NAME, "empty"),
        ("cb=1x", NOT_A_NAME, "a digit first"),
        ("cb=a..b", NOT_A_NAME, "an empty name between dots"),
        ("cb=while", RESERVED, "/**/while({…}); never ends"),
        ("cb=this.constructor", RESERVED, "reserved first name"),
        (&too_long, TOO_LONG, "65 characters"),
        ("", MISSING, "no query at all"),
        ("name=jimmy&age=18", MISSING, "no callback"),
        ("cb=a&callback=b", REPEATED, "both spellings"),
        ("cb=a&cb=a", REPEATED, "twice, even the same"),
        (
            "cb=ok&callback=alert(1)//",
            REPEATED,
            "a good one hiding a bad one",
        ),
    ];
    let mut client = Client::connect(&server);
    for (query, reason, why) in hostile {
        let reply = client.exchange(format!("GET /jsonp?{query} HTTP/1.1\r\nHost: t\r\n\r\n"));
        assert_eq!(
            reply.head_without_date(),
            head(
                "HTTP/1.1 400 Bad Request",
                &[
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("Content-Length", &reason.len().to_string()),
                ]
            ),
            "{why}"
        );
        assert_eq!(reply.text(), *reason, "{why}: the name is never echoed");
    }
    // The same connection goes on: a refusal is an answer, not an error of the connection.
    let reply = client.exchange("GET /jsonp?cb=fine HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(reply.status, 200);
}

#[test]
fn head_and_other_methods() {
    let server = jsonp_server(20, 1000);
    let mut client = Client::connect(&server);
    client.send("HEAD /jsonp?cb=x HTTP/1.1\r\nHost: t\r\n\r\n");
    let reply = client.read_reply_to(true);
    // The length of `/**/x({"time":1795452005123,"poll_ms":10,"query":{}});`, with no body.
    assert_eq!(reply.head_without_date(), script_head(54));
    let reply =
        client.exchange("POST /jsonp?cb=x HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(reply.status, 405, "a script element only ever GETs");
    assert_eq!(reply.header("allow"), Some("GET, HEAD, OPTIONS"));
}

#[test]
fn never_holds_the_request_for_the_hold_then_answers_204_with_no_script() {
    let hold = Duration::from_millis(300);
    let server = jsonp_server(20, hold.as_millis() as u64);
    let mut client = Client::connect(&server);
    let asked = Instant::now();
    let reply = client.exchange("GET /jsonp/never?cb=jsonp_1 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(asked.elapsed() >= hold, "answered before the hold was over");
    assert_eq!(
        reply.head_without_date(),
        head("HTTP/1.1 204 No Content", &[("Cache-Control", "no-store"),],)
    );
    // A bad callback is refused at once, like on /jsonp.
    let reply = client.exchange("GET /jsonp/never?cb=alert(1)// HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(reply.text(), NOT_A_NAME);
}

#[test]
fn never_lets_go_as_soon_as_the_client_leaves() {
    let hold = Duration::from_secs(60);
    let server = jsonp_server(20, hold.as_millis() as u64);
    let mut client = Client::connect(&server);
    let asked = Instant::now();
    client.send("GET /jsonp/never?cb=jsonp_1 HTTP/1.1\r\nHost: t\r\n\r\n");
    // Half-close: the server sees the end of our stream (the client has gone) but can still
    // write, so its early answer shows that the hold ended.
    client.shutdown_write();
    assert_eq!(client.read_reply().status, 204);
    assert!(asked.elapsed() < hold, "held for the whole hold");
}
