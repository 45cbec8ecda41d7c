//! The middlebox: a relay between the client's socket and the server's, doing what the faults
//! say to the bytes it copies.
//!
//! ```text
//!  browser ── client socket ══ relay ══ a loopback pair ── the server's own code
//!                           up: client → server   (latency, bandwidth)
//!                         down: server → client   (buffer, latency, bandwidth, drop)
//!              and, watching both: idle-cut, hold-cap
//! ```
//!
//! The server's connection thread hands its client socket to `interpose` and carries on with
//! the other end of a fresh loopback pair, exactly as it would behind nginx: its code does not
//! change, and what the client sees is what a real middlebox would let through. Like nginx
//! talking to its upstream by default, a relayed connection carries one request (the server
//! is asked to close after it): the end of the response is then the end of the connection,
//! which is all a buffering proxy needs to know to let the rest go. Two threads copy, one
//! each way; `Relay::finish` waits for both, so the connection's seat is given back only when
//! the client has seen everything.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::{Faults, MAX_BUFFER_BYTES};
use crate::limits::{LINGER_TIMEOUT, READ_CHUNK_BYTES, THREAD_STACK_BYTES, WRITE_TIMEOUT};
use crate::log::Log;

// ANCHOR: relay_limits
/// How often a relay thread waiting for bytes looks at the clock (for `idle-cut` and
/// `hold-cap`, and to notice the other side has ended): the faults act within this of their
/// time.
pub const RELAY_TICK: Duration = Duration::from_millis(20);
/// The most relays at once. Each costs two threads and three sockets besides its connection's,
/// none of them counted by `--max-conns`: without a cap, a client asking `?faults=latency` on
/// every request could triple what each of its connections costs the server. Past it: 503.
pub const MAX_RELAYS: usize = 256;
// ANCHOR_END: relay_limits

/// The interim answer to `Expect: 100-continue`, as the server writes it.
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// A relay at work: `finish` waits for it.
pub struct Relay {
    threads: Vec<JoinHandle<()>>,
}

