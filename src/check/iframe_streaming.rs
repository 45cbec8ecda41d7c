//! The rules of hidden-iframe streaming (`docs/06-iframe-streaming.md`, its exercise),
//! checked against `GET <url>?count=3`: an HTML document sent a piece at a time, its start at
//! once, then one `<script>parent.process("N")</script>` block per chunk, a tick apart, then
//! its end. Then `?target=` (the blocks post to that origin instead, and any origin but the
//! two the server trusts is refused before a byte of the document), bad counts, HTTP/1.0,
//! HEAD and another method.
//!
//! The stream is read as chapter 05's is (`xhr_streaming::read_stream`: each chunk with the
//! time it came), and cut into the document's start, its script blocks and its end by their
//! bytes, not by the chunks, so that a rule about the blocks still reads a body chunked
//! wrongly (that is `script-per-chunk`'s to say).
//!
//! Injection: the values are the server's own random numbers, so the checker cannot hand the
//! stream a hostile one. What it can do is check that each value is a JSON string literal
//! with no raw `<` (the chapter's escaping, which keeps any value inside its script), and that
//! the one thing a request can put into a script, `target`, is refused unless it is exactly an
//! allowed origin: a target carrying `"</script><script>alert(1)</script>` is 400.

use super::client::{self, Head};
use super::xhr_streaming::{
    Arrival, COUNT, Stream, chunked, ends, get_only, head_alone, http_1_0_head, http_1_0_request,
    media_type_is, no_store, over_time, read_stream, refused_with_400,
};
use super::{Report, Rule, Target, Technique, show};

pub static TECHNIQUE: Technique = Technique {
    name: "iframe-streaming",
    chapter: "06-iframe-streaming.md",
    endpoint: "/htmlfile",
    rules: &[
        &ANSWERS,
        &NO_STORE,
        &CHUNKED,
        &DOCUMENT_START,
        &SCRIPT_PER_CHUNK,
        &CALLS,
        &OVER_TIME,
        &ENDS,
        &POST_MESSAGE,
        &TARGET_REFUSED,
        &BAD_COUNT,
        &HTTP_1_0,
        &HEAD,
        &GET_ONLY,
    ],
    run,
};

const STREAM: &str = "The document";
const TARGET: &str = "Posting to the other origin";
const OTHER_REQUESTS: &str = "Bad counts, HTTP/1.0, HEAD and other methods";

static ANSWERS: Rule = Rule {
    id: "iframe-streaming.answers",
    says: "GET ?count=3 answers 200 at once, with Content-Type text/html; charset=utf-8",
    section: STREAM,
};
static NO_STORE: Rule = Rule {
    id: "iframe-streaming.no-store",
    says: "the stream carries Cache-Control: no-store, so no cache keeps it and replays it",
    section: STREAM,
};
static CHUNKED: Rule = Rule {
    id: "iframe-streaming.chunked",
    says: "on HTTP/1.1 the body is chunked (Transfer-Encoding: chunked, no Content-Length)",
    section: STREAM,
};
static DOCUMENT_START: Rule = Rule {
    id: "iframe-streaming.document-start",
    says: "the body starts as an HTML document, <!doctype html> up to <body>, with no script \
           in it",
    section: STREAM,
};
static SCRIPT_PER_CHUNK: Rule = Rule {
    id: "iframe-streaming.script-per-chunk",
    says: "each script block is one chunk of its own: never half a block (it would run only \
           when its </script> came), never two",
    section: STREAM,
};
static CALLS: Rule = Rule {
    id: "iframe-streaming.calls",
    says: "each value is exactly <script>parent.process(\"N\")</script> and a line feed, N a \
           number below 10000 (no leading zero) written as a JSON string with no raw <",
    section: STREAM,
};
static OVER_TIME: Rule = Rule {
    id: "iframe-streaming.over-time",
    says: "the first block comes at once, each next one a tick later (at least 0.5 s), not all \
           together",
    section: STREAM,
};
static ENDS: Rule = Rule {
    id: "iframe-streaming.ends",
    says: "after count blocks comes </body></html>, then the body ends: the last chunk \
           0\\r\\n\\r\\n",
    section: STREAM,
};
static POST_MESSAGE: Rule = Rule {
    id: "iframe-streaming.post-message",
    says: "?target=http://localhost:PORT (or http://127.0.0.1:PORT, PORT the Host's) makes each \
           block parent.postMessage(\"N\", \"<that origin>\")",
    section: TARGET,
};
static TARGET_REFUSED: Rule = Rule {
    id: "iframe-streaming.target-refused",
    says: "any other target (*, null, empty, another site or port, a trailing slash, one \
           carrying </script>) is 400 before a byte of the document",
    section: TARGET,
};
static BAD_COUNT: Rule = Rule {
    id: "iframe-streaming.bad-count",
    says: "a count outside 1 to 100, or not plain digits, is 400, not a stream",
    section: OTHER_REQUESTS,
};
static HTTP_1_0: Rule = Rule {
    id: "iframe-streaming.http-1-0",
    says: "an HTTP/1.0 request gets the document bare (no Transfer-Encoding, no \
           Content-Length), and the close ends it",
    section: OTHER_REQUESTS,
};
static HEAD: Rule = Rule {
    id: "iframe-streaming.head",
    says: "HEAD answers 200 with the stream's head and not one byte of body",
    section: OTHER_REQUESTS,
};
static GET_ONLY: Rule = Rule {
    id: "iframe-streaming.get-only",
    says: "POST is 405, with an Allow header that lists GET",
    section: OTHER_REQUESTS,
};

