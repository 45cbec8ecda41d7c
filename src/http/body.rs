//! Message bodies both ways: decoding a chunked request body, and writing a response body
//! that is sent piece by piece over time.
//!
//! A chunked body (RFC 9112 §7.1) is a series of chunks, each a hexadecimal size line and that
//! many bytes, ended by a chunk of size zero and an optional trailer section:
//!
//! ```text
//! 5\r\n
//! hello\r\n
//! 0\r\n
//! \r\n
//! ```
//!
//! Browsers never send one (`fetch` with a streaming body aside), but curl does with
//! `-H 'Transfer-Encoding: chunked'`, and the server writes this framing itself for every
//! streaming demo: it is how HTTP/1.1 sends a response whose length nobody knows in advance.

use std::io::{self, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::budget::{Claim, make_room};
use crate::http::request::RequestError;
use crate::limits::{MAX_BODY_BYTES, MAX_CHUNK_LINE, MAX_TRAILER_BYTES};
use crate::net::{Taken, unbrief, write_briefly};
use crate::traffic::Counters;

/// Where the decoder is inside a chunked body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Expecting a size line: `1a;name=value\r\n`.
    Size,
    /// Inside a chunk's data, with this many bytes still to come.
    Data(usize),
    /// After a chunk's data, expecting its CR LF.
    DataEnd,
    /// After the zero-size chunk: trailer lines until an empty line.
    Trailers,
    Done,
}

/// Decodes a chunked body incrementally: feed it whatever bytes have arrived; it consumes
/// what it can and says how much, so the rest (a partial line, or the next pipelined request)
/// stays with the caller.
#[derive(Debug)]
pub struct ChunkedDecoder {
    state: State,
    body: Vec<u8>,
    trailer_bytes: usize,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        ChunkedDecoder {
            state: State::Size,
            body: Vec::new(),
            trailer_bytes: 0,
        }
    }
}

impl ChunkedDecoder {
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The decoded body, once `is_done`.
    pub fn into_body(self) -> Vec<u8> {
        self.body
    }

    /// Consumes as much of `input` as it can; returns the number of bytes used.
    /// The body's bytes are taken from `claim` (the server's memory budget) before they are
    /// stored, as a `Content-Length` body's are: `RequestError::OverMemoryBudget` if it is spent.
    pub fn feed(&mut self, input: &[u8], claim: &mut Claim) -> Result<usize, RequestError> {
        let mut used = 0;
        loop {
            let rest = &input[used..];
            match self.state {
                State::Done => return Ok(used),
                State::Size => {
                    let Some((line, len)) =
                        line_of(rest, MAX_CHUNK_LINE, RequestError::InvalidChunk)?
                    else {
                        return Ok(used);
                    };
                    let size = parse_chunk_size(line)?;
                    if size > MAX_BODY_BYTES - self.body.len() {
                        return Err(RequestError::BodyTooLarge);
                    }
                    self.state = if size == 0 {
                        State::Trailers
                    } else {
                        State::Data(size)
                    };
                    used += len;
                }
                State::Data(remaining) => {
                    if rest.is_empty() {
                        return Ok(used);
                    }
                    let take = remaining.min(rest.len());
                    if !make_room(&mut self.body, take, MAX_BODY_BYTES, claim) {
                        return Err(RequestError::OverMemoryBudget);
                    }
                    self.body.extend_from_slice(&rest[..take]);
                    self.state = match remaining - take {
                        0 => State::DataEnd,
                        left => State::Data(left),
                    };
                    used += take;
                }
                State::DataEnd => {
                    if rest.len() < 2 {
                        return Ok(used);
                    }
                    if &rest[..2] != b"\r\n" {
                        return Err(RequestError::InvalidChunk);
                    }
                    self.state = State::Size;
                    used += 2;
                }
                State::Trailers => {
                    // Trailer fields are read and thrown away: nothing here needs them, and
                    // RFC 9110 §6.5.1 forbids merging them into the header section blindly.
                    let allowed = MAX_TRAILER_BYTES - self.trailer_bytes;
                    let Some((line, len)) = line_of(rest, allowed, RequestError::TrailersTooLarge)?
                    else {
                        return Ok(used);
                    };
                    self.trailer_bytes += len;
                    if line.is_empty() {
                        self.state = State::Done;
                    }
                    used += len;
                }
            }
        }
    }
}

