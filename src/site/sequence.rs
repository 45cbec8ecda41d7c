//! Mermaid sequence diagrams drawn as inline SVG by the server, so that a chapter's diagrams
//! show without a script: participants and their lifelines, messages of each arrow kind,
//! notes, and `alt` / `else` / `loop` / `opt` / `par` frames, the subset the chapters use.
//!
//! The Markdown keeps the Mermaid source (GitHub draws it with Mermaid itself, and
//! `tests/browser/diagrams.test.mjs` checks that every block parses there). Text is measured
//! by an estimate, not a font: long labels are wrapped so a diagram stays narrow, and a
//! diagram wider than a phone scrolls sideways in its own box.

use super::svg::{self, CHAR_WIDTH, LINE_HEIGHT, MARGIN, text_lines, text_width};
use crate::html::escape_text;

/// Labels longer than this many characters wrap onto more lines.
const WRAP_CHARS: usize = 38;
/// A participant's box, for a label of one line.
const BOX_HEIGHT: f64 = 34.0;
/// The least room between two lifelines.
const MIN_GAP: f64 = 130.0;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Head {
    /// `->>`: a filled arrowhead.
    Arrow,
    /// `-x`: a cross, a message lost or a connection cut.
    Cross,
    /// `->`: a line with no head.
    None,
}

#[derive(Debug)]
enum Item {
    Message {
        from: usize,
        to: usize,
        dashed: bool,
        head: Head,
        text: String,
    },
    Note {
        first: usize,
        last: usize,
        text: String,
    },
    /// `alt …`, `loop …`, `opt …`, `par …`: the start of a frame.
    Open {
        kind: String,
        label: String,
    },
    /// `else …` / `and …`: a new section of the open frame.
    Section {
        label: String,
    },
    Close,
}

/// An `alt` / `loop` / … frame being drawn: where it starts, its kind and label, and where
/// each `else` section starts.
struct Frame {
    top: f64,
    /// How many frames it sits inside: each level is drawn a little further in.
    depth: usize,
    kind: String,
    label: String,
    sections: Vec<(f64, String)>,
}

struct Diagram {
    /// (id, label)
    participants: Vec<(String, String)>,
    items: Vec<Item>,
}

/// Draws `source` (a Mermaid `sequenceDiagram`) as SVG; `None` if it is not one, or uses
/// something this renderer does not draw. `n` keeps the SVG's ids unique on its page.
pub fn render(source: &str, n: usize) -> Option<String> {
    let diagram = parse(source)?;
    Some(draw(&diagram, n))
}

fn parse(source: &str) -> Option<Diagram> {
    let mut lines = source
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("%%"));
    if lines.next()? != "sequenceDiagram" {
        return None;
    }
    let mut diagram = Diagram {
        participants: Vec::new(),
        items: Vec::new(),
    };
    let mut depth = 0usize;
    for line in lines {
        if let Some(rest) = line
            .strip_prefix("participant ")
            .or_else(|| line.strip_prefix("actor "))
        {
            let (id, label) = match rest.split_once(" as ") {
                Some((id, label)) => (id.trim(), label.trim()),
                None => (rest.trim(), rest.trim()),
            };
            index_of(&mut diagram.participants, id, Some(label));
        } else if let Some(rest) = line.strip_prefix("Note ") {
            let (place, text) = rest.split_once(':')?;
            let place = place.trim();
            let who = place
                .strip_prefix("over ")
                .or_else(|| place.strip_prefix("left of "))
                .or_else(|| place.strip_prefix("right of "))?;
            let mut ids = who.split(',').map(str::trim);
            let a = index_of(&mut diagram.participants, ids.next()?, None);
            let b = ids
                .next()
                .map_or(a, |id| index_of(&mut diagram.participants, id, None));
            diagram.items.push(Item::Note {
                first: a.min(b),
                last: a.max(b),
                text: text.trim().to_string(),
            });
        } else if let Some((kind, label)) = ["alt", "loop", "opt", "par", "critical"]
            .iter()
            .find_map(|k| frame_start(line, k))
        {
            depth += 1;
            diagram.items.push(Item::Open { kind, label });
        } else if let Some(label) = frame_start(line, "else").or_else(|| frame_start(line, "and")) {
            if depth == 0 {
                return None; // an `else` outside any frame
            }
            diagram.items.push(Item::Section { label: label.1 });
        } else if line == "end" {
            depth = depth.checked_sub(1)?;
            diagram.items.push(Item::Close);
        } else {
            let message = message(line, &mut diagram.participants)?;
            diagram.items.push(message);
        }
    }
    (depth == 0 && !diagram.participants.is_empty()).then_some(diagram)
}

