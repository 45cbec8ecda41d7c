// The postMessage demo in a real browser: a parent page on one origin and its
// child frame on the other send each other strings and objects, each checking
// event.origin against its allow-list; messages from a wrong origin (a
// sandboxed frame, the parent itself) are shown as ignored, a wrong
// targetOrigin is dropped by the browser, and a function cannot be cloned.
// The parent is loaded from each of the two origins in turn.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, engine } from './support.mjs';

let server;
let browser;

before(async () => {
  server = await startServer(['postmessage']);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const ISO_TIME = /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/g;

// The lines of a log as the user reads them, with every time shown as TIME.
async function lines(log) {
  return (await log.allTextContents()).map((line) => line.replace(ISO_TIME, 'TIME'));
}

// Waits until a log has at least `count` lines.
async function untilLines(log, count) {
  await log.nth(count - 1).waitFor({ state: 'attached' });
}

// Tall enough that the whole page fits and no click has to scroll it first. Right after a
// scroll, headless Chromium may still route a click by where the frames *were*: a click on
// the parent's button then lands in the cross-origin child frame that was under that point.
const VIEWPORT = { width: 1280, height: 2000 };

async function conversation(parentOrigin, childOrigin) {
  const page = await browser.newPage({ viewport: VIEWPORT });
  const errors = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(parentOrigin + '/postmessage.html');
  const child = page.frameLocator('#child');
  const parentLog = page.locator('#log li');
  const childLog = child.locator('#log li');
  assert.ok(await page.evaluate(() => document.documentElement.scrollHeight <= innerHeight));

  // The child says it is listening; only then does the parent enable its buttons.
  await page.locator('#status', { hasText: 'The child is listening' }).waitFor();
  assert.equal(await page.locator('#my-origin').textContent(), parentOrigin);
  assert.equal(await page.locator('#child-origin').textContent(), childOrigin);
  assert.equal(await child.locator('#my-origin').textContent(), childOrigin);

  // Parent to child and back: a string, then an object.
  await page.click('#send-string');
  await untilLines(parentLog, 3);
  await page.click('#send-object');
  await untilLines(parentLog, 5);

  // Child to parent and back: a string, then an object.
  await child.locator('#send-string').click();
  await untilLines(childLog, 5);
  await child.locator('#send-object').click();
  await untilLines(childLog, 7);

  // Wrong origins: a sandboxed frame posts to both; the parent posts to itself.
  await page.frameLocator('#stranger').locator('#post').click();
  await untilLines(parentLog, 8);
  await untilLines(childLog, 8);
  await page.click('#post-to-self');
  await untilLines(parentLog, 10);

  // A wrong targetOrigin: dropped. Messages from one window to another arrive in
  // order, so once the next one has arrived, the dropped one never will.
  await page.click('#wrong-target');
  await page.fill('#text', 'after the dropped one');
  await page.click('#send-string');
  await untilLines(parentLog, 13);
  await untilLines(childLog, 9);

  await page.click('#send-function');
  await page.click('#read-document');
  await untilLines(parentLog, 15);

  const note = (text, words) =>
    `object {kind: "note", text: "${text}", words: [${words}], sentAt: Date TIME}`;
  const fromChild = `accepted from ${childOrigin} (the child frame)`;
  const fromParent = `accepted from ${parentOrigin} (the parent)`;
  const parentLines = await lines(parentLog);
  const [cloneError, securityError] = parentLines.splice(13);
  assert.deepEqual(parentLines, [
    `${fromChild}: ready — the child is listening`,
    `sent to ${childOrigin}: string "hello there"`,
    `${fromChild}: receipt — the child got string "hello there"`,
    `sent to ${childOrigin}: ${note('hello there', '"hello", "there"')}`,
    `${fromChild}: receipt — the child got ${note('hello there', '"hello", "there"')}`,
    `${fromChild}: string "hi from the child"`,
    `${fromChild}: ${note('hi from the child', '"hi", "from", "the", "child"')}`,
    'ignored from null (the stranger frame): not on the allow-list',
    `sent to ${parentOrigin} (this window): string "a note to myself"`,
    `ignored from ${parentOrigin} (this window): not on the allow-list`,
    `sent with targetOrigin ${parentOrigin} while the frame is on ${childOrigin}: ` +
      'the browser will drop it',
    `sent to ${childOrigin}: string "after the dropped one"`,
    `${fromChild}: receipt — the child got string "after the dropped one"`,
  ]);
  // The browser's own words; only their start is ours to promise.
  assert.match(cloneError, /^error not sent: DataCloneError: .*could not be cloned/);
  assert.match(securityError, engine === 'firefox'
    ? /^error blocked: SecurityError: Permission denied to access property "document" on cross-origin object$/
    : /^error blocked: SecurityError: .*cross-origin frame/);

  assert.deepEqual(await lines(childLog), [
    `sent to ${parentOrigin}: object {kind: "ready"}`,
    `${fromParent}: string "hello there"`,
    `${fromParent}: ${note('hello there', '"hello", "there"')}`,
    `sent to ${parentOrigin}: string "hi from the child"`,
    `${fromParent}: receipt — the parent got string "hi from the child"`,
    `sent to ${parentOrigin}: ${note('hi from the child', '"hi", "from", "the", "child"')}`,
    `${fromParent}: receipt — the parent got ${note('hi from the child', '"hi", "from", "the", "child"')}`,
    'ignored from null (another window): not on the allow-list',
    `${fromParent}: string "after the dropped one"`,
  ]);

  // Structured clone: the Date arrived as a Date, and as the same instant.
  const sentAt = (await parentLog.nth(3).textContent()).match(ISO_TIME)[0];
  assert.equal((await childLog.nth(2).textContent()).match(ISO_TIME)[0], sentAt);

  // The message dropped for its targetOrigin: Firefox says so in the page's error log
  // (which puppeteer reports as a page error); Chromium drops it without a word the test
  // can see. No script threw in either.
  assert.deepEqual(errors, engine === 'firefox' ? [
    `Failed to execute ‘postMessage’ on ‘DOMWindow’: The target origin provided (‘${parentOrigin}’) ` +
      `does not match the recipient window’s origin (‘${childOrigin}’).`,
  ] : []);
  await page.close();
}

test('parent on localhost, child on 127.0.0.1: both ways, strings and objects', async () => {
  await conversation(server.base, server.altBase);
});

test('parent on 127.0.0.1, child on localhost: the same, the other way round', async () => {
  await conversation(server.altBase, server.base);
});

test('the child page opened alone points to its parent and sends nothing', async () => {
  const page = await browser.newPage();
  await page.goto(server.altBase + '/postmessage-child.html');
  await page.locator('#status', { hasText: 'the frame half of the demo' }).waitFor();
  const link = page.locator('#status a');
  assert.equal(await link.getAttribute('href'), server.base + '/postmessage.html');
  assert.equal(await page.locator('#send-string').isDisabled(), true);
  assert.equal(await page.locator('#send-object').isDisabled(), true);
  assert.equal(await page.locator('#log li').count(), 0);
  await page.close();
});