/// The CR LF-terminated line at the start of `input`, and its length with the CR LF; `None`
/// if it has not fully arrived. A line longer than `max` is `too_long`.
fn line_of(
    input: &[u8],
    max: usize,
    too_long: RequestError,
) -> Result<Option<(&[u8], usize)>, RequestError> {
    match input.iter().position(|&b| b == b'\n') {
        Some(lf) if lf + 1 > max => Err(too_long),
        Some(lf) if lf == 0 || input[lf - 1] != b'\r' => Err(RequestError::BareLineFeed),
        Some(lf) => Ok(Some((&input[..lf - 1], lf + 1))),
        None if input.len() >= max => Err(too_long),
        None => Ok(None),
    }
}

/// `chunk-size [ chunk-ext ]`: hex digits, then optionally `;` extensions, which we ignore
/// (RFC 9112 §7.1.1: a recipient MUST ignore extensions it does not understand).
fn parse_chunk_size(line: &[u8]) -> Result<usize, RequestError> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    let after = line[digits..].trim_ascii_start();
    if digits == 0 || digits > 8 || !(after.is_empty() || after.starts_with(b";")) {
        return Err(RequestError::InvalidChunk);
    }
    let hex = std::str::from_utf8(&line[..digits]).map_err(|_| RequestError::InvalidChunk)?;
    usize::from_str_radix(hex, 16).map_err(|_| RequestError::InvalidChunk)
}

// ANCHOR: body_writer
/// Sends a response body one piece at a time, each on the wire the moment it is sent:
/// as chunks on HTTP/1.1, or raw bytes on HTTP/1.0, where the end of the body is the end of
/// the connection. A write to a client that has gone fails, and the handler stops there.
pub struct BodyWriter<'a> {
    out: &'a mut dyn Write,
    chunked: bool,
    /// Body bytes sent so far (without chunk framing), for the server's log.
    pub bytes: u64,
    /// Pieces sent so far.
    pub pieces: u64,
    /// The same body, for another thread to write to without waiting (`BodyCourier`).
    courier: Option<Arc<BodyCourier>>,
}

impl<'a> BodyWriter<'a> {
    pub fn new(out: &'a mut dyn Write, chunked: bool) -> Self {
        BodyWriter {
            out,
            chunked,
            bytes: 0,
            pieces: 0,
            courier: None,
        }
    }

    /// A writer whose body `courier` may also write to, from another thread.
    pub fn with_courier(out: &'a mut dyn Write, chunked: bool, courier: Arc<BodyCourier>) -> Self {
        BodyWriter {
            courier: Some(courier),
            ..BodyWriter::new(out, chunked)
        }
    }

    /// The courier for this body, if the server gave it one (a stream of unknown length).
    pub fn courier(&self) -> Option<Arc<BodyCourier>> {
        self.courier.clone()
    }

    // ANCHOR: send_piece
    /// Sends one piece. An empty piece is skipped: as a chunk it would end the body.
    pub fn send(&mut self, piece: &[u8]) -> io::Result<()> {
        if piece.is_empty() {
            return Ok(());
        }
        // The courier waits while this thread writes: their pieces never mix.
        let courier = self.courier.clone();
        let mut state = courier.as_deref().map(|c| (c.lock(), c));
        if let Some((state, courier)) = state.as_mut() {
            self.catch_up_with(state, courier)?;
        }
        if self.chunked {
            // One write per chunk: size line, data and CR LF leave in one TCP segment.
            let mut frame = format!("{:x}\r\n", piece.len()).into_bytes();
            frame.extend_from_slice(piece);
            frame.extend_from_slice(b"\r\n");
            self.out.write_all(&frame)?;
        } else {
            self.out.write_all(piece)?;
        }
        self.out.flush()?;
        self.bytes += piece.len() as u64;
        self.pieces += 1;
        Ok(())
    }
    // ANCHOR_END: send_piece

    /// Finishes what the courier began: the rest of a piece the socket took only part of.
    /// Fails if the courier's write failed (the client has gone).
    pub fn catch_up(&mut self) -> io::Result<()> {
        let courier = self.courier.clone();
        match courier.as_deref() {
            Some(courier) => self.catch_up_with(&mut courier.lock(), courier),
            None => Ok(()),
        }
    }

