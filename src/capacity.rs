//! How many connections this process can really serve, read off the machine at start.
//!
//! A thread per connection costs one file descriptor, one thread, four memory mappings (the
//! thread's stack and the guard page below it, and the small alternate stack Rust gives every
//! thread for reporting a stack overflow, with its own guard page), and some memory. Each of those has a limit on Linux, and the smallest one is the
//! most connections the server can take before something fails in a worse way than a 503:
//! `accept` failing with "too many open files", or `thread::spawn` failing. So instead of a
//! guessed constant the default `--max-conns` is derived here from:
//!
//! - the open-files limit (`RLIMIT_NOFILE`, `/proc/self/limits`), first raised from its soft
//!   value to its hard one, as nginx's `worker_rlimit_nofile` and Go's runtime do;
//! - the threads the kernel will still create: `kernel.threads-max`, `kernel.pid_max` (every
//!   thread takes a process id) and `RLIMIT_NPROC` (which counts threads too), less the tasks
//!   already running on the machine (`/proc/loadavg`);
//! - `vm.max_map_count`, since each thread takes four mappings (`MAPS_PER_THREAD`);
//! - the memory available (`MemAvailable` in `/proc/meminfo`), less the memory budget.
//!
//! `docs/15-scale.md` measures what each connection really costs and shows how to raise each
//! limit. Held requests (long polls, streams, sockets) may take only a share of the
//! connections, so that a server full of them still answers a plain request.

use std::fs;
use std::process::Command;

use crate::limits::{MAX_HEAD_BYTES, THREAD_STACK_BYTES};

// ANCHOR: capacity_limits
/// File descriptors kept for the server itself: listeners, stdin/out/err, the files it reads
/// (`/proc`, `prlimit`'s pipes at start), a connection being refused.
pub const FD_RESERVE: usize = 64;
/// Threads one connection needs. A WebSocket that pushes (the chat's) has a second thread,
/// a writer, which takes a seat of its own under `--max-conns` (and a second held place),
/// so the limit counts threads, not sockets; where no seat can be had the socket closes
/// with 1013, "try again later". Counting two for every connection would halve the limit
/// for the sake of one demo's sockets.
pub const THREADS_PER_CONNECTION: usize = 1;
/// Threads (and process ids) left for the rest of the machine and the server's own threads
/// (acceptors, the log writer, the demos' tickers).
pub const THREAD_RESERVE: usize = 256;
/// Memory mappings per thread, counted in `/proc/PID/maps`: its stack and the guard page
/// that catches an overflow, and Rust's alternate signal stack with its guard page.
pub const MAPS_PER_THREAD: usize = 4;
/// Memory mappings kept for the program, its libraries and the allocator's arenas.
pub const MAP_RESERVE: usize = 1024;
/// The largest read buffer a connection keeps: a WebSocket's read chunk at its largest
/// (`ws::WS_READ_CHUNK_BYTES`, which `ws` asserts, at compile time, is no larger).
pub const LARGEST_READ_BUFFER: usize = 64 * 1024;
/// The most memory one connection can pin outside the shared memory budget: the stacks of
/// two threads (a pushing WebSocket's reader and writer) touched to the bottom, a full
/// request head, and the largest read buffer. Measured use is far lower
/// (`docs/15-scale.md`): this is the worst case, so the limit is a safe one.
pub const MEMORY_PER_CONNECTION: usize =
    2 * THREAD_STACK_BYTES + MAX_HEAD_BYTES + LARGEST_READ_BUFFER;
/// Default `--max-conns` where the limits cannot be read (no `/proc`: not Linux).
pub const FALLBACK_MAX_CONNECTIONS: usize = 1024;
/// One connection in this many is kept for requests that are answered at once: held requests
/// (long polls, streams, sockets) may take the rest, and no more (`--max-held`).
pub const SHORT_REQUEST_SHARE: usize = 8;
// ANCHOR_END: capacity_limits

