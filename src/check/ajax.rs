//! The rules of Ajax's endpoints (`docs/02-ajax.md`, its exercise), checked against the five
//! paths under the URL given: `<url>/echo`, `<url>/slow`, `<url>/large`, `<url>/xml-as-text`
//! and `<url>/cached` (on webwire, `<url>` is `http://localhost:8088/ajax`).
//!
//! Nothing about an Ajax request is special on the wire, so these rules are about what the
//! chapter's endpoints promise a page: the echo reports exactly what arrived (method, target,
//! the query and a form decoded as a browser encodes them, every header line as sent, the body
//! parsed by its media type), the slow answer is late, the large one has a `Content-Length`
//! and arrives over time, the XML is mislabelled on purpose, and the cached text answers its
//! own `ETag` with a `304` and no body (RFC 9110 §13.1.2: `If-None-Match` compares weakly).
//!
//! The echo's report is read as JSON (`json_reader`), so spacing, member order and escapes
//! are the server's to choose; what it holds is compared exactly.

use std::thread;
use std::time::{Duration, Instant};

use super::client::{self, Connection, Exchange, Head, Url};
use super::json_reader::{Json, read_json};
use super::{MAX_SHOWN_BYTES, Report, Rule, Target, Technique, show, wait_for_bytes};

pub static TECHNIQUE: Technique = Technique {
    name: "ajax",
    chapter: "02-ajax.md",
    endpoint: "/ajax",
    rules: &[
        &ECHO,
        &ECHO_METHODS,
        &ECHO_TARGET,
        &ECHO_QUERY,
        &ECHO_HEADERS,
        &MY_HEADER,
        &HEAD,
        &OPTIONS,
        &TRACE,
        &BODY_NONE,
        &BODY_FORM,
        &BODY_JSON,
        &BODY_TEXT,
        &BODY_MULTIPART,
        &BODY_BYTES,
        &MEDIA_TYPE,
        &BODY_CUT,
        &BAD_JSON,
        &BAD_MULTIPART,
        &SLOW,
        &LARGE,
        &LARGE_PACED,
        &BAD_NUMBERS,
        &XML_AS_TEXT,
        &ETAG,
        &NOT_MODIFIED,
        &WEAK_MATCH,
        &NO_MATCH,
    ],
    run,
};

/// The exercise's sections (chapter 02), one per group of rules below.
const ECHO_SECTION: &str = "The echo";
const BODY_SECTION: &str = "The body in the report";
const TIMING_SECTION: &str = "Slow, large and mislabelled";
const CACHED_SECTION: &str = "The cached text";

static ECHO: Rule = Rule {
    id: "ajax.echo",
    says: "GET <url>/echo answers 200, Content-Type: application/json, Cache-Control: no-store, \
           and a JSON object with method, target, path, query, headers and body",
    section: ECHO_SECTION,
};
static ECHO_METHODS: Rule = Rule {
    id: "ajax.echo-methods",
    says: "GET, POST, PUT, PATCH and DELETE <url>/echo each answer 200 with the method as sent \
           in \"method\"",
    section: ECHO_SECTION,
};
static ECHO_TARGET: Rule = Rule {
    id: "ajax.echo-target",
    says: "\"target\" is the request target exactly as sent, still encoded, and \"path\" the \
           path without the query",
    section: ECHO_SECTION,
};
static ECHO_QUERY: Rule = Rule {
    id: "ajax.echo-query",
    says: "\"query\" lists the query's [name, value] pairs in order, repeats kept, decoded as a \
           form: + a space, %XX a byte, bad UTF-8 U+FFFD, a broken escape kept",
    section: ECHO_SECTION,
};
static ECHO_HEADERS: Rule = Rule {
    id: "ajax.echo-headers",
    says: "\"headers\" lists every header line as [name, value], in the order sent, names \
           spelled as sent, values without the spaces around them",
    section: ECHO_SECTION,
};
static MY_HEADER: Rule = Rule {
    id: "ajax.my-header",
    says: "a request's MyHeader comes back as a MyHeader response header with the same value, \
           and a request without one gets none",
    section: ECHO_SECTION,
};
static HEAD: Rule = Rule {
    id: "ajax.head",
    says: "HEAD <url>/echo answers 200, application/json, no body, and the Content-Length of \
           the report a GET gets plus one (HEAD is one letter longer)",
    section: ECHO_SECTION,
};
static OPTIONS: Rule = Rule {
    id: "ajax.options",
    says: "OPTIONS <url>/echo answers 204 with an Allow header listing GET, HEAD, POST, PUT, \
           PATCH, DELETE and OPTIONS",
    section: ECHO_SECTION,
};
static TRACE: Rule = Rule {
    id: "ajax.trace",
    says: "TRACE <url>/echo gets 405 Method Not Allowed, with an Allow header that lists GET \
           and not TRACE",
    section: ECHO_SECTION,
};

static BODY_NONE: Rule = Rule {
    id: "ajax.body-none",
    says: "with no body and no Content-Type, \"body\" is {\"type\":\"\",\"bytes\":0,\
           \"kind\":\"none\"}",
    section: BODY_SECTION,
};
static BODY_FORM: Rule = Rule {
    id: "ajax.body-form",
    says: "an application/x-www-form-urlencoded body is kind form, its \"fields\" decoded as \
           the query is",
    section: BODY_SECTION,
};
static BODY_JSON: Rule = Rule {
    id: "ajax.body-json",
    says: "an application/json body is kind json, the body itself embedded as a JSON value in \
           \"json\"",
    section: BODY_SECTION,
};
static BODY_TEXT: Rule = Rule {
    id: "ajax.body-text",
    says: "a text/* body is kind text, the body as a JSON string in \"text\"",
    section: BODY_SECTION,
};
static BODY_MULTIPART: Rule = Rule {
    id: "ajax.body-multipart",
    says: "a multipart/form-data body is kind multipart, each part {name, filename, type, \
           size}, and a value for a part without a filename",
    section: BODY_SECTION,
};
static BODY_BYTES: Rule = Rule {
    id: "ajax.body-bytes",
    says: "a body of any other type is kind bytes, with only type and bytes",
    section: BODY_SECTION,
};
static MEDIA_TYPE: Rule = Rule {
    id: "ajax.media-type",
    says: "media types are compared without case and without parameters: \
           TEXT/Csv;charset=utf-8 is text, Application/X-WWW-Form-Urlencoded; charset=UTF-8 a form",
    section: BODY_SECTION,
};
static BODY_CUT: Rule = Rule {
    id: "ajax.body-cut",
    says: "a body over 16 KiB is counted but not shown: 64 KiB of text/plain is reported with \
           \"bytes\":65536, \"text\":null and \"cut\":true",
    section: BODY_SECTION,
};
static BAD_JSON: Rule = Rule {
    id: "ajax.bad-json",
    says: "an application/json body that is not JSON gets 400, text/plain, one line saying why",
    section: BODY_SECTION,
};
static BAD_MULTIPART: Rule = Rule {
    id: "ajax.bad-multipart",
    says: "a multipart/form-data body without a boundary parameter, or with another boundary \
           than its Content-Type names, gets 400, text/plain, one line saying why",
    section: BODY_SECTION,
};

