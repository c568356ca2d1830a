// The overview: totals, alarms and listeners, and two live charts (message rates, queued messages)
// fed by polling /api/overview. Each chart has its latest values as text beside it, so nothing is
// said by the lines or their colours alone.
import { get } from './api.js';
import { field, formatNumber, h, select } from './dom.js';
import { report } from './table.js';
import uPlot from './vendor/uPlot.esm.js';

/** Samples kept per chart: ten minutes at the default interval. */
const samplesMax = 120;
const intervals = ['1', '5', '10', '30'];

/** Per-second rates: the server's `*_details.rate` where given, else the change since the last poll. */
function rates(stats, previous, seconds) {
  const rate = (key) => {
    const details = stats?.[`${key}_details`];
    if (typeof details?.rate === 'number') return details.rate;
    const now = stats?.[key];
    const before = previous?.[key];
    if (typeof now !== 'number' || typeof before !== 'number' || seconds <= 0) return 0;
    return Math.max(0, (now - before) / seconds);
  };
  return { publish: rate('publish'), deliver: rate('deliver_get') };
}

function chart(title, series, target, main) {
  // Two charts side by side on a wide screen, one above the other on a narrow one.
  const width = Math.round(Math.min(640, Math.max(300, (main.clientWidth - 120) / 2)));
  const options = {
    title,
    width,
    height: 220,
    series: [{}, ...series.map(([label, stroke, dash]) => ({ label, stroke, width: 2, dash }))],
    axes: [{}, { size: 60 }],
  };
  return new uPlot(options, [[], ...series.map(() => [])], target);
}

function totalsList(overview) {
  const o = overview.object_totals ?? {};
  const q = overview.queue_totals ?? {};
  const items = [
    ['Queued messages', q.messages],
    ['Ready', q.messages_ready],
    ['Unacknowledged', q.messages_unacknowledged],
    ['Connections', o.connections],
    ['Channels', o.channels],
    ['Queues', o.queues],
    ['Streams', o.streams],
    ['Exchanges', o.exchanges],
    ['Consumers', o.consumers],
    ['Virtual hosts', o.vhosts],
  ].filter(([, value]) => value !== undefined);
  return h(
    'dl',
    { class: 'totals', id: 'totals' },
    items.map(([label, value]) =>
      h('div', {}, h('dt', {}, label), h('dd', { 'data-total': label }, formatNumber(value))),
    ),
  );
}

function alarmsOf(overview) {
  const alarms = overview.alarms ?? [];
  if (alarms.length === 0) return h('p', { class: 'ok' }, 'No resource alarms');
  return h(
    'ul',
    {},
    alarms.map((alarm) =>
      h('li', { class: 'alarm' }, typeof alarm === 'string' ? alarm : JSON.stringify(alarm)),
    ),
  );
}

function listenersOf(overview) {
  return h(
    'table',
    {},
    h('caption', {}, 'Listeners'),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ['Protocol', 'Address', 'Port'].map((t) => h('th', { scope: 'col' }, t)),
      ),
    ),
    h(
      'tbody',
      {},
      (overview.listeners ?? []).map((l) =>
        h('tr', {}, h('td', {}, l.protocol), h('td', {}, l.ip_address), h('td', {}, l.port)),
      ),
    ),
  );
}

/** A uPlot chart over the last `samplesMax` samples; `push([timeS, ...values])` adds one. */
function liveChart(title, series, box, main) {
  const plot = chart(title, series, box, main);
  const data = [[], ...series.map(() => [])];
  return {
    push(values) {
      for (const [i, value] of values.entries()) data[i].push(value);
      if (data[0].length > samplesMax) for (const column of data) column.shift();
      plot.setData(data);
      box.dataset.samples = String(data[0].length);
    },
    destroy: () => plot.destroy(),
  };
}

/** Runs `poll` now and then every `every.value` seconds, one run at a time; returns a stop. */
function repeat(every, poll) {
  let timer;
  let generation = 0;
  const schedule = (mine) => {
    if (mine !== generation) return;
    timer = setTimeout(
      () =>
        poll()
          .catch(report)
          .finally(() => schedule(mine)),
      Number(every.value) * 1000,
    );
  };
  every.addEventListener('change', () => {
    localStorage.setItem('switchyard.interval', every.value);
    clearTimeout(timer);
    generation++;
    schedule(generation);
  });
  poll()
    .catch(report)
    .finally(() => schedule(generation));
  return () => {
    generation++;
    clearTimeout(timer);
  };
}

function latestText(r, q) {
  const n = (value) => formatNumber(value ?? 0);
  return `Latest: ${n(r.publish)} published/s, ${n(r.deliver)} delivered/s, ${n(q.messages)} queued (${n(q.messages_ready)} ready, ${n(q.messages_unacknowledged)} unacknowledged).`;
}

/** Renders into `main`; returns a function that stops the polling. */
export function overviewPage(main) {
  const every = select('interval', intervals, localStorage.getItem('switchyard.interval') ?? '5');
  const settings = h(
    'form',
    { class: 'pager', onsubmit: (e) => e.preventDefault() },
    field('Refresh every (seconds)', every),
  );
  const totals = h('div');
  const rateBox = h('div', { class: 'chart', role: 'img', 'aria-label': 'Message rates, per second' });
  const queuedBox = h('div', { class: 'chart', role: 'img', 'aria-label': 'Queued messages' });
  const latest = h('p', { id: 'latest', 'aria-live': 'off' });
  const details = h('div');
  const charts = h('div', { class: 'charts' }, rateBox, queuedBox);
  main.replaceChildren(h('h1', {}, 'Overview'), settings, totals, charts, latest, details);
  // Lines differ in dash as well as colour, and the legend names them.
  const rateChart = liveChart(
    'Message rates (per second)',
    [
      ['Published', '#0b57d0'],
      ['Delivered', '#b3261e', [6, 4]],
    ],
    rateBox,
    main,
  );
  const queuedChart = liveChart(
    'Queued messages',
    [
      ['Ready', '#146c2e'],
      ['Unacknowledged', '#7b1fa2', [6, 4]],
    ],
    queuedBox,
    main,
  );
  let previous;
  let previousAtS;
  const stop = repeat(every, async () => {
    const overview = await get('/api/overview');
    const atS = Date.now() / 1000;
    const r = rates(overview.message_stats, previous, previousAtS === undefined ? 0 : atS - previousAtS);
    previous = overview.message_stats;
    previousAtS = atS;
    const q = overview.queue_totals ?? {};
    rateChart.push([atS, r.publish, r.deliver]);
    queuedChart.push([atS, q.messages_ready ?? 0, q.messages_unacknowledged ?? 0]);
    latest.textContent = latestText(r, q);
    totals.replaceChildren(totalsList(overview));
    const sections = [
      h('h2', {}, 'Alarms'),
      alarmsOf(overview),
      h('h2', {}, 'Listeners'),
      listenersOf(overview),
    ];
    details.replaceChildren(...sections);
  });
  return () => {
    stop();
    rateChart.destroy();
    queuedChart.destroy();
  };
}
