// The wire inspector, on every demo page: the bytes of this browser's own connections to the
// server, live, beside a sequence diagram drawn from them as they happen.
//
// How it works (chapter 01, "Watching the wire"): POST /inspector gives this browser a
// session and a cookie naming it; from then on the server copies every byte of each
// connection that carries the cookie, reads it into entries (heads, chunks, events, frames)
// and appends them to the session's log; GET /inspector/feed, a WebSocket, sends them here.
// A WebSocket, not an EventSource: the browser gives a host six HTTP connections, and the
// panel must not take one from the demo it watches. Nothing here belongs to a technique: the
// page's own script does not know this panel exists.
(function () {
  'use strict';

  // The panel stays open from page to page (and tab to tab) until it is closed.
  const REMEMBER = 'webwire-inspector-open';
  // The most entries kept on the page; older ones leave the list and the diagram.
  const MAX_SHOWN = 1000;
  // After the feed drops, how long before it asks again (from where it was).
  const RECONNECT_MS = 1000;

  let socket = null;
  let lastSeq = 0; // the last entry received: a new feed resumes after it
  let wanted = false; // whether the panel is meant to be open
  let backlog = null; // entries sent before "live", to pick this page's own from
  let openedAt = 0; // the session's last entry when this page opened the panel
  let ending = Promise.resolve(); // the DELETE of a session being closed
  let earlier = []; // entries from before this page, shown on request
  const started = new Set(); // connections seen

  // ---- The panel ------------------------------------------------------------------------
  const toggle = document.createElement('button');
  toggle.type = 'button';
  toggle.className = 'inspector-toggle';
  toggle.setAttribute('aria-controls', 'inspector');
  toggle.setAttribute('aria-expanded', 'false');
  toggle.textContent = 'Show the wire';

  const panel = document.createElement('section');
  panel.id = 'inspector';
  panel.className = 'inspector';
  panel.setAttribute('aria-label', 'Wire inspector');
  panel.hidden = true;
  panel.innerHTML =
    '<div class="inspector-bar"><h2>The wire</h2> ' +
    '<span class="inspector-status" role="status"></span> ' +
    '<button type="button" class="inspector-earlier" hidden></button>' +
    '<button type="button" class="inspector-clear">Clear</button>' +
    '<a href="/docs/01-http-by-hand.md#watching-the-wire">how this works</a></div>' +
    '<div class="inspector-views">' +
    '<ol class="inspector-entries" tabindex="0" aria-label="Bytes on the wire, newest last"></ol>' +
    '<div class="inspector-diagram" tabindex="0" role="region" aria-label="Live sequence diagram">' +
    '</div></div>';
  const list = panel.querySelector('.inspector-entries');
  const status = panel.querySelector('.inspector-status');
  const earlierButton = panel.querySelector('.inspector-earlier');

  // ---- The entries, as --trace prints them ---------------------------------------------
  // `#7 +1.234s >` then the bytes: `>` from the browser, `<` from the server.
  function row(entry) {
    const item = document.createElement('li');
    item.className = 'wire-entry wire-' + (entry.dir === '>' ? 'up' : 'down') + ' wire-' + entry.kind;
    item.dataset.seq = entry.seq;
    item.dataset.conn = entry.conn;
    item.dataset.kind = entry.kind;
    const meta = document.createElement('span');
    meta.className = 'wire-meta';
    meta.textContent = '#' + entry.conn + ' +' + (entry.at / 1000).toFixed(3) + 's ' + entry.dir +
      ' ' + entry.kind + (entry.bytes ? ' (' + entry.bytes + ' B)' : '');
    const text = document.createElement('pre');
    text.className = 'wire-text';
    text.textContent = entry.text;
    item.append(meta, text);
    item.entry = entry; // so "show earlier" can draw everything again, in order
    return item;
  }

  function show(entries) {
    const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 4;
    for (const entry of entries) {
      started.add(entry.conn);
      list.appendChild(row(entry));
      diagram.add(entry);
    }
    if (list.children.length > MAX_SHOWN) {
      while (list.children.length > MAX_SHOWN) list.firstElementChild.remove();
      // The diagram keeps what the list keeps: drawn again from it, now and then.
      if (diagram.rows() > MAX_SHOWN + 100) diagram.redraw(Array.from(list.children, (item) => item.entry));
    }
    if (atBottom) list.scrollTop = list.scrollHeight;
    status.textContent = 'Live: ' + list.children.length + ' entries on ' + started.size +
      ' connection' + (started.size === 1 ? '' : 's') + '.';
  }

  // ---- The live sequence diagram --------------------------------------------------------
  // As the chapters draw them: the browser on the left, the server on the right, one arrow
  // per message (a head, a chunk of a stream, an event, a frame); a body belongs to its head.
  const diagram = (function () {
    const SVG = 'http://www.w3.org/2000/svg';
    const WIDTH = 360;
    const BROWSER_X = 50;
    const SERVER_X = WIDTH - 50;
    const ROW = 30;
    const box = panel.querySelector('.inspector-diagram');
    const svg = document.createElementNS(SVG, 'svg');
    svg.setAttribute('width', WIDTH);
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', 'Sequence diagram of the entries: browser on the left, server on the right');
    svg.setAttribute('font-size', '11');
    svg.setAttribute('font-family', 'system-ui, sans-serif');
    box.appendChild(svg);
    let y = 0;
    let rows = 0;

    function el(name, attributes, text) {
      const node = document.createElementNS(SVG, name);
      for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
      if (text !== undefined) node.textContent = text;
      svg.appendChild(node);
      return node;
    }

    function reset() {
      svg.replaceChildren();
      const defs = el('defs', {});
      defs.innerHTML = '<marker id="wire-arrow" viewBox="0 0 10 10" refX="9" refY="5" ' +
        'markerWidth="8" markerHeight="8" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#333"/></marker>';
      for (const [x, name] of [[BROWSER_X, 'browser'], [SERVER_X, 'server']]) {
        el('rect', { x: x - 40, y: 2, width: 80, height: 22, rx: 4, fill: '#eef3fb', stroke: '#4a6da7' });
        el('text', { x: x, y: 17, 'text-anchor': 'middle', 'font-weight': 'bold' }, name);
      }
      y = 30;
      rows = 0;
      resize();
    }

    function redraw(entries) {
      reset();
      for (const entry of entries) add(entry);
    }

    function resize() {
      svg.setAttribute('height', y + 10);
      for (const line of svg.querySelectorAll('line.lifeline')) line.remove();
      for (const x of [BROWSER_X, SERVER_X]) {
        const line = el('line', { class: 'lifeline', x1: x, y1: 24, x2: x, y2: y + 10, stroke: '#999', 'stroke-dasharray': '3 3' });
        svg.insertBefore(line, svg.children[1]);
      }
    }

    function add(entry) {
      rows += 1;
      if (entry.kind === 'note') {
        y += ROW - 10;
        el('text', { x: WIDTH / 2, y: y, 'text-anchor': 'middle', fill: '#555' },
          '#' + entry.conn + ' ' + entry.label);
      } else if (entry.arrow) {
        y += ROW;
        const up = entry.dir === '>';
        const [from, to] = up ? [BROWSER_X, SERVER_X] : [SERVER_X, BROWSER_X];
        el('line', { x1: from, y1: y, x2: to, y2: y, stroke: '#333', 'marker-end': 'url(#wire-arrow)', class: 'wire-arrow' });
        const label = entry.label.length > 38 ? entry.label.slice(0, 37) + '…' : entry.label;
        el('text', { x: WIDTH / 2, y: y - 4, 'text-anchor': 'middle', class: 'wire-arrow-label' },
          '#' + entry.conn + ' ' + label);
        // When, at the left edge: the gaps between arrows are the technique's rhythm.
        el('text', { x: 2, y: y + 3, 'font-size': 9, fill: '#555', class: 'wire-time' },
          (entry.at / 1000).toFixed(2) + 's');
      } else {
        rows -= 1;
        return;
      }
      resize();
      const atBottom = box.scrollTop + box.clientHeight >= box.scrollHeight - ROW * 2;
      if (atBottom) box.scrollTop = box.scrollHeight;
    }

    reset();
    return { add, reset, redraw, rows: () => rows };
  })();

  // ---- The feed --------------------------------------------------------------------------
  function received(entry) {
    // The server's numbering: a new session (the server restarted) starts again from 1.
    if (entry.seq !== undefined) lastSeq = entry.seq;
    if (entry.kind === 'live') {
      pickThisPage();
      return;
    }
    if (entry.kind === 'skipped') {
      entry = { seq: entry.seq, conn: '-', dir: '-', kind: 'note', at: 0, bytes: 0, label: 'skipped',
        text: entry.count + ' entries were dropped before this panel read them (MAX_ENTRIES)\n' };
    }
    if (backlog) backlog.push(entry);
    else show([entry]);
  }

  // The backlog holds what this browser did before this page: shown from the request that
  // loaded this page (or, if that was not seen, from when this page opened the panel), the
  // rest kept behind a button.
  function pickThisPage() {
    if (!backlog) return;
    const here = 'GET ' + location.pathname + location.search + ' HTTP/';
    let from = -1;
    for (let i = backlog.length - 1; i >= 0; i -= 1) {
      const entry = backlog[i];
      if (entry.kind === 'head' && entry.dir === '>' && entry.text.startsWith(here)) {
        from = i;
        break;
      }
    }
    // This page's request carries the connection's first note just before it, if new.
    if (from > 0 && backlog[from - 1].kind === 'note' && backlog[from - 1].conn === backlog[from].conn) from -= 1;
    const cut = from >= 0 ? from : backlog.filter((entry) => entry.seq <= openedAt).length;
    earlier = earlier.concat(backlog.slice(0, cut));
    const mine = backlog.slice(cut);
    backlog = null;
    showEarlierButton();
    show(mine);
  }

  function showEarlierButton() {
    earlierButton.hidden = earlier.length === 0;
    earlierButton.textContent = 'Show ' + earlier.length + ' earlier entries';
  }

  earlierButton.addEventListener('click', () => {
    const all = earlier.concat(Array.from(list.children, (item) => item.entry));
    earlier = [];
    showEarlierButton();
    list.replaceChildren();
    diagram.reset();
    started.clear();
    show(all);
  });

  panel.querySelector('.inspector-clear').addEventListener('click', () => {
    earlier = [];
    showEarlierButton();
    list.replaceChildren();
    diagram.reset();
    started.clear();
    status.textContent = 'Cleared. Live.';
  });

  function connect() {
    const url = location.origin.replace(/^http/, 'ws') + '/inspector/feed?since=' + lastSeq;
    socket = new WebSocket(url);
    if (lastSeq === 0) backlog = [];
    socket.onmessage = (event) => received(JSON.parse(event.data));
    socket.onclose = (event) => {
      socket = null;
      if (!wanted) return;
      if (event.code === 1000) {
        // The server ended the session (closed elsewhere, or too many inspectors).
        status.textContent = 'The inspector was closed: ' + (event.reason || 'no reason given') + '.';
        return;
      }
      status.textContent = 'The feed dropped; reconnecting…';
      setTimeout(() => { if (wanted && !socket) start(); }, RECONNECT_MS);
    };
  }

  async function start() {
    status.textContent = 'Connecting…';
    let response;
    try {
      // A panel closed a moment ago: its session must be gone before a new one is asked
      // for, or this request, still carrying the old cookie, would be given the old one.
      await ending;
      response = await fetch('/inspector', { method: 'POST', cache: 'no-store' });
    } catch (error) {
      status.textContent = 'The server cannot be reached.';
      return;
    }
    if (!response.ok) {
      // The server says why (off on a public address, another origin): one line.
      status.textContent = (await response.text()).trim();
      return;
    }
    openedAt = (await response.json()).last;
    if (!wanted) {
      // Closed while it was opening: the DELETE went before this cookie existed, and ended
      // nothing. End the session now, or it would tap this browser for ten minutes.
      ending = fetch('/inspector', { method: 'DELETE' }).catch(() => {});
      return;
    }
    if (!socket) connect();
  }

  function open() {
    wanted = true;
    // A new session numbers its entries from 1: what the last one showed goes.
    lastSeq = 0;
    earlier = [];
    showEarlierButton();
    list.replaceChildren();
    diagram.reset();
    started.clear();
    panel.hidden = false;
    document.body.classList.add('inspecting');
    toggle.textContent = 'Hide the wire';
    toggle.setAttribute('aria-expanded', 'true');
    localStorage.setItem(REMEMBER, '1');
    start();
  }

  function close() {
    wanted = false;
    panel.hidden = true;
    document.body.classList.remove('inspecting');
    toggle.textContent = 'Show the wire';
    toggle.setAttribute('aria-expanded', 'false');
    localStorage.removeItem(REMEMBER);
    if (socket) {
      // Let go of it at once: a panel opened again at once gets a feed of its own.
      socket.onmessage = null;
      socket.onclose = null;
      socket.close(1000);
      socket = null;
    }
    // The server stops copying this browser's connections.
    ending = fetch('/inspector', { method: 'DELETE' }).catch(() => {});
  }

  toggle.addEventListener('click', () => (wanted ? close() : open()));

  // For tests and the curious: window.inspector.entries() is what the list shows.
  window.inspector = {
    entries: () => Array.from(list.children, (item) => item.entry),
    open,
    close,
  };

  function place() {
    document.body.append(panel, toggle);
    if (localStorage.getItem(REMEMBER) === '1') open();
  }
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', place);
  } else {
    place();
  }
})();
