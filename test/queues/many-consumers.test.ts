/**
 * A queue with as many consumers as one client may attach (`consumersPerQueueMax`) stays as cheap to
 * serve, and to leave, as one with a few: a channel closing with all of them must not hold the event
 * loop (it held it for minutes, every other client waiting), and a release of the channel's shared
 * prefetch must not look through every consumer once per consumer.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { consumersPerQueueMax } from '../../src/core/queues/consumers.js';
import type { Delivery } from '../../src/core/types.js';
import { CountingLimit, collector, msg, openQueue, text, tick } from '../../testing/queue-harness.js';

/** A channel's global prefetch that counts the questions asked of it and who listens to it. */
class WatchedLimit extends CountingLimit {
  asked = 0;
  listeners = 0;

  override hasRoom(): boolean {
    this.asked++;
    return super.hasRoom();
  }

  override onRoom(listener: () => void): () => void {
    this.listeners++;
    const off = super.onRoom(listener);
    return () => {
      this.listeners--;
      off();
    };
  }
}

test('a release of a channel prefetch shared by 2,000 consumers looks through them once', async () => {
  const { queue } = await openQueue();
  const consumers = 2000;
  const limit = new WatchedLimit(1);
  const got: Delivery[] = [];
  for (let i = 0; i < consumers; i++) {
    queue.consume({ tag: `c${i}`, owner: 'ch', limits: [limit], deliver: (d) => got.push(d) });
  }
  await tick();
  for (let i = 0; i < 3; i++) queue.enqueue(msg(`m${i}`));
  assert.deepEqual(got.map(text), ['m0']);
  assert.equal(limit.listeners, 1, 'the queue listens to the shared limit once');
  limit.asked = 0;
  queue.ack(got[0]!.id);
  assert.deepEqual(got.map(text), ['m0', 'm1']);
  // A pass finds the next one with room and, the limit full again, one more finds nobody for m2;
  // a dispatch per consumer was 2,000 such passes.
  assert.ok(limit.asked < 3 * consumers, `asked ${limit.asked} times`);
});

test('a channel holding a queue at its consumer bound goes at once and the next consumer is served', {
  timeout: 120_000,
}, async () => {
  const { queue } = await openQueue();
  let delivered = 0;
  for (let i = 0; i < consumersPerQueueMax; i++) {
    queue.consume({ tag: `c${i}`, owner: 'ch', prefetch: 1, deliver: () => delivered++ });
  }
  assert.throws(
    () => queue.consume({ tag: 'one-more', owner: 'ch', deliver: () => {} }),
    /consumers already/,
  );
  await tick();
  // A backlog behind consumers that all have their one message: each detach used to dispatch again.
  for (let i = 0; i < consumersPerQueueMax + 100; i++) queue.enqueue(msg(`m${i}`));
  assert.equal(delivered, consumersPerQueueMax);
  queue.releaseOwner('ch');
  assert.equal(queue.info().consumerCount, 0);
  assert.equal(queue.info().messageCount, consumersPerQueueMax + 100);
  const next = collector('next', { prefetch: 1 });
  queue.consume(next.options);
  await tick();
  assert.deepEqual(next.texts(), ['m0']);
});
