//! Listening and accepting: the listeners, the accept loop, and the 503 for a connection the
//! server will not take.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use super::reply::closing_answer;
use super::{Shared, StartError, connection};
use crate::App;
use crate::http::response::Response;
use crate::limits::{RETRY_AFTER_SECS, THREAD_STACK_BYTES};

/// `localhost` means both loopback addresses, 127.0.0.1 and ::1, whatever `/etc/hosts` says:
/// browsers resolve `localhost` themselves and may try either first, so listening on one can
/// leave `http://localhost:8088` slow or unreachable. With port 0 the first listener picks a
/// free port and the others reuse it, so all share one URL.
pub(super) fn bind(host: &str, port: u16) -> Result<Vec<TcpListener>, StartError> {
    let addrs: Vec<SocketAddr> = if host.eq_ignore_ascii_case("localhost") {
        vec![
            SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            SocketAddr::from((Ipv6Addr::LOCALHOST, port)),
        ]
    } else {
        (host, port)
            .to_socket_addrs()
            .map_err(|_| StartError::CannotResolve(host.to_string()))?
            .collect()
    };
    let mut listeners: Vec<TcpListener> = Vec::new();
    let mut last_error = None;
    for mut addr in addrs {
        if let Some(first) = listeners.first().and_then(|l| l.local_addr().ok()) {
            addr.set_port(first.port());
        }
        match TcpListener::bind(addr) {
            Ok(listener) => listeners.push(listener),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                return Err(StartError::AddressInUse(addr.to_string()));
            }
            // e.g. ::1 on a machine without IPv6: serve on the addresses that do work.
            Err(e) => last_error = Some((addr.to_string(), e)),
        }
    }
    match (listeners.is_empty(), last_error) {
        (false, _) => Ok(listeners),
        (true, Some((addr, e))) => Err(StartError::CannotBind(addr, e)),
        (true, None) => Err(StartError::CannotResolve(host.to_string())),
    }
}

// ANCHOR: accept_loop
pub(super) fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(stream) => stream,
            Err(e) => {
                // Usually "too many open files". Pause so a full process table is not a busy
                // loop, then carry on: the connections already open will finish and free fds.
                shared.app.log(&format!("accept failed: {e}"));
                thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        // Take a slot if one is free, in one atomic step: two acceptors (127.0.0.1 and ::1)
        // must not both take the last one.
        let max = shared.app.config.max_conns;
        let took_slot = shared
            .open
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |open| {
                (open < max).then_some(open + 1)
            });
        if took_slot.is_err() {
            refuse_busy(&shared.app, stream, "the server is full (--max-conns)");
            continue;
        }
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        // The socket goes to the new thread through a channel, not inside its closure: if the
        // thread cannot be created, the closure is dropped, and we still need the socket to
        // say 503.
        let (hand_over, receive) = mpsc::sync_channel::<TcpStream>(1);
        let worker = Arc::clone(&shared);
        let spawned = thread::Builder::new()
            .name(format!("conn-{id}"))
            .stack_size(THREAD_STACK_BYTES)
            .spawn(move || {
                if let Ok(stream) = receive.recv() {
                    connection::run(stream, id, &worker);
                }
            });
        match spawned {
            Ok(_) => {
                let _ = hand_over.send(stream);
            }
            Err(_) => {
                shared.open.fetch_sub(1, Ordering::SeqCst);
                refuse_busy(
                    &shared.app,
                    stream,
                    "the server cannot start another thread",
                );
            }
        }
    }
}
// ANCHOR_END: accept_loop

/// 503 for a connection we will not serve. Written from the accept loop, so it must not
/// block: the reply is small enough for the socket's send buffer, and whatever request the
/// client already sent is read first, so that closing does not turn into a reset that
/// destroys the reply before the client reads it.
fn refuse_busy(app: &App, mut stream: TcpStream, reason: &str) {
    let peer = stream
        .peer_addr()
        .map_or_else(|_| "?".to_string(), |a| a.to_string());
    app.log(&format!("{peer} refused: 503 {reason}"));
    let _ = stream.set_nonblocking(true);
    let _ = stream.read(&mut [0u8; 4096]);
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let response = Response::refusal(503, &format!("{reason}; try again shortly"))
        .with_header("Retry-After", RETRY_AFTER_SECS.to_string());
    let _ = stream.write_all(&closing_answer(&response));
    let _ = stream.shutdown(Shutdown::Write);
}
