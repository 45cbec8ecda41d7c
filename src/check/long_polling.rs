//! The rules of long polling (`docs/04-long-polling.md`), checked against `GET <url>?since=N`
//! and `POST <url>/publish`.
//!
//! The contract is a numbered log. `POST <url>/publish` with a form body `text=…` appends an
//! event and answers it, `{"id":7,"text":"hello","ts":1795453787612}`; `GET <url>?since=N`
//! answers at once with the events after N, oldest first, or holds the request until there
//! is one. The cursor is what makes the technique lossless, so most rules are about it.
//!
//! The check publishes its own events: it cannot wait for someone else's. Every text it
//! sends carries a nonce (`check 1a2b3c …`), so events that others publish meanwhile
//! (webwire's ticker, `tick 5`, a learner's own test page) are told apart and step over:
//! a rule asks only that they come in id order, like everything else. Nothing here waits a
//! whole hold (25 s on webwire): a held poll is ended by the check's own publish, and the
//! one quiet stretch it observes is `HOLD_PROBE`, explained where it is defined.

use std::io::ErrorKind;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::client::{self, Connection, Exchange};
use super::json_reader::{Json, read_json};
use super::polling::{head_without_body, is_whole_number};
use super::{Report, Rule, Target, Technique, show};

pub static TECHNIQUE: Technique = Technique {
    name: "long-polling",
    chapter: "04-long-polling.md",
    endpoint: "/longpoll",
    rules: &[
        &PUBLISH,
        &PUBLISH_REFUSED,
        &PUBLISH_ORIGIN,
        &NEWS,
        &HEADERS,
        &HOLD,
        &LOSSLESS,
        &SINCE_FORMS,
        &SINCE_REFUSED,
        &SINCE_AHEAD,
        &HEAD,
        &METHODS,
    ],
    run,
};

const PUBLISHING: &str = "The publish endpoint";
const POLLING: &str = "The poll";
const CURSOR: &str = "The cursor";
const METHODS_SECTION: &str = "HEAD and other methods";

static PUBLISH: Rule = Rule {
    id: "long-polling.publish",
    says: "POST <url>/publish with a form body text=… answers 200, application/json, the new \
           event {\"id\":N,\"text\":\"…\",\"ts\":T}: the text decoded, N above every earlier id, \
           T in milliseconds",
    section: PUBLISHING,
};
static PUBLISH_REFUSED: Rule = Rule {
    id: "long-polling.publish-refused",
    says: "a publish with no text, an empty or blank one, or one over 1024 bytes gets 400, a body \
           that is not a form gets 415, and none of them publishes anything",
    section: PUBLISHING,
};
static PUBLISH_ORIGIN: Rule = Rule {
    id: "long-polling.publish-origin",
    says: "a publish from another site's page (Origin: http://evil.example) gets 403 and \
           publishes nothing",
    section: PUBLISHING,
};
static NEWS: Rule = Rule {
    id: "long-polling.news",
    says: "GET <url>?since=N with events after N answers at once: 200, a JSON array of exactly \
           those events, oldest first, each the object the publish answered",
    section: POLLING,
};
static HEADERS: Rule = Rule {
    id: "long-polling.headers",
    says: "every poll answer carries Content-Type: application/json, Cache-Control: no-store \
           and Access-Control-Allow-Origin: *",
    section: POLLING,
};
static HOLD: Rule = Rule {
    id: "long-polling.hold",
    says: "with nothing after since, the poll is held (not a byte for half a second) and a \
           publish answers it with the new event",
    section: POLLING,
};
static LOSSLESS: Rule = Rule {
    id: "long-polling.lossless",
    says: "8 pollers and a publisher of 50 messages (in bursts of 5) at once: every poller \
           gets every message exactly once, in order",
    section: POLLING,
};
static SINCE_FORMS: Rule = Rule {
    id: "long-polling.since-forms",
    says: "since may have leading zeros (since=007 is 7) and the query other parameters \
           (&_=1795453787612), which are ignored",
    section: CURSOR,
};
static SINCE_REFUSED: Rule = Rule {
    id: "long-polling.since-refused",
    says: "since missing, empty, or not ASCII digits (-1, +1, 1.5, abc), or over \
           18446744073709551615, gets 400 at once",
    section: CURSOR,
};
static SINCE_AHEAD: Rule = Rule {
    id: "long-polling.since-ahead",
    says: "a since above the newest id (up to 18446744073709551615) is taken as 0: the answer \
           comes at once, with the oldest events kept",
    section: CURSOR,
};
static HEAD: Rule = Rule {
    id: "long-polling.head",
    says: "HEAD <url>?since=N is the GET without its body: 200, application/json, no body",
    section: METHODS_SECTION,
};
static METHODS: Rule = Rule {
    id: "long-polling.methods",
    says: "POST <url> and GET <url>/publish get 405 Method Not Allowed, with an Allow header \
           listing GET and POST respectively",
    section: METHODS_SECTION,
};

