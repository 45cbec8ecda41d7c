//! The rules of XHR streaming (`docs/05-xhr-streaming.md`, its exercise), checked against
//! `GET <url>?count=3`: the head at once, then one number per line, each line a chunk of its
//! own, a tick apart, and the end of the body after the third. Then the same endpoint with
//! padding, over HTTP/1.0, with HEAD, with another method, and with options it must refuse.
//!
//! The checker reads the stream piece by piece (`Connection::next_piece`: one chunk's data at
//! a time) and notes when each arrived, so "one line per write, a tick apart" is seen from
//! outside. "When" is two moments, so that a checker the machine descheduled for a while
//! cannot fail a correct server: the piece came after the last moment the socket was seen
//! empty, and by the moment it was read (`Arrival`, `over_time`). It asks for three lines,
//! not the chapter's default ten: at the chapter's pace of 2 s that is a stream of 4 s, and
//! the chapter says the stream ends after `count` lines, so the check can wait for the end
//! instead of cutting it.
//!
//! Chapter 06's forever frame is the same kind of stream with another body, so
//! `iframe_streaming.rs` uses the helpers here (`read_stream`, `over_time`, the HEAD, 405 and
//! 400 checks) rather than a second copy.

use std::io::{ErrorKind, Read};
use std::time::{Duration, Instant};

use super::client::{self, Connection, Head, Url};
use super::{LOOK, Report, Rule, Target, Technique, show, wait_for_bytes};

pub static TECHNIQUE: Technique = Technique {
    name: "xhr-streaming",
    chapter: "05-xhr-streaming.md",
    endpoint: "/stream",
    rules: &[
        &ANSWERS,
        &NOSNIFF,
        &NO_STORE,
        &CHUNKED,
        &LINE_PER_CHUNK,
        &NUMBERS,
        &OVER_TIME,
        &ENDS,
        &PADDING,
        &HTTP_1_0,
        &HEAD,
        &GET_ONLY,
        &BAD_OPTIONS,
    ],
    run,
};

const STREAM: &str = "The stream";
const OTHER_REQUESTS: &str = "Padding, HTTP/1.0, HEAD and refusals";

static ANSWERS: Rule = Rule {
    id: "xhr-streaming.answers",
    says: "GET ?count=3 answers 200 at once, with a text/plain body",
    section: STREAM,
};
static NOSNIFF: Rule = Rule {
    id: "xhr-streaming.nosniff",
    says: "the stream carries X-Content-Type-Options: nosniff, or Chromium's XHR sees nothing \
           until 1,024 bytes have arrived",
    section: STREAM,
};
static NO_STORE: Rule = Rule {
    id: "xhr-streaming.no-store",
    says: "the stream carries Cache-Control: no-store, so no cache keeps it and replays it",
    section: STREAM,
};
static CHUNKED: Rule = Rule {
    id: "xhr-streaming.chunked",
    says: "on HTTP/1.1 the body is chunked (Transfer-Encoding: chunked, no Content-Length)",
    section: STREAM,
};
static LINE_PER_CHUNK: Rule = Rule {
    id: "xhr-streaming.line-per-chunk",
    says: "each line is one chunk of its own, written when it is made: never half a line, \
           never two",
    section: STREAM,
};
static NUMBERS: Rule = Rule {
    id: "xhr-streaming.numbers",
    says: "each line is a number below 10000 in plain digits, no leading zero, ended by one line feed",
    section: STREAM,
};
static OVER_TIME: Rule = Rule {
    id: "xhr-streaming.over-time",
    says: "the first line comes at once, each next one a tick later (at least 0.5 s), not all \
           together",
    section: STREAM,
};
static ENDS: Rule = Rule {
    id: "xhr-streaming.ends",
    says: "after count lines the body ends: the last chunk 0\\r\\n\\r\\n, no line more",
    section: STREAM,
};
static PADDING: Rule = Rule {
    id: "xhr-streaming.padding",
    says: "?pad=1024 sends 1,023 spaces and a line feed before the first number",
    section: OTHER_REQUESTS,
};
static HTTP_1_0: Rule = Rule {
    id: "xhr-streaming.http-1-0",
    says: "an HTTP/1.0 request gets the lines bare (no Transfer-Encoding, no Content-Length), \
           and the close ends the body",
    section: OTHER_REQUESTS,
};
static HEAD: Rule = Rule {
    id: "xhr-streaming.head",
    says: "HEAD answers 200 with the stream's head and not one byte of body",
    section: OTHER_REQUESTS,
};
static GET_ONLY: Rule = Rule {
    id: "xhr-streaming.get-only",
    says: "POST is 405, with an Allow header that lists GET",
    section: OTHER_REQUESTS,
};
static BAD_OPTIONS: Rule = Rule {
    id: "xhr-streaming.bad-options",
    says: "a count outside 1 to 1000 or a pad outside 0 to 4096 (or not plain digits) is 400, \
           not a stream",
    section: OTHER_REQUESTS,
};

