// Callsight web pages: shared helpers. Everything the pages show comes from the /v1 JSON API;
// no HTML is ever built from API text (DOM nodes and textContent only), so a transcript or a
// script cannot inject markup.
'use strict';

const CS = {
  me: null,
  routes: [],
  pages: {},
  main: null,
  // Pages register cleanup (timers, listeners) here; run on every navigation.
  cleanups: [],
};

// --- DOM -------------------------------------------------------------------------------------

/** el('a', {href: '/x', class: 'y', onclick: fn}, 'text', childNode, [more]) */
CS.el = function (tag, attrs, ...children) {
  const node = document.createElement(tag);
  CS.setAttrs(node, attrs);
  CS.append(node, children);
  return node;
};

CS.setAttrs = function (node, attrs) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      node.addEventListener(name.slice(2), value);
    } else if (name === 'dataset') {
      for (const [k, v] of Object.entries(value)) node.dataset[k] = String(v);
    } else if (value === true) {
      node.setAttribute(name, '');
    } else {
      node.setAttribute(name, String(value));
    }
  }
};

CS.append = function (node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
};

const SVG_NS = 'http://www.w3.org/2000/svg';
CS.svg = function (tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null) continue;
    if (name.startsWith('on') && typeof value === 'function') node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, String(value));
  }
  CS.append(node, children);
  return node;
};

/** A link that navigates inside the app without a page load. */
CS.link = function (href, text, attrs) {
  return CS.el('a', Object.assign({ href, 'data-nav': true }, attrs || {}), text);
};

CS.clear = function (node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
};

CS.message = function (text, kind) {
  return CS.el('p', { class: 'msg ' + (kind || 'error'), role: kind === 'info' ? 'status' : 'alert' }, text);
};

// --- API -------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, code, message, line) {
    super(message);
    this.status = status;
    this.code = code;
    this.line = line;
  }
}
CS.ApiError = ApiError;

/** Calls the API with the session cookie; unsafe methods carry the CSRF token. */
CS.api = async function (method, path, body, contentType) {
  const headers = { Accept: 'application/json' };
  if (method !== 'GET' && method !== 'HEAD' && CS.me) headers['X-CSRF-Token'] = CS.me.csrf_token;
  let payload;
  if (body !== undefined) {
    headers['Content-Type'] = contentType || 'application/json';
    payload = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const response = await fetch(path, { method, headers, body: payload, credentials: 'same-origin' });
  if (response.status === 401) {
    // Session over: back to the sign-in page.
    window.location.assign('/');
    throw new ApiError(401, 'unauthorized', 'signed out');
  }
  const text = await response.text();
  let json = null;
  if (text) {
    try {
      json = JSON.parse(text);
    } catch (_) {
      json = null;
    }
  }
  if (!response.ok) {
    const error = (json && json.error) || {};
    throw new ApiError(response.status, error.code || 'http_' + response.status,
      error.message || 'request failed with status ' + response.status, error.line);
  }
  return json;
};

CS.get = (path) => CS.api('GET', path);

/** Query string from an object, skipping empty values. */
CS.query = function (params) {
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') search.set(k, v);
  }
  const text = search.toString();
  return text ? '?' + text : '';
};

// --- formatting --------------------------------------------------------------------------------

CS.fmtSecs = function (secs) {
  if (secs === null || secs === undefined || Number.isNaN(secs)) return '–';
  const m = Math.floor(secs / 60);
  const s = secs - m * 60;
  return m + ':' + (s < 10 ? '0' : '') + s.toFixed(1);
};

CS.fmtPct = (x) => (x === null || x === undefined ? '–' : (x * 100).toFixed(1) + '%');
CS.fmtNum = (x, digits) => (x === null || x === undefined ? '–' : Number(x).toFixed(digits === undefined ? 1 : digits));
CS.fmtDate = (iso) => (iso ? iso.replace('T', ' ').replace('Z', '') : '–');
CS.shortId = (id) => (id ? id.slice(0, 8) + '…' + id.slice(-4) : '');

