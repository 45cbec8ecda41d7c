//! WebSocket: one HTTP request that becomes a two-way channel, here an echo.
//!
//! Every technique before this one bends HTTP: the client asks and the server answers, so
//! "server push" means a request held open (long polling) or a response that never ends
//! (streaming), and the client still needs a second request to talk back. A WebSocket
//! asks once to leave HTTP behind. After `101 Switching Protocols` both sides send framed
//! messages — text or binary — whenever they like, on the one connection, with two to
//! fourteen bytes of framing each instead of a few hundred bytes of headers.
//!
//! ```text
//! GET /ws?drop_after=3 HTTP/1.1\r\n
//! Host: localhost:8088\r\n
//! Upgrade: websocket\r\n
//! Connection: Upgrade\r\n
//! Origin: http://localhost:8088\r\n
//! Sec-WebSocket-Version: 13\r\n
//! Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n
//! Sec-WebSocket-Protocol: mqtt, echo\r\n
//! \r\n
//!
//! HTTP/1.1 101 Switching Protocols\r\n
//! Date: Mon, 23 Nov 2026 17:30:00 GMT\r\n
//! Server: webwire\r\n
//! X-Content-Type-Options: nosniff\r\n
//! Upgrade: websocket\r\n
//! Connection: Upgrade\r\n
//! Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n
//! Sec-WebSocket-Protocol: echo\r\n
//! \r\n
//! 81 85 37 fa 21 3d 7f 9f 4d 51 58   a masked text frame from the client: "Hello"
//! 81 05 48 65 6c 6c 6f               the echo, unmasked: "Hello"
//! ```
//!
//! The protocol itself — handshake, frames, close — is in `src/ws/`; this file is only the
//! route and what the demo does with each message.

use crate::demos::{Demo, Setup};
use crate::handler::{Context, Reply, Upgraded};
use crate::http::request::Request;
use crate::http::response::Response;
use crate::router::Route;
use crate::ws::connection::Next;
use crate::ws::handshake;

pub const DEMO: Demo = Demo {
    name: "websocket",
    title: "WebSocket",
    summary: "GET /ws → 101 Switching Protocols, then an echo in frames both ways (RFC 6455 by hand)",
    chapter: "12-websocket.md",
    page: include_str!("../../demos/websocket.html"),
    extra_pages: &[],
    routes,
};

/// The routes, read like a table.
fn routes(_: &Setup) -> Result<Vec<Route>, String> {
    Ok(vec![Route::get("/ws", ws)])
}

/// The subprotocols `/ws` agrees to, if the client offers one of them.
pub const PROTOCOLS: &[&str] = &["echo", "chat"];

// ANCHOR: ws
/// `GET /ws`: the handshake, then an echo. `?drop_after=N` cuts the TCP connection, with no
/// close frame, right after the N-th echo — a crash, as the client sees it.
fn ws(request: &Request, context: &Context) -> Reply {
    let drop_after = match request.number_param("drop_after", 1..=u64::MAX) {
        Ok(drop_after) => drop_after,
        Err(reason) => return Response::refusal(400, &reason).into(),
    };
    match handshake::check(request, &context.app.config.extra_origins, PROTOCOLS) {
        Err(refusal) => refusal.into(),
        Ok(accepted) => {
            Reply::upgrade(handshake::switching_protocols(&accepted), move |upgraded| {
                echo(upgraded, drop_after);
            })
        }
    }
}
// ANCHOR_END: ws

// ANCHOR: echo
/// Sends every message back as it came: text as text, binary as binary.
fn echo(upgraded: Upgraded, drop_after: Option<u64>) {
    let Ok(connection) = upgraded.websocket() else {
        return; // the socket failed before the first frame
    };
    let mut echoed = 0;
    connection.run(|sender, message| {
        sender.message(&message)?;
        echoed += 1;
        match drop_after == Some(echoed) {
            true => Ok(Next::Drop),
            false => Ok(Next::Continue),
        }
    });
}
// ANCHOR_END: echo
