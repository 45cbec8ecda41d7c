// The CORS page in a real browser: loaded from http://localhost:PORT, it calls
// http://127.0.0.1:PORT. Each test checks what the page shows against what the
// browser really did and what the server really saw (its log, read from Node,
// where no CORS applies).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, engine } from './support.mjs';

const servers = [];
let browser;

async function server(args = []) {
  const started = await startServer(['cors', ...args]);
  servers.push(started);
  return started;
}

async function openPage(pageServer, query = '') {
  browser ??= await launchBrowser();
  // A fresh context: its own cookies and its own preflight cache.
  const context = await browser.newContext();
  const page = await context.newPage();
  const consoleErrors = [];
  const pageErrors = [];
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });
  // Firefox writes why it blocked a response to the page's error log, where puppeteer
  // reports it as a page error; Chromium writes it to the console. Both are the browser's
  // reasons, not a script's failure: keep them together.
  page.on('pageerror', (error) => {
    if (error.message.startsWith('Cross-Origin Request Blocked:')) consoleErrors.push(error.message);
    else pageErrors.push(error.message);
  });
  await page.goto(pageServer.base + '/cors.html' + query);
  await page.waitForFunction(() => document.body.dataset.ready === 'yes');
  return { page, context, consoleErrors, pageErrors };
}

after(async () => {
  await browser?.close();
  for (const started of servers) await started.stop();
});

// Clicks a button and waits for the page to show the call's outcome and what the
// server saw for it.
async function click(page, id) {
  const number = await page.locator('ol.calls li').count() + 1;
  await page.click('#' + id);
  const item = page.locator(`li[data-call="${number}"]`);
  await item.waitFor();
  return {
    outcome: await item.locator('.outcome').textContent(),
    text: await item.locator('code.text').count() ? await item.locator('code.text').textContent() : null,
    seen: await item.locator('.seen').allTextContents(),
    saw: await item.locator('.saw').textContent(),
  };
}

// The server's own log, read without a browser.
async function serverLog(target) {
  const response = await fetch(target.altBase + '/cors/log');
  return response.json();
}

