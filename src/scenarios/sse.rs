//! The `EventSource` scenarios: streams that break, end, change their reconnection time, or
//! use the corners of the format, each one a rule of WHATWG HTML §9.2 ("Server-sent events")
//! that a client must follow.
//!
//! A scenario is a short script over the requests of one run: the first request gets a
//! stream, the reconnection is judged (its `Last-Event-ID`, how long it waited) and gets the
//! rest, and a request after the script is over gets `204`, which tells a client to stop. A
//! stream that ends normally ends with an event of type `expect` whose data is JSON:
//!
//! ```text
//! event: expect
//! data: {"scenario":"/sse/drop-mid-event","events":[{"type":"message","data":"first",
//! data: "lastEventId":"1"}],"then":"…"}       (one line on the wire)
//! ```
//!
//! `events` is every event the client should have dispatched before it, in order, with its
//! type, data and `lastEventId`: what the server cannot see, for a test page to compare.
//!
//! Every stream starts with `retry: 250`, so a client reconnects in a quarter of a second,
//! and sends its pieces `PIECE_PAUSE` apart, so each arrives in a read of its own: a parser
//! that loses a line or a CR split across two reads shows it.

use std::io;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use super::{Arrival, Registry, Scenario, Verdict, for_any_page, run_name, shown};
use crate::handler::{Context, Reply};
use crate::http::body::BodyWriter;
use crate::http::method::Method;
use crate::http::request::Request;
use crate::http::response::Response;
use crate::json;
use crate::router::Route;

// ANCHOR: sse_scenario_limits
/// The reconnection time each stream sets first: short, so a run takes seconds.
pub const RETRY_MS: u64 = 250;
/// `retry-change`: the first reconnection time, then the one that replaces it. The client must
/// wait at least the second; coming back after the first would be a stale value.
pub const FIRST_RETRY_MS: u64 = 100;
pub const CHANGED_RETRY_MS: u64 = 1500;
/// Between two pieces of a stream: long enough that each arrives in a read of its own on a
/// loopback connection (the server writes with Nagle off), so a line, an event or a CR LF
/// split across two reads is really split.
pub const PIECE_PAUSE: Duration = Duration::from_millis(50);
/// A client that must reconnect and has not within this time is not coming: every stream
/// asks for `CHANGED_RETRY_MS` at most, and both browsers' defaults (Chromium 3 s, Firefox
/// ESR 5 s) are below it too.
pub const COME_BACK_WITHIN: Duration = Duration::from_secs(10);
/// After an answer that ends reconnection for good (a `204`, a `text/plain`), this much
/// silence counts as "never came back": longer than any reconnection time a client could
/// have here (`RETRY_MS`, or a default of 3 s or 5 s if it never read one).
pub const GONE_FOR_GOOD_AFTER: Duration = Duration::from_secs(6);
// ANCHOR_END: sse_scenario_limits

const DROP_MID_EVENT: &str = "/sse/drop-mid-event";
const ID_WITHOUT_DATA: &str = "/sse/id-without-data";
const RETRY_CHANGE: &str = "/sse/retry-change";
const STOP_WITH_204: &str = "/sse/stop-with-204";
const BOM_AND_LINE_ENDINGS: &str = "/sse/bom-and-line-endings";
const MULTILINE_DATA_AND_FIELDS: &str = "/sse/multiline-data-and-fields";
const ID_WITH_NULL: &str = "/sse/id-with-null";
const WRONG_MEDIA_TYPE: &str = "/sse/wrong-media-type";

