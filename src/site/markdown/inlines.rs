//! Inline Markdown: code spans, emphasis, links, images, autolinks, escapes and line breaks
//! (CommonMark §6), rendered to HTML with every piece of text escaped.
//!
//! One left-to-right pass turns the text into nodes; brackets are matched when their `]`
//! arrives, and emphasis last, with the delimiter-run rules of the spec's appendix ("An
//! algorithm for parsing nested emphasis and links").

use crate::html::escape_text;

/// What a link's destination becomes in `href`/`src`: lets the site rewrite `02-ajax.md`
/// to `/docs/02-ajax` while GitHub keeps the file link.
pub type LinkRewrite<'a> = &'a dyn Fn(&str) -> String;

/// A run of `*` or `_` that may open or close emphasis (CommonMark §6.2).
struct Delimiter {
    ch: char,
    /// Delimiters not yet used by a match.
    left: usize,
    /// The run's length as written, for the "multiple of 3" rule.
    written: usize,
    can_open: bool,
    can_close: bool,
    /// No longer a candidate: only its remaining characters are text.
    spent: bool,
    /// Closing tags of matches that ended here (printed before the characters left).
    before: String,
    /// Opening tags of matches that began here (printed after the characters left).
    after: String,
}

enum Node {
    Text(String),
    Html(String),
    Delimiter(Delimiter),
    /// `[` or `![`, waiting for its `]`.
    Bracket {
        image: bool,
        active: bool,
    },
}

/// Renders one block's inline content.
pub fn render(text: &str, rewrite: LinkRewrite) -> String {
    let nodes = parse(text, rewrite);
    render_nodes(&nodes)
}

/// The text a reader sees, without tags: for `alt` and for heading anchors. An image inside
/// counts as its own `alt` text (§6.4).
pub fn plain_text(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('>') else {
            rest = &rest[open..];
            break;
        };
        let tag = &rest[open..open + close];
        if let Some(alt) = tag
            .strip_prefix("<img ")
            .and_then(|t| t.split_once(" alt=\""))
            .and_then(|(_, a)| a.split_once('"'))
        {
            out.push_str(alt.0);
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

fn parse(text: &str, rewrite: LinkRewrite) -> Vec<Node> {
    let chars: Vec<char> = text.chars().collect();
    let mut nodes: Vec<Node> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                match chars.get(i + 1) {
                    Some(&next) if next.is_ascii_punctuation() => {
                        push_text(&mut nodes, &next.to_string());
                        i += 2;
                    }
                    // A backslash at the end of a line is a hard break (§6.7).
                    Some('\n') => {
                        nodes.push(Node::Html("<br />\n".to_string()));
                        i += 2;
                        i = skip_spaces(&chars, i);
                    }
                    _ => {
                        push_text(&mut nodes, "\\");
                        i += 1;
                    }
                }
            }
            '`' => {
                let run = run_length(&chars, i, '`');
                match find_closing_backticks(&chars, i + run, run) {
                    Some(end) => {
                        let content: String = chars[i + run..end].iter().collect();
                        let html = format!("<code>{}</code>", escape_text(&code_span(&content)));
                        nodes.push(Node::Html(html));
                        i = end + run;
                    }
                    None => {
                        push_text(&mut nodes, &"`".repeat(run));
                        i += run;
                    }
                }
            }
            '*' | '_' => {
                let run = run_length(&chars, i, c);
                let before = if i == 0 { None } else { Some(chars[i - 1]) };
                let after = chars.get(i + run).copied();
                let (can_open, can_close) = flanking(c, before, after);
                nodes.push(Node::Delimiter(Delimiter {
                    ch: c,
                    left: run,
                    written: run,
                    can_open,
                    can_close,
                    spent: false,
                    before: String::new(),
                    after: String::new(),
                }));
                i += run;
            }
            '!' if chars.get(i + 1) == Some(&'[') => {
                nodes.push(Node::Bracket {
                    image: true,
                    active: true,
                });
                i += 2;
            }
            '[' => {
                nodes.push(Node::Bracket {
                    image: false,
                    active: true,
                });
                i += 1;
            }
            ']' => i = close_bracket(&mut nodes, &chars, i, rewrite),
            '<' => match autolink(&chars, i) {
                Some((url, is_email, end)) => {
                    let href = if is_email {
                        format!("mailto:{url}")
                    } else {
                        rewrite(&url)
                    };
                    nodes.push(Node::Html(format!(
                        "<a href=\"{}\">{}</a>",
                        escape_href(&href),
                        escape_text(&url)
                    )));
                    i = end;
                }
                None => {
                    push_text(&mut nodes, "<");
                    i += 1;
                }
            },
            '&' => match entity(&chars, i) {
                // An entity or numeric reference is passed on as written: the browser
                // decodes it exactly as a Markdown renderer would have (§6.2).
                Some(end) => {
                    let written: String = chars[i..end].iter().collect();
                    nodes.push(Node::Html(written));
                    i = end;
                }
                None => {
                    push_text(&mut nodes, "&");
                    i += 1;
                }
            },
            '\n' => {
                // Two or more spaces before a line ending make a hard break (§6.7); spaces
                // at the end of a line are otherwise dropped.
                let trailing = trim_trailing_spaces(&mut nodes);
                if trailing >= 2 {
                    nodes.push(Node::Html("<br />\n".to_string()));
                } else {
                    push_text(&mut nodes, "\n");
                }
                i = skip_spaces(&chars, i + 1);
            }
            _ => {
                push_text(&mut nodes, &c.to_string());
                i += 1;
            }
        }
    }
    process_emphasis(&mut nodes, 0);
    nodes
}

