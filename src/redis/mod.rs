//! A Redis client by hand on `std::net`: where the server is (`Address`, from a
//! `redis://` URL), and one connection that sends a command and reads its reply (`Connection`).
//!
//! It speaks RESP2 (`resp.rs`), which every Redis since 2.0 answers by default, and blocks like
//! everything else here: one command at a time on one socket, each with a deadline. The room
//! that lives in Redis (`room/`) keeps two connections per process: one for publishing, one
//! that blocks in `XREAD` waiting for news.

pub mod resp;

use std::io::{self, BufReader, ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::log::Log;

pub use resp::Value;

// ANCHOR: redis_limits
/// How long connecting to Redis may take, per address the host name resolves to.
pub const REDIS_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one command may take to be written and answered, all of it: one deadline for
/// the whole reply, not one per read, so a Redis that trickles a byte a second cannot hold a
/// command for longer (a blocking `XREAD` adds its own block time to this). Redis answers a
/// publish in well under a millisecond; a Redis that takes seconds is as good as gone, and a
/// send should fail rather than hang.
pub const REDIS_COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
// ANCHOR_END: redis_limits

/// The default port of Redis.
pub const DEFAULT_REDIS_PORT: u16 = 6379;

// ANCHOR: address
/// Where Redis listens, and how to log in: `redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]`, the
/// form redis-cli's `-u` and every client library take (the IANA `redis` URI scheme).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<String>,
    /// The database number `SELECT`ed after connecting; 0 is Redis's default.
    pub db: u32,
}

impl Address {
    pub fn parse(url: &str) -> Result<Address, String> {
        let rest = url.strip_prefix("redis://").ok_or_else(|| {
            format!("{url}: write the address as redis://HOST:PORT, e.g. redis://127.0.0.1:6379")
        })?;
        // The login first, at the last `@`: a password may hold `/` or `@`.
        let (login, after_login) = match rest.rsplit_once('@') {
            Some((login, after)) => (Some(login), after),
            None => (None, rest),
        };
        let (host_port, db) = match after_login.split_once('/') {
            Some((host_port, "")) => (host_port, 0),
            Some((host_port, db)) => (
                host_port,
                db.parse()
                    .map_err(|_| format!("{url}: the database after / must be a number"))?,
            ),
            None => (after_login, 0),
        };
        let (user, password) = match login.map(|l| l.split_once(':')) {
            None => (None, None),
            Some(Some((user, password))) => (
                Some(user.to_string()).filter(|u| !u.is_empty()),
                Some(password.to_string()),
            ),
            Some(None) => return Err(format!("{url}: write a password as :PASSWORD@")),
        };
        // `[::1]:6379`: the brackets keep an IPv6 address's colons apart from the port's.
        let (host, port) = match host_port.rsplit_once(':') {
            Some((host, port)) if !host.starts_with('[') || host.ends_with(']') => (
                host,
                port.parse()
                    .map_err(|_| format!("{url}: {port:?} is not a port number"))?,
            ),
            _ => (host_port, DEFAULT_REDIS_PORT),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(format!("{url}: no host name"));
        }
        Ok(Address {
            host: host.to_string(),
            port,
            user,
            password,
            db,
        })
    }

    /// The address as a URL, without the password: for logs and start-up lines.
    pub fn display(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let login = match (&self.user, &self.password) {
            (_, None) => String::new(),
            (Some(user), Some(_)) => format!("{user}:***@"),
            (None, Some(_)) => ":***@".to_string(),
        };
        let db = if self.db == 0 {
            String::new()
        } else {
            format!("/{}", self.db)
        };
        format!("redis://{login}{host}:{}{db}", self.port)
    }
}
// ANCHOR_END: address

// ANCHOR: connection
/// One connection to Redis: a command goes out whole, then its reply is read whole.
pub struct Connection {
    stream: TcpStream,
    reader: BufReader<Deadline>,
    /// With `--trace`: where to show each command and reply, and this connection's number.
    trace: Option<(Log, u64)>,
}

impl Connection {
    /// Connects, logs in (`AUTH`) and picks the database (`SELECT`) if the address says so.
    pub fn open(address: &Address) -> io::Result<Connection> {
        Connection::open_traced(address, None)
    }