/// How a block calls the page: `parent.process("N")`, or `parent.postMessage("N", origin)`.
#[derive(Clone, Copy)]
enum Deliver<'a> {
    Call,
    PostMessage(&'a str),
}

fn run(target: &Target, report: &mut Report) {
    stream_rules(target, report);
    report.record(&POST_MESSAGE, post_message(target));
    let port = target.url.port;
    let (origin, other_port) = (origin_on(port), origin_on(port.wrapping_add(1).max(1)));
    let hostile = [
        "*".to_string(),
        "null".to_string(),
        String::new(),
        "https://evil.example".to_string(),
        other_port,
        format!("{origin}/"),
        format!("https://{}", &origin["http://".len()..]),
        format!("{origin}\"</script><script>alert(1)</script>"),
    ];
    let queries: Vec<String> = hostile
        .iter()
        .map(|t| format!("count=1&target={}", percent_encoded(t)))
        .collect();
    let queries: Vec<&str> = queries.iter().map(String::as_str).collect();
    report.record(&TARGET_REFUSED, refused_with_400(target, &queries));
    let counts = [
        "count=0",
        "count=101",
        "count=ten",
        "count=",
        "count=-1",
        "count=99999999999999999999999",
    ];
    report.record(&BAD_COUNT, refused_with_400(target, &counts));
    report.record(&HTTP_1_0, http_1_0(target));
    report.record(&HEAD, head_alone(target));
    report.record(&GET_ONLY, get_only(target));
}

/// `GET ?count=3` read to its end, and every rule about it.
fn stream_rules(target: &Target, report: &mut Report) {
    let url = target.url.with_query(&format!("count={COUNT}"));
    let request = client::request("GET", &url, &[("Connection", "close")], b"");
    let enough = |body: &[u8]| whole_blocks(body) > COUNT;
    let stream = match read_stream(&url, target.patience, &request, &enough) {
        Ok(stream) => stream,
        Err(why) => {
            report.record(&ANSWERS, Err(why));
            return;
        }
    };
    let head = &stream.head;
    if head.status != 200 {
        report.record(
            &ANSWERS,
            Err(format!("status {}: {}", head.status, stream.shown())),
        );
        return;
    }
    report.record(&ANSWERS, answers(head));
    report.record(&NO_STORE, no_store(head));
    report.record(&CHUNKED, chunked(head));
    let document = Document::cut(&stream);
    report.record(&DOCUMENT_START, document_start(&document.start));
    if document.blocks.is_empty() {
        report.skip(&SCRIPT_PER_CHUNK, "no script block came");
    } else if stream.chunked() {
        report.record(&SCRIPT_PER_CHUNK, script_per_chunk(&stream));
    } else {
        report.skip(
            &SCRIPT_PER_CHUNK,
            "the body is not chunked: no chunks to look at",
        );
    }
    if document.blocks.is_empty() {
        report.skip(&CALLS, "no script block came");
    } else {
        report.record(&CALLS, calls(&document.blocks, Deliver::Call));
    }
    let times: Vec<Arrival> = document
        .blocks
        .iter()
        .map(|(_, arrived)| *arrived)
        .collect();
    match over_time(stream.sent, &times, "block") {
        Some(verdict) => report.record(&OVER_TIME, verdict),
        None => report.skip(&OVER_TIME, "fewer than two blocks came: no gap to measure"),
    }
    report.record(
        &ENDS,
        ends(&stream, document.blocks.len(), "script block").and_then(|()| {
            document_end(&document.end).map_err(|why| format!("{why}: {}", stream.shown()))
        }),
    );
}

