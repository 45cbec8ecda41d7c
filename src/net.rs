//! Socket helpers every layer shares: writing against a deadline, noticing that a client has
//! left, closing gracefully. Nothing here knows HTTP or WebSocket; both build on it.

use std::io::{self, ErrorKind, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::limits::{DIRECT_WRITE_TIMEOUT, MAX_UNREAD_WHILE_HELD};

pub fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

// ANCHOR: write_within
/// Writes every byte of `parts`, in order, within `limit`: one deadline for the whole piece,
/// not one per system call. A socket's own write timeout (`SO_SNDTIMEO`) restarts at every
/// `write`, so a client that reads a trickle — a few bytes every few seconds — would keep a
/// slow write alive for ever; here each further `write` may only wait for what is left of
/// the limit. Past it: `TimedOut`, and the caller must close the connection, because the
/// peer may already hold part of the piece (half a chunk, half a frame) and nothing else
/// may follow it.
///
/// The socket's write timeout must already be `limit` (the server sets it once per
/// connection), so the common case — the kernel takes the whole piece at once — costs one
/// system call. Parts go out in one vectored `write` where they fit: a frame's header and
/// its payload need no copy into one buffer to leave in one segment.
pub fn write_all_within(stream: &TcpStream, parts: &[&[u8]], limit: Duration) -> io::Result<()> {
    let deadline = Instant::now() + limit;
    let mut shortened = false;
    let result = write_parts(stream, parts, deadline, &mut shortened);
    if shortened {
        let _ = stream.set_write_timeout(Some(limit));
    }
    result
}

fn write_parts(
    mut stream: &TcpStream,
    parts: &[&[u8]],
    deadline: Instant,
    shortened: &mut bool,
) -> io::Result<()> {
    let mut parts: Vec<&[u8]> = parts.iter().copied().filter(|p| !p.is_empty()).collect();
    while !parts.is_empty() {
        let slices: Vec<IoSlice> = parts.iter().map(|p| IoSlice::new(p)).collect();
        let mut written = match stream.write_vectored(&slices) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        while let Some(first) = parts.first_mut() {
            if written < first.len() {
                *first = &first[written..];
                break;
            }
            written -= first.len();
            parts.remove(0);
        }
        if parts.is_empty() {
            break;
        }
        // Only part of it went: the client is reading slowly. Wait no longer than what is
        // left of the deadline for the rest.
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                ErrorKind::TimedOut,
                "the client did not take the whole piece in time",
            ));
        }
        stream.set_write_timeout(Some(left))?;
        *shortened = true;
    }
    Ok(())
}
// ANCHOR_END: write_within

// ANCHOR: write_briefly
/// How much of a piece a socket took without making the writer wait, from `write_briefly`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// All of it.
    Whole,
    /// The first this many bytes: the rest must follow before anything else.
    Part(usize),
    /// None of it (the socket's buffer is full, or it failed).
    Nothing,
}

/// Writes `parts` in one go if the socket takes them at once, for a thread that must not
/// wait on a client: a publisher handing an event to thousands of streams. The socket's
/// write timeout is cut to `DIRECT_WRITE_TIMEOUT` first (once: `brief` remembers it), so a
/// full send buffer costs the caller that long at most; whoever writes next with the
/// ordinary timeout must set it back first (`unbrief`). Rust's standard library has no
/// `MSG_DONTWAIT`, and `set_nonblocking` would change the socket for every thread using it:
/// a reader blocked on it could see `WouldBlock` instead of waiting.
pub fn write_briefly(stream: &TcpStream, parts: &[&[u8]], brief: &mut bool) -> io::Result<Taken> {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    let slices: Vec<IoSlice> = parts.iter().map(|p| IoSlice::new(p)).collect();
    if !*brief {
        stream.set_write_timeout(Some(DIRECT_WRITE_TIMEOUT))?;
        *brief = true;
    }
    let written = (&*stream).write_vectored(&slices);
    match written {
        Ok(n) if n == total => Ok(Taken::Whole),
        Ok(0) => Ok(Taken::Nothing),
        Ok(n) => Ok(Taken::Part(n)),
        Err(e) if is_timeout(&e) || e.kind() == ErrorKind::Interrupted => Ok(Taken::Nothing),
        Err(e) => Err(e),
    }
}

