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
import { MemoryStorage } from '../../src/storage/memory.js';
import {
  type Collector,
  CountingLimit,
  collector,
  msg,
  openQueue,
  text,
  tick,
} from '../../testing/queue-harness.js';

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

/** Consumers each carrying a limit of their own (an MQTT client's Receive Maximum), counting its asks. */
function ownLimits(count: number, max: number): WatchedLimit[] {
  return Array.from({ length: count }, () => new WatchedLimit(max));
}

const askedOf = (limits: readonly WatchedLimit[]): number => limits.reduce((sum, l) => sum + l.asked, 0);

test('10,000 consumers at their window cost a publish nothing: consumers with credit are served round robin without visiting them', async () => {
  const { queue } = await openQueue();
  const full = ownLimits(10_000, 1);
  full.forEach((limit, i) => {
    queue.consume({ tag: `full${i}`, owner: `client${i}`, limits: [limit], deliver: () => {} });
  });
  const served = ['a', 'b', 'c'].map((tag) => collector(tag));
  for (const c of served) queue.consume(c.options);
  await tick();
  // Each full consumer takes its one message (never acked), then the three with credit one each.
  for (let i = 0; i < full.length + served.length; i++) queue.enqueue(msg(`fill${i}`));
  assert.ok(full.every((l) => l.used === 1));
  for (const l of full) l.asked = 0;
  const publishes = 300;
  for (let i = 0; i < publishes; i++) queue.enqueue(msg(`m${i}`));
  // Found without credit once, set aside until their limit has room; visiting them all on every
  // publish was 3,000,000 questions here.
  assert.ok(askedOf(full) <= full.length, `asked ${askedOf(full)} times for ${publishes} publishes`);
  served.forEach((c, k) => {
    const mine = c.texts().slice(1);
    assert.equal(mine.length, publishes / served.length);
    assert.deepEqual(
      mine,
      mine.map((_, j) => `m${j * served.length + k}`),
      `${c.options.tag} in round-robin turn`,
    );
  });
  assert.equal(queue.info().messageCount, 0);
});

test('a channel-wide limit full on 10,000 consumers is asked once, not on every publish, and its room brings them back', async () => {
  const { queue } = await openQueue();
  const channel = new WatchedLimit(10_000);
  const got: string[] = [];
  for (let i = 0; i < 10_000; i++) {
    queue.consume({
      tag: `c${i}`,
      owner: 'ch',
      limits: [channel],
      deliver: (d) => got.push(`c${i} ${text(d)}`),
    });
  }
  const other = collector('other');
  queue.consume(other.options);
  await tick();
  for (let i = 0; i < 10_001; i++) queue.enqueue(msg(`fill${i}`));
  assert.equal(channel.used, 10_000);
  channel.asked = 0;
  for (let i = 0; i < 200; i++) queue.enqueue(msg(`m${i}`));
  assert.ok(channel.asked <= 10_000 + 200, `asked ${channel.asked} times for 200 publishes`);
  assert.equal(other.deliveries.length, 201, 'the consumer with credit got every one');
  // Room on the channel: its consumers are back in their turn, the longest unserved first.
  got.length = 0;
  channel.release(1);
  queue.enqueue(msg('after1'));
  queue.enqueue(msg('after2'));
  assert.deepEqual(got, ['c0 after1']);
  assert.deepEqual(other.texts().slice(-1), ['after2']);
});

