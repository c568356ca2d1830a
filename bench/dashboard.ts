/**
 * `npm run bench -- dashboard`: the dashboard against many queues. For 10,000 and 100,000 durable
 * queues (memory storage), the admin API's answer times for `/api/overview` and the first page of
 * `/api/queues`, and in Chromium the time from loading the page (logged in) to the overview's totals, and from a
 * click on "Queues and streams" to the first row of the listing. Skipped without /usr/bin/chromium.
 */
import { performance } from 'node:perf_hooks';
import { startTestBroker } from '../testing/broker.js';
import { browserMissing, launchChromium, logIn } from '../testing/browser.js';
import { basicAuth } from '../testing/server-helpers.js';

const queueCounts = [10_000, 100_000];
/** Each API timing is the median of this many calls. */
const callsPerTiming = 5;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function timeCall(url: string): Promise<{ ms: number; bytes: number }> {
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < callsPerTiming; i++) {
    const start = performance.now();
    const res = await fetch(url, { headers: { authorization: basicAuth() } });
    bytes = (await res.arrayBuffer()).byteLength;
    times.push(performance.now() - start);
  }
  return { ms: median(times), bytes };
}

async function measure(queues: number): Promise<void> {
  const broker = await startTestBroker({ listeners: ['http'] });
  const browser = await launchChromium();
  try {
    const client = broker.broker.client();
    const declaredAt = performance.now();
    for (let i = 0; i < queues; i++)
      client.declareQueue(`q.${String(i).padStart(6, '0')}`, { durable: true });
    const declareS = (performance.now() - declaredAt) / 1000;
    const base = broker.url('http');
    const overview = await timeCall(`${base}/api/overview`);
    const firstPage = await timeCall(`${base}/api/queues?page=1&page_size=100`);
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
    await page.getByRole('link', { name: 'q.000000' }).waitFor();
    const queuesMs = performance.now() - clicked;
    const rss = process.memoryUsage().rss / 2 ** 20;
    console.log(
      `${queues} queues (declared in ${declareS.toFixed(1)} s; RSS ${rss.toFixed(0)} MiB): ` +
        `GET /api/overview ${overview.ms.toFixed(1)} ms (${overview.bytes} B); ` +
        `GET /api/queues?page=1&page_size=100 ${firstPage.ms.toFixed(1)} ms (${firstPage.bytes} B); ` +
        `page: load to overview totals ${overviewMs.toFixed(0)} ms, queues listing ${queuesMs.toFixed(0)} ms`,
    );
  } finally {
    await browser.close();
    await broker.stop();
  }
}

export async function runDashboardBench(): Promise<void> {
  const missing = browserMissing();
  if (missing !== undefined) {
    console.log(`dashboard: ${missing}`);
    return;
  }
  for (const queues of queueCounts) await measure(queues);
}
