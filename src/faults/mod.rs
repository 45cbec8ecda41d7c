//! Faults: what real networks do to these techniques, played by the server on demand.
//!
//! Every demo runs over a perfect loopback, yet real pages sit behind proxies that buffer
//! responses, strip `Upgrade`, cut idle connections and cap how long a request may stay open,
//! on networks that are slow, narrow, and drop connections in the middle of a message. A
//! fault here is one such middlebox behaviour, named after the product that does it
//! (`docs/16-faults.md` has the table), and off unless switched on:
//!
//! ```text
//! --faults buffer=4k,idle-cut=2s        every demo endpoint, from the start
//! POST /faults  spec=latency=200ms      the same, at run time (the panel on every page)
//! GET /chat/events?faults=buffer        this request only (a query parameter, or the
//! Webwire-Faults: buffer                 header: what a test sets)
//! ```
//!
//! How they are played: `strip-upgrade` edits the parsed request, as a proxy that does not
//! forward hop-by-hop headers would. The others are a real middlebox in the process: the
//! connection is handed to a relay (`relay.rs`) that sits between the client's socket and the
//! server's, copies the bytes both ways, and does to them what the fault says. The server's
//! own code runs unchanged behind it, as it would behind nginx.

use std::fmt;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::http::request::Request;

pub mod control;
pub mod relay;

// ANCHOR: fault_limits
/// `buffer` without a size: hold a response until 4 KiB have gathered, one memory page, the
/// size of nginx's `proxy_buffer_size` on most machines.
pub const DEFAULT_BUFFER_BYTES: usize = 4 * 1024;
/// The most a buffer may hold: `buffer`'s largest size, and the most `stall-sockets` keeps
/// before it gives up and cuts. One held response costs at most this much memory.
pub const MAX_BUFFER_BYTES: usize = 1024 * 1024;
/// `idle-cut` without a time: nginx's `proxy_read_timeout` and an AWS load balancer's idle
/// timeout are both 60 s by default.
pub const DEFAULT_IDLE_CUT: Duration = Duration::from_secs(60);
/// `hold-cap` without a time: the default request timeout of a Google Cloud load balancer's
/// backend, and Heroku's window for the first byte.
pub const DEFAULT_HOLD_CAP: Duration = Duration::from_secs(30);
/// `latency` without a time, added each way: a long mobile or intercontinental path.
pub const DEFAULT_LATENCY: Duration = Duration::from_millis(150);
/// `bandwidth` without a rate, in bytes per second each way: a poor 2G link.
pub const DEFAULT_BANDWIDTH: u64 = 8 * 1024;
/// `drop` without a count: the bytes a connection carries towards the client before the
/// next piece the server writes is cut in the middle.
pub const DEFAULT_DROP_AFTER: u64 = 1024;
/// The largest size, time or count a fault accepts: more is surely a typing mistake.
pub const MAX_FAULT_BYTES: u64 = 64 * 1024 * 1024;
pub const MAX_FAULT_TIME: Duration = Duration::from_secs(3600);
/// The longest `faults=` spec read from a request: the whole list is far shorter.
pub const MAX_SPEC_BYTES: usize = 256;
// ANCHOR_END: fault_limits

// ANCHOR: faults
/// Which faults are on, each with its setting. `Faults::default()` is a perfect network.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    /// A buffering proxy: a response reaches the client only when this many bytes have
    /// gathered, or when it ends (nginx's `proxy_buffering`, antivirus "web shields").
    pub buffer: Option<usize>,
    /// A proxy that does not pass `Upgrade` and `Connection` on: they are hop-by-hop headers
    /// (RFC 9110 §7.6.1), and nginx drops them unless told to set them again.
    pub strip_upgrade: bool,
    /// A scanner that lets a WebSocket handshake through, then holds every frame towards the
    /// browser until the connection ends (antivirus "web shields"): the socket opens, and
    /// nothing ever arrives on it.
    pub stall_sockets: bool,
    /// A connection with no byte either way for this long is closed without a word
    /// (nginx's `proxy_read_timeout`, load balancers' idle timeouts).
    pub idle_cut: Option<Duration>,
    /// A request still unanswered, or a response still open, this long after the request is
    /// cut: 504 if nothing was sent yet, else the connection just ends (a proxy's request
    /// timeout: Heroku's 30 s, a Google load balancer's backend timeout).
    pub hold_cap: Option<Duration>,
    /// Added to every piece, each way.
    pub latency: Option<Duration>,
    /// Bytes per second, each way.
    pub bandwidth: Option<u64>,
    /// After this many bytes towards the client, the next piece is cut in half and the
    /// connection with it: a drop in the middle of a message or a frame.
    pub drop_after: Option<u64>,
}
// ANCHOR_END: faults

