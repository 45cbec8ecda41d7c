//! The rules of JSONP (`docs/09-jsonp.md`, its exercise), checked against `GET <url>?cb=NAME`.
//!
//! The server writes a word of the requester's into a script that runs with the page's powers,
//! so most rules here are about what may reach that script: only a dotted JavaScript name as
//! the callback (anything else is a plain-text 400 that no browser runs), and the echoed query
//! only inside JSON strings, escaped so that nothing ends them early.
//!
//! The argument is read as JSON, not compared byte for byte: a server in another language may
//! space it or order its members differently, and a browser would not mind. What is compared
//! exactly is what a browser *would* mind: the bytes around the argument and the escapes.

use super::client::{self, Exchange, Url};
use super::json_reader::{Json, read_json_prefix};
use super::{Report, Rule, Target, Technique, show};
use crate::json;

pub static TECHNIQUE: Technique = Technique {
    name: "jsonp",
    chapter: "09-jsonp.md",
    endpoint: "/jsonp",
    rules: &[
        &SCRIPT,
        &NOSNIFF,
        &SHAPE,
        &NAMES,
        &BAD_NAMES,
        &ONE_CALLBACK,
        &ECHO,
        &ESCAPES,
    ],
    run,
};

/// The exercise's sections (chapter 09): which callbacks, and the script around them.
const CALLBACK_SECTION: &str = "The callback";
const SCRIPT_SECTION: &str = "The script";

static SCRIPT: Rule = Rule {
    id: "jsonp.script",
    says: "GET ?cb=NAME answers 200 with Content-Type: text/javascript (a charset may follow)",
    section: SCRIPT_SECTION,
};
static NOSNIFF: Rule = Rule {
    id: "jsonp.nosniff",
    says: "the script and every 400 carry X-Content-Type-Options: nosniff",
    section: SCRIPT_SECTION,
};
static SHAPE: Rule = Rule {
    id: "jsonp.shape",
    says: "the body is exactly /**/NAME(ARG); where ARG is a JSON object with time, poll_ms \
           and query, and nothing else",
    section: SCRIPT_SECTION,
};
static NAMES: Rule = Rule {
    id: "jsonp.names",
    says: "every dotted JavaScript name of at most 64 characters is a callback, given as cb= or \
           callback=, percent-decoded, and the script calls exactly it",
    section: CALLBACK_SECTION,
};
static BAD_NAMES: Rule = Rule {
    id: "jsonp.bad-names",
    says: "a callback that is too long, not a dotted name, or starts with a reserved word is \
           400 text/plain with its one-line reason, which never repeats the name",
    section: CALLBACK_SECTION,
};
static ONE_CALLBACK: Rule = Rule {
    id: "jsonp.one-callback",
    says: "no callback, or more than one (cb= and callback=, or either twice), is 400 \
           text/plain with its one-line reason",
    section: CALLBACK_SECTION,
};
static ECHO: Rule = Rule {
    id: "jsonp.echo",
    says: "query holds every other parameter, decoded (+ is a space), the first value of a \
           repeated name, \"\" for a bare name",
    section: SCRIPT_SECTION,
};
static ESCAPES: Rule = Rule {
    id: "jsonp.escapes",
    says: "nothing from the query leaves its JSON string: no raw <, U+2028, U+2029 or control \
           character in the body, and every value comes back intact",
    section: SCRIPT_SECTION,
};

/// The reasons of the five refusals, each one line (chapter 09, "Which names are callbacks").
const NOT_A_NAME: &str = "a callback must be a JavaScript name, or names joined by dots: \
                          letters, digits, _ and $, not starting with a digit\n";
const RESERVED: &str = "a callback cannot start with a JavaScript reserved word\n";
const TOO_LONG: &str = "a callback name may be at most 64 characters\n";
const MISSING: &str = "a callback name is needed: ?cb=NAME or ?callback=NAME\n";
const REPEATED: &str = "give the callback once: cb= or callback=, not both or twice\n";