/// How long a poll with nothing new must stay silent to count as held. A server that answers
/// `[]` at once is polling, not holding, and is seen within this. It is the one thing the
/// check observes by waiting: a correct server answers early only with news, and news from
/// someone else (webwire's ticker) is recognised and the probe made again. The chapter
/// asks a hold of seconds (webwire's is 25 s), so half a second never fails a correct one.
const HOLD_PROBE: Duration = Duration::from_millis(500);

/// Probes `hold` makes before it gives up on a quiet moment. With webwire's ticker at
/// `--tick-ms 200` (an event a second), half the probes meet a tick: ten in a row, one run in
/// a thousand.
const HOLD_TRIES: usize = 10;

/// Pollers and messages for `lossless`, published in bursts: each burst finds most pollers
/// held, wakes them, and goes on while they answer and ask again, so events land on held
/// polls, on polls in flight and between two polls, in every order, on every run.
const POLLERS: usize = 8;
const MESSAGES: usize = 50;
const BURST: usize = 5;

/// Before each burst, the publisher waits this long (after every poller has sent its first
/// request, for the first), so that most polls are held again and the publishes go through
/// the server's wake-up path, not only its "there is news already" one. It is not what
/// makes the rule pass: a slower server simply answers more polls from its log, which is
/// checked the same way.
const SETTLE: Duration = Duration::from_millis(100);

/// A poller that gets `[]` (its hold ended) asks again after this, not in a tight loop.
const AFTER_EMPTY: Duration = Duration::from_millis(20);

/// The longest text a publish takes, in UTF-8 bytes (webwire's `MAX_EVENT_TEXT_BYTES`).
const MAX_TEXT_BYTES: usize = 1024;

/// Polls `catch_up` makes before it gives up on a server that keeps answering old events.
const MAX_CATCH_UP_POLLS: usize = 1000;

/// The largest cursor, 2^64 - 1: ids fit in 64 bits.
const LARGEST: &str = "18446744073709551615";

/// One event, as a publish or a poll answered it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Event {
    id: u64,
    text: String,
    /// Milliseconds since 1970; `None` when the object had no whole-number `ts`.
    ts: Option<u64>,
}

/// What a run has learned: the nonce its texts carry, and the newest id it has seen.
struct Run<'a> {
    target: &'a Target,
    nonce: String,
    newest: u64,
}

fn run(target: &Target, report: &mut Report) {
    let mut run = Run {
        target,
        nonce: nonce(),
        newest: 0,
    };
    let first = format!("check {} first: \"quotes\", <b>, ✓ & +", run.nonce);
    let marker = run.publish(&first, report);
    // Neither needs an event, and both are checked whatever else happens. After the first
    // publish, though: a server that takes a bad cursor for 0 then answers it at once.
    report.record(&SINCE_REFUSED, since_refused(target));
    report.record(&METHODS, methods(target));
    let Some(marker) = marker else {
        skip_all(report, "no event could be published");
        return;
    };
    run.refusals(report);
    let (Some(a), Some(b)) = (
        run.publish_as(
            "application/x-www-form-urlencoded;charset=UTF-8",
            &format!("check {} a", run.nonce),
            report,
        ),
        run.publish(&format!("check {} b", run.nonce), report),
    ) else {
        skip_all(report, "no event could be published");
        return;
    };
    run.news(report, &marker, &a, &b);
    report.record(&SINCE_FORMS, run.since_forms(&a, &b));
    report.record(&SINCE_AHEAD, run.since_ahead(&b));
    let news = target.url.with_query(&format!("since={}", marker.id));
    let head = head_without_body(&news, target.patience);
    report.record(&HEAD, head.and_then(|head| json_200(&head, "HEAD")));
    run.hold(report);
    let lossless = run.lossless(report);
    report.record(&LOSSLESS, lossless);
}

