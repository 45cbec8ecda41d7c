//! A room whose log is a Redis stream: a publish appends to it by a script that numbers
//! the message, and one thread per process follows the stream into the process's hub.
//!
//! Redis Streams (`XADD`, `XREAD`) are a log with ids, which is what every transport's
//! cursor needs: "what came after N?" has an answer however long a reader was away, as long
//! as the log still holds N + 1. Plain Redis pub/sub (`PUBLISH`/`SUBSCRIBE`) has no such
//! answer: a message published while a process was reconnecting reaches nobody there.
//!
//! On the wire, for a message `ann` / `hello` (the script is sent once, then named by its
//! SHA-1, `EVALSHA`, as Redis's own docs advise):
//!
//! ```text
//! EVALSHA <sha1> 2 webwire:chat webwire:chat:last-id "ann\nhello" 1000 6   -> 7
//! XREAD BLOCK 5000 COUNT 256 STREAMS webwire:chat 6-0
//!   -> webwire:chat: [7-0: text "ann\nhello", ts "1795478399000"]
//! ```

use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::thread;
use std::time::Duration;

use crate::hub::{Event, Hub, MAX_BATCH_EVENTS};
use crate::log::Log;
use crate::random::Xorshift;
use crate::redis::{Address, Connection, Value};

use super::Unavailable;

// ANCHOR: follow_limits
/// How long the follower's `XREAD` blocks in Redis before it asks again. News wakes it at
/// once; the block only bounds how long a dead connection (a host gone without a word) goes
/// unnoticed, and how long the thread outlives a server that stopped.
pub const FOLLOW_BLOCK: Duration = Duration::from_secs(5);
/// The follower's first wait before it connects again to a Redis it lost; each failure
/// doubles it, up to `FOLLOW_RETRY_MOST`, with half of it random ("equal jitter") so that
/// several processes that lost Redis together do not all knock at the same instant.
pub const FOLLOW_RETRY_FIRST: Duration = Duration::from_millis(100);
/// The follower's longest wait between two tries.
pub const FOLLOW_RETRY_MOST: Duration = Duration::from_secs(2);
// ANCHOR_END: follow_limits

// ANCHOR: publish_script
/// Numbers a message and appends it, in one step no other client can come between (a script
/// runs alone in Redis). The id is the counter's next value, but never at or below
/// `ARGV[3]`, the newest id the publishing process has seen, nor at or below the stream's
/// newest entry: if Redis lost the counter (a restart without persistence, a `FLUSHALL`), ids
/// go on from there instead of starting again at 1 and meaning other messages. The stream is
/// looked at only when the counter looks lost (it starts at 1, or is behind the publisher). `MAXLEN`
/// trims the stream to the room's capacity, exactly (`=`), so a reader behind it gets the
/// same gap signal as from a room in memory. The time comes from Redis's clock: one clock
/// for every process.
const PUBLISH_SCRIPT: &str = "\
local counted = redis.call('INCR', KEYS[2])
local id = math.max(counted, tonumber(ARGV[3]) + 1)
if counted == 1 or id ~= counted then
  local top = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
  if top then id = math.max(id, tonumber(string.match(top[1], '^(%d+)')) + 1) end
  redis.call('SET', KEYS[2], id)
end
local now = redis.call('TIME')
local ts = string.format('%d', now[1] * 1000 + math.floor(now[2] / 1000))
redis.call('XADD', KEYS[1], 'MAXLEN', '=', ARGV[2], string.format('%d-0', id), 'text', ARGV[1], 'ts', ts)
return id
";
// ANCHOR_END: publish_script

/// The stream and its counter in one Redis, and this process's connection for publishing.
pub struct OnRedis {
    address: Address,
    /// The stream, `webwire:NAME`.
    stream: String,
    /// The last id given, `webwire:NAME:last-id`.
    counter: String,
    capacity: String,
    /// The script's SHA-1, as `EVALSHA` names it.
    script_sha: String,
    /// One connection, lent to one publish at a time; `None` after it failed, until the next
    /// publish opens another.
    publisher: Mutex<Option<Connection>>,
    log: Option<Log>,
    /// With `--trace`: every command and reply, as the HTTP heads are shown.
    trace: Option<Log>,
}

