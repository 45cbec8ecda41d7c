// What a thread per connection costs: hold thousands of Server-Sent Events streams open on
// one webwire server and measure, at each step, its memory, its threads, how fast it still
// answers a plain request, and how fast a message reaches every stream. The figures in
// docs/15-scale.md come from it. Not part of `cargo test`: run it by hand, after a release
// build, with nothing but Node 20 (no npm packages, no benchmark kit):
//
//     cargo build --release
//     node tests/measure/scale.mjs [--steps 1000,2500,5000,10000] [--binary target/release/webwire]
//                                  [--out docs/img] [--extra "<server flags>"]
//                                  [--messages 20] [--spacing-ms 50] [--requests 500]
//
// It starts the server itself (`--quiet --port 0 --bind 127.0.0.1`, then --extra), and for each
// step N:
//
//   1. opens N streams, `GET /chat/events?since=LAST` on raw sockets, at most 200 connecting
//      at a time; a stream counts as open when its answer is `200`, `text/event-stream` and
//      chunked (an answer with a whole body is the server saying "full, come back": `retry:`);
//   2. reads the server's /proc/PID/status (VmRSS, VmSize, Threads), its mappings, how much
//      of each thread's stack is resident (/proc/PID/smaps), the kernel's KernelStack (system
//      wide) and the CPU the server burns while every stream idles;
//   3. times `GET /time` on one separate keep-alive connection (--requests, one after another);
//   4. publishes --messages messages with `POST /chat/send`, one every --spacing-ms, each
//      carrying its send time (process.hrtime.bigint, in ns) as its text, and times each one's
//      arrival at every stream;
//   5. closes every stream and waits for the server's thread count to come back down.
//
// Then, if Debian's `wrk` is installed, 3 runs of `wrk -t1 -c50 -d3s .../time` (median req/s).
// It prints a Markdown table and writes scale.svg (two charts) and scale.json (every raw
// figure) into --out. The client is this one Node process: at high counts its own event loop
// is part of every latency it reports. It raises no limit itself: see `ulimit -n`.
import net from 'node:net';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';

// ---------------------------------------------------------------------------------------------
// Options

const ROOT = decodeURIComponent(new URL('../../', import.meta.url).pathname); // the repository
const CONNECTING_AT_ONCE = 200; // streams being opened at the same time
const OPEN_TIMEOUT_MS = 15_000; // one stream's answer must come within this
const DRAIN_TIMEOUT_MS = 60_000; // after closing, the threads must be gone within this
const DELIVERY_GRACE_MS = 10_000; // after the last message, how long to wait for stragglers
const CPU_WINDOW_MS = 2_000; // how long to watch the idle server's CPU time