static SLOW: Rule = Rule {
    id: "ajax.slow",
    says: "GET <url>/slow?ms=250 answers 200, text/plain, answered after 250 ms and a line \
           feed, not before 250 ms have passed (and ?ms=0 says 0 ms)",
    section: TIMING_SECTION,
};
static LARGE: Rule = Rule {
    id: "ajax.large",
    says: "GET <url>/large?bytes=N answers 200, text/plain, Content-Length: N (not chunked) and \
           N bytes of the chapter's 64-byte line repeated; 1048576 bytes without bytes=",
    section: TIMING_SECTION,
};
static LARGE_PACED: Rule = Rule {
    id: "ajax.large-paced",
    says: "GET <url>/large?bytes=2000&ms=400 spreads its body over time: the last byte comes \
           at least 200 ms after the head",
    section: TIMING_SECTION,
};
static BAD_NUMBERS: Rule = Rule {
    id: "ajax.bad-numbers",
    says: "an ms outside 0 to 30000, a bytes outside 0 to 4194304, or either not plain digits, \
           gets 400, text/plain, one line saying why",
    section: TIMING_SECTION,
};
static XML_AS_TEXT: Rule = Rule {
    id: "ajax.xml-as-text",
    says: "GET <url>/xml-as-text answers 200 with an XML document (<?xml …) labelled \
           Content-Type: text/plain",
    section: TIMING_SECTION,
};

static ETAG: Rule = Rule {
    id: "ajax.etag",
    says: "GET <url>/cached answers 200 with an ETag (a quoted entity tag), Cache-Control: \
           no-cache and a body",
    section: CACHED_SECTION,
};
static NOT_MODIFIED: Rule = Rule {
    id: "ajax.not-modified",
    says: "If-None-Match: <its ETag> gets 304 Not Modified, the same ETag and Cache-Control, \
           and not a byte of body",
    section: CACHED_SECTION,
};
static WEAK_MATCH: Rule = Rule {
    id: "ajax.weak-match",
    says: "If-None-Match compares weakly and reads lists: W/\"tag\", \"old\", \"tag\", the two \
           on two header lines, and * each get 304",
    section: CACHED_SECTION,
};
static NO_MATCH: Rule = Rule {
    id: "ajax.no-match",
    says: "If-None-Match with only other tags (\"old\", W/\"old\", the tag without its quotes) \
           gets the full 200",
    section: CACHED_SECTION,
};

/// The rules that read the echo's report: skipped when there is no report to read.
const REPORT_RULES: [&Rule; 16] = [
    &ECHO_METHODS,
    &ECHO_TARGET,
    &ECHO_QUERY,
    &ECHO_HEADERS,
    &MY_HEADER,
    &HEAD,
    &BODY_NONE,
    &BODY_FORM,
    &BODY_JSON,
    &BODY_TEXT,
    &BODY_MULTIPART,
    &BODY_BYTES,
    &MEDIA_TYPE,
    &BODY_CUT,
    &BAD_JSON,
    &BAD_MULTIPART,
];

fn run(target: &Target, report: &mut Report) {
    echo_rules(target, report);
    report.record(&OPTIONS, options(target));
    report.record(&TRACE, trace(target));
    timing_rules(target, report);
    cached_rules(target, report);
}

// ---- the echo --------------------------------------------------------------------------------

fn echo_rules(target: &Target, report: &mut Report) {
    let url = target.url.joined("/echo");
    let first = match client::get(&url, target.patience, &[]) {
        Ok(answer) => answer,
        Err(why) => {
            report.record(&ECHO, Err(format!("GET {}: {why}", url.target)));
            skip_report_rules(report);
            return;
        }
    };
    let plain = match echo_answer(&first) {
        Ok(plain) => plain,
        Err(why) => {
            report.record(&ECHO, Err(format!("GET {}: {why}", url.target)));
            skip_report_rules(report);
            return;
        }
    };
    report.record(
        &ECHO,
        echo_head(&first.head).map_err(|why| format!("GET {}: {why}", url.target)),
    );
    report.record(
        &BODY_NONE,
        body_is(&plain, NONE_BODY).map_err(|why| format!("GET {}: {why}", url.target)),
    );
    report.record(
        &MY_HEADER,
        match first.head.header("MyHeader") {
            None => Ok(()),
            Some(_) => Err(format!(
                "GET {} without MyHeader got one back: {}",
                url.target,
                first.head.shown()
            )),
        },
    );
    report.record(&ECHO_METHODS, methods(target, &url));
    report.record(&ECHO_TARGET, echo_target(target, &url));
    report.record(&ECHO_QUERY, echo_query(target, &url));
    report.record(&ECHO_HEADERS, echo_headers(target, &url));
    report.record(&MY_HEADER, my_header(target, &url));
    report.record(&HEAD, head(target, &url, &first));
    body_rules(target, &url, report);
}

fn skip_report_rules(report: &mut Report) {
    for rule in REPORT_RULES {
        report.skip(rule, "the echo gave no report to read (ajax.echo)");
    }
}

/// The headers every report carries: JSON, and never stored by a cache.
fn echo_head(head: &Head) -> Result<(), String> {
    if head.media_type().as_deref() != Some("application/json") {
        return Err(format!(
            "not Content-Type: application/json: {}",
            head.shown()
        ));
    }
    if !head.lists("Cache-Control", "no-store") {
        return Err(format!(
            "no Cache-Control: no-store (a cached echo would report an old request): {}",
            head.shown()
        ));
    }
    Ok(())
}

