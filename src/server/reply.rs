//! Writing a reply, whatever its body: a whole response, a stream, an upgrade, a refusal.
//!
//! Every reply leaves the same way (`send_head`): the head is traced, written within the write
//! deadline together with whatever body is already known, and counted; then the exchange is
//! logged (`lines.rs`). Only what follows the head differs.

use std::io::{self, Write};
use std::net::TcpStream;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use super::connection::{Connection, Next};
use super::lines::{log_request, trace};
use crate::App;
use crate::handler::{StreamBody, ThreadSeat, UpgradeFn, Upgraded};
use crate::http::body::{BodyCourier, BodyWriter};
use crate::http::method::Method;
use crate::http::request::{Request, RequestError, Version};
use crate::http::response::{Delimit, Response, head_bytes, status_has_no_body};
use crate::limits::RETRY_AFTER_SECS;
use crate::net::write_all_within;
use crate::traffic::Counters;

impl Connection<'_> {
    // ANCHOR: send_head
    /// The one way a head leaves: traced, then written with `body` (what of the body is
    /// already known) within the write deadline, then counted.
    pub(super) fn send_head(
        &mut self,
        app: &App,
        head: &[u8],
        body: &[u8],
        counters: Option<&Counters>,
    ) -> io::Result<()> {
        trace(app, self.id, "<", head);
        write_all_within(self.stream(), &[head, body], app.config.timeouts.write)?;
        if let Some(counters) = counters {
            counters.sent(head.len() + body.len());
        }
        Ok(())
    }
    // ANCHOR_END: send_head

    /// Sends a complete response, and says what the connection is fit for afterwards.
    pub(super) fn send(
        &mut self,
        app: &App,
        request: &Request,
        response: &Response,
        keep_alive: bool,
        counters: Option<&Counters>,
    ) -> Next {
        let no_body = status_has_no_body(response.status);
        let delimit = match no_body {
            true => Delimit::NoBody,
            false => Delimit::Length(response.body.len()),
        };
        // A handler may ask to close, with `Connection: close` on its response.
        let keep_alive = keep_alive && !asks_to_close(response);
        let head = head_bytes(request.version, response, delimit, keep_alive);
        let body: &[u8] = match request.method == Method::Head || no_body {
            true => &[],
            false => &response.body,
        };
        let sent = self.send_head(app, &head, body, counters);
        let bytes = head.len() + body.len();
        log_request(
            app,
            &self.peer,
            request,
            response.status,
            bytes,
            self.started,
        );
        Next::after(sent.is_ok(), keep_alive)
    }

    /// Sends a head, then lets the handler's function write the body over time. `length` is
    /// the body's size when the handler knows it in advance.
    pub(super) fn stream_body(
        &mut self,
        app: &App,
        request: &Request,
        response: Response,
        length: Option<usize>,
        body: StreamBody,
        counters: Option<&Counters>,
    ) -> Next {
        // A known length goes in Content-Length and the bytes follow raw. Otherwise HTTP/1.1
        // frames the stream in chunks and can keep the connection afterwards; HTTP/1.0 has
        // no chunks, so the body runs until we close.
        let chunked = length.is_none() && request.version == Version::Http11;
        let delimit = match length {
            Some(length) => Delimit::Length(length),
            None if chunked => Delimit::Chunked,
            None => Delimit::Close,
        };
        // (Only a handler streams, and a handler ran only if the request was not refused
        // early, so the request alone decides keep-alive here.)
        let keep_alive =
            request.keep_alive() && delimit != Delimit::Close && !asks_to_close(&response);
        let head = head_bytes(request.version, &response, delimit, keep_alive);
        if self.send_head(app, &head, &[], counters).is_err() {
            return Next::Close;
        }
        if request.method == Method::Head {
            log_request(
                app,
                &self.peer,
                request,
                response.status,
                head.len(),
                self.started,
            );
            return Next::after(true, keep_alive);
        }
        let (method, target, status) = (&request.method, &request.target, response.status);
        app.log(&format!(
            "{} {method} {target} {status} stream opened",
            self.peer
        ));
        let mut out = Metered {
            out: Deadlined {
                stream: self.watch.stream(),
                limit: app.config.timeouts.write,
            },
            left: length.unwrap_or(usize::MAX),
            counters,
        };
        // A stream of unknown length may also be written by another thread that must not
        // wait: the hub's publisher, handing an event straight to a sleeping stream.
        let mut writer = match length {
            None => {
                let courier = BodyCourier::new(
                    self.watch.shared_stream(),
                    chunked,
                    app.config.timeouts.write,
                    app.traffic.get(&request.path).cloned(),
                );
                BodyWriter::with_courier(&mut out, chunked, Arc::new(courier))
            }
            Some(_) => BodyWriter::new(&mut out, chunked),
        };
        let result = match catch_unwind(AssertUnwindSafe(|| body(&mut writer))) {
            Ok(Ok(())) => match length {
                // Fewer bytes than announced: the client would wait for the rest for ever.
                Some(n) if writer.bytes != n as u64 => Err(format!(
                    "the handler wrote {} of its {n} bytes",
                    writer.bytes
                )),
                _ => writer.finish().map_err(|e| e.to_string()),
            },
            Ok(Err(e)) => Err(why_a_stream_stopped(&e)),
            Err(_) => Err("the handler panicked".to_string()),
        };
        let how = match &result {
            Ok(()) => "ended".to_string(),
            Err(why) => format!("ended ({why})"),
        };
        let (lived, pieces, bytes) = (self.started.elapsed(), writer.pieces, writer.bytes);
        app.log(&format!(
            "{} {method} {target} {status} stream {how} after {lived:.1?}, {pieces} pieces, {bytes}B",
            self.peer
        ));
        Next::after(result.is_ok(), keep_alive)
    }

    /// Sends `101 Switching Protocols` and hands the socket to the new protocol.
    pub(super) fn upgrade(
        &mut self,
        app: &App,
        request: &Request,
        head: Response,
        protocol: UpgradeFn,
        counters: Option<&Counters>,
    ) -> Next {
        let head = head_bytes(request.version, &head, Delimit::NoBody, true);
        if self.send_head(app, &head, &[], counters).is_err()
            || self.stream().set_read_timeout(None).is_err()
        {
            return Next::Close;
        }
        let (method, target) = (&request.method, &request.target);
        app.log(&format!(
            "{} {method} {target} 101 switched protocols",
            self.peer
        ));
        let upgraded = Upgraded {
            stream: self.watch.shared_stream(),
            buffered: std::mem::take(&mut self.buf),
            app,
            id: self.id,
            peer: &self.peer,
            counters: app.traffic.get(&request.path).cloned(),
            second_seat: {
                let roster = Arc::clone(self.roster);
                Box::new(move || roster.extra().map(|seat| ThreadSeat::new(Box::new(seat))))
            },
        };
        if catch_unwind(AssertUnwindSafe(|| protocol(upgraded))).is_err() {
            app.log(&format!(
                "{} the upgraded connection's handler panicked",
                self.peer
            ));
        }
        let lived = self.started.elapsed();
        app.log(&format!("{} {target} closed after {lived:.1?}", self.peer));
        Next::Close
    }

    /// Answers a bad request with its status and one line saying why; the connection closes.
    /// The trace shows what arrived (up to 1 KiB), since no head was ever parsed.
    pub(super) fn refuse(&mut self, app: &App, error: RequestError) -> Next {
        trace(app, self.id, ">", &self.buf[..self.buf.len().min(1024)]);
        let (status, reason) = (error.status(), error.reason());
        let mut response = Response::refusal(status, &reason);
        if status == 503 {
            response = response.with_header("Retry-After", RETRY_AFTER_SECS.to_string());
        }
        let head = closing_head(&response);
        let _ = self.send_head(app, &head, &response.body, None);
        app.log(&format!("{} bad request: {status} {reason}", self.peer));
        Next::Linger
    }
}

