//! webwire: every classic way a browser and a server talk, done by hand on `std::net`.
//!
//! `main.rs` turns the command line into a `Config` and calls `start`; tests call `start` with
//! port 0 and short timeouts. The modules, in layers: each uses only those below it
//! (`docs/01-http-by-hand.md`, "How the code is laid out", draws the map).
//!
//! - `check`, `scenarios` — beside `main.rs`, at the top: `webwire check`, a client that runs
//!   a chapter's rules against any server; `check --client`, scripted scenes a client under
//!   test must survive, served by the server below; nothing in the server uses either
//! - `demos` — one module per technique; each declares its routes, pages, limits and state
//! - `pages` — the browser pages and the chapters compiled in, with ETags
//! - `server` — listening, one connection's loop, writing replies, log and trace lines
//! - `handler`, `router` — the API a demo is written against (`Reply`, `Context`); matching
//!   (method, path) to a handler, and 404, 405, 501
//! - `faults`, `inspector` — network faults played on a connection's bytes; a browser's own
//!   connections shown to it, byte by byte
//! - `hub`, `held` — the numbered event log that held requests wait on; places for them
//! - `ws` — WebSocket by hand: handshake, frames, UTF-8, close, a connection's loop
//! - `http` — requests parsed from bytes, methods, bodies, queries, responses written as bytes
//! - `net`, `budget`, `capacity`, `log`, `traffic`, `limits`, `json`, `origins`, `html`, `text`, `clock`, `random`,
//!   `config` — sockets written against a deadline and watched for a client leaving, the
//!   memory budget, the limits read off the machine, the log's bounded queue, the wire counters, the core's caps, JSON by hand,
//!   the one origin rule, HTML escaping, time, a small random generator, the command line

#![forbid(unsafe_code)]
// Unit tests may unwrap: a failed test is the point. (`Cargo.toml` denies it elsewhere.)
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod budget;
pub mod capacity;
pub mod check;
pub mod clock;
pub mod config;
pub mod demos;
pub mod faults;
pub mod handler;
pub mod held;
pub mod html;
pub mod http;
pub mod hub;
pub mod inspector;
pub mod json;
pub mod limits;
pub mod log;
pub mod net;
pub mod origins;
pub mod pages;
pub mod random;
pub mod redis;
pub mod room;
pub mod router;
pub mod scenarios;
pub mod server;
pub mod site;
pub mod text;
pub mod traffic;
pub mod ws;

use std::sync::Arc;

use config::Config;
use demos::Demo;
use pages::Page;
use router::{Route, Router};
pub use server::{Running, StartError};

/// What every handler can see: the configuration, the demos being served, the pages, and the
/// server's shared machinery. Nothing here belongs to one demo: a demo keeps its own state
/// inside its handlers.
pub struct App {
    pub config: Config,
    pub demos: Vec<&'static Demo>,
    pub pages: Vec<Page>,
    /// Their paths, to tell a page from a demo's endpoint at once (`faults/`).
    pub page_paths: std::collections::HashSet<String>,
    /// What crossed the wire, per routed path (counted by the server).
    pub traffic: traffic::Traffic,
    /// The memory that request bodies and WebSocket messages share (`MEMORY_BUDGET_BYTES`).
    pub budget: Arc<budget::Budget>,
    /// The limits in force: connections, held requests, per client address.
    pub capacity: capacity::Capacity,
    /// Places for held requests (long polls, streams, sockets), `capacity.held` of them.
    pub held: Arc<held::Places>,
    /// The faults in force for the whole server (`--faults`, `POST /faults`).
    pub faults: faults::Switch,
    /// Whether `POST /faults` may change them (`--fault-control`, or loopback alone).
    pub fault_control: bool,
    /// The wire inspector's sessions (`inspector/`), and whether pages may open one.
    pub inspector: Arc<inspector::Inspector>,
    /// The log's queue, when anything is logged or traced (`None` with `--quiet` alone).
    log: Option<log::Log>,
}

