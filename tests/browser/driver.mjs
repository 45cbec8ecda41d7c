// The small page API the browser tests are written in, over puppeteer-core, so that one test
// runs unchanged in both engines: Chromium (driven over the Chrome DevTools Protocol) and
// Firefox ESR (driven over WebDriver BiDi, the W3C protocol Firefox speaks natively).
//
// The API is the part of Playwright's that these tests use (`page.locator(…).textContent()`,
// `page.fill`, `page.waitForFunction(fn, arg)` …), because the tests were first written with
// playwright-core. Playwright drives Firefox only through its own patched build, which cannot
// be installed here; puppeteer-core drives Debian's own `firefox-esr`. Each call below says
// which Playwright behaviour it keeps:
//
// - Locators are lazy: a locator is a recipe (a CSS selector, optionally "has this text",
//   optionally the n-th match), looked up again on every use, so it never goes stale.
// - Actions wait: `click`, `fill`, `check`, `textContent`, `waitFor` wait until the element
//   exists (and, for actions, is visible), up to ACTION_TIMEOUT_MS, re-checking on every
//   animation frame. `count()` and `all()` do not wait: they say what is there now.
// - `browser.newPage()` opens the page in a fresh browser context (its own cookies and
//   cache), and closing the page closes the context, as Playwright's does.
import puppeteer from 'puppeteer-core';

// How long an action waits for its element before the test fails (Playwright's default).
export const ACTION_TIMEOUT_MS = 30_000;

// Playwright's default viewport; puppeteer's own (800 × 600) would change some layouts.
const DEFAULT_VIEWPORT = { width: 1280, height: 720 };

// --- finding elements, in the page -------------------------------------------------------
// This function runs inside the page (puppeteer sends its source), so it uses nothing from
// this module. `steps` is a locator's recipe. A selector step replaces the elements found so
// far by the matches of its selector under them, keeping those that contain `hasText`
// (case-insensitive, runs of white space as one space, as Playwright matches); an index step
// keeps the `index`-th of them (counted from the end if negative). `want` says what to
// return: true, the first match if it is visible (else null); false, the first match (or
// null); null, how many match; 'all', every match.
function findInPage(steps, want) {
  const squash = (text) => text.replace(/\s+/g, ' ').trim().toLowerCase();
  let found = [document];
  for (const step of steps) {
    if (step.selector === undefined) {
      const index = step.index < 0 ? found.length + step.index : step.index;
      found = index >= 0 && index < found.length ? [found[index]] : [];
      continue;
    }
    found = found.flatMap((root) => [...root.querySelectorAll(step.selector)]);
    if (step.hasText !== undefined) {
      const wanted = squash(step.hasText);
      found = found.filter((element) => squash(element.textContent).includes(wanted));
    }
  }
  if (want === null) return found.length;
  if (want === 'all') return found;
  const element = found[0];
  if (!element) return null;
  if (want) {
    // Playwright's "visible": a non-empty box, and not visibility: hidden.
    const box = element.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) return null;
    if (getComputedStyle(element).visibility === 'hidden') return null;
  }
  return element;
}

// --- locators ----------------------------------------------------------------------------
class Locator {
  // `frame`: a function that resolves to the puppeteer Frame to search in (a frame locator's
  // frame is looked up again each time, because an iframe may navigate).
  constructor(frame, steps) {
    this.frame = frame;
    this.steps = steps;
  }

  locator(selector, options = {}) {
    return new Locator(this.frame, [...this.steps, { selector, hasText: options.hasText }]);
  }

  nth(index) {
    return new Locator(this.frame, [...this.steps, { index }]);
  }

  first() { return this.nth(0); }
  last() { return this.nth(-1); }

  // The element, once it is there (and visible, unless state is 'attached').
  async handle({ state = 'visible', timeout = ACTION_TIMEOUT_MS } = {}) {
    const frame = await this.frame();
    const waited = await frame.waitForFunction(findInPage, { timeout, polling: 'raf' },
      this.steps, state === 'visible');
    return waited.asElement();
  }

  async waitFor(options = {}) {
    await (await this.handle(options)).dispose();
  }

  async count() {
    const frame = await this.frame();
    return frame.evaluate(findInPage, this.steps, null);
  }

  async all() {
    const count = await this.count();
    return Array.from({ length: count }, (_, i) => this.nth(i));
  }

  // Every match's text, now (no waiting).
  async allTextContents() {
    return this.evaluateAll((elements) => elements.map((element) => element.textContent));
  }

  // `fn(elements, arg)` in the page, over every match now (no waiting).
  async evaluateAll(fn, arg) {
    const frame = await this.frame();
    const elements = await frame.evaluateHandle(findInPage, this.steps, 'all');
    try {
      return await elements.evaluate(fn, arg);
    } finally {
      await elements.dispose();
    }
  }

  // True if nothing matches now, or the first match is not visible (no waiting).
  async isHidden() {
    const frame = await this.frame();
    const visible = await frame.evaluateHandle(findInPage, this.steps, true);
    try {
      return await visible.evaluate((element) => element === null);
    } finally {
      await visible.dispose();
    }
  }

  async isDisabled() {
    return this.evaluate((element) => element.disabled === true, undefined, 'attached');
  }

  async textContent() {
    return this.evaluate((element) => element.textContent, undefined, 'attached');
  }