/// The gate: a `200` whose body is a JSON object with the report's six members, of the
/// right kinds. What they hold is for the other rules.
fn echo_answer(answer: &Exchange) -> Result<Json, String> {
    if answer.head.status != 200 {
        return Err(format!("status {}: {}", answer.head.status, answer.shown()));
    }
    let report = read_json(&answer.text()).map_err(|e| format!("{e}: {}", answer.shown()))?;
    // Each member and whether its value is of the right kind.
    let kinds = [
        (
            "method",
            matches!(report.get("method"), Some(Json::String(_))),
        ),
        (
            "target",
            matches!(report.get("target"), Some(Json::String(_))),
        ),
        ("path", matches!(report.get("path"), Some(Json::String(_)))),
        ("query", matches!(report.get("query"), Some(Json::Array(_)))),
        (
            "headers",
            matches!(report.get("headers"), Some(Json::Array(_))),
        ),
        ("body", matches!(report.get("body"), Some(Json::Object(_)))),
    ];
    for (name, right) in kinds {
        if !right {
            return Err(format!(
                "the report has no {name} (method, target and path are strings, query and \
                 headers arrays, body an object): {}",
                answer.shown()
            ));
        }
    }
    Ok(report)
}

/// Sends one request to the echo and reads its report: an error unless it is one.
fn echo(
    target: &Target,
    url: &Url,
    method: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<(Exchange, Json), String> {
    let said = |why: String| format!("{method} {}: {why}", url.target);
    let answer = client::exchange(url, target.patience, method, headers, body).map_err(said)?;
    let report = echo_answer(&answer).map_err(said)?;
    Ok((answer, report))
}

fn methods(target: &Target, url: &Url) -> Result<(), String> {
    for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
        let (answer, report) = echo(target, url, method, &[], b"")?;
        if report.get("method").and_then(Json::as_str) != Some(method) {
            return Err(format!(
                "{method} is reported as another method: {}",
                answer.shown()
            ));
        }
    }
    Ok(())
}

/// What `addURLParam()` sends, and the chapter's own example: `a=b` is a name.
const TARGET_QUERY: &str = "name=Nicholas%20Zakas&a%3Db=1%2B1%3D2";

fn echo_target(target: &Target, url: &Url) -> Result<(), String> {
    let asked = url.with_query(TARGET_QUERY);
    let (answer, report) = echo(target, &asked, "GET", &[], b"")?;
    let got = |name| report.get(name).and_then(Json::as_str);
    if got("target") != Some(asked.target.as_str()) {
        return Err(format!(
            "\"target\" should be {}, exactly as sent: {}",
            show(asked.target.as_bytes()),
            answer.shown()
        ));
    }
    if got("path") != Some(url.path()) {
        return Err(format!(
            "\"path\" should be {}: {}",
            show(url.path().as_bytes()),
            answer.shown()
        ));
    }
    Ok(())
}

/// A query with every case of form decoding the chapter lists, and what it decodes to.
const QUERY: &str = "name=Nicholas%20Zakas&a%3Db=1%2B1%3D2&x=a+b&x=2&flag&&\
                     %E5%9F%8E%E5%B8%82=%E5%8C%97%E4%BA%AC&bad=%zz&u=%FF";
const QUERY_DECODED: &str = r#"[["name","Nicholas Zakas"],["a=b","1+1=2"],["x","a b"],
    ["x","2"],["flag",""],["城市","北京"],["bad","%zz"],["u","\ufffd"]]"#;

fn echo_query(target: &Target, url: &Url) -> Result<(), String> {
    for (asked, decoded) in [
        (url.with_query(QUERY), expected(QUERY_DECODED)),
        (url.clone(), Json::Array(vec![])),
    ] {
        let (_, report) = echo(target, &asked, "GET", &[], b"")?;
        member_is(&report, "query", &decoded)
            .map_err(|why| format!("GET {}: {why}", asked.target))?;
    }
    Ok(())
}

fn echo_headers(target: &Target, url: &Url) -> Result<(), String> {
    // Spellings and repeats as a client may send them; spaces and a tab around a value.
    let sent = [
        ("accept", "*/*"),
        ("X-Two", "1"),
        ("x-two", "2"),
        ("X-Pad", "  padded\t "),
    ];
    let (_, report) = echo(target, url, "GET", &sent, b"")?;
    // `client::exchange` writes Host first and Connection: close last: that is the order.
    let host = url.authority();
    let mut lines = vec![("Host", host.as_str())];
    lines.extend(sent.iter().map(|&(name, value)| (name, value.trim())));
    lines.push(("Connection", "close"));
    let expected = Json::Array(
        lines
            .iter()
            .map(|(n, v)| Json::Array(vec![json_string(n), json_string(v)]))
            .collect(),
    );
    member_is(&report, "headers", &expected).map_err(|why| format!("GET {}: {why}", url.target))
}

fn json_string(value: &str) -> Json {
    Json::String(value.to_string())
}

fn my_header(target: &Target, url: &Url) -> Result<(), String> {
    let (answer, _) = echo(target, url, "GET", &[("MyHeader", "Value 42")], b"")?;
    match answer.head.header("MyHeader") {
        Some("Value 42") => Ok(()),
        _ => Err(format!(
            "sent MyHeader: Value 42, the answer should carry MyHeader: Value 42: {}",
            answer.head.shown()
        )),
    }
}

/// `HEAD` runs the report a `GET` would get, which says `HEAD`: one byte longer.
fn head(target: &Target, url: &Url, get: &Exchange) -> Result<(), String> {
    let head = super::polling::head_without_body(url, target.patience)?;
    if head.status != 200 || head.media_type().as_deref() != Some("application/json") {
        return Err(format!(
            "HEAD should get 200 and application/json: {}",
            head.shown()
        ));
    }
    let wanted = get.body.len() + 1;
    match head.header("Content-Length") {
        Some(length) if length == wanted.to_string() => Ok(()),
        _ => Err(format!(
            "the GET's report is {} bytes, so HEAD's Content-Length should be {wanted}: {}",
            get.body.len(),
            head.shown()
        )),
    }
}