/// `alt the answer comes` → ("alt", "the answer comes").
fn frame_start(line: &str, kind: &str) -> Option<(String, String)> {
    let rest = line.strip_prefix(kind)?;
    (rest.is_empty() || rest.starts_with(' ')).then(|| (kind.to_string(), rest.trim().to_string()))
}

/// The participant's index, added (with its label) the first time it is named.
fn index_of(participants: &mut Vec<(String, String)>, id: &str, label: Option<&str>) -> usize {
    if let Some(at) = participants.iter().position(|(p, _)| p == id) {
        if let Some(label) = label {
            participants[at].1 = label.to_string();
        }
        return at;
    }
    participants.push((id.to_string(), label.unwrap_or(id).to_string()));
    participants.len() - 1
}

/// `A->>B: text`, with the arrows `->>`, `-->>`, `->`, `-->`, `-x`, `--x`, `-)`, `--)`.
fn message(line: &str, participants: &mut Vec<(String, String)>) -> Option<Item> {
    let (arrow_part, text) = line.split_once(':')?;
    const ARROWS: &[(&str, bool, Head)] = &[
        ("-->>", true, Head::Arrow),
        ("->>", false, Head::Arrow),
        ("--x", true, Head::Cross),
        ("-x", false, Head::Cross),
        ("--)", true, Head::Arrow),
        ("-)", false, Head::Arrow),
        ("-->", true, Head::None),
        ("->", false, Head::None),
    ];
    let (at, arrow, dashed, head) = ARROWS
        .iter()
        .filter_map(|(arrow, dashed, head)| {
            arrow_part
                .find(arrow)
                .map(|at| (at, *arrow, *dashed, *head))
        })
        .min_by_key(|(at, arrow, ..)| (*at, usize::MAX - arrow.len()))?;
    let from = arrow_part[..at].trim();
    // `+` / `-` after the arrow (de)activate a participant; they are not drawn here.
    let to = arrow_part[at + arrow.len()..]
        .trim()
        .trim_start_matches(['+', '-']);
    if from.is_empty() || to.is_empty() {
        return None;
    }
    Some(Item::Message {
        from: index_of(participants, from, None),
        to: index_of(participants, to, None),
        dashed,
        head,
        text: text.trim().to_string(),
    })
}

/// A label's lines: Mermaid's own line breaks (`<br>`, `<br/>`, `<br />`) first, then each
/// line wrapped at `WRAP_CHARS` characters, broken at spaces.
fn wrap(text: &str) -> Vec<String> {
    text.replace("<br />", "\n")
        .replace("<br/>", "\n")
        .replace("<br>", "\n")
        .split('\n')
        .flat_map(|line| wrap_line(line.trim()))
        .collect()
}

