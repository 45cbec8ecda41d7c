//! A WebSocket connection's life after the 101: read frames, answer pings, hand messages to
//! the application, and close — once, with the right code — however the client behaves.
//!
//! One thread reads (this loop); any thread may write through a `Sender`, which holds the
//! socket's write half behind a lock and writes each frame whole, so an echo, a pong and a
//! close never interleave their bytes, and nothing follows a close frame.

use std::io::{self, ErrorKind, Read};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::budget::Budget;
use crate::log::Log;
use crate::net::{Taken, is_timeout, linger, unbrief, write_all_within, write_briefly};
use crate::text::escape_controls;
use crate::traffic::Counters;
use crate::ws::close::{self, Violation};
use crate::ws::frame::{self, Opcode};
use crate::ws::reader::{Event, Reader};
use crate::ws::{
    MAX_MESSAGE_BYTES, WS_CLOSE_DRAIN_BYTES, WS_CLOSE_TIMEOUT, WS_FIRST_READ_BYTES,
    WS_PING_INTERVAL, WS_READ_CHUNK_BYTES,
};

/// A whole message, as the application sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Text(String),
    Binary(Vec<u8>),
}

/// What the application wants after a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Continue,
    /// Cut the TCP connection with no close frame, as a crash or a lost network would
    /// (the demo's `drop_after`, to show a client reconnecting).
    Drop,
}

// ANCHOR: sender
/// The writing side of a connection; clone it to write from other threads.
#[derive(Clone)]
pub struct Sender {
    out: Arc<Mutex<Outgoing>>,
}

struct Outgoing {
    stream: Arc<TcpStream>,
    close_sent: bool,
    /// A frame could not be written whole in time: the connection is cut, and nothing may
    /// follow the part of a frame the client may already have.
    broken: bool,
    /// How long one frame may take to leave, as a whole (`WRITE_TIMEOUT`).
    limit: Duration,
    /// `#7` and the log, with `--trace`: every frame sent is printed.
    trace: Option<(String, Log)>,
    /// The path's traffic counters (`/stats`): every byte sent is added.
    counters: Option<Arc<Counters>>,
    /// The rest of a frame the socket took only part of (`text_briefly`): it goes before
    /// any other frame, or nothing may.
    rest: Vec<u8>,
    /// The socket's write timeout is the brief one (`net::write_briefly`).
    brief: bool,
    /// The socket took nothing in the brief time: no more direct writes until a thread has
    /// written to it with the ordinary timeout.
    stalled: bool,
}

impl Sender {
    pub fn text(&self, text: &str) -> io::Result<()> {
        self.send(Opcode::Text, text.as_bytes())
    }

    pub fn binary(&self, bytes: &[u8]) -> io::Result<()> {
        self.send(Opcode::Binary, bytes)
    }

    pub fn message(&self, message: &Message) -> io::Result<()> {
        match message {
            Message::Text(text) => self.text(text),
            Message::Binary(bytes) => self.binary(bytes),
        }
    }

    /// Sends the close frame: the first call does, later ones fail (§5.5.1: once).
    pub fn close(&self, code: Option<u16>, reason: &str) -> io::Result<()> {
        let payload = code
            .map(|code| close::payload(code, reason))
            .unwrap_or_default();
        self.send(Opcode::Close, &payload)
    }

    // ANCHOR: send_frame
    /// One unfragmented frame, written whole while holding the lock, within the write
    /// timeout. If it cannot be, the connection is cut at once (both directions): the client
    /// may hold part of the frame, and no byte may follow a partial frame — not the next
    /// message, not a pong. The reader thread sees the cut and ends; the client reconnects
    /// with its cursor and loses nothing.
    pub fn send(&self, opcode: Opcode, payload: &[u8]) -> io::Result<()> {
        // A panic elsewhere while holding the lock leaves nothing half-written that a retry
        // could make worse: `broken` is set before any write that could fail part-way.
        let mut out = self
            .out
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if out.broken {
            return Err(io::Error::new(ErrorKind::NotConnected, "connection cut"));
        }
        if out.close_sent {
            return Err(io::Error::new(
                ErrorKind::NotConnected,
                "close already sent",
            ));
        }
        out.finish_rest()?;
        let out = &mut *out; // the fields, not the guard, so that two can be borrowed at once
        unbrief(&out.stream, &mut out.brief, out.limit)?;
        out.stalled = false; // a thread writes now: direct writes may follow again
        out.close_sent = opcode == Opcode::Close;
        let header = frame::encode_header(true, opcode, payload.len() as u64, None);
        out.trace_frame(opcode, payload);
        // Header and payload in one vectored write: one segment, no copy, no Nagle wait.
        out.broken = true;
        if let Err(e) = write_all_within(&out.stream, &[&header, payload], out.limit) {
            let _ = out.stream.shutdown(Shutdown::Both);
            return Err(e);
        }
        out.broken = false;
        if let Some(counters) = &out.counters {
            counters.sent(header.len() + payload.len());
        }
        Ok(())
    }
    // ANCHOR_END: send_frame

