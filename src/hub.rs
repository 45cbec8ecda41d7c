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
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use crate::clock::now_millis;

use crate::json;
use crate::limits::{
    DIRECT_WRITE_BUDGET, DIRECT_WRITE_TIMEOUT, GONE_CHECK_INTERVAL, GONE_CHECKS_PER_SECOND,
};
use crate::net::Taken;

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
    readers: HashMap<u64, Reader>,
}

// ANCHOR: courier
/// A way to hand an event to a reader's client without waking the reader's thread: the
/// publisher writes it to the client's socket itself if the socket takes it at once. A
/// thread per connection pays a wake-up and two context switches for every event it sends;
/// with thousands of streams that is most of the cost of a publish, so a stream that is
/// asleep and up to date gets its event written for it, the way an event loop would.
pub trait Courier: Send + Sync {
    /// Writes `event` to the client if that can be done without waiting.
    fn deliver(&self, event: &Event) -> Taken;
}
// ANCHOR_END: courier

/// One reader on the list, as the publisher sees it.
#[derive(Clone)]
struct Reader {
    thread: Thread,
    courier: Option<Arc<dyn Courier>>,
    state: Arc<ReaderState>,
}

/// What a reader's thread and the publisher share.
struct ReaderState {
    /// Held (true) by the reader's thread whenever it is awake — looking at the log, writing
    /// what it found — and let go only while it sleeps. The publisher delivers only to a
    /// reader whose pen it can take, and holds it for that one write: so an event is either
    /// the reader's to send or the publisher's, never both, and never out of order.
    pen: AtomicBool,
    /// The last id the reader's client has: set by the reader before it sleeps, moved on by
    /// the publisher for each event it delivers.
    cursor: AtomicU64,
    /// The publisher began an event the socket took only part of: the reader's thread must
    /// wake and finish it.
    finish: AtomicBool,
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
        let log = self
            .log
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let event = Event {
            id: log.last_id + 1,
            text: text.to_string(),
            ts: now_millis(),
        };
        self.add(log, event.clone());
        event
    }

    // ANCHOR: append
    /// Adds an event numbered elsewhere: a room whose log lives in Redis (`room/`) keeps a
    /// copy here, so its readers wait and are woken exactly as with a log in memory. An id
    /// at or below the newest is one this copy has already (false). An id further on than
    /// the next means the events between are gone for good (the shared log was trimmed past
    /// them while this process could not read it): the copy starts again from this one, and
    /// readers behind it get the gap signal, read off the ids as always.
    pub fn append(&self, event: Event) -> bool {
        let mut log = self
            .log
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if event.id <= log.last_id {
            return false;
        }
        if event.id != log.last_id + 1 {
            log.events.clear();
        }
        self.add(log, event);
        true
    }
    // ANCHOR_END: append

    /// Puts `event` (the next id, or one after a cleared log) at the end of the log, lets
    /// the lock go, and hands the event to every waiting reader.
    fn add(&self, mut log: std::sync::RwLockWriteGuard<'_, Log>, event: Event) {
        log.last_id = event.id;
        log.events.push_back(event.clone());
        while log.events.len() > self.capacity {
            log.events.pop_front();
        }
        drop(log);
        // Each waiter waits for an id above its cursor, and (but for a cursor ahead of a copy
        // of a room in Redis, which `hand_over` leaves alone) no cursor is above this one:
        // every waiter has something to send now. A waiter busy writing is
        // not parked; its next park returns at once, and it finds the event then.
        // The list is copied so that readers may come and go while it is walked.
        // Sockets too full to take the event make the publisher wait (a little each): once
        // such waits add up to `DIRECT_WRITE_BUDGET`, the rest are woken to write for
        // themselves, and the publish goes on. Writes that succeed are not counted: they
        // take microseconds, and are the cheap way to reach a reader.
        let readers: Vec<Reader> = self.waiting().readers.values().cloned().collect();
        let mut waited = Duration::ZERO;
        for reader in readers {
            let started = Instant::now();
            if waited >= DIRECT_WRITE_BUDGET || !hand_over(&reader, &event) {
                reader.thread.unpark();
                let took = started.elapsed();
                if took >= DIRECT_WRITE_TIMEOUT {
                    waited += took;
                }
            }
        }
    }

    /// Readers waiting now.
    pub fn waiters(&self) -> usize {
        self.waiters.load(Ordering::Relaxed)
    }

    /// Puts this thread on the list of readers a publish wakes, until the `Waiter` is
    /// dropped. A reader that waits again and again (a stream) makes one and keeps it.
    pub fn waiter(&self) -> Waiter<'_> {
        self.join(None)
    }

    /// `waiter`, for a reader whose client the publisher may write to itself (`Courier`).
    pub fn waiter_with(&self, courier: Arc<dyn Courier>) -> Waiter<'_> {
        self.join(Some(courier))
    }

    fn join(&self, courier: Option<Arc<dyn Courier>>) -> Waiter<'_> {
        // The thread that makes the waiter is awake: it holds the pen from the start.
        let state = Arc::new(ReaderState {
            pen: AtomicBool::new(true),
            cursor: AtomicU64::new(0),
            finish: AtomicBool::new(false),
        });
        let reader = Reader {
            thread: thread::current(),
            courier,
            state: Arc::clone(&state),
        };
        let mut waiting = self.waiting();
        waiting.next_key += 1;
        let key = waiting.next_key;
        waiting.readers.insert(key, reader);
        self.waiters.fetch_add(1, Ordering::Relaxed);
        Waiter {
            hub: self,
            key,
            state,
        }
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
        self.waiter().wait_after(id, deadline, client_gone).1
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
/// A reader on the hub's list: a publish unparks its thread, or hands the event to its
/// courier. It belongs to the thread that made it (that is the thread woken); dropping it
/// takes the thread off the list.
pub struct Waiter<'h> {
    hub: &'h Hub,
    key: u64,
    state: Arc<ReaderState>,
}

