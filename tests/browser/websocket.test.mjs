// The WebSocket page in a real browser: the handshake from new WebSocket(), echoes of text
// and binary, a subprotocol chosen (and one refused), a clean close with a code and a
// reason, and the reconnecting client coming back after the server cuts it off.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, engine } from './support.mjs';

let server;
let browser;

before(async () => {
  server = await startServer(['websocket']);
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
  await page.goto(server.base + '/websocket.html');
  return { page, errors };
}

// Waits for the n-th line of a log list to exist, and returns its text.
async function line(page, list, n) {
  const item = page.locator(`${list} li`).nth(n - 1);
  await item.waitFor();
  return item.textContent();
}

test('connects with a subprotocol, echoes text and binary, closes cleanly', async () => {
  const { page, errors } = await openPage();
  await page.selectOption('#protocols', 'mqtt,echo');
  await page.click('#connect');
  await page.locator('#state', { hasText: '1 OPEN' }).waitFor();
  assert.equal(await page.textContent('#protocol'), '"echo"', 'the server picked one');
  assert.equal(await page.textContent('#extensions'), '""', 'no permessage-deflate');
  assert.equal(await line(page, '#log', 1), 'open: offered ["mqtt","echo"], got "echo"');

  await page.fill('#text', 'Hello, κόσμε');
  await page.click('#send-text');
  assert.equal(await line(page, '#log', 3), '← text, 12 UTF-16 units, 17 bytes: "Hello, κόσμε"');
  await page.click('#send-arraybuffer');
  assert.equal(await line(page, '#log', 5), '← binary, 17 bytes: 48 65 6c 6c 6f 2c 20 ce …');
  await page.click('#send-typed');
  assert.equal(await line(page, '#log', 7), '← binary, 16 bytes: 00 11 22 33 44 55 66 77 …');
  await page.click('#send-blob');
  assert.equal(await line(page, '#log', 9), '← binary, 18 bytes: 48 65 6c 6c 6f 2c 20 ce …');

  await page.click('#send-large');
  assert.equal(await line(page, '#log', 11), '← binary, 8388608 bytes: 2a 2a 2a 2a 2a 2a 2a 2a …');
  assert.ok(Number(await page.textContent('#max-buffered')) > 0, 'send() queued the 8 MiB');

  await page.fill('#code', '4000');
  await page.fill('#reason', 'done here');
  await page.click('#close');
  await page.locator('#state', { hasText: '3 CLOSED' }).waitFor();
  assert.equal(await page.textContent('#close-event'), 'wasClean=true code=4000 reason="done here"');
  assert.deepEqual(errors, []);
});

// The server answers 101 with no Sec-WebSocket-Protocol. The WHATWG WebSocket standard says
// a browser that offered protocols must then fail the connection: Chromium does. Firefox ESR
// opens it, with protocol "" (it only fails a protocol the server picked that was not
// offered).
test('a subprotocol the server does not speak fails the connection (opens in Firefox)', async () => {
  const { page, errors } = await openPage();
  await page.selectOption('#protocols', 'mqtt');
  await page.click('#connect');
  if (engine === 'firefox') {
    await page.locator('#state', { hasText: '1 OPEN' }).waitFor();
    assert.equal(await page.textContent('#protocol'), '""');
    assert.equal(await line(page, '#log', 1), 'open: offered ["mqtt"], got ""');
  } else {
    await page.locator('#state', { hasText: '3 CLOSED' }).waitFor();
    assert.equal(await page.textContent('#close-event'), 'wasClean=false code=1006 reason=""');
  }
  assert.deepEqual(errors, []);
});

test('the page may not close with a reserved code', async () => {
  const { page } = await openPage();
  await page.click('#connect');
  await page.locator('#state', { hasText: '1 OPEN' }).waitFor();
  await page.fill('#code', '1002');
  await page.click('#close');
  assert.match(await line(page, '#log', 2), /^close\(\) refused: InvalidAccessError: /);
  assert.equal(await page.textContent('#state'), '1 OPEN');
});

test('the reconnecting client comes back after the server drops it', async () => {
  const { page, errors } = await openPage();
  await page.fill('#drop-after', '2');
  await page.fill('#beat-ms', '50');
  await page.click('#start-reconnecting');
  // Two heartbeats answered, then the server cuts TCP: a close with 1006, a reconnect.
  await page.locator('#reconnect-log li', { hasText: 'closed (code 1006, wasClean false)' }).first().waitFor();
  await page.locator('#opened', { hasText: '2' }).waitFor();
  await page.locator('#pongs', { hasText: '3' }).waitFor(); // a pong on the new connection
  await page.click('#stop-reconnecting');
  await page.locator('#reconnect-state', { hasText: 'stopped' }).waitFor();
  assert.deepEqual(errors, []);
});
