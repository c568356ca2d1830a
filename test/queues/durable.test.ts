import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { queueLogNames } from '../../src/core/queues/index.js';
import { ManualClock } from '../../src/shared/clock.js';
import { FileStorage } from '../../src/storage/file/storage.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import type { Log, Storage } from '../../src/storage/types.js';
import { collector, msg, openQueue, text, tick } from '../../testing/queue-harness.js';

const persistent = { persistent: true } as const;

async function unackedAndAckedSurvive(
  storage: Storage,
  reopenStorage: () => Promise<Storage>,
): Promise<void> {
  const first = await openQueue({ durable: true }, { storage, name: 'orders' });
  for (let i = 0; i < 5; i++) await first.queue.enqueue(msg(`m${i}`, persistent)).durable;
  first.queue.enqueue(msg('transient'));
  const d0 = first.queue.get({ noAck: false, owner: 'o' })!;
  first.queue.get({ noAck: false, owner: 'o' });
  first.queue.ack(d0.id);
  await first.queue.close();
  const second = await openQueue({ durable: true }, { storage: await reopenStorage(), name: 'orders' });
  assert.equal(second.queue.info().messageCount, 4);
  const back = [1, 2, 3, 4].map(() => second.queue.get({ noAck: true, owner: 'o' })!);
  assert.deepEqual(back.map(text), ['m1', 'm2', 'm3', 'm4']);
  assert.ok(back.every((d) => d.redelivered));
  assert.equal(back[0]!.message.properties.persistent, true);
  await second.queue.close();
}

test('reopening a durable queue brings back every unacked persistent message, no acked one', async () => {
  const storage = new MemoryStorage();
  await unackedAndAckedSurvive(storage, async () => storage);
});

