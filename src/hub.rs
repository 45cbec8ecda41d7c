//! An append-only log of numbered events that readers can wait on: "give me everything after
//! id N, or wait until there is some".
//!
//! This is what makes long polling (and later every push transport) lossless. A naive server
//! keeps a list of waiting requests and answers them when something happens; an event that
//! happens while a client is between two requests reaches nobody. Here nothing is pushed to
//! anyone: each event gets the next id and stays in the log, and each reader remembers the last
//! id it saw and asks for what came after. A reader that was away for a moment just gets
//! several events at once.
//!
//! One `RwLock` guards the log: readers read it side by side, a publish writes alone. A
//! reader that waits puts its thread on a list once (`Hub::waiter`), for as long as it reads;
//! a publish wakes each thread on the list exactly once (`Thread::unpark`), and nobody else.
//! A woken reader takes no lock but the log's read lock. A single `Condvar` would do the same
//! work worse: its `notify_all` wakes every waiter to fight for one mutex, so with thousands
//! of streams each publish became a stampede of threads taking the lock in turn.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use crate::clock::now_millis;

use crate::json;
use crate::limits::{GONE_CHECK_INTERVAL, GONE_CHECKS_PER_SECOND};

// ANCHOR: batch_limits
/// Most events one answer carries from an event log: a poll, a long poll, one piece of a
/// stream, one burst of WebSocket frames. A reader further behind gets the oldest ones and
/// asks again from its new cursor, so no answer is built bigger than this.
pub const MAX_BATCH_EVENTS: usize = 256;
/// Most text (UTF-8 bytes) one answer carries from an event log, unless a single event is
/// larger. JSON escaping can make text at most six times larger (`<` is `\u003c`), so with
/// `MAX_BATCH_EVENTS` this bounds every catch-up answer to about 112 KiB.
pub const MAX_BATCH_TEXT_BYTES: usize = 16 * 1024;
// ANCHOR_END: batch_limits

/// One event: its id (1, 2, 3, … with no gaps), its text, and when it was published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: u64,
    pub text: String,
    /// Milliseconds since 1970, as JavaScript's `Date.now()`.
    pub ts: u64,
}

impl Event {
    /// `{"id":1,"text":"hello","ts":1795478399000}`
    pub fn to_json(&self) -> String {
        json::Object::new()
            .number("id", self.id)
            .string("text", &self.text)
            .number("ts", self.ts)
            .finish()
    }
}

struct Log {
    events: VecDeque<Event>,
    last_id: u64,
}

pub struct Hub {
    log: RwLock<Log>,
    /// The readers waiting for the next event, by a key of their own.
    waiting: Mutex<Waiting>,
    /// How many: read without the lock, to space out the looks at clients.
    waiters: AtomicUsize,
    /// The log keeps this many of the newest events; older ones are dropped.
    capacity: usize,
}

#[derive(Default)]
struct Waiting {
    next_key: u64,
    threads: HashMap<u64, Thread>,
}

impl Hub {
    pub fn new(capacity: usize) -> Hub {
        Hub {
            log: RwLock::new(Log {
                events: VecDeque::new(),
                last_id: 0,
            }),
            waiting: Mutex::new(Waiting::default()),
            waiters: AtomicUsize::new(0),
            capacity,
        }
    }

    /// A poisoned lock only means another thread panicked while holding it; the log itself
    /// is always whole (every change is one push or pop), so carry on with it.
    fn read(&self) -> RwLockReadGuard<'_, Log> {
        self.log
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn waiting(&self) -> MutexGuard<'_, Waiting> {
        self.waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends an event, wakes every waiting reader once, and returns the event.
    pub fn publish(&self, text: &str) -> Event {
        let mut log = self
            .log
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        log.last_id += 1;
        let event = Event {
            id: log.last_id,
            text: text.to_string(),
            ts: now_millis(),
        };
        log.events.push_back(event.clone());
        while log.events.len() > self.capacity {
            log.events.pop_front();
        }
        drop(log);
        // Each waiter waits for an id above its cursor, and no cursor is above the id just
        // published: every one of them has something to send now. A waiter busy writing is
        // not parked; its next park returns at once, and it finds the event then.
        let threads: Vec<Thread> = self.waiting().threads.values().cloned().collect();
        for thread in threads {
            thread.unpark();
        }
        event
    }

