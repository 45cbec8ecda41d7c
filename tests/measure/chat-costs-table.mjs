// Chapter 14's cost table as Markdown, from the compare page's `window.compare.table`. Kept
// apart from chat-costs.mjs (which runs the long measurement by hand) so that the browser
// tests can check it on a short run: tests/browser/chat.test.mjs.

export const HEADER = [
  '| technique | requests / message | bytes / message | median latency (ms) | worst latency (ms) | lost |',
  '|---|---:|---:|---:|---:|---:|',
];

// The table: the two header lines, then one row per technique, in the page's order.
export function markdownTable(table) {
  return [
    ...HEADER,
    ...table.map((row) =>
      `| ${row.name} | ${row.requests} | ${row.bytes} | ${row.median} | ${row.worst} | ${row.lost} |`),
  ].join('\n');
}