impl Faults {
    /// Nothing is on.
    pub fn is_off(&self) -> bool {
        *self == Faults::default()
    }

    /// Whether any fault needs the relay: all but `strip-upgrade`, which edits the request.
    pub fn needs_relay(&self) -> bool {
        Faults {
            strip_upgrade: false,
            ..*self
        } != Faults::default()
    }

    /// Parses a spec: `name[=value]` items separated by commas, e.g.
    /// `buffer=4k,idle-cut=2s,latency=200ms`. Sizes are bytes, or KiB with `k`; times are
    /// `ms` or `s`. An empty spec, or `none`, is a perfect network. The error is one line.
    pub fn parse(spec: &str) -> Result<Faults, String> {
        let mut faults = Faults::default();
        for item in spec.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (name, value) = match item.split_once('=') {
                Some((name, value)) => (name.trim(), Some(value.trim())),
                None => (item, None),
            };
            match name {
                "none" if value.is_none() => {}
                "buffer" => {
                    let bytes = size(name, value, DEFAULT_BUFFER_BYTES as u64)?;
                    if bytes > MAX_BUFFER_BYTES as u64 {
                        return Err(format!(
                            "buffer={}: a buffer holds at most 1024k (MAX_BUFFER_BYTES)",
                            value.unwrap_or("")
                        ));
                    }
                    faults.buffer = Some(bytes as usize);
                }
                "stall-sockets" if value.is_none() => faults.stall_sockets = true,
                "strip-upgrade" if value.is_none() => faults.strip_upgrade = true,
                "idle-cut" => faults.idle_cut = Some(time(name, value, DEFAULT_IDLE_CUT)?),
                "hold-cap" => faults.hold_cap = Some(time(name, value, DEFAULT_HOLD_CAP)?),
                "latency" => faults.latency = Some(time(name, value, DEFAULT_LATENCY)?),
                "bandwidth" => faults.bandwidth = Some(size(name, value, DEFAULT_BANDWIDTH)?),
                "drop" => faults.drop_after = Some(size(name, value, DEFAULT_DROP_AFTER)?),
                "none" | "strip-upgrade" | "stall-sockets" => {
                    return Err(format!("{name} takes no value"));
                }
                _ => {
                    return Err(format!(
                        "no fault is called {name:?}; the faults are {}",
                        NAMES.join(", ")
                    ));
                }
            }
        }
        Ok(faults)
    }

    /// These faults, with `other`'s settings taking the place of ours wherever `other` has one.
    pub fn overlaid_with(self, other: Faults) -> Faults {
        Faults {
            buffer: other.buffer.or(self.buffer),
            strip_upgrade: other.strip_upgrade || self.strip_upgrade,
            stall_sockets: other.stall_sockets || self.stall_sockets,
            idle_cut: other.idle_cut.or(self.idle_cut),
            hold_cap: other.hold_cap.or(self.hold_cap),
            latency: other.latency.or(self.latency),
            bandwidth: other.bandwidth.or(self.bandwidth),
            drop_after: other.drop_after.or(self.drop_after),
        }
    }
}

/// Every fault's name, in the order the spec is written back.
pub const NAMES: [&str; 8] = [
    "buffer",
    "strip-upgrade",
    "stall-sockets",
    "idle-cut",
    "hold-cap",
    "latency",
    "bandwidth",
    "drop",
];

