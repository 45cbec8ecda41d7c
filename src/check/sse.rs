//! The rules of Server-Sent Events (`docs/07-sse.md`, its exercise), checked against
//! `GET <url>` (webwire's is `/evt`).
//!
//! The checker reads each response as an `EventSource` parser would (WHATWG HTML §9.2.5: a
//! line ends at CR LF, at LF or at a lone CR; a blank line ends a block), and keeps each
//! block's bytes so that a failure can show them. It never waits for a whole stream: every
//! request asks for a short response with `?count=`, the checker reads the events a rule needs
//! and hangs up, and it waits for the end of a response only where the end is the rule
//! (`sse.count`). A response's first event comes at once, so against `cargo run` (one event
//! every 2 s) the whole run waits one tick: the one response of two events.

use std::time::{Duration, Instant};

use super::client::{self, Connection, Head};
use super::polling::{is_imf_fixdate, is_whole_number};
use super::{Report, Rule, Target, Technique, show};

pub static TECHNIQUE: Technique = Technique {
    name: "sse",
    chapter: "07-sse.md",
    endpoint: "/evt",
    rules: &[
        &HEAD,
        &NO_CACHE,
        &ANY_ORIGIN,
        &CHUNKED,
        &HTTP10,
        &FORMAT,
        &WHOLE_EVENTS,
        &RETRY,
        &IDS,
        &COUNT,
        &DATA,
        &NAMED_EVENT,
        &MULTILINE_DATA,
        &ID_ONLY,
        &RESUME,
        &LAST_ID_QUERY,
        &LAST_EVENT_ID_VALUES,
        &TOTAL,
        &STOP,
        &BAD_QUERY,
        &INJECTION,
    ],
    run,
};

// The exercise's sub-headings in docs/07-sse.md, one per table.
const THE_HEAD: &str = "The head of the answer";
const THE_EVENTS: &str = "The events";
const RESUMING: &str = "Resuming and stopping";
const CLIENT_INPUT: &str = "What a client sends";

static HEAD: Rule = Rule {
    id: "sse.head",
    says: "GET answers 200 with Content-Type: text/event-stream (a charset, if any, is utf-8)",
    section: THE_HEAD,
};
static NO_CACHE: Rule = Rule {
    id: "sse.no-cache",
    says: "the stream carries Cache-Control: no-cache (or no-store), so no cache replays an old copy",
    section: THE_HEAD,
};
static ANY_ORIGIN: Rule = Rule {
    id: "sse.any-origin",
    says: "every answer (the 200, a 204, a 400) carries Access-Control-Allow-Origin: *",
    section: THE_HEAD,
};
static CHUNKED: Rule = Rule {
    id: "sse.chunked",
    says: "on HTTP/1.1 the stream has no Content-Length and comes with Transfer-Encoding: chunked",
    section: THE_HEAD,
};
static HTTP10: Rule = Rule {
    id: "sse.http10",
    says: "an HTTP/1.0 request gets the stream with neither chunks nor Content-Length, ended by the server closing the connection",
    section: THE_HEAD,
};
static FORMAT: Rule = Rule {
    id: "sse.format",
    says: "every line is a comment (':' first) or id, event, data or retry, a colon and a value, in UTF-8, and a blank line ends every event",
    section: THE_EVENTS,
};
static WHOLE_EVENTS: Rule = Rule {
    id: "sse.whole-events",
    says: "each chunk ends between two events: no event is split across chunks",
    section: THE_EVENTS,
};
static RETRY: Rule = Rule {
    id: "sse.retry",
    says: "each response sends retry: with a whole number of milliseconds (digits only) by its first event",
    section: THE_EVENTS,
};
static IDS: Rule = Rule {
    id: "sse.ids",
    says: "every event has an id, a whole number with no leading zero; with no Last-Event-ID the first is 1, and each is one more than the one before",
    section: THE_EVENTS,
};
static COUNT: Rule = Rule {
    id: "sse.count",
    says: "?count=N sends N events (an id alone counts) and then ends the response cleanly",
    section: THE_EVENTS,
};
static DATA: Rule = Rule {
    id: "sse.data",
    says: "an event whose id ends in 0, 1, 2, 4, 5, 7 or 8 is one data: line, the server's clock as an IMF-fixdate",
    section: THE_EVENTS,
};
static NAMED_EVENT: Rule = Rule {
    id: "sse.named-event",
    says: "an event whose id ends in 3 has event: myevent and one data: line with the clock",
    section: THE_EVENTS,
};
static MULTILINE_DATA: Rule = Rule {
    id: "sse.multiline-data",
    says: "an event whose id ends in 6 has two data: lines, the clock and then '<ms> ms since 1970'",
    section: THE_EVENTS,
};
static ID_ONLY: Rule = Rule {
    id: "sse.id-only",
    says: "an id ending in 9 comes alone, with no data: line, so no event fires but the resume point moves",
    section: THE_EVENTS,
};
static RESUME: Rule = Rule {
    id: "sse.resume",
    says: "Last-Event-ID: N starts the answer at N+1: reconnecting after every event loses and repeats nothing",
    section: RESUMING,
};
static LAST_ID_QUERY: Rule = Rule {
    id: "sse.last-id-query",
    says: "?last_id=N resumes like Last-Event-ID: N when that header is absent or ignored; the header wins over it",
    section: RESUMING,
};
static LAST_EVENT_ID_VALUES: Rule = Rule {
    id: "sse.last-event-id-values",
    says: "a Last-Event-ID that is not a whole number from 0 to 10^12 is ignored, never refused; leading zeros are allowed",
    section: RESUMING,
};
static TOTAL: Rule = Rule {
    id: "sse.total",
    says: "?total=T makes T the last id: the answer stops at T, and a client with T or more gets 204 (10^12 without ?total)",
    section: RESUMING,
};
static STOP: Rule = Rule {
    id: "sse.stop",
    says: "?stop=1 answers 204 No Content, which tells an EventSource never to come back",
    section: RESUMING,
};
static BAD_QUERY: Rule = Rule {
    id: "sse.bad-query",
    says: "a query value that is not a whole number in its range is 400, with a reason that names the parameter",
    section: CLIENT_INPUT,
};
static INJECTION: Rule = Rule {
    id: "sse.injection",
    says: "nothing a client sends adds a line to the stream: a value holding CR, LF or CR LF is refused or never written",
    section: CLIENT_INPUT,
};