/// The limits read off the machine; `None` where a file could not be read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Machine {
    /// `RLIMIT_NOFILE`: the soft limit in force, and the hard one it may be raised to.
    pub open_files: Option<(u64, u64)>,
    /// `RLIMIT_NPROC` (soft): tasks this user may have, threads included.
    pub user_tasks: Option<u64>,
    /// `/proc/sys/kernel/threads-max`.
    pub threads_max: Option<u64>,
    /// `/proc/sys/kernel/pid_max`: every thread takes an id below it.
    pub pid_max: Option<u64>,
    /// Tasks (threads) on the whole machine now, from `/proc/loadavg`.
    pub tasks_now: Option<u64>,
    /// `/proc/sys/vm/max_map_count`.
    pub max_map_count: Option<u64>,
    /// `MemAvailable`, in bytes.
    pub memory_available: Option<u64>,
}

impl Machine {
    /// Reads every limit from `/proc`. Cheap: a few small files.
    pub fn read() -> Machine {
        let limits = fs::read_to_string("/proc/self/limits").unwrap_or_default();
        Machine {
            open_files: limit_pair(&limits, "Max open files"),
            user_tasks: limit_pair(&limits, "Max processes").map(|(soft, _)| soft),
            threads_max: number_in_file("/proc/sys/kernel/threads-max"),
            pid_max: number_in_file("/proc/sys/kernel/pid_max"),
            tasks_now: fs::read_to_string("/proc/loadavg")
                .ok()
                .and_then(|text| tasks_in_loadavg(&text)),
            max_map_count: number_in_file("/proc/sys/vm/max_map_count"),
            memory_available: fs::read_to_string("/proc/meminfo")
                .ok()
                .and_then(|text| memory_available(&text)),
        }
    }
}

/// The connection limit a machine allows, and which limit decided it, in words for the
/// start-up line: `16126` because of `memory mappings: max_map_count 65530, 4 per connection`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Derived {
    pub connections: usize,
    pub because: String,
}

// ANCHOR: derive
/// The most connections `machine` lets one process serve: the smallest of what its file
/// descriptors, its threads, its memory mappings and its memory allow, each after a margin.
/// `budget` is the memory budget (`MEMORY_BUDGET_BYTES`), kept out of the memory share.
pub fn derive(machine: &Machine, budget: usize) -> Derived {
    let mut candidates: Vec<(usize, String)> = Vec::new();
    if let Some((soft, _)) = machine.open_files {
        candidates.push((
            to_usize(soft).saturating_sub(FD_RESERVE),
            format!("open files: limit {soft} less {FD_RESERVE} for the server's own"),
        ));
    }
    let thread_limits = [
        (machine.threads_max, "threads-max"),
        (machine.pid_max, "pid_max"),
        (machine.user_tasks, "the user's process limit"),
    ];
    if let Some((most, name)) = thread_limits
        .iter()
        .filter_map(|(limit, name)| limit.map(|l| (l, *name)))
        .min_by_key(|(limit, _)| *limit)
    {
        let running = machine.tasks_now.unwrap_or(0);
        let free = to_usize(most.saturating_sub(running)).saturating_sub(THREAD_RESERVE);
        candidates.push((
            free / THREADS_PER_CONNECTION,
            format!(
                "threads: {name} {most} less {running} running and {THREAD_RESERVE} kept, \
                 {THREADS_PER_CONNECTION} per connection"
            ),
        ));
    }
    if let Some(maps) = machine.max_map_count {
        let per_connection = MAPS_PER_THREAD * THREADS_PER_CONNECTION;
        candidates.push((
            to_usize(maps).saturating_sub(MAP_RESERVE) / per_connection,
            format!("memory mappings: max_map_count {maps}, {per_connection} per connection"),
        ));
    }
    if let Some(bytes) = machine.memory_available {
        candidates.push((
            to_usize(bytes).saturating_sub(budget) / MEMORY_PER_CONNECTION,
            format!(
                "memory: {} MiB available, {} KiB per connection at most",
                bytes / (1024 * 1024),
                MEMORY_PER_CONNECTION / 1024
            ),
        ));
    }
    match candidates.into_iter().min_by_key(|(n, _)| *n) {
        Some((connections, because)) => Derived {
            connections: connections.max(1),
            because,
        },
        None => Derived {
            connections: FALLBACK_MAX_CONNECTIONS,
            because: "the machine's limits could not be read (no /proc)".to_string(),
        },
    }
}
// ANCHOR_END: derive

