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
/// A whole piece — a response, one chunk of a stream, one WebSocket frame — must be taken by
/// the client within this time, however it reads (one deadline per piece, not per system
/// call: see `net::write_all_within`). Past it the connection is closed, so a stalled or
/// trickling reader cannot pin a thread, or the memory of an answer, for longer.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
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
// ANCHOR_END: limits

// ANCHOR: demo_limits
/// How often a handler holding a request open (a long poll) checks whether its client has
/// gone. A client that leaves frees its thread within this time, not at the end of the hold.
pub const GONE_CHECK_INTERVAL: Duration = Duration::from_millis(250);
/// Deepest nesting accepted in a JSON body (`[[[…]]]`); deeper is 400, not a stack overflow.
pub const MAX_JSON_DEPTH: usize = 64;
/// Default for `--tick-ms`: the articles' two seconds between pushes and polls.
pub const DEFAULT_TICK: Duration = Duration::from_secs(2);
/// Most events one answer carries from an event log (`hub.rs`): a poll, a long poll, one
/// piece of a stream, one burst of WebSocket frames. A reader further behind gets the
/// oldest ones and asks again from its new cursor, so no answer is built bigger than this.
pub const MAX_BATCH_EVENTS: usize = 256;
/// Most text (UTF-8 bytes) one answer carries from an event log, unless a single event is
/// larger. JSON escaping can make text at most six times larger (`<` is `\u003c`), so with
/// `MAX_BATCH_EVENTS` this bounds every catch-up answer to about 112 KiB.
pub const MAX_BATCH_TEXT_BYTES: usize = 16 * 1024;
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

// ANCHOR: ajax_limits
/// Longest wait `/ajax/slow?ms=` accepts; more is 400. Longer than any `xhr.timeout` worth showing.
pub const MAX_SLOW_MS: u64 = 30_000;
/// Largest body `/ajax/large?bytes=` sends; more is 400. Enough for a progress bar to crawl.
pub const MAX_LARGE_BYTES: u64 = 4 * 1024 * 1024;
/// Longest time `/ajax/large?ms=` may spread its body over; more is 400.
pub const MAX_LARGE_MS: u64 = 30_000;
/// How many evenly paced pieces `/ajax/large` cuts its body into.
pub const LARGE_PIECES: u64 = 20;
/// Largest body `/ajax/echo` shows in its report; a larger one is reported by its size and
/// kind only (and its parts, for multipart). Escaped as JSON, text can grow six times.
pub const MAX_ECHO_BODY_BYTES: usize = 16 * 1024;
/// Most parts in one `multipart/form-data` body; more is 400.
pub const MAX_PARTS: usize = 64;
/// Largest header section of one multipart part, blank line included; more is 400.
pub const MAX_PART_HEAD_BYTES: usize = 1024;
/// Largest content of one multipart part (a field's value or a file); more is 400.
pub const MAX_PART_BYTES: usize = 512 * 1024;
// ANCHOR_END: ajax_limits

// ANCHOR: xhr_streaming_limits
/// Most numbers one `GET /stream?count=N` may ask for; more is 400. With the pace it bounds how
/// long one request can hold its thread: 1000 × the default 2 s is about half an hour.
pub const MAX_STREAM_COUNT: usize = 1000;
/// Most bytes of padding `GET /stream?pad=N` may ask for before the numbers; more is 400. Twice
/// the largest prelude streaming libraries sent (sockjs: 2 KiB + 1 for old Internet Explorer).
pub const MAX_STREAM_PAD_BYTES: usize = 4096;
// ANCHOR_END: xhr_streaming_limits

// ANCHOR: iframe_streaming_limits
/// Most values one `/htmlfile?count=N` stream may ask for (more is 400): at the default tick
/// of 2 s, 100 values hold a thread and a connection for 200 s, and no longer.
pub const MAX_HTMLFILE_COUNT: u32 = 100;
// ANCHOR_END: iframe_streaming_limits

// ANCHOR: jsonp_limits
/// Longest JSONP callback name, dots included; longer is 400. jQuery's generated names are
/// about 40 characters; the cap also keeps any payload spelt as a name short (Rosetta Flash's
/// callbacks were far longer).
pub const MAX_CALLBACK_LEN: usize = 64;
// ANCHOR_END: jsonp_limits

// ANCHOR: cors_limits
/// `Access-Control-Max-Age` on a preflight answer: how long the browser may skip asking again.
/// Ten minutes. Chromium caps any value at 7200 s and Firefox at 86400 s; with no header, 5 s.
pub const PREFLIGHT_MAX_AGE_SECS: u32 = 600;
/// `Max-Age` of the demo cookie that `POST /cors/cookie` sets: one hour.
pub const CORS_COOKIE_MAX_AGE_SECS: u32 = 3600;
/// Requests whose details `/cors/log` keeps, newest last; older ones are dropped (the counts go on).
pub const CORS_RECENT: usize = 20;
/// Longest text kept of each logged field (origin, target, …) and of an echoed body; longer is cut.
pub const MAX_CORS_FIELD_BYTES: usize = 256;
// ANCHOR_END: cors_limits

// ANCHOR: long_polling_limits
/// Long polls held at once, both variants together; one more gets 503 with Retry-After. Each
/// held poll pins a thread and a connection, so this keeps most of `MAX_CONNECTIONS` free.
pub const MAX_LONG_POLL_WAITERS: usize = 100;
/// Events the long-poll log keeps. A client further behind than this misses the oldest.
pub const LONG_POLL_LOG_CAPACITY: usize = 256;
/// Longest event text `POST /longpoll/publish` accepts, in UTF-8 bytes. Past it: 400.
pub const MAX_EVENT_TEXT_BYTES: usize = 1024;
// ANCHOR_END: long_polling_limits

// ANCHOR: websocket_limits
/// Largest WebSocket message, all its fragments together; past it the server closes with 1009.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;
/// How much one `read` on a WebSocket asks for: big messages arrive in fewer system calls.
pub const WS_READ_CHUNK_BYTES: usize = 64 * 1024;
/// A WebSocket silent this long gets a ping; silent as long again, it is dropped as dead.
pub const WS_PING_INTERVAL: Duration = Duration::from_secs(30);
/// After the close frames, how long the server waits for the client to close its side of TCP.
pub const WS_CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Most bytes read and discarded while waiting for that.
pub const WS_CLOSE_DRAIN_BYTES: usize = 1024 * 1024;
// ANCHOR_END: websocket_limits

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

// ANCHOR: chat_limits
/// Messages the chat room keeps; a reader further behind gets a gap signal, then the newest.
pub const CHAT_ROOM_CAPACITY: usize = 1000;
/// Longest message text, in UTF-8 bytes (4 KiB); longer is 400 (or an error record on a socket).
pub const MAX_CHAT_TEXT_BYTES: usize = 4 * 1024;
/// Longest sender name, in characters; longer is 400.
pub const MAX_CHAT_NAME_CHARS: usize = 32;
/// Connections held at once per chat transport (long polls, streams, sockets); one more is
/// 503, except on the event stream, which answers `retry:` so that `EventSource` comes back.
/// Five held transports times this stays well under `MAX_CONNECTIONS`.
pub const MAX_CHAT_HELD: usize = 64;
/// Body bytes after which an XHR or iframe stream ends and its client reconnects from its
/// cursor: the browser keeps a whole response (`responseText`, the iframe's document) in
/// memory, so a stream that never ended would grow without bound. sockjs uses 128 KiB too.
pub const CHAT_STREAM_MAX_BYTES: u64 = 128 * 1024;
// ANCHOR_END: chat_limits

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