/// 200 is checked already: `text/html`, with `charset=utf-8` named in the header so that no
/// parser waits to find the encoding in the bytes.
fn answers(head: &Head) -> Result<(), String> {
    media_type_is(head, "text/html")?;
    let charset = head
        .header("Content-Type")
        .unwrap_or("")
        .split(';')
        .skip(1)
        .filter_map(|p| p.split_once('='))
        .any(|(name, value)| {
            name.trim().eq_ignore_ascii_case("charset")
                && value.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
        });
    if charset {
        Ok(())
    } else {
        Err(format!(
            "no charset=utf-8 in the Content-Type: {}",
            head.shown()
        ))
    }
}

/// The three parts of the streamed document, cut by their bytes.
struct Document {
    /// Everything before the first `<script>`.
    start: Vec<u8>,
    /// Each `<script>…</script>` with the line feed after it (if any), and when it was whole.
    blocks: Vec<(Vec<u8>, Arrival)>,
    /// Everything after the last block.
    end: Vec<u8>,
}

const OPEN: &[u8] = b"<script>";
const CLOSE: &[u8] = b"</script>";

impl Document {
    fn cut(stream: &Stream) -> Document {
        let body = stream.body();
        // When each byte arrived: a block is whole when its last byte is in.
        let mut arrived = Vec::with_capacity(body.len());
        for piece in &stream.pieces {
            arrived.extend(std::iter::repeat_n(piece.arrived, piece.bytes.len()));
        }
        let first = client::find(&body, OPEN).unwrap_or(body.len());
        let start = body[..first].to_vec();
        let mut blocks = Vec::new();
        let mut at = first;
        while body[at..].starts_with(OPEN) {
            let Some(close) = client::find(&body[at..], CLOSE) else {
                break;
            };
            let mut past = at + close + CLOSE.len();
            if body.get(past) == Some(&b'\n') {
                past += 1;
            }
            blocks.push((body[at..past].to_vec(), arrived[past - 1]));
            at = past;
        }
        Document {
            start,
            blocks,
            end: body[at..].to_vec(),
        }
    }
}

/// How many whole script blocks `body` holds: the checker stops after one more than asked.
fn whole_blocks(body: &[u8]) -> usize {
    body.windows(CLOSE.len()).filter(|w| *w == CLOSE).count()
}

/// `<!doctype html>` first (ASCII case-insensitive, as HTML reads it), a `<body>` tag, no
/// script.
fn document_start(start: &[u8]) -> Result<(), String> {
    let lower = start.to_ascii_lowercase();
    if !lower.starts_with(b"<!doctype html>") {
        return Err(format!(
            "the body should start with <!doctype html>: {}",
            show(start)
        ));
    }
    if client::find(&lower, b"<body").is_none() {
        return Err(format!(
            "the document's start should open <body> before the first script: {}",
            show(start)
        ));
    }
    if client::find(&lower, b"<script").is_some() {
        return Err(format!(
            "a script in the document's start that is not a <script>parent.process(…) block: {}",
            show(start)
        ));
    }
    Ok(())
}