impl Relay {
    /// Waits until both directions have ended: the client has had every byte, or was cut.
    pub fn finish(self) {
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

/// One relayed connection, as both threads see it.
struct Line {
    faults: Faults,
    started: Instant,
    /// When a byte last crossed, either way (for `idle-cut`).
    last_byte: Mutex<Instant>,
    /// Cut, or finished: both threads stop.
    ended: AtomicBool,
    /// The server has closed its side: the response is complete.
    server_done: AtomicBool,
    client: Arc<TcpStream>,
    log: Option<Log>,
    /// "#7 127.0.0.1:50312", the prefix of the connection's log lines.
    who: String,
    /// This relay's place among `MAX_RELAYS`, given back when both threads are done.
    _ticket: Ticket,
}

/// One of the `MAX_RELAYS` places, held for as long as a relay runs.
struct Ticket;

static RELAYS: AtomicUsize = AtomicUsize::new(0);

impl Ticket {
    fn take() -> Option<Ticket> {
        RELAYS
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < MAX_RELAYS).then_some(n + 1)
            })
            .ok()
            .map(|_| Ticket)
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        RELAYS.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Line {
    fn say(&self, what: &str) {
        if let Some(log) = &self.log {
            log.write(format!("{} fault {what}\n", self.who));
        }
    }

    fn touched(&self) {
        *self
            .last_byte
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Instant::now();
    }

    fn silent_for(&self) -> Duration {
        self.last_byte
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .elapsed()
    }

    fn has_ended(&self) -> bool {
        self.ended.load(Ordering::SeqCst)
    }

    /// Ends the connection both ways, without a word to either side, once.
    fn cut(&self, server: &TcpStream, why: &str) {
        if !self.ended.swap(true, Ordering::SeqCst) {
            if !why.is_empty() {
                self.say(why);
            }
            let _ = self.client.shutdown(Shutdown::Both);
            let _ = server.shutdown(Shutdown::Both);
        }
    }
}

// ANCHOR: interpose
/// Puts a middlebox playing `faults` between `client` and the server: returns the socket the
/// server should use from now on. `who` prefixes the log lines that say when a fault acted.
pub fn interpose(
    client: Arc<TcpStream>,
    faults: Faults,
    log: Option<Log>,
    who: String,
) -> io::Result<(TcpStream, Relay)> {
    let ticket = Ticket::take().ok_or_else(|| {
        io::Error::other(format!(
            "{MAX_RELAYS} connections are relayed already (MAX_RELAYS); try again later"
        ))
    })?;
    let (server_end, relay_end) = crate::net::loopback_pair()?;
    let line = Arc::new(Line {
        _ticket: ticket,
        faults,
        started: Instant::now(),
        last_byte: Mutex::new(Instant::now()),
        ended: AtomicBool::new(false),
        server_done: AtomicBool::new(false),
        client,
        log,
        who,
    });
    line.client.set_write_timeout(Some(WRITE_TIMEOUT))?;
    line.client.set_read_timeout(Some(RELAY_TICK))?;
    relay_end.set_read_timeout(Some(RELAY_TICK))?;
    relay_end.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let _ = relay_end.set_nodelay(true);
    let _ = line.client.set_nodelay(true);
    let up_end = relay_end.try_clone()?;
    let mut threads = Vec::new();
    for (name, job) in [("fault-down", true), ("fault-up", false)] {
        let for_thread = Arc::clone(&line);
        let end = if job {
            relay_end.try_clone()?
        } else {
            up_end.try_clone()?
        };
        let thread = thread::Builder::new()
            .name(name.to_string())
            .stack_size(THREAD_STACK_BYTES)
            .spawn(move || {
                if job {
                    down(&for_thread, &end);
                } else {
                    up(&for_thread, &end);
                }
            });
        match thread {
            Ok(thread) => threads.push(thread),
            Err(e) => {
                line.cut(&relay_end, "");
                return Err(e);
            }
        }
    }
    Ok((server_end, Relay { threads }))
}
// ANCHOR_END: interpose

// ANCHOR: down
/// Server to client: the response, held back, slowed, or cut as the faults say.
fn down(line: &Line, server: &TcpStream) {
    let faults = line.faults;
    let mut piece = vec![0u8; READ_CHUNK_BYTES];
    let mut held: Vec<u8> = Vec::new();
    let mut pace = Pace::new(faults.bandwidth);
    let mut sent: u64 = 0; // bytes the client has been given
    let mut received: u64 = 0; // bytes the server has written
    let mut first = true;
    let mut upgraded = false;
    while !line.has_ended() {
        match (&*server).read(&mut piece) {
            Ok(0) => {
                // The server has finished: the response is complete. A buffering proxy now
                // lets the rest go; then the client gets its FIN after the last byte.
                line.server_done.store(true, Ordering::SeqCst);
                if !held.is_empty() {
                    let fault = if upgraded { "stall-sockets" } else { "buffer" };
                    line.say(&format!(
                        "{fault}: let {} bytes through when the connection ended",
                        held.len()
                    ));
                    let rest = std::mem::take(&mut held);
                    if give(line, server, &rest, Instant::now(), &mut pace, &mut sent).is_err() {
                        return;
                    }
                }
                let _ = line.client.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => {
                let arrived = Instant::now();
                line.touched();
                received += n as u64;
                let mut bytes = &piece[..n];
                // An interim `100 Continue` is not the response: it passes at once, or a
                // client waiting for it before sending its body would wait in vain (a proxy
                // passes it on or sends its own, RFC 9110 §15.2.1).
                if first && bytes.starts_with(CONTINUE) {
                    if give(line, server, CONTINUE, arrived, &mut pace, &mut sent).is_err() {
                        return;
                    }
                    bytes = &bytes[CONTINUE.len()..];
                    if bytes.is_empty() {
                        continue;
                    }
                }
                if first {
                    first = false;
                    // A proxy buffers HTTP responses, not a protocol switched to after a 101.
                    upgraded = bytes.starts_with(b"HTTP/1.1 101");
                    if upgraded && faults.stall_sockets {
                        // The handshake passes, so the socket opens; its frames do not.
                        let head = head_length(bytes);
                        if give(line, server, &bytes[..head], arrived, &mut pace, &mut sent)
                            .is_err()
                        {
                            return;
                        }
                        line.say("stall-sockets: the handshake went through; holding every frame");
                        bytes = &bytes[head..];
                    }
                }
                if upgraded && faults.stall_sockets {
                    held.extend_from_slice(bytes);
                    if held.len() > MAX_BUFFER_BYTES {
                        line.cut(
                            server,
                            "stall-sockets: held more than MAX_BUFFER_BYTES: cut",
                        );
                        return;
                    }
                } else {
                    match faults.buffer {
                        Some(size) if !upgraded => {
                            if held.is_empty() {
                                line.say(&format!(
                                    "buffer: holding the response until {size} bytes have gathered \
                                 or it ends"
                                ));
                            }
                            held.extend_from_slice(bytes);
                            if held.len() >= size {
                                line.say(&format!(
                                    "buffer: let {} bytes through ({size} had gathered)",
                                    held.len()
                                ));
                                let full = std::mem::take(&mut held);
                                if give(line, server, &full, arrived, &mut pace, &mut sent).is_err()
                                {
                                    return;
                                }
                            }
                        }
                        _ => {
                            if give(line, server, bytes, arrived, &mut pace, &mut sent).is_err() {
                                return;
                            }
                        }
                    }
                }
            }
            Err(e) if crate::net::is_timeout(&e) => {}
            Err(_) => return line.cut(server, ""), // the server's end failed: nothing to say
        }
        if received > 0
            && line
                .faults
                .hold_cap
                .is_some_and(|cap| line.started.elapsed() >= cap)
        {
            // The server did answer: what the buffer holds goes out before the cut, as a
            // proxy passes on what it has when it gives up on the rest.
            let rest = std::mem::take(&mut held);
            if rest.is_empty()
                || give(line, server, &rest, Instant::now(), &mut pace, &mut sent).is_ok()
            {
                let cap = line
                    .faults
                    .hold_cap
                    .map(super::time_text)
                    .unwrap_or_default();
                line.cut(
                    server,
                    &format!("hold-cap: the response was still open after {cap}: cut"),
                );
            }
            return;
        }
        if watch_the_clock(line, server) {
            return;
        }
    }
}

/// `idle-cut` and `hold-cap`, checked between pieces: true when one acted.
/// (`hold-cap` once the server has answered is `down`'s, which has the held bytes.)
fn watch_the_clock(line: &Line, server: &TcpStream) -> bool {
    let faults = line.faults;
    if let Some(idle) = faults.idle_cut
        && line.silent_for() >= idle
    {
        line.cut(
            server,
            &format!(
                "idle-cut: no byte either way for {}: closed without a word",
                super::time_text(idle)
            ),
        );
        return true;
    }
    if let Some(cap) = faults.hold_cap
        && line.started.elapsed() >= cap
    {
        // Nothing came from the server yet: a proxy answers for the server that kept it
        // waiting (nginx: 504 when `proxy_read_timeout` passes with no answer).
        let cap = super::time_text(cap);
        let body = format!("the proxy waited {cap} for an answer (webwire fault hold-cap)\n");
        let response = format!(
            "HTTP/1.1 504 Gateway Timeout\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = (&*line.client).write_all(response.as_bytes());
        line.cut(
            server,
            &format!("hold-cap: no answer within {cap}: 504 Gateway Timeout"),
        );
        return true;
    }
    false
}

/// Gives `bytes` to the client, `latency` after they `arrived`, at the `bandwidth` allowed,
/// unless `drop` says to cut the connection in the middle of them.
fn give(
    line: &Line,
    server: &TcpStream,
    bytes: &[u8],
    arrived: Instant,
    pace: &mut Pace,
    sent: &mut u64,
) -> Result<(), ()> {
    if let Some(latency) = line.faults.latency {
        sleep_until(arrived + latency);
    }
    let mut bytes = bytes;
    let mut dropping = false;
    if let Some(after) = line.faults.drop_after
        && *sent >= after
    {
        // Half of this piece, at least one byte: the cut lands inside a message or a frame.
        let half = (bytes.len() / 2).max(1).min(bytes.len());
        bytes = &bytes[..half];
        dropping = true;
    }
    let to = &*line.client;
    if pace.write(to, bytes).is_err() {
        line.cut(server, "");
        return Err(());
    }
    *sent += bytes.len() as u64;
    line.touched();
    if dropping {
        line.cut(
            server,
            &format!(
                "drop: cut the connection {} bytes into a piece, after {} bytes",
                bytes.len(),
                *sent - bytes.len() as u64
            ),
        );
        return Err(());
    }
    Ok(())
}
// ANCHOR_END: down

// ANCHOR: up
/// Client to server: the requests (and WebSocket frames), slowed as the faults say.
fn up(line: &Line, server: &TcpStream) {
    let mut piece = vec![0u8; READ_CHUNK_BYTES];
    let mut pace = Pace::new(line.faults.bandwidth);
    let mut server_done_at: Option<Instant> = None;
    while !line.has_ended() {
        match (&*line.client).read(&mut piece) {
            Ok(0) => {
                // The client has finished sending: tell the server, which may be holding a
                // request and watching for exactly this.
                let _ = server.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => {
                let arrived = Instant::now();
                line.touched();
                if let Some(latency) = line.faults.latency {
                    sleep_until(arrived + latency);
                }
                if pace.write(server, &piece[..n]).is_err() {
                    return; // the server has gone: `down` sees its end and finishes
                }
            }
            Err(e) if crate::net::is_timeout(&e) => {
                // Once the response is complete, read (and drop) what the client still sends
                // for a moment, as the server lingers (RFC 9112 §9.6): a close with unread
                // bytes would be a reset that could destroy the response's tail.
                if line.server_done.load(Ordering::SeqCst) {
                    let since = *server_done_at.get_or_insert_with(Instant::now);
                    if since.elapsed() >= LINGER_TIMEOUT {
                        return;
                    }
                }
            }
            Err(_) => return line.cut(server, ""),
        }
    }
}
// ANCHOR_END: up

/// A bandwidth cap on one direction: writes go out in slices of a twentieth of a second's
/// worth, each when the rate allows it.
struct Pace {
    rate: Option<u64>,
    next_free: Instant,
}

impl Pace {
    fn new(rate: Option<u64>) -> Pace {
        Pace {
            rate,
            next_free: Instant::now(),
        }
    }

    fn write(&mut self, mut to: &TcpStream, bytes: &[u8]) -> io::Result<()> {
        let Some(rate) = self.rate else {
            return to.write_all(bytes);
        };
        let slice = (rate / 20).max(1) as usize;
        for part in bytes.chunks(slice) {
            let now = Instant::now();
            if self.next_free > now {
                thread::sleep(self.next_free - now);
            } else {
                self.next_free = now;
            }
            to.write_all(part)?;
            self.next_free += Duration::from_secs_f64(part.len() as f64 / rate as f64);
        }
        Ok(())
    }
}

/// The length of the response head at the start of `bytes`, blank line included (all of
/// `bytes` if the head does not end in them).
fn head_length(bytes: &[u8]) -> usize {
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(bytes.len(), |at| at + 4)
}

fn sleep_until(when: Instant) {
    let now = Instant::now();
    if when > now {
        thread::sleep(when - now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relays_are_capped_and_each_gives_its_place_back() {
        // The only test in this process that takes tickets: the count starts at zero.
        let tickets: Vec<Ticket> = (0..MAX_RELAYS).map_while(|_| Ticket::take()).collect();
        assert_eq!(tickets.len(), MAX_RELAYS);
        assert!(Ticket::take().is_none(), "one past the cap");
        drop(tickets);
        assert!(Ticket::take().is_some(), "given back");
    }
}