fn push_text(nodes: &mut Vec<Node>, text: &str) {
    if let Some(Node::Text(last)) = nodes.last_mut() {
        last.push_str(text);
    } else {
        nodes.push(Node::Text(text.to_string()));
    }
}

fn skip_spaces(chars: &[char], mut i: usize) -> usize {
    while chars.get(i) == Some(&' ') {
        i += 1;
    }
    i
}

/// Removes the spaces that end the text so far; returns how many there were.
fn trim_trailing_spaces(nodes: &mut [Node]) -> usize {
    if let Some(Node::Text(last)) = nodes.last_mut() {
        let kept = last.trim_end_matches(' ').len();
        let removed = last.len() - kept;
        last.truncate(kept);
        removed
    } else {
        0
    }
}

fn run_length(chars: &[char], start: usize, c: char) -> usize {
    chars[start..].iter().take_while(|&&x| x == c).count()
}

/// Where the closing run of exactly `run` backticks starts, if there is one (§6.1).
fn find_closing_backticks(chars: &[char], mut i: usize, run: usize) -> Option<usize> {
    while i < chars.len() {
        if chars[i] == '`' {
            let length = run_length(chars, i, '`');
            if length == run {
                return Some(i);
            }
            i += length;
        } else {
            i += 1;
        }
    }
    None
}

/// A code span's content: line endings become spaces, and one space is taken off each end
/// when both ends have one and the content is not all spaces (§6.1).
fn code_span(content: &str) -> String {
    let content = content.replace('\n', " ");
    let stripped = content.len() >= 2
        && content.starts_with(' ')
        && content.ends_with(' ')
        && !content.chars().all(|c| c == ' ');
    if stripped {
        content[1..content.len() - 1].to_string()
    } else {
        content
    }
}

fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation() || (!c.is_ascii() && !c.is_alphanumeric() && !c.is_whitespace())
}

/// Whether a run of `ch` between `before` and `after` (None: the start or end of the text)
/// can open and can close emphasis: the left- and right-flanking rules of §6.2.
fn flanking(ch: char, before: Option<char>, after: Option<char>) -> (bool, bool) {
    let space_before = before.is_none_or(char::is_whitespace);
    let space_after = after.is_none_or(char::is_whitespace);
    let punct_before = before.is_some_and(is_punctuation);
    let punct_after = after.is_some_and(is_punctuation);
    let left = !space_after && (!punct_after || space_before || punct_before);
    let right = !space_before && (!punct_before || space_after || punct_after);
    if ch == '*' {
        (left, right)
    } else {
        // `_` also may not open or close inside a word (snake_case stays as it is).
        (
            left && (!right || punct_before),
            right && (!left || punct_after),
        )
    }
}