fn skip_all(report: &mut Report, why: &str) {
    for rule in [
        &PUBLISH_REFUSED,
        &PUBLISH_ORIGIN,
        &NEWS,
        &HEADERS,
        &HOLD,
        &LOSSLESS,
        &SINCE_FORMS,
        &SINCE_AHEAD,
        &HEAD,
    ] {
        report.skip(rule, why);
    }
}

impl Run<'_> {
    /// Publishes `text`, checking the answer against `publish`. The event is returned even
    /// when that rule fails, if the answer names one, so the other rules can still be checked.
    fn publish(&mut self, text: &str, report: &mut Report) -> Option<Event> {
        self.publish_as("application/x-www-form-urlencoded", text, report)
    }

    /// `publish` with another media type: a browser's `URLSearchParams` body is sent as
    /// `application/x-www-form-urlencoded;charset=UTF-8`, and that is a form too.
    fn publish_as(&mut self, media_type: &str, text: &str, report: &mut Report) -> Option<Event> {
        let answer = self.post(&[], media_type, &form(text));
        let answer = match answer {
            Ok(answer) => answer,
            Err(why) => {
                report.record(&PUBLISH, Err(why));
                return None;
            }
        };
        let event = parse(&answer.body).and_then(|json| event_of(&json));
        let event = match event {
            Ok(event) if (200..300).contains(&answer.head.status) => event,
            Ok(_) | Err(_) => {
                let why = event.err().unwrap_or_default();
                report.record(
                    &PUBLISH,
                    Err(format!(
                        "no event in the answer ({why}): {}",
                        answer.shown()
                    )),
                );
                return None;
            }
        };
        report.record(&PUBLISH, self.published(text, &answer, &event));
        self.newest = self.newest.max(event.id);
        Some(event)
    }

    /// What `publish` asks of one answer.
    fn published(&self, text: &str, answer: &Exchange, event: &Event) -> Result<(), String> {
        if answer.head.status != 200 {
            return Err(format!(
                "status {}, not 200 (an event has no URL of its own for a 201 to name): {}",
                answer.head.status,
                answer.head.shown()
            ));
        }
        if answer.head.media_type().as_deref() != Some("application/json") {
            return Err(format!("not application/json: {}", answer.head.shown()));
        }
        if event.text != text {
            return Err(format!(
                "published {}, the event says {}: {}",
                show(text.as_bytes()),
                show(event.text.as_bytes()),
                answer.shown()
            ));
        }
        if event.ts.is_none() {
            return Err(format!("no whole-number \"ts\": {}", answer.shown()));
        }
        if event.id <= self.newest {
            return Err(format!(
                "id {} is not above {}, an id published before it: {}",
                event.id,
                self.newest,
                answer.shown()
            ));
        }
        Ok(())
    }

    /// `POST <url>/publish` with `body` of type `media_type`, on a new connection.
    fn post(
        &self,
        headers: &[(&str, &str)],
        media_type: &str,
        body: &str,
    ) -> Result<Exchange, String> {
        let mut headers = headers.to_vec();
        headers.push(("Content-Type", media_type));
        let url = self.target.url.joined("/publish");
        client::exchange(
            &url,
            self.target.patience,
            "POST",
            &headers,
            body.as_bytes(),
        )
        .map_err(|why| format!("POST {}: {why}", url.target))
    }

    /// Bad publishes, each refused with its status. Whether they published anything anyway
    /// is seen later, in the log (`news`): their texts say `refused` or `foreign`.
    fn refusals(&self, report: &mut Report) {
        let form_type = "application/x-www-form-urlencoded";
        let refused = format!("check {} refused", self.nonce);
        let too_long = format!("{refused} {}", "x".repeat(MAX_TEXT_BYTES));
        let too_long = &too_long[..MAX_TEXT_BYTES + 1];
        let json = format!("{{\"text\":\"{refused}\"}}");
        let cases: [(&str, &str, String, u16); 6] = [
            ("no text field", form_type, "name=x".into(), 400),
            ("an empty text", form_type, "text=".into(), 400),
            ("a blank text", form_type, "text=+%20%09+".into(), 400),
            ("1025 bytes of text", form_type, form(too_long), 400),
            ("no form at all", "application/json", json, 415),
            ("an empty body", form_type, String::new(), 400),
        ];
        for (what, media_type, body, status) in cases {
            report.record(
                &PUBLISH_REFUSED,
                self.post(&[], media_type, &body)
                    .and_then(|answer| expect_status(&answer, status, what)),
            );
        }
        let foreign = form(&format!("check {} foreign", self.nonce));
        report.record(
            &PUBLISH_ORIGIN,
            self.post(&[("Origin", "http://evil.example")], form_type, &foreign)
                .and_then(|answer| expect_status(&answer, 403, "a foreign Origin")),
        );
    }

    /// `GET <url>?query` on a new connection, the answer as events. Any answer but 200 with
    /// a JSON array of events is an error that shows it.
    fn poll(&mut self, query: &str) -> Result<(Exchange, Vec<Event>), String> {
        let url = self.target.url.with_query(query);
        let answer = client::get(&url, self.target.patience, &[])
            .map_err(|why| format!("GET {}: {why}", url.target))?;
        let events = events_in(&answer).map_err(|why| format!("GET {}: {why}", url.target))?;
        if let Some(last) = events.last() {
            self.newest = self.newest.max(last.id);
        }
        Ok((answer, events))
    }

    /// Polls from `since` until the answers reach `until`, each answered at once (there is
    /// news, so nothing may be held), with ids above the cursor, in order. The answers are
    /// kept for `headers`.
    fn catch_up(
        &mut self,
        since: u64,
        until: u64,
        answers: &mut Vec<Exchange>,
    ) -> Result<Vec<Event>, String> {
        let mut cursor = since;
        let mut all = Vec::new();
        for _ in 0..MAX_CATCH_UP_POLLS {
            let (answer, events) = self.poll(&format!("since={cursor}"))?;
            if events.is_empty() {
                return Err(format!(
                    "since={cursor} answered [] although event {until} is in the log: {}",
                    answer.shown()
                ));
            }
            in_order(cursor, &events).map_err(|why| format!("since={cursor}: {why}"))?;
            cursor = events.last().map_or(cursor, |e| e.id);
            all.extend(events);
            answers.push(answer);
            if cursor >= until {
                return Ok(all);
            }
        }
        Err(format!(
            "{MAX_CATCH_UP_POLLS} polls from since={since} never reached event {until}"
        ))
    }

    /// `news` and `headers` on the events after the first publish: `a` and `b` among them
    /// as published, and none of the refused texts.
    fn news(&mut self, report: &mut Report, marker: &Event, a: &Event, b: &Event) {
        let mut answers = Vec::new();
        let events = match self.catch_up(marker.id, b.id, &mut answers) {
            Ok(events) => events,
            Err(why) => {
                report.record(&NEWS, Err(why));
                Vec::new()
            }
        };
        for answer in &answers {
            report.record(&HEADERS, poll_headers(answer));
        }
        if events.is_empty() {
            return;
        }
        let shown = || {
            let texts: Vec<String> = answers.iter().map(|a| show(&a.body)).collect();
            texts.join("\n")
        };
        let found = |wanted: &Event| events.iter().position(|e| e.id == wanted.id);
        report.record(
            &NEWS,
            match (found(a), found(b)) {
                (Some(i), Some(j)) if events[i] == *a && events[j] == *b => Ok(()),
                (Some(_), Some(_)) => Err(format!(
                    "the events are not the objects the publish answered ({a:?}, {b:?}):\n{}",
                    shown()
                )),
                _ => Err(format!(
                    "events {} and {} are missing after since={}:\n{}",
                    a.id,
                    b.id,
                    marker.id,
                    shown()
                )),
            },
        );
        let leaked = |word: &str| {
            let text = format!("check {} {word}", self.nonce);
            events.iter().find(|e| e.text.starts_with(&text)).cloned()
        };
        if let Some(event) = leaked("refused") {
            let why = format!("a refused publish is in the log anyway: {event:?}");
            report.record(&PUBLISH_REFUSED, Err(why));
        }
        if let Some(event) = leaked("foreign") {
            let why = format!("the foreign page's publish is in the log anyway: {event:?}");
            report.record(&PUBLISH_ORIGIN, Err(why));
        }
    }

    /// `since=000a&_=…`: leading zeros and another parameter; the answer starts after `a`.
    fn since_forms(&mut self, a: &Event, b: &Event) -> Result<(), String> {
        let query = format!("_=1795453787612&since=000{}", a.id);
        let (answer, events) = self.poll(&query)?;
        match events.first() {
            Some(first) if first.id > a.id && first.id <= b.id => {
                in_order(a.id, &events).map_err(|why| format!("GET ?{query}: {why}"))
            }
            _ => Err(format!(
                "GET ?{query} should answer the events after {} at once, from {} or before: {}",
                a.id,
                b.id,
                answer.shown()
            )),
        }
    }

    /// A cursor above the newest id, then the largest one: both start over from 0.
    fn since_ahead(&mut self, b: &Event) -> Result<(), String> {
        let ahead = self.newest.saturating_add(1_000_000_000).to_string();
        for since in [ahead.as_str(), LARGEST] {
            let (answer, events) = self.poll(&format!("since={since}"))?;
            match events.first() {
                Some(first) if first.id <= b.id => in_order(0, &events)?,
                _ => {
                    return Err(format!(
                        "since={since} is above every id: it should start over, with the \
                         oldest events at once (event {} is one): {}",
                        b.id,
                        answer.shown()
                    ));
                }
            }
        }
        Ok(())
    }

    /// `hold`: a poll from the newest id stays silent for `HOLD_PROBE`, then the check
    /// publishes and the poll must answer with that event. An early answer with someone
    /// else's news (webwire's ticker) is no failure: the probe is made again from there.
    fn hold(&mut self, report: &mut Report) {
        for _ in 0..HOLD_TRIES {
            let since = self.newest;
            let url = self.target.url.with_query(&format!("since={since}"));
            let held = Connection::open(&url, self.target.patience).and_then(|mut connection| {
                let request = client::request("GET", &url, &[("Connection", "close")], b"");
                connection.send(&request)?;
                let early = answers_within(connection.stream(), HOLD_PROBE)?;
                Ok((connection, early))
            });
            let (mut connection, early) = match held {
                Ok(held) => held,
                Err(why) => return report.record(&HOLD, Err(why)),
            };
            if early {
                let answer = connection.read_response(false);
                let events = answer.as_ref().map_err(Clone::clone).and_then(events_in);
                match (answer, events) {
                    (Ok(_), Ok(events))
                        if !events.is_empty() && in_order(since, &events).is_ok() =>
                    {
                        self.newest = self.newest.max(events.last().map_or(0, |e| e.id));
                        continue; // someone else's news: probe again from there
                    }
                    (Ok(answer), _) => {
                        return report.record(
                            &HOLD,
                            Err(format!(
                                "since={since} (the newest id) answered within {} ms, before \
                                 anything was published: {}",
                                HOLD_PROBE.as_millis(),
                                answer.shown()
                            )),
                        );
                    }
                    (Err(why), _) => return report.record(&HOLD, Err(why)),
                }
            }
            let text = format!("check {} held", self.nonce);
            let Some(event) = self.publish(&text, report) else {
                return report.skip(&HOLD, "the publish that should end the hold failed");
            };
            let answer = connection
                .read_response(false)
                .map_err(|why| format!("after the publish of event {}: {why}", event.id));
            let answer = match answer {
                Ok(answer) => answer,
                Err(why) => return report.record(&HOLD, Err(why)),
            };
            report.record(&HEADERS, poll_headers(&answer));
            // The answer has the check's event, or news someone published just before it.
            let answered = |events: &[Event]| {
                !events.is_empty()
                    && in_order(since, events).is_ok()
                    && (events
                        .iter()
                        .any(|e| e.id == event.id && e.text == event.text)
                        || events.iter().all(|e| e.id < event.id))
            };
            return report.record(
                &HOLD,
                match events_in(&answer) {
                    Ok(events) if answered(&events) => Ok(()),
                    _ => Err(format!(
                        "the held since={since} should answer with event {} ({:?}): {}",
                        event.id,
                        event.text,
                        answer.shown()
                    )),
                },
            );
        }
        report.record(
            &HOLD,
            Err(format!(
                "{HOLD_TRIES} probes in a row were answered with someone else's news: is \
                 something publishing more than once every {} ms?",
                HOLD_PROBE.as_millis()
            )),
        );
    }

    /// `lossless`: `POLLERS` threads poll from the newest id while one publishes `MESSAGES`.
    fn lossless(&mut self, report: &mut Report) -> Result<(), String> {
        let since = self.newest;
        let prefix = format!("check {} lossless ", self.nonce);
        let last_text = format!("{prefix}{}", MESSAGES - 1);
        let started = std::sync::Barrier::new(POLLERS + 1);
        let stop = AtomicBool::new(false);
        let target = self.target;
        let (seen, published) = thread::scope(|scope| {
            let pollers: Vec<_> = (0..POLLERS)
                .map(|_| {
                    let (started, stop, last_text) = (&started, &stop, &last_text);
                    scope.spawn(move || poller(target, since, last_text, started, stop))
                })
                .collect();
            started.wait();
            thread::sleep(SETTLE);
            let mut published = Vec::new();
            for i in 0..MESSAGES {
                if i > 0 && i % BURST == 0 {
                    thread::sleep(SETTLE); // the pollers catch up, and most are held again
                }
                match self.publish(&format!("{prefix}{i}"), report) {
                    Some(event) => published.push(event),
                    None => break,
                }
            }
            if published.len() < MESSAGES {
                stop.store(true, Ordering::SeqCst); // the pollers will wait in vain
            }
            let seen: Vec<_> = pollers
                .into_iter()
                .map(|poller| {
                    poller
                        .join()
                        .unwrap_or_else(|_| Err("a poller panicked".into()))
                })
                .collect();
            (seen, published)
        });
        if published.len() < MESSAGES {
            return Err(format!(
                "the publisher stopped after {} of {MESSAGES} messages",
                published.len()
            ));
        }
        for (n, seen) in seen.into_iter().enumerate() {
            let seen = seen.map_err(|why| format!("poller {n}: {why}"))?;
            let ours: Vec<&Event> = seen
                .iter()
                .filter(|e| e.text.starts_with(&prefix))
                .collect();
            for (i, wanted) in published.iter().enumerate() {
                match ours.get(i) {
                    Some(&got) if got.id == wanted.id && got.text == wanted.text => {}
                    got => {
                        let ids: Vec<u64> = ours.iter().map(|e| e.id).collect();
                        let got = got.map_or("nothing more".into(), |e| format!("id {}", e.id));
                        return Err(format!(
                            "poller {n} (from since={since}) should get message {i} (id {}) \
                             next, and got {got}; the ids of the messages it got: {ids:?}",
                            wanted.id,
                        ));
                    }
                }
            }
            if ours.len() > published.len() {
                return Err(format!("poller {n} got more messages than were published"));
            }
        }
        Ok(())
    }
}

