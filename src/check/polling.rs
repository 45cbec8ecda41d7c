//! The rules of short polling (`docs/03-polling.md`), checked against `GET <url>`.
//!
//! The chapter's endpoint is the simplest there is: `GET /time` answers the server's clock at
//! once, never stored by a cache, with the pace the page should keep. The rest is HTTP as any
//! endpoint speaks it, and the chapter says so: a query string is ignored (old jQuery's
//! cache-buster `?_=…`), `HEAD` gets the head alone, another method gets `405` and `Allow`.

use std::time::{Duration, Instant};

use super::client::{self, Connection, Exchange, Head, Url};
use super::{Report, Rule, Target, Technique, show};

pub static TECHNIQUE: Technique = Technique {
    name: "polling",
    chapter: "03-polling.md",
    endpoint: "/time",
    rules: &[
        &ANSWERS,
        &NO_STORE,
        &INTERVAL,
        &CLOCK,
        &QUERY_IGNORED,
        &HEAD,
        &METHODS,
    ],
    run,
};

static ANSWERS: Rule = Rule {
    id: "polling.answers",
    says: "GET answers 200 at once, with a text/plain body",
    section: "Exercise: build it yourself",
};
static NO_STORE: Rule = Rule {
    id: "polling.no-store",
    says: "the answer carries Cache-Control: no-store, so no cache answers a poll",
    section: "Exercise: build it yourself",
};
static INTERVAL: Rule = Rule {
    id: "polling.interval",
    says: "X-Poll-Interval-Ms is a whole number of milliseconds, at least 1",
    section: "Exercise: build it yourself",
};
static CLOCK: Rule = Rule {
    id: "polling.clock",
    says: "the body is the server's clock as an IMF-fixdate and a line feed",
    section: "Exercise: build it yourself",
};

static QUERY_IGNORED: Rule = Rule {
    id: "polling.query-ignored",
    says: "a query string is ignored: GET <url>?_=1795452005123 answers as GET <url> does",
    section: "Exercise: build it yourself",
};
static HEAD: Rule = Rule {
    id: "polling.head",
    says: "HEAD answers the head a GET gets (200, the same Content-Type, Cache-Control and \
           X-Poll-Interval-Ms) and no body",
    section: "Exercise: build it yourself",
};
static METHODS: Rule = Rule {
    id: "polling.methods",
    says: "any other method (POST) gets 405 Method Not Allowed with an Allow header listing GET",
    section: "Exercise: build it yourself",
};

fn run(target: &Target, report: &mut Report) {
    let answer = match client::get(&target.url, target.patience, &[]) {
        Ok(answer) => answer,
        Err(why) => {
            report.record(&ANSWERS, Err(why));
            return;
        }
    };
    report.record(&ANSWERS, answers(&answer));
    if !report.passed(&ANSWERS) {
        return;
    }
    report.record(
        &NO_STORE,
        match answer.head.header("Cache-Control") {
            Some(value)
                if value
                    .split(',')
                    .any(|d| d.trim().eq_ignore_ascii_case("no-store")) =>
            {
                Ok(())
            }
            _ => Err(format!(
                "no Cache-Control: no-store in {}",
                answer.head.shown()
            )),
        },
    );
    report.record(
        &INTERVAL,
        match answer.head.header("X-Poll-Interval-Ms") {
            Some(value) if is_whole_number(value) && value != "0" && !value.starts_with('0') => {
                Ok(())
            }
            _ => Err(format!(
                "X-Poll-Interval-Ms missing or not a whole number in {}",
                answer.head.shown()
            )),
        },
    );
    report.record(&CLOCK, clock(&answer));

    // The cache-buster jQuery's `cache: false` appended: `_=` and the time in milliseconds.
    let busted = target.url.with_query("_=1795452005123");
    report.record(
        &QUERY_IGNORED,
        client::get(&busted, target.patience, &[])
            .and_then(|busted| same_answer(&answer, &busted))
            .map_err(|why| format!("GET {}: {why}", busted.target)),
    );
    report.record(&HEAD, same_head(target, &answer.head));
    report.record(&METHODS, post_is_refused(target));
}

