import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { FileStorage } from '../../src/storage/file/storage.js';
import {
  bodyText,
  openStreams,
  recordingConsumer,
  settle,
  textMessage,
} from '../../testing/stream-harness.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'switchyard-streams-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

function openStorage(name: string): Promise<FileStorage> {
  return FileStorage.open({ dir: path.join(root, name), fsync: { kind: 'always' } });
}

describe('streams on FileStorage', () => {
  it('keeps definitions, entries, group offsets and stream-queue messages across a restart', async () => {
    const storage = await openStorage('restart');
    const first = await openStreams(storage);
    await first.registry.create('events', { partitions: 2, bytesMax: 1_000_000 });
    const batch = first.registry.partition('events', 1).append(new Uint8Array([9, 9]), {
      count: 4,
      timestamp: first.clock.now(),
      format: 42,
    });
    await batch.durable;
    await first.groups.commit('g', 'events', 1, { offset: 4, metadata: 'm', committedAt: 7 });
    await first.registry.create('sq', { partitions: 1 });
    const queue = first.registry.asQueue('sq', { kind: 'stream', durable: true });
    await queue.enqueue(textMessage('kept')).durable;
    const byName = (list: ReturnType<typeof first.registry.list>) =>
      list.sort((a, b) => a.name.localeCompare(b.name));
    const defined = byName(first.registry.list());
    assert.deepEqual(
      defined.map(({ id, ...rest }) => rest),
      [
        { name: 'events', partitions: 2, bytesMax: 1_000_000 },
        { name: 'sq', partitions: 1 },
      ],
    );
    await first.registry.close();
    await storage.close();

    const reopened = await openStorage('restart');
    const second = await openStreams(reopened);
    assert.deepEqual(byName(second.registry.list()), defined, 'definitions come back with their ids');
    const entry = second.registry.partition('events', 1).read(2)[0];
    assert.deepEqual([entry?.offset, entry?.count, entry?.format], [0, 4, 42]);
    assert.deepEqual(second.groups.fetch('g', 'events', 1), {
      offset: 4,
      metadata: 'm',
      committedAt: 7,
    });
    const consumer = recordingConsumer('c', { offset: 'first' });
    second.registry.asQueue('sq', { kind: 'stream', durable: true }).consume(consumer.options);
    await settle();
    assert.deepEqual(consumer.deliveries.map(bodyText), ['kept']);
    await second.registry.close();
    await reopened.close();
  });

  it('forgets a deleted stream after a restart', async () => {
    const storage = await openStorage('delete');
    const first = await openStreams(storage);
    await first.registry.create('gone', { partitions: 3 });
    await first.registry.delete('gone');
    await first.registry.close();
    await storage.close();

    const reopened = await openStorage('delete');
    const second = await openStreams(reopened);
    assert.deepEqual(second.registry.list(), []);
    assert.deepEqual(
      (await reopened.listLogs()).filter((name) => name.startsWith('s.')),
      [],
      'no partition log is left',
    );
    await second.registry.close();
    await reopened.close();
  });
});
