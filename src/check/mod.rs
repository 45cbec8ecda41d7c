//! `webwire check <technique> <url>`: the rules of a chapter, run against any server.
//!
//! A learner who builds a technique's server side in another language (each chapter's
//! exercise) points this at it and reads one line per rule: pass or fail, the rule in words,
//! the chapter section that states it, and on a failure the bytes that broke it. The same
//! rules run against webwire itself in `tests/check/`, and each is shown to fail, alone,
//! against a server broken in exactly that way: a rule that cannot fail would prove nothing.
//!
//! This is a *client*, written by hand on `std::net` like the server: `client.rs` speaks
//! HTTP/1.1 and keeps every byte it read, so a failure can show them. It sits beside `main.rs`
//! at the top of the layers: it uses what lies below it (the WebSocket frame codec, the
//! defaults in `config`, and `scenarios` for `--client`), and nothing in the server uses it.
//!
//! A rule's id is `<technique>.<name>`, stable, listed in `docs/reference.md`. Its verdict is
//! pass, fail, or skip: skipped when a rule it stands on failed first (a stream that never
//! opened has no events to check). Only a run where every rule passed exits with status 0.

pub mod ajax;
pub mod client;
pub mod cors;
pub mod iframe_streaming;
pub mod image_ping;
pub mod json_reader;
pub mod jsonp;
pub mod long_polling;
pub mod polling;
pub mod sse;
pub mod websocket;
pub mod xhr_streaming;

use std::io::ErrorKind;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::json;
use client::Url;

/// One rule of a chapter, checkable from outside.
#[derive(Debug)]
pub struct Rule {
    /// `<technique>.<name>`, e.g. `sse.resume`: stable, listed in `docs/reference.md`.
    pub id: &'static str,
    /// The rule in words, one sentence a learner can act on.
    pub says: &'static str,
    /// The heading of the chapter section that states it (a test checks it exists).
    pub section: &'static str,
}

/// A technique the checker knows: its rules and how to run them.
pub struct Technique {
    /// The demo's name, as `cargo run -- <name>` takes it.
    pub name: &'static str,
    /// Its chapter's file in `docs/`.
    pub chapter: &'static str,
    /// The path of the endpoint on webwire, to show in usage lines: `/evt`.
    pub endpoint: &'static str,
    /// Every rule, in the order they are checked and printed.
    pub rules: &'static [&'static Rule],
    /// Runs the rules against `target`, recording a verdict for each in `report`.
    pub run: fn(&Target, &mut Report),
}

/// Every technique `check` knows, in the chapters' order.
pub static TECHNIQUES: &[&Technique] = &[
    &ajax::TECHNIQUE,
    &polling::TECHNIQUE,
    &long_polling::TECHNIQUE,
    &xhr_streaming::TECHNIQUE,
    &iframe_streaming::TECHNIQUE,
    &sse::TECHNIQUE,
    &cors::TECHNIQUE,
    &jsonp::TECHNIQUE,
    &image_ping::TECHNIQUE,
    &websocket::TECHNIQUE,
];

/// The technique named `name`, if `check` knows it.
pub fn find(name: &str) -> Option<&'static Technique> {
    TECHNIQUES.iter().copied().find(|t| t.name == name)
}

/// How long the checker waits for something that should happen before it calls it missing.
/// A server that is merely slow on a busy machine must not fail a rule, so it is generous;
/// `--patience` changes it.
pub const DEFAULT_PATIENCE: Duration = Duration::from_secs(10);

/// What to check: the URL the user gave, and how long to wait for an answer.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: Url,
    pub patience: Duration,
}

impl Target {
    pub fn new(url: &str) -> Result<Target, String> {
        Ok(Target {
            url: Url::parse(url)?,
            patience: DEFAULT_PATIENCE,
        })
    }
}

/// A rule's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// What was wrong, with the bytes that showed it.
    Fail(String),
    /// Why it was not checked: a rule it stands on failed.
    Skip(String),
}

