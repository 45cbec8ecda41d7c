// Network faults in a real browser: the panel on every page switches them for the whole
// server, and the fallback client (/fallback.html) delivers every message exactly once
// through each of them, moving down its list of transports where one does not work.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, engine } from './support.mjs';

let server;
let browser;

before(async () => {
  // Heartbeats (and long-poll answers) every second: the faults' times below are set
  // around that.
  server = await startServer(['--tick-ms', '50', '--hold-ms', '1000']);
  browser = await launchBrowser();
});

after(async () => {
  await setFaults('none');
  await browser?.close();
  await server?.stop();
});

// The switch, as the panel uses it (a request from Node sends no Origin: not a page).
async function setFaults(spec) {
  if (!server) return;
  const response = await fetch(`${server.base}/faults`, {
    method: 'POST',
    body: new URLSearchParams({ spec }),
  });
  assert.equal(response.status, 200, await response.text());
}

// A message from outside the page, past the faults: the sender is not what is tested.
async function publish(text) {
  const response = await fetch(`${server.base}/chat/send`, {
    method: 'POST',
    headers: { 'Webwire-Faults': 'none' },
    body: new URLSearchParams({ from: 'tester', text }),
  });
  assert.equal(response.status, 200);
  return (await response.json()).id;
}

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

test('the panel at the foot of a page switches faults for the whole server, and every page says they are on', async () => {
  const page = await browser.newPage();
  await page.goto(`${server.base}/polling.html`);
  assert.equal(await page.textContent('#faults-panel summary'), 'Network faults: off');
  assert.equal(await page.locator('.faults-banner').isHidden(), true);
  await page.click('#faults-panel summary');
  await page.check('#fault-latency');
  await page.fill('#fault-latency-value', '120ms');
  await page.check('#fault-strip-upgrade');
  await page.click('#faults-panel form button');
  await page.waitForFunction(() => document.querySelector('.faults-result').textContent === 'Applied.');
  assert.equal(await page.textContent('.faults-banner code'), 'strip-upgrade,latency=120ms');
  const state = await (await fetch(`${server.base}/faults`)).json();
  assert.deepEqual(state, { faults: 'strip-upgrade,latency=120ms', control: true });

  // Another page, loaded afresh, shows the same: pages are never faulted themselves.
  const other = await browser.newPage();
  await other.goto(`${server.base}/sse.html`);
  await other.waitForFunction(() => !document.querySelector('.faults-banner').hidden);
  assert.equal(await other.textContent('.faults-banner code'), 'strip-upgrade,latency=120ms');
  assert.equal(await other.evaluate(() => document.getElementById('fault-latency').checked), true);

  await page.click('.faults-off');
  await page.waitForFunction(() => document.querySelector('.faults-banner').hidden);
  assert.equal(await page.textContent('#faults-panel summary'), 'Network faults: off');
  await page.close();
  await other.close();
});

// Opens the fallback client, waits until it is open on some transport, publishes `count`
// messages `every` ms apart, and waits until it has shown them all. Returns what it saw.
// With `cutHalfway`, it waits after the first half for the fault to cut the connection (a
// new one opens), so messages are published on both sides of a cut.
async function runFallback(spec, { count = 20, every = 100, text = 'message', cutHalfway = false } = {}) {
  await setFaults(spec);
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(`${server.base}/fallback.html`);
  await page.waitForFunction(() => window.fallback?.client.link?.opened, undefined, { timeout: 30_000 });
  const ids = [];
  for (let i = 1; i <= count; i += 1) {
    ids.push(await publish(`${text} ${i}`));
    await pause(every);
    if (cutHalfway && i === Math.floor(count / 2)) {
      const before = await page.evaluate(() => window.fallback.client.connections);
      await page.waitForFunction((n) => window.fallback.client.connections > n, before, { timeout: 30_000 });
    }
  }
  const last = ids[ids.length - 1];
  try {
    await page.waitForFunction((wanted) => window.fallback.client.cursor >= wanted, last, { timeout: 60_000 });
  } catch (error) {
    const moves = await page.evaluate(() => document.getElementById('moves').innerText);
    throw new Error(`${error.message}\nfaults ${spec}; moves:\n${moves}`);
  }
  const seen = await page.evaluate(() => {
    const { client } = window.fallback;
    return {
      shown: [...client.shown],
      missing: client.missing,
      transport: client.link.name,
      connections: client.connections,
      moves: [...document.querySelectorAll('#moves li')].map((li) => li.textContent).reverse(),
    };
  });
  await page.close();
  await setFaults('none');
  // Exactly once: every id published since the client started, in order, none twice.
  assert.deepEqual(seen.shown, ids, `${spec}: ${JSON.stringify(seen)}`);
  assert.equal(seen.missing, 0);
  // Firefox reports every WebSocket that failed to connect as a page error of its own.
  const wsFailure = /^Firefox can’t establish a connection to the server at ws:/;
  assert.deepEqual(errors.filter((e) => !(engine === 'firefox' && wsFailure.test(e))), []);
  return seen;
}

test('with no fault, the fallback client stays on its first choice, the WebSocket', async () => {
  const seen = await runFallback('none');
  assert.equal(seen.transport, 'websocket');
  assert.deepEqual(seen.moves, []);
});

