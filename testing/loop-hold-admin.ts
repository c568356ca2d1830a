/**
 * How long one management API listing without `page` holds the broker's event loop, and what it
 * costs in memory: an in-process broker (memory storage) with `count` queues (each with its default
 * binding and one consumer), exchanges (90,000 at most), users and permissions made through core, each listing asked
 * twice (read by curl); the loop's longest delay until the answer was read (`monitorEventLoopDelay`) and the most
 * RSS and heap the process grew while it was answered (sampled every 5 ms). Not a test:
 * `node dist/testing/loop-hold-admin.js [count] [listing,…]` (10,000 by default; every listing).
 */
import { execFile } from 'node:child_process';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { startTestBroker } from './broker.js';

const run = promisify(execFile);
const count = Number(process.argv[2] ?? 10_000);
const histogram = monitorEventLoopDelay({ resolution: 5 });
const mebibyte = 2 ** 20;
const exchangesMax = 90_000;
const listings = (process.argv[3] ?? 'queues,exchanges,bindings,consumers,users,permissions').split(',');

/** Only what the listings asked need: users cost a definitions write each. */
async function populate(broker: Awaited<ReturnType<typeof startTestBroker>>['broker']): Promise<void> {
  const client = broker.client();
  const full = { configure: '.*', write: '.*', read: '.*' };
  const consumers = listings.includes('consumers');
  for (let i = 0; i < count; i++) {
    const name = `q.${String(i).padStart(6, '0')}`;
    client.declareQueue(name, { durable: false });
    // A vhost holds 100,000 exchanges at most (its own seven among them).
    if (i < exchangesMax) client.declareExchange(`x.${i}`, { type: 'direct', durable: false });
    if (consumers) client.consume(name, { tag: `c.${i}`, owner: 'hold/1', deliver: () => undefined });
  }
  const users = listings.includes('users') || listings.includes('permissions');
  for (let i = 0; i < (users ? count : 0); i++) {
    const user = `u.${i}`;
    await client.putUser(user, { none: true });
    await client.setPermission('/', user, full);
  }
}

/** The most RSS and heap grew above their level at the start, until `done` settles. */
function peakGrowth(done: Promise<unknown>): Promise<{ rssMiB: number; heapMiB: number }> {
  const start = process.memoryUsage();
  let rss = 0;
  let heap = 0;
  const sample = () => {
    const now = process.memoryUsage();
    rss = Math.max(rss, now.rss - start.rss);
    heap = Math.max(heap, now.heapUsed - start.heapUsed);
  };
  const timer = setInterval(sample, 5);
  return done.then(() => {
    clearInterval(timer);
    sample();
    return { rssMiB: rss / mebibyte, heapMiB: heap / mebibyte };
  });
}

async function held(base: string, listing: string): Promise<void> {
  histogram.reset();
  const start = performance.now();
  // Read by curl, in a process of its own: reading 20 MiB in this one held its loop too.
  const answered = run('curl', [
    '-s',
    '-o',
    '/dev/null',
    '-w',
    '%{http_code} %{size_download}',
    '-u',
    'guest:guest',
    `${base}/api/${listing}`,
  ]).then(({ stdout }) => {
    const [status = '', bytes = '0'] = stdout.split(' ');
    return { status, bytes: Number(bytes) };
  });
  const grown = await peakGrowth(answered);
  const { status, bytes } = await answered;
  const tookMs = performance.now() - start;
  await new Promise((resolve) => setTimeout(resolve, 50));
  console.log(
    `GET /api/${listing} (${count}): loop held ${(histogram.max / 1e6).toFixed(0)} ms, ${status}, ` +
      `${(bytes / mebibyte).toFixed(1)} MiB in ${tookMs.toFixed(0)} ms; grew RSS ${grown.rssMiB.toFixed(0)} MiB, ` +
      `heap ${grown.heapMiB.toFixed(0)} MiB`,
  );
}

async function main(): Promise<void> {
  const server = await startTestBroker({ listeners: ['http'] });
  await populate(server.broker);
  const base = server.url('http');
  histogram.enable();
  for (let run = 0; run < 2; run++) for (const listing of listings) await held(base, listing);
  histogram.disable();
  await server.stop();
}

await main();
