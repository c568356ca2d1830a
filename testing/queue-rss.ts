/**
 * Fills one durable queue on file storage with persistent 1 KB messages (1,000,000 by default) under
 * the default body cache budget, drains it, checks every message came back, and prints the RSS at each
 * phase and the peak over the whole run; the target is a peak under 512 MB.
 *
 * Usage: node dist/testing/queue-rss.js [count] [mode] [dir]
 *   mode `noack` (default): one no-ack consumer takes everything.
 *   mode `ack`: a consumer with prefetch 1000 acks each delivery asynchronously, as real consumers do.
 * QUEUE_RSS_BODY_CACHE_BYTES=<n> sets the body cache budget (the broker's default otherwise).
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { getHeapStatistics } from 'node:v8';
import { resolveLimits } from '../src/core/limits.js';
import { BodyCache } from '../src/core/queues/body-cache.js';
import { type ClassicQueue, createQueue } from '../src/core/queues/index.js';
import type { Delivery } from '../src/core/types.js';
import { ManualClock } from '../src/shared/clock.js';
import { FileStorage } from '../src/storage/file/storage.js';
import { idCounter, testExecutor } from './exec-helpers.js';
import { collectGarbage, fillQueue } from './queue-memory.js';

const mb = (bytes: number): string => `${Math.round(bytes / 1024 / 1024)} MB`;
const sampleIntervalMs = 50;
const ackPrefetch = 1000;
/** The drain must finish well within this; a stuck consumer fails the run instead of hanging it. */
const drainMsMax = 10 * 60 * 1000;

let peakRss = 0;

function sample(): void {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
}

function report(label: string): void {
  sample();
  collectGarbage();
  const u = process.memoryUsage();
  const heapCommitted = getHeapStatistics().total_heap_size;
  console.log(
    `${label}: rss ${mb(u.rss)}, heap ${mb(u.heapUsed)} used of ${mb(heapCommitted)}, arrayBuffers ${mb(u.arrayBuffers)}; peak rss so far ${mb(peakRss)}`,
  );
}

/** One no-ack consumer; the queue hands it everything in one go. */
async function drainNoAck(queue: ClassicQueue): Promise<number> {
  let delivered = 0;
  queue.consume({ tag: 'drain', owner: 'rss', noAck: true, deliver: () => void delivered++ });
  await new Promise((resolve) => setImmediate(resolve));
  return delivered;
}

/** A consumer under prefetch that acks what it got on the next turn of the event loop. */
async function drainAck(queue: ClassicQueue, count: number): Promise<number> {
  let delivered = 0;
  let toAck: number[] = [];
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const ackBatch = (): void => {
    const ids = toAck;
    toAck = [];
    for (const id of ids) queue.ack(id);
    if (delivered >= count && queue.stats().unacked === 0) finish();
  };
  const deliver = (d: Delivery): void => {
    delivered++;
    if (toAck.length === 0) setImmediate(ackBatch);
    toAck.push(d.id);
  };
  queue.consume({ tag: 'drain', owner: 'rss', prefetch: ackPrefetch, deliver });
  const timeout = setTimeout(finish, drainMsMax);
  await done;
  clearTimeout(timeout);
  return delivered;
}

async function main(): Promise<void> {
  const count = Number(process.argv[2] ?? 1_000_000);
  const mode = process.argv[3] ?? 'noack';
  if (mode !== 'noack' && mode !== 'ack') throw new Error(`Unknown mode ${mode}: noack or ack`);
  const dir = process.argv[4] ?? mkdtempSync(path.join(tmpdir(), 'switchyard-rss-'));
  const sampler = setInterval(sample, sampleIntervalMs);
  sampler.unref();
  const storage = await FileStorage.open({ dir, fsync: { kind: 'never' } });
  const deps = {
    vhost: '/',
    exec: testExecutor(new ManualClock()).exec,
    idBase: 0,
    nextId: idCounter(),
    bodies: new BodyCache(
      Number(process.env['QUEUE_RSS_BODY_CACHE_BYTES'] ?? resolveLimits().bodyCacheBytesMax),
    ),
    limits: resolveLimits(),
    hooks: { deadLetter: () => undefined, requestDelete: () => undefined },
    storage,
  };
  const queue = (await createQueue('rss', { durable: true }, deps)) as ClassicQueue;
  report('empty');
  let started = Date.now();
  await fillQueue(queue, count, 1024);
  report(`filled: ${queue.info().messageCount} messages of 1 KB ready in ${Date.now() - started} ms`);
  started = Date.now();
  const delivered = mode === 'ack' ? await drainAck(queue, count) : await drainNoAck(queue);
  const drainMs = Date.now() - started;
  report(`drained (${mode}): ${delivered} delivered in ${drainMs} ms`);
  await queue.close();
  await storage.close();
  clearInterval(sampler);
  // The kernel's high-water mark also catches peaks inside one synchronous job, where no sample runs.
  console.log(
    `peak rss ${mb(peakRss)} sampled, ${mb(process.resourceUsage().maxRSS * 1024)} max by the kernel`,
  );
  if (process.argv[4] === undefined) rmSync(dir, { recursive: true, force: true });
  if (delivered !== count) throw new Error(`Delivered ${delivered} of ${count}`);
}

await main();
