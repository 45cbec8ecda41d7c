//! The command line as a user types it: the real binary, its output and exit codes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};

fn webwire(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_webwire"))
        .args(args)
        .output()
        .expect("run webwire");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Starts the real binary with `args`, its stdout a pipe; reads the first line
/// (`webwire listening on http://HOST:PORT/ (…)`) and returns the process, the rest of its
/// output, that line and the port.
fn start_listening(args: &[&str]) -> (Child, BufReader<ChildStdout>, String, u16) {
    start_listening_with(args, Stdio::inherit())
}

/// `start_listening`, with `stdin` as the server's standard input.
fn start_listening_with(
    args: &[&str],
    stdin: Stdio,
) -> (Child, BufReader<ChildStdout>, String, u16) {
    let mut server = Command::new(env!("CARGO_BIN_EXE_webwire"))
        .args(args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start webwire");
    let mut out = BufReader::new(server.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let port: u16 = line
        .split_once("http://")
        .and_then(|(_, rest)| rest.split('/').next())
        .and_then(|host_port| host_port.rsplit_once(':'))
        .and_then(|(_, port)| port.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    (server, out, line, port)
}

#[test]
fn help_and_list_exit_zero() {
    let (code, out, _) = webwire(&["--help"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("webwire — "), "{out}");
    assert!(out.contains("--max-conns N"));
    // Every short form the parser takes is listed, and does the same as the long one.
    assert!(
        out.contains("--quiet, -q") && out.contains("--help, -h"),
        "{out}"
    );
    assert_eq!(webwire(&["-h"]).1, out);
    let (code, out, _) = webwire(&["--list"]);
    assert_eq!(code, 0);
    for demo in webwire::demos::ALL {
        assert!(out.contains(demo.name), "--list names {}", demo.name);
    }
}

#[test]
fn mistakes_exit_non_zero_with_one_line() {
    let (code, _, err) = webwire(&["--port", "x"]);
    assert_eq!(
        (code, err.as_str()),
        (
            2,
            "webwire: --port x: not a port number (0 to 65535) (see --help)\n"
        )
    );
    let (code, _, err) = webwire(&["no-such-demo", "--port", "0"]);
    assert_eq!(code, 2, "a usage mistake, like a wrong option");
    assert!(
        err.starts_with("webwire: no demo is called \"no-such-demo\""),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1);
}

#[test]
fn it_says_where_it_listens_then_a_taken_port_is_refused() {
    let (mut first, mut out, line, port) =
        start_listening(&["--port", "0", "--quiet", "--max-conns", "100"]);
    assert!(
        line.starts_with("webwire listening on http://localhost:"),
        "{line}"
    );
    // The second line says the limits in force and where they came from.
    let mut limits = String::new();
    out.read_line(&mut limits).unwrap();
    assert!(
        limits.starts_with("limits: 100 connections (--max-conns), 88 of them held; open files: "),
        "{limits}"
    );
    assert!(line.ends_with("; --help for options)\n"), "{line}");

    let (code, _, err) = webwire(&["--port", &port.to_string()]);
    let _ = first.kill();
    let _ = first.wait();
    assert_eq!(code, 1);
    assert_eq!(
        err,
        format!(
            "webwire: 127.0.0.1:{port} is already in use (another webwire?); pick another port with --port N\n"
        )
    );
}

#[test]
fn a_log_nobody_reads_never_stops_the_server() {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    // stdout is a pipe that this test does not read until the end: a paused terminal.
    let (mut server, mut out, _, port) = start_listening(&["--port", "0"]);
    // Each request logs a line of about 7 KB: 400 of them are far more than the pipe and
    // the log's queue hold. Every one is still answered.
    let target = format!("/{}", "x".repeat(7000));
    let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    client
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(client.try_clone().unwrap());
    for i in 0..400 {
        let request = format!("GET {target} HTTP/1.1\r\nHost: t\r\n\r\n");
        client.write_all(request.as_bytes()).unwrap();
        let mut status = String::new();
        reader
            .read_line(&mut status)
            .unwrap_or_else(|e| panic!("request {i} was never answered: {e}"));
        assert_eq!(status, "HTTP/1.1 404 Not Found\r\n");
        let mut length = 0;
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).unwrap();
            if let Some(value) = header.strip_prefix("Content-Length: ") {
                length = value.trim().parse().unwrap();
            }
            if header == "\r\n" {
                break;
            }
        }
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body).unwrap();
    }
    // A fresh client is served at once.
    let mut fresh = TcpStream::connect(("127.0.0.1", port)).unwrap();
    fresh
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    fresh
        .write_all(b"GET /time HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    fresh.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    // Now read the log: what could not wait was dropped, and the log says how much.
    drop((client, reader));
    let mut log = String::new();
    let mut seen_notice = false;
    while !seen_notice {
        log.clear();
        if out.read_line(&mut log).unwrap() == 0 {
            break;
        }
        seen_notice = log.starts_with("… ") && log.contains(" log lines dropped");
    }
    let _ = server.kill();
    let _ = server.wait();
    assert!(seen_notice, "the log says lines were dropped");
}

#[test]
fn control_characters_a_client_sends_are_escaped_in_the_log() {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    let (mut server, mut out, mut line, port) =
        start_listening(&["--port", "0", "--bind", "127.0.0.1"]);
    // An Origin holding a C1 control, U+009B (CSI): in a terminal, "ESC [" — it could clear
    // the screen. The CORS demo logs the Origin it was sent.
    let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    client
        .write_all("GET /cors HTTP/1.1\r\nHost: t\r\nOrigin: http://a\u{9b}2J.test\r\nConnection: close\r\n\r\n".as_bytes())
        .unwrap();
    let mut reply = Vec::new();
    client.read_to_end(&mut reply).unwrap();
    let logged = loop {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "the log ended");
        if line.starts_with("cors:") {
            break line.clone();
        }
    };
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        logged.contains("Origin: http://a\\u{9b}2J.test"),
        "{logged}"
    );
    assert!(
        !logged.chars().any(|c| c.is_control() && c != '\n'),
        "{logged:?}"
    );
}

/// Sends `GET /time` to `port` and returns the status line.
fn status_of_time(port: u16) -> String {
    use std::io::{Read, Write};
    let mut client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    client
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    client
        .write_all(b"GET /time HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    client.read_to_string(&mut answer).unwrap();
    answer.lines().next().unwrap_or("").to_string()
}

#[test]
fn it_serves_on_a_listening_socket_given_as_standard_input() {
    use std::os::fd::OwnedFd;
    // The socket a parent (systemd, a script) created and bound; std's own is enough here.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (mut server, mut out, line, said_port) = start_listening_with(
        &["--listen-on-stdin", "--quiet"],
        Stdio::from(OwnedFd::from(listener)),
    );
    let mut limits = String::new();
    out.read_line(&mut limits).unwrap();
    let status = status_of_time(port);
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        line.starts_with(&format!("webwire listening on http://127.0.0.1:{port}/ ")),
        "{line}"
    );
    assert_eq!(said_port, port);
    assert!(
        limits.ends_with("; accept queue: as the socket's owner set it\n"),
        "{limits}"
    );
    assert_eq!(status, "HTTP/1.1 200 OK");
}

