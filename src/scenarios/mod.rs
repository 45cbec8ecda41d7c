//! `webwire check --client sse|websocket`: scripted scenarios for people who write the other
//! end — an `EventSource` polyfill, a WebSocket library — and need a server that misbehaves
//! in exactly the ways the specifications say a client must survive.
//!
//! `webwire check <technique> <url>` grades a server; this grades a client. The roles turn
//! round: webwire serves, the client under test connects, and each URL plays one scene — a
//! stream cut in the middle of an event, an id with no data, a `retry` that changes, a
//! `204`; a message in fragments with a ping between them, a close, a frame that breaks a
//! rule. The server cannot see what a client dispatches to its page, only what it does on the
//! wire: when it comes back, with which `Last-Event-ID`, whether it pongs, how it closes. So
//! it judges that, and each event stream ends with an `expect` event saying what the client
//! should have dispatched, for a test page to compare.
//!
//! ```text
//! GET /sse/drop-mid-event?run=t1 HTTP/1.1         the client under test opens the scenario
//! GET /sse/drop-mid-event?run=t1 HTTP/1.1         ... and reconnects (Last-Event-ID: 1)
//! GET /results?run=t1 HTTP/1.1                    the test asks for the verdicts
//!
//! HTTP/1.1 200 OK
//! Content-Type: application/json
//!
//! {"run":"t1","scenarios":[{"scenario":"/sse/drop-mid-event","verdict":"pass",
//!  "why":"reconnected 262 ms after the cut with Last-Event-ID: 1","seen":[…]}]}
//! ```
//!
//! A *run* is one client's go at the scenarios, named by the `?run=` it puts in every URL: an
//! `EventSource` reconnects to the same URL, so its reconnections land in the same run. The
//! server remembers `MAX_RUNS` runs, and forgets the oldest first.
//!
//! The server is webwire's own (`server/`): the same HTTP parser, limits, log and `--trace`.
//! Only the routes are these. `sse.rs` and `websocket.rs` hold the scenes; this file holds
//! what they share: the run registry and its verdicts, `GET /` and `GET /results`.

pub mod sse;
pub mod websocket;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::thread;
use std::time::{Duration, Instant};

use crate::App;
use crate::config::Config;
use crate::handler::{Context, Reply};
use crate::http::request::Request;
use crate::http::response::Response;
use crate::json;
use crate::log::Log;
use crate::router::{Route, Router};
use crate::server::{self, Running, StartError};
use crate::text;

// ANCHOR: scenario_limits
/// Runs remembered at once. One more forgets the oldest: a run is one client's go, so this
/// is how many clients can be judged side by side.
pub const MAX_RUNS: usize = 100;
/// Longest run name (`?run=`), made of A–Z, a–z, 0–9, `_` and `-`.
pub const MAX_RUN_BYTES: usize = 64;
/// Lines kept of what the server saw in one scenario of one run: a client that reconnects
/// for ever must not grow them for ever. Past it, one last line says so.
pub const MAX_SEEN_LINES: usize = 16;
/// Most bytes shown of anything the client chose (a `Last-Event-ID`, a close reason, a
/// message it sent back), in a line of the results or the log.
pub const MAX_SHOWN_BYTES: usize = 64;
/// How often the judge looks for scenarios whose time is up ("did not come back in 6 s").
pub const JUDGE_INTERVAL: Duration = Duration::from_millis(200);
// ANCHOR_END: scenario_limits

/// The client technique under test: which scenarios the server plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Sse,
    WebSocket,
}

impl Family {
    pub const ALL: [Family; 2] = [Family::Sse, Family::WebSocket];

    /// The name on the command line: `check --client sse`.
    pub fn name(self) -> &'static str {
        match self {
            Family::Sse => "sse",
            Family::WebSocket => "websocket",
        }
    }

    pub fn find(name: &str) -> Option<Family> {
        Family::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Every scenario, in the order `GET /` lists them.
    pub fn scenarios(self) -> &'static [Scenario] {
        match self {
            Family::Sse => sse::SCENARIOS,
            Family::WebSocket => websocket::SCENARIOS,
        }
    }

    /// The URL scheme a client uses for the scenarios.
    fn scheme(self) -> &'static str {
        match self {
            Family::Sse => "http",
            Family::WebSocket => "ws",
        }
    }
}

