//! Text as the demos keep it: cut to a size without splitting a character.

/// `text`, cut to at most `max` bytes at a character boundary: what a bounded log keeps of a
/// field a client chose (an origin, a `Referer`, a body).
pub fn cut(text: &str, max: usize) -> &str {
    &text[..text.floor_char_boundary(max)]
}

/// `text` with every control character written as an escape (`\u{9b}`), for a line that goes
/// to a terminal. A client chooses much of what is logged (an `Origin`, a target); a control
/// character in it — a C1 CSI (U+009B), an ESC — would otherwise reach the terminal and act
/// there: move the cursor, recolour, rewrite earlier lines.
pub fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    text.chars()
        .map(|c| match c {
            c if c.is_control() => c.escape_unicode().to_string(),
            c => c.to_string(),
        })
        .collect::<String>()
        .into()
}

/// Bytes as `--trace` shows them: one line per line of the wire, each starting with
/// `prefix`, with CR and LF spelled out (`\r\n`) and any other unprintable byte as `\xNN`.
/// HTTP heads and Redis commands are traced alike.
pub fn wire_lines(prefix: &str, bytes: &[u8]) -> String {
    let mut out = prefix.to_string();
    for (i, &byte) in bytes.iter().enumerate() {
        match byte {
            b'\r' => out.push_str("\\r"),
            b'\n' if i + 1 < bytes.len() => {
                out.push_str("\\n\n");
                out.push_str(prefix);
            }
            b'\n' => out.push_str("\\n\n"),
            b' '..=b'~' => out.push(char::from(byte)),
            _ => out.push_str(&format!("\\x{byte:02x}")),
        }
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_escaped_for_the_terminal() {
        assert_eq!(escape_controls("plain é"), "plain é");
        assert_eq!(escape_controls("a\u{9b}2Jb"), "a\\u{9b}2Jb");
        assert_eq!(escape_controls("\x1b[31m\ttab"), "\\u{1b}[31m\\u{9}tab");
    }

    #[test]
    fn cuts_never_split_a_character() {
        assert_eq!(cut("abc", 2), "ab");
        assert_eq!(cut("é", 1), "", "é is two bytes");
        assert_eq!(cut("aé", 3), "aé");
        assert_eq!(cut("short", 99), "short");
    }
}