/// The head of a short answer after which the connection closes: HTTP/1.1, its
/// `Content-Length`, and `Connection: close`.
pub(super) fn closing_head(response: &Response) -> Vec<u8> {
    head_bytes(
        Version::Http11,
        response,
        Delimit::Length(response.body.len()),
        false,
    )
}

/// A short answer after which the connection closes, head and body in one buffer.
pub(super) fn closing_answer(response: &Response) -> Vec<u8> {
    let mut bytes = closing_head(response);
    bytes.extend_from_slice(&response.body);
    bytes
}

/// A handler asks to close with `Connection: close` (a token list, any case).
fn asks_to_close(response: &Response) -> bool {
    response
        .header("connection")
        .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
}

/// The socket as a stream body writes to it: each piece (`write_all`: one chunk with its
/// framing) must be taken whole within the write timeout, or the stream ends.
struct Deadlined<'a> {
    stream: &'a TcpStream,
    limit: Duration,
}

impl Write for Deadlined<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        write_all_within(self.stream, &[bytes], self.limit)?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The socket as a stream's body sees it: counts every byte that leaves (chunk framing
/// included) as it leaves, so `/stats` is live for streams that never end; and refuses to pass
/// more than `left` bytes: a body sent after a `Content-Length` must not run past it, or its
/// tail would be read as the next response.
struct Metered<'a, W: Write> {
    out: W,
    left: usize,
    counters: Option<&'a Counters>,
}

impl<W: Write> Write for Metered<'_, W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if bytes.len() > self.left {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the body is longer than its Content-Length",
            ));
        }
        let written = self.out.write(bytes)?;
        self.left -= written;
        if let Some(counters) = self.counters {
            counters.sent(written);
        }
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// For the log: a write that failed because the client left, or stopped reading, or any
/// other reason the handler gave for ending early.
fn why_a_stream_stopped(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::BrokenPipe
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted => {
            format!("client gone: {e}")
        }
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
            format!("client stopped reading: {e}")
        }
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sized_body_cannot_run_past_its_length() {
        let counters = Counters::default();
        let mut out = Metered {
            out: Vec::new(),
            left: 5,
            counters: Some(&counters),
        };
        assert!(out.write_all(b"abc").is_ok());
        assert!(
            out.write_all(b"def").is_err(),
            "6 bytes after a length of 5"
        );
        assert!(out.write_all(b"de").is_ok());
        assert_eq!((out.out.as_slice(), out.left), (&b"abcde"[..], 0));
        assert_eq!(counters.snapshot().bytes_out, 5, "counted as it left");
    }
}