function parseArgs(argv) {
  const options = {
    binary: `${ROOT}target/release/webwire`,
    steps: [1000, 2500, 5000, 10000],
    out: `${ROOT}docs/img`,
    extra: [],
    messages: 20,
    spacingMs: 50,
    requests: 500,
  };
  const number = (flag, value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) fail(`${flag} needs a whole number above 0, not ${value}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (flag === '--help' || flag === '-h') {
      console.log(fs.readFileSync(new URL(import.meta.url), 'utf8').split('\nimport ')[0]);
      process.exit(0);
    }
    if (value === undefined) fail(`${flag} needs a value (see --help)`);
    i++;
    switch (flag) {
      case '--binary': options.binary = value; break;
      case '--out': options.out = value; break;
      case '--steps': options.steps = value.split(',').map((s) => number(flag, s.trim())); break;
      case '--extra': options.extra = value.split(/\s+/).filter(Boolean); break;
      case '--messages': options.messages = number(flag, value); break;
      case '--spacing-ms': options.spacingMs = number(flag, value); break;
      case '--requests': options.requests = number(flag, value); break;
      default: fail(`unknown option ${flag} (see --help)`);
    }
  }
  return options;
}

function fail(message) {
  console.error(`scale.mjs: ${message}`);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// Small helpers

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const nsToMs = (ns) => Number(ns) / 1e6;

// The q-quantile (0..1) of a list of numbers, nearest rank; null when empty.
function quantile(values, q) {
  if (values.length === 0) return null;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

const median = (values) => quantile(values, 0.5);

function fixed(value, digits = 1) {
  return value === null || value === undefined || Number.isNaN(value) ? '—' : value.toFixed(digits);
}

function sh(command, args) {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// What the kernel tells about the server (all from /proc: see proc(5))

// VmRSS, VmSize (KiB) and Threads from /proc/PID/status.
function processStatus(pid) {
  const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name) => Number((new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(text) ?? [])[1]);
  return { rssKiB: field('VmRSS'), vmKiB: field('VmSize'), threads: field('Threads') };
}

// Lines of /proc/PID/maps: the mappings that vm.max_map_count limits.
function mappings(pid) {
  return fs.readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n').filter(Boolean).length;
}

// The thread stacks in /proc/PID/smaps: how much each reserves (its size and its guard page)
// and how much of it is resident (touched). A thread stack is an anonymous read-write mapping
// right above a small no-access one, its guard page; the signal stacks (a few KiB, with a
// guard too) are left out by their size, the main thread's `[stack]` by its name.
function threadStacks(pid) {
  const maps = [];
  let current = null;
  for (const line of fs.readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      current = {
        start: parseInt(head[1], 16), end: parseInt(head[2], 16), perms: head[3], path: head[4], rssKiB: 0,
      };
      maps.push(current);
    } else if (current && line.startsWith('Rss:')) {
      current.rssKiB = Number(line.split(/\s+/)[1]);
    }
  }
  const reserved = [], touched = [];
  maps.forEach((m, i) => {
    const guard = maps[i - 1];
    const size = (m.end - m.start) / 1024;
    if (m.perms !== 'rw-p' || m.path || size <= 16 || !guard) return;
    if (guard.perms !== '---p' || guard.end !== m.start || (guard.end - guard.start) / 1024 > 64) return;
    reserved.push(size + (guard.end - guard.start) / 1024);
    touched.push(m.rssKiB);
  });
  // Medians: the server's few threads of its own (2 MiB stacks) do not move them.
  return { count: reserved.length, reservedKiB: median(reserved), touchedKiB: median(touched) };
}

// User + system CPU time, in clock ticks (fields 14 and 15 of /proc/PID/stat).
function cpuTicks(pid) {
  const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' '); // from field 3 on
  return Number(fields[11]) + Number(fields[12]);
}

// A field of /proc/meminfo, in KiB. KernelStack is every thread's kernel stack, system wide:
// memory a thread costs that its process's RSS never shows.
function meminfo(name) {
  const text = fs.readFileSync('/proc/meminfo', 'utf8');
  return Number((new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(text) ?? [])[1]);
}

// The whole picture at one moment.
function snapshot(pid) {
  return { ...processStatus(pid), maps: mappings(pid), kernelStackKiB: meminfo('KernelStack') };
}

const CLOCK_TICKS = Number(sh('getconf', ['CLK_TCK'])) || 100;

// The server's CPU use over `ms`, as a percentage of one core.
async function cpuPercent(pid, ms) {
  const before = cpuTicks(pid);
  const start = process.hrtime.bigint();
  await sleep(ms);
  const ticks = cpuTicks(pid) - before;
  const seconds = nsToMs(process.hrtime.bigint() - start) / 1000;
  return (100 * ticks) / CLOCK_TICKS / seconds;
}

// ---------------------------------------------------------------------------------------------
// The server

// Starts the server and resolves once it has printed the port it got.
function startServer(binary, extra) {
  const args = ['--quiet', '--port', '0', '--bind', '127.0.0.1', ...extra];
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => { stderr += chunk; });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`the server printed no "listening on" line within 20 s\n${stderr}`));
    }, 20_000);
    let stdout = '';
    child.stdout.setEncoding('utf8');
    const onData = (chunk) => {
      stdout += chunk;
      // `webwire listening on http://127.0.0.1:PORT/ (...)`: whatever follows may change.
      const line = stdout.split('\n').find((l) => l.includes('listening on'));
      const port = line && /:(\d+)\//.exec(line);
      if (!port) return;
      clearTimeout(timer);
      child.stdout.off('data', onData);
      child.stdout.resume(); // keep draining, so the server never blocks on a full pipe
      resolve({ child, port: Number(port[1]), args, stderr: () => stderr });
    };
    child.stdout.on('data', onData);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`could not start ${binary}: ${err.message}`));
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the server exited (code ${code}, signal ${signal}) before it was ready\n${stderr}`));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// One keep-alive HTTP/1.1 connection, one request at a time (for /time and /chat/send)

class Client {
  constructor(port) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.setNoDelay(true);
    this.buffer = Buffer.alloc(0);
    this.waiting = null; // { resolve, reject } of the request in flight
    this.error = null;
    this.socket.on('data', (data) => {
      this.buffer = Buffer.concat([this.buffer, data]);
      this.tryAnswer();
    });
    this.socket.on('error', (err) => this.broken(err));
    this.socket.on('close', () => this.broken(new Error('the server closed the connection')));
  }

  broken(err) {
    this.error ??= err;
    if (this.waiting) {
      this.waiting.reject(err);
      this.waiting = null;
    }
  }

  // Sends `raw` (a whole request) and resolves with { status, headers, body } once the
  // response's Content-Length bytes are in.
  request(raw) {
    if (this.error) return Promise.reject(this.error);
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.socket.write(raw);
    });
  }

  tryAnswer() {
    const end = this.buffer.indexOf('\r\n\r\n');
    if (end < 0 || !this.waiting) return;
    const head = parseHead(this.buffer.subarray(0, end).toString('latin1'));
    const length = Number(head.headers['content-length'] ?? 0);
    if (this.buffer.length < end + 4 + length) return;
    const body = this.buffer.subarray(end + 4, end + 4 + length).toString('utf8');
    this.buffer = this.buffer.subarray(end + 4 + length);
    const { resolve } = this.waiting;
    this.waiting = null;
    resolve({ ...head, body });
  }

  close() {
    this.socket.destroy();
  }
}

// `HTTP/1.1 200 OK` and its header lines, names lowercased.
function parseHead(text) {
  const [statusLine, ...lines] = text.split('\r\n');
  const status = Number(statusLine.split(' ')[1]);
  const headers = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { statusLine, status, headers };
}

// ---------------------------------------------------------------------------------------------
// One Server-Sent Events stream on a raw socket: head, then chunked body, then events

class Stream {
  // `onMessage(message, arrivedNs)` is called for every chat message the stream carries.
  constructor(port, since, onMessage) {
    this.onMessage = onMessage;
    this.state = 'connecting'; // -> 'open' | 'refused' | 'failed'; 'ended' once the body ends
    this.reason = null;
    this.buffer = Buffer.alloc(0);
    this.chunkLeft = -1; // -1: a chunk-size line comes next
    this.text = ''; // event-stream text not yet split into events
    this.lastId = 0;
    this.duplicates = 0;
    this.gaps = 0;
    this.opened = new Promise((resolve) => { this.settle = resolve; });
    const timer = setTimeout(() => this.fail('timeout'), OPEN_TIMEOUT_MS);
    this.opened.then(() => clearTimeout(timer));

    this.socket = net.connect(port, '127.0.0.1');
    this.socket.on('error', (err) => this.fail(err.code ?? err.message));
    this.socket.on('close', () => {
      if (this.state === 'connecting') this.fail('closed before answering');
      else if (this.state === 'open') this.state = 'ended';
    });
    this.socket.on('data', (data) => this.receive(data));
    this.socket.on('connect', () => {
      this.socket.write(`GET /chat/events?since=${since} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    });
  }

  fail(reason) {
    if (this.state !== 'connecting') return;
    this.state = 'failed';
    this.reason = reason;
    this.socket.destroy();
    this.settle(this);
  }

  refuse(reason) {
    this.state = 'refused';
    this.reason = reason;
    this.socket.destroy();
    this.settle(this);
  }

  receive(data) {
    const arrived = process.hrtime.bigint();
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, data]) : data;
    if (this.state === 'connecting') {
      const end = this.buffer.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = parseHead(this.buffer.subarray(0, end).toString('latin1'));
      this.buffer = this.buffer.subarray(end + 4);
      if (head.status !== 200) return this.refuse(`status ${head.status}`);
      if (!(head.headers['content-type'] ?? '').startsWith('text/event-stream')) {
        return this.refuse(`content-type ${head.headers['content-type']}`);
      }
      // A stream is chunked; a whole body (Content-Length) is the "full, come back" answer.
      if (!/chunked/i.test(head.headers['transfer-encoding'] ?? '')) {
        return this.refuse('full (retry:)');
      }
      this.state = 'open';
      this.settle(this);
    }
    if (this.state === 'open') this.unchunk(arrived);
  }

  // Takes whole chunks off the buffer and hands their text to the event parser.
  unchunk(arrived) {
    for (;;) {
      if (this.chunkLeft < 0) {
        const eol = this.buffer.indexOf('\r\n');
        if (eol < 0) return;
        this.chunkLeft = parseInt(this.buffer.subarray(0, eol).toString('latin1'), 16);
        this.buffer = this.buffer.subarray(eol + 2);
        if (!(this.chunkLeft > 0)) { // the last chunk (or nonsense): the stream is over
          this.state = 'ended';
          this.socket.destroy();
          return;
        }
      }
      if (this.buffer.length < this.chunkLeft + 2) return;
      this.text += this.buffer.subarray(0, this.chunkLeft).toString('utf8');
      this.buffer = this.buffer.subarray(this.chunkLeft + 2); // the chunk's CR LF
      this.chunkLeft = -1;
      this.events(arrived);
    }
  }

  // Splits whole events (a blank line ends one) and reads their `event:` and `data:` lines.
  events(arrived) {
    let end;
    while ((end = this.text.indexOf('\n\n')) >= 0) {
      const block = this.text.slice(0, end);
      this.text = this.text.slice(end + 2);
      let name = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
        else if (line.startsWith('event:')) name = line.slice(6).trim();
      }
      if (name === 'gap') this.gaps++;
      if (name !== 'message' || data.length === 0) continue; // retry:, keepalive comments
      let message;
      try {
        message = JSON.parse(data.join('\n'));
      } catch {
        continue;
      }
      if (message.id <= this.lastId) this.duplicates++;
      this.lastId = Math.max(this.lastId, message.id);
      this.onMessage(message, arrived);
    }
  }

  close() {
    this.socket.destroy();
  }
}