/// One poller of `lossless`: polls from `since` until it has the event with `last_text`,
/// every answer in id order after its cursor.
fn poller(
    target: &Target,
    since: u64,
    last_text: &str,
    started: &std::sync::Barrier,
    stop: &AtomicBool,
) -> Result<Vec<Event>, String> {
    let mut cursor = since;
    let mut seen: Vec<Event> = Vec::new();
    let mut first = true;
    loop {
        let url = target.url.with_query(&format!("since={cursor}"));
        let answer = Connection::open(&url, target.patience).and_then(|mut connection| {
            let request = client::request("GET", &url, &[("Connection", "close")], b"");
            connection.send(&request)?;
            if std::mem::take(&mut first) {
                started.wait();
            }
            connection.read_response(false)
        });
        if first {
            started.wait(); // the first request failed: let the publisher go on all the same
            first = false;
        }
        let answer = answer
            .map_err(|why| format!("GET ?since={cursor}: {why} (it had {} events)", seen.len()))?;
        let events = events_in(&answer).map_err(|why| format!("GET ?since={cursor}: {why}"))?;
        in_order(cursor, &events).map_err(|why| format!("GET ?since={cursor}: {why}"))?;
        let done = events.iter().any(|e| e.text == last_text);
        cursor = events.last().map_or(cursor, |e| e.id);
        if events.is_empty() {
            thread::sleep(AFTER_EMPTY);
        }
        seen.extend(events);
        if done || stop.load(Ordering::SeqCst) {
            return Ok(seen);
        }
    }
}