/// How many lines the check asks for: more than one piece and two gaps to measure, and an
/// end within two ticks (4 s at the chapter's pace).
pub(super) const COUNT: usize = 3;
/// The padding the check asks for: Chromium's sniffing threshold (`kMaxBytesToSniff`).
const PAD: usize = 1024;
/// The shortest time between two pieces that still counts as "a tick later": the exercise's
/// tick is at least 0.5 s (the chapter's is 2 s), while a server that buffers its pieces and
/// writes them together shows gaps of a few milliseconds. A busy machine needs no margin here:
/// each gap is measured as the most it can have been (`over_time`), which a late checker only
/// lengthens.
pub(super) const MIN_GAP: Duration = Duration::from_millis(500);
/// How many chunks a failure lists (`Stream::chunks_shown`): enough to see the pattern of a
/// stream that was asked for three lines, and a bound on a report about one that never ends.
const MAX_CHUNKS_SHOWN: usize = 8;
/// The most of one stream the checker reads: three lines, or 1 KiB of padding and one line,
/// are far less.
const MAX_STREAM_BYTES: usize = 64 * 1024;

fn run(target: &Target, report: &mut Report) {
    stream_rules(target, report);
    report.record(&PADDING, padding(target));
    report.record(&HTTP_1_0, http_1_0(target));
    report.record(&HEAD, head_alone(target));
    report.record(&GET_ONLY, get_only(target));
    let refused = [
        "count=0",
        "count=1001",
        "count=ten",
        "count=",
        "count=-1",
        "count=99999999999999999999999",
        "pad=4097",
        "pad=x",
    ];
    report.record(&BAD_OPTIONS, refused_with_400(target, &refused));
}

/// `GET ?count=3` read to its end, and every rule about it.
fn stream_rules(target: &Target, report: &mut Report) {
    let url = target.url.with_query(&format!("count={COUNT}"));
    let request = client::request("GET", &url, &[("Connection", "close")], b"");
    let enough = |body: &[u8]| lines_in(body) > COUNT;
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
    report.record(&ANSWERS, media_type_is(head, "text/plain"));
    report.record(
        &NOSNIFF,
        match head.header("X-Content-Type-Options") {
            Some(value) if value.eq_ignore_ascii_case("nosniff") => Ok(()),
            _ => Err(format!(
                "no X-Content-Type-Options: nosniff in {}",
                head.shown()
            )),
        },
    );
    report.record(&NO_STORE, no_store(head));
    report.record(&CHUNKED, chunked(head));
    if stream.chunked() {
        report.record(&LINE_PER_CHUNK, line_per_chunk(&stream));
    } else {
        report.skip(
            &LINE_PER_CHUNK,
            "the body is not chunked: no chunks to look at",
        );
    }
    let (lines, unfinished) = lines_with_times(&stream.pieces);
    if lines.is_empty() && unfinished.is_empty() {
        report.skip(&NUMBERS, "no line came");
    } else {
        report.record(&NUMBERS, numbers(&lines, &unfinished));
    }
    let times: Vec<Arrival> = lines.iter().map(|(_, arrived)| *arrived).collect();
    match over_time(stream.sent, &times, "line") {
        Some(verdict) => report.record(&OVER_TIME, verdict),
        None => report.skip(&OVER_TIME, "fewer than two lines came: no gap to measure"),
    }
    report.record(&ENDS, ends(&stream, lines.len(), "line"));
}

