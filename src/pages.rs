//! The browser pages and the docs, compiled into the binary, served with an `ETag`: the
//! chapters both as written (Markdown) and rendered (`site/`), and the project's own files.
//!
//! `include_str!` copies `demos/*.html` and `docs/*.md` into the executable at build time, so
//! `cargo run` works from any directory and no request path ever reaches the filesystem (there
//! is no `../` to get wrong). Each page gets a strong `ETag` from a hash of its bytes; a browser
//! that already has the page asks `If-None-Match: "<etag>"` and gets `304 Not Modified` with no
//! body (RFC 9110 §8.8.3, §13.1.2).

use std::sync::Mutex;

use crate::demos::Demo;
use crate::handler::{Context, Reply};
use crate::html::escape_html;
use crate::http::request::Request;
use crate::http::response::Response;
use crate::router::{Route, Router, not_found};
use crate::site::{self, DemoLink};

/// `doc!("02-ajax.md")` is `("02-ajax.md", <the text of docs/02-ajax.md>)`.
macro_rules! doc {
    ($file:literal) => {
        ($file, include_str!(concat!("../docs/", $file)))
    };
}

/// The chapters, as the index links them: `/docs/<file>`. A test checks this table lists
/// every file in `docs/`.
pub const DOCS: &[(&str, &str)] = &[
    doc!("README.md"),
    doc!("00-getting-started.md"),
    doc!("01-http-by-hand.md"),
    doc!("02-ajax.md"),
    doc!("03-polling.md"),
    doc!("04-long-polling.md"),
    doc!("05-xhr-streaming.md"),
    doc!("06-iframe-streaming.md"),
    doc!("07-sse.md"),
    doc!("08-cors.md"),
    doc!("09-jsonp.md"),
    doc!("10-image-ping.md"),
    doc!("11-postmessage.md"),
    doc!("12-websocket.md"),
    doc!("13-chat.md"),
    doc!("14-choosing.md"),
    doc!("15-scale.md"),
    doc!("16-faults.md"),
    doc!("17-beyond-one-server.md"),
    doc!("appendix-limits.md"),
    doc!("reference.md"),
    doc!("sources.md"),
];

/// Pictures the chapters show, served at `/docs/img/<file>`. `every_doc_is_served` checks
/// this lists every SVG in `docs/img/`.
pub const DOC_IMAGES: &[(&str, &str)] = &[("scale.svg", include_str!("../docs/img/scale.svg"))];

const INDEX_TEMPLATE: &str = include_str!("../demos/index.html");
const STYLE: &str = include_str!("../demos/style.css");
/// The network-faults panel every demo page loads (`faults/`, chapter 16).
const FAULTS_PANEL: &str = include_str!("../demos/faults.js");
const INSPECTOR_PANEL: &str = include_str!("../demos/inspector.js");

/// One file the server can send.
#[derive(Clone)]
pub struct Page {
    pub path: String,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub etag: String,
}

impl Page {
    fn new(path: impl Into<String>, content_type: &'static str, body: impl Into<Vec<u8>>) -> Page {
        let body = body.into();
        // The first 16 hex digits of the SHA-1 of the bytes: the same page always has the
        // same tag, and any edit changes it.
        let digest = sha1_smol::Sha1::from(&body).digest().to_string();
        Page {
            path: path.into(),
            content_type,
            etag: format!("\"{}\"", &digest[..16]),
            body,
        }
    }
}

