//! CORS (`docs/08-cors.md`) over raw TCP: every header decision the server makes, as the bytes
//! a browser would read. The allow-list comes from the `Host` a request names, so these
//! requests say `Host: 127.0.0.1:8088` whatever port the test server really has.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod support;

use std::time::SystemTime;

use support::{Client, Reply, head, is_time_between, start, start_custom, test_config};

const PAGE: &str = "http://localhost:8088"; // a demo origin for Host 127.0.0.1:8088

const ALLOWED: &str = "allowed: Access-Control-Allow-Origin names this origin";
const BLOCKED: &str = "blocked: this origin is not on the allow-list, so no \
                       Access-Control-Allow-Origin; the page sees status 0";

/// Sends one request, with `Host: 127.0.0.1:8088` and these header lines, on a new connection.
fn send(server: &webwire::Running, method: &str, target: &str, headers: &[&str]) -> Reply {
    let lines: String = headers.iter().map(|h| format!("{h}\r\n")).collect();
    let request = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:8088\r\n{lines}\r\n");
    Client::connect(server).exchange(request)
}

/// The head of a `GET /cors` answer: the time, plus these header lines before Content-Length.
fn time_head(cors_lines: &[(&str, &str)]) -> String {
    let mut lines = vec![
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Cache-Control", "no-store"),
    ];
    lines.extend_from_slice(cors_lines);
    lines.push(("Content-Length", "30"));
    head("HTTP/1.1 200 OK", &lines)
}

/// `GET /cors` now, checking its body is the time it was answered.
fn get_time(server: &webwire::Running, headers: &[&str]) -> Reply {
    let before = SystemTime::now();
    let reply = send(server, "GET", "/cors", headers);
    let after = SystemTime::now();
    assert!(
        is_time_between(&reply.text(), before, after),
        "{:?} is not the time",
        reply.text()
    );
    reply
}

#[test]
fn a_simple_get_from_a_demo_origin_is_shared_with_it() {
    let server = start();
    let reply = get_time(&server, &["Origin: http://localhost:8088"]);
    assert_eq!(
        reply.head_without_date(),
        time_head(&[
            ("Access-Control-Allow-Origin", "http://localhost:8088"),
            ("Vary", "Origin"),
            ("X-CORS-Verdict", ALLOWED),
        ])
    );
}

#[test]
fn the_demo_origins_are_both_names_on_the_port_the_request_was_sent_to() {
    let server = start();
    let mut client = Client::connect(&server);
    let ask = |client: &mut Client, host: &str, origin: &str| {
        let request = format!("GET /cors HTTP/1.1\r\nHost: {host}\r\nOrigin: {origin}\r\n\r\n");
        let reply = client.exchange(request);
        reply
            .header("access-control-allow-origin")
            .map(str::to_string)
    };
    let same = |origin: &str| Some(origin.to_string());
    let other = "http://127.0.0.1:9000";
    assert_eq!(ask(&mut client, "localhost:9000", other), same(other));
    let other = "http://localhost:9000";
    assert_eq!(ask(&mut client, "[::1]:9000", other), same(other));
    assert_eq!(
        ask(&mut client, "localhost:9001", other),
        None,
        "another port"
    );
    assert_eq!(
        ask(&mut client, "localhost", "http://127.0.0.1"),
        same("http://127.0.0.1")
    );
    assert_eq!(
        ask(&mut client, "localhost", "http://127.0.0.1:80"),
        None,
        "not serialized"
    );
    assert_eq!(
        ask(&mut client, "localhost:9000", "http://[::1]:9000"),
        None
    );
}

#[test]
fn an_unlisted_origin_gets_the_answer_but_no_cors_headers() {
    let server = start();
    // The server answers as usual (it cannot stop a request that has already arrived); it is
    // the browser that will keep the body from the page.
    let reply = get_time(&server, &["Origin: http://evil.test"]);
    assert_eq!(
        reply.head_without_date(),
        time_head(&[("Vary", "Origin"), ("X-CORS-Verdict", BLOCKED)])
    );
}

