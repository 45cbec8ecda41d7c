//! A room: a numbered log of messages that readers wait on, kept in this process's memory
//! (the default) or in a Redis stream that several webwire processes share (`--room
//! redis://HOST:PORT`, `on_redis.rs`).
//!
//! Either way the readers see one thing, a `Hub` in memory: every transport waits on it,
//! reads from a cursor and gets the gap signal exactly as before. With Redis the hub is a
//! copy: a publish goes to Redis, which gives it the next id, and one thread per process
//! reads the stream and adds what it finds to the copy, in the stream's order. No process
//! numbers a message itself, so the ids are the same everywhere, and a client may take its
//! cursor from one process to another (`docs/17-beyond-one-server.md`).

mod on_redis;

use std::sync::Arc;

use crate::hub::Hub;
use crate::log::Log;
use crate::redis::Address;

pub use on_redis::MAX_ID;

/// The Redis stream of the room called `name`: `webwire:chat`. Its counter is the same key
/// with `:last-id` after it.
pub fn stream_key(name: &str) -> String {
    format!("webwire:{name}")
}

/// Where a room's log lives, from `--room`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Store {
    /// In this process only (the default): it starts empty and ends with the process.
    #[default]
    Memory,
    /// In a Redis stream, shared by every process pointed at the same Redis.
    Redis(Address),
}

impl Store {
    /// `memory` or `redis://HOST:PORT`.
    pub fn parse(value: &str) -> Result<Store, String> {
        if value == "memory" {
            return Ok(Store::Memory);
        }
        if value.starts_with("redis://") {
            return Address::parse(value).map(Store::Redis);
        }
        Err(format!(
            "{value}: a room lives in memory or at redis://HOST:PORT"
        ))
    }
}

/// A room's publish failed: the shared log could not be reached, did not answer, or refused
/// the message. Readers carry on whichever it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unavailable {
    /// Nothing was published: the sender may send it again (503 with `Retry-After`).
    NotPublished(String),
    /// Redis ran the publish and refused it (its memory is full, a key has another type):
    /// nothing was published, and the same message would be refused again (503).
    Refused(String),
    /// Redis got the message and did not answer in time: it may be in the room, and sending
    /// it again may show it twice (504).
    MayBePublished(String),
}

impl Unavailable {
    pub fn reason(&self) -> &str {
        match self {
            Unavailable::NotPublished(reason)
            | Unavailable::Refused(reason)
            | Unavailable::MayBePublished(reason) => reason,
        }
    }
}

// ANCHOR: room
/// A room: the hub its readers wait on, and where its messages are numbered.
pub struct Room {
    hub: Arc<Hub>,
    shared: Option<Arc<on_redis::OnRedis>>,
}

impl Room {
    /// A room in this process's memory, keeping the newest `capacity` messages.
    pub fn in_memory(capacity: usize) -> Room {
        Room {
            hub: Arc::new(Hub::new(capacity)),
            shared: None,
        }
    }

    /// A room whose log is the Redis stream `webwire:NAME`, trimmed to `capacity`. Fails,
    /// with one line saying why, if Redis cannot be reached now; once running, a lost Redis
    /// is waited for (and logged), never fatal. `trace` shows every command and reply.
    pub fn on_redis(
        address: &Address,
        name: &str,
        capacity: usize,
        log: Option<Log>,
        trace: Option<Log>,
    ) -> Result<Room, String> {
        let hub = Arc::new(Hub::new(capacity));
        let shared = on_redis::OnRedis::start(address, name, capacity, &hub, log, trace)?;
        Ok(Room {
            hub,
            shared: Some(shared),
        })
    }

    /// A room as `--room` asks for it; `log` and `trace` as for `on_redis`.
    pub fn open(
        store: &Store,
        name: &str,
        capacity: usize,
        log: Option<Log>,
        trace: Option<Log>,
    ) -> Result<Room, String> {
        match store {
            Store::Memory => Ok(Room::in_memory(capacity)),
            Store::Redis(address) => Room::on_redis(address, name, capacity, log, trace),
        }
    }

    /// What readers wait on and read from.
    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// Publishes `text`; its id. In memory this cannot fail. With Redis the id is Redis's,
    /// and the message reaches this process's readers the way it reaches every other
    /// process's: through the stream.
    pub fn publish(&self, text: &str) -> Result<u64, Unavailable> {
        match &self.shared {
            None => Ok(self.hub.publish(text).id),
            Some(shared) => shared.publish(text),
        }
    }

    /// Whether a reader's cursor is past every id this room has ever given: it comes from an
    /// earlier life of the room (a restart of an in-memory room), and the reader must start
    /// over. A cursor past this process's copy is not enough with Redis: another process
    /// may have served the reader a message this copy has not read yet, so the newest id
    /// Redis has given decides (known already, or asked for). If that cannot be told now,
    /// the cursor is taken as good: the reader waits for the copy to catch up rather than
    /// being sent everything again.
    pub fn is_past_newest(&self, cursor: u64) -> bool {
        if cursor <= self.hub.last_id() {
            return false;
        }
        match &self.shared {
            None => true,
            Some(shared) => shared.is_past_newest(cursor).unwrap_or(false),
        }
    }

    /// The newest id this process knows the room has: its copy's, or a newer one Redis
    /// gave (the copy may not have read it yet). A reader that starts "from now" starts here.
    pub fn newest(&self) -> u64 {
        let copy = self.hub.last_id();
        self.shared
            .as_ref()
            .map_or(copy, |shared| shared.newest_known().max(copy))
    }

    /// `in memory`, or the Redis stream's address and key: for the start-up line and `/stats`.
    pub fn describe(&self) -> String {
        match &self.shared {
            None => "in memory".to_string(),
            Some(shared) => shared.describe(),
        }
    }
}
// ANCHOR_END: room
