//! Reading the wire the way chapter 01 reads it: the bytes of one connection, each direction
//! on its own, turned into entries a learner can follow — heads, bodies, chunks with their
//! framing, event-stream events, WebSocket frames.
//!
//! ```text
//!  browser ──> server   Up:    request head, body (Content-Length or chunked), … ;
//!                              after a 101: masked WebSocket frames
//!  browser <── server   Down:  response head, body (Content-Length, chunked, or until the
//!                              close), event-stream events inside it; after a 101: frames
//! ```
//!
//! A response's framing depends on its request (a `HEAD` has no body, RFC 9110 §9.3.2) and a
//! client's frames on the server's answer (frames only after a 101, RFC 6455 §4.1), so the
//! two directions share a little state (`Exchange`). The reading is lenient where the server
//! is strict: it shows what arrived, even what the server will refuse, and where it cannot
//! follow any more (a head past `MAX_HEAD_BYTES`, a frame no RFC allows) it says so once and
//! shows the rest as raw bytes.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::http::method::Method;
use crate::http::request::{Parsed, parse_head};
use crate::limits::{MAX_CHUNK_LINE, MAX_HEAD_BYTES, MAX_TRAILER_BYTES};
use crate::ws::frame::{Header, Opcode, apply_mask, describe, parse_header};

use super::{COOKIE, MAX_PREVIEW_BYTES, MAX_SHOWN_HEAD_BYTES, cookie_value, is_inspectors_own};

/// The longest frame header (RFC 6455 §5.2): two bytes, a 64-bit length, a masking key.
const MAX_FRAME_HEADER_BYTES: usize = 2 + 8 + 4;
/// The most of an event's lines kept while its blank line has not come: past it, the start
/// is dropped (the server keeps its own cap on what it accepts; this is only for showing).
const MAX_EVENT_KEPT_BYTES: usize = 4 * MAX_PREVIEW_BYTES;

/// Which way the bytes went: `>` from the browser, `<` from the server, as `--trace` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    Up,
    Down,
}

impl Dir {
    pub fn arrow(self) -> &'static str {
        match self {
            Dir::Up => ">",
            Dir::Down => "<",
        }
    }
}

/// What one entry shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A request or response head, every byte of it.
    Head,
    /// A body delimited by `Content-Length` (when it is complete), or a piece of one that
    /// runs until the close.
    Body,
    /// One chunk of a chunked body: its size line, its data, its CR LF (RFC 9112 §7.1).
    Chunk,
    /// One event of an event stream, as its fields arrived (WHATWG HTML §9.2.6).
    Event,
    /// One WebSocket frame: its header decoded, its payload unmasked (RFC 6455 §5.2).
    Frame,
    /// Bytes that could not be read as any of the above.
    Raw,
    /// Something about the connection itself (opened, closed, no longer followed).
    Note,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Head => "head",
            Kind::Body => "body",
            Kind::Chunk => "chunk",
            Kind::Event => "event",
            Kind::Frame => "frame",
            Kind::Raw => "raw",
            Kind::Note => "note",
        }
    }
}

/// One thing that crossed the wire, ready to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub dir: Dir,
    pub kind: Kind,
    /// The bytes as `--trace` shows them: CR and LF spelled out (`\r\n`, each line ending
    /// after its `\n`), other unprintable bytes as `\xNN`, text as text.
    pub text: String,
    /// A few words for the sequence diagram's arrow: `GET /time`, `200 OK`, `text "hi"`.
    pub label: String,
    /// Whether the live diagram draws an arrow for it: one per message (a head, a chunk of a
    /// stream, an event, a frame), not for a body that belongs to its head.
    pub arrow: bool,
    /// How many bytes of the wire it stands for.
    pub bytes: usize,
    /// For a request head: the inspector cookie it carries (empty: none). Each request says
    /// again whose it is, and the tap shows it to that browser's session.
    pub cookie: Option<String>,
}

/// What the two directions of one connection tell each other.
#[derive(Debug, Default)]
pub struct Exchange {
    /// The requests not yet answered, oldest first (a client may pipeline several).
    asked: VecDeque<Asked>,
    /// The server answered 101: from here both directions are WebSocket frames.
    switched: bool,
    /// The connection carries the inspector's own feed: nothing more is shown.
    silent: bool,
}

#[derive(Debug, Clone, Copy, Default)]
struct Asked {
    /// `HEAD`: the response has no body, whatever its head says (RFC 9110 §9.3.2).
    head_only: bool,
    /// The inspector's own request (`/inspector…`): neither it nor its answer is shown.
    own: bool,
}

/// The shared part, for both directions' readers.
pub type Shared = Arc<Mutex<Exchange>>;

impl Exchange {
    /// Whether the connection carries the inspector's own feed (nothing more is shown).
    pub fn is_silent(&self) -> bool {
        self.silent
    }
}

fn lock(shared: &Shared) -> MutexGuard<'_, Exchange> {
    shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Where a reader is in its direction's bytes.
