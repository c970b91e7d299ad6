// Small DOM helpers: elements are built from text nodes only (markup is
// never parsed from strings), so API data can never inject markup.

/** h builds an HTML element: h('td', {class: 'num'}, 'text', child...). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** s builds an SVG element. */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  if (!attrs) return;
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    el.setAttribute(k, v === true ? '' : String(v));
  }
}

function append(el, children) {
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** replace swaps the contents of the element with the given id. */
export function replace(id, ...children) {
  const el = document.getElementById(id);
  if (!el) return;
  const next = children.flat().filter((c) => c !== null && c !== undefined)
    .map((c) => (c instanceof Node ? c : document.createTextNode(String(c))));
  // Leave the DOM alone when nothing changed: keeps focus, hover and
  // selection across refreshes.
  if (el.childNodes.length === next.length && next.every((n, i) => n === el.childNodes[i] || n.isEqualNode(el.childNodes[i]))) return;
  el.replaceChildren(...next);
}

/**
 * table renders rows with columns [{head, cell(row) → node|string, num?, cls?}].
 * caption is a visually hidden label for assistive technology.
 */
export function table(caption, columns, rows, rowAttrs) {
  return h('table', null,
    h('caption', { class: 'sr' }, caption),
    h('thead', null, h('tr', null, columns.map((c) => h('th', { scope: 'col', class: c.num ? 'num' : null }, c.head)))),
    h('tbody', null, rows.map((r) => h('tr', rowAttrs ? rowAttrs(r) : null,
      columns.map((c) => h('td', { class: [c.num ? 'num' : '', c.cls || ''].join(' ').trim() || null }, c.cell(r)))))));
}

/** empty is the empty-state paragraph; parts may hold <code> nodes. */
export function empty(...parts) {
  return h('p', { class: 'empty' }, ...parts);
}

export function code(text) { return h('code', null, text); }

/** badge colours a state word. */
export function badge(text, tone) {
  return h('span', { class: `badge ${tone || 'muted'}` }, text);
}

const TONES = {
  alive: 'ok', running: 'ok', healthy: 'ok', leader: 'ok', voter: 'ok',
  suspect: 'warn', pending: 'info', provisioning: 'info', draining: 'warn', terminating: 'warn', unknown: 'muted',
  failed: 'bad', unhealthy: 'bad', left: 'muted', terminated: 'muted', nonvoter: 'muted',
};

export function tone(word) { return TONES[String(word).toLowerCase()] || 'muted'; }

/** ago formats a time as "12s ago" / "3m ago" relative to now. */
export function ago(iso, now = Date.now()) {
  const t = Date.parse(iso);
  if (!Number.isFinite(t) || t <= 0) return '—';
  let d = Math.round((now - t) / 1000);
  const future = d < 0;
  d = Math.abs(d);
  let out;
  if (d < 60) out = `${d}s`;
  else if (d < 3600) out = `${Math.floor(d / 60)}m`;
  else if (d < 86400) out = `${Math.floor(d / 3600)}h ${Math.floor((d % 3600) / 60)}m`;
  else out = `${Math.floor(d / 86400)}d`;
  return future ? `in ${out}` : `${out} ago`;
}

/** clock formats a time as local HH:MM:SS (with the date if not today). */
export function clock(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '—';
  const today = new Date();
  const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
  if (d.toDateString() === today.toDateString()) return time;
  return `${d.toLocaleDateString([], { month: 'short', day: 'numeric' })} ${time}`;
}

/** fmt prints a number with up to 3 significant decimals. */
export function fmt(v) {
  if (v === undefined || v === null || !Number.isFinite(v)) return '—';
  const a = Math.abs(v);
  if (a >= 1000) return v.toLocaleString(undefined, { maximumFractionDigits: 0 });
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  return String(Number(v.toFixed(2)));
}