/// Every chunk is exactly one line: one line feed, at its end (what the line says is
/// `numbers`'s to judge).
fn line_per_chunk(stream: &Stream) -> Result<(), String> {
    for (i, piece) in stream.pieces.iter().enumerate() {
        if lines_in(&piece.bytes) != 1 || !piece.bytes.ends_with(b"\n") {
            return Err(format!(
                "chunk {} is not one whole line: {}; the chunks were {}",
                i + 1,
                show(&piece.bytes),
                stream.chunks_shown()
            ));
        }
    }
    Ok(())
}

/// Every line is `0` to `9999` without a leading zero, then `\n` alone.
fn numbers(lines: &[(Vec<u8>, Arrival)], unfinished: &[u8]) -> Result<(), String> {
    for (line, _) in lines {
        if !is_number_line(line) {
            return Err(format!(
                "not a number below 10000 and a line feed: {}",
                show(line)
            ));
        }
    }
    if !unfinished.is_empty() {
        return Err(format!(
            "the body ended inside a line, with no line feed: {}",
            show(unfinished)
        ));
    }
    Ok(())
}

/// Some bytes and one line feed, at their end.
fn is_one_line(bytes: &[u8]) -> bool {
    bytes.len() > 1 && lines_in(bytes) == 1 && bytes.ends_with(b"\n")
}

/// `4821\n`: one to four digits, no leading zero (but `0` itself), one line feed.
fn is_number_line(line: &[u8]) -> bool {
    let Some(digits) = line.strip_suffix(b"\n") else {
        return false;
    };
    (1..=4).contains(&digits.len())
        && digits.iter().all(u8::is_ascii_digit)
        && (digits == b"0" || digits[0] != b'0')
}

/// `?count=1&pad=1024`: 1,023 spaces and a line feed, then one number line. Only the bytes
/// count here: how the body ends is `ends`'s rule.
fn padding(target: &Target) -> Result<(), String> {
    let url = target.url.with_query(&format!("count=1&pad={PAD}"));
    let request = client::request("GET", &url, &[("Connection", "close")], b"");
    let enough = |body: &[u8]| lines_in(body) >= 2;
    let stream = read_stream(&url, target.patience, &request, &enough)?;
    if stream.head.status != 200 {
        return Err(format!(
            "status {} for {}: {}",
            stream.head.status,
            url.target,
            stream.shown()
        ));
    }
    let body = stream.body();
    let ended = match &stream.end {
        Err(why) => format!(" ({why})"),
        Ok(_) => String::new(),
    };
    let spaces = body.iter().take_while(|&&b| b == b' ').count();
    if spaces != PAD - 1 || body.get(spaces) != Some(&b'\n') {
        return Err(format!(
            "{}: the body should start with {} spaces and a line feed, {PAD} bytes; it starts \
             with {spaces} spaces, then {}{ended}",
            url.target,
            PAD - 1,
            show(&body[spaces..body.len().min(spaces + 40)])
        ));
    }
    // What the line holds is `numbers`'s rule: here, that one whole line follows.
    let rest = &body[PAD..];
    if !is_one_line(rest) {
        return Err(format!(
            "{}: after the padding should come one line, not {}{ended}",
            url.target,
            show(rest)
        ));
    }
    Ok(())
}

/// `GET ?count=1 HTTP/1.0`: the same line, unframed, ended by the close.
fn http_1_0(target: &Target) -> Result<(), String> {
    let url = target.url.with_query("count=1");
    let stream = read_stream(
        &url,
        target.patience,
        &http_1_0_request(&url),
        &|_: &[u8]| false,
    )?;
    let head = &stream.head;
    let body = stream.body();
    http_1_0_head(head)?;
    if let Err(why) = &stream.end {
        return Err(format!(
            "the body should end with the close after the line: {why}; got {}",
            stream.shown()
        ));
    }
    if !is_one_line(&body) {
        return Err(format!(
            "count=1 over HTTP/1.0 should be one line, bare, without chunk framing: {}",
            stream.shown()
        ));
    }
    Ok(())
}

