// The network-faults panel, on every demo page: which faults the server plays for everyone
// (GET /faults), and a form to change them (POST /faults). Chapter 16 explains each fault;
// src/faults/ plays them. Nothing here belongs to a technique: the page's own script does not
// know this panel exists.
(function () {
  'use strict';

  // Each fault: its name in the spec, what it stands for, and its setting's example.
  const FAULTS = [
    ['buffer', 'a buffering proxy holds each response until this much has gathered or it ends (nginx proxy_buffering)', '4k'],
    ['strip-upgrade', 'a proxy drops Upgrade and Connection: the WebSocket handshake arrives as a plain GET', ''],
    ['stall-sockets', 'an antivirus scanner lets the WebSocket handshake through, then holds every frame to the browser', ''],
    ['idle-cut', 'a connection with no byte either way for this long is closed without a word (load balancer idle timeout)', '10s'],
    ['hold-cap', 'a request unanswered, or a response still open, this long is cut; 504 if nothing was sent (proxy request timeout)', '5s'],
    ['latency', 'added to every piece, each way', '300ms'],
    ['bandwidth', 'bytes per second, each way', '2k'],
    ['drop', 'after this many bytes to the browser, the next piece is cut in half, and the connection with it', '1k'],
  ];

  const panel = document.createElement('details');
  panel.id = 'faults-panel';
  panel.className = 'faults';
  panel.innerHTML =
    '<summary>Network faults: <span class="faults-now">…</span></summary>' +
    '<p>Make the network between this browser and the server misbehave, the way real proxies, ' +
    'load balancers and mobile links do. This changes every demo\'s endpoints for every client ' +
    'of this server; the pages themselves are never faulted, so this panel always loads. ' +
    '<a href="/docs/16-faults.md">Chapter 16</a> says what each fault does to each technique.</p>' +
    '<form class="faults-form"></form>';
  const form = panel.querySelector('form');
  for (const [name, what, example] of FAULTS) {
    const row = document.createElement('div');
    row.className = 'faults-row';
    const id = 'fault-' + name;
    row.innerHTML =
      '<label><input type="checkbox" id="' + id + '"> <code>' + name + '</code></label> ' +
      (example
        ? '<input id="' + id + '-value" size="6" value="' + example + '" aria-label="' + name + ' setting">'
        : '') +
      ' <span class="faults-what">' + what + '</span>';
    form.appendChild(row);
  }
  form.insertAdjacentHTML('beforeend',
    '<button>Apply</button> <button type="button" class="faults-off">All off</button> ' +
    '<output class="faults-result" aria-live="polite"></output>');

  // A line at the top of the page whenever any fault is on: nobody should wonder why a demo
  // misbehaves.
  const banner = document.createElement('p');
  banner.className = 'faults-banner';
  banner.setAttribute('role', 'status');
  banner.hidden = true;

  function show(state) {
    const on = state.faults !== 'none';
    panel.querySelector('.faults-now').textContent = on ? state.faults : 'off';
    banner.hidden = !on;
    banner.innerHTML = on
      ? 'Network faults on: <code></code> — <a href="#faults-panel">change</a>'
      : '';
    if (on) banner.querySelector('code').textContent = state.faults;
    const items = new Map(state.faults.split(',').map((item) => {
      const [name, value] = item.split('=');
      return [name, value];
    }));
    for (const [name] of FAULTS) {
      const box = document.getElementById('fault-' + name);
      box.checked = items.has(name);
      box.disabled = !state.control;
      const value = document.getElementById('fault-' + name + '-value');
      if (value) {
        if (items.get(name)) value.value = items.get(name);
        value.disabled = !state.control;
      }
    }
    for (const button of form.querySelectorAll('button')) button.disabled = !state.control;
    if (!state.control) {
      form.querySelector('.faults-result').textContent =
        'This server does not let pages switch faults (start it with --fault-control on).';
    }
  }

  function spec() {
    return FAULTS.filter(([name]) => document.getElementById('fault-' + name).checked)
      .map(([name]) => {
        const value = document.getElementById('fault-' + name + '-value');
        return value && value.value.trim() ? name + '=' + value.value.trim() : name;
      }).join(',') || 'none';
  }

  async function change(wanted) {
    const result = form.querySelector('.faults-result');
    const response = await fetch('/faults', {
      method: 'POST',
      body: new URLSearchParams({ spec: wanted }),
    });
    if (response.ok) {
      show(await response.json());
      result.textContent = 'Applied.';
    } else {
      result.textContent = (await response.text()).trim();
    }
  }

  async function refresh() {
    const response = await fetch('/faults', { cache: 'no-store' });
    if (response.ok) show(await response.json());
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    change(spec());
  });
  form.querySelector('.faults-off').addEventListener('click', () => change('none'));
  // Another tab may have changed them: look again whenever this one comes back.
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) refresh();
  });

  function place() {
    document.body.prepend(banner);
    document.body.appendChild(panel);
    refresh();
  }
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', place);
  } else {
    place();
  }
})();
