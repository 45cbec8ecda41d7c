//! The wire inspector: a browser watches the bytes of its own connections, live, from the
//! panel every demo page has (`demos/inspector.js`).
//!
//! ```text
//!  page ── POST /inspector ──────────────> a session: a numbered log of entries, and a
//!       <── Set-Cookie: webwire-inspector=TOKEN        cookie that names it
//!  page ── GET /demo… (Cookie: TOKEN) ───> the connection is tapped (`tap.rs`): every byte
//!                                          either way is read into entries (`decode.rs`)
//!                                          and appended to the session's log
//!  page ══ WebSocket /inspector/feed ════> the entries, as they are appended (`control.rs`)
//! ```
//!
//! Only the browser holding the cookie is shown its connections: the token is 128 random
//! bits, and nothing else reads a session's log. Off unless the server listens on loopback
//! alone (every client is on this machine), or `--inspector on` says so. Nothing costs
//! anything until a session exists: the connection's loop asks `any_open` (one atomic load)
//! and goes on.

pub mod control;
pub mod decode;
pub mod tap;

use std::collections::HashMap;
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::http::request::Request;
use crate::hub::Hub;
use crate::json::Object;

use decode::{Dir, Entry};

// ANCHOR: limits
/// The most entries a session keeps; older ones are dropped, and a feed that fell behind is
/// told how many it missed. With `MAX_ENTRY_JSON_BYTES` this bounds a session's memory.
pub const MAX_ENTRIES: usize = 1000;
/// The most text one entry carries, as JSON: a longer one is cut (its head, its preview).
pub const MAX_ENTRY_JSON_BYTES: usize = 4 * 1024;
/// Of a body, a chunk, an event or a frame's payload, the first bytes shown.
pub const MAX_PREVIEW_BYTES: usize = 256;
/// Of a label (the diagram's few words), the bytes kept.
pub const MAX_LABEL_BYTES: usize = 80;
/// Of a head, the bytes shown (a browser's heads are 400 to 800 bytes).
pub const MAX_SHOWN_HEAD_BYTES: usize = 2 * 1024;
/// The most sessions at once (browsers with the panel open). A new one past it replaces the
/// one read least recently; all of them together hold at most
/// `MAX_SESSIONS × MAX_ENTRIES × MAX_ENTRY_JSON_BYTES` = 32 MiB.
pub const MAX_SESSIONS: usize = 8;
/// A session nobody has read for this long ends: its cookie then taps nothing.
pub const SESSION_IDLE: Duration = Duration::from_secs(10 * 60);
/// The most connections tapped at once, across sessions. Each costs two threads and two
/// sockets (`tap.rs`), none counted by `--max-conns`; past it a connection is not shown, and
/// its session is told so.
pub const MAX_TAPPED: usize = 64;
// ANCHOR_END: limits

/// The cookie that names a browser's session.
pub const COOKIE: &str = "webwire-inspector";
/// The paths of the inspector itself: never tapped, never shown (a feed that showed its own
/// frames would feed itself for ever).
pub const OWN_PATH: &str = "/inspector";

/// Whether a request target is the inspector's own (`/inspector`, `/inspector/feed`, …).
pub fn is_inspectors_own(target: &str) -> bool {
    let path = target.split(['?', '#']).next().unwrap_or("");
    path == OWN_PATH || path.starts_with("/inspector/")
}

/// Every session, and whether pages may open one.
pub struct Inspector {
    /// `--inspector`, or loopback alone.
    pub enabled: bool,
    /// True while any session exists: the one check a request pays otherwise.
    any_open: AtomicBool,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
}

/// One browser's view: its entries, numbered, and when they started.
pub struct Session {
    pub token: String,
    /// The entries, as JSON text; a feed waits on it like a long poll on the chat room.
    pub log: Hub,
    /// Time offsets are from here.
    pub started: Instant,
    /// When a feed last read it (or it was opened): for `SESSION_IDLE`.
    read_at: Mutex<Instant>,
    /// Closed, replaced or expired: a tap that still holds it lets it go, and its memory
    /// with it (`tap.rs`).
    ended: AtomicBool,
}