#[test]
fn the_start_up_line_names_the_accept_queue_std_gives() {
    let (mut server, mut out, _, _) = start_listening(&["--port", "0", "--quiet"]);
    let mut limits = String::new();
    out.read_line(&mut limits).unwrap();
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        limits.ends_with("; accept queue: 128 (std's bind; --listen-on-stdin for a longer one)\n"),
        "{limits}"
    );
}

#[test]
fn listen_on_stdin_refuses_what_is_not_a_listening_socket() {
    use std::os::fd::OwnedFd;
    let run = |stdin: Stdio| {
        let output = Command::new(env!("CARGO_BIN_EXE_webwire"))
            .arg("--listen-on-stdin")
            .stdin(stdin)
            .output()
            .expect("run webwire");
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let needs = "webwire: --listen-on-stdin needs a listening TCP socket as standard input, but";
    assert_eq!(
        run(Stdio::null()),
        (1, format!("{needs} it is /dev/null, not a socket\n"))
    );
    // One connection, as inetd's "nowait" mode would pass: not something to accept on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    assert_eq!(
        run(Stdio::from(OwnedFd::from(client))),
        (
            1,
            format!(
                "{needs} it is a connected TCP socket, not a listening one (inetd's \"nowait\" \
                 mode passes one connection; webwire needs the listening socket)\n"
            )
        )
    );
    // The socket is already bound: an address on the command line could not be honoured.
    let (code, _, err) = webwire(&["--listen-on-stdin", "--port", "8089"]);
    assert_eq!(
        (code, err.as_str()),
        (
            2,
            "webwire: --port and --listen-on-stdin: the socket on standard input is already \
             bound; drop --port (see --help)\n"
        )
    );
}

