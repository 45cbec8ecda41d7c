//! One chat room, several webwire processes: `--room redis://HOST:PORT` keeps the room in a
//! Redis stream they all share (docs/17-beyond-one-server.md). Each test starts a real
//! `redis-server` of its own, on a free port, in a fresh directory, and real webwire
//! processes (the binary, as a user starts it) pointed at it; then it talks to them over raw
//! TCP, as every other test here does, and checks what a user would see: ids, records, status
//! lines, byte for byte.
//!
//! Without `redis-server` on PATH the tests that need it say SKIPPED and pass, unless
//! `WEBWIRE_REQUIRE_SERVICES=1` (tests/run-all sets it), which makes them fail instead.
//!
//! Waiting is done on a signal, never a sleep: a long poll that answers once a server's copy
//! of the room holds an id, `/stats`, a PING answered. The deadlines only stop a broken
//! server from hanging the test.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod support;

use std::env;
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use support::ws::upgrade_request;
use support::{Client, Reply, head, ids, number, post_request};

/// The longest any one wait may take before the test gives up: far longer than anything
/// here needs, so only a broken server or Redis ever reaches it.
const PATIENCE: Duration = Duration::from_secs(30);

// ---- a redis-server of the test's own ------------------------------------------------------

/// A real `redis-server` on a free port, in a fresh directory. It writes every change to its
/// append-only file before answering (`appendfsync always`), so a restart keeps everything
/// it accepted; unless it was started `forgetful`, as a cache is run, when a restart starts
/// it empty. Stopped by its process id when dropped, however the test ended.
struct Redis {
    process: Option<Child>,
    port: u16,
    dir: PathBuf,
    keeps_data: bool,
    /// `--requirepass`: every connection must `AUTH` with it first.
    password: Option<&'static str>,
}

impl Redis {
    /// Starts one for `test`; `None`, after a loud SKIPPED line, when there is no
    /// `redis-server` to start (a failure instead with `WEBWIRE_REQUIRE_SERVICES=1`).
    fn start_or_skip(test: &str) -> Option<Redis> {
        Redis::start_or_skip_with(test, true, None)
    }

    /// `start_or_skip`, for a Redis that keeps nothing on disk (`--appendonly no --save ''`):
    /// stopped and started again, it is empty.
    fn start_forgetful_or_skip(test: &str) -> Option<Redis> {
        Redis::start_or_skip_with(test, false, None)
    }

    /// `start_or_skip`, for a Redis that answers only connections that `AUTH` with `password`.
    fn start_locked_or_skip(test: &str, password: &'static str) -> Option<Redis> {
        Redis::start_or_skip_with(test, true, Some(password))
    }

    fn start_or_skip_with(
        test: &str,
        keeps_data: bool,
        password: Option<&'static str>,
    ) -> Option<Redis> {
        if !on_path("redis-server") {
            let why = format!("{test}: no redis-server on PATH (Debian package redis-server)");
            let required = env::var("WEBWIRE_REQUIRE_SERVICES").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "{why}, and WEBWIRE_REQUIRE_SERVICES=1 requires it"
            );
            // Past the test harness's capture, which would hide it in a passing test.
            let _ = writeln!(io::stderr(), "SKIPPED {why}");
            return None;
        }
        let mut redis = Redis {
            process: None,
            port: 0,
            dir: fresh_dir(test),
            keeps_data,
            password,
        };
        // A free port can be taken by someone else before Redis binds it: then try another.
        for _ in 0..5 {
            redis.port = free_port();
            if redis.run() {
                return Some(redis);
            }
        }
        panic!("redis-server did not start; see {}", redis.log_path());
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn log_path(&self) -> String {
        self.dir.join("redis.log").display().to_string()
    }