/// Whether the server sends anything (or closes) on `stream` within `wait`. Peeks, so what
/// came is still there for the response reader.
fn answers_within(stream: &TcpStream, wait: Duration) -> Result<bool, String> {
    stream
        .set_read_timeout(Some(wait))
        .map_err(|e| format!("cannot wait on the socket: {e}"))?;
    let mut byte = [0u8; 1];
    loop {
        return match stream.peek(&mut byte) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(false),
            Err(e) => Err(format!("reading failed: {e}")),
        };
    }
}

/// `since-refused`: every cursor that is not ASCII digits within 64 bits gets 400.
fn since_refused(target: &Target) -> Result<(), String> {
    let queries = [
        "",
        "_=1795453787612",
        "since=",
        "since=abc",
        "since=-1",
        "since=+1",
        "since=%2B1",
        "since=1.5",
        "since=0x10",
        "since=18446744073709551616",
    ];
    for query in queries {
        let url = if query.is_empty() {
            target.url.with_target(target.url.path())
        } else {
            target.url.with_query(query)
        };
        let answer = client::get(&url, target.patience, &[])
            .map_err(|why| format!("GET {}: {why}", url.target))?;
        expect_status(&answer, 400, &format!("GET {}", url.target))?;
    }
    Ok(())
}

/// `methods`: a POST to the poll and a GET of the publish are refused, saying what works.
fn methods(target: &Target) -> Result<(), String> {
    let poll = target.url.with_query("since=0");
    let publish = target.url.joined("/publish");
    for (method, url, allowed) in [("POST", &poll, "GET"), ("GET", &publish, "POST")] {
        let answer = client::exchange(url, target.patience, method, &[], b"")
            .map_err(|why| format!("{method} {}: {why}", url.target))?;
        if answer.head.status != 405 || !answer.head.lists("Allow", allowed) {
            return Err(format!(
                "{method} {} should get 405 with Allow listing {allowed}: {}",
                url.target,
                answer.shown()
            ));
        }
    }
    Ok(())
}

