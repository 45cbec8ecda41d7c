// The ajax page driven in headless Chromium: every button makes its request,
// and the page shows what the articles say it should.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser } from './support.mjs';

let server;
let browser;
let page;

before(async () => {
  server = await startServer(['ajax', '--tick-ms', '50']);
  browser = await launchBrowser();
  page = await browser.newPage();
  await page.goto(server.base + '/ajax.html');
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

// Clicks a button and waits until the page has shown how its request ended.
// The click handler clears the outcome synchronously, so an old one cannot match.
async function run(selector) {
  await page.click(selector);
  await page.locator('#outcome[data-done]').waitFor();
  return page.evaluate(() => {
    const outcome = document.getElementById('outcome');
    return {
      event: outcome.dataset.event,
      status: outcome.dataset.status,
      outcome: outcome.textContent,
      log: document.getElementById('log').textContent,
      headers: document.getElementById('response-headers').textContent,
      body: document.getElementById('response-body').textContent,
    };
  });
}

// The report /ajax/echo sent, as the page shows it.
function report(shown) {
  assert.equal(shown.event, 'load', shown.log);
  assert.equal(shown.status, '200', shown.body);
  return JSON.parse(shown.body);
}

const header = (report, name) =>
  report.headers.filter(([n]) => n.toLowerCase() === name.toLowerCase()).map(([, v]) => v);

test('the life cycle: readyState 0 to 4, then load and loadend', async () => {
  const shown = await run('#get-query');
  const steps = [...shown.log.matchAll(/readyState 0 \(UNSENT\)|→ (\d) \(|(loadstart|load|loadend)$/gm)]
    .map((m) => m[1] ?? m[2] ?? '0');
  assert.deepEqual(steps, ['0', '1', 'loadstart', '2', '3', '4', 'load', 'loadend']);
  assert.equal(shown.outcome, 'load, status 200 OK — success');
  assert.match(shown.headers, /^content-type: application\/json\r$/m);
});

test('GET with a query built by addURLParam', async () => {
  const sent = report(await run('#get-query'));
  assert.equal(sent.method, 'GET');
  assert.equal(sent.target, '/ajax/echo?name=Nicholas%20Zakas&book=Ajax%20%26%20Comet' +
    '&a%3Db=1%2B1%3D2&%E5%9F%8E%E5%B8%82=%E5%8C%97%E4%BA%AC');
  assert.deepEqual(sent.query,
    [['name', 'Nicholas Zakas'], ['book', 'Ajax & Comet'], ['a=b', '1+1=2'], ['城市', '北京']]);
  assert.deepEqual(sent.body, { type: '', bytes: 0, kind: 'none' });
});

test('POST the form, urlencoded', async () => {
  const sent = report(await run('#post-form'));
  assert.equal(sent.method, 'POST');
  assert.deepEqual(header(sent, 'content-type'), ['application/x-www-form-urlencoded']);
  assert.equal(sent.body.kind, 'form');
  assert.deepEqual(sent.body.fields, [
    ['name', 'Nicholas Zakas'],
    ['book', 'Professional JavaScript & Ajax'],
    ['comment', '100% = 1/1\n城市: 北京'],
  ]);
});

test('POST JSON, and JSON that is not', async () => {
  const sent = report(await run('#post-json'));
  assert.equal(sent.body.kind, 'json');
  assert.deepEqual(sent.body.json, { name: 'JIMMY', age: 18, books: ['Ajax & Comet', '城市'] });

  const refused = await run('#post-bad-json');
  assert.equal(refused.status, '400');
  assert.equal(refused.outcome, 'load, status 400 Bad Request — unsuccessful');
  assert.equal(refused.body, 'not JSON: expected a quoted name at byte 1\n');
});

test('POST FormData with a file: the server parses multipart/form-data', async () => {
  const sent = report(await run('#post-formdata'));
  assert.match(header(sent, 'content-type')[0], /^multipart\/form-data; boundary=\S+$/);
  assert.equal(sent.body.kind, 'multipart');
  assert.deepEqual(sent.body.parts, [
    { name: 'name', filename: null, type: null, size: 14, value: 'Nicholas Zakas' },
    { name: 'book', filename: null, type: null, size: 30, value: 'Professional JavaScript & Ajax' },
    // A textarea's line break goes out as CR LF in a form submission.
    { name: 'comment', filename: null, type: null, size: 26, value: '100% = 1/1\r\n城市: 北京' },
    { name: 'file', filename: 'hello.txt', type: 'text/plain', size: 25 },
  ]);
});

test('a custom request header is reported, and read back with getResponseHeader', async () => {
  const shown = await run('#custom-header');
  assert.deepEqual(header(report(shown), 'MyHeader'), ['MyValue']);
  assert.match(shown.log, /^getResponseHeader\('MyHeader'\) → MyValue$/m);

  const early = await run('#header-too-early');
  assert.equal(early.event, 'exception');
  assert.equal(early.status, 'InvalidStateError');
});

test('the methods table: five reach the echo, OPTIONS gets Allow, TRACE and CONNECT never leave', async () => {
  for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']) {
    const sent = report(await run(`#methods button[data-method="${method}"]`));
    assert.equal(sent.method, method);
    const kind = ['GET', 'DELETE'].includes(method) ? 'none' : 'text';
    assert.equal(sent.body.kind, kind, method);
  }
  const head = await run('#methods button[data-method="HEAD"]');
  assert.equal(head.status, '200');
  assert.equal(head.body, '', 'HEAD: no body');
  assert.match(head.headers, /^content-length: \d+\r$/m);

  const options = await run('#methods button[data-method="OPTIONS"]');
  assert.equal(options.status, '204');
  assert.match(options.headers, /^allow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r$/m);

  for (const method of ['TRACE', 'CONNECT']) {
    const refused = await run(`#methods button[data-method="${method}"]`);
    assert.equal(refused.event, 'exception', method);
    assert.equal(refused.status, 'SecurityError', method);
  }
});

test('timeout: a slow answer ends in ontimeout, status 0', async () => {
  await page.fill('#slow-ms', '30000'); // far longer than the timeout: no race
  await page.fill('#timeout-ms', '100');
  const shown = await run('#timeout');
  assert.equal(shown.event, 'timeout');
  assert.equal(shown.status, '0');
  assert.match(shown.log, /→ 4 \(DONE\), status 0 \n.*timeout\n.*loadend\n/);
});

test('abort(): readyState 4 with an abort event, then back to 0', async () => {
  await page.fill('#slow-ms', '30000');
  await page.click('#slow');
  const shown = await run('#abort');
  assert.equal(shown.event, 'abort');
  assert.match(shown.log, /abort\n.*loadend\n/);
  assert.match(shown.log, /^after abort\(\): readyState is 0, status 0$/m);
});

test('progress: a Content-Length body in pieces moves the bar', async () => {
  await page.fill('#large-bytes', '200000');
  await page.fill('#large-ms', '1000');
  const shown = await run('#large');
  assert.equal(shown.outcome, 'load, status 200 OK — success');
  assert.match(shown.headers, /^content-length: 200000\r$/m);
  const progress = [...shown.log.matchAll(/progress: lengthComputable (\w+), loaded (\d+), total (\d+)/g)]
    .map(([, computable, loaded, total]) => ({ computable, loaded: Number(loaded), total: Number(total) }));
  assert.ok(progress.every((p) => p.computable === 'true' && p.total === 200000), shown.log);
  assert.ok(progress.some((p) => p.loaded > 0 && p.loaded < p.total), `no partial progress:\n${shown.log}`);
  assert.equal(progress.at(-1).loaded, 200000);
  assert.equal(await page.textContent('#progress-text'), 'Received 200000 of 200000 bytes');
  const bar = await page.evaluate(() => {
    const { value, max } = document.getElementById('progress');
    return { value, max };
  });
  assert.deepEqual(bar, { value: 200000, max: 200000 });
  // The bar belongs to the large body: another request's progress events leave it alone.
  await run('#xml-plain');
  assert.equal(await page.textContent('#progress-text'), 'Received 200000 of 200000 bytes');
});

test('overrideMimeType(): responseXML is null until the page overrides text/plain', async () => {
  await run('#xml-plain');
  assert.equal(await page.textContent('#xml-result'), 'responseXML: null');
  await run('#xml-override');
  assert.equal(await page.textContent('#xml-result'),
    'responseXML: a document, <books> with 3 <book> elements');
});

test('304: our own If-None-Match shows it; the browser\'s own revalidation shows 200', async () => {
  const first = await run('#cached-first');
  assert.equal(first.status, '200');
  assert.equal(await page.textContent('#etag'), 'ETag: "ajax-cached-v1"');

  const revalidated = await run('#cached-revalidate');
  assert.equal(revalidated.status, '304');
  assert.equal(revalidated.outcome, 'load, status 304 Not Modified — success');
  assert.equal(revalidated.body, '');

  const again = await run('#cached-again');
  assert.equal(again.status, '200');
  assert.equal(again.body, 'This text has not changed since it was first written.\n');
});