    fn catch_up_with(&mut self, state: &mut CourierState, courier: &BodyCourier) -> io::Result<()> {
        // Counted first, so that the log line of a stream that fails here still has them.
        self.bytes += std::mem::take(&mut state.bytes);
        self.pieces += std::mem::take(&mut state.pieces);
        unbrief(&courier.stream, &mut state.brief, courier.limit)?;
        state.stalled = false; // this thread writes now: the next piece may go directly again
        if state.failed {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "a piece handed over directly could not be sent",
            ));
        }
        if !state.rest.is_empty() {
            self.out.write_all(&state.rest)?;
            self.out.flush()?;
            state.rest = Vec::new();
        }
        Ok(())
    }

    /// Ends the body: the zero-size last chunk on HTTP/1.1 (no trailers); nothing on 1.0,
    /// where the server closes the connection instead.
    pub fn finish(&mut self) -> io::Result<()> {
        self.catch_up()?;
        if self.chunked {
            self.out.write_all(b"0\r\n\r\n")?;
            self.out.flush()?;
        }
        Ok(())
    }
}
// ANCHOR_END: body_writer

// ANCHOR: body_courier
/// A stream's body as another thread may write to it without waiting: the hub's publisher
/// hands an event straight to a stream whose own thread is asleep, instead of waking it to
/// write (`hub.rs`). The courier and the stream's `BodyWriter` take turns through one lock,
/// so their pieces never mix; a piece the socket takes only part of is finished by the
/// stream's own thread, which may wait for it (`BodyWriter::catch_up`).
pub struct BodyCourier {
    stream: Arc<TcpStream>,
    chunked: bool,
    /// The socket's write timeout, set back after each brief write.
    limit: Duration,
    /// The path's traffic counters: every byte that leaves is added.
    counters: Option<Arc<Counters>>,
    state: Mutex<CourierState>,
}

#[derive(Default)]
struct CourierState {
    /// The rest of a piece the socket took only part of: nothing else may go before it.
    rest: Vec<u8>,
    /// A write failed: the stream ends at its thread's next write.
    failed: bool,
    /// The socket's write timeout is the brief one (`net::write_briefly`).
    brief: bool,
    /// The socket took nothing in the brief time: no more direct writes until the stream's
    /// own thread has written (its reader may have stopped reading).
    stalled: bool,
    /// Body bytes and pieces sent here, added to the `BodyWriter`'s for the log.
    bytes: u64,
    pieces: u64,
}