const ECHO_METHODS_ALLOWED: [&str; 7] =
    ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

fn options(target: &Target) -> Result<(), String> {
    let url = target.url.joined("/echo");
    let answer = client::exchange(&url, target.patience, "OPTIONS", &[], b"")?;
    if answer.head.status != 204 {
        return Err(format!(
            "OPTIONS should get 204 No Content: {}",
            answer.shown()
        ));
    }
    match ECHO_METHODS_ALLOWED
        .iter()
        .find(|m| !answer.head.lists("Allow", m))
    {
        None => Ok(()),
        Some(missing) => Err(format!(
            "Allow does not list {missing}: {}",
            answer.head.shown()
        )),
    }
}

/// TRACE would echo a request's cookies back to a script: refused (cross-site tracing).
fn trace(target: &Target) -> Result<(), String> {
    let url = target.url.joined("/echo");
    let answer = client::exchange(&url, target.patience, "TRACE", &[], b"")?;
    if answer.head.status != 405 {
        return Err(format!(
            "TRACE should get 405 Method Not Allowed: {}",
            answer.shown()
        ));
    }
    if !answer.head.lists("Allow", "GET") || answer.head.lists("Allow", "TRACE") {
        return Err(format!(
            "a 405 says in Allow which methods work, GET among them and not TRACE: {}",
            answer.head.shown()
        ));
    }
    Ok(())
}

// ---- the body in the report ------------------------------------------------------------------

const NONE_BODY: &str = r#"{"type":"","bytes":0,"kind":"none"}"#;

/// A form as `<form method="post">` encodes it, every decoding case in it.
const FORM: &[u8] = b"name=Nicholas+Zakas&book=Ajax%20%26%20Comet&empty=&flag&%E5%9F%8E=%E5%8C%97";
const FORM_BODY: &str = r#"{"type":"application/x-www-form-urlencoded","bytes":75,"kind":"form",
    "fields":[["name","Nicholas Zakas"],["book","Ajax & Comet"],["empty",""],["flag",""],
    ["城","北"]]}"#;

const JSON: &str = " {\"name\": \"\u{5317}\", \"tags\": [1, true, null, \"<\\u2028>\"], \
                    \"n\": {\"a\": -2, \"b\": {}}}\n";
const JSON_BODY: &str = r#"{"type":"application/json","bytes":79,"kind":"json",
    "json":{"name":"北","tags":[1,true,null,"<\u2028>"],"n":{"a":-2,"b":{}}}}"#;

const TEXT: &str = "two\nlines \"quoted\" 北\n";
const TEXT_BODY: &str = r#"{"type":"text/plain","bytes":23,"kind":"text",
    "text":"two\nlines \"quoted\" 北\n"}"#;
const CSV_BODY: &str = r#"{"type":"text/csv","bytes":23,"kind":"text",
    "text":"two\nlines \"quoted\" 北\n"}"#;

const BOUNDARY: &str = "----WebKitFormBoundaryx9Qe4DoZ1rLwPJ2c";
/// The chapter's `FormData` with a file, as Chromium sends it (a shorter boundary).
const MULTIPART: &str = "------WebKitFormBoundaryx9Qe4DoZ1rLwPJ2c\r\n\
    Content-Disposition: form-data; name=\"name\"\r\n\r\n\
    Nicholas Zakas\r\n\
    ------WebKitFormBoundaryx9Qe4DoZ1rLwPJ2c\r\n\
    Content-Disposition: form-data; name=\"comment\"\r\n\r\n\
    100% = 1/1\r\n城市: 北京\r\n\
    ------WebKitFormBoundaryx9Qe4DoZ1rLwPJ2c\r\n\
    Content-Disposition: form-data; name=\"file\"; filename=\"hello.txt\"\r\n\
    Content-Type: text/plain\r\n\r\n\
    hello from the ajax page\n\r\n\
    ------WebKitFormBoundaryx9Qe4DoZ1rLwPJ2c--\r\n";
const MULTIPART_BODY: &str = r#"{"type":"multipart/form-data; boundary=----WebKitFormBoundaryx9Qe4DoZ1rLwPJ2c",
    "bytes":433,"kind":"multipart","parts":[
    {"name":"name","filename":null,"type":null,"size":14,"value":"Nicholas Zakas"},
    {"name":"comment","filename":null,"type":null,"size":26,"value":"100% = 1/1\r\n城市: 北京"},
    {"name":"file","filename":"hello.txt","type":"text/plain","size":25}]}"#;
/// An empty `FormData`: only the closing boundary, here quoted in the Content-Type.
const EMPTY_MULTIPART_BODY: &str =
    r#"{"type":"multipart/form-data; boundary=\"b\"","bytes":7,"kind":"multipart","parts":[]}"#;

const OCTETS: &[u8] = b"\x00\x01\x02";
const BYTES_BODY: &str = r#"{"type":"application/octet-stream","bytes":3,"kind":"bytes"}"#;

/// Over `MAX_ECHO_BODY_BYTES` (16 KiB) whatever the room a server keeps for the JSON
/// around it: a quarter of its size would still not fit.
const CUT_BYTES: usize = 64 * 1024;
const CUT_BODY: &str =
    r#"{"type":"text/plain","bytes":65536,"kind":"text","text":null,"cut":true}"#;

