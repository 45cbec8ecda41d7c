//! The frame codec: RFC 6455 §5.2, pure over bytes — no socket, no state.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-------+-+-------------+-------------------------------+
//! |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//! |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//! |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//! | |1|2|3|       |K|             |                               |
//! +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//! |     Extended payload length continued, if payload len == 127  |
//! + - - - - - - - - - - - - - - - +-------------------------------+
//! |                               |Masking-key, if MASK set to 1  |
//! +-------------------------------+-------------------------------+
//! | Masking-key (continued)       |          Payload Data         |
//! +-------------------------------- - - - - - - - - - - - - - - - +
//! ```
//!
//! `parse_header` reads only the header (2 to 14 bytes) and answers like an HTTP parser:
//! a header, "not enough bytes yet", or a violation. The payload is left to the caller, who
//! may receive it in pieces and unmask each piece with `apply_mask` at its offset — so a
//! 16 MiB frame never has to sit whole in a read buffer, and nothing is allocated from a
//! length before the length is checked.

use crate::ws::close::Violation;

// ANCHOR: opcode
/// What a frame carries (§5.2, §11.8). Values 3–7 and 11–15 are reserved: receiving one
/// fails the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    Continuation = 0x0,
    Text = 0x1,
    Binary = 0x2,
    Close = 0x8,
    Ping = 0x9,
    Pong = 0xA,
}
// ANCHOR_END: opcode

impl Opcode {
    fn from_bits(bits: u8) -> Option<Opcode> {
        Some(match bits {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            _ => return None,
        })
    }

    /// Control frames (close, ping, pong) have the high bit of the opcode set (§5.5).
    pub fn is_control(self) -> bool {
        self as u8 & 0x8 != 0
    }

    pub fn name(self) -> &'static str {
        match self {
            Opcode::Continuation => "continuation",
            Opcode::Text => "text",
            Opcode::Binary => "binary",
            Opcode::Close => "close",
            Opcode::Ping => "ping",
            Opcode::Pong => "pong",
        }
    }
}

/// A frame header as it was on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// FIN: the last frame of its message.
    pub is_final: bool,
    /// RSV1, RSV2, RSV3 as the low three bits (0b100 is RSV1). Always 0 here: this server
    /// negotiates no extension, so any other value has already failed `parse_header`.
    pub rsv: u8,
    pub opcode: Opcode,
    /// The masking key, present exactly when the MASK bit is set.
    pub mask: Option<[u8; 4]>,
    pub payload_len: u64,
}

// ANCHOR: parse_header
/// Reads a frame header from the start of `buf`: `Ok(Some((header, header_len)))`, or
/// `Ok(None)` if more bytes are needed, or the rule the bytes break.
pub fn parse_header(buf: &[u8]) -> Result<Option<(Header, usize)>, Violation> {
    let [first, second, ..] = *buf else {
        return Ok(None);
    };
    let is_final = first & 0x80 != 0;
    let rsv = (first >> 4) & 0x7;
    // §5.2: RSV bits "MUST be 0 unless an extension is negotiated"; we negotiate none.
    if rsv != 0 {
        return Err(Violation::ReservedBits);
    }
    let opcode = Opcode::from_bits(first & 0x0F).ok_or(Violation::ReservedOpcode)?;
    // §5.5: "All control frames MUST have a payload length of 125 bytes or less and MUST
    // NOT be fragmented."
    if opcode.is_control() && !is_final {
        return Err(Violation::FragmentedControl);
    }
    let masked = second & 0x80 != 0;
    let (payload_len, mut used) = match second & 0x7F {
        126 => match buf.get(2..4) {
            None => return Ok(None),
            Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
        },
        127 => match buf.get(2..10) {
            None => return Ok(None),
            Some(b) => (
                u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
                10,
            ),
        },
        short => (u64::from(short), 2),
    };
    // §5.2: in the 64-bit form "the most significant bit MUST be 0", and "the minimal
    // number of bytes MUST be used to encode the length".
    if payload_len >> 63 != 0 {
        return Err(Violation::LengthHighBit);
    }
    if (used == 4 && payload_len < 126) || (used == 10 && payload_len <= 0xFFFF) {
        return Err(Violation::NonMinimalLength);
    }
    if opcode.is_control() && payload_len > 125 {
        return Err(Violation::ControlTooLong);
    }
    let mask = match masked {
        false => None,
        true => match buf.get(used..used + 4) {
            None => return Ok(None),
            Some(k) => {
                used += 4;
                Some([k[0], k[1], k[2], k[3]])
            }
        },
    };
    let header = Header {
        is_final,
        rsv,
        opcode,
        mask,
        payload_len,
    };
    Ok(Some((header, used)))
}
// ANCHOR_END: parse_header