impl Session {
    /// Appends one entry of connection `conn`.
    pub fn record(&self, conn: u64, entry: &Entry) {
        let millis = self.started.elapsed().as_millis() as u64;
        let label = crate::text::cut(&entry.label, MAX_LABEL_BYTES);
        let json_with = |text: &str| {
            Object::new()
                .number("conn", conn)
                .string("dir", entry.dir.arrow())
                .string("kind", entry.kind.name())
                .number("at", millis)
                .string("label", label)
                .bool("arrow", entry.arrow)
                .number("bytes", entry.bytes as u64)
                .string("text", text)
                .finish()
        };
        // JSON escaping can make text up to six times longer (`<` is `\u003c`): the text is
        // cut, by halves, until the whole entry fits.
        let mut json = json_with(&entry.text);
        let mut keep = entry.text.len();
        while json.len() > MAX_ENTRY_JSON_BYTES && keep > 0 {
            keep /= 2;
            let kept = crate::text::cut(&entry.text, keep);
            json = json_with(&format!(
                "{kept}\n… cut here: an entry holds at most {MAX_ENTRY_JSON_BYTES} bytes of JSON\n"
            ));
        }
        self.log.publish(&json);
    }

    /// A note about connection `conn` (opened, closed, not shown).
    pub fn note(&self, conn: u64, dir: Dir, text: &str, label: &str) {
        self.record(
            conn,
            &Entry {
                dir,
                kind: decode::Kind::Note,
                text: format!("{text}\n"),
                label: label.to_string(),
                arrow: false,
                bytes: 0,
                cookie: None,
            },
        );
    }

    /// Whether the session has ended (it is no longer among the open ones).
    pub fn has_ended(&self) -> bool {
        self.ended.load(Ordering::Relaxed)
    }

    pub fn touch(&self) {
        *self
            .read_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Instant::now();
    }

    fn read_at(&self) -> Instant {
        *self
            .read_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Inspector {
    pub fn new(enabled: bool) -> Inspector {
        Inspector {
            enabled,
            any_open: AtomicBool::new(false),
            sessions: Mutex::new(HashMap::new()),
        }
    }

    fn sessions(&self) -> MutexGuard<'_, HashMap<String, Arc<Session>>> {
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether any browser has the panel open. One atomic load: all a request pays when
    /// nobody inspects.
    pub fn any_open(&self) -> bool {
        self.any_open.load(Ordering::Relaxed)
    }

    /// The session a request's cookie names, if it is alive.
    pub fn session_of(&self, request: &Request) -> Option<Arc<Session>> {
        self.session_named(cookie_value(request, COOKIE)?)
    }

    /// The session with this token, if it is alive.
    pub fn session_named(&self, token: &str) -> Option<Arc<Session>> {
        let mut sessions = self.sessions();
        let session = sessions.get(token).cloned()?;
        if session.read_at().elapsed() > SESSION_IDLE {
            end(&mut sessions, token);
            self.any_open.store(!sessions.is_empty(), Ordering::Relaxed);
            return None;
        }
        Some(session)
    }

    /// The session for this request: the one its cookie names, or a new one (with a new
    /// token). Past `MAX_SESSIONS`, the one read least recently ends.
    pub fn open(&self, request: &Request) -> std::io::Result<Arc<Session>> {
        if let Some(session) = self.session_of(request) {
            session.touch();
            return Ok(session);
        }
        let token = new_token()?;
        let session = Arc::new(Session {
            token: token.clone(),
            log: Hub::new(MAX_ENTRIES),
            started: Instant::now(),
            read_at: Mutex::new(Instant::now()),
            ended: AtomicBool::new(false),
        });
        let mut sessions = self.sessions();
        let idle: Vec<String> = sessions
            .values()
            .filter(|s| s.read_at().elapsed() > SESSION_IDLE)
            .map(|s| s.token.clone())
            .collect();
        for token in idle {
            end(&mut sessions, &token);
        }
        while sessions.len() >= MAX_SESSIONS {
            let Some(oldest) = sessions
                .values()
                .min_by_key(|s| s.read_at())
                .map(|s| s.token.clone())
            else {
                break;
            };
            end(&mut sessions, &oldest);
        }
        sessions.insert(token, Arc::clone(&session));
        self.any_open.store(true, Ordering::Relaxed);
        Ok(session)
    }

    /// Ends the session a request's cookie names (the panel was closed).
    pub fn close(&self, request: &Request) {
        if let Some(token) = cookie_value(request, COOKIE) {
            let mut sessions = self.sessions();
            end(&mut sessions, token);
            self.any_open.store(!sessions.is_empty(), Ordering::Relaxed);
        }
    }

    /// Whether the session with this token still exists.
    pub fn is_open(&self, token: &str) -> bool {
        self.sessions().contains_key(token)
    }

    /// How many sessions are open.
    pub fn open_sessions(&self) -> usize {
        self.sessions().len()
    }
}

/// Takes a session off the open ones, and says so to whoever still holds it.
fn end(sessions: &mut HashMap<String, Arc<Session>>, token: &str) {
    if let Some(session) = sessions.remove(token) {
        session.ended.store(true, Ordering::Relaxed);
    }
}

/// A cookie's value from the request's `Cookie` headers (RFC 6265 §5.4: `a=1; b=2`).
pub(crate) fn cookie_value<'r>(request: &'r Request, name: &str) -> Option<&'r str> {
    request
        .headers
        .iter()
        .filter(|(field, _)| field.eq_ignore_ascii_case("cookie"))
        .flat_map(|(_, value)| value.split(';'))
        .find_map(|pair| {
            let (key, value) = pair.trim().split_once('=')?;
            (key == name).then_some(value)
        })
}

