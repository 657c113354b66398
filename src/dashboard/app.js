// The dashboard: hash routes (#/runs, #/run/<id>, #/queue, #/data/<table>, #/emails,
// #/charts), each a module that draws into <main> and returns what stops it.
import * as runs from './runs.js';
import * as run from './run.js';
import * as queue from './queue.js';
import * as data from './data.js';
import * as emails from './emails.js';
import * as charts from './charts.js';
import { failure } from './util.js';
import { get } from './api.js';

const pages = { runs, run, queue, data, emails, charts };
let stop = null;

function route() {
  const [path] = location.hash.replace(/^#\/?/, '').split('?');
  const [name, ...rest] = path.split('/');
  const page = pages[name] ? name : 'runs';
  // Every hash change is a navigation (a link, back, the address bar): a page's own filter
  // edits use replaceState, which fires none.
  if (stop) stop();
  stop = null;
  for (const link of document.querySelectorAll('nav a')) {
    link.classList.toggle('active', link.dataset.page === (page === 'run' ? 'runs' : page));
  }
  const main = document.getElementById('main');
  main.replaceChildren();
  document.title = `flux · ${page}`;
  try {
    stop = pages[page].render(main, decodeURIComponent(rest.join('/'))) || null;
  } catch (error) {
    main.append(failure(error));
  }
}

// What this session's token may do: a read-only one (read, deploy) hides the queue's actions,
// which the API would refuse (403) anyway.
get('health').then((health) => {
  const scope = health && health.scope;
  if (!scope) return;
  document.body.dataset.scope = scope;
  if (scope !== 'admin') document.getElementById('scope').textContent = `token scope: ${scope}`;
}).catch(() => { /* an older server: every action shown, refusals said where they happen */ });

window.addEventListener('hashchange', route);
route();