  async getAttribute(name) {
    return this.evaluate((element, attribute) => element.getAttribute(attribute), name, 'attached');
  }

  async evaluate(fn, arg, state = 'attached') {
    const element = await this.handle({ state });
    try {
      return await element.evaluate(fn, arg);
    } finally {
      await element.dispose();
    }
  }

  async click() {
    const element = await this.handle();
    try {
      await element.click();
    } finally {
      await element.dispose();
    }
  }

  // Sets the value as a user's typing would end, and fires `input` then `change`, as
  // Playwright's fill does (the text is not typed key by key: no key events).
  async fill(value) {
    await this.evaluate((element, text) => {
      element.focus();
      element.value = text;
      element.dispatchEvent(new Event('input', { bubbles: true }));
      element.dispatchEvent(new Event('change', { bubbles: true }));
    }, value, 'visible');
  }

  async check() { await this.setChecked(true); }

  async setChecked(wanted) {
    const checked = await this.evaluate((element) => element.checked, undefined, 'visible');
    if (checked !== wanted) await this.click();
  }

  async selectOption(value) {
    const element = await this.handle();
    try {
      await element.select(value);
    } finally {
      await element.dispose();
    }
  }
}

class FrameLocator {
  constructor(iframe) {
    this.iframe = iframe; // a Locator for the <iframe> element
  }

  locator(selector, options = {}) {
    const frame = async () => {
      const element = await this.iframe.handle({ state: 'attached' });
      try {
        return await element.contentFrame();
      } finally {
        await element.dispose();
      }
    };
    return new Locator(frame, [{ selector, hasText: options.hasText }]);
  }
}

// --- pages, contexts, browsers -------------------------------------------------------------
class Page {
  constructor(page, ownContext) {
    this.page = page;
    this.ownContext = ownContext; // closed with the page (browser.newPage())
    const main = async () => page.mainFrame();
    this.main = main;
    // `page.request.get(url)`: an HTTP request made outside the page (Node's fetch), as
    // Playwright's APIRequestContext makes it.
    this.request = {
      async get(url) {
        const response = await fetch(url);
        const body = await response.arrayBuffer();
        return {
          status: () => response.status,
          ok: () => response.ok,
          headers: () => Object.fromEntries(response.headers),
          body: async () => Buffer.from(body),
          text: async () => Buffer.from(body).toString('utf8'),
        };
      },
    };
  }

  locator(selector, options = {}) {
    return new Locator(this.main, [{ selector, hasText: options.hasText }]);
  }

  frameLocator(selector) { return new FrameLocator(this.locator(selector)); }

  click(selector) { return this.locator(selector).click(); }
  fill(selector, value) { return this.locator(selector).fill(value); }
  check(selector) { return this.locator(selector).check(); }
  setChecked(selector, wanted) { return this.locator(selector).setChecked(wanted); }
  textContent(selector) { return this.locator(selector).textContent(); }
  selectOption(selector, value) { return this.locator(selector).selectOption(value); }

  goto(url) { return this.page.goto(url, { waitUntil: 'load' }); }
  title() { return this.page.title(); }
  url() { return this.page.url(); }
  evaluate(fn, arg) { return this.page.evaluate(fn, arg); }
  $$eval(selector, fn, arg) { return this.page.$$eval(selector, fn, arg); }
  screenshot(options) { return this.page.screenshot(options); }
  waitForRequest(predicate, options) { return this.page.waitForRequest(predicate, options); }

  // Playwright's argument order: the page function's argument, then the options.
  waitForFunction(fn, arg, options = {}) {
    return this.page.waitForFunction(fn, {
      timeout: options.timeout ?? ACTION_TIMEOUT_MS,
      polling: 'raf',
    }, arg);
  }

  // Events: 'pageerror' (an Error), 'console' (text(), type()), 'dialog' (accept(),
  // dismiss(), message()), 'response' (url(), status()), 'requestfailed' (url(), failure()).
  on(event, handler) {
    this.page.on(event, handler);
    return this;
  }

  async close() {
    await this.page.close();
    if (this.ownContext) await this.ownContext.close();
  }
}

class Context {
  constructor(context) {
    this.context = context;
  }

  async newPage(options = {}) {
    const page = await this.context.newPage();
    await page.setViewport(options.viewport ?? DEFAULT_VIEWPORT);
    return new Page(page, null);
  }

  cookies() { return this.context.cookies(); }
  close() { return this.context.close(); }
}

class Browser {
  constructor(browser, engine) {
    this.browser = browser;
    this.engine = engine;
  }

  async newContext() {
    return new Context(await this.browser.createBrowserContext());
  }

  async newPage(options = {}) {
    const context = await this.browser.createBrowserContext();
    const page = await context.newPage();
    await page.setViewport(options.viewport ?? DEFAULT_VIEWPORT);
    return new Page(page, context);
  }

  version() { return this.browser.version(); }
  close() { return this.browser.close(); }
}

// Launches `executablePath` as `engine` ('chromium' or 'firefox') with these arguments.
export async function launch(engine, executablePath, args) {
  const browser = await puppeteer.launch({
    browser: engine === 'firefox' ? 'firefox' : 'chrome',
    executablePath,
    headless: true,
    args,
    defaultViewport: DEFAULT_VIEWPORT,
    protocol: engine === 'firefox' ? 'webDriverBiDi' : 'cdp',
  });
  return new Browser(browser, engine);
}