/// One rule and its verdict.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub rule: &'static Rule,
    pub verdict: Verdict,
}

/// The verdicts of one run, gathered while a technique's rules run.
pub struct Report {
    rules: &'static [&'static Rule],
    verdicts: Vec<Option<Verdict>>,
}

impl Report {
    fn new(rules: &'static [&'static Rule]) -> Report {
        Report {
            rules,
            verdicts: vec![None; rules.len()],
        }
    }

    /// Records `result` for `rule`. A rule may be checked at several moments: one failure
    /// is enough, and the first one is kept (it is the clearest).
    pub fn record(&mut self, rule: &'static Rule, result: Result<(), String>) {
        let Some(slot) = self.slot(rule) else {
            return;
        };
        match (&slot, result) {
            (Some(Verdict::Fail(_)), _) => {}
            (_, Err(why)) => *slot = Some(Verdict::Fail(why)),
            (_, Ok(())) => *slot = Some(Verdict::Pass),
        }
    }

    /// Records that `rule` could not be checked, unless it already has a verdict.
    pub fn skip(&mut self, rule: &'static Rule, why: &str) {
        if let Some(slot) = self.slot(rule)
            && slot.is_none()
        {
            *slot = Some(Verdict::Skip(why.to_string()));
        }
    }

    /// Whether `rule` has passed (and not failed since).
    pub fn passed(&self, rule: &'static Rule) -> bool {
        self.index(rule)
            .is_some_and(|i| self.verdicts[i] == Some(Verdict::Pass))
    }

    fn index(&self, rule: &'static Rule) -> Option<usize> {
        self.rules.iter().position(|r| r.id == rule.id)
    }

    fn slot(&mut self, rule: &'static Rule) -> Option<&mut Option<Verdict>> {
        let index = self.index(rule)?;
        self.verdicts.get_mut(index)
    }

    fn finish(self) -> Vec<Outcome> {
        self.rules
            .iter()
            .zip(self.verdicts)
            .map(|(&rule, verdict)| Outcome {
                rule,
                verdict: verdict.unwrap_or_else(|| {
                    Verdict::Skip("not reached: a rule before it failed".into())
                }),
            })
            .collect()
    }
}

/// Runs every rule of `technique` against `target`.
pub fn run(technique: &Technique, target: &Target) -> Vec<Outcome> {
    let mut report = Report::new(technique.rules);
    (technique.run)(target, &mut report);
    report.finish()
}

/// Whether every rule passed: the exit status is 0 only then.
pub fn all_passed(outcomes: &[Outcome]) -> bool {
    outcomes.iter().all(|o| o.verdict == Verdict::Pass)
}

/// The report for a person: one line per rule, the failing bytes indented under it, and a
/// count at the end.
pub fn text_report(technique: &Technique, target: &Target, outcomes: &[Outcome]) -> String {
    let mut out = format!(
        "webwire check {} {} (rules from docs/{})\n",
        technique.name, target.url, technique.chapter
    );
    for outcome in outcomes {
        let mark = match outcome.verdict {
            Verdict::Pass => "pass",
            Verdict::Fail(_) => "FAIL",
            Verdict::Skip(_) => "skip",
        };
        out.push_str(&format!(
            "{mark} {}: {} (§ {})\n",
            outcome.rule.id, outcome.rule.says, outcome.rule.section
        ));
        if let Verdict::Fail(why) | Verdict::Skip(why) = &outcome.verdict {
            for line in why.lines() {
                out.push_str(&format!("       {line}\n"));
            }
        }
    }
    let (pass, fail, skip) = counts(outcomes);
    out.push_str(&format!(
        "{pass} passed, {fail} failed, {skip} skipped of {}\n",
        outcomes.len()
    ));
    out
}