    /// Starts redis-server on `self.port` and waits until it answers PING; false if it
    /// exited instead (the port was taken).
    fn run(&mut self) -> bool {
        let log = fs::File::options()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let persistence: &[&str] = if self.keeps_data {
            &["--appendonly", "yes", "--appendfsync", "always"]
        } else {
            &["--appendonly", "no"]
        };
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(persistence);
        if let Some(password) = self.password {
            command.args(["--requirepass", password]);
        }
        let process = command
            .arg("--dir")
            .arg(&self.dir)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start redis-server");
        let process = self.process.insert(process);
        let give_up = Instant::now() + PATIENCE;
        loop {
            if process.try_wait().unwrap().is_some() {
                self.process = None;
                return false;
            }
            if answers_pong(self.port, self.password) {
                // Ours, not another test's Redis that got the port first: ours names our dir.
                let dir = self.dir.file_name().unwrap().to_string_lossy().into_owned();
                return self.ask(&["CONFIG", "GET", "dir"]).contains(&dir);
            }
            assert!(Instant::now() < give_up, "redis-server never answered PING");
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Kills it (as a crash would: nothing is saved on the way out) and waits for it to end.
    fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }

    /// Starts it again on the same port, from the same directory.
    fn start_again(&mut self) {
        // A client of someone else's may hold the port for a moment: try again then.
        for _ in 0..20 {
            if self.run() {
                return;
            }
            thread::sleep(Duration::from_millis(100));
        }
        panic!("redis-server did not start again; see {}", self.log_path());
    }

    /// Sends one command by hand, as RESP, and answers the whole reply as text.
    fn ask(&self, command: &[&str]) -> String {
        let mut redis = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        redis.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut reader = BufReader::new(redis.try_clone().unwrap());
        if let Some(password) = self.password {
            redis.write_all(&resp(&["AUTH", password])).unwrap();
            assert_eq!(read_resp_reply(&mut reader), "+OK\r\n");
        }
        redis.write_all(&resp(command)).unwrap();
        read_resp_reply(&mut reader)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A command as Redis reads it: `*N`, then each argument as `$LEN` and its bytes.
fn resp(command: &[&str]) -> Vec<u8> {
    let mut bytes = format!("*{}\r\n", command.len()).into_bytes();
    for argument in command {
        bytes.extend(format!("${}\r\n{argument}\r\n", argument.len()).bytes());
    }
    bytes
}

/// One whole RESP2 reply, as text: a line, and what its `$` or `*` says follows it.
fn read_resp_reply(redis: &mut impl BufRead) -> String {
    let mut line = String::new();
    redis.read_line(&mut line).unwrap();
    let count: i64 = line[1..].trim_end().parse().unwrap_or(-1);
    match line.as_bytes()[0] {
        b'$' if count >= 0 => {
            let mut bulk = vec![0; count as usize + 2];
            redis.read_exact(&mut bulk).unwrap();
            line + &String::from_utf8_lossy(&bulk)
        }
        b'*' if count >= 0 => (0..count).fold(line, |text, _| text + &read_resp_reply(redis)),
        _ => line,
    }
}

/// Whether a Redis on `port` answers PING with PONG now (after `AUTH` with `password`, if it
/// wants one). Not while it loads its file: then it answers `-LOADING`.
fn answers_pong(port: u16, password: Option<&str>) -> bool {
    let Ok(mut redis) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    redis.set_read_timeout(Some(PATIENCE)).unwrap();
    let (mut ask, mut expected) = (Vec::new(), Vec::new());
    if let Some(password) = password {
        ask.extend(resp(&["AUTH", password]));
        expected.extend(b"+OK\r\n");
    }
    ask.extend(resp(&["PING"]));
    expected.extend(b"+PONG\r\n");
    let mut reply = vec![0; expected.len()];
    redis.write_all(&ask).is_ok() && redis.read_exact(&mut reply).is_ok() && reply == expected
}

fn on_path(program: &str) -> bool {
    env::var_os("PATH")
        .is_some_and(|path| env::split_paths(&path).any(|d| d.join(program).is_file()))
}

/// A port nobody listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An empty directory of this test's own under the system's temporary directory.
fn fresh_dir(test: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = env::temp_dir().join(format!("webwire-{test}-{}-{nanos}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    dir
}

// ---- webwire processes ---------------------------------------------------------------------

/// The webwire binary serving the chat demo on a free port with its room at `room`: a
/// process of its own, as in production. Killed by its process id when dropped.
struct Webwire {
    process: Child,
    address: SocketAddr,
    /// Everything it printed on stdout (its log, its trace), kept as it comes.
    output: Arc<Mutex<Vec<u8>>>,
}

impl Webwire {
    /// Starts one and waits until it listens (its room reached Redis first).
    fn start(room: &str) -> Webwire {
        Webwire::spawn(room).listening()
    }

    /// `start`, with `flags` instead of `--quiet`: `&[]` logs, `&["--trace"]` traces too.
    fn start_with(room: &str, flags: &[&str]) -> Webwire {
        Webwire::spawn_with(room, flags).listening()
    }

    /// Starts one without waiting: a fake Redis must answer it before it listens.
    fn spawn(room: &str) -> Starting {
        Webwire::spawn_with(room, &["--quiet"])
    }

    fn spawn_with(room: &str, flags: &[&str]) -> Starting {
        let mut process = Command::new(env!("CARGO_BIN_EXE_webwire"))
            .args(["chat", "--port", "0", "--bind", "127.0.0.1"])
            .args(flags)
            .args(["--room", room])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start webwire");
        let stdout = BufReader::new(process.stdout.take().unwrap());
        Starting { process, stdout }
    }

    /// What it has printed so far.
    fn output(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap()).into_owned()
    }

    /// Waits until it has printed `text`.
    fn wait_for_output(&self, text: &str) {
        wait_until(&format!("{text:?} in the output"), || {
            self.output().contains(text)
        });
    }

    fn client(&self) -> Client {
        Client::connect_to(self.address)
    }

    fn get(&self, target: &str) -> Reply {
        self.client()
            .exchange(format!("GET {target} HTTP/1.1\r\nHost: t\r\n\r\n"))
    }

    /// A number from `/stats`: `last_id` (the newest id this process's copy holds), or with
    /// a `transport` one of its counters.
    fn stat(&self, transport: Option<&str>, field: &str) -> u64 {
        let stats = self.get("/stats").text();
        let at = transport.map_or(0, |t| stats.find(&format!("\"name\":\"{t}\"")).unwrap());
        number(&stats[at..], field)
    }

    /// Waits until `/stats` counts `n` open connections on `transport`.
    fn wait_open(&self, transport: &str, n: u64) {
        wait_until(&format!("{n} open on {transport}"), || {
            self.stat(Some(transport), "open") == n
        });
    }

    /// Waits until this process's copy of the room holds message `id`: a long poll from
    /// just before it answers as soon as the copy has it.
    fn wait_until_holds(&self, id: u64) {
        let target = format!("/chat/longpoll?since={}", id - 1);
        wait_until(&format!("a copy holding {id}"), || {
            ids(&self.get(&target).text()).contains(&id)
        });
    }
}

impl Drop for Webwire {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// A webwire process that has not said where it listens yet.
struct Starting {
    process: Child,
    stdout: BufReader<ChildStdout>,
}

impl Starting {
    /// Reads up to the start-up line, `webwire listening on http://127.0.0.1:PORT/ (…)`.
    /// With `--trace` the room's first commands to Redis come before it.
    fn listening(mut self) -> Webwire {
        let mut before = Vec::new();
        let port = loop {
            let mut line = Vec::new();
            self.stdout.read_until(b'\n', &mut line).unwrap();
            if line.is_empty() {
                let _ = self.process.kill();
                panic!(
                    "webwire did not start: {}",
                    String::from_utf8_lossy(&before)
                );
            }
            let port = String::from_utf8_lossy(&line)
                .strip_prefix("webwire listening on http://127.0.0.1:")
                .and_then(|rest| rest.split('/').next())
                .and_then(|port| port.parse().ok());
            before.extend(line);
            if let Some(port) = port {
                break port;
            }
        };
        // Whatever else it prints is kept, and must be read anyway, or a full pipe would
        // stop it.
        let output = Arc::new(Mutex::new(before));
        let kept = Arc::clone(&output);
        let mut stdout = self.stdout;
        thread::spawn(move || {
            let mut bytes = [0; 16 * 1024];
            while let Ok(n @ 1..) = stdout.read(&mut bytes) {
                kept.lock().unwrap().extend_from_slice(&bytes[..n]);
            }
        });
        Webwire {
            process: self.process,
            address: SocketAddr::from(([127, 0, 0, 1], port)),
            output,
        }
    }
}

/// Polls `condition` until it holds.
fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let give_up = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < give_up, "waited in vain for {what}");
        thread::sleep(Duration::from_millis(10));
    }
}

// ---- sending, and what was sent --------------------------------------------------------------

/// `POST /chat/send` of the form `from=…&text=…`, as a request's bytes.
fn send_request(from: &str, text: &str) -> String {
    let form = "application/x-www-form-urlencoded";
    post_request("/chat/send", form, &format!("from={from}&text={text}"))
}

/// Sends on a connection of its own and answers the reply.
fn send(server: &Webwire, from: &str, text: &str) -> Reply {
    server.client().exchange(send_request(from, text))
}

/// Sends and answers the id the room gave the message.
fn say(server: &Webwire, from: &str, text: &str) -> u64 {
    let reply = send(server, from, text);
    assert_eq!(reply.status, 200, "{}", reply.text());
    number(&reply.text(), "id")
}

/// Every message the test has sent, in order: what every reader is compared with.
#[derive(Default)]
struct Sent {
    /// Id, sender and text.
    messages: Vec<(u64, String, String)>,
}

impl Sent {
    /// Sends `text` from `from` on `server` and checks it got the next id, whichever server
    /// sent the one before.
    fn say(&mut self, server: &Webwire, from: &str, text: &str) -> u64 {
        let id = say(server, from, text);
        assert_eq!(id, self.newest() + 1, "ids count up across servers");
        self.messages.push((id, from.to_string(), text.to_string()));
        id
    }

    /// `say`, as a client that honours `Retry-After` would: a `503` with it means nothing was
    /// published (a server whose last send went unanswered refuses sends for `REDIS_REST`),
    /// so the same message is sent again until it is taken.
    fn say_when_taken(&mut self, server: &Webwire, from: &str, text: &str) -> u64 {
        let mut reply = send(server, from, text);
        wait_until("the send is taken", || {
            if reply.status == 200 {
                return true;
            }
            assert_eq!(
                (reply.status, reply.header("retry-after")),
                (503, Some("1")),
                "{}",
                reply.text()
            );
            reply = send(server, from, text);
            false
        });
        let id = number(&reply.text(), "id");
        assert_eq!(id, self.newest() + 1, "ids count up across servers");
        self.messages.push((id, from.to_string(), text.to_string()));
        id
    }

    fn newest(&self) -> u64 {
        self.messages.last().map_or(0, |(id, _, _)| *id)
    }

    /// The records of the messages after `since` as every transport carries them, read from
    /// `server`'s `/chat/poll` once its copy holds them all, and checked against what was
    /// sent. Only the time is learnt from the poll: Redis's clock gave it.
    fn records_after(&self, server: &Webwire, since: u64) -> Vec<String> {
        server.wait_until_holds(self.newest());
        let polled = records_in(&server.get(&format!("/chat/poll?since={since}")).text());
        let sent: Vec<_> = self
            .messages
            .iter()
            .filter(|(id, ..)| *id > since)
            .collect();
        assert_eq!(polled.len(), sent.len(), "{polled:?}");
        for (record, (id, from, text)) in polled.iter().zip(sent) {
            let start = format!("{{\"id\":{id},\"from\":\"{from}\",\"text\":\"{text}\",\"ts\":");
            assert!(record.starts_with(&start), "{record} is not {start}…");
        }
        polled
    }
}

/// The message records in a text, in order: each is `{"id":…}` with no brace inside (the
/// texts these tests send have none).
fn records_in(text: &str) -> Vec<String> {
    text.match_indices("{\"id\":")
        .map(|(at, _)| {
            let end = at + text[at..].find('}').unwrap();
            text[at..=end].to_string()
        })
        .collect()
}

// ---- every transport, as a client that moves between servers ------------------------------------

const TRANSPORTS: [&str; 7] = ["poll", "longpoll", "stream", "iframe", "sse", "jsonp", "ws"];

/// What a client of `transport` reads for `records`, byte for byte (after the head, and
/// after what a stream sends first); a WebSocket's frames one a line.
fn as_sent(transport: &str, records: &[String]) -> String {
    let each = |framing: &dyn Fn(&String) -> String| records.iter().map(framing).collect();
    match transport {
        "poll" | "longpoll" => format!("[{}]", records.join(",")),
        "jsonp" => format!("/**/f([{}]);", records.join(",")),
        "stream" | "ws" => each(&|record| format!("{record}\n")),
        "iframe" => each(&|record| format!("<script>parent.chatRecord({record})</script>\n")),
        "sse" => each(&|record| format!("id: {}\ndata: {record}\n\n", ids(record)[0])),
        _ => unreachable!("{transport}"),
    }
}

/// One client of one transport, connected to one server from a cursor.
struct Reader {
    transport: &'static str,
    client: Client,
}

impl Reader {
    /// Connects as `transport` does to resume after `since`: a cursor in the URL, or for
    /// the event stream the `Last-Event-ID` header the browser sends when it reconnects.
    fn open(server: &Webwire, transport: &'static str, since: u64) -> Reader {
        let mut client = server.client();
        let get = |target: String, extra: &str| {
            format!("GET {target} HTTP/1.1\r\nHost: localhost:8088\r\n{extra}\r\n")
        };
        match transport {
            "poll" | "longpoll" => client.send(get(format!("/chat/{transport}?since={since}"), "")),
            "jsonp" => client.send(get(format!("/chat/jsonp?since={since}&cb=f"), "")),
            "stream" | "iframe" => {
                client.send(get(format!("/chat/{transport}?since={since}"), ""));
                assert_eq!(client.read_reply_to(true).status, 200);
            }
            "sse" => {
                client.send(get(
                    "/chat/events".into(),
                    &format!("Last-Event-ID: {since}\r\n"),
                ));
                assert_eq!(client.read_reply_to(true).status, 200);
                assert_eq!(client.read_chunk().unwrap(), b"retry: 2000\n\n");
            }
            "ws" => {
                let switched =
                    client.exchange(upgrade_request(&format!("/chat/ws?since={since}"), ""));
                assert_eq!(switched.status, 101, "{}", switched.head);
            }
            _ => unreachable!("{transport}"),
        }
        if transport == "iframe" {
            let start = "<!doctype html>\n<meta charset=\"utf-8\"><title>/chat/iframe</title>\n";
            assert_eq!(client.read_chunk().unwrap(), start.as_bytes());
        }
        Reader { transport, client }
    }

    /// What arrives, until it is as long as `expected`: the whole answer of a poll, or as
    /// many pieces of a stream (or frames of a socket) as that takes.
    fn read_as_long_as(&mut self, expected: &str) -> String {
        if matches!(self.transport, "poll" | "longpoll" | "jsonp") {
            return self.client.read_reply().text();
        }
        let mut got = String::new();
        while got.len() < expected.len() {
            if self.transport == "ws" {
                got += &(self.client.read_text() + "\n");
            } else {
                got += &String::from_utf8(self.client.read_chunk().expect("more")).unwrap();
            }
        }
        got
    }

    /// Reads and checks that exactly `records` come next.
    fn expect(&mut self, records: &[String]) {
        let expected = as_sent(self.transport, records);
        let got = self.read_as_long_as(&expected);
        assert_eq!(got, expected, "{}", self.transport);
    }
}

// ---- a slow link to one server ----------------------------------------------------------------

/// A TCP relay between one webwire process and Redis, standing in for a slow network: after
/// `hold`, what Redis sends to the process's follower (the connection whose first command
/// raises the counter, then `XREAD`s) waits in the relay until `pass`, or is thrown away by `cut`, which closes the
/// link. So the test decides when that process's copy of the room learns of a message.
struct Relay {
    port: u16,
    link: Arc<Link>,
}

#[derive(Default)]
struct Link {
    state: Mutex<LinkState>,
    changed: Condvar,
}

#[derive(Default)]
struct LinkState {
    holding: bool,
    /// How many times held bytes were thrown away.
    cuts: u64,
    closing: bool,
}

impl Link {
    fn state(&self) -> MutexGuard<'_, LinkState> {
        self.state.lock().unwrap()
    }

    fn change(&self, change: impl FnOnce(&mut LinkState)) {
        change(&mut self.state());
        self.changed.notify_all();
    }

    /// Waits while the link holds; true to pass the bytes on, false if they were cut.
    fn wait_to_pass(&self) -> bool {
        let mut state = self.state();
        let cuts = state.cuts;
        while state.holding && state.cuts == cuts {
            state = self.changed.wait(state).unwrap();
        }
        state.cuts == cuts
    }
}

impl Relay {
    fn start(redis_port: u16) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let link = Arc::new(Link::default());
        let shared = Arc::clone(&link);
        thread::spawn(move || {
            for webwire in listener.incoming() {
                if shared.state().closing {
                    return;
                }
                let link = Arc::clone(&shared);
                thread::spawn(move || relay_one(webwire.unwrap(), redis_port, &link));
            }
        });
        Relay { port, link }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn hold(&self) {
        self.link.change(|state| state.holding = true);
    }

