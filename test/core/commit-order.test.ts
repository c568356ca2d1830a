/**
 * A group offset is stored only once the records below it are durable (`Partition.durableTo`), so a
 * commit past records still being written waits while a commit within durable records does not. The
 * one a client sent last must still be the one kept: a consumer that seeks back and commits again
 * resumes there, not past records it never read.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { FileStorage } from '../../src/storage/file/storage.js';
import { openCore } from '../../testing/core-helpers.js';

test('group offsets: a commit issued after one still waiting for durable records is the one kept', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-commit-order-'));
  const storage = await FileStorage.open({ dir, fsync: { kind: 'always' } });
  try {
    const { vhost, broker } = await openCore({ storage });
    await vhost.createStream('events', { partitions: 1 });
    const partition = vhost.partition('events', 0);
    // Durable records 0-1; 2-3 are appended and still being written when both commits arrive.
    partition.append(new Uint8Array([1]), { timestamp: 1, format: 0 });
    await partition.append(new Uint8Array([2]), { timestamp: 1, format: 0 }).durable;
    // A commit that finds them durable (the partition notes it: later commits below 2 do not wait).
    await vhost.commitOffset('g', 'events', 0, { offset: 2, metadata: 'first', committedAt: 0 });
    partition.append(new Uint8Array([3]), { timestamp: 1, format: 0 });
    partition.append(new Uint8Array([4]), { timestamp: 1, format: 0 });
    const ahead = vhost.commitOffset('g', 'events', 0, { offset: 4, metadata: 'ahead', committedAt: 1 });
    const back = vhost.commitOffset('g', 'events', 0, { offset: 1, metadata: 'back', committedAt: 2 });
    await Promise.all([ahead, back]);
    assert.equal(vhost.fetchOffset('g', 'events', 0)?.metadata, 'back');
    assert.equal(vhost.fetchOffset('g', 'events', 0)?.offset, 1);
    await broker.close();
  } finally {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
