//! Markdown to HTML, by hand, for the subset the chapters use: ATX headings (with anchors),
//! paragraphs, emphasis, code spans, fenced and indented code, lists, GFM tables, links,
//! images, autolinks and block quotes. Every piece of text is HTML-escaped; no raw HTML from
//! the Markdown reaches the page (HTML comments are dropped).
//!
//! The output follows the CommonMark reference renderer's HTML, so that the spec's own
//! examples can test it (`tests/markdown.rs`, cases in `tests/data/markdown-examples.txt`).

mod blocks;
mod inlines;

use crate::html::escape_text;
use blocks::{Align, Block};
pub use inlines::plain_text;

/// How a document is rendered.
pub struct Options<'a> {
    /// Give each heading an `id` (GitHub's spelling, so `#the-idea` links work in both
    /// places) and list it in `Rendered::headings`.
    pub heading_ids: bool,
    /// What a link's or image's destination becomes.
    pub rewrite_link: &'a dyn Fn(&str) -> String,
    /// HTML for a fenced code block with this info string (e.g. `mermaid`), instead of the
    /// usual `<pre><code>`; `None` keeps the usual.
    pub fence: &'a dyn Fn(&str, &str) -> Option<String>,
}

impl Default for Options<'_> {
    fn default() -> Self {
        Options {
            heading_ids: false,
            rewrite_link: &|url| url.to_string(),
            fence: &|_, _| None,
        }
    }
}

/// One heading, for a contents list.
#[derive(Debug, Clone, PartialEq)]
pub struct Heading {
    pub level: usize,
    pub id: String,
    /// The heading's HTML (it may hold `<code>` and emphasis).
    pub html: String,
}

pub struct Rendered {
    pub html: String,
    pub headings: Vec<Heading>,
}

/// Renders a whole document.
pub fn render(markdown: &str, options: &Options) -> Rendered {
    let text = markdown.replace("\r\n", "\n").replace('\0', "\u{FFFD}"); // §2.3: NUL is replaced, never passed on
    // The line ending of the last line ends it; it does not start another.
    let text = text.strip_suffix('\n').unwrap_or(&text);
    let lines: Vec<String> = text.split('\n').map(str::to_string).collect();
    let blocks = blocks::parse(&lines);
    let mut writer = Writer {
        options,
        html: String::new(),
        headings: Vec::new(),
    };
    for block in &blocks {
        writer.block(block, false);
    }
    Rendered {
        html: writer.html,
        headings: writer.headings,
    }
}

/// GitHub's anchor for a heading: lower case, spaces to `-`, and only letters, digits, `-`
/// and `_` kept.
pub fn slug(text: &str) -> String {
    text.trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

struct Writer<'a> {
    options: &'a Options<'a>,
    html: String,
    headings: Vec<Heading>,
}

impl Writer<'_> {
    fn inline(&self, text: &str) -> String {
        inlines::render(text, self.options.rewrite_link)
    }

    /// `tight`: inside a tight list item, where a paragraph is written without `<p>`.
    fn block(&mut self, block: &Block, tight: bool) {
        match block {
            Block::Heading { level, text } => {
                let inner = self.inline(text);
                if self.options.heading_ids {
                    let id = self.unique_id(&slug(&plain_text(&inner)));
                    self.html
                        .push_str(&format!("<h{level} id=\"{id}\">{inner}</h{level}>\n"));
                    self.headings.push(Heading {
                        level: *level,
                        id,
                        html: inner,
                    });
                } else {
                    self.html
                        .push_str(&format!("<h{level}>{inner}</h{level}>\n"));
                }
            }
            Block::Paragraph(text) => {
                let inner = self.inline(text);
                if tight {
                    self.html.push_str(&inner);
                } else {
                    self.html.push_str(&format!("<p>{inner}</p>\n"));
                }
            }
            Block::Code { info, text } => {
                if let Some(html) = (self.options.fence)(info, text) {
                    self.html.push_str(&html);
                    return;
                }
                let class = if info.is_empty() {
                    String::new()
                } else {
                    format!(" class=\"language-{}\"", escape_text(info))
                };
                self.html.push_str(&format!(
                    "<pre><code{class}>{}</code></pre>\n",
                    escape_text(text)
                ));
            }
            Block::Quote(inner) => {
                self.html.push_str("<blockquote>\n");
                for block in inner {
                    self.block(block, false);
                }
                self.html.push_str("</blockquote>\n");
            }
            Block::Rule => self.html.push_str("<hr />\n"),
            Block::List(list) => {
                let open = match list.start {
                    None => "<ul>\n".to_string(),
                    Some(1) => "<ol>\n".to_string(),
                    Some(start) => format!("<ol start=\"{start}\">\n"),
                };
                self.html.push_str(&open);
                for item in &list.items {
                    self.html.push_str("<li>");
                    for (n, block) in item.iter().enumerate() {
                        let is_paragraph = matches!(block, Block::Paragraph(_));
                        // Loose items, and blocks other than paragraphs, start on a new line.
                        if n == 0 && !(list.tight && is_paragraph) {
                            self.html.push('\n');
                        }
                        self.block(block, list.tight);
                        if list.tight && is_paragraph && n + 1 < item.len() {
                            self.html.push('\n');
                        }
                    }
                    self.html.push_str("</li>\n");
                }
                self.html.push_str(if list.start.is_some() {
                    "</ol>\n"
                } else {
                    "</ul>\n"
                });
            }
            Block::Table(table) => self.table(table),
        }
    }

    fn table(&mut self, table: &blocks::Table) {
        let attribute = |align: Align| match align {
            Align::None => "",
            Align::Left => " align=\"left\"",
            Align::Center => " align=\"center\"",
            Align::Right => " align=\"right\"",
        };
        self.html.push_str("<table>\n<thead>\n<tr>\n");
        for (cell, align) in table.head.iter().zip(&table.align) {
            let inner = self.inline(cell);
            self.html
                .push_str(&format!("<th{}>{inner}</th>\n", attribute(*align)));
        }
        self.html.push_str("</tr>\n</thead>\n");
        if !table.rows.is_empty() {
            self.html.push_str("<tbody>\n");
            for row in &table.rows {
                self.html.push_str("<tr>\n");
                for (cell, align) in row.iter().zip(&table.align) {
                    let inner = self.inline(cell);
                    self.html
                        .push_str(&format!("<td{}>{inner}</td>\n", attribute(*align)));
                }
                self.html.push_str("</tr>\n");
            }
            self.html.push_str("</tbody>\n");
        }
        self.html.push_str("</table>\n");
    }

    /// `id`, or `id-1`, `id-2`… if an earlier heading has it (as GitHub numbers them).
    fn unique_id(&self, id: &str) -> String {
        let taken = |candidate: &str| self.headings.iter().any(|h| h.id == candidate);
        if !taken(id) {
            return id.to_string();
        }
        (1..)
            .map(|n| format!("{id}-{n}"))
            .find(|candidate| !taken(candidate))
            .unwrap_or_default()
    }
}