    fn pass(&self) {
        self.link.change(|state| state.holding = false);
    }

    fn cut(&self) {
        self.link.change(|state| {
            state.holding = false;
            state.cuts += 1;
        });
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.link.change(|state| state.closing = true);
        self.cut();
        let _ = TcpStream::connect(("127.0.0.1", self.port)); // wakes the accepting thread
    }
}

/// Carries one connection both ways until either side closes it. A Redis that is down
/// closes it at once.
fn relay_one(webwire: TcpStream, redis_port: u16, link: &Link) {
    let Ok(redis) = TcpStream::connect(("127.0.0.1", redis_port)) else {
        return;
    };
    let is_follower = Arc::new(AtomicBool::new(false));
    let (mut from_webwire, mut to_redis) =
        (webwire.try_clone().unwrap(), redis.try_clone().unwrap());
    let follower = Arc::clone(&is_follower);
    thread::spawn(move || {
        let mut bytes = [0; 16 * 1024];
        let mut first = true;
        while let Ok(n @ 1..) = from_webwire.read(&mut bytes) {
            if first {
                // The follower's first command raises the counter (`EVAL` with one key);
                // a publisher's first is `GET` or `EVALSHA`.
                follower.store(
                    bytes[..n].starts_with(b"*5\r\n$4\r\nEVAL\r\n")
                        || bytes[..n].starts_with(b"*8\r\n$5\r\nXREAD"),
                    Ordering::SeqCst,
                );
                first = false;
            }
            if to_redis.write_all(&bytes[..n]).is_err() {
                break;
            }
        }
        let _ = to_redis.shutdown(Shutdown::Both);
        let _ = from_webwire.shutdown(Shutdown::Both);
    });
    let (mut from_redis, mut to_webwire) = (redis, webwire);
    let mut bytes = [0; 64 * 1024];
    while let Ok(n @ 1..) = from_redis.read(&mut bytes) {
        if is_follower.load(Ordering::SeqCst) && !link.wait_to_pass() {
            break;
        }
        if to_webwire.write_all(&bytes[..n]).is_err() {
            break;
        }
    }
    let _ = to_webwire.shutdown(Shutdown::Both);
    let _ = from_redis.shutdown(Shutdown::Both);
}

// ---- 1. no Redis, no start ---------------------------------------------------------------------

#[test]
fn a_room_whose_redis_cannot_be_reached_stops_the_binary_with_one_line() {
    // The line chapter 17 shows, for a Redis that is not running.
    let closed = free_port();
    let output = Command::new(env!("CARGO_BIN_EXE_webwire"))
        .args(["--port", "0", "--bind", "127.0.0.1"])
        .args(["--room", &format!("redis://127.0.0.1:{closed}")])
        .output()
        .expect("run webwire");
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "");
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!(
            "webwire: cannot reach the room's Redis at redis://127.0.0.1:{closed}: Connection \
             refused (os error 111) (start redis-server, or leave out --room)\n"
        )
    );
}