    // ANCHOR: send_briefly
    /// One text frame if the socket takes it at once (`net::write_briefly`), for a thread
    /// that must not wait: the hub's publisher, handing a message straight to a socket whose
    /// writer is asleep. `Nothing` when another thread is writing, a frame is unfinished or
    /// the socket is full: then the writer must be woken. `Part`: the rest waits in `rest`
    /// and goes first at the next write (`catch_up`).
    pub fn text_briefly(&self, text: &str) -> Taken {
        let Ok(mut out) = self.out.try_lock() else {
            return Taken::Nothing;
        };
        if out.broken || out.close_sent || out.stalled || !out.rest.is_empty() {
            return Taken::Nothing;
        }
        let payload = text.as_bytes();
        let header = frame::encode_header(true, Opcode::Text, payload.len() as u64, None);
        let stream = Arc::clone(&out.stream);
        let Ok(taken) = write_briefly(&stream, &[&header, payload], &mut out.brief) else {
            out.broken = true;
            let _ = out.stream.shutdown(Shutdown::Both);
            return Taken::Nothing;
        };
        let written = match taken {
            Taken::Nothing => {
                out.stalled = true;
                return Taken::Nothing;
            }
            Taken::Whole => header.len() + payload.len(),
            Taken::Part(n) => {
                out.rest = [&header[..], payload].concat().split_off(n);
                n
            }
        };
        out.trace_frame(Opcode::Text, payload);
        if let Some(counters) = &out.counters {
            counters.sent(written);
        }
        taken
    }
    // ANCHOR_END: send_briefly

    /// Finishes a frame `text_briefly` began, within the write timeout.
    pub fn catch_up(&self) -> io::Result<()> {
        self.out
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .finish_rest()
    }
}
// ANCHOR_END: sender

impl Outgoing {
    /// Writes the rest of a frame begun elsewhere, whole and in time, or cuts the connection.
    fn finish_rest(&mut self) -> io::Result<()> {
        if self.rest.is_empty() {
            return Ok(());
        }
        if self.broken {
            return Err(io::Error::new(ErrorKind::NotConnected, "connection cut"));
        }
        unbrief(&self.stream, &mut self.brief, self.limit)?;
        let rest = std::mem::take(&mut self.rest);
        if let Err(e) = write_all_within(&self.stream, &[&rest], self.limit) {
            self.broken = true;
            let _ = self.stream.shutdown(Shutdown::Both);
            return Err(e);
        }
        if let Some(counters) = &self.counters {
            counters.sent(rest.len());
        }
        Ok(())
    }

    /// With `--trace`, one line for a frame the server sends.
    fn trace_frame(&self, opcode: Opcode, payload: &[u8]) {
        if let Some((id, log)) = &self.trace {
            let header = frame::Header {
                is_final: true,
                rsv: 0,
                opcode,
                mask: None,
                payload_len: payload.len() as u64,
            };
            log.write(format!("{id} < {}\n", frame::describe(&header, payload)));
        }
    }
}

/// How a connection ended, for the log.
enum Ending {
    /// The client sent a close frame (its code and reason), and the server answered it.
    ClientClosed(Option<(u16, String)>),
    /// The client broke a rule, or the server could not take its message now (1013); the
    /// server sent a close frame with the matching code.
    Failed(Violation),
    /// The application asked to cut the connection without a close frame.
    Dropped,
    /// The TCP connection ended, or failed, without a close frame.
    Vanished(String),
}

// ANCHOR: options
/// What a connection needs from whoever hands it over, as plain values: the WebSocket code
/// knows nothing of the server around it.
pub struct Options {
    /// "#7 127.0.0.1:50312": starts the log line that says how the connection ended.
    pub peer: String,
    /// `#7`: starts each `--trace` line.
    pub trace_id: String,
    /// Where the end of the connection is logged (`None`: not logged).
    pub log: Option<Log>,
    /// Where every frame is traced (`None`: no `--trace`).
    pub trace: Option<Log>,
    /// The path's traffic counters, for every byte read and written.
    pub counters: Option<Arc<Counters>>,
    /// How long one frame may take to leave, as a whole (`WRITE_TIMEOUT`). The socket's own
    /// write timeout must already be this.
    pub write_timeout: Duration,
    /// The memory budget messages take their bytes from, if any.
    pub budget: Option<Arc<Budget>>,
    /// A message must arrive whole within this time of its first byte, since its bytes hold
    /// the budget; past it, close 1008. The server gives its body timeout (`BODY_TIMEOUT`,
    /// 30 s: the largest message needs only 0.5 MiB/s).
    pub message_timeout: Duration,
}
// ANCHOR_END: options

