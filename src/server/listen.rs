//! Listening and accepting: the listeners, the accept loop, and the 503 for a connection the
//! server will not take.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::Duration;

use super::reply::closing_answer;
use super::roster::{Doing, Refused};
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

// ANCHOR: from_stdin
/// The listening socket that is our standard input (`--listen-on-stdin`), as systemd passes
/// one with `StandardInput=socket` and inetd in its "wait" mode. Why take a socket from a
/// parent: Rust's `TcpListener::bind` always calls `listen(fd, 128)`, and std offers no way
/// to ask for a longer accept queue (only unsafe code or the libc crate could call `listen`
/// again). Whoever creates the socket chooses its queue; systemd asks for the system's
/// maximum, `net.core.somaxconn` (4096 on current kernels). Standard input is the one
/// inherited descriptor std hands out safely, so that is where the socket must be.
pub(super) fn from_stdin() -> Result<TcpListener, StartError> {
    let not_usable = StartError::NotAListeningSocket;
    // `/proc/self/fd/0` names what fd 0 is: `socket:[INODE]`, `/dev/pts/3`, `pipe:[…]`…
    let target = std::fs::read_link("/proc/self/fd/0")
        .map_err(|e| not_usable(format!("cannot see what it is ({e})")))?;
    let target = target.to_string_lossy();
    let Some(inode) = target
        .strip_prefix("socket:[")
        .and_then(|rest| rest.strip_suffix(']'))
    else {
        return Err(not_usable(format!("it is {target}, not a socket")));
    };
    let fd = io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| not_usable(format!("cannot take it ({e})")))?;
    match tcp_state(inode).as_deref() {
        Some("0A") => {}
        Some("01") => {
            return Err(not_usable(
                "it is a connected TCP socket, not a listening one (inetd's \"nowait\" mode \
                 passes one connection; webwire needs the listening socket)"
                    .to_string(),
            ));
        }
        Some(state) => {
            return Err(not_usable(format!(
                "it is a TCP socket in state {state}, not listening (0A)"
            )));
        }
        // Not in this process's tables: the socket may come from another network namespace
        // (systemd's `PrivateNetwork=yes`), whose sockets /proc/net/tcp does not list. Then
        // ask the socket itself: a TCP socket has a local address, and a listening one no peer.
        None => {
            let probe = TcpStream::from(
                fd.try_clone()
                    .map_err(|e| not_usable(format!("cannot take it ({e})")))?,
            );
            let listening = probe.local_addr().is_ok()
                && probe
                    .peer_addr()
                    .is_err_and(|e| e.kind() == io::ErrorKind::NotConnected);
            if !listening {
                return Err(not_usable(
                    "it is a socket, but not a listening TCP one".to_string(),
                ));
            }
        }
    }
    let listener = TcpListener::from(fd);
    // The parent may have made it non-blocking; the accept loop waits in `accept`.
    listener
        .set_nonblocking(false)
        .map_err(|e| not_usable(format!("cannot make it blocking ({e})")))?;
    Ok(listener)
}
// ANCHOR_END: from_stdin

/// The TCP state of the socket with this inode, as `/proc/net/tcp` and `tcp6` give it: the
/// 4th field (`0A` is LISTEN, include/net/tcp_states.h), on the line whose 10th is the inode.
fn tcp_state(inode: &str) -> Option<String> {
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(table) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in table.lines().skip(1) {
            let fields: Vec<&str> = line.split_ascii_whitespace().collect();
            if fields.get(9) == Some(&inode) {
                return fields.get(3).map(ToString::to_string);
            }
        }
    }
    None
}

// ANCHOR: accept_loop
pub(super) fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(stream) => Arc::new(stream),
            Err(e) => {
                // Usually "too many open files". Pause so a full process table is not a busy
                // loop, then carry on: the connections already open will finish and free fds.
                shared.app.log(&format!("accept failed: {e}"));
                thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        let Ok(peer) = stream.peer_addr() else {
            continue; // already gone
        };
        // A seat, taking one back from a connection that costs little to lose if the server
        // is full (`roster.rs`); or a 503 that names the limit and the flag that raises it.
        let seat = match shared.roster.admit(&stream, peer.ip()) {
            Ok((seat, taken_from)) => {
                if let Some((doing, from, address_full)) = taken_from {
                    let what = match doing {
                        Doing::Closing => "a closing connection",
                        Doing::Idle => "an idle connection",
                        _ => "the slowest unfinished request head",
                    };
                    let full = if address_full {
                        "this address was at --max-conns-per-client".to_string()
                    } else {
                        format!("the server was full (--max-conns {})", shared.roster.most())
                    };
                    shared.app.log(&format!(
                        "{peer} let in: {full}, so {what} from {from} was closed"
                    ));
                }
                seat
            }
            Err(Refused::Full) => {
                let capacity = &shared.app.capacity;
                refuse_busy(
                    &shared.app,
                    &stream,
                    &format!(
                        "the server is full ({} connections, --max-conns)",
                        capacity.connections
                    ),
                    &format!("the limit came from {}", capacity.connections_from),
                );
                continue;
            }
            Err(Refused::AddressFull) => {
                let most = shared.app.capacity.per_client.unwrap_or(0);
                refuse_busy(
                    &shared.app,
                    &stream,
                    &format!("this address has {most} connections open (--max-conns-per-client)"),
                    "",
                );
                continue;
            }
        };
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        // The thread gets its own handle on the socket; if it cannot be created, the closure
        // is dropped, and ours is still here to say 503.
        let worker = Arc::clone(&shared);
        let (socket, seated) = (Arc::clone(&stream), Arc::clone(&seat));
        let spawned = thread::Builder::new()
            .name(format!("conn-{id}"))
            .stack_size(THREAD_STACK_BYTES)
            .spawn(move || connection::run(socket, &seated, id, &worker));
        if spawned.is_err() {
            shared.roster.leave(&seat);
            refuse_busy(
                &shared.app,
                &stream,
                "the server cannot start another thread",
                "the machine's thread limit was reached before --max-conns",
            );
        }
    }
}
// ANCHOR_END: accept_loop

/// 503 for a connection we will not serve. Written from the accept loop, so it must not
/// block: the reply is small enough for the socket's send buffer, and whatever request the
/// client already sent is read first, so that closing does not turn into a reset that
/// destroys the reply before the client reads it.
///
/// `reason` is what the client reads; `more` is added to the log line only.
fn refuse_busy(app: &App, stream: &TcpStream, reason: &str, more: &str) {
    let peer = stream
        .peer_addr()
        .map_or_else(|_| "?".to_string(), |a| a.to_string());
    let more = if more.is_empty() {
        String::new()
    } else {
        format!("; {more}")
    };
    app.log(&format!("{peer} refused: 503 {reason}{more}"));
    let mut stream = stream;
    let _ = stream.set_nonblocking(true);
    let _ = stream.read(&mut [0u8; 4096]);
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let response = Response::refusal(503, &format!("{reason}; try again shortly"))
        .with_header("Retry-After", RETRY_AFTER_SECS.to_string());
    let _ = stream.write_all(&closing_answer(&response));
    let _ = stream.shutdown(Shutdown::Write);
}
