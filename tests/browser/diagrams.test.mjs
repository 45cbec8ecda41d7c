// Every Mermaid diagram in docs/ drawn by the real Mermaid (npm `mermaid`, its browser bundle)
// in the browser: GitHub draws the chapters' diagrams with it, and a diagram it cannot parse
// shows there as an error box. A `;` inside a message or a note, for one, ends the statement.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, launchBrowser } from './support.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const docs = path.resolve(here, '..', '..', 'docs');
const MERMAID = readFileSync(createRequire(import.meta.url).resolve('mermaid/dist/mermaid.min.js'), 'utf8');

// Every ```mermaid block in the chapters: { where, source }.
function diagrams() {
  const found = [];
  for (const file of readdirSync(docs).filter((f) => f.endsWith('.md')).sort()) {
    const lines = readFileSync(path.join(docs, file), 'utf8').split('\n');
    for (let i = 0; i < lines.length; i++) {
      if (lines[i].trim() !== '```mermaid') continue;
      const start = i + 1;
      let end = start;
      while (end < lines.length && lines[end].trim() !== '```') end++;
      found.push({ where: `${file}:${start}`, source: lines.slice(start, end).join('\n') });
      i = end;
    }
  }
  return found;
}

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

test('every Mermaid diagram in the chapters parses and draws with the real Mermaid', async () => {
  const all = diagrams();
  assert.ok(all.length >= 14, `${all.length} diagrams found`);
  const page = await browser.newPage();
  await page.goto(`${server.base}/docs/`); // any page of ours: Mermaid needs a document
  // As a <script> element, as a page would load it (the bundle sets window.mermaid).
  await page.evaluate((source) => {
    const script = document.createElement('script');
    script.textContent = source;
    document.head.append(script);
  }, MERMAID);
  const failures = await page.evaluate(async (all) => {
    window.mermaid.initialize({ startOnLoad: false });
    const failed = [];
    for (const [n, { where, source }] of all.entries()) {
      try {
        const { svg } = await window.mermaid.render(`diagram-${n}`, source);
        if (!svg.includes('<svg')) failed.push(`${where}: no SVG`);
      } catch (error) {
        failed.push(`${where}: ${String(error.message ?? error).split('\n').slice(0, 3).join(' ')}`);
      }
    }
    return failed;
  }, all);
  await page.close();
  assert.deepEqual(failures, []);
});