impl OnRedis {
    /// Checks that Redis answers, then starts the follower. The error is one line.
    pub fn start(
        address: &Address,
        name: &str,
        capacity: usize,
        hub: &Arc<Hub>,
        log: Option<Log>,
        trace: Option<Log>,
    ) -> Result<Arc<OnRedis>, String> {
        let shared = Arc::new(OnRedis {
            address: address.clone(),
            stream: format!("webwire:{name}"),
            counter: format!("webwire:{name}:last-id"),
            capacity: capacity.to_string(),
            script_sha: sha1_smol::Sha1::from(PUBLISH_SCRIPT).digest().to_string(),
            publisher: Mutex::new(None),
            log,
            trace,
        });
        let cannot = |why: String| {
            format!(
                "cannot reach the room's Redis at {}: {why} (start redis-server, or leave out --room)",
                address.display()
            )
        };
        let newest = shared.newest_or_error().map_err(cannot)?;
        let follower = Follower {
            shared: Arc::clone(&shared),
            hub: Arc::downgrade(hub),
            cursor: 0,
            // Only the newest `capacity` can be in the stream; start reading just before them.
            start_from: newest.saturating_sub(capacity as u64),
        };
        thread::Builder::new()
            .name("room-follower".into())
            .spawn(move || follower.run())
            .map_err(|e| cannot(format!("no thread for the follower: {e}")))?;
        Ok(shared)
    }

    pub fn describe(&self) -> String {
        format!(
            "in Redis at {}, stream {}",
            self.address.display(),
            self.stream
        )
    }

    // ANCHOR: publish
    /// Appends `text`; the id Redis gave it. `floor` is the newest id this process has seen.
    pub fn publish(&self, text: &str, floor: u64) -> Result<u64, Unavailable> {
        let floor = floor.to_string();
        let mut publisher = self.publisher();
        let connection = self
            .connection(&mut publisher)
            .map_err(|e| Unavailable(format!("the room's Redis cannot be reached: {e}")))?;
        let keys_and_args: [&[u8]; 6] = [
            b"2",
            self.stream.as_bytes(),
            self.counter.as_bytes(),
            text.as_bytes(),
            self.capacity.as_bytes(),
            floor.as_bytes(),
        ];
        let by_sha = [
            &[b"EVALSHA".as_slice(), self.script_sha.as_bytes()][..],
            &keys_and_args,
        ]
        .concat();
        let mut reply = connection.command(&by_sha);
        // Redis forgets scripts when it restarts: send the script itself, once, and it is
        // known by its SHA-1 again from then on.
        if matches!(&reply, Ok(Value::Error(e)) if e.starts_with("NOSCRIPT")) {
            let whole = [
                &[b"EVAL".as_slice(), PUBLISH_SCRIPT.as_bytes()][..],
                &keys_and_args,
            ]
            .concat();
            reply = connection.command(&whole);
        }
        match reply {
            Ok(Value::Integer(id)) if id > 0 => Ok(id as u64),
            Ok(other) => Err(Unavailable(format!(
                "the room's Redis refused the message: {other:?}"
            ))),
            Err(e) => {
                *publisher = None;
                Err(Unavailable(format!(
                    "the room's Redis cannot be reached: {e}"
                )))
            }
        }
    }
    // ANCHOR_END: publish

    /// The newest id Redis has given, or `None` if it cannot be asked now.
    pub fn newest(&self) -> Option<u64> {
        self.newest_or_error().ok()
    }

    fn newest_or_error(&self) -> Result<u64, String> {
        let mut publisher = self.publisher();
        let connection = self.connection(&mut publisher).map_err(|e| e.to_string())?;
        match connection.command(&[b"GET", self.counter.as_bytes()]) {
            Ok(Value::Nil) => Ok(0),
            Ok(value) => match value.integer() {
                Some(n) if n >= 0 => Ok(n as u64),
                _ => Err(format!("{} holds {value:?}, not an id", self.counter)),
            },
            Err(e) => {
                *publisher = None;
                Err(e.to_string())
            }
        }
    }

    fn publisher(&self) -> MutexGuard<'_, Option<Connection>> {
        self.publisher
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The publishing connection, opened again if it is missing or Redis closed it.
    fn connection<'a>(
        &self,
        publisher: &'a mut Option<Connection>,
    ) -> std::io::Result<&'a mut Connection> {
        if publisher
            .as_mut()
            .is_some_and(Connection::closed_while_idle)
        {
            *publisher = None;
        }
        if publisher.is_none() {
            *publisher = Some(Connection::open_traced(&self.address, self.trace.clone())?);
        }
        publisher
            .as_mut()
            .ok_or_else(|| std::io::Error::other("no connection"))
    }

    fn log(&self, line: &str) {
        if let Some(log) = &self.log {
            log.write(format!("{}\n", crate::text::escape_controls(line)));
        }
    }
}

// ANCHOR: follower
/// The one reader per process: blocks in `XREAD` on the stream and adds each entry to the
/// hub, which wakes the process's readers. It keeps the last id it read, and after losing
/// Redis it asks for what came after that id, so nothing Redis accepted meanwhile is missed.
struct Follower {
    shared: Arc<OnRedis>,
    /// Weak: the thread ends when the room does (its server stopped).
    hub: Weak<Hub>,
    /// The last id added to the hub.
    cursor: u64,
    /// Where to start reading when the hub is still empty.
    start_from: u64,
}

