//! Block structure (CommonMark §4, §5, and GFM's tables): the lines of a chapter become
//! headings, paragraphs, code blocks, block quotes, lists and tables.
//!
//! Containers are handled by "strip and recurse": the lines of a block quote or a list item
//! are collected, their marker or indentation taken off, and parsed again as a document of
//! their own. That covers every construct the chapters use; what it does not (link reference
//! definitions, raw HTML) is listed in tests/markdown.rs.

/// One block, its text not yet parsed for inlines.
#[derive(Debug)]
pub enum Block {
    Heading {
        level: usize,
        text: String,
    },
    Paragraph(String),
    /// A fenced or indented code block: its info string (e.g. `rust`) and its text.
    Code {
        info: String,
        text: String,
    },
    Quote(Vec<Block>),
    List(List),
    Table(Table),
    Rule,
}

#[derive(Debug)]
pub struct List {
    /// `Some(start)` for an ordered list.
    pub start: Option<u64>,
    /// A tight list's paragraphs are written without `<p>`.
    pub tight: bool,
    pub items: Vec<Vec<Block>>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Align {
    None,
    Left,
    Center,
    Right,
}

#[derive(Debug)]
pub struct Table {
    pub align: Vec<Align>,
    pub head: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// Parses a whole document (or a container's inside).
pub fn parse(lines: &[String]) -> Vec<Block> {
    parse_with_gaps(lines).0
}

/// The blocks, and whether a blank line separates two of them (which makes a list item,
/// and so its list, loose).
fn parse_with_gaps(lines: &[String]) -> (Vec<Block>, bool) {
    let mut blocks = Vec::new();
    let mut gap_between = false;
    let mut blank_since_last = false;
    let mut i = 0;
    while i < lines.len() {
        let line = &lines[i];
        if is_blank(line) {
            blank_since_last = true;
            i += 1;
            continue;
        }
        if blank_since_last && !blocks.is_empty() {
            gap_between = true;
        }
        blank_since_last = false;
        let (block, next) = parse_block(lines, i);
        if let Some(block) = block {
            blocks.push(block);
        }
        i = next;
    }
    (blocks, gap_between)
}

/// The block that starts at `lines[i]` (not blank), and the index after it. `None` for what
/// is read and dropped (an HTML comment).
fn parse_block(lines: &[String], i: usize) -> (Option<Block>, usize) {
    let line = &lines[i];
    if indent_of(line) >= 4 {
        return indented_code(lines, i);
    }
    let text = line.trim_start_matches(' ');
    if let Some((ch, length)) = fence_opening(text) {
        return fenced_code(lines, i, ch, length);
    }
    if let Some((level, content)) = atx_heading(text) {
        return (
            Some(Block::Heading {
                level,
                text: content,
            }),
            i + 1,
        );
    }
    if is_thematic_break(text) {
        return (Some(Block::Rule), i + 1);
    }
    if text.starts_with('>') {
        return block_quote(lines, i);
    }
    if list_marker(line).is_some() {
        return list(lines, i);
    }
    if text.starts_with("<!--") {
        // An HTML comment, such as the chapters' `<!-- excerpt: … -->` markers (notes for the
        // excerpt tool): dropped, like all markup in the Markdown, so none reaches the page.
        let mut j = i;
        while j < lines.len() && !lines[j].contains("-->") {
            j += 1;
        }
        return (None, (j + 1).min(lines.len()));
    }
    if let Some(table) = table_at(lines, i) {
        return table;
    }
    paragraph(lines, i)
}

/// Columns of leading white space, a tab advancing to the next multiple of 4 (§2.2).
fn indent_of(line: &str) -> usize {
    let mut columns = 0;
    for c in line.chars() {
        match c {
            ' ' => columns += 1,
            '\t' => columns += 4 - columns % 4,
            _ => break,
        }
    }
    columns
}

/// `line` without its first `columns` columns of white space; a tab only partly taken
/// leaves its remaining columns as spaces. `None` if the line is indented less.
fn strip_indent(line: &str, columns: usize) -> Option<String> {
    let mut taken = 0;
    for (at, c) in line.char_indices() {
        if taken >= columns {
            return Some(line[at..].to_string());
        }
        match c {
            ' ' => taken += 1,
            '\t' => {
                let width = 4 - taken % 4;
                if taken + width > columns {
                    let left = taken + width - columns;
                    return Some(format!("{}{}", " ".repeat(left), &line[at + 1..]));
                }
                taken += width;
            }
            _ => return None,
        }
    }
    (taken >= columns).then(String::new)
}

fn is_blank(line: &str) -> bool {
    line.chars().all(|c| c == ' ' || c == '\t')
}

fn indented_code(lines: &[String], i: usize) -> (Option<Block>, usize) {
    let mut body: Vec<String> = Vec::new();
    let mut j = i;
    while j < lines.len() && (is_blank(&lines[j]) || indent_of(&lines[j]) >= 4) {
        body.push(strip_indent(&lines[j], 4).unwrap_or_default());
        j += 1;
    }
    // Blank lines at the end belong to what follows, not to the code.
    while body.last().is_some_and(|l| is_blank(l)) {
        body.pop();
        j -= 1;
    }
    let text = body.iter().map(|l| format!("{l}\n")).collect();
    (
        Some(Block::Code {
            info: String::new(),
            text,
        }),
        j,
    )
}

/// ```` ``` ```` or `~~~` (three or more) opening a fenced code block (§4.5).
fn fence_opening(text: &str) -> Option<(char, usize)> {
    let ch = text.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let length = text.chars().take_while(|c| *c == ch).count();
    let info = &text[length..];
    // A backtick fence's info string may not contain a backtick.
    (length >= 3 && !(ch == '`' && info.contains('`'))).then_some((ch, length))
}

fn fenced_code(lines: &[String], i: usize, ch: char, length: usize) -> (Option<Block>, usize) {
    let opening = &lines[i];
    let indent = indent_of(opening);
    let info = opening.trim_start()[length..].trim();
    let info = unescape_punctuation(info.split_whitespace().next().unwrap_or(""));
    let mut text = String::new();
    let mut j = i + 1;
    while j < lines.len() {
        let line = &lines[j];
        let trimmed = line.trim_start_matches(' ');
        let closes = indent_of(line) < 4
            && trimmed.starts_with(ch)
            && trimmed.chars().take_while(|c| *c == ch).count() >= length
            && trimmed.trim_start_matches(ch).trim().is_empty();
        if closes {
            return (Some(Block::Code { info, text }), j + 1);
        }
        // Content lines lose as much indentation as the opening fence had (§4.5).
        let content = strip_indent(line, indent).unwrap_or_else(|| trimmed.to_string());
        text.push_str(&content);
        text.push('\n');
        j += 1;
    }
    // An unclosed fence runs to the end of its container.
    (Some(Block::Code { info, text }), j)
}

fn unescape_punctuation(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('\\', Some(next)) if next.is_ascii_punctuation() => {
                out.push(*next);
                chars.next();
            }
            _ => out.push(c),
        }
    }
    out
}