/// Matches emphasis openers and closers among `nodes[bottom..]` (the spec's "process
/// emphasis"). Matched tags are attached to the delimiter nodes, so no index ever shifts.
fn process_emphasis(nodes: &mut [Node], bottom: usize) {
    // For each kind of closer, where looking for an opener last failed: below it, no opener
    // will be found for that kind again. The kind: the character, whether the closer can
    // also open, and its length modulo 3.
    let mut openers_bottom: Vec<((char, bool, usize), usize)> = Vec::new();
    let mut closer = bottom;
    while closer < nodes.len() {
        let Node::Delimiter(c) = &nodes[closer] else {
            closer += 1;
            continue;
        };
        if c.spent || !c.can_close || c.left == 0 {
            closer += 1;
            continue;
        }
        let (ch, closer_can_open, closer_written) = (c.ch, c.can_open, c.written);
        let kind = (ch, closer_can_open, closer_written % 3);
        let floor = openers_bottom
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(bottom, |(_, at)| (*at).max(bottom));
        let mut found = None;
        let mut o = closer;
        while o > floor {
            o -= 1;
            if let Node::Delimiter(d) = &nodes[o]
                && !d.spent
                && d.ch == ch
                && d.can_open
                && d.left > 0
            {
                // "If one of the delimiters can both open and close emphasis, then the sum of
                // the lengths of the delimiter runs containing the opening and closing
                // delimiters must not be a multiple of 3 unless both lengths are multiples of 3."
                let odd_match = (d.can_close || closer_can_open)
                    && (d.written + closer_written) % 3 == 0
                    && !(d.written % 3 == 0 && closer_written % 3 == 0);
                if !odd_match {
                    found = Some(o);
                    break;
                }
            }
        }
        match found {
            Some(opener) => {
                let (opener_left, closer_left) = match (&nodes[opener], &nodes[closer]) {
                    (Node::Delimiter(o), Node::Delimiter(c)) => (o.left, c.left),
                    _ => (0, 0),
                };
                let used = if opener_left >= 2 && closer_left >= 2 {
                    2
                } else {
                    1
                };
                let tag = if used == 2 { "strong" } else { "em" };
                // Delimiters between the two can no longer match anything.
                for node in &mut nodes[opener + 1..closer] {
                    if let Node::Delimiter(d) = node {
                        d.spent = true;
                    }
                }
                if let Node::Delimiter(o) = &mut nodes[opener] {
                    o.left -= used;
                    // A later match on the same opener is an outer one: its tag goes first.
                    o.after = format!("<{tag}>{}", o.after);
                }
                if let Node::Delimiter(c) = &mut nodes[closer] {
                    c.left -= used;
                    c.before.push_str(&format!("</{tag}>"));
                    if c.left == 0 {
                        closer += 1;
                    }
                }
            }
            None => {
                match openers_bottom.iter_mut().find(|(k, _)| *k == kind) {
                    Some((_, at)) => *at = closer,
                    None => openers_bottom.push((kind, closer)),
                }
                if !closer_can_open && let Node::Delimiter(c) = &mut nodes[closer] {
                    c.spent = true;
                }
                closer += 1;
            }
        }
    }
    // Whatever is left of every delimiter is plain text now.
    for node in &mut nodes[bottom..] {
        if let Node::Delimiter(d) = node {
            d.spent = true;
        }
    }
}

/// A `]`: closes the nearest `[` or `![` as a link or image if an inline destination
/// `(url "title")` follows (§6.3, §6.4); otherwise both brackets are text. Returns where to
/// go on reading.
fn close_bracket(nodes: &mut Vec<Node>, chars: &[char], at: usize, rewrite: LinkRewrite) -> usize {
    let Some(opener) = nodes
        .iter()
        .rposition(|n| matches!(n, Node::Bracket { .. }))
    else {
        push_text(nodes, "]");
        return at + 1;
    };
    let Node::Bracket { image, active } = nodes[opener] else {
        return at + 1;
    };
    let target = if active {
        link_destination(chars, at + 1)
    } else {
        None
    };
    let Some((destination, title, end)) = target else {
        nodes[opener] = Node::Text(if image { "![" } else { "[" }.to_string());
        push_text(nodes, "]");
        return at + 1;
    };
    process_emphasis(nodes, opener + 1);
    let inner = render_nodes(&nodes[opener + 1..]);
    nodes.truncate(opener);
    let href = escape_href(&rewrite(&destination));
    let title = title.map_or(String::new(), |t| format!(" title=\"{}\"", escape_text(&t)));
    let html = if image {
        format!(
            "<img src=\"{href}\" alt=\"{}\"{title} />",
            escape_text(&plain_text(&inner))
        )
    } else {
        // No link may contain another link: earlier `[` can no longer make one (§6.3).
        for node in nodes.iter_mut() {
            if let Node::Bracket {
                image: false,
                active,
            } = node
            {
                *active = false;
            }
        }
        format!("<a href=\"{href}\"{title}>{inner}</a>")
    };
    nodes.push(Node::Html(html));
    end
}

