//! The rules of short polling (`docs/03-polling.md`), checked against `GET <url>`.

use super::client::{self, Exchange};
use super::{Report, Rule, Target, Technique, show};

pub static TECHNIQUE: Technique = Technique {
    name: "polling",
    chapter: "03-polling.md",
    endpoint: "/time",
    rules: &[&ANSWERS, &NO_STORE, &INTERVAL, &CLOCK],
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
