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
    let mut server = Command::new(env!("CARGO_BIN_EXE_webwire"))
        .args(args)
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
