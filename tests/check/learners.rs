//! Servers written by readers from a chapter alone, in another language, graded by the
//! project itself: issue 18's promise that a learner who reads only the chapter needs no
//! guess. Each reader was given the chapter (and chapter 00 and the reference's rule list),
//! no source code, and `webwire check`; the files in `learners/` are what they wrote, with a
//! `PORT 0` option added so that the test can run them on a free port.
//!
//! They need `python3` (CPython 3.11 here). Without it the tests say SKIPPED and pass, unless
//! `WEBWIRE_REQUIRE_SERVICES=1` (tests/run-all sets it), which makes them fail instead.

use std::env;
use std::io::{self, BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

use crate::harness;

/// A learner's server, stopped when the test ends.
struct Learner(Child);

impl Drop for Learner {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `learners/<file>` on a free port and returns it with the base URL it printed
/// (`… listening on http://localhost:PORT/…`); `None`, after a loud SKIPPED line, without
/// python3.
fn start(file: &str) -> Option<(Learner, String)> {
    let python = Command::new("python3").arg("--version").output();
    if !python.is_ok_and(|o| o.status.success()) {
        let why = format!("{file}: no python3 on PATH");
        let required = env::var("WEBWIRE_REQUIRE_SERVICES").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "{why}, and WEBWIRE_REQUIRE_SERVICES=1 requires it"
        );
        let _ = writeln!(io::stderr(), "SKIPPED {why}");
        return None;
    }
    let path = format!("{}/tests/check/learners/{file}", env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new("python3")
        .args([path.as_str(), "0"])
        .stdout(Stdio::piped())
        // Some log each request there: the check's own report says what went wrong.
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let learner = Learner(child);
    // The line names a URL; the port is what matters (127.0.0.1: localhost may be ::1 first).
    let port = line
        .split("://localhost:")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|port| port.parse::<u16>().ok())
        .unwrap_or_else(|| panic!("{file} printed {line:?}"));
    Some((learner, format!("http://127.0.0.1:{port}")))
}

#[test]
fn a_python_event_stream_written_from_chapter_07_alone_passes_every_rule() {
    let Some((_learner, base)) = start("sse.py") else {
        return;
    };
    harness::assert_all_pass("sse", &format!("{base}/evt"));
}

#[test]
fn python_cors_jsonp_and_image_ping_written_from_chapters_08_to_10_alone_pass_every_rule() {
    let Some((_learner, base)) = start("cors_jsonp_ping.py") else {
        return;
    };
    harness::assert_all_pass("cors", &format!("{base}/cors"));
    harness::assert_all_pass("jsonp", &format!("{base}/jsonp"));
    harness::assert_all_pass("image-ping", &format!("{base}/ping"));
}

#[test]
fn python_polling_and_both_streamings_written_from_chapters_03_05_06_alone_pass_every_rule() {
    let Some((_learner, base)) = start("polling_streaming.py") else {
        return;
    };
    harness::assert_all_pass("polling", &format!("{base}/time"));
    harness::assert_all_pass("xhr-streaming", &format!("{base}/stream"));
    harness::assert_all_pass("iframe-streaming", &format!("{base}/htmlfile"));
}

#[test]
fn a_python_long_poll_written_from_chapter_04_alone_passes_every_rule() {
    let Some((_learner, base)) = start("long_polling.py") else {
        return;
    };
    harness::assert_all_pass("long-polling", &format!("{base}/longpoll"));
}

#[test]
fn a_python_websocket_written_from_chapter_12_alone_passes_every_rule() {
    let Some((_learner, base)) = start("websocket.py") else {
        return;
    };
    harness::assert_all_pass("websocket", &format!("{base}/ws"));
}