/// Sets the socket's ordinary write timeout back after `write_briefly`, if it was cut.
pub fn unbrief(stream: &TcpStream, brief: &mut bool, limit: Duration) -> io::Result<()> {
    if *brief {
        stream.set_write_timeout(Some(limit))?;
        *brief = false;
    }
    Ok(())
}
// ANCHOR_END: write_briefly

// ANCHOR: client_watch
/// A look at a client whose request is being held (a long poll, a stream): has it left?
///
/// A plain peek cannot answer when the client sent something more before it closed — a
/// pipelined request, or one stray byte: the peek sees that byte, not the end of the stream
/// behind it, and the held request would wait for nobody until the end of its hold. So the
/// watch *reads* what is waiting, keeps it (up to `MAX_UNREAD_WHILE_HELD`) for the
/// connection's next request, and sees the end of the stream behind it.
#[derive(Clone)]
pub struct ClientWatch {
    stream: Arc<TcpStream>,
    /// Bytes read while watching, handed back to the connection when the reply is done.
    unread: Arc<Mutex<Vec<u8>>>,
}

impl ClientWatch {
    pub fn new(stream: TcpStream) -> ClientWatch {
        ClientWatch::shared(Arc::new(stream))
    }

    /// A watch on a socket that others hold too (the server's roster of connections).
    pub fn shared(stream: Arc<TcpStream>) -> ClientWatch {
        ClientWatch {
            stream,
            unread: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// True once the client has closed its side or the connection has failed. Never blocks.
    pub fn client_gone(&self) -> bool {
        let mut unread = self
            .unread
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        client_gone(&self.stream, &mut unread)
    }

    /// The bytes read while watching (the start of the next request), emptied.
    pub fn take_unread(&self) -> Vec<u8> {
        std::mem::take(
            &mut *self
                .unread
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// The socket itself, shared: for a protocol that takes the connection over.
    pub fn shared_stream(&self) -> Arc<TcpStream> {
        Arc::clone(&self.stream)
    }
}

/// Reads, without blocking, whatever the client has sent into `unread`: an end of stream or
/// an error means gone. With `unread` full it can no longer tell, and says "not gone": the
/// hold then ends on its own deadline, and the bytes wait in the kernel.
fn client_gone(mut stream: &TcpStream, unread: &mut Vec<u8>) -> bool {
    if stream.set_nonblocking(true).is_err() {
        return true;
    }
    let mut scratch = [0u8; 1024];
    let gone = loop {
        let room = MAX_UNREAD_WHILE_HELD.saturating_sub(unread.len());
        if room == 0 {
            break false;
        }
        match stream.read(&mut scratch[..room.min(1024)]) {
            Ok(0) => break true, // end of stream: the client closed (or half-closed)
            Ok(n) => unread.extend_from_slice(&scratch[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => break e.kind() != ErrorKind::WouldBlock,
        }
    };
    // Blocking again in every case: a socket left non-blocking would make the next write
    // fail at once with WouldBlock instead of waiting for its deadline.
    let blocking_again = stream.set_nonblocking(false).is_ok();
    gone || !blocking_again
}
// ANCHOR_END: client_watch

/// A graceful close: stop sending (our FIN goes out after everything already written), then
/// read and throw away what the peer still sends, until it closes too, `timeout` passes or
/// `max_bytes` have come. Closing a socket with unread bytes in it makes the kernel send a
/// reset, which can destroy the last response before the peer reads it (RFC 9112 §9.6;
/// RFC 6455 §7.1.1 asks the same of WebSocket).
pub fn linger(mut stream: &TcpStream, timeout: Duration, max_bytes: usize) {
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(timeout));
    let give_up = Instant::now() + timeout;
    let mut discarded = 0;
    let mut scratch = [0u8; 4096];
    while discarded < max_bytes && Instant::now() < give_up {
        match stream.read(&mut scratch) {
            Ok(0) | Err(_) => break,
            Ok(n) => discarded += n,
        }
    }
}

/// The most strangers the listener that makes a pair accepts and drops before its own
/// connection: only this process should ever connect to it.
const MAX_STRANGERS: usize = 16;

// ANCHOR: loopback_pair
/// Two connected TCP sockets in this process. std has no `socketpair` for TCP, so: a fresh
/// listener on 127.0.0.1, a connect to it, and the accept that matches, then the listener is
/// dropped. A fresh one each time, not one shared: a shared listener's queue can be filled by
/// any local process that finds its port, and then our own connect waits for ever. A stranger
/// that finds this one in its moment of life is accepted and dropped: ours is the connection
/// whose address is our connect's.
pub fn loopback_pair() -> io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))?;
    let ours = TcpStream::connect(listener.local_addr()?)?;
    let our_address: SocketAddr = ours.local_addr()?;
    for _ in 0..MAX_STRANGERS {
        let (theirs, from) = listener.accept()?;
        if from == our_address {
            return Ok((ours, theirs));
        }
    }
    Err(io::Error::other("the loopback listener is being flooded"))
}
// ANCHOR_END: loopback_pair

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (client, server)
    }