impl Follower {
    fn run(mut self) {
        let mut retry = FOLLOW_RETRY_FIRST;
        let mut random = Xorshift::seeded();
        let mut lost: Option<String> = None;
        while self.hub.strong_count() > 0 {
            let error =
                match Connection::open_traced(&self.shared.address, self.shared.trace.clone()) {
                    Ok(mut connection) => {
                        if lost.take().is_some() {
                            self.shared.log(&format!(
                                "room: Redis at {} answers again; reading on after id {}",
                                self.shared.address.display(),
                                self.after()
                            ));
                        }
                        retry = FOLLOW_RETRY_FIRST;
                        self.follow(&mut connection)
                    }
                    Err(e) => e.to_string(),
                };
            if self.hub.strong_count() == 0 {
                return;
            }
            // Once per outage, with the first error: the next ones say the same thing.
            if lost.is_none() {
                self.shared.log(&format!(
                    "room: lost Redis at {} ({error}); trying again, up to every {} s",
                    self.shared.address.display(),
                    FOLLOW_RETRY_MOST.as_secs()
                ));
            }
            lost.get_or_insert(error);
            // Equal jitter: half the wait fixed, half random.
            let half = retry / 2;
            let jitter = Duration::from_millis(random.below(half.as_millis() as u64 + 1));
            thread::sleep(half + jitter);
            retry = (retry * 2).min(FOLLOW_RETRY_MOST);
        }
    }

    /// The id to read after.
    fn after(&self) -> u64 {
        self.cursor.max(self.start_from)
    }

    /// Reads the stream into the hub until the connection fails (the error) or the hub is
    /// gone (an empty error, never logged).
    fn follow(&mut self, connection: &mut Connection) -> String {
        let block = FOLLOW_BLOCK.as_millis().to_string();
        let count = MAX_BATCH_EVENTS.to_string();
        loop {
            let after = format!("{}-0", self.after());
            let command: [&[u8]; 7] = [
                b"XREAD",
                b"BLOCK",
                block.as_bytes(),
                b"COUNT",
                count.as_bytes(),
                b"STREAMS",
                self.shared.stream.as_bytes(),
            ];
            let command = [&command[..], &[after.as_bytes()]].concat();
            let reply = match connection.blocking_command(&command, FOLLOW_BLOCK) {
                Ok(Value::Error(e)) => return format!("XREAD refused: {e}"),
                Ok(reply) => reply,
                Err(e) => return e.to_string(),
            };
            let Some(hub) = self.hub.upgrade() else {
                return String::new();
            };
            for event in entries(&reply) {
                self.cursor = event.id;
                hub.append(event);
            }
        }
    }
}

/// The events in an `XREAD` reply: `[[stream, [[id, [field, value, ...]], ...]]]`, or nil
/// when the block ran out. An entry that webwire did not write (an id not `N-0`, no
/// `text`) is skipped: it is no message of the room.
fn entries(reply: &Value) -> Vec<Event> {
    let Value::Array(streams) = reply else {
        return Vec::new();
    };
    let mut events = Vec::new();
    for stream in streams {
        let Value::Array(pair) = stream else { continue };
        let Some(Value::Array(items)) = pair.get(1) else {
            continue;
        };
        for item in items {
            if let Some(event) = entry(item) {
                events.push(event);
            }
        }
    }
    events
}

fn entry(item: &Value) -> Option<Event> {
    let Value::Array(parts) = item else {
        return None;
    };
    let id = parts.first()?.text()?.strip_suffix("-0")?.parse().ok()?;
    let Some(Value::Array(fields)) = parts.get(1) else {
        return None;
    };
    let field = |name: &str| {
        fields
            .chunks(2)
            .find(|pair| pair[0].text() == Some(name))
            .and_then(|pair| pair.get(1))
    };
    Some(Event {
        id,
        text: field("text")?.text()?.to_string(),
        ts: field("ts").and_then(Value::integer).unwrap_or(0).max(0) as u64,
    })
}
// ANCHOR_END: follower

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(text: &str) -> Value {
        Value::Bulk(text.as_bytes().to_vec())
    }

    #[test]
    fn an_xread_reply_becomes_events_and_strangers_are_skipped() {
        let entry = |id: &str, fields: &[&str]| {
            Value::Array(vec![
                bulk(id),
                Value::Array(fields.iter().map(|f| bulk(f)).collect()),
            ])
        };
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("webwire:chat"),
            Value::Array(vec![
                entry("7-0", &["text", "ann\nhello", "ts", "1795478399000"]),
                entry("8-1", &["text", "not ours"]),
                entry("9-0", &["other", "field"]),
                entry("10-0", &["ts", "5", "text", "bob\nhi"]),
            ]),
        ])]);
        assert_eq!(
            entries(&reply),
            [
                Event {
                    id: 7,
                    text: "ann\nhello".into(),
                    ts: 1_795_478_399_000
                },
                Event {
                    id: 10,
                    text: "bob\nhi".into(),
                    ts: 5
                }
            ]
        );
        assert!(entries(&Value::Nil).is_empty(), "the block ran out");
    }
}