CS.can = function (what) {
  const role = CS.me && CS.me.role;
  switch (what) {
    case 'review': return role === 'qa' || role === 'admin';
    case 'edit-scripts': return role === 'qa' || role === 'admin';
    case 'dashboards': return role === 'manager' || role === 'admin';
    case 'audit': return role === 'admin';
    default: return false;
  }
};

/**
 * One CSV cell. Text a spreadsheet would run as a formula (starting with =, +, -, @, tab or
 * carriage return: agent and team names come from uploads) is neutralised the way OWASP
 * recommends: a leading ' makes it text, and the cell is quoted. Plain numbers ("-0.35") stay
 * numbers. Other cells are quoted only when they hold a quote, comma or line break.
 */
CS.csvCell = function (value) {
  const text = value === null || value === undefined ? '' : String(value);
  // A plain number (a negative score, "-0.35") is data, not a formula: it stays a number.
  const isNumber = typeof value === 'number' || /^[-+]?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(text);
  if (!isNumber && /^[=+\-@\t\r]/.test(text)) return '"\'' + text.replace(/"/g, '""') + '"';
  return /[",\n\r]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
};

/** `rows` (arrays; the first is the header) as CSV text with CRLF line ends. */
CS.csvText = function (rows) {
  return rows.map((row) => row.map(CS.csvCell).join(',')).join('\r\n') + '\r\n';
};

/** Downloads `rows` (arrays; the first is the header) as a CSV file. */
CS.downloadCsv = function (fileName, rows) {
  const csv = CS.csvText(rows);
  const url = URL.createObjectURL(new Blob([csv], { type: 'text/csv;charset=utf-8' }));
  const a = CS.el('a', { href: url, download: fileName });
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
};

/** A table with a CSV export button; `columns`: [{title, value(row) -> text|Node, csv(row) | false}]. */
CS.table = function (id, caption, columns, rows, fileName) {
  const table = CS.el('table', { id, class: 'data' },
    CS.el('caption', {}, caption),
    CS.el('thead', {}, CS.el('tr', {}, columns.map((c) => CS.el('th', { scope: 'col', class: c.numeric ? 'num' : null }, c.title)))),
    CS.el('tbody', {}, rows.length === 0
      ? CS.el('tr', {}, CS.el('td', { colspan: columns.length, class: 'muted' }, 'No data in this range.'))
      : rows.map((row) => CS.el('tr', { dataset: row.__data || {} },
        columns.map((c) => CS.el('td', { class: c.numeric ? 'num' : null }, c.value(row)))))));
  const exportButton = CS.el('button', {
    type: 'button', class: 'secondary small', id: id + '-csv',
    onclick: () => {
      const exported = columns.filter((c) => c.csv !== false); // links-only columns stay on screen
      CS.downloadCsv(fileName, [exported.map((c) => c.title)].concat(
        rows.map((row) => exported.map((c) => (c.csv ? c.csv(row) : c.value(row))))));
    },
  }, 'Export CSV');
  return CS.el('div', { class: 'table-wrap' }, CS.el('div', { class: 'table-tools' }, exportButton), table);
};

// --- routing -----------------------------------------------------------------------------------

CS.route = function (pattern, render) {
  CS.routes.push({ pattern, render });
};

CS.navigate = function (url, replace) {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  CS.render();
};

CS.render = async function () {
  for (const cleanup of CS.cleanups.splice(0)) {
    try { cleanup(); } catch (_) { /* a page's cleanup must not block the next page */ }
  }
  const path = window.location.pathname;
  const params = new URLSearchParams(window.location.search);
  const main = CS.clear(CS.main);
  for (const link of document.querySelectorAll('#nav a')) {
    link.toggleAttribute('aria-current', path.startsWith(link.getAttribute('href')));
  }
  for (const { pattern, render } of CS.routes) {
    const match = path.match(pattern);
    if (match) {
      try {
        await render(main, match.slice(1).map(decodeURIComponent), params);
      } catch (error) {
        main.appendChild(CS.message(error.message || String(error)));
      }
      return;
    }
  }
  main.appendChild(CS.message('No page at ' + path));
};

document.addEventListener('click', (event) => {
  const link = event.target.closest && event.target.closest('a[data-nav]');
  if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
  event.preventDefault();
  CS.navigate(link.getAttribute('href'));
});
window.addEventListener('popstate', () => CS.render());