/// One scene, as `GET /` and the reference describe it.
pub struct Scenario {
    /// `/sse/drop-mid-event`: its route, and its name in the results.
    pub path: &'static str,
    /// What the server does, in words (`docs/reference.md` shows the bytes).
    pub serves: &'static str,
    /// What a correct client does, and what the server judges of it.
    pub must: &'static str,
    /// Where the specification says so.
    pub cite: &'static str,
}

/// Starts the scenario server for `family` on `config`'s address, and returns at once.
pub fn start(family: Family, config: Config) -> Result<Running, StartError> {
    // As `lib.rs` makes it: the verdicts go to the log, the trace to the same queue.
    let log = (!config.quiet || config.trace).then(Log::to_stdout);
    let registry = Registry::new(log.clone().filter(|_| !config.quiet));
    Registry::start_judge(&registry);
    let mut router = Router::default();
    for route in routes(family, &registry) {
        router.add(route);
    }
    let app = App::new(config, Vec::new(), Vec::new(), router.paths(), log);
    server::start(app, router)
}

/// `GET /`, `GET /results` and the family's scenarios.
pub fn routes(family: Family, registry: &Arc<Registry>) -> Vec<Route> {
    let mut routes = vec![
        Route::get("/", move |request: &Request, _: &Context| {
            listing(family, request)
        }),
        Route::get("/results", {
            let registry = Arc::clone(registry);
            move |request: &Request, _: &Context| results(&registry, request)
        }),
    ];
    routes.extend(match family {
        Family::Sse => sse::routes(registry),
        Family::WebSocket => websocket::routes(registry),
    });
    routes
}

/// `GET /`: every scenario with its URL, what the server does and what a client must do.
fn listing(family: Family, request: &Request) -> Reply {
    // The URLs as this client reached the server (its `Host`), so they can be copied.
    let host = request.header("host").map_or(String::from("HOST"), shown);
    let name = family.name();
    let mut out =
        format!("webwire check --client {name}: scenarios for the {name} client under test\n\n");
    let mut intro = format!(
        "Open each URL below with your client, with a run= of your choosing: a name for \
         this go, of A-Z a-z 0-9 _ and -, up to {MAX_RUN_BYTES} characters. A client's \
         reconnections carry the same URL, so they land in the same run; use a new run for \
         a new go. Then GET http://{host}/results?run=RUN answers JSON: for each scenario \
         played, the verdict (pass, fail or pending) and what the server saw. The server \
         judges what it can see on the wire. Each event stream ends with an event of type \
         expect whose data lists what the client should have dispatched, for a test page \
         to compare. docs/reference.md shows every byte."
    );
    if family == Family::WebSocket {
        intro.push_str(
            " A pass whose why starts with non-strict: means the client did what RFC 6455 \
             says it MUST (fail the connection) but not all it SHOULD (first a close frame \
             with the code the RFC names), as Autobahn counts NON-STRICT.",
        );
    }
    out.push_str(&wrapped("", &intro));
    for scenario in family.scenarios() {
        out.push_str(&format!(
            "\n{}://{host}{}?run=RUN\n",
            family.scheme(),
            scenario.path
        ));
        out.push_str(&wrapped("  server: ", scenario.serves));
        out.push_str(&wrapped("  client: ", scenario.must));
        out.push_str(&wrapped("  spec:   ", scenario.cite));
    }
    for_any_page(Response::text(200, out)).into()
}

/// Width of the lines of `GET /`.
const LISTING_COLUMNS: usize = 96;

