/**
 * Fills one durable queue on file storage with 1,000,000 persistent 1 KB messages under the default
 * body cache budget and prints the process RSS; the target is under 512 MB. Then drains it and checks
 * every message came back. Usage: node dist/src/testing/queue-rss.js [count] [dir]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { getHeapStatistics } from 'node:v8';
import { ManualClock } from '../core/clock.js';
import { resolveLimits } from '../core/limits.js';
import { type ClassicQueue, createQueue } from '../core/queues/index.js';
import { FileStorage } from '../storage/file/storage.js';
import { collectGarbage, fillQueue } from './queue-memory.js';

const mb = (bytes: number): string => `${Math.round(bytes / 1024 / 1024)} MB`;

function report(label: string): void {
  collectGarbage();
  const u = process.memoryUsage();
  const heapCommitted = getHeapStatistics().total_heap_size;
  console.log(
    `${label}: rss ${mb(u.rss)}, heap ${mb(u.heapUsed)} used of ${mb(heapCommitted)}, arrayBuffers ${mb(u.arrayBuffers)}`,
  );
}

async function main(): Promise<void> {
  const count = Number(process.argv[2] ?? 1_000_000);
  const dir = process.argv[3] ?? mkdtempSync(path.join(tmpdir(), 'switchyard-rss-'));
  const storage = await FileStorage.open({ dir, fsync: { kind: 'never' } });
  const deps = {
    vhost: '/',
    clock: new ManualClock(),
    limits: resolveLimits(),
    hooks: { deadLetter: () => undefined, requestDelete: () => undefined },
    storage,
  };
  const queue = (await createQueue('rss', { durable: true }, deps)) as ClassicQueue;
  report('empty');
  const started = Date.now();
  await fillQueue(queue, count, 1024);
  report(`${queue.info().messageCount} messages of 1 KB ready (${Date.now() - started} ms)`);
  let delivered = 0;
  queue.consume({ tag: 'drain', owner: 'rss', noAck: true, deliver: () => void delivered++ });
  await new Promise((resolve) => setImmediate(resolve));
  report(`drained ${delivered}`);
  await queue.close();
  await storage.close();
  if (process.argv[3] === undefined) rmSync(dir, { recursive: true, force: true });
  if (delivered !== count) throw new Error(`Delivered ${delivered} of ${count}`);
}

await main();
