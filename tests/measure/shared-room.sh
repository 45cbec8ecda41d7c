#!/usr/bin/env bash
# What a chat room in Redis costs (--room redis://HOST:PORT, src/room/), measured with the
# team's benchmark kit's fanout scenario: SSE and WebSocket subscribers, one publisher POSTing
# tagged messages at a fixed rate, and per transport how many messages arrived, how many were
# lost or came twice, and how long each took (loadgen's RESULT line).
#
#     tests/measure/shared-room.sh
#     RUNS=5 FANOUT_SSE=1000 FANOUT_WS=1000 tests/measure/shared-room.sh   # other sizes
#
# Environment (defaults in brackets): RUNS [3] measurements of each setup; FANOUT_SSE [500],
# FANOUT_WS [500], FANOUT_MESSAGES [200], FANOUT_RATE [50 per s] as in the kit; PAUSE [2 s]
# between measurements; BENCH_KIT [../shared/bench from the repository]; BENCH_WORK
# [/tmp/webwire-bench, as for the kit's run.sh on a read-only kit], where the load generator is
# built and the results go; OUT [$BENCH_WORK/results/shared-room-<time>]; REDIS_SERVER
# [/usr/bin/redis-server, Debian's `apt-get install redis-server`].
#
# It builds webwire (`cargo build --release`, then runs a copy of the binary, so a rebuild
# while it runs changes nothing) and the kit's loadgen the way run.sh does (`cargo build
# --release --target-dir $BENCH_WORK/loadgen/target`, so the binary is the same
# $BENCH_WORK/loadgen/target/release/loadgen), but from a copy of loadgen's Cargo.toml and src/
# in $BENCH_WORK/loadgen-src: cargo writes a Cargo.lock next to Cargo.toml, and the kit is
# never written to. It starts a private redis-server on a free loopback port (temp dir,
# `--save '' --appendonly no`) and measures four setups, interleaved (the order rotates every
# run, as run.sh does):
#
#   memory, 1 proc         one webwire, room in memory: SSE, WS and the publisher on it (baseline)
#   redis, 1 proc          one webwire with --room redis: the same, plus the trip through Redis
#   redis, 2 procs, SSE@B  two webwire processes A and B on the same Redis: publisher and WS on
#                          A, SSE on B
#   redis, 2 procs, WS@B   the same with SSE on A and WS on B
#
# so each transport is measured on the publisher's process and on the other one. Every
# measurement starts fresh webwire processes (`--quiet --port P`, release build; Redis emptied
# with FLUSHALL before a Redis setup) and stops them by PID afterwards, so no idle process
# competes for the CPU; Redis and every webwire are stopped by PID at exit.
#
# What to read: the first table has one row per setup and transport; "on" says whether its
# subscribers were on the publisher's process (pub) or the other one (other). delivered / lost
# / dup are totals over all runs (expected = subscribers x messages x runs): a correct server
# shows lost 0 and dup 0 in every row, and the script lists each run that did not ("CHECK"
# lines). p50 / p99 are delivery latencies (POST sent -> subscriber parsed it, one loadgen
# clock), the median over runs, with the range of p99 over runs; "x mem" is that median divided
# by the in-memory baseline's for the same transport (above 1 = slower). The second table has,
# per setup, the publisher's figures (publish_s against messages/rate: a POST slower than
# 1/rate makes the publisher fall behind; POST p50/p99) and the CPU seconds the webwire
# process(es) and redis-server used during the measurement. Everything shares the machine's
# cores with the load generator: compare rows of one run of this script, read ratios.
# Raw RESULT lines: $OUT/logs/*.log; one JSON line per measurement: $OUT/results.jsonl.
set -uo pipefail

