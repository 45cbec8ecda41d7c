// The index page, as a real browser sees it: it loads, it is webwire's, and
// every link on it that points back at this server works.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, axeViolations } from './support.mjs';

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

test('every page fits a phone (nothing wider than a 390 px screen) and passes axe-core\'s WCAG A/AA rules', async () => {
  // 390 CSS px is a common phone width. A page wider than its viewport scrolls sideways,
  // and a fixed-width input runs off the screen (the chat's message box once did).
  const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
  await page.goto(server.base + '/');
  const pages = [...new Set(await page.$$eval('a[href$=".html"]', (links) => links.map((a) => a.href)))]
    .filter((href) => href.startsWith(server.base));
  assert.ok(pages.length >= 12, `the demo pages: ${pages.join(', ')}`);
  const tooWide = {};
  const inaccessible = {};
  // The pages no index link leads to: the chat's comparison and fallback client, the postMessage child frame.
  for (const url of ['/', ...pages, '/compare.html', '/fallback.html', '/postmessage-child.html']) {
    await page.goto(new URL(url, server.base).href).catch((error) => {
      throw new Error(`${url}: ${error.message}`);
    });
    const violations = await axeViolations(page);
    if (violations.length > 0) inaccessible[url] = violations;
    const wide = await page.evaluate(() => {
      const limit = document.documentElement.clientWidth;
      // A box that scrolls sideways by itself (a wide table's) may hold wider content.
      const scrollsItself = (el) => {
        for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
          if (['auto', 'scroll'].includes(getComputedStyle(up).overflowX)) return true;
        }
        return false;
      };
      return [...document.querySelectorAll('body *')]
        .filter((el) => el.getBoundingClientRect().right > limit + 1 && !scrollsItself(el))
        .map((el) => `${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}`)
        .slice(0, 5);
    });
    if (wide.length > 0) tooWide[url] = wide;
  }
  assert.deepEqual(tooWide, {}, 'elements past the right edge at 390 px');
  assert.deepEqual(inaccessible, {}, 'axe-core: WCAG 2 A/AA violations');
  await page.close();
});
