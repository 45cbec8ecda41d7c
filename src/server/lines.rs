//! The server's two kinds of output: one log line per exchange, and with `--trace` every head
//! as it crossed the wire. Both are queued (`log.rs`), never written by a connection thread.

use std::time::Instant;

use crate::App;
use crate::http::request::Request;

/// One line per request: who, what, the status, bytes sent, and how long it took.
pub(super) fn log_request(
    app: &App,
    peer: &str,
    request: &Request,
    status: u16,
    bytes: usize,
    started: Instant,
) {
    let (method, target, took) = (&request.method, &request.target, started.elapsed());
    app.log(&format!(
        "{peer} {method} {target} {status} {bytes}B {took:.1?}"
    ));
}

/// `--trace`: a head as it crossed the wire, one line per line, with CR LF spelled out and
/// any other unprintable byte as `\xNN`. `>` is from the client, `<` from the server.
pub(super) fn trace(app: &App, id: u64, direction: &str, bytes: &[u8]) {
    if app.config.trace {
        app.trace(format_trace(id, direction, bytes));
    }
}

fn format_trace(id: u64, direction: &str, bytes: &[u8]) -> String {
    crate::text::wire_lines(&format!("#{id} {direction} "), bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_shows_line_ends() {
        let shown = format_trace(3, ">", b"GET / HTTP/1.1\r\nHost: x\r\nEnd\r\n\r\n");
        assert_eq!(
            shown,
            "#3 > GET / HTTP/1.1\\r\\n\n#3 > Host: x\\r\\n\n#3 > End\\r\\n\n#3 > \\r\\n\n"
        );
        assert_eq!(format_trace(1, "<", b"a\x00"), "#1 < a\\x00\n");
    }
}