/// The same report for a machine, as one JSON object.
pub fn json_report(technique: &Technique, target: &Target, outcomes: &[Outcome]) -> String {
    let rules = outcomes.iter().map(|outcome| {
        let (verdict, detail) = match &outcome.verdict {
            Verdict::Pass => ("pass", ""),
            Verdict::Fail(why) => ("fail", why.as_str()),
            Verdict::Skip(why) => ("skip", why.as_str()),
        };
        json::Object::new()
            .string("id", outcome.rule.id)
            .string("verdict", verdict)
            .string("rule", outcome.rule.says)
            .string("chapter", technique.chapter)
            .string("section", outcome.rule.section)
            .string("detail", detail)
            .finish()
    });
    let (pass, fail, skip) = counts(outcomes);
    json::Object::new()
        .string("technique", technique.name)
        .string("url", &target.url.to_string())
        .number("passed", pass as u64)
        .number("failed", fail as u64)
        .number("skipped", skip as u64)
        .raw("rules", &json::array(rules))
        .finish()
        + "\n"
}

fn counts(outcomes: &[Outcome]) -> (usize, usize, usize) {
    let count = |f: fn(&Verdict) -> bool| outcomes.iter().filter(|o| f(&o.verdict)).count();
    (
        count(|v| *v == Verdict::Pass),
        count(|v| matches!(v, Verdict::Fail(_))),
        count(|v| matches!(v, Verdict::Skip(_))),
    )
}

/// Every rule of every technique, one per line: `webwire check --rules`.
pub fn rules_listing() -> String {
    let mut out = String::new();
    for technique in TECHNIQUES {
        for rule in technique.rules {
            out.push_str(&format!(
                "{}\t{}\n\t§ {} in docs/{}\n",
                rule.id, rule.says, rule.section, technique.chapter
            ));
        }
    }
    out
}

/// What `webwire check …` asks for.
#[derive(Debug)]
pub enum Invocation {
    /// Run `technique`'s rules against `target`, printing text or JSON.
    Run {
        technique: &'static str,
        target: Target,
        json: bool,
    },
    /// List every rule.
    Rules,
    /// Print the usage.
    Help,
    /// `--client`: serve the scenarios a client of `technique` must survive
    /// (`scenarios/`), on `bind`:`port`, with `--trace` if `trace`.
    Client {
        technique: crate::scenarios::Family,
        port: u16,
        bind: String,
        trace: bool,
    },
}

pub const HELP: &str = "\
webwire check: run a chapter's rules against any server, yours or webwire

usage:
    webwire check <technique> <url> [--json] [--patience SECONDS]
    webwire check --rules            every rule of every technique, with its id
    webwire check --client <sse|websocket> [--port N] [--bind ADDR] [--trace]
    webwire check --help

techniques and the URL of their endpoint on webwire (cargo run):
    ajax               http://localhost:8088/ajax       (the base: <url>/echo, <url>/slow, …)
    polling            http://localhost:8088/time
    long-polling       http://localhost:8088/longpoll   (publishes to <url>/publish)
    xhr-streaming      http://localhost:8088/stream
    iframe-streaming   http://localhost:8088/htmlfile
    sse                http://localhost:8088/evt
    cors               http://localhost:8088/cors
    jsonp              http://localhost:8088/jsonp
    image-ping         http://localhost:8088/ping
    websocket          ws://localhost:8088/ws        (Autobahn is the full suite)

One line per rule: pass, FAIL or skip, the rule's id and words, and the chapter section that
states it; under a failure, the bytes that broke it. --json prints one JSON object instead.
--patience is how long to wait for something that should come (default 10 s).

exit status: 0 when every rule passed, 1 when one failed or was skipped (with --client: when
the server cannot start), 2 for a usage mistake.

