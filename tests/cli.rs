//! The command line as a user types it: the real binary, its output and exit codes.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

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

#[test]
fn help_and_list_exit_zero() {
    let (code, out, _) = webwire(&["--help"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("webwire — "), "{out}");
    assert!(out.contains("--max-conns N"));
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
    assert_eq!(code, 1);
    assert!(
        err.starts_with("webwire: no demo is called \"no-such-demo\""),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1);
}

#[test]
fn it_says_where_it_listens_then_a_taken_port_is_refused() {
    let mut first = Command::new(env!("CARGO_BIN_EXE_webwire"))
        .args(["--port", "0", "--quiet"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start webwire");
    let mut line = String::new();
    BufReader::new(first.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line
        .strip_prefix("webwire listening on http://localhost:")
        .and_then(|rest| rest.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
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
