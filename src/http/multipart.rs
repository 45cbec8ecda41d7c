//! `multipart/form-data` by hand (RFC 7578, framed as RFC 2046 §5.1.1 says).
//!
//! `xhr.send(new FormData(form))` is how a page uploads a file without leaving the page. The
//! browser cannot use `a=1&b=2` for that — a file is bytes of any kind, and a form body is
//! text — so it picks a *boundary*, a string it promises not to appear in the data, names it
//! in the Content-Type, and writes each field as a small message of its own between two
//! boundary lines. Chromium sends this for one field and one file:
//!
//! ```text
//! Content-Type: multipart/form-data; boundary=----WebKitFormBoundaryx9Qe4DoZ1rLwPJ2c
//!
//! ------WebKitFormBoundaryx9Qe4DoZ1rLwPJ2c\r\n
//! Content-Disposition: form-data; name="name"\r\n
//! \r\n
//! Nicholas\r\n
//! ------WebKitFormBoundaryx9Qe4DoZ1rLwPJ2c\r\n
//! Content-Disposition: form-data; name="file"; filename="hello.txt"\r\n
//! Content-Type: text/plain\r\n
//! \r\n
//! hello\n
//! \r\n
//! ------WebKitFormBoundaryx9Qe4DoZ1rLwPJ2c--\r\n
//! ```
//!
//! Each boundary line is `--` and the boundary; the CR LF *before* it belongs to the boundary,
//! not to the data, which is why `hello\n` keeps its own newline. The last boundary ends in
//! `--`. Between them, a part is a header section, a blank line, and the raw content. The
//! parser below is a pure function over the body the server already read (at most
//! `MAX_BODY_BYTES`); it borrows each part's content from that body and copies nothing big.

use crate::limits::size_in_words;

/// Most parts in one `multipart/form-data` body; more is 400.
pub const MAX_PARTS: usize = 64;
/// Largest header section of one multipart part, blank line included; more is 400.
pub const MAX_PART_HEAD_BYTES: usize = 1024;
/// Largest content of one multipart part (a field's value or a file); more is 400.
pub const MAX_PART_BYTES: usize = 512 * 1024;

/// One part: a form field, or a file when it has a filename.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part<'a> {
    /// The field's name, as sent (a browser writes a `"` in it as `%22`).
    pub name: String,
    /// Present for a file input or a `Blob` appended with a name, even if empty.
    pub filename: Option<String>,
    /// The part's own Content-Type; absent means text/plain (RFC 7578 §4.4).
    pub content_type: Option<String>,
    /// The content, exactly as sent.
    pub content: &'a [u8],
}

/// Everything that can be wrong with a multipart body, each with a one-line reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MultipartError {
    NoBoundary,
    BadBoundary,
    BoundaryNotFound,
    BadBoundaryLine,
    NoCloseDelimiter,
    BadPartHeader,
    PartHeadTooLarge,
    NotFormData,
    PartTooLarge,
    TooManyParts,
}

impl MultipartError {
    pub fn reason(self) -> String {
        use MultipartError::*;
        let reason = match self {
            NoBoundary => "multipart/form-data needs a boundary parameter",
            BadBoundary => {
                "the boundary must be 1 to 70 letters, digits or '()+_,-./:=? characters"
            }
            BoundaryNotFound => "the body does not start with the boundary its Content-Type names",
            BadBoundaryLine => "a boundary line must end in CR LF, or in -- for the last one",
            NoCloseDelimiter => "the body ends before the closing boundary (--boundary--)",
            BadPartHeader => "a part's header section is malformed (each line Name: value, CR LF)",
            PartHeadTooLarge => {
                let limit = size_in_words(MAX_PART_HEAD_BYTES);
                return format!("a part's header section is larger than {limit}");
            }
            NotFormData => "a part has no Content-Disposition: form-data with a name",
            PartTooLarge => {
                return format!("a part is larger than {}", size_in_words(MAX_PART_BYTES));
            }
            TooManyParts => return format!("more than {MAX_PARTS} parts"),
        };
        reason.to_string()
    }
}

