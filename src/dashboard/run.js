// A run: its header and links (attempts, enqueuer, enqueued jobs), the span waterfall, SQL,
// fetches, data changes, console lines, the error, input and output.
import { get } from './api.js';
import { replayJob, editAndReplay } from './replay.js';
import { h, idLink, copyButton, shortId, time, iso, duration, value, pretty, statusBadge, section, failure, pkText, columnsOf } from './util.js';

export function render(main, id) {
  main.append(h('p', { class: 'muted' }, `Loading ${shortId(id)}…`));
  let alive = true;
  load(id).then((content) => {
    if (alive) main.replaceChildren(...content);
  }, (error) => {
    if (alive) main.replaceChildren(h('h1', {}, `Run ${shortId(id)}`), failure(error));
  });
  return () => { alive = false; };
}

// A job just enqueued or replayed has no record until its first attempt is committed: its link
// is followed before that, so a 404 is asked again for a few seconds.
async function fetchRecord(id) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      return await get(`records/${encodeURIComponent(id)}`, { why: 1 });
    } catch (error) {
      if (error?.status !== 404 || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
  }
}

async function load(id) {
  const record = await fetchRecord(id);
  const jobId = record.links?.job_id;
  // A job's other attempts; a missing job (pruned) leaves the list out.
  const job = jobId ? await get(`jobs/${jobId}`).catch(() => null) : null;
  return [
    header(record),
    links(record, job),
    replay(record, job),
    waterfall(record),
    errorSection(record),
    why(record),
    changes(record),
    sql(record),
    fetches(record),
    consoleLines(record),
    uncaught(record),
    io(record),
  ].filter(Boolean);
}

function header(r) {
  const what = r.kind === 'http'
    ? `${r.method || ''} ${r.path || ''} ${r.http_status || ''}`
    : `job attempt ${r.links?.attempt ?? '?'}/${r.links?.max_attempts ?? '?'}`;
  return h('div', { class: 'run-header' },
    h('h1', {}, r.function, ' ', statusBadge(r.status)),
    h('p', { class: 'meta' },
      h('span', { class: 'mono' }, what), ' · ',
      duration(r.duration_us), ' · ',
      h('span', { title: iso(r.started_at_us) }, time(r.started_at_us)), ' · ',
      h('span', { class: 'mono', title: r.id }, `${r.kind === 'http' ? 'req' : 'exec'}:${shortId(r.id)}`), copyButton(r.id),
      r.code_version ? h('span', { class: 'muted' }, ` · code ${r.code_version}`) : null));
}

function links(r, job) {
  const items = [];
  const l = r.links || {};
  if (l.job_id) items.push(h('li', {}, 'job ', idLink(l.job_id, `#/run/${l.job_id}`), job ? ` · ${job.job.state} · ${job.job.attempts}/${job.job.max_attempts} attempts` : ''));
  if (l.enqueued_by) items.push(h('li', {}, 'enqueued by ', idLink(l.enqueued_by)));
  else if (r.input?.enqueuedBy) items.push(h('li', {}, 'enqueued by ', idLink(r.input.enqueuedBy)));
  if (l.previous_attempt) items.push(h('li', {}, 'previous attempt ', idLink(l.previous_attempt)));
  if (l.replay_of) items.push(h('li', {}, 'replay of the dead attempt ', idLink(l.replay_of), l.edited_data ? h('span', { class: 'badge status-interrupted' }, 'edited payload') : ''));
  if (job?.attempts?.length) {
    items.push(h('li', {}, 'attempts ', h('ol', { class: 'attempts' }, job.attempts.map((a) =>
      h('li', { class: a.id === r.id ? 'current' : null }, idLink(a.id), ' ', statusBadge(a.status), ' ', duration(a.duration_us), a.error ? h('span', { class: 'error-text' }, ` ${a.error}`) : '')))));
  }
  const enqueued = (r.spans || []).filter((s) => s.attrs?.job_id);
  if (enqueued.length) {
    items.push(h('li', {}, 'enqueued ', enqueued.map((s) => h('span', { class: 'pill' }, s.attrs.job || '', ' ', idLink(s.attrs.job_id), s.attrs.duplicate ? ' (duplicate)' : ''))));
  }
  if (!items.length) return null;
  return h('section', { class: 'card links' }, h('ul', {}, items));
}

