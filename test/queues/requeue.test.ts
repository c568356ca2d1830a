import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isBrokerError } from '../../src/shared/errors.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { msg, openQueue, text, tick } from '../../testing/queue-harness.js';

const persistent = { persistent: true } as const;

async function queueOf(names: string[], options = {}) {
  const harness = await openQueue(options);
  for (const name of names) harness.queue.enqueue(msg(name));
  return harness;
}

test('a counted requeue at the tail goes behind every ready message with its count up', async () => {
  const { queue } = await queueOf(['a', 'b', 'c']);
  const a = queue.get({ noAck: false, owner: 'o' })!;
  queue.requeue(a.id, { atTail: true, counted: true });
  const order = [1, 2, 3].map(() => queue.get({ noAck: false, owner: 'o' })!);
  assert.deepEqual(order.map(text), ['b', 'c', 'a']);
  const back = order[2]!;
  assert.equal(back.deliveryCount, 1);
  assert.equal(back.redelivered, true);
  assert.ok(back.id > a.id, 'a new delivery id');
  assert.throws(
    () => queue.ack(a.id),
    (err) => isBrokerError(err),
    'the old id names nothing',
  );
  assert.equal(queue.stats().unacked, 3);
});

test('an uncounted requeue in place is a release: first again, count unchanged', async () => {
  const { queue } = await queueOf(['a', 'b']);
  const a = queue.get({ noAck: false, owner: 'o' })!;
  queue.requeue(a.id, { atTail: false, counted: false });
  const again = queue.get({ noAck: false, owner: 'o' })!;
  assert.equal(text(again), 'a');
  assert.equal(again.id, a.id);
  assert.equal(again.deliveryCount, 0);
});

test('a counted requeue past the delivery limit dead-letters', async () => {
  const { queue, deadLetters } = await queueOf(['a'], { deliveryLimit: 1, deadLetterExchange: 'dlx' });
  for (let i = 0; i < 2; i++) {
    const d = queue.get({ noAck: false, owner: 'o' })!;
    queue.requeue(d.id, { atTail: true, counted: true });
  }
  assert.equal(queue.info().messageCount, 0);
  assert.equal(deadLetters.length, 1);
  assert.equal(text({ message: deadLetters[0]!.message } as never), 'a');
});

test('a durable queue stores the tail requeue: after a restart the message is last, its count kept', async () => {
  const storage = new MemoryStorage();
  const first = await openQueue({ durable: true }, { storage, name: 'jobs' });
  for (const name of ['a', 'b']) await first.queue.enqueue(msg(name, persistent)).durable;
  const a = first.queue.get({ noAck: false, owner: 'o' })!;
  first.queue.requeue(a.id, { atTail: true, counted: true });
  await tick();
  await first.queue.close();
  const second = await openQueue({ durable: true }, { storage, name: 'jobs' });
  const back = [1, 2].map(() => second.queue.get({ noAck: true, owner: 'o' })!);
  assert.deepEqual(back.map(text), ['b', 'a']);
  assert.equal(back[1]!.deliveryCount, 1);
  assert.equal(second.queue.info().messageCount, 0, 'the old entry is gone');
  await second.queue.close();
});

test('a hold that runs out returns the delivery at the tail, counted, and resolves true', async () => {
  const { queue, clock } = await queueOf(['a', 'b']);
  const a = queue.get({ noAck: false, owner: 'o' })!;
  const expired = queue.holdFor(a.id, 1000);
  clock.advance(999);
  assert.equal(queue.stats().unacked, 1);
  clock.advance(1);
  assert.equal(await expired, true);
  const order = [1, 2].map(() => queue.get({ noAck: false, owner: 'o' })!);
  assert.deepEqual(order.map(text), ['b', 'a']);
  assert.equal(order[1]!.deliveryCount, 1);
});

test('settling or holding again ends a hold unexpired', async () => {
  const { queue, clock } = await queueOf(['a', 'b']);
  const a = queue.get({ noAck: false, owner: 'o' })!;
  const first = queue.holdFor(a.id, 1000);
  clock.advance(600);
  const second = queue.holdFor(a.id, 1000);
  assert.equal(await first, false);
  clock.advance(600);
  assert.equal(queue.stats().unacked, 1, 'the later hold reset the timer');
  queue.ack(a.id);
  assert.equal(await second, false);
  clock.advance(2000);
  assert.equal(queue.info().messageCount, 1);
  const b = queue.get({ noAck: false, owner: 'o' })!;
  const released = queue.holdFor(b.id, 1000);
  queue.releaseOwner('o');
  assert.equal(await released, false);
});

test('a hold on a settled or unknown delivery resolves false; a bad timeout is refused', async () => {
  const { queue } = await queueOf(['a']);
  assert.equal(await queue.holdFor(12345, 1000), false);
  const a = queue.get({ noAck: false, owner: 'o' })!;
  for (const bad of [0, -1, 1.5, 2 ** 40]) {
    assert.throws(
      () => queue.holdFor(a.id, bad),
      (err) => isBrokerError(err),
    );
  }
});

test('closing the queue ends its holds unexpired', async () => {
  const { queue } = await queueOf(['a']);
  const a = queue.get({ noAck: false, owner: 'o' })!;
  const held = queue.holdFor(a.id, 1000);
  await queue.close();
  assert.equal(await held, false);
});
