import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isBrokerError } from '../../src/shared/errors.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { openStreams } from '../../testing/stream-harness.js';

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (payload: Uint8Array) => new TextDecoder().decode(payload);

describe('stream partitions', () => {
  it('appends and reads back by offset, keeping the format byte', async () => {
    const { registry, clock } = await openStreams(new MemoryStorage());
    await registry.create('orders', { partitions: 1 });
    const p = registry.partition('orders', 0);
    const first = p.append(bytes('a'), { timestamp: clock.now(), format: 7 });
    const second = p.append(bytes('b'), { timestamp: clock.now(), format: 9 });
    await second.durable;
    assert.equal(first.offset, 0);
    assert.equal(second.offset, 1);
    assert.equal(p.startOffset, 0);
    assert.equal(p.endOffset, 2);
    const entries = p.read(1);
    assert.deepEqual(
      entries.map((e) => [e.offset, e.format, text(e.payload)]),
      [[1, 9, 'b']],
    );
    assert.deepEqual(p.read(2), []);
    await registry.close();
  });

  it('gives a multi-offset entry a range of offsets and finds it from any offset inside', async () => {
    const { registry, clock } = await openStreams(new MemoryStorage());
    await registry.create('batches', { partitions: 1 });
    const p = registry.partition('batches', 0);
    p.append(bytes('batch-1'), { count: 5, timestamp: clock.now(), format: 2 });
    const next = p.append(bytes('single'), { timestamp: clock.now(), format: 2 });
    assert.equal(next.offset, 5);
    assert.equal(p.endOffset, 6);
    const [entry] = p.read(3, { maxEntries: 1 });
    assert.equal(entry?.offset, 0);
    assert.equal(entry?.count, 5);
    await registry.close();
  });

  it('finds offsets by timestamp', async () => {
    const { registry, clock } = await openStreams(new MemoryStorage());
    await registry.create('t', { partitions: 1 });
    const p = registry.partition('t', 0);
    const t0 = clock.now();
    p.append(bytes('a'), { timestamp: t0, format: 1 });
    p.append(bytes('b'), { timestamp: t0 + 1000, format: 1 });
    p.append(bytes('c'), { timestamp: t0 + 2000, format: 1 });
    assert.equal(p.offsetForTimestamp(t0 + 500), 1);
    assert.equal(p.offsetForTimestamp(t0 + 2000), 2);
    assert.equal(p.offsetForTimestamp(t0 + 5000), 3);
    await registry.close();
  });
});

describe('stream definitions', () => {
  it('keeps partitions apart and grows them with addPartitions only', async () => {
    const { registry, clock } = await openStreams(new MemoryStorage(), {
      limits: { streamPartitionsMax: 4 },
    });
    const info = await registry.create('topic', { partitions: 2, bytesMax: 1000 });
    const { id, ...rest } = info;
    assert.deepEqual(rest, { name: 'topic', partitions: 2, bytesMax: 1000 });
    assert.match(
      id ?? '',
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
      'a random id',
    );
    registry.partition('topic', 1).append(bytes('x'), { timestamp: clock.now(), format: 1 });
    assert.equal(registry.partition('topic', 0).endOffset, 0);
    assert.equal(registry.partition('topic', 1).endOffset, 1);
    assert.throws(
      () => registry.partition('topic', 2),
      (err) => isBrokerError(err, 'not_found'),
    );

    const grown = await registry.addPartitions('topic', 3);
    assert.equal(grown.partitions, 3);
    assert.equal(grown.bytesMax, 1000);
    assert.equal(registry.partition('topic', 2).endOffset, 0);
    assert.equal(registry.partition('topic', 1).endOffset, 1, 'existing partitions keep their entries');
    for (const total of [3, 2, 5]) {
      await assert.rejects(registry.addPartitions('topic', total), (err) =>
        isBrokerError(err, 'invalid_argument'),
      );
    }
    await assert.rejects(registry.addPartitions('nope', 3), (err) => isBrokerError(err, 'not_found'));
    await registry.close();
  });

  it('returns the existing definition when a stream is created again', async () => {
    const { registry } = await openStreams(new MemoryStorage());
    await registry.create('s', { partitions: 2 });
    const again = await registry.create('s', { partitions: 5 });
    assert.equal(again.partitions, 2);
    assert.deepEqual(
      registry.list().map((s) => s.name),
      ['s'],
    );
    await registry.close();
  });

  it('refuses bad partition counts and names', async () => {
    const { registry } = await openStreams(new MemoryStorage(), { limits: { streamPartitionsMax: 8 } });
    for (const partitions of [0, -1, 1.5, 9]) {
      await assert.rejects(registry.create('s', { partitions }), (err) =>
        isBrokerError(err, 'invalid_argument'),
      );
    }
    await assert.rejects(registry.create('', { partitions: 1 }), (err) =>
      isBrokerError(err, 'invalid_argument'),
    );
    await assert.rejects(registry.create('s', { partitions: 1, ageMsMax: 0 }), (err) =>
      isBrokerError(err, 'invalid_argument'),
    );
    await registry.close();
  });
});

