//! Just enough JSON, by hand: writing strings and objects, and checking that a text is JSON.
//!
//! The demos answer in JSON because that is what pages expect from `JSON.parse`. Writing it
//! is mostly escaping strings right (RFC 8259 §7); the one addition is escaping U+2028 and
//! U+2029, which are legal in JSON but ended a string in JavaScript before ES2019 — so JSON
//! that may be run as a script (JSONP) must not contain them raw.

use std::fmt::Write;

/// Deepest nesting accepted in a JSON body (`[[[…]]]`); deeper is 400, not a stack overflow:
/// the checker recurses, and connection threads have small stacks.
pub const MAX_JSON_DEPTH: usize = 64;

/// `text` as a quoted JSON string.
pub fn string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            // `<` too, so that "</script>" inside JSON cannot end an HTML script block.
            c if (c as u32) < 0x20 || c == '<' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Builds a JSON object field by field, in order: `Object::new().number("id", 3).finish()`.
#[derive(Default)]
pub struct Object {
    out: String,
}

impl Object {
    pub fn new() -> Object {
        Object::default()
    }

    /// A field whose value is already JSON (a number, an array, a nested object).
    pub fn raw(mut self, name: &str, json: &str) -> Object {
        self.out.push(if self.out.is_empty() { '{' } else { ',' });
        self.out.push_str(&string(name));
        self.out.push(':');
        self.out.push_str(json);
        self
    }

    pub fn string(self, name: &str, value: &str) -> Object {
        self.raw(name, &string(value))
    }

    /// A whole number, written exactly. Every number the server sends is a count, an id, a
    /// size or a time in milliseconds: never negative, never a fraction. (A JavaScript reader
    /// holds it exactly up to 2^53; the ids that could grow that far are capped below it.)
    pub fn number(self, name: &str, value: u64) -> Object {
        self.raw(name, &value.to_string())
    }

    pub fn bool(self, name: &str, value: bool) -> Object {
        self.raw(name, if value { "true" } else { "false" })
    }

    pub fn finish(self) -> String {
        if self.out.is_empty() {
            "{}".to_string()
        } else {
            self.out + "}"
        }
    }
}

/// `[a,b,c]` from items that are already JSON.
pub fn array(items: impl IntoIterator<Item = String>) -> String {
    let items: Vec<String> = items.into_iter().collect();
    format!("[{}]", items.join(","))
}

/// Why a text is not JSON, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    pub offset: usize,
    pub expected: &'static str,
}

impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            f,
            "not JSON: expected {} at byte {}",
            self.expected, self.offset
        )
    }
}

/// Checks that `text` is one JSON value (RFC 8259), nested at most `MAX_JSON_DEPTH` deep.
/// A checker, not a parser: a valid text can be quoted back verbatim inside other JSON.
pub fn validate(text: &str) -> Result<(), JsonError> {
    let mut checker = Checker {
        bytes: text.as_bytes(),
        pos: 0,
    };
    checker.value(0)?;
    checker.skip_space();
    if checker.pos != checker.bytes.len() {
        return Err(checker.error("the end of the text"));
    }
    Ok(())
}