/// Every chunk that has a script block in it is exactly one whole block, and no other
/// chunk holds a piece of one.
fn script_per_chunk(stream: &Stream) -> Result<(), String> {
    for (i, piece) in stream.pieces.iter().enumerate() {
        let bytes = &piece.bytes;
        let opens = bytes.windows(OPEN.len()).filter(|w| *w == OPEN).count();
        let closes = bytes.windows(CLOSE.len()).filter(|w| *w == CLOSE).count();
        let whole = opens == 1
            && closes == 1
            && bytes.starts_with(OPEN)
            && (bytes.ends_with(CLOSE) || bytes.ends_with(b"</script>\n"));
        if (opens > 0 || closes > 0) && !whole {
            return Err(format!(
                "chunk {} is not one whole script block: {}; the chunks were {}",
                i + 1,
                show(bytes),
                stream.chunks_shown()
            ));
        }
    }
    Ok(())
}

/// Every block is exactly the call the chapter shows, with a value below 10000.
fn calls(blocks: &[(Vec<u8>, Arrival)], deliver: Deliver) -> Result<(), String> {
    for (block, _) in blocks {
        let text = String::from_utf8_lossy(block);
        let call = match deliver {
            Deliver::Call => "<script>parent.process(",
            Deliver::PostMessage(_) => "<script>parent.postMessage(",
        };
        let argument = text
            .strip_prefix(call)
            .and_then(|rest| rest.strip_suffix(")</script>\n"));
        // Any JSON spelling of the same string passes: `"http:\/\/localhost:8088"` too.
        let value = argument.and_then(|argument| match deliver {
            Deliver::Call => json_string(argument),
            Deliver::PostMessage(origin) => {
                let (value, rest) = json_string_at(argument)?;
                let second = rest.strip_prefix(',')?.trim_start();
                (json_string(second)? == origin).then_some(value)
            }
        });
        let want = match deliver {
            Deliver::Call => "<script>parent.process(\"4821\")</script>\\n".to_string(),
            Deliver::PostMessage(origin) => {
                format!("<script>parent.postMessage(\"4821\", \"{origin}\")</script>\\n")
            }
        };
        match value {
            Some(value) if is_number_below_10000(&value) => {}
            _ => {
                return Err(format!(
                    "not a block like {want}, with a number below 10000 as a JSON string and no \
                     raw <: {}",
                    show(block)
                ));
            }
        }
    }
    Ok(())
}

/// `"4821"` read as a JSON string literal (RFC 8259 §7), or `None` if it is not one or
/// holds a raw `<`, U+2028 or U+2029: the escaping that keeps a value inside its script.
fn json_string(literal: &str) -> Option<String> {
    match json_string_at(literal)? {
        (value, "") => Some(value),
        _ => None,
    }
}

/// The JSON string literal that `text` starts with, as `json_string` reads it, and the text
/// after its closing quote.
fn json_string_at(text: &str) -> Option<(String, &str)> {
    let inner = text.strip_prefix('"')?;
    let mut value = String::new();
    let mut chars = inner.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((value, &inner[i + 1..])),
            '<' | '\u{2028}' | '\u{2029}' | '\0'..='\u{1f}' => return None,
            '\\' => match chars.next()?.1 {
                '"' => value.push('"'),
                '\\' => value.push('\\'),
                '/' => value.push('/'),
                'b' => value.push('\u{8}'),
                'f' => value.push('\u{c}'),
                'n' => value.push('\n'),
                'r' => value.push('\r'),
                't' => value.push('\t'),
                'u' => {
                    let hex: String = chars.by_ref().take(4).map(|(_, c)| c).collect();
                    let code = u32::from_str_radix(&hex, 16)
                        .ok()
                        .filter(|_| hex.len() == 4)?;
                    // A lone surrogate half is JSON, but no value here is ever one.
                    value.push(char::from_u32(code)?);
                }
                _ => return None,
            },
            c => value.push(c),
        }
    }
    None
}

/// `0` to `9999`, plain digits, no leading zero.
fn is_number_below_10000(text: &str) -> bool {
    (1..=4).contains(&text.len())
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'))
}

