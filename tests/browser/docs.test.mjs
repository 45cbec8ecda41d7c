// The chapters as the server renders them (src/site/): every chapter listed at /docs/ opens
// as HTML with its title, contents and neighbours and its diagrams drawn, throws no error and
// logs none to the console, has no link that leads nowhere (on the server, or to an anchor that
// is not there), and passes axe-core's WCAG 2 A and AA rules, at desktop and at phone width.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, axeViolations } from './support.mjs';

let server;
let browser;

before(async () => {
  server = await startServer([]);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

// Every chapter page the chapter list links to, in order.
async function chapterPaths() {
  const page = await browser.newPage();
  await page.goto(`${server.base}/docs/`);
  const paths = await page.$$eval('article a[href^="/docs/"]', (links) =>
    [...new Set(links.map((a) => new URL(a.href).pathname))]);
  await page.close();
  return ['/docs/', ...paths.filter((p) => p !== '/docs/')];
}

test('the chapter list links to every chapter, rendered', async () => {
  const paths = await chapterPaths();
  assert.equal(paths.length, 22, paths.join(' '));
  for (const path of paths) {
    const response = await fetch(server.base + path);
    assert.equal(response.status, 200, path);
    assert.match(response.headers.get('content-type'), /^text\/html/, path);
  }
});

test('a browser asking for a chapter\'s .md is sent to the rendered chapter', async () => {
  const page = await browser.newPage();
  await page.goto(`${server.base}/docs/07-sse.md`);
  assert.equal(new URL(page.url()).pathname, '/docs/07-sse');
  assert.match(await page.title(), /Server-Sent Events — webwire/);
  await page.close();
  // Anyone else gets the Markdown.
  const markdown = await fetch(`${server.base}/docs/07-sse.md`);
  assert.equal(markdown.headers.get('content-type'), 'text/markdown; charset=utf-8');
});

test('every chapter renders, with no error, no dead link, and no WCAG A/AA violation', async () => {
  const problems = [];
  const known = new Map(); // path -> the ids on that page
  const idsOf = async (path) => {
    if (!known.has(path)) {
      const response = await fetch(server.base + path);
      const html = response.ok ? await response.text() : '';
      known.set(path, { status: response.status, ids: new Set([...html.matchAll(/ id="([^"]+)"/g)].map((m) => m[1])) });
    }
    return known.get(path);
  };
  for (const path of await chapterPaths()) {
    for (const viewport of [{ width: 1280, height: 800 }, { width: 390, height: 844 }]) {
      const page = await browser.newPage({ viewport });
      const errors = [];
      page.on('pageerror', (error) => errors.push(error.message));
      page.on('console', (message) => {
        if (message.type() === 'error') errors.push(`console: ${message.text()}`);
      });
      await page.goto(server.base + path);
      if (viewport.width === 1280) {
        assert.equal(await page.locator('h1').count(), 1, `${path}: one h1`);
        // Every diagram drawn: an SVG with a size, not source text (tests/site.rs counts them).
        const undrawn = await page.$$eval('figure.diagram', (figures) => figures.filter((f) => {
          const svg = f.querySelector('svg');
          return !svg || svg.getBoundingClientRect().height < 50;
        }).length);
        if (undrawn) problems.push(`${path}: ${undrawn} diagrams not drawn`);
        const links = await page.$$eval('a[href]', (as) => as.map((a) => a.getAttribute('href')));
        for (const href of links) {
          if (/^[a-z]+:/.test(href)) continue; // another site: not reachable from here
          const url = new URL(href, server.base + path);
          const target = await idsOf(url.pathname);
          if (target.status !== 200) problems.push(`${path}: ${href} is ${target.status}`);
          const id = decodeURIComponent(url.hash.slice(1));
          if (id && !target.ids.has(id)) problems.push(`${path}: ${href} has no #${id}`);
        }
      } else {
        // Nothing wider than the phone: what does not fit scrolls in its own box.
        const wide = await page.evaluate(() => document.documentElement.scrollWidth);
        if (wide > viewport.width) problems.push(`${path}: ${wide} px wide at ${viewport.width}`);
      }
      for (const violation of await axeViolations(page)) {
        problems.push(`${path} at ${viewport.width} px: ${violation}`);
      }
      // Last, so that an error logged while the page was laid out or checked counts too.
      if (errors.length) problems.push(`${path}: ${errors.join('; ')}`);
      await page.close();
    }
  }
  assert.deepEqual(problems, []);
});