test('buffer: a WebSocket is not buffered after its 101, so the client stays on it', async () => {
  const seen = await runFallback('buffer=4k');
  assert.equal(seen.transport, 'websocket');
  assert.deepEqual(seen.moves, []);
});

test('strip-upgrade: the handshake fails (1006) and the client moves to Server-Sent Events', async () => {
  const seen = await runFallback('strip-upgrade');
  assert.equal(seen.transport, 'sse');
  assert.match(seen.moves[0], /websocket: closed, code 1006 → trying sse$/);
});

test('buffer and strip-upgrade (nginx with its defaults): no heartbeat gets through a stream, so the client ends on long polling', async () => {
  const seen = await runFallback('buffer=4k,strip-upgrade');
  assert.equal(seen.transport, 'long-polling');
  assert.equal(seen.moves.length, 3, seen.moves.join('\n'));
  assert.match(seen.moves[0], /websocket: closed, code 1006 → trying sse$/);
  assert.match(seen.moves[1], /sse: no heartbeat within 4000 ms of connecting: a buffering proxy\? → trying xhr-streaming$/);
  assert.match(seen.moves[2], /xhr-streaming: no heartbeat within 4000 ms of connecting: a buffering proxy\? → trying long-polling$/);
});

test('idle-cut shorter than the heartbeat: the socket is cut while quiet, and the client reconnects from its cursor', async () => {
  // 600 ms of silence cuts; heartbeats come every 1000 ms.
  const seen = await runFallback('idle-cut=600ms', { count: 12, every: 50, cutHalfway: true });
  assert.equal(seen.transport, 'websocket');
  assert.match(seen.moves[0], /^.* websocket: closed, code 1006; reconnecting in \d+ ms from #\d+$/);
});

test('idle-cut longer than the heartbeat: heartbeats keep the connection alive', async () => {
  // Heartbeats every 1000 ms, cut after 1500 ms of silence: never cut.
  const seen = await runFallback('idle-cut=1500ms', { count: 10, every: 300 });
  assert.equal(seen.transport, 'websocket');
  assert.deepEqual(seen.moves, []);
  assert.equal(seen.connections, 1);
});

test('hold-cap: every connection is cut after a while, and the client picks up where it was', async () => {
  const seen = await runFallback('hold-cap=1s', { count: 16, every: 50, cutHalfway: true });
  assert.equal(seen.transport, 'websocket');
  assert.match(seen.moves[0], /^.* websocket: closed, code 1006; reconnecting in \d+ ms from #\d+$/);
});

test('latency: slower, same messages, same transport', async () => {
  const seen = await runFallback('latency=150ms', { count: 10, every: 50 });
  assert.equal(seen.transport, 'websocket');
  assert.deepEqual(seen.moves, []);
});

test('bandwidth: a narrow link delivers everything, in order', async () => {
  const seen = await runFallback('bandwidth=2k', { count: 10, every: 50, text: 'x'.repeat(200) });
  assert.equal(seen.transport, 'websocket');
  assert.deepEqual(seen.moves, []);
});

test('drop: cut in the middle of a frame, again and again; nothing lost, nothing twice', async () => {
  // Each connection is cut inside the first frame after 600 bytes; messages of 200 bytes.
  const seen = await runFallback('drop=600', { count: 20, every: 50, text: 'y'.repeat(200), cutHalfway: true });
  // Firefox often reports a socket cut moments after its handshake as never opened (the test
  // below), so three such cuts in a row move the client down to Server-Sent Events there.
  const expected = engine === 'firefox' ? ['websocket', 'sse'] : ['websocket'];
  assert.ok(expected.includes(seen.transport), seen.moves.join('\n'));
});

test('a WebSocket cut mid-frame moments after its handshake: what the page is told, in this engine', async () => {
  // 30 sockets, each asking for a backlog of 3 messages of 200 bytes: the 101, a heartbeat
  // and the backlog leave together, and the next frame is cut in half at once (drop=600).
  await setFaults('none');
  const since = await publish('backlog 1');
  await publish('backlog 2');
  await publish('backlog 3');
  for (let i = 0; i < 40; i += 1) await publish('z'.repeat(200));
  const page = await browser.newPage();
  await page.goto(`${server.base}/polling.html`);
  const tries = await page.evaluate((from) => Promise.all(Array.from({ length: 30 }, () =>
    new Promise((resolve) => {
      const socket = new WebSocket(`${location.origin.replace('http', 'ws')}/chat/ws?since=${from - 1}&heartbeat=1&faults=drop%3D600`);
      let opened = false;
      let records = 0;
      socket.onopen = () => { opened = true; };
      socket.onmessage = () => { records += 1; };
      socket.onclose = (event) => resolve({ opened, records, code: event.code });
    }))), since);
  await page.close();
  assert.ok(tries.every((t) => t.code === 1006), JSON.stringify(tries));
  const told = tries.filter((t) => t.opened && t.records > 0).length;
  if (engine === 'chromium') {
    // Chromium hands over everything that arrived before the cut: open, then the frames.
    assert.equal(told, 30, JSON.stringify(tries));
  } else {
    // Firefox ESR drops the lot in some of the tries: no open event, no message, only a
    // close with 1006, though the 101 and whole frames reached it (tests/faults.rs shows
    // the bytes). Some tries it reports fully.
    assert.ok(told < 30, JSON.stringify(tries));
    assert.ok(tries.filter((t) => !t.opened && t.records === 0).length > 0);
  }
});
