// Runs: the records, newest first, filtered by the server, paged by its cursor, and kept
// live by the tail websocket (resumed by seq after a reconnect, drawn in batches).
import { get, tailUrl } from './api.js';
import { h, idLink, time, iso, duration, statusBadge, hashParams, setHashParams, failure } from './util.js';

const PAGE = 50;
/** Rows kept on screen: past this the oldest go. Each draw lays out the whole table, in time
 * proportional to its rows: 1,000 rows took 30-100 ms a draw during a burst, 300 about a third. */
const MAX_ROWS = 300;
/** Live rows are drawn at most this often: each draw lays the table out again, so a burst is
 * drawn a few times a second in batches rather than in every frame. */
const DRAW_EVERY_MS = 250;
/** After a draw of a batch this large, the next waits longer (DRAW_BURST_EVERY_MS): a burst of
 * a thousand runs a second is then drawn once a second, each time the newest MAX_ROWS (the
 * rest would be trimmed at once), instead of four times with most rows drawn only to go. */
const BURST_BATCH = 100;
const DRAW_BURST_EVERY_MS = 1000;
/** New rows are highlighted only while they come slower than this many a second. */
const CALM_PER_S = 20;
const RANGES = { '': 'any time', '15m': 'last 15 minutes', '1h': 'last hour', '24h': 'last day', '7d': 'last 7 days', custom: 'from… to…' };
const STATUSES = ['', 'ok', 'error', 'timeout', 'interrupted', 'cancelled'];

