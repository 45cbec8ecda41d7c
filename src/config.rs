//! Command-line flags, parsed by hand into a `Config`.

use std::time::Duration;

use crate::limits;

/// Default for `--tick-ms`: the articles' two seconds between pushes and polls.
pub const DEFAULT_TICK: Duration = Duration::from_secs(2);
/// Default for `--hold-ms`: how long a long poll is held before it answers "nothing new".
/// Below the 30–60 s after which proxies and load balancers commonly cut idle requests.
pub const DEFAULT_HOLD: Duration = Duration::from_secs(25);

pub const DEFAULT_PORT: u16 = 8088;
pub const DEFAULT_BIND: &str = "localhost";

pub const HELP: &str = "\
webwire — every classic way a browser and a server talk, by hand on std::net

USAGE:
    webwire [DEMO] [OPTIONS]

    webwire check <TECHNIQUE> <URL> [--json] [--patience SECONDS]

    With no DEMO, every demo is served; with one, only that demo (and an index listing it).
    `check` runs a chapter's rules against any server, yours or this one (check --help).

OPTIONS:
    --port N         listen on port N (default 8088; 0 picks a free port)
    --bind ADDR      listen on ADDR (default localhost: both 127.0.0.1 and ::1, so
                     http://localhost:8088 works whichever one the browser picks)
    --listen-on-stdin
                     serve on the listening TCP socket given as standard input (as
                     systemd's StandardInput=socket passes it) instead of binding one with
                     --port and --bind: its owner can give it a longer accept queue than
                     the 128 that Rust's std asks for (docs/15-scale.md)
    --max-conns N    serve at most N connections at once; more get 503 (default: what
                     the machine allows: open files, threads, memory mappings and memory,
                     each after a margin; the start-up line says which limit decided)
    --max-held N     hold at most N requests open at once (long polls, streams,
                     WebSockets); more get 503 (default: 7/8 of --max-conns, so 1/8 is
                     always left for requests answered at once)
    --max-conns-per-client N
                     at most N connections from one client address (default: no cap;
                     clients behind one proxy or NAT share an address)
    --allow-origin O add O (e.g. http://example.test:3000) to the origins the cross-origin
                     demos accept; the two demo origins, http://localhost:PORT and
                     http://127.0.0.1:PORT, are always accepted (repeatable)
    --tick-ms N      milliseconds between the demos' pushes and polls (default 2000,
                     the articles' two seconds)
    --hold-ms N      the longest a held request stays silent: a long poll answers that
                     nothing is new, an idle event stream sends a keepalive (default 25000)
    --faults SPEC    play network faults on every demo endpoint, as real proxies and links
                     do (docs/16-faults.md): a comma-separated list of buffer[=SIZE],
                     strip-upgrade, stall-sockets, idle-cut[=TIME], hold-cap[=TIME], latency[=TIME],
                     bandwidth[=SIZE per second], drop[=SIZE]; e.g. buffer=4k,idle-cut=30s
                     (sizes in bytes or with k; times with ms or s). Pages switch them with
                     the panel at their foot; one request can ask with ?faults=SPEC
    --fault-control on|off
                     whether pages may switch faults for the whole server (default: on
                     only when the server listens on loopback alone)
    --inspector on|off
                     whether pages may open the wire inspector, which shows a browser the
                     bytes of its own connections (docs/01-http-by-hand.md; default: on only
                     when the server listens on loopback alone)
    --room memory|redis://HOST:PORT
                     where the chat room lives (default memory): in this process, or in
                     a Redis stream that several webwire processes share, so a client may
                     move between them with its cursor (docs/17-beyond-one-server.md);
                     redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] as redis-cli takes it
    --trace          print every request head and response head as it crosses the wire,
                     with CR LF made visible, every WebSocket frame header, and with
                     --room redis://... every Redis command and reply
    --quiet, -q      do not log requests
    --list           list the demos and exit
    --help, -h       show this text and exit

EXIT STATUS:
    0 after --help or --list; 1 when the server cannot start (the port is taken, the
    address cannot be used, the room's Redis cannot be reached); 2 for a mistake on the
    command line (an unknown option or demo, a bad value)
";

/// How long the server waits for what. Tests shorten these; `limits.rs` has the defaults
/// and explains each one.
#[derive(Debug, Clone)]
pub struct Timeouts {
    pub header: Duration,
    pub body: Duration,
    pub idle: Duration,
    pub write: Duration,
    pub linger: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            header: limits::HEADER_TIMEOUT,
            body: limits::BODY_TIMEOUT,
            idle: limits::IDLE_TIMEOUT,
            write: limits::WRITE_TIMEOUT,
            linger: limits::LINGER_TIMEOUT,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub bind: String,
    pub port: u16,
    /// `--listen-on-stdin`: serve on the listening socket that is standard input, not on
    /// one bound to `bind` and `port`.
    pub listen_on_stdin: bool,
    /// Serve only this demo.
    pub demo: Option<String>,
    pub trace: bool,
    pub quiet: bool,
    /// `--max-conns`; `None`: derived from the machine at start (`capacity.rs`).
    pub max_conns: Option<usize>,
    /// `--max-held`; `None`: a share of the connections (`capacity::held_share`).
    pub max_held: Option<usize>,
    /// `--max-conns-per-client`; `None`: no cap.
    pub max_conns_per_client: Option<usize>,
    /// Bytes that request bodies and WebSocket messages may hold at once, all connections
    /// together (`MEMORY_BUDGET_BYTES`; tests make it small).
    pub memory_budget: usize,
    pub timeouts: Timeouts,
    /// The demos' pace: between two stream pieces, two polls, two ticker events.
    pub tick: Duration,
    /// How long a long poll waits for news before answering with none.
    pub hold: Duration,
    /// Origins accepted by the cross-origin demos besides the two demo origins
    /// (`http://localhost:PORT`, `http://127.0.0.1:PORT`), from `--allow-origin`.
    pub extra_origins: Vec<String>,
    /// `--faults SPEC`: the faults every demo endpoint plays from the start (`faults/`).
    pub faults: crate::faults::Faults,
    /// `--fault-control on|off`: whether pages may switch faults at run time; `None`: only
    /// when the server listens on loopback alone.
    pub fault_control: Option<bool>,
    /// `--inspector on|off`: whether pages may open the wire inspector (`inspector/`);
    /// `None`: only when the server listens on loopback alone.
    pub inspector: Option<bool>,
    /// `--room`: where the chat room's log lives (`room/`).
    pub room: crate::room::Store,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: DEFAULT_BIND.to_string(),
            port: DEFAULT_PORT,
            listen_on_stdin: false,
            demo: None,
            trace: false,
            quiet: false,
            max_conns: None,
            max_held: None,
            max_conns_per_client: None,
            memory_budget: limits::MEMORY_BUDGET_BYTES,
            timeouts: Timeouts::default(),
            tick: DEFAULT_TICK,
            hold: DEFAULT_HOLD,
            extra_origins: Vec::new(),
            faults: crate::faults::Faults::default(),
            fault_control: None,
            inspector: None,
            room: crate::room::Store::Memory,
        }
    }
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    Serve(Box<Config>),
    List,
    Help,
}

/// Reads the arguments after the program name. The error is one line for the user.
pub fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut config = Config::default();
    let mut args = args.into_iter();
    // Whether --port or --bind was given, which --listen-on-stdin cannot honour.
    let mut address_given = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--help" | "-h" => return Ok(Command::Help),
            "--list" => return Ok(Command::List),
            "--trace" => config.trace = true,
            "--quiet" | "-q" => config.quiet = true,
            "--port" => {
                let value = args
                    .next()
                    .ok_or("--port needs a number, e.g. --port 8089")?;
                config.port = value
                    .parse()
                    .map_err(|_| format!("--port {value}: not a port number (0 to 65535)"))?;
                address_given = Some("--port");
            }
            "--bind" => {
                config.bind = args
                    .next()
                    .ok_or("--bind needs an address, e.g. --bind 0.0.0.0")?;
                address_given = Some("--bind");
            }
            "--listen-on-stdin" => config.listen_on_stdin = true,
            "--max-conns" => config.max_conns = Some(count(&arg, args.next())?),
            "--max-held" => config.max_held = Some(count(&arg, args.next())?),
            "--max-conns-per-client" => {
                config.max_conns_per_client = Some(count(&arg, args.next())?);
            }
            "--allow-origin" => {
                let origin = args
                    .next()
                    .ok_or("--allow-origin needs an origin, e.g. http://a.test")?;
                if !is_serialized_origin(&origin) {
                    return Err(format!(
                        "--allow-origin {origin}: write an origin as a browser sends it, \
                         scheme://host[:port] in lower case with no path, e.g. http://a.test:3000"
                    ));
                }
                config.extra_origins.push(origin);
            }
            "--faults" => {
                let spec = args
                    .next()
                    .ok_or("--faults needs a list, e.g. --faults buffer=4k,idle-cut=30s")?;
                config.faults =
                    crate::faults::Faults::parse(&spec).map_err(|e| format!("--faults: {e}"))?;
            }
            "--fault-control" => {
                config.fault_control = match args.next().as_deref() {
                    Some("on") => Some(true),
                    Some("off") => Some(false),
                    _ => return Err("--fault-control needs on or off".to_string()),
                };
            }
            "--inspector" => {
                config.inspector = match args.next().as_deref() {
                    Some("on") => Some(true),
                    Some("off") => Some(false),
                    _ => return Err("--inspector needs on or off".to_string()),
                };
            }
            "--room" => {
                let value = args
                    .next()
                    .ok_or("--room needs memory or redis://HOST:PORT")?;
                config.room =
                    crate::room::Store::parse(&value).map_err(|e| format!("--room {e}"))?;
            }
            "--tick-ms" => config.tick = millis(&arg, args.next())?,
            "--hold-ms" => config.hold = millis(&arg, args.next())?,
            flag if flag.starts_with('-') => return Err(format!("unknown option {flag}")),
            demo if config.demo.is_none() => config.demo = Some(demo.to_string()),
            extra => return Err(format!("one demo at a time: {extra} is one too many")),
        }
    }
    if let (true, Some(flag)) = (config.listen_on_stdin, address_given) {
        return Err(format!(
            "{flag} and --listen-on-stdin: the socket on standard input is already bound; \
             drop {flag}"
        ));
    }
    Ok(Command::Serve(Box::new(config)))
}