// ANCHOR: boundary
/// The boundary named by a `multipart/form-data; boundary=...` Content-Type, quoted or not.
pub fn boundary(content_type: &str) -> Result<String, MultipartError> {
    let (_, parameters) = parameters(content_type).ok_or(MultipartError::BadBoundary)?;
    let boundary = parameters
        .into_iter()
        .find(|(name, _)| name == "boundary")
        .map(|(_, value)| value)
        .ok_or(MultipartError::NoBoundary)?;
    // RFC 2046 §5.1.1: `boundary := 0*69<bchars> bcharsnospace`, so 1 to 70 of them, and
    // a space may appear inside but not at the end.
    let bchar = |b: u8| b.is_ascii_alphanumeric() || b"'()+_,-./:=? ".contains(&b);
    if boundary.is_empty()
        || boundary.len() > 70
        || boundary.ends_with(' ')
        || !boundary.bytes().all(bchar)
    {
        return Err(MultipartError::BadBoundary);
    }
    Ok(boundary)
}
// ANCHOR_END: boundary

// ANCHOR: parse
/// Splits a `multipart/form-data` body into its parts, in order.
pub fn parse<'a>(body: &'a [u8], boundary: &str) -> Result<Vec<Part<'a>>, MultipartError> {
    let dash_boundary = format!("--{boundary}").into_bytes();
    let delimiter = format!("\r\n--{boundary}").into_bytes();
    // A preamble before the first boundary is allowed and ignored; browsers send none.
    let mut at = if body.starts_with(&dash_boundary) {
        dash_boundary.len()
    } else {
        find(body, &delimiter, 0).ok_or(MultipartError::BoundaryNotFound)? + delimiter.len()
    };
    let mut parts = Vec::new();
    loop {
        // RFC 2046 §5.1.1: a line that *starts* with the boundary is a boundary line, no need
        // to match the whole line. Right after it: `--` closes the body (whatever follows is an epilogue,
        // ignored); otherwise optional spaces ("transport padding") and CR LF open a part.
        let rest = &body[at..];
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        let padding = rest
            .iter()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count();
        if !rest[padding..].starts_with(b"\r\n") {
            return Err(MultipartError::BadBoundaryLine);
        }
        let start = at + padding + 2;
        let end = find(body, &delimiter, start).ok_or(MultipartError::NoCloseDelimiter)?;
        if parts.len() == MAX_PARTS {
            return Err(MultipartError::TooManyParts);
        }
        parts.push(part(&body[start..end])?);
        at = end + delimiter.len();
    }
}
// ANCHOR_END: parse

/// One part: header lines, a blank line, the content. A part without headers starts with
/// the blank line.
fn part(bytes: &[u8]) -> Result<Part<'_>, MultipartError> {
    // The blank line must come within the first MAX_PART_HEAD_BYTES; no need to look further.
    let window = &bytes[..bytes.len().min(MAX_PART_HEAD_BYTES)];
    let (head, content) = if bytes.starts_with(b"\r\n") {
        (&bytes[..0], &bytes[2..])
    } else if let Some(end) = find(window, b"\r\n\r\n", 0) {
        (&bytes[..end], &bytes[end + 4..])
    } else if bytes.len() > MAX_PART_HEAD_BYTES {
        return Err(MultipartError::PartHeadTooLarge);
    } else {
        return Err(MultipartError::BadPartHeader);
    };
    if content.len() > MAX_PART_BYTES {
        return Err(MultipartError::PartTooLarge);
    }
    let mut disposition = None;
    let mut content_type = None;
    let lines: Vec<&[u8]> = match head.is_empty() {
        true => Vec::new(),
        false => head.split(|&b| b == b'\n').collect(),
    };
    for (i, line) in lines.iter().enumerate() {
        // Every line but the last (whose CR LF was cut off with the blank line) must end in
        // CR LF: a bare LF, or a CR anywhere else, is malformed.
        let line = match i + 1 < lines.len() {
            true => line
                .strip_suffix(b"\r")
                .ok_or(MultipartError::BadPartHeader)?,
            false => line,
        };
        let line = String::from_utf8_lossy(line);
        let Some((name, value)) = line.split_once(':') else {
            return Err(MultipartError::BadPartHeader);
        };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) || value.contains('\r') {
            return Err(MultipartError::BadPartHeader);
        }
        // RFC 7578 §4.8: only these two (and the deprecated Content-Transfer-Encoding) mean
        // anything in a form part; other headers are ignored, and so is a repeat.
        let value = Some(value.trim().to_string());
        match name.to_ascii_lowercase().as_str() {
            "content-disposition" if disposition.is_none() => disposition = value,
            "content-type" if content_type.is_none() => content_type = value,
            _ => {}
        }
    }
    // RFC 7578 §4.2: each part has `Content-Disposition: form-data; name="..."`.
    let (kind, parameters) = disposition
        .as_deref()
        .and_then(parameters)
        .ok_or(MultipartError::NotFormData)?;
    let parameter = |wanted: &str| {
        parameters
            .iter()
            .find(|(name, _)| name == wanted)
            .map(|(_, value)| value.clone())
    };
    if !kind.eq_ignore_ascii_case("form-data") {
        return Err(MultipartError::NotFormData);
    }
    Ok(Part {
        name: parameter("name").ok_or(MultipartError::NotFormData)?,
        filename: parameter("filename"),
        content_type,
        content,
    })
}

