// Network faults in a real browser: the panel on every page switches them for the whole
// server, and the fallback client (/fallback.html) delivers every message exactly once
// through each of them, moving down its list of transports where one does not work.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { startServer, launchBrowser, engine, axeViolations } from './support.mjs';

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

// What the fallback client did under each fault, for the chapter's table: exactly once
// always (runFallback asserts it); where it moved because a transport never opened; whether
// it had to reconnect.
const fallbackCell = new Map();
function cellOfFallback(seen) {
  if (!seen.worked.includes('websocket')) return `✓ on ${seen.transport}`;
  return seen.connections > 1 ? '✓ reconnects' : '✓';
}

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
  // Open, with the banner showing, the panel passes axe-core's WCAG A/AA rules too.
  assert.deepEqual(await axeViolations(page), []);
  const state = await (await fetch(`${server.base}/faults`)).json();
  assert.deepEqual(state, { faults: 'strip-upgrade,latency=120ms', control: true });

  // Another page, loaded afresh, shows the same: pages are never faulted themselves.
  const other = await browser.newPage();
  await other.goto(`${server.base}/sse.html`);
  await other.waitForFunction(() => !document.querySelector('.faults-banner').hidden);
  assert.equal(await other.textContent('.faults-banner code'), 'strip-upgrade,latency=120ms');
  assert.equal(await other.evaluate(() => document.getElementById('fault-latency').checked), true);

  // At phone width, nothing of the open panel runs off the screen.
  const phone = await browser.newPage({ viewport: { width: 390, height: 844 } });
  await phone.goto(`${server.base}/chat.html`);
  await phone.click('#faults-panel summary');
  const tooWide = await phone.evaluate(() => [...document.querySelectorAll('#faults-panel *, .faults-banner')]
    .filter((el) => el.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
    .map((el) => el.tagName + (el.id ? `#${el.id}` : '')));
  assert.deepEqual(tooWide, []);
  await phone.close();

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
      worked: [...client.worked],
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
  fallbackCell.set(spec, cellOfFallback(seen));
  return seen;
}

test('with no fault, the fallback client stays on its first choice, the WebSocket', async () => {
  const seen = await runFallback('none');
  assert.equal(seen.transport, 'websocket');
  assert.deepEqual(seen.moves, []);
});

test('buffer: a WebSocket is not buffered after its 101, so the client stays on it', async () => {
  const seen = await runFallback('buffer=16k');
  assert.equal(seen.transport, 'websocket');
  assert.deepEqual(seen.moves, []);
});

test('strip-upgrade: the handshake fails (1006) and the client moves to Server-Sent Events', async () => {
  const seen = await runFallback('strip-upgrade');
  assert.equal(seen.transport, 'sse');
  assert.match(seen.moves[0], /websocket: closed, code 1006 → trying sse$/);
});

test('buffer and strip-upgrade (nginx with its defaults): no heartbeat gets through a stream, so the client ends on long polling', async () => {
  const seen = await runFallback('buffer=16k,strip-upgrade');
  assert.equal(seen.transport, 'long-polling');
  assert.equal(seen.moves.length, 3, seen.moves.join('\n'));
  assert.match(seen.moves[0], /websocket: closed, code 1006 → trying sse$/);
  assert.match(seen.moves[1], /sse: no heartbeat within 4000 ms of connecting: a buffering proxy\? → trying xhr-streaming$/);
  assert.match(seen.moves[2], /xhr-streaming: no heartbeat within 4000 ms of connecting: a buffering proxy\? → trying long-polling$/);
});

test('stall-sockets: the WebSocket opens but its heartbeat never comes, so the client moves to Server-Sent Events', async () => {
  // Why "open" means "the first record arrived", not the `open` event: a scanner that lets
  // the handshake through and holds the frames leaves a socket open and silent for ever.
  const seen = await runFallback('stall-sockets');
  assert.equal(seen.transport, 'sse');
  assert.match(seen.moves[0], /websocket: no heartbeat within 4000 ms of connecting: a buffering proxy\? → trying sse$/);
});

