//! The rules of CORS (`docs/08-cors.md`, its exercise), checked against `<url>` (`/cors`) and
//! its neighbours `<url>/cookie` and `<url>/headers`.
//!
//! The server decides and the browser obeys, so every rule is about headers: which origin an
//! answer names, which lists a preflight gets, when credentials are allowed. The allowed
//! origins are the two names of the server on the port the request's `Host` names:
//! `http://localhost:PORT` and `http://127.0.0.1:PORT` (no `:80` when the port is 80). The
//! checker computes them from the URL it was given, and sends that URL's `Host`, except where
//! a rule is about `Host` itself.
//!
//! A refusal here is not an error: the server answers as it would anyone, without the
//! permission, and the connection goes on. So the checker reads every answer in full, and
//! one rule sends its refusals down a single kept-alive connection.

use super::client::{self, Connection, Exchange, Head, Url};
use super::json_reader::{Json, read_json};
use super::polling::is_imf_fixdate;
use super::{Report, Rule, Target, Technique, show};

pub static TECHNIQUE: Technique = Technique {
    name: "cors",
    chapter: "08-cors.md",
    endpoint: "/cors",
    rules: &[
        &SIMPLE,
        &REFUSED,
        &REPEATED_ORIGIN,
        &HOST_WITHOUT_PORT,
        &VARY,
        &PREFLIGHT,
        &PREFLIGHT_LISTS,
        &PREFLIGHT_REFUSED,
        &ACTUAL,
        &ERRORS,
        &CREDENTIALS,
        &SET_COOKIE,
        &EXPOSE,
        &KEEPS_CONNECTION,
    ],
    run,
};

/// The exercise's two sections (chapter 08): who is allowed, and the table of requests.
const ORIGINS: &str = "The allowed origins";
const REQUESTS: &str = "The requests and their answers";

static SIMPLE: Rule = Rule {
    id: "cors.simple",
    says: "GET with Origin http://localhost:PORT or http://127.0.0.1:PORT answers 200, the time \
           as text/plain, and Access-Control-Allow-Origin naming that origin exactly",
    section: ORIGINS,
};
static REFUSED: Rule = Rule {
    id: "cors.refused",
    says: "any other Origin (null, another port, scheme or spelling), or none, gets the same \
           200 with no Access-Control-* header",
    section: ORIGINS,
};
static REPEATED_ORIGIN: Rule = Rule {
    id: "cors.repeated-origin",
    says: "two Origin lines, even two allowed ones, or one line naming two origins, get no \
           Access-Control-Allow-Origin",
    section: ORIGINS,
};
static HOST_WITHOUT_PORT: Rule = Rule {
    id: "cors.host-without-port",
    says: "the allowed origins take their port from Host: with no port in Host it is 80, and \
           the origins are http://localhost and http://127.0.0.1, without :80",
    section: ORIGINS,
};
static VARY: Rule = Rule {
    id: "cors.vary-origin",
    says: "every answer, allowed or refused, with Origin or without, has Vary listing Origin",
    section: ORIGINS,
};
static PREFLIGHT: Rule = Rule {
    id: "cors.preflight",
    says: "OPTIONS with an allowed Origin and Access-Control-Request-Method is 204 with the \
           origin, Allow-Methods GET, POST, PUT, Allow-Headers Content-Type, X-Custom-Header, \
           Max-Age 600",
    section: REQUESTS,
};
static PREFLIGHT_LISTS: Rule = Rule {
    id: "cors.preflight-lists",
    says: "a preflight gets the same two lists whatever it asks: another method, unknown \
           header names, names in any case, over several lines",
    section: REQUESTS,
};
static PREFLIGHT_REFUSED: Rule = Rule {
    id: "cors.preflight-refused",
    says: "a preflight from an origin not allowed, or with no Origin, is 204 with no \
           Access-Control-* header at all",
    section: REQUESTS,
};
static ACTUAL: Rule = Rule {
    id: "cors.actual-request",
    says: "PUT (JSON, X-Custom-Header) and POST (text/plain) answer 200 with \
           Access-Control-Allow-Origin and a JSON report of method, contentType, customHeader, \
           body",
    section: REQUESTS,
};
static ERRORS: Rule = Rule {
    id: "cors.errors-shared",
    says: "a body labelled application/json that is not JSON is 400, and still carries \
           Access-Control-Allow-Origin, so the page can read why",
    section: REQUESTS,
};
static CREDENTIALS: Rule = Rule {
    id: "cors.credentials",
    says: "GET <url>/cookie reports the webwire_cors cookie as JSON with the exact origin (never \
           *) and Access-Control-Allow-Credentials: true; nothing for other origins",
    section: REQUESTS,
};
static SET_COOKIE: Rule = Rule {
    id: "cors.set-cookie",
    says: "POST <url>/cookie sets webwire_cors (Path=/cors; SameSite=None; Secure; Partitioned) \
           with the credential headers for an allowed origin, and is 403 for another",
    section: REQUESTS,
};
static EXPOSE: Rule = Rule {
    id: "cors.expose-headers",
    says: "GET <url>/headers sends X-Request-Count and, to an allowed origin only, \
           Access-Control-Expose-Headers listing it",
    section: REQUESTS,
};
static KEEPS_CONNECTION: Rule = Rule {
    id: "cors.refusal-keeps-connection",
    says: "a refusal (no permission, 403, 400) is an ordinary answer: the connection stays \
           open and answers the next request",
    section: ORIGINS,
};

