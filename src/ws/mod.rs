//! WebSocket (RFC 6455) by hand: the machinery the `websocket` demo and the chat room share.
//!
//! A WebSocket starts as an HTTP request and stops being one. The browser's
//! `new WebSocket("ws://localhost:8088/ws")` sends a GET that asks to *upgrade*; the server
//! answers `101 Switching Protocols`, and from the next byte on, the same TCP connection
//! carries frames in both directions, whenever either side likes — the full duplex that
//! polling, long polling and streaming could only imitate.
//!
//! ```text
//! handshake.rs   the GET and the 101 (or the 4xx), the accept key, Origin, subprotocols
//! frame.rs       one frame's header: parse, encode, mask — pure over bytes
//! utf8.rs        UTF-8 checked piece by piece, across fragments
//! reader.rs      bytes → messages: reassembly and every rule, still pure
//! close.rs       close codes, close payloads, and each violation's code
//! connection.rs  the loop on the socket: pings, pongs, close once, a Sender for writes
//! ```
//!
//! Everything but `connection.rs` works on byte slices, so the tests can feed it the RFC's
//! own examples and every malformed frame without a socket. `docs/12-websocket.md` walks
//! through it.

pub mod close;
pub mod connection;
pub mod frame;
pub mod handshake;
pub mod reader;
pub mod utf8;

use std::time::Duration;

// ANCHOR: websocket_limits
/// Largest WebSocket message, all its fragments together; past it the server closes with 1009.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;
/// How much one `read` on a WebSocket asks for at first, and again once traffic is small: a
/// socket that carries chat lines, or is held silent, keeps no more than this.
pub const WS_FIRST_READ_BYTES: usize = 4 * 1024;
/// The most one `read` asks for. Each read that fills the chunk doubles it up to this, so big
/// messages arrive in fewer system calls.
pub const WS_READ_CHUNK_BYTES: usize = 64 * 1024;
/// A WebSocket silent this long gets a ping; silent as long again, it is dropped as dead.
pub const WS_PING_INTERVAL: Duration = Duration::from_secs(30);
/// After the close frames, how long the server waits for the client to close its side of TCP.
pub const WS_CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Most bytes read and discarded while waiting for that.
pub const WS_CLOSE_DRAIN_BYTES: usize = 1024 * 1024;
// ANCHOR_END: websocket_limits

// `capacity::MEMORY_PER_CONNECTION` counts a read buffer of `LARGEST_READ_BUFFER` at most:
// checked when the program is compiled.
const _: () = assert!(WS_READ_CHUNK_BYTES <= crate::capacity::LARGEST_READ_BUFFER);
const _: () = assert!(WS_FIRST_READ_BYTES <= WS_READ_CHUNK_BYTES);
