//! The chapters as a site: `docs/*.md` rendered to HTML by the server, at `/docs/` (the list
//! of chapters) and `/docs/NN-name` (one chapter), with the demos' stylesheet, a contents
//! list, previous / next links, and a link to the chapter's demo page.
//!
//! The Markdown stays the source: GitHub and a text editor read the same files. Links between
//! chapters are written as relative `.md` links, which work on GitHub and on disk, and are
//! rewritten here to the rendered URLs; links to the demo pages (`../demos/sse.html`) become
//! the served pages (`/sse.html`).

pub mod flowchart;
pub mod markdown;
pub mod sequence;
pub mod sources;
mod svg;

use crate::html::{escape_html, escape_text};
use markdown::{Heading, Options, render};

/// A chapter as the site serves it.
pub struct Chapter {
    /// `07-sse.md`, as in `docs/`.
    pub file: &'static str,
    /// `/docs/07-sse`; `/docs/` for the chapter list (`README.md`).
    pub path: String,
    /// The title, from the chapter's first heading, as HTML.
    pub title: String,
    /// The whole page.
    pub html: String,
}

/// A demo whose page a chapter links to: the demo page's path and its title.
pub struct DemoLink {
    pub chapter: &'static str,
    pub page: String,
    pub title: &'static str,
}

/// Where a chapter is served: `/docs/07-sse` for `07-sse.md`, `/docs/` for `README.md`.
pub fn chapter_path(file: &str) -> String {
    match file {
        "README.md" => "/docs/".to_string(),
        _ => format!("/docs/{}", file.trim_end_matches(".md")),
    }
}

/// A link as a chapter writes it (for GitHub and the disk), rewritten for the server.
/// `pages` are the demo pages the server has.
pub fn site_link(url: &str, pages: &[String]) -> String {
    if url.contains("://") || url.starts_with('#') || url.starts_with("mailto:") {
        return url.to_string();
    }
    let (path, fragment) = match url.split_once('#') {
        Some((path, fragment)) => (path, format!("#{fragment}")),
        None => (url, String::new()),
    };
    // Another chapter: `08-cors.md`, `README.md`.
    if !path.contains('/') && path.ends_with(".md") {
        return format!("{}{fragment}", chapter_path(path));
    }
    // A demo page: `../demos/sse.html` is served as `/sse.html`, if this server has it.
    if let Some(page) = path.strip_prefix("../demos/") {
        let served = format!("/{page}");
        if pages.contains(&served) {
            return format!("{served}{fragment}");
        }
    }
    // A picture beside the chapters.
    if path.starts_with("img/") {
        return format!("/docs/{path}{fragment}");
    }
    // One of the project's files: its page under `/source/`.
    if let Some(file) = path.strip_prefix("../")
        && sources::find(file).is_some()
    {
        return format!("/source/{file}{fragment}");
    }
    // A file beside the chapters, such as `nginx/two-webwires.conf`: its page too.
    let beside = format!("docs/{path}");
    if sources::find(&beside).is_some() {
        return format!("/source/{beside}{fragment}");
    }
    url.to_string()
}

/// The page for one of the project's files: its text, escaped, to read in the browser.
pub fn source_page(path: &str, text: &str) -> String {
    let body = format!(
        "<h1><code>{}</code></h1>\n<pre tabindex=\"0\"><code>{}</code></pre>\n",
        escape_html(path),
        escape_text(text)
    );
    page_shell(&escape_html(path), "<a href=\"/source/\">source</a>", &body)
}

/// The list of the project's files.
pub fn source_index() -> String {
    let items: String = sources::SOURCES
        .iter()
        .map(|(path, _)| {
            format!(
                "<li><a href=\"/source/{}\"><code>{}</code></a></li>\n",
                escape_html(path),
                escape_html(path)
            )
        })
        .collect();
    let body = format!(
        "<h1>The source</h1>\n<p>Every file of the project that the chapters link to, as \
         compiled into this server.</p>\n<ul>\n{items}</ul>\n"
    );
    page_shell("The source", "source", &body)
}

