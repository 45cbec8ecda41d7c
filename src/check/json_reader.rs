//! Reading JSON, for the checker: just enough to compare what a server in any language sent
//! with what a rule expects, whatever its spacing, member order and escapes (`\u003c`,
//! `\ud83d\ude00`). Numbers are kept as written: an id is checked as digits, never as a float.
//!
//! The server's own `crate::json` only writes and validates; the checker keeps its own reader
//! anyway, so as not to share the server's mistakes.

// ajax, long-polling, cors, jsonp and image-ping read their JSON answers with it.

/// A JSON value (RFC 8259). Numbers stay as written; the rules only need whole ones.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(String),
    String(String),
    Array(Vec<Json>),
    /// Members in the order sent, repeated names kept.
    Object(Vec<(String, Json)>),
}

impl Json {
    /// The first member named `name`, when this is an object.
    pub fn get(&self, name: &str) -> Option<&Json> {
        match self {
            Json::Object(members) => members.iter().find(|(n, _)| n == name).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(text) => Some(text),
            _ => None,
        }
    }

    /// A number written as digits only (no sign, fraction or exponent), if it fits.
    pub fn as_whole(&self) -> Option<u64> {
        match self {
            Json::Number(digits) if digits.bytes().all(|b| b.is_ascii_digit()) => {
                digits.parse().ok()
            }
            _ => None,
        }
    }
}

/// Deepest nesting read; deeper is an error, not a stack overflow.
const MAX_DEPTH: usize = 32;

/// `text` as one JSON value, spaces around it allowed.
pub fn read_json(text: &str) -> Result<Json, String> {
    let (value, used) = read_json_prefix(text)?;
    if !text[used..]
        .trim_matches([' ', '\t', '\n', '\r'])
        .is_empty()
    {
        return Err(format!(
            "not JSON: something follows the value at byte {used}"
        ));
    }
    Ok(value)
}

