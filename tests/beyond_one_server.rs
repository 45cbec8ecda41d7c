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
/// it accepted. Stopped by its process id when dropped, however the test ended.
struct Redis {
    process: Option<Child>,
    port: u16,
    dir: PathBuf,
}

impl Redis {
    /// Starts one for `test`; `None`, after a loud SKIPPED line, when there is no
    /// `redis-server` to start (a failure instead with `WEBWIRE_REQUIRE_SERVICES=1`).
    fn start_or_skip(test: &str) -> Option<Redis> {
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
        let process = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
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
            if answers_pong(self.port) {
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
        redis.write_all(&resp(command)).unwrap();
        read_resp_reply(&mut BufReader::new(redis))
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

/// Whether a Redis on `port` answers PING with PONG now. Not while it loads its file: then
/// it answers `-LOADING`.
fn answers_pong(port: u16) -> bool {
    let Ok(mut redis) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    redis.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut reply = [0; 7];
    redis.write_all(b"*1\r\n$4\r\nPING\r\n").is_ok()
        && redis.read_exact(&mut reply).is_ok()
        && &reply == b"+PONG\r\n"
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
}

impl Webwire {
    /// Starts one and waits until it listens (its room reached Redis first).
    fn start(room: &str) -> Webwire {
        Webwire::spawn(room).listening()
    }

    /// Starts one without waiting: a fake Redis must answer it before it listens.
    fn spawn(room: &str) -> Starting {
        let mut process = Command::new(env!("CARGO_BIN_EXE_webwire"))
            .args(["chat", "--port", "0", "--bind", "127.0.0.1", "--quiet"])
            .args(["--room", room])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start webwire");
        let stdout = BufReader::new(process.stdout.take().unwrap());
        Starting { process, stdout }
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
    /// Reads the start-up line, `webwire listening on http://127.0.0.1:PORT/ (…)`.
    fn listening(mut self) -> Webwire {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let port = line
            .strip_prefix("webwire listening on http://127.0.0.1:")
            .and_then(|rest| rest.split('/').next())
            .and_then(|port| port.parse().ok());
        let Some(port) = port else {
            let _ = self.process.kill();
            panic!("webwire did not start: {line:?}");
        };
        // Whatever else it prints must go somewhere, or a full pipe would stop it.
        let mut stdout = self.stdout;
        thread::spawn(move || io::copy(&mut stdout, &mut io::sink()));
        Webwire {
            process: self.process,
            address: SocketAddr::from(([127, 0, 0, 1], port)),
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

// ---- 2. one room, two processes ------------------------------------------------------------------

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

// ---- 3. any server, any time ---------------------------------------------------------------------

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

// ---- 4. Redis goes away and comes back -------------------------------------------------------------

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

// ---- 5. the gap signal, through Redis ------------------------------------------------------------

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

// ---- 7. the bytes on the wire --------------------------------------------------------------------

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