/// The stream's last id, 10^12 (`SSE_MAX_ID` in the chapter): a `Last-Event-ID` above it is
/// no id the server could have sent, and a client that has it has everything.
const LAST_ID: u64 = 1_000_000_000_000;

/// How many times the resume rule reconnects, one event each: from id 1 past 3, 6, 9 and 10.
const RECONNECTIONS: usize = 12;

/// Most events read while waiting for a response to end: a server that ignores `count`
/// and `total` is caught long before its stream would end.
const MAX_EVENTS_READ: usize = 30;

/// The most of one response the checker reads. A response the check reads holds a few events
/// of a hundred bytes or so (`MAX_EVENTS_READ` at most), and perhaps a padding comment of a
/// few KiB: 256 KiB is far more. It is a limit because every line read is kept, parsed, to
/// show in a failure: a server flooding the check with tiny lines or blocks ("a\n\n" again
/// and again) costs about a hundred times its bytes in memory, which at the client's limit
/// for a body (4 MiB) was over half a gigabyte.
const MAX_STREAM_BYTES: usize = 256 * 1024;

fn run(target: &Target, report: &mut Report) {
    // One response of two events, as a browser's first request would get it (but shorter).
    let mut first = match open(target, "count=2", None) {
        Ok(stream) => stream,
        Err(why) => {
            report.record(&HEAD, Err(why));
            return;
        }
    };
    report.record(&HEAD, stream_head(&first.head));
    if !report.passed(&HEAD) {
        return;
    }
    report.record(&NO_CACHE, no_cache(&first.head));
    report.record(&ANY_ORIGIN, any_origin(&first.head));
    report.record(&CHUNKED, chunked(&first.head));
    let asked = asked(target, "count=2", None);
    let count = first
        .read_events(2, target.patience)
        .and_then(|()| first.ends_after(2, target.patience))
        .map_err(|e| format!("{asked}: {e}"));
    report.record(&COUNT, count);
    observe(report, &first, &asked);
    report.record(&IDS, starts_at_one(&first, &asked));

    resume(target, report);
    last_id_query(target, report);
    last_event_id_values(target, report);
    total(target, report);
    stop(target, report);
    bad_query(target, report);
    injection(target, report);
    report.record(&HTTP10, http10(target));

    let never = [
        (
            &DATA,
            "no event with an id ending in 0, 1, 2, 4, 5, 7 or 8 came",
        ),
        (&NAMED_EVENT, "no event with an id ending in 3 came"),
        (&MULTILINE_DATA, "no event with an id ending in 6 came"),
        (&ID_ONLY, "no event with an id ending in 9 came"),
        (&WHOLE_EVENTS, "no stream came chunked (see sse.chunked)"),
    ];
    for (rule, why) in never {
        report.skip(rule, why);
    }
}

// ---- The rules, one function each (or one check of a stream already read) ----

fn stream_head(head: &Head) -> Result<(), String> {
    if head.status != 200 {
        return Err(format!("status {}: {}", head.status, head.shown()));
    }
    if head.media_type().as_deref() != Some("text/event-stream") {
        return Err(format!("not text/event-stream: {}", head.shown()));
    }
    // The stream is UTF-8, always (WHATWG HTML §9.2.5); Chromium fails a stream labelled
    // with another charset.
    let content_type = head.header("Content-Type").unwrap_or("");
    let charset = content_type.split(';').skip(1).find_map(|p| {
        let (name, value) = p.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches('"').to_string())
    });
    match charset {
        Some(c) if !c.eq_ignore_ascii_case("utf-8") => {
            Err(format!("a charset other than utf-8: {}", head.shown()))
        }
        _ => Ok(()),
    }
}

fn no_cache(head: &Head) -> Result<(), String> {
    if head.lists("Cache-Control", "no-cache") || head.lists("Cache-Control", "no-store") {
        Ok(())
    } else {
        Err(format!(
            "no Cache-Control: no-cache on the stream: {}",
            head.shown()
        ))
    }
}

fn any_origin(head: &Head) -> Result<(), String> {
    match head.header("Access-Control-Allow-Origin") {
        Some("*") => Ok(()),
        _ => Err(format!(
            "no Access-Control-Allow-Origin: * on the {}: {}",
            head.status,
            head.shown()
        )),
    }
}