    /// `open`, showing every command and reply in `trace` (the server's `--trace`), as
    /// `redis#N >` (to Redis) and `redis#N <` lines with CR LF spelled out.
    pub fn open_traced(address: &Address, trace: Option<Log>) -> io::Result<Connection> {
        let mut last_error =
            io::Error::new(ErrorKind::NotFound, "the host name resolves to nothing");
        for socket_address in (address.host.as_str(), address.port).to_socket_addrs()? {
            match TcpStream::connect_timeout(&socket_address, REDIS_CONNECT_TIMEOUT) {
                Ok(stream) => return Connection::start(stream, address, trace),
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }

    fn start(stream: TcpStream, address: &Address, trace: Option<Log>) -> io::Result<Connection> {
        /// Connections numbered in the order they opened, for `--trace`.
        static OPENED: AtomicU64 = AtomicU64::new(0);
        // Each command is one small write that must go at once, not wait for Nagle's timer.
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(REDIS_COMMAND_TIMEOUT))?;
        stream.set_write_timeout(Some(REDIS_COMMAND_TIMEOUT))?;
        let reader = BufReader::new(Deadline {
            stream: stream.try_clone()?,
            at: Instant::now(),
        });
        let trace = trace.map(|log| (log, OPENED.fetch_add(1, Ordering::Relaxed) + 1));
        let mut connection = Connection {
            stream,
            reader,
            trace,
        };
        if let Some(password) = &address.password {
            let mut command: Vec<&[u8]> = vec![b"AUTH"];
            if let Some(user) = &address.user {
                command.push(user.as_bytes());
            }
            command.push(password.as_bytes());
            connection.expect_ok(&command)?;
        }
        if address.db != 0 {
            let db = address.db.to_string();
            connection.expect_ok(&[b"SELECT", db.as_bytes()])?;
        }
        Ok(connection)
    }

    /// Sends one command and reads its reply, within `REDIS_COMMAND_TIMEOUT`. An error
    /// *reply* (`-ERR ...`) is a `Value`; a `Failed` means the connection failed or cannot be
    /// trusted and must be dropped, and says whether Redis may have run the command.
    pub fn command(&mut self, arguments: &[&[u8]]) -> Result<Value, Failed> {
        self.command_within(arguments, REDIS_COMMAND_TIMEOUT)
    }

    /// `command` for a command that blocks in Redis (`XREAD BLOCK ms`): the reply may take
    /// `block` longer than any other.
    pub fn blocking_command(
        &mut self,
        arguments: &[&[u8]],
        block: Duration,
    ) -> Result<Value, Failed> {
        self.command_within(arguments, REDIS_COMMAND_TIMEOUT + block)
    }

    fn command_within(&mut self, arguments: &[&[u8]], limit: Duration) -> Result<Value, Failed> {
        let command = resp::encode(arguments);
        self.show(">", &command);
        self.reader.get_mut().at = Instant::now() + limit;
        // Until the last byte is written, Redis has not got the whole command, and a command
        // it has not got whole it does not run.
        self.stream.write_all(&command).map_err(Failed::NotSent)?;
        let reply = resp::read_reply(&mut self.reader).map_err(Failed::NoReply)?;
        if self.trace.is_some() {
            self.show("<", &resp::encode_reply(&reply));
        }
        Ok(reply)
    }

    /// With `--trace`, the bytes as they crossed; a password (`AUTH`'s arguments) as `***`.
    fn show(&self, direction: &str, bytes: &[u8]) {
        let Some((log, number)) = &self.trace else {
            return;
        };
        let is_auth = direction == ">" && first_argument(bytes) == Some(b"AUTH".as_slice());
        let shown = if is_auth {
            b"*N\r\n$4\r\nAUTH\r\n*** (the login, not shown)\r\n".to_vec()
        } else {
            bytes.to_vec()
        };
        log.write(crate::text::wire_lines(
            &format!("redis#{number} {direction} "),
            &shown,
        ));
    }

    /// Whether Redis has closed this connection while it sat unused (a restart, its
    /// `timeout` setting): a pool checks before lending a connection out, because a command
    /// written into a closed connection fails only when its reply is awaited, and then nobody
    /// can tell whether Redis ran it. Never blocks.
    pub fn closed_while_idle(&mut self) -> bool {
        if !self.reader.buffer().is_empty() || self.stream.set_nonblocking(true).is_err() {
            return true; // bytes nobody asked for: out of step, so as good as closed
        }
        let mut byte = [0u8; 1];
        let closed = match self.stream.peek(&mut byte) {
            Ok(_) => true, // 0: closed; more: bytes nobody asked for
            Err(e) => e.kind() != ErrorKind::WouldBlock,
        };
        self.stream.set_nonblocking(false).is_err() || closed
    }

    fn expect_ok(&mut self, arguments: &[&[u8]]) -> io::Result<()> {
        match self.command(arguments).map_err(Failed::into_io)? {
            Value::Simple(ok) if ok == "OK" => Ok(()),
            Value::Error(message) => Err(io::Error::new(ErrorKind::PermissionDenied, message)),
            other => Err(io::Error::new(
                ErrorKind::InvalidData,
                format!("expected OK, got {other:?}"),
            )),
        }
    }
}
// ANCHOR_END: connection

// ANCHOR: failed
/// How a command failed. The difference matters for a command that changes something: one
/// that never reached Redis whole was not run, and may be sent again; one that was sent and
/// got no reply may have been run, and sending it again may do it twice.
#[derive(Debug)]
pub enum Failed {
    /// The command could not be written (whole): Redis did not run it.
    NotSent(io::Error),
    /// The command was written, and no whole reply came in time: Redis may have run it.
    NoReply(io::Error),
}
// ANCHOR_END: failed

impl Failed {
    pub fn into_io(self) -> io::Error {
        match self {
            Failed::NotSent(e) | Failed::NoReply(e) => e,
        }
    }
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            Failed::NotSent(e) => write!(f, "{e}"),
            Failed::NoReply(e) => write!(f, "no reply: {e}"),
        }
    }
}