struct Checker<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Checker<'_> {
    fn error(&self, expected: &'static str) -> JsonError {
        JsonError {
            offset: self.pos,
            expected,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, byte: u8, expected: &'static str) -> Result<(), JsonError> {
        self.skip_space();
        if self.peek() != Some(byte) {
            return Err(self.error(expected));
        }
        self.pos += 1;
        Ok(())
    }

    fn value(&mut self, depth: usize) -> Result<(), JsonError> {
        if depth > MAX_JSON_DEPTH {
            return Err(self.error("less nesting"));
        }
        self.skip_space();
        match self.peek() {
            Some(b'{') => self.sequence(b'}', depth, true),
            Some(b'[') => self.sequence(b']', depth, false),
            Some(b'"') => self.string(),
            Some(b't') => self.word("true"),
            Some(b'f') => self.word("false"),
            Some(b'n') => self.word("null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.error("a value")),
        }
    }

    /// An object (`keyed`) or an array, after its opening bracket.
    fn sequence(&mut self, close: u8, depth: usize, keyed: bool) -> Result<(), JsonError> {
        self.pos += 1;
        self.skip_space();
        if self.peek() == Some(close) {
            self.pos += 1;
            return Ok(());
        }
        loop {
            if keyed {
                self.skip_space();
                if self.peek() != Some(b'"') {
                    return Err(self.error("a quoted name"));
                }
                self.string()?;
                self.eat(b':', "':'")?;
            }
            self.value(depth + 1)?;
            self.skip_space();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(c) if c == close => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.error("',' or a closing bracket")),
            }
        }
    }

    fn string(&mut self) -> Result<(), JsonError> {
        self.pos += 1; // the opening quote
        loop {
            match self.peek() {
                None => return Err(self.error("a closing quote")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                            self.pos += 1;
                        }
                        Some(b'u') => {
                            let hex = self.bytes.get(self.pos + 1..self.pos + 5);
                            if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                                return Err(self.error("four hex digits after \\u"));
                            }
                            self.pos += 5;
                        }
                        _ => return Err(self.error("a valid escape")),
                    }
                }
                Some(c) if c < 0x20 => return Err(self.error("no raw control character")),
                Some(_) => self.pos += 1,
            }
        }
    }

    fn word(&mut self, word: &'static str) -> Result<(), JsonError> {
        if self.bytes[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(self.error("true, false or null"))
        }
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    fn number(&mut self) -> Result<(), JsonError> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.error("a digit")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            self.require_digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            self.require_digits()?;
        }
        Ok(())
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
    }

    fn require_digits(&mut self) -> Result<(), JsonError> {
        if !self.peek().is_some_and(|b| b.is_ascii_digit()) {
            return Err(self.error("a digit"));
        }
        self.digits();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped() {
        assert_eq!(string("plain"), "\"plain\"");
        assert_eq!(string("a\"b\\c\nd"), "\"a\\\"b\\\\c\\nd\"");
        assert_eq!(string("\u{1}"), "\"\\u0001\"");
        assert_eq!(string("</script>"), "\"\\u003c/script>\"");
        assert_eq!(string("x\u{2028}y\u{2029}"), "\"x\\u2028y\\u2029\"");
        assert_eq!(string("你好"), "\"你好\"");
    }

    #[test]
    fn objects_keep_field_order() {
        let json = Object::new()
            .number("id", 3)
            .string("text", "hi")
            .bool("ok", true)
            .raw("list", &array(["1".to_string(), "2".to_string()]))
            .number("big", u64::MAX)
            .finish();
        assert_eq!(
            json,
            r#"{"id":3,"text":"hi","ok":true,"list":[1,2],"big":18446744073709551615}"#
        );
        assert_eq!(Object::new().finish(), "{}");
    }

    #[test]
    fn valid_json() {
        for text in [
            "0",
            "-1.5e+10",
            "\"\"",
            "true",
            "null",
            "[]",
            "{}",
            " [1, \"a\", {\"b\": [null]}] ",
            "{\"a\\u00e9\\n\":false}",
            "\"你好\"",
        ] {
            assert_eq!(validate(text), Ok(()), "{text}");
        }
    }

    #[test]
    fn invalid_json() {
        let deep = "[".repeat(MAX_JSON_DEPTH + 2);
        for (text, offset) in [
            ("", 0),
            ("{", 1),
            ("[1,]", 3),
            ("{'a':1}", 1),
            ("01", 1),
            ("1.", 2),
            ("-", 1),
            ("tru", 0),
            ("\"a", 2),
            ("\"\\x\"", 2),
            ("[1 2]", 3),
            ("{\"a\" 1}", 5),
            ("1 2", 2),
            ("\"a\u{1}\"", 2),
            (deep.as_str(), MAX_JSON_DEPTH + 1),
        ] {
            assert_eq!(
                validate(text).map_err(|e| e.offset),
                Err(offset),
                "{text:?}"
            );
        }
    }
}
