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

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError, Weak};
use std::thread;
use std::time::{Duration, Instant};

use crate::hub::{Event, Hub, MAX_BATCH_EVENTS};
use crate::log::Log;
use crate::random::Xorshift;
use crate::redis::{Address, Connection, Failed, Value};

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
/// After Redis failed to answer a publish, further sends are refused at once for this long
/// instead of each waiting `REDIS_COMMAND_TIMEOUT` in line behind the one before: one slow
/// answer, not a queue of them, is what a hung Redis costs the senders.
pub const REDIS_REST: Duration = Duration::from_secs(1);
/// The largest id: 2^53 - 1, the largest integer a JavaScript number holds exactly (every
/// page reads ids as numbers) and a Lua number in Redis's scripts too.
pub const MAX_ID: u64 = (1 << 53) - 1;
// ANCHOR_END: follow_limits

// ANCHOR: publish_script
/// Numbers a message and appends it, in one step no other client can come between (a script
/// runs alone in Redis). The id is one more than the counter, but never at or below
/// `ARGV[3]`, the newest id the publishing process knows of, nor at or below the stream's
/// newest entry: if Redis lost the counter (a restart without persistence, a `FLUSHALL`), ids
/// go on from there instead of starting again at 1 and meaning other messages. (Looking at
/// the stream's top is one cheap step, and it also keeps an entry someone else put there
/// from blocking every later `XADD`.) The counter is written only once the entry is in, so
/// a refused `XADD` uses up no id. `MAXLEN =` trims the stream to the room's capacity,
/// exactly, so a reader behind it gets the same gap signal as from a room in memory. The time comes from Redis's clock: one clock for every process.
const PUBLISH_SCRIPT: &str = "\
local counted = tonumber(redis.call('GET', KEYS[2])) or 0
local id = math.max(counted + 1, tonumber(ARGV[3]) + 1)
local top = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
if top then id = math.max(id, (tonumber(string.match(top[1], '^(%d+)')) or 0) + 1) end
if id > 9007199254740991 then return redis.error_reply('ids have passed 2^53 - 1') end
local now = redis.call('TIME')
local ts = string.format('%d', now[1] * 1000 + math.floor(now[2] / 1000))
local added = redis.pcall('XADD', KEYS[1], 'MAXLEN', '=', ARGV[2],
  string.format('%d-0', id), 'text', ARGV[1], 'ts', ts)
if type(added) == 'table' and added.err then return added end
redis.call('SET', KEYS[2], string.format('%d', id))
return id
";
// ANCHOR_END: publish_script

