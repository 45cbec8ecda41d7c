//! The room: sending a message, reading from a cursor, and the gap signal.
//!
//! A message is `{"id":N,"from":"...","text":"...","ts":MILLIS}`. The room is a `Room`
//! (`room/`): a `Hub`, the event log every push demo shares, kept in memory or copied from a
//! Redis stream (`--room`). Its events carry one text: each event's text is the
//! sender's name, a line feed, and the message. A name may not contain a line break, so the
//! first LF always splits them again. That keeps one log, one lock and one wake-up for the
//! whole room, instead of a second log of names to keep in step with the first.

use std::time::Instant;

use crate::demos::chat::{MAX_CHAT_NAME_CHARS, MAX_CHAT_TEXT_BYTES};
use crate::handler::{Context, Reply};
use crate::http::query::{self, form_value};
use crate::http::request::Request;
use crate::hub::{Event, Waiter};
use crate::json::{self, Object};
use crate::origins::{refusal_reason, verdict};
use crate::room::{Room, Unavailable};

use super::{State, json_reply, refuse};

/// The name a message gets when its sender gave none.
pub const ANONYMOUS: &str = "anonymous";

// ANCHOR: message
/// Publishes a message; `from` and `text` must have passed `check_name` and `check_text`.
/// Fails only when the room lives in Redis, and Redis cannot be reached, refuses the
/// message, or does not answer (`Unavailable` says which).
pub fn publish(room: &Room, from: &str, text: &str) -> Result<u64, Unavailable> {
    room.publish(&format!("{from}\n{text}"))
}

/// `{"id":7,"from":"ann","text":"hello","ts":1795478399000}`
pub fn message_json(event: &Event) -> String {
    let (from, text) = event
        .text
        .split_once('\n')
        .unwrap_or((ANONYMOUS, &event.text));
    Object::new()
        .number("id", event.id)
        .string("from", from)
        .string("text", text)
        .number("ts", event.ts)
        .finish()
}
// ANCHOR_END: message

// ANCHOR: batch
/// What a reader gets for its cursor: perhaps a gap, then messages, oldest first.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Batch {
    /// The cursor the batch follows: the reader's, or further if the room's publisher
    /// delivered some messages straight to it meanwhile (`hub::Courier`).
    pub since: u64,
    pub gap: Option<Gap>,
    pub messages: Vec<Event>,
}

/// "You asked for what came after `after`; what the room still has starts at `resume`."
/// Ids `after + 1 ..= resume - 1` are gone for good (the room keeps the newest 1,000). When
/// `after` is *above* the newest id, the cursor comes from an earlier run of the server (ids
/// start at 1 again after a restart), and the reader must start over from `resume`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    pub after: u64,
    pub resume: u64,
}

impl Gap {
    /// `{"gap":{"after":3,"resume":1204}}`: a record with no `id`, so no reader can take it
    /// for a message.
    pub fn to_json(self) -> String {
        let inner = Object::new()
            .number("after", self.after)
            .number("resume", self.resume)
            .finish();
        Object::new().raw("gap", &inner).finish()
    }
}

impl Batch {
    /// One message, just published, for a reader that had everything before it.
    pub fn of_one(event: &Event) -> Batch {
        Batch {
            since: event.id - 1,
            gap: None,
            messages: vec![event.clone()],
        }
    }

    pub fn is_empty(&self) -> bool {
        self.gap.is_none() && self.messages.is_empty()
    }

    /// The reader's next cursor: the last id it got, or just before where the room resumes.
    pub fn cursor(&self) -> u64 {
        match (self.messages.last(), self.gap) {
            (Some(last), _) => last.id,
            (None, Some(gap)) => gap.resume - 1,
            (None, None) => self.since,
        }
    }

    /// Every record as JSON: the gap first, if any, then each message.
    pub fn records(&self) -> Vec<String> {
        let gap = self.gap.map(Gap::to_json);
        gap.into_iter()
            .chain(self.messages.iter().map(message_json))
            .collect()
    }
}