fn body_rules(target: &Target, url: &Url, report: &mut Report) {
    let post = |content_type: &str, body: &[u8], expected: &str| {
        let (_, report) = echo(target, url, "POST", &[("Content-Type", content_type)], body)?;
        body_is(&report, expected)
            .map_err(|why| format!("POST with Content-Type: {content_type}: {why}"))
    };
    report.record(
        &BODY_FORM,
        post("application/x-www-form-urlencoded", FORM, FORM_BODY),
    );
    report.record(
        &BODY_JSON,
        post("application/json", JSON.as_bytes(), JSON_BODY),
    );
    report.record(
        &BODY_TEXT,
        post("text/plain", TEXT.as_bytes(), TEXT_BODY)
            .and_then(|()| post("text/csv", TEXT.as_bytes(), CSV_BODY)),
    );
    let with_boundary = format!("multipart/form-data; boundary={BOUNDARY}");
    report.record(
        &BODY_MULTIPART,
        post(&with_boundary, MULTIPART.as_bytes(), MULTIPART_BODY).and_then(|()| {
            post(
                "multipart/form-data; boundary=\"b\"",
                b"--b--\r\n",
                EMPTY_MULTIPART_BODY,
            )
        }),
    );
    report.record(
        &BODY_BYTES,
        post("application/octet-stream", OCTETS, BYTES_BODY),
    );
    report.record(
        &MEDIA_TYPE,
        post(
            "Application/X-WWW-Form-Urlencoded; charset=UTF-8",
            b"a=1",
            r#"{"type":"Application/X-WWW-Form-Urlencoded; charset=UTF-8","bytes":3,
                "kind":"form","fields":[["a","1"]]}"#,
        )
        .and_then(|()| {
            post(
                "TEXT/Csv;charset=utf-8",
                b"hi",
                r#"{"type":"TEXT/Csv;charset=utf-8","bytes":2,"kind":"text","text":"hi"}"#,
            )
        })
        .and_then(|()| {
            post(
                "application/JSON ; charset=utf-8",
                b"[]",
                r#"{"type":"application/JSON ; charset=utf-8","bytes":2,"kind":"json","json":[]}"#,
            )
        }),
    );
    let big = vec![b'a'; CUT_BYTES];
    report.record(&BODY_CUT, post("text/plain", &big, CUT_BODY));

    let refused = |content_type: &str, body: &[u8]| {
        let said = |why: String| format!("POST with Content-Type: {content_type}: {why}");
        let answer = client::exchange(
            url,
            target.patience,
            "POST",
            &[("Content-Type", content_type)],
            body,
        )
        .map_err(said)?;
        // The chapter's FormData is long: named, not shown.
        let shown = match body.len() {
            0..=40 => show(body),
            _ => "the FormData of ajax.body-multipart".to_string(),
        };
        one_line_400(&answer).map_err(|why| said(format!("{shown} should get a 400: {why}")))
    };
    report.record(
        &BAD_JSON,
        refused("application/json", b"{\"a\":")
            .and_then(|()| refused("application/json", b"{'a': 1}")),
    );
    report.record(
        &BAD_MULTIPART,
        refused("multipart/form-data", MULTIPART.as_bytes())
            .and_then(|()| refused("multipart/form-data; boundary=wrong", MULTIPART.as_bytes())),
    );
}

/// The report's `body` is exactly `expected` (a JSON text): no member more or less.
fn body_is(report: &Json, expected_text: &str) -> Result<(), String> {
    member_is(report, "body", &expected(expected_text))
}

/// The report's member `name` is `expected`, or an error showing both.
fn member_is(report: &Json, name: &str, expected: &Json) -> Result<(), String> {
    match report.get(name) {
        Some(got) if same(got, expected) => Ok(()),
        got => Err(format!(
            "\"{name}\" should be\n{}\nbut is\n{}",
            shortened(written(expected)),
            got.map_or("missing".to_string(), |got| shortened(written(got)))
        )),
    }
}

/// A refusal the chapter's way: `400`, `text/plain`, and one line saying why.
fn one_line_400(answer: &Exchange) -> Result<(), String> {
    if answer.head.status != 400 {
        return Err(format!("status {}: {}", answer.head.status, answer.shown()));
    }
    if answer.head.media_type().as_deref() != Some("text/plain") {
        return Err(format!("not text/plain: {}", answer.head.shown()));
    }
    let text = answer.text();
    let one_line = text
        .strip_suffix('\n')
        .is_some_and(|line| !line.trim().is_empty() && !line.contains('\n'));
    if !one_line {
        return Err(format!(
            "the reason should be one line and a line feed: {}",
            show(&answer.body)
        ));
    }
    Ok(())
}

// ---- slow, large and mislabelled -------------------------------------------------------------

/// The wait the check asks `/slow` for: long enough that answering at once cannot pass,
/// short enough to cost little. Only a lower bound is checked, so a slow machine is fine.
const SLOW_MS: u64 = 250;

/// `/large?bytes=2000&ms=400` must take at least half of those 400 ms from head to last
/// byte: webwire's 20 pieces take 19/20 of them; a body sent all at once takes none. Half,
/// so that the grain of the measure (`LOOK`) and a server's own jitter never matter; how a
/// late checker is kept from shortening it is told at `paced`.
const PACED_BYTES: usize = 2000;
const PACED_MS: u64 = 400;
const PACED_AT_LEAST: Duration = Duration::from_millis(PACED_MS / 2);

/// What `/large` repeats and cuts to the size asked: the chapter's 64-byte line.
const LINE: &[u8; 64] = b"webwire /ajax/large: sixty-four bytes, sent again and again....\n";

/// webwire's default size for `/large`, 1 MiB.
const LARGE_DEFAULT_BYTES: usize = 1024 * 1024;

fn timing_rules(target: &Target, report: &mut Report) {
    report.record(&SLOW, slow(target));
    report.record(&LARGE, large(target));
    report.record(&LARGE_PACED, large_paced(target));
    report.record(&BAD_NUMBERS, bad_numbers(target));
    report.record(&XML_AS_TEXT, xml_as_text(target));
}

fn slow(target: &Target) -> Result<(), String> {
    for ms in [SLOW_MS, 0] {
        let url = target.url.joined("/slow").with_query(&format!("ms={ms}"));
        let started = Instant::now();
        let answer = client::get(&url, target.patience, &[])
            .map_err(|why| format!("GET {}: {why}", url.target))?;
        let took = started.elapsed();
        let wanted = format!("answered after {ms} ms\n");
        if answer.head.status != 200
            || answer.head.media_type().as_deref() != Some("text/plain")
            || answer.body != wanted.as_bytes()
        {
            return Err(format!(
                "GET {} should get 200, text/plain, {}: {}",
                url.target,
                show(wanted.as_bytes()),
                answer.shown()
            ));
        }
        if took < Duration::from_millis(ms) {
            return Err(format!(
                "GET {} was answered after {} ms, before the {ms} ms it asked for: {}",
                url.target,
                took.as_millis(),
                answer.shown()
            ));
        }
    }
    Ok(())
}

