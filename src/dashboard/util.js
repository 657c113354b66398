// Small DOM and formatting helpers shared by the pages.

/** An element: h('a', { href: '#/x', class: 'id' }, 'text', child…). Text is never parsed as HTML. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

/** An SVG element (the charts and nothing else need the namespace). */
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  append(el, children);
  return el;
}

/** Ids as the CLI shows them: 8 hex, the full id on hover and in the copy button. */
export function shortId(id) {
  return String(id || '').slice(0, 8);
}

/** An id that links to its run, with a copy button for the full id. */
export function idLink(id, href = `#/run/${id}`) {
  if (!id) return h('span', { class: 'muted' }, '—');
  return h('span', { class: 'id' },
    h('a', { href, title: id, class: 'mono' }, shortId(id)),
    copyButton(id));
}

export function copyButton(text) {
  return h('button', {
    class: 'copy', type: 'button', title: `copy ${text}`, 'aria-label': 'copy id',
    onclick: (event) => {
      event.preventDefault();
      event.stopPropagation();
      copy(text).then(() => flash(event.currentTarget || event.target));
    },
  }, 'copy');
}

async function copy(text) {
  // The clipboard API needs a secure context (loopback is one; a LAN address over http is not).
  if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
  const area = h('textarea', { class: 'offscreen' }, text);
  document.body.append(area);
  area.select();
  document.execCommand('copy');
  area.remove();
}

function flash(button) {
  if (!button) return;
  button.classList.add('copied');
  setTimeout(() => button.classList.remove('copied'), 800);
}

/** A duration in microseconds as the CLI writes it: 368µs, 2.0ms, 1.25s. */
export function duration(us) {
  if (us === undefined || us === null) return '';
  if (us < 1000) return `${Math.round(us)}µs`;
  if (us < 1e6) return `${(us / 1000).toFixed(us < 1e4 ? 1 : 0)}ms`;
  if (us < 6e7) return `${(us / 1e6).toFixed(2)}s`;
  return `${Math.floor(us / 6e7)}m${Math.round((us % 6e7) / 1e6)}s`;
}

// Made once: toLocaleTimeString() builds a formatter per call, which a burst of a thousand
// rows a second would pay for a thousand times.
const clock = new Intl.DateTimeFormat([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
const calendar = new Intl.DateTimeFormat([]);

/** Local wall-clock time of a µs timestamp (the date only when not today). */
export function time(us) {
  if (!us) return '';
  const d = new Date(us / 1000);
  const now = new Date();
  const today = d.getDate() === now.getDate() && d.getMonth() === now.getMonth() && d.getFullYear() === now.getFullYear();
  const hms = `${clock.format(d)}.${String(d.getMilliseconds()).padStart(3, '0')}`;
  return today ? hms : `${calendar.format(d)} ${hms}`;
}

export function iso(us) {
  return us ? new Date(us / 1000).toISOString() : '';
}

/** How long ago, roughly: 4s, 3m, 2h, 5d. */
export function ago(us) {
  if (us === undefined || us === null) return '—';
  return roughly(Date.now() * 1000 - us);
}

export function roughly(us) {
  const s = Math.max(0, us / 1e6);
  if (s < 60) return `${Math.round(s)}s`;
  if (s < 3600) return `${Math.round(s / 60)}m`;
  if (s < 86400) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

/** A JSON value for a table cell: strings quoted as the CLI quotes them, null as ∅. */
export function value(v) {
  if (v === undefined) return '∅';
  if (v === null) return 'null';
  if (typeof v === 'string') return `'${v}'`;
  return JSON.stringify(v);
}

export function pretty(v) {
  return JSON.stringify(v, null, 2);
}

export function statusBadge(status, extra) {
  return h('span', { class: `badge status-${status}` }, extra ? `${status} ${extra}` : status);
}

/** A section with a heading, or nothing when it has no content. */
export function section(title, ...content) {
  const items = content.flat().filter(Boolean);
  if (!items.length) return null;
  return h('section', { class: 'card' }, h('h2', {}, title), items);
}

/** A message for a failed load, in place of the page's content. */
export function failure(error) {
  return h('p', { class: 'error' }, String(error && error.message ? error.message : error));
}

/** The query of a hash route (#/runs?status=error) as an object. */
export function hashParams() {
  const query = location.hash.split('?')[1] || '';
  return Object.fromEntries(new URLSearchParams(query));
}

/** `?a=b&…` of the params that have a value (none empty, null or undefined), or ''. */
export function query(params) {
  const text = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== '' && v != null)).toString();
  return text ? `?${text}` : '';
}

/** Replaces the hash's query without adding a history entry per keystroke. */
export function setHashParams(page, params) {
  history.replaceState(null, '', `#/${page}${query(params)}`);
}

/** A row's primary key as text: a string as it is, else its JSON. */
export function pkText(pk) {
  return typeof pk === 'string' ? pk : JSON.stringify(pk);
}

/** The columns of a change: those of its before and after images, each once. */
export function columnsOf(change) {
  return [...new Set([...Object.keys(change.before || {}), ...Object.keys(change.after || {})])];
}