test('each ack under a channel-wide prefetch of 1 shared by 10,000 consumers asks the limit a few times, not once per consumer, and the next one in turn gets the next message', async () => {
  const { queue } = await openQueue();
  const channel = new WatchedLimit(1);
  const got: Array<{ tag: string; id: number }> = [];
  const consumers = 10_000;
  for (let i = 0; i < consumers; i++) {
    const tag = `c${i}`;
    queue.consume({ tag, owner: 'ch', limits: [channel], deliver: (d) => got.push({ tag, id: d.id }) });
  }
  await tick();
  const acks = 200;
  for (let i = 0; i <= acks; i++) queue.enqueue(msg(`m${i}`));
  assert.equal(got.length, 1);
  channel.asked = 0;
  for (let i = 0; i < acks; i++) queue.ack(got[i]!.id);
  assert.deepEqual(
    got.map((g) => g.tag),
    Array.from({ length: acks + 1 }, (_, i) => `c${i}`),
    'round robin, one at a time',
  );
  // Ranking every consumer waiting for the channel at each of its rooms, and setting each aside
  // again once it was full, asked it 10,000 times per ack.
  assert.ok(channel.asked <= 10 * acks, `asked ${channel.asked} times for ${acks} acks`);
});

test('a consumer whose prefetch filled takes back its turn when it acks: the least recently served goes first', async () => {
  const { queue } = await openQueue();
  const [a, b, c] = ['a', 'b', 'c'].map((tag) => collector(tag, { prefetch: 1 })) as [
    Collector,
    Collector,
    Collector,
  ];
  const d = collector('d');
  for (const x of [a, b, c, d]) queue.consume(x.options);
  await tick();
  for (let i = 0; i < 6; i++) queue.enqueue(msg(`m${i}`));
  // a, b, c take one each; d, whose credit never ends, the rest.
  assert.deepEqual(
    [a, b, c, d].map((x) => x.texts()),
    [['m0'], ['m1'], ['m2'], ['m3', 'm4', 'm5']],
  );
  // c acks first, then a: a was served longest ago, so it goes before c, then d, then c.
  queue.ack(c.deliveries[0]!.id);
  queue.ack(a.deliveries[0]!.id);
  for (let i = 6; i < 9; i++) queue.enqueue(msg(`m${i}`));
  assert.deepEqual(a.texts(), ['m0', 'm6']);
  assert.deepEqual(c.texts(), ['m2', 'm7']);
  assert.deepEqual(d.texts(), ['m3', 'm4', 'm5', 'm8']);
  assert.deepEqual(b.texts(), ['m1'], 'b, at its window, got nothing more');
});

test('x-priority: a high-priority consumer whose window filled is served again first once it acks', async () => {
  const { queue } = await openQueue();
  const high = collector('high', { priority: 5, prefetch: 1 });
  const lows = ['l1', 'l2'].map((tag) => collector(tag, { priority: 1 }));
  const lowest = collector('lowest', { priority: -3 });
  for (const x of [lowest, ...lows, high]) queue.consume(x.options);
  await tick();
  for (let i = 0; i < 5; i++) queue.enqueue(msg(`m${i}`));
  assert.deepEqual(high.texts(), ['m0']);
  assert.deepEqual(
    lows.map((x) => x.texts()),
    [
      ['m1', 'm3'],
      ['m2', 'm4'],
    ],
  );
  queue.ack(high.deliveries[0]!.id);
  queue.enqueue(msg('m5'));
  queue.enqueue(msg('m6'));
  assert.deepEqual(high.texts(), ['m0', 'm5']);
  assert.deepEqual(lows[0]!.texts(), ['m1', 'm3', 'm6']);
  assert.deepEqual(lowest.texts(), []);
});

test('a publish asks the consumer it goes to for credit once, on a classic and on a quorum queue', async () => {
  for (const options of [{}, { durable: true, arguments: { 'x-queue-type': 'quorum' } }]) {
    const { queue } = await openQueue(options, { storage: new MemoryStorage() });
    const limitless = new WatchedLimit(1_000);
    const c = collector('c', { limits: [limitless] });
    queue.consume(c.options);
    await tick();
    for (let i = 0; i < 10; i++) await queue.enqueue(msg(`m${i}`, { persistent: true })).durable;
    await tick();
    assert.equal(c.deliveries.length, 10);
    // Deciding (how a quorum queue stores it) and delivering asked twice.
    assert.equal(limitless.asked, 10, `asked ${limitless.asked} times for 10 publishes`);
    await queue.close();
  }
});
