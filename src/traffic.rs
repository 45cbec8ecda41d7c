//! What crosses the wire, counted per path: requests, connections held open now, and bytes in
//! and out with heads and framing included. The numbers behind the chat demo's `/stats`, which
//! compares what each technique really costs.
//!
//! The table has one entry per path that some route serves, made when the server starts and
//! never grown: a request for an unknown path is counted nowhere, so no client can make the
//! table bigger. Each counter is an atomic, so counting takes no lock.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The counters of one path.
#[derive(Debug, Default)]
pub struct Counters {
    requests: AtomicU64,
    open: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
}

/// The counters of one path at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Requests received (each WebSocket connection is one request: its upgrade).
    pub requests: u64,
    /// Requests being answered right now: held long polls, open streams and sockets.
    pub open: u64,
    /// Bytes received from clients: request heads, bodies, and frames after an upgrade.
    pub bytes_in: u64,
    /// Bytes sent to clients: response heads, bodies with their chunk framing, frames.
    pub bytes_out: u64,
}

impl Counters {
    /// A request has arrived, its head and body `bytes` long; it is open until `finished`.
    pub fn started(&self, bytes: usize) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.open.fetch_add(1, Ordering::Relaxed);
        self.received(bytes);
    }

    pub fn finished(&self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn received(&self, bytes: usize) {
        self.bytes_in.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub fn sent(&self, bytes: usize) {
        self.bytes_out.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            requests: self.requests.load(Ordering::Relaxed),
            open: self.open.load(Ordering::Relaxed),
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
        }
    }
}

/// Every routed path's counters.
#[derive(Debug, Default)]
pub struct Traffic {
    /// Shared (`Arc`) so a connection that outlives its request, like a WebSocket's writer
    /// thread, can keep counting.
    paths: BTreeMap<String, Arc<Counters>>,
}

impl Traffic {
    pub fn new(paths: impl IntoIterator<Item = String>) -> Traffic {
        Traffic {
            paths: paths
                .into_iter()
                .map(|p| (p, Arc::new(Counters::default())))
                .collect(),
        }
    }

    /// The counters of a path some route serves; `None` for any other path.
    pub fn get(&self, path: &str) -> Option<&Arc<Counters>> {
        self.paths.get(path)
    }

    /// A path's numbers now (zeros for a path no route serves).
    pub fn snapshot(&self, path: &str) -> Snapshot {
        self.get(path).map(|c| c.snapshot()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_routed_paths_are_counted() {
        let traffic = Traffic::new(["/time".to_string()]);
        let counters = traffic.get("/time").unwrap();
        counters.started(100);
        counters.sent(250);
        assert_eq!(
            traffic.snapshot("/time"),
            Snapshot {
                requests: 1,
                open: 1,
                bytes_in: 100,
                bytes_out: 250
            }
        );
        counters.finished();
        assert_eq!(traffic.snapshot("/time").open, 0);
        assert!(traffic.get("/elsewhere").is_none());
        assert_eq!(traffic.snapshot("/elsewhere"), Snapshot::default());
    }
}
