import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isBrokerError } from '../../src/shared/errors.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { openStreams } from '../../testing/stream-harness.js';

const at = (offset: number, metadata = '') => ({ offset, metadata, committedAt: 1_000 });

describe('group offsets', () => {
  it('commits, fetches, lists and deletes per group', async () => {
    const { registry } = await openStreams(new MemoryStorage());
    await registry.create('a', { partitions: 2 });
    await registry.create('b', { partitions: 1 });
    await registry.commitOffset('g1', 'a', 0, at(5, 'meta'));
    await registry.commitOffset('g1', 'a', 1, at(7));
    await registry.commitOffset('g1', 'b', 0, at(1));
    await registry.commitOffset('g2', 'a', 0, at(9));
    await registry.commitOffset('g1', 'a', 0, at(6, 'later'));
    assert.deepEqual(registry.fetchOffset('g1', 'a', 0), at(6, 'later'));
    assert.equal(registry.fetchOffset('g1', 'b', 1), undefined);
    assert.equal(registry.fetchOffset('nobody', 'a', 0), undefined);
    assert.deepEqual(
      registry.groupOffsets('g1').map((row) => [row.stream, row.partition, row.offset.offset]),
      [
        ['a', 0, 6],
        ['a', 1, 7],
        ['b', 0, 1],
      ],
    );
    await registry.deleteGroupOffsets('g1');
    assert.deepEqual(registry.groupOffsets('g1'), []);
    assert.deepEqual(registry.fetchOffset('g2', 'a', 0), at(9), 'other groups keep theirs');
    await registry.close();
  });

  it('refuses commits to unknown streams or partitions and bad offsets', async () => {
    const { registry } = await openStreams(new MemoryStorage());
    await registry.create('a', { partitions: 1 });
    await assert.rejects(registry.commitOffset('g', 'zz', 0, at(1)), (err) =>
      isBrokerError(err, 'not_found'),
    );
    await assert.rejects(registry.commitOffset('g', 'a', 1, at(1)), (err) => isBrokerError(err, 'not_found'));
    await assert.rejects(registry.commitOffset('g', 'a', 0, at(-2)), (err) =>
      isBrokerError(err, 'invalid_argument'),
    );
    await assert.rejects(registry.commitOffset('g', 'a', 0, at(1, 'x'.repeat(5000))), (err) =>
      isBrokerError(err, 'invalid_argument'),
    );
    await registry.close();
  });

  it('drops the offsets of a deleted stream only', async () => {
    const { registry } = await openStreams(new MemoryStorage());
    await registry.create('a', { partitions: 1 });
    await registry.create('b', { partitions: 1 });
    await registry.commitOffset('g', 'a', 0, at(1));
    await registry.commitOffset('g', 'b', 0, at(2));
    await registry.delete('a');
    assert.deepEqual(
      registry.groupOffsets('g').map((row) => row.stream),
      ['b'],
    );
    await registry.close();
  });

  it('keeps streams, their entries and group offsets across a reopen', async () => {
    const storage = new MemoryStorage();
    const first = await openStreams(storage);
    await first.registry.create('a/b', { partitions: 2, ageMsMax: 3_600_000 });
    first.registry.partition('a/b', 1).append(new Uint8Array([1, 2]), { timestamp: 5, count: 3, format: 4 });
    await first.registry.commitOffset('group/with/slashes', 'a/b', 1, at(2, 'm'));
    await first.registry.close();

    const second = await openStreams(storage);
    assert.deepEqual(second.registry.list(), [{ name: 'a/b', partitions: 2, ageMsMax: 3_600_000 }]);
    const p = second.registry.partition('a/b', 1);
    assert.equal(p.endOffset, 3);
    assert.equal(p.read(0)[0]?.format, 4);
    assert.deepEqual(second.registry.fetchOffset('group/with/slashes', 'a/b', 1), at(2, 'm'));
    await second.registry.close();
  });
});