/// What came after `since`; if nothing has yet and there is a `waiter` (the reader's place
/// on the room's list, made on the reader's thread), waits for a publish until `deadline`
/// (or until `gone` says the reader left). The gap is read off the answer itself — ids are
/// consecutive, so a first id above `since + 1` means the ones between were dropped — and
/// so cannot disagree with it, however many messages are published meanwhile.
pub fn wait(
    room: &Room,
    waiter: Option<&Waiter>,
    since: u64,
    deadline: Instant,
    gone: impl Fn() -> bool,
) -> Batch {
    let hub = room.hub();
    if room.is_past_newest(since) {
        let newest = hub.last_id();
        let messages = hub.after(0);
        let resume = messages.first().map_or(newest + 1, |m| m.id);
        let gap = Some(Gap {
            after: since,
            resume,
        });
        return Batch {
            since,
            gap,
            messages,
        };
    }
    let (since, messages) = match waiter {
        Some(waiter) => waiter.wait_after(since, deadline, gone),
        None => (since, hub.after(since)),
    };
    let gap = messages
        .first()
        .filter(|first| first.id > since + 1)
        .map(|first| Gap {
            after: since,
            resume: first.id,
        });
    Batch {
        since,
        gap,
        messages,
    }
}

/// `wait` without the waiting.
pub fn read(room: &Room, since: u64) -> Batch {
    wait(room, None, since, Instant::now(), || false)
}
// ANCHOR_END: batch

/// `since` is the last id the client saw: digits only (`u64::from_str` would take "+5").
pub fn parse_since(value: Option<&str>) -> Result<u64, String> {
    query::cursor(value, "message", "with since=0")
}

// ANCHOR: heartbeat
/// `heartbeat=1`: the client wants to *see* the connection is alive, as the fallback client
/// on the chat page does. It then gets a heartbeat record as soon as the stream is open (proof
/// that bytes reach it now, not after a buffering proxy has gathered enough), and again after
/// every `--hold-ms` without a message, saying how often to expect one:
/// `{"heartbeat":{"every_ms":25000}}`. Without it, idle streams send what the technique's own
/// chapter shows (a blank line, an SSE comment, nothing on a WebSocket).
pub fn wants_heartbeat(request: &Request) -> Result<bool, String> {
    match request.query_param("heartbeat").as_deref() {
        None => Ok(false),
        Some("1") => Ok(true),
        Some(_) => Err("heartbeat=1 asks for heartbeats; leave it out for none".to_string()),
    }
}

/// The heartbeat's JSON: how often one comes when the room is quiet.
pub fn heartbeat_json(every: std::time::Duration) -> String {
    let every = Object::new()
        .number("every_ms", every.as_millis() as u64)
        .finish();
    Object::new().raw("heartbeat", &every).finish()
}
// ANCHOR_END: heartbeat

// ANCHOR: check
/// A sender's name: no name is `anonymous`; spaces around it are dropped. No line break
/// (the room splits on the first one) and no other control character.
pub fn check_name(from: Option<&str>) -> Result<String, String> {
    let from = from.unwrap_or("").trim();
    if from.chars().any(char::is_control) {
        return Err("from must be a name without line breaks or control characters".into());
    }
    if from.chars().count() > MAX_CHAT_NAME_CHARS {
        return Err(format!(
            "from is longer than {MAX_CHAT_NAME_CHARS} characters"
        ));
    }
    Ok(if from.is_empty() { ANONYMOUS } else { from }.to_string())
}

/// A message's text: not empty (nor only spaces), at most `MAX_CHAT_TEXT_BYTES` of UTF-8.
/// Line breaks are fine: every transport carries the text as a JSON string.
pub fn check_text(text: &str) -> Result<(), String> {
    if text.trim().is_empty() {
        return Err("text is empty: there is nothing to send".into());
    }
    if text.len() > MAX_CHAT_TEXT_BYTES {
        return Err(format!(
            "text is longer than {MAX_CHAT_TEXT_BYTES} bytes of UTF-8"
        ));
    }
    Ok(())
}
// ANCHOR_END: check

// ANCHOR: send
/// `POST /chat/send`: a form body `text=...&from=...`, or a `text/plain` body that is the
/// text itself (`?from=` names the sender). Answers `{"id":N}`.
pub fn send(chat: &State, request: &Request, context: &Context) -> Reply {
    // A form can be posted here from any site, no CORS asked (a "simple" request). Only the
    // demo origins may speak in the room: a browser always says where a POST comes from.
    let verdict = verdict(request, &context.app.config.extra_origins);
    if let Some(reason) = refusal_reason(&verdict, "post to this room") {
        return refuse(request, context, 403, &reason);
    }
    let (from, text) = match from_and_text(request) {
        Ok(pair) => pair,
        Err((status, reason)) => return refuse(request, context, status, &reason),
    };
    let from = match check_name(from.as_deref()) {
        Ok(from) => from,
        Err(reason) => return refuse(request, context, 400, &reason),
    };
    if let Err(reason) = check_text(&text) {
        return refuse(request, context, 400, &reason);
    }
    match publish(&chat.room, &from, &text) {
        Ok(id) => json_reply(
            request,
            context,
            json::Object::new().number("id", id).finish(),
        ),
        // Redis cannot be reached (or rests after not answering): nothing was published,
        // and the same send may succeed in a moment.
        Err(Unavailable::NotPublished(reason)) => super::try_again_soon(request, context, &reason),
        // Redis refused it: nothing was published, and sending it again would be refused
        // again, so no Retry-After.
        Err(Unavailable::Refused(reason)) => refuse(request, context, 503, &reason),
        // Redis took the message and did not answer: it may be in the room. 504, as a
        // gateway says of an upstream that did not answer in time (RFC 9110 §15.6.5), and no
        // Retry-After: sending it again may show it twice.
        Err(Unavailable::MayBePublished(reason)) => refuse(request, context, 504, &reason),
    }
}