/// `# Title` to `###### Title` (§4.2): the level and the text, closing `#`s taken off.
fn atx_heading(text: &str) -> Option<(usize, String)> {
    let level = text.chars().take_while(|c| *c == '#').count();
    if !(1..=6).contains(&level) {
        return None;
    }
    let rest = &text[level..];
    if !(rest.is_empty() || rest.starts_with(' ') || rest.starts_with('\t')) {
        return None;
    }
    let mut content = rest.trim();
    // A closing sequence of `#`s is dropped when a space comes before it.
    let without_hashes = content.trim_end_matches('#');
    if without_hashes.is_empty() {
        content = "";
    } else if without_hashes.ends_with(' ') || without_hashes.ends_with('\t') {
        content = without_hashes.trim_end();
    }
    Some((level, content.to_string()))
}

/// `---`, `***` or `___`, three or more, spaces allowed between (§4.1).
fn is_thematic_break(text: &str) -> bool {
    let Some(ch) = text.chars().next().filter(|c| matches!(c, '-' | '*' | '_')) else {
        return false;
    };
    let marks = text.chars().filter(|c| *c == ch).count();
    marks >= 3 && text.chars().all(|c| c == ch || c == ' ' || c == '\t')
}

fn block_quote(lines: &[String], i: usize) -> (Option<Block>, usize) {
    let mut inside: Vec<String> = Vec::new();
    let mut j = i;
    while j < lines.len() {
        let line = &lines[j];
        let trimmed = line.trim_start_matches(' ');
        if indent_of(line) < 4 && trimmed.starts_with('>') {
            // `>` and one optional space (a tab counts as the space, its rest kept).
            let after = &trimmed[1..];
            let content = match after.chars().next() {
                Some(' ') => after[1..].to_string(),
                Some('\t') => strip_indent(after, 1).unwrap_or_default(),
                _ => after.to_string(),
            };
            inside.push(content);
        } else if !is_blank(line)
            && inside.last().is_some_and(|l| !is_blank(l))
            && continues_paragraph(&inside, line)
        {
            // A lazy continuation line: a paragraph inside goes on without its `>` (§5.1).
            inside.push(lazy(line));
        } else {
            break;
        }
        j += 1;
    }
    (Some(Block::Quote(parse(&inside))), j)
}

