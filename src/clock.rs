//! Time as the pages see it.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since 1970, as JavaScript's `Date.now()`.
pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