/// The preflight's two lists (chapter 08, "The preflight"): fixed, whatever was asked.
const ALLOWED_METHODS: [&str; 3] = ["GET", "POST", "PUT"];
const ALLOWED_HEADERS: [&str; 2] = ["content-type", "x-custom-header"];
const MAX_AGE: &str = "600";
/// Every header of the CORS protocol a refusal must not carry.
const CORS_HEADERS: [&str; 6] = [
    "Access-Control-Allow-Origin",
    "Access-Control-Allow-Credentials",
    "Access-Control-Allow-Methods",
    "Access-Control-Allow-Headers",
    "Access-Control-Max-Age",
    "Access-Control-Expose-Headers",
];

/// One run: the target, its two allowed origins, and what `cors.vary-origin` saw.
struct Cors<'a> {
    target: &'a Target,
    /// `http://localhost:PORT`: the page's origin in every rule but `cors.simple`'s second.
    page: String,
    /// `http://127.0.0.1:PORT`.
    other: String,
    /// The first answer without `Vary: Origin`, as a message.
    no_vary: Option<String>,
}

fn run(target: &Target, report: &mut Report) {
    let port = target.url.port;
    let mut cors = Cors {
        target,
        page: origin("localhost", port),
        other: origin("127.0.0.1", port),
        no_vary: None,
    };
    // The first request tells whether there is a server at all.
    let first = cors.get(&target.url, &cors.page.clone(), &[]);
    let first = match first {
        Ok(answer) => answer,
        Err(why) => {
            report.record(&SIMPLE, Err(why));
            return;
        }
    };
    report.record(&SIMPLE, cors.simple(&first, &cors.page));
    let other = cors.other.clone();
    let second = cors.get(&target.url, &other, &[]);
    report.record(&SIMPLE, second.and_then(|a| cors.simple(&a, &other)));
    report.record(&REFUSED, cors.refused());
    report.record(&REPEATED_ORIGIN, cors.repeated_origin());
    report.record(&HOST_WITHOUT_PORT, cors.host_without_port());
    report.record(&PREFLIGHT, cors.preflight());
    report.record(&PREFLIGHT_LISTS, cors.preflight_lists());
    report.record(&PREFLIGHT_REFUSED, cors.preflight_refused());
    report.record(&ACTUAL, cors.actual());
    report.record(&ERRORS, cors.errors());
    report.record(&CREDENTIALS, cors.credentials());
    report.record(&SET_COOKIE, cors.set_cookie());
    report.record(&EXPOSE, cors.expose());
    report.record(&KEEPS_CONNECTION, cors.keeps_connection());
    // Last: every answer above was looked at.
    report.record(&VARY, cors.no_vary.take().map_or(Ok(()), Err));
}

