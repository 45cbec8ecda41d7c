// The chat room in a real browser: every panel switched on, a message sent
// from the page (and one as a WebSocket frame) reaches every panel, each
// connection dropped in the middle of a burst resumes with nothing missing or
// seen twice, and the compare page measures a burst with nothing lost.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startServer, launchBrowser } from './support.mjs';
import { markdownTable, HEADER } from '../measure/chat-costs-table.mjs';

const TRANSPORTS = ['poll', 'longpoll', 'stream', 'iframe', 'sse', 'jsonp', 'ws'];

let server;
let browser;

before(async () => {
  // Polls every 50 ms, holds of 1 s: the whole file runs in seconds.
  server = await startServer(['chat', '--tick-ms', '50', '--hold-ms', '1000']);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function openChat() {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (error) => errors.push(error.message));
  // Loaded first, then every panel switched on with the page's own button, as a reader
  // would: `?on=all` switches them on inside the page's load event, and then the hidden
  // iframe panel's frame may start loading before Chromium reports the page's load, and
  // goto waits for that never-ending frame too (faults.test.mjs, measureTechniques).
  await page.goto(server.base + '/chat.html');
  await page.waitForFunction(() => window.chat?.ready);
  await page.click('#all-on');
  // Every panel has been connected at least once.
  await page.waitForFunction(() => window.chat.panels.every((p) =>
    p.node.querySelector('.state').textContent.startsWith('connected')));
  return { page, errors };
}

// The message ids each panel has shown, by transport.
function seen(page, id) {
  return page.waitForFunction((wanted) => window.chat.panels.every((p) => p.cursor >= wanted), id);
}

function numbers(page) {
  return page.evaluate(() => Object.fromEntries(window.chat.panels.map((p) => [
    p.transport.name, { received: p.received, missing: p.missing, twice: p.twice, cursor: p.cursor },
  ])));
}

test('a message sent from the page appears in every panel, with its latency', async () => {
  const { page, errors } = await openChat();
  await page.fill('#from', 'ann');
  await page.fill('#text', 'hello everyone');
  await page.click('#send-form button');
  await page.waitForFunction(() => /published as #\d+/.test(document.querySelector('#send-result').textContent));
  const id = Number((await page.textContent('#send-result')).match(/#(\d+)/)[1]);
  await seen(page, id);
  for (const name of TRANSPORTS) {
    const line = await page.textContent(`[data-transport="${name}"] .log li`);
    assert.match(line, new RegExp(`^#${id} ann: hello everyone  \\(\\d+ ms\\)$`), name);
    assert.notEqual(await page.textContent(`[data-transport="${name}"] .median`), '–', name);
  }
  // The WebSocket panel can send too: a frame is a message, and every panel gets it, under
  // the name in the box — changed since the socket opened, so the page reopens it first.
  await page.fill('#from', 'bea');
  await page.selectOption('#send-with', 'ws');
  await page.fill('#text', 'over the socket');
  await page.click('#send-form button');
  await seen(page, id + 1);
  for (const name of TRANSPORTS) {
    assert.match(
      await page.textContent(`[data-transport="${name}"] .log li`),
      new RegExp(`^#${id + 1} bea: over the socket`),
      name,
    );
  }
  assert.deepEqual(errors, []);
  await page.close();
});

test('dropping every connection mid-burst loses nothing and repeats nothing', async () => {
  const { page, errors } = await openChat();
  // Every panel first catches up with what the room already holds (a new page replays it,
  // some panels faster than others), so that the counts below are the burst's alone.
  const start = await page.evaluate(async () => {
    const records = await (await fetch('/chat/poll?since=0')).json();
    return records.filter((record) => record.id).at(-1)?.id ?? 0;
  });
  await seen(page, start);
  const before = await numbers(page);
  const BURST = 40;
  // Send the burst from the page while every panel's connection is dropped halfway.
  await page.evaluate(async (count) => {
    for (let n = 1; n <= count; n++) {
      await window.chat.send(`burst ${n}`);
      if (n === count / 2) {
        for (const panel of window.chat.panels) panel.node.querySelector('.drop').click();
      }
    }
  }, BURST);
  await seen(page, start + BURST);
  const afterwards = await numbers(page);
  for (const name of TRANSPORTS) {
    assert.deepEqual(
      {
        received: afterwards[name].received - before[name].received,
        missing: afterwards[name].missing,
        twice: afterwards[name].twice,
      },
      { received: BURST, missing: 0, twice: 0 },
      name,
    );
    const dropped = await page.$$eval(`[data-transport="${name}"] .log li.gap`, (items) => items.length);
    assert.equal(dropped, 1, `${name} was dropped once`);
  }
  assert.deepEqual(errors, []);
  await page.screenshot({ path: '/tmp/chat-page.png', fullPage: true });
  await page.close();
});

test('the compare page measures a burst on every transport, with nothing lost', async () => {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(server.base + '/compare.html');
  await page.waitForFunction(() => window.compare?.ready);
  await page.fill('#count', '10');
  await page.fill('#spacing', '20');
  await page.click('#run');
  await page.waitForFunction(() => window.compare?.done, null, { timeout: 20_000 });
  const table = await page.evaluate(() => window.compare.table);
  assert.deepEqual(table.map((row) => row.name), TRANSPORTS);
  for (const row of table) {
    assert.equal(row.lost, 0, row.name);
    assert.equal(row.received, 10, row.name);
    assert.ok(Number(row.bytes) > 0, `${row.name} moved bytes`);
  }
  // A socket needs no request per message; every HTTP technique needs at least one
  // request per answer, and polling asks even when there is nothing new.
  const requests = Object.fromEntries(table.map((row) => [row.name, Number(row.requests)]));
  assert.equal(requests.ws, 0);
  assert.equal(requests.sse, 0);
  assert.ok(requests.poll > 0 && requests.longpoll > 0 && requests.jsonp > 0);
  assert.equal(await page.textContent('tr[data-transport="ws"] .lost'), '0');
  // The Markdown that chapter 14's figures are printed as (tests/measure/chat-costs.mjs).
  const markdown = markdownTable(table).split('\n');
  assert.deepEqual(markdown.slice(0, 2), HEADER);
  assert.deepEqual(markdown.slice(2).map((line) => line.split(' | ')[0]),
    TRANSPORTS.map((name) => `| ${name}`));
  assert.ok(markdown.slice(2).every((line) => /^\| \S+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \| 0 \|$/.test(line)),
    markdown.join('\n'));
  assert.deepEqual(errors, []);
  await page.screenshot({ path: '/tmp/compare-page.png', fullPage: true });
  await page.close();
});

test('a full event stream turns EventSource away with retry:, and it comes back by itself', async () => {
  // Its own server, so the places it fills are not the other tests'.
  const MAX_HELD = 8; // requests held at once, every transport together
  const full = await startServer(['chat', '--hold-ms', '1000', '--max-held', String(MAX_HELD)]);
  const held = [];
  try {
    for (let i = 0; i < MAX_HELD; i++) {
      const socket = net.connect(full.port, '127.0.0.1');
      socket.write(`GET /chat/events HTTP/1.1\r\nHost: localhost:${full.port}\r\n\r\n`);
      socket.on('data', () => {}); // read, so keepalives never back up
      held.push(socket);
    }
    await waitFor(async () => (await stats(full)).sse.open === MAX_HELD);
    const page = await browser.newPage();
    await page.goto(full.base + '/');
    // The page records every state the EventSource goes through.
    await page.evaluate(() => {
      window.states = [];
      const source = new EventSource('/chat/events?since=0');
      source.onopen = () => window.states.push('open');
      source.onerror = () => window.states.push(`error ${source.readyState}`);
    });
    // Turned away: an error with readyState 0, CONNECTING. A 503 would have made it 2,
    // CLOSED, for good (the 204 test in sse.test.mjs shows that).
    await page.waitForFunction(() => window.states.length >= 2);
    assert.deepEqual(await page.evaluate(() => window.states), ['open', 'error 0']);
    // A place frees up; after its retry: wait, the browser is back on its own.
    held.pop().destroy();
    await page.waitForFunction(() => window.states.at(-1) === 'open', null, { timeout: 10_000 });
    const states = await page.evaluate(() => window.states);
    assert.ok(!states.includes('error 2'), states.join(', '));
    await page.close();
  } finally {
    held.forEach((socket) => socket.destroy());
    await full.stop();
  }
});

async function stats(target) {
  const response = await fetch(`${target.base}/stats`);
  const body = await response.json();
  return Object.fromEntries(body.transports.map((t) => [t.name, t]));
}

async function waitFor(check) {
  for (let i = 0; i < 400; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error('the server never got there');
}
