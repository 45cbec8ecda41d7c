//! WebSocket for the raw-TCP `Client`: the opening handshake written by hand, frames built and
//! parsed by this file's own code, not the server's codec, so a bug there cannot hide itself.

use webwire::Running;

use super::{Client, Reply};

/// The RFC's example key (§1.3), and the accept value it must get back.
pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
pub const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

// A frame's first byte: FIN, then the opcode (RFC 6455 §5.2).
pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xA;
pub const FIN: u8 = 0x80;

/// An opening handshake for `target`, with `extra` header lines (each ending in CR LF).
pub fn upgrade_request(target: &str, extra: &str) -> String {
    format!(
        "GET {target} HTTP/1.1\r\nHost: localhost:8088\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\
         {extra}\r\n"
    )
}

/// A client frame: `first` is FIN and the opcode, the payload masked with a fixed key.
pub fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x37, 0xfa, 0x21, 0x3d];
    let mut bytes = vec![first];
    match payload.len() {
        n @ 0..=125 => bytes.push(0x80 | n as u8),
        n @ 126..=0xFFFF => {
            bytes.push(0x80 | 126);
            bytes.extend((n as u16).to_be_bytes());
        }
        n => {
            bytes.push(0x80 | 127);
            bytes.extend((n as u64).to_be_bytes());
        }
    }
    bytes.extend(key);
    bytes.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    bytes
}

/// A masked binary frame's header alone, announcing `len` bytes in the 64-bit length form;
/// `fin` false for the first fragment of a longer message.
pub fn big_frame_header(len: u64, fin: bool) -> Vec<u8> {
    let mut header = vec![if fin { 0x82 } else { 0x02 }, 0xFF];
    header.extend_from_slice(&len.to_be_bytes());
    header.extend_from_slice(&[0, 0, 0, 0]); // mask key 0: the payload is as sent
    header
}

/// A close frame's payload: the code, then the reason.
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    [&code.to_be_bytes()[..], reason.as_bytes()].concat()
}

/// Connects, sends the opening handshake for `target` (with `extra` header lines) and checks
/// the 101; returns the client, now speaking WebSocket, and the 101.
pub fn upgrade(server: &Running, target: &str, extra: &str) -> (Client, Reply) {
    let mut client = Client::connect(server);
    let switched = client.exchange(upgrade_request(target, extra));
    assert!(
        switched.head.starts_with("HTTP/1.1 101 "),
        "{}",
        switched.head
    );
    (client, switched)
}

/// The WebSocket side of a client past its 101: frames in, read by this file's own parser.
impl Client {
    /// Reads until `n` bytes are pending; false if the server closed first.
    fn need(&mut self, n: usize) -> bool {
        while self.pending.len() < n {
            if self.fill() == 0 {
                return false;
            }
        }
        true
    }

    /// The next frame from the server: its first byte (FIN, opcode) and payload, or `None`
    /// if the server closed the connection first. Server frames must not be masked.
    pub fn read_frame(&mut self) -> Option<(u8, Vec<u8>)> {
        if !self.need(2) {
            assert!(self.pending.is_empty(), "closed inside a frame header");
            return None;
        }
        assert_eq!(
            self.pending[1] & 0x80,
            0,
            "a server frame must not be masked"
        );
        let (len, header) = match self.pending[1] {
            126 => {
                assert!(self.need(4));
                (
                    u16::from_be_bytes([self.pending[2], self.pending[3]]) as usize,
                    4,
                )
            }
            127 => {
                assert!(self.need(10));
                let bytes: [u8; 8] = self.pending[2..10].try_into().unwrap();
                (u64::from_be_bytes(bytes) as usize, 10)
            }
            n => (n as usize, 2),
        };
        assert!(self.need(header + len), "closed inside a frame");
        let first = self.pending[0];
        let payload = self.pending[header..header + len].to_vec();
        self.pending.drain(..header + len);
        Some((first, payload))
    }

    /// The next frame's text, checked to be one short, final text frame.
    pub fn read_text(&mut self) -> String {
        assert!(self.need(2), "closed before a frame");
        assert_eq!(self.pending[0], FIN | TEXT, "a final text frame");
        assert!(self.pending[1] < 126, "a short frame");
        let (_, payload) = self.read_frame().expect("a frame");
        String::from_utf8(payload).unwrap()
    }

    /// Sends a final text frame.
    pub fn send_text(&mut self, text: &str) {
        self.send(frame(FIN | TEXT, text.as_bytes()));
    }
}
