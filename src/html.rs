//! HTML escaping, for the pages the server writes itself (the index, a 404, the rendered
//! chapters).

/// Escapes text for an HTML element body or a quoted attribute.
pub fn escape_html(text: &str) -> String {
    escape(text, true)
}

/// Escapes text as CommonMark's reference renderer does: `&`, `<`, `>` and `"`, but not `'`.
/// The rendered chapters use it, so that the Markdown spec's own examples can test them
/// (`tests/markdown.rs`); for a double-quoted attribute or an element body it is as safe.
pub fn escape_text(text: &str) -> String {
    escape(text, false)
}

fn escape(text: &str, apostrophe: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' if apostrophe => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escaping() {
        assert_eq!(
            escape_html("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
        // The chapters' escaping leaves the apostrophe, as CommonMark's renderer does.
        assert_eq!(escape_text("it's <b>"), "it's &lt;b&gt;");
    }
}
