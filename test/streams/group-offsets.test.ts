import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isBrokerError } from '../../src/shared/errors.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { openCore } from '../../testing/core-helpers.js';

const at = (offset: number, metadata = '') => ({ offset, metadata, committedAt: 1_000 });

describe('group offsets', () => {
  it('commits, fetches, lists and deletes per group', async () => {
    const { broker, client } = await openCore();
    await client.createStream('a', { partitions: 2 });
    await client.createStream('b', { partitions: 1 });
    await client.commitOffset('g1', 'a', 0, at(5, 'meta'));
    await client.commitOffset('g1', 'a', 1, at(7));
    await client.commitOffset('g1', 'b', 0, at(1));
    await client.commitOffset('g2', 'a', 0, at(9));
    await client.commitOffset('g1', 'a', 0, at(6, 'later'));
    assert.deepEqual(client.fetchOffset('g1', 'a', 0), at(6, 'later'));
    assert.equal(client.fetchOffset('g1', 'b', 1), undefined);
    assert.equal(client.fetchOffset('nobody', 'a', 0), undefined);
    assert.deepEqual(
      client.groupOffsets('g1').map((row) => [row.stream, row.partition, row.offset.offset]),
      [
        ['a', 0, 6],
        ['a', 1, 7],
        ['b', 0, 1],
      ],
    );
    await client.deleteGroupOffsets('g1');
    assert.deepEqual(client.groupOffsets('g1'), []);
    assert.deepEqual(client.fetchOffset('g2', 'a', 0), at(9), 'other groups keep theirs');
    assert.deepEqual(
      client.listGroups().map((group) => group.name),
      ['g2'],
      'a group left with nothing is gone',
    );
    await broker.close();
  });

  it('keeps a leader epoch when one is committed', async () => {
    const { broker, client } = await openCore();
    await client.createStream('a', { partitions: 1 });
    await client.commitOffset('g', 'a', 0, { ...at(3), leaderEpoch: 7 });
    assert.deepEqual(client.fetchOffset('g', 'a', 0), { ...at(3), leaderEpoch: 7 });
    await broker.close();
  });

  it('refuses commits to unknown streams or partitions and bad offsets', async () => {
    const { broker, client } = await openCore();
    await client.createStream('a', { partitions: 1 });
    await assert.rejects(client.commitOffset('g', 'zz', 0, at(1)), (err) => isBrokerError(err, 'not_found'));
    await assert.rejects(client.commitOffset('g', 'a', 1, at(1)), (err) => isBrokerError(err, 'not_found'));
    await assert.rejects(client.commitOffset('g', 'a', 0, at(-2)), (err) =>
      isBrokerError(err, 'invalid_argument'),
    );
    await assert.rejects(client.commitOffset('g', 'a', 0, at(1, 'x'.repeat(5000))), (err) =>
      isBrokerError(err, 'invalid_argument'),
    );
    await assert.rejects(client.commitOffset('g'.repeat(1025), 'a', 0, at(1)), (err) =>
      isBrokerError(err, 'invalid_argument'),
    );
    await broker.close();
  });
});

describe('group offsets and streams', () => {
  it('drops the offsets of a deleted stream only', async () => {
    const { broker, client } = await openCore();
    await client.createStream('a', { partitions: 1 });
    await client.createStream('b', { partitions: 1 });
    await client.commitOffset('g', 'a', 0, at(1));
    await client.commitOffset('g', 'b', 0, at(2));
    await client.deleteStream('a');
    assert.deepEqual(
      client.groupOffsets('g').map((row) => row.stream),
      ['b'],
    );
    await broker.close();
  });

  it('keeps streams, their entries and group offsets across a reopen', async () => {
    const storage = new MemoryStorage();
    const first = await openCore({ storage });
    await first.client.createStream('a/b', { partitions: 2, ageMsMax: 3_600_000 });
    first.client.partition('a/b', 1).append(new Uint8Array([1, 2]), { timestamp: 5, count: 3, format: 4 });
    await first.client.commitOffset('group/with/slashes', 'a/b', 1, at(2, 'm'));
    const defined = first.client.streams();
    assert.deepEqual(
      defined.map(({ id, ...rest }) => rest),
      [{ name: 'a/b', partitions: 2, ageMsMax: 3_600_000 }],
    );
    await first.broker.close();

    const second = await openCore({ storage });
    assert.deepEqual(second.client.streams(), defined, 'the stream comes back with its id');
    const p = second.client.partition('a/b', 1);
    assert.equal(p.endOffset, 3);
    assert.equal(p.read(0)[0]?.format, 4);
    assert.deepEqual(second.client.fetchOffset('group/with/slashes', 'a/b', 1), at(2, 'm'));
    await second.broker.close();
  });
});