    /// Readers waiting now.
    pub fn waiters(&self) -> usize {
        self.waiters.load(Ordering::Relaxed)
    }

    /// Puts this thread on the list of readers a publish wakes, until the `Waiter` is
    /// dropped. A reader that waits again and again (a stream) makes one and keeps it.
    pub fn waiter(&self) -> Waiter<'_> {
        let mut waiting = self.waiting();
        waiting.next_key += 1;
        let key = waiting.next_key;
        waiting.threads.insert(key, thread::current());
        self.waiters.fetch_add(1, Ordering::Relaxed);
        Waiter { hub: self, key }
    }

    /// The id of the newest event, 0 if there is none yet.
    pub fn last_id(&self) -> u64 {
        self.read().last_id
    }

    /// The events still kept with an id above `id`, oldest first, at most one batch.
    pub fn after(&self, id: u64) -> Vec<Event> {
        events_after(&self.read(), id)
    }

    /// `Waiter::wait_after` for a reader that waits once (a long poll).
    pub fn wait_after(
        &self,
        id: u64,
        deadline: Instant,
        client_gone: impl Fn() -> bool,
    ) -> Vec<Event> {
        self.waiter().wait_after(id, deadline, client_gone)
    }

    /// How long a waiter sleeps between two looks at its client: `GONE_CHECK_INTERVAL`, or
    /// longer when so many wait that their looks together would pass
    /// `GONE_CHECKS_PER_SECOND`. Each look is a few system calls; ten thousand idle streams
    /// looking four times a second would keep a core busy doing nothing.
    fn gone_check_interval(&self) -> Duration {
        let waiters = u32::try_from(self.waiters()).unwrap_or(u32::MAX);
        let spread = Duration::from_secs(1) * waiters / GONE_CHECKS_PER_SECOND;
        spread.max(GONE_CHECK_INTERVAL)
    }
}

// ANCHOR: wait_after
/// A reader on the hub's list: a publish unparks its thread. It belongs to the thread that
/// made it (that is the thread woken); dropping it takes the thread off the list.
pub struct Waiter<'h> {
    hub: &'h Hub,
    key: u64,
}

impl Waiter<'_> {
    /// Events after `id`; if there are none yet, waits until one is published or `deadline`
    /// passes (then returns none). While it waits it asks `client_gone` from time to time,
    /// and returns none at once if the answer is yes — a waiting request must not outlive its
    /// client by the whole hold time. Another thread that unparks this one makes it ask at once.
    pub fn wait_after(
        &self,
        id: u64,
        deadline: Instant,
        client_gone: impl Fn() -> bool,
    ) -> Vec<Event> {
        // The thread is on the list before it looks at the log: a publish between the look
        // and the park still unparks it, and `park` returns at once for an earlier unpark.
        let hub = self.hub;
        loop {
            let events = hub.after(id);
            if !events.is_empty() {
                return events;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Vec::new();
            }
            thread::park_timeout(left.min(hub.gone_check_interval()));
            let events = hub.after(id);
            if !events.is_empty() {
                return events;
            }
            if client_gone() {
                return Vec::new();
            }
        }
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        self.hub.waiting().threads.remove(&self.key);
        self.hub.waiters.fetch_sub(1, Ordering::Relaxed);
    }
}
// ANCHOR_END: wait_after