#[derive(Debug)]
enum State {
    /// Gathering a head up to its blank line.
    Head,
    /// A body of known length: this many bytes still to come.
    Length {
        left: u64,
        total: u64,
    },
    /// A chunked body: a size line, then that many bytes and a CR LF, until a size of 0.
    ChunkSize,
    ChunkData {
        left: u64,
        size_line: String,
    },
    ChunkEnd {
        size_line: String,
    },
    /// After the last chunk: trailer lines until a blank one.
    Trailers,
    /// A body that runs until the server closes (no length, no chunks: RFC 9112 §6.3).
    UntilClose,
    /// WebSocket frames, after a 101.
    Frames,
    /// No longer followed: the rest is shown as it comes.
    Raw,
}

/// A frame being read.
#[derive(Debug, Clone, Copy)]
struct Frame {
    header: Header,
    header_len: usize,
    /// Payload bytes still to come, and how many came (the mask's offset).
    left: u64,
    got: u64,
}

/// One direction's reader.
#[derive(Debug)]
pub struct Reader {
    dir: Dir,
    shared: Shared,
    state: State,
    /// Bytes that arrived and are not yet part of an entry (at most a head, a size line, a
    /// frame header, or a body's preview).
    pending: Vec<u8>,
    /// The body or payload bytes gathered for the current entry's preview.
    preview: Vec<u8>,
    /// The current frame: its header and the header's size, its payload bytes still to
    /// come, and how many came.
    frame: Option<Frame>,
    /// The current response is an event stream: its body is also read as events.
    event_stream: bool,
    /// The current exchange is the inspector's own: its body is not shown either.
    own: bool,
    /// An event's lines so far, and the part of a line not yet ended.
    event_lines: String,
    partial_line: Vec<u8>,
    /// The last event-stream byte was a CR: a LF now ends nothing more.
    after_cr: bool,
}

impl Reader {
    pub fn new(dir: Dir, shared: Shared) -> Reader {
        Reader {
            dir,
            shared,
            state: State::Head,
            pending: Vec::new(),
            preview: Vec::new(),
            frame: None,
            event_stream: false,
            own: false,
            event_lines: String::new(),
            partial_line: Vec::new(),
            after_cr: false,
        }
    }

    pub fn dir(&self) -> Dir {
        self.dir
    }