fn chunked(head: &Head) -> Result<(), String> {
    if head.header("Content-Length").is_some() {
        return Err(format!(
            "a stream has no length, but this head has Content-Length: {}",
            head.shown()
        ));
    }
    if !is_chunked(head) {
        return Err(format!(
            "no Transfer-Encoding: chunked on HTTP/1.1: {}",
            head.shown()
        ));
    }
    Ok(())
}

/// Without a Last-Event-ID, the first event is 1 (consecutive ids are checked by `observe`).
fn starts_at_one(stream: &Stream, asked: &str) -> Result<(), String> {
    let parsed = stream.parsed();
    match parsed.events().next().map(Block::id) {
        Some(Some(1) | None) => Ok(()), // an event with no id is `ids`' to report
        Some(Some(id)) => Err(format!(
            "{asked}, with no Last-Event-ID, should start at id 1, not {id}: {}",
            show(&stream.body)
        )),
        None => Err(format!("{asked}: no event came: {}", show(&stream.body))),
    }
}

/// The rules every stream that was read must keep: its lines, its chunks, its retry, its
/// ids, and the script of each event.
///
/// A stream that gave a rule nothing to judge leaves it unjudged (skipped, unless another
/// stream judges it): `format` with no whole line, `retry` with no event and no `retry:` line,
/// would otherwise pass with nothing seen.
fn observe(report: &mut Report, stream: &Stream, asked: &str) {
    let parsed = stream.parsed();
    if parsed.line_ends > 0 || (stream.ended && parsed.rest > 0) {
        report.record(&FORMAT, format(parsed, stream.ended, asked));
    } else {
        report.skip(
            &FORMAT,
            &format!(
                "{asked}: not one line came whole ({} bytes and no line end), so no line was \
                 there to check",
                stream.body.len()
            ),
        );
    }
    if is_chunked(&stream.head) {
        report.record(&WHOLE_EVENTS, whole_events(&stream.pieces, asked));
    }
    if parsed.events().next().is_some() || parsed.blocks.iter().any(|b| b.has("retry")) {
        report.record(&RETRY, retry(parsed, asked));
    } else {
        report.skip(
            &RETRY,
            &format!("{asked}: no event came whole, so none had a retry: line due before it"),
        );
    }
    report.record(&IDS, ids(parsed, asked));
    for block in parsed.events() {
        if let Some((rule, verdict)) = scripted(block, asked) {
            report.record(rule, verdict);
        }
    }
}

fn format(parsed: &Parsed, ended: bool, asked: &str) -> Result<(), String> {
    if !parsed.utf8 {
        return Err(format!("{asked}: a line is not UTF-8"));
    }
    for line in parsed.lines() {
        let known = match field(line) {
            None => true, // a blank line or a comment
            Some((name, _)) => {
                line.contains(':') && matches!(name, "id" | "event" | "data" | "retry")
            }
        };
        if !known {
            return Err(format!(
                "{asked}: not a comment nor id, event, data or retry with a colon: {}",
                show(line.as_bytes())
            ));
        }
    }
    // A browser throws away an event that no blank line ended.
    if ended && (parsed.rest > 0 || parsed.open_has_event) {
        return Err(format!(
            "{asked}: the response ended inside an event (no blank line after it): {}",
            show(parsed.open().join("\n").as_bytes())
        ));
    }
    Ok(())
}

/// After each chunk, the text so far ends at a line end, outside any event: a comment or a
/// `retry:` line may stand alone, an `id:`, `event:` or `data:` line may not. The text is
/// parsed once, a chunk at a time.
fn whole_events(pieces: &[Vec<u8>], asked: &str) -> Result<(), String> {
    let mut so_far = Vec::new();
    let mut parsed = Parsed::new();
    for (n, piece) in pieces.iter().enumerate() {
        so_far.extend_from_slice(piece);
        parsed.advance(&so_far, false);
        if !parsed.between_events(&so_far) {
            return Err(format!(
                "{asked}: chunk {} ends in the middle of an event: {}",
                n + 1,
                show(piece)
            ));
        }
    }
    Ok(())
}

/// A `retry:` line by the first event, and every `retry:` value digits only.
fn retry(parsed: &Parsed, asked: &str) -> Result<(), String> {
    let has_retry = |b: &Block| !b.values("retry").is_empty();
    if let Some(first) = parsed.blocks.iter().position(Block::is_event)
        && !parsed.blocks[..=first].iter().any(has_retry)
    {
        return Err(format!(
            "{asked}: no retry: line by the first event: {}",
            parsed.blocks[first].shown()
        ));
    }
    for block in &parsed.blocks {
        if let Some(value) = block
            .values("retry")
            .into_iter()
            .find(|v| !is_whole_number(v))
        {
            return Err(format!(
                "{asked}: retry: {} is not digits only (a browser ignores it): {}",
                show(value.as_bytes()),
                block.shown()
            ));
        }
    }
    Ok(())
}

/// Every event has one id, a whole number with no leading zero, one more than the last.
fn ids(parsed: &Parsed, asked: &str) -> Result<(), String> {
    let mut last: Option<u64> = None;
    for block in parsed.events() {
        let values = block.values("id");
        let Some(id) = block.id().filter(|_| values.len() == 1) else {
            return Err(format!(
                "{asked}: an event without one id: line holding a whole number: {}",
                block.shown()
            ));
        };
        if values[0].len() > 1 && values[0].starts_with('0') {
            return Err(format!(
                "{asked}: an id with a leading zero: {}",
                block.shown()
            ));
        }
        if let Some(last) = last
            && id != last + 1
        {
            return Err(format!(
                "{asked}: id {id} came after {last}: each id is one more than the one before: {}",
                block.shown()
            ));
        }
        last = Some(id);
    }
    Ok(())
}

