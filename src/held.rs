//! Places for held connections: a long poll waiting, a stream, a socket. Each pins a thread
//! and a connection for as long as it lasts, so the server caps how many it holds at once
//! (`--max-held`, `App::held`); a demo may also count its own (uncapped) for its statistics.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

// ANCHOR: places
/// A fixed number of places, and how many are taken.
#[derive(Debug)]
pub struct Places {
    most: usize,
    taken: AtomicUsize,
}

impl Places {
    pub fn new(most: usize) -> Arc<Places> {
        Arc::new(Places {
            most,
            taken: AtomicUsize::new(0),
        })
    }

    /// A place, or `None` when all are taken. Check and increment are one atomic step, so
    /// two requests cannot both take the last place.
    pub fn take(self: &Arc<Self>) -> Option<Place> {
        self.taken
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < self.most).then_some(n + 1)
            })
            .ok()
            .map(|_| Place(Arc::clone(self)))
    }

    /// Places taken now.
    pub fn taken(&self) -> usize {
        self.taken.load(Ordering::SeqCst)
    }
}

/// One taken place. Dropping it gives the place back, so every way out — an answer, a
/// failed write, a panic unwinding — frees it. It owns an `Arc`, so it can travel into a
/// stream's body or a socket's thread.
#[derive(Debug)]
pub struct Place(Arc<Places>);

impl Drop for Place {
    fn drop(&mut self) {
        self.0.taken.fetch_sub(1, Ordering::SeqCst);
    }
}
// ANCHOR_END: places

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_capped_and_given_back() {
        let places = Places::new(3);
        let taken: Vec<Place> = (0..3).filter_map(|_| places.take()).collect();
        assert_eq!(taken.len(), 3);
        assert!(places.take().is_none(), "one past the cap");
        drop(taken);
        assert_eq!(places.taken(), 0);
        assert!(places.take().is_some());
    }
}