--client turns the roles round, for whoever writes an EventSource or WebSocket client: webwire
serves scripted scenarios (a stream cut mid-event, an id with no data, a retry that changes, a
204; a message in fragments with a ping, a close, frames that break the RFC) on port 8088 of
localhost unless --port and --bind say otherwise. GET / lists them with what a client must do;
GET /results?run=RUN gives each scenario's verdict, pass, fail or pending, and what the server
saw. It serves until stopped. docs/reference.md, \"For client authors\", shows every byte.
";

/// Reads the arguments after `check`. The error is one line for the user.
pub fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Invocation, String> {
    let args: Vec<String> = args.into_iter().collect();
    if args.iter().any(|arg| arg == "--client") {
        return parse_client_args(args);
    }
    let mut words = Vec::new();
    let mut json = false;
    let mut patience = DEFAULT_PATIENCE;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--help" | "-h" => return Ok(Invocation::Help),
            "--rules" => return Ok(Invocation::Rules),
            "--json" => json = true,
            "--patience" => {
                let value = args
                    .next()
                    .ok_or("--patience needs seconds, e.g. --patience 30")?;
                let seconds: f64 = value
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s > 0.0 && *s <= 3600.0)
                    .ok_or(format!("--patience {value}: seconds, from 0.001 to 3600"))?;
                patience = Duration::from_secs_f64(seconds);
            }
            flag if flag.starts_with('-') => return Err(format!("check: unknown option {flag}")),
            word => words.push(word.to_string()),
        }
    }
    let names = || {
        TECHNIQUES
            .iter()
            .map(|t| t.name)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let [name, url] = words.as_slice() else {
        return Err(format!(
            "check needs a technique and a URL, e.g. check sse http://localhost:8088/evt \
             (techniques: {})",
            names()
        ));
    };
    let technique = find(name)
        .ok_or_else(|| format!("check: no technique named {name} (techniques: {})", names()))?;
    let mut target = Target::new(url).map_err(|e| format!("check {name} {url}: {e}"))?;
    target.patience = patience;
    Ok(Invocation::Run {
        technique: technique.name,
        target,
        json,
    })
}

/// `check --client NAME [--port N] [--bind ADDR] [--trace]`: the client mode's own words.
fn parse_client_args(args: Vec<String>) -> Result<Invocation, String> {
    let names = || {
        crate::scenarios::Family::ALL
            .map(crate::scenarios::Family::name)
            .join(" or ")
    };
    let (mut technique, mut trace) = (None, false);
    let mut port = crate::config::DEFAULT_PORT;
    let mut bind = crate::config::DEFAULT_BIND.to_string();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--help" | "-h" => return Ok(Invocation::Help),
            "--client" => {
                let name = args
                    .next()
                    .ok_or_else(|| format!("--client needs a technique: {}", names()))?;
                let family = crate::scenarios::Family::find(&name).ok_or_else(|| {
                    format!(
                        "check --client {name}: no scenarios for it (try {})",
                        names()
                    )
                })?;
                technique = Some(family);
            }
            "--port" => {
                let value = args
                    .next()
                    .ok_or("--port needs a number, e.g. --port 8099")?;
                port = value
                    .parse()
                    .map_err(|_| format!("--port {value}: not a port number (0 to 65535)"))?;
            }
            "--bind" => {
                bind = args
                    .next()
                    .ok_or("--bind needs an address, e.g. --bind 0.0.0.0")?;
            }
            "--trace" => trace = true,
            other => {
                return Err(format!(
                    "check --client: {other} does not go with --client (it takes --port, \
                     --bind and --trace)"
                ));
            }
        }
    }
    let technique = technique.ok_or_else(|| format!("--client needs a technique: {}", names()))?;
    Ok(Invocation::Client {
        technique,
        port,
        bind,
        trace,
    })
}