/// The rule an event's id puts it under, and whether it keeps it.
fn scripted(block: &Block, asked: &str) -> Option<(&'static Rule, Result<(), String>)> {
    let id = block.id()?;
    let event = block.values("event");
    let data = block.values("data");
    let clock = |line: Option<&&str>| line.is_some_and(|l| is_imf_fixdate(l));
    let (rule, kept, wanted) = match id % 10 {
        3 => (
            &NAMED_EVENT,
            event == ["myevent"] && data.len() == 1 && clock(data.first()),
            "event: myevent and one data: line, the clock",
        ),
        6 => (
            &MULTILINE_DATA,
            event.is_empty() && data.len() == 2 && clock(data.first()) && since_1970(data[1]),
            "no event: line, and two data: lines: the clock, then '<ms> ms since 1970'",
        ),
        9 => (
            &ID_ONLY,
            event.is_empty() && data.is_empty(),
            "its id: line alone",
        ),
        _ => (
            &DATA,
            event.is_empty() && data.len() == 1 && clock(data.first()),
            "no event: line, and one data: line, the clock as an IMF-fixdate \
             like \"Mon, 23 Nov 2026 16:40:05 GMT\"",
        ),
    };
    let verdict = if kept {
        Ok(())
    } else {
        Err(format!(
            "{asked}: event {id} should have {wanted}: {}",
            block.shown()
        ))
    };
    Some((rule, verdict))
}

/// `1795453690905 ms since 1970`.
fn since_1970(line: &str) -> bool {
    line.strip_suffix(" ms since 1970")
        .is_some_and(is_whole_number)
}

/// Reconnects after every event with the last id seen, as a browser does (an id alone moves
/// it too), and asks that each answer go on right after it.
fn resume(target: &Target, report: &mut Report) {
    let mut last: Option<u64> = None;
    for _ in 0..=RECONNECTIONS {
        let header = last.map(|id| id.to_string());
        let asked = asked(target, "count=1", header.as_deref());
        let mut stream = match open(target, "count=1", header.as_deref()) {
            Ok(stream) if stream.head.status == 200 => stream,
            Ok(stream) => {
                let why = format!(
                    "{asked}: status {}: {}",
                    stream.head.status,
                    stream.head.shown()
                );
                report.record(&RESUME, Err(why));
                return;
            }
            Err(why) => {
                report.record(&RESUME, Err(format!("{asked}: {why}")));
                return;
            }
        };
        if let Err(why) = stream.read_events(1, target.patience) {
            report.record(&RESUME, Err(format!("{asked}: {why}")));
            return;
        }
        let count = stream
            .ends_after(1, target.patience)
            .map_err(|e| format!("{asked}: {e}"));
        report.record(&COUNT, count);
        observe(report, &stream, &asked);
        let parsed = stream.parsed();
        let Some(id) = parsed.events().next().and_then(Block::id) else {
            let why = format!("{asked}: no event with an id: {}", show(&stream.body));
            report.record(&RESUME, Err(why));
            return;
        };
        if let Some(last) = last
            && id != last + 1
        {
            let why = format!(
                "{asked} should go on at id {}, but the answer starts at {id}: {}",
                last + 1,
                show(&stream.body)
            );
            report.record(&RESUME, Err(why));
            return;
        }
        last = Some(id);
    }
    report.record(&RESUME, Ok(()));
}

/// `?last_id=` stands for the header a new `EventSource` cannot send: it must act as the
/// header would, and give way to a real one.
fn last_id_query(target: &Target, report: &mut Report) {
    let pairs = [
        (("count=1&last_id=20", None), ("count=1", Some("20"))),
        (("count=1&last_id=20", Some("30")), ("count=1", Some("30"))),
        (
            ("count=1&last_id=20", Some("x")),
            ("count=1&last_id=20", None),
        ),
    ];
    for ((query, header), (like_query, like_header)) in pairs {
        let verdict = same_first_id(target, (query, header), (like_query, like_header));
        report.record(&LAST_ID_QUERY, verdict);
    }
}

/// Values a browser may send back that are not one of the stream's ids: ignored, as if
/// there were no header (so is `0`, "nothing yet"); and leading zeros, read as the number.
fn last_event_id_values(target: &Target, report: &mut Report) {
    let too_large = (LAST_ID + 1).to_string();
    let ignored = [
        "",
        "banana",
        "+5",
        "-1",
        "1.5",
        "0x10",
        "99999999999999999999999",
        too_large.as_str(),
        "0",
    ];
    for value in ignored {
        let verdict = same_first_id(target, ("count=1", Some(value)), ("count=1", None));
        report.record(&LAST_EVENT_ID_VALUES, verdict);
    }
    let verdict = same_first_id(target, ("count=1", Some("007")), ("count=1", Some("7")));
    report.record(&LAST_EVENT_ID_VALUES, verdict);
}

/// Whether two requests start at the same id: the first should act like the second.
fn same_first_id(
    target: &Target,
    (query, header): (&str, Option<&str>),
    (like_query, like_header): (&str, Option<&str>),
) -> Result<(), String> {
    let (id, body) = first_id(target, query, header)?;
    let (like, _) = first_id(target, like_query, like_header)?;
    if id == like {
        return Ok(());
    }
    Err(format!(
        "{} should start where {} does, at id {like}, but starts at {id}: {}",
        asked(target, query, header),
        asked(target, like_query, like_header),
        show(&body)
    ))
}

