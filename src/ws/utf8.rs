//! UTF-8 checked as it arrives, across fragments and across reads.
//!
//! A text message must be UTF-8 as a whole (§8.1), but it may come in many frames, and each
//! frame in many reads, cut anywhere — even inside a character. Waiting for the end to check
//! would let a client stream megabytes of garbage first; §8.1 asks the endpoint to fail the
//! connection as soon as the data is known to be invalid. So each piece is checked when it
//! arrives, and a character cut at the end of a piece (1 to 3 bytes) waits for the next one.
//!
//! `std::str::from_utf8` tells the two cases apart: its error's `error_len()` is `Some` for
//! bytes that can never be UTF-8, and `None` for a sequence that is merely unfinished.

use crate::ws::close::Violation;

// ANCHOR: utf8_stream
/// The state of a text message being checked: the bytes of a character not yet complete.
#[derive(Debug, Default)]
pub struct Utf8Stream {
    pending: Vec<u8>,
}

impl Utf8Stream {
    /// Checks the next piece. `Err` as soon as the bytes so far cannot be the start of UTF-8.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<(), Violation> {
        // Finish the character the last piece cut, one byte at a time (at most 3 more).
        while !self.pending.is_empty() {
            let Some((&next, rest)) = bytes.split_first() else {
                return Ok(()); // still unfinished: wait for more
            };
            self.pending.push(next);
            bytes = rest;
            match std::str::from_utf8(&self.pending) {
                Ok(_) => self.pending.clear(),
                Err(e) if e.error_len().is_some() => return Err(Violation::InvalidUtf8),
                Err(_) => {} // a longer character: keep adding
            }
        }
        match std::str::from_utf8(bytes) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_some() => Err(Violation::InvalidUtf8),
            Err(e) => {
                self.pending = bytes[e.valid_up_to()..].to_vec();
                Ok(())
            }
        }
    }

    /// At the end of the message, an unfinished character is an error too.
    pub fn finish(&mut self) -> Result<(), Violation> {
        match self.pending.is_empty() {
            true => Ok(()),
            false => Err(Violation::InvalidUtf8), // cut short at the end of the message
        }
    }
}
// ANCHOR_END: utf8_stream

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `bytes` cut at every possible pair of places; all must agree with `expected`.
    fn check_every_split(bytes: &[u8], expected: bool) {
        for i in 0..=bytes.len() {
            for j in i..=bytes.len() {
                let mut stream = Utf8Stream::default();
                let ok = stream.feed(&bytes[..i]).is_ok()
                    && stream.feed(&bytes[i..j]).is_ok()
                    && stream.feed(&bytes[j..]).is_ok()
                    && stream.finish().is_ok();
                assert_eq!(ok, expected, "{bytes:x?} cut at {i} and {j}");
            }
        }
    }

    #[test]
    fn valid_text_cut_anywhere() {
        check_every_split("κόσμε".as_bytes(), true);
        check_every_split("a€b𝄞c".as_bytes(), true); // 3- and 4-byte characters
        check_every_split(b"", true);
    }

    #[test]
    fn invalid_text_cut_anywhere() {
        check_every_split(
            b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",
            false,
        );
        check_every_split(b"\xff", false); // never a UTF-8 byte
        check_every_split(b"\xc0\xaf", false); // an overlong '/'
        check_every_split(b"\xf4\x90\x80\x80", false); // above U+10FFFF
        check_every_split(b"abc\xe2\x82", false); // cut short at the end of the message
    }

    #[test]
    fn fails_fast_on_the_first_impossible_byte() {
        let mut stream = Utf8Stream::default();
        assert!(stream.feed("κόσμε".as_bytes()).is_ok());
        // 0xED 0xA0 starts a UTF-16 surrogate: known invalid before the third byte arrives.
        assert!(stream.feed(b"\xed").is_ok());
        assert!(stream.feed(b"\xa0").is_err());
        let mut stream = Utf8Stream::default();
        assert!(
            stream.feed(b"\xf4\x90").is_err(),
            "above U+10FFFF after two bytes"
        );
    }
}