// ---- 2. one room, two processes -----------------------------------------------------------------

#[test]
fn two_servers_on_one_redis_number_messages_as_one_room() {
    let Some(redis) = Redis::start_or_skip("two_servers_on_one_redis_number_messages_as_one_room")
    else {
        return;
    };
    let (a, b) = (Webwire::start(&redis.url()), Webwire::start(&redis.url()));
    let mut sent = Sent::default();
    for (n, server) in (1..).zip([&a, &b, &a, &b]) {
        let text = format!("m{n}");
        assert_eq!(send(server, "ann", &text).text(), format!("{{\"id\":{n}}}"));
        sent.messages.push((n, "ann".into(), text));
    }
    // Each copy holds all four, checked against what was sent, with the same times: the
    // time is Redis's, one clock for every process.
    let on_a = sent.records_after(&a, 0);
    let on_b = sent.records_after(&b, 0);
    assert_eq!(on_a, on_b);
    assert_eq!(
        a.get("/chat/poll?since=0").body,
        b.get("/chat/poll?since=0").body
    );
}

// ---- 3. any server, any time --------------------------------------------------------------------

#[test]
fn a_client_may_resume_on_any_server_on_every_transport() {
    let Some(redis) = Redis::start_or_skip("a_client_may_resume_on_any_server_on_every_transport")
    else {
        return;
    };
    // B reaches Redis through a relay, so the test can make B's copy lag behind A's.
    let relay = Relay::start(redis.port);
    let (a, b) = (Webwire::start(&redis.url()), Webwire::start(&relay.url()));
    let mut sent = Sent::default();
    for transport in TRANSPORTS {
        let k = sent.newest();

        // The client reads some messages on A, then goes away.
        sent.say(&a, "ann", &format!("{transport}-1"));
        sent.say(&b, "bob", &format!("{transport}-2"));
        sent.say(&a, "ann", &format!("{transport}-3"));
        let first = sent.records_after(&a, k);
        Reader::open(&a, transport, k).expect(&first);

        // More are sent on both; the client comes back on B with its cursor and gets exactly
        // the rest: nothing lost, nothing twice, in order.
        sent.say(&b, "bob", &format!("{transport}-4"));
        sent.say(&a, "ann", &format!("{transport}-5"));
        sent.say(&b, "bob", &format!("{transport}-6"));
        let rest = sent.records_after(&b, k + 3);
        Reader::open(&b, transport, k + 3).expect(&rest);

        // Now the client reads a message on A and moves to B before B's copy has it. B must
        // not take the cursor for one from an earlier room (a gap, everything again): Redis
        // says the id is real, and the client simply waits for what comes next.
        relay.hold();
        sent.say(&a, "ann", &format!("{transport}-7"));
        let seventh = sent.records_after(&a, k + 6);
        Reader::open(&a, transport, k + 6).expect(&seventh);
        assert_eq!(b.stat(None, "last_id"), k + 6, "B's copy is behind");
        if matches!(transport, "poll" | "jsonp") {
            // These answer at once: with nothing after the cursor yet, that is nothing.
            Reader::open(&b, transport, k + 7).expect(&[]);
            relay.pass();
            sent.say(&b, "bob", &format!("{transport}-8"));
            let eighth = sent.records_after(&b, k + 7);
            Reader::open(&b, transport, k + 7).expect(&eighth);
        } else {
            b.wait_open(transport, 0); // the earlier reader has gone
            let mut reader = Reader::open(&b, transport, k + 7);
            b.wait_open(transport, 1);
            assert_eq!(
                b.stat(None, "last_id"),
                k + 6,
                "still behind while it waits"
            );
            relay.pass();
            sent.say(&b, "bob", &format!("{transport}-8"));
            reader.expect(&sent.records_after(&a, k + 7));
        }
    }
}

// ---- 4. Redis goes away and comes back ----------------------------------------------------------

