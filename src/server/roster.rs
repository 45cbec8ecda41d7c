//! Who is connected and what each connection is doing: the list the acceptor reads when the
//! server is full, to take back the connection that is cheapest to lose.
//!
//! A thread per connection makes every connection cost the same, whatever it does, so a
//! server can be filled by clients that do nothing: sockets that never send a request,
//! keep-alive connections that send one every ten seconds, heads trickled a byte at a time
//! (slowloris). An event loop such as nginx's meets the same problem with its worker
//! connections, and answers it the same way: when a new connection finds the server full,
//! close one that costs its client least to lose (nginx: `ngx_drain_connections` closes idle
//! keep-alive connections). In order:
//!
//! 1. a connection already closing (lingering to read what its client still sends);
//! 2. an idle keep-alive connection between two requests, the longest idle first: its client
//!    has no request in flight, and an HTTP client must be ready for a server to close an
//!    idle connection (RFC 9112 §9.5: "a client, server, or proxy MAY close the
//!    transport connection at any time");
//! 3. an unfinished head, the one started longest ago — the slowest client. A new connection
//!    counts as a head from its first moment (its header timeout runs from then too), so a
//!    socket opened and left silent is the slowest of all.
//!
//! Idle connections and heads are taken from the client address that holds the most seats
//! first: a client that floods the server with sockets loses its own, not everyone else's.
//! (A keep-alive answer counts as idle from the moment its last write starts, so that a
//! client that has read it may count on the connection being idle; taking it back then only
//! shuts the reading side, and the write finishes.)
//!
//! A connection reading a body, running its handler, writing its answer or held open (a
//! stream, a socket, a long poll) is never taken back: held requests have their own cap
//! (`--max-held`), below the connection limit, for that reason.
//!
//! Taking one back is a `shutdown` of its socket's reading side, done by the acceptor: the
//! connection's thread, blocked in `read`, wakes with nothing, sees that its seat was taken,
//! and ends. The seat goes to the new connection at once, so the count never passes the limit.

use std::collections::HashMap;
use std::net::{IpAddr, Shutdown, TcpStream};
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// What a connection is doing, as its thread last said. Stored in one atomic byte, so the
/// connection's thread and the acceptor agree on it without a lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum Doing {
    /// Closing: lingering to read what the client still sends. Cheapest to lose.
    Closing = 0,
    /// A keep-alive connection between two requests, with nothing of the next one received.
    Idle = 1,
    /// Receiving a request head, not yet whole; a new connection counts as one from the
    /// start, as its header timeout does.
    Head = 2,
    /// Everything else: a body, a handler, an answer, a held request. Never taken back.
    Busy = 3,
    /// Taken back by the acceptor: the connection's thread must end.
    TakenBack = 4,
}

impl Doing {
    fn from_u8(value: u8) -> Doing {
        match value {
            0 => Doing::Closing,
            1 => Doing::Idle,
            2 => Doing::Head,
            4 => Doing::TakenBack,
            _ => Doing::Busy,
        }
    }
}

/// One connection's place in the roster.
pub(super) struct Seat {
    stream: Arc<TcpStream>,
    address: IpAddr,
    doing: AtomicU8,
    /// When it started doing it, in microseconds since the roster began.
    since: AtomicU64,
    /// Its index in the roster's list.
    index: usize,
    epoch: Instant,
}

impl Seat {
    /// Says what the connection does now. False if the acceptor has taken the seat back: the
    /// connection must end without another word. A compare-and-swap, so a connection
    /// leaving `Idle` and the acceptor taking it back cannot both win.
    pub(super) fn now(&self, doing: Doing) -> bool {
        let mut current = self.doing.load(Ordering::Acquire);
        loop {
            if current == Doing::TakenBack as u8 {
                return false;
            }
            if current == doing as u8 {
                return true;
            }
            match self.doing.compare_exchange_weak(
                current,
                doing as u8,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    self.since
                        .store(micros_since(self.epoch), Ordering::Relaxed);
                    return true;
                }
                Err(seen) => current = seen,
            }
        }
    }

    /// Whether the acceptor took this seat back.
    pub(super) fn taken_back(&self) -> bool {
        self.doing.load(Ordering::Acquire) == Doing::TakenBack as u8
    }

    fn doing(&self) -> Doing {
        Doing::from_u8(self.doing.load(Ordering::Acquire))
    }
}

/// A connection taken back to make room: what it was doing, its client's address, and
/// whether it made room under the per-address cap (else under `--max-conns`).
pub(super) type TakenFrom = (Doing, IpAddr, bool);

/// Why a connection was not let in.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Refused {
    /// Every seat is taken, and none can be taken back.
    Full,
    /// This client address has all the connections `--max-conns-per-client` allows.
    AddressFull,
}

/// Every connection being served, with its seat.
pub(super) struct Roster {
    seats: Mutex<Seats>,
    /// Seats taken: read without the lock (the header deadline shortens under pressure).
    open: AtomicUsize,
    most: usize,
    per_address: Option<usize>,
    epoch: Instant,
}

#[derive(Default)]
struct Seats {
    list: Vec<Option<Arc<Seat>>>,
    free: Vec<usize>,
    /// Connections per client address: for `--max-conns-per-client`, and to take seats back
    /// from the address that holds the most.
    by_address: HashMap<IpAddr, usize>,
}