// ANCHOR: events_after
/// The oldest events after `id`, at most one batch: `MAX_BATCH_EVENTS` events and
/// `MAX_BATCH_TEXT_BYTES` of text (or one event, however long). A reader far behind gets the
/// rest by asking again from the last id it got; no answer, however far behind its reader,
/// is built bigger than a batch.
fn events_after(log: &Log, id: u64) -> Vec<Event> {
    // Ids are consecutive, so the events after `id` are a tail of the deque: skip to it.
    let skip = match log.events.front() {
        Some(first) if id >= first.id => (id - first.id + 1).min(log.events.len() as u64),
        _ => 0,
    };
    let mut batch = Vec::new();
    let mut text_bytes = 0;
    for event in log.events.iter().skip(skip as usize) {
        text_bytes += event.text.len();
        if batch.len() == MAX_BATCH_EVENTS
            || (!batch.is_empty() && text_bytes > MAX_BATCH_TEXT_BYTES)
        {
            break;
        }
        batch.push(event.clone());
    }
    batch
}
// ANCHOR_END: events_after

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::thread;
    use std::time::Duration;

    #[test]
    fn ids_count_up_and_readers_get_what_came_after() {
        let hub = Hub::new(10);
        assert_eq!(hub.last_id(), 0);
        hub.publish("a");
        hub.publish("b");
        hub.publish("c");
        let texts = |events: Vec<Event>| events.into_iter().map(|e| e.text).collect::<Vec<_>>();
        assert_eq!(texts(hub.after(0)), ["a", "b", "c"]);
        assert_eq!(texts(hub.after(2)), ["c"]);
        assert!(hub.after(3).is_empty());
    }

    #[test]
    fn the_log_keeps_only_the_newest() {
        let hub = Hub::new(2);
        for text in ["a", "b", "c"] {
            hub.publish(text);
        }
        let ids: Vec<u64> = hub.after(0).iter().map(|e| e.id).collect();
        assert_eq!(ids, [2, 3]);
    }

    #[test]
    fn a_reader_far_behind_gets_one_batch_at_a_time() {
        let hub = Hub::new(2000);
        for _ in 0..1000 {
            hub.publish("x");
        }
        let first = hub.after(0);
        assert_eq!(first.len(), MAX_BATCH_EVENTS, "capped by count");
        assert_eq!(first.last().unwrap().id, MAX_BATCH_EVENTS as u64);
        let next = hub.after(first.last().unwrap().id);
        assert_eq!(
            next[0].id,
            MAX_BATCH_EVENTS as u64 + 1,
            "the rest, from the cursor"
        );

        let big = Hub::new(100);
        let text = "<".repeat(4000);
        for _ in 0..10 {
            big.publish(&text);
        }
        let batch = big.after(0);
        assert_eq!(batch.len(), MAX_BATCH_TEXT_BYTES / 4000, "capped by text");
        let huge = Hub::new(10);
        huge.publish(&"y".repeat(MAX_BATCH_TEXT_BYTES + 1));
        assert_eq!(huge.after(0).len(), 1, "one event, however long");
        let ids: Vec<u64> = big.after(8).iter().map(|e| e.id).collect();
        assert_eq!(ids, [9, 10], "skips to the tail");
    }

    #[test]
    fn a_waiter_wakes_on_publish() {
        let hub = Arc::new(Hub::new(10));
        let reader = Arc::clone(&hub);
        let waiting = thread::spawn(move || {
            reader.wait_after(0, Instant::now() + Duration::from_secs(30), || false)
        });
        hub.publish("news");
        let events = waiting.join().unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].text, "news");
    }

    #[test]
    fn nothing_published_between_polls_is_lost() {
        // The reader is "between two requests" while 1 and 2 are published; it still gets both.
        let hub = Hub::new(10);
        hub.publish("one");
        let seen = hub.after(0).last().map(|e| e.id).unwrap();
        hub.publish("two");
        hub.publish("three");
        let next = hub.wait_after(seen, Instant::now() + Duration::from_secs(30), || false);
        assert_eq!(next.iter().map(|e| e.id).collect::<Vec<_>>(), [2, 3]);
    }

    #[test]
    fn a_deadline_or_a_gone_client_ends_the_wait_empty() {
        let hub = Hub::new(10);
        assert!(hub.wait_after(0, Instant::now(), || false).is_empty());
        let far = Instant::now() + Duration::from_secs(3600);
        assert!(
            hub.wait_after(0, far, || true).is_empty(),
            "returns at once when gone"
        );
    }

    #[test]
    fn events_as_json() {
        let event = Event {
            id: 7,
            text: "say \"hi\"".to_string(),
            ts: 1_795_478_399_000,
        };
        assert_eq!(
            event.to_json(),
            r#"{"id":7,"text":"say \"hi\"","ts":1795478399000}"#
        );
    }
}
