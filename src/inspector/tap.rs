//! The tap: a tee between a browser's socket and the server's own code, copying each byte
//! through and reading a copy into entries (`decode.rs`) for the browser's session.
//!
//! ```text
//!  browser ── client socket ══ tap ══ a loopback pair ── the server's own code
//!                          up:   client → server, read by a decode::Reader(Up)
//!                          down: server → client, read by a decode::Reader(Down)
//! ```
//!
//! The same shape as the fault relay (`faults/relay.rs`) and for the same reason: the
//! server's code does not change, and what is shown is exactly what crossed the socket,
//! whichever of the server's paths wrote it (a head, a stream's chunk written by a
//! publisher's thread, a WebSocket frame). Unlike the relay it changes nothing: keep-alive,
//! pipelining and upgrades pass as they are. A connection is tapped from its first request
//! that carries a session's cookie until it closes; each direction's end is passed on (a FIN
//! as a FIN) and noted.

use std::io::{self, Read};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::decode::{Dir, Exchange, Reader};
use super::{Inspector, MAX_TAPPED, Session};
use crate::limits::{LINGER_TIMEOUT, READ_CHUNK_BYTES, THREAD_STACK_BYTES};
use crate::net::write_all_within;

/// A tap at work: `finish` waits for both directions to end.
pub struct Tap {
    threads: Vec<JoinHandle<()>>,
}

