//! The route table: (method, path) → handler, and the answers for everything that matches
//! no route — 404, 405 with `Allow`, 501 — one small function per outcome.

use crate::handler::{Context, Handler, Reply};
use crate::html::escape_html;
use crate::http::method::Method;
use crate::http::request::Request;
use crate::http::response::Response;

/// Which methods a route answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteMethod {
    /// This method (and HEAD, if it is GET).
    Only(Method),
    /// Every method that reports what arrived may use: GET, HEAD, POST, PUT, PATCH and
    /// DELETE. HEAD and OPTIONS stay the server's own. For `/ajax/echo`.
    Any,
}

/// The methods `RouteMethod::Any` stands for.
const ANY_METHODS: [Method; 6] = [
    Method::Get,
    Method::Head,
    Method::Post,
    Method::Put,
    Method::Patch,
    Method::Delete,
];

/// One line of the table.
pub struct Route {
    pub method: RouteMethod,
    pub path: String,
    pub handler: Handler,
}

impl Route {
    pub fn new(
        method: Method,
        path: impl Into<String>,
        handler: impl Fn(&Request, &Context) -> Reply + Send + Sync + 'static,
    ) -> Route {
        Route {
            method: RouteMethod::Only(method),
            path: path.into(),
            handler: std::sync::Arc::new(handler),
        }
    }

    pub fn get(
        path: impl Into<String>,
        handler: impl Fn(&Request, &Context) -> Reply + Send + Sync + 'static,
    ) -> Route {
        Route::new(Method::Get, path, handler)
    }

    pub fn post(
        path: impl Into<String>,
        handler: impl Fn(&Request, &Context) -> Reply + Send + Sync + 'static,
    ) -> Route {
        Route::new(Method::Post, path, handler)
    }

    /// A route for every method in `RouteMethod::Any`.
    pub fn any(
        path: impl Into<String>,
        handler: impl Fn(&Request, &Context) -> Reply + Send + Sync + 'static,
    ) -> Route {
        Route {
            method: RouteMethod::Any,
            path: path.into(),
            handler: std::sync::Arc::new(handler),
        }
    }

    /// HEAD is GET without the body (RFC 9110 §9.3.2): it runs the GET handler, and the
    /// server drops the body.
    fn answers(&self, method: &Method) -> bool {
        let wanted = if *method == Method::Head {
            &Method::Get
        } else {
            method
        };
        match &self.method {
            RouteMethod::Only(own) => own == wanted,
            RouteMethod::Any => ANY_METHODS.contains(wanted),
        }
    }
}

#[derive(Default)]
pub struct Router {
    routes: Vec<Route>,
}

impl Router {
    pub fn add(&mut self, route: Route) {
        self.routes.push(route);
    }

    // ANCHOR: dispatch
    pub fn dispatch(&self, request: &Request, context: &Context) -> Reply {
        match &request.method {
            Method::Other(_) => return not_implemented("this server does not know that method"),
            Method::Connect => {
                return not_implemented("CONNECT is for proxies, and this is not one");
            }
            _ => {}
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
        if let Some(route) = on_path.iter().find(|r| r.answers(&request.method)) {
            return (route.handler)(request, context);
        }
        // ANCHOR: not_allowed
        let allowed = allow_list(on_path.iter().map(|r| &r.method));
        match request.method {
            Method::Options => options(allowed),
            Method::Trace => method_not_allowed(
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
        self.routes
            .iter()
            .any(|r| r.path == request.path && r.answers(&request.method))
    }

    fn all_methods(&self) -> String {
        allow_list(self.routes.iter().map(|r| &r.method))
    }
}

/// The `Allow` value for a set of routes: each method once, with HEAD wherever GET is and
/// OPTIONS always (the server answers both by itself).
fn allow_list<'a>(methods: impl Iterator<Item = &'a RouteMethod>) -> String {
    let mut list: Vec<&Method> = Vec::new();
    for method in methods {
        let expanded: &[Method] = match method {
            RouteMethod::Any => &ANY_METHODS,
            RouteMethod::Only(Method::Get) => &[Method::Get, Method::Head],
            RouteMethod::Only(other) => std::slice::from_ref(other),
        };
        for m in expanded {
            if !list.contains(&m) {
                list.push(m);
            }
        }
    }
    if !list.contains(&&Method::Options) {
        list.push(&Method::Options);
    }
    let names: Vec<&str> = list.iter().map(|m| m.as_str()).collect();
    names.join(", ")
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
    Response::refusal(405, reason)
        .with_header("Allow", allowed)
        .into()
}

pub fn not_implemented(reason: &str) -> Reply {
    Response::refusal(501, reason).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn only(method: Method) -> RouteMethod {
        RouteMethod::Only(method)
    }

    #[test]
    fn allow_lists_add_head_and_options() {
        assert_eq!(allow_list([only(Method::Get)].iter()), "GET, HEAD, OPTIONS");
        assert_eq!(
            allow_list([only(Method::Post), only(Method::Get), only(Method::Post)].iter()),
            "POST, GET, HEAD, OPTIONS"
        );
        assert_eq!(
            allow_list([only(Method::Options), only(Method::Put)].iter()),
            "OPTIONS, PUT"
        );
        assert_eq!(
            allow_list([RouteMethod::Any].iter()),
            "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
        );
    }
}