fn expect_status(answer: &Exchange, status: u16, what: &str) -> Result<(), String> {
    if answer.head.status == status {
        Ok(())
    } else {
        Err(format!(
            "{what}: {} where {status} is due: {}",
            answer.head.status,
            answer.shown()
        ))
    }
}

/// `headers`, on one poll answer.
fn poll_headers(answer: &Exchange) -> Result<(), String> {
    let head = &answer.head;
    if head.media_type().as_deref() == Some("application/json")
        && head.lists("Cache-Control", "no-store")
        && head.header("Access-Control-Allow-Origin") == Some("*")
    {
        Ok(())
    } else {
        Err(format!(
            "a poll's answer needs Content-Type: application/json, Cache-Control: no-store and \
             Access-Control-Allow-Origin: *: {}",
            head.shown()
        ))
    }
}

fn json_200(head: &client::Head, what: &str) -> Result<(), String> {
    if head.status == 200 && head.media_type().as_deref() == Some("application/json") {
        Ok(())
    } else {
        Err(format!(
            "{what} should answer 200, application/json: {}",
            head.shown()
        ))
    }
}

/// The events of a poll's answer: 200 and a JSON array of event objects.
fn events_in(answer: &Exchange) -> Result<Vec<Event>, String> {
    if answer.head.status != 200 {
        return Err(format!("status {}: {}", answer.head.status, answer.shown()));
    }
    let Json::Array(items) = parse(&answer.body)? else {
        return Err(format!("not a JSON array: {}", show(&answer.body)));
    };
    items
        .iter()
        .map(event_of)
        .collect::<Result<_, _>>()
        .map_err(|why| format!("{why}: {}", show(&answer.body)))
}