// ANCHOR: apply_mask
/// Masks or unmasks (the same operation, §5.3): byte `i` of the payload is XORed with byte
/// `i % 4` of the key. `offset` is where `bytes` starts in the payload, so a payload that
/// arrives in pieces can be unmasked piece by piece.
///
/// Eight bytes at a time: the key, turned to line up with `bytes[0]` and written twice,
/// is one 64-bit word, and XOR works the same on a word as on its bytes. Byte by byte, a
/// 1 MiB message spent more time here than everywhere else together (`perf`, echo-large).
pub fn apply_mask(bytes: &mut [u8], key: [u8; 4], offset: u64) {
    let turn = (offset % 4) as usize;
    let key: [u8; 4] = std::array::from_fn(|i| key[(turn + i) % 4]);
    let word = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut eights = bytes.chunks_exact_mut(8);
    for eight in &mut eights {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(eight);
        eight.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ word).to_ne_bytes());
    }
    // The rest (under eight bytes) starts at a multiple of eight: the key lines up again.
    for (i, byte) in eights.into_remainder().iter_mut().enumerate() {
        *byte ^= key[i % 4];
    }
}
// ANCHOR_END: apply_mask

/// How much of a payload a `--trace` line shows.
const PREVIEW_BYTES: usize = 32;

