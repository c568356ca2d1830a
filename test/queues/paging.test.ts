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

test('ids and offsets far apart, never stored or out of 32-bit reach keep their values', () => {
  const list = new ReadyList(0);
  const far = 2 ** 40;
  // Never-stored messages (offset -1) between stored ones, ids beyond 2^32.
  const plain = (id: number, offset: number): QueuedMessage => ({
    ...record(id),
    offset,
    expiresAtMs: undefined,
    deliveryCount: 0,
    redelivered: false,
    message: undefined,
  });
  const inserted: QueuedMessage[] = [];
  for (let i = 0; i < 2000; i++) inserted.push(plain(far + i, i % 7 === 0 ? -1 : 5 * i));
  // Then an offset more than 2^32 past the others, and a requeue of an id far below the level's.
  inserted.push(plain(far + 5000, 2 ** 33));
  inserted.push(plain(1, 3));
  for (const m of inserted) list.insert(m);
  const out: QueuedMessage[] = [];
  for (let m = list.shift(); m !== undefined; m = list.shift()) out.push(m);
  assert.deepEqual(
    out,
    [...inserted].sort((a, b) => a.id - b.id),
  );
  // A level that grows again afterwards is back to values near each other.
  for (let i = 0; i < 3000; i++) list.insert(plain(far + 10_000 + i, 9 * i));
  for (let i = 0; i < 3000; i++) assert.deepEqual(list.shift(), plain(far + 10_000 + i, 9 * i));
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

test('a backlog drains whole and in order while other queues hold the whole body budget', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-paging-'));
  const storage = await FileStorage.open({ dir, fsync: { kind: 'never' } });
  try {
    const limits = { bodyCacheBytesMax: 64 * 1024 };
    const { queue, bodies } = await openQueue({ durable: true }, { storage, name: 'full', limits });
    // Other queues' bodies: what is left is less than one message, so every read is of one entry.
    const othersBytes = limits.bodyCacheBytesMax - 300;
    assert.ok(bodies.reserve(othersBytes - 256));
    const count = 500;
    const pending: Array<Promise<void>> = [];
    for (let i = 0; i < count; i++)
      pending.push(queue.enqueue(msg(`m${i}:${'y'.repeat(i % 300)}`, { persistent: true })).durable);
    await Promise.all(pending);
    const seen: string[] = [];
    queue.consume({ tag: 'c', owner: 'o', noAck: true, deliver: (d: Delivery) => void seen.push(text(d)) });
    for (let round = 0; round < 1000 && seen.length < count; round++) await tick();
    assert.deepEqual(
      seen,
      Array.from({ length: count }, (_, i) => `m${i}:${'y'.repeat(i % 300)}`),
    );
    assert.equal(bodies.usedBytes, othersBytes);
    await queue.close();
  } finally {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
