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
  const width = Math.round(Math.min(640, Math.max(300, (main.clientWidth - 80) / 2)));
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

/** Renders into `main`; returns a function that stops the polling. */
export function overviewPage(main) {
  const heading = h('h1', {}, 'Overview');
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
  main.replaceChildren(
    heading,
    settings,
    totals,
    h('div', { class: 'charts' }, rateBox, queuedBox),
    latest,
    details,
  );
  const rateChart = chart(
    'Message rates (per second)',
    [
      ['Published', '#0b57d0'],
      ['Delivered', '#b3261e', [6, 4]],
    ],
    rateBox,
    main,
  );
  const queuedChart = chart(
    'Queued messages',
    [
      ['Ready', '#146c2e'],
      ['Unacknowledged', '#7b1fa2', [6, 4]],
    ],
    queuedBox,
    main,
  );
  const rateData = [[], [], []];
  const queuedData = [[], [], []];
  let previous;
  let previousAtS;
  let timer;
  let stopped = false;
  const push = (data, values) => {
    for (const [i, value] of values.entries()) data[i].push(value);
    if (data[0].length > samplesMax) for (const column of data) column.shift();
  };
  async function poll() {
    const overview = await get('/api/overview');
    const atS = Date.now() / 1000;
    const r = rates(overview.message_stats, previous, previousAtS === undefined ? 0 : atS - previousAtS);
    previous = overview.message_stats;
    previousAtS = atS;
    const q = overview.queue_totals ?? {};
    push(rateData, [atS, r.publish, r.deliver]);
    push(queuedData, [atS, q.messages_ready ?? 0, q.messages_unacknowledged ?? 0]);
    rateChart.setData(rateData);
    queuedChart.setData(queuedData);
    rateBox.dataset.samples = String(rateData[0].length);
    queuedBox.dataset.samples = String(queuedData[0].length);
    latest.textContent = `Latest: ${formatNumber(r.publish)} published/s, ${formatNumber(r.deliver)} delivered/s, ${formatNumber(q.messages ?? 0)} queued (${formatNumber(q.messages_ready ?? 0)} ready, ${formatNumber(q.messages_unacknowledged ?? 0)} unacknowledged).`;
    totals.replaceChildren(totalsList(overview));
    details.replaceChildren(
      h('h2', {}, 'Alarms'),
      alarmsOf(overview),
      h('h2', {}, 'Listeners'),
      listenersOf(overview),
    );
  }
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => poll().catch(report).finally(schedule), Number(every.value) * 1000);
  };
  every.addEventListener('change', () => {
    localStorage.setItem('switchyard.interval', every.value);
    clearTimeout(timer);
    schedule();
  });
  poll().catch(report).finally(schedule);
  return () => {
    stopped = true;
    clearTimeout(timer);
    rateChart.destroy();
    queuedChart.destroy();
  };
}