/** For an attempt of a dead job: replay it, as it was or with an edited payload. */
function replay(r, job) {
  if (job?.job?.state !== 'dead') return null;
  const message = h('span', { class: 'message', id: 'run-replay-message', role: 'status' });
  const editor = h('div', { class: 'editor', hidden: true });
  const replayed = (exec, edited) => {
    buttons.hidden = true;
    message.className = 'message ok';
    message.replaceChildren(`Replayed${edited ? ' with the edited payload' : ''}: its next attempt `, idLink(exec));
  };
  const buttons = h('span', {}, `The job is dead after ${job.job.attempts} attempt${job.job.attempts === 1 ? '' : 's'}. `,
    h('button', { type: 'button', id: 'run-replay', onclick: async () => {
      try { replayed(await replayJob(job.job.id)); } catch (error) { message.className = 'message error'; message.textContent = error.message; }
    } }, 'Replay'), ' ',
    h('button', { type: 'button', id: 'run-replay-edit', onclick: () => editAndReplay(editor, job.job.id, r.function, (exec) => replayed(exec, true)) }, 'Edit & replay'));
  return section('Replay', h('p', {}, buttons, message), editor);
}

/** The spans as bars on one time axis, nested under their parents, with call sites. */
function waterfall(r) {
  const spans = r.spans || [];
  if (!spans.length) return null;
  const total = Math.max(r.duration_us || 0, ...spans.map((s) => s.start_us + s.duration_us), 1);
  const depth = new Map();
  const byId = new Map(spans.map((s) => [s.id, s]));
  const depthOf = (s, seen = 0) => {
    if (depth.has(s.id)) return depth.get(s.id);
    const parent = s.parent !== undefined && s.parent !== null ? byId.get(s.parent) : null;
    const d = parent && seen < 64 ? depthOf(parent, seen + 1) + 1 : 0;
    depth.set(s.id, d);
    return d;
  };
  // Children right under their parent, in start order.
  const ordered = [];
  const children = new Map();
  for (const s of spans) {
    const key = s.parent ?? -1;
    if (!children.has(key)) children.set(key, []);
    children.get(key).push(s);
  }
  const walk = (key) => {
    for (const s of (children.get(key) || []).sort((a, b) => a.start_us - b.start_us)) {
      ordered.push(s);
      if (s.id !== key) walk(s.id);
    }
  };
  walk(-1);
  for (const s of spans) if (!ordered.includes(s)) ordered.push(s);
  const rows = ordered.map((s) => {
    const left = (s.start_us / total) * 100;
    const width = Math.max((s.duration_us / total) * 100, 0.4);
    const detail = spanDetail(s);
    return h('div', { class: 'span-row', 'data-status': s.status, 'data-span': s.name },
      h('div', { class: 'span-name', style: null, title: s.error || s.name },
        h('span', { class: 'indent', 'data-depth': Math.min(depthOf(s), 12) }),
        h('span', { class: 'mono' }, s.name),
        s.location ? h('span', { class: 'location' }, s.location) : null,
        detail ? h('div', { class: 'span-detail' }, detail) : null),
      h('div', { class: 'span-track' },
        h('div', { class: 'span-bar', 'data-left': left.toFixed(2), 'data-width': width.toFixed(2) })),
      h('div', { class: 'span-duration' }, duration(s.duration_us)));
  });
  const el = section('Waterfall', h('div', { class: 'waterfall', id: 'waterfall' }, rows));
  // Positions are set through the CSSOM: the page's CSP allows no inline style attributes.
  for (const bar of el.querySelectorAll('.span-bar')) {
    bar.style.left = `${bar.dataset.left}%`;
    bar.style.width = `${bar.dataset.width}%`;
  }
  for (const indent of el.querySelectorAll('.indent')) indent.style.width = `${Number(indent.dataset.depth) * 14}px`;
  return el;
}