/// Every id after `since`, each above the one before.
fn in_order(since: u64, events: &[Event]) -> Result<(), String> {
    let mut before = since;
    for event in events {
        if event.id <= before {
            let ids: Vec<u64> = events.iter().map(|e| e.id).collect();
            return Err(format!(
                "the ids {ids:?} are not each above the one before, starting after {since}"
            ));
        }
        before = event.id;
    }
    Ok(())
}

fn event_of(value: &Json) -> Result<Event, String> {
    let Json::Object(fields) = value else {
        return Err("an event is not a JSON object".into());
    };
    let field = |name: &str| fields.iter().find(|(n, _)| n == name).map(|(_, v)| v);
    let whole = |name: &str| match field(name) {
        Some(Json::Number(n)) if is_whole_number(n) => n.parse::<u64>().ok(),
        _ => None,
    };
    let id = whole("id").ok_or("an event without a whole-number \"id\"")?;
    let Some(Json::String(text)) = field("text") else {
        return Err("an event without a string \"text\"".into());
    };
    Ok(Event {
        id,
        text: text.clone(),
        ts: whole("ts"),
    })
}

/// `text` as a form body `text=…`, as a browser encodes it: a space is `+`, every byte but
/// the unreserved ones `%XX`.
fn form(text: &str) -> String {
    let mut out = String::from("text=");
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(byte as char);
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// A word that tells this run's texts from any other's: the time and the process.
fn nonce() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64 ^ d.as_secs());
    format!("{:x}", nanos ^ (u64::from(std::process::id()) << 32))
}