/// Raises the counter to at least `ARGV[1]`; 1 if it was lower (Redis lost ids), else 0.
/// Each follower sends it when it (re)connects, with the newest id its process knows of.
const RAISE_SCRIPT: &str = "\
local counted = tonumber(redis.call('GET', KEYS[1])) or 0
if counted >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
return 1
";

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
    /// The newest id this process knows Redis has given: read by the follower, answered to a
    /// publish, or asked for. Ids only grow, so this is the floor of the next one.
    newest_known: AtomicU64,
    /// Until when sends are refused at once (`REDIS_REST`), after Redis failed to answer.
    resting_until: Mutex<Option<Instant>>,
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
            stream: super::stream_key(name),
            counter: format!("{}:last-id", super::stream_key(name)),
            capacity: capacity.to_string(),
            script_sha: sha1_smol::Sha1::from(PUBLISH_SCRIPT).digest().to_string(),
            publisher: Mutex::new(None),
            newest_known: AtomicU64::new(0),
            resting_until: Mutex::new(None),
            log,
            trace,
        });
        let cannot = |why: String| {
            format!(
                "cannot reach the room's Redis at {}: {why} (start redis-server, or leave out --room)",
                address.display()
            )
        };
        shared.ask_newest(&mut shared.publisher()).map_err(cannot)?;
        let follower = RedisFollower {
            shared: Arc::clone(&shared),
            hub: Arc::downgrade(hub),
            // From the start of the stream: it holds at most the room's capacity.
            after: "0-0".to_string(),
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

    /// The newest id this process knows of, without asking Redis.
    pub fn newest_known(&self) -> u64 {
        self.newest_known.load(Ordering::SeqCst)
    }

    /// Remembers that Redis has given `id`. One past `MAX_ID` is no id of the room (someone
    /// else's number): remembered, it would be the floor of every later id, and all of them
    /// would be refused.
    fn knows(&self, id: u64) {
        if id <= MAX_ID {
            self.newest_known.fetch_max(id, Ordering::SeqCst);
        }
    }

    // ANCHOR: publish
    /// Appends `text`; the id Redis gave it.
    pub fn publish(&self, text: &str) -> Result<u64, Unavailable> {
        self.refuse_while_resting()?;
        let mut publisher = self.publisher();
        // Another send may have found Redis hung while this one waited for the connection.
        self.refuse_while_resting()?;
        let connection = match self.connection(&mut publisher) {
            Ok(connection) => connection,
            Err(e) => {
                // Connecting (or logging in) took its whole time: rest, so that the senders
                // queued behind this one do not each wait as long again.
                if crate::net::is_timeout(&e) {
                    self.rest();
                }
                return Err(cannot_be_reached(&e));
            }
        };
        let floor = self.newest_known().to_string();
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
            Ok(Value::Integer(id)) if id > 0 && id as u64 <= MAX_ID => {
                self.knows(id as u64);
                Ok(id as u64)
            }
            // Redis ran the script and refused (ids past MAX_ID, a key of another type, out
            // of memory): sending the same again would be refused again.
            Ok(Value::Error(e)) => Err(Unavailable::Refused(format!(
                "the room's Redis refused the message: {e}"
            ))),
            Ok(other) => Err(Unavailable::Refused(format!(
                "the room's Redis answered {other:?}, not an id"
            ))),
            Err(failed) => {
                *publisher = None;
                match failed {
                    Failed::NotSent(e) => Err(cannot_be_reached(&e)),
                    // Sent, and no answer: Redis may run it yet. Say so, and rest a moment.
                    Failed::NoReply(e) => {
                        self.rest();
                        Err(Unavailable::MayBePublished(format!(
                            "the room's Redis took the message and did not answer ({e}); \
                             it may still appear in the room"
                        )))
                    }
                }
            }
        }
    }
    // ANCHOR_END: publish

    /// Refuses a send at once while Redis rests after failing to answer.
    fn refuse_while_resting(&self) -> Result<(), Unavailable> {
        let mut until = self
            .resting_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match *until {
            Some(at) if Instant::now() < at => Err(Unavailable::NotPublished(
                "the room's Redis did not answer a moment ago; try again shortly".to_string(),
            )),
            _ => {
                *until = None;
                Ok(())
            }
        }
    }

    fn rest(&self) {
        *self
            .resting_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Instant::now() + REDIS_REST);
    }

    /// Whether `cursor` is past every id Redis has given. `None` when that cannot be told
    /// now (Redis unreachable, or the connection busy with a send: a reader never waits in
    /// line behind the senders).
    pub fn is_past_newest(&self, cursor: u64) -> Option<bool> {
        if cursor <= self.newest_known() {
            return Some(false);
        }
        // Resting after a Redis that did not answer: do not ask it again yet.
        self.refuse_while_resting().ok()?;
        let mut publisher = match self.publisher.try_lock() {
            Ok(publisher) => publisher,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return None,
        };
        match self.ask_newest(&mut publisher) {
            Ok(newest) => Some(cursor > newest),
            Err(_) => {
                // It held the connection for as long as it failed: spare the senders a
                // second wait.
                self.rest();
                None
            }
        }
    }

    /// Asks Redis for the newest id it has given (the counter), and remembers it.
    fn ask_newest(&self, publisher: &mut Option<Connection>) -> Result<u64, String> {
        let connection = self.connection(publisher).map_err(|e| e.to_string())?;
        let newest = match connection.command(&[b"GET", self.counter.as_bytes()]) {
            Ok(Value::Nil) => 0,
            Ok(value) => match value.integer() {
                Some(n) if n >= 0 && n as u64 <= MAX_ID => n as u64,
                _ => return Err(format!("{} holds {value:?}, not an id", self.counter)),
            },
            Err(e) => {
                *publisher = None;
                return Err(e.to_string());
            }
        };
        self.knows(newest);
        Ok(newest)
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

/// A send refused because Redis could not be reached: nothing was published.
fn cannot_be_reached(error: &std::io::Error) -> Unavailable {
    Unavailable::NotPublished(format!("the room's Redis cannot be reached: {error}"))
}

// ANCHOR: follower
/// The one reader per process: blocks in `XREAD` on the stream and adds each entry to the
/// hub, which wakes the process's readers. It keeps the last entry it read, and after losing
/// Redis it asks for what came after that entry, so nothing Redis accepted meanwhile is
/// missed.
struct RedisFollower {
    shared: Arc<OnRedis>,
    /// Weak: the thread ends when the room does (its server stopped).
    hub: Weak<Hub>,
    /// The stream id of the last entry read (`7-0`), the room's or not: the next `XREAD`
    /// asks for what came after it, so an entry that is no message is read once, not again
    /// and again.
    after: String,
}

impl RedisFollower {
    fn run(mut self) {
        let mut retry = FOLLOW_RETRY_FIRST;
        let mut random = Xorshift::seeded();
        let mut lost = false;
        while self.hub.strong_count() > 0 {
            let (answered, error) =
                match Connection::open_traced(&self.shared.address, self.shared.trace.clone()) {
                    Ok(mut connection) => self.follow(&mut connection, &mut lost),
                    Err(e) => (false, e.to_string()),
                };
            if self.hub.strong_count() == 0 {
                return;
            }
            // The wait grows only while Redis gives no answer: a connection that is refused,
            // or one whose every XREAD fails.
            if answered {
                retry = FOLLOW_RETRY_FIRST;
            }
            // Once per outage, with the first error: the next ones say the same thing.
            if !lost {
                lost = true;
                self.shared.log(&format!(
                    "room: lost Redis at {} ({error}); trying again, up to every {} s",
                    self.shared.address.display(),
                    FOLLOW_RETRY_MOST.as_secs()
                ));
            }
            // Equal jitter: half the wait fixed, half random.
            let half = retry / 2;
            let jitter = Duration::from_millis(random.below(half.as_millis() as u64 + 1));
            thread::sleep(half + jitter);
            retry = (retry * 2).min(FOLLOW_RETRY_MOST);
        }
    }

    /// Reads the stream into the hub until the connection fails (the error) or the hub is
    /// gone (an empty error, never logged). First it raises the counter to the newest id
    /// this process knows of: a Redis that restarted without its data would otherwise
    /// number from 1 again. Whether Redis answered at all comes first in the result.
    fn follow(&mut self, connection: &mut Connection, lost: &mut bool) -> (bool, String) {
        let known = self.shared.newest_known().to_string();
        let raise: [&[u8]; 5] = [
            b"EVAL",
            RAISE_SCRIPT.as_bytes(),
            b"1",
            self.shared.counter.as_bytes(),
            known.as_bytes(),
        ];
        match connection.command(&raise) {
            Ok(Value::Integer(1)) => self.shared.log(&format!(
                "room: Redis at {} had lost ids up to {known}; numbering goes on after it",
                self.shared.address.display()
            )),
            Ok(Value::Integer(_)) => {}
            Ok(other) => return (false, format!("raising the counter: {other:?}")),
            Err(e) => return (false, e.to_string()),
        }
        let block = FOLLOW_BLOCK.as_millis().to_string();
        let count = MAX_BATCH_EVENTS.to_string();
        let mut answered = false;
        loop {
            let command: [&[u8]; 8] = [
                b"XREAD",
                b"BLOCK",
                block.as_bytes(),
                b"COUNT",
                count.as_bytes(),
                b"STREAMS",
                self.shared.stream.as_bytes(),
                self.after.as_bytes(),
            ];
            let reply = match connection.blocking_command(&command, FOLLOW_BLOCK) {
                Ok(Value::Error(e)) => return (answered, format!("XREAD refused: {e}")),
                Ok(reply) => reply,
                Err(e) => return (answered, e.to_string()),
            };
            if !answered && std::mem::take(lost) {
                self.shared.log(&format!(
                    "room: Redis at {} answers again; reading on after {}",
                    self.shared.address.display(),
                    self.after
                ));
            }
            answered = true;
            let Some(hub) = self.hub.upgrade() else {
                return (answered, String::new());
            };
            for (stream_id, event) in entries(&reply) {
                self.after = stream_id;
                if let Some(event) = event {
                    self.shared.knows(event.id);
                    hub.append(event);
                }
            }
        }
    }
}

/// The entries of an `XREAD` reply, `[[stream, [[id, [field, value, ...]], ...]]]` (nil when
/// the block ran out), each as its stream id and, if it is a message of the room, the event.
/// An entry that webwire did not write (an id not `N-0` or past `MAX_ID`, no `text`) is no
/// message of the room: it is passed over.
fn entries(reply: &Value) -> Vec<(String, Option<Event>)> {
    let Value::Array(streams) = reply else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for stream in streams {
        let Value::Array(pair) = stream else { continue };
        let Some(Value::Array(items)) = pair.get(1) else {
            continue;
        };
        for item in items {
            let Value::Array(parts) = item else { continue };
            let Some(stream_id) = parts.first().and_then(Value::text) else {
                continue;
            };
            found.push((stream_id.to_string(), entry(stream_id, parts.get(1))));
        }
    }
    found
}

fn entry(stream_id: &str, fields: Option<&Value>) -> Option<Event> {
    let id = stream_id.strip_suffix("-0")?.parse().ok()?;
    if id == 0 || id > MAX_ID {
        return None;
    }
    let Some(Value::Array(fields)) = fields else {
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
        let found = entries(&reply);
        let ids: Vec<&str> = found.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(
            ids,
            ["7-0", "8-1", "9-0", "10-0"],
            "every entry is read past"
        );
        let events: Vec<Event> = found.into_iter().filter_map(|(_, e)| e).collect();
        assert_eq!(
            events,
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
        let too_far = Value::Array(vec![Value::Array(vec![
            bulk("webwire:chat"),
            Value::Array(vec![entry("9007199254740992-0", &["text", "x"])]),
        ])]);
        assert_eq!(entries(&too_far)[0].1, None, "past MAX_ID");
        assert!(entries(&Value::Nil).is_empty(), "the block ran out");
    }
}
