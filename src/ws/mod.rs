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
