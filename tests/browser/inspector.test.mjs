// The wire inspector in a real browser, as a user sees it: the button at the foot of every demo
// page opens a panel that lists the bytes of this browser's own connections (heads with CR LF
// spelled out, bodies, chunks with their size lines, event-stream events, WebSocket frames
// unmasked), each with its connection's number, beside a live sequence diagram with one arrow
// per message. Another browser's traffic never shows. The panel passes axe-core, fits a phone,
// and closing it ends the server's session.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { startServer, launchBrowser, axeViolations } from './support.mjs';

let server;
let browser;

before(async () => {
  // 100 ms between polls and between events: a poll page shows several exchanges, and an
  // event stream its ten events and the browser's reconnection, within about a second.
  server = await startServer(['--tick-ms', '100']);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function openPage(path, options) {
  const page = await browser.newPage(options);
  const errors = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(server.base + path);
  return { page, errors };
}

// Waits until the panel is open and its feed has sent what came before ("Live: …").
async function panelIsLive(page) {
  await page.waitForFunction(() => /^Live: /.test(document.querySelector('.inspector-status')?.textContent ?? ''));
  assert.equal(await page.locator('#inspector').isHidden(), false, 'the panel shows');
  assert.equal(await page.textContent('.inspector-toggle'), 'Hide the wire');
  assert.equal(await page.locator('.inspector-toggle').getAttribute('aria-expanded'), 'true');
}

// Opens the panel as a user does: "Show the wire".
async function openPanel(page) {
  assert.equal(await page.textContent('.inspector-toggle'), 'Show the wire');
  await page.click('.inspector-toggle');
  await panelIsLive(page);
}

// Clicks a control of the page itself. The open panel is a drawer over the bottom of the
// window, so a control is first scrolled to the top of the window, above the drawer, as a
// user scrolls it there (the page is padded at its foot so that everything can be).
async function press(page, selector) {
  const coveredBy = await page.locator(selector).evaluate((element) => {
    element.scrollIntoView({ block: 'start' });
    const box = element.getBoundingClientRect();
    const hit = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
    return hit === element || element.contains(hit) ? null : `${hit?.tagName}.${hit?.className}`;
  }, undefined, 'visible');
  assert.equal(coveredBy, null, `${selector} is under ${coveredBy}`);
  await page.click(selector);
}

// What the panel shows now: each entry (its number, connection, direction, kind, the meta line
// and the bytes as shown), and the diagram's arrows (from x to x) and their labels, in order.
function readPanel(page) {
  return page.evaluate(() => ({
    entries: [...document.querySelectorAll('#inspector li.wire-entry')].map((li) => ({
      seq: Number(li.dataset.seq),
      conn: li.dataset.conn,
      kind: li.dataset.kind,
      dir: li.classList.contains('wire-up') ? '>' : '<',
      meta: li.querySelector('.wire-meta').textContent,
      text: li.querySelector('pre.wire-text').textContent,
    })),
    arrows: [...document.querySelectorAll('#inspector .inspector-diagram line.wire-arrow')]
      .map((line) => [Number(line.getAttribute('x1')), Number(line.getAttribute('x2'))]),
    labels: [...document.querySelectorAll('#inspector .inspector-diagram text.wire-arrow-label')]
      .map((text) => text.textContent),
  }));
}

// Waits until the panel shows at least `count` entries whose bytes start with `prefix`.
async function waitForShown(page, prefix, count = 1) {
  try {
    await page.waitForFunction(([start, wanted]) => [...document.querySelectorAll('#inspector pre.wire-text')]
      .filter((pre) => pre.textContent.startsWith(start)).length >= wanted, [prefix, count]);
  } catch (error) {
    const { entries } = await readPanel(page);
    const seen = entries.slice(-12).map((e) => `${e.meta} ${e.text.split('\n')[0]}`);
    throw new Error(`the panel never showed ${count} × ${JSON.stringify(prefix)}: ${error.message}\n${seen.join('\n')}`);
  }
}

// A head as the panel shows it, back to its bytes on the wire: `\r` and `\n` (each `\n`
// followed by a line break, for reading) were CR and LF.
function wireOf(shown) {
  return shown.replace(/\\r/g, '\r').replace(/\\n\n/g, '\n');
}

// `#7 +1.234s > head (217 B)`: the connection, the time, the direction, the kind, the size.
const META = /^#(\d+) \+(\d+\.\d{3})s ([<>]) (note|head|body|chunk|event|frame|raw)(?: \((\d+) B\))?$/;
function meta(entry) {
  const match = META.exec(entry.meta);
  assert.ok(match, `the meta line ${JSON.stringify(entry.meta)}`);
  const [, conn, at, dir, kind, bytes] = match;
  assert.deepEqual([conn, dir, kind], [entry.conn, entry.dir, entry.kind], entry.meta);
  return { conn, at: Number(at), bytes: bytes === undefined ? 0 : Number(bytes) };
}

// The entries of one connection, in order.
const onConn = (entries, conn) => entries.filter((entry) => entry.conn === conn);

// The diagram's labels of one connection, without the `#N ` in front.
function labelsOf(labels, conn) {
  const prefix = `#${conn} `;
  return labels.filter((label) => label.startsWith(prefix)).map((label) => label.slice(prefix.length));
}

// The first line of a head, without its CR LF: `GET /time HTTP/1.1`, `HTTP/1.1 200 OK`.
const firstLine = (entry) => entry.text.slice(0, entry.text.indexOf('\\r\\n'));

// The arrow the diagram draws for a head: `GET /time`, `200 OK`.
function headLabel(entry) {
  const line = firstLine(entry);
  return entry.dir === '>' ? line.split(' ').slice(0, 2).join(' ') : line.split(' ').slice(1).join(' ');
}

// Every arrow goes from the browser (left) to the server (right) for what the browser sent,
// the other way for what the server sent; one label per arrow.
function assertArrowsPoint(panel, arrowEntries) {
  assert.equal(panel.arrows.length, panel.labels.length, 'one label per arrow');
  assert.deepEqual(panel.arrows.map(([x1, x2]) => (x1 < x2 ? '>' : '<')), arrowEntries.map((e) => e.dir),
    'each arrow points the way its bytes went');
}

// Resolves with the status of the page's next `method` request to /inspector: the panel's
// own requests, which it makes without waiting for them.
function inspectorAnswer(page, method) {
  return new Promise((resolve) => {
    let heard = false;
    page.on('response', (response) => {
      if (!heard && new URL(response.url()).pathname === '/inspector' && response.request().method() === method) {
        heard = true;
        resolve(response.status());
      }
    });
  });
}

const HTTP_DATE = /^[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT$/;

test('polling: each GET /time, then its response head and body, CR LF visible, on one kept-alive connection, and an arrow per head', async () => {
  const { page, errors } = await openPage('/polling.html');
  await openPanel(page);
  // Polls go one at a time: the fourth request shown means three whole exchanges before it.
  await waitForShown(page, 'GET /time HTTP/1.1\\r\\n', 4);
  const panel = await readPanel(page);
  const { entries } = panel;

  const exchanges = [];
  entries.forEach((entry, i) => {
    if (entry.kind !== 'head' || !entry.text.startsWith('GET /time HTTP/1.1\\r\\n')) return;
    // What follows it on its connection: its answer, the head and then the body.
    const next = entries.slice(i + 1).filter((e) => e.conn === entry.conn);
    if (next.length < 2) return; // the latest poll, still on its way
    exchanges.push({ request: entry, head: next[0], body: next[1], at: [i, entries.indexOf(next[1])] });
  });
  assert.ok(exchanges.length >= 3, `three whole exchanges: ${entries.map((e) => e.meta).join(' | ')}`);

  for (const { request, head, body } of exchanges) {
    // The request head, byte for byte, each CR LF spelled out and a line break after it.
    assert.equal(request.dir, '>');
    assert.ok(request.text.startsWith('GET /time HTTP/1.1\\r\\n\n'), request.text);
    assert.ok(request.text.includes(`\nHost: localhost:${server.port}\\r\\n\n`), request.text);
    assert.match(request.text, /\nCookie: (?:[^\n]*; )?webwire-inspector=[0-9a-f]{32}(?:;[^\n]*)?\\r\\n\n/,
      'the request carries the session cookie that makes it shown');
    assert.ok(request.text.endsWith('\\r\\n\n\\r\\n\n'), 'the blank line that ends the head');
    assert.ok(!/\r/.test(request.text), 'no raw CR');
    assert.equal(meta(request).bytes, Buffer.byteLength(wireOf(request.text)), 'the size is the head\'s bytes');

    // Its answer: a head, then a body of 30 bytes, on the same connection.
    assert.deepEqual([head.dir, head.kind, body.dir, body.kind], ['<', 'head', '<', 'body']);
    assert.ok(head.text.startsWith('HTTP/1.1 200 OK\\r\\n\n'), head.text);
    for (const line of ['Content-Type: text/plain; charset=utf-8', 'X-Poll-Interval-Ms: 100', 'Content-Length: 30']) {
      assert.ok(head.text.includes(`\n${line}\\r\\n\n`), `${line} in ${head.text}`);
    }
    assert.ok(head.text.endsWith('\\r\\n\n\\r\\n\n'));
    assert.equal(meta(head).bytes, Buffer.byteLength(wireOf(head.text)));
    assert.equal(meta(body).bytes, 30);
    assert.ok(body.text.endsWith('\\n\n'), JSON.stringify(body.text));
    assert.match(body.text.slice(0, -3), HTTP_DATE);
    assert.ok(meta(request).at <= meta(head).at && meta(head).at <= meta(body).at, 'times only move on');
  }
  // One exchange after the other, in order: the next request after the last answer.
  for (let k = 1; k < exchanges.length; k += 1) {
    assert.ok(exchanges[k - 1].at[1] < exchanges[k].at[0], `exchange ${k} follows exchange ${k - 1}`);
    assert.ok(exchanges[k - 1].request.seq < exchanges[k].request.seq);
  }
  // Keep-alive: the polls share a connection, whose number every entry carries.
  const conns = exchanges.map((x) => x.request.conn);
  assert.match(conns[0], /^\d+$/);
  for (let k = 1; k < conns.length; k += 1) {
    assert.equal(conns[k], conns[k - 1], `consecutive polls on one connection: ${conns.join(', ')}`);
  }
  // The panel shows the answers the page itself received.
  const pageTimes = new Set(await page.$$eval('#log .time', (times) => times.map((t) => t.textContent)));
  for (const { body } of exchanges) assert.ok(pageTimes.has(body.text.slice(0, -3)), body.text);

  // The diagram: one arrow per head, in the list's order (a body belongs to its head's arrow).
  const heads = entries.filter((entry) => entry.kind === 'head');
  assert.deepEqual(panel.labels, heads.map((entry) => `#${entry.conn} ${headLabel(entry)}`));
  assertArrowsPoint(panel, heads);
  const conn = conns[0];
  const first = panel.labels.indexOf(`#${conn} GET /time`);
  assert.deepEqual(panel.labels.slice(first, first + 6),
    [1, 2, 3].flatMap(() => [`#${conn} GET /time`, `#${conn} 200 OK`]));
  assert.deepEqual(errors, []);
  await page.close();
});

test('Server-Sent Events: with the panel kept open from another page, the stream\'s head, its chunks with their size lines, and its events in order; the diagram draws the events', async () => {
  const { page, errors } = await openPage('/');
  await openPanel(page);
  // The panel stays open from page to page.
  await page.goto(server.base + '/sse.html');
  await panelIsLive(page);
  // Ten events, the end of the response, and the browser's reconnection's first event.
  await page.waitForFunction(() => [...document.querySelectorAll('#inspector li.wire-event pre.wire-text')]
    .some((pre) => pre.textContent.split('\n').includes('id: 11')));
  const panel = await readPanel(page);
  const { entries } = panel;

  const asking = entries.find((e) => e.kind === 'head' && e.text.startsWith('GET /evt HTTP/1.1\\r\\n\n'));
  assert.ok(asking, 'the EventSource\'s request');
  assert.ok(asking.text.includes('\nAccept: text/event-stream\\r\\n\n'), asking.text);
  const conn = asking.conn;
  const stream = onConn(entries, conn).filter((e) => e.kind !== 'note');
  const from = stream.indexOf(asking);
  const answer = stream[from + 1];
  assert.deepEqual([answer.dir, answer.kind], ['<', 'head']);
  assert.ok(answer.text.startsWith('HTTP/1.1 200 OK\\r\\n\n'), answer.text);
  assert.ok(answer.text.includes('\nContent-Type: text/event-stream\\r\\n\n'), answer.text);
  assert.ok(answer.text.includes('\nTransfer-Encoding: chunked\\r\\n\n'), answer.text);
  assert.equal(meta(answer).bytes, Buffer.byteLength(wireOf(answer.text)));

  // Each event is one chunk: the chunk (its hex size line, its data, its CR LF), then the
  // event read from it, fields and all.
  for (let id = 1; id <= 10; id += 1) {
    const chunk = stream[from + 2 * id];
    const event = stream[from + 2 * id + 1];
    assert.deepEqual([chunk.dir, chunk.kind, event.dir, event.kind], ['<', 'chunk', '<', 'event'],
      `event ${id}: ${chunk.meta} / ${event.meta}`);
    const sizeLine = /^([0-9a-f]+)\\r\\n\n/.exec(chunk.text);
    assert.ok(sizeLine, `a hex size line, then \\r\\n: ${chunk.text}`);
    assert.ok(chunk.text.endsWith('\\r\\n\n'), 'the CR LF after the data');
    const data = wireOf(chunk.text.slice(sizeLine[0].length, -'\\r\\n\n'.length));
    const size = Number.parseInt(sizeLine[1], 16);
    assert.equal(Buffer.byteLength(data), size, `the size line says the data's size: ${chunk.text}`);
    assert.equal(meta(chunk).bytes, sizeLine[1].length + 2 + size + 2, 'the chunk\'s bytes on the wire');
    assert.equal(event.text, data, 'the event is the chunk\'s data');
    assert.equal(meta(event).bytes, size);

    const fields = event.text.split('\n').filter(Boolean);
    assert.ok(fields.includes(`id: ${id}`), `id: ${id} in ${event.text}`);
    const values = fields.filter((f) => f.startsWith('data: ')).map((f) => f.slice('data: '.length));
    if (id === 9) {
      assert.deepEqual(fields, ['id: 9'], 'an id with no data');
      continue;
    }
    assert.match(values[0], HTTP_DATE, event.text);
    if (id === 1) assert.equal(fields[0], 'retry: 100', 'the retry time rides in the first event');
    if (id === 3) assert.ok(fields.includes('event: myevent'), event.text);
    if (id === 6) assert.match(values[1], /^\d+ ms since 1970$/, 'a value of two lines: two data: fields');
    else assert.equal(values.length, 1, event.text);
  }
  const last = stream[from + 22];
  assert.deepEqual([last.kind, last.text], ['chunk', '0\\r\\n\n\\r\\n\n'], 'the last chunk');
  // The browser asks again, saying where it was, and the next response starts at 11.
  const again = entries.find((e) => e.seq > last.seq && e.kind === 'head' && e.text.startsWith('GET /evt HTTP/1.1\\r\\n\n'));
  assert.ok(again, 'the reconnection');
  assert.ok(again.text.includes('\nLast-Event-ID: 10\\r\\n\n'), again.text);
  assert.ok(entries.some((e) => e.seq > again.seq && e.kind === 'event' && e.text.split('\n').includes('id: 11')));

  // The diagram: on the stream's connection, the heads and one arrow per event (its type and
  // id), none for the chunks that carry them; the last chunk ends the response.
  const drawn = stream.slice(from, from + 23).filter((e) => e.kind !== 'chunk' || e === last);
  const expected = drawn.map((e) => {
    if (e.kind === 'head') return headLabel(e);
    if (e === last) return 'last chunk';
    const fields = e.text.split('\n');
    const id = fields.find((f) => f.startsWith('id: ')).slice('id: '.length);
    // An id with no data dispatches nothing (the id still counts): the arrow says so.
    if (!fields.some((f) => f.startsWith('data: '))) return `id: ${id}, no data: no event`;
    const type = fields.find((f) => f.startsWith('event: '))?.slice('event: '.length) ?? 'message';
    return `event: ${type} id: ${id}`;
  });
  assert.equal(expected.length, 2 + 10 + 1);
  assert.ok(expected.includes('event: myevent id: 3'));
  const streamLabels = labelsOf(panel.labels, conn);
  const streamStart = streamLabels.indexOf('GET /evt');
  const streamDrawn = streamLabels.slice(streamStart, streamStart + expected.length);
  assert.equal(streamDrawn.length, expected.length, streamDrawn.join(' | '));
  expected.forEach((want, i) => {
    if (want instanceof RegExp) assert.match(streamDrawn[i], want);
    else assert.equal(streamDrawn[i], want, streamDrawn.join(' | '));
  });
  assert.ok(!panel.labels.some((label) => /\bchunk, \d+ bytes/.test(label)), 'no arrow for a chunk carrying an event');
  assertArrowsPoint(panel, entries.filter((e) => e.kind === 'head' || e.kind === 'event' || (e.kind === 'chunk' && e.text.startsWith('0\\r\\n'))));
  assert.deepEqual(errors, []);
  await page.close();
});

test('WebSocket: the handshake, the page\'s message masked and shown unmasked, the echo unmasked, and the close frames with their code\'s name', async () => {
  const { page, errors } = await openPage('/websocket.html');
  await openPanel(page);
  await press(page, '#connect');
  await page.locator('#state', { hasText: '1 OPEN' }).waitFor();
  await page.fill('#text', 'Hello, κόσμε');
  await press(page, '#send-text');
  await page.locator('#log li', { hasText: '← text' }).waitFor();
  await page.fill('#code', '1000');
  await page.fill('#reason', 'done here');
  await press(page, '#close');
  await page.locator('#state', { hasText: '3 CLOSED' }).waitFor();
  assert.equal(await page.textContent('#close-event'), 'wasClean=true code=1000 reason="done here"');
  // Both close frames: the page's, then the server's answer.
  await page.waitForFunction(() => [...document.querySelectorAll('#inspector li.wire-frame pre.wire-text')]
    .filter((pre) => / op=8 close /.test(pre.textContent)).length >= 2);
  const panel = await readPanel(page);

  const upgrade = panel.entries.find((e) => e.kind === 'head' && e.text.startsWith('GET /ws HTTP/1.1\\r\\n\n'));
  assert.ok(upgrade, 'the handshake\'s request');
  const conn = upgrade.conn;
  const talk = onConn(panel.entries, conn).filter((e) => e.kind !== 'note');
  assert.deepEqual(talk.map((e) => `${e.dir} ${e.kind}`),
    ['> head', '< head', '> frame', '< frame', '> frame', '< frame'],
    talk.map((e) => e.meta).join(' | '));
  const [, switched, sent, echo, closing, closed] = talk;

  assert.ok(upgrade.text.includes('\nUpgrade: websocket\\r\\n\n'), upgrade.text);
  assert.match(upgrade.text, /\nConnection: [^\n]*Upgrade\\r\\n\n/i);
  assert.ok(upgrade.text.includes('\nSec-WebSocket-Version: 13\\r\\n\n'), upgrade.text);
  assert.ok(upgrade.text.includes('\nSec-WebSocket-Protocol: echo\\r\\n\n'), upgrade.text);
  assert.ok(switched.text.startsWith('HTTP/1.1 101 Switching Protocols\\r\\n\n'), switched.text);
  assert.ok(switched.text.includes('\nUpgrade: websocket\\r\\n\n'), switched.text);
  // The shown bytes are the real ones: the accept value is the key's, as RFC 6455 §4.2.2 says.
  const key = /\nSec-WebSocket-Key: ([A-Za-z0-9+/=]+)\\r\\n\n/.exec(upgrade.text)[1];
  const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
  assert.ok(switched.text.includes(`\nSec-WebSocket-Accept: ${accept}\\r\\n\n`), switched.text);

  // The page's message, masked on the wire (RFC 6455 §5.3), shown unmasked; the echo unmasked.
  assert.equal(sent.text, 'fin=1 rsv=000 op=1 text mask=1 len=17\nHello, κόσμε');
  assert.equal(meta(sent).bytes, 2 + 4 + 17, 'header, masking key, payload');
  assert.equal(echo.text, 'fin=1 rsv=000 op=1 text mask=0 len=17\nHello, κόσμε');
  assert.equal(meta(echo).bytes, 2 + 17);
  // The close frames: the code as a number and its name, and the reason.
  assert.equal(closing.text, 'fin=1 rsv=000 op=8 close mask=1 len=11 code=1000 (normal closure) "done here"');
  assert.equal(closed.text, 'fin=1 rsv=000 op=8 close mask=0 len=11 code=1000 (normal closure) "done here"');

  // The diagram: the two heads, then one arrow per frame, each the way it went.
  const labels = labelsOf(panel.labels, conn);
  assert.deepEqual(labels.slice(0, 4), ['GET /ws', '101 Switching Protocols', 'text Hello, κόσμε', 'text Hello, κόσμε']);
  assert.equal(labels.length, 6, labels.join(' | '));
  for (const label of labels.slice(4)) assert.ok(label.startsWith('close 1000 (normal closure)'), label);
  assertArrowsPoint(panel, panel.entries.filter((e) => e.kind === 'head' || e.kind === 'frame'));
  assert.deepEqual(errors, []);
  await page.close();
});

test('only this browser\'s own traffic: another browser context\'s requests never show, with or without a panel of its own', async () => {
  const { page: mine, errors } = await openPage('/websocket.html');
  await openPanel(mine);
  const ask = (page, query) => page.evaluate((q) => fetch(`/time?${q}`).then((r) => r.text()), query);
  await ask(mine, 'first-context-before');
  await waitForShown(mine, 'GET /time?first-context-before HTTP/1.1\\r\\n');

  // Another browser (its own cookies): a request without a panel, then with its own open.
  const otherContext = await browser.newContext();
  const other = await otherContext.newPage();
  await other.goto(server.base + '/websocket.html');
  await ask(other, 'other-context-no-panel');
  await openPanel(other);
  await ask(other, 'other-context-with-panel');
  await waitForShown(other, 'GET /time?other-context-with-panel HTTP/1.1\\r\\n');

  // This browser's next request: had the other's been shown here, they would be by now (the
  // entries are numbered in the order their bytes crossed, and shown in that order).
  await ask(mine, 'first-context-after');
  await waitForShown(mine, 'GET /time?first-context-after HTTP/1.1\\r\\n');
  await ask(other, 'other-context-last');
  await waitForShown(other, 'GET /time?other-context-last HTTP/1.1\\r\\n');

  const seenHere = await readPanel(mine);
  const texts = seenHere.entries.map((e) => e.text);
  assert.deepEqual(texts.filter((t) => t.includes('other-context')), [], 'none of the other browser\'s bytes');
  assert.deepEqual(seenHere.labels.filter((l) => l.includes('other-context')), []);
  assert.deepEqual(texts.filter((t) => /^GET \/time\?first-context-\w+ /.test(t)).map((t) => t.split(' ')[1]),
    ['/time?first-context-before', '/time?first-context-after'], 'this browser\'s own requests');
  assert.ok(seenHere.labels.some((l) => / GET \/time\?first-context-after$/.test(l)));
  const entriesHere = await mine.evaluate(() => window.inspector.entries().map((e) => e.text));
  assert.equal(entriesHere.length, texts.length);
  assert.ok(!entriesHere.some((t) => t.includes('other-context')));

  // And the other way round: the other panel shows its own, never this browser's.
  const seenThere = await readPanel(other);
  assert.deepEqual(seenThere.entries.filter((e) => e.text.includes('first-context')).map((e) => e.meta), []);
  assert.equal(seenThere.entries.filter((e) => /^GET \/time\?other-context-with-panel /.test(e.text)).length, 1);
  assert.deepEqual(errors, []);
  await other.close();
  await otherContext.close();
  await mine.close();
});

// The cookie belongs to the host name that set it: `localhost` and `127.0.0.1` are two names
// (and two sites), so what a page on one sends to the other carries no cookie and is not shown
// (chapter 01, "A session, and the cookie that names it").
test('a request the page sends to the server\'s other name carries no cookie, and is not shown', async () => {
  const { page, errors } = await openPage('/polling.html');
  await openPanel(page);
  const other = server.base.replace('localhost', '127.0.0.1');
  // Sent, whatever CORS then lets the page read: the server sees it (no-cors, a simple GET).
  await page.evaluate((url) => fetch(`${url}/time?the-other-name`, { mode: 'no-cors' }), other);
  await page.evaluate(() => fetch('/time?this-name').then((r) => r.text()));
  await waitForShown(page, 'GET /time?this-name HTTP/1.1\\r\\n');
  const { entries } = await readPanel(page);
  assert.deepEqual(entries.filter((e) => e.text.includes('the-other-name')).map((e) => e.meta), []);
  assert.deepEqual(errors, []);
  await page.close();
});

test('the open panel passes axe-core\'s WCAG A/AA rules, and on a phone it shows with nothing wider than the screen', async () => {
  for (const viewport of [{ width: 1280, height: 720 }, { width: 390, height: 844 }]) {
    const { page, errors } = await openPage('/polling.html', { viewport });
    await openPanel(page);
    await waitForShown(page, 'GET /time HTTP/1.1\\r\\n', 3);
    await press(page, '#toggle'); // Stop polling: axe-core reads a page that holds still
    await page.locator('#toggle', { hasText: 'Start polling' }).waitFor();
    assert.deepEqual(await axeViolations(page), [], `axe-core at ${viewport.width} px`);

    const layout = await page.evaluate(() => {
      const limit = document.documentElement.clientWidth;
      const box = (selector) => {
        const b = document.querySelector(selector).getBoundingClientRect();
        return { left: b.left, right: b.right, top: b.top, bottom: b.bottom, width: b.width, height: b.height };
      };
      // A box that scrolls sideways by itself (the entries', the diagram's) may hold wider content.
      const scrollsItself = (el) => {
        for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
          if (['auto', 'scroll'].includes(getComputedStyle(up).overflowX)) return true;
        }
        return false;
      };
      const toggle = box('.inspector-toggle');
      const hit = document.elementFromPoint(toggle.left + toggle.width / 2, toggle.top + toggle.height / 2);
      return {
        limit,
        scrollWidth: document.documentElement.scrollWidth,
        height: window.innerHeight,
        tooWide: [...document.querySelectorAll('body *')]
          .filter((el) => el.getBoundingClientRect().right > limit + 1 && !scrollsItself(el))
          .map((el) => `${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}.${el.getAttribute('class') ?? ''}`)
          .slice(0, 5),
        panel: box('#inspector'),
        entries: box('.inspector-entries'),
        diagram: box('.inspector-diagram'),
        toggle,
        toggleOnTop: hit === document.querySelector('.inspector-toggle'),
      };
    });
    const at = `at ${viewport.width} px: ${JSON.stringify(layout)}`;
    assert.deepEqual(layout.tooWide, [], `elements past the right edge ${at}`);
    assert.ok(layout.scrollWidth <= layout.limit, `no sideways scrolling ${at}`);
    // The panel is on the screen, across it, with its list and its diagram both in view.
    const { panel } = layout;
    assert.ok(panel.left >= 0 && panel.right <= layout.limit && panel.top >= 0 && panel.bottom <= layout.height + 1, at);
    assert.ok(panel.height > 0.3 * layout.height, at);
    for (const part of [layout.entries, layout.diagram]) {
      assert.ok(part.width > 0 && part.height > 0 && part.top >= panel.top && part.bottom <= panel.bottom + 1
        && part.left >= panel.left && part.right <= panel.right, at);
    }
    // The button to close it stays on screen, above the panel, not under anything.
    assert.ok(layout.toggle.bottom <= panel.top && layout.toggle.top >= 0 && layout.toggle.right <= layout.limit, at);
    assert.ok(layout.toggleOnTop, at);
    assert.equal(await page.locator('#inspector li.wire-entry').first().isHidden(), false);
    assert.deepEqual(errors, []);
    await page.close();
  }
});

test('closing the panel ends the session: DELETE /inspector, then GET /inspector says it is not open', async () => {
  const { page, errors } = await openPage('/polling.html');
  const getState = () => page.evaluate(() => fetch('/inspector', { cache: 'no-store' }).then((r) => r.text()));
  assert.equal(await getState(), '{"enabled":true,"open":false}');
  await openPanel(page);
  await waitForShown(page, 'GET /time HTTP/1.1\\r\\n');
  assert.equal(await getState(), '{"enabled":true,"open":true}');
  assert.ok(!(await page.evaluate(() => document.cookie)).includes('webwire-inspector'), 'the cookie is HttpOnly');
  // The token, as the panel shows it in the page's own request heads: asked with it from
  // outside the browser, the server says whether the session itself still exists.
  const { entries } = await readPanel(page);
  const token = /webwire-inspector=([0-9a-f]{32})/.exec(entries.find((e) => e.kind === 'head' && e.dir === '>').text)[1];
  const sessionState = async () => (await fetch(`${server.base}/inspector`, {
    headers: { Cookie: `webwire-inspector=${token}` },
  })).text();
  assert.equal(await sessionState(), '{"enabled":true,"open":true}');

  const deleted = inspectorAnswer(page, 'DELETE');
  await page.click('.inspector-toggle');
  assert.equal(await deleted, 204);
  assert.equal(await page.locator('#inspector').isHidden(), true);
  assert.equal(await page.textContent('.inspector-toggle'), 'Show the wire');
  assert.equal(await page.locator('.inspector-toggle').getAttribute('aria-expanded'), 'false');
  assert.equal(await getState(), '{"enabled":true,"open":false}');
  assert.equal(await sessionState(), '{"enabled":true,"open":false}', 'the session itself is gone, not only the cookie');

  // Closed stays closed: the next page does not open it again.
  await page.goto(server.base + '/polling.html');
  assert.equal(await page.textContent('.inspector-toggle'), 'Show the wire');
  assert.equal(await page.locator('#inspector').isHidden(), true);
  assert.equal(await getState(), '{"enabled":true,"open":false}');
  assert.deepEqual(errors, []);
  await page.close();
});

// Closing and opening the panel again on the same page gives the browser a new session, whose
// entries are numbered from 1 again: the panel must read the new one from its start.
test('closed and opened again on the same page, the panel shows what happens next from its start', async () => {
  const { page, errors } = await openPage('/websocket.html');
  await openPanel(page);
  await page.evaluate(() => fetch('/time?before-closing').then((r) => r.text()));
  await waitForShown(page, 'GET /time?before-closing HTTP/1.1\\r\\n');
  const deleted = inspectorAnswer(page, 'DELETE');
  await page.click('.inspector-toggle');
  assert.equal(await deleted, 204);
  const opened = inspectorAnswer(page, 'POST');
  await page.click('.inspector-toggle');
  assert.equal(await opened, 200);

  // A new connection (a WebSocket's always is), so it is shown whatever came before it.
  // Messages, one at a time, until the panel shows one of them.
  await page.evaluate(() => new Promise((resolve, reject) => {
    window.probe = new WebSocket(`${location.origin.replace(/^http/, 'ws')}/ws`);
    window.probe.onopen = resolve;
    window.probe.onerror = reject;
  }));
  const shownFrames = () => page.evaluate(() => [...document.querySelectorAll('#inspector li.wire-frame pre.wire-text')]
    .filter((pre) => /\nprobe \d+$/.test(pre.textContent)).length);
  let sent = 0;
  while (sent < 40 && await shownFrames() === 0) {
    sent += 1;
    await page.evaluate((n) => new Promise((resolve) => {
      window.probe.onmessage = resolve;
      window.probe.send(`probe ${n}`);
    }), sent);
  }
  // Every message's echo is shown once the last one's is.
  await page.waitForFunction((n) => [...document.querySelectorAll('#inspector li.wire-frame pre.wire-text')]
    .some((pre) => pre.textContent.endsWith(`mask=0 len=${String(n).length + 6}\nprobe ${n}`)), sent);
  const { entries } = await readPanel(page);
  const handshake = entries.filter((e) => e.kind === 'head' && e.text.startsWith('GET /ws HTTP/1.1\\r\\n'));
  const frames = entries.filter((e) => e.kind === 'frame' && e.dir === '>').map((e) => e.text.split('\n')[1]);
  assert.equal(handshake.length, 1,
    `the WebSocket's handshake, made after the panel was opened again; shown: ${entries.map((e) => `${e.seq} ${e.meta}`).join(' | ')}`);
  assert.deepEqual(frames, Array.from({ length: sent }, (_, i) => `probe ${i + 1}`), 'every message, from the first');
  assert.match(await page.textContent('.inspector-status'), /^Live: /);
  assert.deepEqual(errors, []);
  await page.close();
});

// A connection kept alive carries requests before the panel is closed and after it is opened
// again: each request is shown to the session its own cookie names.
test('a kept-alive connection shown before the panel was closed is shown again once it is opened again', async () => {
  const { page, errors } = await openPage('/websocket.html');
  await openPanel(page);
  // Six requests at once: the browser opens several connections, each shown from here.
  await page.evaluate(() => Promise.all(Array.from({ length: 6 },
    (_, i) => fetch(`/time?before-closing-${i}`).then((r) => r.text()))));
  await waitForShown(page, 'GET /time?before-closing-', 6);
  const before = await readPanel(page);
  const tapped = [...new Set(before.entries.filter((e) => e.text.startsWith('GET /time?before-closing-')).map((e) => e.conn))];
  const deleted = inspectorAnswer(page, 'DELETE');
  await page.click('.inspector-toggle');
  assert.equal(await deleted, 204);

  // A fresh page (the panel's own state starts over), then the panel opened again: a new
  // session. The page's next requests go over the connections the browser keeps alive.
  await page.goto(server.base + '/websocket.html');
  await openPanel(page);
  for (let i = 1; i <= 3; i += 1) {
    await page.evaluate((n) => fetch(`/time?after-reopening-${n}`).then((r) => r.text()), i);
  }
  // A new connection (a WebSocket's always is), opened after those were answered: once its
  // handshake shows, so would they.
  await page.evaluate(() => { window.probe = new WebSocket(`${location.origin.replace(/^http/, 'ws')}/ws`); });
  await waitForShown(page, 'GET /ws HTTP/1.1\\r\\n');
  const { entries } = await readPanel(page);
  const shown = entries.filter((e) => e.kind === 'head' && e.text.startsWith('GET /time?after-reopening-'))
    .map((e) => e.text.split(' ')[1]);
  assert.deepEqual(shown, ['/time?after-reopening-1', '/time?after-reopening-2', '/time?after-reopening-3'],
    `every request made after the panel was opened again (connections shown before closing: ${tapped.join(', ')}); shown: ${entries.map((e) => `${e.meta} ${e.text.split('\\r')[0]}`).join(' | ')}`);
  assert.deepEqual(errors, []);
  await page.close();
});

// Opened again, the panel reads the new session from its first entry, however busy the page
// (it once kept the closed session's cursor, and skipped as many of the new one's entries).
test('opened again while the page is busy, the panel shows the new session from its first entry', {
}, async () => {
  const { page, errors } = await openPage('/websocket.html');
  await openPanel(page);
  await page.evaluate(() => fetch('/time?before-closing').then((r) => r.text()));
  await waitForShown(page, 'GET /time?before-closing HTTP/1.1\\r\\n');
  const deleted = inspectorAnswer(page, 'DELETE');
  await page.click('.inspector-toggle');
  assert.equal(await deleted, 204);

  // The page asks and asks, six requests at a time, while the panel is opened again, until
  // the panel shows some of them. (A cap only against a panel that never shows any: 150 was
  // too few, all answered before a loaded machine had the panel's new session up.)
  await page.evaluate(() => {
    window.busy = true;
    window.asked = 0;
    for (let k = 0; k < 6; k += 1) {
      (async () => {
        while (window.busy && window.asked < 5000) {
          window.asked += 1;
          await fetch(`/time?busy-${window.asked}`).then((r) => r.text());
        }
      })();
    }
  });
  const opened = inspectorAnswer(page, 'POST');
  await page.click('.inspector-toggle');
  assert.equal(await opened, 200);
  await waitForShown(page, 'GET /time?busy-', 6);
  await page.evaluate(() => { window.busy = false; });
  // A last request: once it shows, everything before it would have.
  await page.evaluate(() => fetch('/time?after-the-busy-part').then((r) => r.text()));
  await waitForShown(page, 'GET /time?after-the-busy-part HTTP/1.1\\r\\n');

  const { entries } = await readPanel(page);
  assert.ok(entries.length < 1000, 'nothing left the list (MAX_SHOWN)');
  // Opened again, the panel starts a new list: the closed session's entries went with it.
  const fresh = entries;
  const listed = fresh.map((e) => `${e.seq} ${e.meta} ${e.text.split('\\r')[0].split('\n')[0]}`).slice(0, 8).join(' | ');
  assert.deepEqual(fresh.map((e) => e.seq), fresh.map((_, i) => i + 1),
    `the new session's entries, every one from its first; shown first: ${listed}`);
  // Each connection comes into the new session with its note, before anything it carries.
  for (const conn of new Set(fresh.map((e) => e.conn))) {
    assert.match(onConn(fresh, conn)[0].text, /^connection .*: shown from here\n$/, `#${conn}: ${listed}`);
  }
  assert.deepEqual(errors, []);
  await page.close();
});