/// An origin as a browser serializes it: no default port (RFC 6454 §6.1).
fn origin(host: &str, port: u16) -> String {
    if port == 80 {
        format!("http://{host}")
    } else {
        format!("http://{host}:{port}")
    }
}

impl Cors<'_> {
    /// One request on a new connection, its answer looked at for `Vary: Origin`.
    fn ask(
        &mut self,
        method: &str,
        url: &Url,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Exchange, String> {
        let answer = client::exchange(url, self.target.patience, method, headers, body)?;
        self.saw(method, url, &answer.head);
        Ok(answer)
    }

    fn get(&mut self, url: &Url, origin: &str, more: &[(&str, &str)]) -> Result<Exchange, String> {
        let mut headers = vec![("Origin", origin)];
        headers.extend_from_slice(more);
        self.ask("GET", url, &headers, b"")
    }

    /// Notes the first answer whose `Vary` does not list `Origin`.
    fn saw(&mut self, method: &str, url: &Url, head: &Head) {
        if self.no_vary.is_none() && !head.lists("Vary", "Origin") {
            self.no_vary = Some(format!(
                "no Vary: Origin in the answer to {method} {}: {}",
                url.target,
                head.shown()
            ));
        }
    }

    fn cookie_url(&self) -> Url {
        self.target.url.joined("/cookie")
    }

    fn simple(&self, answer: &Exchange, origin: &str) -> Result<(), String> {
        let head = &answer.head;
        let time = answer.text();
        let is_time = time.strip_suffix('\n').is_some_and(is_imf_fixdate);
        if head.status != 200 || head.media_type().as_deref() != Some("text/plain") || !is_time {
            return Err(format!(
                "Origin: {origin} should get 200, text/plain, and the time as an IMF-fixdate \
                 and a line feed: {}",
                answer.shown()
            ));
        }
        if head.all("Access-Control-Allow-Origin") != [origin] {
            return Err(format!(
                "Origin: {origin} should get Access-Control-Allow-Origin: {origin}, once: {}",
                head.shown()
            ));
        }
        Ok(())
    }

    fn refused(&mut self) -> Result<(), String> {
        let port = self.target.url.port;
        let another_port = if port == 65535 { 65534 } else { port + 1 };
        let refused = [
            "http://evil.test".to_string(),
            "null".to_string(),
            origin("localhost", another_port),
            format!("https://{}", &self.page["http://".len()..]),
            format!("{}/", self.page),
            self.page.to_ascii_uppercase().replace("HTTP://", "http://"),
            origin("[::1]", port),
        ];
        let url = self.target.url.clone();
        for origin in &refused {
            let answer = self.get(&url, origin, &[])?;
            refusal(&answer, &format!("Origin: {origin}"), 200)?;
        }
        let answer = self.ask("GET", &url, &[], b"")?;
        refusal(&answer, "a request with no Origin", 200)
    }

    fn repeated_origin(&mut self) -> Result<(), String> {
        let url = self.target.url.clone();
        let page = self.page.clone();
        let evil = "http://evil.test";
        let one_line = format!("{page}, {evil}");
        let cases: [(String, Vec<(&str, &str)>); 3] = [
            (
                format!("Origin: {page} and Origin: {evil}"),
                vec![("Origin", &page), ("Origin", evil)],
            ),
            (
                format!("Origin: {page} twice"),
                vec![("Origin", &page), ("Origin", &page)],
            ),
            (
                format!("the one line Origin: {one_line}"),
                vec![("Origin", &one_line)],
            ),
        ];
        for (what, headers) in cases {
            let answer = self.ask("GET", &url, &headers, b"")?;
            refusal(&answer, &what, 200)?;
        }
        Ok(())
    }

    /// `Host: localhost`, no port, whatever port the connection really goes to.
    fn host_without_port(&mut self) -> Result<(), String> {
        let url = self.target.url.clone();
        let page = self.page.clone();
        // The request names port 80 (no port in Host); the connection goes to the real one.
        let named = Url {
            port: 80,
            ..url.clone()
        };
        let mut ask = |origin: &str| -> Result<Exchange, String> {
            let mut connection = Connection::open(&url, self.target.patience)?;
            let headers = [("Origin", origin), ("Connection", "close")];
            connection.send(&client::request("GET", &named, &headers, b""))?;
            let answer = connection.read_response(false)?;
            self.saw("GET", &named, &answer.head);
            Ok(answer)
        };
        let shown_host = named.authority();
        let answer = ask("http://localhost")?;
        if answer.head.all("Access-Control-Allow-Origin") != ["http://localhost"] {
            return Err(format!(
                "Host: {shown_host} and Origin: http://localhost should get \
                 Access-Control-Allow-Origin: http://localhost: {}",
                answer.head.shown()
            ));
        }
        let mut not_allowed = vec!["http://localhost:80".to_string()];
        if url.port != 80 {
            not_allowed.push(page);
        }
        for origin in not_allowed {
            let answer = ask(&origin)?;
            refusal(
                &answer,
                &format!("Host: {shown_host} (port 80) and Origin: {origin}"),
                200,
            )?;
        }
        Ok(())
    }

    fn preflight_with(
        &mut self,
        origin: Option<&str>,
        asks: &[(&str, &str)],
    ) -> Result<Exchange, String> {
        let mut headers: Vec<(&str, &str)> = origin.map(|o| ("Origin", o)).into_iter().collect();
        headers.extend_from_slice(asks);
        let url = self.target.url.clone();
        self.ask("OPTIONS", &url, &headers, b"")
    }

    fn preflight(&mut self) -> Result<(), String> {
        let page = self.page.clone();
        let answer = self.preflight_with(
            Some(&page),
            &[
                ("Access-Control-Request-Method", "PUT"),
                (
                    "Access-Control-Request-Headers",
                    "content-type,x-custom-header",
                ),
            ],
        )?;
        let head = &answer.head;
        let what = "the preflight for PUT with content-type and x-custom-header";
        lists(&answer, &page, what)?;
        if head.all("Access-Control-Max-Age") != [MAX_AGE] {
            return Err(format!(
                "{what} should have Access-Control-Max-Age: {MAX_AGE}: {}",
                head.shown()
            ));
        }
        Ok(())
    }

    fn preflight_lists(&mut self) -> Result<(), String> {
        let page = self.page.clone();
        let cases: [(&str, &[(&str, &str)]); 4] = [
            ("DELETE", &[("Access-Control-Request-Method", "DELETE")]),
            (
                "POST with X-CUSTOM-HEADER and Content-type on two lines",
                &[
                    ("Access-Control-Request-Method", "POST"),
                    ("Access-Control-Request-Headers", "X-CUSTOM-HEADER"),
                    ("Access-Control-Request-Headers", "Content-type"),
                ],
            ),
            (
                "PUT with x-custom-header and x-evil-header",
                &[
                    ("Access-Control-Request-Method", "PUT"),
                    (
                        "Access-Control-Request-Headers",
                        "x-custom-header, x-evil-header",
                    ),
                ],
            ),
            (
                "put (lower case)",
                &[("Access-Control-Request-Method", "put")],
            ),
        ];
        for (what, asks) in cases {
            let answer = self.preflight_with(Some(&page), asks)?;
            lists(&answer, &page, &format!("a preflight for {what}"))?;
        }
        Ok(())
    }

    fn preflight_refused(&mut self) -> Result<(), String> {
        let put = ("Access-Control-Request-Method", "PUT");
        let headers = ("Access-Control-Request-Headers", "content-type");
        for (origin, what) in [
            (
                Some("http://evil.test"),
                "a preflight from http://evil.test",
            ),
            (Some("null"), "a preflight from null"),
            (None, "a preflight with no Origin"),
        ] {
            let answer = self.preflight_with(origin, &[put, headers])?;
            refusal(&answer, what, 204)?;
            if !answer.body.is_empty() {
                return Err(format!("{what}: a 204 with a body: {}", answer.shown()));
            }
        }
        Ok(())
    }

    fn actual(&mut self) -> Result<(), String> {
        let url = self.target.url.clone();
        let page = self.page.clone();
        let put = self.ask(
            "PUT",
            &url,
            &[
                ("Origin", &page),
                ("Content-Type", "application/json"),
                ("X-Custom-Header", "hello"),
            ],
            br#"{"greeting":"hello"}"#,
        )?;
        report_of(
            &put,
            &page,
            &[
                ("method", Some("PUT")),
                ("contentType", Some("application/json")),
                ("customHeader", Some("hello")),
                ("body", Some(r#"{"greeting":"hello"}"#)),
            ],
        )?;
        let post = self.ask(
            "POST",
            &url,
            &[
                ("Origin", &page),
                ("Content-Type", "text/plain;charset=UTF-8"),
            ],
            b"hello",
        )?;
        report_of(
            &post,
            &page,
            &[
                ("method", Some("POST")),
                ("contentType", Some("text/plain;charset=UTF-8")),
                ("customHeader", None),
                ("body", Some("hello")),
            ],
        )
    }

    fn errors(&mut self) -> Result<(), String> {
        let url = self.target.url.clone();
        let page = self.page.clone();
        let answer = self.ask(
            "PUT",
            &url,
            &[("Origin", &page), ("Content-Type", "application/json")],
            b"{oops}",
        )?;
        if answer.head.status != 400
            || answer.head.all("Access-Control-Allow-Origin") != [page.as_str()]
        {
            return Err(format!(
                "PUT of {{oops}} as application/json should be 400 with \
                 Access-Control-Allow-Origin: {page}: {}",
                answer.shown()
            ));
        }
        Ok(())
    }

    fn credentials(&mut self) -> Result<(), String> {
        let url = self.cookie_url();
        let page = self.page.clone();
        for (cookie, expected) in [(Some("other=1; webwire_cors=5"), Some("5")), (None, None)] {
            let more: Vec<(&str, &str)> = cookie.map(|c| ("Cookie", c)).into_iter().collect();
            let answer = self.get(&url, &page, &more)?;
            let what = match cookie {
                Some(cookie) => format!("GET {} with Cookie: {cookie}", url.target),
                None => format!("GET {} with no cookie", url.target),
            };
            let head = &answer.head;
            let shared = head.all("Access-Control-Allow-Origin") == [page.as_str()]
                && head.all("Access-Control-Allow-Credentials") == ["true"];
            if head.status != 200 || !shared {
                return Err(format!(
                    "{what} should be 200 with Access-Control-Allow-Origin: {page} (the exact \
                     origin, never *) and Access-Control-Allow-Credentials: true: {}",
                    answer.shown()
                ));
            }
            let json = read_json_answer(&answer)?;
            let reported = json.get("cookie");
            let right = match expected {
                Some(value) => reported.and_then(Json::as_str) == Some(value),
                None => reported == Some(&Json::Null),
            };
            if !right {
                return Err(format!(
                    "{what} should report {{\"cookie\":{}}}: {}",
                    expected.map_or("null".to_string(), |v| format!("\"{v}\"")),
                    answer.shown()
                ));
            }
        }
        let answer = self.get(&url, "http://evil.test", &[("Cookie", "webwire_cors=5")])?;
        refusal(
            &answer,
            &format!("GET {} from http://evil.test", url.target),
            200,
        )
    }

    fn set_cookie(&mut self) -> Result<(), String> {
        let url = self.cookie_url();
        let page = self.page.clone();
        let answer = self.ask("POST", &url, &[("Origin", &page)], b"")?;
        let head = &answer.head;
        let what = format!("POST {} from {page}", url.target);
        let shared = head.all("Access-Control-Allow-Origin") == [page.as_str()]
            && head.all("Access-Control-Allow-Credentials") == ["true"];
        if head.status != 200 || !shared {
            return Err(format!(
                "{what} should be 200 with Access-Control-Allow-Origin: {page} and \
                 Access-Control-Allow-Credentials: true: {}",
                answer.shown()
            ));
        }
        let cookies = head.all("Set-Cookie");
        let ours = cookies.iter().find(|c| c.starts_with("webwire_cors="));
        if !ours.is_some_and(|cookie| is_demo_cookie(cookie)) {
            return Err(format!(
                "{what} should set webwire_cors=<digits> with Path=/cors, SameSite=None, Secure \
                 and Partitioned: {}",
                head.shown()
            ));
        }
        let answer = self.ask("POST", &url, &[("Origin", "http://evil.test")], b"")?;
        let what = format!("POST {} from http://evil.test", url.target);
        if answer.head.header("Set-Cookie").is_some() {
            return Err(format!("{what} set a cookie: {}", answer.head.shown()));
        }
        refusal(&answer, &what, 403)
    }

    fn expose(&mut self) -> Result<(), String> {
        let url = self.target.url.joined("/headers");
        let page = self.page.clone();
        let answer = self.get(&url, &page, &[])?;
        let head = &answer.head;
        let counted = head
            .header("X-Request-Count")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        let exposed = head.lists("Access-Control-Expose-Headers", "X-Request-Count");
        let shared = head.all("Access-Control-Allow-Origin") == [page.as_str()];
        if head.status != 200 || !counted || !exposed || !shared {
            return Err(format!(
                "GET {} from {page} should be 200 with X-Request-Count (a whole number), \
                 Access-Control-Expose-Headers listing it, and Access-Control-Allow-Origin: \
                 {page}: {}",
                url.target,
                head.shown()
            ));
        }
        let answer = self.get(&url, "http://evil.test", &[])?;
        refusal(
            &answer,
            &format!("GET {} from http://evil.test", url.target),
            200,
        )
    }

    /// Three refusals down one connection, then an allowed request.
    fn keeps_connection(&mut self) -> Result<(), String> {
        let url = self.target.url.clone();
        let cookie = self.cookie_url();
        let page = self.page.clone();
        let json = ("Content-Type", "application/json");
        // Which status each refusal has is other rules' business; here, only that the
        // connection answers the next request.
        let steps: [Step; 4] = [
            ("GET", &url, vec![("Origin", "http://evil.test")], b""),
            ("POST", &cookie, vec![("Origin", "http://evil.test")], b""),
            ("PUT", &url, vec![("Origin", &page), json], b"{oops}"),
            (
                "GET",
                &url,
                vec![("Origin", &page), ("Connection", "close")],
                b"",
            ),
        ];
        let mut connection = Connection::open(&url, self.target.patience)?;
        let mut before = String::from("on one connection");
        for (method, step_url, headers, body) in steps {
            connection.send(&client::request(method, step_url, &headers, body))?;
            let answer = connection.read_response(false).map_err(|e| {
                format!("{before}, {method} {} got no answer: {e}", step_url.target)
            })?;
            self.saw(method, step_url, &answer.head);
            let status = answer.head.status;
            before.push_str(&format!(", after {method} {} ({status})", step_url.target));
        }
        Ok(())
    }
}

/// One request of `cors.refusal-keeps-connection`: method, URL, headers, body.
type Step<'a> = (&'a str, &'a Url, Vec<(&'a str, &'a str)>, &'a [u8]);

/// A refusal: the expected status, and not one CORS header.
fn refusal(answer: &Exchange, what: &str, status: u16) -> Result<(), String> {
    if answer.head.status != status {
        return Err(format!("{what} should be {status}: {}", answer.shown()));
    }
    match CORS_HEADERS
        .iter()
        .find(|name| answer.head.header(name).is_some())
    {
        Some(name) => Err(format!(
            "{what} should get no {name}: {}",
            answer.head.shown()
        )),
        None => Ok(()),
    }
}

/// The items of a comma-separated header, over all its lines.
fn items(head: &Head, name: &str) -> Vec<String> {
    head.all(name)
        .iter()
        .flat_map(|value| value.split(','))
        .map(|item| item.trim().to_string())
        .filter(|item| !item.is_empty())
        .collect()
}

/// A preflight that passes: 204, the origin, and the two fixed lists. Methods compare
/// exactly, header names ignoring case, as the browser compares them; order and spacing free.
fn lists(answer: &Exchange, origin: &str, what: &str) -> Result<(), String> {
    let head = &answer.head;
    let mut methods = items(head, "Access-Control-Allow-Methods");
    methods.sort_unstable();
    let mut headers: Vec<String> = items(head, "Access-Control-Allow-Headers")
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    headers.sort_unstable();
    let right = head.status == 204
        && head.all("Access-Control-Allow-Origin") == [origin]
        && methods == ALLOWED_METHODS
        && headers == ALLOWED_HEADERS;
    if right && answer.body.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{what} should be 204 with Access-Control-Allow-Origin: {origin}, \
         Access-Control-Allow-Methods: GET, POST, PUT and Access-Control-Allow-Headers: \
         Content-Type, X-Custom-Header: {}",
        answer.shown()
    ))
}