/// What follows the last block: `</body></html>` (white space around it aside).
fn document_end(end: &[u8]) -> Result<(), String> {
    if end.trim_ascii().eq_ignore_ascii_case(b"</body></html>") {
        Ok(())
    } else {
        Err(format!(
            "after the last block the document should end with </body></html>, not {}",
            show(end)
        ))
    }
}

/// `?count=1&target=<origin>` for both names of the server, on the port the URL names.
fn post_message(target: &Target) -> Result<(), String> {
    let port = target.url.port;
    for origin in [
        origin_on(port),
        format!("http://127.0.0.1{}", port_suffix(port)),
    ] {
        let url = target
            .url
            .with_query(&format!("count=1&target={}", percent_encoded(&origin)));
        let request = client::request("GET", &url, &[("Connection", "close")], b"");
        let stream = read_stream(&url, target.patience, &request, &|_: &[u8]| false)?;
        if stream.head.status != 200 {
            return Err(format!(
                "GET {}: status {}: {}",
                url.target,
                stream.head.status,
                stream.shown()
            ));
        }
        let document = Document::cut(&stream);
        if document.blocks.len() != 1 {
            return Err(format!(
                "GET {}: count=1 should send one script block: {}",
                url.target,
                stream.shown()
            ));
        }
        calls(&document.blocks, Deliver::PostMessage(&origin))
            .map_err(|why| format!("GET {}: {why}", url.target))?;
    }
    Ok(())
}

/// `GET ?count=1 HTTP/1.0`: the same document, unframed, ended by the close.
fn http_1_0(target: &Target) -> Result<(), String> {
    let url = target.url.with_query("count=1");
    let stream = read_stream(
        &url,
        target.patience,
        &http_1_0_request(&url),
        &|_: &[u8]| false,
    )?;
    http_1_0_head(&stream.head)?;
    if let Err(why) = &stream.end {
        return Err(format!(
            "the document should end with the close: {why}; got {}",
            stream.shown()
        ));
    }
    // What the start and the block hold is for the HTTP/1.1 rules: here, that the document
    // comes whole and unframed.
    let document = Document::cut(&stream);
    if document.blocks.len() != 1 || document_end(&document.end).is_err() {
        return Err(format!(
            "count=1 over HTTP/1.0 should be the document's start, one script block and \
             </body></html>, bare, without chunk framing: {}",
            stream.shown()
        ));
    }
    Ok(())
}

/// `http://localhost:PORT`: the origin a page on this server's `localhost` name has.
fn origin_on(port: u16) -> String {
    format!("http://localhost{}", port_suffix(port))
}

/// An origin leaves out its scheme's default port: `http://localhost`, not `…:80`.
fn port_suffix(port: u16) -> String {
    if port == 80 {
        String::new()
    } else {
        format!(":{port}")
    }
}

/// `text` as a query value: every byte but the unreserved ones (RFC 3986 §2.3) as `%XX`.
fn percent_encoded(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings() {
        assert_eq!(json_string(r#""4821""#).as_deref(), Some("4821"));
        assert_eq!(
            json_string(r#""\u003c/script>""#).as_deref(),
            Some("</script>")
        );
        assert_eq!(json_string(r#""a\"b\\""#).as_deref(), Some("a\"b\\"));
        assert_eq!(
            json_string_at(r#""1", "http:\/\/a""#),
            Some(("1".to_string(), r#", "http:\/\/a""#))
        );
        for bad in [
            "4821",
            "'4821'",
            r#""</script>""#,
            r#""a"b""#,
            r#""\x41""#,
            "\"a\u{2028}\"",
            r#""\u00""#,
            r#""4821"""#,
        ] {
            assert_eq!(json_string(bad), None, "{bad}");
        }
    }

    #[test]
    fn targets_are_percent_encoded() {
        assert_eq!(
            percent_encoded("http://localhost:8088"),
            "http%3A%2F%2Flocalhost%3A8088"
        );
        assert_eq!(percent_encoded("a\"<"), "a%22%3C");
    }
}