/// Bytes for a person: printable ASCII as it is (but `\\` and `"`, escaped), CR, LF and tab as
/// `\r`, `\n` and `\t`, anything else as
/// `\xNN`, cut after `MAX_SHOWN_BYTES` with a note of how much more there was.
pub fn show(bytes: &[u8]) -> String {
    let mut out = String::new();
    for &byte in bytes.iter().take(MAX_SHOWN_BYTES) {
        match byte {
            b'\r' => out.push_str("\\r"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            0x20..=0x7e => out.push(byte as char),
            _ => out.push_str(&format!("\\x{byte:02x}")),
        }
    }
    if bytes.len() > MAX_SHOWN_BYTES {
        out.push_str(&format!("… ({} bytes in all)", bytes.len()));
    }
    format!("\"{out}\"")
}

/// How many bytes a failure shows: enough for a response head and the start of a body.
pub const MAX_SHOWN_BYTES: usize = 600;

/// How long one look at a quiet socket lasts in `wait_for_bytes`: the grain of the timing
/// rules. A timing rule measures a server's pace to within about this, so it is short next to
/// the paces measured (the 200 ms of `ajax.large-paced`, the 500 ms of the streams' ticks);
/// a look is one system call, so looking every 10 ms costs nothing.
pub const LOOK: Duration = Duration::from_millis(10);

/// Waits until `stream` has something to read (a byte, or the end) or `deadline` has passed,
/// and says which: `true` when there is something to read. It looks at the socket without
/// reading it, at most `LOOK` at a time, and each look that ends with nothing there moves
/// `quiet` to the moment that look began.
///
/// `quiet` is how a timing rule stays right on a busy machine, where the checker itself may be
/// descheduled for hundreds of milliseconds. The moment a read returns is only an upper bound
/// on when its bytes arrived: they may have waited in the socket while the checker was not
/// running, so gaps measured between reads shrink when the checker is late, and a correct
/// server could fail. `quiet` is a lower bound that no delay can falsify: a look that timed
/// out is the kernel saying that nothing arrived between that look's start and its end, so
/// every byte not yet read arrived after `quiet` (as long as the caller has taken out of its
/// own buffer everything already read before it looks). A late checker looks less often, so
/// its `quiet` is only older: an interval measured from a `quiet` to a later read's return
/// can only come out longer than the server's own, never shorter.
pub fn wait_for_bytes(stream: &TcpStream, deadline: Instant, quiet: &mut Instant) -> bool {
    let mut byte = [0u8; 1];
    loop {
        let start = Instant::now();
        if start >= deadline {
            return false;
        }
        if stream
            .set_read_timeout(Some(LOOK.min(deadline - start)))
            .is_err()
        {
            return true; // no look is possible: let the caller's read say what is there
        }
        match stream.peek(&mut byte) {
            // A byte, or 0: the server closed, which the caller's read reports.
            Ok(_) => return true,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                *quiet = (*quiet).max(start);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // A reset or another failure: the caller's read reports it too.
            Err(_) => return true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_ids_are_unique_and_named_after_their_technique() {
        let mut seen = std::collections::HashSet::new();
        for technique in TECHNIQUES {
            assert!(!technique.rules.is_empty(), "{}", technique.name);
            for rule in technique.rules {
                assert!(seen.insert(rule.id), "{} twice", rule.id);
                let prefix = format!("{}.", technique.name);
                assert!(rule.id.starts_with(&prefix), "{}", rule.id);
                let name = &rule.id[prefix.len()..];
                assert!(
                    !name.is_empty()
                        && name
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                    "{}",
                    rule.id
                );
            }
        }
    }

    #[test]
    fn a_rule_never_reached_is_skipped_and_a_failure_is_kept() {
        static A: Rule = Rule {
            id: "t.a",
            says: "a",
            section: "s",
        };
        static B: Rule = Rule {
            id: "t.b",
            says: "b",
            section: "s",
        };
        static RULES: &[&Rule] = &[&A, &B];
        let mut report = Report::new(RULES);
        report.record(&A, Err("first".into()));
        report.record(&A, Ok(()));
        report.record(&A, Err("second".into()));
        let outcomes = report.finish();
        assert_eq!(outcomes[0].verdict, Verdict::Fail("first".into()));
        assert!(matches!(outcomes[1].verdict, Verdict::Skip(_)));
        assert!(!all_passed(&outcomes));
    }

    #[test]
    fn bytes_are_shown_escaped() {
        assert_eq!(show(b"a\r\n\x00\"\\"), r#""a\r\n\x00\"\\""#);
        assert!(show(&[b'x'; 700]).ends_with("… (700 bytes in all)\""));
    }

    /// A socket whose other end writes one byte after `delay` (or never), and the moment
    /// the write was done.
    fn one_byte_after(delay: Option<Duration>) -> (TcpStream, std::sync::mpsc::Receiver<Instant>) {
        use std::io::Write;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let reader = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut writer, _) = listener.accept().unwrap();
        let (done, wrote) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            if let Some(delay) = delay {
                std::thread::sleep(delay);
                let _ = writer.write_all(b"x");
                let _ = done.send(Instant::now());
            }
            std::thread::sleep(Duration::from_secs(1)); // no close to be seen meanwhile
        });
        (reader, wrote)
    }

    #[test]
    fn a_quiet_moment_is_before_the_bytes_however_late_the_look() {
        let patience = Duration::from_secs(5);
        // Looking all along: the socket was seen empty, and only before the byte came.
        let (socket, wrote) = one_byte_after(Some(Duration::from_millis(100)));
        let start = Instant::now();
        let mut quiet = start;
        assert!(wait_for_bytes(&socket, start + patience, &mut quiet));
        let written = wrote.recv().unwrap();
        assert!(
            start <= quiet && quiet < written,
            "seen empty after the byte came"
        );
        // Looking only once the byte is there (a checker descheduled meanwhile): no look
        // found the socket empty, so nothing is known but the start.
        let (socket, wrote) = one_byte_after(Some(Duration::ZERO));
        let start = Instant::now();
        wrote.recv().unwrap();
        let mut quiet = start;
        assert!(wait_for_bytes(&socket, start + patience, &mut quiet));
        assert_eq!(quiet, start);
        // Nothing by the deadline.
        let (socket, _wrote) = one_byte_after(None);
        let start = Instant::now();
        let mut quiet = start;
        assert!(!wait_for_bytes(&socket, start + 20 * LOOK, &mut quiet));
        assert!(
            quiet > start,
            "twenty looks, and none found the socket empty"
        );
    }

    #[test]
    fn the_command_line() {
        let parse = |args: &[&str]| parse_args(args.iter().map(ToString::to_string));
        let Ok(Invocation::Run {
            technique,
            target,
            json,
        }) = parse(&[
            "sse",
            "http://localhost:8088/evt",
            "--json",
            "--patience",
            "2.5",
        ])
        else {
            panic!("a run");
        };
        assert_eq!(technique, "sse");
        assert!(json);
        assert_eq!(target.patience, Duration::from_millis(2500));
        assert!(matches!(parse(&["--rules"]), Ok(Invocation::Rules)));
        assert!(parse(&["nope", "http://x/"]).is_err());
        assert!(parse(&["sse"]).is_err());
        assert!(parse(&["sse", "http://x/", "--patience", "0"]).is_err());
        let Ok(Invocation::Client {
            technique,
            port,
            bind,
            trace,
        }) = parse(&["--client", "websocket", "--port", "8099", "--trace"])
        else {
            panic!("the client mode");
        };
        assert_eq!(technique, crate::scenarios::Family::WebSocket);
        assert_eq!((port, bind.as_str(), trace), (8099, "localhost", true));
        assert!(
            parse(&["--client", "polling"]).is_err(),
            "no scenarios for it"
        );
        assert!(parse(&["--client"]).is_err());
        assert!(parse(&["--client", "sse", "--json"]).is_err());
    }
}