/// The id of the first event of the answer, and the body read.
fn first_id(target: &Target, query: &str, header: Option<&str>) -> Result<(u64, Vec<u8>), String> {
    let asked = asked(target, query, header);
    let mut stream = open(target, query, header).map_err(|e| format!("{asked}: {e}"))?;
    if stream.head.status != 200 {
        return Err(format!(
            "{asked}: status {}, not a stream: {}",
            stream.head.status,
            stream.head.shown()
        ));
    }
    stream
        .read_events(1, target.patience)
        .map_err(|e| format!("{asked}: {e}"))?;
    let first = stream.parsed().events().next().map(Block::id);
    match first {
        Some(Some(id)) => Ok((id, stream.body)),
        _ => Err(format!(
            "{asked}: no event with an id came: {}",
            show(&stream.body)
        )),
    }
}

/// The answer's head only (a 204 has no body; a stream that should not be one is left).
fn status(target: &Target, query: &str, header: Option<&str>) -> Result<Head, String> {
    open(target, query, header)
        .map(|stream| stream.head)
        .map_err(|e| format!("{}: {e}", asked(target, query, header)))
}

fn expect_204(target: &Target, query: &str, header: Option<&str>) -> Result<Head, String> {
    let head = status(target, query, header)?;
    if head.status != 204 {
        return Err(format!(
            "{} should be 204 No Content: {}",
            asked(target, query, header),
            head.shown()
        ));
    }
    Ok(head)
}

fn total(target: &Target, report: &mut Report) {
    // One short of the total: the answer goes no further than 15, and ends there.
    let (query, header) = ("total=15", Some("14"));
    let asked = asked(target, query, header);
    let verdict = open(target, query, header).and_then(|mut stream| {
        if stream.head.status != 200 {
            return Err(format!(
                "status {}: {}",
                stream.head.status,
                stream.head.shown()
            ));
        }
        let past = |p: &Parsed| {
            p.events().any(|b| b.id().is_none_or(|id| id > 15)) || p.event_count() > MAX_EVENTS_READ
        };
        stream.read_until(target.patience, past, still_open)?;
        let parsed = stream.parsed();
        let ids: Vec<Option<u64>> = parsed.events().map(Block::id).collect();
        if !stream.ended || ids.last() != Some(&Some(15)) || past(parsed) {
            return Err(format!(
                "the last id should be 15, then the end of the response: {}",
                show(&stream.body)
            ));
        }
        Ok(())
    });
    report.record(&TOTAL, verdict.map_err(|e| format!("{asked}: {e}")));
    for (query, header) in [
        ("total=15", Some("15")),
        ("total=15", Some("40")),
        ("", Some("1000000000000")),
    ] {
        let verdict = expect_204(target, query, header).map(|_| ());
        report.record(&TOTAL, verdict);
    }
}

fn stop(target: &Target, report: &mut Report) {
    match expect_204(target, "stop=1", None) {
        Ok(head) => {
            report.record(&STOP, Ok(()));
            report.record(&ANY_ORIGIN, any_origin(&head));
        }
        Err(why) => report.record(&STOP, Err(why)),
    }
    let verdict = expect_204(target, "stop=1", Some("3")).map(|_| ());
    report.record(&STOP, verdict);
    let verdict = status(target, "stop=0&count=1", None).and_then(|head| match head.status {
        200 => Ok(()),
        _ => Err(format!("stop=0 should stream as usual: {}", head.shown())),
    });
    report.record(&STOP, verdict);
}

fn bad_query(target: &Target, report: &mut Report) {
    let cases = [
        ("count=0", "count"),
        ("count=1001", "count"),
        ("count=%2B5", "count"),
        ("count=", "count"),
        ("count=1.5", "count"),
        ("count=99999999999999999999999", "count"),
        ("total=0", "total"),
        ("last_id=x", "last_id"),
        ("last_id=1000000000001", "last_id"),
        ("stop=yes", "stop"),
    ];
    for (query, name) in cases {
        let asked = asked(target, query, None);
        let verdict = open(target, query, None).and_then(|mut stream| {
            if stream.head.status != 400 {
                return Err(format!("should be 400: {}", stream.head.shown()));
            }
            report.record(&ANY_ORIGIN, any_origin(&stream.head));
            stream.read_until(target.patience, |_| false, |_| "no end came".to_string())?;
            if !String::from_utf8_lossy(&stream.body).contains(name) {
                return Err(format!(
                    "the reason should name {name}: {}",
                    show(&stream.body)
                ));
            }
            Ok(())
        });
        report.record(&BAD_QUERY, verdict.map_err(|e| format!("{asked}: {e}")));
    }
}