/// The socket a reply is read from, with the deadline of the command being answered: each
/// read may wait only for what is left of it (`SO_RCVTIMEO` alone restarts at every read).
struct Deadline {
    stream: TcpStream,
    at: Instant,
}

impl Read for Deadline {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.at.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                ErrorKind::TimedOut,
                "the reply took too long",
            ));
        }
        self.stream.set_read_timeout(Some(left))?;
        self.stream.read(buf)
    }
}

/// The first argument of a command as RESP writes it (`*N\r\n$LEN\r\nARG\r\n…`).
fn first_argument(command: &[u8]) -> Option<&[u8]> {
    let after_count = &command[command.windows(2).position(|w| w == b"\r\n")? + 2..];
    let after_length = &after_count[after_count.windows(2).position(|w| w == b"\r\n")? + 2..];
    let end = after_length.windows(2).position(|w| w == b"\r\n")?;
    Some(&after_length[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_as_redis_cli_writes_them() {
        let plain = Address::parse("redis://127.0.0.1:6380").unwrap();
        assert_eq!(
            (plain.host.as_str(), plain.port, plain.db, plain.password),
            ("127.0.0.1", 6380, 0, None)
        );
        assert_eq!(Address::parse("redis://localhost").unwrap().port, 6379);
        let full = Address::parse("redis://ann:secret@[::1]:7000/2").unwrap();
        assert_eq!((full.host.as_str(), full.port, full.db), ("::1", 7000, 2));
        assert_eq!(
            (full.user.as_deref(), full.password.as_deref()),
            (Some("ann"), Some("secret"))
        );
        assert_eq!(full.display(), "redis://ann:***@[::1]:7000/2");
        let password_only = Address::parse("redis://:pw@h").unwrap();
        assert_eq!(
            (password_only.user, password_only.password.as_deref()),
            (None, Some("pw"))
        );
        assert_eq!(Address::parse("redis://[::1]").unwrap().host, "::1");
        assert_eq!(
            first_argument(b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n"),
            Some(&b"AUTH"[..])
        );
        assert_eq!(first_argument(b"*1\r\n$4\r\nPING\r\n"), Some(&b"PING"[..]));
        let slashed = Address::parse("redis://:a/b@c@h:1/3").unwrap();
        assert_eq!(
            (
                slashed.password.as_deref(),
                slashed.host.as_str(),
                slashed.db
            ),
            (Some("a/b@c"), "h", 3)
        );
        for bad in [
            "http://h:1",
            "h:6379",
            "redis://",
            "redis://h:port",
            "redis://h:1/x",
            "redis://pw@h",
        ] {
            assert!(Address::parse(bad).is_err(), "{bad}");
        }
    }
}