pub static SCENARIOS: &[Scenario] = &[
    Scenario {
        path: DROP_MID_EVENT,
        serves: "an event with id 1, then half of an event with id 2, and the connection cut",
        must: "dispatch the first event only, reconnect, and send Last-Event-ID: 1",
        cite: "WHATWG HTML §9.2.5 (an unfinished event is discarded), §9.2.3 (reconnect), \
               §9.2.4 (Last-Event-ID)",
    },
    Scenario {
        path: ID_WITHOUT_DATA,
        serves: "id: 5 and a blank line, with no data, then the connection cut",
        must: "dispatch nothing, and reconnect with Last-Event-ID: 5 (Chromium does; Firefox \
               ESR 153 sends no Last-Event-ID)",
        cite: "WHATWG HTML §9.2.6, dispatch step 1: the id is kept even when no event fires",
    },
    Scenario {
        path: RETRY_CHANGE,
        serves: "retry: 100 and an event, retry: 1500 and an event, then the connection cut",
        must: "wait at least 1500 ms (the last retry) before it reconnects; only that lower \
               bound is judged",
        cite: "WHATWG HTML §9.2.6 (retry sets the reconnection time), §9.2.3 (wait that long)",
    },
    Scenario {
        path: STOP_WITH_204,
        serves: "an event with id 1 and the end of the stream; the reconnection gets 204 No \
                 Content",
        must: "reconnect once (Last-Event-ID: 1), take the 204 as the end, and never come back \
               (judged after 6 s of silence)",
        cite: "WHATWG HTML §9.2.1 (204 stops reconnection), §9.2.3 (any status but 200 fails \
               the connection)",
    },
    Scenario {
        path: BOM_AND_LINE_ENDINGS,
        serves: "a UTF-8 byte order mark first, then lines ended by CR LF, a lone CR and LF, \
                 mixed, one CR LF split across two pieces; ids 1 to 4",
        must: "skip the BOM, end a line at each of the three, dispatch the five events the \
               expect event lists, and reconnect with Last-Event-ID: 4",
        cite: "WHATWG HTML §9.2.5 (one BOM is skipped; CR LF, LF and CR end lines)",
    },
    Scenario {
        path: MULTILINE_DATA_AND_FIELDS,
        serves: "two data lines; an event type; comments; an unknown field; data with no \
                 colon; data:  with two spaces; an empty data; id:3 with no space",
        must: "join data lines with LF, use the type, ignore comments and unknown fields, \
               strip one space after the colon, and reconnect with Last-Event-ID: 3",
        cite: "WHATWG HTML §9.2.6 (processing a field, dispatching an event)",
    },
    Scenario {
        path: ID_WITH_NULL,
        serves: "an event with id 7, then one whose id holds U+0000 (id: 8, NUL, 9)",
        must: "ignore the id with NUL (the second event's lastEventId stays 7) and reconnect \
               with Last-Event-ID: 7",
        cite: "WHATWG HTML §9.2.6: an id field whose value contains U+0000 is ignored",
    },
    Scenario {
        path: WRONG_MEDIA_TYPE,
        serves: "200 with Content-Type: text/plain and a body that looks like an event stream",
        must: "fail the connection (error, readyState CLOSED), dispatch nothing, and never \
               come back (judged after 6 s of silence)",
        cite: "WHATWG HTML §9.2.3: a Content-Type other than text/event-stream fails the \
               connection",
    },
];

/// One route per scenario.
pub fn routes(registry: &Arc<Registry>) -> Vec<Route> {
    SCENARIOS
        .iter()
        .map(|scenario| {
            let registry = Arc::clone(registry);
            let path = scenario.path;
            Route::get(path, move |request: &Request, _: &Context| {
                play(path, &registry, request)
            })
        })
        .collect()
}

/// What the server does with one request of a scenario.
struct Step {
    /// The verdict this request settles, if it settles one.
    verdict: Option<Verdict>,
    answer: Answer,
    /// Once the answer has ended: the verdict if no request comes within the time.
    if_silent: Option<(Duration, Verdict)>,
}

enum Answer {
    /// `200 text/event-stream`: these pieces, one at a time, then the end or a cut.
    Stream { pieces: Vec<String>, cut: bool },
    /// `204 No Content`: stop reconnecting.
    Stop,
    /// `200 text/plain`: not an event stream.
    NotAStream(String),
}

impl Answer {
    /// What the client got, for the results.
    fn summary(&self) -> String {
        match self {
            Answer::Stream { pieces, cut } => format!(
                "200 text/event-stream, {} piece{}, then {}",
                pieces.len(),
                if pieces.len() == 1 { "" } else { "s" },
                if *cut {
                    "the connection cut"
                } else {
                    "the end"
                }
            ),
            Answer::Stop => "204 No Content".to_string(),
            Answer::NotAStream(_) => "200 text/plain".to_string(),
        }
    }
}