// From here on, what chapter 06's check uses too.

/// The request an HTTP/1.0 client sends: no chunks can come back to it (RFC 9112 §6.1: a
/// server must not send chunked to a client that did not say HTTP/1.1).
pub(super) fn http_1_0_request(url: &Url) -> Vec<u8> {
    format!(
        "GET {} HTTP/1.0\r\nHost: {}\r\n\r\n",
        url.target,
        url.authority()
    )
    .into_bytes()
}

/// A stream's head for an HTTP/1.0 client: 200, and neither Transfer-Encoding nor
/// Content-Length, so the close delimits the body (RFC 9112 §6.3, rule 8).
pub(super) fn http_1_0_head(head: &Head) -> Result<(), String> {
    if head.status != 200 {
        return Err(format!("status {}: {}", head.status, head.shown()));
    }
    for name in ["Transfer-Encoding", "Content-Length"] {
        if head.header(name).is_some() {
            return Err(format!(
                "an HTTP/1.0 client cannot be sent {name}: the close must end the body; got {}",
                head.shown()
            ));
        }
    }
    Ok(())
}

/// When something arrived, as a checker can know it: after one moment and by another.
///
/// The moment a read returns is only the later bound: the bytes may have waited in the socket
/// while the checker was descheduled. The earlier bound is the start of the last look that
/// found the socket empty before them (`wait_for_bytes`), which no delay can make wrong. A gap
/// between two arrivals is then at most the later one's `by` less the earlier one's `after`,
/// and a late checker only makes that longer: judged by it, a stream is failed only when
/// even the longest its gaps can have been is too short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Arrival {
    pub after: Instant,
    pub by: Instant,
}

/// One piece of a stream's body: a chunk's data (or what one read returned, when the body
/// is not chunked), and when it arrived.
pub(super) struct Piece {
    pub bytes: Vec<u8>,
    pub arrived: Arrival,
}

/// A stream read until it ended, went wrong, or gave the checker enough.
pub(super) struct Stream {
    pub head: Head,
    /// When the request went out: how late the first piece was counts from here.
    pub sent: Instant,
    pub pieces: Vec<Piece>,
    /// `Ok(true)`: the body ended. `Ok(false)`: the checker stopped reading, having enough.
    /// `Err`: what went wrong (nothing came in time, a close inside a chunk, …).
    pub end: Result<bool, String>,
}

impl Stream {
    pub fn body(&self) -> Vec<u8> {
        self.pieces.iter().flat_map(|p| p.bytes.clone()).collect()
    }

    pub fn chunked(&self) -> bool {
        self.head
            .header("Transfer-Encoding")
            .is_some_and(|coding| coding.eq_ignore_ascii_case("chunked"))
    }

    /// Head and body, for a failure message.
    pub fn shown(&self) -> String {
        let mut all = self.head.raw.clone();
        all.extend_from_slice(&self.body());
        show(&all)
    }

    /// The first pieces, shown, in order: `"4821\n", "77\n"`, and how many there were when
    /// that is not all of them.
    pub fn chunks_shown(&self) -> String {
        let shown: Vec<String> = self
            .pieces
            .iter()
            .take(MAX_CHUNKS_SHOWN)
            .map(|p| show(&p.bytes))
            .collect();
        let mut shown = shown.join(", ");
        if self.pieces.len() > MAX_CHUNKS_SHOWN {
            shown.push_str(&format!(", … ({} chunks in all)", self.pieces.len()));
        }
        shown
    }
}

