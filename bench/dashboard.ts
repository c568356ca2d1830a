/**
 * `npm run bench -- dashboard`: the management API and the dashboard against many queues. For 10,000
 * and 100,000 durable queues (memory storage, declared through core; every 100th holds a message),
 * the admin API's answer times for the overview, pages of `/api/queues` (first, middle, a name filter,
 * a regular expression, sorted by name backwards, sorted by messages), one queue, `/api/vhosts`,
 * `/api/exchanges`, `/api/bindings` and both `/metrics` endpoints; then in Chromium the time from
 * loading the page (logged in) to the overview's totals, and from a click on "Queues and streams" to
 * the first row of the listing. The browser part is skipped without /usr/bin/chromium.
 * `DASHBOARD_BENCH_QUEUES=10000` runs one size only.
 */
import { performance } from 'node:perf_hooks';
import { startTestBroker, type TestBroker } from '../testing/broker.js';
import { browserMissing, launchChromium, logIn } from '../testing/browser.js';
import { basicAuth } from '../testing/server-helpers.js';
import { median } from './stats.js';

const queueCountsDefault = [10_000, 100_000];
/** Each API timing is the median of this many calls, after one call not counted (warm-up). */
const callsPerTiming = 5;
/** Every this many queues, one holds a message (so a sort on messages has something to sort). */
const loadedEvery = 100;

async function timeCall(url: string): Promise<{ ms: number; bytes: number }> {
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i <= callsPerTiming; i++) {
    const start = performance.now();
    const res = await fetch(url, { headers: { authorization: basicAuth() } });
    bytes = (await res.arrayBuffer()).byteLength;
    if (res.status !== 200) throw new Error(`${url}: ${res.status}`);
    if (i > 0) times.push(performance.now() - start);
  }
  return { ms: median(times), bytes };
}

const queueName = (i: number) => `q.${String(i).padStart(6, '0')}`;

/** The API calls timed, by label; `{middle}` is the middle page of 100. */
function apiCalls(queues: number): Array<[label: string, path: string]> {
  const middle = Math.ceil(queues / 200);
  const regex = encodeURIComponent('^q\\.00[0-9]*7$');
  return [
    ['overview', '/api/overview'],
    ['queues page 1', '/api/queues?page=1&page_size=100'],
    [`queues page ${middle}`, `/api/queues?page=${middle}&page_size=100`],
    ['name filter', '/api/queues?page=1&page_size=100&name=q.0099'],
    ['regex filter', `/api/queues?page=1&page_size=100&use_regex=true&name=${regex}`],
    ['sort name reversed', `/api/queues?page=${middle}&page_size=100&sort=name&sort_reverse=true`],
    ['sort messages', '/api/queues?page=1&page_size=100&sort=messages&sort_reverse=true'],
    ['one queue', `/api/queues/%2F/${queueName(queues - 1)}`],
    ['vhosts', '/api/vhosts?page=1&page_size=500&sort=name'],
    ['exchanges page 1', '/api/exchanges?page=1&page_size=100'],
    ['bindings page 1', '/api/bindings?page=1&page_size=100'],
    ['/metrics', '/metrics'],
    ['/metrics/per-object', '/metrics/per-object'],
  ];
}

function declareQueues(broker: TestBroker, queues: number): number {
  const client = broker.broker.client();
  const declaredAt = performance.now();
  for (let i = 0; i < queues; i++) client.declareQueue(queueName(i), { durable: true });
  const declareS = (performance.now() - declaredAt) / 1000;
  for (let i = 0; i < queues; i += loadedEvery)
    client.publish('', queueName(i), { body: new Uint8Array([i % 256]), properties: {} });
  return declareS;
}

async function timePages(base: string, queues: number): Promise<{ overviewMs: number; queuesMs: number }> {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.setDefaultTimeout(120_000);
    await logIn(page, base);
    // Timed from a reload with the session cookie: the login's password hash is not the page's cost.
    const opened = performance.now();
    await page.reload();
    await page.locator('[data-total="Queues"]').getByText(queues.toLocaleString('en')).waitFor();
    const overviewMs = performance.now() - opened;
    const clicked = performance.now();
    await page.getByRole('link', { name: 'Queues and streams' }).click();
    await page.getByRole('link', { name: queueName(0) }).waitFor();
    return { overviewMs, queuesMs: performance.now() - clicked };
  } finally {
    await browser.close();
  }
}

async function measure(queues: number, browser: boolean): Promise<void> {
  const broker = await startTestBroker({ listeners: ['http'] });
  try {
    const declareS = declareQueues(broker, queues);
    const base = broker.url('http');
    const rss = process.memoryUsage().rss / 2 ** 20;
    console.log(
      `${queues.toLocaleString('en')} durable queues declared through core in ${declareS.toFixed(1)} s (RSS ${rss.toFixed(0)} MiB)`,
    );
    for (const [label, path] of apiCalls(queues)) {
      const { ms, bytes } = await timeCall(`${base}${path}`);
      console.log(
        `  ${label.padEnd(22)} ${ms.toFixed(1).padStart(8)} ms  ${String(bytes).padStart(9)} B  ${path}`,
      );
    }
    if (browser) {
      const { overviewMs, queuesMs } = await timePages(base, queues);
      console.log(
        `  page: load to overview totals ${overviewMs.toFixed(0)} ms, click to queues listing ${queuesMs.toFixed(0)} ms`,
      );
    }
  } finally {
    await broker.stop();
  }
}

export async function runDashboardBench(): Promise<void> {
  const missing = browserMissing();
  if (missing !== undefined) console.log(`dashboard: ${missing} (API timings only)`);
  const one = Number(process.env['DASHBOARD_BENCH_QUEUES'] ?? '');
  const counts = Number.isSafeInteger(one) && one > 0 ? [one] : queueCountsDefault;
  for (const queues of counts) await measure(queues, missing === undefined);
}