test('the same holds on file storage across a storage restart', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-queues-'));
  try {
    const options = { dir, fsync: { kind: 'always' } as const };
    let storage: Storage = await FileStorage.open(options);
    await unackedAndAckedSurvive(storage, async () => {
      await storage.close();
      storage = await FileStorage.open(options);
      return storage;
    });
    await storage.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('acks after a requeue and deliveries by consumers are all remembered', async () => {
  const storage = new MemoryStorage();
  const first = await openQueue({ durable: true }, { storage });
  const c = collector('c', { owner: 'ch' });
  first.queue.consume(c.options);
  await tick();
  for (let i = 0; i < 6; i++) first.queue.enqueue(msg(`m${i}`, persistent));
  first.queue.nack(c.deliveries[0]!.id, true);
  for (const d of c.deliveries.slice(1, 4)) first.queue.ack(d.id);
  await first.queue.close();
  const second = await openQueue({ durable: true }, { storage });
  const left = [1, 2, 3].map(() => text(second.queue.get({ noAck: true, owner: 'o' })));
  assert.deepEqual(left.sort(), ['m0', 'm4', 'm5']);
  assert.equal(second.queue.get({ noAck: true, owner: 'o' }), undefined);
});

test('priority, expiry and delay survive a reopen', async () => {
  const storage = new MemoryStorage();
  const clock = new ManualClock();
  const first = await openQueue({ durable: true, priorityMax: 5 }, { storage, clock });
  first.queue.enqueue(msg('low', { persistent: true, priority: 1 }));
  first.queue.enqueue(msg('high', { persistent: true, priority: 4 }));
  first.queue.enqueue(msg('dies', { persistent: true, expirationMs: 100 }));
  first.queue.enqueue(msg('waits', { persistent: true, delayMs: 1000 }));
  await first.queue.close();
  clock.advance(200);
  const second = await openQueue({ durable: true, priorityMax: 5 }, { storage, clock });
  assert.equal(second.queue.stats().delayed, 1);
  assert.deepEqual(
    [1, 2, 3].map(() => text(second.queue.get({ noAck: true, owner: 'o' }))),
    ['high', 'low', '<none>'],
  );
  clock.advance(800);
  assert.equal(text(second.queue.get({ noAck: true, owner: 'o' })), 'waits');
});

test('bodies beyond the cache budget are read back from the log on delivery', async () => {
  const storage = new MemoryStorage();
  const { queue, bodies: cache } = await openQueue(
    { durable: true },
    { storage, limits: { bodyCacheBytesMax: 20 } },
  );
  const bodies = Array.from({ length: 20 }, (_, i) => `message-number-${i}`);
  for (const b of bodies) queue.enqueue(msg(b, persistent));
  assert.ok(cache.usedBytes <= 20);
  const c = collector('c', { noAck: true });
  queue.consume(c.options);
  await tick();
  assert.deepEqual(c.texts(), bodies);
  assert.equal(cache.usedBytes, 0);
  await queue.close();
});

test('the message log is truncated and the ack log compacted as messages are acked', async () => {
  const storage = new MemoryStorage();
  // A log has one holder at a time, so the test keeps the handles the queue opens to look at them.
  const opened = new Map<string, Log>();
  const openLog = storage.openLog.bind(storage);
  storage.openLog = async (name) => {
    const log = await openLog(name);
    opened.set(name, log);
    return log;
  };
  const { queue } = await openQueue({ durable: true }, { storage, name: 'busy' });
  const names = queueLogNames('/', 'busy');
  const messages = opened.get(names.messages)!;
  const acks = opened.get(names.acks)!;
  const total = 20_000;
  for (let i = 0; i < total; i++) {
    queue.enqueue(msg(`m${i}`, persistent));
    const d = queue.get({ noAck: false, owner: 'o' })!;
    queue.ack(d.id);
    // One removal record per job: let the batch flush as a real broker's event loop would.
    if (i % 10 === 9) await tick();
  }
  await tick();
  assert.ok(messages.startOffset >= total - 4096, `message log starts at ${messages.startOffset}`);
  assert.ok(acks.endOffset - acks.startOffset <= 1100, `ack log holds ${acks.endOffset - acks.startOffset}`);
  await queue.close();
  const again = await openQueue({ durable: true }, { storage, name: 'busy' });
  assert.equal(again.queue.info().messageCount, 0);
});

test('a stuck unacked head does not bring acked successors back after compaction', async () => {
  const storage = new MemoryStorage();
  const first = await openQueue({ durable: true }, { storage });
  first.queue.enqueue(msg('stuck', persistent));
  first.queue.get({ noAck: false, owner: 'o' });
  for (let i = 0; i < 3000; i++) {
    first.queue.enqueue(msg(`m${i}`, persistent));
    first.queue.ack(first.queue.get({ noAck: false, owner: 'x' })!.id);
    await tick();
  }
  await first.queue.close();
  const second = await openQueue({ durable: true }, { storage });
  assert.equal(second.queue.info().messageCount, 1);
  assert.equal(text(second.queue.get({ noAck: true, owner: 'o' })), 'stuck');
});

test('destroy removes the stored logs', async () => {
  const storage = new MemoryStorage();
  const { queue } = await openQueue({ durable: true }, { storage, name: 'gone' });
  queue.enqueue(msg('a', persistent));
  await queue.destroy();
  const names = queueLogNames('/', 'gone');
  const logs = await storage.listLogs();
  assert.ok(!logs.includes(names.messages) && !logs.includes(names.acks), logs.join(','));
});

test('log names escape any vhost and queue name into the storage charset, one to one', () => {
  const a = queueLogNames('/', 'a.b');
  const b = queueLogNames('/a', 'b');
  assert.notEqual(a.messages, b.messages);
  for (const name of [a.messages, a.acks, queueLogNames('ünï/cödé', 'x'.repeat(255)).acks]) {
    assert.match(name, /^[A-Za-z0-9._-]{1,200}$/);
  }
  assert.notEqual(
    queueLogNames('/', 'x'.repeat(255)).messages,
    queueLogNames('/', `${'x'.repeat(254)}y`).messages,
  );
});