/// Sends `request` to `url` on a connection of its own and reads the answer piece by piece,
/// each within the patience, until the body ends or `enough` says so; an error only when no
/// head came. Each piece comes with when it arrived (`Arrival`): before it looks at the socket
/// for more, the checker takes every piece already whole in the client's buffer (a deadline
/// already past reads nothing), so a look that finds the socket empty means the next piece is
/// still to come.
pub(super) fn read_stream(
    url: &Url,
    patience: Duration,
    request: &[u8],
    enough: &dyn Fn(&[u8]) -> bool,
) -> Result<Stream, String> {
    let mut connection = Connection::open(url, patience)?;
    let sent = Instant::now();
    connection.send(request)?;
    let head = connection.read_head(false)?;
    let mut pieces = Vec::new();
    let mut body = Vec::new();
    // Nothing of the body had come when the request left.
    let mut quiet = sent;
    let mut waiting_since = Instant::now();
    let end = loop {
        if enough(&body) {
            break Ok(false);
        }
        if body.len() > MAX_STREAM_BYTES {
            break Err(format!("over {MAX_STREAM_BYTES} bytes and still going"));
        }
        let next = match connection.next_piece(Instant::now()) {
            Err(why) if client::is_waited(&why) => {
                if !wait_for_bytes(connection.stream(), waiting_since + patience, &mut quiet) {
                    break Err(format!("nothing more came within {patience:?}"));
                }
                connection.next_piece(Instant::now() + LOOK)
            }
            next => next,
        };
        match next {
            Ok(Some(bytes)) if bytes.is_empty() => {}
            Ok(Some(bytes)) => {
                body.extend_from_slice(&bytes);
                let by = Instant::now();
                pieces.push(Piece {
                    bytes,
                    arrived: Arrival { after: quiet, by },
                });
                waiting_since = by;
            }
            Ok(None) => break Ok(true),
            // Part of a piece, the rest still to come: look again.
            Err(why) if client::is_waited(&why) => {}
            Err(why) => break Err(why),
        }
    };
    // Dropping the connection closes it: a stream read far enough is cut here.
    Ok(Stream {
        head,
        sent,
        pieces,
        end,
    })
}

/// How many line feeds `bytes` holds.
fn lines_in(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count()
}

/// The body's lines, each with when its line feed arrived, and what came after the last
/// line feed.
fn lines_with_times(pieces: &[Piece]) -> (Vec<(Vec<u8>, Arrival)>, Vec<u8>) {
    let mut lines = Vec::new();
    let mut line = Vec::new();
    for piece in pieces {
        for &byte in &piece.bytes {
            line.push(byte);
            if byte == b'\n' {
                lines.push((std::mem::take(&mut line), piece.arrived));
            }
        }
    }
    (lines, line)
}

/// Whether pieces that arrived at `times` came over time: the first at once, then each at
/// least `MIN_GAP` after the one before. "At once" is measured against the stream's own
/// pace, so that a slow machine does not fail it: the first must come in less than half
/// the shortest gap between the others (a server that waits a tick before its first piece
/// shows the two about equal). `None` with fewer than two pieces.
///
/// Every measure here is the one a late checker cannot shorten (`Arrival`): a gap is at most
/// the later piece's `by` less the earlier one's `after`, and the first piece came at least
/// its `after` less the sending. A stream fails only when even the longest its gaps can have
/// been is under `MIN_GAP`, or the first piece was surely later than half of that.
pub(super) fn over_time(
    sent: Instant,
    times: &[Arrival],
    what: &str,
) -> Option<Result<(), String>> {
    let (first, _) = times.split_first()?;
    let (shortest_at, most) = times
        .windows(2)
        .map(|w| w[1].by.saturating_duration_since(w[0].after))
        .enumerate()
        .min_by_key(|(_, most)| *most)?;
    let ms = |d: Duration| d.as_millis();
    if most < MIN_GAP {
        let (earlier, later) = (times[shortest_at], times[shortest_at + 1]);
        return Some(Err(format!(
            "{what}s {} and {} came {} ms apart (at most {} ms), under the {} ms the check \
             needs (the exercise's tick is at least 0.5 s); the {what}s came at {}",
            shortest_at + 1,
            shortest_at + 2,
            ms(later.by.saturating_duration_since(earlier.by)),
            ms(most),
            ms(MIN_GAP),
            arrivals(sent, times)
        )));
    }
    let first_after = first.after.saturating_duration_since(sent);
    if first_after * 2 > most {
        return Some(Err(format!(
            "the first {what} came at least {} ms after the request, the later ones at most {} \
             ms apart: the first should come at once, not a tick late; the {what}s came at {}",
            ms(first_after),
            ms(most),
            arrivals(sent, times)
        )));
    }
    Some(Ok(()))
}