/// One line of text in lines of at most `WRAP_CHARS` characters, broken at spaces.
fn wrap_line(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > WRAP_CHARS {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    lines.push(line);
    lines
}

/// A label as one line of plain words, for the text description.
fn spoken(text: &str) -> String {
    wrap(text).join(" ")
}

fn draw(diagram: &Diagram, n: usize) -> String {
    let count = diagram.participants.len();
    let labels: Vec<Vec<String>> = diagram
        .participants
        .iter()
        .map(|(_, label)| wrap(label))
        .collect();
    let box_widths: Vec<f64> = labels.iter().map(|l| text_width(l) + 24.0).collect();
    // Every box as tall as the one with the most lines of label.
    let most_lines = labels.iter().map(Vec::len).max().unwrap_or(1) as f64;
    let box_height = BOX_HEIGHT.max(most_lines * LINE_HEIGHT + 14.0);
    // Room between neighbours: their boxes, and every message between exactly those two.
    let mut gaps: Vec<f64> = (1..count)
        .map(|i| ((box_widths[i - 1] + box_widths[i]) / 2.0 + 20.0).max(MIN_GAP))
        .collect();
    let mut spans: Vec<(usize, usize, f64)> = Vec::new();
    for item in &diagram.items {
        match item {
            Item::Message { from, to, text, .. } if from != to => {
                let (a, b) = ((*from).min(*to), (*from).max(*to));
                spans.push((a, b, text_width(&wrap(text)) + 24.0));
            }
            Item::Note {
                first, last, text, ..
            } if first != last => {
                spans.push((*first, *last, text_width(&wrap(text)) + 4.0));
            }
            _ => {}
        }
    }
    spans.sort_by_key(|(a, b, _)| b - a);
    for (a, b, need) in spans {
        let have: f64 = gaps[a..b].iter().sum();
        if have < need {
            let extra = (need - have) / (b - a) as f64;
            for gap in &mut gaps[a..b] {
                *gap += extra;
            }
        }
    }
    // Notes over one participant and the first and last boxes set the margins.
    let mut left_room = box_widths.first().copied().unwrap_or(0.0) / 2.0;
    let mut right_room = box_widths.last().copied().unwrap_or(0.0) / 2.0;
    for item in &diagram.items {
        if let Item::Note {
            first, last, text, ..
        } = item
        {
            let half = text_width(&wrap(text)) / 2.0 + 10.0;
            if *first == 0 {
                left_room = left_room.max(half);
            }
            if *last == count - 1 {
                right_room = right_room.max(half);
            }
        }
    }
    let mut xs = vec![MARGIN + left_room];
    for gap in &gaps {
        let last = xs[xs.len() - 1];
        xs.push(last + gap);
    }
    let width = xs[count - 1] + right_room + MARGIN;

    let mut body = String::new();
    let mut steps: Vec<String> = Vec::new();
    let mut y = MARGIN + box_height + 16.0;
    let mut frames: Vec<Frame> = Vec::new();
    let frame_left = MARGIN / 2.0;
    let frame_right = width - MARGIN / 2.0;
    for item in &diagram.items {
        match item {
            Item::Message {
                from,
                to,
                dashed,
                head,
                text,
            } => {
                let lines = wrap(text);
                let text_y = y + 12.0;
                let line_y = y + 12.0 + LINE_HEIGHT * (lines.len() as f64 - 1.0) + 8.0;
                let (x1, x2) = (xs[*from], xs[*to]);
                body.push_str(&text_lines(&lines, (x1 + x2) / 2.0, text_y));
                let dash = if *dashed {
                    " stroke-dasharray=\"5 4\""
                } else {
                    ""
                };
                let marker = match head {
                    Head::Arrow => format!(" marker-end=\"url(#d{n}-arrow)\""),
                    Head::Cross => format!(" marker-end=\"url(#d{n}-cross)\""),
                    Head::None => String::new(),
                };
                if from == to {
                    // To itself: out to the right and back.
                    body.push_str(&format!(
                        "<path d=\"M{x1:.0},{line_y:.0} h30 v14 h-28\" fill=\"none\" \
                         stroke=\"#333\"{dash}{marker}/>"
                    ));
                } else {
                    // Stop short of the lifeline so the arrowhead ends on it.
                    let end = if x2 > x1 { x2 - 2.0 } else { x2 + 2.0 };
                    body.push_str(&format!(
                        "<line x1=\"{x1:.0}\" y1=\"{line_y:.0}\" x2=\"{end:.0}\" y2=\"{line_y:.0}\" \
                         stroke=\"#333\"{dash}{marker}/>"
                    ));
                }
                steps.push(format!(
                    "{} to {}: {}",
                    spoken(&diagram.participants[*from].1),
                    spoken(&diagram.participants[*to].1),
                    spoken(text)
                ));
                y = line_y + if from == to { 26.0 } else { 12.0 };
            }
            Item::Note { first, last, text } => {
                let lines = wrap(text);
                let text_w = text_width(&lines) + 16.0;
                let (left, right) = if first == last {
                    (xs[*first] - text_w / 2.0, xs[*first] + text_w / 2.0)
                } else {
                    let (a, b) = (xs[*first] - 30.0, xs[*last] + 30.0);
                    let w = (b - a).max(text_w);
                    let middle = (a + b) / 2.0;
                    (middle - w / 2.0, middle + w / 2.0)
                };
                let height = LINE_HEIGHT * lines.len() as f64 + 10.0;
                body.push_str(&format!(
                    "<rect x=\"{left:.0}\" y=\"{y:.0}\" width=\"{:.0}\" height=\"{height:.0}\" \
                     fill=\"#fff6c2\" stroke=\"#b39b00\"/>",
                    right - left
                ));
                body.push_str(&text_lines(&lines, (left + right) / 2.0, y + 17.0));
                let over = if first == last {
                    diagram.participants[*first].1.clone()
                } else {
                    format!(
                        "{} and {}",
                        diagram.participants[*first].1, diagram.participants[*last].1
                    )
                };
                steps.push(format!("Note over {over}: {}", spoken(text)));
                y += height + 10.0;
            }
            Item::Open { kind, label } => {
                frames.push(Frame {
                    top: y,
                    depth: frames.len(),
                    kind: kind.clone(),
                    label: label.clone(),
                    sections: Vec::new(),
                });
                steps.push(format!("{kind} {label}:"));
                y += 30.0;
            }
            Item::Section { label } => {
                if let Some(frame) = frames.last_mut() {
                    frame.sections.push((y, label.clone()));
                }
                steps.push(format!("then, {label}:"));
                y += 28.0;
            }
            Item::Close => {
                if let Some(Frame {
                    top,
                    depth,
                    kind,
                    label,
                    sections,
                }) = frames.pop()
                {
                    let inset = depth as f64 * 6.0;
                    let (frame_left, frame_right) = (frame_left + inset, frame_right - inset);
                    let bottom = y + 4.0;
                    body.push_str(&format!(
                        "<rect x=\"{frame_left:.0}\" y=\"{top:.0}\" width=\"{:.0}\" \
                         height=\"{:.0}\" fill=\"none\" stroke=\"#777\"/>",
                        frame_right - frame_left,
                        bottom - top
                    ));
                    body.push_str(&format!(
                        "<text x=\"{:.0}\" y=\"{:.0}\" font-weight=\"bold\">{}</text>\
                         <text x=\"{:.0}\" y=\"{:.0}\">[{}]</text>",
                        frame_left + 6.0,
                        top + 16.0,
                        escape_text(&kind),
                        frame_left + 14.0 + kind.len() as f64 * CHAR_WIDTH,
                        top + 16.0,
                        escape_text(&label)
                    ));
                    for (at, label) in sections {
                        body.push_str(&format!(
                            "<line x1=\"{frame_left:.0}\" y1=\"{at:.0}\" x2=\"{frame_right:.0}\" \
                             y2=\"{at:.0}\" stroke=\"#777\" stroke-dasharray=\"6 4\"/>\
                             <text x=\"{:.0}\" y=\"{:.0}\">[{}]</text>",
                            frame_left + 14.0,
                            at + 17.0,
                            escape_text(&label)
                        ));
                    }
                    steps.push("end".to_string());
                    y = bottom + 12.0;
                }
            }
        }
    }
    let height = y + MARGIN;
    let names: Vec<&str> = diagram
        .participants
        .iter()
        .map(|(_, l)| l.as_str())
        .collect();
    let id = format!("d{n}");
    let defs = format!(
        "{}<marker id=\"{id}-cross\" viewBox=\"0 0 10 10\" refX=\"5\" refY=\"5\" \
         markerWidth=\"10\" markerHeight=\"10\" orient=\"auto\">\
         <path d=\"M1,1 L9,9 M9,1 L1,9\" stroke=\"#333\" stroke-width=\"1.6\"/></marker>",
        svg::arrow_marker(&id, "#333")
    );
    let mut boxes = String::new();
    // Lifelines, then the participants' boxes on top of them.
    for (i, x) in xs.iter().enumerate() {
        let w = box_widths[i];
        boxes.push_str(&format!(
            "<line x1=\"{x:.0}\" y1=\"{:.0}\" x2=\"{x:.0}\" y2=\"{:.0}\" stroke=\"#999\" \
             stroke-dasharray=\"3 3\"/>\
             <rect x=\"{:.0}\" y=\"{MARGIN:.0}\" width=\"{w:.0}\" height=\"{box_height:.0}\" \
             rx=\"4\" fill=\"#eef3fb\" stroke=\"#4a6da7\"/>",
            MARGIN + box_height,
            height - MARGIN,
            x - w / 2.0,
        ));
        let lines = &labels[i];
        let first_y =
            MARGIN + box_height / 2.0 + 5.0 - LINE_HEIGHT * (lines.len() as f64 - 1.0) / 2.0;
        boxes.push_str(&text_lines(lines, *x, first_y));
        boxes.push('\n');
    }
    boxes.push_str(&body);
    svg::svg(
        &id,
        (width, height),
        &format!("Sequence diagram: {}", names.join(", ")),
        &steps.join(" · "),
        &defs,
        &boxes,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = "sequenceDiagram
    participant P as page
    participant S as webwire
    P->>S: GET /longpoll?since=0
    Note over S: nothing new yet: hold
    alt news
        S-->>P: 200 [one]
    else 25 s pass
        S-->>P: 200 []
    end
    P--xS: the page closes";

    #[test]
    fn a_diagram_is_parsed_into_participants_and_items() {
        let diagram = parse(SOURCE).unwrap();
        assert_eq!(
            diagram.participants,
            vec![
                ("P".to_string(), "page".to_string()),
                ("S".to_string(), "webwire".to_string())
            ]
        );
        assert_eq!(diagram.items.len(), 8);
        assert!(matches!(
            diagram.items[7],
            Item::Message {
                from: 0,
                to: 1,
                dashed: true,
                head: Head::Cross,
                ..
            }
        ));
    }

    #[test]
    fn it_draws_every_part_with_text_escaped() {
        let svg = render(SOURCE, 3).unwrap();
        for part in [
            "<title id=\"d3-title\">Sequence diagram: page, webwire</title>",
            "page to webwire: GET /longpoll?since=0",
            ">webwire</tspan>",
            "marker-end=\"url(#d3-arrow)\"",
            "marker-end=\"url(#d3-cross)\"",
            "stroke-dasharray=\"5 4\"",
            "fill=\"#fff6c2\"",
            ">alt</text>",
            "[25 s pass]",
        ] {
            assert!(svg.contains(part), "{part} in {svg}");
        }
        let broken = render("sequenceDiagram\n    A->>B: one<br/>two", 0).unwrap();
        assert!(
            broken.contains(">one</tspan>") && broken.contains(">two</tspan>"),
            "{broken}"
        );
        assert!(!broken.contains("&lt;br"), "{broken}");
        let hostile = render("sequenceDiagram\n    A->>B: <script>&", 0).unwrap();
        assert!(hostile.contains("&lt;script&gt;&amp;") && !hostile.contains("<script>"));
    }

    #[test]
    fn what_it_cannot_draw_is_left_to_the_caller() {
        assert!(render("flowchart TD\n  A --> B", 0).is_none());
        assert!(render("sequenceDiagram\n    alt never closed\n    A->>B: x", 0).is_none());
        assert!(render("sequenceDiagram\n    A B C", 0).is_none());
        assert!(render("sequenceDiagram\n    A->>B: x\n    else stray", 0).is_none());
    }
}
