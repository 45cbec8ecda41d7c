// The index page, as a real browser sees it: it loads, it is webwire's, and
// every link on it that points back at this server works.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser } from './support.mjs';

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('index page loads and every same-server link answers 200', async () => {
  const page = await browser.newPage();

  const response = await page.goto(server.base + '/');
  assert.equal(response.status(), 200);
  assert.match(await page.title(), /webwire/);

  // a.href (the property, not the attribute) is already resolved to an
  // absolute URL by the browser, exactly as a click would resolve it.
  const hrefs = await page.$$eval('a[href]', (links) => links.map((a) => a.href));
  const ours = [...new Set(hrefs)]
    .map((href) => new URL(href))
    .filter((url) => url.origin === server.base || url.origin === server.altBase)
    .map((url) => { url.hash = ''; return url.href; }); // fragments never reach the server

  // The index always links the docs' table of contents, so an empty list
  // means the page is broken, not that there is nothing to check.
  assert.ok(ours.length > 0, `no same-server links among: ${hrefs.join(', ')}`);

  for (const url of new Set(ours)) {
    const linked = await page.request.get(url);
    assert.equal(linked.status(), 200, `GET ${url}`);
  }
});
