//! `cargo run -- [DEMO] [OPTIONS]`: see `config::HELP`.

use std::io::Write;
use std::process::ExitCode;

use webwire::config::{self, Command};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1).peekable();
    // `check` is a subcommand with words of its own, not a demo: the client sits beside this
    // file, at the top, and the server's command line (`config`) knows nothing of it.
    if args.peek().map(String::as_str) == Some("check") {
        args.next();
        return match webwire::check::parse_args(args) {
            Ok(invocation) => check(invocation),
            Err(message) => {
                eprintln!("webwire: {message} (see --help)");
                ExitCode::from(2)
            }
        };
    }
    let config = match config::parse_args(args) {
        Ok(Command::Serve(config)) => *config,
        Ok(Command::Help) => {
            print!("{}", config::HELP);
            return ExitCode::SUCCESS;
        }
        Ok(Command::List) => {
            for demo in webwire::demos::ALL {
                println!("{:<18} {}", demo.name, demo.summary);
            }
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("webwire: {message} (see --help)");
            return ExitCode::from(2);
        }
    };
    let host = config.bind.clone();
    let listen_on_stdin = config.listen_on_stdin;
    // A server that misbehaves on purpose says so at once (docs/16-faults.md).
    let faults = if config.faults.is_off() {
        String::new()
    } else {
        format!(
            "faults on for every demo endpoint: {} (--faults)\n",
            config.faults
        )
    };
    // A room in Redis is shared with every process pointed at it: say where (docs/17).
    let chat = webwire::demos::chat::DEMO.name;
    let serves_chat = config.demo.as_deref().is_none_or(|demo| demo == chat);
    let room = match &config.room {
        webwire::room::Store::Redis(address) if serves_chat => format!(
            "chat room: the stream {} in Redis at {} (--room), shared with every webwire \
             pointed at it\n",
            webwire::room::stream_key(webwire::demos::chat::ROOM_NAME),
            address.display()
        ),
        _ => String::new(),
    };
    let count = config
        .demo
        .as_ref()
        .map_or(webwire::demos::ALL.len(), |_| 1);
    // Before the limits are derived from it: the connection limit follows the file limit.
    let open_files = webwire::capacity::raise_open_files_limit();
    match webwire::start(config) {
        Ok(running) => {
            // An inherited socket's address is whatever its owner bound.
            let host = match running.addrs.first() {
                Some(addr) if listen_on_stdin => addr.ip().to_string(),
                _ => host,
            };
            // Rust's std asks for an accept queue of 128; an inherited socket has the queue
            // its owner asked for (`listen::from_stdin`).
            let queue = if listen_on_stdin {
                "accept queue: as the socket's owner set it"
            } else {
                "accept queue: 128 (std's bind; --listen-on-stdin for a longer one)"
            };
            // An IPv6 literal needs brackets inside a URL.
            let host = if host.contains(':') {
                format!("[{host}]")
            } else {
                host
            };
            let plural = if count == 1 { "" } else { "s" };
            // Both lines in one write, and a closed stdout is no reason to stop serving
            // (`println!` would panic on it).
            let started = format!(
                "webwire listening on http://{host}:{}/ ({count} demo{plural}; --help for options)\n\
                 limits: {}; {open_files}; {queue}\n{faults}{room}",
                running.port(),
                running.capacity.summary()
            );
            let mut stdout = std::io::stdout().lock();
            let _ = stdout
                .write_all(started.as_bytes())
                .and_then(|()| stdout.flush());
            drop(stdout);
            running.wait();
            ExitCode::SUCCESS
        }
        // A demo name is part of the command line: a wrong one is a usage mistake (2), like
        // a wrong option; a server that cannot start for another reason is 1.
        Err(error @ webwire::StartError::UnknownDemo(_)) => {
            eprintln!("webwire: {error} (see --help)");
            ExitCode::from(2)
        }
        Err(error) => {
            eprintln!("webwire: {error}");
            ExitCode::from(1)
        }
    }
}

/// `webwire check …`: run one technique's rules and print the verdicts (`check/`).
fn check(invocation: webwire::check::Invocation) -> ExitCode {
    use webwire::check::{self, Invocation};
    match invocation {
        Invocation::Help => {
            print!("{}", check::HELP);
            ExitCode::SUCCESS
        }
        Invocation::Rules => {
            print!("{}", check::rules_listing());
            ExitCode::SUCCESS
        }
        Invocation::Client {
            technique,
            port,
            bind,
            trace,
        } => {
            // The server's own configuration, but for the address and --trace: its limits,
            // timeouts and log are webwire's (`scenarios/`).
            let config = config::Config {
                port,
                bind,
                trace,
                ..config::Config::default()
            };
            let host = if config.bind.contains(':') {
                format!("[{}]", config.bind) // an IPv6 literal needs brackets in a URL
            } else {
                config.bind.clone()
            };
            match webwire::scenarios::start(technique, config) {
                Ok(running) => {
                    let started = format!(
                        "webwire check --client {} listening on http://{host}:{}/ \
                         (GET / lists the scenarios; GET /results?run=RUN judges)\n",
                        technique.name(),
                        running.port()
                    );
                    let mut stdout = std::io::stdout().lock();
                    let _ = stdout
                        .write_all(started.as_bytes())
                        .and_then(|()| stdout.flush());
                    drop(stdout);
                    running.wait();
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("webwire: {error}");
                    ExitCode::from(1)
                }
            }
        }
        Invocation::Run {
            technique,
            target,
            json,
        } => {
            let Some(technique) = check::find(technique) else {
                return ExitCode::from(2);
            };
            let outcomes = check::run(technique, &target);
            let report = if json {
                check::json_report(technique, &target, &outcomes)
            } else {
                check::text_report(technique, &target, &outcomes)
            };
            let mut stdout = std::io::stdout().lock();
            let _ = stdout
                .write_all(report.as_bytes())
                .and_then(|()| stdout.flush());
            if check::all_passed(&outcomes) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
    }
}