/// The smallest `time` that reads as milliseconds since 1970 (September 2001): a server that
/// sends seconds, as Unix clocks count, sends ten digits and fails.
const MIN_TIME_MILLIS: u64 = 1_000_000_000_000;

fn run(target: &Target, report: &mut Report) {
    let url = &target.url;
    let ask = |query: &str| client::get(&url.with_query(query), target.patience, &[]);
    let answer = match ask("cb=show&name=jimmy&age=18") {
        Ok(answer) => answer,
        Err(why) => {
            report.record(&SCRIPT, Err(why));
            return;
        }
    };
    report.record(&SCRIPT, script(&answer));
    report.record(&NOSNIFF, nosniff(&answer));
    report.record(&SHAPE, shape(&answer, "show"));
    report.record(&NAMES, names(target));
    let bad = refusals(target, &bad_names(), report);
    report.record(&BAD_NAMES, bad);
    let missing_or_twice = refusals(target, &ONE_CALLBACK_CASES, report);
    report.record(&ONE_CALLBACK, missing_or_twice);
    report.record(&ECHO, echo(url, target));
    report.record(&ESCAPES, escapes(url, target));
}

fn script(answer: &Exchange) -> Result<(), String> {
    if answer.head.status != 200 {
        return Err(format!("status {}: {}", answer.head.status, answer.shown()));
    }
    match answer.head.media_type().as_deref() {
        Some("text/javascript") => Ok(()),
        _ => Err(format!(
            "not Content-Type: text/javascript (RFC 9239's one name for JavaScript): {}",
            answer.head.shown()
        )),
    }
}

fn nosniff(answer: &Exchange) -> Result<(), String> {
    match answer.head.header("X-Content-Type-Options") {
        Some(value) if value.eq_ignore_ascii_case("nosniff") => Ok(()),
        _ => Err(format!(
            "no X-Content-Type-Options: nosniff in {}",
            answer.head.shown()
        )),
    }
}

/// The body's exact frame, `/**/NAME(` … `);`, and the argument's three members.
fn shape(answer: &Exchange, name: &str) -> Result<(), String> {
    let shown = || show(&answer.body);
    let text = std::str::from_utf8(&answer.body)
        .map_err(|_| format!("the body is not UTF-8: {}", shown()))?;
    let opening = format!("/**/{name}(");
    let rest = text
        .strip_prefix(&opening)
        .ok_or_else(|| format!("the body does not start with {opening}: {}", shown()))?;
    let (argument, used) = read_json_prefix(rest).map_err(|e| format!("{e}: {}", shown()))?;
    if &rest[used..] != ");" {
        return Err(format!(
            "after the argument comes {}, not exactly \");\" and the end: {}",
            show(&rest.as_bytes()[used..]),
            shown()
        ));
    }
    let Json::Object(members) = &argument else {
        return Err(format!("the argument is not a JSON object: {}", shown()));
    };
    let mut names: Vec<&str> = members.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    if names != ["poll_ms", "query", "time"] {
        return Err(format!(
            "the argument's members are {names:?}, not time, poll_ms and query: {}",
            shown()
        ));
    }
    match argument.get("time").and_then(Json::as_whole) {
        Some(time) if time >= MIN_TIME_MILLIS => {}
        _ => {
            return Err(format!(
                "time is not a whole number of milliseconds since 1970 (like Date.now()): {}",
                shown()
            ));
        }
    }
    if argument.get("poll_ms").and_then(Json::as_whole).is_none() {
        return Err(format!("poll_ms is not a whole number: {}", shown()));
    }
    match argument.get("query") {
        Some(Json::Object(_)) => Ok(()),
        _ => Err(format!("query is not a JSON object: {}", shown())),
    }
}

/// Each good name, as the query spells it and as the script must call it.
const GOOD_NAMES: [(&str, &str); 11] = [
    ("cb=show", "show"),
    ("callback=processJSON", "processJSON"),
    (
        "callback=jQuery360071826423583218_1700000000000",
        "jQuery360071826423583218_1700000000000",
    ),
    ("cb=%24", "$"),
    ("cb=_", "_"),
    ("cb=A_%249", "A_$9"),
    ("cb=app.on_data", "app.on_data"),
    ("callback=%24.fn.x", "$.fn.x"),
    ("cb=a.while", "a.while"),
    ("cb=let", "let"),
    ("cb=undefined", "undefined"),
];