/// A page of the site: the head, the trail back to the index, and `main`.
fn page_shell(title: &str, trail: &str, main: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title} — webwire</title>\n\
         <link rel=\"stylesheet\" href=\"/style.css\">\n</head>\n<body class=\"chapter\">\n\
         <header><nav class=\"crumbs\" aria-label=\"Site\"><a href=\"/\">webwire</a> › \
         {trail}</nav></header>\n<main>\n{main}</main>\n</body>\n</html>\n"
    )
}

/// Renders every chapter, in the order given (the teaching order), each with links to the one
/// before and after it.
pub fn chapters(
    docs: &[(&'static str, &'static str)],
    demos: &[DemoLink],
    pages: &[String],
) -> Vec<Chapter> {
    let rewrite = |url: &str| site_link(url, pages);
    // Numbers the diagrams, so that each SVG's ids are its own.
    let drawn = std::cell::Cell::new(0);
    let draw = |info: &str, code: &str| {
        drawn.set(drawn.get() + 1);
        diagram(info, code, drawn.get())
    };
    let options = Options {
        heading_ids: true,
        rewrite_link: &rewrite,
        fence: &draw,
    };
    let rendered: Vec<(&'static str, markdown::Rendered)> = docs
        .iter()
        .map(|(file, text)| {
            drawn.set(0); // ids need only be unique within one page
            let mut rendered = render(text, &options);
            rendered.html = scrollable(&rendered.html);
            (*file, rendered)
        })
        .collect();
    let titles: Vec<String> = rendered
        .iter()
        .map(|(file, r)| {
            r.headings
                .first()
                .map_or_else(|| escape_html(file), |h| h.html.clone())
        })
        .collect();
    rendered
        .iter()
        .enumerate()
        .map(|(n, (file, body))| {
            let neighbour = |m: Option<usize>| {
                m.and_then(|m| {
                    rendered
                        .get(m)
                        .map(|(f, _)| (chapter_path(f), titles[m].clone()))
                })
            };
            let page = Page {
                title: &titles[n],
                body: &body.html,
                headings: &body.headings,
                demo: demos.iter().find(|d| d.chapter == *file),
                previous: neighbour(n.checked_sub(1)),
                next: neighbour(Some(n + 1)),
                source: file,
            };
            Chapter {
                file,
                path: chapter_path(file),
                title: titles[n].clone(),
                html: page.html(),
            }
        })
        .collect()
}

/// Code and tables wider than a phone scroll sideways in a box of their own. A keyboard user
/// must be able to scroll it too, so the box takes focus (WCAG 2.1.1; axe-core's
/// `scrollable-region-focusable`).
fn scrollable(html: &str) -> String {
    html.replace("<pre>", "<pre tabindex=\"0\">")
        .replace(
            "<table>",
            "<div class=\"table\" tabindex=\"0\" role=\"region\" aria-label=\"Table\"><table>",
        )
        .replace("</table>", "</table></div>")
}

/// A Mermaid block: a sequence diagram or a flowchart drawn as SVG (`sequence.rs`,
/// `flowchart.rs`), its source one click away; anything else shown as its source.
fn diagram(info: &str, code: &str, n: usize) -> Option<String> {
    if info != "mermaid" {
        return None;
    }
    let source = escape_text(code);
    let drawn = sequence::render(code, n).or_else(|| flowchart::render(code, n));
    Some(match drawn {
        Some(svg) => format!(
            "<figure class=\"diagram\">\n<div class=\"scroll\" tabindex=\"0\" role=\"region\" \
             aria-label=\"Diagram {n}\">{svg}</div>\n<details><summary>The diagram's source \
             (Mermaid)</summary><pre><code class=\"language-mermaid\">{source}</code></pre>\
             </details>\n</figure>\n"
        ),
        None => format!(
            "<figure class=\"diagram\"><pre><code class=\"language-mermaid\">{source}</code></pre>\
             <figcaption>A diagram, in Mermaid's notation.</figcaption></figure>\n"
        ),
    })
}

/// What one chapter's page is made of.
struct Page<'a> {
    title: &'a str,
    body: &'a str,
    headings: &'a [Heading],
    demo: Option<&'a DemoLink>,
    previous: Option<(String, String)>,
    next: Option<(String, String)>,
    source: &'a str,
}

