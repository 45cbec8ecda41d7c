// The long-polling page in a real browser: events published elsewhere (another
// browser context, or a plain HTTP client) appear on it, through its own host
// or through the other host name; and the article's random variant runs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser } from './support.mjs';

let browser;

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

// An hour's tick: the ticker never publishes, so every event is one the test sent.
// A short hold: the page also sees empty answers and asks again.
const QUIET = ['long-polling', '--tick-ms', '3600000', '--hold-ms', '300'];

async function openPage(server, context) {
  const page = await context.newPage();
  await page.goto(server.base + '/long-polling.html');
  // The first poll has been sent (and is being held).
  await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('held'));
  return page;
}

const text = (page, id) => page.locator('#' + id).textContent();

test('an event published from another context reaches the page', async () => {
  const server = await startServer(QUIET);
  const [reader, writer] = [await browser.newContext(), await browser.newContext()];
  try {
    const page = await openPage(server, reader);
    const other = await openPage(server, writer);

    await other.fill('#text', 'hello from the other tab');
    await other.click('#publish-form button');
    await other.locator('#publish-result', { hasText: 'published #1 in' }).waitFor();

    await page.locator('#events li', { hasText: 'hello from the other tab' }).waitFor();
    assert.match(await page.locator('#events li').first().textContent(), /^#1 .* hello from the other tab$/);
    assert.equal(await text(page, 'received'), '1');
    assert.equal(await text(page, 'missing'), '0');
    assert.equal(await text(page, 'last-id'), '1');

    // Held polls that end empty are asked again: wait until this page has made more
    // requests than it has received events, the contrast the page shows.
    await page.waitForFunction(() => Number(document.getElementById('requests').textContent) > 2);

    // Three events in a row, while the page is busy: all of them, in order, none missing.
    for (const n of [2, 3, 4]) {
      const response = await fetch(server.base + '/longpoll/publish', {
        method: 'POST',
        body: new URLSearchParams({ text: `burst ${n}` }),
      });
      assert.equal(response.status, 200);
    }
    await page.waitForFunction(() => document.getElementById('last-id').textContent === '4');
    const items = await page.locator('#events li').allTextContents();
    assert.deepEqual(items.map((line) => line.replace(/ {2}.* {2}/, ' ')), [
      '#4 burst 4', '#3 burst 3', '#2 burst 2', '#1 hello from the other tab',
    ]);
    assert.equal(await text(page, 'received'), '4');
    assert.equal(await text(page, 'missing'), '0');
  } finally {
    await reader.close();
    await writer.close();
    await server.stop();
  }
});

test('polling through the other host name works (CORS) and still gets every event', async () => {
  const server = await startServer(QUIET);
  const context = await browser.newContext();
  try {
    const page = await openPage(server, context);
    const toOtherHost = page.waitForRequest((r) => r.url().startsWith(server.altBase + '/longpoll?since=0'));
    await page.check('#other-host');
    await toOtherHost;
    assert.equal(await text(page, 'other-origin'), server.altBase);

    const response = await fetch(server.base + '/longpoll/publish', {
      method: 'POST',
      body: new URLSearchParams({ text: 'via the other host' }),
    });
    assert.equal(response.status, 200);
    // Only a poll to the other host is in flight now, and its answer is readable only
    // because the server allows other origins to read it.
    await page.locator('#events li', { hasText: 'via the other host' }).waitFor();
    assert.equal(await text(page, 'missing'), '0');
  } finally {
    await context.close();
    await server.stop();
  }
});

test('the ticker and the article\'s random variant, at a fast tick', async () => {
  const server = await startServer(['long-polling', '--tick-ms', '20', '--hold-ms', '5000']);
  const context = await browser.newContext();
  try {
    const page = await openPage(server, context);
    await page.locator('#events li', { hasText: 'tick 5' }).waitFor();

    await page.click('#random-start');
    await page.waitForFunction(() => Number(document.getElementById('random-changed').textContent) >= 3);
    await page.click('#random-stop');
    const lines = await page.locator('#random-log li').allTextContents();
    // At a 20 ms tick and a 5 s hold, every answer is "changed" (never changing 250 times
    // in a row has a chance of 0.4^250).
    for (const line of lines) assert.match(line, /changed after \d+\.\d s \(draws: (\d, )*[0-5]\)$/);
  } finally {
    await context.close();
    await server.stop();
  }
});