#[test]
fn a_redis_restart_loses_no_accepted_message_and_delivers_none_twice() {
    let Some(mut redis) =
        Redis::start_or_skip("a_redis_restart_loses_no_accepted_message_and_delivers_none_twice")
    else {
        return;
    };
    let relay = Relay::start(redis.port);
    let (a, b) = (Webwire::start(&redis.url()), Webwire::start(&relay.url()));
    let mut sent = Sent::default();
    let mut events_on_b = Reader::open(&b, "sse", 0);
    let mut socket_on_a = Reader::open(&a, "ws", 0);
    sent.say(&a, "ann", "one");
    sent.say(&b, "bob", "two");
    let first_two = sent.records_after(&a, 0);
    events_on_b.expect(&first_two);
    socket_on_a.expect(&first_two);

    // Message 3 is accepted just before Redis stops, and B never hears of it: its link is
    // held, then cut when Redis is gone. (A's copy has it: A reads Redis directly.)
    relay.hold();
    sent.say(&a, "ann", "three");
    socket_on_a.expect(&sent.records_after(&a, 2));
    assert_eq!(b.stat(None, "last_id"), 2);
    redis.stop();
    relay.cut();

    // While Redis is down: a send is refused, with a reason and when to try again…
    let refused = send(&a, "ann", "lost");
    let reason = "the room's Redis cannot be reached: Connection refused (os error 111)";
    assert_eq!(refused.text(), format!("{reason}\n"));
    let length = refused.body.len().to_string();
    assert_eq!(
        refused.head_without_date(),
        head(
            "HTTP/1.1 503 Service Unavailable",
            &[
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Cache-Control", "no-store"),
                ("Vary", "Origin"),
                ("Retry-After", "1"),
                ("Content-Length", &length),
            ]
        )
    );
    // B reaches Redis through the relay, which accepts and then closes a connection it
    // cannot carry on, rather than refusing it. If the close comes before webwire has
    // written its command, nothing was sent: 503, try again. If it comes after, the command
    // was sent and never answered, and webwire cannot know whether Redis ran it: 504, and no
    // invitation to send it again. Which one happens is the kernel's timing; both are true.
    let refused = send(&b, "bob", "lost");
    match refused.status {
        503 => {
            assert_eq!(refused.header("retry-after"), Some("1"));
            assert!(
                refused
                    .text()
                    .starts_with("the room's Redis cannot be reached: "),
                "{}",
                refused.text()
            );
        }
        504 => {
            assert_eq!(refused.header("retry-after"), None);
            assert!(
                refused
                    .text()
                    .starts_with("the room's Redis took the message and did not answer (")
                    && refused
                        .text()
                        .ends_with("); it may still appear in the room\n"),
                "{}",
                refused.text()
            );
        }
        other => panic!("B's send while Redis is down: {other} {}", refused.text()),
    }
    assert_eq!(
        refused.text().lines().count(),
        1,
        "one line: {}",
        refused.text()
    );
    // …a socket's message gets an error record, and the socket stays open…
    socket_on_a.client.send_text("lost too");
    assert_eq!(
        socket_on_a.client.read_text(),
        format!("{{\"error\":\"{reason}\"}}")
    );
    // …and B's event stream stays open.
    assert_eq!(b.stat(Some("sse"), "open"), 1);

    // Redis is back, with everything it accepted: sends work again, and every subscriber
    // gets message 3 and the new ones, once each, on the connection it already had.
    redis.start_again();
    sent.say_when_taken(&b, "bob", "four");
    sent.say(&a, "ann", "five");
    let records = sent.records_after(&a, 0);
    assert_eq!(
        records,
        sent.records_after(&b, 0),
        "both copies hold 1 to 5"
    );
    events_on_b.expect(&records[2..]);
    socket_on_a.expect(&records[3..]);
    // Nothing twice: the next thing each of them gets is the next message.
    sent.say(&a, "ann", "six");
    let six = sent.records_after(&b, 5);
    events_on_b.expect(&six);
    socket_on_a.expect(&six);
}

// ---- 5. the gap signal, through Redis -----------------------------------------------------------

#[test]
fn a_reader_behind_the_shared_stream_gets_the_gap_signal() {
    let Some(redis) = Redis::start_or_skip("a_reader_behind_the_shared_stream_gets_the_gap_signal")
    else {
        return;
    };
    let (a, b) = (Webwire::start(&redis.url()), Webwire::start(&redis.url()));
    // 1003 messages on one keep-alive connection: Redis keeps the newest 1000, 4 to 1003.
    let mut client = a.client();
    for n in 1..=1003 {
        let reply = client.exchange(send_request("ann", &format!("m{n}")));
        assert_eq!(reply.text(), format!("{{\"id\":{n}}}"));
    }
    assert_eq!(redis.ask(&["XLEN", "webwire:chat"]), ":1000\r\n");
    b.wait_until_holds(1003);
    let gap = "{\"gap\":{\"after\":1,\"resume\":4}}";
    let poll = b.get("/chat/poll?since=1").text();
    assert!(
        poll.starts_with(&format!(
            "[{gap},{{\"id\":4,\"from\":\"ann\",\"text\":\"m4\","
        )),
        "{poll:.90}"
    );
    assert_eq!(
        ids(&poll),
        (4..=259).collect::<Vec<_>>(),
        "one batch of 256 from 4"
    );
    let mut events = Reader::open(&b, "sse", 1);
    let first = String::from_utf8(events.client.read_chunk().unwrap()).unwrap();
    assert!(
        first.starts_with(&format!("id: 3\nevent: gap\ndata: {gap}\n\nid: 4\n")),
        "{first:.90}"
    );
    // A process started now reads only what the stream still holds, and says the same.
    let c = Webwire::start(&redis.url());
    c.wait_until_holds(1003);
    assert_eq!(c.get("/chat/poll?since=1").text(), poll);
}

// ---- 6. ids never go back ----------------------------------------------------------------------

#[test]
fn ids_never_go_back_after_redis_loses_its_data() {
    let Some(redis) = Redis::start_or_skip("ids_never_go_back_after_redis_loses_its_data") else {
        return;
    };
    let (a, b) = (Webwire::start(&redis.url()), Webwire::start(&redis.url()));
    let mut sent = Sent::default();
    for text in ["one", "two", "three"] {
        sent.say(&a, "ann", text);
    }
    sent.records_after(&a, 0);
    sent.records_after(&b, 0);
    // Redis loses everything: the stream and its counter.
    assert_eq!(redis.ask(&["FLUSHALL"]), "+OK\r\n");
    // A process that has seen 3 does not give 1 again: 1 means "one" to every client.
    assert_eq!(send(&a, "ann", "four").text(), "{\"id\":4}");
    sent.messages.push((4, "ann".into(), "four".into()));
    assert_eq!(send(&b, "bob", "five").text(), "{\"id\":5}");
    sent.messages.push((5, "bob".into(), "five".into()));
    assert_eq!(sent.records_after(&a, 3), sent.records_after(&b, 3));
}

// ---- 7. the bytes on the wire -------------------------------------------------------------------

