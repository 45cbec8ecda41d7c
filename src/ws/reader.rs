//! From bytes to messages: frames reassembled, rules enforced — still pure, no socket.
//!
//! The connection loop hands `Reader::read` whatever bytes it has; the reader takes what it
//! can and says what happened: nothing yet, or one event (a whole message, a ping, a pong, a
//! close), or the rule the client broke. A payload is consumed as it arrives — unmasked
//! piece by piece, a text message's UTF-8 checked piece by piece — so a bad byte fails the
//! connection the moment it is read, and a big frame never sits twice in memory.
//!
//! The rules (§5.4, §5.5): a message is one text or binary frame, then continuation frames
//! until one has FIN; control frames (close, ping, pong) may come between the fragments,
//! never in pieces themselves.

use crate::budget::{Claim, make_room};
use crate::ws::close::{self, Violation};
use crate::ws::frame::{self, Header, Opcode};
use crate::ws::utf8::Utf8Stream;

/// What a client sent, once complete.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// A close frame: its code and reason, or `None` for an empty one.
    Close(Option<(u16, String)>),
}

/// A message whose frames are still arriving.
struct Partial {
    is_text: bool,
    data: Vec<u8>,
    utf8: Utf8Stream,
}

pub struct Reader {
    max_message: usize,
    /// The frame whose payload is arriving, and how many of its bytes have.
    frame: Option<(Header, u64)>,
    /// A control frame's payload (at most 125 bytes).
    control: Vec<u8>,
    message: Option<Partial>,
    /// The message's bytes held against the server's shared memory budget, if it has one.
    claim: Option<Claim>,
    /// With `--trace`: one line per frame read, for the connection to print.
    pub trace: Option<Vec<String>>,
}

impl Reader {
    pub fn new(max_message: usize, trace: bool) -> Reader {
        Reader {
            max_message,
            frame: None,
            control: Vec::new(),
            message: None,
            claim: None,
            trace: trace.then(Vec::new),
        }
    }

    /// Whether part of a frame or of a fragmented message has arrived and the rest has not.
    pub fn in_message(&self) -> bool {
        self.frame.is_some() || self.message.is_some()
    }

    /// Holds every message's bytes against a shared budget, taken as they arrive; when it
    /// cannot spare them, the reader fails with `ServerBusy` (close code 1013).
    pub fn with_budget(mut self, claim: Claim) -> Reader {
        self.claim = Some(claim);
        self
    }

    // ANCHOR: read
    /// Consumes bytes from the start of `input`: how many it used, and an event if one is
    /// complete. When it answers `None`, it has used everything it could: read more.
    pub fn read(&mut self, input: &[u8]) -> Result<(usize, Option<Event>), Violation> {
        // The last message handed out has been dealt with by now: its bytes go back.
        if let (None, Some(claim)) = (&self.message, &mut self.claim) {
            claim.release();
        }
        let mut used = 0;
        loop {
            let Some((header, received)) = self.frame else {
                let Some((header, header_len)) = frame::parse_header(&input[used..])? else {
                    return Ok((used, None));
                };
                self.start_frame(&header)?;
                used += header_len;
                self.frame = Some((header, 0));
                continue;
            };
            let wanted = header.payload_len - received;
            let take = wanted.min((input.len() - used) as u64) as usize;
            self.take_payload(&header, received, &input[used..used + take])?;
            used += take;
            if (take as u64) < wanted {
                self.frame = Some((header, received + take as u64));
                return Ok((used, None));
            }
            self.frame = None;
            if let Some(event) = self.end_frame(&header)? {
                return Ok((used, Some(event)));
            }
        }
    }
    // ANCHOR_END: read

    // ANCHOR: start_frame
    /// The checks a header allows before any of its payload is read (or allocated).
    fn start_frame(&mut self, header: &Header) -> Result<(), Violation> {
        self.note(header, &[]);
        // §5.1: "The server MUST close the connection upon receiving a frame that is not
        // masked."
        if header.mask.is_none() {
            return Err(Violation::Unmasked);
        }
        match (header.opcode, &self.message) {
            (Opcode::Continuation, None) => return Err(Violation::NothingToContinue),
            (Opcode::Text | Opcode::Binary, Some(_)) => return Err(Violation::MessageInterrupted),
            (Opcode::Text | Opcode::Binary, None) => {
                self.message = Some(Partial {
                    is_text: header.opcode == Opcode::Text,
                    data: Vec::new(),
                    utf8: Utf8Stream::default(),
                });
            }
            _ => self.control.clear(),
        }
        if let Some(message) = &mut self.message
            && !header.opcode.is_control()
        {
            // Checked on the announced length, before a byte of it is stored. Nothing is
            // reserved on that announcement: the bytes take memory as they arrive, so a
            // 14-byte header announcing 16 MiB costs 14 bytes until the 16 MiB come.
            let total = message.data.len() as u64 + header.payload_len;
            if total > self.max_message as u64 {
                return Err(Violation::TooBig);
            }
        }
        Ok(())
    }
    // ANCHOR_END: start_frame

