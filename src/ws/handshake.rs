//! The opening handshake (RFC 6455 §4.2): an HTTP GET that asks to switch protocols, and
//! the `101 Switching Protocols` that agrees — or the 4xx that says why not.
//!
//! ```text
//! GET /ws HTTP/1.1                           HTTP/1.1 101 Switching Protocols
//! Host: localhost:8088                       Upgrade: websocket
//! Upgrade: websocket                         Connection: Upgrade
//! Connection: Upgrade                        Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
//! Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
//! Sec-WebSocket-Version: 13
//! Origin: http://localhost:8088
//! ```
//!
//! The accept value proves the server read *this* request as a WebSocket handshake: it is
//! computed from the client's random key and a fixed GUID that only WebSocket servers know,
//! so an HTTP server that knows nothing of WebSocket (or a cache replaying an old answer)
//! cannot produce it by accident.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::http::method::Method;
use crate::http::request::{Request, Version, comma_list};
use crate::http::response::Response;
use crate::origins::{refusal_reason, verdict};

/// §1.3: the fixed GUID appended to the key.
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

// ANCHOR: accept_key
/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`: base64(SHA-1(key + GUID)) (§4.2.2).
pub fn accept_key(key: &str) -> String {
    let mut sha1 = sha1_smol::Sha1::new();
    sha1.update(key.as_bytes());
    sha1.update(GUID.as_bytes());
    STANDARD.encode(sha1.digest().bytes())
}
// ANCHOR_END: accept_key

/// A handshake the server agrees to.
#[derive(Debug, PartialEq, Eq)]
pub struct Accepted {
    pub accept: String,
    /// The one subprotocol chosen from the client's list, if any.
    pub protocol: Option<String>,
}

// ANCHOR: check
/// Checks a request against §4.2.1, the allowed origins and the subprotocols this endpoint
/// speaks (the client's order of preference decides which: `choose_protocol`). `Err` is the
/// response to send instead.
pub fn check(
    request: &Request,
    extra_origins: &[String],
    protocols: &[&str],
) -> Result<Accepted, Response> {
    // §4.1: "The method of the request MUST be GET, and the HTTP version MUST be at least
    // 1.1." The router already sent other methods a 405. HEAD reaches us as a GET would, and
    // the path does answer HEAD (as `OPTIONS /ws` says), but a HEAD cannot switch protocols:
    // §4.2.1's "appropriate HTTP error code (such as 400 Bad Request)".
    if request.method != Method::Get {
        return Err(bad(
            "a HEAD cannot open a WebSocket: send the handshake as a GET",
        ));
    }
    // "At least 1.1" is exactly 1.1 here, and that is all it can mean: the parser reads
    // HTTP/1.2 and up as 1.1 (RFC 9110 §2.5) and answers HTTP/2.0 in text with 505; HTTP/2
    // itself has no Upgrade (RFC 9113 §8.2.2: it opens WebSockets by RFC 8441's CONNECT).
    // HTTP/1.0 is refused, not upgraded: "A server that receives an Upgrade header field in
    // an HTTP/1.0 request MUST ignore that Upgrade field" (RFC 9110 §7.8).
    if request.version != Version::Http11 {
        return Err(bad("a WebSocket handshake needs HTTP/1.1"));
    }
    if !request.has_token("upgrade", "websocket") {
        return Err(bad("this is a WebSocket endpoint: send Upgrade: websocket"));
    }
    if !request.has_token("connection", "upgrade") {
        return Err(bad("a WebSocket handshake needs Connection: Upgrade"));
    }
    // §4.2.2: a version the server does not speak gets 426 and the versions it does.
    match request
        .header_values("sec-websocket-version")
        .collect::<Vec<_>>()[..]
    {
        ["13"] => {}
        [] => return Err(bad("Sec-WebSocket-Version is missing")),
        _ => {
            let refusal = Response::refusal(426, "this server speaks WebSocket version 13 only");
            return Err(refusal
                .with_header("Upgrade", "websocket")
                .with_header("Sec-WebSocket-Version", "13"));
        }
    }
    // §4.1: the key is "a randomly selected 16-byte value that has been base64-encoded".
    let key = match request
        .header_values("sec-websocket-key")
        .collect::<Vec<_>>()[..]
    {
        [key] if STANDARD.decode(key).is_ok_and(|bytes| bytes.len() == 16) => key,
        _ => {
            return Err(bad(
                "Sec-WebSocket-Key must be base64 of 16 bytes, sent once",
            ));
        }
    };
    // §10.2: a browser always sends Origin; a page from another site must not be able to
    // open a socket that carries this site's cookies (cross-site WebSocket hijacking).
    // A client that is not a browser sends none, and has no victim's cookies to abuse.
    if let Some(reason) = refusal_reason(&verdict(request, extra_origins), "open this socket") {
        return Err(Response::refusal(403, &reason));
    }
    Ok(Accepted {
        accept: accept_key(key),
        protocol: choose_protocol(request, protocols),
    })
}
// ANCHOR_END: check

// ANCHOR: choose_protocol
/// The first protocol in the client's list that this endpoint speaks, whatever order
/// `protocols` has: the client lists them "ordered by preference" (§4.1), and §4.2.2 lets the
/// server select any one of them, or none. Never the whole list: the client must know which
/// one it got.
fn choose_protocol(request: &Request, protocols: &[&str]) -> Option<String> {
    comma_list(request.header_values("sec-websocket-protocol"))
        .find(|offered| protocols.contains(offered))
        .map(str::to_string)
}
// ANCHOR_END: choose_protocol

// ANCHOR: response_101
/// The 101 for an accepted handshake. No `Sec-WebSocket-Extensions`: this server implements
/// none, not even `permessage-deflate`, so it never accepts one (§9.1).
pub fn switching_protocols(accepted: &Accepted) -> Response {
    let mut response = Response::new(101)
        .with_header("Upgrade", "websocket")
        .with_header("Connection", "Upgrade")
        .with_header("Sec-WebSocket-Accept", accepted.accept.clone());
    if let Some(protocol) = &accepted.protocol {
        response = response.with_header("Sec-WebSocket-Protocol", protocol.clone());
    }
    response
}
// ANCHOR_END: response_101

fn bad(reason: &str) -> Response {
    Response::refusal(400, reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::request::parsed as request;

    const GOOD: &str = "GET /ws HTTP/1.1\r\nHost: localhost:8088\r\nUpgrade: websocket\r\n\
        Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Sec-WebSocket-Version: 13\r\n";

    fn answer(extra_headers: &str) -> Result<Accepted, u16> {
        let request = request(&format!("{GOOD}{extra_headers}\r\n"));
        let extra = ["http://example.test".to_string()];
        check(&request, &extra, &["echo", "chat"]).map_err(|response| response.status)
    }

    #[test]
    fn the_rfc_example_key() {
        // §1.3 and §4.2.2, the RFC's own numbers.
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn a_good_handshake() {
        let accepted = answer("").unwrap();
        assert_eq!(accepted.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(accepted.protocol, None);
    }

    #[test]
    fn origins() {
        assert!(answer("Origin: http://localhost:8088\r\n").is_ok());
        assert!(answer("Origin: http://127.0.0.1:8088\r\n").is_ok());
        assert!(
            answer("Origin: http://example.test\r\n").is_ok(),
            "--allow-origin"
        );
        assert_eq!(answer("Origin: http://localhost:9999\r\n"), Err(403));
        assert_eq!(answer("Origin: http://evil.example\r\n"), Err(403));
        assert_eq!(answer("Origin: null\r\n"), Err(403));
        assert_eq!(
            answer("Origin: http://localhost:8088\r\nOrigin: http://evil.example\r\n"),
            Err(403),
            "two Origins, one allowed: ambiguous"
        );
    }

    #[test]
    fn subprotocols_one_or_none_never_the_list() {
        let chosen = |offer: &str| {
            answer(&format!("Sec-WebSocket-Protocol: {offer}\r\n"))
                .unwrap()
                .protocol
        };
        assert_eq!(chosen("chat"), Some("chat".to_string()));
        assert_eq!(
            chosen("mqtt, echo, chat"),
            Some("echo".to_string()),
            "the client's order"
        );
        assert_eq!(
            chosen("chat, echo"),
            Some("chat".to_string()),
            "the client's order, not the endpoint's"
        );
        assert_eq!(chosen("mqtt, wamp"), None);
        assert_eq!(chosen("Echo"), None, "protocol names are case-sensitive");
        let two_lines = answer("Sec-WebSocket-Protocol: mqtt\r\nSec-WebSocket-Protocol: chat\r\n");
        assert_eq!(two_lines.unwrap().protocol, Some("chat".to_string()));
    }

    #[test]
    fn refusals() {
        let refused = |head: &str| {
            let request = request(&format!("{head}\r\n"));
            check(&request, &[], &[])
                .map_err(|response| response.status)
                .err()
        };
        let without = |name: &str| -> String {
            GOOD.split_inclusive("\r\n")
                .filter(|l| !l.starts_with(name))
                .collect()
        };
        assert_eq!(refused(&without("Upgrade")), Some(400));
        assert_eq!(refused(&without("Connection")), Some(400));
        assert_eq!(refused(&without("Sec-WebSocket-Key")), Some(400));
        assert_eq!(refused(&without("Sec-WebSocket-Version")), Some(400));
        assert_eq!(refused(&GOOD.replace("GET", "HEAD")), Some(400));
        assert_eq!(refused(&GOOD.replace(": 13", ": 8")), Some(426));
        assert_eq!(refused(&GOOD.replace("HTTP/1.1", "HTTP/1.0")), Some(400));
        assert_eq!(
            refused(&GOOD.replace("dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZQ==")),
            Some(400)
        );
        assert_eq!(
            refused(&GOOD.replace("dGhlIHNhbXBsZSBub25jZQ==", "not base64!")),
            Some(400)
        );
        assert_eq!(
            refused(&GOOD.replace("websocket", "WebSocket")),
            None,
            "any case"
        );
    }
}