/// `+3 ms, +2004 ms, +4007 ms`: when each piece was read, after the request.
fn arrivals(sent: Instant, times: &[Arrival]) -> String {
    let times: Vec<String> = times
        .iter()
        .map(|at| format!("+{} ms", at.by.saturating_duration_since(sent).as_millis()))
        .collect();
    times.join(", ")
}

/// The stream had exactly `COUNT` of its pieces (`what`: line, script block), then ended.
pub(super) fn ends(stream: &Stream, seen: usize, what: &str) -> Result<(), String> {
    match &stream.end {
        Ok(true) if seen == COUNT => Ok(()),
        Ok(true) => Err(format!(
            "count={COUNT} asked for {COUNT} {what}s, and the body ended after {seen}: {}",
            stream.shown()
        )),
        Ok(false) => Err(format!(
            "count={COUNT} asked for {COUNT} {what}s, and {seen} came: {}",
            stream.shown()
        )),
        Err(why) => Err(format!(
            "after {seen} {what}s the body should have ended with the last chunk (0\\r\\n\\r\\n): \
             {why}; got {}",
            stream.shown()
        )),
    }
}

/// The head's media type is `want` (parameters aside).
pub(super) fn media_type_is(head: &Head, want: &str) -> Result<(), String> {
    match head.media_type() {
        Some(media_type) if media_type == want => Ok(()),
        _ => Err(format!("not {want}: {}", head.shown())),
    }
}

/// `Cache-Control` lists `no-store`.
pub(super) fn no_store(head: &Head) -> Result<(), String> {
    if head.lists("Cache-Control", "no-store") {
        Ok(())
    } else {
        Err(format!("no Cache-Control: no-store in {}", head.shown()))
    }
}

/// `Transfer-Encoding: chunked` and no `Content-Length`.
pub(super) fn chunked(head: &Head) -> Result<(), String> {
    let chunked = head
        .header("Transfer-Encoding")
        .is_some_and(|coding| coding.eq_ignore_ascii_case("chunked"));
    if chunked && head.header("Content-Length").is_none() {
        Ok(())
    } else {
        Err(format!(
            "an HTTP/1.1 stream should be Transfer-Encoding: chunked, with no Content-Length: {}",
            head.shown()
        ))
    }
}

/// `HEAD <url>`: 200, and the connection closed (the request says `Connection: close`)
/// without one byte of body. (The head's fields are the GET rules' to check.)
pub(super) fn head_alone(target: &Target) -> Result<(), String> {
    let url = &target.url;
    let mut connection = Connection::open(url, target.patience)?;
    connection.send(&client::request(
        "HEAD",
        url,
        &[("Connection", "close")],
        b"",
    ))?;
    let head = connection.read_head(true)?;
    if head.status != 200 {
        return Err(format!("status {}: {}", head.status, head.shown()));
    }
    // Bytes past the head may already sit in the client's buffer; then read once more.
    let mut after = connection.take_buffered();
    if after.is_empty() {
        let mut socket = connection.stream();
        let _ = socket.set_read_timeout(Some(target.patience));
        let mut buffer = [0u8; 1024];
        match socket.read(&mut buffer) {
            Ok(n) => after.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
            Err(_) => {
                return Err(format!(
                    "the request said Connection: close, and {:?} after the head the \
                     connection was still open: {}",
                    target.patience,
                    head.shown()
                ));
            }
        }
    }
    if after.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "a body after the head of a HEAD answer: {} then {}",
            head.shown(),
            show(&after)
        ))
    }
}