/// The JSON report of `PUT` or `POST /cors`: 200, shared, and these members.
fn report_of(
    answer: &Exchange,
    origin: &str,
    members: &[(&str, Option<&str>)],
) -> Result<(), String> {
    let head = &answer.head;
    if head.status != 200 || head.all("Access-Control-Allow-Origin") != [origin] {
        return Err(format!(
            "should be 200 with Access-Control-Allow-Origin: {origin}: {}",
            answer.shown()
        ));
    }
    let json = read_json_answer(answer)?;
    for (name, value) in members {
        let got = json.get(name);
        let right = match value {
            Some(value) => got.and_then(Json::as_str) == Some(value),
            None => got == Some(&Json::Null),
        };
        if !right {
            return Err(format!(
                "the report should say \"{name}\": {}: {}",
                value.map_or("null".to_string(), |v| show(v.as_bytes())),
                answer.shown()
            ));
        }
    }
    Ok(())
}

/// An `application/json` body, read.
fn read_json_answer(answer: &Exchange) -> Result<Json, String> {
    if answer.head.media_type().as_deref() != Some("application/json") {
        return Err(format!("not application/json: {}", answer.head.shown()));
    }
    read_json(&answer.text()).map_err(|e| format!("{e}: {}", answer.shown()))
}

/// `webwire_cors=<digits>` with the attributes a cross-site cookie needs (chapter 08,
/// "Credentials"): `SameSite=None`, which needs `Secure`, and `Partitioned`; and the path.
fn is_demo_cookie(cookie: &str) -> bool {
    let mut parts = cookie.split(';').map(str::trim);
    let value = parts
        .next()
        .and_then(|pair| pair.strip_prefix("webwire_cors="))
        .unwrap_or("");
    let attributes: Vec<String> = parts.map(str::to_ascii_lowercase).collect();
    let has = |attribute: &str| attributes.iter().any(|a| a == attribute);
    !value.is_empty()
        && value.bytes().all(|b| b.is_ascii_digit())
        && has("path=/cors")
        && has("samesite=none")
        && has("secure")
        && has("partitioned")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_leave_out_port_80() {
        assert_eq!(origin("localhost", 8088), "http://localhost:8088");
        assert_eq!(origin("127.0.0.1", 80), "http://127.0.0.1");
    }

    #[test]
    fn the_demo_cookie_needs_its_attributes() {
        assert!(is_demo_cookie(
            "webwire_cors=12; Path=/cors; Max-Age=3600; HttpOnly; SameSite=None; Secure; \
             Partitioned"
        ));
        assert!(is_demo_cookie(
            "webwire_cors=1;path=/cors;samesite=none;secure;partitioned"
        ));
        assert!(!is_demo_cookie(
            "webwire_cors=1; Path=/cors; SameSite=None; Secure"
        ));
        assert!(!is_demo_cookie(
            "webwire_cors=x; Path=/cors; SameSite=None; Secure; Partitioned"
        ));
        assert!(!is_demo_cookie(
            "webwire_cors=1; Path=/; SameSite=Lax; Secure; Partitioned"
        ));
    }
}
