// Helpers shared by every browser test: start a real webwire server on a free port, and
// launch one of the machine's own browsers to talk to it: Debian's Chromium or Firefox ESR,
// as WEBWIRE_BROWSER says (`chromium`, the default, or `firefox`). tests/run-all runs the
// whole suite once in each.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { launch } from './driver.mjs';

// tests/browser/ -> repo root, so tests work from any working directory.
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const serverBinary = path.join(repoRoot, 'target', 'debug', 'webwire');

// The first stdout line the server prints once its socket is bound.
const READY_LINE = /webwire listening on http:\/\/localhost:(\d+)\//;

// A server that neither prints its ready line nor exits within this time is
// broken; fail the test instead of hanging the whole run.
const STARTUP_TIMEOUT_MS = 20_000;

// Start `target/debug/webwire --port 0 --quiet ...args` and wait until it
// tells us which port the OS gave it. Port 0 lets tests run side by side.
export function startServer(args = []) {
  const child = spawn(serverBinary, ['--port', '0', '--quiet', ...args], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));

  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => { stderr += chunk; });

  const ready = new Promise((resolve, reject) => {
    const fail = (why) => {
      clearTimeout(timer);
      child.kill();
      reject(new Error(`${why}\n--- server stderr ---\n${stderr}`));
    };
    const timer = setTimeout(
      () => fail(`webwire printed no ready line within ${STARTUP_TIMEOUT_MS} ms`),
      STARTUP_TIMEOUT_MS,
    );

    let stdout = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      const match = READY_LINE.exec(stdout);
      if (!match) return;
      clearTimeout(timer);
      child.stdout.removeAllListeners('data');
      child.stdout.resume(); // keep draining so a chatty server never blocks on a full pipe
      const port = Number(match[1]);
      resolve({
        port,
        base: `http://localhost:${port}`,
        altBase: `http://127.0.0.1:${port}`, // a second origin, for cross-origin demos
        async stop() {
          if (child.exitCode === null && child.signalCode === null) child.kill();
          await exited;
        },
      });
    });
    child.once('error', (err) => fail(`could not start ${serverBinary}: ${err.message}`));
    // 'close', not 'exit': it fires after stderr is fully read, so the message is complete.
    child.once('close', (code, signal) =>
      fail(`webwire exited (code ${code}, signal ${signal}) before it was ready`));
  });
  return ready;
}

// The engine this run tests: every test may ask, where the engines behave differently.
export const engine = process.env.WEBWIRE_BROWSER ?? 'chromium';
if (!['chromium', 'firefox'].includes(engine)) {
  throw new Error(`WEBWIRE_BROWSER=${engine}: say chromium or firefox`);
}

// Debian's own browsers, not downloaded ones: this machine has no network beyond package
// registries. Chromium's flags keep it from trying to reach Google services (sync, updates,
// QUIC probes) and from needing a GPU or a user-namespace sandbox, which containers often
// lack; puppeteer gives Firefox a fresh profile that turns the same services off.
export function launchBrowser() {
  if (engine === 'firefox') return launch('firefox', '/usr/bin/firefox-esr', []);
  return launch('chromium', '/usr/bin/chromium', [
    '--no-sandbox',
    '--disable-gpu',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-quic',
  ]);
}

// axe-core, the accessibility checker, run inside the page under test.
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

// The rules axe-core checks: WCAG 2.0, 2.1 and 2.2, levels A and AA.
const WCAG_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];

// Runs axe-core on the page as it is now; returns each violation as "rule: where, where…".
export async function axeViolations(page) {
  await page.evaluate((source) => { if (!window.axe) (0, eval)(source); }, AXE_SOURCE);
  return page.evaluate(async (tags) => {
    const result = await window.axe.run(document, { runOnly: { type: 'tag', values: tags } });
    return result.violations.map((v) =>
      `${v.id}: ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
  }, WCAG_TAGS);
}
