//! Closing: the status codes (RFC 6455 §7.4), the close frame's payload (§5.5.1), and every
//! way a client can break the protocol, each with the code the server closes with.
//!
//! A close frame's payload is empty, or a 2-byte big-endian code followed by a UTF-8 reason.
//! The endpoint that receives a close answers with a close (once), and then the server closes
//! the TCP connection (§7.1.1: the server closes first, so the client's port is not left in
//! TIME_WAIT).

// ANCHOR: violation
/// Why the server fails a connection (§7.1.7): it sends a close frame with this code, stops
/// reading, and closes TCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    /// RSV1–3 set, but no extension was negotiated (§5.2).
    ReservedBits,
    /// Opcode 3–7 or 11–15 (§5.2).
    ReservedOpcode,
    /// A close, ping or pong without FIN (§5.5).
    FragmentedControl,
    /// A control frame with more than 125 bytes of payload (§5.5).
    ControlTooLong,
    /// A 64-bit length with its most significant bit set (§5.2).
    LengthHighBit,
    /// A length in a longer form than needed (§5.2: "the minimal number of bytes MUST be used").
    NonMinimalLength,
    /// A client frame without a mask (§5.1: the server "MUST close the connection").
    Unmasked,
    /// A continuation frame with no message to continue (§5.4).
    NothingToContinue,
    /// A new text or binary frame while a fragmented message is still open (§5.4).
    MessageInterrupted,
    /// A close frame whose payload is 1 byte: too short for a code (§5.5.1).
    CloseTooShort,
    /// A close code that may not be sent (§7.4.1, §7.4.2).
    BadCloseCode,
    /// A text message, or a close reason, that is not UTF-8 (§8.1).
    InvalidUtf8,
    /// A message larger than `MAX_MESSAGE_BYTES` (§7.4.1: 1009).
    TooBig,
    /// Not the client's fault: the server's memory budget for messages (`budget.rs`) is
    /// spent just now. 1013, "Try Again Later", from the IANA registry of close codes.
    ServerBusy,
    /// A message still unfinished a body timeout after its first byte: the client may not hold
    /// the memory budget by sending it a byte at a time. 1008, "Policy Violation".
    TooSlow,
}

impl Violation {
    /// The status code sent in the close frame (§7.4.1).
    pub fn close_code(self) -> u16 {
        use Violation::*;
        match self {
            InvalidUtf8 => 1007, // "data within a message that was not consistent with the type"
            TooBig => 1009,      // "a message that is too big for it to process"
            ServerBusy => 1013,  // "Try Again Later": the server is overloaded
            TooSlow => 1008,     // "Policy Violation": a message must arrive in time
            _ => 1002,           // "a protocol error"
        }
    }

    /// The close frame's reason: short, since a close payload is at most 125 bytes.
    pub fn reason(self) -> &'static str {
        use Violation::*;
        match self {
            ReservedBits => "RSV bits set without an extension",
            ReservedOpcode => "reserved opcode",
            FragmentedControl => "fragmented control frame",
            ControlTooLong => "control frame over 125 bytes",
            LengthHighBit => "64-bit length with the top bit set",
            NonMinimalLength => "length not in its shortest form",
            Unmasked => "client frames must be masked",
            NothingToContinue => "continuation without a message",
            MessageInterrupted => "new message inside a fragmented one",
            CloseTooShort => "close payload of 1 byte",
            BadCloseCode => "invalid close code",
            InvalidUtf8 => "invalid UTF-8",
            TooBig => "message too big",
            ServerBusy => "server busy: try again later",
            TooSlow => "message took too long to arrive",
        }
    }
}
// ANCHOR_END: violation

// ANCHOR: valid_code
/// Whether an endpoint may send this code in a close frame (§7.4.1, §7.4.2). 1004 is
/// reserved; 1005, 1006 and 1015 are for APIs to *report* "no code", "no close frame" and
/// "TLS failed", never to put on the wire; 1012–1014 are later IANA additions (service
/// restart, try again later, bad gateway); 3000–3999 are registered for libraries and
/// frameworks, 4000–4999 private.
pub fn is_valid_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}
// ANCHOR_END: valid_code

/// A received close frame's payload: `None` if empty, else the code and the reason.
pub fn parse_payload(payload: &[u8]) -> Result<Option<(u16, String)>, Violation> {
    match payload {
        [] => Ok(None),
        [_] => Err(Violation::CloseTooShort),
        [high, low, reason @ ..] => {
            let code = u16::from_be_bytes([*high, *low]);
            if !is_valid_code(code) {
                return Err(Violation::BadCloseCode);
            }
            let reason = std::str::from_utf8(reason).map_err(|_| Violation::InvalidUtf8)?;
            Ok(Some((code, reason.to_string())))
        }
    }
}

/// A close frame's payload: the code, then the reason cut to fit in 125 bytes (at a
/// character boundary, so it stays UTF-8).
pub fn payload(code: u16, reason: &str) -> Vec<u8> {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut bytes = code.to_be_bytes().to_vec();
    bytes.extend_from_slice(&reason.as_bytes()[..end]);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_and_invalid_codes() {
        for code in [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
        ] {
            assert!(is_valid_code(code), "{code}");
        }
        // 1004 reserved; 1005/1006/1015 are never sent; 1016–2999 unassigned; 5000+ unknown.
        for code in [
            0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ] {
            assert!(!is_valid_code(code), "{code}");
        }
    }

    #[test]
    fn close_payloads() {
        assert_eq!(parse_payload(b""), Ok(None));
        assert_eq!(parse_payload(&[0x03]), Err(Violation::CloseTooShort));
        assert_eq!(
            parse_payload(&[0x03, 0xE8]),
            Ok(Some((1000, String::new())))
        );
        assert_eq!(
            parse_payload(b"\x0f\xa0bye \xc3\xa9"),
            Ok(Some((4000, "bye é".to_string())))
        );
        assert_eq!(parse_payload(&[0x03, 0xED]), Err(Violation::BadCloseCode));
        assert_eq!(parse_payload(b"\x03\xe8\xff"), Err(Violation::InvalidUtf8));
        assert_eq!(Violation::InvalidUtf8.close_code(), 1007);
        assert_eq!(Violation::BadCloseCode.close_code(), 1002);
        assert_eq!(Violation::TooBig.close_code(), 1009);
    }

    #[test]
    fn a_long_reason_is_cut_at_a_character_boundary() {
        let reason = "é".repeat(100); // 200 bytes
        let bytes = payload(1000, &reason);
        assert_eq!(bytes.len(), 2 + 122); // 61 characters of 2 bytes: 123 would split one
        assert!(std::str::from_utf8(&bytes[2..]).is_ok());
        assert_eq!(payload(1001, "going"), b"\x03\xe9going");
    }
}