impl Waiter<'_> {
    /// Events after `id` — or after what the courier delivered since, if further — with the
    /// id they follow. If there are none yet, waits until one is published or `deadline`
    /// passes (then returns none). While it waits it asks `client_gone` from time to time,
    /// and returns none at once if the answer is yes — a waiting request must not outlive its
    /// client by the whole hold time. Another thread that unparks this one makes it ask at
    /// once. It also returns none, early, when the courier left an event half-written: the
    /// caller finishes it (`BodyWriter::catch_up`, `Sender::catch_up`) and waits again.
    pub fn wait_after(
        &self,
        id: u64,
        deadline: Instant,
        client_gone: impl Fn() -> bool,
    ) -> (u64, Vec<Event>) {
        // The thread is on the list before it looks at the log: a publish between the look
        // and the park still unparks it, and `park` returns at once for an earlier unpark.
        let (hub, state) = (self.hub, &*self.state);
        loop {
            let from = id.max(state.cursor.load(Ordering::SeqCst));
            let events = hub.after(from);
            if !events.is_empty() {
                return (from, events);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return (from, Vec::new());
            }
            // Asleep and up to date: from here the publisher may deliver for us.
            state.cursor.store(from, Ordering::SeqCst);
            state.pen.store(false, Ordering::SeqCst);
            thread::park_timeout(left.min(hub.gone_check_interval()));
            // Awake: take the pen back, once the publisher's one write (if any) is done.
            while state
                .pen
                .compare_exchange_weak(false, true, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
            {
                thread::yield_now();
            }
            let from = id.max(state.cursor.load(Ordering::SeqCst));
            let events = hub.after(from);
            if !events.is_empty() {
                return (from, events);
            }
            if state.finish.swap(false, Ordering::SeqCst) || client_gone() {
                return (from, Vec::new());
            }
        }
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        self.hub.waiting().readers.remove(&self.key);
        self.hub.waiters.fetch_sub(1, Ordering::Relaxed);
    }
}