test('idle-cut shorter than the heartbeat: the socket is cut while quiet, and the client reconnects from its cursor', async () => {
  // 600 ms of silence cuts; heartbeats come every 1000 ms.
  const seen = await runFallback('idle-cut=600ms', { count: 12, every: 50, cutHalfway: true });
  assert.equal(seen.transport, 'websocket');
  assert.match(seen.moves[0], /^.* websocket: closed, code 1006; reconnecting in \d+ ms from #\d+$/);
});

test('idle-cut longer than the heartbeat: heartbeats keep the connection alive', async () => {
  // Heartbeats every 1000 ms, cut after 2500 ms of silence: never cut.
  const seen = await runFallback('idle-cut=2500ms', { count: 10, every: 300 });
  assert.equal(seen.transport, 'websocket');
  assert.deepEqual(seen.moves, []);
  assert.equal(seen.connections, 1);
});

test('hold-cap: every connection is cut after a while, and the client picks up where it was', async () => {
  const seen = await runFallback('hold-cap=700ms', { count: 16, every: 50, cutHalfway: true });
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

test('a long poll cut before any byte of its answer is sent again by the browser itself, then fails', async () => {
  // The connection closes with no response at all: to the browser, a request that may never
  // have reached the server, which HTTP lets it repeat when the method is idempotent (RFC 9110
  // §9.2.2). The page sees one fetch; the server sees several requests.
  await setFaults('none');
  const before = (await stats()).transports.find((t) => t.name === 'longpoll').requests;
  const page = await browser.newPage();
  await page.goto(`${server.base}/polling.html`);
  const outcome = await page.evaluate(async (since) => {
    try {
      const response = await fetch(`/chat/longpoll?since=${since}&faults=idle-cut%3D300ms`, { cache: 'no-store' });
      return `status ${response.status}`;
    } catch (error) {
      return error.name;
    }
  }, (await stats()).last_id);
  await page.close();
  const attempts = (await stats()).transports.find((t) => t.name === 'longpoll').requests - before;
  assert.equal(outcome, 'TypeError', 'in the end, fetch rejects');
  assert.ok(attempts > 1, `the server saw ${attempts} requests for one fetch`);
  console.log(`${engine}: one fetch, ${attempts} requests before it failed`);
});

// ---- The chapter's table: what each fault does to each technique, in this engine -----------
// The chat page with every panel on (each panel is one technique, reconnecting from its
// cursor when its connection ends, as chapter 13 shows), under each fault in turn; then the
// fallback client's column from the tests above. The table in docs/16-faults.md between
// `<!-- faults-table: ENGINE -->` and `<!-- /faults-table -->` must be this one; run with
// WEBWIRE_WRITE_TABLES=1 to write it there.
// No row for an idle-cut shorter than the long poll's hold: a long poll cut before any byte of
// its answer is sent again by the browser itself (the test above), as many times as it likes
// (Chromium: 3 to 51 times in our runs), so whether the page sees the cut is luck.
// Buffers of 16 KiB: more than the chat page's replay of its last ten messages and the
// messages below, so a buffered stream here is held back for the whole run.
const FAULT_ROWS = ['none', 'buffer=16k', 'strip-upgrade', 'buffer=16k,strip-upgrade', 'stall-sockets',
  'idle-cut=2500ms', 'hold-cap=700ms', 'latency=150ms', 'bandwidth=2k', 'drop=600'];
const COLUMNS = [['poll', 'short polling'], ['longpoll', 'long polling'], ['stream', 'XHR streaming'],
  ['iframe', 'hidden iframe'], ['sse', 'SSE'], ['jsonp', 'JSONP'], ['ws', 'WebSocket']];
// Quiet before the messages: longer than any idle-cut or hold-cap above, so they act.
const QUIET_MS = 3000;
// How long the messages have to arrive before a panel counts as held back or failing: every
// working panel needs well under a second here; a held-back one never gets them.
const WINDOW_MS = 6000;

async function stats() {
  const response = await fetch(`${server.base}/stats`, { headers: { 'Webwire-Faults': 'none' } });
  return response.json();
}

// One row: each technique's cell under `spec`.
async function measureTechniques(spec) {
  await setFaults(spec);
  const before = Object.fromEntries((await stats()).transports.map((t) => [t.name, t.requests]));
  const page = await browser.newPage();
  // The panels are switched on once the page has loaded, as a reader would, not with
  // `?on=all`: that switches them on when the page's own load event fires, often inside its
  // dispatch, and then the hidden iframe panel's frame starts loading before Chromium reports
  // the main frame's load. Puppeteer's goto, like Playwright's, then waits for that frame's
  // load too, which never comes (its document never ends): a navigation timeout, now and then.
  await page.goto(`${server.base}/chat.html`);
  await page.waitForFunction(() => window.chat?.ready);
  await page.click('#all-on');
  // Every panel's first request has reached the server.
  for (;;) {
    const now = await stats();
    if (now.transports.every((t) => t.requests > before[t.name])) break;
    await pause(50);
  }
  await pause(QUIET_MS); // the stimulus for the idle and hold faults: silence
  let last = 0;
  for (let i = 1; i <= 5; i += 1) {
    last = await publish(`${'row '.repeat(40)}${i}`);
    await pause(100);
  }
  await page.waitForFunction((id) => window.chat.panels.every((p) => p.cursor >= id), last,
    { timeout: WINDOW_MS }).catch(() => {}); // the cells say who did not get there
  const panels = await page.evaluate(() => Object.fromEntries(window.chat.panels.map((p) =>
    [p.transport.name, { cursor: p.cursor, missing: p.missing, twice: p.twice, breaks: p.breaks }])));
  await page.close();
  await setFaults('none');
  return COLUMNS.map(([name]) => {
    const p = panels[name];
    if (p.missing || p.twice) return `✗ ${p.missing} lost, ${p.twice} twice`;
    if (p.cursor >= last) return p.breaks ? '✓ cut, resumed' : '✓';
    return p.breaks ? '✗ fails' : 'held back';
  });
}

function markdownTable(rows) {
  const header = `| fault | ${COLUMNS.map(([, title]) => title).join(' | ')} | fallback client |`;
  const rule = `|${'---|'.repeat(COLUMNS.length + 2)}`;
  return [header, rule, ...rows.map(([spec, cells]) => `| \`${spec}\` | ${cells.join(' | ')} |`)].join('\n');
}

test('the chapter\'s table of faults and techniques is what this engine does', async () => {
  const rows = [];
  for (const spec of FAULT_ROWS) {
    assert.ok(fallbackCell.has(spec), `the fallback test for ${spec} runs first`);
    rows.push([spec, [...await measureTechniques(spec), fallbackCell.get(spec)]]);
  }
  const measured = markdownTable(rows);
  const chapter = new URL('../../docs/16-faults.md', import.meta.url);
  const text = readFileSync(chapter, 'utf8');
  const start = `<!-- faults-table: ${engine} -->\n`;
  const end = '<!-- /faults-table -->';
  const from = text.indexOf(start);
  const to = text.indexOf(end, from);
  assert.ok(from >= 0 && to > from, `docs/16-faults.md has no ${start.trim()} … ${end}`);
  const written = text.slice(from + start.length, to).trim();
  if (process.env.WEBWIRE_WRITE_TABLES === '1') {
    writeFileSync(chapter, `${text.slice(0, from + start.length)}${measured}\n${text.slice(to)}`);
  } else {
    assert.equal(written, measured, `docs/16-faults.md's ${engine} table is not what was measured:\n${measured}`);
  }
});