// Opens `count` streams, at most CONNECTING_AT_ONCE connecting at a time.
async function openStreams(port, count, since, onMessage) {
  const streams = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      const stream = new Stream(port, since, onMessage);
      streams.push(stream);
      await stream.opened;
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONNECTING_AT_ONCE, count) }, worker));
  return streams;
}

// ---------------------------------------------------------------------------------------------
// The measures

// `requests` sequential `GET /time` on one keep-alive connection: latencies in ms.
async function timeLatency(port, requests) {
  const client = new Client(port);
  const latencies = [];
  const statuses = {};
  try {
    for (let i = 0; i < requests; i++) {
      const start = process.hrtime.bigint();
      const answer = await client.request('GET /time HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      latencies.push(nsToMs(process.hrtime.bigint() - start));
      statuses[answer.status] = (statuses[answer.status] ?? 0) + 1;
    }
  } catch (err) {
    statuses.error = err.message;
  } finally {
    client.close();
  }
  return { p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), count: latencies.length, statuses };
}

// Publishes `count` messages, one every `spacingMs`; `fanout` counts their arrivals.
async function publish(port, fanout, count, spacingMs) {
  const client = new Client(port);
  const start = Date.now();
  let lastId = null;
  const errors = [];
  try {
    for (let i = 0; i < count; i++) {
      const due = start + i * spacingMs;
      if (due > Date.now()) await sleep(due - Date.now());
      const sent = process.hrtime.bigint();
      fanout.sent.set(String(sent), { first: Infinity, last: 0 });
      const body = `text=${sent}&from=bench`;
      const answer = await client.request(
        'POST /chat/send HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
          'Content-Type: application/x-www-form-urlencoded\r\n' +
          `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      if (answer.status !== 200) errors.push(`status ${answer.status}`);
      else lastId = JSON.parse(answer.body).id ?? lastId;
    }
  } catch (err) {
    errors.push(err.message);
  } finally {
    client.close();
  }
  return { lastId, errors };
}

// Waits until the server's thread count is back to `threads` (or the timeout passes).
async function drain(pid, threads) {
  const start = Date.now();
  while (Date.now() - start < DRAIN_TIMEOUT_MS) {
    if (processStatus(pid).threads <= threads) return { ok: true, ms: Date.now() - start };
    await sleep(100);
  }
  return { ok: false, ms: Date.now() - start, threads: processStatus(pid).threads };
}

// One step: N streams held, everything measured, everything closed.
async function step(server, count, options, baseline, since) {
  const pid = server.child.pid;
  // sent: each message's send time (its text) -> its first and last arrival, in ms after it.
  const fanout = { sent: new Map(), latencies: [], delivered: 0 };
  const onMessage = (message, arrived) => {
    const spread = message.from === 'bench' && fanout.sent.get(message.text);
    if (!spread) return;
    const ms = nsToMs(arrived - BigInt(message.text));
    fanout.delivered++;
    fanout.latencies.push(ms);
    spread.first = Math.min(spread.first, ms);
    spread.last = Math.max(spread.last, ms);
  };

  const before = snapshot(pid);
  const openStart = Date.now();
  const streams = await openStreams(server.port, count, since, onMessage);
  const openMs = Date.now() - openStart;
  const open = streams.filter((s) => s.state === 'open');
  const notOpen = {};
  for (const s of streams) {
    if (s.state !== 'open') notOpen[s.reason] = (notOpen[s.reason] ?? 0) + 1;
  }
  await sleep(500); // let the last threads reach their wait
  const held = snapshot(pid);
  const stacks = threadStacks(pid);
  const idleCpu = await cpuPercent(pid, CPU_WINDOW_MS);
  const perStream = (now, then) => (open.length ? (now - then) / open.length : null);

  const time = await timeLatency(server.port, options.requests);

  const receivers = streams.filter((s) => s.state === 'open').length;
  // CPU both sides spend on the fan-out: the server writing, this process reading.
  const serverTicks = cpuTicks(pid);
  const clientCpu = process.cpuUsage();
  const published = await publish(server.port, fanout, options.messages, options.spacingMs);
  const expected = receivers * options.messages;
  const waitStart = Date.now();
  while (fanout.delivered < expected && Date.now() - waitStart < DELIVERY_GRACE_MS) await sleep(50);
  const serverCpuMs = ((cpuTicks(pid) - serverTicks) * 1000) / CLOCK_TICKS;
  const clientUsage = process.cpuUsage(clientCpu);
  const clientCpuMs = (clientUsage.user + clientUsage.system) / 1000;

  for (const s of streams) s.close();
  const drained = await drain(pid, baseline.threads);

  return {
    streams: count,
    open: open.length,
    notOpen,
    openMs,
    before,
    held,
    rssKiBPerStream: perStream(held.rssKiB, baseline.rssKiB),
    stacks: {
      count: stacks.count,
      reservedKiBEach: stacks.reservedKiB,
      touchedKiBEach: stacks.touchedKiB,
    },
    rssKiBPerStreamFromStepStart: perStream(held.rssKiB, before.rssKiB),
    vmKiBPerStream: perStream(held.vmKiB, baseline.vmKiB),
    mapsPerStream: perStream(held.maps, baseline.maps),
    kernelStackKiBPerStream: perStream(held.kernelStackKiB, before.kernelStackKiB),
    idleCpuPercent: idleCpu,
    time,
    fanout: {
      messages: options.messages,
      spacingMs: options.spacingMs,
      receivers,
      expected,
      delivered: fanout.delivered,
      lost: Math.max(0, expected - fanout.delivered),
      duplicates: streams.reduce((n, s) => n + s.duplicates, 0),
      gaps: streams.reduce((n, s) => n + s.gaps, 0),
      endedEarly: streams.filter((s) => s.state === 'ended').length,
      p50: quantile(fanout.latencies, 0.5),
      p99: quantile(fanout.latencies, 0.99),
      max: fanout.latencies.length ? fanout.latencies.reduce((a, b) => Math.max(a, b)) : null,
      // Per message: when the first stream had it, and when the last did (medians over the
      // messages). The gap between them is the time to write one message N times.
      firstP50: median([...fanout.sent.values()].map((s) => s.first).filter(Number.isFinite)),
      lastP50: median([...fanout.sent.values()].map((s) => s.last).filter((ms) => ms > 0)),
      publishErrors: published.errors,
      // CPU time per message delivered to one stream, in microseconds (the server's clock
      // ticks are 10 ms, so small steps are coarse); the client's includes its 50 ms waits' idle
      // loop, which costs next to nothing.
      serverCpuMs,
      clientCpuMs,
      serverCpuUsPerDelivery: fanout.delivered ? (serverCpuMs * 1000) / fanout.delivered : null,
      clientCpuUsPerDelivery: fanout.delivered ? (clientCpuMs * 1000) / fanout.delivered : null,
    },
    drain: drained,
    lastId: published.lastId,
  };
}

// Three `wrk` runs against /time, or null when wrk is not installed.
function wrkThroughput(port) {
  if (!sh('sh', ['-c', 'command -v wrk'])) return null;
  const runs = [];
  const command = ['-t1', '-c50', '-d3s', `http://127.0.0.1:${port}/time`];
  for (let i = 0; i < 3; i++) {
    const out = sh('wrk', command) ?? '';
    const rate = /Requests\/sec:\s+([\d.]+)/.exec(out);
    const errors = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
    runs.push({ requestsPerSecond: rate ? Number(rate[1]) : null, non2xx: errors ? Number(errors[1]) : 0 });
  }
  const rates = runs.map((r) => r.requestsPerSecond).filter((r) => r !== null);
  return { command: `wrk ${command.join(' ')}`, runs, median: median(rates) };
}

// ---------------------------------------------------------------------------------------------
// The report: a Markdown table, then a chart

function machine() {
  const cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8');
  return {
    cpus: Number(sh('nproc', [])) || null,
    model: (/^model name\s*:\s*(.*)$/m.exec(cpuinfo) ?? [])[1] ?? 'unknown',
    kernel: sh('uname', ['-r']) ?? 'unknown',
    openFilesSoft: sh('sh', ['-c', 'ulimit -Sn']),
    openFilesHard: sh('sh', ['-c', 'ulimit -Hn']),
    threadsMax: readProc('/proc/sys/kernel/threads-max'),
    pidMax: readProc('/proc/sys/kernel/pid_max'),
    maxMapCount: readProc('/proc/sys/vm/max_map_count'),
    localPortRange: readProc('/proc/sys/net/ipv4/ip_local_port_range'),
    node: process.version,
  };
}

function readProc(path) {
  try {
    return fs.readFileSync(path, 'utf8').trim().replace(/\s+/g, ' ');
  } catch {
    return null;
  }
}

function table(rows) {
  const lines = [
    '| streams | open | RSS KiB / stream | stack KiB reserved / touched | kernel stack KiB / stream | threads | idle CPU % | /time p50 / p99 ms | fan-out delivered | lost | fan-out p50 / p99 ms |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    const f = r.fanout;
    lines.push(
      `| ${r.streams} | ${r.open} | ${fixed(r.rssKiBPerStream)} ` +
        `| ${fixed(r.stacks.reservedKiBEach, 0)} / ${fixed(r.stacks.touchedKiBEach)} ` +
        `| ${fixed(r.kernelStackKiBPerStream)} | ${r.held.threads} | ${fixed(r.idleCpuPercent, 0)} ` +
        `| ${fixed(r.time.p50, 2)} / ${fixed(r.time.p99, 2)} | ${f.delivered} / ${f.expected} | ${f.lost} ` +
        `| ${fixed(f.p50)} / ${fixed(f.p99)} |`,
    );
  }
  return lines.join('\n');
}

const escapeXml = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

// A round upper bound for an axis, and its tick step: 1, 2 or 5 times a power of ten.
function niceAxis(max) {
  if (!(max > 0)) return { top: 1, tick: 0.25 };
  const raw = max / 4;
  const power = 10 ** Math.floor(Math.log10(raw));
  const tick = [1, 2, 5, 10].map((m) => m * power).find((t) => t >= raw);
  return { top: Math.ceil(max / tick) * tick, tick };
}

function label(value) {
  if (value >= 1000 && value % 1000 === 0) return `${value / 1000}k`;
  return Number.isInteger(value) ? String(value) : value.toFixed(value < 1 ? 2 : 1);
}

// A data point's mark: a square or a circle, in the series' colour.
function marker(series, cx, cy) {
  return series.marker === 'square'
    ? `<rect x="${cx - 5.5}" y="${cy - 5.5}" width="11" height="11" fill="${series.colour}"/>`
    : `<circle cx="${cx}" cy="${cy}" r="6" fill="${series.colour}"/>`;
}

// One line chart at (x, y) of size w × h: series are { name, colour, dash, marker, points }.
function chart({ x, y, w, h, heading, xLabel, yLabel, series, pointLabels }) {
  const legend = series.length > 1;
  const left = x + 62, right = x + w - 24, top = y + (legend ? 78 : 48), bottom = y + h - 52;
  const allX = series.flatMap((s) => s.points.map((p) => p[0]));
  const allY = series.flatMap((s) => s.points.map((p) => p[1]));
  const xs = niceAxis(Math.max(0, ...allX));
  const ys = niceAxis(Math.max(0, ...allY));
  const px = (v) => left + ((right - left) * v) / xs.top;
  const py = (v) => bottom - ((bottom - top) * v) / ys.top;
  const out = [];
  out.push(`<text x="${x + 8}" y="${y + 24}" class="heading">${escapeXml(heading)}</text>`);
  for (let v = 0; v <= ys.top + 1e-9; v += ys.tick) {
    out.push(`<line x1="${left}" y1="${py(v)}" x2="${right}" y2="${py(v)}" class="grid"/>`);
    out.push(`<text x="${left - 8}" y="${py(v) + 5}" class="tick" text-anchor="end">${label(v)}</text>`);
  }
  for (let v = 0; v <= xs.top + 1e-9; v += xs.tick) {
    out.push(`<line x1="${px(v)}" y1="${bottom}" x2="${px(v)}" y2="${bottom + 6}" class="axis"/>`);
    out.push(`<text x="${px(v)}" y="${bottom + 24}" class="tick" text-anchor="middle">${label(v)}</text>`);
  }
  out.push(`<line x1="${left}" y1="${bottom}" x2="${right}" y2="${bottom}" class="axis"/>`);
  out.push(`<line x1="${left}" y1="${top}" x2="${left}" y2="${bottom}" class="axis"/>`);
  out.push(`<text x="${(left + right) / 2}" y="${bottom + 46}" class="label" text-anchor="middle">${escapeXml(xLabel)}</text>`);
  out.push(`<text transform="translate(${x + 18} ${(top + bottom) / 2}) rotate(-90)" class="label" text-anchor="middle">${escapeXml(yLabel)}</text>`);
  series.forEach((s, i) => {
    const points = s.points.map(([a, b]) => `${px(a).toFixed(1)},${py(b).toFixed(1)}`).join(' ');
    if (s.points.length > 1) {
      out.push(`<polyline points="${points}" fill="none" stroke="${s.colour}" stroke-width="3"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`);
    }
    for (const [a, b] of s.points) {
      const cx = px(a), cy = py(b);
      out.push(marker(s, cx, cy));
      if (pointLabels) out.push(`<text x="${cx}" y="${cy - 12}" class="value" text-anchor="middle">${label(Math.round(b * 10) / 10)}</text>`);
    }
    if (legend) { // colour, line style and marker together: never colour alone
      const lx = left - 40 + i * 180, ly = y + 54;
      out.push(`<line x1="${lx}" y1="${ly - 5}" x2="${lx + 36}" y2="${ly - 5}" stroke="${s.colour}" stroke-width="3"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`);
      out.push(marker(s, lx + 18, ly - 5));
      out.push(`<text x="${lx + 44}" y="${ly}" class="tick">${escapeXml(s.name)}</text>`);
    }
  });
  return out.join('\n  ');
}

function svg(rows, info) {
  const ok = rows.filter((r) => r.open > 0);
  const memory = ok.filter((r) => r.rssKiBPerStream !== null).map((r) => [r.open, r.rssKiBPerStream]);
  const time = ok.filter((r) => r.time.p99 !== null).map((r) => [r.open, r.time.p99]);
  const fan = ok.filter((r) => r.fanout.p99 !== null).map((r) => [r.open, r.fanout.p99]);
  const W = 480, H = 280; // narrow, so the text stays readable scaled to a phone
  const words = rows.map((r) =>
    `${r.open} of ${r.streams} streams open: ${fixed(r.rssKiBPerStream)} KiB of resident memory per stream, ` +
    `GET /time p99 ${fixed(r.time.p99, 2)} ms, fan-out p99 ${fixed(r.fanout.p99)} ms, ` +
    `${r.fanout.lost} of ${r.fanout.expected} deliveries lost`).join('; ');
  const title = 'What a thread per connection costs: webwire holding Server-Sent Events streams';
  const desc = `Two line charts against the number of streams held open. Top: the server's resident ` +
    `memory (RSS) per stream, in KiB. Bottom: the 99th percentile latency, in milliseconds, of ` +
    `GET /time on a separate connection and of a message's delivery to every stream. ` +
    `Measured by tests/measure/scale.mjs on ${info.cpus} CPUs (${info.model}), Linux ${info.kernel}. ${words}.`;
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${2 * H + 20}" role="img" aria-labelledby="scale-title scale-desc">
  <title id="scale-title">${escapeXml(title)}</title>
  <desc id="scale-desc">${escapeXml(desc)}</desc>
  <style>
    text { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; fill: #1a1a1a; }
    .heading { font-size: 20px; font-weight: 600; }
    .label { font-size: 17px; }
    .tick { font-size: 16px; }
    .value { font-size: 15px; font-weight: 600; }
    .grid { stroke: #d0d0d0; stroke-width: 1; }
    .axis { stroke: #1a1a1a; stroke-width: 1.5; }
  </style>
  <rect width="100%" height="100%" fill="#ffffff"/>
  ${chart({
    x: 0, y: 0, w: W, h: H,
    heading: 'Resident memory per stream (KiB)',
    xLabel: 'streams held open', yLabel: 'KiB per stream',
    series: [{ name: 'RSS per stream', colour: '#1f4e9c', points: memory }],
    pointLabels: true,
  })}
  ${chart({
    x: 0, y: H + 20, w: W, h: H,
    heading: '99th percentile latency (ms)',
    xLabel: 'streams held open', yLabel: 'ms',
    series: [
      { name: 'GET /time', colour: '#1f4e9c', points: time },
      { name: 'fan-out (every stream)', colour: '#a33b00', dash: '8 5', marker: 'square', points: fan },
    ],
  })}
</svg>
`;
}

// ---------------------------------------------------------------------------------------------
// Main

const options = parseArgs(process.argv.slice(2));
if (!fs.existsSync(options.binary)) {
  fail(`no server at ${options.binary}: build it first with \`cargo build --release\` (or give --binary)`);
}

const script = process.argv[1].startsWith(`${process.cwd()}/`)
  ? process.argv[1].slice(process.cwd().length + 1)
  : process.argv[1];
const quote = (a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
const command = ['node', script, ...process.argv.slice(2)].map(quote).join(' ');

let server;
let stopping = false;
const stopServer = () => {
  stopping = true;
  if (server && server.child.exitCode === null && server.child.signalCode === null) server.child.kill();
};
process.on('exit', stopServer);
process.on('SIGINT', () => {
  console.error('\ninterrupted: stopping the server');
  stopServer();
  process.exit(130);
});

try {
  server = await startServer(options.binary, options.extra);
} catch (err) {
  fail(err.message);
}
server.child.on('exit', (code, signal) => {
  if (stopping) return;
  console.error(`the server exited during the run (code ${code}, signal ${signal})\n${server.stderr()}`);
});
const pid = server.child.pid;
const info = machine();
console.log(`server: ${options.binary} ${server.args.join(' ')} (pid ${pid}, port ${server.port})`);
console.log(`open files: soft ${info.openFilesSoft}, hard ${info.openFilesHard} (this process: Node raises its soft limit to the hard one; the server inherits them)`);

// A first request, so that what every server allocates once is in the baseline.
await timeLatency(server.port, 10);
await sleep(300);
const baseline = snapshot(pid);
console.log(`baseline: RSS ${baseline.rssKiB} KiB, ${baseline.threads} threads, ${baseline.maps} mappings\n`);

const rows = [];
let since = 0;
for (const count of options.steps) {
  process.stdout.write(`${count} streams: `);
  let row;
  try {
    row = await step(server, count, options, baseline, since);
  } catch (err) {
    console.log(`failed: ${err.stack ?? err}`);
    continue;
  }
  since = row.lastId ?? since;
  rows.push(row);
  const refused = Object.entries(row.notOpen).map(([why, n]) => `${n} ${why}`).join(', ');
  console.log(
    `${row.open} open in ${row.openMs} ms${refused ? ` (not open: ${refused})` : ''}; ` +
      `${row.held.threads} threads; delivered ${row.fanout.delivered}/${row.fanout.expected} ` +
      `(CPU per delivery: server ${fixed(row.fanout.serverCpuUsPerDelivery)} µs, ` +
      `this client ${fixed(row.fanout.clientCpuUsPerDelivery)} µs); ` +
      (row.drain.ok ? `threads back down in ${row.drain.ms} ms` : `threads still ${row.drain.threads} after ${row.drain.ms} ms`),
  );
  if (row.notOpen.EMFILE || row.notOpen.ENFILE) {
    // Node raises its own soft limit to the hard one at start, so the hard limit is what
    // ran out here (ENFILE: the whole system's, fs.file-max).
    console.log(
      `  this process ran out of file descriptors (open files: ${info.openFilesSoft}, hard limit ` +
        `${info.openFilesHard}); each stream takes one here and one in the server. Raise the hard\n` +
        '  limit before running, e.g. `sudo prlimit --nofile=65536:65536 --pid $$` or a line in\n' +
        '  /etc/security/limits.conf, then `ulimit -n 65536` in the same shell; or use fewer streams',
    );
  }
  if (row.notOpen.timeout || row.notOpen.ECONNRESET) {
    console.log('  some streams timed out or were reset: the server may be out of file descriptors ' +
      '(its soft limit is inherited from this shell: `ulimit -n`) or threads (`ulimit -u`)');
  }
}

console.log('\nwrk: ' + (sh('sh', ['-c', 'command -v wrk']) ? 'running 3 × 3 s against /time…' : 'not installed, skipped (Debian: apt install wrk)'));
const wrk = wrkThroughput(server.port);
stopServer();

console.log(`\n${options.messages} messages per step, one every ${options.spacingMs} ms; ` +
  `${options.requests} × GET /time per step on one keep-alive connection\n`);
console.log(table(rows));
console.log(
  `\nRSS per stream is the server's growth over its baseline (${baseline.rssKiB} KiB RSS, ` +
    `${baseline.threads} threads) divided by the streams open. Stack: each thread's stack mapping and ` +
    `guard page (reserved) and the part of it resident (touched), from /proc/PID/smaps. Kernel stack is ` +
    `/proc/meminfo KernelStack, system wide, so other processes add noise. Idle CPU: the server's ` +
    `CPU time over ${CPU_WINDOW_MS / 1000} s with every stream open and silent, in % of one core.`,
);
for (const r of rows) {
  const notOpen = Object.entries(r.notOpen);
  if (notOpen.length) console.log(`- ${r.streams}: not open: ${notOpen.map(([why, n]) => `${n} ${why}`).join(', ')}`);
}
if (wrk) {
  console.log(`\nthroughput, ${wrk.command}: median ${fixed(wrk.median, 0)} req/s ` +
    `(runs: ${wrk.runs.map((r) => fixed(r.requestsPerSecond, 0)).join(', ')})`);
}
console.log(`\nmachine: ${info.cpus} CPUs, ${info.model}, Linux ${info.kernel}, Node ${info.node}`);
console.log(`limits: open files ${info.openFilesSoft} (hard ${info.openFilesHard}), threads-max ${info.threadsMax}, ` +
  `pid_max ${info.pidMax}, vm.max_map_count ${info.maxMapCount}, ports ${info.localPortRange}`);
console.log(`command: ${command}`);

fs.mkdirSync(options.out, { recursive: true });
const results = { command, date: new Date().toISOString(), machine: info, server: server.args, options, baseline, steps: rows, wrk };
fs.writeFileSync(`${options.out}/scale.json`, JSON.stringify(results, null, 2) + '\n');
fs.writeFileSync(`${options.out}/scale.svg`, svg(rows, info));
console.log(`wrote ${options.out}/scale.svg and ${options.out}/scale.json`);
process.exit(0);