/// Every page for the chosen demos: the index, the stylesheet, one page per demo, the docs.
/// Building them renders every chapter and hashes every file; a process that starts many
/// servers (the tests) does that once per set of demos and copies the result.
pub fn build(demos: &[&'static Demo]) -> Vec<Page> {
    static BUILT: Mutex<Vec<(Vec<&'static str>, Vec<Page>)>> = Mutex::new(Vec::new());
    let key: Vec<&'static str> = demos.iter().map(|demo| demo.name).collect();
    if let Ok(built) = BUILT.lock()
        && let Some((_, pages)) = built.iter().find(|(names, _)| *names == key)
    {
        return pages.clone();
    }
    let pages = build_afresh(demos);
    if let Ok(mut built) = BUILT.lock() {
        built.push((key, pages.clone()));
    }
    pages
}

fn build_afresh(demos: &[&'static Demo]) -> Vec<Page> {
    let html = "text/html; charset=utf-8";
    let mut pages = vec![
        Page::new("/", html, index_html(demos)),
        Page::new("/style.css", "text/css; charset=utf-8", STYLE),
        Page::new("/faults.js", "text/javascript; charset=utf-8", FAULTS_PANEL),
        Page::new(
            "/inspector.js",
            "text/javascript; charset=utf-8",
            INSPECTOR_PANEL,
        ),
    ];
    for demo in demos {
        pages.push(Page::new(format!("/{}.html", demo.name), html, demo.page));
        for (path, content) in demo.extra_pages {
            pages.push(Page::new(*path, html, *content));
        }
    }
    for (file, text) in DOCS {
        // The Markdown as written, text/markdown (RFC 7763), for `curl` and editors; a
        // browser asking for it is sent to the rendered chapter (`serve_markdown`).
        pages.push(Page::new(
            format!("/docs/{file}"),
            "text/markdown; charset=utf-8",
            *text,
        ));
    }
    for (file, svg) in DOC_IMAGES {
        pages.push(Page::new(
            format!("/docs/img/{file}"),
            "image/svg+xml",
            *svg,
        ));
    }
    // The chapters rendered, linking to the demo pages this server has.
    let demo_pages: Vec<String> = pages
        .iter()
        .filter(|p| p.path.ends_with(".html"))
        .map(|p| p.path.clone())
        .collect();
    let demo_links: Vec<DemoLink> = demos
        .iter()
        .map(|demo| DemoLink {
            chapter: demo.chapter,
            page: format!("/{}.html", demo.name),
            title: demo.title,
        })
        .collect();
    for chapter in site::chapters(DOCS, &demo_links, &demo_pages) {
        pages.push(Page::new(chapter.path, html, chapter.html));
    }
    // The project's own files, which the chapters link to.
    pages.push(Page::new("/source/", html, site::source_index()));
    for (path, text) in site::sources::SOURCES {
        pages.push(Page::new(
            format!("/source/{path}"),
            html,
            site::source_page(path, text),
        ));
    }
    pages
}

/// Adds a GET route for every page.
pub fn add_routes(router: &mut Router, pages: &[Page]) {
    for page in pages {
        let handler = if page.path.ends_with(".md") {
            serve_markdown
        } else {
            serve
        };
        router.add(Route::get(page.path.clone(), handler));
    }
    router.add(Route::get("/favicon.ico", no_icon));
}

/// Every browser asks for `/favicon.ico` on its own. We have none: say so with an empty answer
/// it may remember for a day, rather than a 404 in every page's console.
fn no_icon(_: &Request, _: &Context) -> Reply {
    Response::new(204)
        .with_header("Cache-Control", "max-age=86400")
        .into()
}

/// The index: the template with one list item per demo.
fn index_html(demos: &[&'static Demo]) -> String {
    let items: String = if demos.is_empty() {
        "<li>No demos are built yet: each arrives with its issue.</li>\n".to_string()
    } else {
        demos
            .iter()
            .map(|demo| {
                format!(
                    "<li><a href=\"/{name}.html\">{title}</a> — {summary} \
                     <a class=\"chapter\" href=\"{chapter}\">chapter</a></li>\n",
                    name = demo.name,
                    title = escape_html(demo.title),
                    summary = escape_html(demo.summary),
                    chapter = site::chapter_path(demo.chapter),
                )
            })
            .collect()
    };
    INDEX_TEMPLATE.replace("<!-- demos -->", &items)
}

/// A chapter's Markdown: to a browser, which prefers HTML (`Accept: text/html,…`), a `307` to
/// the rendered chapter; to anyone else (`curl` and `fetch()` send `*/*`), the Markdown. The
/// Markdown is still here, so the redirect is temporary (307, not 308, which a browser would
/// remember for good), and `Vary: Accept` tells caches the answer depends on that header
/// (RFC 9110 §12.5.5, §15.4.8).
fn serve_markdown(request: &Request, context: &Context) -> Reply {
    let accept: Vec<&str> = request.header_values("accept").collect();
    let accept = accept.join(",");
    // HTML only when it is wanted more than Markdown: `*/*` wants both alike.
    let wants_html = weight(&accept, "text/html") > weight(&accept, "text/markdown");
    if wants_html && let Some(file) = request.path.strip_prefix("/docs/") {
        let rendered = site::chapter_path(file);
        return Response::new(307)
            .with_header("Location", rendered.clone())
            .with_header("Vary", "Accept")
            .with_header("Cache-Control", "no-cache")
            .with_header("Content-Type", "text/plain; charset=utf-8")
            .with_body(format!("The chapter, rendered: {rendered}\n").into_bytes())
            .into();
    }
    match serve(request, context) {
        Reply::Full(response) => response.with_header("Vary", "Accept").into(),
        other => other,
    }
}

/// How much an `Accept` header wants `media` (`text/html`): the weight of the most specific
/// range that matches it, `type/subtype` before `type/*` before `*/*` (RFC 9110 §12.5.1);
/// 1 by default, 0 when nothing matches. No `Accept` at all means anything goes.
fn weight(accept: &str, media: &str) -> f32 {
    if accept.trim().is_empty() {
        return 1.0;
    }
    let kind = media.split('/').next().unwrap_or("");
    let mut best: Option<(u8, f32)> = None; // (how specific, weight)
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let name = parts.next().unwrap_or("");
        let specific = if name.eq_ignore_ascii_case(media) {
            3
        } else if name.eq_ignore_ascii_case(&format!("{kind}/*")) {
            2
        } else if name == "*/*" {
            1
        } else {
            continue;
        };
        // `q` is case-insensitive (§12.4.2); a weight that is not a number counts as 1.
        let q = parts
            .filter_map(|p| p.split_once('='))
            .find(|(key, _)| key.trim().eq_ignore_ascii_case("q"))
            .and_then(|(_, value)| value.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if best.is_none_or(|(s, _)| specific > s) {
            best = Some((specific, q));
        }
    }
    best.map_or(0.0, |(_, q)| q)
}

// ANCHOR: serve
/// The handler behind every page route.
pub fn serve(request: &Request, context: &Context) -> Reply {
    let Some(page) = context.app.pages.iter().find(|p| p.path == request.path) else {
        return not_found(&request.path);
    };
    // `no-cache` means "store it, but ask me before using it": the ETag makes asking cheap.
    let response = Response::new(200)
        .with_header("ETag", page.etag.clone())
        .with_header("Cache-Control", "no-cache");
    if request.client_has_etag(&page.etag) {
        return Response {
            status: 304,
            ..response
        }
        .into();
    }
    response
        .with_header("Content-Type", page.content_type)
        .with_body(page.body.clone())
        .into()
}
// ANCHOR_END: serve

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_demo_page_has_the_faults_panel_and_the_inspector() {
        // The child page lives in a frame of its parent, which has both.
        for page in files_in("demos", ".html") {
            let text = std::fs::read_to_string(format!("demos/{page}")).unwrap();
            for script in ["/faults.js", "/inspector.js"] {
                let loads_it = text.contains(&format!("<script src=\"{script}\" defer></script>"));
                assert_eq!(
                    loads_it,
                    page != "postmessage-child.html",
                    "{page} {script}"
                );
            }
        }
    }

    #[test]
    fn every_doc_is_served() {
        // A chapter or a picture added to docs/ but not to DOCS or DOC_IMAGES would be missing
        // from the server.
        assert_eq!(names(DOCS), files_in("docs", ".md"));
        assert_eq!(names(DOC_IMAGES), files_in("docs/img", ".svg"));
    }

    /// The names in a table of compiled-in files, sorted.
    fn names(table: &[(&str, &str)]) -> Vec<String> {
        let mut names: Vec<String> = table.iter().map(|(name, _)| name.to_string()).collect();
        names.sort();
        names
    }

    /// The files in a folder of the project whose names end so, sorted.
    fn files_in(folder: &str, ending: &str) -> Vec<String> {
        let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(folder);
        let mut names: Vec<String> = std::fs::read_dir(folder)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(ending))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_browser_is_told_apart_from_curl_by_what_it_accepts() {
        let firefox = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
        assert_eq!(weight(firefox, "text/html"), 1.0);
        assert_eq!(weight(firefox, "text/markdown"), 0.8);
        assert_eq!(weight("*/*", "text/html"), 1.0); // curl: both alike, so the Markdown
        assert_eq!(weight("text/html;Q=0, */*", "text/html"), 0.0);
        assert_eq!(
            weight("text/markdown, text/html;q=0.1", "text/markdown"),
            1.0
        );
        assert_eq!(weight("text/*;q=0.5", "text/html"), 0.5);
        assert_eq!(weight("application/json", "text/html"), 0.0);
        assert_eq!(weight("", "text/html"), 1.0);
    }

    #[test]
    fn extra_pages_are_served_with_their_demo_only() {
        let paths = |demos: &[&'static Demo]| -> Vec<String> {
            build(demos).into_iter().map(|page| page.path).collect()
        };
        let postmessage = crate::demos::find("postmessage").unwrap();
        let image_ping = crate::demos::find("image-ping").unwrap();
        assert!(paths(&[postmessage]).contains(&"/postmessage-child.html".to_string()));
        assert!(!paths(&[image_ping]).contains(&"/postmessage-child.html".to_string()));
        // No two pages share a path (only the first would ever be served).
        let mut all = paths(crate::demos::ALL);
        let count = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), count);
    }

    #[test]
    fn the_index_lists_no_placeholders() {
        let html = index_html(&[]);
        assert!(html.contains("No demos are built yet"));
        assert!(!html.contains("<!-- demos -->"));
    }
}
