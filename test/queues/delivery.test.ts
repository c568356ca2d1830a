import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isBrokerError } from '../../src/shared/errors.js';
import { CountingLimit, collector, msg, openQueue, text, tick } from '../../testing/queue-harness.js';

test('messages are delivered in publish order to one consumer', async () => {
  const { queue } = await openQueue();
  for (let i = 0; i < 5; i++) queue.enqueue(msg(`m${i}`));
  const c = collector('c');
  queue.consume(c.options);
  await tick();
  assert.deepEqual(c.texts(), ['m0', 'm1', 'm2', 'm3', 'm4']);
  assert.equal(queue.info().messageCount, 0);
});

test('deliveries wait until consume has returned', async () => {
  const { queue } = await openQueue();
  queue.enqueue(msg('a'));
  const c = collector('c');
  queue.consume(c.options);
  assert.equal(c.deliveries.length, 0);
  await tick();
  assert.equal(c.deliveries.length, 1);
});

test('prefetch bounds unacked deliveries and an ack frees credit', async () => {
  const { queue } = await openQueue();
  const c = collector('c', { prefetch: 2 });
  queue.consume(c.options);
  await tick();
  for (let i = 0; i < 5; i++) queue.enqueue(msg(`m${i}`));
  assert.deepEqual(c.texts(), ['m0', 'm1']);
  queue.ack(c.deliveries[0]!.id);
  assert.deepEqual(c.texts(), ['m0', 'm1', 'm2']);
  assert.equal(queue.info().messageCount, 2);
});

test('setPrefetch raises credit and resumes delivery', async () => {
  const { queue } = await openQueue();
  const c = collector('c', { prefetch: 1 });
  const consumer = queue.consume(c.options);
  for (let i = 0; i < 3; i++) queue.enqueue(msg(`m${i}`));
  await tick();
  assert.equal(c.deliveries.length, 1);
  consumer.setPrefetch(0);
  await tick();
  assert.equal(c.deliveries.length, 3);
});

test('a shared credit limit spans consumers and wakes them on release', async () => {
  const { queue } = await openQueue();
  const limit = new CountingLimit(2);
  const a = collector('a', { limits: [limit], owner: 'ch' });
  const b = collector('b', { limits: [limit], owner: 'ch' });
  queue.consume(a.options);
  queue.consume(b.options);
  await tick();
  for (let i = 0; i < 4; i++) queue.enqueue(msg(`m${i}`));
  assert.equal(a.deliveries.length + b.deliveries.length, 2);
  queue.ack(a.deliveries[0]!.id);
  assert.equal(a.deliveries.length + b.deliveries.length, 3);
  assert.equal(limit.used, 2);
});

test('consumers of equal priority are served round robin', async () => {
  const { queue } = await openQueue();
  const cs = ['a', 'b', 'c'].map((t) => collector(t));
  for (const c of cs) queue.consume(c.options);
  await tick();
  for (let i = 0; i < 6; i++) queue.enqueue(msg(`m${i}`));
  assert.deepEqual(
    cs.map((c) => c.texts()),
    [
      ['m0', 'm3'],
      ['m1', 'm4'],
      ['m2', 'm5'],
    ],
  );
});

test('higher priority consumers are served first; lower ones when the higher have no credit', async () => {
  const { queue } = await openQueue();
  const low = collector('low', { priority: 0 });
  const high = collector('high', { priority: 5, prefetch: 2 });
  queue.consume(low.options);
  queue.consume(high.options);
  await tick();
  for (let i = 0; i < 4; i++) queue.enqueue(msg(`m${i}`));
  assert.deepEqual(high.texts(), ['m0', 'm1']);
  assert.deepEqual(low.texts(), ['m2', 'm3']);
});

test('exclusive consumers lock the queue both ways', async () => {
  const { queue } = await openQueue();
  queue.consume(collector('x', { exclusive: true }).options);
  assert.throws(
    () => queue.consume(collector('y').options),
    (e) => isBrokerError(e, 'resource_locked'),
  );
  const other = await openQueue();
  other.queue.consume(collector('y').options);
  assert.throws(
    () => other.queue.consume(collector('x', { exclusive: true }).options),
    (e) => isBrokerError(e, 'resource_locked'),
  );
});

test('a consumer tag is unique per queue', async () => {
  const { queue } = await openQueue();
  queue.consume(collector('same').options);
  assert.throws(
    () => queue.consume(collector('same').options),
    (e) => isBrokerError(e, 'invalid_argument'),
  );
});