impl Tap {
    pub fn finish(self) {
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

/// One of the `MAX_TAPPED` places, held for as long as a tap runs.
struct Place;

static TAPPED: AtomicUsize = AtomicUsize::new(0);

impl Place {
    fn take() -> Option<Place> {
        TAPPED
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < MAX_TAPPED).then_some(n + 1)
            })
            .ok()
            .map(|_| Place)
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        TAPPED.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What both threads of one tap share.
struct Line {
    /// The session shown this connection now: each request head says again whose it is
    /// (its cookie), and `None` when it names no open session. Weak: no tap keeps a session
    /// that has ended, or its memory, alive.
    session: Mutex<Option<Weak<Session>>>,
    inspector: Arc<Inspector>,
    conn: u64,
    /// "#7 127.0.0.1:50312", for the note a session gets when it starts being shown this.
    peer: String,
    client: Arc<TcpStream>,
    exchange: Arc<Mutex<Exchange>>,
    /// How many directions have ended: the second one to end closes what is left.
    ended: AtomicUsize,
    /// The server's write timeout (`WRITE_TIMEOUT`, unless a test shortens it): the tap
    /// waits for a slow reader no longer than the server would.
    write_timeout: Duration,
    _place: Place,
}

// ANCHOR: interpose
/// Taps `client`, whose first request's bytes the server has read already (`already`: the
/// head, and whatever arrived behind it). Returns the socket the server uses from now on.
/// `peer` is the connection's address, for the opening note.
pub fn interpose(
    client: Arc<TcpStream>,
    inspector: Arc<Inspector>,
    session: Arc<Session>,
    conn: u64,
    peer: &str,
    already: &[u8],
    write_timeout: Duration,
) -> io::Result<(TcpStream, Tap)> {
    let Some(place) = Place::take() else {
        session.note(
            conn,
            Dir::Up,
            &format!(
                "connection #{conn} is not shown: {MAX_TAPPED} connections are tapped \
                 already (MAX_TAPPED)"
            ),
            "not shown",
        );
        return Err(io::Error::other("MAX_TAPPED"));
    };
    let (server_end, tap_end) = crate::net::loopback_pair()?;
    let exchange = Arc::new(Mutex::new(Exchange::default()));
    let mut up = Reader::new(Dir::Up, Arc::clone(&exchange));
    let line = Arc::new(Line {
        session: Mutex::new(None),
        inspector,
        conn,
        peer: peer.to_string(),
        client,
        exchange,
        ended: AtomicUsize::new(0),
        write_timeout,
        _place: place,
    });
    line.show_to(Some(session));
    for entry in up.feed(already) {
        line.record(&entry);
    }
    for socket in [&*line.client, &tap_end] {
        socket.set_write_timeout(Some(write_timeout))?;
        socket.set_read_timeout(None)?;
        let _ = socket.set_nodelay(true);
    }
    let down_end = tap_end.try_clone()?;
    let mut threads = Vec::new();
    let down_reader = Reader::new(Dir::Down, Arc::clone(&line.exchange));
    let jobs: [(&str, TcpStream, Reader); 2] =
        [("tap-up", tap_end, up), ("tap-down", down_end, down_reader)];
    for (name, server_side, reader) in jobs {
        let for_thread = Arc::clone(&line);
        let thread = thread::Builder::new()
            .name(name.to_string())
            .stack_size(THREAD_STACK_BYTES)
            .spawn(move || copy(&for_thread, &server_side, reader));
        match thread {
            Ok(thread) => threads.push(thread),
            Err(e) => {
                let _ = line.client.shutdown(Shutdown::Both);
                return Err(e);
            }
        }
    }
    Ok((server_end, Tap { threads }))
}
// ANCHOR_END: interpose

// ANCHOR: copy
/// One direction: read, show, pass on; at the end, pass the end on and say who ended.
fn copy(line: &Line, server: &TcpStream, mut reader: Reader) {
    let dir = reader.dir();
    let (mut from, to) = match dir {
        Dir::Up => (&*line.client, server),
        Dir::Down => (server, &*line.client),
    };
    let mut piece = vec![0u8; READ_CHUNK_BYTES];
    let why = loop {
        match from.read(&mut piece) {
            Ok(0) => break None,
            Ok(n) => {
                // Shown before it is passed on: the browser can send a frame only after it
                // has the 101, so the reader of its frames knows of the 101 by then.
                for entry in reader.feed(&piece[..n]) {
                    line.record(&entry);
                }
                // One deadline for the whole piece, not one per system call: a browser
                // reading a trickle cannot keep the tap writing for ever (`net.rs`).
                if let Err(e) = write_all_within(to, &[&piece[..n]], line.write_timeout) {
                    break Some(e);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break Some(e),
        }
    };
    for entry in reader.finish() {
        line.record(&entry);
    }
    let who = match dir {
        Dir::Up => "the browser",
        Dir::Down => "the server",
    };
    let (text, label) = match &why {
        None => (format!("{who} closed its side (FIN)"), "FIN"),
        Some(e) => (format!("{who}'s side failed: {e}"), "failed"),
    };
    if !line_is_silent(line)
        && let Some(session) = line.current()
    {
        session.note(
            line.conn,
            dir,
            &format!("connection #{}: {text}", line.conn),
            label,
        );
    }
    // The end goes on: a FIN as a FIN (the other side may still answer, RFC 9112 §9.6); a
    // failure ends both ways.
    let _ = match why {
        None => to.shutdown(Shutdown::Write),
        Some(_) => to.shutdown(Shutdown::Both),
    };
    if line.ended.fetch_add(1, Ordering::SeqCst) == 0 && dir == Dir::Down {
        // The server is done. A browser closes its side when it reads the FIN; one that
        // keeps it open would keep the other thread reading for ever: it has the server's
        // linger time (`LINGER_TIMEOUT`) to do so.
        let deadline = Instant::now() + LINGER_TIMEOUT;
        while line.ended.load(Ordering::SeqCst) < 2 && Instant::now() < deadline {
            thread::sleep(END_LOOK);
        }
        let _ = line.client.shutdown(Shutdown::Read);
        // And an up thread stuck writing what the browser still sends (a refused upload)
        // into the server's end, which nobody reads now, fails at once.
        let _ = server.shutdown(Shutdown::Both);
    }
}

/// How often the down thread looks whether the browser has closed, once the server has.
const END_LOOK: Duration = Duration::from_millis(10);
// ANCHOR_END: copy

impl Line {
    /// The session shown this connection now; one that has ended is let go of here, so
    /// its memory goes with it even while the connection lasts (a long WebSocket).
    fn current(&self) -> Option<Arc<Session>> {
        let mut current = self
            .session
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let session = current.as_ref().and_then(Weak::upgrade);
        if session.as_ref().is_none_or(|s| s.has_ended()) {
            *current = None;
            return None;
        }
        session
    }

    /// From now on, this connection is shown to `session` (or to nobody); a session that
    /// starts being shown it is told where it comes in.
    fn show_to(&self, session: Option<Arc<Session>>) {
        let mut current = self
            .session
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let same = match (current.as_ref().and_then(Weak::upgrade), &session) {
            (Some(a), Some(b)) => Arc::ptr_eq(&a, b),
            (None, None) => true,
            _ => false,
        };
        if same {
            return;
        }
        if let Some(session) = &session {
            let text = format!("connection {}: shown from here", self.peer);
            session.note(self.conn, Dir::Up, &text, "connection");
        }
        *current = session.as_ref().map(Arc::downgrade);
    }

    /// Shows `entry` to the connection's session. A request head names its browser again:
    /// after a panel was closed and opened anew, the same connection belongs to the new
    /// session, and a request without the cookie is nobody's to see.
    fn record(&self, entry: &super::decode::Entry) {
        if let Some(token) = &entry.cookie {
            self.show_to(self.inspector.session_named(token));
        }
        if let Some(session) = self.current() {
            session.record(self.conn, entry);
        }
    }
}

fn line_is_silent(line: &Line) -> bool {
    line.exchange
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .is_silent()
}