/// One request of a scenario: counted, judged, answered.
fn play(path: &'static str, registry: &Arc<Registry>, request: &Request) -> Reply {
    let run = match run_name(request) {
        Ok(run) => run,
        Err(refusal) => return refusal.into(),
    };
    if request.method == Method::Head {
        // Not a move in the scene (an EventSource never sends one): the head alone.
        return stream_head().into();
    }
    let last_event_id = request.header("last-event-id");
    let arrival = registry.arrive(&run, path);
    let step = script(path, arrival, last_event_id);
    registry.see(
        &run,
        path,
        format!(
            "request {}{}, {}: answered {}",
            arrival.number,
            match arrival.since_end {
                Some(wait) => format!(", {} ms after the last answer ended", wait.as_millis()),
                None => String::new(),
            },
            match last_event_id {
                Some(id) => format!("Last-Event-ID: {}", shown(id)),
                None => "no Last-Event-ID".to_string(),
            },
            step.answer.summary()
        ),
    );
    if let Some(verdict) = step.verdict {
        registry.judge(&run, path, verdict);
    }
    let (registry, if_silent) = (Arc::clone(registry), step.if_silent);
    match step.answer {
        Answer::Stream { pieces, cut } => Reply::stream(stream_head(), move |out| {
            let sent = send(out, &pieces);
            registry.ended(&run, path, if_silent);
            sent?;
            match cut {
                // An error makes the server close the socket with no last chunk: to the
                // client, a network failure in the middle of the stream. The last piece gets
                // a read of its own first, as every other piece does: when it came together
                // with the end, Chromium now and then did not dispatch it (retry-change's
                // second event, once in a browser-suite run), as if data that arrives with a
                // broken chunked body's end were dropped with it.
                true => {
                    thread::sleep(PIECE_PAUSE);
                    Err(io::Error::other("cut on purpose (the scenario)"))
                }
                false => Ok(()),
            }
        }),
        Answer::Stop => {
            registry.ended(&run, path, if_silent);
            for_any_page(Response::new(204)).into()
        }
        Answer::NotAStream(body) => {
            registry.ended(&run, path, if_silent);
            for_any_page(Response::text(200, body)).into()
        }
    }
}

fn stream_head() -> Response {
    for_any_page(Response::new(200).with_header("Content-Type", "text/event-stream"))
}

/// The pieces, `PIECE_PAUSE` apart.
fn send(out: &mut BodyWriter, pieces: &[String]) -> io::Result<()> {
    for (i, piece) in pieces.iter().enumerate() {
        if i > 0 {
            thread::sleep(PIECE_PAUSE);
        }
        out.send(piece.as_bytes())?;
    }
    Ok(())
}