test('simple and preflighted calls succeed or are blocked as the page says, and a preflight is reused', async () => {
  const target = await server();
  const { page, context, consoleErrors, pageErrors } = await openPage(target);
  assert.equal(await page.locator('#target').textContent(), target.altBase);
  assert.equal(await page.locator('#on-list').textContent(), 'This page is one of them.');

  const simple = await click(page, 'simple');
  assert.equal(simple.outcome, 'load, status 200');
  assert.match(simple.text, /^\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$/);
  assert.deepEqual(simple.seen, ['GET /cors']);

  // From the sandboxed frame: Origin null, no CORS headers, status 0.
  const fromNull = await click(page, 'from-null');
  assert.equal(fromNull.outcome, 'error, status 0');
  assert.deepEqual(fromNull.seen, ['GET /cors']);
  assert.match(fromNull.saw, /blocked: Origin null/);

  // The first PUT is preflighted; a later one, within Max-Age, goes alone. Chromium
  // reuses the answer from the second PUT on. Firefox ESR sends the preflight again before
  // the second and the third identical PUT, and reuses it only from the fourth (the same
  // with pauses between the clicks, and with no driver attached: a page that makes the
  // PUTs by itself in `firefox-esr -headless` shows the same three preflights).
  const firstPut = await click(page, 'put');
  assert.equal(firstPut.outcome, 'load, status 200');
  assert.equal(firstPut.text, '{"method":"PUT","contentType":"application/json","customHeader":"hello","body":"{\\"n\\":1}"}');
  assert.deepEqual(firstPut.seen, ['OPTIONS /cors', 'PUT /cors']);
  assert.equal(await page.locator('#preflights').textContent(), '1');
  const preflightedPuts = engine === 'firefox' ? 3 : 1;
  for (let put = 2; put <= preflightedPuts; put++) {
    const again = await click(page, 'put');
    assert.equal(again.outcome, 'load, status 200');
    assert.deepEqual(again.seen, ['OPTIONS /cors', 'PUT /cors'], `PUT number ${put}`);
  }
  const cachedPut = await click(page, 'put');
  assert.equal(cachedPut.outcome, 'load, status 200');
  assert.deepEqual(cachedPut.seen, ['PUT /cors']);
  assert.equal(await page.locator('#preflights').textContent(), String(preflightedPuts));
  // The answer listed POST and both headers: the JSON POST needs no preflight either.
  assert.deepEqual((await click(page, 'post-json')).seen, ['POST /cors']);
  // text/plain is a simple request: never preflighted.
  const text = await click(page, 'post-text');
  assert.equal(text.outcome, 'load, status 200');
  assert.deepEqual(text.seen, ['POST /cors']);

  // Not allowed: the preflight happens, the request itself never leaves the browser.
  const deleted = await click(page, 'delete');
  assert.equal(deleted.outcome, 'error, status 0');
  assert.deepEqual(deleted.seen, ['OPTIONS /cors']);
  assert.match(deleted.saw, /preflight fails: DELETE is not in Access-Control-Allow-Methods/);
  const evil = await click(page, 'evil-header');
  assert.equal(evil.outcome, 'error, status 0');
  assert.deepEqual(evil.seen, ['OPTIONS /cors']);
  assert.match(evil.saw, /preflight fails: x-evil-header is not in Access-Control-Allow-Headers/);
  assert.equal(await page.locator('#preflights').textContent(), String(preflightedPuts + 2));

  // The server agrees, request by request.
  const log = await serverLog(target);
  assert.equal(log.preflights, preflightedPuts + 2);
  assert.deepEqual(log.recent.map((entry) => `${entry.method} ${entry.origin} ${entry.status}`), [
    `GET ${target.base} 200`,
    'GET null 200',
    ...Array(preflightedPuts).fill([`OPTIONS ${target.base} 204`, `PUT ${target.base} 200`]).flat(),
    `PUT ${target.base} 200`,
    `POST ${target.base} 200`,
    `POST ${target.base} 200`,
    `OPTIONS ${target.base} 204`,
    `OPTIONS ${target.base} 204`,
  ]);
  // And the browser's console gives the reasons the page could not see.
  const reasons = consoleErrors.filter((line) =>
    line.includes('blocked by CORS policy') || line.startsWith('Cross-Origin Request Blocked:'));
  if (engine === 'firefox') {
    // Firefox gives a reason for the null origin and for each failed preflight, and then
    // says again, for the request that never went, that it "did not succeed".
    assert.deepEqual(reasons.map((line) => line.replace(/^.*\(Reason: /, '(Reason: ')), [
      '(Reason: CORS header ‘Access-Control-Allow-Origin’ missing). Status code: 200.',
      '(Reason: Did not find method in CORS header ‘Access-Control-Allow-Methods’).',
      '(Reason: CORS request did not succeed). Status code: (null).',
      '(Reason: header ‘x-evil-header’ is not allowed according to header ‘Access-Control-Allow-Headers’ from CORS preflight response).',
      '(Reason: CORS request did not succeed). Status code: (null).',
    ]);
  } else {
    assert.equal(reasons.length, 3);
    assert.match(reasons[0], /from origin 'null'.*No 'Access-Control-Allow-Origin' header/);
    assert.match(reasons[1], /Method DELETE is not allowed by Access-Control-Allow-Methods/);
    assert.match(reasons[2], /x-evil-header is not allowed by Access-Control-Allow-Headers/);
  }
  assert.deepEqual(pageErrors, []);
  await context.close();
});

test('a credentialed request carries the cookie the server set, and the wrong answers are blocked', async () => {
  const target = await server();
  const { page, context, pageErrors } = await openPage(target);

  const set = await click(page, 'set-cookie');
  assert.equal(set.outcome, 'load, status 200');
  assert.equal(set.text, 'set webwire_cors=1');
  // Stored for 127.0.0.1. Chromium keeps it in the partition of the top-level site,
  // localhost (puppeteer gives the partition as { sourceOrigin, hasCrossSiteAncestor });
  // Firefox reports no partition key for it.
  const [cookie] = await context.cookies();
  assert.deepEqual(
    [cookie.name, cookie.value, cookie.domain, cookie.path, cookie.secure, cookie.httpOnly, cookie.sameSite, cookie.partitionKey?.sourceOrigin],
    ['webwire_cors', '1', '127.0.0.1', '/cors', true, true, 'None',
      engine === 'firefox' ? undefined : 'http://localhost'],
  );

  const correct = await click(page, 'cookie-correct');
  assert.equal(correct.outcome, 'load, status 200');
  assert.equal(correct.text, '{"cookie":"1"}');
  assert.deepEqual(correct.seen, ['GET /cors/cookie (cookie 1)']);

  // Blocked, though the cookie reached the server: CORS guards the answer, not the request.
  for (const id of ['cookie-wildcard', 'cookie-no-credentials']) {
    const wrong = await click(page, id);
    assert.equal(wrong.outcome, 'error, status 0', id);
    assert.equal(wrong.seen.length, 1, id);
    assert.match(wrong.seen[0], /^GET \/cors\/cookie\?variant=[a-z-]+ \(cookie 1\)$/, id);
  }

  const omitted = await click(page, 'cookie-omitted');
  assert.equal(omitted.outcome, 'load, status 200');
  assert.equal(omitted.text, '{"cookie":null}');
  assert.deepEqual(omitted.seen, ['GET /cors/cookie']);

  const log = await serverLog(target);
  assert.deepEqual(log.recent.map((entry) => [entry.target, entry.cookie]), [
    ['/cors/cookie', null],
    ['/cors/cookie', '1'],
    ['/cors/cookie?variant=wildcard', '1'],
    ['/cors/cookie?variant=no-allow-credentials', '1'],
    ['/cors/cookie', null],
  ]);
  assert.deepEqual(pageErrors, []);
  await context.close();
});

test('only the safelisted and the exposed response headers can be read', async () => {
  const target = await server();
  const { page, context, pageErrors } = await openPage(target);
  const call = await click(page, 'headers');
  assert.equal(call.outcome, 'load, status 200');
  const rows = await page.locator('#header-table tbody tr').evaluateAll((trs) =>
    Object.fromEntries(trs.map((tr) => [tr.cells[0].textContent, tr.cells[1].textContent])));
  assert.deepEqual(rows, {
    'Cache-Control': 'no-store',
    'Content-Language': 'en',
    'Content-Length': '34',
    'Content-Type': 'text/plain; charset=utf-8',
    Expires: '0',
    'Last-Modified': 'Thu, 16 Jan 2014 00:00:00 GMT',
    Pragma: 'no-cache',
    'X-Request-Count': '1',
    ETag: 'null',
    'X-Request-Id': 'null',
    Date: 'null',
    Server: 'null',
    Vary: 'null',
    'Access-Control-Allow-Origin': 'null',
    'X-CORS-Verdict': 'null',
  });
  assert.equal(
    await page.locator('#all-headers').textContent(),
    'cache-control: no-store\r\ncontent-language: en\r\ncontent-length: 34\r\n' +
      'content-type: text/plain; charset=utf-8\r\nexpires: 0\r\n' +
      'last-modified: Thu, 16 Jan 2014 00:00:00 GMT\r\npragma: no-cache\r\nx-request-count: 1\r\n',
  );
  assert.deepEqual(pageErrors, []);
  await context.close();
});

test('a page whose origin is not on the allow-list is blocked, until --allow-origin adds it', async () => {
  const pages = await server();
  const elsewhere = await server();
  const { page, context } = await openPage(pages, `?target=${elsewhere.altBase}`);
  assert.equal(await page.locator('#target').textContent(), elsewhere.altBase);
  assert.equal(await page.locator('#on-list').textContent(),
    'This page is not one of them: expect every call to be blocked.');
  const simple = await click(page, 'simple');
  assert.equal(simple.outcome, 'error, status 0');
  assert.deepEqual(simple.seen, ['GET /cors']);
  assert.match(simple.saw, /blocked: this origin is not on the allow-list/);
  // The preflight gets no CORS headers, so the PUT is never sent.
  const put = await click(page, 'put');
  assert.equal(put.outcome, 'error, status 0');
  assert.deepEqual(put.seen, ['OPTIONS /cors']);
  await context.close();

  const welcoming = await server(['--allow-origin', pages.base]);
  const second = await openPage(pages, `?target=${welcoming.altBase}`);
  assert.equal(await second.page.locator('#on-list').textContent(), 'This page is one of them.');
  assert.equal((await click(second.page, 'simple')).outcome, 'load, status 200');
  const allowedPut = await click(second.page, 'put');
  assert.equal(allowedPut.outcome, 'load, status 200');
  assert.deepEqual(allowedPut.seen, ['OPTIONS /cors', 'PUT /cors']);
  await second.context.close();
});
