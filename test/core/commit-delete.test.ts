/**
 * A group offset commit waits for the records below it to be durable (`Partition.durableTo`); a
 * stream deleted during that wait takes its group offsets with it, and the commit must not store one
 * afterwards: a stream made again under the name would hand it to the group, which would skip the new
 * stream's first records. The wait is one fdatasync, so the delete comes after a few delays in turn.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { FileStorage } from '../../src/storage/file/storage.js';
import { openCore } from '../../testing/core-helpers.js';

/** Rounds, each deleting the stream after a different delay (0 to 4 ms) while a commit waits. */
const roundsMax = 20;

test('group offsets: a commit waiting for durable records while its stream is deleted leaves no offset for a stream made again', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-commit-delete-'));
  const storage = await FileStorage.open({ dir, fsync: { kind: 'always' } });
  try {
    const { vhost, broker } = await openCore({ storage });
    const stale: number[] = [];
    for (let round = 0; round < roundsMax; round++) {
      await vhost.createStream('events', { partitions: 1 });
      const partition = vhost.partition('events', 0);
      for (let i = 0; i < 5; i++) partition.append(new Uint8Array([i]), { timestamp: 1, format: 0 });
      const commit = vhost
        .commitOffset('g', 'events', 0, { offset: 5, metadata: '', committedAt: 1 })
        .catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, round % 5));
      await vhost.deleteStream('events');
      await commit;
      await vhost.createStream('events', { partitions: 1 });
      if (vhost.fetchOffset('g', 'events', 0) !== undefined) stale.push(round);
      await vhost.deleteStream('events');
    }
    assert.deepEqual(stale, [], 'rounds whose new stream found the old commit');
    await broker.close();
  } finally {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
