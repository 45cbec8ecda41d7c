// Two webwire processes behind one nginx, sharing one chat room in Redis (chapter 17): the
// chat page opened through nginx, with every panel on, while nginx's round robin spreads its
// connections over both processes; then each process in turn is killed under the page.
//
// Everything is real and runs as the user running the test: Debian's redis-server, two
// target/debug/webwire processes and Debian's nginx, with docs/nginx/two-webwires.conf as its
// configuration, only its three ports changed (so the chapter's file and this test cannot
// drift apart). Without redis-server or nginx every test here is skipped, loudly, unless
// WEBWIRE_REQUIRE_SERVICES=1, when they fail instead.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { accessSync, chmodSync, constants, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, launchBrowser } from './support.mjs';

const REDIS_SERVER = '/usr/bin/redis-server';
const NGINX = '/usr/sbin/nginx';
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const NGINX_CONF = path.join(repoRoot, 'docs', 'nginx', 'two-webwires.conf');

const TRANSPORTS = ['poll', 'longpoll', 'stream', 'iframe', 'sse', 'jsonp', 'ws'];
// The panels whose connection stays open: each is on one process or the other.
const HELD = ['stream', 'iframe', 'sse', 'ws'];

// A service, or a process this file starts, that neither says it is ready nor exits within
// this time is broken: fail instead of hanging the run.
const STARTUP_TIMEOUT_MS = 20_000;
// The longest a check of the servers' own /stats is repeated before the test fails. Long
// enough for nginx to try a process it had set aside again (its fail_timeout, 10 s).
const SETTLE_TIMEOUT_MS = 60_000;

const missing = [REDIS_SERVER, NGINX].filter((file) => {
  try {
    accessSync(file, constants.X_OK);
    return false;
  } catch {
    return true;
  }
});
const required = process.env.WEBWIRE_REQUIRE_SERVICES === '1';
const skip = missing.length > 0 && !required
  ? `${missing.join(' and ')} not installed (WEBWIRE_REQUIRE_SERVICES=1 makes this a failure)`
  : false;
if (skip) console.error(`SKIPPED beyond-one-server.test.mjs: ${skip}`);

let dir;
let redis;
let browser;
const cleanups = [];

before(async () => {
  if (skip) return;
  if (missing.length > 0) throw new Error(`WEBWIRE_REQUIRE_SERVICES=1, but ${missing.join(' and ')} is not installed`);
  dir = mkdtempSync(path.join(os.tmpdir(), 'webwire-beyond-'));
  // Run as root, nginx's workers drop to `nobody`, and must still reach the temporary
  // directories the master makes under the prefix (this directory).
  chmodSync(dir, 0o755);
  redis = await startRedis(dir);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  for (const cleanup of cleanups.reverse()) await cleanup();
  await redis?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// ---- the services ------------------------------------------------------------------------

// A free TCP port on 127.0.0.1 (and on ::1 too, when `both`: nginx listens on both, as the
// configuration says).
async function freePort(both = false) {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await listenOnce('127.0.0.1', 0);
    if (!both) return port;
    try {
      await listenOnce('::1', port);
      return port;
    } catch {
      // taken on ::1: try another
    }
  }
  throw new Error('no free port');
}

function listenOnce(host, port) {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(port, host, () => {
      const { port: bound } = server.address();
      server.close(() => resolve(bound));
    });
  });
}

