// Measures what each chat transport costs, at the articles' pace (a poll every 2 s, holds of
// 25 s), by running the compare page in a headless browser and printing its table as Markdown.
// Not part of `cargo test` or the browser tests: run it by hand, after `cargo build`:
//
//     node tests/measure/chat-costs.mjs [messages] [spacing-ms]
//     WEBWIRE_BROWSER=firefox node tests/measure/chat-costs.mjs    # in Firefox ESR
//
// (defaults: 20 messages, one every 500 ms). The figures in docs/14-choosing.md come from it.
import { startServer, launchBrowser } from '../browser/support.mjs';
import { markdownTable } from './chat-costs-table.mjs';

const count = Number(process.argv[2] ?? 20);
const spacing = Number(process.argv[3] ?? 500);

const server = await startServer(['chat']);
const browser = await launchBrowser();
try {
  const page = await browser.newPage();
  await page.goto(`${server.base}/compare.html`);
  await page.waitForFunction(() => window.compare?.ready, null, { timeout: 60_000 });
  await page.fill('#count', String(count));
  await page.fill('#spacing', String(spacing));
  await page.click('#run');
  await page.waitForFunction(() => window.compare?.done, null, { timeout: 180_000 });
  const table = await page.evaluate(() => window.compare.table);
  const send = await page.textContent('#send-cost');
  console.log(`${count} messages, one every ${spacing} ms; tick 2000 ms, hold 25000 ms\n`);
  console.log(markdownTable(table));
  console.log(`\n${send}`);
} finally {
  await browser.close();
  await server.stop();
}
