import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ConsumeOptions, Message } from '../../src/core/types.js';
import { CountingLimit, collector, msg, openQueue, tick } from '../../testing/queue-harness.js';

/** A consumer with the `offer` fast path; `accept` decides per message; every receipt is logged in order. */
function offering(accept: (text: string) => boolean, options: Partial<ConsumeOptions> = {}) {
  const seen: string[] = [];
  const offered: string[] = [];
  const decode = (m: Message) => new TextDecoder().decode(m.body);
  const c = collector('c', {
    ...options,
    deliver: (d) => {
      c.deliveries.push(d);
      seen.push(`deliver ${decode(d.message)}`);
    },
    offer: (m) => {
      offered.push(decode(m));
      if (!accept(decode(m))) return false;
      seen.push(`offer ${decode(m)}`);
      return true;
    },
  });
  return { c, seen, offered };
}

test('offer: a message taken by the consumer counts as delivered and settled', async () => {
  const { queue } = await openQueue();
  const { c, seen } = offering(() => true);
  queue.consume(c.options);
  await tick();
  queue.enqueue(msg('x'));
  assert.deepEqual(seen, ['offer x']);
  assert.equal(c.deliveries.length, 0);
  assert.equal(queue.stats().unacked, 0, 'nothing left to ack');
  assert.equal(queue.info().messageCount, 0, 'the queue forgot it');
});

test('offer: only while nothing is ready; waiting messages go first, by delivery', async () => {
  const { queue } = await openQueue();
  queue.enqueue(msg('a'));
  queue.enqueue(msg('b'));
  const { c, seen, offered } = offering(() => true);
  queue.consume(c.options);
  // Before the first dispatch: two messages are ready, so this one must queue behind them.
  queue.enqueue(msg('c'));
  await tick();
  assert.deepEqual(offered, []);
  assert.deepEqual(seen, ['deliver a', 'deliver b', 'deliver c']);
});

test('offer: declined, the message is queued and delivered as usual, in order', async () => {
  const { queue } = await openQueue();
  const { c, seen, offered } = offering(() => false, { prefetch: 1 });
  queue.consume(c.options);
  await tick();
  queue.enqueue(msg('x'));
  queue.enqueue(msg('y'));
  assert.deepEqual(offered, ['x'], 'y found no credit, so it was not offered');
  assert.deepEqual(seen, ['deliver x']);
  assert.equal(queue.info().messageCount, 1);
  queue.ack(c.deliveries[0]!.id);
  assert.deepEqual(seen, ['deliver x', 'deliver y']);
  queue.ack(c.deliveries[1]!.id);
  assert.equal(queue.stats().unacked, 0);
});

test('offer: never to a consumer without credit (prefetch or a shared limit)', async () => {
  const { queue } = await openQueue();
  const full = offering(() => true, { prefetch: 1 });
  queue.enqueue(msg('held'));
  queue.consume(full.c.options);
  await tick();
  queue.enqueue(msg('p'));
  assert.deepEqual(full.offered, [], 'prefetch full');
  assert.equal(queue.info().messageCount, 1);

  const other = await openQueue({}, { name: 'q2' });
  const limited = offering(() => true, { limits: [new CountingLimit(0)] });
  other.queue.consume(limited.c.options);
  await tick();
  other.queue.enqueue(msg('l'));
  assert.deepEqual(limited.offered, [], 'shared limit has no room');
  assert.equal(other.queue.info().messageCount, 1);
});

test('offer: order is kept when offers and queued deliveries mix', async () => {
  const { queue } = await openQueue();
  // Messages named q… are declined (they queue); the others are taken when offered.
  const { c, seen } = offering((t) => !t.startsWith('q'), { prefetch: 1 });
  queue.consume(c.options);
  await tick();
  for (const t of ['a', 'q1', 'o2', 'o3']) queue.enqueue(msg(t));
  assert.deepEqual(seen, ['offer a', 'deliver q1']);
  for (let i = 0; i < 3; i++) queue.ack(c.deliveries[i]!.id);
  queue.enqueue(msg('o4'));
  assert.deepEqual(seen, ['offer a', 'deliver q1', 'deliver o2', 'deliver o3', 'offer o4']);
  assert.equal(queue.info().messageCount, 0);
  assert.equal(queue.stats().unacked, 0);
});
