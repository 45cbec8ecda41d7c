//! Percent-decoding of paths, and `application/x-www-form-urlencoded` for query strings and
//! form bodies.
//!
//! The two are decoded differently on purpose. A path is decoded strictly (RFC 3986 §2.1): a
//! broken `%` escape or bytes that are not UTF-8 make the request a 400, because a path names
//! something and two spellings must not reach different places. A query or form is decoded the
//! way browsers encode it (the WHATWG URL spec, "application/x-www-form-urlencoded parsing"):
//! `+` is a space, a broken escape is kept as it is, and bad UTF-8 becomes U+FFFD. That is what
//! `encodeURIComponent` and `<form>` produce, and what every server framework accepts.

use std::ops::RangeInclusive;

/// Decodes `%XX` escapes in a request path. `None` for a malformed escape or non-UTF-8 result.
pub fn decode_path(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let high = hex_value(*bytes.get(i + 1)?)?;
            let low = hex_value(*bytes.get(i + 2)?)?;
            out.push(high * 16 + low);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

// ANCHOR: form_pairs
/// The pairs of `a=1&b=two+words&c` — `("a","1")`, `("b","two words")`, `("c","")` — in
/// order, repeated names kept, decoded one at a time as they are asked for. A form body may
/// be a megabyte of `a&a&a&…`: collected at once, that is half a million pairs of `String`s,
/// forty times the body's size. Taken one at a time, a reader looking for `text` holds one.
pub fn form_pairs(input: &[u8]) -> impl Iterator<Item = (String, String)> + '_ {
    input
        .split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = match pair.iter().position(|&b| b == b'=') {
                Some(eq) => (&pair[..eq], &pair[eq + 1..]),
                None => (pair, &pair[pair.len()..]),
            };
            (decode_form_component(name), decode_form_component(value))
        })
}
// ANCHOR_END: form_pairs

/// The value of the first pair named `name` in a form, decoded.
pub fn form_value(input: &[u8], name: &str) -> Option<String> {
    form_pairs(input).find(|(n, _)| n == name).map(|(_, v)| v)
}

/// Every pair of a query string (at most `MAX_REQUEST_LINE` long, so a bounded list).
pub fn parse_form(input: &[u8]) -> Vec<(String, String)> {
    form_pairs(input).collect()
}

