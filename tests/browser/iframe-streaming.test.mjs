// The iframe-streaming page in a real browser: a hidden iframe on /htmlfile
// runs one <script> per value as it arrives, calling parent.process() from the
// same origin, or posting a message from the other origin, which the page
// accepts only from that origin.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser } from './support.mjs';

let fast;    // --tick-ms 50: a whole stream of ten values in about half a second
let slow;    // --tick-ms 600000: the second value cannot exist while a test runs
let browser;

before(async () => {
  [fast, slow] = await Promise.all([
    startServer(['iframe-streaming', '--tick-ms', '50']),
    startServer(['iframe-streaming', '--tick-ms', '600000']),
  ]);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await fast?.stop();
  await slow?.stop();
});

async function openPage(server) {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(server.base + '/iframe-streaming.html');
  return { page, errors };
}

// Each value as the page listed it: its text and its arrival time (ms after start).
function shownValues(page) {
  return page.locator('#values li').evaluateAll((items) =>
    items.map((li) => ({ text: li.textContent, at: Number(li.dataset.at) })));
}

function assertTenProgressiveValues(values) {
  assert.equal(values.length, 10);
  for (const { text } of values) assert.match(text, /^\d{1,4} \(at \+\d+\.\d{3} s\)$/);
  // They arrived in order, over the stream's time, not all at the end. Two values
  // may share a millisecond when a busy machine delays the browser past the gap
  // between them (the same holds for the XHR-streaming page's pieces), so the test
  // asks for order and a spread, not a new time for each.
  for (let i = 1; i < values.length; i++) {
    assert.ok(values[i].at >= values[i - 1].at, `value ${i + 1} arrived after value ${i}`);
  }
  assert.ok(values[0].at < values.at(-1).at, `the first value came before the last (${values.map((v) => v.at)})`);
}

test('same origin: ten values arrive one by one through parent.process', async () => {
  const { page, errors } = await openPage(fast);
  await page.click('#same');
  assert.equal(await page.locator('#src').textContent(), fast.base + '/htmlfile');
  assert.ok(await page.locator('#frames iframe').isHidden(), 'the iframe is hidden');
  await page.locator('#status', { hasText: 'Done: the iframe fired load (values: 10).' }).waitFor();
  assertTenProgressiveValues(await shownValues(page));
  assert.equal(await page.locator('#ignored li').count(), 0);
  assert.deepEqual(errors, []);
  await page.close();
});

test('cross origin: values come by postMessage; other origins are ignored', async () => {
  const { page, errors } = await openPage(fast);
  assert.equal(await page.locator('#other').textContent(), fast.altBase);
  await page.click('#cross');
  assert.equal(
    await page.locator('#src').textContent(),
    `${fast.altBase}/htmlfile?target=${encodeURIComponent(fast.base)}`,
  );
  await page.locator('#status', { hasText: 'Done: the iframe fired load (values: 10).' }).waitFor();
  assertTenProgressiveValues(await shownValues(page));

  // A third origin ([::1]) streams one value to this page: it arrives, and is ignored.
  await page.click('#impostor');
  const fromThird = page.locator('#ignored li', { hasText: `from http://[::1]:${fast.port}: ` });
  await fromThird.waitFor();
  assert.match(await fromThird.textContent(),
    new RegExp(`^from http://\\[::1\\]:${fast.port}: "\\d{1,4}" \\(not http://127\\.0\\.0\\.1:${fast.port}\\)$`));
  // So is one from this page's own origin.
  await page.evaluate(() => window.postMessage('99999', location.origin));
  await page.locator('#ignored li', { hasText: `from ${fast.base}: "99999"` }).waitFor();
  assert.equal(await page.locator('#values li').count(), 10, 'no ignored value was listed');
  assert.deepEqual(errors, []);
  await page.close();
});

// With a tick of ten minutes, the page showing the first value proves it ran
// while the response was still open: the second does not exist yet.
for (const [button, mode] of [['#same', 'same origin'], ['#cross', 'cross origin']]) {
  test(`${mode}: the first value runs before the rest of the document exists`, async () => {
    const { page, errors } = await openPage(slow);
    await page.click(button);
    await page.locator('#values li').first().waitFor();
    assert.equal(await page.locator('#values li').count(), 1);
    assert.equal(await page.locator('#status').textContent(),
      'Streaming (values so far: 1); the iframe is still loading.');
    await page.click('#stop');
    assert.equal(await page.locator('#status').textContent(), 'Stopped (values: 1).');
    assert.equal(await page.locator('#frames iframe').count(), 0);
    assert.deepEqual(errors, []);
    await page.close();
  });
}