    /// Reads `bytes`, the next ones in this direction, and returns the entries they complete.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Vec<Entry> {
        let mut out = Vec::new();
        while !bytes.is_empty() {
            let used = self.step(bytes, &mut out);
            bytes = &bytes[used..];
        }
        if lock(&self.shared).silent {
            out.clear();
        }
        out
    }

    /// The connection ended: a body cut short, or one that ran until the close, is shown now.
    pub fn finish(&mut self) -> Vec<Entry> {
        let mut out = Vec::new();
        match self.state {
            State::Length { total, left } if !self.own => {
                let got = total - left;
                let (text, label) = (
                    preview_text(&self.preview, got),
                    format!("body, cut after {got} of {total} bytes"),
                );
                out.push(self.entry(Kind::Body, text, label, false, got as usize));
            }
            State::Head if !self.pending.is_empty() => {
                let text = shown(&self.pending, MAX_SHOWN_HEAD_BYTES);
                let label = "part of a head".to_string();
                let bytes = self.pending.len();
                out.push(self.entry(Kind::Raw, text, label, true, bytes));
            }
            _ => {}
        }
        if lock(&self.shared).silent {
            out.clear();
        }
        out
    }

    fn entry(&self, kind: Kind, text: String, label: String, arrow: bool, bytes: usize) -> Entry {
        Entry {
            dir: self.dir,
            kind,
            text,
            label,
            arrow,
            bytes,
            cookie: None,
        }
    }

    /// Takes what it can of `bytes` in the current state: returns how many it used (at
    /// least one, so `feed` always moves on).
    fn step(&mut self, bytes: &[u8], out: &mut Vec<Entry>) -> usize {
        match self.state {
            State::Head => self.head(bytes, out),
            State::Length { left, total } => {
                let take = (left.min(bytes.len() as u64)) as usize;
                self.keep_preview(&bytes[..take]);
                self.body_bytes(&bytes[..take]);
                let left = left - take as u64;
                if left == 0 {
                    if !self.own && !self.event_stream {
                        let text = preview_text(&self.preview, total);
                        let label = format!("body, {total} bytes");
                        out.push(self.entry(Kind::Body, text, label, false, total as usize));
                    }
                    self.events_into(out);
                    self.next_message();
                } else {
                    self.state = State::Length { left, total };
                }
                take.max(1)
            }
            State::ChunkSize => {
                let Some(end) = find(&self.pending_with(bytes, MAX_CHUNK_LINE + 2), b"\r\n") else {
                    return self.wait_for_more(bytes, MAX_CHUNK_LINE, out, "a chunk size line");
                };
                let used = self.take_pending(bytes, end + 2);
                let line = String::from_utf8_lossy(&self.pending[..end]).into_owned();
                self.pending.clear();
                // The size is hexadecimal, before any `;extension` (RFC 9112 §7.1).
                let digits = line.split(';').next().unwrap_or("").trim();
                match u64::from_str_radix(digits, 16) {
                    Ok(0) => self.state = State::Trailers,
                    Ok(size) => {
                        self.preview.clear();
                        self.state = State::ChunkData {
                            left: size,
                            size_line: line,
                        };
                    }
                    Err(_) => self.give_up(out, "a chunk size that is not hexadecimal"),
                }
                used
            }
            State::ChunkData { left, .. } => {
                let take = (left.min(bytes.len() as u64)) as usize;
                self.keep_preview(&bytes[..take]);
                self.body_bytes(&bytes[..take]);
                let left = left - take as u64;
                let State::ChunkData { size_line, .. } =
                    std::mem::replace(&mut self.state, State::Raw)
                else {
                    return take.max(1);
                };
                self.state = match left {
                    0 => State::ChunkEnd { size_line },
                    left => State::ChunkData { left, size_line },
                };
                take.max(1)
            }
            State::ChunkEnd { .. } => {
                if self.pending.len() + bytes.len() < 2 {
                    return self.take_pending(bytes, 2);
                }
                let used = self.take_pending(bytes, 2);
                let ok = self.pending == b"\r\n";
                self.pending.clear();
                let State::ChunkEnd { size_line } = std::mem::replace(&mut self.state, State::Raw)
                else {
                    return used;
                };
                if !ok {
                    self.give_up(out, "a chunk not followed by CR LF");
                    return used;
                }
                if !self.own {
                    let size =
                        u64::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
                            .unwrap_or(0);
                    let text = format!(
                        "{size_line}\\r\\n\n{}\\r\\n\n",
                        chunk_data_text(&self.preview, size)
                    );
                    let label = format!("chunk, {size} bytes");
                    let wire = size_line.len() + 2 + size as usize + 2;
                    out.push(self.entry(Kind::Chunk, text, label, !self.event_stream, wire));
                }
                self.preview.clear();
                self.events_into(out);
                self.state = State::ChunkSize;
                used
            }
            State::Trailers => {
                // A blank line first: no trailers. (Looked for first: a pipelined head may
                // follow, with a blank line of its own.)
                let have = self.pending_with(bytes, MAX_TRAILER_BYTES + 4);
                let Some(end) = starts_blank(&have).or_else(|| find(&have, b"\r\n\r\n")) else {
                    return self.wait_for_more(
                        bytes,
                        MAX_TRAILER_BYTES,
                        out,
                        "a chunked body's trailers",
                    );
                };
                let used = self.take_pending(bytes, end + if end == 0 { 2 } else { 4 });
                if !self.own {
                    let text = format!("0\\r\\n\n{}", shown(&self.pending, MAX_PREVIEW_BYTES));
                    let wire = 3 + self.pending.len();
                    out.push(self.entry(Kind::Chunk, text, "last chunk".into(), true, wire));
                }
                self.pending.clear();
                self.events_into(out);
                self.next_message();
                used
            }
            State::UntilClose => {
                if !self.own && !self.event_stream {
                    let text = shown(&bytes[..bytes.len().min(MAX_PREVIEW_BYTES)], usize::MAX)
                        + &more(bytes.len(), MAX_PREVIEW_BYTES);
                    let label = format!("{} bytes of the body", bytes.len());
                    out.push(self.entry(Kind::Body, text, label, true, bytes.len()));
                }
                self.body_bytes(bytes);
                self.events_into(out);
                bytes.len()
            }
            State::Frames => self.frames(bytes, out),
            State::Raw => {
                let text = shown(&bytes[..bytes.len().min(MAX_PREVIEW_BYTES)], usize::MAX)
                    + &more(bytes.len(), MAX_PREVIEW_BYTES);
                let label = format!("{} bytes", bytes.len());
                out.push(self.entry(Kind::Raw, text, label, false, bytes.len()));
                bytes.len()
            }
        }
    }

    /// `pending` followed by `bytes`, to look for an end that may straddle two reads.
    fn pending_with(&self, bytes: &[u8], most: usize) -> Vec<u8> {
        let look = bytes.len().min(most);
        [&self.pending[..], &bytes[..look]].concat()
    }

    /// Moves bytes into `pending` until it holds `upto` bytes (counting what it held):
    /// returns how many of `bytes` that took.
    fn take_pending(&mut self, bytes: &[u8], upto: usize) -> usize {
        let take = upto.saturating_sub(self.pending.len()).min(bytes.len());
        self.pending.extend_from_slice(&bytes[..take]);
        take.max(1).min(bytes.len())
    }

    /// Keeps `bytes` for later, unless more than `most` would be waiting for an end that
    /// has not come: then the reader stops following.
    fn wait_for_more(
        &mut self,
        bytes: &[u8],
        most: usize,
        out: &mut Vec<Entry>,
        what: &str,
    ) -> usize {
        if self.pending.len() + bytes.len() > most {
            let reason = format!("{what} longer than {most} bytes");
            self.give_up(out, &reason);
            return 0; // the state is `Raw` now: `feed` shows these bytes next
        }
        self.pending.extend_from_slice(bytes);
        bytes.len()
    }

    /// Stops following the protocol: one note, then the rest (and what was pending) raw.
    fn give_up(&mut self, out: &mut Vec<Entry>, why: &str) {
        let text = format!("not followed any further: {why}; what comes next is shown raw\n");
        out.push(self.entry(Kind::Note, text, why.to_string(), false, 0));
        let pending = std::mem::take(&mut self.pending);
        self.state = State::Raw;
        if !pending.is_empty() {
            let text = shown(&pending[..pending.len().min(MAX_PREVIEW_BYTES)], usize::MAX)
                + &self::more(pending.len(), MAX_PREVIEW_BYTES);
            let label = format!("{} bytes", pending.len());
            out.push(self.entry(Kind::Raw, text, label, false, pending.len()));
        }
    }

    fn keep_preview(&mut self, bytes: &[u8]) {
        let room = MAX_PREVIEW_BYTES.saturating_sub(self.preview.len());
        self.preview
            .extend_from_slice(&bytes[..room.min(bytes.len())]);
    }

    /// A head: gathered up to its blank line, shown whole, and read for what follows it.
    fn head(&mut self, bytes: &[u8], out: &mut Vec<Entry>) -> usize {
        if self.dir == Dir::Up && lock(&self.shared).switched {
            self.state = State::Frames;
            return 0; // read as frames next
        }
        let have = self.pending_with(bytes, MAX_HEAD_BYTES + 4);
        let Some(end) = find(&have, b"\r\n\r\n") else {
            if self.pending.len() + bytes.len() > MAX_HEAD_BYTES {
                let why = format!("a head longer than {MAX_HEAD_BYTES} bytes (MAX_HEAD_BYTES)");
                self.give_up(out, &why);
                return 0;
            }
            self.pending.extend_from_slice(bytes);
            return bytes.len();
        };
        let used = self.take_pending(bytes, end + 4);
        let head = std::mem::take(&mut self.pending);
        match self.dir {
            Dir::Up => self.request_head(&head, out),
            Dir::Down => self.response_head(&head, out),
        }
        used
    }

    fn request_head(&mut self, head: &[u8], out: &mut Vec<Entry>) {
        let text = String::from_utf8_lossy(head);
        // The server's own parser says what the router will see: the path decoded, the
        // absolute form and a leading empty line undone. A head it refuses reaches no route.
        let parsed = match parse_head(head) {
            Ok(Parsed::Complete(request, _)) => Some(request),
            _ => None,
        };
        let own = parsed.as_ref().is_some_and(|r| is_inspectors_own(&r.path));
        let first = text.trim_start_matches("\r\n").lines().next().unwrap_or("");
        let mut words = first.split(' ');
        let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
        lock(&self.shared).asked.push_back(Asked {
            head_only: parsed.as_ref().is_some_and(|r| r.method == Method::Head),
            own,
        });
        self.own = own;
        if !own {
            let label = format!("{} {}", cut_chars(method, 12), cut_chars(target, 40));
            let mut entry = self.entry(Kind::Head, head_text(head), label, true, head.len());
            // (A head the server refuses says nothing of whose it is: the connection stays
            // with the browser it was shown to.)
            entry.cookie = parsed
                .as_ref()
                .map(|r| cookie_value(r, COOKIE).unwrap_or("").to_string());
            out.push(entry);
        }
        self.body_after(&text, false, out);
    }

    fn response_head(&mut self, head: &[u8], out: &mut Vec<Entry>) {
        let text = String::from_utf8_lossy(head);
        let first = text.lines().next().unwrap_or("");
        let status: u16 = first
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        // An interim answer (100 Continue) is not the response: the request waits on.
        let interim = (100..200).contains(&status) && status != 101;
        let asked = {
            let mut exchange = lock(&self.shared);
            let asked = match interim {
                true => exchange.asked.front().copied(),
                false => exchange.asked.pop_front(),
            }
            .unwrap_or_default();
            if status == 101 {
                exchange.switched = true;
                exchange.silent |= asked.own;
            }
            asked
        };
        self.own = asked.own;
        if !asked.own {
            let label = cut_chars(first.split_once(' ').map_or(first, |(_, rest)| rest), 40);
            out.push(self.entry(Kind::Head, head_text(head), label, true, head.len()));
        }
        if interim {
            return;
        }
        if status == 101 {
            self.state = State::Frames;
            return;
        }
        // RFC 9112 §6.3: no body after a HEAD, a 204 or a 304, whatever the head says.
        let no_body = asked.head_only || status == 204 || status == 304;
        self.event_stream = header(&text, "content-type")
            .is_some_and(|t| t.to_ascii_lowercase().starts_with("text/event-stream"));
        self.body_after(&text, !no_body, out);
    }

    /// The state after a head: how its body is delimited (RFC 9112 §6.3). A request without
    /// a length has no body; a response without one runs until the close.
    fn body_after(&mut self, head: &str, response_may_have_body: bool, out: &mut Vec<Entry>) {
        self.preview.clear();
        let chunked = header(head, "transfer-encoding")
            .is_some_and(|codings| codings.to_ascii_lowercase().trim_end().ends_with("chunked"));
        let length = header(head, "content-length").map(|l| l.trim().parse::<u64>());
        let is_response = self.dir == Dir::Down;
        self.state = if is_response && !response_may_have_body {
            State::Head
        } else if chunked {
            State::ChunkSize
        } else {
            match length {
                Some(Ok(0)) | None if !is_response => State::Head,
                Some(Ok(0)) => State::Head,
                Some(Ok(total)) => State::Length { left: total, total },
                Some(Err(_)) => {
                    self.give_up(out, "a Content-Length that is not a number");
                    State::Raw
                }
                None => State::UntilClose,
            }
        };
        if matches!(self.state, State::Head) {
            self.next_message();
        }
    }

    /// Ready for the next head.
    fn next_message(&mut self) {
        self.state = if self.dir == Dir::Up && lock(&self.shared).switched {
            State::Frames
        } else {
            State::Head
        };
        self.preview.clear();
        self.event_stream = false;
        self.event_lines.clear();
        self.partial_line.clear();
        self.after_cr = false;
    }

    /// Body bytes of an event stream are also read as lines (WHATWG HTML §9.2.6: lines end
    /// in CR LF, LF or CR; a blank line ends an event).
    fn body_bytes(&mut self, bytes: &[u8]) {
        if !self.event_stream || self.own {
            return;
        }
        for &byte in bytes {
            // The LF of a CR LF: that line ended at its CR.
            let after_cr = std::mem::replace(&mut self.after_cr, byte == b'\r');
            if byte == b'\n' && after_cr {
                continue;
            }
            if byte == b'\n' || byte == b'\r' {
                let line = String::from_utf8_lossy(&self.partial_line).into_owned();
                self.partial_line.clear();
                self.event_lines.push_str(&line);
                self.event_lines.push('\n');
                // A comment between events is shown on its own: nothing dispatches it.
                if line.starts_with(':') && self.event_lines.len() == line.len() + 1 {
                    self.event_lines.push('\n');
                }
            } else if self.partial_line.len() < MAX_PREVIEW_BYTES {
                self.partial_line.push(byte);
            }
        }
    }

    /// The events completed so far (a blank line ends each), as entries.
    fn events_into(&mut self, out: &mut Vec<Entry>) {
        while let Some(end) = self.event_lines.find("\n\n") {
            let block: String = self.event_lines.drain(..end + 2).collect();
            let fields: Vec<&str> = block.lines().filter(|l| !l.is_empty()).collect();
            if fields.is_empty() {
                continue;
            }
            let label = event_label(&fields);
            let text: String = fields
                .iter()
                .map(|line| format!("{}\n", cut_chars(line, MAX_PREVIEW_BYTES)))
                .collect::<String>()
                + "\n";
            let bytes = block.len();
            out.push(self.entry(Kind::Event, text, label, true, bytes));
        }
        if self.event_lines.len() > MAX_EVENT_KEPT_BYTES {
            self.event_lines.clear(); // an event too long to show: its start is dropped
        }
        while self.event_lines.starts_with('\n') {
            self.event_lines.remove(0);
        }
    }

    /// WebSocket frames: a header, then its payload, unmasked for showing (RFC 6455 §5.3).
    fn frames(&mut self, bytes: &[u8], out: &mut Vec<Entry>) -> usize {
        if let Some(frame) = self.frame {
            let take = (frame.left.min(bytes.len() as u64)) as usize;
            let room = MAX_PREVIEW_BYTES.saturating_sub(self.preview.len());
            let start = self.preview.len();
            self.preview.extend_from_slice(&bytes[..take.min(room)]);
            if let Some(key) = frame.header.mask {
                apply_mask(&mut self.preview[start..], key, frame.got);
            }
            let frame = Frame {
                left: frame.left - take as u64,
                got: frame.got + take as u64,
                ..frame
            };
            self.frame = Some(frame);
            if frame.left == 0 {
                self.frame = None;
                out.push(self.frame_entry(&frame.header, frame.header_len));
                self.preview.clear();
            }
            return take;
        }
        let have = self.pending_with(bytes, MAX_FRAME_HEADER_BYTES);
        match parse_header(&have) {
            Ok(None) => {
                self.pending.extend_from_slice(bytes);
                bytes.len()
            }
            Ok(Some((header, length))) => {
                let used = self.take_pending(bytes, length);
                self.pending.clear();
                self.preview.clear();
                if header.payload_len == 0 {
                    out.push(self.frame_entry(&header, length));
                } else {
                    self.frame = Some(Frame {
                        header,
                        header_len: length,
                        left: header.payload_len,
                        got: 0,
                    });
                }
                used
            }
            Err(violation) => {
                let why = format!("not a frame RFC 6455 allows ({})", violation.reason());
                self.give_up(out, &why);
                0
            }
        }
    }

    fn frame_entry(&self, header: &Header, header_len: usize) -> Entry {
        let wire = header_len + header.payload_len as usize;
        let mut text = describe(header, &[]);
        let label = match header.opcode {
            Opcode::Close => {
                let line = describe(header, &self.preview);
                let close = line.split_once(" code=").map(|(_, c)| c.to_string());
                text = line;
                match close {
                    Some(close) => format!("close {}", cut_chars(&close, 40)),
                    None => "close".to_string(),
                }
            }
            Opcode::Text | Opcode::Continuation => {
                let shown = shown(&self.preview, usize::MAX);
                let preview = shown.replace("\\n\n", "\\n");
                text.push('\n');
                text.push_str(&shown);
                text.push_str(&more(header.payload_len as usize, MAX_PREVIEW_BYTES));
                format!("{} {}", header.opcode.name(), cut_chars(&preview, 32))
            }
            opcode => {
                if !self.preview.is_empty() {
                    text.push('\n');
                    text.push_str(&shown(&self.preview, usize::MAX));
                    text.push_str(&more(header.payload_len as usize, MAX_PREVIEW_BYTES));
                }
                format!("{} ({} bytes)", opcode.name(), header.payload_len)
            }
        };
        let label = match header.is_final {
            true => label,
            false => format!("{label} (FIN=0: more follows)"),
        };
        self.entry(Kind::Frame, text, label, true, wire)
    }
}

