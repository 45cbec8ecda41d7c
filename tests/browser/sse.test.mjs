// The Server-Sent Events page in a real browser: EventSource receives the
// events, reconnects by itself when a response ends or breaks, resumes with
// Last-Event-ID without a gap or a duplicate, stops for good on 204, and reads
// the same stream from the other origin.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { startServer, launchBrowser, engine } from './support.mjs';

let server;
let browser;

before(async () => {
  // 50 ms between events (and as the retry time) instead of 2 s: a response of
  // ten events lasts half a second, so reconnections come quickly.
  server = await startServer(['sse', '--tick-ms', '50']);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function openPage() {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(server.base + '/sse.html');
  return { page, errors };
}

// The log, oldest line first: { kind, id, state, text } for each line.
function readLog(page) {
  return page.$$eval('#log li', (lines) => lines.reverse().map((li) => ({
    kind: li.dataset.kind,
    id: li.dataset.id === '' ? null : Number(li.dataset.id),
    state: Number(li.dataset.state),
    text: li.textContent,
  })));
}

async function waitForId(page, id) {
  try {
    await page.waitForFunction((wanted) => [...document.querySelectorAll('#log li')]
      .some((li) => li.dataset.id !== '' && Number(li.dataset.id) >= wanted), id);
  } catch (error) {
    // Say what the page saw instead: the last lines of its log.
    const seen = (await readLog(page)).slice(-8).map((l) => `${l.kind} ${l.state} ${l.text}`);
    throw new Error(`no event with id ${id}: ${error.message}\n${seen.join('\n')}`);
  }
}

// The ids a page must have seen, from 1 to `last`: every one, in order, except
// those ending in 9, which come as an id with no data and fire no event.
function expectedIds(last) {
  const ids = [];
  for (let id = 1; id <= last; id += 1) if (id % 10 !== 9) ids.push(id);
  return ids;
}

function eventIds(log) {
  return log.filter((line) => line.id !== null).map((line) => line.id);
}

test('events arrive; at the end of each response the browser reconnects and resumes', async () => {
  const { page, errors } = await openPage();
  // Ids 1-10, 11-20 and 21-30 are three responses: two reconnections.
  await waitForId(page, 25);
  const log = await readLog(page);
  const events = log.filter((line) => line.id !== null);
  const ids = eventIds(log);
  assert.deepEqual(ids, expectedIds(ids.at(-1)), 'every id once, in order, across reconnections');

  for (const { id, kind, text } of events) {
    assert.equal(kind, id % 10 === 3 ? 'myevent' : 'message', `the type of event ${id}`);
    const data = id % 10 === 6
      ? /data "[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT\\n\d+ ms since 1970"$/
      : /data "[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT"$/;
    assert.match(text, data, `the data of event ${id}`);
    assert.match(text, new RegExp(`lastEventId ${id} `));
  }

  // The first response's events, then the end: error with readyState 0
  // (CONNECTING, not CLOSED), then the browser's own new connection.
  const afterTen = log.slice(log.findIndex((line) => line.id === 10) + 1);
  assert.deepEqual(afterTen.slice(0, 3).map((l) => [l.kind, l.state, l.id]),
    [['error', 0, null], ['open', 1, null], ['message', 1, 11]]);
  assert.match(afterTen[1].text, /ms after the error$/);
  assert.ok(Number(await page.textContent('#opens')) >= 3);
  assert.equal(await page.textContent('#url'), '/evt', 'the same EventSource all along');
  assert.deepEqual(errors, []);
});

test('dropping the connection: the browser reconnects with Last-Event-ID, no gap, no duplicate', async () => {
  const { page, errors } = await openPage();
  await waitForId(page, 4);
  await page.click('#drop');
  const url = await page.textContent('#url');
  const [, last] = url.match(/^\/evt\?last_id=(\d+)&drop_at=(\d+)$/);
  await waitForId(page, Number(last) + 6);
  const log = await readLog(page);
  const ids = eventIds(log);
  assert.deepEqual(ids, expectedIds(ids.at(-1)), 'every id once, in order, across the drop');

  // After the page's own new EventSource: its connection is cut after one
  // event, the browser reconnects by itself, and the events go on.
  const after = log.slice(log.findIndex((line) => line.kind === 'page'));
  assert.match(after[0].text, /close\(\), then new EventSource\('\/evt\?last_id=\d+&drop_at=\d+'\)/);
  const cut = after.findIndex((line) => line.kind === 'error');
  assert.deepEqual(after.slice(cut, cut + 2).map((l) => [l.kind, l.state]),
    [['error', 0], ['open', 1]], 'a broken response is reconnected like an ended one');
  assert.ok(after.slice(cut).some((line) => line.id > Number(last) + 1), 'events after the cut');
  // Had the server ignored the header and resumed from the URL's last_id
  // again, the events after the cut would repeat: the id check above forbids it.
  assert.deepEqual(errors, []);
});

test('stop for good: close(), then a 204 the EventSource never comes back from', async () => {
  const { page, errors } = await openPage();
  await waitForId(page, 2);
  await page.click('#stop');
  await page.locator('#resume:not([disabled])').waitFor();
  assert.equal(await page.textContent('#state'), '2 CLOSED');
  assert.equal(await page.textContent('#url'), '/evt?stop=1');
  const log = await readLog(page);
  const [refused] = log.slice(-1);
  assert.deepEqual([refused.kind, refused.state], ['error', 2]);
  const afterStop = log.slice(log.findIndex((line) => line.kind === 'page'));
  assert.deepEqual(afterStop.map((l) => [l.kind, l.state]), [['page', 2], ['error', 2]],
    'the 204 was never "open"');

  // Any status but 200 fails the connection the same way: here a 400.
  const readyState = await page.evaluate(() => new Promise((resolve) => {
    const source = new EventSource('/evt?count=0');
    source.onerror = () => resolve(source.readyState);
  }));
  assert.equal(readyState, 2, 'CLOSED');

  // Opening again carries on after the last id, in the URL.
  const lastSeen = eventIds(log).at(-1);
  await page.click('#resume');
  await waitForId(page, lastSeen + 3);
  const ids = eventIds(await readLog(page));
  assert.deepEqual(ids, expectedIds(ids.at(-1)), 'resumed with no gap and no duplicate');
  assert.equal(await page.textContent('#url'), `/evt?last_id=${lastSeen}`);
  // Firefox also reports each failed connection as an error in the page's error log (now and
  // then the same line twice); no script threw in either engine.
  assert.deepEqual([...new Set(errors)], engine === 'firefox' ? [
    `Firefox can’t establish a connection to the server at ${server.base}/evt?stop=1.`,
    `Firefox can’t establish a connection to the server at ${server.base}/evt?count=0.`,
  ] : []);
});

test('the same stream from the other origin, allowed by Access-Control-Allow-Origin: *', async () => {
  const { page, errors } = await openPage();
  assert.equal(await page.textContent('#other-url'), server.altBase + '/evt');
  await page.click('#other-toggle');
  await page.waitForFunction(() => Number(document.getElementById('other-count').textContent) >= 3);
  assert.equal(await page.textContent('#other-origin'), server.altBase);
  assert.match(await page.textContent('#other-last-id'), /^\d+$/);
  await page.click('#other-toggle');
  assert.equal(await page.textContent('#other-state'), '2 CLOSED');
  assert.deepEqual(errors, []);
});

// The first thing an EventSource reports for `url`: `message <data>`, or `error` with its
// readyState. The source is closed at once, so nothing reconnects afterwards.
function firstReport(page, url) {
  return page.evaluate((url) => new Promise((resolve) => {
    const source = new EventSource(url);
    source.onmessage = (event) => { source.close(); resolve(`message ${event.data}`); };
    source.onerror = () => { const state = source.readyState; source.close(); resolve(`error ${state}`); };
  }), url);
}

// A connection that cannot be made at all (nothing listens on the port). The standard treats
// a network error like a broken stream, to be retried. Chromium does: `error` with readyState
// 0 (CONNECTING), and it tries again after the reconnection time. Firefox ESR fails it for
// good: readyState 2 (CLOSED).
test('a refused connection: Chromium tries again, Firefox ESR gives up', async () => {
  const { page, errors } = await openPage();
  const probe = net.createServer();
  await new Promise((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = probe.address().port;
  await new Promise((resolve) => probe.close(resolve)); // now nothing listens there
  const url = `http://127.0.0.1:${port}/evt`;
  assert.equal(await firstReport(page, url), engine === 'firefox' ? 'error 2' : 'error 0');
  // Firefox logs why: the cross-origin request "did not succeed", and the connection (in
  // either order: sorted here).
  assert.deepEqual([...new Set(errors)].sort(), engine === 'firefox' ? [
    `Cross-Origin Request Blocked: The Same Origin Policy disallows reading the remote resource at ${url}. (Reason: CORS request did not succeed). Status code: (null).`,
    `Firefox can’t establish a connection to the server at ${url}.`,
  ] : []);
  await page.close();
});

// The event stream format is UTF-8 and nothing else (HTML §9.2.6). With another charset on
// the Content-Type, Chromium fails the connection; Firefox ESR reads the stream as UTF-8.
// webwire never sends one, so a small Node server does.
test('a charset other than UTF-8: Chromium refuses the stream, Firefox ESR reads it', async () => {
  const other = http.createServer((request, response) => {
    response.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=iso-8859-1',
      'Access-Control-Allow-Origin': '*',
    });
    response.end('data: hello\n\n');
  });
  await new Promise((resolve) => other.listen(0, '127.0.0.1', resolve));
  try {
    const { page } = await openPage();
    const report = await firstReport(page, `http://127.0.0.1:${other.address().port}/`);
    assert.equal(report, engine === 'firefox' ? 'message hello' : 'error 2');
    await page.close();
  } finally {
    other.closeAllConnections();
    await new Promise((resolve) => other.close(resolve));
  }
});

// An event with an id and no data (`id: 9` and a blank line) fires nothing. WHATWG HTML
// §9.2.6 ("dispatch the event", step 1) still makes its id the last event ID, so that the
// reconnection resumes after it. Cut the connection right after such an event: Chromium
// sends `Last-Event-ID: 9` and gets 10 next; Firefox ESR sends no Last-Event-ID at all, so
// this stream, which then falls back to the URL's `last_id=8`, sends 9 again and cuts again.
test('an id with no data: Chromium resumes after it, Firefox ESR forgets it', async () => {
  const { page } = await openPage();
  const seen = await page.evaluate(() => new Promise((resolve) => {
    const source = new EventSource('/evt?last_id=8&drop_at=9');
    let cuts = 0;
    source.onmessage = (event) => {
      source.close();
      resolve({ first: event.lastEventId, cuts });
    };
    source.onerror = () => {
      cuts += 1;
      if (cuts === 4) { // the same cut again and again: it is not moving on
        source.close();
        resolve({ first: null, cuts });
      }
    };
  }));
  assert.deepEqual(seen, engine === 'firefox'
    ? { first: null, cuts: 4 }
    : { first: '10', cuts: 1 });
  await page.close();
});
