import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { Delivery } from '../../src/core/types.js';
import { FileStorage } from '../../src/storage/file/storage.js';
import { openQueue, tick } from '../../testing/queue-harness.js';
import { collectGarbage, fillQueue } from '../../testing/queue-memory.js';

const count = 200_000;
const bodyBytes = 1024;
const cacheBytes = 8 * 1024 * 1024;

test('a durable queue keeps only metadata beyond the body cache budget', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-queue-mem-'));
  const storage = await FileStorage.open({ dir, fsync: { kind: 'never' } });
  try {
    const { queue, bodies } = await openQueue(
      { durable: true },
      { storage, name: 'big', limits: { bodyCacheBytesMax: cacheBytes } },
    );
    collectGarbage();
    const before = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
    await fillQueue(queue, count, bodyBytes);
    collectGarbage();
    const grown = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers - before;
    const bodyTotal = count * bodyBytes;
    assert.equal(queue.info().messageCount, count);
    assert.ok(bodies.usedBytes <= cacheBytes);
    // Bodies alone would be ~205 MB; metadata is a few dozen bytes per message.
    assert.ok(
      grown < bodyTotal / 3,
      `memory grew by ${Math.round(grown / 1e6)} MB for ${bodyTotal / 1e6} MB of bodies`,
    );

    let delivered = 0;
    let last: Delivery | undefined;
    queue.consume({
      tag: 'c',
      owner: 'o',
      noAck: true,
      deliver: (d) => {
        delivered++;
        last = d;
      },
    });
    await tick();
    assert.equal(delivered, count);
    assert.equal(last?.message.properties.messageId, String(count - 1));
    assert.equal(last?.message.body.length, bodyBytes);
    await queue.close();
  } finally {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
