//! Everything that can be wrong with a request: one variant per rule, each with its status
//! code and a one-line reason. The parser (`request.rs`), the body decoder (`body.rs`) and the
//! server's body reader return these; the server turns one into a refusal in one place.

use crate::limits::{
    MAX_BODY_BYTES, MAX_HEAD_BYTES, MAX_HEADERS, MAX_REQUEST_LINE, MAX_TRAILER_BYTES, size_in_words,
};

// ANCHOR: request_error
/// Everything that can be wrong with a request, each with its status code and a one-line
/// reason for the response body. The only place statuses are chosen for bad input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestError {
    BareLineFeed,
    MalformedRequestLine,
    InvalidMethod,
    /// The first bytes are a TLS handshake: an `https://` client talking to this plain
    /// `http://` server. 400 at once, saying so.
    TlsHandshake,
    InvalidTarget,
    MalformedVersion,
    UnsupportedVersion,
    RequestLineTooLong,
    HeadTooLarge,
    TooManyHeaders,
    ObsoleteLineFolding,
    MissingColon,
    SpaceBeforeColon,
    InvalidHeaderName,
    InvalidHeaderValue,
    MissingHost,
    MultipleHosts,
    InvalidHost,
    LengthWithTransferEncoding,
    TransferEncodingInHttp10,
    UnsupportedTransferCoding,
    ChunkedNotFinal,
    InvalidContentLength,
    ConflictingContentLengths,
    BodyTooLarge,
    InvalidChunk,
    TrailersTooLarge,
    UnsupportedExpectation,
    HeaderTimeout,
    /// The server was full, and this head, still unfinished, was the slowest to arrive: its
    /// connection was taken back for a new one (`server/roster.rs`). 408, like a timeout.
    HeadTakenBack,
    BodyTimeout,
    /// The shared memory budget for bodies (`MEMORY_BUDGET_BYTES`) is spent: 503, retry.
    OverMemoryBudget,
}

impl RequestError {
    pub fn status(self) -> u16 {
        use RequestError::*;
        match self {
            RequestLineTooLong => 414,
            HeadTooLarge | TooManyHeaders | TrailersTooLarge => 431,
            BodyTooLarge => 413,
            UnsupportedVersion => 505,
            UnsupportedTransferCoding => 501,
            UnsupportedExpectation => 417,
            HeaderTimeout | HeadTakenBack | BodyTimeout => 408,
            OverMemoryBudget => 503,
            _ => 400,
        }
    }

    pub fn reason(self) -> String {
        use RequestError::*;
        let reason = match self {
            BareLineFeed => "lines must end in CR LF, not a bare LF (with netcat, use nc -C)",
            MalformedRequestLine => "the request line must be METHOD SP TARGET SP VERSION",
            InvalidMethod => "the method is not a valid token",
            TlsHandshake => {
                "this is a plain http:// server, and that was a TLS handshake: use http://, not https://"
            }
            InvalidTarget => "the request target is not a valid path, absolute URL or *",
            MalformedVersion => "the version must look like HTTP/1.1",
            UnsupportedVersion => "only HTTP/1.0 and HTTP/1.1 are served here",
            RequestLineTooLong => {
                return format!(
                    "the request line is longer than {}",
                    size_in_words(MAX_REQUEST_LINE)
                );
            }
            HeadTooLarge => {
                return format!(
                    "the header section is larger than {}",
                    size_in_words(MAX_HEAD_BYTES)
                );
            }
            TooManyHeaders => return format!("more than {MAX_HEADERS} header lines"),
            ObsoleteLineFolding => "a header line starts with whitespace (obsolete line folding)",
            MissingColon => "a header line has no colon",
            SpaceBeforeColon => "whitespace between a header name and its colon",
            InvalidHeaderName => "a header name is not a valid token",
            InvalidHeaderValue => "a header value contains a control character",
            MissingHost => "an HTTP/1.1 request needs a Host header",
            MultipleHosts => "more than one Host header",
            InvalidHost => "the Host header is not a valid host[:port]",
            LengthWithTransferEncoding => "Content-Length and Transfer-Encoding together",
            TransferEncodingInHttp10 => "Transfer-Encoding is not allowed in HTTP/1.0",
            UnsupportedTransferCoding => "only the chunked transfer coding is supported",
            ChunkedNotFinal => "chunked must be applied exactly once, as the final coding",
            InvalidContentLength => "Content-Length is not a decimal number",
            ConflictingContentLengths => "several different Content-Length values",
            BodyTooLarge => {
                return format!("the body is larger than {}", size_in_words(MAX_BODY_BYTES));
            }
            InvalidChunk => "a chunk is malformed (size line, hex digits or CR LF)",
            TrailersTooLarge => {
                let limit = size_in_words(MAX_TRAILER_BYTES);
                return format!("the trailer section is larger than {limit}");
            }
            UnsupportedExpectation => "the only expectation supported is 100-continue",
            HeaderTimeout => "the request head did not arrive in time",
            HeadTakenBack => {
                "the server is full, and this request head was the slowest to arrive; send it again"
            }
            BodyTimeout => "the request body did not arrive in time",
            OverMemoryBudget => {
                "the server's memory for request bodies is all in use just now; try again shortly"
            }
        };
        reason.to_string()
    }
}
// ANCHOR_END: request_error