#[test]
fn origin_null_is_never_allowed() {
    let server = start();
    let reply = get_time(&server, &["Origin: null"]);
    assert_eq!(
        reply.head_without_date(),
        time_head(&[
            ("Vary", "Origin"),
            (
                "X-CORS-Verdict",
                "blocked: Origin null (a sandboxed frame, a file: page) is never on the \
                 allow-list; the page sees status 0",
            ),
        ])
    );
    let mut config = test_config();
    config.extra_origins = vec!["null".to_string()];
    let server = start_custom(config, Vec::new());
    let reply = send(&server, "GET", "/cors", &["Origin: null"]);
    assert_eq!(
        reply.header("access-control-allow-origin"),
        None,
        "not even with --allow-origin null"
    );
}

#[test]
fn without_origin_there_is_nothing_to_check() {
    let server = start();
    let reply = get_time(&server, &[]);
    assert_eq!(
        reply.head_without_date(),
        time_head(&[
            ("Vary", "Origin"),
            (
                "X-CORS-Verdict",
                "not CORS: no Origin header (curl, or a same-origin GET)",
            ),
        ])
    );
}

#[test]
fn allow_origin_adds_an_origin_and_nothing_like_it() {
    let mut config = test_config();
    config.extra_origins = vec!["http://app.test:3000".to_string()];
    let server = start_custom(config, Vec::new());
    let reply = send(&server, "GET", "/cors", &["Origin: http://app.test:3000"]);
    assert_eq!(
        reply.header("access-control-allow-origin"),
        Some("http://app.test:3000")
    );
    assert_eq!(reply.header("x-cors-verdict"), Some(ALLOWED));
    for near_miss in [
        "http://app.test:3000/",
        "http://APP.test:3000",
        "https://app.test:3000",
    ] {
        let reply = send(&server, "GET", "/cors", &[&format!("Origin: {near_miss}")]);
        assert_eq!(
            reply.header("access-control-allow-origin"),
            None,
            "{near_miss}"
        );
    }
}

#[test]
fn two_origin_headers_are_refused() {
    let server = start();
    let reply = send(
        &server,
        "GET",
        "/cors",
        &[&format!("Origin: {PAGE}"), "Origin: http://evil.test"],
    );
    assert_eq!(reply.header("access-control-allow-origin"), None);
    assert_eq!(
        reply.header("x-cors-verdict"),
        Some("blocked: more than one Origin header")
    );
}

#[test]
fn a_preflight_for_an_allowed_put_is_answered_204_with_the_lists() {
    let server = start();
    let reply = send(
        &server,
        "OPTIONS",
        "/cors",
        &[
            "Origin: http://localhost:8088",
            "Access-Control-Request-Method: PUT",
            "Access-Control-Request-Headers: content-type,x-custom-header",
        ],
    );
    assert_eq!(
        reply.head_without_date(),
        head(
            "HTTP/1.1 204 No Content",
            &[
                ("Allow", "GET, HEAD, OPTIONS, POST, PUT"),
                ("Access-Control-Allow-Origin", "http://localhost:8088"),
                ("Access-Control-Allow-Methods", "GET, POST, PUT"),
                (
                    "Access-Control-Allow-Headers",
                    "Content-Type, X-Custom-Header"
                ),
                ("Access-Control-Max-Age", "600"),
                ("Vary", "Origin"),
                (
                    "X-CORS-Verdict",
                    "preflight passes: PUT [content-type, x-custom-header] may follow; \
                     no need to ask again for 600 s",
                ),
            ],
        )
    );
    assert!(reply.body.is_empty());
}

#[test]
fn preflight_header_names_match_in_any_case_over_several_lines() {
    let server = start();
    let reply = send(
        &server,
        "OPTIONS",
        "/cors",
        &[
            &format!("Origin: {PAGE}"),
            "Access-Control-Request-Method: POST",
            "Access-Control-Request-Headers: X-CUSTOM-HEADER",
            "Access-Control-Request-Headers: Content-type",
        ],
    );
    assert_eq!(reply.status, 204);
    assert_eq!(
        reply.header("x-cors-verdict"),
        Some(
            "preflight passes: POST [X-CUSTOM-HEADER, Content-type] may follow; no need to ask again for 600 s"
        )
    );
}

