//! The ajax demo's endpoints over raw TCP: `docs/02-ajax.md`, checked on the bytes a browser
//! would receive.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod support;

use std::time::Duration;

use support::{Client, Reply, get, head, start_custom, test_config};
use webwire::Running;
use webwire::http::multipart::{MAX_PART_BYTES, MAX_PARTS};

/// The ajax demo alone, with a 20 ms tick so the default waits are short.
fn server() -> Running {
    let mut config = test_config();
    config.demo = Some("ajax".to_string());
    config.tick = Duration::from_millis(20);
    start_custom(config, Vec::new())
}

/// A request with a body, on a fresh connection.
fn send(server: &Running, method: &str, content_type: &str, body: &[u8]) -> Reply {
    let mut request = format!(
        "{method} /ajax/echo HTTP/1.1\r\nHost: test\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    Client::connect(server).exchange(request)
}

/// The exact head of a 400 with `reason` as its body.
fn bad_request_head(reason: &str) -> String {
    head(
        "HTTP/1.1 400 Bad Request",
        &[
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", &(reason.len() + 1).to_string()),
        ],
    )
}

fn assert_bad_request(reply: &Reply, reason: &str) {
    assert_eq!(reply.head_without_date(), bad_request_head(reason));
    assert_eq!(reply.text(), format!("{reason}\n"));
}

/// The report's `body` field, which is its last.
fn body_field(reply: &Reply) -> String {
    let text = reply.text();
    let start = text.find(",\"body\":").expect("a body field") + 8;
    let end = text
        .trim_end()
        .strip_suffix('}')
        .expect("the report's closing brace");
    end[start..].to_string()
}

// ---- /ajax/echo ------------------------------------------------------------------------------

#[test]
fn echo_reports_a_get_with_its_decoded_query_and_headers_in_order() {
    let server = server();
    // What addURLParam() builds: encodeURIComponent on every name and value.
    let target = "/ajax/echo?name=Nicholas%20Zakas&book=Ajax%20%26%20Comet&a%3Db=1%2B1%3D2\
                  &%E5%9F%8E%E5%B8%82=%E5%8C%97%E4%BA%AC";
    let reply = Client::connect(&server).exchange(format!(
        "GET {target} HTTP/1.1\r\nHost: test\r\nMyHeader: MyValue\r\naccept: */*\r\n\r\n"
    ));
    let body = format!(
        "{{\"method\":\"GET\",\"target\":\"{target}\",\"path\":\"/ajax/echo\",\
         \"query\":[[\"name\",\"Nicholas Zakas\"],[\"book\",\"Ajax & Comet\"],[\"a=b\",\"1+1=2\"],\
         [\"城市\",\"北京\"]],\
         \"headers\":[[\"Host\",\"test\"],[\"MyHeader\",\"MyValue\"],[\"accept\",\"*/*\"]],\
         \"body\":{{\"type\":\"\",\"bytes\":0,\"kind\":\"none\"}}}}\n"
    );
    assert_eq!(
        reply.head_without_date(),
        head(
            "HTTP/1.1 200 OK",
            &[
                ("Content-Type", "application/json"),
                ("Cache-Control", "no-store"),
                ("MyHeader", "MyValue"),
                ("Content-Length", &body.len().to_string()),
            ],
        )
    );
    assert_eq!(reply.text(), body);
}

#[test]
fn the_exchange_in_the_module_comment_is_exact() {
    let server = server();
    let reply = Client::connect(&server).exchange(
        "GET /ajax/echo?q=a%20b HTTP/1.1\r\nHost: localhost:8088\r\nMyHeader: MyValue\r\n\r\n",
    );
    assert_eq!(
        reply.head_without_date(),
        head(
            "HTTP/1.1 200 OK",
            &[
                ("Content-Type", "application/json"),
                ("Cache-Control", "no-store"),
                ("MyHeader", "MyValue"),
                ("Content-Length", "193"),
            ],
        )
    );
    assert_eq!(
        reply.text(),
        concat!(
            r#"{"method":"GET","target":"/ajax/echo?q=a%20b","path":"/ajax/echo","query":[["q","a b"]],"#,
            r#""headers":[["Host","localhost:8088"],["MyHeader","MyValue"]],"#,
            r#""body":{"type":"","bytes":0,"kind":"none"}}"#,
            "\n"
        )
    );
}

#[test]
fn echo_parses_each_body_by_its_content_type() {
    let server = server();
    let cases: &[(&str, &str, &[u8], &str)] = &[
        (
            "POST",
            "application/x-www-form-urlencoded",
            b"name=Nicholas+Zakas&book=Ajax%20%26%20Comet&empty=",
            r#"{"type":"application/x-www-form-urlencoded","bytes":50,"kind":"form","fields":[["name","Nicholas Zakas"],["book","Ajax & Comet"],["empty",""]]}"#,
        ),
        (
            "PUT",
            "application/json; charset=UTF-8",
            b" {\"name\": \"\xe5\x8c\x97\", \"tags\": [1, true, null]}\n",
            r#"{"type":"application/json; charset=UTF-8","bytes":42,"kind":"json","json":{"name": "北", "tags": [1, true, null]}}"#,
        ),
        (
            "PATCH",
            "text/plain;charset=UTF-8",
            b"two\nlines \"quoted\"",
            r#"{"type":"text/plain;charset=UTF-8","bytes":18,"kind":"text","text":"two\nlines \"quoted\""}"#,
        ),
        (
            "DELETE",
            "application/octet-stream",
            b"\x00\x01\x02",
            r#"{"type":"application/octet-stream","bytes":3,"kind":"bytes"}"#,
        ),
        (
            "POST",
            "APPLICATION/X-WWW-FORM-URLENCODED",
            b"",
            r#"{"type":"APPLICATION/X-WWW-FORM-URLENCODED","bytes":0,"kind":"form","fields":[]}"#,
        ),
    ];
    for (method, content_type, body, want) in cases {
        let reply = send(&server, method, content_type, body);
        assert_eq!(
            reply.status,
            200,
            "{method} {content_type}: {}",
            reply.text()
        );
        assert!(
            reply
                .text()
                .starts_with(&format!("{{\"method\":\"{method}\"")),
            "{}",
            reply.text()
        );
        assert_eq!(body_field(&reply), *want, "{method} {content_type}");
    }
}

#[test]
fn echo_parses_multipart_bodies_by_hand() {
    let server = server();
    let ct = "multipart/form-data; boundary=----WebKitFormBoundaryx9Qe4DoZ1rLwPJ2c";
    let chromium: &[u8] = b"------WebKitFormBoundaryx9Qe4DoZ1rLwPJ2c\r\n\
        Content-Disposition: form-data; name=\"name\"\r\n\r\n\
        Nicholas\r\n\
        ------WebKitFormBoundaryx9Qe4DoZ1rLwPJ2c\r\n\
        Content-Disposition: form-data; name=\"file\"; filename=\"hello.txt\"\r\n\
        Content-Type: text/plain\r\n\r\n\
        hello\n\r\n\
        ------WebKitFormBoundaryx9Qe4DoZ1rLwPJ2c--\r\n";
    let too_large = format!(
        "--b\r\nContent-Disposition: form-data; name=f; filename=big.bin\r\n\r\n{}\r\n--b--\r\n",
        "x".repeat(MAX_PART_BYTES + 1)
    );
    let too_many = "--b\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n"
        .repeat(MAX_PARTS + 1)
        + "--b--\r\n";
    // (content type, body, the report's body field or the 400's reason)
    let cases: &[(&str, &[u8], Result<&str, &str>)] = &[
        (
            ct,
            chromium,
            Ok(concat!(
                r#"{"type":"multipart/form-data; boundary=----WebKitFormBoundaryx9Qe4DoZ1rLwPJ2c","#,
                r#""bytes":288,"kind":"multipart","parts":["#,
                r#"{"name":"name","filename":null,"type":null,"size":8,"value":"Nicholas"},"#,
                r#"{"name":"file","filename":"hello.txt","type":"text/plain","size":6}]}"#
            )),
        ),
        (
            "multipart/form-data; boundary=\"b\"",
            b"--b--\r\n",
            Ok(
                r#"{"type":"multipart/form-data; boundary=\"b\"","bytes":7,"kind":"multipart","parts":[]}"#,
            ),
        ),
        (
            "multipart/form-data",
            chromium,
            Err("multipart/form-data needs a boundary parameter"),
        ),
        (
            "multipart/form-data; boundary=wrong",
            chromium,
            Err("the body does not start with the boundary its Content-Type names"),
        ),
        (
            "multipart/form-data; boundary=",
            chromium,
            Err("the boundary must be 1 to 70 letters, digits or '()+_,-./:=? characters"),
        ),
        (
            "multipart/form-data; boundary=b",
            b"--b\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n",
            Err("the body ends before the closing boundary (--boundary--)"),
        ),
        (
            "multipart/form-data; boundary=b",
            b"--b\r\nContent-Type: text/plain\r\n\r\n1\r\n--b--",
            Err("a part has no Content-Disposition: form-data with a name"),
        ),
        (
            "multipart/form-data; boundary=b",
            too_large.as_bytes(),
            Err("a part is larger than 512 KiB"),
        ),
        (
            "multipart/form-data; boundary=b",
            too_many.as_bytes(),
            Err("more than 64 parts"),
        ),
    ];
    for (content_type, body, want) in cases {
        let reply = send(&server, "POST", content_type, body);
        match want {
            Ok(field) => {
                assert_eq!(reply.status, 200, "{}", reply.text());
                assert_eq!(body_field(&reply), *field);
            }
            Err(reason) => assert_bad_request(&reply, reason),
        }
    }
}

#[test]
fn echo_rejects_a_json_body_that_is_not_json() {
    let server = server();
    let cases: &[(&[u8], &str)] = &[
        (b"{\"a\":", "not JSON: expected a value at byte 5"),
        (b"", "not JSON: expected a value at byte 0"),
        (b"{'a': 1}", "not JSON: expected a quoted name at byte 1"),
        (b"\"\xff\"", "the JSON body is not UTF-8"),
    ];
    for (body, reason) in cases {
        assert_bad_request(&send(&server, "POST", "application/json", body), reason);
    }
}

#[test]
fn a_bad_body_costs_one_400_and_the_connection_carries_on() {
    let server = server();
    let mut client = Client::connect(&server);
    let reply = client.exchange(
        "POST /ajax/echo HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
         Content-Length: 3\r\n\r\nnot",
    );
    assert_bad_request(&reply, "not JSON: expected true, false or null at byte 0");
    let reply = client.exchange("GET /ajax/echo?after=400 HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(reply.status, 200);
    assert!(reply.text().contains(r#""query":[["after","400"]]"#));
}

#[test]
fn echo_answers_head_options_and_refuses_trace_and_connect() {
    let server = server();
    let mut client = Client::connect(&server);
    client.send("HEAD /ajax/echo HTTP/1.1\r\nHost: test\r\n\r\n");
    let to_head = client.read_reply_to(true);
    assert_eq!(to_head.status, 200);
    assert!(to_head.body.is_empty());
    let length: usize = to_head.header("content-length").unwrap().parse().unwrap();
    // The length is that of the report a GET would get, which says "HEAD" instead of "GET".
    let get = client.exchange("GET /ajax/echo HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(length, get.body.len() + 1);

    let allow = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";
    let reply = client.exchange("OPTIONS /ajax/echo HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(
        reply.head_without_date(),
        head("HTTP/1.1 204 No Content", &[("Allow", allow),],)
    );
    let reply = client.exchange("TRACE /ajax/echo HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some(allow));
    assert_eq!(
        reply.text(),
        "TRACE is disabled: it echoes the request, cookies included (cross-site tracing)\n"
    );
    let reply = client.exchange("CONNECT test:443 HTTP/1.1\r\nHost: test:443\r\n\r\n");
    assert_eq!(reply.status, 501);
    assert_eq!(
        reply.text(),
        "CONNECT is for proxies, and this is not one\n"
    );
}

// ---- /ajax/slow ------------------------------------------------------------------------------

/// The head of a plain-text answer of `length` bytes.
fn text_head(length: usize) -> String {
    head(
        "HTTP/1.1 200 OK",
        &[
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Cache-Control", "no-store"),
            ("Content-Length", &length.to_string()),
        ],
    )
}

#[test]
fn slow_answers_after_the_wait_asked_or_one_tick() {
    let server = server();
    let reply = get(&server, "/ajax/slow?ms=30");
    assert_eq!(reply.head_without_date(), text_head(21));
    assert_eq!(reply.text(), "answered after 30 ms\n");
    assert_eq!(get(&server, "/ajax/slow").text(), "answered after 20 ms\n");
    assert_eq!(
        get(&server, "/ajax/slow?ms=0").text(),
        "answered after 0 ms\n"
    );
}

#[test]
fn slow_refuses_waits_out_of_range() {
    let server = server();
    for ms in [
        "-1",
        "30001",
        "1.5",
        "+5",
        "",
        "ten",
        "99999999999999999999999",
    ] {
        let reply = get(&server, &format!("/ajax/slow?ms={ms}"));
        assert_bad_request(&reply, "ms must be a whole number from 0 to 30000");
    }
}

// ---- /ajax/large -----------------------------------------------------------------------------

/// What `/ajax/large` sends: its 64-byte line, repeated and cut to `bytes`.
fn large_body(bytes: usize) -> Vec<u8> {
    let line = b"webwire /ajax/large: sixty-four bytes, sent again and again....\n";
    line.iter().copied().cycle().take(bytes).collect()
}

#[test]
fn large_sends_a_content_length_body_and_keeps_the_connection() {
    let server = server();
    let mut client = Client::connect(&server);
    let reply = client.exchange("GET /ajax/large?bytes=1000&ms=40 HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(reply.head_without_date(), text_head(1000));
    assert_eq!(reply.body, large_body(1000));
    // Framed by its length, not by closing: the same connection serves the next request.
    let reply = client.exchange("GET /ajax/large?bytes=0 HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(reply.head_without_date(), text_head(0));
    client.send("HEAD /ajax/large?bytes=5 HTTP/1.1\r\nHost: test\r\n\r\n");
    let head = client.read_reply_to(true);
    assert_eq!(head.head_without_date(), text_head(5));
    let reply = client.exchange("GET /ajax/large?bytes=7&ms=0 HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(reply.text(), "webwire");
}

#[test]
fn large_sends_one_mebibyte_over_two_ticks_by_default() {
    let server = server();
    let reply = get(&server, "/ajax/large");
    assert_eq!(reply.head_without_date(), text_head(1024 * 1024));
    assert_eq!(reply.body, large_body(1024 * 1024));
}

#[test]
fn large_refuses_sizes_and_times_out_of_range() {
    let server = server();
    let cases = [
        (
            "bytes=4194305",
            "bytes must be a whole number from 0 to 4194304",
        ),
        ("bytes=-1", "bytes must be a whole number from 0 to 4194304"),
        ("bytes=1k", "bytes must be a whole number from 0 to 4194304"),
        ("ms=30001", "ms must be a whole number from 0 to 30000"),
        ("bytes=10&ms=x", "ms must be a whole number from 0 to 30000"),
    ];
    for (query, reason) in cases {
        assert_bad_request(&get(&server, &format!("/ajax/large?{query}")), reason);
    }
}

// ---- /ajax/xml-as-text and /ajax/cached ------------------------------------------------------

#[test]
fn xml_is_served_as_plain_text() {
    let server = server();
    let reply = get(&server, "/ajax/xml-as-text");
    let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<books>\n  \
               <book year=\"2005\">Professional Ajax</book>\n  \
               <book year=\"2012\">Professional JavaScript for Web Developers</book>\n  \
               <book year=\"2013\">Ajax and Comet</book>\n</books>\n";
    assert_eq!(reply.head_without_date(), text_head(xml.len()));
    assert_eq!(reply.text(), xml);
}

#[test]
fn cached_answers_304_to_its_own_etag() {
    let server = server();
    let full = head(
        "HTTP/1.1 200 OK",
        &[
            ("ETag", "\"ajax-cached-v1\""),
            ("Cache-Control", "no-cache"),
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", "54"),
        ],
    );
    let not_modified = head(
        "HTTP/1.1 304 Not Modified",
        &[
            ("ETag", "\"ajax-cached-v1\""),
            ("Cache-Control", "no-cache"),
        ],
    );
    let reply = get(&server, "/ajax/cached");
    assert_eq!(reply.head_without_date(), full);
    assert_eq!(
        reply.text(),
        "This text has not changed since it was first written.\n"
    );
    let cases = [
        ("\"ajax-cached-v1\"", &not_modified),
        ("W/\"ajax-cached-v1\"", &not_modified),
        ("\"old\", \"ajax-cached-v1\"", &not_modified),
        ("*", &not_modified),
        ("\"old\"", &full),
        ("ajax-cached-v1", &full),
    ];
    let mut client = Client::connect(&server);
    for (tags, want) in cases {
        let reply = client.exchange(format!(
            "GET /ajax/cached HTTP/1.1\r\nHost: test\r\nIf-None-Match: {tags}\r\n\r\n"
        ));
        assert_eq!(&reply.head_without_date(), want, "If-None-Match: {tags}");
    }
}