function spanDetail(s) {
  const a = s.attrs || {};
  if (s.name === 'fetch') return `${a.method || 'GET'} ${a.url || ''}${a.status ? ` → ${a.status}` : ''}${a.aborted ? ` aborted: ${a.aborted}` : ''}`;
  if (s.error) return s.error;
  if (a.outcome) return a.outcome;
  if (a.to) return `to ${a.to}${a.subject ? `: ${a.subject}` : ''}`;
  return '';
}

function sql(r) {
  const statements = (r.spans || []).filter((s) => s.attrs?.sql);
  return section('SQL', statements.length ? h('table', { class: 'sql' },
    h('thead', {}, h('tr', {}, h('th', {}, 'Statement'), h('th', {}, 'Parameters'), h('th', {}, 'Rows'), h('th', {}, 'Time'), h('th', {}, 'Where'))),
    h('tbody', {}, statements.map((s) => h('tr', { 'data-status': s.status },
      h('td', {}, h('code', {}, s.attrs.sql), s.error ? h('div', { class: 'error-text' }, s.error) : null),
      h('td', { class: 'mono' }, (s.attrs.params || []).map((p, i) => h('div', {}, `$${i + 1} = ${value(p)}`))),
      h('td', { class: 'num' }, s.attrs.rows ?? ''),
      h('td', { class: 'num' }, duration(s.duration_us)),
      h('td', { class: 'location' }, s.location || ''))))) : null);
}

function fetches(r) {
  const calls = (r.spans || []).filter((s) => s.name === 'fetch');
  return section('Fetches', calls.length ? h('table', {},
    h('tbody', {}, calls.map((s) => h('tr', { 'data-status': s.status },
      h('td', { class: 'mono' }, s.attrs?.method || 'GET'),
      h('td', { class: 'mono wrap' }, s.attrs?.url || ''),
      h('td', {}, s.attrs?.status ? h('span', { class: `badge ${s.attrs.status >= 400 ? 'status-error' : 'status-ok'}` }, s.attrs.status) : (s.error || s.attrs?.aborted || '')),
      h('td', { class: 'num' }, duration(s.duration_us)),
      h('td', { class: 'location' }, s.location || ''))))) : null);
}

/** Each changed row with its columns before and after; changed columns stand out. */
function changes(r) {
  const mutations = r.mutations || [];
  return section('Data changes', mutations.map((m) => {
    return h('div', { class: 'change' },
      h('h3', {}, h('a', { href: `#/data/${encodeURIComponent(m.table)}?id=${encodeURIComponent(pkText(m.pk))}` }, `${m.table} ${pkText(m.pk)}`), ' ',
        h('span', { class: `badge op-${m.op}` }, m.op), m.committed ? '' : h('span', { class: 'badge status-error' }, 'rolled back')),
      h('table', { class: 'diff' },
        h('thead', {}, h('tr', {}, h('th', {}, 'Column'), h('th', {}, 'Before'), h('th', {}, 'After'))),
        h('tbody', {}, columnsOf(m).map((c) => {
          const before = m.before ? m.before[c] : undefined;
          const after = m.after ? m.after[c] : undefined;
          const same = JSON.stringify(before) === JSON.stringify(after);
          return h('tr', { class: same ? 'same' : 'changed' },
            h('td', { class: 'mono' }, c),
            h('td', { class: 'mono before' }, m.before ? value(before) : '∅'),
            h('td', { class: 'mono after' }, m.after ? value(after) : '∅'));
        }))));
  }));
}