/// `+` becomes a space, `%XX` a byte; a `%` not followed by two hex digits stays as it is.
fn decode_form_component(input: &[u8]) -> String {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let escaped = match (input[i], input.get(i + 1), input.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) => hex_value(h).zip(hex_value(l)),
            _ => None,
        };
        match (input[i], escaped) {
            (_, Some((high, low))) => {
                out.push(high * 16 + low);
                i += 3;
                continue;
            }
            (b'+', None) => out.push(b' '),
            (byte, None) => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A number written the plain way, ASCII digits only: `str::parse` alone would also take `+5`,
/// which nobody means in a URL. `None` for anything else, or a number too big for `T`.
pub fn whole_number<T: std::str::FromStr>(text: &str) -> Option<T> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

// ANCHOR: number_in
/// A query value that must be a whole number within `range`: digits only, no sign, no
/// spaces. The error is the one-line reason for a 400, made from the name and the range, so
/// it can never quote a range the code does not check.
pub fn number_in(name: &str, text: &str, range: RangeInclusive<u64>) -> Result<u64, String> {
    match whole_number(text) {
        Some(n) if range.contains(&n) => Ok(n),
        _ if *range.end() == u64::MAX => Err(format!(
            "{name} must be a whole number, {} or more",
            range.start()
        )),
        _ => Err(format!(
            "{name} must be a whole number from {} to {}",
            range.start(),
            range.end()
        )),
    }
}
// ANCHOR_END: number_in

// ANCHOR: cursor
/// A cursor: the last id a reader saw, as `?since=N`. Every transport that resumes from an
/// id reads it here. `ids` names what the ids count (`message`, `event`), `first` how to ask
/// the first time (`with since=0`).
pub fn cursor(value: Option<&str>, ids: &str, first: &str) -> Result<u64, String> {
    let value = value
        .ok_or_else(|| format!("since is missing: ask {first}, then send the last id you saw"))?;
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "since must be a whole number: the last {ids} id you saw, or 0"
        ));
    }
    whole_number(value).ok_or_else(|| format!("since is too large: {ids} ids fit in 64 bits"))
}
// ANCHOR_END: cursor

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_a_range_say_the_range() {
        assert_eq!(number_in("count", "7", 1..=10), Ok(7));
        let reason = Err("count must be a whole number from 1 to 10".to_string());
        for bad in ["0", "11", "+5", "", "x", "99999999999999999999"] {
            assert_eq!(number_in("count", bad, 1..=10), reason, "{bad:?}");
        }
        let open = number_in("n", "0", 1..=u64::MAX);
        assert_eq!(open, Err("n must be a whole number, 1 or more".to_string()));
    }

    #[test]
    fn cursors_are_digits_only() {
        assert_eq!(cursor(Some("007"), "message", "with since=0"), Ok(7));
        for bad in ["", "-1", "+1", "1.5", " 1", "x", "٣"] {
            assert_eq!(
                cursor(Some(bad), "event", "/x?since=0"),
                Err("since must be a whole number: the last event id you saw, or 0".into()),
                "{bad:?}"
            );
        }
        assert_eq!(
            cursor(Some("18446744073709551616"), "message", "with since=0"),
            Err("since is too large: message ids fit in 64 bits".into())
        );
        assert_eq!(
            cursor(None, "message", "with since=0"),
            Err("since is missing: ask with since=0, then send the last id you saw".into())
        );
    }

    #[test]
    fn paths_decode_strictly() {
        let cases: &[(&str, Option<&str>, &str)] = &[
            ("/plain", Some("/plain"), "nothing to decode"),
            ("/a%20b", Some("/a b"), "an escaped space"),
            ("/caf%C3%A9", Some("/café"), "UTF-8 in two escapes"),
            (
                "/a+b",
                Some("/a+b"),
                "'+' is only a space in forms, not in paths",
            ),
            ("/%zz", None, "not hex"),
            ("/%4", None, "escape cut short"),
            ("/%ff", None, "decodes to a byte that is not UTF-8"),
        ];
        for (raw, want, why) in cases {
            assert_eq!(decode_path(raw).as_deref(), *want, "{why}: {raw}");
        }
    }

    #[test]
    fn whole_numbers_are_digits_only() {
        assert_eq!(whole_number::<u32>("10"), Some(10));
        assert_eq!(whole_number::<u32>("007"), Some(7));
        for bad in ["", "+5", "-1", "1.0", " 1", "1e2", "99999999999"] {
            assert_eq!(whole_number::<u32>(bad), None, "{bad:?}");
        }
        assert_eq!(whole_number::<u64>("99999999999"), Some(99_999_999_999));
    }

    #[test]
    fn forms_decode_like_browsers() {
        let pairs = |s: &str| parse_form(s.as_bytes());
        let owned = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        assert_eq!(pairs("a=1&b=2"), owned(&[("a", "1"), ("b", "2")]));
        assert_eq!(pairs("q=two+words"), owned(&[("q", "two words")]));
        assert_eq!(
            pairs("x=%26%3D%20"),
            owned(&[("x", "&= ")]),
            "encodeURIComponent output"
        );
        assert_eq!(
            pairs("flag&&k="),
            owned(&[("flag", ""), ("k", "")]),
            "empty pieces"
        );
        assert_eq!(
            pairs("a=1&a=2"),
            owned(&[("a", "1"), ("a", "2")]),
            "repeats kept"
        );
        assert_eq!(
            pairs("p=100%"),
            owned(&[("p", "100%")]),
            "a broken escape is kept"
        );
        assert_eq!(pairs("n=%E4%BD%A0"), owned(&[("n", "你")]));
        assert_eq!(
            pairs("b=%FF"),
            owned(&[("b", "\u{FFFD}")]),
            "bad UTF-8 is replaced"
        );
    }
}