    #[test]
    fn a_byte_then_a_close_is_gone_and_the_byte_is_kept() {
        let (mut client, server) = pair();
        let watch = ClientWatch::new(server);
        assert!(!watch.client_gone(), "connected, silent");
        client.write_all(b"G").unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        // The byte and the FIN arrive together on loopback, but the test must not depend
        // on it: look until the watch sees the end (each look is a non-blocking read).
        let mut tries = 0;
        while !watch.client_gone() {
            tries += 1;
            assert!(tries < 1_000_000, "the close was never seen");
            std::thread::yield_now();
        }
        assert_eq!(watch.take_unread(), b"G");
    }

    #[test]
    fn a_full_unread_buffer_cannot_tell() {
        let (mut client, server) = pair();
        let watch = ClientWatch::new(server);
        client
            .write_all(&vec![b'x'; MAX_UNREAD_WHILE_HELD])
            .unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        let mut seen = 0;
        while seen < MAX_UNREAD_WHILE_HELD {
            assert!(!watch.client_gone(), "bytes are waiting, so it cannot tell");
            seen = watch.unread.lock().unwrap().len();
        }
        assert!(!watch.client_gone(), "full: stays 'not gone'");
    }

    #[test]
    fn writes_go_out_whole_in_order() {
        let (mut client, server) = pair();
        server
            .set_write_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        write_all_within(&server, &[b"ab", b"", b"cd"], Duration::from_secs(5)).unwrap();
        drop(server);
        let mut got = Vec::new();
        client.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"abcd");
    }

    #[test]
    fn a_reader_that_never_reads_runs_out_of_time() {
        let (_client, server) = pair();
        let limit = Duration::from_millis(200);
        server.set_write_timeout(Some(limit)).unwrap();
        let big = vec![0u8; 64 * 1024 * 1024];
        let error = write_all_within(&server, &[&big], limit).unwrap_err();
        assert!(is_timeout(&error), "{error:?}");
    }

    #[test]
    fn a_pair_is_connected_both_ways() {
        let (mut a, mut b) = loopback_pair().unwrap();
        a.write_all(b"ping").unwrap();
        let mut four = [0u8; 4];
        b.read_exact(&mut four).unwrap();
        assert_eq!(&four, b"ping");
        b.write_all(b"pong").unwrap();
        a.read_exact(&mut four).unwrap();
        assert_eq!(&four, b"pong");
    }
}
