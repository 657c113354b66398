// Replaying a dead job, as it was or with an edited payload: the Queue page's dead letters
// and a dead job's attempt on the Run page share this.
import { get, post } from './api.js';
import { h, pretty, shortId } from './util.js';

/** Replays dead job `jobId`, with `data` as its new payload when given: its next attempt's id. */
export async function replayJob(jobId, data) {
  const answer = await post(`dead-letter/${encodeURIComponent(jobId)}/replay`, data === undefined ? undefined : { data });
  return answer.exec_id;
}

/** Shows the job's payload in `editor` as JSON to edit; `done(execId)` once it was replayed with it. */
export async function editAndReplay(editor, jobId, name, done) {
  let data = {};
  try { data = (await get(`jobs/${encodeURIComponent(jobId)}`)).job.data; } catch { /* start from {} */ }
  const area = h('textarea', { rows: 8, spellcheck: 'false', class: 'json', id: 'replay-data' }, pretty(data));
  const problem = h('p', { class: 'error' });
  editor.hidden = false;
  editor.replaceChildren(
    h('h3', {}, `Replay ${shortId(jobId)} (${name}) with this payload`), area, problem,
    h('button', { type: 'button', id: 'replay-edited', onclick: async () => {
      let parsed;
      try { parsed = JSON.parse(area.value); } catch (e) { problem.textContent = `Not JSON: ${e.message}`; return; }
      try {
        const exec = await replayJob(jobId, parsed);
        editor.hidden = true;
        done(exec);
      } catch (error) { problem.textContent = error.message; }
    } }, 'Replay with this payload'), ' ',
    h('button', { type: 'button', onclick: () => { editor.hidden = true; } }, 'Close'));
  area.focus();
}