/// An origin as browsers serialize it in the `Origin` header (RFC 6454 §6.2): `http` or
/// `https`, `://`, a lower-case host, an optional port, and nothing after. Origins are
/// compared byte for byte, so `http://A.test/` would silently never match anything.
fn is_serialized_origin(origin: &str) -> bool {
    let Some(rest) = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
    else {
        return false;
    };
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || host.starts_with('[') => (host, Some(port)),
        _ => (rest, None),
    };
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.[]:".contains(&b));
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    host_ok && port_ok
}

/// A flag's value as a count, at least 1.
fn count(flag: &str, value: Option<String>) -> Result<usize, String> {
    let value = value.ok_or_else(|| format!("{flag} needs a number"))?;
    match value.parse() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{flag} {value}: needs a number above 0")),
    }
}

/// A flag's value in milliseconds, at least 1.
fn millis(flag: &str, value: Option<String>) -> Result<Duration, String> {
    match value.as_deref().map(str::parse::<u64>) {
        Some(Ok(ms)) if ms > 0 => Ok(Duration::from_millis(ms)),
        _ => Err(format!("{flag} needs a number of milliseconds above 0")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_args(args.iter().map(ToString::to_string))
    }

    #[test]
    fn defaults_are_the_articles() {
        let Ok(Command::Serve(config)) = parse(&[]) else {
            panic!("no arguments should serve")
        };
        assert_eq!((config.bind.as_str(), config.port), ("localhost", 8088));
        assert_eq!(config.demo, None);
    }

    #[test]
    fn flags_and_a_demo() {
        let Ok(Command::Serve(c)) = parse(&[
            "sse", "--port", "0", "--bind", "0.0.0.0", "--trace", "--quiet",
        ]) else {
            panic!("should serve")
        };
        assert_eq!(c.demo.as_deref(), Some("sse"));
        assert_eq!(
            (c.port, c.bind.as_str(), c.trace, c.quiet),
            (0, "0.0.0.0", true, true)
        );
        assert!(matches!(parse(&["--list"]), Ok(Command::List)));
        assert!(matches!(parse(&["--help"]), Ok(Command::Help)));
    }

    #[test]
    fn origins_must_be_written_as_browsers_send_them() {
        for good in [
            "http://a.test",
            "https://a.test:3000",
            "http://127.0.0.1:8088",
            "http://[::1]:8088",
        ] {
            assert!(is_serialized_origin(good), "{good}");
        }
        for bad in [
            "a.test",
            "http://a.test/",
            "http://A.test",
            "null",
            "*",
            "ftp://a",
            "http://",
            "http://a:x",
        ] {
            assert!(!is_serialized_origin(bad), "{bad}");
        }
    }

    #[test]
    fn mistakes_are_one_line_each() {
        for (args, want) in [
            (&["--port"][..], "--port needs a number, e.g. --port 8089"),
            (
                &["--port", "99999"],
                "--port 99999: not a port number (0 to 65535)",
            ),
            (
                &["--max-conns", "0"],
                "--max-conns 0: needs a number above 0",
            ),
            (&["--frobnicate"], "unknown option --frobnicate"),
            (&["sse", "ajax"], "one demo at a time: ajax is one too many"),
            (
                &["--faults", "bufer"],
                "--faults: no fault is called \"bufer\"; the faults are buffer, \
                 strip-upgrade, stall-sockets, idle-cut, hold-cap, latency, bandwidth, drop",
            ),
            (
                &["--fault-control", "yes"],
                "--fault-control needs on or off",
            ),
            (&["--inspector"], "--inspector needs on or off"),
            (&["--room"], "--room needs memory or redis://HOST:PORT"),
            (
                &["--room", "redis:/h"],
                "--room redis:/h: a room lives in memory or at redis://HOST:PORT",
            ),
            (
                &["--room", "redis://h:x"],
                "--room redis://h:x: \"x\" is not a port number",
            ),
        ] {
            assert_eq!(parse(args).err().as_deref(), Some(want));
        }
    }
}