test('single active consumer: only the first receives; the next takes over on cancel', async () => {
  const { queue } = await openQueue({ singleActiveConsumer: true });
  const a = collector('a');
  const b = collector('b');
  const consumerA = queue.consume(a.options);
  queue.consume(b.options);
  await tick();
  assert.deepEqual(a.active, [true]);
  assert.deepEqual(b.active, [false]);
  queue.enqueue(msg('m0'));
  queue.enqueue(msg('m1'));
  assert.deepEqual(a.texts(), ['m0', 'm1']);
  consumerA.cancel();
  assert.deepEqual(b.active, [false, true]);
  queue.enqueue(msg('m2'));
  assert.deepEqual(b.texts(), ['m2']);
});

test('nack with requeue puts the message back at its place, redelivered, count raised', async () => {
  const { queue } = await openQueue();
  for (let i = 0; i < 3; i++) queue.enqueue(msg(`m${i}`));
  const first = queue.get({ noAck: false, owner: 'o' })!;
  const second = queue.get({ noAck: false, owner: 'o' })!;
  assert.equal(first.redelivered, false);
  assert.equal(first.deliveryCount, 0);
  queue.nack(second.id, true);
  queue.nack(first.id, true);
  const again = [1, 2, 3].map(() => queue.get({ noAck: true, owner: 'o' }));
  assert.deepEqual(again.map(text), ['m0', 'm1', 'm2']);
  assert.deepEqual(
    again.map((d) => [d!.redelivered, d!.deliveryCount]),
    [
      [true, 1],
      [true, 1],
      [false, 0],
    ],
  );
});

test('get reports the remaining count and returns undefined on empty', async () => {
  const { queue } = await openQueue();
  queue.enqueue(msg('a'));
  queue.enqueue(msg('b'));
  assert.equal(queue.get({ noAck: true, owner: 'o' })!.remaining, 1);
  assert.equal(queue.get({ noAck: true, owner: 'o' })!.remaining, 0);
  assert.equal(queue.get({ noAck: true, owner: 'o' }), undefined);
});

test('ack of an unknown id is an invalid-state error and acks are single-use', async () => {
  const { queue } = await openQueue();
  queue.enqueue(msg('a'));
  const d = queue.get({ noAck: false, owner: 'o' })!;
  queue.ack(d.id);
  assert.throws(
    () => queue.ack(d.id),
    (e) => isBrokerError(e, 'invalid_state'),
  );
  assert.throws(
    () => queue.nack(12345, true),
    (e) => isBrokerError(e, 'invalid_state'),
  );
});

test('cancel keeps unacked deliveries with the owner; releaseOwner requeues them in order', async () => {
  const { queue } = await openQueue();
  const c = collector('c', { owner: 'ch1' });
  const consumer = queue.consume(c.options);
  await tick();
  for (let i = 0; i < 3; i++) queue.enqueue(msg(`m${i}`));
  consumer.cancel();
  assert.equal(queue.info().messageCount, 0);
  assert.equal(queue.stats().unacked, 3);
  queue.ack(c.deliveries[1]!.id);
  queue.releaseOwner('ch1');
  assert.equal(queue.info().messageCount, 2);
  const d = queue.get({ noAck: true, owner: 'x' })!;
  assert.equal(text(d), 'm0');
  assert.equal(d.redelivered, true);
  assert.equal(text(queue.get({ noAck: true, owner: 'x' })), 'm2');
});

test('releaseOwner cancels the owner consumers so released messages go to others', async () => {
  const { queue } = await openQueue();
  const mine = collector('mine', { owner: 'ch1' });
  queue.consume(mine.options);
  await tick();
  queue.enqueue(msg('m0'));
  const other = collector('other', { owner: 'ch2' });
  queue.consume(other.options);
  await tick();
  queue.releaseOwner('ch1');
  assert.deepEqual(mine.texts(), ['m0']);
  assert.deepEqual(other.texts(), ['m0']);
  assert.equal(other.deliveries[0]!.redelivered, true);
  assert.equal(queue.info().consumerCount, 1);
});

test('no-ack consumers remove messages on delivery and ignore prefetch', async () => {
  const { queue } = await openQueue();
  const c = collector('c', { noAck: true, prefetch: 1 });
  queue.consume(c.options);
  await tick();
  for (let i = 0; i < 3; i++) queue.enqueue(msg(`m${i}`));
  assert.equal(c.deliveries.length, 3);
  assert.equal(queue.stats().unacked, 0);
});

test('priority queues deliver higher priorities first, FIFO within a priority', async () => {
  const { queue } = await openQueue({ priorityMax: 10 });
  const sends: Array<[string, number | undefined]> = [
    ['a', 1],
    ['b', 5],
    ['c', undefined],
    ['d', 5],
    ['e', 200],
    ['f', 1],
  ];
  for (const [t, p] of sends) queue.enqueue(msg(t, p === undefined ? {} : { priority: p }));
  const order = sends.map(() => text(queue.get({ noAck: true, owner: 'o' })));
  assert.deepEqual(order, ['e', 'b', 'd', 'a', 'f', 'c']);
});