/// The JSON value at the start of `text` (spaces before it allowed), and how many bytes it
/// took: JSONP's argument is followed by `);`.
pub fn read_json_prefix(text: &str) -> Result<(Json, usize), String> {
    let mut reader = Reader {
        bytes: text.as_bytes(),
        pos: 0,
    };
    let value = reader.value(0)?;
    Ok((value, reader.pos))
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn error<T>(&self, expected: &str) -> Result<T, String> {
        Err(format!(
            "not JSON: expected {expected} at byte {}",
            self.pos
        ))
    }

    fn skip_space(&mut self) {
        while matches!(self.bytes.get(self.pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, literal: &[u8]) -> bool {
        let found = self.bytes[self.pos..].starts_with(literal);
        if found {
            self.pos += literal.len();
        }
        found
    }

    fn value(&mut self, depth: usize) -> Result<Json, String> {
        if depth > MAX_DEPTH {
            return self.error("less nesting");
        }
        self.skip_space();
        let value = match self.bytes.get(self.pos) {
            Some(b'{') => self.object(depth)?,
            Some(b'[') => self.array(depth)?,
            Some(b'"') => Json::String(self.string()?),
            Some(b'-' | b'0'..=b'9') => self.number()?,
            _ if self.eat(b"true") => Json::Bool(true),
            _ if self.eat(b"false") => Json::Bool(false),
            _ if self.eat(b"null") => Json::Null,
            _ => return self.error("a value"),
        };
        Ok(value)
    }

    fn object(&mut self, depth: usize) -> Result<Json, String> {
        self.pos += 1; // {
        let mut members = Vec::new();
        self.skip_space();
        if self.eat(b"}") {
            return Ok(Json::Object(members));
        }
        loop {
            self.skip_space();
            if self.bytes.get(self.pos) != Some(&b'"') {
                return self.error("a quoted name");
            }
            let name = self.string()?;
            self.skip_space();
            if !self.eat(b":") {
                return self.error("':'");
            }
            members.push((name, self.value(depth + 1)?));
            self.skip_space();
            if self.eat(b"}") {
                return Ok(Json::Object(members));
            }
            if !self.eat(b",") {
                return self.error("',' or '}'");
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Json, String> {
        self.pos += 1; // [
        let mut items = Vec::new();
        self.skip_space();
        if self.eat(b"]") {
            return Ok(Json::Array(items));
        }
        loop {
            items.push(self.value(depth + 1)?);
            self.skip_space();
            if self.eat(b"]") {
                return Ok(Json::Array(items));
            }
            if !self.eat(b",") {
                return self.error("',' or ']'");
            }
        }
    }

    fn number(&mut self) -> Result<Json, String> {
        let start = self.pos;
        let is_number_byte =
            |b: u8| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E');
        while self.bytes.get(self.pos).is_some_and(|&b| is_number_byte(b)) {
            self.pos += 1;
        }
        let text = String::from_utf8_lossy(&self.bytes[start..self.pos]).into_owned();
        // RFC 8259 §6, loosely: a Rust float accepts what JSON does, and a little more.
        if text.parse::<f64>().is_err() || text.starts_with('+') || text.starts_with('.') {
            self.pos = start;
            return self.error("a number");
        }
        Ok(Json::Number(text))
    }

    /// A quoted string, its escapes decoded (RFC 8259 §7), surrogate pairs joined.
    fn string(&mut self) -> Result<String, String> {
        self.pos += 1; // "
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(&byte) = self.bytes.get(self.pos) else {
                return self.error("the closing quote");
            };
            self.pos += 1;
            match byte {
                b'"' => break,
                0x00..=0x1f => {
                    self.pos -= 1;
                    return self.error("no raw control character in a string");
                }
                b'\\' => {
                    let Some(&escape) = self.bytes.get(self.pos) else {
                        return self.error("an escape");
                    };
                    self.pos += 1;
                    let c = match escape {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => return self.error("a valid escape"),
                    };
                    let mut buffer = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buffer).as_bytes());
                }
                _ => out.push(byte),
            }
        }
        String::from_utf8(out).or_else(|_| self.error("UTF-8 in a string"))
    }

    /// After `\u`: four hex digits, and a second `\uXXXX` when the first is a high surrogate.
    fn unicode_escape(&mut self) -> Result<char, String> {
        let high = self.hex4()?;
        if !(0xd800..0xdc00).contains(&high) {
            return char::from_u32(high).map_or_else(|| self.error("a character"), Ok);
        }
        if !self.eat(b"\\u") {
            return self.error("the low half of a surrogate pair");
        }
        let low = self.hex4()?;
        if !(0xdc00..0xe000).contains(&low) {
            return self.error("the low half of a surrogate pair");
        }
        let code = 0x10000 + ((high - 0xd800) << 10) + (low - 0xdc00);
        char::from_u32(code).map_or_else(|| self.error("a character"), Ok)
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let digits = self.bytes.get(self.pos..self.pos + 4);
        let value = digits
            .and_then(|d| std::str::from_utf8(d).ok())
            .filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|d| u32::from_str_radix(d, 16).ok());
        match value {
            Some(value) => {
                self.pos += 4;
                Ok(value)
            }
            None => self.error("four hex digits"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_read_whatever_its_spacing() {
        let value = read_json(" { \"a\" : [1, -2.5e3, true, null], \"b\":{} } ").unwrap();
        assert_eq!(
            value.get("a"),
            Some(&Json::Array(vec![
                Json::Number("1".into()),
                Json::Number("-2.5e3".into()),
                Json::Bool(true),
                Json::Null,
            ]))
        );
        assert_eq!(value.get("b"), Some(&Json::Object(vec![])));
        assert_eq!(Json::Number("12".into()).as_whole(), Some(12));
        assert_eq!(Json::Number("1.5".into()).as_whole(), None);
    }

    #[test]
    fn strings_are_unescaped() {
        let value = read_json(r#""\u2028\u003c\"\\\n\ud83d\ude00é""#).unwrap();
        assert_eq!(value.as_str(), Some("\u{2028}<\"\\\n😀é"));
        for bad in [
            "\"a\nb\"",
            r#""\x""#,
            r#""\ud83d""#,
            "\"open",
            "{\"a\" 1}",
            "[1,]",
            "+1",
            "{} x",
        ] {
            assert!(read_json(bad).is_err(), "{bad:?}");
        }
        let deep = "[".repeat(MAX_DEPTH + 2);
        assert!(read_json(&deep).is_err());
    }

    #[test]
    fn a_prefix_says_where_it_ended() {
        let (value, used) = read_json_prefix(r#"{"a":"b"});"#).unwrap();
        assert_eq!(value.get("a").and_then(Json::as_str), Some("b"));
        assert_eq!(used, 9);
    }
}