#[test]
fn a_preflight_for_a_method_or_header_not_listed_gets_the_lists_the_browser_will_refuse() {
    let server = start();
    for (method, names, verdict) in [
        (
            "DELETE",
            "",
            "preflight fails: DELETE is not in Access-Control-Allow-Methods",
        ),
        (
            "PATCH",
            "x-custom-header",
            "preflight fails: PATCH is not in Access-Control-Allow-Methods",
        ),
        (
            "PUT",
            "x-custom-header, x-evil",
            "preflight fails: x-evil is not in Access-Control-Allow-Headers",
        ),
        (
            "PUT",
            "authorization",
            "preflight fails: authorization is not in Access-Control-Allow-Headers",
        ),
    ] {
        let reply = send(
            &server,
            "OPTIONS",
            "/cors",
            &[
                &format!("Origin: {PAGE}"),
                &format!("Access-Control-Request-Method: {method}"),
                &format!("Access-Control-Request-Headers: {names}"),
            ],
        );
        // The same fixed lists: the browser compares, and will not send the request.
        assert_eq!(reply.status, 204);
        assert_eq!(reply.header("access-control-allow-origin"), Some(PAGE));
        assert_eq!(
            reply.header("access-control-allow-methods"),
            Some("GET, POST, PUT")
        );
        assert_eq!(
            reply.header("access-control-allow-headers"),
            Some("Content-Type, X-Custom-Header")
        );
        assert_eq!(
            reply.header("x-cors-verdict"),
            Some(verdict),
            "{method} {names}"
        );
    }
}

#[test]
fn a_preflight_from_an_unlisted_origin_gets_no_cors_headers() {
    let server = start();
    for (origin, verdict) in [
        ("http://evil.test", BLOCKED),
        (
            "null",
            "blocked: Origin null (a sandboxed frame, a file: page) is never on the allow-list; \
             the page sees status 0",
        ),
    ] {
        let reply = send(
            &server,
            "OPTIONS",
            "/cors",
            &[
                &format!("Origin: {origin}"),
                "Access-Control-Request-Method: PUT",
            ],
        );
        assert_eq!(
            reply.head_without_date(),
            head(
                "HTTP/1.1 204 No Content",
                &[
                    ("Allow", "GET, HEAD, OPTIONS, POST, PUT"),
                    ("Vary", "Origin"),
                    ("X-CORS-Verdict", verdict),
                ],
            )
        );
    }
}

#[test]
fn options_without_a_request_method_is_not_a_preflight() {
    let server = start();
    let reply = send(&server, "OPTIONS", "/cors", &[&format!("Origin: {PAGE}")]);
    assert_eq!(
        reply.head_without_date(),
        head(
            "HTTP/1.1 204 No Content",
            &[
                ("Allow", "GET, HEAD, OPTIONS, POST, PUT"),
                ("Access-Control-Allow-Origin", PAGE),
                ("Vary", "Origin"),
                ("X-CORS-Verdict", ALLOWED),
            ],
        )
    );
    let reply = send(
        &server,
        "OPTIONS",
        "/cors",
        &["Access-Control-Request-Method: PUT"],
    );
    assert_eq!(
        reply.header("access-control-allow-methods"),
        None,
        "no Origin: not CORS"
    );
}

