// The image-ping page in a real browser: pings sent with new Image() to the
// other origin are counted by the server, while the page itself learns only
// "load" or "error".
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser } from './support.mjs';

let server;
let browser;

before(async () => {
  server = await startServer(['image-ping']);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

// Sends one ping with the page's own form, and waits until the page has shown
// what it learned and re-read the server's tally after it.
async function sendPing(page, number, { gif, bust }) {
  await page.check(gif ? 'input[value=gif]' : 'input[value="204"]');
  await page.setChecked('#bust', bust);
  await page.click('#send');
  await page.locator('#pings li', { hasText: `#${number} ` }).waitFor();
  await page.locator('#stats-when', { hasText: `ping #${number}.` }).waitFor();
  return {
    event: await page.locator('#pings li', { hasText: `#${number} ` }).locator('.event').textContent(),
    count: await page.locator('#count').textContent(),
  };
}

test('pings cross origins, the server counts them, the page sees only load or error', async () => {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(server.base + '/image-ping.html');
  await page.locator('#stats-when', { hasText: 'Read when the page loaded.' }).waitFor();
  assert.equal(await page.locator('#count').textContent(), '0');
  assert.equal(await page.locator('#target').textContent(), server.altBase + '/ping');

  await page.fill('#message', 'hi there');
  // 204 is not an image: the image fires "error", though the server got the ping.
  assert.deepEqual(await sendPing(page, 1, { gif: false, bust: true }), { event: 'error', count: '1' });
  // The GIF is an image: "load".
  assert.deepEqual(await sendPing(page, 2, { gif: true, bust: true }), { event: 'load', count: '2' });

  const rows = await page.locator('#recent tbody tr').evaluateAll((trs) =>
    trs.map((tr) => [...tr.cells].map((td) => td.textContent)));
  assert.equal(rows.length, 2);
  const [newest, oldest] = rows;
  assert.deepEqual(newest.slice(0, 2), ['2', '200']);
  assert.match(newest[2], /^message=hi%20there&gif=1&_=\d+$/);
  assert.deepEqual(oldest.slice(0, 2), ['1', '204']);
  assert.match(oldest[2], /^message=hi%20there&_=\d+$/);
  // Cross-origin, Chromium's default referrer policy sends only the page's origin.
  assert.equal(oldest[3], server.base + '/');

  // Without the cache-buster the same GIF URL twice: the second image comes from
  // the document's list of loaded images, and never reaches the server, in
  // spite of Cache-Control: no-store.
  assert.deepEqual(await sendPing(page, 3, { gif: true, bust: false }), { event: 'load', count: '3' });
  assert.deepEqual(await sendPing(page, 4, { gif: true, bust: false }), { event: 'load', count: '3' });
  // A 204 never became an image, so nothing is reused: both of these arrive.
  assert.deepEqual(await sendPing(page, 5, { gif: false, bust: false }), { event: 'error', count: '4' });
  assert.deepEqual(await sendPing(page, 6, { gif: false, bust: false }), { event: 'error', count: '5' });
  assert.deepEqual(errors, []);
});