/// An event's label for the diagram: its type and id, or "comment".
fn event_label(fields: &[&str]) -> String {
    // The last of a field counts (WHATWG HTML §9.2.6: each `event:` or `id:` replaces the
    // one before).
    let value = |name: &str| {
        fields.iter().rev().find_map(|line| {
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            (field == name).then(|| value.strip_prefix(' ').unwrap_or(value).to_string())
        })
    };
    if fields.iter().all(|line| line.starts_with(':')) {
        return "comment".to_string();
    }
    let kind = value("event").unwrap_or_else(|| "message".to_string());
    let mut label = format!("event: {}", cut_chars(&kind, 24));
    if let Some(id) = value("id") {
        label.push_str(&format!(" id: {}", cut_chars(&id, 12)));
    }
    if value("data").is_none() {
        // No data: the browser fires no event (WHATWG HTML §9.2.6, "dispatch the event":
        // an empty data buffer ends there), though an id still sets the last event ID.
        label = match (value("id"), value("retry")) {
            (Some(id), _) => format!("id: {}, no data: no event", cut_chars(&id, 12)),
            (None, Some(_)) => "retry".to_string(),
            (None, None) => "no data: no event".to_string(),
        };
    }
    label
}

/// A header's value from a head's text (the first one; names are case-insensitive).
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.split("\r\n").skip(1).find_map(|line| {
        let (field, value) = line.split_once(':')?;
        field
            .trim()
            .eq_ignore_ascii_case(name)
            .then_some(value.trim())
    })
}