die() { echo "shared-room.sh: $*" >&2; exit 2; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
KIT=$(cd "${BENCH_KIT:-$ROOT/../shared/bench}" 2>/dev/null && pwd) || die "benchmark kit not found (set BENCH_KIT)"
# never the kit's own folder (run.sh uses it when writable, and root can write anywhere)
WORK=${BENCH_WORK:-${TMPDIR:-/tmp}/webwire-bench}
mkdir -p "$WORK" && WORK=$(cd "$WORK" && pwd) || die "cannot create $WORK"
case $WORK/ in "$KIT"/*) die "BENCH_WORK must be outside the kit ($KIT)" ;; esac
LOADGEN=$WORK/loadgen/target/release/loadgen
REDIS_SERVER=${REDIS_SERVER:-/usr/bin/redis-server}

: "${RUNS:=3}" "${FANOUT_SSE:=500}" "${FANOUT_WS:=500}" "${FANOUT_MESSAGES:=200}" "${FANOUT_RATE:=50}" "${PAUSE:=2}"

for v in RUNS FANOUT_SSE FANOUT_WS FANOUT_MESSAGES FANOUT_RATE; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer (got '${!v}')"
done
[[ $PAUSE =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "PAUSE must be a number of seconds (got '$PAUSE')"
[ -x "$REDIS_SERVER" ] || die "$REDIS_SERVER not found (apt-get install redis-server, or set REDIS_SERVER)"
command -v cargo >/dev/null || die "cargo is required"
command -v python3 >/dev/null || die "python3 is required (for the table)"

OUT=${OUT:-$WORK/results/shared-room-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT/logs" || die "cannot create $OUT"
RESULTS=$OUT/results.jsonl
: > "$RESULTS"

# ---------------------------------------------------------------- builds
log "building webwire (cargo build --release)"
(cd "$ROOT" && cargo build --release --quiet) || die "webwire build failed"
# the commit the binary was built from, and the binary itself, pinned for the whole run
commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=""
# what goes into the binary: src/ and the Cargo files (changes to tests or docs do not count)
[ -n "$(git -C "$ROOT" status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null)" ] &&
  dirty=" plus uncommitted changes under src/ or to Cargo.toml/Cargo.lock"
BIN=$OUT/webwire
cp "$ROOT/target/release/webwire" "$BIN" || die "cannot copy the webwire binary"
log "building the kit's loadgen into $WORK/loadgen/target (sources copied to $WORK/loadgen-src)"
mkdir -p "$WORK/loadgen-src" || die "cannot create $WORK/loadgen-src"
rm -rf "$WORK/loadgen-src/src"
cp -p "$KIT/loadgen/Cargo.toml" "$WORK/loadgen-src/" && cp -pR "$KIT/loadgen/src" "$WORK/loadgen-src/" ||
  die "cannot copy the loadgen sources"
[ -f "$KIT/loadgen/Cargo.lock" ] && cp -p "$KIT/loadgen/Cargo.lock" "$WORK/loadgen-src/"
(cd "$WORK/loadgen-src" && cargo build --release --quiet --target-dir "$WORK/loadgen/target") || die "loadgen build failed"
[ -x "$LOADGEN" ] || die "no loadgen at $LOADGEN"

hard=$(ulimit -Hn)
[ "$hard" = unlimited ] && hard=1048576
ulimit -n "$hard" 2>/dev/null || true

# ---------------------------------------------------------------- processes, stopped by PID
REDIS_PID="" REDIS_DIR="" SERVER_PIDS=()

stop_pid() { # pid: TERM, up to 5 s, then KILL
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  return 0
}
stop_servers() {
  local pid
  for pid in "${SERVER_PIDS[@]}"; do stop_pid "$pid"; done
  SERVER_PIDS=()
}
cleanup() {
  stop_servers
  [ -n "$REDIS_PID" ] && stop_pid "$REDIS_PID"
  [ -n "$REDIS_DIR" ] && rm -rf "$REDIS_DIR"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# one inline command to the private Redis over bash's /dev/tcp; prints the first reply line
redis_cmd() {
  local reply
  exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT" || return 1
  printf '%s\r\n' "$1" >&3
  IFS= read -r -t 5 reply <&3
  exec 3<&- 3>&-
  printf '%s\n' "${reply%$'\r'}"
}

# utime + stime of a PID, in clock ticks
cpu_ticks() {
  local rest
  [ -r "/proc/$1/stat" ] || { echo 0; return; }
  rest=$(< "/proc/$1/stat"); rest=${rest##*) }
  set -- $rest
  echo $(( ${12} + ${13} ))
}
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)

start_webwire() { # name [--room URL]: sets PORT_<name>
  local name=$1 port pid
  shift
  port=$("$LOADGEN" freeport) || die "no free port"
  "$BIN" --quiet --port "$port" "$@" > "$OUT/logs/server-$name-$CUR.log" 2>&1 < /dev/null &
  pid=$!
  SERVER_PIDS+=("$pid")
  printf -v "PORT_$name" '%s' "$port"
  printf -v "PID_$name" '%s' "$pid"
  if ! "$LOADGEN" wait --url "http://127.0.0.1:$port/time" --timeout 30 > /dev/null 2>&1; then
    log "error: webwire $name ($*) did not answer on port $port; its log:"
    tail -n 20 "$OUT/logs/server-$name-$CUR.log" >&2
    return 1
  fi
}

# ---------------------------------------------------------------- Redis
REDIS_DIR=$(mktemp -d "${TMPDIR:-/tmp}/shared-room-redis.XXXXXX") || die "mktemp failed"
REDIS_PORT=$("$LOADGEN" freeport) || die "no free port"
"$REDIS_SERVER" --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
  --dir "$REDIS_DIR" --logfile "$OUT/logs/redis.log" --daemonize no < /dev/null &
REDIS_PID=$!
for i in $(seq 1 100); do
  [ "$(redis_cmd PING 2>/dev/null)" = "+PONG" ] && break
  kill -0 "$REDIS_PID" 2>/dev/null || die "redis-server exited; see $OUT/logs/redis.log"
  sleep 0.1
done
[ "$(redis_cmd PING 2>/dev/null)" = "+PONG" ] || die "redis-server does not answer PING on port $REDIS_PORT"
ROOM=redis://127.0.0.1:$REDIS_PORT

# ---------------------------------------------------------------- header
cpu_model=$(awk -F': *' '/^model name/{print $2; exit}' /proc/cpuinfo)
LOAD_BEFORE=$(uptime)
{
  echo "shared room in Redis: fanout, $FANOUT_SSE SSE + $FANOUT_WS WS, $FANOUT_MESSAGES msgs @ $FANOUT_RATE/s, $RUNS run(s) per setup"
  echo "machine: $(nproc) cores, ${cpu_model:-unknown CPU}"
  echo "webwire: commit $commit$dirty at build time ($ROOT), run from the copy $BIN"
  echo "redis:   $("$REDIS_SERVER" --version | awk '{print $3}') on 127.0.0.1:$REDIS_PORT (pid $REDIS_PID, --save '' --appendonly no)"
  echo "load before:$LOAD_BEFORE"
} | tee "$OUT/header.txt"

# ---------------------------------------------------------------- one measurement
SETUPS="memory redis-1 redis-2-sseB redis-2-wsB"
limit=$((30 + (FANOUT_SSE + FANOUT_WS) / 100 + 10 + FANOUT_MESSAGES / FANOUT_RATE + 10 + 30))

measure() { # setup run
  local setup=$1 run=$2 sse ws pub sse_on ws_on rc result pids p c0 c1 r0 r1 logf
  CUR=$setup-$run
  logf=$OUT/logs/fanout-$CUR.log
  if [ "$setup" != memory ]; then
    [ "$(redis_cmd FLUSHALL)" = "+OK" ] || { log "error: FLUSHALL failed"; return 1; }
  fi
  case $setup in
    memory)  start_webwire A || return 1 ;;
    redis-1) start_webwire A --room "$ROOM" || return 1 ;;
    *)       start_webwire A --room "$ROOM" && start_webwire B --room "$ROOM" || { stop_servers; return 1; } ;;
  esac
  pub=$PORT_A
  case $setup in
    memory|redis-1) sse=$PORT_A ws=$PORT_A sse_on=pub ws_on=pub ;;
    redis-2-sseB)   sse=$PORT_B ws=$PORT_A sse_on=other ws_on=pub ;;
    redis-2-wsB)    sse=$PORT_A ws=$PORT_B sse_on=pub ws_on=other ;;
  esac
  pids=${SERVER_PIDS[*]}
  c0=0; for p in $pids; do c0=$((c0 + $(cpu_ticks "$p"))); done
  r0=$(cpu_ticks "$REDIS_PID")
  timeout -k 5 "$limit" "$LOADGEN" fanout \
    --sse-url "http://127.0.0.1:$sse/chat/events" --ws-url "ws://127.0.0.1:$ws/chat/ws?since=0" \
    --publish-url "http://127.0.0.1:$pub/chat/send" \
    --sse "$FANOUT_SSE" --ws "$FANOUT_WS" --messages "$FANOUT_MESSAGES" --rate "$FANOUT_RATE" > "$logf" 2>&1
  rc=$?
  c1=0; for p in $pids; do c1=$((c1 + $(cpu_ticks "$p"))); done
  r1=$(cpu_ticks "$REDIS_PID")
  local alive=1
  for p in $pids; do kill -0 "$p" 2>/dev/null || alive=0; done
  stop_servers
  result=$(grep '^RESULT ' "$logf" | tail -n 1 | cut -c8-)
  [ -n "$result" ] || result=null
  printf '{"setup":"%s","run":%d,"rc":%d,"servers_alive":%s,"sse_on":"%s","ws_on":"%s","cpu_webwire_s":%s,"cpu_redis_s":%s,"result":%s}\n' \
    "$setup" "$run" "$rc" "$([ $alive = 1 ] && echo true || echo false)" "$sse_on" "$ws_on" \
    "$(awk -v t=$((c1 - c0)) -v h="$CLK_TCK" 'BEGIN{printf "%.2f", t/h}')" \
    "$(awk -v t=$((r1 - r0)) -v h="$CLK_TCK" 'BEGIN{printf "%.2f", t/h}')" "$result" >> "$RESULTS"
  if [ "$result" = null ]; then
    log "  $setup run $run: FAILED (rc $rc), see $logf"
  else
    log "  $setup run $run: done (rc $rc)"
  fi
  [ $alive = 1 ] || log "  warning: a webwire process of $setup run $run had exited; see $OUT/logs/server-*-$CUR.log"
}

# ---------------------------------------------------------------- runs, interleaved
for run in $(seq 1 "$RUNS"); do
  set -- $SETUPS
  k=$(( (run - 1) % $# ))
  order="${*:k+1} ${*:1:k}"
  log "run $run of $RUNS: $order"
  for setup in $order; do
    measure "$setup" "$run"
    sleep "$PAUSE"
  done
done
LOAD_AFTER=$(uptime)

# ---------------------------------------------------------------- table
python3 - "$RESULTS" "$FANOUT_MESSAGES" "$FANOUT_RATE" "$RUNS" > "$OUT/table.txt" <<'EOF'
import json, statistics, sys

path, messages, rate, runs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
rows = [json.loads(line) for line in open(path) if line.strip()]
SETUPS = [("memory", "memory, 1 proc"), ("redis-1", "redis, 1 proc"),
          ("redis-2-sseB", "redis, 2 procs, SSE@B"), ("redis-2-wsB", "redis, 2 procs, WS@B")]

def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None

def fmt(x, digits=1):
    return "-" if x is None else f"{x:.{digits}f}"

def ratio(x, base):
    if x is None or base is None:
        return "-"
    return "=" if x == base == 0 else ("-" if base == 0 else f"{x / base:.2f}")

def table(header, body):
    widths = [max(len(str(r[i])) for r in [header] + body) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) if i < 3 else str(c).rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths)))
    print(line(header))
    print("  ".join("-" * w for w in widths))
    for r in body:
        print(line(r))

base = {}
body, checks = [], []
for key, label in SETUPS:
    mine = [r for r in rows if r["setup"] == key]
    good = [r for r in mine if isinstance(r.get("result"), dict) and "sse" in r["result"] and "ws" in r["result"]]
    for r in mine:
        if r not in good:
            checks.append(f"CHECK {key} run {r['run']}: no RESULT (rc {r['rc']})")
        if not r.get("servers_alive", True):
            checks.append(f"CHECK {key} run {r['run']}: a webwire process had exited")
    for t in ("sse", "ws"):
        parts = [r["result"][t] for r in good]
        on = good[0][f"{t}_on"] if good else "-"
        expected = sum(p["expected"] for p in parts)
        delivered = sum(p["delivered"] for p in parts)
        lost = sum(p["lost"] for p in parts)
        dup = sum(p["duplicated"] for p in parts)
        p50 = med(p["latency_ms"]["p50"] for p in parts)
        p99s = [p["latency_ms"]["p99"] for p in parts if p["latency_ms"]["p99"] is not None]
        p99 = med(p99s)
        if key == "memory":
            base[t] = (p50, p99)
        b50, b99 = base.get(t, (None, None))
        body.append([label, t.upper() if t == "sse" else "WS", on,
                     f"{delivered}/{expected}", lost, dup, fmt(p50), fmt(p99),
                     f"{fmt(min(p99s))}-{fmt(max(p99s))}" if p99s else "-",
                     ratio(p50, b50), ratio(p99, b99)])
        for r in good:
            p = r["result"][t]
            bad = []
            if p["lost"]: bad.append(f"lost {p['lost']}")
            if p["duplicated"]: bad.append(f"duplicated {p['duplicated']}")
            if p["out_of_order"]: bad.append(f"out of order {p['out_of_order']}")
            if p["bad_messages"]: bad.append(f"bad messages {p['bad_messages']}")
            if p["connected"] < p["subscribers"]: bad.append(f"connected {p['connected']}/{p['subscribers']}")
            if p["ready"] < p["connected"]: bad.append(f"ready {p['ready']}/{p['connected']}")
            if bad:
                checks.append(f"CHECK {key} run {r['run']} {t} (on {r[f'{t}_on']} process): " + ", ".join(bad))

print(f"delivery, per setup and transport (delivered/lost/dup: totals over runs; latency ms: median over runs; x mem: / in-memory baseline)")
table(["setup", "transport", "on", "delivered/expected", "lost", "dup", "p50 ms", "p99 ms",
       "p99 range", "p50 x mem", "p99 x mem"], body)

body2 = []
for key, label in SETUPS:
    good = [r for r in rows if r["setup"] == key and isinstance(r.get("result"), dict) and "publish" in r["result"]]
    if not good:
        body2.append([label] + ["-"] * 7)
        continue
    res = [r["result"] for r in good]
    errors = sum(x["publish"]["errors"] for x in res)
    attempted = sum(x.get("publish_attempted", 0) for x in res)
    body2.append([label,
                  f"{fmt(med(x['publish_s'] for x in res), 2)} / {messages / rate:.2f}",
                  f"{attempted}/{messages * len(res)}",
                  errors,
                  fmt(med(x["publish"]["latency_ms"]["p50"] for x in res), 2),
                  fmt(med(x["publish"]["latency_ms"]["p99"] for x in res), 2),
                  fmt(med(r["cpu_webwire_s"] for r in good), 2),
                  fmt(med(r["cpu_redis_s"] for r in good), 2)])
    if errors:
        checks.append(f"CHECK {key}: {errors} publish error(s) over {len(res)} run(s)")
print()
print("publisher and CPU, per setup (medians over runs; CPU = seconds used during the measurement)")
table(["setup", "publish_s / K/R", "POSTs", "POST err", "POST p50 ms", "POST p99 ms",
       "webwire CPU s", "redis CPU s"], body2)
print()
if checks:
    print("\n".join(checks))
else:
    print("every run: 0 lost, 0 duplicated, 0 out of order, every subscriber connected and ready")
EOF
[ -s "$OUT/table.txt" ] || die "the table could not be made from $RESULTS"
echo
cat "$OUT/table.txt"
echo
echo "load after: $LOAD_AFTER" | tee -a "$OUT/header.txt"
echo "raw RESULT lines: $OUT/logs/fanout-*.log; one JSON line per measurement: $RESULTS"