// Starts `command args` and resolves once `ready` matches what it printed (stdout or
// stderr), with `stop()`, which ends it by its PID and waits for it to exit.
function startProcess(name, command, args, ready, stdout = 'pipe') {
  const child = spawn(command, args, { stdio: ['ignore', stdout, 'pipe'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  let output = '';
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGTERM');
    await exited;
  };
  return new Promise((resolve, reject) => {
    const fail = (why) => {
      clearTimeout(timer);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      reject(new Error(`${name}: ${why}\n--- its output ---\n${output}`));
    };
    const timer = setTimeout(() => fail(`not ready within ${STARTUP_TIMEOUT_MS} ms`), STARTUP_TIMEOUT_MS);
    const early = (code, signal) => fail(`exited (code ${code}, signal ${signal}) before it was ready`);
    const read = (chunk) => {
      output += chunk;
      if (!ready.test(output)) return;
      clearTimeout(timer);
      child.off('exit', early);
      resolve({ pid: child.pid, stop, output: () => output });
    };
    // Read both to the end, so a chatty process never blocks on a full pipe.
    for (const stream of [child.stdout, child.stderr]) {
      stream?.setEncoding('utf8');
      stream?.on('data', read);
    }
    child.once('error', (error) => fail(error.message));
    child.once('exit', early);
  });
}

// Debian's redis-server on a free port, in `dir`, with nothing saved to disk.
async function startRedis(into) {
  const port = await freePort();
  const server = await startProcess('redis-server', REDIS_SERVER, [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', into,
    '--save', '', '--appendonly', 'no', '--daemonize', 'no',
  ], /Ready to accept connections/);
  return { ...server, url: `redis://127.0.0.1:${port}` };
}

// A webwire process serving the chat, its room in our Redis. Polls every 50 ms and holds of
// 1 s, as in chat.test.mjs, so every step takes moments. No --allow-origin: nginx passes the
// browser's Host on (`proxy_set_header Host $http_host`), port included, and webwire takes
// its two demo origins from it: http://localhost:NGINX_PORT and http://127.0.0.1:NGINX_PORT
// are its own. `port` starts it again on the port an earlier one had (a later --port wins
// over support.mjs's --port 0).
function startWebwire(port) {
  const args = ['chat', '--tick-ms', '50', '--hold-ms', '1000', '--room', redis.url];
  return startServer(port ? [...args, '--port', String(port)] : args);
}

// The chapter's configuration, with its three ports made this run's. Each is found exactly
// where the file is expected to have it, or the test says the file changed.
function nginxConfig(upstreams, listen) {
  let text = readFileSync(NGINX_CONF, 'utf8');
  const swaps = [
    ['server 127.0.0.1:8101;', `server 127.0.0.1:${upstreams[0]};`, 1],
    ['server 127.0.0.1:8102;', `server 127.0.0.1:${upstreams[1]};`, 1],
    [':8088;', `:${listen};`, 2], // listen 127.0.0.1:8088; and listen [::1]:8088;
  ];
  for (const [from, to, times] of swaps) {
    assert.equal(text.split(from).length - 1, times, `${NGINX_CONF} should say "${from}" ${times} time(s)`);
    text = text.replaceAll(from, to);
  }
  return text;
}

// Debian's nginx as this user, in the foreground (`daemon off;` is in the file), with its
// prefix (pid file, temporary directories) in a directory of its own and its errors on
// stderr. Its access log, /dev/stdout in the file, goes to a file here: nginx opens
// /dev/stdout again, which works for a file and not for the socket Node would give it.
async function startNginx(upstreams) {
  const prefix = mkdtempSync(path.join(dir, 'nginx-'));
  chmodSync(prefix, 0o755);
  const port = await freePort(true);
  const conf = path.join(prefix, 'nginx.conf');
  writeFileSync(conf, nginxConfig(upstreams, port));
  const accessLog = path.join(prefix, 'access.log');
  const logFd = openSync(accessLog, 'a');
  try {
    const server = await startProcess('nginx', NGINX,
      ['-p', `${prefix}/`, '-c', conf, '-e', 'stderr'], /start worker process \d+/, logFd);
    return {
      ...server,
      port,
      base: `http://localhost:${port}`,
      accessLog: () => readFileSync(accessLog, 'utf8'),
    };
  } finally {
    closeSync(logFd); // nginx has its own copy
  }
}

// Two webwire processes and an nginx in front of them; stopped after the file's tests.
async function startCluster() {
  const webwires = [await startWebwire(), await startWebwire()];
  cleanups.push(() => Promise.all(webwires.map((w) => w.stop())));
  const nginx = await startNginx(webwires.map((w) => w.port));
  cleanups.push(() => nginx.stop());
  return { webwires, nginx };
}

// A process's own /stats, by transport, asked on its own port (not through nginx).
async function stats(webwire) {
  const body = await (await fetch(`${webwire.base}/stats`)).json();
  return Object.fromEntries(body.transports.map((t) => [t.name, t]));
}

// Repeats `check` until it holds; the servers' counters have no event to wait for.
async function waitFor(what, check) {
  const deadline = Date.now() + SETTLE_TIMEOUT_MS;
  for (;;) {
    const result = await check();
    if (result) return result;
    if (Date.now() > deadline) throw new Error(`never: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

// Which process holds each held panel's connection: {stream: 0, iframe: 1, …}, once each
// of `names` has exactly one connection open, on one of the processes `alive`.
async function placement(webwires, alive = [0, 1], names = HELD) {
  return waitFor(`each of ${names.join(', ')} open on exactly one of ${alive}`, async () => {
    const all = await Promise.all(alive.map((i) => stats(webwires[i])));
    const where = {};
    for (const name of names) {
      const open = all.reduce((sum, s) => sum + s[name].open, 0);
      if (open !== 1) return null;
      where[name] = alive.find((_, k) => all[k][name].open > 0);
    }
    return where;
  });
}

// ---- the page ----------------------------------------------------------------------------

async function openChat(base) {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (error) => errors.push(error.message));
  // As chat.test.mjs: loaded first, then every panel on with the page's own button.
  await page.goto(`${base}/chat.html`);
  await page.waitForFunction(() => window.chat?.ready);
  await page.click('#all-on');
  await page.waitForFunction(() => window.chat.panels.every((p) =>
    p.node.querySelector('.state').textContent.startsWith('connected')));
  return { page, errors };
}

// Every panel's numbers, by transport, and the lines of its log oldest first.
function panels(page) {
  return page.evaluate(() => Object.fromEntries(window.chat.panels.map((p) => [p.transport.name, {
    cursor: p.cursor, received: p.received, missing: p.missing, twice: p.twice, breaks: p.breaks,
    state: p.node.querySelector('.state').textContent,
    log: [...p.node.querySelectorAll('.log li')].map((li) => li.textContent).reverse(),
  }])));
}

// Sends `text` with the page's own send (a POST through nginx); its id.
async function send(page, text) {
  const answer = await page.evaluate((t) => window.chat.send(t), text);
  return Number(answer.match(/^published as #(\d+)$/)[1]);
}

// Until every panel named has shown message `id`.
function seen(page, id, names = TRANSPORTS) {
  return page.waitForFunction(([wanted, only]) => window.chat.panels
    .filter((p) => only.includes(p.transport.name))
    .every((p) => p.cursor >= wanted), [id, names]);
}

// The messages of this test a panel showed, in the order it showed them: "#id text".
function shown(panel, marker) {
  return panel.log
    .map((line) => line.match(/^#(\d+) [^:]*: (.*?) {2}\(/))
    .filter((match) => match && match[2].startsWith(marker))
    .map((match) => `#${match[1]} ${match[2]}`);
}

// ---- the tests ---------------------------------------------------------------------------

let cluster;
let shared; // the page of the first two tests

test('through nginx, every panel gets every message exactly once, in order', { skip }, async () => {
  cluster = await startCluster();
  shared = await openChat(cluster.nginx.base);
  const { page, errors } = shared;
  const before = await panels(page);
  // Sent one after another, by POST through nginx: round robin hands them to the two
  // processes in turn, and Redis numbers them all.
  const sent = [];
  for (let n = 1; n <= 6; n++) sent.push(`#${await send(page, `in order ${n}`)} in order ${n}`);
  // And two as frames on the WebSocket panel's socket, whichever process it is on.
  await page.selectOption('#send-with', 'ws');
  for (let n = 7; n <= 8; n++) {
    await page.evaluate((t) => window.chat.send(t), `in order ${n}`);
  }
  await page.selectOption('#send-with', 'post');
  const last = Number(sent.at(-1).match(/^#(\d+)/)[1]);
  sent.push(`#${last + 1} in order 7`, `#${last + 2} in order 8`);
  await seen(page, last + 2);
  const after = await panels(page);
  for (const name of TRANSPORTS) {
    assert.deepEqual(shown(after[name], 'in order '), sent, `${name} showed each once, in order`);
    assert.deepEqual(
      { received: after[name].received - before[name].received, missing: after[name].missing, twice: after[name].twice },
      { received: sent.length, missing: 0, twice: 0 },
      name,
    );
  }
  assert.deepEqual(errors, []);
});

test('both processes served the page: round robin spread its connections', { skip }, async () => {
  assert.ok(shared, 'the test before opened the page');
  const [one, two] = cluster.webwires;
  const [a, b] = await Promise.all([stats(one), stats(two)]);
  const requests = (s) => TRANSPORTS.reduce((sum, name) => sum + s[name].requests, 0);
  assert.ok(requests(a) > 0, `the first process served none of the page's requests: ${JSON.stringify(a)}`);
  assert.ok(requests(b) > 0, `the second process served none of the page's requests: ${JSON.stringify(b)}`);
  // Each held panel has exactly one connection open, on one process or the other.
  const where = await placement(cluster.webwires);
  console.log(`held connections: ${HELD.map((name) => `${name} on ${cluster.webwires[where[name]].port}`).join(', ')}; ` +
    `requests: ${one.port} ${requests(a)}, ${two.port} ${requests(b)}`);
  // nginx's access log says the same: both upstreams answered.
  const log = cluster.nginx.accessLog();
  for (const webwire of cluster.webwires) {
    assert.match(log, new RegExp(`-> 127\\.0\\.0\\.1:${webwire.port}\\b`), `nginx sent requests to ${webwire.port}`);
  }
  await shared.page.close();
});

test('a process dies under the page: its panels resume on the other, with their cursors', { skip }, async () => {
  // A cluster of its own: this test kills its processes.
  const { webwires, nginx } = await startCluster();
  const { page, errors } = await openChat(nginx.base);
  await seen(page, await send(page, 'resume warm-up'));
  const where = await placement(webwires);
  // The two deaths below are chosen so that the outcome does not depend on where round robin
  // put the panels: first the process that does not hold the hidden iframe, then the one
  // that does, which by then holds every held panel.
  const keeper = where.iframe;
  const other = 1 - keeper;
  const owner = (i) => HELD.filter((name) => where[name] === i);

  // 1. The process without the iframe dies (webwire has no SIGTERM handler: it ends at once,
  //    as in a crash, and the kernel closes its sockets). Its panels reconnect through nginx,
  //    which now finds only the other process. Then a message: every panel shows it once.
  let before = await panels(page);
  await webwires[other].stop();
  await placement(webwires, [keeper]); // every held panel on the process that lives
  const first = await send(page, 'resume after the first death');
  await seen(page, first);
  let after = await panels(page);
  for (const name of TRANSPORTS) {
    assert.deepEqual(shown(after[name], 'resume after the first'), [`#${first} resume after the first death`], name);
    assert.deepEqual(
      { received: after[name].received - before[name].received, missing: after[name].missing, twice: after[name].twice },
      { received: 1, missing: 0, twice: 0 },
      `${name} (its connection was on the process that died: ${owner(other).includes(name)})`,
    );
  }
  const firstBreaks = Object.fromEntries(TRANSPORTS.map((n) => [n, after[n].breaks - before[n].breaks]));

  // 2. The dead process comes back on its port; nginx sends it requests again once its
  //    fail_timeout has passed (the page's polls show when).
  webwires[other] = await startWebwire(webwires[other].port);
  await waitFor('nginx sends requests to the restarted process', async () =>
    Object.values(await stats(webwires[other])).some((t) => t.requests > 0));

  // 3. The other process dies: it holds every held panel now, the iframe's included.
  before = await panels(page);
  await webwires[keeper].stop();
  const resuming = TRANSPORTS.filter((name) => name !== 'iframe');
  // Every held panel but the iframe back, on the process that lives (the iframe: below).
  await placement(webwires, [other], HELD.filter((name) => name !== 'iframe'));
  const second = await send(page, 'resume after the second death');
  await seen(page, second, resuming);
  after = await panels(page);
  for (const name of resuming) {
    assert.deepEqual(shown(after[name], 'resume after the second'), [`#${second} resume after the second death`], name);
    assert.deepEqual(
      { received: after[name].received - before[name].received, missing: after[name].missing, twice: after[name].twice },
      { received: 1, missing: 0, twice: 0 },
      name,
    );
  }
  const secondBreaks = Object.fromEntries(TRANSPORTS.map((n) => [n, after[n].breaks - before[n].breaks]));
  console.log(`first death (${webwires[other].port}, held: ${owner(other).join(', ') || 'none'}): breaks ${JSON.stringify(firstBreaks)}`);
  console.log(`second death (held: all): breaks ${JSON.stringify(secondBreaks)}`);

  // The hidden iframe cannot hear its connection cut: no `load`, no error, nothing the page
  // sees (chapter 16, "A hidden iframe cannot see a cut"). Its panel still says connected,
  // has not shown the message, and has no connection on the live process.
  const iframe = after.iframe;
  assert.equal(iframe.cursor, first, 'the iframe panel is still where its dead connection left it');
  assert.match(iframe.state, /^connected: iframe src=/);
  assert.equal((await stats(webwires[other])).iframe.open, 0, 'no iframe connection on the live process');
  assert.deepEqual({ missing: iframe.missing, twice: iframe.twice }, { missing: 0, twice: 0 });
  assert.deepEqual(errors, []);
  await page.close();
});