/// The spec again, canonical: `buffer=4k,idle-cut=2s`, or `none`.
impl fmt::Display for Faults {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let mut items = Vec::new();
        if let Some(bytes) = self.buffer {
            items.push(format!("buffer={}", bytes_text(bytes as u64)));
        }
        if self.strip_upgrade {
            items.push("strip-upgrade".to_string());
        }
        if self.stall_sockets {
            items.push("stall-sockets".to_string());
        }
        if let Some(time) = self.idle_cut {
            items.push(format!("idle-cut={}", time_text(time)));
        }
        if let Some(time) = self.hold_cap {
            items.push(format!("hold-cap={}", time_text(time)));
        }
        if let Some(time) = self.latency {
            items.push(format!("latency={}", time_text(time)));
        }
        if let Some(rate) = self.bandwidth {
            items.push(format!("bandwidth={}", bytes_text(rate)));
        }
        if let Some(bytes) = self.drop_after {
            items.push(format!("drop={}", bytes_text(bytes)));
        }
        if items.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&items.join(","))
        }
    }
}

fn size(name: &str, value: Option<&str>, default: u64) -> Result<u64, String> {
    let Some(value) = value else {
        return Ok(default);
    };
    let (digits, scale) = match value.strip_suffix(['k', 'K']) {
        Some(digits) => (digits, 1024),
        None => (value, 1),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .filter(|n| (1..=MAX_FAULT_BYTES).contains(n))
        .ok_or_else(|| {
            format!("{name}={value}: give a size from 1 byte to 64 MiB, in bytes or KiB, e.g. 4k")
        })
}

fn time(name: &str, value: Option<&str>, default: Duration) -> Result<Duration, String> {
    let Some(value) = value else {
        return Ok(default);
    };
    let (digits, millis_per) = if let Some(digits) = value.strip_suffix("ms") {
        (digits, 1)
    } else if let Some(digits) = value.strip_suffix('s') {
        (digits, 1000)
    } else {
        (value, 1000) // a bare number is seconds
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(millis_per))
        .map(Duration::from_millis)
        .filter(|t| !t.is_zero() && *t <= MAX_FAULT_TIME)
        .ok_or_else(|| {
            format!("{name}={value}: give a time from 1 ms to an hour, e.g. 2s or 200ms")
        })
}

fn bytes_text(bytes: u64) -> String {
    if bytes.is_multiple_of(1024) {
        format!("{}k", bytes / 1024)
    } else {
        bytes.to_string()
    }
}

pub(crate) fn time_text(time: Duration) -> String {
    let ms = time.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

// ANCHOR: switch
/// The faults in force for the whole server, changed at run time by `POST /faults`.
#[derive(Debug, Default)]
pub struct Switch {
    server_wide: RwLock<Faults>,
    /// Whether `server_wide` has any fault on: what every request checks, without a lock.
    any_on: AtomicBool,
}

/// The request's own choice: `?faults=SPEC`, or the `Webwire-Faults: SPEC` header.
pub const FAULTS_PARAM: &str = "faults";
pub const FAULTS_HEADER: &str = "webwire-faults";

impl Switch {
    pub fn new(faults: Faults) -> Switch {
        Switch {
            server_wide: RwLock::new(faults),
            any_on: AtomicBool::new(!faults.is_off()),
        }
    }

    /// Whether any fault is on for the whole server.
    pub fn any_on(&self) -> bool {
        self.any_on.load(Ordering::Relaxed)
    }

    pub fn server_wide(&self) -> Faults {
        *self
            .server_wide
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn set(&self, faults: Faults) {
        *self
            .server_wide
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = faults;
        self.any_on.store(!faults.is_off(), Ordering::Relaxed);
    }

    /// The faults for this request: its own `faults=` or header (which may say `none`), laid
    /// over the server-wide ones. The server-wide ones apply to what the demos answer, never
    /// to the pages, the chapters or this switch (`exempt`): however broken the network is
    /// made, the page that turns it off still loads. A request's own choice applies to any
    /// path. A spec that does not parse is the request's mistake: a one-line reason for a 400.
    pub fn for_request(&self, request: &Request, exempt: bool) -> Result<Faults, String> {
        let own = request
            .query_param(FAULTS_PARAM)
            .or_else(|| request.header(FAULTS_HEADER).map(str::to_string));
        let base = if exempt {
            Faults::default()
        } else {
            self.server_wide()
        };
        match own {
            None => Ok(base),
            Some(spec) if spec.len() > MAX_SPEC_BYTES => {
                Err(format!("the faults spec is over {MAX_SPEC_BYTES} bytes"))
            }
            Some(spec) if spec.trim() == "none" => Ok(Faults::default()),
            // The reason quotes the spec: its control characters escaped, so it stays one line.
            Some(spec) => Ok(base.overlaid_with(
                Faults::parse(&spec)
                    .map_err(|reason| crate::text::escape_controls(&reason).into_owned())?,
            )),
        }
    }
}
// ANCHOR_END: switch

/// `Upgrade` and `Connection` removed, as a proxy that does not forward hop-by-hop headers
/// leaves them: the server sees a plain GET. Says whether there was anything to remove.
pub fn strip_upgrade(request: &mut Request) -> bool {
    let before = request.headers.len();
    request.headers.retain(|(name, _)| {
        !name.eq_ignore_ascii_case("upgrade") && !name.eq_ignore_ascii_case("connection")
    });
    request.headers.len() != before
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_print_back() {
        let faults = Faults::parse("buffer,idle-cut=2s, latency=250ms,drop=300").unwrap();
        assert_eq!(faults.buffer, Some(4096));
        assert_eq!(faults.idle_cut, Some(Duration::from_secs(2)));
        assert_eq!(faults.latency, Some(Duration::from_millis(250)));
        assert_eq!(faults.drop_after, Some(300));
        assert_eq!(
            faults.to_string(),
            "buffer=4k,idle-cut=2s,latency=250ms,drop=300"
        );
        assert_eq!(Faults::parse("").unwrap().to_string(), "none");
        assert_eq!(Faults::parse("none").unwrap(), Faults::default());
        assert_eq!(
            Faults::parse("strip-upgrade,hold-cap=5,bandwidth=2k")
                .unwrap()
                .to_string(),
            "strip-upgrade,hold-cap=5s,bandwidth=2k"
        );
    }

    #[test]
    fn bad_specs_say_why_in_one_line() {
        for (spec, says) in [
            ("bufer", "no fault is called \"bufer\""),
            ("buffer=0", "buffer=0: give a size"),
            ("buffer=1x", "buffer=1x: give a size"),
            ("idle-cut=0s", "idle-cut=0s: give a time"),
            ("idle-cut=2h", "idle-cut=2h: give a time"),
            ("latency=99999999999999999999ms", "latency="),
            ("strip-upgrade=yes", "strip-upgrade takes no value"),
            ("drop=65537k", "drop=65537k: give a size"),
            ("buffer=1025k", "buffer=1025k: a buffer holds at most 1024k"),
            ("stall-sockets=1", "stall-sockets takes no value"),
        ] {
            let error = Faults::parse(spec).unwrap_err();
            assert!(error.starts_with(says), "{spec}: {error}");
            assert!(!error.contains('\n'));
        }
    }

    #[test]
    fn a_requests_own_faults_lie_over_the_server_wide_ones() {
        let switch = Switch::new(Faults::parse("buffer=1k,latency=10ms").unwrap());
        let request = crate::http::request::parsed(
            "GET /x?faults=buffer%3D2k%2Cstrip-upgrade HTTP/1.1\r\nHost: a\r\n\r\n",
        );
        let faults = switch.for_request(&request, false).unwrap();
        assert_eq!(faults.to_string(), "buffer=2k,strip-upgrade,latency=10ms");
        let faults = switch.for_request(&request, true).unwrap();
        assert_eq!(faults.to_string(), "buffer=2k,strip-upgrade");
        let none = crate::http::request::parsed(
            "GET /x HTTP/1.1\r\nHost: a\r\nWebwire-Faults: none\r\n\r\n",
        );
        assert!(switch.for_request(&none, false).unwrap().is_off());
        let bad = crate::http::request::parsed("GET /x?faults=nope HTTP/1.1\r\nHost: a\r\n\r\n");
        let why = switch.for_request(&bad, false).unwrap_err();
        assert!(why.contains("no fault is called"));
    }

    #[test]
    fn only_strip_upgrade_edits_the_request_instead_of_relaying() {
        assert!(!Faults::parse("strip-upgrade").unwrap().needs_relay());
        assert!(Faults::parse("strip-upgrade,drop").unwrap().needs_relay());
        let mut request = crate::http::request::parsed(
            "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        );
        assert!(strip_upgrade(&mut request));
        assert_eq!(request.header("upgrade"), None);
        assert_eq!(request.header("host"), Some("a"));
    }
}