export function render(main) {
  const filters = { type: '', fn: '', status: '', range: '', from: '', to: '', q: '', ...hashParams() };
  const state = { next: null, ids: new Set(), pending: [], frame: 0, timer: 0, lastDraw: 0, drawEvery: DRAW_EVERY_MS, socket: null, lastSeq: null, closed: false, retry: 0, trimmed: false, generation: 0, since: null };

  const field = (name, control) => h('label', {}, name, control);
  const select = (name, options) => h('select', { name },
    ...Object.entries(options).map(([v, label]) => h('option', { value: v, selected: filters[name] === v }, label)));
  const form = h('form', { class: 'filters', id: 'run-filters' },
    field('Type', select('type', { '': 'all', http: 'http', job: 'job' })),
    field('Function', h('input', { name: 'fn', value: filters.fn, placeholder: 'any', list: 'functions', size: 14 })),
    field('Status', select('status', Object.fromEntries(STATUSES.map((s) => [s, s || 'any'])))),
    field('Time', select('range', RANGES)),
    // A custom range: local times, sent to the server as since= and until=.
    h('label', { class: 'custom-range' }, 'From', h('input', { name: 'from', type: 'datetime-local', step: 1, value: filters.from })),
    h('label', { class: 'custom-range' }, 'To', h('input', { name: 'to', type: 'datetime-local', step: 1, value: filters.to })),
    field('Search', h('input', { name: 'q', type: 'search', value: filters.q, placeholder: 'inputs, errors, console', size: 24 })),
    h('datalist', { id: 'functions' }),
  );
  const note = h('p', { class: 'note muted' });
  const body = h('tbody');
  const table = h('table', { class: 'runs', id: 'runs' },
    h('thead', {}, h('tr', {}, ['Time', 'Id', 'Type', 'Function', 'Detail', 'Status', 'Duration', 'Error'].map((t) => h('th', {}, t)))),
    body);
  const more = h('button', { type: 'button', class: 'more', hidden: true, onclick: () => load(true) }, 'Older runs');
  main.append(h('h1', {}, 'Runs'), form, note, table, more);
  const showRange = () => {
    for (const label of form.querySelectorAll('.custom-range')) label.hidden = filters.range !== 'custom';
  };
  showRange();
  /** The custom range in µs since the epoch ([since, until), either end open), or none. */
  const customRange = () => {
    if (filters.range !== 'custom') return null;
    const us = (text) => (text && !Number.isNaN(Date.parse(text)) ? Date.parse(text) * 1000 : null);
    return { since: us(filters.from), until: us(filters.to) };
  };
  const isoOf = (us) => (us === null ? '' : new Date(us / 1000).toISOString());

  let debounce = 0;
  const changed = () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      for (const key of Object.keys(filters)) filters[key] = (form.elements[key]?.value || '').trim();
      setHashParams('runs', filters);
      showRange();
      reset();
    }, 200);
  };
  form.addEventListener('input', changed);
  form.addEventListener('submit', (e) => { e.preventDefault(); changed(); });

  const functions = new Set();
  const noteFunction = (name) => {
    if (!name || functions.has(name)) return;
    functions.add(name);
    document.getElementById('functions')?.append(h('option', { value: name }));
  };

  function row(r, fresh) {
    noteFunction(r.function);
    const detail = r.kind === 'http'
      ? `${r.method || ''} ${r.path || ''}${r.http_status ? ` → ${r.http_status}` : ''}`
      : `attempt ${r.attempt ?? '?'}/${r.max_attempts ?? '?'}`;
    const status = r.status === 'ok' && r.uncaught ? statusBadge('ok', '(uncaught)') : statusBadge(r.status);
    return h('tr', { 'data-id': r.id, 'data-status': r.status, class: fresh ? 'fresh' : null, onclick: (e) => { if (!e.target.closest('a,button')) location.hash = `#/run/${r.id}`; } },
      h('td', { title: iso(r.started_at_us), class: 'nowrap' }, time(r.started_at_us)),
      h('td', {}, idLink(r.id)),
      h('td', {}, r.kind),
      h('td', {}, h('a', { href: `#/runs?fn=${encodeURIComponent(r.function)}` }, r.function)),
      h('td', { class: 'mono' }, detail),
      h('td', {}, status),
      h('td', { class: 'num' }, duration(r.duration_us)),
      h('td', { class: 'error-text', title: r.error || '' }, r.error || ''));
  }

  let loading = 0;
  async function load(older) {
    const token = ++loading;
    const range = customRange();
    const p = { limit: PAGE, type: filters.type, fn: filters.fn, status: filters.status, q: filters.q,
      since: range ? isoOf(range.since) : filters.range, until: range ? isoOf(range.until) : '' };
    if (older && state.next) p.before = state.next;
    more.disabled = true;
    try {
      const answer = await get('records', p);
      if (token !== loading) return;
      const rows = (answer.records || []).filter((r) => !state.ids.has(r.id));
      for (const r of rows) state.ids.add(r.id);
      body.append(...rows.map((r) => row(r, false)));
      state.next = answer.next || null;
      more.hidden = !state.next || state.trimmed;
      note.textContent = '';
      if (!body.children.length) {
        // A search of 1-2 characters looks through a bounded number of runs per page.
        note.textContent = state.next
          ? 'None of the newest runs match: “Older runs” looks further back.'
          : 'No runs match these filters yet: they appear here as they happen.';
      }
    } catch (error) {
      note.replaceChildren(failure(error));
    } finally {
      more.disabled = false;
    }
  }

  // Live: events are queued and drawn in the next frame, at most every DRAW_EVERY_MS.
  function enqueue(event) {
    const r = event.record;
    if (!r || state.ids.has(r.id)) return;
    // The tail has no until=: runs past a custom range's end are left out here.
    const range = customRange();
    if (range && ((range.until !== null && r.started_at_us >= range.until) || (range.since !== null && r.started_at_us < range.since))) return;
    state.pending.push(r);
    if (state.pending.length > MAX_ROWS) state.pending.splice(0, state.pending.length - MAX_ROWS);
    if (state.frame || state.timer) return;
    const wait = state.lastDraw + state.drawEvery - performance.now();
    if (wait <= 0) state.frame = requestAnimationFrame(flush);
    else state.timer = setTimeout(() => { state.timer = 0; state.frame = requestAnimationFrame(flush); }, wait);
  }

  function flush(now) {
    state.frame = 0;
    const batch = state.pending;
    state.pending = [];
    // A burst is drawn without the highlight: animating hundreds of rows is what would stall.
    const highlight = (batch.length * 1000) / Math.max(now - state.lastDraw, DRAW_EVERY_MS) < CALM_PER_S;
    state.lastDraw = now;
    state.drawEvery = batch.length >= BURST_BATCH ? DRAW_BURST_EVERY_MS : DRAW_EVERY_MS;
    const fragment = document.createDocumentFragment();
    let added = 0;
    for (let i = batch.length - 1; i >= 0; i--) {
      const r = batch[i];
      if (state.ids.has(r.id)) continue;
      state.ids.add(r.id);
      fragment.append(row(r, highlight));
      added += 1;
    }
    if (added >= MAX_ROWS) {
      // The whole list is new: replace it at once rather than trim it row by row.
      for (const tr of body.children) state.ids.delete(tr.dataset.id);
      body.replaceChildren(fragment);
    } else {
      body.prepend(fragment);
    }
    let trimmed = added >= MAX_ROWS && body.children.length > 0;
    if (body.children.length > MAX_ROWS) {
      // The oldest rows go in one removal, not one by one.
      const range = document.createRange();
      range.setStartBefore(body.children[MAX_ROWS]);
      range.setEndAfter(body.lastElementChild);
      for (let i = MAX_ROWS; i < body.children.length; i++) state.ids.delete(body.children[i].dataset.id);
      range.deleteContents();
      trimmed = true;
    }
    if (trimmed) {
      // Older pages would no longer follow on from what is shown.
      state.trimmed = true;
      more.hidden = true;
    }
    if (body.children.length && note.textContent.startsWith('No runs')) note.textContent = '';
  }

  const live = document.getElementById('live');
  function connect() {
    if (state.closed) return;
    const p = { type: filters.type, fn: filters.fn, status: filters.status, q: filters.q };
    // After a reconnect (flux dev restarted, the network blinked) the tail replays from the
    // last event seen, so nothing committed meanwhile is missed.
    if (state.lastSeq !== null) p.after = state.lastSeq;
    else if (state.since) p.since = state.since;
    const socket = new WebSocket(tailUrl(p));
    state.socket = socket;
    socket.onopen = () => { state.retry = 0; live.textContent = '● live'; live.className = 'live on'; };
    socket.onmessage = (message) => {
      let event;
      try { event = JSON.parse(message.data); } catch { return; }
      if (typeof event.seq === 'number') {
        state.lastSeq = Math.max(state.lastSeq ?? 0, event.seq);
        enqueue(event);
      } else if (event.missed) {
        note.textContent = `${event.missed} runs arrived faster than they could be sent here: reload to see them all.`;
      }
    };
    socket.onclose = () => {
      if (state.closed) return;
      live.textContent = '○ reconnecting…';
      live.className = 'live off';
      state.retry = Math.min(state.retry + 1, 8);
      setTimeout(connect, Math.min(2000, 100 * 2 ** state.retry));
    };
  }

  function reset() {
    state.ids.clear();
    state.pending = [];
    clearTimeout(state.timer);
    cancelAnimationFrame(state.frame);
    state.timer = 0;
    state.frame = 0;
    state.next = null;
    state.trimmed = false;
    state.lastSeq = null;
    body.replaceChildren();
    if (state.socket) { state.socket.onclose = null; state.socket.close(); }
    // The feed starts a little before the list was read (the overlap is dropped by id), and
    // only once the list was read.
    state.since = new Date(Date.now() - 2000).toISOString();
    const generation = ++state.generation;
    load(false).finally(() => { if (generation === state.generation && !state.closed) connect(); });
  }

  reset();
  return () => {
    state.closed = true;
    cancelAnimationFrame(state.frame);
    clearTimeout(state.timer);
    if (state.socket) { state.socket.onclose = null; state.socket.close(); }
    live.textContent = '';
  };
}
