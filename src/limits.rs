//! Every cap and timeout the server enforces, one constant per line.
//!
//! A server that reads from strangers must bound everything it reads and every wait it makes:
//! otherwise one client can take all the memory (a huge header) or all the threads (a request
//! that never finishes). `docs/01-http-by-hand.md` explains each number and the status code a
//! client sees when it crosses it.

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

/// Default for `--max-conns`: connections served at once. One more gets 503 and is closed.
pub const MAX_CONNECTIONS: usize = 512;
/// Stack of each connection thread. Handlers keep buffers on the heap, so a small stack lets
/// hundreds of idle connections cost little memory.
pub const THREAD_STACK_BYTES: usize = 256 * 1024;
/// How much one `read` asks the kernel for. Reads are buffered: never a system call per byte.
pub const READ_CHUNK_BYTES: usize = 8 * 1024;

/// The whole header section must arrive within this time, counted from its first byte (or from
/// the connection's start). One deadline, not re-armed per read: a client sending one byte every
/// few seconds still runs out of time. Past it: 408 Request Timeout.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The whole body must arrive within this time after the head. Past it: 408 and close.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// A keep-alive connection with no new request for this long is closed (silently: no request
/// is in flight, so there is nobody to answer).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(15);
/// One `write` may block this long on a client that stopped reading; then the connection is
/// dropped, so a stalled reader cannot pin a streaming thread forever.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// After an error or `Connection: close`, how long we keep reading (and discarding) what the
/// client still sends, so our last response is not destroyed by a TCP reset (RFC 9112 §9.6).
pub const LINGER_TIMEOUT: Duration = Duration::from_secs(2);
/// Most bytes read and discarded while lingering.
pub const LINGER_BYTES: usize = 256 * 1024;
/// `Retry-After` seconds sent with 503 when the server is full.
pub const RETRY_AFTER_SECS: u32 = 1;
// ANCHOR_END: limits

// ANCHOR: demo_limits
/// How often a handler holding a request open (a long poll) checks whether its client has
/// gone. A client that leaves frees its thread within this time, not at the end of the hold.
pub const GONE_CHECK_INTERVAL: Duration = Duration::from_millis(250);
/// Deepest nesting accepted in a JSON body (`[[[…]]]`); deeper is 400, not a stack overflow.
pub const MAX_JSON_DEPTH: usize = 64;
/// Default for `--tick-ms`: the articles' two seconds between pushes and polls.
pub const DEFAULT_TICK: Duration = Duration::from_secs(2);
/// Default for `--hold-ms`: how long a long poll is held before it answers "nothing new".
/// Below the 30–60 s after which proxies and load balancers commonly cut idle requests.
pub const DEFAULT_HOLD: Duration = Duration::from_secs(25);
// ANCHOR_END: demo_limits

// ANCHOR: image_ping_limits
/// Pings whose details `/ping/stats` keeps, newest last; older ones are dropped (the count
/// goes on). The tally's memory is bounded by this times the two caps below.
pub const PING_RECENT: usize = 20;
/// Longest query string a ping may carry: past it, 414 and the ping is not recorded.
pub const MAX_PING_QUERY_BYTES: usize = 512;
/// Longest `Referer` kept with a ping; a longer one is cut to this many bytes.
pub const MAX_PING_REFERER_BYTES: usize = 256;
// ANCHOR_END: image_ping_limits

// ANCHOR: sse_limits
/// Events in one `/evt` response unless `?count=` says otherwise: the article's ten.
pub const SSE_DEFAULT_COUNT: u64 = 10;
/// Most events one `/evt` response may be asked for (`?count=`); more is 400.
pub const SSE_MAX_COUNT: u64 = 1000;
/// Highest event id. A `Last-Event-ID` above it is ignored (the stream starts over), a query
/// id above it is 400, and a client that has it gets 204: the stream is over. Far below 2^53,
/// so every id is exact as a JavaScript number.
pub const SSE_MAX_ID: u64 = 1_000_000_000_000;
// ANCHOR_END: sse_limits