impl App {
    /// The shared machinery for `config`, serving `demos` and `pages`, counting traffic on
    /// `paths`: the limits are resolved here, against the machine when a flag leaves them open.
    pub fn new(
        config: Config,
        demos: Vec<&'static Demo>,
        pages: Vec<Page>,
        paths: Vec<String>,
        log: Option<log::Log>,
    ) -> App {
        let budget = budget::Budget::new(config.memory_budget);
        let capacity = capacity::Capacity::resolve(
            config.max_conns,
            config.max_held,
            config.max_conns_per_client,
            config.memory_budget,
        );
        let held = held::Places::new(capacity.held);
        let faults = faults::Switch::new(config.faults);
        let fault_control = config
            .fault_control
            .unwrap_or_else(|| listens_on_loopback_alone(&config));
        let inspector = Arc::new(inspector::Inspector::new(
            config
                .inspector
                .unwrap_or_else(|| listens_on_loopback_alone(&config)),
        ));
        let page_paths = pages.iter().map(|page| page.path.clone()).collect();
        App {
            config,
            demos,
            pages,
            page_paths,
            traffic: traffic::Traffic::new(paths),
            budget,
            capacity,
            held,
            faults,
            fault_control,
            inspector,
            log,
        }
    }

    /// Queues one line for the server's log, unless `--quiet`. Never waits for stdout.
    /// Control characters are escaped: much of a line is what a client sent.
    pub fn log(&self, line: &str) {
        if let Some(log) = self.log_sink() {
            log.write(format!("{}\n", text::escape_controls(line)));
        }
    }

    /// Queues `--trace` text (whole lines), if tracing is on.
    pub fn trace(&self, text: String) {
        if let Some(log) = self.trace_sink() {
            log.write(text);
        }
    }

    /// The log, for a part that outlives a borrow of the `App`; `None` with `--quiet`.
    pub fn log_sink(&self) -> Option<log::Log> {
        self.log.clone().filter(|_| !self.config.quiet)
    }

    /// The trace's log, for the same; `None` without `--trace`.
    pub fn trace_sink(&self) -> Option<log::Log> {
        self.log.clone().filter(|_| self.config.trace)
    }
}

/// Whether every address the server listens on is a loopback one, so every client is on this
/// machine: `localhost` (both loopback addresses, `server/listen.rs`) or a loopback IP. A socket
/// passed on standard input could be anything: no.
fn listens_on_loopback_alone(config: &Config) -> bool {
    !config.listen_on_stdin
        && (config.bind == "localhost"
            || config
                .bind
                .trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback()))
}

/// Starts serving every demo (or the one `config.demo` names) and returns at once.
pub fn start(config: Config) -> Result<Running, StartError> {
    start_with(config, Vec::new())
}

/// `start`, plus extra routes: tests use it to mount handlers that panic or stream.
pub fn start_with(config: Config, extra_routes: Vec<Route>) -> Result<Running, StartError> {
    let demos: Vec<&'static Demo> = match &config.demo {
        None => demos::ALL.to_vec(),
        Some(name) => vec![demos::find(name).ok_or_else(|| StartError::UnknownDemo(name.clone()))?],
    };
    let pages = pages::build(&demos);
    let mut router = Router::default();
    pages::add_routes(&mut router, &pages);
    for route in faults::control::routes() {
        router.add(route);
    }
    // The log is made before the demos: a part of one may log on its own (`demos::Setup`).
    let log = (!config.quiet || config.trace).then(log::Log::to_stdout);
    let setup = demos::Setup {
        config: &config,
        log: log.clone().filter(|_| !config.quiet),
        trace: log.clone().filter(|_| config.trace),
    };
    for demo in &demos {
        let routes = (demo.routes)(&setup).map_err(StartError::DemoCannotStart)?;
        for route in routes {
            router.add(route);
        }
    }
    // After the demos: `OPTIONS *` lists methods in the order routes were added.
    for route in inspector::control::routes() {
        router.add(route);
    }
    for route in extra_routes {
        router.add(route);
    }
    let app = App::new(config, demos, pages, router.paths(), log);
    server::start(app, router)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_may_switch_faults_only_where_every_client_is_on_this_machine() {
        for (bind, stdin, loopback) in [
            ("localhost", false, true),
            ("127.0.0.1", false, true),
            ("[::1]", false, true),
            ("::1", false, true),
            ("0.0.0.0", false, false),
            ("192.168.1.5", false, false),
            ("localhost", true, false), // a passed socket could be bound anywhere
        ] {
            let config = Config {
                bind: bind.to_string(),
                listen_on_stdin: stdin,
                ..Config::default()
            };
            assert_eq!(
                listens_on_loopback_alone(&config),
                loopback,
                "{bind} {stdin}"
            );
        }
    }
}
