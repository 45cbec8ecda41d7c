#!/usr/bin/env python3
"""What the wire inspector costs a plain request when no inspector panel is open: the team's
benchmark kit's http scenario (`GET /time`, keep-alive, like wrk), run side by side in one go
against two release builds of webwire, and against the new build with `--inspector off`.

    python3 tests/measure/inspector-cost.py [--base REV] [--tree REV] [--rounds 9]
                                            [--seconds 3] [--conns 50]
                                            [--bench ../shared/bench]
                                            [--work /tmp/bench-target]

--base is the commit from before the inspector landed (default HEAD: then both builds are the
same code, and the ratios show how far this machine moves between identical binaries).

  base      a release build of --base (`git archive`, so committed files only)
  tree      a release build of the working tree as it is now (tracked and untracked files,
            not ignored ones), or of the commit --tree, with its default flags: on loopback
            the inspector is on, and no panel is open, so a request pays only the check for one
  tree-off  the same binary with `--inspector off`; left out, with a message, when the
            binary's --help does not list --inspector

Both trees are copied under --work and built there with their own CARGO_TARGET_DIR, so
neither this repository's target/ nor its files are touched, and an edit made while the
script runs is not half built. Each server is started once (`--bind 127.0.0.1 --port 0
--quiet`), warmed up for a second, then measured --rounds times in turn, the order rotating
every round as the kit's run.sh does; each is stopped by its PID at the end.

Why not one run.sh call: the kit measures one target against its fixed peers (node, nginx,
nchan) and cannot take two webwire binaries. So every measurement is one unmodified run.sh
call on one server already running (`--target-url URL --name NAME --peers none --only http
--runs 1`): the same loadgen command, the same process figures from /proc, the same
results.jsonl line as in a whole kit run. The lines of all rounds are put in one file, and
the kit's own `loadgen report` turns them into its table: medians over the rounds, and the
ratio tree/base (and tree/tree-off). Below it, this script adds what the kit does not show:
the ratio within each round (the two measurements seconds apart, on the same noisy machine),
its median and its range, and the server's CPU time per request.

Which figure resolves a small cost: on a busy 2-core machine, requests per second follow
whatever else runs (between two byte-identical binaries, 0.56 to 1.63 from one round to the
next, and 1.17 for the median of 9 against the median of 9), while the server's CPU time per
request moves far less (0.97 to 1.13 per round, 1.00 for the median of the per-round ratios;
one run on 2026-12-01, with browser tests and builds running beside it).
Run it with --base HEAD --tree HEAD to see this machine's floor before reading a difference.

The http scenario's sizes come from the kit's environment variables: --seconds and --conns
set HTTP_SECONDS and HTTP_CONNS; PAUSE (default 2 s) and HTTP_TOOL pass through. Builds,
logs and results go under --work, and the kit's work folder is $BENCH_WORK (default
/tmp/webwire-bench), where run.sh builds its load generator on the first call. Python's
standard library only; the kit needs bash, cargo and `ss`.
"""

import argparse
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository
START_SECONDS = 30  # a server must print its address within this
STOP_SECONDS = 10  # and end within this after SIGTERM


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def fail(message):
    log(f"error: {message}")
    sys.exit(1)


def run(cmd, limit, **kwargs):
    """A command under `timeout`, so that nothing here can hang for good."""
    return subprocess.run(
        ["timeout", "-k", "5", str(limit), *map(str, cmd)], timeout=limit + 15, **kwargs
    )