fn find(bytes: &[u8], what: &[u8]) -> Option<usize> {
    bytes.windows(what.len()).position(|w| w == what)
}

/// Trailers that are only the blank line: found at 0.
fn starts_blank(bytes: &[u8]) -> Option<usize> {
    bytes.starts_with(b"\r\n").then_some(0)
}

/// A head, shown whole (up to `MAX_SHOWN_HEAD_BYTES`).
fn head_text(head: &[u8]) -> String {
    shown(head, MAX_SHOWN_HEAD_BYTES)
}

/// A body's first bytes, and how many more there were.
fn preview_text(preview: &[u8], total: u64) -> String {
    shown(preview, usize::MAX) + &more(total as usize, preview.len())
}

fn chunk_data_text(preview: &[u8], size: u64) -> String {
    let text = shown(preview, usize::MAX);
    let rest = more(size as usize, preview.len());
    match rest.is_empty() {
        true => text,
        false => format!("{text}{}", rest.trim_end()),
    }
}

/// `… 1234 more bytes` when only part was shown.
fn more(total: usize, shown: usize) -> String {
    match total > shown {
        true => format!("… {} more bytes\n", total - shown),
        false => String::new(),
    }
}

fn cut_chars(text: &str, most: usize) -> String {
    match text.chars().count() > most {
        true => format!("{}…", text.chars().take(most).collect::<String>()),
        false => text.to_string(),
    }
}