impl BodyCourier {
    pub fn new(
        stream: Arc<TcpStream>,
        chunked: bool,
        limit: Duration,
        counters: Option<Arc<Counters>>,
    ) -> BodyCourier {
        BodyCourier {
            stream,
            chunked,
            limit,
            counters,
            state: Mutex::new(CourierState::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, CourierState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sends one piece if the socket takes it at once (`net::write_briefly`). `Nothing` when
    /// the stream's own thread is writing, or has a piece to finish, or the socket is full:
    /// then that thread must be woken to send it.
    pub fn send_briefly(&self, piece: &[u8]) -> Taken {
        let Ok(mut state) = self.state.try_lock() else {
            return Taken::Nothing; // its own thread is writing
        };
        if state.failed || state.stalled || !state.rest.is_empty() || piece.is_empty() {
            return Taken::Nothing;
        }
        let size_line = format!("{:x}\r\n", piece.len());
        let parts: Vec<&[u8]> = if self.chunked {
            vec![size_line.as_bytes(), piece, b"\r\n"]
        } else {
            vec![piece]
        };
        let Ok(taken) = write_briefly(&self.stream, &parts, &mut state.brief) else {
            state.failed = true;
            return Taken::Nothing;
        };
        let written = match taken {
            Taken::Nothing => {
                state.stalled = true;
                return Taken::Nothing;
            }
            Taken::Whole => parts.iter().map(|p| p.len()).sum(),
            Taken::Part(n) => {
                state.rest = parts.concat().split_off(n);
                n
            }
        };
        if let Some(counters) = &self.counters {
            counters.sent(written);
        }
        state.bytes += piece.len() as u64;
        state.pieces += 1;
        taken
    }
}
// ANCHOR_END: body_courier

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::Budget;

    /// A claim on a budget that never runs out.
    fn claim() -> Claim {
        Budget::new(usize::MAX).claim()
    }

    /// Decodes `input` fed in pieces of `step` bytes, as a socket might deliver it.
    fn decode(input: &[u8], step: usize) -> Result<(Vec<u8>, usize), RequestError> {
        let mut decoder = ChunkedDecoder::default();
        let mut pending: Vec<u8> = Vec::new();
        let mut total_used = 0;
        for piece in input.chunks(step) {
            pending.extend_from_slice(piece);
            let used = decoder.feed(&pending, &mut claim())?;
            pending.drain(..used);
            total_used += used;
            if decoder.is_done() {
                return Ok((decoder.into_body(), total_used));
            }
        }
        panic!("body never completed: {:?}", String::from_utf8_lossy(input))
    }

    #[test]
    fn good_chunked_bodies() {
        let cases: &[(&[u8], &[u8], &str)] = &[
            (b"5\r\nhello\r\n0\r\n\r\n", b"hello", "one chunk"),
            (b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", b"abcde", "two chunks"),
            (
                b"A\r\n0123456789\r\n0\r\n\r\n",
                b"0123456789",
                "upper-case hex",
            ),
            (b"0\r\n\r\n", b"", "empty body"),
            (
                b"3;name=val\r\nabc\r\n0\r\n\r\n",
                b"abc",
                "an extension is ignored",
            ),
            (b"3 ;x\r\nabc\r\n0\r\n\r\n", b"abc", "whitespace before ;"),
            (
                b"1\r\nx\r\n0\r\nExpires: never\r\n\r\n",
                b"x",
                "a trailer is skipped",
            ),
            (b"0003\r\nabc\r\n0\r\n\r\n", b"abc", "leading zeros"),
        ];
        for (input, body, why) in cases {
            for step in [1, 2, 7, input.len()] {
                let (got, used) = decode(input, step).unwrap_or_else(|e| panic!("{why}: {e:?}"));
                assert_eq!(got, *body, "{why}, fed {step} at a time");
                assert_eq!(used, input.len(), "{why}: everything consumed");
            }
        }
    }

    #[test]
    fn stops_at_the_end_of_the_body() {
        let mut decoder = ChunkedDecoder::default();
        let input = b"1\r\na\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
        let used = decoder.feed(input, &mut claim()).unwrap();
        assert!(decoder.is_done());
        assert_eq!(
            &input[used..],
            b"GET / HTTP/1.1\r\n",
            "the next request is left alone"
        );
    }

    #[test]
    fn bad_chunked_bodies() {
        use RequestError::*;
        let huge = format!("{:x}\r\n", MAX_BODY_BYTES + 1);
        let long_ext = format!("1;{}\r\nx\r\n0\r\n\r\n", "e".repeat(2000));
        let long_trailer = format!("0\r\nX: {}\r\n\r\n", "t".repeat(5000));
        let cases: Vec<(&[u8], RequestError, &str)> = vec![
            (b"x\r\n", InvalidChunk, "not hex"),
            (b"\r\n", InvalidChunk, "no digits"),
            (b"-1\r\n", InvalidChunk, "a sign"),
            (b"5x\r\n", InvalidChunk, "junk after digits"),
            (b"123456789\r\n", InvalidChunk, "more than 8 hex digits"),
            (b"3\r\nabcX\r\n", InvalidChunk, "data longer than its size"),
            (b"3\nabc", BareLineFeed, "bare LF after the size"),
            (huge.as_bytes(), BodyTooLarge, "a chunk over the body limit"),
            (long_ext.as_bytes(), InvalidChunk, "size line over 1 KiB"),
            (
                long_trailer.as_bytes(),
                TrailersTooLarge,
                "trailers over 4 KiB",
            ),
        ];
        for (input, want, why) in cases {
            let mut decoder = ChunkedDecoder::default();
            assert_eq!(decoder.feed(input, &mut claim()), Err(want), "{why}");
        }
    }

    #[test]
    fn a_chunk_is_claimed_before_it_is_stored() {
        let budget = Budget::new(1000);
        let mut decoder = ChunkedDecoder::default();
        let mut claim = budget.claim();
        let chunk = format!("7d0\r\n{}", "x".repeat(2000)); // 2000 bytes: more than the budget
        assert_eq!(
            decoder.feed(chunk.as_bytes(), &mut claim),
            Err(RequestError::OverMemoryBudget)
        );
        assert_eq!(
            decoder.body.capacity(),
            0,
            "nothing stored, nothing allocated"
        );
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn writer_frames_chunks_and_skips_empty_pieces() {
        let mut wire = Vec::new();
        let mut writer = BodyWriter::new(&mut wire, true);
        writer.send(b"Number is 1\n").unwrap();
        writer.send(b"").unwrap();
        writer.send(&[b'x'; 16]).unwrap();
        writer.finish().unwrap();
        assert_eq!((writer.pieces, writer.bytes), (2, 28));
        assert_eq!(
            wire,
            b"c\r\nNumber is 1\n\r\n10\r\nxxxxxxxxxxxxxxxx\r\n0\r\n\r\n"
        );

        let mut wire = Vec::new();
        let mut writer = BodyWriter::new(&mut wire, false);
        writer.send(b"raw").unwrap();
        writer.finish().unwrap();
        assert_eq!(
            wire, b"raw",
            "HTTP/1.0: no framing, the close ends the body"
        );
    }
}
