// The short-polling page in a real browser: it keeps asking GET /time, shows
// the answers, and counts exactly what came back.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser } from './support.mjs';

let server;
let browser;

before(async () => {
  // 50 ms between polls instead of 2 s, so the test sees many answers quickly.
  server = await startServer(['polling', '--tick-ms', '50']);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

// The size of every /time head at --tick-ms 50 (its Date line always has the
// same length): status line, seven header lines, blank line.
const HEAD_BYTES = [
  'HTTP/1.1 200 OK\r\n',
  'Date: Mon, 23 Nov 2026 16:40:05 GMT\r\n',
  'Server: webwire\r\n',
  'X-Content-Type-Options: nosniff\r\n',
  'Content-Type: text/plain; charset=utf-8\r\n',
  'Cache-Control: no-store\r\n',
  'X-Poll-Interval-Ms: 50\r\n',
  'Content-Length: 30\r\n',
  '\r\n',
].join('').length;

test('the page polls until it has shown two different times, and counts the bytes', async () => {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(server.base + '/polling.html');

  // Times have a one-second resolution: two different ones take at most ~1 s of polling.
  await page.waitForFunction(() => {
    const times = [...document.querySelectorAll('#log .time')].map((t) => t.textContent);
    return new Set(times).size >= 2;
  });

  const seen = await page.evaluate(() => ({
    times: [...document.querySelectorAll('#log .time')].map((t) => t.textContent),
    sent: Number(document.getElementById('sent').textContent),
    received: Number(document.getElementById('received').textContent),
    unchanged: Number(document.getElementById('unchanged').textContent),
    bodyBytes: Number(document.getElementById('body-bytes').textContent),
    headBytes: Number(document.getElementById('head-bytes').textContent),
    interval: document.getElementById('interval').textContent,
  }));

  for (const time of seen.times) {
    assert.match(time, /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT$/);
  }
  assert.equal(seen.interval, '50', 'the page took its pace from X-Poll-Interval-Ms');
  assert.equal(seen.received, seen.times.length, 'one line per answer (fewer than 100)');
  assert.ok(seen.sent === seen.received || seen.sent === seen.received + 1,
    `one poll at a time: sent ${seen.sent}, received ${seen.received}`);
  assert.equal(seen.bodyBytes, 30 * seen.received, 'each body is 30 bytes');
  assert.equal(seen.headBytes, HEAD_BYTES * seen.received, 'each head rebuilt to its exact size');
  // Times only ever move forward, so every repeat of an answer follows its first showing.
  assert.equal(seen.unchanged, seen.received - new Set(seen.times).size);
  assert.deepEqual(errors, []);
});