impl Roster {
    pub(super) fn new(most: usize, per_address: Option<usize>) -> Roster {
        Roster {
            seats: Mutex::new(Seats::default()),
            open: AtomicUsize::new(0),
            most,
            per_address,
            epoch: Instant::now(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Seats> {
        // Every change is made whole under the lock: a panic elsewhere leaves it consistent.
        self.seats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Connections being served now.
    pub(super) fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// The most connections served at once.
    pub(super) fn most(&self) -> usize {
        self.most
    }

    // ANCHOR: admit
    /// A seat for a new connection from `address`, taking one back if the server (or this
    /// address) is full; with the seat, the connection it was taken from, if any, for the log.
    pub(super) fn admit(
        &self,
        stream: &Arc<TcpStream>,
        address: IpAddr,
    ) -> Result<(Arc<Seat>, Option<TakenFrom>), Refused> {
        let mut seats = self.lock();
        let address_full = self
            .per_address
            .is_some_and(|most| seats.by_address.get(&address).copied().unwrap_or(0) >= most);
        let mut taken_from = None;
        if address_full || self.open.load(Ordering::Relaxed) >= self.most {
            // An address at its own cap may only make room among its own connections.
            let (doing, from, index) =
                take_back(&mut seats, |seat| !address_full || seat.address == address).ok_or(
                    if address_full {
                        Refused::AddressFull
                    } else {
                        Refused::Full
                    },
                )?;
            self.remove(&mut seats, index, from);
            taken_from = Some((doing, from, address_full));
        }
        let index = seats.free.pop().unwrap_or(seats.list.len());
        let seat = Arc::new(Seat {
            stream: Arc::clone(stream),
            address,
            doing: AtomicU8::new(Doing::Head as u8),
            since: AtomicU64::new(micros_since(self.epoch)),
            index,
            epoch: self.epoch,
        });
        if index == seats.list.len() {
            seats.list.push(Some(Arc::clone(&seat)));
        } else {
            seats.list[index] = Some(Arc::clone(&seat));
        }
        *seats.by_address.entry(address).or_insert(0) += 1;
        self.open.fetch_add(1, Ordering::Relaxed);
        Ok((seat, taken_from))
    }
    // ANCHOR_END: admit

    /// A seat for a second thread on a connection — a pushing WebSocket's writer — counted
    /// like a connection, since threads (and their memory mappings) are what the limit
    /// guards. A connection is taken back for it if the server is full; `None` if none can be.
    pub(super) fn extra(self: &Arc<Self>) -> Option<ExtraSeat> {
        let mut seats = self.lock();
        if self.open.load(Ordering::Relaxed) >= self.most {
            let (_, from, index) = take_back(&mut seats, |_| true)?;
            self.remove(&mut seats, index, from);
        }
        self.open.fetch_add(1, Ordering::Relaxed);
        Some(ExtraSeat(Arc::clone(self)))
    }

    /// Gives a connection's seat back when it ends. A seat taken back was already given to
    /// someone else: nothing to do.
    pub(super) fn leave(&self, seat: &Seat) {
        if seat.taken_back() {
            return;
        }
        let mut seats = self.lock();
        let ours = seats.list.get(seat.index).and_then(Option::as_ref);
        if !ours.is_some_and(|s| std::ptr::eq(Arc::as_ptr(s), seat)) {
            return;
        }
        self.remove(&mut seats, seat.index, seat.address);
    }

    fn remove(&self, seats: &mut Seats, index: usize, address: IpAddr) {
        seats.list[index] = None;
        seats.free.push(index);
        if let Some(count) = seats.by_address.get_mut(&address) {
            *count -= 1;
            if *count == 0 {
                seats.by_address.remove(&address);
            }
        }
        self.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A second thread's seat (`Roster::extra`); dropping it gives the seat back.
pub(super) struct ExtraSeat(Arc<Roster>);

impl Drop for ExtraSeat {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

// ANCHOR: take_back
/// Takes back the seat cheapest to lose among those `eligible` says may go: a closing one,
/// else one of the address holding the most seats — idle before an unfinished head, the
/// oldest first. A busy or held connection is never taken. Returns what it was doing, its
/// address and its index.
fn take_back(
    seats: &mut Seats,
    eligible: impl Fn(&Seat) -> bool,
) -> Option<(Doing, IpAddr, usize)> {
    loop {
        // Closing connections first; then from the address that holds the most seats, so
        // that one client flooding the server takes its own seats back, not everyone
        // else's; then the rest; idle before a head under way, the oldest first. (The
        // greediest address is found once, not looked up per seat: this scan runs for every
        // connection that arrives at a full server, and must stay cheap.)
        let greediest = seats
            .by_address
            .iter()
            .max_by_key(|(_, count)| **count)
            .map(|(address, _)| *address);
        let greed = |seat: &Seat| Some(seat.address) != greediest;
        let cheapest = seats
            .list
            .iter()
            .flatten()
            .filter(|seat| eligible(seat))
            .map(|seat| (seat.doing(), seat.since.load(Ordering::Relaxed), seat))
            .filter(|(doing, _, _)| (*doing as u8) < Doing::Busy as u8)
            .min_by_key(|(doing, since, seat)| {
                (*doing != Doing::Closing, greed(seat), *doing as u8, *since)
            })?;
        let (doing, _, seat) = cheapest;
        // The connection may have moved on since we looked (a request arrived): then look
        // again. Once it says TakenBack, its thread ends at its next step.
        if seat
            .doing
            .compare_exchange(
                doing as u8,
                Doing::TakenBack as u8,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
        {
            // Wakes its thread from `read` with an end of stream.
            let _ = seat.stream.shutdown(Shutdown::Read);
            return Some((doing, seat.address, seat.index));
        }
    }
}
// ANCHOR_END: take_back

fn micros_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
}