fn large(target: &Target) -> Result<(), String> {
    for (query, bytes) in [
        ("bytes=1000&ms=0", 1000),
        ("bytes=0&ms=0", 0),
        ("ms=0", LARGE_DEFAULT_BYTES),
    ] {
        let url = target.url.joined("/large").with_query(query);
        let answer = client::get(&url, target.patience, &[])
            .map_err(|why| format!("GET {}: {why}", url.target))?;
        let said = |why: &str| format!("GET {}: {why}: {}", url.target, answer.shown());
        if answer.head.status != 200 || answer.head.media_type().as_deref() != Some("text/plain") {
            return Err(said("should get 200 and text/plain"));
        }
        if answer.head.header("Transfer-Encoding").is_some()
            || answer.head.header("Content-Length") != Some(bytes.to_string().as_str())
        {
            return Err(said(&format!(
                "should say Content-Length: {bytes}, not chunked, so that a page's progress \
                 events know the total"
            )));
        }
        let expected: Vec<u8> = LINE.iter().copied().cycle().take(bytes).collect();
        if answer.body != expected {
            let at = answer
                .body
                .iter()
                .zip(&expected)
                .position(|(a, b)| a != b)
                .unwrap_or(answer.body.len().min(expected.len()));
            return Err(format!(
                "GET {}: the body should be the line {} repeated and cut to {bytes} bytes; it \
                 differs at byte {at}: {}",
                url.target,
                show(LINE),
                show(&answer.body[at.min(answer.body.len())..])
            ));
        }
    }
    Ok(())
}

fn large_paced(target: &Target) -> Result<(), String> {
    paced(target, Duration::ZERO)
}

/// `large_paced`, with the checker `late` by that much after sending its request: a test
/// stands in for a busy machine that descheduled the checker with it.
///
/// How the spread is measured is what keeps a late checker from failing a correct server.
/// Measuring from the moment the head was read to the moment the last byte was does not:
/// a checker descheduled before it reads the head finds the head and most of the pieces
/// waiting together, and sees a spread far shorter than the server's. So the clock starts
/// before the request is sent, and the checker looks at the socket (`wait_for_bytes`) until
/// the answer starts: the head came after the last look that found nothing (`quiet`, the
/// sending at the earliest), and the last byte by the moment the body was read. The server's
/// spread is at most the time between the two, and a late checker only makes that longer:
/// it fails a server only when even that is too short, as when the body came with the head,
/// at once or after a sleep.
fn paced(target: &Target, late: Duration) -> Result<(), String> {
    let url = target
        .url
        .joined("/large")
        .with_query(&format!("bytes={PACED_BYTES}&ms={PACED_MS}"));
    let said = |why: String| format!("GET {}: {why}", url.target);
    let mut connection = Connection::open(&url, target.patience).map_err(said)?;
    let sent = Instant::now();
    connection
        .send(&client::request(
            "GET",
            &url,
            &[("Connection", "close")],
            b"",
        ))
        .map_err(said)?;
    if !late.is_zero() {
        thread::sleep(late);
    }
    let mut quiet = sent;
    if !wait_for_bytes(connection.stream(), sent + target.patience, &mut quiet) {
        return Err(said(format!(
            "no answer: nothing came within {:?}",
            target.patience
        )));
    }
    let head = connection.read_head(false).map_err(said)?;
    let body = connection.read_body().map_err(said)?;
    let last_byte_by = Instant::now();
    if head.status != 200 || body.len() != PACED_BYTES {
        return Err(said(format!(
            "should get 200 and {PACED_BYTES} bytes: {} and {} bytes",
            head.shown(),
            body.len()
        )));
    }
    spread(sent, quiet, last_byte_by).map_err(|why| said(format!("{why}: {}", head.shown())))
}

/// Whether an answer whose head came after `quiet` and whose last byte came by
/// `last_byte_by` can have been spread over `PACED_AT_LEAST` (see `paced`).
fn spread(sent: Instant, quiet: Instant, last_byte_by: Instant) -> Result<(), String> {
    let most = last_byte_by.saturating_duration_since(quiet);
    if most >= PACED_AT_LEAST {
        return Ok(());
    }
    let ms = |at: Instant| at.saturating_duration_since(sent).as_millis();
    Err(format!(
        "the head and the last byte came at most {} ms apart (the head after {} ms, the last \
         byte by {} ms, from the request); spread over {PACED_MS} ms, the last byte should \
         come at least {} ms after the head",
        most.as_millis(),
        ms(quiet),
        ms(last_byte_by),
        PACED_AT_LEAST.as_millis(),
    ))
}

/// Out of range, signed, fractional, empty, not a number: each a `400`, at once.
const BAD_QUERIES: [(&str, &str); 11] = [
    ("/slow", "ms=ten"),
    ("/slow", "ms="),
    ("/slow", "ms=-1"),
    ("/slow", "ms=%2B5"),
    ("/slow", "ms=1.5"),
    ("/slow", "ms=30001"),
    ("/large", "bytes=1k"),
    ("/large", "bytes=-1"),
    ("/large", "bytes=10&ms=x"),
    ("/large", "bytes=4194305"),
    ("/large", "ms=30001"),
];

fn bad_numbers(target: &Target) -> Result<(), String> {
    for (path, query) in BAD_QUERIES {
        let url = target.url.joined(path).with_query(query);
        let said = |why: String| format!("GET {} should get a 400 at once: {why}", url.target);
        let answer = client::get(&url, target.patience, &[]).map_err(said)?;
        one_line_400(&answer).map_err(said)?;
    }
    Ok(())
}

fn xml_as_text(target: &Target) -> Result<(), String> {
    let url = target.url.joined("/xml-as-text");
    let answer = client::get(&url, target.patience, &[])
        .map_err(|why| format!("GET {}: {why}", url.target))?;
    if answer.head.status != 200 || answer.head.media_type().as_deref() != Some("text/plain") {
        return Err(format!(
            "GET {} should get 200 and Content-Type: text/plain (the point: XML \
             mislabelled): {}",
            url.target,
            answer.head.shown()
        ));
    }
    if !answer.body.starts_with(b"<?xml") {
        return Err(format!(
            "GET {}: the body should be an XML document, starting <?xml: {}",
            url.target,
            show(&answer.body)
        ));
    }
    Ok(())
}

