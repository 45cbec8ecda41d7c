//! The route table: (method, path) → handler, and the answers for everything that matches
//! no route — 404, 405 with `Allow`, 501 — one small function per outcome.

use std::io;
use std::net::TcpStream;
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use crate::App;
use crate::http::body::BodyWriter;
use crate::http::request::Request;
use crate::http::response::Response;
use crate::limits::GONE_CHECK_INTERVAL;
use crate::net::ClientWatch;
use crate::traffic::Counters;

/// What a handler gives back.
pub enum Reply {
    /// A complete response: the common case.
    Full(Response),
    /// A head now, then a body sent piece by piece by the function, which runs on the
    /// connection's thread for as long as it likes. It returns when done, or with the error
    /// of the first write that failed because the client went away.
    Stream(Response, StreamBody),
    /// Like `Stream`, but the body's length is known before its first byte: the head carries
    /// `Content-Length: N` and the function writes exactly N bytes, raw, at its own pace. A
    /// browser can then say how far along it is (`lengthComputable` in XHR progress events),
    /// which a chunked body never allows. Writing more than N fails; fewer closes the
    /// connection, since the client would wait for the rest.
    SizedStream(Response, usize, StreamBody),
    /// `101 Switching Protocols` (RFC 9110 §15.2.2): the head is sent, then the connection
    /// stops speaking HTTP and the function owns the socket until it returns. For WebSocket.
    Upgrade(Response, UpgradeFn),
}

pub type StreamBody = Box<dyn FnOnce(&mut BodyWriter) -> io::Result<()> + Send>;
pub type UpgradeFn = Box<dyn FnOnce(Upgraded) + Send>;

/// A connection after `101 Switching Protocols`, handed to the new protocol.
pub struct Upgraded<'a> {
    /// The socket. Its write timeout is still set (`write_all_within` counts on it); its
    /// read timeout is cleared (none).
    pub stream: Arc<TcpStream>,
    /// Bytes the client sent after its request head, already read off the socket: the new
    /// protocol's first bytes, if the client did not wait for the 101.
    pub buffered: Vec<u8>,
    pub app: &'a App,
    /// The connection's number, `7` in the `#7` that starts its `--trace` lines.
    pub id: u64,
    /// "#7 127.0.0.1:50312", to start log lines with.
    pub peer: &'a str,
    /// The path's traffic counters: the new protocol adds the bytes it reads and writes.
    pub counters: Option<Arc<Counters>>,
}

impl From<Response> for Reply {
    fn from(response: Response) -> Self {
        Reply::Full(response)
    }
}

/// Every handler has this shape: the request and its context in, a reply out.
pub type Handler = fn(&Request, &Context) -> Reply;

/// What a handler may use besides the request: the shared state, and a look at the client.
pub struct Context<'a> {
    pub app: &'a App,
    pub(crate) watch: &'a ClientWatch,
}

impl Context<'_> {
    /// True once the client has closed its side or the connection has failed. A handler that
    /// holds a request open (a long poll) asks this while it waits, so a client that leaves
    /// frees its thread at once instead of at the end of the hold.
    pub fn client_gone(&self) -> bool {
        self.watch.client_gone()
    }

    /// Waits until `until`, looking every `GONE_CHECK_INTERVAL` whether the client has left.
    /// True if it stayed to the end; false as soon as it has gone, so a thread holding a
    /// request for nobody is freed at once.
    pub fn client_stays_until(&self, until: Instant) -> bool {
        loop {
            if self.client_gone() {
                return false;
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            thread::sleep(left.min(GONE_CHECK_INTERVAL));
        }
    }

    /// The watch on the client, for a stream's body (which runs after the handler has
    /// returned, when the `Context` is gone) to ask whether the client left while it waits.
    pub fn watch(&self) -> ClientWatch {
        self.watch.clone()
    }
}

/// A route's method that accepts GET, POST, PUT, PATCH and DELETE (HEAD and OPTIONS stay the
/// server's own). For endpoints that report whatever arrives, like `/ajax/echo`.
pub const ANY: &str = "*";
const ANY_METHODS: [&str; 6] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];

/// The methods this server recognises (RFC 9110 §9 and PATCH, RFC 5789). Any other token is
/// answered 501 Not Implemented: "not supported for any resource" (RFC 9110 §15.6.2).
const KNOWN_METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

struct Route {
    method: &'static str,
    path: String,
    handler: Handler,
}

#[derive(Default)]
pub struct Router {
    routes: Vec<Route>,
}

impl Router {
    pub fn add(&mut self, method: &'static str, path: impl Into<String>, handler: Handler) {
        self.routes.push(Route {
            method,
            path: path.into(),
            handler,
        });
    }

