//! The server's log and `--trace` output: a bounded queue in front of one writer thread.
//!
//! Writing to stdout can block: a terminal paused with Ctrl-S, a pipe nobody drains, a slow
//! disk. If connection threads wrote their lines themselves, one stuck `write` would hold the
//! stdout lock, every other thread would queue behind it after answering, and the server
//! would stop for good. So a connection thread only *queues* a line, which never waits: when
//! `LOG_QUEUE_BYTES` are already waiting, the line is dropped and counted, and the writer
//! says so in the log (`… 1234 log lines dropped`) where the gap is. Only the writer thread
//! ever waits on stdout.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;

use crate::limits::LOG_QUEUE_BYTES;

/// A line waiting for the writer, and how many lines were dropped just before it.
struct Entry {
    dropped_before: u64,
    text: String,
}

#[derive(Default)]
struct Pending {
    entries: VecDeque<Entry>,
    /// Bytes of text in `entries`, against `LOG_QUEUE_BYTES`.
    bytes: usize,
    /// Lines dropped since the last one that was queued.
    dropped: u64,
    /// Whether the writer is asleep waiting for a line (then it needs a wake-up).
    writer_waiting: bool,
}

#[derive(Default)]
struct Queue {
    pending: Mutex<Pending>,
    ready: Condvar,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Where the log goes. Cloning it is cheap; every clone feeds the same writer.
#[derive(Clone)]
pub struct Log {
    queue: Arc<Queue>,
}

impl Log {
    /// A log written to stdout by a thread of its own.
    pub fn to_stdout() -> Log {
        Log::to(Box::new(io::stdout()))
    }

    /// A log written to `out` by a thread of its own (tests give a pipe nobody reads).
    pub fn to(out: Box<dyn Write + Send>) -> Log {
        let queue = Arc::new(Queue::default());
        let writer_queue = Arc::clone(&queue);
        // If the thread cannot start, lines pile up to the bound and are then dropped:
        // serving goes on either way.
        let _ = thread::Builder::new()
            .name("log".to_string())
            .spawn(move || write_lines(&writer_queue, out));
        Log { queue }
    }

    // ANCHOR: queue_line
    /// Queues `text` (one or more whole lines, each ending in `\n`). Never waits for stdout.
    pub fn write(&self, text: String) {
        let mut pending = self.queue.lock();
        if pending.bytes + text.len() > LOG_QUEUE_BYTES {
            pending.dropped += 1;
            return;
        }
        pending.bytes += text.len();
        let dropped_before = std::mem::take(&mut pending.dropped);
        pending.entries.push_back(Entry {
            dropped_before,
            text,
        });
        if pending.writer_waiting {
            pending.writer_waiting = false;
            drop(pending);
            self.queue.ready.notify_one();
        }
    }
    // ANCHOR_END: queue_line
}

/// The writer thread: takes whatever is queued, writes it, flushes, and sleeps when there is
/// nothing left. A write error (stdout closed) is ignored: the server keeps serving.
fn write_lines(queue: &Queue, mut out: Box<dyn Write + Send>) {
    loop {
        let (entries, dropped_after) = {
            let mut pending = queue.lock();
            while pending.entries.is_empty() && pending.dropped == 0 {
                pending.writer_waiting = true;
                pending = queue
                    .ready
                    .wait(pending)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
            }
            pending.bytes = 0;
            let dropped_after = match pending.entries.is_empty() {
                true => std::mem::take(&mut pending.dropped),
                false => 0,
            };
            (std::mem::take(&mut pending.entries), dropped_after)
        };
        let mut text = String::new();
        for entry in entries {
            text.push_str(&dropped_notice(entry.dropped_before));
            text.push_str(&entry.text);
        }
        text.push_str(&dropped_notice(dropped_after));
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
}

fn dropped_notice(count: u64) -> String {
    match count {
        0 => String::new(),
        1 => "… 1 log line dropped (the log's reader was too slow)\n".to_string(),
        n => format!("… {n} log lines dropped (the log's reader was too slow)\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::unix::net::UnixStream;

    #[test]
    fn a_stuck_reader_costs_dropped_lines_not_a_stuck_caller() {
        let (reader, writer) = UnixStream::pair().unwrap();
        let log = Log::to(Box::new(writer));
        // Far more than the queue and the socket's buffer hold; every call returns.
        let line = format!("{}\n", "x".repeat(99));
        let lines = 4 * LOG_QUEUE_BYTES / line.len();
        for _ in 0..lines {
            log.write(line.clone());
        }
        // Now read: whole lines, then a notice of what was dropped, and nothing lost
        // silently: lines written + lines dropped = lines logged.
        log.write("last\n".to_string());
        reader
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let mut seen = String::new();
        let mut buf = vec![0u8; 64 * 1024];
        while !seen.ends_with("last\n") {
            let n = (&reader).read(&mut buf).expect("the writer keeps writing");
            seen.push_str(std::str::from_utf8(&buf[..n]).unwrap());
        }
        let written = seen.lines().filter(|l| l.starts_with('x')).count();
        let dropped: usize = seen
            .lines()
            .filter_map(|l| l.strip_prefix("… "))
            .map(|l| l.split(' ').next().unwrap().parse::<usize>().unwrap())
            .sum();
        assert!(dropped > 0, "the queue was full at some point");
        assert_eq!(written + dropped, lines);
    }
}