function consoleLines(r) {
  const lines = r.console || [];
  const dropped = r.dropped;
  return section('Console', lines.length ? h('pre', { class: 'console' }, lines.map((l) =>
    h('div', { class: `level-${l.level}` }, h('span', { class: 'muted' }, `+${duration(l.at_us)} ${l.level.padEnd(5)} `), l.message))) : null,
  dropped && (dropped.console_lines || dropped.spans) ? h('p', { class: 'muted' }, `${dropped.console_lines || 0} console lines and ${dropped.spans || 0} spans were over the limits and not kept.`) : null);
}

function errorBlock(e) {
  const source = Array.isArray(e.source) ? e.source : null;
  return [
    h('p', { class: 'error-title' }, h('strong', {}, `${e.name}: `), e.message),
    e.location ? h('p', {}, 'at ', h('span', { class: 'location' }, e.location)) : null,
    // Source lines come with the record when the server has them: the failing line marked.
    source ? h('pre', { class: 'source' }, source.map((l) => h('div', { class: l.current ? 'current' : null }, `${String(l.line).padStart(4)}  ${l.text}`))) : currentSource(e.location),
    e.frames?.length ? h('ul', { class: 'frames' }, e.frames.map((f) => h('li', { class: f.package ? 'muted' : null }, `${f.function || '<anonymous>'} `, h('span', { class: 'location' }, `${f.file}:${f.line}${f.column ? `:${f.column}` : ''}`)))) : null,
  ];
}

/** The lines around `file.ts:line` in the function's source as it is now, filled in once read. */
function currentSource(location) {
  const match = /^(.+):(\d+)$/.exec(location || '');
  if (!match) return null;
  const [, file, at] = match;
  const line = Number(at);
  const box = h('div', { class: 'source-box' });
  fetch(`/_flux/source/${file.split('/').map(encodeURIComponent).join('/')}`, { credentials: 'same-origin' })
    .then((r) => (r.ok ? r.text() : null))
    .then((text) => {
      if (text === null) return;
      const lines = text.split('\n');
      const from = Math.max(1, line - 3);
      const to = Math.min(lines.length, line + 3);
      const shown = [];
      for (let n = from; n <= to; n++) shown.push(h('div', { class: n === line ? 'current' : null }, `${String(n).padStart(4)}  ${lines[n - 1]}`));
      box.replaceChildren(h('pre', { class: 'source' }, shown), h('p', { class: 'muted' }, `${file} as it is now`));
    }, () => {});
  return box;
}

function errorSection(r) {
  if (!r.error) return null;
  const el = section('Error', errorBlock(r.error));
  el.classList.add('error-card');
  el.id = 'error';
  return el;
}

function uncaught(r) {
  const list = r.uncaught || [];
  return section('Uncaught', list.map((u) => h('div', { class: 'uncaught' }, h('p', { class: 'muted' }, `${u.origin} at +${duration(u.at_us)}${u.after_end ? ' (after the function returned)' : ''}`), errorBlock(u.error))));
}

/** What `flux why` answers, when the record or the server carries it; else how to ask. */
function why(r) {
  if (r.status === 'ok' && !(r.uncaught || []).length) return null;
  const answer = r.why;
  if (answer) return section('Why', h('pre', { class: 'why' }, typeof answer === 'string' ? answer : pretty(answer)));
  return section('Why', h('p', {}, 'In a terminal: ', h('code', {}, `flux why ${shortId(r.id)}`), copyButton(`flux why ${r.id}`)));
}

function io(r) {
  return section('Input and output',
    h('details', { open: true }, h('summary', {}, 'Input'), h('pre', { class: 'json' }, pretty(r.input))),
    r.output !== undefined && r.output !== null ? h('details', {}, h('summary', {}, 'Output'), h('pre', { class: 'json' }, pretty(r.output))) : null);
}
