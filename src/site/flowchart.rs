//! Mermaid flowcharts (`flowchart TD`) drawn as inline SVG, for the chapters' decision
//! diagrams: nodes as boxes, rounded boxes or diamonds, edges solid or dotted, with labels.
//!
//! The layout is the simplest that reads well for a decision tree: each node one row below
//! the lowest of the nodes that lead to it (longest-path layering), the rows' nodes ordered
//! by where their parents stand, each row centred.

use super::svg::{self, CHAR_WIDTH, LINE_HEIGHT, MARGIN, text_lines, text_width};
use crate::html::escape_text;

/// Between two rows of nodes, and between two nodes of a row.
const ROW_GAP: f64 = 56.0;
const NODE_GAP: f64 = 28.0;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Shape {
    Box,
    Rounded,
    Diamond,
}

struct Node {
    id: String,
    lines: Vec<String>,
    shape: Shape,
}

struct Edge {
    from: usize,
    to: usize,
    label: String,
    dotted: bool,
}

/// Draws `source` (a Mermaid `flowchart TD` or `graph TD`) as SVG, or `None` if it uses
/// something this renderer does not draw (another direction, subgraphs, a cycle).
pub fn render(source: &str, n: usize) -> Option<String> {
    let (nodes, edges) = parse(source)?;
    draw(&nodes, &edges, n)
}

fn parse(source: &str) -> Option<(Vec<Node>, Vec<Edge>)> {
    let mut lines = source
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("%%"));
    let header = lines.next()?;
    if !matches!(
        header,
        "flowchart TD" | "flowchart TB" | "graph TD" | "graph TB"
    ) {
        return None;
    }
    let mut nodes: Vec<Node> = Vec::new();
    let mut edges = Vec::new();
    for line in lines {
        let (first, rest) = node(line, &mut nodes)?;
        let rest = rest.trim();
        if rest.is_empty() {
            continue; // a node on its own
        }
        let (label, dotted, after) = edge(rest)?;
        let (second, tail) = node(after.trim(), &mut nodes)?;
        if !tail.trim().is_empty() {
            return None; // chains `A --> B --> C` are not drawn
        }
        edges.push(Edge {
            from: first,
            to: second,
            label,
            dotted,
        });
    }
    (!nodes.is_empty()).then_some((nodes, edges))
}

/// A node reference at the start of `text`: `id`, or `id` with a shape and label
/// (`id["…"]`, `id("…")`, `id(["…"])`, `id{"…"}`). Returns its index and the rest.
fn node<'a>(text: &'a str, nodes: &mut Vec<Node>) -> Option<(usize, &'a str)> {
    let id_end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    let id = &text[..id_end];
    if id.is_empty() {
        return None;
    }
    let rest = &text[id_end..];
    let shapes = [
        ("([", "])", Shape::Rounded),
        ("[", "]", Shape::Box),
        ("(", ")", Shape::Rounded),
        ("{", "}", Shape::Diamond),
    ];
    let mut defined = None;
    let mut after = rest;
    for (open, close, shape) in shapes {
        if let Some(inner) = rest.strip_prefix(open) {
            let end = inner.find(close)?;
            let label = inner[..end].trim().trim_matches('"');
            defined = Some((label.to_string(), shape));
            after = &inner[end + close.len()..];
            break;
        }
    }
    let index = match nodes.iter().position(|n| n.id == id) {
        Some(index) => index,
        None => {
            nodes.push(Node {
                id: id.to_string(),
                lines: vec![id.to_string()],
                shape: Shape::Box,
            });
            nodes.len() - 1
        }
    };
    if let Some((label, shape)) = defined {
        nodes[index].lines = label
            .split("<br/>")
            .flat_map(|l| l.split("<br>"))
            .map(|l| l.trim().to_string())
            .collect();
        nodes[index].shape = shape;
    }
    Some((index, after))
}

/// An edge at the start of `text`: `-->`, `-- label -->`, `-.->`, `-. label .->`, `==>`.
/// Returns its label, whether it is dotted, and the rest.
fn edge(text: &str) -> Option<(String, bool, &str)> {
    for (arrow, dotted) in [("-->", false), ("-.->", true), ("==>", false)] {
        if let Some(rest) = text.strip_prefix(arrow) {
            // `-->|label| B`
            if let Some(inner) = rest.trim_start().strip_prefix('|') {
                let end = inner.find('|')?;
                return Some((inner[..end].trim().to_string(), dotted, &inner[end + 1..]));
            }
            return Some((String::new(), dotted, rest));
        }
    }
    for (open, close, dotted) in [("--", "-->", false), ("-.", ".->", true)] {
        if let Some(rest) = text.strip_prefix(open) {
            let end = rest.find(close)?;
            return Some((
                rest[..end].trim().to_string(),
                dotted,
                &rest[end + close.len()..],
            ));
        }
    }
    None
}