/// `text` after `label`, in lines of at most `LISTING_COLUMNS`, the later ones indented as far
/// as the label.
fn wrapped(label: &str, text: &str) -> String {
    let indent = " ".repeat(label.chars().count());
    let mut out = String::new();
    let mut line = label.to_string();
    for word in text.split_whitespace() {
        let fresh = line.len() == label.len() || line == indent;
        if !fresh && line.chars().count() + 1 + word.chars().count() > LISTING_COLUMNS {
            out.push_str(&line);
            out.push('\n');
            line = indent.clone();
        } else if !fresh {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
    out
}

/// `GET /results?run=RUN`: the verdicts of one run, as JSON.
fn results(registry: &Registry, request: &Request) -> Reply {
    match run_name(request) {
        Ok(run) => {
            registry.settle(Instant::now());
            let body = registry.results_json(&run);
            for_any_page(
                Response::new(200)
                    .with_header("Content-Type", "application/json")
                    .with_body(body.into_bytes()),
            )
            .into()
        }
        Err(refusal) => refusal.into(),
    }
}

/// Headers on every answer: any page may read it (a client's own test page is on another
/// origin), and no cache may answer for the server: every request is a move in a scene.
fn for_any_page(response: Response) -> Response {
    response
        .with_header("Cache-Control", "no-store")
        .with_header("Access-Control-Allow-Origin", "*")
}

/// The request's `?run=`, or the 400 that says how to write one.
pub fn run_name(request: &Request) -> Result<String, Response> {
    let valid = |run: &String| {
        (1..=MAX_RUN_BYTES).contains(&run.len())
            && run
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    match request.query_param("run") {
        Some(run) if valid(&run) => Ok(run),
        _ => Err(for_any_page(Response::refusal(
            400,
            &format!(
                "add ?run=RUN to the URL: a name for this go, of A-Z a-z 0-9 _ and -, \
                 1 to {MAX_RUN_BYTES} characters"
            ),
        ))),
    }
}

/// A value the client chose, for a line: cut to `MAX_SHOWN_BYTES`, controls escaped.
pub fn shown(value: &str) -> String {
    let cut = text::cut(value, MAX_SHOWN_BYTES);
    let more = if cut.len() < value.len() { "…" } else { "" };
    format!("{}{more}", text::escape_controls(cut))
}

/// A scenario's verdict in one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Not decided yet: the client has not done what decides it, or its time is not up.
    Pending,
    /// Why it passed: what the server saw that shows it.
    Pass(String),
    /// Why it failed: what the server saw instead of what it should have.
    Fail(String),
}

impl Verdict {
    fn word(&self) -> &'static str {
        match self {
            Verdict::Pending => "pending",
            Verdict::Pass(_) => "pass",
            Verdict::Fail(_) => "fail",
        }
    }

    fn why(&self) -> &str {
        match self {
            Verdict::Pending => "",
            Verdict::Pass(why) | Verdict::Fail(why) => why,
        }
    }
}

/// A client coming (back) to a scenario.
#[derive(Debug, Clone, Copy)]
pub struct Arrival {
    /// 1 for the first request of this scenario in this run, 2 for the next…
    pub number: u32,
    /// How long since the server's last answer to this scenario ended (a stream's end or
    /// cut, a 204): how long the client waited before reconnecting.
    pub since_end: Option<Duration>,
}

/// One scenario as one run has played it.
struct Play {
    scenario: &'static str,
    requests: u32,
    last_end: Option<Instant>,
    seen: Vec<String>,
    verdict: Verdict,
    /// What the verdict becomes if the client has not come back by then.
    deadline: Option<(Instant, Verdict)>,
}

impl Play {
    /// Takes a verdict: a failure stands once given (a later pass cannot undo what was
    /// seen); a pass may still turn into a failure, as when a client told to stop for good
    /// comes back late. Whether the verdict changed.
    fn judge(&mut self, verdict: Verdict) -> bool {
        if matches!(self.verdict, Verdict::Fail(_)) || verdict == Verdict::Pending {
            return false;
        }
        let changed = self.verdict != verdict;
        self.verdict = verdict;
        changed
    }

    /// The log line for its verdict.
    fn verdict_line(&self, run: &str) -> String {
        format!(
            "run {run} {}: {}: {}",
            self.scenario,
            self.verdict.word(),
            self.verdict.why()
        )
    }

    fn see(&mut self, line: String) {
        match self.seen.len() {
            n if n < MAX_SEEN_LINES - 1 => self.seen.push(line),
            n if n == MAX_SEEN_LINES - 1 => self.seen.push("… (later lines not kept)".into()),
            _ => {}
        }
    }
}

struct Run {
    name: String,
    plays: Vec<Play>,
}

/// Every run the server remembers, and the log its verdicts go to.
pub struct Registry {
    runs: Mutex<VecDeque<Run>>,
    log: Option<Log>,
}

impl Registry {
    /// An empty registry whose verdicts are logged to `log` (`None`: not logged).
    pub fn new(log: Option<Log>) -> Arc<Registry> {
        Arc::new(Registry {
            runs: Mutex::new(VecDeque::new()),
            log,
        })
    }

    /// A thread that settles the scenarios whose time is up, so that their verdicts are
    /// logged even if nobody asks for the results. It ends with the registry.
    pub fn start_judge(registry: &Arc<Registry>) {
        let registry: Weak<Registry> = Arc::downgrade(registry);
        // If the thread cannot start, `/results` still settles before it answers.
        let _ = thread::Builder::new()
            .name("scenario-judge".to_string())
            .spawn(move || {
                loop {
                    thread::sleep(JUDGE_INTERVAL);
                    match registry.upgrade() {
                        Some(registry) => registry.settle(Instant::now()),
                        None => return,
                    }
                }
            });
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<Run>> {
        self.runs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes `scenario` in `run` (made if new: the oldest run goes if there are too many),
    /// then logs the verdict if it changed.
    fn update<T>(
        &self,
        run: &str,
        scenario: &'static str,
        change: impl FnOnce(&mut Play) -> T,
    ) -> T {
        let mut runs = self.lock();
        let index = match runs.iter().position(|r| r.name == run) {
            Some(index) => index,
            None => {
                if runs.len() >= MAX_RUNS {
                    runs.pop_front();
                }
                runs.push_back(Run {
                    name: run.to_string(),
                    plays: Vec::new(),
                });
                runs.len() - 1
            }
        };
        let plays = &mut runs[index].plays;
        let at = match plays.iter().position(|p| p.scenario == scenario) {
            Some(at) => at,
            None => {
                plays.push(Play {
                    scenario,
                    requests: 0,
                    last_end: None,
                    seen: Vec::new(),
                    verdict: Verdict::Pending,
                    deadline: None,
                });
                plays.len() - 1
            }
        };
        let play = &mut plays[at];
        let before = play.verdict.clone();
        let result = change(play);
        let line = (play.verdict != before).then(|| play.verdict_line(run));
        drop(runs);
        if let Some(line) = line {
            self.log_line(&line);
        }
        result
    }

    fn log_line(&self, line: &str) {
        if let Some(log) = &self.log {
            log.write(format!("{}\n", text::escape_controls(line)));
        }
    }

    /// A request for `scenario` has arrived: which one it is, and how long after the last
    /// answer ended. Whatever the scenario was waiting for has happened: no deadline now.
    pub fn arrive(&self, run: &str, scenario: &'static str) -> Arrival {
        let now = Instant::now();
        self.update(run, scenario, |play| {
            play.requests = play.requests.saturating_add(1);
            play.deadline = None;
            Arrival {
                number: play.requests,
                since_end: play.last_end.map(|end| now.saturating_duration_since(end)),
            }
        })
    }

    /// Notes what the server saw.
    pub fn see(&self, run: &str, scenario: &'static str, line: String) {
        self.update(run, scenario, |play| play.see(line));
    }

    /// Gives a verdict (logged if it changes anything).
    pub fn judge(&self, run: &str, scenario: &'static str, verdict: Verdict) {
        self.update(run, scenario, |play| play.judge(verdict));
    }

    /// The server's answer has ended now. `if_silent`: the verdict if no request for this
    /// scenario comes within the time given.
    pub fn ended(&self, run: &str, scenario: &'static str, if_silent: Option<(Duration, Verdict)>) {
        let now = Instant::now();
        self.update(run, scenario, |play| {
            play.last_end = Some(now);
            play.deadline = if_silent.map(|(wait, verdict)| (now + wait, verdict));
        });
    }

    /// Gives the verdicts whose deadline has passed.
    pub fn settle(&self, now: Instant) {
        let mut lines = Vec::new();
        let mut runs = self.lock();
        for run in runs.iter_mut() {
            for play in &mut run.plays {
                if let Some((deadline, _)) = &play.deadline
                    && *deadline <= now
                    && let Some((_, verdict)) = play.deadline.take()
                    && play.judge(verdict)
                {
                    lines.push(play.verdict_line(&run.name));
                }
            }
        }
        drop(runs);
        for line in lines {
            self.log_line(&line);
        }
    }

    /// `{"run":…,"scenarios":[{"scenario","verdict","why","seen"}…]}`, in the order played.
    /// An unknown run (never seen, or forgotten) has no scenarios.
    pub fn results_json(&self, run: &str) -> String {
        let runs = self.lock();
        let plays = runs
            .iter()
            .find(|r| r.name == run)
            .map(|r| r.plays.as_slice())
            .unwrap_or_default();
        let scenarios = plays.iter().map(|play| {
            json::Object::new()
                .string("scenario", play.scenario)
                .string("verdict", play.verdict.word())
                .string("why", play.verdict.why())
                .raw(
                    "seen",
                    &json::array(play.seen.iter().map(|line| json::string(line))),
                )
                .finish()
        });
        json::Object::new()
            .string("run", run)
            .raw("scenarios", &json::array(scenarios))
            .finish()
            + "\n"
    }

    /// The verdict of `scenario` in `run`, if it was played.
    #[cfg(test)]
    fn verdict(&self, run: &str, scenario: &str) -> Option<Verdict> {
        let runs = self.lock();
        let run = runs.iter().find(|r| r.name == run)?;
        let play = run.plays.iter().find(|p| p.scenario == scenario)?;
        Some(play.verdict.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::request::parsed as request;

    #[test]
    fn a_run_is_named_by_a_safe_word() {
        let run = |target: &str| {
            run_name(&request(&format!(
                "GET {target} HTTP/1.1\r\nHost: t\r\n\r\n"
            )))
        };
        assert_eq!(run("/x?run=a-B_9").ok(), Some("a-B_9".to_string()));
        let longest = "r".repeat(MAX_RUN_BYTES);
        assert!(run(&format!("/x?run={longest}")).is_ok());
        for bad in [
            "/x",
            "/x?run=",
            "/x?run=a%20b",
            "/x?run=a.b",
            "/x?run=%C3%A9",
        ] {
            assert_eq!(run(bad).map_err(|r| r.status), Err(400), "{bad}");
        }
        assert!(run(&format!("/x?run={longest}r")).is_err());
    }

    #[test]
    fn a_failure_stands_and_a_pass_may_turn() {
        let registry = Registry::new(None);
        registry.judge("r", "/a", Verdict::Pass("p".into()));
        registry.judge("r", "/a", Verdict::Fail("f".into()));
        registry.judge("r", "/a", Verdict::Pass("again".into()));
        assert_eq!(registry.verdict("r", "/a"), Some(Verdict::Fail("f".into())));
    }

    #[test]
    fn the_oldest_run_is_forgotten_and_lines_are_bounded() {
        let registry = Registry::new(None);
        for i in 0..=MAX_RUNS {
            registry.see(&format!("run{i}"), "/a", "x".into());
        }
        assert_eq!(registry.verdict("run0", "/a"), None, "forgotten");
        assert_eq!(registry.verdict("run1", "/a"), Some(Verdict::Pending));
        for _ in 0..100 {
            registry.see("run1", "/a", "again".into());
        }
        let json = registry.results_json("run1");
        assert_eq!(json.matches("again").count(), MAX_SEEN_LINES - 2);
        assert!(json.contains("later lines not kept"));
        assert_eq!(
            registry.results_json("nobody"),
            "{\"run\":\"nobody\",\"scenarios\":[]}\n"
        );
    }

    #[test]
    fn a_deadline_gives_its_verdict_unless_the_client_comes_first() {
        let registry = Registry::new(None);
        let wait = Duration::from_secs(60);
        registry.arrive("r", "/a");
        registry.ended("r", "/a", Some((wait, Verdict::Pass("quiet".into()))));
        registry.settle(Instant::now());
        assert_eq!(registry.verdict("r", "/a"), Some(Verdict::Pending));
        registry.settle(Instant::now() + wait);
        assert_eq!(
            registry.verdict("r", "/a"),
            Some(Verdict::Pass("quiet".into()))
        );

        registry.ended("r", "/b", Some((wait, Verdict::Pass("quiet".into()))));
        let second = registry.arrive("r", "/b");
        assert_eq!(second.number, 1);
        assert!(second.since_end.is_some());
        registry.settle(Instant::now() + wait);
        assert_eq!(
            registry.verdict("r", "/b"),
            Some(Verdict::Pending),
            "it came back"
        );
    }

    #[test]
    fn the_listing_is_wrapped_under_its_labels() {
        let text = "word ".repeat(40);
        let out = wrapped("  server: ", &text);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines.len() > 1);
        assert!(lines[0].starts_with("  server: word"));
        assert!(lines[1].starts_with("          word"));
        assert!(lines.iter().all(|l| l.chars().count() <= LISTING_COLUMNS));
        assert_eq!(out.matches("word").count(), 40);
    }

    #[test]
    fn shown_values_are_cut_and_escaped() {
        assert_eq!(shown("1"), "1");
        assert_eq!(shown("a\u{1b}b"), "a\\u{1b}b");
        let long = "é".repeat(MAX_SHOWN_BYTES);
        assert!(shown(&long).ends_with('…'));
        assert!(shown(&long).len() <= MAX_SHOWN_BYTES + '…'.len_utf8());
    }
}