/// What request `arrival.number` of the scenario at `path` gets, and what it settles.
fn script(path: &str, arrival: Arrival, last_event_id: Option<&str>) -> Step {
    let back = |after: &str| came_back(arrival, last_event_id, after);
    match (path, arrival.number) {
        (DROP_MID_EVENT, 1) => stream(
            vec![
                format!("retry: {RETRY_MS}\nid: 1\ndata: first\n\n"),
                "id: 2\ndata: this event is never finish".to_string(),
            ],
            true,
        )
        .unless_back(),
        (DROP_MID_EVENT, 2) => stream(
            vec![expect(
                path,
                &[("message", "first", "1")],
                "the stream ends; a reconnection gets 204",
            )],
            false,
        )
        .judged(match last_event_id {
            Some("1") => Verdict::Pass(back("the cut")),
            Some("2") => Verdict::Fail(format!(
                "{}: the id of the unfinished event; an event cut before its blank line is \
                 discarded, id and all (HTML §9.2.5, §9.2.6)",
                back("the cut")
            )),
            _ => Verdict::Fail(format!(
                "{}: the last event dispatched had id 1 (HTML §9.2.4)",
                back("the cut")
            )),
        }),
        (ID_WITHOUT_DATA, 1) => {
            stream(vec![format!("retry: {RETRY_MS}\nid: 5\n\n")], true).unless_back()
        }
        (ID_WITHOUT_DATA, 2) => stream(
            vec![expect(
                path,
                &[],
                "nothing before this event; the stream ends; a reconnection gets 204",
            )],
            false,
        )
        .judged(match last_event_id {
            Some("5") => Verdict::Pass(back("the cut")),
            _ => Verdict::Fail(format!(
                "{}: a block with an id and no data fires nothing but still sets the last \
                 event ID to 5 (HTML §9.2.6, dispatch step 1)",
                back("the cut")
            )),
        }),
        (RETRY_CHANGE, 1) => stream(
            vec![
                format!("retry: {FIRST_RETRY_MS}\ndata: retry is {FIRST_RETRY_MS} ms\n\n"),
                format!("retry: {CHANGED_RETRY_MS}\ndata: retry is now {CHANGED_RETRY_MS} ms\n\n"),
            ],
            true,
        )
        .unless_back(),
        (RETRY_CHANGE, 2) => stream(
            vec![format!(
                "retry: {RETRY_MS}\n{}",
                expect(
                    path,
                    &[
                        ("message", &format!("retry is {FIRST_RETRY_MS} ms"), ""),
                        (
                            "message",
                            &format!("retry is now {CHANGED_RETRY_MS} ms"),
                            ""
                        ),
                    ],
                    "the stream ends; a reconnection gets 204",
                )
            )],
            false,
        )
        .judged(match arrival.since_end {
            Some(wait) if wait >= Duration::from_millis(CHANGED_RETRY_MS) => Verdict::Pass(
                format!("{}, no sooner than the last retry", back("the cut")),
            ),
            _ => Verdict::Fail(format!(
                "{}: sooner than {CHANGED_RETRY_MS} ms, the last retry value (HTML §9.2.6 sets \
                 it, §9.2.3 waits it)",
                back("the cut")
            )),
        }),
        (STOP_WITH_204, 1) => stream(
            vec![
                format!("retry: {RETRY_MS}\nid: 1\ndata: one\n\n"),
                expect(
                    path,
                    &[("message", "one", "1")],
                    "the stream ends; the reconnection gets 204: error, readyState 2 (CLOSED), \
                     and no request ever again",
                ),
            ],
            false,
        )
        .unless_back(),
        (STOP_WITH_204, 2) => Step {
            verdict: None,
            answer: Answer::Stop,
            if_silent: Some((
                GONE_FOR_GOOD_AFTER,
                Verdict::Pass(format!(
                    "{}, got 204, and did not come back in {} s",
                    back("the end"),
                    GONE_FOR_GOOD_AFTER.as_secs()
                )),
            )),
        },
        (STOP_WITH_204, _) => over().judged(Verdict::Fail(format!(
            "came back after the 204: {}; a 204 ends reconnection for good (HTML §9.2.1, \
             §9.2.3)",
            back("the 204")
        ))),
        (BOM_AND_LINE_ENDINGS, 1) => stream(
            vec![
                format!("\u{FEFF}id: 1\r\nretry: {RETRY_MS}\r\ndata: after the BOM\r\n\r\n"),
                "id: 2\rdata: lone CR\r\r".to_string(),
                "id: 3\ndata: LF\n\n".to_string(),
                "data: mixed 1\r\ndata: mixed 2\rdata: mixed 3\n\r\n".to_string(),
                "id: 4\rdata: CR LF split\r".to_string(),
                "\ndata: across two reads\r\n\r\n".to_string(),
                expect(
                    path,
                    &[
                        ("message", "after the BOM", "1"),
                        ("message", "lone CR", "2"),
                        ("message", "LF", "3"),
                        ("message", "mixed 1\nmixed 2\nmixed 3", "3"),
                        ("message", "CR LF split\nacross two reads", "4"),
                    ],
                    "the stream ends; the reconnection (Last-Event-ID: 4) gets 204",
                ),
            ],
            false,
        )
        .unless_back(),
        (BOM_AND_LINE_ENDINGS, 2) => over().judged(match last_event_id {
            Some("4") => Verdict::Pass(back("the end")),
            _ => Verdict::Fail(format!(
                "{}: the last id was 4, on a line ended by a lone CR (HTML §9.2.5: CR LF, LF \
                 and CR each end a line)",
                back("the end")
            )),
        }),
        (MULTILINE_DATA_AND_FIELDS, 1) => stream(
            vec![
                format!(
                    "retry: {RETRY_MS}\n: a comment, then a blank line: nothing fires\n\n\
                     id: 1\ndata: first line\ndata: second line\n\n"
                ),
                "id: 2\nevent: custom\nunknown: ignored\ndata\ndata:no space\n\
                 data:  one space kept\n: a comment inside an event\n\n"
                    .to_string(),
                "id:3\ndata:\n\n".to_string(),
                "data: the type is message again\n\n".to_string(),
                expect(
                    path,
                    &[
                        ("message", "first line\nsecond line", "1"),
                        ("custom", "\nno space\n one space kept", "2"),
                        ("message", "", "3"),
                        ("message", "the type is message again", "3"),
                    ],
                    "the stream ends; the reconnection (Last-Event-ID: 3) gets 204",
                ),
            ],
            false,
        )
        .unless_back(),
        (MULTILINE_DATA_AND_FIELDS, 2) => over().judged(match last_event_id {
            Some("3") => Verdict::Pass(back("the end")),
            _ => Verdict::Fail(format!(
                "{}: the last id was 3, written id:3 (no space after the colon)",
                back("the end")
            )),
        }),
        (ID_WITH_NULL, 1) => stream(
            vec![
                format!("retry: {RETRY_MS}\nid: 7\ndata: seven\n\n"),
                "id: 8\u{0}9\ndata: the id of this event holds U+0000: ignored\n\n".to_string(),
                expect(
                    path,
                    &[
                        ("message", "seven", "7"),
                        ("message", "the id of this event holds U+0000: ignored", "7"),
                    ],
                    "the stream ends; the reconnection (Last-Event-ID: 7) gets 204",
                ),
            ],
            false,
        )
        .unless_back(),
        (ID_WITH_NULL, 2) => over().judged(match last_event_id {
            Some("7") => Verdict::Pass(back("the end")),
            _ => Verdict::Fail(format!(
                "{}: an id holding U+0000 is ignored, so the last id is 7 (HTML §9.2.6)",
                back("the end")
            )),
        }),
        (WRONG_MEDIA_TYPE, 1) => Step {
            verdict: None,
            answer: not_a_stream(),
            if_silent: Some((
                GONE_FOR_GOOD_AFTER,
                Verdict::Pass(format!(
                    "did not come back in {} s after the text/plain answer",
                    GONE_FOR_GOOD_AFTER.as_secs()
                )),
            )),
        },
        (WRONG_MEDIA_TYPE, _) => Step {
            verdict: Some(Verdict::Fail(format!(
                "{}: a 200 whose Content-Type is not text/event-stream fails the connection \
                 for good (HTML §9.2.3)",
                back("the text/plain answer")
            ))),
            answer: not_a_stream(),
            if_silent: None,
        },
        // The script is over: 204 tells the client to stop.
        _ => over(),
    }
}