/// 128 bits from the operating system's random source, as 32 hex digits: a token nobody can
/// guess. (`random.rs`'s generator is for demo numbers and says never to use it for this.)
fn new_token() -> std::io::Result<String> {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::request::{Parsed, parse_head};

    fn request(head: &str) -> Request {
        match parse_head(head.as_bytes()).unwrap() {
            Parsed::Complete(request, _) => request,
            Parsed::Incomplete => panic!("incomplete"),
        }
    }

    #[test]
    fn the_inspectors_own_paths() {
        for (target, own) in [
            ("/inspector", true),
            ("/inspector/feed?since=3", true),
            ("/inspector.js", false),
            ("/inspectors", false),
            ("/time", false),
        ] {
            assert_eq!(is_inspectors_own(target), own, "{target}");
        }
    }

    #[test]
    fn a_session_is_found_by_its_cookie_and_ends_when_closed() {
        let inspector = Inspector::new(true);
        assert!(!inspector.any_open());
        let session = inspector
            .open(&request("POST /inspector HTTP/1.1\r\nHost: x\r\n\r\n"))
            .unwrap();
        assert_eq!(session.token.len(), 32);
        assert!(inspector.any_open());
        let with = format!(
            "GET /time HTTP/1.1\r\nHost: x\r\nCookie: a=1; {COOKIE}={}; b=2\r\n\r\n",
            session.token
        );
        let found = inspector.session_of(&request(&with)).unwrap();
        assert!(Arc::ptr_eq(&found, &session));
        let stranger = format!("GET / HTTP/1.1\r\nHost: x\r\nCookie: {COOKIE}=0123\r\n\r\n");
        assert!(inspector.session_of(&request(&stranger)).is_none());
        inspector.close(&request(&with));
        assert!(inspector.session_of(&request(&with)).is_none());
        assert!(!inspector.any_open(), "nothing open: back to one check");
    }

    #[test]
    fn a_session_ended_says_so_to_whoever_still_holds_it() {
        let inspector = Inspector::new(true);
        let session = inspector
            .open(&request("POST /inspector HTTP/1.1\r\nHost: x\r\n\r\n"))
            .unwrap();
        assert!(!session.has_ended());
        let with = format!(
            "DELETE /inspector HTTP/1.1\r\nHost: x\r\nCookie: {COOKIE}={}\r\n\r\n",
            session.token
        );
        inspector.close(&request(&with));
        assert!(session.has_ended(), "a tap holding it lets it go (tap.rs)");
    }

    #[test]
    fn sessions_are_capped_and_the_least_read_goes() {
        let inspector = Inspector::new(true);
        let plain = request("POST /inspector HTTP/1.1\r\nHost: x\r\n\r\n");
        let first = inspector.open(&plain).unwrap();
        for _ in 1..MAX_SESSIONS {
            std::thread::sleep(Duration::from_millis(1)); // distinct read times
            inspector.open(&plain).unwrap();
        }
        assert_eq!(inspector.open_sessions(), MAX_SESSIONS);
        inspector.open(&plain).unwrap();
        assert_eq!(inspector.open_sessions(), MAX_SESSIONS);
        let cookie = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nCookie: {COOKIE}={}\r\n\r\n",
            first.token
        );
        assert!(
            inspector.session_of(&request(&cookie)).is_none(),
            "the oldest went"
        );
    }

    #[test]
    fn an_entry_is_one_line_of_json() {
        let session = Inspector::new(true)
            .open(&request("POST /inspector HTTP/1.1\r\nHost: x\r\n\r\n"))
            .unwrap();
        session.note(7, Dir::Up, "opened", "open");
        let entry = &session.log.after(0)[0];
        assert!(
            entry
                .text
                .starts_with(r#"{"conn":7,"dir":">","kind":"note","at":"#),
            "{}",
            entry.text
        );
        assert!(
            entry
                .text
                .ends_with(r#","label":"open","arrow":false,"bytes":0,"text":"opened\n"}"#)
        );
    }
}
