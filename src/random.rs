//! Random numbers for the demos, without a crate: the articles' servers draw a random number
//! to stand for "new data" (`Math.random()` in Node). One small generator serves every demo.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

// ANCHOR: xorshift
/// Marsaglia's xorshift64 ("Xorshift RNGs", 2003): three shifts and three xors per number.
/// Plenty for numbers on a demo page, and NOT cryptographic: a few outputs give away every
/// later one, so never use it for tokens, ids or keys.
pub struct Xorshift(u64);

impl Xorshift {
    /// A generator starting from `seed` (zero is made one: zero is the one state xorshift
    /// never leaves). For tests, which want the same numbers every time.
    pub fn with_seed(seed: u64) -> Xorshift {
        Xorshift(seed | 1)
    }

    /// Seeded from the clock, mixed with a count of the generators made so far, so that two
    /// made in the same nanosecond (a page opens two streams at once) still differ.
    pub fn seeded() -> Xorshift {
        static STARTED: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let nth = STARTED.fetch_add(1, Ordering::Relaxed);
        // `| 1`: zero is the one state xorshift never leaves.
        Xorshift((nanos ^ nth.wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number below `bound`. The remainder favours small numbers by about bound / 2^64:
    /// nothing anyone could ever measure.
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }
}
// ANCHOR_END: xorshift

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xorshift_gives_marsaglias_sequence() {
        // xorshift64 (13, 7, 17) from state 1, computed independently.
        let mut random = Xorshift::with_seed(1);
        let first: Vec<u64> = (0..3).map(|_| random.next_u64()).collect();
        assert_eq!(
            first,
            [
                1_082_269_761,
                1_152_992_998_833_853_505,
                11_177_516_664_432_764_457
            ]
        );
        let mut random = Xorshift::with_seed(1);
        assert_eq!(random.below(10_000), 9761);
    }

    #[test]
    fn two_generators_made_at_once_differ() {
        assert_ne!(Xorshift::seeded().next_u64(), Xorshift::seeded().next_u64());
    }
}
