//! Every cap and timeout the server enforces, one constant per line.
//!
//! A server that reads from strangers must bound everything it reads and every wait it makes:
//! otherwise one client can take all the memory (a huge header) or all the threads (a request
//! that never finishes). `docs/appendix-limits.md` lists each number with the status code a
//! client sees when it crosses it; `docs/01-http-by-hand.md` explains why they exist.

use std::time::Duration;

// ANCHOR: limits
/// Longest request line (`GET /path?query HTTP/1.1`), CR LF included. Past it: 414 URI Too Long.
/// RFC 9112 §3 recommends supporting at least 8000 octets.
pub const MAX_REQUEST_LINE: usize = 8 * 1024;
/// Largest header section: request line, every header line and the blank line. Past it: 431.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Most header lines in one request. Past it: 431 Request Header Fields Too Large.
pub const MAX_HEADERS: usize = 64;
/// Largest request body, whether sized by Content-Length or chunked. Past it: 413 Content Too Large.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Longest chunk-size line in a chunked body, extensions included. Past it: 400.
pub const MAX_CHUNK_LINE: usize = 1024;
/// Largest trailer section after the last chunk (read and thrown away). Past it: 431.
pub const MAX_TRAILER_BYTES: usize = 4 * 1024;

// The connection limit (`--max-conns`) is not a constant: `capacity.rs` derives it from the
// machine's limits at start, with its own margins.
/// Stack reserved for each connection thread (only the pages it touches cost memory: 12 KiB
/// for a held event stream). Measured, not guessed: the whole test suite, debug build,
/// a panicking handler with `RUST_BACKTRACE=full` included, passes with 32 KiB and overflows
/// with 16 KiB; this is twice the smallest that passed. Handlers keep buffers on the heap.
pub const THREAD_STACK_BYTES: usize = 64 * 1024;
/// How much one `read` asks the kernel for. Reads are buffered: never a system call per byte.
pub const READ_CHUNK_BYTES: usize = 8 * 1024;

/// The whole header section must arrive within this time, counted from its first byte (or from
/// the connection's start). One deadline, not re-armed per read: a client sending one byte every
/// few seconds still runs out of time. Past it: 408 Request Timeout.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The server counts as nearly full from this share of `--max-conns` (in percent): from
/// there, a new head has `HEADER_TIMEOUT_UNDER_PRESSURE` instead of `HEADER_TIMEOUT`.
pub const UNDER_PRESSURE_PERCENT: usize = 75;
/// The header timeout while the server is nearly full: slow heads give their seats back
/// sooner when others may be waiting for one. Ample for any client on a working network.
pub const HEADER_TIMEOUT_UNDER_PRESSURE: Duration = Duration::from_secs(2);
/// The whole body must arrive within this time after the head. Past it: 408 and close.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// A keep-alive connection with no new request for this long is closed (silently: no request
/// is in flight, so there is nobody to answer).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(15);
/// A whole piece — a response, one chunk of a stream, one WebSocket frame — must be taken by
/// the client within this time, however it reads (one deadline per piece, not per system
/// call: see `net::write_all_within`). Past it the connection is closed, so a stalled or
/// trickling reader cannot pin a thread, or the memory of an answer, for longer.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest a thread writing for another waits on one socket (`net::write_briefly`): a
/// publish handing an event straight to a waiting stream. A client whose buffer is full costs
/// the publisher this, once; its own thread then writes the rest with `WRITE_TIMEOUT`.
/// (Linux rounds a socket timeout up to a scheduler tick: 4 ms at the common HZ=250.) A
/// socket that made it wait is not written to directly again until its own thread has
/// written, so each stalled reader costs a publish this at most once.
pub const DIRECT_WRITE_TIMEOUT: Duration = Duration::from_millis(1);
/// How long one publish may wait, all together, on sockets too full to take its event at
/// once (each costs it up to `DIRECT_WRITE_TIMEOUT`). Past it the rest are woken to write
/// for themselves: a crowd of stalled readers cannot make a publish slow.
pub const DIRECT_WRITE_BUDGET: Duration = Duration::from_millis(50);
/// After an error or `Connection: close`, how long we keep reading (and discarding) what the
/// client still sends, so our last response is not destroyed by a TCP reset (RFC 9112 §9.6).
pub const LINGER_TIMEOUT: Duration = Duration::from_secs(2);
/// Most bytes read and discarded while lingering.
pub const LINGER_BYTES: usize = 256 * 1024;
/// `Retry-After` seconds sent with 503 when the server is full.
pub const RETRY_AFTER_SECS: u32 = 1;
/// What every request body and every WebSocket message being reassembled may hold at once,
/// all connections together, taken as bytes arrive (`budget.rs`). Past it: 503, or close
/// code 1013 on a WebSocket. Sixteen of the largest WebSocket messages at once.
pub const MEMORY_BUDGET_BYTES: usize = 256 * 1024 * 1024;
/// Bytes a client may send while its request is held (a long poll, a stream): they are read
/// to see the client's close behind them, and kept for its next request. Past it the server
/// stops reading until the hold ends. One more request head.
pub const MAX_UNREAD_WHILE_HELD: usize = 16 * 1024;
/// Log and `--trace` text waiting for stdout. A reader that cannot keep up (a paused terminal,
/// a pipe nobody drains) makes the server drop lines, counted in the log, and never wait.
pub const LOG_QUEUE_BYTES: usize = 1024 * 1024;
/// How often a handler holding a request open (a long poll) checks whether its client has
/// gone, at most: a client that leaves frees its thread within this time, not at the end of
/// the hold. With many readers waiting on one event log, each checks less often
/// (`GONE_CHECKS_PER_SECOND`).
pub const GONE_CHECK_INTERVAL: Duration = Duration::from_millis(250);
/// At most this many such checks per second among all the readers waiting on one event log:
/// with more readers than this times `GONE_CHECK_INTERVAL` allows, each checks less often
/// (10,000 idle streams: every 5 s). A publish wakes them all at once anyway.
pub const GONE_CHECKS_PER_SECOND: u32 = 2000;
// ANCHOR_END: limits

/// A size as the error messages say it: `8 KiB`, `1 MiB`, `512 B`. Messages are made from the
/// constants above, so changing a limit can never leave a message that lies about it.
pub fn size_in_words(bytes: usize) -> String {
    match bytes {
        b if b >= 1024 * 1024 && b % (1024 * 1024) == 0 => format!("{} MiB", b / (1024 * 1024)),
        b if b >= 1024 && b % 1024 == 0 => format!("{} KiB", b / 1024),
        b => format!("{b} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_in_words() {
        assert_eq!(size_in_words(MAX_REQUEST_LINE), "8 KiB");
        assert_eq!(size_in_words(MAX_BODY_BYTES), "1 MiB");
        assert_eq!(size_in_words(1500), "1500 B");
    }
}