/// `form-data; name="a;b"; filename=x.txt` → ("form-data", [("name", "a;b"), ("filename",
/// "x.txt")]), parameter names in lower case (RFC 9110 §5.6.6). A quoted value runs to the next
/// `"`: browsers send a `"` inside a name as `%22` and never escape with `\`, so a backslash
/// in a Windows filename is kept. `None` if a quote is never closed.
fn parameters(value: &str) -> Option<(String, Vec<(String, String)>)> {
    let (kind, mut rest) = value.split_once(';').unwrap_or((value, ""));
    let mut found = Vec::new();
    loop {
        rest = rest.trim_start_matches([' ', '\t', ';']);
        if rest.is_empty() {
            return Some((kind.trim().to_string(), found));
        }
        let name_end = rest.find(['=', ';']).unwrap_or(rest.len());
        let name = rest[..name_end].trim().to_ascii_lowercase();
        rest = &rest[name_end..];
        let Some(after) = rest.strip_prefix('=') else {
            continue; // a parameter without a value: nothing to keep
        };
        let value = if let Some(quoted) = after.strip_prefix('"') {
            let close = quoted.find('"')?;
            rest = &quoted[close + 1..];
            &quoted[..close]
        } else {
            let end = after.find(';').unwrap_or(after.len());
            rest = &after[end..];
            after[..end].trim()
        };
        found.push((name, value.to_string()));
    }
}