/// Whether `line`, without a container's marker, can go on a paragraph that `before` ends
/// with: only if that really is a paragraph, and the line starts nothing else.
fn continues_paragraph(before: &[String], line: &str) -> bool {
    ends_in_paragraph(&parse(before)) && !interrupts_paragraph(line)
}

/// Whether the last block, or the last block inside it, is a paragraph still open.
fn ends_in_paragraph(blocks: &[Block]) -> bool {
    match blocks.last() {
        Some(Block::Paragraph(_)) => true,
        Some(Block::Quote(inner)) => ends_in_paragraph(inner),
        Some(Block::List(list)) => list
            .items
            .last()
            .is_some_and(|item| ends_in_paragraph(item)),
        _ => false,
    }
}

/// A lazy continuation line as the container's inside sees it: indented by four, so that
/// parsed again it can only go on the paragraph (never start a list or a heading).
fn lazy(line: &str) -> String {
    format!("    {}", line.trim_start())
}

/// A list item's marker (§5.2): a bullet character, or an ordered list's delimiter.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Marker {
    Bullet(char),
    Ordered(char),
}

/// The start of a list item.
struct ItemStart {
    marker: Marker,
    /// An ordered item's number.
    number: u64,
    /// The column where the item's content begins: later lines indented this far belong to it.
    offset: usize,
    /// The rest of the marker's line, as the item's first line.
    first_line: String,
    /// Nothing after the marker.
    empty: bool,
}

fn list_marker(line: &str) -> Option<ItemStart> {
    let indent = indent_of(line);
    if indent >= 4 {
        return None;
    }
    let text = line.trim_start_matches(' ');
    let (marker, number, width) = match text.chars().next()? {
        c @ ('-' | '+' | '*') => (Marker::Bullet(c), 0, 1),
        c if c.is_ascii_digit() => {
            let digits = text.chars().take_while(char::is_ascii_digit).count();
            let delimiter = text[digits..].chars().next()?;
            if digits > 9 || !matches!(delimiter, '.' | ')') {
                return None;
            }
            let number = text[..digits].parse().ok()?;
            (Marker::Ordered(delimiter), number, digits + 1)
        }
        _ => return None,
    };
    let rest = &text[width..];
    let empty = is_blank(rest);
    if !empty && !rest.starts_with(' ') && !rest.starts_with('\t') {
        return None;
    }
    if matches!(marker, Marker::Bullet(_)) && is_thematic_break(text) {
        return None; // `- - -` is a rule, not a list
    }
    // Content starts after 1 to 4 spaces; with 5 or more, after one: the rest is then an
    // indented code block inside the item.
    let spaces = indent_of(rest);
    let taken = if empty || spaces > 4 { 1 } else { spaces };
    let first_line = if empty {
        String::new()
    } else {
        strip_indent(rest, taken).unwrap_or_default()
    };
    Some(ItemStart {
        marker,
        number,
        offset: indent + width + taken,
        first_line,
        empty,
    })
}

fn list(lines: &[String], i: usize) -> (Option<Block>, usize) {
    let Some(first) = list_marker(&lines[i]) else {
        return paragraph(lines, i);
    };
    let kind = first.marker;
    let mut items = Vec::new();
    let mut loose = false;
    let mut j = i;
    while let Some(item) = list_marker(&lines[j]).filter(|m| m.marker == kind) {
        let mut inside = vec![item.first_line];
        j += 1;
        while j < lines.len() {
            let line = &lines[j];
            if is_blank(line) {
                // An item may begin with at most one blank line (§5.2).
                if item.empty && inside.len() == 1 {
                    break;
                }
                inside.push(String::new());
            } else if indent_of(line) >= item.offset {
                inside.push(strip_indent(line, item.offset).unwrap_or_default());
            } else if inside.last().is_some_and(|l| !is_blank(l))
                && list_marker(line).is_none()
                && continues_paragraph(&inside, line)
            {
                inside.push(lazy(line));
            } else {
                break;
            }
            j += 1;
        }
        // Blank lines at the end are not the item's (the first line, the marker's, stays).
        while inside.len() > 1 && inside.last().is_some_and(|l| is_blank(l)) {
            inside.pop();
            j -= 1;
        }
        let (blocks, gap) = parse_with_gaps(&inside);
        loose |= gap;
        items.push(blocks);
        // Another item of the same kind, maybe after blank lines, goes on the list; blank
        // lines between two items make it loose.
        let mut next = j;
        while next < lines.len() && is_blank(&lines[next]) {
            next += 1;
        }
        let continues =
            next < lines.len() && list_marker(&lines[next]).is_some_and(|m| m.marker == kind);
        if !continues {
            break;
        }
        loose |= next > j;
        j = next;
    }
    let start = match kind {
        Marker::Ordered(_) => Some(first.number),
        Marker::Bullet(_) => None,
    };
    (
        Some(Block::List(List {
            start,
            tight: !loose,
            items,
        })),
        j,
    )
}

