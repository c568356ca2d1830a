import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { type QueuedMessage, ReadyList } from '../../src/core/queues/ready-list.js';
import type { Delivery } from '../../src/core/types.js';
import { FileStorage } from '../../src/storage/file/storage.js';
import { msg, openQueue, text, tick } from '../../testing/queue-harness.js';

function record(id: number, priority = 0, offset = id): QueuedMessage {
  return {
    id,
    priority,
    offset,
    bodyBytes: 10,
    expiresAtMs: id % 3 === 0 ? 1000 + id : undefined,
    deliveryCount: id % 5,
    redelivered: id % 2 === 0,
    message: id % 4 === 0 ? msg(`body-${id}`) : undefined,
    holder: undefined,
  };
}

test('the ready list keeps order, fields and bodies through growth, shrinking and requeues', () => {
  const list = new ReadyList(2);
  const total = 5000;
  for (let id = 1; id <= total; id++) list.insert(record(id, id % 3));
  const taken: QueuedMessage[] = [];
  for (let i = 0; i < 3000; i++) taken.push(list.shift()!);
  // Requeue every other taken message, newest first, so most go into the middle of their level.
  for (const m of taken.filter((_, i) => i % 2 === 0).reverse()) list.insert(m);
  assert.equal(list.count, total - 1500);
  assert.equal(list.bytes, (total - 1500) * 10);
  const order: QueuedMessage[] = [];
  for (let m = list.shift(); m !== undefined; m = list.shift()) order.push(m);
  assert.equal(order.length, total - 1500);
  for (let i = 1; i < order.length; i++) {
    const [a, b] = [order[i - 1]!, order[i]!];
    assert.ok(a.priority > b.priority || (a.priority === b.priority && a.id < b.id), `order at ${i}`);
  }
  for (const m of [...taken, ...order]) assert.deepEqual(m, record(m.id, m.id % 3));
  assert.equal(list.count, 0);
  assert.equal(list.bytes, 0);
});

test('expiry, delivery count and redelivered survive arriving after a long run of plain messages', () => {
  const list = new ReadyList(0);
  const plain = (id: number): QueuedMessage => ({
    ...record(id),
    expiresAtMs: undefined,
    deliveryCount: 0,
    redelivered: false,
    message: undefined,
  });
  const total = 3000;
  for (let id = 1; id <= total; id++) list.insert(plain(id));
  const [one, , three] = [list.shift()!, list.shift()!, list.shift()!];
  // The first message with each field: a requeue to the head, one into the middle, a new one at the tail.
  list.insert({ ...one, deliveryCount: 1, redelivered: true });
  list.insert({ ...three, expiresAtMs: 5000 });
  list.insert({ ...plain(total + 1), expiresAtMs: 7000, deliveryCount: 2 });
  const out: QueuedMessage[] = [];
  for (let m = list.shift(); m !== undefined; m = list.shift()) out.push(m);
  assert.equal(out.length, total);
  assert.deepEqual(out[0], { ...one, deliveryCount: 1, redelivered: true });
  assert.deepEqual(out[1], { ...three, expiresAtMs: 5000 });
  assert.deepEqual(out[total - 1], { ...plain(total + 1), expiresAtMs: 7000, deliveryCount: 2 });
  for (const m of out.slice(2, total - 1)) assert.deepEqual(m, plain(m.id));
  // Emptied after growing, the list starts afresh without the columns it no longer needs.
  list.insert(plain(total + 2));
  assert.deepEqual(list.shift(), plain(total + 2));
  assert.equal(list.count, 0);
});

test('read-ahead attaches bodies only to paged-out ready messages', () => {
  const list = new ReadyList(0);
  for (let id = 1; id <= 8; id++) list.insert(record(id, 0, id === 6 ? -1 : id));
  // 4 and 8 have bodies, 6 was never stored.
  assert.deepEqual(
    list.paged(0, 6).map((p) => p.id),
    [1, 2, 3, 5],
  );
  list.attach(2, msg('two'));
  assert.equal(list.peek()?.id, 1);
  list.shift();
  assert.equal(text({ message: list.shift()!.message! } as Delivery), 'two');
  assert.deepEqual(
    list.paged(0, 100).map((p) => p.id),
    [3, 5, 7],
  );
});

test('a paged-out backlog comes back whole and in order to a consumer that acks and requeues', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-paging-'));
  const storage = await FileStorage.open({ dir, fsync: { kind: 'never' } });
  try {
    const limits = { bodyCacheBytesMax: 16 * 1024 };
    const { queue, bodies } = await openQueue({ durable: true }, { storage, name: 'paged', limits });
    const count = 3000;
    const pending: Array<Promise<void>> = [];
    for (let i = 0; i < count; i++) {
      // Every tenth message is transient, so stored and in-memory bodies interleave.
      const persistent = i % 10 !== 9;
      pending.push(
        queue.enqueue(msg(`m${i}:${'x'.repeat(i % 700)}`, { persistent, messageId: `${i}` })).durable,
      );
    }
    await Promise.all(pending);
    assert.ok(bodies.usedBytes <= limits.bodyCacheBytesMax);
    const seen: string[] = [];
    let requeued = 0;
    queue.consume({
      tag: 'c',
      owner: 'o',
      prefetch: 50,
      deliver: (d: Delivery) => {
        const i = Number(d.message.properties.messageId);
        assert.equal(text(d), `m${i}:${'x'.repeat(i % 700)}`);
        // Send back every 97th message once: it must return to its place, body intact.
        const requeue = i % 97 === 0 && !d.redelivered;
        if (requeue) requeued++;
        else seen.push(d.message.properties.messageId!);
        setImmediate(() => (requeue ? queue.nack(d.id, true) : queue.ack(d.id)));
      },
    });
    for (let round = 0; round < 10_000 && seen.length < count; round++) await tick();
    assert.equal(seen.length, count);
    assert.equal(new Set(seen).size, count);
    assert.ok(requeued > 0);
    assert.equal(queue.info().messageCount, 0);
    await tick();
    assert.equal(bodies.usedBytes, 0);
    await queue.close();
  } finally {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