impl Step {
    /// With the verdict this request settles.
    fn judged(self, verdict: Verdict) -> Step {
        Step {
            verdict: Some(verdict),
            ..self
        }
    }

    /// A failure unless the client comes back within `COME_BACK_WITHIN` of the end.
    fn unless_back(self) -> Step {
        let why = format!(
            "did not reconnect within {} s of the end of the stream (HTML §9.2.3: a stream \
             that ends or breaks is reconnected). A Last-Event-ID holding a control character \
             is not a valid header: this server answers it 400 before the scenario sees it",
            COME_BACK_WITHIN.as_secs()
        );
        Step {
            if_silent: Some((COME_BACK_WITHIN, Verdict::Fail(why))),
            ..self
        }
    }
}

fn stream(pieces: Vec<String>, cut: bool) -> Step {
    Step {
        verdict: None,
        answer: Answer::Stream { pieces, cut },
        if_silent: None,
    }
}

fn over() -> Step {
    Step {
        verdict: None,
        answer: Answer::Stop,
        if_silent: None,
    }
}

/// `wrong-media-type`'s answer: the format, under the wrong name. A client that reads it
/// anyway dispatches the message, and comes back after `RETRY_MS`.
fn not_a_stream() -> Answer {
    Answer::NotAStream(format!(
        "retry: {RETRY_MS}\ndata: you must not see this: it came as text/plain\n\n"
    ))
}