fn size(node: &Node) -> (f64, f64) {
    let text_w = text_width(&node.lines);
    let text_h = LINE_HEIGHT * node.lines.len() as f64;
    match node.shape {
        Shape::Diamond => (text_w + 56.0, text_h + 34.0),
        _ => (text_w + 24.0, text_h + 14.0),
    }
}

fn draw(nodes: &[Node], edges: &[Edge], n: usize) -> Option<String> {
    // Longest-path layers: a node sits one row below every node that leads to it. More
    // passes than nodes would mean a cycle, which this layout cannot draw.
    let mut layer = vec![0usize; nodes.len()];
    let mut settled = false;
    for _ in 0..=nodes.len() {
        settled = true;
        for e in edges {
            if layer[e.to] < layer[e.from] + 1 {
                layer[e.to] = layer[e.from] + 1;
                settled = false;
            }
        }
        if settled {
            break;
        }
    }
    if !settled {
        return None;
    }
    let rows = layer.iter().max().map_or(0, |m| m + 1);
    let sizes: Vec<(f64, f64)> = nodes.iter().map(size).collect();
    // Row by row: order by where the parents stand, then place left to right, centred.
    let mut x = vec![0.0f64; nodes.len()];
    let mut row_members: Vec<Vec<usize>> = vec![Vec::new(); rows];
    for (i, l) in layer.iter().enumerate() {
        row_members[*l].push(i);
    }
    let mut width: f64 = 0.0;
    for members in &mut row_members {
        let parent_x = |i: usize| {
            let xs: Vec<f64> = edges
                .iter()
                .filter(|e| e.to == i)
                .map(|e| x[e.from])
                .collect();
            if xs.is_empty() {
                0.0
            } else {
                xs.iter().sum::<f64>() / xs.len() as f64
            }
        };
        // By where the parents stand; among the children of one parent, in the order the
        // nodes first appear in the source.
        let mut keyed: Vec<(f64, usize)> = members.iter().map(|&i| (parent_x(i), i)).collect();
        keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        *members = keyed.iter().map(|(_, i)| *i).collect();
        let total: f64 = members.iter().map(|&i| sizes[i].0).sum::<f64>()
            + NODE_GAP * members.len().saturating_sub(1) as f64;
        width = width.max(total);
        let mut left = -total / 2.0;
        for &i in members.iter() {
            x[i] = left + sizes[i].0 / 2.0;
            left += sizes[i].0 + NODE_GAP;
        }
    }
    let offset = MARGIN + width / 2.0;
    for value in &mut x {
        *value += offset;
    }
    let mut row_top = vec![MARGIN; rows];
    for r in 1..rows {
        let tallest = row_members[r - 1]
            .iter()
            .map(|&i| sizes[i].1)
            .fold(0.0, f64::max);
        row_top[r] = row_top[r - 1] + tallest + ROW_GAP;
    }
    let last_tallest = row_members[rows - 1]
        .iter()
        .map(|&i| sizes[i].1)
        .fold(0.0, f64::max);
    let height = row_top[rows - 1] + last_tallest + MARGIN;
    let width = width + 2.0 * MARGIN;
    let top = |i: usize| row_top[layer[i]];

    let id = format!("f{n}");
    let mut body = String::new();
    let mut steps = Vec::new();
    for e in edges {
        let (x1, y1) = (x[e.from], top(e.from) + sizes[e.from].1);
        let (x2, y2) = (x[e.to], top(e.to));
        let dash = if e.dotted {
            " stroke-dasharray=\"4 4\""
        } else {
            ""
        };
        body.push_str(&format!(
            "<line x1=\"{x1:.0}\" y1=\"{y1:.0}\" x2=\"{x2:.0}\" y2=\"{:.0}\" stroke=\"#555\"{dash} \
             marker-end=\"url(#{id}-arrow)\"/>",
            y2 - 2.0
        ));
        if !e.label.is_empty() {
            let (mx, my) = ((x1 + x2) / 2.0, (y1 + y2) / 2.0);
            let w = e.label.chars().count() as f64 * CHAR_WIDTH + 8.0;
            body.push_str(&format!(
                "<rect x=\"{:.0}\" y=\"{:.0}\" width=\"{w:.0}\" height=\"18\" fill=\"#fff\"/>\
                 <text x=\"{mx:.0}\" y=\"{:.0}\" text-anchor=\"middle\">{}</text>",
                mx - w / 2.0,
                my - 12.0,
                my + 1.0,
                escape_text(&e.label)
            ));
        }
        let label = if e.label.is_empty() {
            String::new()
        } else {
            format!(" ({})", e.label)
        };
        steps.push(format!(
            "{}{label} → {}",
            nodes[e.from].lines.join(" "),
            nodes[e.to].lines.join(" ")
        ));
    }
    for (i, node) in nodes.iter().enumerate() {
        let (w, h) = sizes[i];
        let (cx, y) = (x[i], top(i));
        match node.shape {
            Shape::Diamond => body.push_str(&format!(
                "<polygon points=\"{cx:.0},{y:.0} {:.0},{:.0} {cx:.0},{:.0} {:.0},{:.0}\" \
                 fill=\"#eef3fb\" stroke=\"#4a6da7\"/>",
                cx + w / 2.0,
                y + h / 2.0,
                y + h,
                cx - w / 2.0,
                y + h / 2.0
            )),
            shape => body.push_str(&format!(
                "<rect x=\"{:.0}\" y=\"{y:.0}\" width=\"{w:.0}\" height=\"{h:.0}\" rx=\"{}\" \
                 fill=\"{}\" stroke=\"#4a6da7\"/>",
                cx - w / 2.0,
                if shape == Shape::Rounded { 14 } else { 3 },
                if shape == Shape::Rounded {
                    "#e7f4e4"
                } else {
                    "#f7f7f7"
                },
            )),
        }
        let first = y + h / 2.0 + 5.0 - LINE_HEIGHT * (node.lines.len() as f64 - 1.0) / 2.0;
        body.push_str(&text_lines(&node.lines, cx, first));
        body.push('\n');
    }
    let title = nodes
        .first()
        .map_or(String::new(), |node| node.lines.join(" "));
    Some(svg::svg(
        &id,
        (width, height),
        &format!("Flowchart: {title}"),
        &steps.join(" · "),
        &svg::arrow_marker(&id, "#555"),
        &body,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = r#"flowchart TD
    start(["Which way?"]) --> push{"Server news<br/>unasked?"}
    push -- yes --> sse["SSE"]
    push -- no --> ajax["fetch"]
    sse -. replaces .-> old["XHR streaming"]"#;

    #[test]
    fn a_flowchart_is_parsed_into_nodes_and_edges() {
        let (nodes, edges) = parse(SOURCE).unwrap();
        let ids: Vec<&str> = nodes.iter().map(|n| n.id.as_str()).collect();
        assert_eq!(ids, ["start", "push", "sse", "ajax", "old"]);
        assert_eq!(nodes[1].lines, ["Server news", "unasked?"]);
        assert_eq!(nodes[1].shape, Shape::Diamond);
        assert_eq!(nodes[0].shape, Shape::Rounded);
        let labels: Vec<(&str, bool)> =
            edges.iter().map(|e| (e.label.as_str(), e.dotted)).collect();
        assert_eq!(
            labels,
            [
                ("", false),
                ("yes", false),
                ("no", false),
                ("replaces", true)
            ]
        );
    }

    #[test]
    fn it_draws_the_rows_in_order_with_labels() {
        let svg = render(SOURCE, 1).unwrap();
        for part in [
            "<title id=\"f1-title\">Flowchart: Which way?</title>",
            "Server news unasked? (yes) → SSE",
            "<polygon",
            ">yes</text>",
            "stroke-dasharray=\"4 4\"",
        ] {
            assert!(svg.contains(part), "{part} in {svg}");
        }
    }

    #[test]
    fn what_it_cannot_draw_is_left_to_the_caller() {
        assert!(render("flowchart LR\n  A --> B", 0).is_none());
        assert!(render("flowchart TD\n  A --> B\n  B --> A", 0).is_none());
        assert!(render("flowchart TD\n  A --> B --> C", 0).is_none());
    }
}