/// The limits in force: from the flags where given, else derived from the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capacity {
    /// Connections served at once (`--max-conns`).
    pub connections: usize,
    /// Where `connections` came from, in words: the flag, or the machine's limit that decided.
    pub connections_from: String,
    /// Held requests at once (`--max-held`): long polls waiting, streams, sockets.
    pub held: usize,
    /// Connections from one client address at once (`--max-conns-per-client`), if capped.
    pub per_client: Option<usize>,
}

impl Capacity {
    /// Resolves the flags against the machine (read only when a flag leaves a number open).
    pub fn resolve(
        max_conns: Option<usize>,
        max_held: Option<usize>,
        per_client: Option<usize>,
        budget: usize,
    ) -> Capacity {
        let (connections, connections_from) = match max_conns {
            Some(n) => (n, "--max-conns".to_string()),
            None => {
                let derived = derive(&Machine::read(), budget);
                (derived.connections, derived.because)
            }
        };
        Capacity {
            connections,
            connections_from,
            // More held places than connections could never be used: cut to the connections.
            held: max_held
                .unwrap_or_else(|| held_share(connections))
                .min(connections),
            per_client,
        }
    }

    /// The limits in one line, for the start-up line: `16134 connections (threads: …),
    /// 14118 held`.
    pub fn summary(&self) -> String {
        let per_client = self
            .per_client
            .map(|n| format!(", {n} per client address"))
            .unwrap_or_default();
        let plural = if self.connections == 1 { "" } else { "s" };
        format!(
            "{} connection{plural} ({}), {} of them held{per_client}",
            self.connections, self.connections_from, self.held
        )
    }
}

/// Held requests allowed with `connections` in all: all but one in `SHORT_REQUEST_SHARE`,
/// and at least one.
pub fn held_share(connections: usize) -> usize {
    (connections - connections / SHORT_REQUEST_SHARE).max(1)
}

// ANCHOR: raise
/// Raises this process's soft open-files limit to its hard limit, and says what happened in
/// one line. Rust's standard library has no `setrlimit`, and this project uses no `unsafe`
/// code and no `libc` crate, so it asks util-linux's `prlimit` to do it for its process id:
/// the same system call (`prlimit(2)`), made by a helper. Without `prlimit` the soft limit
/// stays, and the line says how to raise it by hand (`ulimit -n`).
pub fn raise_open_files_limit() -> String {
    let Some((soft, hard)) = read_open_files() else {
        return "open files: limit unknown (no /proc/self/limits)".to_string();
    };
    if soft >= hard {
        return format!("open files: {soft} (already the hard limit)");
    }
    let pid = std::process::id();
    let ran = Command::new("prlimit")
        .arg(format!("--pid={pid}"))
        .arg(format!("--nofile={hard}:{hard}"))
        .output();
    match (ran, read_open_files()) {
        (Ok(output), Some((now, _))) if output.status.success() && now == hard => {
            format!("open files: raised from {soft} to the hard limit {hard}")
        }
        _ => format!(
            "open files: {soft} (could not raise it to the hard limit {hard} with prlimit; \
             run `ulimit -n {hard}` before starting)"
        ),
    }
}
// ANCHOR_END: raise

fn read_open_files() -> Option<(u64, u64)> {
    let limits = fs::read_to_string("/proc/self/limits").ok()?;
    limit_pair(&limits, "Max open files")
}

/// The soft and hard values of one row of `/proc/self/limits`:
/// `Max open files            1024                 524288               files`.
/// `unlimited` reads as `u64::MAX`.
fn limit_pair(limits: &str, row: &str) -> Option<(u64, u64)> {
    let line = limits.lines().find(|line| line.starts_with(row))?;
    let mut values = line[row.len()..].split_whitespace().map(|v| match v {
        "unlimited" => Some(u64::MAX),
        number => number.parse().ok(),
    });
    Some((values.next()??, values.next()??))
}