/// Line breaks in `last_id`, percent-encoded: a server that writes the value anywhere in the
/// stream without cutting it at every CR and LF lets the client add its own lines.
fn injection(target: &Target, report: &mut Report) {
    for line_break in ["%0A", "%0D%0A", "%0D"] {
        let query = format!(
            "count=1&last_id=5{line_break}event:%20injected{line_break}data:%20injected\
             {line_break}id:%20666{line_break}"
        );
        let asked = asked(target, &query, None);
        let verdict = open(target, &query, None).and_then(|mut stream| {
            if stream.head.status != 200 {
                return Ok(()); // refused: nothing was written
            }
            stream.read_events(1, target.patience)?;
            let parsed = stream.parsed();
            let injected = parsed.lines().find(|line| {
                matches!(
                    field(line),
                    Some(("event" | "data", "injected") | ("id", "666"))
                )
            });
            match injected {
                Some(line) => Err(format!(
                    "the client's text became a line of the stream, {}: {}",
                    show(line.as_bytes()),
                    show(&stream.body)
                )),
                None => Ok(()),
            }
        });
        report.record(&INJECTION, verdict.map_err(|e| format!("{asked}: {e}")));
    }
}

/// HTTP/1.0 has no chunks: the stream's end is the connection's.
fn http10(target: &Target) -> Result<(), String> {
    let url = target.url.with_query("count=1");
    let request = format!(
        "GET {} HTTP/1.0\r\nHost: {}\r\nAccept: text/event-stream\r\n\r\n",
        url.target,
        url.authority()
    );
    let asked = format!("GET {} HTTP/1.0", url.target);
    let mut connection = Connection::open(&url, target.patience)?;
    connection.send(request.as_bytes())?;
    let head = connection
        .read_head(false)
        .map_err(|e| format!("{asked}: {e}"))?;
    if head.status != 200 || head.media_type().as_deref() != Some("text/event-stream") {
        return Err(format!("{asked}: not a 200 event stream: {}", head.shown()));
    }
    if head.header("Transfer-Encoding").is_some() || head.header("Content-Length").is_some() {
        return Err(format!(
            "{asked}: HTTP/1.0 has no chunks, and a stream has no length: {}",
            head.shown()
        ));
    }
    let mut stream = Stream::new(head, connection);
    stream
        .read_until(target.patience, |_| false, still_open)
        .map_err(|e| format!("{asked}: the server should close the connection: {e}"))?;
    let parsed = stream.parsed();
    if parsed.events().next().and_then(Block::id).is_none() || parsed.rest > 0 {
        return Err(format!(
            "{asked}: the events, whole, then the close: {}",
            show(&stream.body)
        ));
    }
    Ok(())
}

// ---- Reading a stream ----

/// One response, as read so far.
struct Stream {
    head: Head,
    connection: Connection,
    /// The body's pieces as they came: one chunk each when it is chunked.
    pieces: Vec<Vec<u8>>,
    body: Vec<u8>,
    /// `body`, parsed as it came.
    parsed: Parsed,
    /// Whether the body has ended (the last chunk, or the close).
    ended: bool,
}

/// `GET <url>?<query>` as an `EventSource` sends it, with `Last-Event-ID` when given.
fn open(target: &Target, query: &str, last_event_id: Option<&str>) -> Result<Stream, String> {
    let url = target.url.with_query(query);
    let mut headers = vec![
        ("Accept", "text/event-stream"),
        ("Cache-Control", "no-cache"),
    ];
    if let Some(id) = last_event_id {
        headers.push(("Last-Event-ID", id));
    }
    headers.push(("Connection", "close"));
    let mut connection = Connection::open(&url, target.patience)?;
    connection.send(&client::request("GET", &url, &headers, b""))?;
    let head = connection.read_head(false)?;
    Ok(Stream::new(head, connection))
}

/// What was asked, for a failure: `GET /evt?count=1 with Last-Event-ID "7"`.
fn asked(target: &Target, query: &str, last_event_id: Option<&str>) -> String {
    let url = target.url.with_query(query);
    match last_event_id {
        Some(id) => format!(
            "GET {} with Last-Event-ID {}",
            url.target,
            show(id.as_bytes())
        ),
        None => format!("GET {}", url.target),
    }
}

fn is_chunked(head: &Head) -> bool {
    head.lists("Transfer-Encoding", "chunked")
}

impl Stream {
    fn new(head: Head, connection: Connection) -> Stream {
        Stream {
            head,
            connection,
            pieces: Vec::new(),
            body: Vec::new(),
            parsed: Parsed::new(),
            ended: false,
        }
    }

    /// What came so far, parsed.
    fn parsed(&self) -> &Parsed {
        &self.parsed
    }

    /// Reads until `enough` says so of what came, or the body ends, within `patience`; if not,
    /// the error says what had not come, in `missing`'s words (`no event was complete`), and
    /// how much did. Each piece is parsed once, as it comes.
    fn read_until(
        &mut self,
        patience: Duration,
        enough: impl Fn(&Parsed) -> bool,
        missing: impl Fn(&Parsed) -> String,
    ) -> Result<(), String> {
        let deadline = Instant::now() + patience;
        while !self.ended && !enough(&self.parsed) {
            match self.connection.next_piece(deadline) {
                Ok(Some(piece)) => {
                    self.body.extend_from_slice(&piece);
                    self.pieces.push(piece);
                    self.parsed.advance(&self.body, false);
                    if self.body.len() > MAX_STREAM_BYTES {
                        return Err(format!(
                            "over {MAX_STREAM_BYTES} bytes of stream, and {}: {}",
                            missing(&self.parsed),
                            show(&self.body)
                        ));
                    }
                }
                Ok(None) => {
                    self.ended = true;
                    self.parsed.advance(&self.body, true);
                }
                Err(e) if client::is_waited(&e) && self.body.is_empty() => {
                    return Err(format!(
                        "nothing came within the patience ({patience:?}), and {}",
                        missing(&self.parsed)
                    ));
                }
                Err(e) if client::is_waited(&e) => {
                    return Err(format!(
                        "{} within the patience ({patience:?}; {} bytes came): {}",
                        missing(&self.parsed),
                        self.body.len(),
                        show(&self.body)
                    ));
                }
                Err(e) => {
                    return Err(format!("{e}; the body so far: {}", show(&self.body)));
                }
            }
        }
        Ok(())
    }