/// `"κόσμε"`: as much of `bytes` as is whole UTF-8, controls, quotes and backslashes escaped.
fn quoted_text(bytes: &[u8]) -> String {
    let whole = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        // A preview may cut a character in two: show up to the cut.
        Err(e) => std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or(""),
    };
    let mut quoted = String::from("\"");
    for c in whole.chars() {
        match c {
            '"' | '\\' => {
                quoted.push('\\');
                quoted.push(c);
            }
            c if c.is_control() => quoted.extend(c.escape_default()),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// `"\x0f\xa0done"`: printable ASCII as is, every other byte in hex.
fn quoted_bytes(bytes: &[u8]) -> String {
    let mut quoted = String::from("\"");
    for &byte in bytes {
        match byte {
            b'"' | b'\\' => {
                quoted.push('\\');
                quoted.push(byte as char);
            }
            b' '..=b'~' => quoted.push(byte as char),
            _ => quoted.push_str(&format!("\\x{byte:02x}")),
        }
    }
    quoted.push('"');
    quoted
}

/// The name of a close code, from the registry in RFC 6455 §7.4.1 (and IANA's for 1012–1014).
pub fn close_code_name(code: u16) -> &'static str {
    match code {
        1000 => "normal closure",
        1001 => "going away",
        1002 => "protocol error",
        1003 => "unsupported data",
        1007 => "invalid payload data",
        1008 => "policy violation",
        1009 => "message too big",
        1010 => "mandatory extension",
        1011 => "internal error",
        1012 => "service restart",
        1013 => "try again later",
        1014 => "bad gateway",
        3000..=3999 => "registered for libraries and frameworks",
        4000..=4999 => "private use",
        _ => "not a code a peer may send",
    }
}

// ANCHOR: encode_header
/// The header for a frame of `payload_len` bytes, with the shortest length form. A server
/// sends `mask: None`: §5.1 "A server MUST NOT mask any frames that it sends to the client".
pub fn encode_header(
    is_final: bool,
    opcode: Opcode,
    payload_len: u64,
    mask: Option<[u8; 4]>,
) -> Vec<u8> {
    let mut header = Vec::with_capacity(14);
    header.push(if is_final { 0x80 } else { 0 } | opcode as u8);
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload_len {
        0..=125 => header.push(mask_bit | payload_len as u8),
        126..=0xFFFF => {
            header.push(mask_bit | 126);
            header.extend_from_slice(&(payload_len as u16).to_be_bytes());
        }
        _ => {
            header.push(mask_bit | 127);
            header.extend_from_slice(&payload_len.to_be_bytes());
        }
    }
    if let Some(key) = mask {
        header.extend_from_slice(&key);
    }
    header
}
// ANCHOR_END: encode_header

/// A whole frame: the header, then the payload (masked with the key, if one is given).
pub fn encode(is_final: bool, opcode: Opcode, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut frame = encode_header(is_final, opcode, payload.len() as u64, mask);
    let start = frame.len();
    frame.extend_from_slice(payload);
    if let Some(key) = mask {
        apply_mask(&mut frame[start..], key, 0);
    }
    frame
}

/// One line for `--trace`: `fin=1 rsv=000 op=1 text mask=1 len=5 "Hello"`, with at most the
/// first 16 bytes of the (unmasked) payload, printable ASCII as is, the rest as `\xNN`.
pub fn describe(header: &Header, payload_start: &[u8]) -> String {
    let payload_start = &payload_start[..payload_start.len().min(PREVIEW_BYTES)];
    let mask = match header.mask {
        Some(_) => "mask=1",
        None => "mask=0",
    };
    let mut line = format!(
        "fin={} rsv={:03b} op={} {} {mask} len={}",
        u8::from(header.is_final),
        header.rsv,
        header.opcode as u8,
        header.opcode.name(),
        header.payload_len
    );
    if payload_start.is_empty() {
        return line;
    }
    let shown = match header.opcode {
        // A close is its code, the code's name and the reason (RFC 6455 §7.4.1).
        Opcode::Close if payload_start.len() >= 2 => {
            let code = u16::from_be_bytes([payload_start[0], payload_start[1]]);
            let reason = quoted_text(&payload_start[2..]);
            format!(" code={code} ({}) {reason}", close_code_name(code))
        }
        // Text is shown as text: only control characters, quotes and backslashes escaped.
        Opcode::Text => format!(" {}", quoted_text(payload_start)),
        _ => format!(" {}", quoted_bytes(payload_start)),
    };
    line.push_str(&shown);
    if header.payload_len > payload_start.len() as u64 || payload_start.len() > PREVIEW_BYTES {
        line.push('…');
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses a whole frame and unmasks its payload, for the RFC's examples.
    fn parse_whole(bytes: &[u8]) -> (Header, Vec<u8>) {
        let (header, used) = parse_header(bytes).unwrap().expect("a complete header");
        let mut payload = bytes[used..].to_vec();
        assert_eq!(payload.len() as u64, header.payload_len);
        if let Some(key) = header.mask {
            apply_mask(&mut payload, key, 0);
        }
        (header, payload)
    }

    // §5.7, the RFC's own examples, byte for byte.
    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    #[test]
    fn rfc_single_frame_unmasked_text() {
        let bytes = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
        let (header, payload) = parse_whole(&bytes);
        assert!(header.is_final && header.mask.is_none());
        assert_eq!(
            (header.opcode, payload.as_slice()),
            (Opcode::Text, &b"Hello"[..])
        );
        assert_eq!(encode(true, Opcode::Text, b"Hello", None), bytes);
    }

    #[test]
    fn rfc_single_frame_masked_text() {
        let bytes = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let (header, payload) = parse_whole(&bytes);
        assert_eq!(header.mask, Some(MASK));
        assert_eq!(payload, b"Hello");
        assert_eq!(encode(true, Opcode::Text, b"Hello", Some(MASK)), bytes);
    }

    #[test]
    fn rfc_fragmented_unmasked_text() {
        let first = [0x01, 0x03, 0x48, 0x65, 0x6c];
        let second = [0x80, 0x02, 0x6c, 0x6f];
        let (a, hel) = parse_whole(&first);
        let (b, lo) = parse_whole(&second);
        assert_eq!(
            (a.is_final, a.opcode, hel.as_slice()),
            (false, Opcode::Text, &b"Hel"[..])
        );
        assert_eq!(
            (b.is_final, b.opcode, lo.as_slice()),
            (true, Opcode::Continuation, &b"lo"[..])
        );
        assert_eq!(encode(false, Opcode::Text, b"Hel", None), first);
        assert_eq!(encode(true, Opcode::Continuation, b"lo", None), second);
    }

    #[test]
    fn rfc_ping_and_masked_pong() {
        let ping = [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
        let pong = [
            0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        assert_eq!(parse_whole(&ping).0.opcode, Opcode::Ping);
        let (header, payload) = parse_whole(&pong);
        assert_eq!(
            (header.opcode, payload.as_slice()),
            (Opcode::Pong, &b"Hello"[..])
        );
    }

    #[test]
    fn rfc_256_bytes_and_64_kib_binary() {
        // 256 bytes: 0x82 0x7E 0x0100 [256 bytes]; 64 KiB: 0x82 0x7F 0x0000000000010000.
        assert_eq!(
            encode_header(true, Opcode::Binary, 256, None),
            [0x82, 0x7e, 0x01, 0x00]
        );
        assert_eq!(
            encode_header(true, Opcode::Binary, 65536, None),
            [0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0]
        );
        let mut frame = vec![0x82, 0x7e, 0x01, 0x00];
        frame.extend([7u8; 256]);
        assert_eq!(parse_whole(&frame).1, [7u8; 256]);
    }

    #[test]
    fn every_length_form_at_its_edges() {
        for len in [0u64, 1, 125, 126, 127, 0xFFFF, 0x1_0000, 1 << 40] {
            let header = encode_header(true, Opcode::Binary, len, Some(MASK));
            let expected_size = match len {
                0..=125 => 2 + 4,
                126..=0xFFFF => 4 + 4,
                _ => 10 + 4,
            };
            assert_eq!(header.len(), expected_size, "length {len}");
            let (parsed, used) = parse_header(&header).unwrap().unwrap();
            assert_eq!(
                (parsed.payload_len, used, parsed.mask),
                (len, expected_size, Some(MASK))
            );
        }
    }

    #[test]
    fn a_header_cut_anywhere_is_incomplete_not_an_error() {
        let whole = encode_header(true, Opcode::Binary, 70_000, Some(MASK));
        for cut in 0..whole.len() {
            assert_eq!(parse_header(&whole[..cut]), Ok(None), "cut at {cut}");
        }
    }

    #[test]
    fn masking_by_pieces_equals_masking_at_once() {
        let mut whole = b"a payload that arrives in pieces".to_vec();
        let mut pieces = whole.clone();
        apply_mask(&mut whole, MASK, 0);
        let (a, b) = pieces.split_at_mut(7);
        apply_mask(a, MASK, 0);
        apply_mask(b, MASK, 7);
        assert_eq!(pieces, whole);
    }

    #[test]
    fn masking_eight_at_a_time_is_the_rfcs_byte_by_byte_rule() {
        // §5.3: octet i of the transformed data is octet i of the original XOR octet
        // (i MOD 4) of the masking key; every length and every starting offset.
        let payload: Vec<u8> = (0..=255u8).cycle().take(100).collect();
        for len in 0..payload.len() {
            for offset in 0..8u64 {
                let mut fast = payload[..len].to_vec();
                apply_mask(&mut fast, MASK, offset);
                let slow: Vec<u8> = payload[..len]
                    .iter()
                    .enumerate()
                    .map(|(i, b)| b ^ MASK[((offset + i as u64) % 4) as usize])
                    .collect();
                assert_eq!(fast, slow, "len {len} offset {offset}");
            }
        }
    }

    #[test]
    fn broken_headers_and_their_violations() {
        let cases: &[(&[u8], Violation, &str)] = &[
            (
                &[0xC1, 0x80, 0, 0, 0, 0],
                Violation::ReservedBits,
                "RSV1 without an extension",
            ),
            (&[0x91, 0x80, 0, 0, 0, 0], Violation::ReservedBits, "RSV3"),
            (
                &[0x83, 0x80, 0, 0, 0, 0],
                Violation::ReservedOpcode,
                "opcode 3 is reserved",
            ),
            (
                &[0x8B, 0x80, 0, 0, 0, 0],
                Violation::ReservedOpcode,
                "opcode 11 is reserved",
            ),
            (
                &[0x09, 0x80, 0, 0, 0, 0],
                Violation::FragmentedControl,
                "a ping without FIN",
            ),
            (
                &[0x89, 0xFE, 0x00, 0x7E],
                Violation::ControlTooLong,
                "a 126-byte ping",
            ),
            (
                &[0x82, 0xFE, 0x00, 0x05],
                Violation::NonMinimalLength,
                "5 in the 16-bit form",
            ),
            (
                &[0x82, 0xFF, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF],
                Violation::NonMinimalLength,
                "65535 in the 64-bit form",
            ),
            (
                &[0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0],
                Violation::LengthHighBit,
                "a 64-bit length with its top bit set",
            ),
        ];
        for (bytes, violation, why) in cases {
            assert_eq!(parse_header(bytes), Err(*violation), "{why}");
            assert_eq!(violation.close_code(), 1002, "{why}");
        }
    }

    #[test]
    fn the_trace_line() {
        let header = Header {
            is_final: true,
            rsv: 0,
            opcode: Opcode::Text,
            mask: Some(MASK),
            payload_len: 20,
        };
        assert_eq!(
            describe(&header, b"Hello, \"world\"\n!!!"),
            "fin=1 rsv=000 op=1 text mask=1 len=20 \"Hello, \\\"world\\\"\\n!!!\"…"
        );
        let of = |opcode, payload: &[u8]| {
            let header = Header {
                is_final: true,
                rsv: 0,
                opcode,
                mask: None,
                payload_len: payload.len() as u64,
            };
            describe(&header, payload)
        };
        // UTF-8 text is shown as text, not as escapes.
        assert_eq!(
            of(Opcode::Text, "κόσμε".as_bytes()),
            "fin=1 rsv=000 op=1 text mask=0 len=10 \"κόσμε\""
        );
        // A close is its code, the code's name, and the reason.
        assert_eq!(
            of(Opcode::Close, b"\x03\xe8done here"),
            "fin=1 rsv=000 op=8 close mask=0 len=11 code=1000 (normal closure) \"done here\""
        );
        assert_eq!(
            of(Opcode::Binary, &[0, 0xff, b'a']),
            "fin=1 rsv=000 op=2 binary mask=0 len=3 \"\\x00\\xffa\""
        );
        // A long text is cut at a character, never inside one.
        let long = "é".repeat(40);
        assert_eq!(
            of(Opcode::Text, long.as_bytes()),
            format!(
                "fin=1 rsv=000 op=1 text mask=0 len=80 \"{}\"…",
                "é".repeat(16)
            )
        );
    }
}
