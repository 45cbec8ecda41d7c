//! webwire: every classic way a browser and a server talk, done by hand on `std::net`.
//!
//! `main.rs` turns the command line into a `Config` and calls `start`; tests call `start` with
//! port 0 and short timeouts. The module tree, in reading order:
//!
//! - `limits` — every cap and timeout, one constant each
//! - `http` — requests parsed from bytes, bodies, responses written as bytes
//! - `net`, `budget`, `log` — sockets written against a deadline and watched for a client
//!   leaving; the memory budget that client-sized buffers share; the log's bounded queue
//! - `json`, `hub` — JSON by hand; the numbered event log that long polls wait on
//! - `router` — (method, path) → handler; 404, 405, 501
//! - `pages` — the browser pages and docs compiled in, with ETags
//! - `server` — accept loop, a thread per connection, keep-alive, logging
//! - `origins` — which other origins may talk to this server (CORS, WebSocket, chat)
//! - `traffic` — bytes and requests counted per path, for `/stats`
//! - `ws` — WebSocket by hand: the handshake and the frame codec
//! - `demos` — one module per technique

pub mod budget;
pub mod config;
pub mod demos;
pub mod http;
pub mod hub;
pub mod json;
pub mod limits;
pub mod log;
pub mod net;
pub mod origins;
pub mod pages;
pub mod random;
pub mod router;
pub mod server;
pub mod traffic;
pub mod ws;

use config::Config;
use demos::Demo;
use pages::Page;
use router::{Handler, Router};
pub use server::{Running, StartError};

/// What every handler can see: the configuration, the demos being served, the pages, and
/// the state of the demos that keep some (each defined in its own module).
pub struct App {
    pub config: Config,
    pub demos: Vec<&'static Demo>,
    pub pages: Vec<Page>,
    /// What crossed the wire, per routed path (counted by the server).
    pub traffic: traffic::Traffic,
    /// The memory that request bodies and WebSocket messages share (`MEMORY_BUDGET_BYTES`).
    pub budget: std::sync::Arc<budget::Budget>,
    /// The log's queue, when anything is logged or traced (`None` with `--quiet` alone).
    log: Option<log::Log>,
    pub long_polling: demos::long_polling::State,
    pub image_ping: demos::image_ping::State,
    pub cors: demos::cors::State,
    pub chat: demos::chat::State,
}

impl App {
    /// Queues one line for the server's log, unless `--quiet`. Never waits for stdout.
    pub fn log(&self, line: &str) {
        if !self.config.quiet
            && let Some(log) = &self.log
        {
            log.write(format!("{line}\n"));
        }
    }

    /// Queues `--trace` text (whole lines), if tracing is on.
    pub fn trace(&self, text: String) {
        if self.config.trace
            && let Some(log) = &self.log
        {
            log.write(text);
        }
    }

    /// The log, for a part that outlives a borrow of the `App` (a WebSocket's writer).
    pub fn log_handle(&self) -> Option<log::Log> {
        self.log.clone()
    }
}

/// Starts serving every demo (or the one `config.demo` names) and returns at once.
pub fn start(config: Config) -> Result<Running, StartError> {
    start_with(config, &[])
}

/// `start`, plus extra routes: tests use it to mount handlers that panic or stream.
pub fn start_with(
    config: Config,
    extra_routes: &[(&'static str, &'static str, Handler)],
) -> Result<Running, StartError> {
    let demos: Vec<&'static Demo> = match &config.demo {
        None => demos::ALL.to_vec(),
        Some(name) => vec![demos::find(name).ok_or_else(|| StartError::UnknownDemo(name.clone()))?],
    };
    let pages = pages::build(&demos);
    let mut router = Router::default();
    pages::add_routes(&mut router, &pages);
    for demo in &demos {
        for &(method, path, handler) in demo.routes {
            router.add(method, path, handler);
        }
    }
    for &(method, path, handler) in extra_routes {
        router.add(method, path, handler);
    }
    let log = (!config.quiet || config.trace).then(log::Log::to_stdout);
    let budget = budget::Budget::new(config.memory_budget);
    let app = App {
        config,
        demos,
        pages,
        traffic: traffic::Traffic::new(router.paths()),
        budget,
        log,
        long_polling: Default::default(),
        image_ping: Default::default(),
        cors: Default::default(),
        chat: Default::default(),
    };
    server::start(app, router)
}