pub struct Connection {
    stream: Arc<TcpStream>,
    buffer: Vec<u8>,
    options: Options,
    sender: Sender,
}

impl Connection {
    /// A WebSocket on `stream`, after the 101; `buffered` holds bytes the client sent right
    /// after its handshake (already read off the socket).
    pub fn new(
        stream: Arc<TcpStream>,
        buffered: Vec<u8>,
        options: Options,
    ) -> io::Result<Connection> {
        stream.set_nodelay(true)?;
        let out = Outgoing {
            stream: Arc::clone(&stream),
            close_sent: false,
            broken: false,
            limit: options.write_timeout,
            trace: options
                .trace
                .clone()
                .map(|log| (options.trace_id.clone(), log)),
            counters: options.counters.clone(),
            rest: Vec::new(),
            brief: false,
            stalled: false,
        };
        Ok(Connection {
            stream,
            buffer: buffered,
            options,
            sender: Sender {
                out: Arc::new(Mutex::new(out)),
            },
        })
    }

    pub fn sender(&self) -> Sender {
        self.sender.clone()
    }

    // ANCHOR: run
    /// Reads until the connection ends, giving each message to `on_message`.
    pub fn run(mut self, mut on_message: impl FnMut(&Sender, Message) -> io::Result<Next>) {
        let started = Instant::now();
        let mut reader = Reader::new(MAX_MESSAGE_BYTES, self.options.trace.is_some());
        if let Some(budget) = &self.options.budget {
            reader = reader.with_budget(budget.claim());
        }
        let mut chunk = vec![0u8; WS_FIRST_READ_BYTES];
        // The read timeout the socket has now: set again only when it changes, not once per
        // frame (a system call each).
        let mut timeout_set: Option<Duration> = None;
        let mut ping_sent = false;
        // When the message now arriving must be whole: its bytes hold the memory budget, so
        // a client may not drip one for ever. Past it: close 1008.
        let mut message_due: Option<Instant> = None;
        let ending = loop {
            if let Some(ending) = self.handle_buffered(&mut reader, &mut on_message) {
                break ending;
            }
            message_due = match (reader.in_message(), message_due) {
                (false, _) => None,
                (true, None) => Some(Instant::now() + self.options.message_timeout),
                (true, due) => due,
            };
            let wait = match message_due {
                Some(due) if due <= Instant::now() => break Ending::Failed(Violation::TooSlow),
                Some(due) => WS_PING_INTERVAL.min(due - Instant::now()),
                None => WS_PING_INTERVAL,
            };
            // Silence is allowed, but not for ever: a ping makes a live client answer.
            if timeout_set != Some(wait) {
                if self.stream.set_read_timeout(Some(wait)).is_err() {
                    break Ending::Vanished("the socket failed".to_string());
                }
                timeout_set = Some(wait);
            }
            match (&*self.stream).read(&mut chunk) {
                Ok(0) => break Ending::Vanished("the client closed TCP".to_string()),
                Ok(n) => {
                    self.buffer.extend_from_slice(&chunk[..n]);
                    resize_chunk(&mut chunk, n);
                    if let Some(counters) = &self.options.counters {
                        counters.received(n);
                    }
                    ping_sent = false;
                }
                Err(e)
                    if is_timeout(&e) && message_due.is_some_and(|due| due <= Instant::now()) =>
                {
                    break Ending::Failed(Violation::TooSlow);
                }
                Err(e) if is_timeout(&e) && !ping_sent => {
                    ping_sent = true;
                    if let Err(e) = self.sender.send(Opcode::Ping, b"") {
                        break Ending::Vanished(format!("ping failed: {e}"));
                    }
                }
                Err(e) if is_timeout(&e) => break Ending::Vanished("no answer to a ping".into()),
                Err(e) => break Ending::Vanished(format!("read failed: {e}")),
            }
        };
        self.end(ending, started);
    }
    // ANCHOR_END: run

