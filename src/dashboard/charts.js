// Charts: runs and failures per minute over the last hour, all functions and each one, as
// plain SVG bars (failures in red over the runs).
import { get } from './api.js';
import { h, svg, failure } from './util.js';

const MINUTES = 60;
const MINUTE_MS = 60_000;

export function render(main) {
  const box = h('div', { id: 'charts' });
  main.append(h('h1', {}, 'Charts'), h('p', { class: 'legend' }, h('span', { class: 'swatch runs' }), ' runs per minute ', h('span', { class: 'swatch failures' }), ' failures per minute, over the last hour'), box);
  let alive = true;
  async function draw() {
    try {
      const { minutes } = await get('stats/minutes', { last: '1h' });
      if (!alive) return;
      const end = Math.floor(Date.now() / MINUTE_MS) * MINUTE_MS;
      const start = end - (MINUTES - 1) * MINUTE_MS;
      const byFn = new Map();
      const total = new Map();
      for (const m of minutes) {
        const t = Math.floor(Date.parse(m.minute) / MINUTE_MS) * MINUTE_MS;
        if (t < start || t > end) continue;
        if (!byFn.has(m.fn)) byFn.set(m.fn, new Map());
        for (const map of [byFn.get(m.fn), total]) {
          const cell = map.get(t) || { runs: 0, failures: 0 };
          cell.runs += m.runs;
          cell.failures += m.failures;
          map.set(t, cell);
        }
      }
      const charts = [chart('All functions', total, start, true)];
      for (const fn of [...byFn.keys()].sort()) charts.push(chart(fn, byFn.get(fn), start, false));
      box.replaceChildren(...(minutes.length ? charts : [h('p', { class: 'muted' }, 'No run in the last hour.')]));
    } catch (error) { if (alive) box.replaceChildren(failure(error)); }
  }
  draw();
  const timer = setInterval(() => { if (!document.hidden) draw(); }, 10_000);
  return () => { alive = false; clearInterval(timer); };
}

function chart(title, cells, start, big) {
  const width = 720;
  const height = big ? 160 : 90;
  const top = 14;
  const bottom = 18;
  const left = 36;
  const plot = height - top - bottom;
  const slot = (width - left) / MINUTES;
  let max = 1;
  let runs = 0;
  let failures = 0;
  for (const c of cells.values()) { max = Math.max(max, c.runs); runs += c.runs; failures += c.failures; }
  const y = (n) => top + plot - (n / max) * plot;
  const bars = [];
  for (let i = 0; i < MINUTES; i++) {
    const t = start + i * MINUTE_MS;
    const c = cells.get(t);
    if (!c) continue;
    const x = left + i * slot + 1;
    const label = `${new Date(t).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', hour12: false })}: ${c.runs} runs, ${c.failures} failed`;
    bars.push(svg('rect', { class: 'bar-runs', x, y: y(c.runs), width: Math.max(slot - 2, 1), height: top + plot - y(c.runs) }, svg('title', {}, label)));
    if (c.failures) bars.push(svg('rect', { class: 'bar-failures', x, y: y(c.failures), width: Math.max(slot - 2, 1), height: top + plot - y(c.failures) }, svg('title', {}, label)));
  }
  const ticks = [];
  for (const ago of [60, 45, 30, 15, 0]) {
    const x = left + (MINUTES - 1 - Math.min(ago, MINUTES - 1)) * slot + slot / 2;
    // The last label ends at the right edge instead of running past it.
    ticks.push(svg('text', { x: ago ? x : width, y: height - 4, class: 'tick', 'text-anchor': ago ? 'middle' : 'end' }, ago ? `-${ago}m` : 'now'));
  }
  return h('figure', { class: 'chart', 'data-fn': title },
    h('figcaption', {}, h('strong', {}, title), ` · ${runs} runs, `, h('span', { class: failures ? 'error-text' : '' }, `${failures} failed`)),
    svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': `${title}: ${runs} runs, ${failures} failed in the last hour` },
      svg('line', { x1: left, x2: width, y1: top + plot, y2: top + plot, class: 'axis' }),
      svg('line', { x1: left, x2: width, y1: top, y2: top, class: 'grid' }),
      svg('text', { x: left - 6, y: top + 4, class: 'tick', 'text-anchor': 'end' }, String(max)),
      svg('text', { x: left - 6, y: top + plot, class: 'tick', 'text-anchor': 'end' }, '0'),
      ...bars, ...ticks));
}