def git(*args, limit=60):
    done = run(["git", "--no-optional-locks", "-C", ROOT, *args], limit, capture_output=True)
    if done.returncode != 0:
        fail(f"git {' '.join(args)}: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def machine():
    cores = os.cpu_count()
    model = "unknown CPU"
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo", encoding="utf-8") as f:
        kib = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
    return f"{cores} cores ({model}), {kib / 1048576:.1f} GiB, Linux {os.uname().release}"


# -------------------------------------------------------------------------------------------
# Builds


def snapshot_commit(rev, dest, work):
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    archive = work / "base.tar"
    git("archive", "--format=tar", "-o", archive, rev)
    if run(["tar", "-xf", archive, "-C", dest], 120).returncode != 0:
        fail(f"cannot unpack {archive}")
    archive.unlink()


def snapshot_tree(dest):
    """The working tree's files as git would see them: tracked and untracked, not ignored.
    Copied with their times, so that an unchanged tree is not rebuilt next time."""
    shutil.rmtree(dest, ignore_errors=True)
    names = git("ls-files", "-z", "--cached", "--others", "--exclude-standard").split(b"\0")
    for name in filter(None, names):
        source = ROOT / os.fsdecode(name)
        if not (source.is_file() or source.is_symlink()):
            continue  # deleted in the working tree
        target = dest / os.fsdecode(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)


def build(name, source, work):
    target_dir = work / f"target-{name}"
    log(f"building {name}: cargo build --release in {source} (CARGO_TARGET_DIR={target_dir})")
    started = time.monotonic()
    env = dict(os.environ, CARGO_TARGET_DIR=str(target_dir))
    done = run(["cargo", "build", "--release", "--quiet"], 1800, cwd=source, env=env)
    if done.returncode != 0:
        fail(f"the {name} build failed (exit {done.returncode})")
    binary = work / "bin" / f"webwire-{name}"
    binary.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(target_dir / "release" / "webwire", binary)
    log(f"built {binary} in {time.monotonic() - started:.0f} s")
    return binary


def has_inspector_flag(binary):
    done = run([binary, "--help"], 10, capture_output=True, text=True)
    return "--inspector" in done.stdout


# -------------------------------------------------------------------------------------------
# Servers


class Server:
    """One webwire, under `timeout` (so that it cannot outlive a crashed script), in a
    session of its own; stopped by the PID this script started."""

    def __init__(self, name, binary, flags, out, lifetime):
        self.name, self.binary, self.flags = name, binary, flags
        self.log_path = out / "logs" / f"server-{name}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as logf:
            cmd = [binary, "--bind", "127.0.0.1", "--port", "0", "--quiet", *flags]
            self.proc = subprocess.Popen(
                ["timeout", "-k", "5", str(lifetime), *map(str, cmd)],
                stdout=logf,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.port = self.wait_for_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.pid = self.child_pid()
        log(f"{name} is up at {self.url} (pid {self.pid}): {self.command()}")

    def command(self):
        return " ".join([self.binary.name, *self.flags]) if self.flags else self.binary.name

    def wait_for_port(self):
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            text = self.log_path.read_text(errors="replace")
            found = re.search(r"listening on http://127\.0\.0\.1:(\d+)/", text)
            if found:
                return int(found.group(1))
            if self.proc.poll() is not None:
                fail(f"{self.name} ended before listening; its log:\n{text}")
            time.sleep(0.05)
        fail(f"{self.name} did not print its address within {START_SECONDS} s")

    def child_pid(self):
        """webwire's own PID, the child of `timeout`."""
        path = f"/proc/{self.proc.pid}/task/{self.proc.pid}/children"
        try:
            with open(path, encoding="ascii") as f:
                return int(f.read().split()[0])
        except (OSError, IndexError, ValueError):
            return None

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()  # timeout passes SIGTERM on to webwire
            try:
                self.proc.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_SECONDS)
        # Should timeout itself have been killed, its child would be left: end it by its PID.
        if self.pid and Path(f"/proc/{self.pid}").exists():
            try:
                exe = os.readlink(f"/proc/{self.pid}/exe")
            except OSError:
                exe = ""
            if exe == str(self.binary):
                os.kill(self.pid, signal.SIGKILL)
        log(f"{self.name} stopped (pid {self.pid})")


# -------------------------------------------------------------------------------------------
# Measurements: one unmodified run.sh call each


def measure(bench, server, out, env, seconds, limit):
    """One http measurement of one server; returns run.sh's results.jsonl record."""
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = ["bash", bench / "run.sh", "--target-url", server.url, "--name", server.name,
           "--peers", "none", "--only", "http", "--runs", "1", "--out", out]
    with open(f"{out}.log", "wb") as logf:
        done = run(cmd, limit, env=dict(env, HTTP_SECONDS=str(seconds)),
                   stdout=logf, stderr=subprocess.STDOUT)
    results = out / "results.jsonl"
    if done.returncode != 0 or not results.exists():
        fail(f"run.sh failed for {server.name} (exit {done.returncode}); see {out}.log")
    lines = [line for line in results.read_text().splitlines() if line.strip()]
    record = json.loads(lines[-1])
    if record.get("result") is None:
        fail(f"no result for {server.name}; see {out}.log and {out}/logs")
    return record


def figures(record):
    result, proc = record["result"], record.get("proc") or {}
    requests = result.get("requests") or 0
    cpu = proc.get("cpu_s")
    return {
        "req/s": result.get("rps"),
        "latency p50 ms": (result.get("latency_ms") or {}).get("p50"),
        "latency p99 ms": (result.get("latency_ms") or {}).get("p99"),
        "server CPU µs/req": cpu / requests * 1e6 if cpu is not None and requests else None,
        "failed": (result.get("non200") or 0) + (result.get("errors") or 0),
    }


def paired_summary(by_round, pairs, names):
    """The kit's table shows medians over the rounds and their ratio; this adds the ratio
    inside each round (two measurements seconds apart) and how far it moves."""
    metrics = ["req/s", "latency p50 ms", "latency p99 ms", "server CPU µs/req"]
    lines = []
    rounds = sorted(by_round)
    cpu = {n: [by_round[r][n]["server CPU µs/req"] for r in rounds
               if by_round[r].get(n) and by_round[r][n]["server CPU µs/req"] is not None]
           for n in names}
    lines.append("server CPU per request, µs (median over rounds [min – max]):")
    for n in names:
        if cpu[n]:
            lines.append(f"  {n:<10} {statistics.median(cpu[n]):6.2f}  "
                         f"[{min(cpu[n]):.2f} – {max(cpu[n]):.2f}]")
    for a, b in pairs:
        lines.append("")
        lines.append(f"{a} ÷ {b}, within each round (median over {len(rounds)} rounds "
                     f"[min – max]; identical code gives 1.00 ± this machine's noise):")
        for m in metrics:
            ratios = []
            for r in rounds:
                x, y = by_round[r].get(a, {}).get(m), by_round[r].get(b, {}).get(m)
                if x is not None and y:
                    ratios.append(x / y)
            if ratios:
                each = " ".join(f"{q:.2f}" for q in ratios)
                lines.append(f"  {m:<18} {statistics.median(ratios):.3f}  "
                             f"[{min(ratios):.2f} – {max(ratios):.2f}]   each round: {each}")
    return "\n".join(lines)


# -------------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="HEAD",
                        help="the commit from before the inspector landed (default HEAD)")
    parser.add_argument("--tree", default=None,
                        help="build this commit as the tree (default: the working tree)")
    parser.add_argument("--rounds", type=int, default=9, help="measurements of each server")
    parser.add_argument("--seconds", type=int, default=3, help="HTTP_SECONDS of each one")
    parser.add_argument("--conns", type=int, default=50, help="HTTP_CONNS (keep-alive)")
    parser.add_argument("--bench", type=Path, default=ROOT.parent / "shared" / "bench",
                        help="the benchmark kit (default ../shared/bench)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench-target"),
                        help="sources, builds and results (default /tmp/bench-target)")
    args = parser.parse_args()
    if args.rounds < 1 or args.seconds < 1 or args.conns < 1:
        parser.error("--rounds, --seconds and --conns must be above 0")
    bench, work = args.bench.resolve(), args.work.resolve()
    if not (bench / "run.sh").is_file():
        fail(f"no run.sh in {bench} (--bench)")
    began = time.monotonic()
    command = shlex.join(["python3", "tests/measure/inspector-cost.py", *sys.argv[1:]])
    out = work / "results" / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True)

    # What is measured, said before anything else.
    base_sha = git("rev-parse", "--verify", f"{args.base}^{{commit}}").decode().strip()
    base_line = git("log", "-1", "--format=%h %s", base_sha).decode().strip()
    if args.tree is None:
        head_sha = git("rev-parse", "HEAD").decode().strip()
        diff = git("diff", "HEAD", "--binary")
        (out / "tree.diff").write_bytes(diff)
        status = git("status", "--porcelain").decode().splitlines()
        tree_line = f"working tree: HEAD {head_sha[:7]}" + (
            f" + {len(status)} changed or new file(s) (tracked diff sha256 "
            f"{hashlib.sha256(diff).hexdigest()[:12]}, saved as {out / 'tree.diff'})"
            if status else ", clean")
    else:
        tree_sha = git("rev-parse", "--verify", f"{args.tree}^{{commit}}").decode().strip()
        tree_line = f"{args.tree} = " + git("log", "-1", "--format=%h %s", tree_sha).decode().strip()
    header = [f"command: {command}", f"machine: {machine()}",
              f"date:    {time.strftime('%Y-%m-%d %H:%M %Z')}",
              f"base:    {args.base} = {base_line}", f"tree:    {tree_line}",
              f"http:    GET /time, {args.conns} keep-alive connections x {args.seconds} s, "
              f"{args.rounds} rounds, order rotating (kit: {bench}/run.sh)"]
    print("\n".join(header), flush=True)
    if args.base == "HEAD":
        log("note: --base is HEAD; once the inspector has landed, pass the commit before it")

    snapshot_commit(base_sha, work / "src-base", work)
    if args.tree is None:
        snapshot_tree(work / "src-tree")
    else:
        snapshot_commit(tree_sha, work / "src-tree", work)
    binaries = {"base": build("base", work / "src-base", work),
                "tree": build("tree", work / "src-tree", work)}
    sums = {n: hashlib.sha256(b.read_bytes()).hexdigest()[:12] for n, b in binaries.items()}
    same = " (byte for byte the same binary)" if sums["base"] == sums["tree"] else ""
    binaries_line = f"binaries: base sha256 {sums['base']}, tree sha256 {sums['tree']}{same}"
    header.append(binaries_line)
    print(binaries_line, flush=True)
    variants = [("base", binaries["base"], []), ("tree", binaries["tree"], [])]
    pairs = [("tree", "base")]
    if has_inspector_flag(binaries["tree"]):
        variants.append(("tree-off", binaries["tree"], ["--inspector", "off"]))
        pairs.append(("tree", "tree-off"))
    else:
        log("the tree's binary has no --inspector flag (its --help does not list it): "
            "skipping the pair tree / tree --inspector off")

    env = dict(os.environ, HTTP_CONNS=str(args.conns),
               BENCH_WORK=os.environ.get("BENCH_WORK",
                                         f"{os.environ.get('TMPDIR', '/tmp')}/webwire-bench"))
    pause = float(env.get("PAUSE", "2"))
    one = args.seconds + pause + 120  # seconds one run.sh call may take once loadgen is built
    lifetime = int(1800 + len(variants) * (args.rounds + 1) * one)
    servers = []

    def stop_all(*_):
        raise SystemExit(130)

    signal.signal(signal.SIGTERM, stop_all)
    try:
        for name, binary, flags in variants:
            servers.append(Server(name, binary, flags, out, lifetime))
        # A second each, discarded: threads and pages come up, and the first call of run.sh
        # builds the kit's load generator if it is not built yet.
        for s in servers:
            log(f"warm-up: {s.name}")
            measure(bench, s, out / "warmup" / s.name, env, 1, 1800)
        results = out / "results.jsonl"
        by_round = {}
        for r in range(1, args.rounds + 1):
            k = (r - 1) % len(servers)
            for s in servers[k:] + servers[:k]:
                record = measure(bench, s, out / "rounds" / f"r{r:02d}-{s.name}", env,
                                 args.seconds, one)
                record["run"] = r
                with open(results, "a", encoding="utf-8") as f:
                    f.write(json.dumps(record, ensure_ascii=False) + "\n")
                fig = figures(record)
                by_round.setdefault(r, {})[s.name] = fig
                cpu = fig["server CPU µs/req"]
                log(f"round {r}/{args.rounds} {s.name:<8} {fig['req/s']:>9} req/s  "
                    f"p50 {fig['latency p50 ms']} ms  p99 {fig['latency p99 ms']} ms  "
                    f"CPU {cpu if cpu is None else round(cpu, 2)} µs/req"
                    + (f"  FAILED REQUESTS: {fig['failed']}" if fig["failed"] else ""))
                if not s.alive():
                    fail(f"{s.name} is no longer running; see {s.log_path}")
    finally:
        for s in servers:
            s.stop()

    loadgen = Path(env["BENCH_WORK"]) / "loadgen" / "target" / "release" / "loadgen"
    names = [n for n, _, _ in variants]
    peers = ",".join(n for n in names if n != "tree")
    report = ["report", "--file", results, "--target", "tree", "--peers", peers]
    table = run([loadgen, *report], 60, capture_output=True, text=True).stdout
    markdown = run([loadgen, *report, "--markdown"], 60, capture_output=True, text=True).stdout
    summary = paired_summary(by_round, pairs, names)
    failed = sum(f["failed"] for rnd in by_round.values() for f in rnd.values())
    text = "\n".join([
        "", "the kit's table (medians over the rounds; ratio = tree's figure / the other's):",
        "", table.rstrip(), "", summary, "",
        f"non-200 answers + errors, all measurements: {failed}",
        "servers: " + "; ".join(f"{s.name} = {s.command()}" for s in servers),
        f"raw: {results} (run.sh's lines, one per measurement), table.md, logs: {out}",
        f"took {time.monotonic() - began:.0f} s", ""])
    print(text)
    (out / "table.txt").write_text(table)
    (out / "table.md").write_text(markdown)
    (out / "summary.txt").write_text("\n".join(header) + "\n" + text)


if __name__ == "__main__":
    main()