    // ANCHOR: handle_buffered
    /// Acts on every complete event in the buffer; `Some` once the connection must end.
    fn handle_buffered(
        &mut self,
        reader: &mut Reader,
        on_message: &mut impl FnMut(&Sender, Message) -> io::Result<Next>,
    ) -> Option<Ending> {
        let mut used = 0;
        let ending = loop {
            let result = reader.read(&self.buffer[used..]);
            self.print_trace(reader.take_trace(result.is_err()));
            let event = match result {
                Ok((n, event)) => {
                    used += n;
                    event
                }
                Err(violation) => break Some(Ending::Failed(violation)),
            };
            let sent = match event {
                None => break None, // the rest is an unfinished frame: read more
                Some(Event::Text(text)) => on_message(&self.sender, Message::Text(text)),
                Some(Event::Binary(bytes)) => on_message(&self.sender, Message::Binary(bytes)),
                // §5.5.2: a ping is answered by a pong "with identical Application data".
                Some(Event::Ping(payload)) => self
                    .sender
                    .send(Opcode::Pong, &payload)
                    .map(|_| Next::Continue),
                // §5.5.3: an unsolicited pong needs no answer (it counts as a heartbeat).
                Some(Event::Pong(_)) => Ok(Next::Continue),
                Some(Event::Close(code_and_reason)) => {
                    break Some(Ending::ClientClosed(code_and_reason));
                }
            };
            match sent {
                Ok(Next::Continue) => {}
                Ok(Next::Drop) => break Some(Ending::Dropped),
                Err(e) => break Some(Ending::Vanished(format!("write failed: {e}"))),
            }
        };
        self.buffer.drain(..used);
        ending
    }
    // ANCHOR_END: handle_buffered

    // ANCHOR: end
    /// Closes as the ending requires, and logs who closed, with which code and why.
    fn end(self, ending: Ending, started: Instant) {
        let what = match &ending {
            Ending::ClientClosed(code_and_reason) => {
                // §5.5.1: answer a close with a close, echoing its code (none for none) —
                // and its reason, so the page's close event shows what it sent.
                let (code, reason) = match code_and_reason {
                    Some((code, reason)) => (Some(*code), reason.as_str()),
                    None => (None, ""),
                };
                let _ = self.sender.close(code, reason);
                match code_and_reason {
                    Some((code, reason)) => format!("closed by the client: {code} {reason:?}"),
                    None => "closed by the client (no code)".to_string(),
                }
            }
            Ending::Failed(violation) => {
                // §7.1.7: fail the connection — a close frame, then no more reading.
                let (code, reason) = (violation.close_code(), violation.reason());
                let _ = self.sender.close(Some(code), reason);
                format!("closed by the server: {code} {reason:?}")
            }
            Ending::Dropped => "dropped by the server, without a close frame".to_string(),
            Ending::Vanished(why) => format!("gone without a close frame ({why})"),
        };
        let lived = started.elapsed();
        if let Some(log) = &self.options.log {
            // The close reason is the client's text: escape its control characters.
            let line = format!("{} websocket {what}, after {lived:.1?}", self.options.peer);
            log.write(format!("{}\n", escape_controls(&line)));
        }
        match ending {
            // §7.1.1: after the close frames the server closes TCP first, lingering so the
            // last frame is not lost to a reset; a client that never closes gets a timeout.
            Ending::ClientClosed(_) | Ending::Failed(_) => {
                linger(&self.stream, WS_CLOSE_TIMEOUT, WS_CLOSE_DRAIN_BYTES);
            }
            Ending::Dropped | Ending::Vanished(_) => {
                let _ = self.stream.shutdown(Shutdown::Both);
            }
        }
    }
    // ANCHOR_END: end

    fn print_trace(&self, lines: Vec<String>) {
        if let Some(log) = &self.options.trace
            && !lines.is_empty()
        {
            let id = &self.options.trace_id;
            log.write(
                lines
                    .iter()
                    .map(|line| format!("{id} > {line}\n"))
                    .collect(),
            );
        }
    }
}

/// After a read of `n` bytes: a chunk that was filled doubles (up to `WS_READ_CHUNK_BYTES`),
/// a big chunk that got a small read goes back to `WS_FIRST_READ_BYTES`.
fn resize_chunk(chunk: &mut Vec<u8>, n: usize) {
    if n == chunk.len() && chunk.len() < WS_READ_CHUNK_BYTES {
        chunk.resize(chunk.len() * 2, 0);
    } else if n < WS_FIRST_READ_BYTES && chunk.len() > WS_FIRST_READ_BYTES {
        *chunk = vec![0u8; WS_FIRST_READ_BYTES];
    }
}