/// `(destination "title")` right after a `]`: the destination (backslash escapes taken out),
/// the title, and where the `)` ends.
fn link_destination(chars: &[char], start: usize) -> Option<(String, Option<String>, usize)> {
    if chars.get(start) != Some(&'(') {
        return None;
    }
    let mut i = skip_whitespace(chars, start + 1);
    let mut destination = String::new();
    if chars.get(i) == Some(&'<') {
        i += 1;
        loop {
            match chars.get(i)? {
                '>' => {
                    i += 1;
                    break;
                }
                '\n' | '<' => return None,
                '\\' if chars.get(i + 1).is_some_and(char::is_ascii_punctuation) => {
                    destination.push(chars[i + 1]);
                    i += 2;
                }
                &c => {
                    destination.push(c);
                    i += 1;
                }
            }
        }
    } else {
        let mut depth = 0usize;
        while let Some(&c) = chars.get(i) {
            // Space and ASCII controls end it; other white space (U+00A0) does not.
            if c == ' ' || c.is_ascii_control() {
                break;
            }
            if c == '\\' && chars.get(i + 1).is_some_and(char::is_ascii_punctuation) {
                destination.push(chars[i + 1]);
                i += 2;
                continue;
            }
            if c == '(' {
                depth += 1;
            } else if c == ')' {
                if depth == 0 {
                    break;
                }
                depth -= 1;
            }
            destination.push(c);
            i += 1;
        }
        if depth != 0 {
            return None;
        }
    }
    let before_title = i;
    i = skip_whitespace(chars, i);
    let mut title = None;
    if i > before_title
        && let Some(&quote) = chars.get(i)
        && matches!(quote, '"' | '\'' | '(')
    {
        let close = if quote == '(' { ')' } else { quote };
        let mut text = String::new();
        i += 1;
        loop {
            match chars.get(i)? {
                c if *c == close => {
                    i += 1;
                    break;
                }
                '(' if quote == '(' => return None,
                '\\' if chars.get(i + 1).is_some_and(char::is_ascii_punctuation) => {
                    text.push(chars[i + 1]);
                    i += 2;
                }
                &c => {
                    text.push(c);
                    i += 1;
                }
            }
        }
        title = Some(text);
        i = skip_whitespace(chars, i);
    }
    if chars.get(i) != Some(&')') {
        return None;
    }
    Some((destination, title, i + 1))
}

/// Spaces, tabs and at most one line ending.
fn skip_whitespace(chars: &[char], mut i: usize) -> usize {
    let mut line_endings = 0;
    while let Some(&c) = chars.get(i) {
        match c {
            ' ' | '\t' => i += 1,
            '\n' if line_endings == 0 => {
                line_endings += 1;
                i += 1;
            }
            _ => break,
        }
    }
    i
}

/// `<scheme:…>` or `<name@host>` (§6.5): the address, whether it is an e-mail, and its end.
fn autolink(chars: &[char], start: usize) -> Option<(String, bool, usize)> {
    let end = start + 1 + chars[start + 1..].iter().position(|&c| c == '>')?;
    let inside: String = chars[start + 1..end].iter().collect();
    if inside
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '<')
    {
        return None;
    }
    if let Some((scheme, _)) = inside.split_once(':') {
        let scheme_ok = (2..=32).contains(&scheme.len())
            && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-'));
        if scheme_ok {
            return Some((inside, false, end + 1));
        }
    }
    let (local, domain) = inside.split_once('@')?;
    let local_ok = !local.is_empty()
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".!#$%&'*+/=?^_`{|}~-".contains(c));
    let domain_ok = domain.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    });
    (local_ok && domain_ok).then_some((inside, true, end + 1))
}

/// The end of `&name;`, `&#123;` or `&#x1F;` starting at `start`, if that is what it is.
fn entity(chars: &[char], start: usize) -> Option<usize> {
    let rest = &chars[start + 1..];
    let (digits, skip): (fn(&char) -> bool, usize) = match rest {
        ['#', 'x' | 'X', ..] => (char::is_ascii_hexdigit, 2),
        ['#', ..] => (char::is_ascii_digit, 1),
        _ => (char::is_ascii_alphanumeric, 0),
    };
    let length = rest[skip..].iter().take_while(|c| digits(c)).count();
    let named = skip == 0;
    let ok_length = if named {
        (2..=32).contains(&length) && rest[0].is_ascii_alphabetic()
    } else {
        (1..=7).contains(&length)
    };
    (ok_length && rest.get(skip + length) == Some(&';')).then_some(start + 1 + skip + length + 1)
}

/// A URL for an attribute: bytes outside the safe set percent-encoded (as cmark does), then
/// `&` and `'` escaped.
fn escape_href(url: &str) -> String {
    let mut out = String::new();
    for byte in url.bytes() {
        let safe = byte.is_ascii_alphanumeric() || b"-_.!~*'();/?:@&=+$,%#".contains(&byte);
        match byte {
            b'&' => out.push_str("&amp;"),
            b'\'' => out.push_str("&#x27;"),
            _ if safe => out.push(byte as char),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

fn render_nodes(nodes: &[Node]) -> String {
    let mut out = String::new();
    for node in nodes {
        match node {
            Node::Text(text) => out.push_str(&escape_text(text)),
            Node::Html(html) => out.push_str(html),
            Node::Delimiter(d) => {
                out.push_str(&d.before);
                out.push_str(&d.ch.to_string().repeat(d.left));
                out.push_str(&d.after);
            }
            Node::Bracket { image, .. } => out.push_str(if *image { "![" } else { "[" }),
        }
    }
    out
}