fn number_in_file(path: &str) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The fourth field of `/proc/loadavg`, `running/total`: the total is every task (thread)
/// on the machine.
fn tasks_in_loadavg(text: &str) -> Option<u64> {
    let field = text.split_whitespace().nth(3)?;
    field.split_once('/')?.1.parse().ok()
}

/// `MemAvailable:   24239948 kB`, in bytes.
fn memory_available(meminfo: &str) -> Option<u64> {
    let line = meminfo
        .lines()
        .find(|line| line.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib.saturating_mul(1024))
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: &str = "\
Limit                     Soft Limit           Hard Limit           Units     
Max stack size            8388608              unlimited            bytes     
Max processes             96365                96365                processes 
Max open files            1024                 524288               files     
";

    fn this_machine() -> Machine {
        Machine {
            open_files: Some((20000, 20000)),
            user_tasks: Some(96365),
            threads_max: Some(192_730),
            pid_max: Some(32768),
            tasks_now: Some(312),
            max_map_count: Some(65530),
            memory_available: Some(24 * 1024 * 1024 * 1024),
        }
    }

    #[test]
    fn proc_files_are_read() {
        assert_eq!(limit_pair(LIMITS, "Max open files"), Some((1024, 524_288)));
        assert_eq!(limit_pair(LIMITS, "Max processes"), Some((96365, 96365)));
        assert_eq!(
            limit_pair(LIMITS, "Max stack size"),
            Some((8_388_608, u64::MAX))
        );
        assert_eq!(tasks_in_loadavg("0.00 0.01 0.05 1/234 5678\n"), Some(234));
        assert_eq!(
            memory_available("MemTotal: 100 kB\nMemAvailable:   2048 kB\n"),
            Some(2 * 1024 * 1024)
        );
    }

    #[test]
    fn the_file_limit_decides_when_it_is_the_smallest() {
        let mut machine = this_machine();
        machine.open_files = Some((1024, 524_288));
        let derived = derive(&machine, 256 * 1024 * 1024);
        assert_eq!(derived.connections, 1024 - FD_RESERVE);
        assert_eq!(
            derived.because,
            "open files: limit 1024 less 64 for the server's own"
        );
    }

    #[test]
    fn mappings_or_threads_decide_on_a_machine_with_many_files() {
        let derived = derive(&this_machine(), 256 * 1024 * 1024);
        // max_map_count 65530 less 1024 kept, four mappings per connection's thread: below
        // pid_max 32768 less 312 running less 256 kept.
        assert_eq!(derived.connections, (65530 - MAP_RESERVE) / 4);
        assert_eq!(
            derived.because,
            "memory mappings: max_map_count 65530, 4 per connection"
        );
        let mut more_maps = this_machine();
        more_maps.max_map_count = Some(1_048_576);
        more_maps.open_files = Some((1_048_576, 1_048_576));
        let derived = derive(&more_maps, 0);
        assert_eq!(derived.connections, 32768 - 312 - THREAD_RESERVE);
        assert!(derived.because.starts_with("threads: pid_max 32768"));
    }

    #[test]
    fn memory_decides_on_a_small_machine() {
        let mut machine = this_machine();
        machine.memory_available = Some(1024 * 1024 * 1024);
        let budget = 256 * 1024 * 1024;
        let derived = derive(&machine, budget);
        assert_eq!(
            derived.connections,
            (1024 * 1024 * 1024 - budget) / MEMORY_PER_CONNECTION
        );
        assert!(derived.because.starts_with("memory: 1024 MiB available"));
    }

    #[test]
    fn no_proc_means_the_fallback() {
        let derived = derive(&Machine::default(), 0);
        assert_eq!(derived.connections, FALLBACK_MAX_CONNECTIONS);
    }

    #[test]
    fn held_requests_leave_a_share_for_short_ones() {
        assert_eq!(held_share(16000), 14000);
        assert_eq!(held_share(8), 7);
        assert_eq!(held_share(1), 1);
    }
}