// ANCHOR: hand_over
/// Delivers `event` through the reader's courier, if it has one and is asleep and up to
/// date; true if nothing more is needed. False: wake the reader, which finds the event in
/// the log (or finishes the part the socket did not take) and sends it itself.
fn hand_over(reader: &Reader, event: &Event) -> bool {
    let Some(courier) = &reader.courier else {
        return false;
    };
    let state = &reader.state;
    if state
        .pen
        .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
        .is_err()
    {
        return false; // awake: it will look at the log itself
    }
    // The pen goes back however this ends, a panic in the courier included: a pen kept for
    // ever would leave the reader's thread waiting for it for ever.
    let _pen = PenBack(&state.pen);
    if state.cursor.load(Ordering::SeqCst) + 1 != event.id {
        return false;
    }
    let delivered = catch_unwind(AssertUnwindSafe(|| courier.deliver(event)));
    match delivered.unwrap_or(Taken::Nothing) {
        Taken::Whole => {
            state.cursor.store(event.id, Ordering::SeqCst);
            true
        }
        Taken::Part(_) => {
            state.cursor.store(event.id, Ordering::SeqCst);
            state.finish.store(true, Ordering::SeqCst);
            false
        }
        Taken::Nothing => false,
    }
}

/// Gives a reader's pen back when dropped.
struct PenBack<'a>(&'a AtomicBool);

impl Drop for PenBack<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}
// ANCHOR_END: hand_over
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
    fn a_copy_takes_events_numbered_elsewhere_once_each_and_starts_over_after_a_hole() {
        let hub = Hub::new(10);
        let event = |id: u64| Event {
            id,
            text: format!("m{id}"),
            ts: 1,
        };
        assert!(hub.append(event(4)), "a first event may have any id");
        assert!(hub.append(event(5)));
        assert!(!hub.append(event(5)), "already here");
        assert!(!hub.append(event(3)), "older than the newest");
        assert!(hub.append(event(9)), "6 to 8 are gone");
        let ids: Vec<u64> = hub.after(0).iter().map(|e| e.id).collect();
        assert_eq!(ids, [9], "the copy starts again at the hole");
        assert_eq!(hub.last_id(), 9);
        assert_eq!(hub.publish("local").id, 10, "and numbers on from there");
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

    /// A courier that takes every event (every seventh only in part) and notes its id.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<u64>>);

    impl Courier for Recorder {
        fn deliver(&self, event: &Event) -> Taken {
            self.0.lock().unwrap().push(event.id);
            if event.id.is_multiple_of(7) {
                Taken::Part(1)
            } else {
                Taken::Whole
            }
        }
    }

    #[test]
    fn a_courier_and_its_reader_share_the_events_each_exactly_once_in_order() {
        let hub = Arc::new(Hub::new(1000));
        let recorder = Arc::new(Recorder::default());
        let done = Arc::new(AtomicBool::new(false));
        let reader = {
            let (hub, recorder, done) =
                (Arc::clone(&hub), Arc::clone(&recorder), Arc::clone(&done));
            thread::spawn(move || {
                let waiter = hub.waiter_with(recorder);
                let (mut cursor, mut got) = (0, Vec::new());
                while !done.load(Ordering::SeqCst) || cursor < 200 {
                    let far = Instant::now() + Duration::from_secs(30);
                    let (from, events) =
                        waiter.wait_after(cursor, far, || done.load(Ordering::SeqCst));
                    assert!(from >= cursor, "the cursor never goes back");
                    got.extend(events.iter().map(|e| e.id));
                    cursor = events.last().map_or(from, |e| e.id);
                }
                got
            })
        };
        for i in 0..200 {
            hub.publish("x");
            if i % 10 == 0 {
                thread::yield_now(); // let the reader fall asleep now and then
            }
        }
        done.store(true, Ordering::SeqCst);
        reader.thread().unpark();
        let read_itself = reader.join().unwrap();
        let handed = recorder.0.lock().unwrap().clone();
        let mut all: Vec<u64> = read_itself.iter().chain(&handed).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (1..=200).collect::<Vec<u64>>(), "each once");
        assert!(read_itself.windows(2).all(|w| w[0] < w[1]), "in order");
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