/// The recipe docs/15-scale.md gives: systemd's socket activator binds with the system's
/// longest accept queue and starts webwire on the first connection, the socket moved from
/// fd 3 (systemd's convention) to standard input.
#[test]
fn systemd_socket_activate_hands_webwire_its_socket() {
    let Ok(found) = Command::new("systemd-socket-activate")
        .arg("--version")
        .output()
    else {
        eprintln!(
            "SKIPPED systemd_socket_activate_hands_webwire_its_socket: no systemd-socket-activate \
             on PATH (Debian package systemd)"
        );
        return;
    };
    assert!(found.status.success());
    // A port that was free a moment ago: the activator takes no port 0 it would report.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // --quiet: the first connection is already waiting when webwire starts, and its log line
    // could come before the start-up line.
    let script = format!(
        "exec '{}' --listen-on-stdin --quiet <&3 3<&-",
        env!("CARGO_BIN_EXE_webwire")
    );
    let mut activator = Command::new("systemd-socket-activate")
        .args(["-l", &format!("127.0.0.1:{port}"), "sh", "-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // It says so on stderr once its socket listens.
    let mut said = BufReader::new(activator.stderr.take().unwrap());
    let mut line = String::new();
    said.read_line(&mut line).unwrap();
    assert_eq!(line, format!("Listening on 127.0.0.1:{port} as 3.\n"));
    // The first connection starts webwire, which answers it.
    let status = status_of_time(port);
    let mut out = BufReader::new(activator.stdout.take().unwrap());
    let mut started = String::new();
    out.read_line(&mut started).unwrap();
    let _ = activator.kill();
    let _ = activator.wait();
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(
        started.starts_with(&format!("webwire listening on http://127.0.0.1:{port}/ ")),
        "{started}"
    );
}

/// `--help` lists the fault flags; a typo in one is caught before the server starts, and the
/// message names every fault there is.
#[test]
fn fault_flags_are_in_the_help_and_mistakes_in_them_exit_2() {
    let (code, _, err) = webwire(&["--faults", "bufer"]);
    assert_eq!(
        (code, err.as_str()),
        (
            2,
            "webwire: --faults: no fault is called \"bufer\"; the faults are buffer, \
             strip-upgrade, stall-sockets, idle-cut, hold-cap, latency, bandwidth, drop (see --help)\n"
        )
    );
    let (code, _, err) = webwire(&["--fault-control", "maybe"]);
    assert_eq!(
        (code, err.as_str()),
        (2, "webwire: --fault-control needs on or off (see --help)\n")
    );
    let (code, out, _) = webwire(&["--help"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("\n    --faults SPEC    play network faults on every demo endpoint"),
        "{out}"
    );
    assert!(out.contains("\n    --fault-control on|off\n"), "{out}");
}

/// `--faults idle-cut=200ms`: nginx's `proxy_read_timeout`, shortened. A held long poll sends
/// nothing either way, so the relay closes it without a word, and the log says which fault
/// did it.
#[test]
fn faults_from_the_command_line_cut_a_held_request_and_the_log_says_so() {
    use std::io::{Read, Write};
    use std::sync::mpsc;
    use std::time::Duration;
    let (mut server, out, _, port) = start_listening(&[
        "--port",
        "0",
        "--bind",
        "127.0.0.1",
        "--faults",
        "idle-cut=200ms",
    ]);
    // The log is read on a thread, so that a line that never comes fails the test instead
    // of hanging it.
    let (lines_to, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            if lines_to.send(line).is_err() {
                break;
            }
        }
    });
    let mut client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    client
        .write_all(b"GET /chat/longpoll?since=0 HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let closed = client.read_to_end(&mut answer);
    let wanted = " fault idle-cut: no byte either way for 200ms: closed without a word";
    let mut seen = Vec::new();
    while !seen
        .last()
        .is_some_and(|line: &String| line.ends_with(wanted))
    {
        match lines.recv_timeout(Duration::from_secs(10)) {
            Ok(line) => seen.push(line),
            Err(_) => break,
        }
    }
    let _ = server.kill();
    let _ = server.wait();
    assert!(closed.is_ok(), "a close, not a timeout: {closed:?}");
    assert_eq!(
        String::from_utf8_lossy(&answer),
        "",
        "no answer, no bytes: the connection just ends"
    );
    let said = seen.last().cloned().unwrap_or_default();
    assert!(
        said.starts_with('#') && said.ends_with(wanted),
        "the log: {seen:#?}"
    );
    assert!(
        seen.iter()
            .any(|line| line.ends_with(" faults on this connection: idle-cut=200ms")),
        "the log: {seen:#?}"
    );
    // The start-up lines say so at once, under the limits: a server that misbehaves on
    // purpose must never be mistaken for a broken one.
    assert!(seen[0].starts_with("limits: "), "the log: {seen:#?}");
    assert_eq!(
        seen[1], "faults on for every demo endpoint: idle-cut=200ms (--faults)",
        "the log: {seen:#?}"
    );
}

#[test]
fn check_grades_a_server_and_its_exit_status_says_whether_every_rule_passed() {
    // Its own usage: the help lists every technique, --rules every rule, mistakes exit 2.
    let (code, out, _) = webwire(&["check", "--help"]);
    assert_eq!(code, 0);
    for technique in webwire::check::TECHNIQUES {
        assert!(out.contains(technique.name), "{out}");
    }
    let (code, out, _) = webwire(&["check", "--rules"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("ajax.echo\t"), "{out}");
    assert!(out.contains("\npolling.answers\t"), "{out}");
    for (args, says) in [
        (&["check"][..], "check needs a technique and a URL"),
        (
            &["check", "nope", "http://localhost:1/"],
            "no technique named nope",
        ),
        (
            &["check", "sse", "https://localhost:1/evt"],
            "TLS is out of scope",
        ),
        (
            &["check", "sse", "http://localhost/", "--bogus"],
            "unknown option --bogus",
        ),
    ] {
        let (code, out, err) = webwire(args);
        assert_eq!((code, out.as_str()), (2, ""), "{args:?}");
        assert!(
            err.starts_with("webwire: ") && err.contains(says),
            "{args:?}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }

    // A server that follows the chapter: every line passes, and the exit status is 0.
    let (mut server, _out, _line, port) = start_listening(&["polling", "--port", "0", "--quiet"]);
    let url = format!("http://127.0.0.1:{port}/time");
    let (code, out, _) = webwire(&["check", "polling", &url]);
    assert_eq!(code, 0, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        format!("webwire check polling {url} (rules from docs/03-polling.md)")
    );
    let rules = &lines[1..lines.len() - 1];
    assert!(
        rules.iter().all(|l| l.starts_with("pass polling.")),
        "{out}"
    );
    let n = rules.len();
    assert_eq!(
        lines[lines.len() - 1],
        format!("{n} passed, 0 failed, 0 skipped of {n}")
    );
    let (code, json, _) = webwire(&["check", "polling", &url, "--json"]);
    assert_eq!(code, 0);
    webwire::json::validate(json.trim_end()).unwrap();
    assert!(json.contains("\"failed\":0,\"skipped\":0"), "{json}");
    let _ = server.kill();
    let _ = server.wait();

    // Nobody there: the first rule fails with the reason, the rest are skipped, exit 1.
    let (code, out, _) = webwire(&["check", "polling", &url]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAIL polling.answers:"), "{out}");
    assert!(out.contains("cannot connect to"), "{out}");
    assert!(out.contains("skip polling.no-store:"), "{out}");
}