/// The name (if any) and the text of a send, by the body's media type.
fn from_and_text(request: &Request) -> Result<(Option<String>, String), (u16, String)> {
    let form = "application/x-www-form-urlencoded";
    let content_type = request.header("content-type").unwrap_or(form);
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if media_type.eq_ignore_ascii_case(form) {
        let field = |name: &str| form_value(&request.body, name);
        let text =
            field("text").ok_or((400, "text is missing: send a form body text=...".into()))?;
        return Ok((field("from"), text));
    }
    if media_type.eq_ignore_ascii_case("text/plain") {
        let text = String::from_utf8(request.body.clone())
            .map_err(|_| (400, "the body is not UTF-8 text".to_string()))?;
        return Ok((request.query_param("from"), text));
    }
    let reason = "send a form (application/x-www-form-urlencoded) or text/plain";
    Err((415, reason.to_string()))
}
// ANCHOR_END: send

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_keeps_its_name_and_its_line_breaks() {
        let room = Room::in_memory(10);
        publish(&room, "ann", "two\nlines </script>").unwrap();
        let json = message_json(&room.hub().after(0)[0]);
        let ts = room.hub().after(0)[0].ts;
        assert_eq!(
            json,
            format!(r#"{{"id":1,"from":"ann","text":"two\nlines \u003c/script>","ts":{ts}}}"#)
        );
    }

    #[test]
    fn gaps_are_read_off_the_answer() {
        let room = Room::in_memory(3);
        assert_eq!(read(&room, 0), Batch::default(), "nothing yet, no gap");
        for text in ["a", "b", "c", "d", "e"] {
            publish(&room, "x", text).unwrap();
        }
        let ids = |batch: &Batch| batch.messages.iter().map(|m| m.id).collect::<Vec<_>>();
        let behind = read(&room, 1);
        assert_eq!(
            behind.gap,
            Some(Gap {
                after: 1,
                resume: 3
            }),
            "2 was dropped"
        );
        assert_eq!(ids(&behind), [3, 4, 5]);
        assert_eq!(behind.cursor(), 5);
        let exact = read(&room, 2);
        assert_eq!(exact.gap, None, "3 is the next one, and it is kept");
        let restarted = read(&room, 99);
        assert_eq!(
            restarted.gap,
            Some(Gap {
                after: 99,
                resume: 3
            })
        );
        assert_eq!(ids(&restarted), [3, 4, 5]);
        assert!(read(&room, 5).is_empty());
    }

    #[test]
    fn a_cursor_from_before_a_restart_of_an_empty_room_starts_at_zero() {
        let room = Room::in_memory(3);
        let batch = read(&room, 12);
        assert_eq!(
            batch.gap,
            Some(Gap {
                after: 12,
                resume: 1
            })
        );
        assert_eq!(batch.cursor(), 0);
        assert_eq!(batch.records(), [r#"{"gap":{"after":12,"resume":1}}"#]);
    }

    #[test]
    fn names_and_texts() {
        assert_eq!(check_name(None), Ok(ANONYMOUS.to_string()));
        assert_eq!(check_name(Some("  ann ")), Ok("ann".to_string()));
        assert!(check_name(Some("a\nb")).is_err());
        assert!(check_name(Some("a\u{7f}")).is_err());
        let longest = "é".repeat(MAX_CHAT_NAME_CHARS);
        assert_eq!(check_name(Some(&longest)), Ok(longest.clone()));
        assert!(check_name(Some(&format!("{longest}x"))).is_err());
        assert!(check_text("").is_err());
        assert!(check_text(" \n ").is_err());
        assert!(check_text(&"a".repeat(MAX_CHAT_TEXT_BYTES)).is_ok());
        assert!(check_text(&"a".repeat(MAX_CHAT_TEXT_BYTES + 1)).is_err());
    }
}