#[test]
fn the_request_after_the_preflight_is_echoed_and_shared() {
    let server = start();
    let body = r#"{"greeting":"hello"}"#;
    let reply = Client::connect(&server).exchange(format!(
        "PUT /cors HTTP/1.1\r\nHost: 127.0.0.1:8088\r\nOrigin: {PAGE}\r\n\
         Content-Type: application/json\r\nX-Custom-Header: hi there\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    let json = r#"{"method":"PUT","contentType":"application/json","customHeader":"hi there","body":"{\"greeting\":\"hello\"}"}"#;
    assert_eq!(
        reply.head_without_date(),
        head(
            "HTTP/1.1 200 OK",
            &[
                ("Content-Type", "application/json"),
                ("Cache-Control", "no-store"),
                ("Access-Control-Allow-Origin", PAGE),
                ("Vary", "Origin"),
                ("X-CORS-Verdict", ALLOWED),
                ("Content-Length", &json.len().to_string()),
            ],
        )
    );
    assert_eq!(reply.text(), json);
    // A POST of text/plain is a simple request: no preflight came first, and none is needed.
    let reply = Client::connect(&server).exchange(format!(
        "POST /cors HTTP/1.1\r\nHost: 127.0.0.1:8088\r\nOrigin: {PAGE}\r\n\
         Content-Type: text/plain;charset=UTF-8\r\nContent-Length: 5\r\n\r\nhello"
    ));
    assert_eq!(
        reply.text(),
        r#"{"method":"POST","contentType":"text/plain;charset=UTF-8","customHeader":null,"body":"hello"}"#
    );
    assert_eq!(reply.header("access-control-allow-origin"), Some(PAGE));
}

#[test]
fn a_json_body_that_is_not_json_is_400_and_still_readable_by_the_page() {
    let server = start();
    for (body, reason) in [
        (
            &b"{oops}"[..],
            "the body is labelled application/json but is not JSON: expected a quoted name at byte 1\n",
        ),
        (
            &b"\"\xff\""[..],
            "the body is labelled application/json but is not UTF-8\n",
        ),
    ] {
        let mut request = format!(
            "POST /cors HTTP/1.1\r\nHost: 127.0.0.1:8088\r\nOrigin: {PAGE}\r\n\
             Content-Type: Application/JSON; charset=utf-8\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        let reply = Client::connect(&server).exchange(request);
        assert_eq!(reply.status, 400);
        assert_eq!(reply.text(), reason);
        // Without this header the page would see status 0, not the 400 and its reason.
        assert_eq!(reply.header("access-control-allow-origin"), Some(PAGE));
    }
}

#[test]
fn other_methods_on_cors_are_405() {
    let server = start();
    let reply = send(&server, "DELETE", "/cors", &[&format!("Origin: {PAGE}")]);
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("GET, HEAD, OPTIONS, POST, PUT"));
}

const CREDENTIALED: &str = "allowed, with credentials too: the exact origin and \
                            Access-Control-Allow-Credentials: true";

#[test]
fn the_demo_cookie_is_set_for_the_demo_origins_only() {
    let server = start();
    let reply = send(
        &server,
        "POST",
        "/cors/cookie",
        &[&format!("Origin: {PAGE}")],
    );
    assert_eq!(
        reply.head_without_date(),
        head(
            "HTTP/1.1 200 OK",
            &[
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Cache-Control", "no-store"),
                (
                    "Set-Cookie",
                    "webwire_cors=1; Path=/cors; Max-Age=3600; HttpOnly; SameSite=None; \
                     Secure; Partitioned",
                ),
                ("Access-Control-Allow-Origin", PAGE),
                ("Access-Control-Allow-Credentials", "true"),
                ("Vary", "Origin"),
                ("X-CORS-Verdict", CREDENTIALED),
                ("Content-Length", "19"),
            ],
        )
    );
    assert_eq!(reply.text(), "set webwire_cors=1\n");
    // A stranger's request is refused before it changes anything: CORS alone would have let
    // the cookie be stored, and only hidden this answer.
    let reply = send(
        &server,
        "POST",
        "/cors/cookie",
        &["Origin: http://evil.test"],
    );
    assert_eq!(
        reply.head_without_date(),
        head(
            "HTTP/1.1 403 Forbidden",
            &[
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Vary", "Origin"),
                ("X-CORS-Verdict", BLOCKED),
                ("Content-Length", "46"),
            ],
        )
    );
    assert_eq!(
        reply.text(),
        "only the demo origins may set the demo cookie\n"
    );
    let reply = send(&server, "POST", "/cors/cookie", &[]);
    assert_eq!(
        reply.text(),
        "set webwire_cors=2\n",
        "curl is not a browser: no CSRF to fear"
    );
}

#[test]
fn a_credentialed_read_names_the_exact_origin_and_allows_credentials() {
    let server = start();
    let reply = send(
        &server,
        "GET",
        "/cors/cookie",
        &[
            &format!("Origin: {PAGE}"),
            "Cookie: other=1; webwire_cors=5",
        ],
    );
    assert_eq!(
        reply.head_without_date(),
        head(
            "HTTP/1.1 200 OK",
            &[
                ("Content-Type", "application/json"),
                ("Cache-Control", "no-store"),
                ("Access-Control-Allow-Origin", PAGE),
                ("Access-Control-Allow-Credentials", "true"),
                ("Vary", "Origin"),
                ("X-CORS-Verdict", CREDENTIALED),
                ("Content-Length", "14"),
            ],
        )
    );
    assert_eq!(
        reply.text(),
        r#"{"cookie":"5"}"#,
        "only the demo's own cookie is reported"
    );
    let reply = send(
        &server,
        "GET",
        "/cors/cookie?variant=correct",
        &[&format!("Origin: {PAGE}")],
    );
    assert_eq!(reply.text(), r#"{"cookie":null}"#);
    assert_eq!(
        reply.header("access-control-allow-credentials"),
        Some("true")
    );
}

#[test]
fn the_two_wrong_ways_to_answer_a_credentialed_request() {
    let server = start();
    let ask = |variant: &str| {
        let target = format!("/cors/cookie?variant={variant}");
        send(
            &server,
            "GET",
            &target,
            &[&format!("Origin: {PAGE}"), "Cookie: webwire_cors=5"],
        )
    };
    let cors_lines = |reply: &Reply| -> Vec<String> {
        reply
            .headers
            .iter()
            .filter(|(name, _)| name.starts_with("Access-Control") || name == "X-CORS-Verdict")
            .map(|(name, value)| format!("{name}: {value}"))
            .collect()
    };
    let wildcard = ask("wildcard");
    assert_eq!(
        wildcard.text(),
        r#"{"cookie":"5"}"#,
        "the cookie arrived all the same"
    );
    assert_eq!(
        cors_lines(&wildcard),
        [
            "Access-Control-Allow-Origin: *",
            "Access-Control-Allow-Credentials: true",
            "X-CORS-Verdict: blocked if sent with credentials: Access-Control-Allow-Origin: * \
             never shares those; the page sees status 0",
        ]
    );
    let without = ask("no-allow-credentials");
    assert_eq!(without.text(), r#"{"cookie":"5"}"#);
    assert_eq!(
        cors_lines(&without),
        [
            format!("Access-Control-Allow-Origin: {PAGE}").as_str(),
            "X-CORS-Verdict: blocked if sent with credentials: no \
             Access-Control-Allow-Credentials: true; the page sees status 0",
        ]
    );
    let unknown = ask("maybe");
    assert_eq!(unknown.status, 400);
    assert_eq!(
        unknown.text(),
        "variant must be correct, wildcard or no-allow-credentials\n"
    );
    assert_eq!(unknown.header("access-control-allow-origin"), Some(PAGE));
    let stranger = send(
        &server,
        "GET",
        "/cors/cookie",
        &["Origin: http://evil.test"],
    );
    assert_eq!(
        cors_lines(&stranger),
        [format!("X-CORS-Verdict: {BLOCKED}").as_str()]
    );
}

#[test]
fn exposed_headers_are_listed_and_the_safelisted_ones_need_no_listing() {
    let server = start();
    let reply = send(
        &server,
        "GET",
        "/cors/headers",
        &[&format!("Origin: {PAGE}")],
    );
    assert_eq!(
        reply.head_without_date(),
        head(
            "HTTP/1.1 200 OK",
            &[
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Cache-Control", "no-store"),
                ("Content-Language", "en"),
                ("Expires", "0"),
                ("Last-Modified", "Thu, 16 Jan 2014 00:00:00 GMT"),
                ("Pragma", "no-cache"),
                ("ETag", "\"v1\""),
                ("X-Request-Count", "1"),
                ("X-Request-Id", "cors-1"),
                ("Access-Control-Expose-Headers", "X-Request-Count"),
                ("Access-Control-Allow-Origin", PAGE),
                ("Vary", "Origin"),
                ("X-CORS-Verdict", ALLOWED),
                ("Content-Length", "34"),
            ],
        )
    );
    assert_eq!(reply.text(), "Which of my headers may you read?\n");
    let reply = send(
        &server,
        "GET",
        "/cors/headers",
        &["Origin: http://evil.test"],
    );
    assert_eq!(reply.header("x-request-count"), Some("2"));
    assert_eq!(reply.header("access-control-expose-headers"), None);
    assert_eq!(reply.header("access-control-allow-origin"), None);
}

#[test]
fn every_cors_answer_varies_by_origin() {
    let server = start();
    for (method, target) in [
        ("GET", "/cors"),
        ("HEAD", "/cors"),
        ("OPTIONS", "/cors"),
        ("POST", "/cors"),
        ("PUT", "/cors"),
        ("GET", "/cors/cookie"),
        ("POST", "/cors/cookie"),
        ("GET", "/cors/headers"),
    ] {
        for origin in [None, Some(PAGE), Some("http://evil.test"), Some("null")] {
            let origin_line = origin
                .map(|o| format!("Origin: {o}\r\n"))
                .unwrap_or_default();
            let request = format!(
                "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:8088\r\n{origin_line}\
                 Content-Length: 0\r\n\r\n"
            );
            let mut client = Client::connect(&server);
            client.send(request);
            let reply = client.read_reply_to(method == "HEAD");
            assert_eq!(
                reply.header("vary"),
                Some("Origin"),
                "{method} {target} {origin:?}"
            );
            assert!(
                reply.header("x-cors-verdict").is_some(),
                "{method} {target} {origin:?}"
            );
        }
    }
}

#[test]
fn the_log_shows_what_the_server_saw_even_when_the_page_cannot() {
    let server = start();
    send(&server, "GET", "/cors", &["Origin: http://evil.test"]);
    send(
        &server,
        "OPTIONS",
        "/cors",
        &[
            &format!("Origin: {PAGE}"),
            "Access-Control-Request-Method: DELETE",
        ],
    );
    send(
        &server,
        "GET",
        "/cors/cookie?variant=wildcard",
        &[&format!("Origin: {PAGE}"), "Cookie: webwire_cors=3"],
    );
    let reply = support::get(&server, "/cors/log");
    assert_eq!(
        reply.head_without_date(),
        head(
            "HTTP/1.1 200 OK",
            &[
                ("Content-Type", "application/json"),
                ("Cache-Control", "no-store"),
                ("Access-Control-Allow-Origin", "*"),
                ("Content-Length", &reply.body.len().to_string()),
            ],
        )
    );
    // `support::get` says `Host: test`: no port, so http's 80, and origins without one.
    assert_eq!(
        reply.text(),
        concat!(
            r#"{"preflights":1,"requests":2,"allowList":["http://localhost","http://127.0.0.1"],"recent":["#,
            r#"{"n":1,"method":"GET","target":"/cors","origin":"http://evil.test","requestMethod":null,"requestHeaders":null,"cookie":null,"status":200,"verdict":"blocked: this origin is not on the allow-list, so no Access-Control-Allow-Origin; the page sees status 0"},"#,
            r#"{"n":2,"method":"OPTIONS","target":"/cors","origin":"http://localhost:8088","requestMethod":"DELETE","requestHeaders":null,"cookie":null,"status":204,"verdict":"preflight fails: DELETE is not in Access-Control-Allow-Methods"},"#,
            r#"{"n":3,"method":"GET","target":"/cors/cookie?variant=wildcard","origin":"http://localhost:8088","requestMethod":null,"requestHeaders":null,"cookie":"3","status":200,"verdict":"blocked if sent with credentials: Access-Control-Allow-Origin: * never shares those; the page sees status 0"}]}"#
        )
    );
}

#[test]
fn the_log_keeps_only_the_newest_requests() {
    let server = start();
    let mut client = Client::connect(&server);
    let kept = webwire::demos::cors::CORS_RECENT;
    for n in 0..kept + 3 {
        client.exchange(format!("GET /cors?n={n} HTTP/1.1\r\nHost: h\r\n\r\n"));
    }
    let text = support::get(&server, "/cors/log").text();
    assert!(text.starts_with(&format!(r#"{{"preflights":0,"requests":{},"#, kept + 3)));
    assert_eq!(text.matches(r#""method":"GET""#).count(), kept);
    assert!(
        text.contains(r#""n":4,"method":"GET","target":"/cors?n=3""#),
        "{text}"
    );
    assert!(
        !text.contains(r#""target":"/cors?n=2""#),
        "the three oldest are gone"
    );
}