    /// Stores (unmasked) the next `piece` of the frame's payload, which starts `offset` bytes in.
    fn take_payload(
        &mut self,
        header: &Header,
        offset: u64,
        piece: &[u8],
    ) -> Result<(), Violation> {
        let key = header.mask.unwrap_or_default();
        // A message's bytes are taken from the budget as they arrive (a control frame's
        // 125 bytes at most are not counted).
        if let (Some(message), Some(claim)) = (&mut self.message, &mut self.claim)
            && !header.opcode.is_control()
            && !make_room(&mut message.data, piece.len(), self.max_message, claim)
        {
            return Err(Violation::ServerBusy);
        }
        let (store, utf8) = match (&mut self.message, header.opcode.is_control()) {
            (Some(message), false) => (
                &mut message.data,
                message.is_text.then_some(&mut message.utf8),
            ),
            _ => (&mut self.control, None),
        };
        let start = store.len();
        store.extend_from_slice(piece);
        frame::apply_mask(&mut store[start..], key, offset);
        if let Some(utf8) = utf8 {
            // §8.1: fail as soon as the text is known not to be UTF-8, even mid-frame.
            utf8.feed(&store[start..])
                .map_err(|_| Violation::InvalidUtf8)?;
        }
        Ok(())
    }

    /// A frame is complete: a control frame is an event; a final data frame ends a message.
    fn end_frame(&mut self, header: &Header) -> Result<Option<Event>, Violation> {
        if let Some(lines) = &mut self.trace
            && let Some(line) = lines.last_mut()
        {
            let payload = match (header.opcode.is_control(), &self.message) {
                (false, Some(message)) => tail(&message.data, header.payload_len),
                _ => &self.control[..],
            };
            *line = frame::describe(header, payload);
        }
        let control = std::mem::take(&mut self.control);
        match header.opcode {
            Opcode::Ping => return Ok(Some(Event::Ping(control))),
            Opcode::Pong => return Ok(Some(Event::Pong(control))),
            Opcode::Close => return Ok(Some(Event::Close(close::parse_payload(&control)?))),
            _ if !header.is_final => return Ok(None),
            _ => {}
        }
        let Some(mut message) = self.message.take() else {
            return Ok(None); // (start_frame made one for every data frame)
        };
        if !message.is_text {
            return Ok(Some(Event::Binary(message.data)));
        }
        message.utf8.finish()?;
        let text = String::from_utf8(message.data).map_err(|_| Violation::InvalidUtf8)?;
        Ok(Some(Event::Text(text)))
    }

    /// The `--trace` lines of the frames read so far; a frame still arriving keeps its line
    /// until it is complete (so the line can show its first bytes), unless `all`.
    pub fn take_trace(&mut self, all: bool) -> Vec<String> {
        let in_progress = usize::from(self.frame.is_some() && !all);
        match &mut self.trace {
            None => Vec::new(),
            Some(lines) => lines
                .drain(..lines.len().saturating_sub(in_progress))
                .collect(),
        }
    }

    /// Records a header for `--trace` (rewritten with the payload's first bytes at its end).
    fn note(&mut self, header: &Header, payload: &[u8]) {
        if let Some(lines) = &mut self.trace {
            lines.push(frame::describe(header, payload));
        }
    }
}