/// Accepts the next connection to a fake Redis.
fn accept(fake: &TcpListener) -> TcpStream {
    fake.set_nonblocking(true).unwrap();
    let give_up = Instant::now() + PATIENCE;
    loop {
        match fake.accept() {
            Ok((connection, _)) => {
                connection.set_nonblocking(false).unwrap();
                connection.set_read_timeout(Some(PATIENCE)).unwrap();
                return connection;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                assert!(Instant::now() < give_up, "webwire never connected");
                thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// Reads exactly as many bytes as `expected` and checks they are those.
fn expect_bytes(connection: &mut impl Read, expected: &[u8]) {
    let mut got = vec![0; expected.len()];
    connection.read_exact(&mut got).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(expected)
    );
}

#[test]
fn webwire_speaks_resp_exactly_as_redis_reads_it() {
    let fake = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://{}", fake.local_addr().unwrap());
    let starting = Webwire::spawn(&url);

    // Starting: one connection asks for the newest id ("none yet", nil)…
    let mut publisher = accept(&fake);
    expect_bytes(
        &mut publisher,
        b"*2\r\n$3\r\nGET\r\n$20\r\nwebwire:chat:last-id\r\n",
    );
    publisher.write_all(b"$-1\r\n").unwrap();
    let server = starting.listening();
    // …and the follower blocks in XREAD for what comes after 0.
    let xread = |after: &str| {
        format!(
            "*8\r\n$5\r\nXREAD\r\n$5\r\nBLOCK\r\n$4\r\n5000\r\n$5\r\nCOUNT\r\n$3\r\n256\r\n\
             $7\r\nSTREAMS\r\n$12\r\nwebwire:chat\r\n${}\r\n{after}\r\n",
            after.len()
        )
    };
    // The follower first raises the counter to the newest id this process knows of (0
    // here): a Redis that lost its data would otherwise number from 1 again. Then it blocks.
    let mut follower = BufReader::new(accept(&fake));
    expect_bytes(&mut follower, b"*5\r\n$4\r\nEVAL\r\n");
    let mut length = String::new();
    follower.read_line(&mut length).unwrap();
    let length: usize = length.trim_start_matches('$').trim_end().parse().unwrap();
    let mut raise = vec![0; length];
    follower.read_exact(&mut raise).unwrap();
    assert!(
        String::from_utf8(raise)
            .unwrap()
            .contains("redis.call('SET', KEYS[1], ARGV[1])"),
        "the raise script sets the counter"
    );
    expect_bytes(
        &mut follower,
        b"\r\n$1\r\n1\r\n$20\r\nwebwire:chat:last-id\r\n$1\r\n0\r\n",
    );
    follower.get_mut().write_all(b":0\r\n").unwrap();
    expect_bytes(&mut follower, xread("0-0").as_bytes());

    // A send: the script by its SHA-1 first, with the stream, the counter, "from\ntext", the
    // room's capacity and the newest id this process has seen.
    let mut sender = server.client();
    sender.send(send_request("ann", "hello"));
    let arguments = |floor: &str| {
        format!(
            "$1\r\n2\r\n$12\r\nwebwire:chat\r\n$20\r\nwebwire:chat:last-id\r\n\
             $9\r\nann\nhello\r\n$4\r\n1000\r\n$1\r\n{floor}\r\n"
        )
    };
    expect_bytes(&mut publisher, b"*8\r\n$7\r\nEVALSHA\r\n$40\r\n");
    let mut sha = [0; 40];
    publisher.read_exact(&mut sha).unwrap();
    let sha = String::from_utf8(sha.to_vec()).unwrap();
    assert!(
        sha.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{sha}"
    );
    expect_bytes(&mut publisher, format!("\r\n{}", arguments("0")).as_bytes());
    // A Redis that does not know the script (a fresh one, or one restarted) says so; the
    // script itself follows, and it is the one that SHA-1 names.
    publisher
        .write_all(b"-NOSCRIPT No matching script. Please use EVAL.\r\n")
        .unwrap();
    expect_bytes(&mut publisher, b"*8\r\n$4\r\nEVAL\r\n");
    let mut reader = BufReader::new(publisher.try_clone().unwrap());
    let mut length = String::new();
    reader.read_line(&mut length).unwrap();
    let length: usize = length
        .strip_prefix('$')
        .unwrap()
        .trim_end()
        .parse()
        .unwrap();
    let mut script = vec![0; length];
    reader.read_exact(&mut script).unwrap();
    assert_eq!(sha1_smol::Sha1::from(&script).digest().to_string(), sha);
    expect_bytes(&mut reader, format!("\r\n{}", arguments("0")).as_bytes());
    publisher.write_all(b":1\r\n").unwrap();
    assert_eq!(sender.read_reply().text(), "{\"id\":1}");

    // The follower hears of it as Redis would tell it, and the room shows it; then it asks
    // for what comes after 1.
    follower
        .get_mut()
        .write_all(
            b"*1\r\n*2\r\n$12\r\nwebwire:chat\r\n*1\r\n*2\r\n$3\r\n1-0\r\n\
              *4\r\n$4\r\ntext\r\n$9\r\nann\nhello\r\n$2\r\nts\r\n$13\r\n1795478399000\r\n",
        )
        .unwrap();
    assert_eq!(
        server.get("/chat/longpoll?since=0").text(),
        "[{\"id\":1,\"from\":\"ann\",\"text\":\"hello\",\"ts\":1795478399000}]"
    );
    expect_bytes(&mut follower, xread("1-0").as_bytes());

    // The next send names the script by its SHA-1 alone, and the floor is now 1. (Had it sent
    // EVAL again, nothing would answer it, and the send would fail.)
    sender.send(send_request("ann", "hello"));
    expect_bytes(
        &mut reader,
        format!("*8\r\n$7\r\nEVALSHA\r\n$40\r\n{sha}\r\n{}", arguments("1")).as_bytes(),
    );
    publisher.write_all(b":2\r\n").unwrap();
    assert_eq!(sender.read_reply().text(), "{\"id\":2}");
}

// ---- 8. a fake Redis that hangs, drips, or floods -----------------------------------------------

/// Reads one command as Redis does, `*N` and then N bulk strings: its arguments, as text.
fn read_command(connection: &mut impl BufRead) -> Vec<String> {
    let count = read_length(connection, '*');
    let mut arguments = Vec::new();
    for _ in 0..count {
        let length = read_length(connection, '$');
        let mut argument = vec![0; length + 2];
        connection.read_exact(&mut argument).unwrap();
        argument.truncate(length);
        arguments.push(String::from_utf8(argument).unwrap());
    }
    arguments
}

/// A line `*N` or `$N` of a command (by `prefix`): N.
fn read_length(connection: &mut impl BufRead, prefix: char) -> usize {
    let mut line = String::new();
    connection.read_line(&mut line).unwrap();
    line.strip_prefix(prefix)
        .and_then(|n| n.trim_end().parse().ok())
        .unwrap_or_else(|| panic!("not a command: {line:?}"))
}

/// A webwire process whose room is on a fake Redis the test plays by hand, started as far
/// as its follower waiting in `XREAD`: sends come on `publisher`, and `follower`'s `XREAD`
/// is not answered yet.
struct OnFake {
    fake: TcpListener,
    server: Webwire,
    publisher: BufReader<TcpStream>,
    follower: BufReader<TcpStream>,
}

impl OnFake {
    /// Starts webwire with `flags` on a fake Redis whose room is empty.
    fn start(flags: &[&str]) -> OnFake {
        let fake = TcpListener::bind("127.0.0.1:0").unwrap();
        let starting =
            Webwire::spawn_with(&format!("redis://{}", fake.local_addr().unwrap()), flags);
        let mut publisher = BufReader::new(accept(&fake));
        assert_eq!(
            read_command(&mut publisher),
            ["GET", "webwire:chat:last-id"]
        );
        publisher.get_mut().write_all(b"$-1\r\n").unwrap(); // no id given yet
        let server = starting.listening();
        let follower = accept_follower(&fake, "0-0");
        OnFake {
            fake,
            server,
            publisher,
            follower,
        }
    }

    fn url(&self) -> String {
        format!("redis://{}", self.fake.local_addr().unwrap())
    }
}

/// Accepts a follower's connection, answers its raise of the counter with `:0` (Redis had
/// lost nothing), and reads the `XREAD` for what comes after `after` that it then waits in.
fn accept_follower(fake: &TcpListener, after: &str) -> BufReader<TcpStream> {
    let mut follower = BufReader::new(accept(fake));
    let raise = read_command(&mut follower);
    assert_eq!(raise[0], "EVAL", "a follower first raises the counter");
    assert_eq!(raise[2..], ["1", "webwire:chat:last-id", "0"]);
    follower.get_mut().write_all(b":0\r\n").unwrap();
    assert_eq!(
        read_command(&mut follower),
        [
            "XREAD",
            "BLOCK",
            "5000",
            "COUNT",
            "256",
            "STREAMS",
            "webwire:chat",
            after
        ]
    );
    follower
}

#[test]
fn a_send_that_redis_takes_and_never_answers_is_504_and_the_next_is_refused_at_once() {
    let mut on = OnFake::start(&["--quiet"]);
    // The send reaches Redis whole, and nothing comes back, ever.
    let mut sender = on.server.client();
    sender.send(send_request("ann", "hello"));
    assert_eq!(read_command(&mut on.publisher)[0], "EVALSHA");
    let unanswered = sender.read_reply();
    // Redis may run it yet: the sender is told so, and not invited to send it again (no
    // Retry-After), which could show it twice. The reason in the brackets is the OS's.
    let reason = unanswered.text();
    assert!(
        reason.starts_with("the room's Redis took the message and did not answer (")
            && reason.ends_with("); it may still appear in the room\n")
            && reason.lines().count() == 1,
        "{reason}"
    );
    let length = unanswered.body.len().to_string();
    assert_eq!(
        unanswered.head_without_date(),
        head(
            "HTTP/1.1 504 Gateway Timeout",
            &[
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Cache-Control", "no-store"),
                ("Vary", "Origin"),
                ("Content-Length", &length),
            ]
        )
    );

    // The next send, right after, is refused at once (`REDIS_REST`) rather than waiting in
    // line for a Redis that just did not answer; this one was not published, so it may be
    // sent again.
    let refused = send(&on.server, "bob", "again");
    let reason = "the room's Redis did not answer a moment ago; try again shortly\n";
    assert_eq!(refused.text(), reason);
    assert_eq!(
        refused.head_without_date(),
        head(
            "HTTP/1.1 503 Service Unavailable",
            &[
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Cache-Control", "no-store"),
                ("Vary", "Origin"),
                ("Retry-After", "1"),
                ("Content-Length", &reason.len().to_string()),
            ]
        )
    );
    // Redis was not asked: webwire closed the unanswered connection (a late reply there
    // would be taken for the next command's) with nothing more on it…
    let mut more = Vec::new();
    on.publisher.read_to_end(&mut more).unwrap();
    assert_eq!(String::from_utf8_lossy(&more), "");
    // …and no new connection carries a send. (The follower may come back on one once its
    // own XREAD has waited in vain: that one starts by raising the counter.)
    on.fake.set_nonblocking(true).unwrap();
    while let Ok((connection, _)) = on.fake.accept() {
        connection.set_nonblocking(false).unwrap();
        connection.set_read_timeout(Some(PATIENCE)).unwrap();
        let command = read_command(&mut BufReader::new(connection));
        // A send is EVALSHA (or EVAL) of eight; the raise is EVAL of five, one key.
        assert_eq!(command[0], "EVAL");
        assert_eq!(command[2..], ["1", "webwire:chat:last-id", "0"]);
    }
}

#[test]
fn a_redis_that_drips_its_reply_cannot_hold_a_send() {
    let mut on = OnFake::start(&["--quiet"]);
    let mut sender = on.server.client();
    sender.send(send_request("ann", "hello"));
    assert_eq!(read_command(&mut on.publisher)[0], "EVALSHA");
    // The reply starts as a bulk string of 64 KiB, within every limit, and then comes a
    // byte every 300 ms: each read gets a byte long before any timeout of one read, and the
    // whole would take five and a half hours. It drips until webwire hangs up.
    let mut redis = on.publisher.into_inner();
    let dripping = thread::spawn(move || {
        let give_up = Instant::now() + PATIENCE;
        let mut drip = b"$65536\r\n".as_slice();
        while Instant::now() < give_up {
            if redis.write_all(drip).is_err() {
                return true;
            }
            drip = b"x";
            thread::sleep(Duration::from_millis(300));
        }
        false
    });
    // Answered at all, within the client's read timeout: one deadline for the whole reply.
    assert_eq!(sender.read_reply().status, 504);
    assert!(
        dripping.join().unwrap(),
        "webwire hung up on the dripping Redis"
    );
}

#[test]
fn a_reply_too_large_is_refused_as_it_comes_and_the_process_serves_on() {
    let on = OnFake::start(&[]); // with its log: the follower says why it let go
    let pid = on.server.process.id();
    let before = memory_kb(pid, "VmRSS");
    // The follower's XREAD is answered with arrays of arrays, each within MAX_ARRAY_ITEMS
    // and MAX_DEPTH, each string within MAX_BULK_BYTES: 1024 × 1024 × 8 strings, 63 MiB on
    // the wire, several hundred MiB as values had webwire kept them all. Only the whole
    // reply's bound (MAX_REPLY_BYTES, 2 MiB) stops it.
    let mut follower = on.follower.get_ref().try_clone().unwrap();
    follower.set_write_timeout(Some(PATIENCE)).unwrap();
    let group = "*8\r\n".to_string() + &"$1\r\nx\r\n".repeat(8);
    let entry = "*1024\r\n".to_string() + &group.repeat(1024);
    let mut hung_up = follower
        .write_all(b"*1\r\n*2\r\n$12\r\nwebwire:chat\r\n*1024\r\n")
        .is_err();
    for _ in 0..1024 {
        hung_up = hung_up || follower.write_all(entry.as_bytes()).is_err();
    }
    assert!(hung_up, "webwire read all 63 MiB");
    // It let go early, and the reply cost little memory at its worst (VmHWM, the peak).
    let peak = memory_kb(pid, "VmHWM");
    assert!(
        peak < 200 * 1024,
        "webwire peaked at {peak} kB (it started at {before} kB)"
    );
    // The follower treats it as Redis lost: it says so, and comes back on a new connection
    // for what comes after the last entry it read (none).
    on.server.wait_for_output(&format!(
        "room: lost Redis at {} (no reply: not a Redis reply: a reply larger than \
         MAX_REPLY_BYTES); trying again, up to every 2 s\n",
        on.url()
    ));
    let _follower = accept_follower(&on.fake, "0-0");
    // And serving goes on.
    let poll = on.server.get("/chat/poll?since=0");
    assert_eq!((poll.status, poll.text()), (200, "[]".to_string()));
}

/// A figure in kB from `/proc/PID/status`: `VmRSS` (memory in use now) or `VmHWM` (the most
/// it ever used).
fn memory_kb(pid: u32, field: &str) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().strip_suffix(" kB")?.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in {status}"))
}

// ---- 9. entries webwire did not write -----------------------------------------------------------

/// How many `XREAD`s Redis has run, from `INFO commandstats`.
fn xread_calls(redis: &Redis) -> u64 {
    let stats = redis.ask(&["INFO", "commandstats"]);
    stats
        .lines()
        .find_map(|line| line.strip_prefix("cmdstat_xread:calls="))
        .map_or(0, |rest| rest.split(',').next().unwrap().parse().unwrap())
}

/// How many clients wait in `XREAD` now (`CLIENT LIST`: `flags=b`, `cmd=xread`). A follower
/// that asks again as soon as it is answered, because it keeps asking for entries it has
/// read already, is never seen waiting.
fn clients_waiting_in_xread(redis: &Redis) -> usize {
    redis
        .ask(&["CLIENT", "LIST"])
        .lines()
        .filter(|client| {
            let field = |name: &str| {
                client
                    .split(' ')
                    .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
            };
            field("flags").is_some_and(|flags| flags.contains('b')) && field("cmd") == Some("xread")
        })
        .count()
}

#[test]
fn entries_webwire_did_not_write_are_read_past_once() {
    let Some(redis) = Redis::start_or_skip("entries_webwire_did_not_write_are_read_past_once")
    else {
        return;
    };
    let (a, b) = (Webwire::start(&redis.url()), Webwire::start(&redis.url()));
    let mut sent = Sent::default();
    let mut events_on_a = Reader::open(&a, "sse", 0);
    let mut socket_on_b = Reader::open(&b, "ws", 0);
    sent.say(&a, "ann", "one");
    let one = sent.records_after(&a, 0);
    events_on_a.expect(&one);
    socket_on_b.expect(&one);
    wait_until("both followers waiting", || {
        clients_waiting_in_xread(&redis) == 2
    });
    let xreads_before = xread_calls(&redis);

    // Someone else writes to the stream after message 1: an entry whose id webwire never
    // gives (1-1), and one with no text. (Both below 2-0, where webwire numbers next; one
    // above it is `an_entry_above_the_counter_moves_the_next_id_past_it`.)
    let added = redis.ask(&["XADD", "webwire:chat", "1-1", "text", "stranger"]);
    assert_eq!(added, "$3\r\n1-1\r\n");
    let added = redis.ask(&["XADD", "webwire:chat", "1-2", "from", "mallory"]);
    assert_eq!(added, "$3\r\n1-2\r\n");
    // Each follower reads past them and waits again: by the time Redis has answered the
    // XADD, it has answered the waiting XREADs, so both waiting now means both asked again,
    // for what comes after the strangers. Nothing is sent meanwhile, and Redis ran a few
    // XREADs, not thousands.
    wait_until("both followers waiting again", || {
        clients_waiting_in_xread(&redis) == 2
    });
    let xreads = xread_calls(&redis) - xreads_before;
    assert!(xreads < 50, "{xreads} XREADs for two strange entries");

    // Messages sent afterwards reach readers on both processes, and the strangers none.
    sent.say(&b, "bob", "two");
    sent.say(&a, "ann", "three");
    let two_and_three = sent.records_after(&a, 1);
    assert_eq!(sent.records_after(&b, 1), two_and_three);
    events_on_a.expect(&two_and_three);
    socket_on_b.expect(&two_and_three);
}

/// An entry someone else put above where webwire numbers next (2-1, after message 1): the
/// next message goes past it (3), instead of every send being refused because `XADD 2-0`
/// is below the stream's top.
#[test]
fn an_entry_above_the_counter_moves_the_next_id_past_it() {
    let Some(redis) = Redis::start_or_skip("an_entry_above_the_counter_moves_the_next_id_past_it")
    else {
        return;
    };
    let a = Webwire::start(&redis.url());
    assert_eq!(say(&a, "ann", "one"), 1);
    let added = redis.ask(&["XADD", "webwire:chat", "2-1", "text", "stranger"]);
    assert_eq!(added, "$3\r\n2-1\r\n");
    assert_eq!(say(&a, "ann", "three"), 3);
    a.wait_until_holds(3);
    let records = records_in(&a.get("/chat/poll?since=1").text());
    assert_eq!(records.len(), 1, "{records:?}");
    assert!(
        records[0].starts_with("{\"id\":3,\"from\":\"ann\",\"text\":\"three\""),
        "{records:?}"
    );
}

// ---- 10. a Redis that comes back empty ----------------------------------------------------------

#[test]
fn a_redis_restarted_without_its_data_does_not_number_from_one_again() {
    let Some(mut redis) = Redis::start_forgetful_or_skip(
        "a_redis_restarted_without_its_data_does_not_number_from_one_again",
    ) else {
        return;
    };
    // With their logs: the follower that finds the counter lost says so.
    let (a, b) = (
        Webwire::start_with(&redis.url(), &[]),
        Webwire::start_with(&redis.url(), &[]),
    );
    let mut sent = Sent::default();
    sent.say(&a, "ann", "one");
    sent.say(&b, "bob", "two");
    sent.say(&a, "ann", "three");
    sent.records_after(&a, 0);
    sent.records_after(&b, 0);

    // Redis restarts with nothing: no stream, no counter.
    redis.stop();
    redis.start_again();
    assert_eq!(redis.ask(&["XLEN", "webwire:chat"]), ":0\r\n");
    // Each follower, back on it, raises the counter to the newest id its process knows: 3.
    wait_until("the counter raised again", || {
        redis.ask(&["GET", "webwire:chat:last-id"]) == "$1\r\n3\r\n"
    });
    // The first one to do it found it lost, and says so (the other finds it raised already).
    let line = format!(
        "room: Redis at {} had lost ids up to 3; numbering goes on after it\n",
        redis.url()
    );
    wait_until("a log saying ids were lost", || {
        a.output().contains(&line) || b.output().contains(&line)
    });

    // So even a process that never saw 1 to 3 numbers on from 4: 1 means "one" to every
    // client that read it.
    let c = Webwire::start(&redis.url());
    sent.say(&c, "cat", "four");
    sent.say(&b, "bob", "five");
    sent.say(&a, "ann", "six");
    let four_to_six = sent.records_after(&c, 3);
    assert_eq!(sent.records_after(&a, 3), four_to_six);
    assert_eq!(sent.records_after(&b, 3), four_to_six);
}

// ---- 11. --trace, and a password ----------------------------------------------------------------

#[test]
fn the_trace_shows_auth_without_the_password() {
    let Some(redis) =
        Redis::start_locked_or_skip("the_trace_shows_auth_without_the_password", "s3cret")
    else {
        return;
    };
    let url = format!("redis://:s3cret@127.0.0.1:{}", redis.port);
    let server = Webwire::start_with(&url, &["--trace"]);
    assert_eq!(say(&server, "ann", "hello"), 1, "it logged in");
    // Connection 1 publishes, 2 follows. The trace is written in order, so once the reply to
    // the send and the follower's login are in it, so is everything before them.
    server.wait_for_output("redis#1 < :1\\r\\n\n");
    server.wait_for_output("redis#2 < +OK\\r\\n\n");
    let output = server.output();
    for connection in [1, 2] {
        let login = format!(
            "redis#{connection} > *N\\r\\n\nredis#{connection} > $4\\r\\n\n\
             redis#{connection} > AUTH\\r\\n\n\
             redis#{connection} > *** (the login, not shown)\\r\\n\n"
        );
        assert!(output.contains(&login), "no {login:?} in {output}");
    }
    assert!(!output.contains("s3cret"), "{output}");
}
