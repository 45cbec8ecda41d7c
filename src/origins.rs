//! Which origins may talk to this server across origins: the allow-list shared by CORS
//! (`Access-Control-Allow-Origin`), the WebSocket handshake (`Origin` → 403) and the chat room.
//!
//! An origin is scheme, host and port (RFC 6454). The demos' two origins are the two names
//! this server answers to on one port: a page from `http://localhost:8088` and a page from
//! `http://127.0.0.1:8088` are different origins to the browser, which is how every
//! cross-origin demo gets a real second origin without a second server. `--allow-origin`
//! adds more.

use crate::http::request::Request;

// ANCHOR: allowed_for
/// The one origin check every cross-origin place makes — CORS, the WebSocket handshake, the
/// chat room, a `postMessage` target: may a page from `origin` talk to this server, as this
/// request reached it (its `Host` names the port)? With no `Host` (HTTP/1.0 may leave it
/// out) nothing names the port the page is on, and "port 80" would be a guess: then only the
/// `--allow-origin` origins are.
pub fn allowed_for(request: &Request, origin: &str, extra_origins: &[String]) -> bool {
    match request.header("host") {
        Some(host) => origin_allowed(origin, host, extra_origins),
        None => origin != "null" && extra_origins.iter().any(|extra| extra == origin),
    }
}
// ANCHOR_END: allowed_for

// ANCHOR: verdict
/// What a request's `Origin` says about who may act through it, for every place that changes
/// state or opens a socket: the chat room, the long-poll log, the WebSocket handshake. One
/// rule for all of them, so that no endpoint is the one a foreign page can still post to.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict<'a> {
    /// No `Origin`: not a browser (curl, a script), which has no visitor's cookies to abuse.
    NotABrowser,
    /// A demo origin, or one given with `--allow-origin`.
    Allowed,
    /// Another site's page: refuse (403).
    Foreign(&'a str),
    /// Several `Origin` headers: which page sent this cannot be told, so refuse (403).
    Ambiguous,
}

pub fn verdict<'a>(request: &'a Request, extra_origins: &[String]) -> Verdict<'a> {
    let mut origins = request.header_values("origin");
    match (origins.next(), origins.next()) {
        (None, _) => Verdict::NotABrowser,
        (Some(_), Some(_)) => Verdict::Ambiguous,
        (Some(origin), None) if allowed_for(request, origin, extra_origins) => Verdict::Allowed,
        (Some(origin), None) => Verdict::Foreign(origin),
    }
}

/// The reason for a 403 when `verdict` refuses, `what` saying what was refused ("post to
/// this room"); `None` when it does not.
pub fn refusal_reason(verdict: &Verdict, what: &str) -> Option<String> {
    match verdict {
        Verdict::NotABrowser | Verdict::Allowed => None,
        Verdict::Foreign(origin) => Some(format!("pages from {origin} may not {what}")),
        Verdict::Ambiguous => Some(format!(
            "more than one Origin header: a request that may {what} must say which page sent it"
        )),
    }
}
// ANCHOR_END: verdict

// ANCHOR: allow_list
/// Whether a page from `origin` may read this server's answers: the two demo origins on the
/// port the request was sent to (from `Host`), or one given with `--allow-origin`. Compared
/// byte for byte, as the browser does: it sends a serialized origin (lowercase, no default
/// port, no trailing slash), so any other spelling is another origin.
pub fn origin_allowed(origin: &str, host: &str, extra_origins: &[String]) -> bool {
    // `null` is the origin of every sandboxed frame, file: page and data: document, and of a
    // request redirected across origins. Allowing it would allow all of them at once.
    if origin == "null" {
        return false;
    }
    let demo =
        port_of_host(host).is_some_and(|port| demo_origins(port).iter().any(|demo| demo == origin));
    demo || extra_origins.iter().any(|extra| extra == origin)
}

/// The origins of the two names this server answers to on one port. An origin leaves out
/// its scheme's default port: `http://localhost`, not `http://localhost:80`.
pub fn demo_origins(port: u16) -> [String; 2] {
    let port = if port == 80 {
        String::new()
    } else {
        format!(":{port}")
    };
    [
        format!("http://localhost{port}"),
        format!("http://127.0.0.1{port}"),
    ]
}

