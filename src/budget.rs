//! One memory budget for everything whose size a client chooses: request bodies and
//! WebSocket messages being put together.
//!
//! Each of these has its own cap (`MAX_BODY_BYTES`, `MAX_MESSAGE_BYTES`), but a cap per
//! connection is not a bound on the server: 500 clients each sending a 16 MiB message at
//! once would still ask for 8 GiB. So every such buffer also takes its bytes from one shared
//! budget, `MEMORY_BUDGET_BYTES`, *as they arrive* — not as a header announces them, or a
//! 14-byte frame header could reserve 16 MiB it never sends. When the budget is spent, the
//! request gets 503 with `Retry-After` and the WebSocket closes with 1013 (Try Again Later):
//! the server is busy, not the client wrong. `docs/01-http-by-hand.md` adds this up with
//! the rest of what a connection may cost.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The shared budget: how many bytes may be taken, and how many are.
#[derive(Debug)]
pub struct Budget {
    limit: usize,
    used: AtomicUsize,
}

impl Budget {
    pub fn new(limit: usize) -> Arc<Budget> {
        Arc::new(Budget {
            limit,
            used: AtomicUsize::new(0),
        })
    }

    /// Bytes taken now (the tests read it).
    pub fn used(&self) -> usize {
        self.used.load(Ordering::SeqCst)
    }

    /// An empty claim on the budget, to grow as bytes arrive.
    pub fn claim(self: &Arc<Self>) -> Claim {
        Claim {
            budget: Arc::clone(self),
            bytes: 0,
        }
    }

    /// Takes `bytes` if they fit, in one atomic step (two threads cannot both take the last).
    fn take(&self, bytes: usize) -> bool {
        self.used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                used.checked_add(bytes).filter(|&total| total <= self.limit)
            })
            .is_ok()
    }
}

// ANCHOR: claim
/// Bytes one buffer holds of the budget; dropping the claim gives them back, so every way
/// out — an answer, an error, a panic unwinding — returns them.
#[derive(Debug)]
pub struct Claim {
    budget: Arc<Budget>,
    bytes: usize,
}

impl Claim {
    /// Grows the claim to `bytes` (never shrinks it). False if the budget cannot spare it;
    /// the claim then stays as it was.
    pub fn grow_to(&mut self, bytes: usize) -> bool {
        if bytes <= self.bytes {
            return true;
        }
        if !self.budget.take(bytes - self.bytes) {
            return false;
        }
        self.bytes = bytes;
        true
    }

    /// Gives everything back (the buffer was emptied), keeping the claim for reuse.
    pub fn release(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Ordering::SeqCst);
        self.bytes = 0;
    }
}

/// Makes room in `buffer` for `extra` more bytes, with the claim covering the buffer's whole
/// capacity (what is really allocated), or says no and leaves both as they were. The buffer
/// grows by doubling, as a `Vec` would, so bytes arriving in small pieces cost few copies,
/// but never past `most`: a body of 600 KiB never takes a 1 MiB buffer.
pub fn make_room(buffer: &mut Vec<u8>, extra: usize, most: usize, claim: &mut Claim) -> bool {
    let needed = buffer.len() + extra;
    if needed <= buffer.capacity() {
        return true;
    }
    let capacity = (buffer.capacity() * 2).clamp(needed, most.max(needed));
    if !claim.grow_to(capacity) {
        return false;
    }
    buffer.reserve_exact(capacity - buffer.len());
    true
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.release();
    }
}
// ANCHOR_END: claim

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_grow_within_the_budget_and_give_back_on_drop() {
        let budget = Budget::new(100);
        let mut a = budget.claim();
        let mut b = budget.claim();
        assert!(a.grow_to(60));
        assert!(!b.grow_to(41), "60 + 41 > 100");
        assert!(b.grow_to(40));
        assert_eq!(budget.used(), 100);
        assert!(a.grow_to(10), "never shrinks: still 60");
        assert_eq!(budget.used(), 100);
        drop(a);
        assert_eq!(budget.used(), 40);
        b.release();
        assert_eq!(budget.used(), 0);
        assert!(b.grow_to(100));
    }

    #[test]
    fn room_is_made_by_doubling_up_to_the_most_and_claimed_whole() {
        let budget = Budget::new(1000);
        let mut claim = budget.claim();
        let mut buffer = Vec::new();
        assert!(make_room(&mut buffer, 100, 300, &mut claim));
        assert_eq!((buffer.capacity(), budget.used()), (100, 100));
        buffer.resize(100, 0);
        assert!(make_room(&mut buffer, 10, 300, &mut claim));
        assert_eq!((buffer.capacity(), budget.used()), (200, 200), "doubled");
        buffer.resize(200, 0);
        assert!(make_room(&mut buffer, 10, 300, &mut claim));
        assert_eq!(
            (buffer.capacity(), budget.used()),
            (300, 300),
            "doubling stops at most"
        );
        let mut other = budget.claim();
        let mut big = Vec::new();
        assert!(
            !make_room(&mut big, 701, 2000, &mut other),
            "300 + 701 > 1000"
        );
        assert_eq!((big.capacity(), budget.used()), (0, 300), "nothing taken");
    }
}