/// The start of the last frame's bytes in a message (for the trace).
fn tail(data: &[u8], frame_len: u64) -> &[u8] {
    &data[data.len().saturating_sub(frame_len as usize)..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws::frame::encode;

    const KEY: Option<[u8; 4]> = Some([1, 2, 3, 4]);

    fn masked(is_final: bool, opcode: Opcode, payload: &[u8]) -> Vec<u8> {
        encode(is_final, opcode, payload, KEY)
    }

    /// Every event the bytes give, fed `step` bytes at a time, or the first violation.
    fn events(bytes: &[u8], step: usize) -> Result<Vec<Event>, Violation> {
        let mut reader = Reader::new(100, false);
        let mut buffer = Vec::new();
        let mut found = Vec::new();
        for piece in bytes.chunks(step) {
            buffer.extend_from_slice(piece);
            loop {
                let (used, event) = reader.read(&buffer)?;
                buffer.drain(..used);
                match event {
                    Some(event) => found.push(event),
                    None => break,
                }
            }
        }
        assert!(buffer.len() < 14, "only a partial header may be left over");
        Ok(found)
    }

    #[test]
    fn fragments_with_a_ping_between_them_at_any_read_size() {
        let mut bytes = masked(false, Opcode::Text, "Hel".as_bytes());
        bytes.extend(masked(true, Opcode::Ping, b"?"));
        bytes.extend(masked(false, Opcode::Continuation, "lo, κό".as_bytes()));
        bytes.extend(masked(true, Opcode::Continuation, "σμε".as_bytes()));
        bytes.extend(masked(true, Opcode::Binary, &[0, 255]));
        bytes.extend(masked(true, Opcode::Pong, b""));
        bytes.extend(masked(true, Opcode::Close, b"\x03\xe8bye"));
        for step in [1, 2, 3, 5, 7, bytes.len()] {
            assert_eq!(
                events(&bytes, step),
                Ok(vec![
                    Event::Ping(b"?".to_vec()),
                    Event::Text("Hello, κόσμε".to_string()),
                    Event::Binary(vec![0, 255]),
                    Event::Pong(Vec::new()),
                    Event::Close(Some((1000, "bye".to_string()))),
                ]),
                "step {step}"
            );
        }
    }

    #[test]
    fn empty_messages_and_an_empty_close() {
        let mut bytes = masked(true, Opcode::Text, b"");
        bytes.extend(masked(false, Opcode::Binary, b""));
        bytes.extend(masked(true, Opcode::Continuation, b""));
        bytes.extend(masked(true, Opcode::Close, b""));
        let expected = vec![
            Event::Text(String::new()),
            Event::Binary(Vec::new()),
            Event::Close(None),
        ];
        assert_eq!(events(&bytes, 1), Ok(expected));
    }

    #[test]
    fn every_violation_a_message_can_make() {
        let two = |a: Vec<u8>, b: Vec<u8>| [a, b].concat();
        let cases: Vec<(Vec<u8>, Violation)> = vec![
            (encode(true, Opcode::Text, b"hi", None), Violation::Unmasked),
            (
                masked(true, Opcode::Continuation, b"x"),
                Violation::NothingToContinue,
            ),
            (
                two(
                    masked(false, Opcode::Text, b"a"),
                    masked(true, Opcode::Binary, b"b"),
                ),
                Violation::MessageInterrupted,
            ),
            (
                masked(true, Opcode::Text, b"\xce\xba\xff"),
                Violation::InvalidUtf8,
            ),
            (
                two(
                    masked(false, Opcode::Text, b"\xe2\x82"),
                    masked(true, Opcode::Continuation, b""),
                ),
                Violation::InvalidUtf8,
            ),
            (masked(true, Opcode::Binary, &[0; 101]), Violation::TooBig),
            (
                two(
                    masked(false, Opcode::Binary, &[0; 60]),
                    masked(true, Opcode::Continuation, &[0; 41]),
                ),
                Violation::TooBig,
            ),
            (
                masked(true, Opcode::Close, b"\x03"),
                Violation::CloseTooShort,
            ),
            (
                masked(true, Opcode::Close, b"\x03\xed"),
                Violation::BadCloseCode,
            ),
            (
                masked(true, Opcode::Close, b"\x03\xe8\xc0"),
                Violation::InvalidUtf8,
            ),
            (vec![0x89, 0xFE, 0x00, 0x7E], Violation::ControlTooLong),
        ];
        for (bytes, violation) in cases {
            assert_eq!(events(&bytes, 1), Err(violation), "{bytes:x?}");
        }
    }

    #[test]
    fn invalid_utf8_fails_before_the_frame_is_complete() {
        let bytes = masked(true, Opcode::Text, b"ok so far \xff and much more after it");
        let mut reader = Reader::new(100, false);
        // The header and the first 11 payload bytes: 0xFF is the 11th.
        let header_len = 6;
        assert_eq!(
            reader.read(&bytes[..header_len + 10]),
            Ok((header_len + 10, None))
        );
        assert_eq!(
            reader.read(&bytes[header_len + 10..header_len + 11]),
            Err(Violation::InvalidUtf8)
        );
    }

    #[test]
    fn a_huge_announced_length_is_refused_before_any_payload() {
        // 2^62 bytes announced; the reader must say "too big" with just the header in hand.
        let header = frame::encode_header(true, Opcode::Binary, 1 << 62, KEY);
        assert_eq!(
            Reader::new(100, false).read(&header),
            Err(Violation::TooBig)
        );
    }

    #[test]
    fn the_trace_names_every_frame() {
        let mut reader = Reader::new(100, true);
        let bytes = [
            masked(false, Opcode::Text, b"Hel"),
            masked(true, Opcode::Continuation, b"lo"),
        ]
        .concat();
        let (_, event) = reader.read(&bytes).unwrap();
        assert_eq!(event, Some(Event::Text("Hello".to_string())));
        assert_eq!(
            reader.take_trace(false),
            [
                "fin=0 rsv=000 op=1 text mask=1 len=3 \"Hel\"",
                "fin=1 rsv=000 op=0 continuation mask=1 len=2 \"lo\""
            ]
        );
    }
}