/// `POST <url>`: 405 and an `Allow` that lists GET (RFC 9110 §15.5.6: a 405 MUST say what
/// the resource allows).
pub(super) fn get_only(target: &Target) -> Result<(), String> {
    let url = &target.url;
    let mut connection = Connection::open(url, target.patience)?;
    connection.send(&client::request(
        "POST",
        url,
        &[("Connection", "close")],
        b"",
    ))?;
    let head = connection.read_head(false)?;
    if head.status != 405 {
        return Err(format!(
            "POST {}: status {}, not 405: {}",
            url.target,
            head.status,
            head.shown()
        ));
    }
    if !head.lists("Allow", "GET") {
        return Err(format!("a 405 with no Allow listing GET: {}", head.shown()));
    }
    Ok(())
}

/// `GET <url>?<query>` is 400 for every query of `queries`. Only the head is read: a server
/// that streams instead is shown by its status, not waited for.
pub(super) fn refused_with_400(target: &Target, queries: &[&str]) -> Result<(), String> {
    for query in queries {
        let url = target.url.with_query(query);
        let mut connection = Connection::open(&url, target.patience)?;
        connection.send(&client::request(
            "GET",
            &url,
            &[("Connection", "close")],
            b"",
        ))?;
        let head = connection
            .read_head(false)
            .map_err(|e| format!("GET {}: {e}", url.target))?;
        if head.status != 400 {
            return Err(format!(
                "GET {}: status {}, not 400: {}",
                url.target,
                head.status,
                head.shown()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_lines() {
        for good in ["0\n", "7\n", "4821\n", "9999\n"] {
            assert!(is_number_line(good.as_bytes()), "{good:?}");
        }
        for bad in [
            "", "\n", "10000\n", "0482\n", "4821", "4821\r\n", " 4821\n", "+1\n", "-1\n",
        ] {
            assert!(!is_number_line(bad.as_bytes()), "{bad:?}");
        }
    }

    #[test]
    fn pace() {
        let sent = Instant::now();
        let at = |ms| sent + Duration::from_millis(ms);
        // Read as they came: the socket seen empty until just before each.
        let prompt = |ms: &[u64]| -> Vec<Arrival> {
            ms.iter()
                .map(|&ms| Arrival {
                    after: at(ms.saturating_sub(9)),
                    by: at(ms),
                })
                .collect()
        };
        assert_eq!(over_time(sent, &prompt(&[1]), "line"), None);
        assert_eq!(
            over_time(sent, &prompt(&[2, 2002, 4003]), "line"),
            Some(Ok(()))
        );
        // The exercise's shortest tick.
        assert_eq!(
            over_time(sent, &prompt(&[2, 502, 1002]), "line"),
            Some(Ok(()))
        );
        // All together, at the end: a buffered body.
        assert!(matches!(
            over_time(sent, &prompt(&[4000, 4001, 4001]), "line"),
            Some(Err(_))
        ));
        // The article's server: a tick before the first.
        assert!(matches!(
            over_time(sent, &prompt(&[2000, 4000, 6000]), "line"),
            Some(Err(_))
        ));
        // A tick of 199 ms: said in those words.
        let fast = over_time(sent, &prompt(&[2, 201, 400]), "line");
        let Some(Err(why)) = fast else {
            panic!("{fast:?}")
        };
        assert!(
            why.starts_with("lines 1 and 2 came 199 ms apart (at most 201 ms), under the 500 ms"),
            "{why}"
        );
    }

    #[test]
    fn a_late_checker_cannot_fail_a_paced_stream() {
        let sent = Instant::now();
        let at = |ms| sent + Duration::from_millis(ms);
        let arrival = |after, by| Arrival {
            after: at(after),
            by: at(by),
        };
        // Lines at +2, +2002 and +4003; the checker, descheduled from +1900 to +4100, reads
        // the last two together: 0 ms apart as read, but the socket was last seen empty at
        // +1890, so the gap can have been 2210 ms.
        let late = [arrival(0, 2), arrival(1890, 4100), arrival(1890, 4100)];
        assert_eq!(over_time(sent, &late, "line"), Some(Ok(())));
        // Descheduled right after sending, until +2100: the first two read together, never
        // a look that found the socket empty. Nothing says the first was late.
        let late = [arrival(0, 2100), arrival(0, 2100), arrival(3995, 4003)];
        assert_eq!(over_time(sent, &late, "line"), Some(Ok(())));
    }
}