    /// Reads until `want` events have come whole, or the body ended.
    fn read_events(&mut self, want: usize, patience: Duration) -> Result<(), String> {
        self.read_until(
            patience,
            |p| p.event_count() >= want,
            |p| match p.event_count() {
                0 => "no event was complete".to_string(),
                n => format!("{n} of the {want} events asked for were complete"),
            },
        )
    }

    /// Reads on to the end of the body: it must end after exactly `count` events.
    fn ends_after(&mut self, count: usize, patience: Duration) -> Result<(), String> {
        self.read_until(patience, |p| p.event_count() > count, still_open)
            .map_err(|e| format!("the response should end after {count} events: {e}"))?;
        let events = self.parsed.event_count();
        if events != count {
            return Err(format!(
                "count={count}, but {events} events came: {}",
                show(&self.body)
            ));
        }
        Ok(())
    }
}

/// What a response read to its end had not done: `2 events came, and no end`.
fn still_open(parsed: &Parsed) -> String {
    format!("{} events came, and no end", parsed.event_count())
}

// ---- The event-stream parser, kept to what the rules need ----

/// A stream's text cut as an `EventSource` parser cuts it (WHATWG HTML §9.2.5), as it comes:
/// `advance` parses what was added since the last call, so a stream read a piece at a time
/// is parsed once, not once per piece.
struct Parsed {
    /// Every whole line that is not blank, without its line end, in order.
    lines: Vec<String>,
    /// How many line ends came, blank lines included.
    line_ends: usize,
    /// Whether every whole line was UTF-8.
    utf8: bool,
    /// The blocks a blank line ended, in order.
    blocks: Vec<Block>,
    /// Which of `blocks` are events, in order.
    event_blocks: Vec<usize>,
    /// Where the lines since the last blank one begin in `lines`: a block not ended yet.
    open_from: usize,
    /// Whether that block has an event's field (`has_event_fields`), kept as it grows.
    open_has_event: bool,
    /// How many bytes follow the last line end.
    rest: usize,
    /// Where the next line begins, where the block being read begins (its bytes are kept),
    /// and where the search for the next line end goes on.
    start: usize,
    block_start: usize,
    scanned: usize,
}

/// The lines before one blank line, and their bytes.
struct Block {
    lines: Vec<String>,
    raw: Vec<u8>,
}

impl Parsed {
    fn new() -> Parsed {
        Parsed {
            lines: Vec::new(),
            line_ends: 0,
            utf8: true,
            blocks: Vec::new(),
            event_blocks: Vec::new(),
            open_from: 0,
            open_has_event: false,
            rest: 0,
            start: 0,
            block_start: 0,
            scanned: 0,
        }
    }

    /// Parses `bytes` on from where the last call stopped: `bytes` is what the last call was
    /// given, and more. A CR last may be the first half of a CR LF, so it ends a line only
    /// once the body has `ended`.
    fn advance(&mut self, bytes: &[u8], ended: bool) {
        while let Some(at) = bytes[self.scanned..]
            .iter()
            .position(|&b| b == b'\r' || b == b'\n')
        {
            let end = self.scanned + at;
            let next = match (bytes[end], bytes.get(end + 1)) {
                (b'\r', Some(b'\n')) => end + 2,
                (b'\r', None) if !ended => {
                    self.scanned = end;
                    self.rest = bytes.len() - self.start;
                    return;
                }
                _ => end + 1,
            };
            let line = &bytes[self.start..end];
            self.line_ends += 1;
            self.utf8 &= std::str::from_utf8(line).is_ok();
            if line.is_empty() {
                if self.open_from < self.lines.len() {
                    let block = Block {
                        lines: self.lines[self.open_from..].to_vec(),
                        raw: bytes[self.block_start..next].to_vec(),
                    };
                    if self.open_has_event {
                        self.event_blocks.push(self.blocks.len());
                    }
                    self.blocks.push(block);
                    self.open_from = self.lines.len();
                }
                self.block_start = next;
                self.open_has_event = false;
            } else {
                let line = String::from_utf8_lossy(line).into_owned();
                self.open_has_event |= is_event_field(&line);
                self.lines.push(line);
            }
            (self.start, self.scanned) = (next, next);
        }
        self.scanned = bytes.len();
        self.rest = bytes.len() - self.start;
    }

    /// Every whole line that is not blank.
    fn lines(&self) -> impl Iterator<Item = &String> {
        self.lines.iter()
    }

    /// The lines of the block not ended yet.
    fn open(&self) -> &[String] {
        &self.lines[self.open_from..]
    }

    /// The blocks that make an event: an id, an event or a data line (an id alone counts:
    /// it is one of the stream's ticks).
    fn events(&self) -> impl Iterator<Item = &Block> {
        self.event_blocks.iter().map(|&i| &self.blocks[i])
    }

    fn event_count(&self) -> usize {
        self.event_blocks.len()
    }

