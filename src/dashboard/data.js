// Data: a table's (or one row's) history as a timeline, newest first, and for a row the blame:
// which run left each column's current value.
import { get } from './api.js';
import { h, idLink, time, iso, value, hashParams, setHashParams, failure, pkText, columnsOf } from './util.js';

export function render(main, table) {
  const filters = { id: '', ...hashParams() };
  const box = h('div');
  main.append(h('h1', {}, 'Data'), box);
  let alive = true;
  (async () => {
    let tables = [];
    try { ({ tables } = await get('schema')); } catch (error) { box.append(failure(error)); return; }
    if (!alive) return;
    const chosen = table || tables[0]?.name || '';
    const pick = h('select', { name: 'table', onchange: (e) => { location.hash = `#/data/${encodeURIComponent(e.target.value)}`; } },
      tables.map((t) => h('option', { value: t.name, selected: t.name === chosen }, t.name)));
    const row = h('input', { type: 'search', name: 'id', value: filters.id, placeholder: 'a row\'s key (blank: every row)', size: 28 });
    const timeline = h('div', { id: 'timeline' });
    const form = h('form', { class: 'filters' }, h('label', {}, 'Table', pick), h('label', {}, 'Row', row));
    form.addEventListener('submit', (e) => { e.preventDefault(); show(); });
    form.addEventListener('change', (e) => { if (e.target === row) show(); });
    box.append(tables.length ? form : h('p', { class: 'muted' }, 'The app has no tables yet (add a migration).'), timeline);

    async function show() {
      filters.id = row.value.trim();
      setHashParams(`data/${encodeURIComponent(chosen)}`, filters);
      if (!chosen) return;
      try {
        const { changes } = await get(`state/${encodeURIComponent(chosen)}`, { id: filters.id, limit: 200 });
        if (!alive) return;
        // replaceChildren would write a null as the text "null".
        timeline.replaceChildren(...[
          filters.id ? blame(changes) : null,
          h('h2', {}, filters.id ? `History of ${chosen} ${filters.id}` : `History of ${chosen}`),
          changes.length ? h('ol', { class: 'timeline' }, changes.map(change)) : h('p', { class: 'muted' }, 'No recorded change.'),
        ].filter(Boolean));
      } catch (error) { timeline.replaceChildren(failure(error)); }
    }
    show();
  })();
  return () => { alive = false; };
}

function change(c) {
  const changed = columnsOf(c).filter((k) => JSON.stringify((c.before || {})[k]) !== JSON.stringify((c.after || {})[k]));
  return h('li', { 'data-op': c.op },
    h('div', { class: 'when', title: iso(c.at_us) }, time(c.at_us)),
    h('div', {},
      h('p', {}, h('span', { class: `badge op-${c.op}` }, c.op), ' ',
        h('a', { href: `#/data/${encodeURIComponent(c.table)}?id=${encodeURIComponent(pkText(c.pk))}`, class: 'mono' }, pkText(c.pk)),
        ' by ', c.function || '?', ' ', idLink(c.record_id), c.committed ? '' : h('span', { class: 'badge status-error' }, 'rolled back')),
      h('table', { class: 'diff' }, h('tbody', {}, changed.map((k) => h('tr', {},
        h('td', { class: 'mono' }, k),
        h('td', { class: 'mono before' }, c.before ? value(c.before[k]) : '∅'),
        h('td', {}, '→'),
        h('td', { class: 'mono after' }, c.after ? value(c.after[k]) : '∅')))))));
}

/** For one row: the run that last set each column (committed changes, newest first). */
function blame(changes) {
  const committed = changes.filter((c) => c.committed);
  if (!committed.length) return null;
  const latest = committed[0];
  if (!latest.after) return h('p', { class: 'muted' }, 'The row was deleted by ', idLink(latest.record_id), '.');
  const rows = Object.keys(latest.after).map((column) => {
    // The oldest change, among the newest unbroken run of equal values, set it.
    let setter = latest;
    for (const c of committed) {
      if (!c.after || JSON.stringify(c.after[column]) !== JSON.stringify(latest.after[column])) break;
      if (!c.before || JSON.stringify(c.before[column]) !== JSON.stringify(c.after[column])) setter = c;
    }
    return h('tr', {}, h('td', { class: 'mono' }, column), h('td', { class: 'mono' }, value(latest.after[column])),
      h('td', {}, setter.function || '?', ' ', idLink(setter.record_id)), h('td', { title: iso(setter.at_us) }, time(setter.at_us)));
  });
  return h('section', { class: 'card', id: 'blame' }, h('h2', {}, 'Blame'), h('table', {},
    h('thead', {}, h('tr', {}, ['Column', 'Value', 'Set by', 'When'].map((t) => h('th', {}, t)))), h('tbody', {}, rows)));
}