impl Page<'_> {
    fn html(&self) -> String {
        let plain_title = escape_html(&markdown::plain_text(self.title));
        let contents: String = self
            .headings
            .iter()
            .filter(|h| h.level == 2)
            // The heading's text, not its HTML: a link inside it must not nest in this one.
            .map(|h| {
                format!(
                    "<li><a href=\"#{}\">{}</a></li>\n",
                    h.id,
                    escape_html(&markdown::plain_text(&h.html))
                )
            })
            .collect();
        let contents = if contents.is_empty() {
            String::new()
        } else {
            format!(
                "<nav class=\"contents\" aria-label=\"Contents\">\n<h2>Contents</h2>\n<ul>\n\
                 {contents}</ul>\n</nav>\n"
            )
        };
        let demo = self.demo.map_or(String::new(), |d| {
            format!(
                "<p class=\"try\">Try it: <a href=\"{}\">the {} demo</a></p>\n",
                d.page,
                escape_html(d.title)
            )
        });
        let link = |rel: &str, label: &str, to: &Option<(String, String)>| {
            to.as_ref().map_or(String::new(), |(path, title)| {
                format!("<a rel=\"{rel}\" href=\"{path}\">{label} {title}</a>")
            })
        };
        let pager = format!(
            "<nav class=\"pager\" aria-label=\"Chapters\">{}{}</nav>\n",
            link("prev", "←", &self.previous),
            link("next", "→", &self.next)
        );
        let trail = format!(
            "<a href=\"/docs/\">chapters</a> › <code>docs/{}</code>",
            escape_html(self.source)
        );
        let main = format!(
            "{demo}{contents}<article>\n{body}</article>\n{pager}",
            body = self.body
        );
        page_shell(&plain_title, &trail, &main)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_rewritten_for_the_server() {
        let pages = vec!["/sse.html".to_string()];
        let cases = [
            ("08-cors.md", "/docs/08-cors"),
            ("08-cors.md#preflight", "/docs/08-cors#preflight"),
            ("README.md", "/docs/"),
            ("../demos/sse.html", "/sse.html"),
            // Not a page this server serves: the file's source page.
            ("../demos/chat.html", "/source/demos/chat.html"),
            ("../src/ws/frame.rs#L1", "/source/src/ws/frame.rs#L1"),
            ("../no-such-file.rs", "../no-such-file.rs"),
            ("img/scale.svg", "/docs/img/scale.svg"),
            ("#the-idea", "#the-idea"),
            ("https://example.test/a.md", "https://example.test/a.md"),
        ];
        for (written, served) in cases {
            assert_eq!(site_link(written, &pages), served, "{written}");
        }
    }

    #[test]
    fn a_chapter_has_its_title_contents_neighbours_and_demo() {
        let docs = [
            ("01-a.md", "# 01 — A\n\n## The idea\n\nText.\n"),
            (
                "02-b.md",
                "# 02 — B\n\n## First\n\nSee [A](01-a.md#the-idea).\n\n## Second\n",
            ),
        ];
        let demos = [DemoLink {
            chapter: "02-b.md",
            page: "/b.html".to_string(),
            title: "B",
        }];
        let chapters = chapters(&docs, &demos, &[]);
        let b = &chapters[1];
        assert_eq!(
            (b.path.as_str(), b.title.as_str()),
            ("/docs/02-b", "02 — B")
        );
        for part in [
            "<title>02 — B — webwire</title>",
            "<li><a href=\"#first\">First</a></li>\n<li><a href=\"#second\">Second</a></li>",
            "<a href=\"/docs/01-a#the-idea\">A</a>",
            "<a rel=\"prev\" href=\"/docs/01-a\">← 01 — A</a>",
            "Try it: <a href=\"/b.html\">the B demo</a>",
        ] {
            assert!(b.html.contains(part), "{part} in {}", b.html);
        }
        assert!(
            !b.html.contains("rel=\"next\""),
            "the last chapter has no next"
        );
    }
}