fn names(target: &Target) -> Result<(), String> {
    // The longest allowed, 64 characters: one more is a refusal (`bad_names`).
    let longest = format!("a{}", "b".repeat(63));
    let longest_query = format!("cb={longest}");
    let mut cases: Vec<(&str, &str)> = GOOD_NAMES.to_vec();
    cases.push((&longest_query, &longest));
    for (query, name) in cases {
        let answer = client::get(&target.url.with_query(query), target.patience, &[])?;
        // The frame's `/**/` is `jsonp.shape`'s business; here, only who is called.
        let text = String::from_utf8_lossy(&answer.body);
        let call = text.strip_prefix("/**/").unwrap_or(&text);
        if answer.head.status != 200 || !call.starts_with(&format!("{name}(")) {
            return Err(format!(
                "?{query} should be a script calling {name}(…): {}",
                answer.shown()
            ));
        }
    }
    Ok(())
}

/// Each refused query and its reason.
fn bad_names() -> Vec<(String, &'static str)> {
    let mut cases: Vec<(String, &'static str)> = [
        ("cb=alert(1)//", NOT_A_NAME),
        ("cb=alert%281%29%2F%2F", NOT_A_NAME),
        ("cb=a;alert(1)", NOT_A_NAME),
        ("cb=a%0Aalert(1)", NOT_A_NAME),
        ("cb=a%E2%80%A8alert(1)", NOT_A_NAME),
        ("cb=a+b", NOT_A_NAME),
        ("cb=a-b", NOT_A_NAME),
        ("cb=top%5B0%5D", NOT_A_NAME),
        ("cb=", NOT_A_NAME),
        ("cb=1a", NOT_A_NAME),
        ("cb=a.1b", NOT_A_NAME),
        ("cb=a..b", NOT_A_NAME),
        ("cb=.a", NOT_A_NAME),
        ("cb=a.", NOT_A_NAME),
        ("cb=%C3%A9", NOT_A_NAME),
        ("cb=%5Cu0061", NOT_A_NAME),
        ("cb=%2F*x*%2Fa", NOT_A_NAME),
        (
            "callback=%3C%2Fscript%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E",
            NOT_A_NAME,
        ),
        ("cb=while", RESERVED),
        ("cb=this.x", RESERVED),
        ("cb=true", RESERVED),
        ("callback=import", RESERVED),
    ]
    .iter()
    .map(|(query, reason)| (query.to_string(), *reason))
    .collect();
    cases.push((format!("cb={}", "a".repeat(65)), TOO_LONG));
    cases
}

const ONE_CALLBACK_CASES: [(&str, &str); 5] = [
    ("", MISSING),
    ("name=jimmy&age=18", MISSING),
    ("cb=a&callback=b", REPEATED),
    ("cb=a&cb=a", REPEATED),
    ("cb=ok&callback=alert(1)//", REPEATED),
];

/// Every query in `cases` is a 400, text/plain, whose body is exactly its reason. The 400s'
/// `nosniff` is `jsonp.nosniff`'s, recorded here because only refusals show it.
fn refusals<Q: AsRef<str>>(
    target: &Target,
    cases: &[(Q, &str)],
    report: &mut Report,
) -> Result<(), String> {
    for (query, reason) in cases {
        let query = query.as_ref();
        let url = if query.is_empty() {
            target.url.with_target(target.url.path())
        } else {
            target.url.with_query(query)
        };
        let answer = client::get(&url, target.patience, &[])?;
        report.record(&NOSNIFF, nosniff(&answer));
        let plain = answer.head.media_type().as_deref() == Some("text/plain");
        if answer.head.status != 400 || !plain || answer.body != reason.as_bytes() {
            return Err(format!(
                "{} should be 400, text/plain, with the body {}: {}",
                url.target,
                show(reason.as_bytes()),
                answer.shown()
            ));
        }
    }
    Ok(())
}