/// The port of `Host: name[:port]` (RFC 9110 §7.2), `[::1]:8088` included; 80 if none.
pub fn port_of_host(host: &str) -> Option<u16> {
    let after_name = match host.strip_prefix('[') {
        Some(literal) => &literal[literal.find(']')? + 1..],
        None => host.find(':').map_or("", |colon| &host[colon..]),
    };
    match after_name.strip_prefix(':') {
        _ if after_name.is_empty() => Some(80),
        Some("") => Some(80), // `host:`: an empty port is the default (RFC 3986 §3.2.3)
        Some(digits) if digits.bytes().all(|b| b.is_ascii_digit()) => digits.parse().ok(),
        _ => None,
    }
}
// ANCHOR_END: allow_list

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(origin: &str, host: &str) -> bool {
        origin_allowed(origin, host, &["http://app.test:3000".to_string()])
    }

    #[test]
    fn the_demo_origins_are_both_loopback_names_on_the_requests_port() {
        assert!(allowed("http://localhost:8088", "127.0.0.1:8088"));
        assert!(allowed("http://127.0.0.1:8088", "localhost:8088"));
        assert!(allowed("http://127.0.0.1:8088", "[::1]:8088"));
        assert!(
            !allowed("http://localhost:8089", "127.0.0.1:8088"),
            "another port"
        );
        assert!(
            !allowed("http://[::1]:8088", "127.0.0.1:8088"),
            "only two names"
        );
        assert!(
            !allowed("https://localhost:8088", "127.0.0.1:8088"),
            "another scheme"
        );
        // Port 80 is http's default, and a serialized origin leaves it out.
        assert!(allowed("http://localhost", "127.0.0.1"));
        assert!(allowed("http://127.0.0.1", "localhost:80"));
        assert!(!allowed("http://localhost:80", "127.0.0.1"));
    }

    #[test]
    fn allow_origin_adds_exact_origins() {
        assert!(allowed("http://app.test:3000", "localhost:8088"));
        assert!(allowed("http://app.test:3000", ""), "with no Host too");
        for near_miss in [
            "http://app.test:3000/",
            "http://APP.test:3000",
            "http://app.test",
            "https://app.test:3000",
            "http://app.test:30000",
        ] {
            assert!(!allowed(near_miss, "localhost:8088"), "{near_miss}");
        }
    }

    #[test]
    fn with_no_host_only_the_listed_origins_are_allowed() {
        let request = |head: &str| crate::http::request::parsed(head);
        let extra = ["http://app.test:3000".to_string()];
        let no_host = request("GET / HTTP/1.0\r\n\r\n");
        for origin in [
            "http://localhost",
            "http://127.0.0.1",
            "http://localhost:8088",
        ] {
            assert!(!allowed_for(&no_host, origin, &extra), "{origin}");
        }
        assert!(allowed_for(&no_host, "http://app.test:3000", &extra));
        let with_host = request("GET / HTTP/1.0\r\nHost: localhost\r\n\r\n");
        assert!(allowed_for(&with_host, "http://localhost", &extra));
    }

    #[test]
    fn null_is_never_allowed() {
        assert!(!allowed("null", "localhost:8088"));
        let listed = ["null".to_string()];
        assert!(
            !origin_allowed("null", "localhost:8088", &listed),
            "even if listed"
        );
        assert!(!allowed("", "localhost:8088"));
    }

    #[test]
    fn ports_come_from_the_host_header() {
        for (host, port) in [
            ("localhost:8088", Some(8088)),
            ("localhost", Some(80)),
            ("localhost:", Some(80)),
            ("[::1]:9000", Some(9000)),
            ("[::1]", Some(80)),
            ("127.0.0.1:65535", Some(65535)),
            ("127.0.0.1:65536", None),
            ("localhost:+1", None),
            ("[::1", None),
            ("a:b:c", None),
        ] {
            assert_eq!(port_of_host(host), port, "{host}");
        }
        assert_eq!(
            demo_origins(8088),
            ["http://localhost:8088", "http://127.0.0.1:8088"]
        );
    }
}
