//! What the two diagram renderers share: the text metrics, lines of text, and the `<svg>`
//! element with its accessible title and description.

use crate::html::escape_text;

/// Estimated width of one character at the diagrams' 13 px font: a little over the average of
/// a sans-serif face, so text rarely overflows its box. Text is measured by this estimate, not
/// by a font: the server has none.
pub const CHAR_WIDTH: f64 = 7.0;
/// From one line of text to the next.
pub const LINE_HEIGHT: f64 = 17.0;
/// Around the drawing.
pub const MARGIN: f64 = 12.0;

/// The width of the longest line.
pub fn text_width(lines: &[String]) -> f64 {
    lines
        .iter()
        .map(|l| l.chars().count() as f64 * CHAR_WIDTH)
        .fold(0.0, f64::max)
}

/// `<text>` with one `<tspan>` per line, centred on `x`, the first line's baseline at `y`.
pub fn text_lines(lines: &[String], x: f64, y: f64) -> String {
    let mut out = format!("<text x=\"{x:.0}\" y=\"{y:.0}\" text-anchor=\"middle\">");
    for (i, line) in lines.iter().enumerate() {
        let dy = if i == 0 { 0.0 } else { LINE_HEIGHT };
        out.push_str(&format!(
            "<tspan x=\"{x:.0}\" dy=\"{dy:.0}\">{}</tspan>",
            escape_text(line)
        ));
    }
    out.push_str("</text>");
    out
}

/// The whole `<svg>`: `id` prefixes its ids (unique on the page), `title` names it and
/// `description` says every step in words, for a screen reader (`role="img"` with
/// `aria-labelledby` and `aria-describedby`); `defs` holds its markers.
pub fn svg(
    id: &str,
    (width, height): (f64, f64),
    title: &str,
    description: &str,
    defs: &str,
    body: &str,
) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width:.0} {height:.0}\" \
         width=\"{width:.0}\" height=\"{height:.0}\" role=\"img\" \
         aria-labelledby=\"{id}-title\" aria-describedby=\"{id}-desc\" \
         font-family=\"system-ui, sans-serif\" font-size=\"13\" fill=\"#222\">\n\
         <title id=\"{id}-title\">{}</title>\n<desc id=\"{id}-desc\">{}</desc>\n\
         <defs>{defs}</defs>\n{body}\n</svg>",
        escape_text(title),
        escape_text(description)
    )
}

/// A filled arrowhead marker, `{id}-arrow`, in `colour`.
pub fn arrow_marker(id: &str, colour: &str) -> String {
    format!(
        "<marker id=\"{id}-arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" \
         markerWidth=\"8\" markerHeight=\"8\" orient=\"auto-start-reverse\">\
         <path d=\"M0,0 L10,5 L0,10 z\" fill=\"{colour}\"/></marker>"
    )
}