// ---- JSON, read -------------------------------------------------------------------------------
//
// The answers are read with the checker's JSON reader (`json_reader.rs`): what a server in any
// language wrote, any spacing, any order of keys, any escapes. Numbers are kept as written: an
// id is checked as digits, never as a float.

/// `bytes` as one JSON value; bytes that are not UTF-8 are not JSON either (RFC 8259 §8.1).
fn parse(bytes: &[u8]) -> Result<Json, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not JSON: not UTF-8".to_string())?;
    read_json(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_read_whatever_the_spacing_order_and_escapes() {
        let body = br#" [ {"ts":1795453787612, "text":"say \"hi\"\n\u003cb> \ud83d\ude00 \u00e9",
            "id": 7}, {"id":8,"text":"","extra":[1,{"a":null}],"ts":true} ] "#;
        let Ok(Json::Array(items)) = parse(body) else {
            panic!("an array");
        };
        let events: Vec<Event> = items.iter().filter_map(|i| event_of(i).ok()).collect();
        assert_eq!(
            events,
            [
                Event {
                    id: 7,
                    text: "say \"hi\"\n<b> 😀 é".into(),
                    ts: Some(1_795_453_787_612)
                },
                Event {
                    id: 8,
                    text: String::new(),
                    ts: None
                },
            ]
        );
    }

    #[test]
    fn what_is_not_json_or_not_an_event_says_so() {
        for bad in [
            &b"[1,]"[..],
            b"{\"id\":1",
            b"\"\\ud83d\"",
            b"[] x",
            b"[\"\x01\"]",
        ] {
            assert!(parse(bad).is_err(), "{}", show(bad));
        }
        for bad in [
            r#"{"id":-1,"text":"x"}"#,
            r#"{"id":1.0,"text":"x"}"#,
            r#"{"id":1}"#,
        ] {
            let Ok(json) = parse(bad.as_bytes()) else {
                panic!("{bad} is JSON");
            };
            assert!(event_of(&json).is_err(), "{bad}");
        }
    }

    #[test]
    fn texts_are_sent_as_a_browser_form() {
        assert_eq!(form("a b+c&d=é"), "text=a+b%2Bc%26d%3D%C3%A9");
    }

    #[test]
    fn ids_must_climb_after_the_cursor() {
        let event = |id| Event {
            id,
            text: String::new(),
            ts: None,
        };
        assert!(in_order(3, &[event(4), event(9)]).is_ok());
        assert!(in_order(3, &[event(3)]).is_err());
        assert!(in_order(3, &[event(5), event(4)]).is_err());
    }
}