// ANCHOR: shown
/// Bytes as `--trace` shows them: UTF-8 text as text, CR and LF spelled out (a line ends
/// after its `\n`), a tab as `\t`, any other control byte or byte that is not UTF-8 as
/// `\xNN`. At most `most` bytes, then how many more there were.
pub fn shown(bytes: &[u8], most: usize) -> String {
    let (bytes, rest) = bytes.split_at(bytes.len().min(most));
    let mut out = String::with_capacity(bytes.len() + 16);
    for piece in bytes.utf8_chunks() {
        for c in piece.valid().chars() {
            match c {
                '\r' => out.push_str("\\r"),
                '\n' => out.push_str("\\n\n"),
                '\t' => out.push_str("\\t"),
                c if c.is_control() && (c as u32) < 0x100 => {
                    out.push_str(&format!("\\x{:02x}", c as u32));
                }
                c => out.push(c),
            }
        }
        for byte in piece.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    if !rest.is_empty() {
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!("… {} more bytes\n", rest.len()));
    }
    out
}
// ANCHOR_END: shown

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws::frame::encode;

    fn pair() -> (Reader, Reader) {
        let shared: Shared = Arc::default();
        (
            Reader::new(Dir::Up, Arc::clone(&shared)),
            Reader::new(Dir::Down, shared),
        )
    }

    /// (kind, label) of each entry: what the diagram draws.
    fn labels(entries: &[Entry]) -> Vec<(&'static str, String)> {
        entries
            .iter()
            .map(|e| (e.kind.name(), e.label.clone()))
            .collect()
    }

    /// Feeds `bytes` one byte at a time: the entries must not depend on how reads split.
    fn trickle(reader: &mut Reader, bytes: &[u8]) -> Vec<Entry> {
        bytes.iter().flat_map(|b| reader.feed(&[*b])).collect()
    }

    #[test]
    fn a_head_is_shown_as_trace_shows_it() {
        let (mut up, _) = pair();
        let entries = up.feed(b"GET /time HTTP/1.1\r\nHost: localhost:8088\r\n\r\n");
        assert_eq!(entries.len(), 1);
        assert_eq!(
            entries[0].text,
            "GET /time HTTP/1.1\\r\\n\nHost: localhost:8088\\r\\n\n\\r\\n\n"
        );
        assert_eq!(entries[0].label, "GET /time");
        assert_eq!(
            (entries[0].dir, entries[0].arrow, entries[0].bytes),
            (Dir::Up, true, 44)
        );
    }

    #[test]
    fn a_response_with_a_length_is_a_head_and_its_body() {
        let (mut up, mut down) = pair();
        up.feed(b"GET /time HTTP/1.1\r\nHost: x\r\n\r\n");
        let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        for entries in [down.feed(wire), trickle(&mut pair_after_get().1, wire)] {
            assert_eq!(
                labels(&entries),
                [("head", "200 OK".into()), ("body", "body, 5 bytes".into())]
            );
            assert_eq!(entries[1].text, "hello");
            assert!(!entries[1].arrow, "a body belongs to its head's arrow");
        }
    }

    fn pair_after_get() -> (Reader, Reader) {
        let (mut up, down) = pair();
        up.feed(b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n");
        (up, down)
    }

    #[test]
    fn chunks_show_their_framing_and_an_event_stream_its_events() {
        let wire = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\
            Transfer-Encoding: chunked\r\n\r\n\
            14\r\nid: 1\ndata: hello\r\n\n\r\n\
            c\r\n: keepalive\n\r\n\
            0\r\n\r\n";
        for split in [false, true] {
            let (_, mut down) = pair_after_get();
            let entries = match split {
                false => down.feed(wire),
                true => trickle(&mut down, wire),
            };
            assert_eq!(
                labels(&entries),
                [
                    ("head", "200 OK".into()),
                    ("chunk", "chunk, 20 bytes".into()),
                    ("event", "event: message id: 1".into()),
                    ("chunk", "chunk, 12 bytes".into()),
                    ("event", "comment".into()),
                    ("chunk", "last chunk".into()),
                ],
                "split: {split}"
            );
            assert_eq!(
                entries[1].text,
                "14\\r\\n\nid: 1\\n\ndata: hello\\r\\n\n\\n\n\\r\\n\n"
            );
            assert_eq!(entries[2].text, "id: 1\ndata: hello\n\n");
            // The chunks of an event stream are drawn as its events.
            assert!(!entries[1].arrow && entries[2].arrow);
        }
    }

    #[test]
    fn event_stream_lines_may_end_in_cr_lf_lf_or_a_lone_cr() {
        let (_, mut down) = pair_after_get();
        let entries = down.feed(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 36\r\n\r\n\
              data: a\r\rdata: b\r\n\r\ndata: c\n\nid: 4\r\r",
        );
        assert_eq!(
            labels(&entries)[1..],
            [
                ("event", "event: message".into()),
                ("event", "event: message".into()),
                ("event", "event: message".into()),
                ("event", "id: 4, no data: no event".into()),
            ]
        );
        assert_eq!(entries[2].text, "data: b\n\n");
    }

    #[test]
    fn the_last_event_field_names_the_event() {
        assert_eq!(
            event_label(&["event: a", "event: b", "data: x"]),
            "event: b"
        );
        assert_eq!(
            event_label(&["id: 1", "data: x", "id: 2"]),
            "event: message id: 2"
        );
        assert_eq!(event_label(&[": just a comment"]), "comment");
    }

    #[test]
    fn a_plain_chunked_stream_draws_each_chunk() {
        let (_, mut down) = pair_after_get();
        let entries = down
            .feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
        assert_eq!(entries[1].text, "3\\r\\n\nabc\\r\\n\n");
        assert!(entries[1].arrow);
        assert_eq!(entries[2].text, "0\\r\\n\n\\r\\n\n");
    }

    #[test]
    fn a_head_request_has_no_body_whatever_its_answer_says() {
        let (mut up, mut down) = pair();
        // Pipelined: a HEAD, then a GET; their answers come in the same order.
        up.feed(b"HEAD /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n");
        let entries = down.feed(
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n\
              HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
        );
        assert_eq!(
            labels(&entries),
            [
                ("head", "200 OK".into()),
                ("head", "200 OK".into()),
                ("body", "body, 3 bytes".into())
            ]
        );
    }

    #[test]
    fn an_interim_100_continue_leaves_the_request_waiting_for_its_answer() {
        let (mut up, mut down) = pair();
        let entries = up.feed(b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi");
        assert_eq!(labels(&entries)[1], ("body", "body, 2 bytes".into()));
        let entries = down.feed(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n");
        assert_eq!(
            labels(&entries),
            [
                ("head", "100 Continue".into()),
                ("head", "204 No Content".into())
            ]
        );
        assert!(lock(&up.shared).asked.is_empty());
    }

    #[test]
    fn after_a_101_both_ways_are_frames_unmasked_for_showing() {
        let (mut up, mut down) = pair();
        up.feed(
            b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        );
        down.feed(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n");
        let masked = encode(true, Opcode::Text, b"Hello", Some([1, 2, 3, 4]));
        let entries = trickle(&mut up, &masked);
        assert_eq!(labels(&entries), [("frame", "text Hello".into())]);
        assert_eq!(
            entries[0].text,
            "fin=1 rsv=000 op=1 text mask=1 len=5\nHello"
        );
        assert_eq!(entries[0].bytes, 11);
        let close = encode(true, Opcode::Close, b"\x03\xe8bye", None);
        let entries = down.feed(&close);
        assert_eq!(
            labels(&entries),
            [("frame", "close 1000 (normal closure) \"bye\"".into())]
        );
        let first = encode(false, Opcode::Text, b"par", None);
        assert_eq!(down.feed(&first)[0].label, "text par (FIN=0: more follows)");
    }

    #[test]
    fn what_cannot_be_followed_is_said_once_then_shown_raw() {
        let (mut up, mut down) = pair();
        up.feed(b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n");
        down.feed(b"HTTP/1.1 101 Switching Protocols\r\n\r\n");
        // RSV1 set with no extension negotiated: no frame RFC 6455 allows.
        let entries = up.feed(b"\xc1\x80\x00\x00\x00\x00rest");
        assert_eq!(entries[0].kind, Kind::Note);
        assert_eq!(entries[1].kind, Kind::Raw);
        assert_eq!(entries[1].text, "\\xc1\\x80\\x00\\x00\\x00\\x00rest");
        assert_eq!(up.feed(b"more")[0].kind, Kind::Raw);

        let (mut up, _) = pair();
        let entries = up.feed(&vec![b'a'; MAX_HEAD_BYTES + 1]);
        assert_eq!(entries[0].kind, Kind::Note);
        assert!(entries[0].label.contains("MAX_HEAD_BYTES"));
    }

    #[test]
    fn the_inspectors_own_exchanges_are_not_shown() {
        let (mut up, mut down) = pair();
        assert!(
            up.feed(b"POST /inspector HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx")
                .is_empty()
        );
        assert!(
            down.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                .is_empty()
        );
        // The next request on the same connection is the page's again.
        assert_eq!(up.feed(b"GET /time HTTP/1.1\r\nHost: x\r\n\r\n").len(), 1);
        assert_eq!(
            down.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                .len(),
            1
        );
        // The feed itself, once switched, silences the connection for good.
        up.feed(b"GET /inspector/feed HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n");
        assert!(
            down.feed(b"HTTP/1.1 101 Switching Protocols\r\n\r\n")
                .is_empty()
        );
        assert!(
            down.feed(&encode(true, Opcode::Text, b"{}", None))
                .is_empty()
        );
    }

    #[test]
    fn a_body_cut_short_is_shown_when_the_connection_ends() {
        let (_, mut down) = pair_after_get();
        down.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
        let entries = down.finish();
        assert_eq!(
            labels(&entries),
            [("body", "body, cut after 3 of 10 bytes".into())]
        );
    }

    #[test]
    fn bytes_are_shown_as_text_where_they_are_text() {
        assert_eq!(shown("é\r\n\t\u{1}".as_bytes(), 64), "é\\r\\n\n\\t\\x01");
        assert_eq!(shown(b"\xff\xfeok", 64), "\\xff\\xfeok");
        assert_eq!(shown(b"abcdef", 3), "abc\n… 3 more bytes\n");
    }
}