describe('stream deletion and vhosts', () => {
  it('deletes a stream with its logs, so a new stream of that name starts empty', async () => {
    const storage = new MemoryStorage();
    const { registry, clock } = await openStreams(storage);
    await registry.create('odd/name.with dots', { partitions: 2 });
    registry.partition('odd/name.with dots', 0).append(bytes('x'), { timestamp: clock.now(), format: 1 });
    // Beside the partitions' logs, storage holds the definitions log.
    const partitionLogs = async () => (await storage.listLogs()).filter((name) => name.startsWith('s.'));
    assert.equal((await partitionLogs()).length, 2);
    await registry.delete('odd/name.with dots');
    assert.equal(registry.get('odd/name.with dots'), undefined);
    assert.deepEqual(await partitionLogs(), []);
    await registry.create('odd/name.with dots', { partitions: 1 });
    assert.equal(registry.partition('odd/name.with dots', 0).endOffset, 0);
    await assert.rejects(registry.delete('missing'), (err) => isBrokerError(err, 'not_found'));
    await registry.close();
  });

  it('keeps streams of different vhosts apart on one storage', async () => {
    const storage = new MemoryStorage();
    const a = await openStreams(storage, { vhost: '/' });
    const b = await openStreams(storage, { vhost: 'other' });
    await a.registry.create('s', { partitions: 1 });
    await b.registry.create('s', { partitions: 1 });
    a.registry.partition('s', 0).append(bytes('x'), { timestamp: 1, format: 1 });
    assert.equal(b.registry.partition('s', 0).endOffset, 0);
    assert.deepEqual(
      b.registry.list().map((s) => s.name),
      ['s'],
    );
    await a.registry.close();
    await b.registry.close();
  });
});

describe('long-poll waitFor', () => {
  it('resolves at once when data is already there', async () => {
    const { registry, clock } = await openStreams(new MemoryStorage());
    await registry.create('s', { partitions: 1 });
    const p = registry.partition('s', 0);
    // The stream's retention timer and the groups' offset-expiry check are armed before any wait.
    const armed = clock.pending;
    p.append(bytes('x'), { timestamp: clock.now(), format: 1 });
    await p.waitFor(0, 60_000);
    assert.equal(clock.pending, armed, 'no wait timer was armed');
    await registry.close();
  });

  it('wakes on the append that moves the end past the offset', async () => {
    const { registry, clock } = await openStreams(new MemoryStorage());
    await registry.create('s', { partitions: 1 });
    const p = registry.partition('s', 0);
    const armed = clock.pending;
    let woke = false;
    const waiting = p.waitFor(0, 60_000).then(() => {
      woke = true;
    });
    await Promise.resolve();
    assert.equal(woke, false);
    p.append(bytes('x'), { timestamp: clock.now(), format: 1 });
    await waiting;
    assert.equal(woke, true);
    assert.equal(clock.pending, armed, 'the wait timer was cleared');
    await registry.close();
  });

  it('does not wake for an append below the awaited offset, and times out on the clock', async () => {
    const { registry, clock } = await openStreams(new MemoryStorage());
    await registry.create('s', { partitions: 1 });
    const p = registry.partition('s', 0);
    let woke = false;
    const waiting = p.waitFor(1, 500).then(() => {
      woke = true;
    });
    p.append(bytes('x'), { timestamp: clock.now(), format: 1 });
    await Promise.resolve();
    await Promise.resolve();
    assert.equal(woke, false);
    clock.advance(499);
    await Promise.resolve();
    assert.equal(woke, false);
    clock.advance(1);
    await waiting;
    assert.equal(woke, true);
    assert.equal(p.endOffset, 1);
    await registry.close();
  });

  it('releases waiters when the stream is deleted', async () => {
    const { registry } = await openStreams(new MemoryStorage());
    await registry.create('s', { partitions: 1 });
    const waiting = registry.partition('s', 0).waitFor(0, 60_000);
    await registry.delete('s');
    await waiting;
    await registry.close();
  });
});