/// The answer to a poll with a query is the answer without one: 200, the same media type,
/// a body as long (a clock at another second is another answer, but never another length).
fn same_answer(plain: &Exchange, busted: &Exchange) -> Result<(), String> {
    if busted.head.status != 200
        || busted.head.media_type() != plain.head.media_type()
        || busted.body.len() != plain.body.len()
    {
        return Err(format!(
            "not the answer a GET without the query gets: {}",
            busted.shown()
        ));
    }
    Ok(())
}

/// `HEAD <url>`: the head of a GET, header for header where the chapter names them, and
/// not a byte of body.
fn same_head(target: &Target, get: &Head) -> Result<(), String> {
    let head = head_without_body(&target.url, target.patience)?;
    if head.status != 200 {
        return Err(format!("HEAD answered {}: {}", head.status, head.shown()));
    }
    for name in ["Content-Type", "Cache-Control", "X-Poll-Interval-Ms"] {
        if head.header(name) != get.header(name) {
            return Err(format!(
                "HEAD's {name} is not the GET's ({:?}): {}",
                get.header(name).unwrap_or("none"),
                head.shown()
            ));
        }
    }
    Ok(())
}

fn post_is_refused(target: &Target) -> Result<(), String> {
    let answer = client::exchange(&target.url, target.patience, "POST", &[], b"")?;
    if answer.head.status != 405 {
        return Err(format!(
            "POST answered {}: {}",
            answer.head.status,
            answer.shown()
        ));
    }
    if !answer.head.lists("Allow", "GET") {
        return Err(format!(
            "a 405 must say which methods work, in Allow (RFC 9110 §15.5.6): {}",
            answer.head.shown()
        ));
    }
    Ok(())
}

/// How long the checker waits, after a HEAD's head, for the server to close: body bytes
/// would come at once, with the head. A server that keeps the connection open although
/// the request said `Connection: close` is not waited for longer than this.
const AFTER_HEAD: Duration = Duration::from_millis(500);

/// Sends `HEAD <url>` with `Connection: close` and reads its head; an error if any byte
/// follows it (RFC 9110 §9.3.2: the server MUST NOT send content in the response to HEAD).
pub fn head_without_body(url: &Url, patience: Duration) -> Result<Head, String> {
    let mut connection = Connection::open(url, patience)?;
    connection.send(&client::request(
        "HEAD",
        url,
        &[("Connection", "close")],
        b"",
    ))?;
    let head = connection.read_head(true)?;
    let _ = connection.closes_before(Instant::now() + AFTER_HEAD.min(patience))?;
    let after = connection.take_buffered();
    if !after.is_empty() {
        return Err(format!(
            "HEAD got a body: {} after the head {}",
            show(&after),
            head.shown()
        ));
    }
    Ok(head)
}

fn answers(answer: &Exchange) -> Result<(), String> {
    if answer.head.status != 200 {
        return Err(format!("status {}: {}", answer.head.status, answer.shown()));
    }
    if answer.head.media_type().as_deref() != Some("text/plain") {
        return Err(format!("not text/plain: {}", answer.head.shown()));
    }
    Ok(())
}

fn clock(answer: &Exchange) -> Result<(), String> {
    let text = answer.text();
    let date = text.strip_suffix('\n').ok_or_else(|| {
        format!(
            "the body does not end with a line feed: {}",
            show(&answer.body)
        )
    })?;
    // The checker and the server may run on different machines with different clocks: any
    // well-formed date passes, a malformed one never does.
    if !is_imf_fixdate(date) {
        return Err(format!(
            "not an IMF-fixdate like \"Mon, 23 Nov 2026 16:40:05 GMT\": {}",
            show(&answer.body)
        ));
    }
    Ok(())
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` (RFC 9110 §5.6.7), checked character class by class.
pub fn is_imf_fixdate(text: &str) -> bool {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| b[range].iter().all(u8::is_ascii_digit);
    b.len() == 29
        && DAYS.contains(&&text[0..3])
        && &text[3..5] == ", "
        && digits(5..7)
        && b[7] == b' '
        && MONTHS.contains(&&text[8..11])
        && b[11] == b' '
        && digits(12..16)
        && b[16] == b' '
        && digits(17..19)
        && b[19] == b':'
        && digits(20..22)
        && b[22] == b':'
        && digits(23..25)
        && &text[25..] == " GMT"
}

/// One or more ASCII digits.
pub fn is_whole_number(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}
