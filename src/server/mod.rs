//! The server: listening and accepting (`listen.rs`), one connection's life (`connection.rs`),
//! writing a reply (`reply.rs`), and the log and trace lines (`lines.rs`).
//!
//! ```text
//! accept ──► thread "conn-7" ──► read head ──► read body ──► route ──► write reply ─┐
//!                                   ▲                                               │
//!                                   └─────────── keep-alive: next request ◄─────────┘
//! ```
//!
//! One OS thread per connection, blocking I/O: the simplest model there is, and the one the
//! articles' Node servers hide behind callbacks. Each thread owns its socket and a buffer of
//! bytes read but not yet parsed; pipelined requests simply wait in that buffer for their turn.
//! Every wait has a timeout and every read a limit (`limits.rs`), and a thread that fails or
//! panics takes only its own connection down.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::thread::{self, JoinHandle};

use crate::App;
use crate::router::Router;

mod connection;
mod lines;
mod listen;
mod reply;
mod roster;

/// Why the server could not start.
#[derive(Debug)]
pub enum StartError {
    UnknownDemo(String),
    AddressInUse(String),
    CannotBind(String, io::Error),
    CannotResolve(String),
    /// `--listen-on-stdin`, but standard input is not a listening TCP socket: why.
    NotAListeningSocket(String),
    /// A demo could not build its routes (the chat's room in Redis cannot be reached): why.
    DemoCannotStart(String),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            StartError::UnknownDemo(name) => {
                let names: Vec<&str> = crate::demos::ALL.iter().map(|d| d.name).collect();
                write!(
                    f,
                    "no demo is called {name:?}; try one of: {}",
                    names.join(", ")
                )
            }
            StartError::AddressInUse(addr) => write!(
                f,
                "{addr} is already in use (another webwire?); pick another port with --port N"
            ),
            StartError::CannotBind(addr, e) => write!(f, "cannot listen on {addr}: {e}"),
            StartError::NotAListeningSocket(why) => write!(
                f,
                "--listen-on-stdin needs a listening TCP socket as standard input, but {why}"
            ),
            StartError::DemoCannotStart(why) => write!(f, "{why}"),
            StartError::CannotResolve(host) => {
                write!(
                    f,
                    "cannot resolve {host:?}; give an address with --bind ADDR"
                )
            }
        }
    }
}

/// What the acceptor threads and the connection threads share.
struct Shared {
    app: App,
    router: Router,
    /// Connections being served now and what each is doing, for `--max-conns`.
    roster: Arc<roster::Roster>,
    /// Numbers connections in logs and traces: `#1`, `#2`, …
    next_id: AtomicU64,
}

/// A server that is running: where it listens, and its acceptor threads.
pub struct Running {
    pub addrs: Vec<SocketAddr>,
    /// The limits in force, for the start-up line.
    pub capacity: crate::capacity::Capacity,
    acceptors: Vec<JoinHandle<()>>,
}

impl Running {
    pub fn port(&self) -> u16 {
        self.addrs.first().map_or(0, std::net::SocketAddr::port)
    }

    /// Blocks for as long as the server runs (for ever, unless every listener fails).
    pub fn wait(self) {
        for acceptor in self.acceptors {
            let _ = acceptor.join();
        }
    }
}

/// Binds the listeners and starts one acceptor thread per listener.
pub fn start(app: App, router: Router) -> Result<Running, StartError> {
    let listeners = if app.config.listen_on_stdin {
        vec![listen::from_stdin()?]
    } else {
        listen::bind(&app.config.bind, app.config.port)?
    };
    let addrs: Vec<SocketAddr> = listeners
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .collect();
    let capacity = app.capacity.clone();
    let shared = Arc::new(Shared {
        roster: Arc::new(roster::Roster::new(
            app.capacity.connections,
            app.capacity.per_client,
        )),
        app,
        router,
        next_id: AtomicU64::new(1),
    });
    let mut acceptors = Vec::new();
    for listener in listeners {
        let shared = Arc::clone(&shared);
        let acceptor = thread::Builder::new()
            .name("accept".to_string())
            .spawn(move || listen::accept_loop(listener, shared))
            .map_err(|e| StartError::CannotBind("an acceptor thread".to_string(), e))?;
        acceptors.push(acceptor);
    }
    Ok(Running {
        addrs,
        capacity,
        acceptors,
    })
}