    /// Whether `bytes`, parsed so far, ends at a line end outside any event, as if it ended
    /// there (a CR last ends its line).
    fn between_events(&self, bytes: &[u8]) -> bool {
        match &bytes[self.start..] {
            [] => !self.open_has_event,
            // A blank line: it ends whatever block was open.
            [b'\r'] => true,
            [line @ .., b'\r'] => {
                !self.open_has_event && !is_event_field(&String::from_utf8_lossy(line))
            }
            _ => false,
        }
    }
}

impl Block {
    /// The values of field `name`, in order.
    fn values(&self, name: &str) -> Vec<&str> {
        self.lines
            .iter()
            .filter_map(|l| field(l))
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v)
            .collect()
    }

    /// Whether the block has a field `name`.
    fn has(&self, name: &str) -> bool {
        !self.values(name).is_empty()
    }

    fn is_event(&self) -> bool {
        has_event_fields(&self.lines)
    }

    /// The last `id:` as a number, if it is a whole number.
    fn id(&self) -> Option<u64> {
        let values = self.values("id");
        let last = values.last()?;
        if is_whole_number(last) {
            last.parse().ok()
        } else {
            None
        }
    }

    fn shown(&self) -> String {
        show(&self.raw)
    }
}

/// A line as `(field, value)`, the value without the one space the parser removes; `None`
/// for a blank line or a comment. A line with no colon is a field with an empty value.
fn field(line: &str) -> Option<(&str, &str)> {
    if line.is_empty() || line.starts_with(':') {
        return None;
    }
    let (name, value) = line.split_once(':').unwrap_or((line, ""));
    Some((name, value.strip_prefix(' ').unwrap_or(value)))
}

/// Whether `line` is an `id`, `event` or `data` field: a line of an event.
fn is_event_field(line: &str) -> bool {
    field(line).is_some_and(|(name, _)| matches!(name, "id" | "event" | "data"))
}

fn has_event_fields(lines: &[String]) -> bool {
    lines.iter().any(|l| is_event_field(l))
}

/// Cuts `bytes` into lines and blocks, all at once.
#[cfg(test)]
fn parse(bytes: &[u8], ended: bool) -> Parsed {
    let mut parsed = Parsed::new();
    parsed.advance(bytes, ended);
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_end_at_cr_lf_lf_and_a_lone_cr() {
        let parsed = parse(b"id: 1\r\ndata: a\rdata: b\n\n: c\nid: 2\n\nid: 3", false);
        assert_eq!(parsed.blocks.len(), 2);
        assert_eq!(parsed.blocks[0].values("data"), ["a", "b"]);
        assert_eq!(parsed.blocks[1].id(), Some(2), "a comment is no field");
        assert_eq!(parsed.blocks[1].raw, b": c\nid: 2\n\n");
        assert_eq!(parsed.rest, 5, "an unfinished line waits");
        let split = parse(b"id: 1\r", false);
        assert_eq!((split.lines.len(), split.rest), (0, 6), "CR, maybe CR LF");
        assert_eq!(parse(b"id: 1\r", true).open(), ["id: 1"]);
    }

    #[test]
    fn fields_lose_one_space_and_a_line_without_colon_is_a_name() {
        assert_eq!(field("data:  x"), Some(("data", " x")));
        assert_eq!(field("data:x"), Some(("data", "x")));
        assert_eq!(field("data"), Some(("data", "")));
        assert_eq!(field(": keepalive"), None);
        assert_eq!(field(""), None);
    }

    #[test]
    fn a_chunk_may_hold_a_comment_or_retry_alone_but_not_half_an_event() {
        let ok = [b"retry: 5\n".to_vec(), b"id: 1\ndata: a\n\n".to_vec()];
        assert!(whole_events(&ok, "t").is_ok());
        let ok = [b": keepalive\n".to_vec(), b"id: 2\n\n".to_vec()];
        assert!(whole_events(&ok, "t").is_ok());
        let split = [b"id: 1\n".to_vec(), b"data: a\n\n".to_vec()];
        assert!(whole_events(&split, "t").is_err());
        let half_line = [b"id: 1\ndat".to_vec(), b"a: a\n\n".to_vec()];
        assert!(whole_events(&half_line, "t").is_err());
    }

    #[test]
    fn the_script_by_id() {
        let block = |text: &str| parse(text.as_bytes(), true).blocks.remove(0);
        let time = "Mon, 23 Nov 2026 16:40:05 GMT";
        let cases = [
            (format!("id: 1\ndata: {time}\n\n"), "sse.data", true),
            ("id: 1\ndata: 16:40\n\n".to_string(), "sse.data", false),
            (
                format!("id: 3\nevent: myevent\ndata: {time}\n\n"),
                "sse.named-event",
                true,
            ),
            (format!("id: 3\ndata: {time}\n\n"), "sse.named-event", false),
            (
                format!("id: 6\ndata: {time}\ndata: 17 ms since 1970\n\n"),
                "sse.multiline-data",
                true,
            ),
            (
                format!("id: 6\ndata: {time} 17 ms since 1970\n\n"),
                "sse.multiline-data",
                false,
            ),
            ("id: 9\n\n".to_string(), "sse.id-only", true),
            ("id: 9\ndata:\n\n".to_string(), "sse.id-only", false),
        ];
        for (text, id, kept) in cases {
            let (rule, verdict) = scripted(&block(&text), "t").unwrap();
            assert_eq!((rule.id, verdict.is_ok()), (id, kept), "{text:?}");
        }
    }
}