    // ANCHOR: dispatch
    pub fn dispatch(&self, request: &Request, context: &Context) -> Reply {
        let method = request.method.as_str();
        if !KNOWN_METHODS.contains(&method) {
            return not_implemented("this server does not know that method");
        }
        if method == "CONNECT" {
            return not_implemented("CONNECT is for proxies, and this is not one");
        }
        if request.path == "*" {
            return options(self.all_methods()); // `OPTIONS *`: the server as a whole
        }
        let on_path: Vec<&Route> = self
            .routes
            .iter()
            .filter(|r| r.path == request.path)
            .collect();
        if on_path.is_empty() {
            return not_found(&request.path);
        }
        if let Some(route) = find_route(&on_path, method) {
            return (route.handler)(request, context);
        }
        // ANCHOR: not_allowed
        let allowed = allow_list(on_path.iter().map(|r| r.method));
        match method {
            "OPTIONS" => options(allowed),
            "TRACE" => method_not_allowed(
                allowed,
                "TRACE is disabled: it echoes the request, cookies included (cross-site tracing)",
            ),
            _ => method_not_allowed(allowed, "this path does not accept that method"),
        }
        // ANCHOR_END: not_allowed
    }
    // ANCHOR_END: dispatch

    /// Every path some route serves, each once.
    pub fn paths(&self) -> Vec<String> {
        let mut paths: Vec<String> = self.routes.iter().map(|r| r.path.clone()).collect();
        paths.sort();
        paths.dedup();
        paths
    }

    /// Whether a handler would take this request (rather than a 404, 405 or 501).
    pub fn accepts(&self, request: &Request) -> bool {
        let on_path: Vec<&Route> = self
            .routes
            .iter()
            .filter(|r| r.path == request.path)
            .collect();
        find_route(&on_path, &request.method).is_some()
    }

    fn all_methods(&self) -> String {
        allow_list(self.routes.iter().map(|r| r.method))
    }
}

/// The route for this method among those on one path. HEAD is GET without the body
/// (RFC 9110 §9.3.2): it runs the GET handler, and the server drops the body.
fn find_route<'a>(on_path: &[&'a Route], method: &str) -> Option<&'a Route> {
    let wanted = if method == "HEAD" { "GET" } else { method };
    on_path.iter().copied().find(|route| {
        route.method == wanted || (route.method == ANY && ANY_METHODS.contains(&wanted))
    })
}

/// The `Allow` value for a set of methods: each once, with HEAD wherever GET is and OPTIONS
/// always (the server answers both by itself).
fn allow_list<'a>(methods: impl Iterator<Item = &'a str>) -> String {
    let mut list: Vec<&str> = Vec::new();
    for method in methods {
        let expanded: &[&str] = match method {
            ANY => &ANY_METHODS,
            "GET" => &["GET", "HEAD"],
            other => &[other][..],
        };
        for &m in expanded {
            if !list.contains(&m) {
                list.push(m);
            }
        }
    }
    if !list.contains(&"OPTIONS") {
        list.push("OPTIONS");
    }
    list.join(", ")
}

fn options(allowed: String) -> Reply {
    Response::new(204).with_header("Allow", allowed).into()
}

/// 404, with a way back: the body is a small HTML page linking to the index.
pub fn not_found(path: &str) -> Reply {
    let body = format!(
        "<!doctype html>\n<meta charset=\"utf-8\">\n<title>404 Not Found</title>\n\
         <p>Nothing here at <code>{}</code>. <a href=\"/\">The index</a> lists every demo.</p>\n",
        escape_html(path)
    );
    Response::html(404, body).into()
}

/// 405 must say which methods would work (RFC 9110 §15.5.6).
pub fn method_not_allowed(allowed: String, reason: &str) -> Reply {
    Response::text(405, format!("{reason}\n"))
        .with_header("Allow", allowed)
        .into()
}

pub fn not_implemented(reason: &str) -> Reply {
    Response::text(501, format!("{reason}\n")).into()
}

/// Escapes text for an HTML element body or a quoted attribute.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_lists_add_head_and_options() {
        assert_eq!(allow_list(["GET"].into_iter()), "GET, HEAD, OPTIONS");
        assert_eq!(
            allow_list(["POST", "GET", "POST"].into_iter()),
            "POST, GET, HEAD, OPTIONS"
        );
        assert_eq!(allow_list(["OPTIONS", "PUT"].into_iter()), "OPTIONS, PUT");
        assert_eq!(
            allow_list([ANY].into_iter()),
            "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
        );
    }

    #[test]
    fn html_escaping() {
        assert_eq!(
            escape_html("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
    }
}