// ---- the cached text -------------------------------------------------------------------------

/// After a `304`'s head, how long to wait for body bytes a server should not send. Waiting
/// can only make a wrong server fail, never a right one.
const STRAY_BYTES_WAIT: Duration = Duration::from_millis(300);

fn cached_rules(target: &Target, report: &mut Report) {
    let url = target.url.joined("/cached");
    let got = client::get(&url, target.patience, &[])
        .and_then(|full| etag(&full).map(|etag| (full, etag)))
        .map_err(|why| format!("GET {}: {why}", url.target));
    let (full, etag) = match got {
        Ok(got) => got,
        Err(why) => {
            report.record(&ETAG, Err(why));
            for rule in [&NOT_MODIFIED, &WEAK_MATCH, &NO_MATCH] {
                report.skip(rule, "no entity tag to ask with (ajax.etag)");
            }
            return;
        }
    };
    report.record(
        &ETAG,
        no_cache(&full).map_err(|why| format!("GET {}: {why}", url.target)),
    );
    report.record(&NOT_MODIFIED, not_modified(target, &url, &full.head, &etag));
    report.record(&WEAK_MATCH, weak_match(target, &url, &etag));
    report.record(&NO_MATCH, no_match(target, &url, &full, &etag));
}

/// The `ETag` of the full answer, checked to be `"opaque"` or `W/"opaque"` (RFC 9110 §8.8.3).
fn etag(full: &Exchange) -> Result<String, String> {
    if full.head.status != 200 {
        return Err(format!("should get 200: {}", full.shown()));
    }
    let tag = full.head.header("ETag").unwrap_or("");
    let opaque = tag.strip_prefix("W/").unwrap_or(tag);
    let quoted = opaque.len() >= 2
        && opaque.starts_with('"')
        && opaque.ends_with('"')
        && !opaque[1..opaque.len() - 1].contains('"');
    if !quoted {
        return Err(format!(
            "no ETag, or not a quoted entity tag like \"ajax-cached-v1\": {}",
            full.head.shown()
        ));
    }
    Ok(tag.to_string())
}

/// The rest of the full answer: a text, and `no-cache`, so a browser keeps it but asks
/// before reusing it.
fn no_cache(full: &Exchange) -> Result<(), String> {
    if full.body.is_empty() {
        return Err(format!("the 200 has no body: {}", full.shown()));
    }
    if !full.head.lists("Cache-Control", "no-cache") {
        return Err(format!(
            "no Cache-Control: no-cache (a browser must ask before reusing it): {}",
            full.head.shown()
        ));
    }
    Ok(())
}

/// `GET` with `If-None-Match: <tag>` and `Connection: close`; the head, and an error if any
/// byte follows it.
fn not_modified(target: &Target, url: &Url, full: &Head, etag: &str) -> Result<(), String> {
    let said = |why: String| format!("GET {} with If-None-Match: {etag}: {why}", url.target);
    let mut connection = Connection::open(url, target.patience).map_err(said)?;
    let headers = [("If-None-Match", etag), ("Connection", "close")];
    connection
        .send(&client::request("GET", url, &headers, b""))
        .map_err(said)?;
    let head = connection.read_head(false).map_err(said)?;
    if head.status != 304 {
        return Err(said(format!("should get 304: {}", head.shown())));
    }
    for name in ["ETag", "Cache-Control"] {
        if head.header(name) != full.header(name) {
            return Err(said(format!(
                "a 304 repeats the 200's {name} (RFC 9110 §15.4.5): {}",
                head.shown()
            )));
        }
    }
    let _ = connection
        .closes_before(Instant::now() + STRAY_BYTES_WAIT.min(target.patience))
        .map_err(said)?;
    let after = connection.take_buffered();
    if !after.is_empty() {
        return Err(said(format!(
            "a 304 has no body, yet {} came after the head {}",
            show(&after),
            head.shown()
        )));
    }
    Ok(())
}

/// The tag's two forms: `"x"` and `W/"x"`, whichever the server sent first.
fn forms(etag: &str) -> (String, String) {
    let strong = etag.strip_prefix("W/").unwrap_or(etag).to_string();
    let weak = format!("W/{strong}");
    (strong, weak)
}

/// Sends `GET` with these `If-None-Match` lines; the status must be `wanted`.
fn conditional(
    target: &Target,
    url: &Url,
    lines: &[&str],
    wanted: u16,
) -> Result<Exchange, String> {
    let headers: Vec<(&str, &str)> = lines.iter().map(|l| ("If-None-Match", *l)).collect();
    let asked = lines
        .iter()
        .map(|l| format!("If-None-Match: {l}"))
        .collect::<Vec<_>>()
        .join(" and ");
    let answer = client::get(url, target.patience, &headers)
        .map_err(|why| format!("GET {} with {asked}: {why}", url.target))?;
    if answer.head.status != wanted {
        return Err(format!(
            "GET {} with {asked} should get {wanted}: {}",
            url.target,
            answer.shown()
        ));
    }
    Ok(answer)
}

fn weak_match(target: &Target, url: &Url, etag: &str) -> Result<(), String> {
    let (strong, weak) = forms(etag);
    let other = if etag == strong { &weak } else { &strong };
    let list = format!("\"old\", {etag}");
    for lines in [
        vec![other.as_str()],
        vec![list.as_str()],
        vec!["\"old\"", etag],
        vec!["*"],
    ] {
        conditional(target, url, &lines, 304)?;
    }
    Ok(())
}

fn no_match(target: &Target, url: &Url, full: &Exchange, etag: &str) -> Result<(), String> {
    let (strong, _) = forms(etag);
    let bare = strong.trim_matches('"').to_string();
    for tag in ["\"old\"", "W/\"old\"", bare.as_str()] {
        let answer = conditional(target, url, &[tag], 200)?;
        if answer.body != full.body {
            return Err(format!(
                "GET {} with If-None-Match: {tag} should get the full text {}: {}",
                url.target,
                show(&full.body),
                answer.shown()
            ));
        }
    }
    Ok(())
}

// ---- JSON, compared ---------------------------------------------------------------------------

/// One of this module's expected values, written as JSON text.
fn expected(text: &str) -> Json {
    // The texts are constants of this file, each read by a unit test below.
    read_json(text).unwrap_or(Json::Null)
}