/// Where `needle` first occurs in `haystack` at or after `from`.
fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|window| window == needle)
        .map(|i| i + from)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (name, filename, content type, content) of each part, for compact expectations.
    type Seen = (String, Option<String>, Option<String>, Vec<u8>);

    fn parse_all(content_type: &str, body: &[u8]) -> Result<Vec<Seen>, MultipartError> {
        let parts = parse(body, &boundary(content_type)?)?;
        Ok(parts
            .into_iter()
            .map(|p| (p.name, p.filename, p.content_type, p.content.to_vec()))
            .collect())
    }

    fn field(name: &str, content: &str) -> Seen {
        (name.to_string(), None, None, content.as_bytes().to_vec())
    }

    fn file(name: &str, filename: &str, content_type: &str, content: &[u8]) -> Seen {
        let (filename, content_type) = (filename.to_string(), content_type.to_string());
        (
            name.to_string(),
            Some(filename),
            Some(content_type),
            content.to_vec(),
        )
    }

    const CT: &str = "multipart/form-data; boundary=XyZ";

    #[test]
    fn boundaries_from_content_types() {
        let seventy = "b".repeat(70);
        let with_seventy = format!("multipart/form-data; boundary={seventy}");
        let cases: &[(&str, Result<&str, MultipartError>, &str)] = &[
            (CT, Ok("XyZ"), "token"),
            (
                "multipart/form-data; boundary=----WebKitFormBoundaryx9Qe4DoZ1rLwPJ2c",
                Ok("----WebKitFormBoundaryx9Qe4DoZ1rLwPJ2c"),
                "Chromium's",
            ),
            (
                "multipart/form-data; boundary=\"simple boundary\"",
                Ok("simple boundary"),
                "quoted, with a space: RFC 2046's own example",
            ),
            (
                "Multipart/Form-Data;charset=utf-8;BOUNDARY=a:b",
                Ok("a:b"),
                "names in any case, no spaces",
            ),
            (&with_seventy, Ok(&seventy), "70 characters is the most"),
            (
                "multipart/form-data",
                Err(MultipartError::NoBoundary),
                "none",
            ),
            (
                "multipart/form-data; charset=utf-8",
                Err(MultipartError::NoBoundary),
                "another parameter only",
            ),
            (
                "multipart/form-data; boundary=",
                Err(MultipartError::BadBoundary),
                "empty",
            ),
            (
                "multipart/form-data; boundary=\"\"",
                Err(MultipartError::BadBoundary),
                "empty, quoted",
            ),
            (
                "multipart/form-data; boundary=\"open",
                Err(MultipartError::BadBoundary),
                "a quote never closed",
            ),
            (
                "multipart/form-data; boundary=\"ends in space \"",
                Err(MultipartError::BadBoundary),
                "a space may not end it",
            ),
            (
                "multipart/form-data; boundary=a;b",
                Ok("a"),
                "a semicolon ends an unquoted value",
            ),
            (
                "multipart/form-data; boundary=\"a\\\"b\"",
                Err(MultipartError::BadBoundary),
                "a backslash is not a bchar",
            ),
            (
                "multipart/form-data; boundary=caf\u{e9}",
                Err(MultipartError::BadBoundary),
                "ASCII only",
            ),
        ];
        for (content_type, want, why) in cases {
            assert_eq!(
                boundary(content_type).as_deref(),
                want.as_deref(),
                "{why}: {content_type}"
            );
        }
        let seventy_one = format!("multipart/form-data; boundary={seventy}b");
        assert_eq!(boundary(&seventy_one), Err(MultipartError::BadBoundary));
    }

    #[test]
    fn good_bodies() {
        let cases: &[(&str, &[u8], Vec<Seen>, &str)] = &[
            (
                "multipart/form-data; boundary=----WebKitFormBoundaryx9Qe4DoZ1rLwPJ2c",
                b"------WebKitFormBoundaryx9Qe4DoZ1rLwPJ2c\r\n\
                  Content-Disposition: form-data; name=\"name\"\r\n\r\n\
                  Nicholas\r\n\
                  ------WebKitFormBoundaryx9Qe4DoZ1rLwPJ2c\r\n\
                  Content-Disposition: form-data; name=\"file\"; filename=\"hello.txt\"\r\n\
                  Content-Type: text/plain\r\n\r\n\
                  hello\n\r\n\
                  ------WebKitFormBoundaryx9Qe4DoZ1rLwPJ2c--\r\n",
                vec![
                    field("name", "Nicholas"),
                    file("file", "hello.txt", "text/plain", b"hello\n"),
                ],
                "Chromium's FormData: a field and a file",
            ),
            (
                "multipart/form-data; boundary=AaB03x",
                b"--AaB03x\r\n\
                  content-disposition: form-data; name=\"field1\"\r\n\
                  content-type: text/plain;charset=UTF-8\r\n\
                  content-transfer-encoding: quoted-printable\r\n\r\n\
                  Joe owes =E2=82=AC100.\r\n\
                  --AaB03x--",
                vec![(
                    "field1".to_string(),
                    None,
                    Some("text/plain;charset=UTF-8".to_string()),
                    b"Joe owes =E2=82=AC100.".to_vec(),
                )],
                "RFC 7578 §4.7's example; lower-case names; no CR LF after the end",
            ),
            (
                CT,
                b"--XyZ--\r\n",
                vec![],
                "an empty FormData: only the closing boundary",
            ),
            (
                CT,
                b"a preamble\r\n--XyZ  \t\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--XyZ-- \r\nan epilogue",
                vec![field("a", "1")],
                "preamble, transport padding and epilogue are ignored; unquoted name",
            ),
            (
                CT,
                b"--XyZ\r\nContent-Disposition: form-data; name=\"a;b\"; filename=\"C:\\x\\y.txt\"\r\n\r\n\r\n--XyZ--",
                vec![(
                    "a;b".to_string(),
                    Some("C:\\x\\y.txt".to_string()),
                    None,
                    vec![],
                )],
                "a ; inside quotes, backslashes kept, empty content",
            ),
            (
                CT,
                "--XyZ\r\nContent-Disposition: form-data; name=\"城市%22\"\r\n\r\n北京\r\n--XyZ--"
                    .as_bytes(),
                vec![field("城市%22", "北京")],
                "UTF-8 as sent; a browser's %22 for a quote is kept as is",
            ),
            (
                CT,
                b"--XyZ\r\nContent-Disposition: form-data; name=t\r\n\r\nline --XyZ\r\nX--XyZ\r\n\r\n--XyZ--",
                vec![field("t", "line --XyZ\r\nX--XyZ\r\n")],
                "the boundary inside content, but not at the start of a line",
            ),
            (
                CT,
                b"--XyZ\r\nX-Other: 1\r\nContent-Disposition: form-data; name=a\r\nContent-Disposition: form-data; name=b\r\n\r\n1\r\n--XyZ--",
                vec![field("a", "1")],
                "other headers ignored; the first Content-Disposition counts",
            ),
        ];
        for (content_type, body, want, why) in cases {
            assert_eq!(parse_all(content_type, body).as_ref(), Ok(want), "{why}");
        }
    }

    #[test]
    fn hostile_bodies() {
        use MultipartError::*;
        let big_part = format!(
            "--XyZ\r\nContent-Disposition: form-data; name=f\r\n\r\n{}\r\n--XyZ--",
            "x".repeat(MAX_PART_BYTES + 1)
        );
        let just_fits = format!(
            "--XyZ\r\nContent-Disposition: form-data; name=f\r\n\r\n{}\r\n--XyZ--",
            "x".repeat(MAX_PART_BYTES)
        );
        let many_parts = "--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\n\r\n"
            .repeat(MAX_PARTS + 1)
            + "--XyZ--";
        let big_head = format!(
            "--XyZ\r\nContent-Disposition: form-data; name=a\r\nX: {}\r\n\r\n\r\n--XyZ--",
            "y".repeat(MAX_PART_HEAD_BYTES)
        );
        let cases: &[(&[u8], MultipartError, &str)] = &[
            (b"", BoundaryNotFound, "an empty body"),
            (
                b"--Other\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--Other--",
                BoundaryNotFound,
                "a different boundary than the Content-Type names",
            ),
            (b"-XyZ\r\n", BoundaryNotFound, "one dash"),
            (
                b"--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\n1",
                NoCloseDelimiter,
                "cut off inside a part",
            ),
            (
                b"--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--XyZ",
                BadBoundaryLine,
                "cut off right after a boundary",
            ),
            (b"--XyZ", BadBoundaryLine, "the boundary alone"),
            (
                b"--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--XyZ is it?\r\n--XyZ--",
                BadBoundaryLine,
                "a line that starts with the boundary is one (RFC 2046's note to implementors)",
            ),
            (
                b"--XyZjunk\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--XyZ--",
                BadBoundaryLine,
                "something after the first boundary",
            ),
            (
                b"--XyZ\nContent-Disposition: form-data; name=a\n\n1\n--XyZ--",
                BadBoundaryLine,
                "bare LF after the boundary",
            ),
            (
                b"--XyZ\r\nContent-Disposition: form-data; name=a\n\r\n\r\n--XyZ--",
                BadPartHeader,
                "a bare LF inside the part's head",
            ),
            (
                b"--XyZ\r\nContent-Disposition form-data\r\n\r\n1\r\n--XyZ--",
                BadPartHeader,
                "a header line without a colon",
            ),
            (
                b"--XyZ\r\nContent-Disposition : form-data; name=a\r\n\r\n1\r\n--XyZ--",
                BadPartHeader,
                "a space before the colon",
            ),
            (
                b"--XyZ\r\nContent-Disposition: form-data; name=a\r\n--XyZ--",
                BadPartHeader,
                "no blank line after the part's head",
            ),
            (
                b"--XyZ\r\n\r\nno headers\r\n--XyZ--",
                NotFormData,
                "a part without headers",
            ),
            (
                b"--XyZ\r\nContent-Type: text/plain\r\n\r\n1\r\n--XyZ--",
                NotFormData,
                "no Content-Disposition",
            ),
            (
                b"--XyZ\r\nContent-Disposition: attachment; name=a\r\n\r\n1\r\n--XyZ--",
                NotFormData,
                "not form-data",
            ),
            (
                b"--XyZ\r\nContent-Disposition: form-data; filename=a.txt\r\n\r\n1\r\n--XyZ--",
                NotFormData,
                "no name",
            ),
            (
                b"--XyZ\r\nContent-Disposition: form-data; name=\"a\r\n\r\n1\r\n--XyZ--",
                NotFormData,
                "a quote never closed",
            ),
            (big_part.as_bytes(), PartTooLarge, "one byte over the part limit"),
            (many_parts.as_bytes(), TooManyParts, "one part too many"),
            (big_head.as_bytes(), PartHeadTooLarge, "a huge part header"),
        ];
        for (body, want, why) in cases {
            assert_eq!(parse(body, "XyZ").map(|_| ()), Err(*want), "{why}");
        }
        assert_eq!(parse(just_fits.as_bytes(), "XyZ").map(|p| p.len()), Ok(1));
    }

    #[test]
    fn every_reason_is_one_line() {
        use MultipartError::*;
        for error in [
            NoBoundary,
            BadBoundary,
            BoundaryNotFound,
            BadBoundaryLine,
            NoCloseDelimiter,
            BadPartHeader,
            PartHeadTooLarge,
            NotFormData,
            PartTooLarge,
            TooManyParts,
        ] {
            assert!(!error.reason().contains('\n'), "{error:?}");
        }
    }
}