fn echo(url: &Url, target: &Target) -> Result<(), String> {
    let query = "name=jimmy&age=18&cb=x&name=again&flag&text=two+words%21&empty=&&\
                 caf%C3%A9=%C3%A9t%C3%A9";
    let expected = [
        ("name", "jimmy"),
        ("age", "18"),
        ("flag", ""),
        ("text", "two words!"),
        ("empty", ""),
        ("café", "été"),
    ];
    let answer = client::get(&url.with_query(query), target.patience, &[])?;
    let echoed = echoed_query(&answer, "x")?;
    // Any order: a JSON object's members have none a browser sees.
    let mut got: Vec<(&str, &str)> = Vec::new();
    for (name, value) in &echoed {
        let Json::String(value) = value else {
            return Err(format!("query.{name} is not a string: {}", answer.shown()));
        };
        got.push((name, value));
    }
    let mut want = expected.to_vec();
    got.sort_unstable();
    want.sort_unstable();
    if got != want {
        let listed = |pairs: &[(&str, &str)]| {
            let members: Vec<String> = pairs
                .iter()
                .map(|(n, v)| format!("{}:{}", json::string(n), json::string(v)))
                .collect();
            format!("{{{}}}", members.join(","))
        };
        return Err(format!(
            "?{query} should echo the query {} (in any order), not {}",
            listed(&want),
            listed(&got)
        ));
    }
    Ok(())
}

fn escapes(url: &Url, target: &Target) -> Result<(), String> {
    // U+2028, U+2029, `</script>`, a quote, a backslash, LF, CR, TAB, U+0001; and a parameter
    // *name* that tries to close the string, the object and the call.
    let query = "cb=show&text=%E2%80%A8%E2%80%A9%3C%2Fscript%3E%22%5C%0A%0D%09%01\
                 &%22%7D)%3Balert(1)%2F%2F=x";
    let text = "\u{2028}\u{2029}</script>\"\\\n\r\t\u{1}";
    let answer = client::get(&url.with_query(query), target.patience, &[])?;
    let body = &answer.body;
    let raw = |what: &str| Err(format!("a raw {what} in the body: {}", show(body)));
    if body.contains(&b'<') {
        return raw("< (write it \\u003c)");
    }
    if client::find(body, "\u{2028}".as_bytes()).is_some()
        || client::find(body, "\u{2029}".as_bytes()).is_some()
    {
        return raw("U+2028 or U+2029 (write \\u2028, \\u2029)");
    }
    if body.iter().any(|&b| b < 0x20) {
        return raw("control character");
    }
    let echoed = echoed_query(&answer, "show")?;
    let value = |name: &str| echoed.iter().find(|(n, _)| n == name).map(|(_, v)| v);
    if value("text") != Some(&Json::String(text.to_string()))
        || value("\"})\u{3b}alert(1)//") != Some(&Json::String("x".to_string()))
    {
        return Err(format!(
            "the values did not come back intact: {}",
            show(body)
        ));
    }
    Ok(())
}

/// The members of the argument's `query`, found leniently (with or without `/**/`): the
/// frame is `jsonp.shape`'s rule, the content is the caller's.
fn echoed_query(answer: &Exchange, name: &str) -> Result<Vec<(String, Json)>, String> {
    let text = String::from_utf8_lossy(&answer.body);
    let call = format!("{name}(");
    let start = text
        .find(&call)
        .ok_or_else(|| format!("no call of {name}(…): {}", answer.shown()))?;
    let (argument, _) = read_json_prefix(&text[start + call.len()..])
        .map_err(|e| format!("{e}: {}", answer.shown()))?;
    match argument.get("query") {
        Some(Json::Object(members)) => Ok(members.clone()),
        _ => Err(format!("no query object: {}", answer.shown())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_reasons_are_one_line_each() {
        for reason in [NOT_A_NAME, RESERVED, TOO_LONG, MISSING, REPEATED] {
            assert_eq!(reason.matches('\n').count(), 1, "{reason:?}");
            assert!(reason.ends_with('\n'));
        }
    }
}