test('a requeued priority message returns ahead of later ones of its priority', async () => {
  const { queue } = await openQueue({ priorityMax: 3 });
  queue.enqueue(msg('x', { priority: 2 }));
  queue.enqueue(msg('y', { priority: 2 }));
  const d = queue.get({ noAck: false, owner: 'o' })!;
  queue.enqueue(msg('z', { priority: 3 }));
  queue.nack(d.id, true);
  assert.deepEqual(
    [1, 2, 3].map(() => text(queue.get({ noAck: true, owner: 'o' }))),
    ['z', 'x', 'y'],
  );
});

test('purge drops ready messages only; destroy cancels consumers', async () => {
  const { queue } = await openQueue();
  for (let i = 0; i < 3; i++) queue.enqueue(msg(`m${i}`));
  const held = queue.get({ noAck: false, owner: 'o' })!;
  assert.equal(queue.purge(), 2);
  assert.equal(queue.info().messageCount, 0);
  queue.ack(held.id);
  const c = collector('c');
  queue.consume(c.options);
  await queue.destroy();
  assert.deepEqual(c.cancelled, ['queue deleted']);
  assert.throws(
    () => queue.enqueue(msg('late')),
    (e) => isBrokerError(e, 'invalid_state'),
  );
});

test('auto-delete asks for deletion when the last consumer leaves, not before any came', async () => {
  const { queue, deleteRequests } = await openQueue({ autoDelete: true });
  const a = queue.consume(collector('a').options);
  const b = queue.consume(collector('b').options);
  a.cancel();
  assert.deepEqual(deleteRequests, []);
  b.cancel();
  assert.deepEqual(deleteRequests, ['auto_delete']);
});

test('auto-delete also fires when the last consumer goes with its owner', async () => {
  const { queue, deleteRequests } = await openQueue({ autoDelete: true });
  queue.consume(collector('a', { owner: 'ch' }).options);
  queue.releaseOwner('ch');
  assert.deepEqual(deleteRequests, ['auto_delete']);
});

test('a consumer acking inside deliver keeps order and state consistent', async () => {
  const { queue } = await openQueue();
  const seen: string[] = [];
  queue.consume({
    tag: 'c',
    owner: 'o',
    prefetch: 1,
    deliver: (d) => {
      seen.push(text(d));
      queue.ack(d.id);
    },
  });
  await tick();
  for (let i = 0; i < 50; i++) queue.enqueue(msg(`m${i}`));
  assert.equal(seen.length, 50);
  assert.equal(seen[49], 'm49');
  assert.equal(queue.stats().unacked, 0);
});

test('invalid queue options are refused', async () => {
  await assert.rejects(openQueue({ priorityMax: 256 }), (e) => isBrokerError(e, 'invalid_argument'));
  await assert.rejects(openQueue({ messageTtlMs: -1 }), (e) => isBrokerError(e, 'invalid_argument'));
});

test('a consumer kept up with message by message: counts stay right and its owner still gets back what it holds', async () => {
  const { queue } = await openQueue();
  const c = collector('c', { owner: 'ch1' });
  const consumer = queue.consume(c.options);
  await tick();
  for (let i = 0; i < 20; i++) {
    queue.enqueue(msg(`m${i}`));
    assert.equal(queue.stats().unacked, 1);
    queue.ack(c.deliveries[i]!.id);
    assert.equal(queue.stats().unacked, 0);
  }
  queue.enqueue(msg('held1'));
  queue.enqueue(msg('held2'));
  consumer.cancel();
  queue.ack(c.deliveries[20]!.id);
  assert.equal(queue.stats().unacked, 1);
  queue.releaseOwner('ch1');
  assert.equal(queue.stats().unacked, 0);
  const d = queue.get({ noAck: false, owner: 'g' })!;
  assert.equal(text(d), 'held2');
  assert.equal(d.redelivered, true);
  queue.ack(d.id);
  assert.equal(queue.stats().unacked, 0);
  assert.equal(queue.info().messageCount, 0);
});

test('a message published from inside a delivery is delivered after it, in order', async () => {
  const { queue } = await openQueue();
  const seen: string[] = [];
  queue.consume({
    tag: 'c',
    owner: 'o',
    noAck: true,
    deliver: (d) => {
      seen.push(text(d));
      if (seen.length < 5) queue.enqueue(msg(`${text(d)}+`));
    },
  });
  await tick();
  queue.enqueue(msg('a'));
  assert.deepEqual(seen, ['a', 'a+', 'a++', 'a+++', 'a++++']);
  assert.equal(queue.info().messageCount, 0);
});