/// Whether `line` starts a block that ends a paragraph before it (§4.8 and each block's
/// "can interrupt a paragraph" rule).
fn interrupts_paragraph(line: &str) -> bool {
    if indent_of(line) >= 4 {
        return false;
    }
    let text = line.trim_start_matches(' ');
    if fence_opening(text).is_some()
        || atx_heading(text).is_some()
        || is_thematic_break(text)
        || text.starts_with('>')
        || text.starts_with("<!--")
    {
        return true;
    }
    // A list item interrupts a paragraph only if it is not empty and, when ordered,
    // starts at 1.
    match list_marker(line) {
        Some(item) if item.empty => false,
        Some(item) => matches!(item.marker, Marker::Bullet(_)) || item.number == 1,
        None => false,
    }
}

fn paragraph(lines: &[String], i: usize) -> (Option<Block>, usize) {
    let mut text: Vec<&str> = vec![lines[i].trim_start()];
    let mut j = i + 1;
    while j < lines.len() {
        let line = &lines[j];
        // A line of `=` or `-` under a paragraph makes it a heading (a setext heading, §4.3).
        if let Some(level) = setext_underline(line) {
            let joined = text.join("\n");
            let heading = Block::Heading {
                level,
                text: joined.trim_end().to_string(),
            };
            return (Some(heading), j + 1);
        }
        if is_blank(line) || interrupts_paragraph(line) || table_at(lines, j).is_some() {
            break;
        }
        text.push(line.trim_start());
        j += 1;
    }
    let joined = text.join("\n");
    (Some(Block::Paragraph(joined.trim_end().to_string())), j)
}

/// `===` (level 1) or `---` (level 2) under a paragraph, indented at most 3 spaces.
fn setext_underline(line: &str) -> Option<usize> {
    if indent_of(line) >= 4 {
        return None;
    }
    let text = line.trim();
    let ch = text.chars().next()?;
    let level = match ch {
        '=' => 1,
        '-' => 2,
        _ => return None,
    };
    text.chars().all(|c| c == ch).then_some(level)
}

/// A GFM table (tables extension, §4.10): a header row, a delimiter row with as many cells,
/// then rows until a blank line or another block.
fn table_at(lines: &[String], i: usize) -> Option<(Option<Block>, usize)> {
    let header = lines.get(i)?;
    let delimiter = lines.get(i + 1)?;
    if indent_of(header) >= 4 || !header.contains('|') {
        return None;
    }
    let align = delimiter_row(delimiter)?;
    let head = cells(header);
    if head.len() != align.len() {
        return None;
    }
    let mut rows = Vec::new();
    let mut j = i + 2;
    while j < lines.len() && !is_blank(&lines[j]) && !interrupts_paragraph(&lines[j]) {
        let mut row = cells(&lines[j]);
        row.resize(align.len(), String::new());
        rows.push(row);
        j += 1;
    }
    Some((Some(Block::Table(Table { align, head, rows })), j))
}

/// `| :--- | :---: | ---: |`: each column's alignment.
fn delimiter_row(line: &str) -> Option<Vec<Align>> {
    if indent_of(line) >= 4 || !line.contains('-') {
        return None;
    }
    let trimmed = line.trim();
    if !trimmed.contains('|') && trimmed.chars().any(|c| c != '-' && c != ':') {
        return None;
    }
    cells(line)
        .iter()
        .map(|cell| {
            let cell = cell.trim();
            let dashes = cell.trim_start_matches(':').trim_end_matches(':');
            if dashes.is_empty() || !dashes.chars().all(|c| c == '-') {
                return None;
            }
            Some(match (cell.starts_with(':'), cell.ends_with(':')) {
                (true, true) => Align::Center,
                (true, false) => Align::Left,
                (false, true) => Align::Right,
                (false, false) => Align::None,
            })
        })
        .collect()
}

/// A table row's cells, split at `|` that is not escaped; `\|` becomes `|` (GFM §4.10).
fn cells(line: &str) -> Vec<String> {
    let mut text = line.trim();
    if let Some(rest) = text.strip_prefix('|') {
        text = rest;
    }
    if text.ends_with('|') && !text.ends_with("\\|") {
        text = &text[..text.len() - 1];
    }
    let mut out = Vec::new();
    let mut cell = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                cell.push('|');
                chars.next();
            }
            '|' => out.push(std::mem::take(&mut cell).trim().to_string()),
            _ => cell.push(c),
        }
    }
    out.push(cell.trim().to_string());
    out
}
