// Queue: counts per worker, pause/resume, running jobs (cancel), the dead-letter queue
// (filter, replay one / selected / all matching, replay with an edited payload), and a JSON
// editor to enqueue a job or call a function by hand.
import { get, post } from './api.js';
import { editAndReplay } from './replay.js';
import { h, idLink, time, ago, roughly, hashParams, setHashParams, failure } from './util.js';

export function render(main) {
  const filters = { fn: '', q: '', ...hashParams() };
  const statsBox = h('section', { class: 'card', id: 'queue-stats' });
  const runningBox = h('section', { class: 'card', id: 'running' });
  const deadBox = h('section', { class: 'card', id: 'dead-letter' });
  const handBox = h('section', { class: 'card', id: 'by-hand' });
  const message = h('p', { class: 'message', id: 'queue-message', role: 'status' });
  main.append(h('h1', {}, 'Queue'), message, statsBox, runningBox, deadBox, handBox);
  let workers = [];

  const say = (text, bad) => { message.textContent = text; message.className = bad ? 'message error' : 'message ok'; };

  async function stats() {
    try {
      const answer = await get('queue/stats');
      workers = answer.stats.map((s) => s.function);
      const toggle = h('button', { type: 'button', class: 'needs-operate', id: answer.paused ? 'resume' : 'pause', onclick: async () => {
        try {
          await post(answer.paused ? 'queue/resume' : 'queue/pause');
          say(answer.paused ? 'The queue runs again.' : 'The queue is paused: jobs wait until it resumes.');
        } catch (error) { say(error.message, true); }
        refresh();
      } }, answer.paused ? 'Resume the queue' : 'Pause the queue');
      statsBox.replaceChildren(
        h('h2', {}, 'Workers ', answer.paused ? h('span', { class: 'badge status-interrupted' }, 'paused') : h('span', { class: 'badge status-ok' }, 'running')),
        answer.stats.length ? h('table', { class: 'counts' },
          h('thead', {}, h('tr', {}, ['Worker', 'Pending', 'Scheduled', 'Running', 'Done', 'Dead', 'Oldest pending'].map((t) => h('th', {}, t)))),
          h('tbody', {}, answer.stats.map((s) => h('tr', {},
            h('td', {}, h('a', { href: `#/runs?fn=${encodeURIComponent(s.function)}` }, s.function)),
            ...['pending', 'scheduled', 'running', 'done', 'dead'].map((k) => h('td', { class: `num ${k === 'dead' && s[k] ? 'error-text' : ''}` }, s[k] ?? 0)),
            h('td', { class: 'num' }, s.oldest_pending_age_us === null || s.oldest_pending_age_us === undefined ? '—' : roughly(s.oldest_pending_age_us))))))
          : h('p', { class: 'muted' }, 'No jobs yet.'),
        toggle);
      fillWorkers();
    } catch (error) { statsBox.replaceChildren(h('h2', {}, 'Workers'), failure(error)); }
  }

  async function running() {
    try {
      const { jobs } = await get('jobs', { state: 'running', limit: 100 });
      runningBox.replaceChildren(h('h2', {}, 'Running'), jobs.length ? h('table', {},
        h('tbody', {}, jobs.map((j) => h('tr', { 'data-job': j.id },
          h('td', {}, idLink(j.next_exec_id || j.last_record || j.id)),
          h('td', {}, j.name),
          h('td', { class: 'num' }, `attempt ${j.attempts + 1}/${j.max_attempts}`),
          h('td', { class: 'needs-operate' }, h('button', { type: 'button', class: 'danger', onclick: () => cancel(j) }, 'Cancel'))))))
        : h('p', { class: 'muted' }, 'No job is running.'));
    } catch (error) { runningBox.replaceChildren(h('h2', {}, 'Running'), failure(error)); }
  }

  async function cancel(job) {
    try {
      await post(`jobs/${job.id}/cancel`);
      say(`Job ${job.id.slice(0, 8)} is cancelled: it stops at its next await.`);
    } catch (error) {
      say(error.message, true);
    }
    refresh();
  }

  // The dead-letter queue, filtered by worker (server side) and text.
  const deadForm = h('form', { class: 'filters', id: 'dead-filters' },
    h('label', {}, 'Worker', h('select', { name: 'fn' }, h('option', { value: '' }, 'any'))),
    h('label', {}, 'Search', h('input', { type: 'search', name: 'q', value: filters.q, placeholder: 'error, payload' })));
  const deadTable = h('div');
  const selected = new Set();
  let shown = [];
  deadForm.addEventListener('input', () => {
    filters.fn = deadForm.elements.fn.value;
    filters.q = deadForm.elements.q.value.trim();
    setHashParams('queue', filters);
    dead();
  });
  deadForm.addEventListener('submit', (e) => e.preventDefault());

  async function dead() {
    try {
      const { dead: list } = await get('dead-letter', { fn: filters.fn, q: filters.q });
      shown = list;
      for (const id of [...selected]) if (!list.some((d) => d.job_id === id)) selected.delete(id);
      const all = h('input', { type: 'checkbox', title: 'select all shown', onchange: (e) => {
        for (const d of shown) e.target.checked ? selected.add(d.job_id) : selected.delete(d.job_id);
        dead();
      } });
      all.checked = list.length > 0 && list.every((d) => selected.has(d.job_id));
      deadTable.replaceChildren(list.length ? h('table', { class: 'dead' },
        h('thead', {}, h('tr', {}, h('th', {}, all), ...['Job', 'Worker', 'Attempts', 'Last error', 'Died', ''].map((t) => h('th', {}, t)))),
        h('tbody', {}, list.map((d) => {
          const box = h('input', { type: 'checkbox', onchange: (e) => { e.target.checked ? selected.add(d.job_id) : selected.delete(d.job_id); } });
          box.checked = selected.has(d.job_id);
          return h('tr', { 'data-job': d.job_id },
            h('td', {}, box),
            h('td', {}, idLink(d.job_id, `#/run/${d.id}`)),
            h('td', {}, d.function),
            h('td', { class: 'num' }, d.attempts),
            h('td', { class: 'error-text', title: d.error }, d.short_error || d.error),
            h('td', { title: time(d.died_at_us) }, `${ago(d.died_at_us)} ago`),
            h('td', { class: 'nowrap needs-operate' },
              h('button', { type: 'button', class: 'replay', onclick: () => replay([d.job_id]) }, 'Replay'), ' ',
              h('button', { type: 'button', class: 'edit', onclick: () => edit(d) }, 'Edit & replay')));
        })))
        : h('p', { class: 'muted' }, filters.fn || filters.q ? 'No dead job matches.' : 'The dead-letter queue is empty.'));
    } catch (error) { deadTable.replaceChildren(failure(error)); }
  }

  async function replay(ids, filter) {
    try {
      const { replayed } = await post('dead-letter/replay', filter ? { filter } : { ids });
      selected.clear();
      message.replaceChildren(`Replayed ${replayed.length} job${replayed.length === 1 ? '' : 's'}: `,
        ...replayed.slice(0, 20).flatMap((r) => [idLink(r.id), ' ']));
      message.className = 'message ok';
    } catch (error) { say(error.message, true); }
    refresh();
  }

  const editor = h('div', { class: 'editor', hidden: true });
  function edit(d) {
    editAndReplay(editor, d.job_id, d.function, (exec) => {
      message.replaceChildren('Replayed with the edited payload: ', idLink(exec));
      message.className = 'message ok';
      refresh();
    });
  }

  deadBox.append(h('h2', {}, 'Dead letters'), deadForm,
    h('div', { class: 'actions needs-operate' },
      h('button', { type: 'button', id: 'replay-selected', onclick: () => selected.size ? replay([...selected]) : say('Select jobs first.', true) }, 'Replay selected'), ' ',
      h('button', { type: 'button', id: 'replay-matching', onclick: () => replay(null, { fn: filters.fn || undefined, q: filters.q || undefined }) }, 'Replay all matching')),
    deadTable, editor);

  // By hand: enqueue a job, or call a function's route with a JSON body.
  const handWorker = h('input', { name: 'worker', list: 'worker-names', placeholder: 'worker', required: true });
  const handData = h('textarea', { rows: 5, spellcheck: 'false', class: 'json', name: 'data' }, '{}');
  const handRoute = h('input', { name: 'route', placeholder: '/create_user', value: '/' });
  const handMethod = h('select', { name: 'method' }, ['POST', 'GET', 'PUT', 'PATCH', 'DELETE'].map((m) => h('option', {}, m)));
  const handBody = h('textarea', { rows: 5, spellcheck: 'false', class: 'json', name: 'body' }, '{}');
  const handOut = h('div', { class: 'hand-out', role: 'status' });
  const json = (area) => { try { return [JSON.parse(area.value || 'null'), null]; } catch (e) { return [null, `Not JSON: ${e.message}`]; } };
  handBox.append(h('h2', {}, 'By hand'), h('div', { class: 'two' },
    h('form', { id: 'enqueue-form', class: 'needs-operate', onsubmit: async (e) => {
      e.preventDefault();
      const [data, bad] = json(handData);
      if (bad) { handOut.replaceChildren(h('p', { class: 'error' }, bad)); return; }
      try {
        const { jobs } = await post('jobs', { name: handWorker.value.trim(), data });
        handOut.replaceChildren(h('p', {}, `Enqueued ${jobs[0].name}: job `, idLink(jobs[0].id, `#/run/${jobs[0].exec_id}`), ', its first attempt ', idLink(jobs[0].exec_id)));
      } catch (error) { handOut.replaceChildren(failure(error)); }
      refresh();
    } }, h('h3', {}, 'Enqueue a job'), h('label', {}, 'Worker ', handWorker), h('datalist', { id: 'worker-names' }), h('label', {}, 'Data (JSON)', handData), h('button', { type: 'submit' }, 'Enqueue')),
    h('form', { id: 'invoke-form', onsubmit: async (e) => {
      e.preventDefault();
      const method = handMethod.value;
      const init = { method, credentials: 'same-origin' };
      if (method !== 'GET' && handBody.value.trim()) {
        const [, bad] = json(handBody);
        if (bad) { handOut.replaceChildren(h('p', { class: 'error' }, bad)); return; }
        init.headers = { 'content-type': 'application/json' };
        init.body = handBody.value;
      }
      try {
        const path = handRoute.value.trim().replace(/^\/*/, '/');
        const response = await fetch(path, init);
        const text = await response.text();
        const id = response.headers.get('x-flux-request-id');
        handOut.replaceChildren(h('p', {}, `${method} ${path} → ${response.status} `, id ? idLink(id) : ''), h('pre', { class: 'json' }, text));
      } catch (error) { handOut.replaceChildren(failure(error)); }
    } }, h('h3', {}, 'Call a function'), h('label', {}, 'Route ', handMethod, handRoute), h('label', {}, 'Body (JSON)', handBody), h('button', { type: 'submit' }, 'Call'))),
  handOut);

  function fillWorkers() {
    const select = deadForm.elements.fn;
    const names = new Set(workers);
    if (filters.fn) names.add(filters.fn);
    const current = filters.fn;
    select.replaceChildren(h('option', { value: '' }, 'any'), ...[...names].sort().map((n) => h('option', { value: n, selected: n === current }, n)));
    document.getElementById('worker-names')?.replaceChildren(...workers.map((n) => h('option', { value: n })));
  }

  function refresh() { stats(); running(); dead(); }
  refresh();
  // Counts and lists change as jobs run: a calm refresh every 2 s.
  const timer = setInterval(() => { if (!document.hidden && editor.hidden) refresh(); }, 2000);
  return () => clearInterval(timer);
}