/// Equal as JSON: objects member for member in any order, arrays item for item, numbers
/// and strings as read.
fn same(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Object(x), Json::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(name, v)| b.get(name).is_some_and(|w| same(v, w)))
        }
        (Json::Array(x), Json::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same(v, w))
        }
        _ => a == b,
    }
}

/// At most `MAX_SHOWN_BYTES` characters of `text`, and how long it was if more.
fn shortened(text: String) -> String {
    match text.char_indices().nth(MAX_SHOWN_BYTES) {
        Some((end, _)) => format!(
            "{}… ({} characters in all)",
            &text[..end],
            text.chars().count()
        ),
        None => text,
    }
}

/// A JSON value written compactly, for a failure message (strings escaped as JSON does).
fn written(value: &Json) -> String {
    let list = |items: Vec<String>| items.join(",");
    match value {
        Json::Null => "null".to_string(),
        Json::Bool(b) => b.to_string(),
        Json::Number(digits) => digits.clone(),
        Json::String(text) => format!("{text:?}"),
        Json::Array(items) => format!("[{}]", list(items.iter().map(written).collect())),
        Json::Object(members) => format!(
            "{{{}}}",
            list(
                members
                    .iter()
                    .map(|(n, v)| format!("{n:?}:{}", written(v)))
                    .collect()
            )
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_expected_text_is_json_and_counts_its_bytes() {
        for text in [
            QUERY_DECODED,
            NONE_BODY,
            FORM_BODY,
            JSON_BODY,
            TEXT_BODY,
            CSV_BODY,
            MULTIPART_BODY,
            EMPTY_MULTIPART_BODY,
            BYTES_BODY,
            CUT_BODY,
        ] {
            assert!(read_json(text).is_ok(), "{text}");
        }
        let bytes = |text: &str| expected(text).get("bytes").and_then(Json::as_whole);
        assert_eq!(bytes(FORM_BODY), Some(FORM.len() as u64));
        assert_eq!(bytes(JSON_BODY), Some(JSON.len() as u64));
        assert_eq!(bytes(TEXT_BODY), Some(TEXT.len() as u64));
        assert_eq!(bytes(MULTIPART_BODY), Some(MULTIPART.len() as u64));
        assert_eq!(bytes(CUT_BODY), Some(CUT_BYTES as u64));
        assert!(MULTIPART.starts_with(&format!("--{BOUNDARY}\r\n")));
        assert_eq!("100% = 1/1\r\n城市: 北京".len(), 26);
    }

    #[test]
    fn json_is_compared_in_any_member_order() {
        let a = read_json(r#"{"a":[1,{"x":null,"y":"\u5317"}],"b":true}"#).unwrap();
        let b = read_json(r#"{ "b": true, "a": [1, {"y": "北", "x": null}] }"#).unwrap();
        assert!(same(&a, &b));
        let c = read_json(r#"{"b":true,"a":[1,{"y":"北","x":null}],"cut":false}"#).unwrap();
        assert!(!same(&a, &c), "a member more");
        let d = read_json(r#"{"b":true,"a":[{"y":"北","x":null},1]}"#).unwrap();
        assert!(!same(&a, &d), "arrays keep their order");
    }

    #[test]
    fn a_late_checker_cannot_shorten_a_spread() {
        let sent = Instant::now();
        let at = |ms| sent + Duration::from_millis(ms);
        // Paced, read as it came: the socket seen empty until the head, the last byte by 381.
        assert!(spread(sent, at(1), at(381)).is_ok());
        // Paced, the checker descheduled for 300 ms after sending: it never saw the socket
        // empty, and read the head and 15 pieces together at +300. From that read to the
        // last byte is 81 ms, which failed a correct server; from the sending it is 381.
        assert!(spread(sent, sent, at(381)).is_ok());
        // The whole body with the head, at once.
        assert!(spread(sent, sent, at(2)).is_err());
        // Held back 400 ms, then the head and the body at once: the socket was seen empty
        // until +395.
        assert!(spread(sent, at(395), at(401)).is_err());
    }

    /// A `/large` that paces its 2,000 bytes as webwire does, or holds them all back
    /// `PACED_MS` and then sends the head and the body at once.
    fn large_server(held_back: bool) -> Target {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                thread::spawn(move || {
                    let (mut request, mut byte) = (Vec::new(), [0u8; 1]);
                    while !request.ends_with(b"\r\n\r\n") {
                        if stream.read(&mut byte).unwrap_or(0) == 0 {
                            return;
                        }
                        request.push(byte[0]);
                    }
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: \
                         {PACED_BYTES}\r\nConnection: close\r\n\r\n"
                    );
                    let body: Vec<u8> = LINE.iter().copied().cycle().take(PACED_BYTES).collect();
                    if held_back {
                        thread::sleep(Duration::from_millis(PACED_MS));
                        let _ = stream.write_all(&[head.as_bytes(), &body].concat());
                        return;
                    }
                    let _ = stream.write_all(head.as_bytes());
                    for (i, piece) in body.chunks(PACED_BYTES / 20).enumerate() {
                        if i > 0 {
                            thread::sleep(Duration::from_millis(PACED_MS / 20));
                        }
                        let _ = stream.write_all(piece);
                    }
                });
            }
        });
        Target::new(&format!("http://127.0.0.1:{port}/ajax")).unwrap()
    }

    #[test]
    fn a_paced_body_read_late_passes_and_one_held_back_fails() {
        let paced_server = large_server(false);
        assert_eq!(paced(&paced_server, Duration::ZERO), Ok(()));
        // Late by 300 ms: the head and most pieces wait in the socket, read together.
        assert_eq!(paced(&paced_server, Duration::from_millis(300)), Ok(()));
        let held_back = paced(&large_server(true), Duration::ZERO);
        assert!(
            held_back
                .as_ref()
                .is_err_and(|why| why.contains("came at most")),
            "{held_back:?}"
        );
    }

    #[test]
    fn tags_have_two_forms() {
        assert_eq!(
            forms("\"v1\""),
            ("\"v1\"".to_string(), "W/\"v1\"".to_string())
        );
        assert_eq!(forms("W/\"v1\"").0, "\"v1\"");
    }
}