/// "reconnected 262 ms after the cut with Last-Event-ID: 1".
fn came_back(arrival: Arrival, last_event_id: Option<&str>, after: &str) -> String {
    let when = match arrival.since_end {
        Some(wait) => format!("{} ms after {after}", wait.as_millis()),
        None => format!("before {after}"),
    };
    match last_event_id {
        Some(id) => format!("reconnected {when} with Last-Event-ID: {}", shown(id)),
        None => format!("reconnected {when} with no Last-Event-ID"),
    }
}

/// The last event of a stream: type `expect`, its data one line of JSON listing the events
/// the client should have dispatched before it — `[type, data, lastEventId]` each — and what
/// happens next.
fn expect(path: &str, events: &[(&str, &str, &str)], then: &str) -> String {
    let events = events.iter().map(|(kind, data, last_event_id)| {
        json::Object::new()
            .string("type", kind)
            .string("data", data)
            .string("lastEventId", last_event_id)
            .finish()
    });
    let data = json::Object::new()
        .string("scenario", path)
        .raw("events", &json::array(events))
        .string("then", then)
        .finish();
    format!("event: expect\ndata: {data}\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrival(number: u32, since_end_ms: Option<u64>) -> Arrival {
        Arrival {
            number,
            since_end: since_end_ms.map(Duration::from_millis),
        }
    }

    fn verdict(path: &str, number: u32, since_ms: u64, id: Option<&str>) -> Option<Verdict> {
        script(path, arrival(number, Some(since_ms)), id).verdict
    }

    #[test]
    fn every_scenario_has_a_script_and_ends_in_204() {
        for scenario in SCENARIOS {
            let first = script(scenario.path, arrival(1, None), None);
            assert!(
                !matches!(first.answer, Answer::Stop),
                "{} starts with a scene",
                scenario.path
            );
            let late = script(scenario.path, arrival(9, Some(10)), None);
            assert!(
                matches!(late.answer, Answer::Stop | Answer::NotAStream(_)),
                "{}",
                scenario.path
            );
        }
    }

    #[test]
    fn the_expect_event_is_one_line_of_json() {
        let event = expect("/sse/x", &[("message", "a\nb", "1")], "then");
        assert_eq!(
            event,
            "event: expect\ndata: {\"scenario\":\"/sse/x\",\"events\":[{\"type\":\"message\",\
             \"data\":\"a\\nb\",\"lastEventId\":\"1\"}],\"then\":\"then\"}\n\n"
        );
    }

    #[test]
    fn reconnections_are_judged_by_their_last_event_id_and_their_wait() {
        let pass = |v: Option<Verdict>| matches!(v, Some(Verdict::Pass(_)));
        assert!(pass(verdict(DROP_MID_EVENT, 2, 300, Some("1"))));
        assert!(!pass(verdict(DROP_MID_EVENT, 2, 300, Some("2"))));
        assert!(!pass(verdict(DROP_MID_EVENT, 2, 300, None)));
        assert!(pass(verdict(ID_WITHOUT_DATA, 2, 300, Some("5"))));
        assert!(!pass(verdict(ID_WITHOUT_DATA, 2, 300, None)));
        assert!(pass(verdict(RETRY_CHANGE, 2, CHANGED_RETRY_MS, None)));
        assert!(!pass(verdict(RETRY_CHANGE, 2, CHANGED_RETRY_MS - 1, None)));
        assert!(!pass(verdict(RETRY_CHANGE, 2, FIRST_RETRY_MS, None)));
        assert!(pass(verdict(BOM_AND_LINE_ENDINGS, 2, 300, Some("4"))));
        assert!(pass(verdict(MULTILINE_DATA_AND_FIELDS, 2, 300, Some("3"))));
        assert!(pass(verdict(ID_WITH_NULL, 2, 300, Some("7"))));
        assert!(!pass(verdict(ID_WITH_NULL, 2, 300, Some("8"))));
        assert_eq!(verdict(STOP_WITH_204, 2, 300, Some("1")), None, "pending");
        assert!(!pass(verdict(STOP_WITH_204, 3, 7000, Some("1"))));
        assert!(!pass(verdict(WRONG_MEDIA_TYPE, 2, 300, None)));
        assert_eq!(
            verdict(DROP_MID_EVENT, 2, 262, Some("1")),
            Some(Verdict::Pass(
                "reconnected 262 ms after the cut with Last-Event-ID: 1".into()
            ))
        );
    }
}
