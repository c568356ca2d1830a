/**
 * A quorum queue (`x-queue-type: quorum`) keeps its stored messages' delivery counts across a reopen,
 * as RabbitMQ's Raft log does: each delivery records the count a restart should find (the delivery
 * counted as returned), and a returned message is ready again only once its count is durable. A
 * classic queue still starts a reopened message from its stored count.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { queueLogNames } from '../../src/core/queues/names.js';
import type { QueueOptions } from '../../src/core/types.js';
import type { QueueLengths } from '../../src/core/views.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import type { Log, Storage } from '../../src/storage/types.js';
import { CountingLimit, collector, msg, openQueue, text, tick } from '../../testing/queue-harness.js';

const persistent = { persistent: true } as const;
const quorum = (options: QueueOptions = {}): QueueOptions => ({
  durable: true,
  arguments: { 'x-queue-type': 'quorum' },
  ...options,
});

/** Takes the one message with `get` and nacks it back, `times` times. */
async function nackTimes(h: Awaited<ReturnType<typeof openQueue>>, times: number): Promise<void> {
  for (let i = 0; i < times; i++) {
    const d = h.queue.get({ noAck: false, owner: 'o' });
    assert.ok(d !== undefined, `delivery ${i + 1}`);
    h.queue.nack(d.id, true);
    await tick();
  }
}

test('returns counted before a reopen are counted after it', async () => {
  const storage = new MemoryStorage();
  const first = await openQueue(quorum(), { storage });
  await first.queue.enqueue(msg('poison', persistent)).durable;
  await nackTimes(first, 2);
  await first.queue.close();
  const second = await openQueue(quorum(), { storage });
  const back = second.queue.get({ noAck: false, owner: 'o' });
  assert.equal(text(back), 'poison');
  assert.equal(back?.deliveryCount, 2);
  await second.queue.close();
});

test('a delivery unacked at the reopen counts as returned, as RabbitMQ counts a lost consumer', async () => {
  const storage = new MemoryStorage();
  const first = await openQueue(quorum(), { storage });
  await first.queue.enqueue(msg('poison', persistent)).durable;
  await nackTimes(first, 2);
  assert.equal(first.queue.get({ noAck: false, owner: 'o' })?.deliveryCount, 2);
  await first.queue.close();
  const second = await openQueue(quorum(), { storage });
  assert.equal(second.queue.get({ noAck: false, owner: 'o' })?.deliveryCount, 3);
  await second.queue.close();
});

test('a message over the delivery limit at the reopen is dead-lettered, reason delivery_limit', async () => {
  const storage = new MemoryStorage();
  const options = quorum({ deliveryLimit: 1, deadLetterExchange: 'dlx' });
  const first = await openQueue(options, { storage });
  await first.queue.enqueue(msg('poison', persistent)).durable;
  await first.queue.enqueue(msg('fine', persistent)).durable;
  await nackTimes(first, 1);
  // Held at the close with count 1: the reopen counts it to 2, over the limit of 1.
  assert.equal(text(first.queue.get({ noAck: false, owner: 'o' })), 'poison');
  await first.queue.close();
  const second = await openQueue(options, { storage });
  assert.equal(second.deadLetters.length, 1);
  assert.equal(new TextDecoder().decode(second.deadLetters[0]!.message.body), 'poison');
  const deaths = second.deadLetters[0]!.message.properties.headers?.find(([name]) => name === 'x-death');
  assert.match(JSON.stringify(deaths), /delivery_limit/);
  assert.equal(text(second.queue.get({ noAck: true, owner: 'o' })), 'fine');
  assert.equal(second.queue.info().messageCount, 0);
  await second.queue.close();
  // Gone for good: the dead-lettering removed it from the log.
  const third = await openQueue(options, { storage });
  assert.equal(third.queue.info().messageCount, 0);
  await third.queue.close();
});

test('counts outlive the removals log compaction (a snapshot every 1,024 removal records)', async () => {
  const storage = new MemoryStorage();
  const watched = gatedAcks(storage, Promise.resolve());
  const first = await openQueue(quorum(), { storage: watched.storage });
  await first.queue.enqueue(msg('poison', persistent)).durable;
  await nackTimes(first, 1);
  // Poison stays first; every other message is taken and acked in a job of its own: one record each.
  const poison = first.queue.get({ noAck: false, owner: 'o' })!;
  const recordsMax = 1_100;
  for (let i = 0; i < recordsMax; i++) {
    first.queue.enqueue(msg(`m${i}`, persistent));
    const d = first.queue.get({ noAck: false, owner: 'o' })!;
    first.queue.ack(d.id);
    await tick();
  }
  first.queue.nack(poison.id, true);
  await tick();
  assert.ok((watched.acks()?.startOffset ?? 0) > 0, 'the removals log was truncated behind a snapshot');
  await first.queue.close();
  const second = await openQueue(quorum(), { storage });
  assert.equal(second.queue.info().messageCount, 1);
  assert.equal(second.queue.get({ noAck: false, owner: 'o' })?.deliveryCount, 2);
  await second.queue.close();
});

test('a classic durable queue still starts a reopened message from its stored count', async () => {
  const storage = new MemoryStorage();
  const first = await openQueue({ durable: true }, { storage });
  await first.queue.enqueue(msg('m', persistent)).durable;
  await nackTimes(first, 2);
  await first.queue.close();
  const second = await openQueue({ durable: true }, { storage });
  assert.equal(second.queue.get({ noAck: false, owner: 'o' })?.deliveryCount, 0);
  await second.queue.close();
});

/**
 * `storage` whose removals log's appends become written and durable only once `gate` resolves (the
 * gate at the append, when a function); `acks`: that log.
 */
function gatedAcks(
  storage: Storage,
  gate: Promise<void> | (() => Promise<void>),
): { storage: Storage; acks(): Log | undefined } {
  const gateNow = typeof gate === 'function' ? gate : () => gate;
  let acks: Log | undefined;
  const bound = <T extends object>(target: T, prop: string | symbol): unknown => {
    const value = Reflect.get(target, prop, target);
    return typeof value === 'function' ? value.bind(target) : value;
  };
  const gatedLog = (log: Log): Log =>
    new Proxy(log, {
      get: (target, prop) => {
        // Written as late as durable: the gate stands for the write itself.
        if (prop === 'written') {
          return () => {
            const held = gateNow();
            return target.written().then(() => held);
          };
        }
        if (prop !== 'append') return bound(target, prop);
        return (...args: Parameters<Log['append']>) => {
          const appended = target.append(...args);
          const held = gateNow();
          return { ...appended, durable: appended.durable.then(() => held) };
        };
      },
    });
  const gated = new Proxy(storage, {
    get: (target, prop) => {
      if (prop !== 'openLog') return bound(target, prop);
      return async (...args: Parameters<Storage['openLog']>) => {
        const log = await target.openLog(...args);
        if (!args[0].endsWith('.acks')) return log;
        acks = gatedLog(log);
        return acks;
      };
    },
  });
  return { storage: gated, acks: () => acks };
}

test('a returned message is delivered again only once its count is durable', async () => {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const h = await openQueue(quorum(), { storage: gatedAcks(new MemoryStorage(), gate).storage });
  await h.queue.enqueue(msg('poison', persistent)).durable;
  const d = h.queue.get({ noAck: false, owner: 'o' })!;
  h.queue.nack(d.id, true);
  await tick();
  assert.equal(h.queue.get({ noAck: false, owner: 'o' }), undefined, 'not before its count is durable');
  assert.equal(h.queue.info().messageCount, 1, 'counted as ready meanwhile');
  open();
  await tick();
  const again = h.queue.get({ noAck: false, owner: 'o' });
  assert.equal(text(again), 'poison');
  assert.equal(again?.deliveryCount, 1);
  assert.equal(again?.redelivered, true);
  assert.deepEqual(h.faults, []);
});

test('a returned message goes to its consumer before later ones, as a quorum queue returns it first', async () => {
  const h = await openQueue(quorum(), { storage: new MemoryStorage() });
  await h.queue.enqueue(msg('a', persistent)).durable;
  await h.queue.enqueue(msg('b', persistent)).durable;
  // basic.qos 1 (per consumer), as most consumers set it.
  const c = collector('c', { prefetch: 1 });
  h.queue.consume(c.options);
  await tick();
  assert.deepEqual(c.texts(), ['a']);
  // basic.nack with requeue: the queue gives the credit back as it takes the delivery.
  h.queue.nack(c.deliveries[0]!.id, true);
  await tick();
  assert.deepEqual(c.texts(), ['a', 'a'], 'the returned message first, not b');
  assert.equal(c.deliveries[1]?.deliveryCount, 1);
  assert.deepEqual(h.faults, []);
  await h.queue.close();
});

test('a message returned over and over does not grow the removals log without bound', async () => {
  const storage = new MemoryStorage();
  const watched = gatedAcks(storage, Promise.resolve());
  const h = await openQueue(quorum(), { storage: watched.storage });
  await h.queue.enqueue(msg('poison', persistent)).durable;
  // Each delivery writes one counts record and nothing is ever removed.
  await nackTimes(h, 1_100);
  assert.ok((watched.acks()?.startOffset ?? 0) > 0, 'the removals log was truncated behind a snapshot');
  await h.queue.close();
  const again = await openQueue(quorum(), { storage });
  assert.equal(again.queue.get({ noAck: false, owner: 'o' })?.deliveryCount, 1_100);
  await again.queue.close();
});

test('a message published while a return is being counted goes after the returned one', async () => {
  let open!: () => void;
  let gate = Promise.resolve();
  const h = await openQueue(quorum(), { storage: gatedAcks(new MemoryStorage(), () => gate).storage });
  await h.queue.enqueue(msg('a', persistent)).durable;
  const c = collector('c', { prefetch: 1 });
  h.queue.consume(c.options);
  await tick();
  gate = new Promise<void>((resolve) => (open = resolve));
  h.queue.nack(c.deliveries[0]!.id, true);
  // Nothing else is ready: the new message must not take the consumer's free credit before a.
  await h.queue.enqueue(msg('b', persistent)).durable;
  open();
  await tick();
  assert.deepEqual(c.texts(), ['a', 'a']);
  assert.deepEqual(h.faults, []);
  await h.queue.close();
});

/**
 * A quorum queue with `options` holding `bodies`, the first taken by a get and nacked back: its count
 * is being written until `open` is called. `lengths`: the vhost's running totals it keeps.
 */
async function firstReturning(options: QueueOptions, bodies: string[], lengths?: QueueLengths) {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const storage = gatedAcks(new MemoryStorage(), gate).storage;
  const h = await openQueue(options, lengths === undefined ? { storage } : { storage, lengths });
  for (const body of bodies) await h.queue.enqueue(msg(body, persistent)).durable;
  h.queue.nack(h.queue.get({ noAck: false, owner: 'o' })!.id, true);
  return { h, open };
}

test('x-max-length with reject-publish counts a returned message whose count is being written', async () => {
  const { h, open } = await firstReturning(quorum({ lengthMax: 1, overflow: 'reject-publish' }), ['a']);
  // a is ready again as far as the queue's length goes: RabbitMQ would refuse b.
  assert.equal(h.queue.enqueue(msg('b', persistent)).accepted, false);
  open();
  await tick();
  assert.equal(text(h.queue.get({ noAck: true, owner: 'o' })), 'a');
  assert.equal(h.queue.info().messageCount, 0);
  await h.queue.close();
});

test('with a channel-wide credit the nacked message still comes back before the next one', async () => {
  for (const options of [{ durable: true }, quorum()]) {
    const h = await openQueue(options, { storage: new MemoryStorage() });
    await h.queue.enqueue(msg('a', persistent)).durable;
    await h.queue.enqueue(msg('b', persistent)).durable;
    // basic.qos 1 with global: the credit the nack frees wakes the queue as the delivery is taken.
    const c = collector('c', { limits: [new CountingLimit(1)] });
    h.queue.consume(c.options);
    await tick();
    h.queue.nack(c.deliveries[0]!.id, true);
    await tick();
    assert.deepEqual(c.texts(), ['a', 'a'], options.arguments === undefined ? 'classic' : 'quorum');
    await h.queue.close();
  }
});

test('x-max-length-bytes with reject-publish and readyBytes count a returned message whose count is being written', async () => {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const options = quorum({ bytesMax: 5, overflow: 'reject-publish' });
  const lengths = { ready: 0, unacked: 0 };
  const h = await openQueue(options, { storage: gatedAcks(new MemoryStorage(), gate).storage, lengths });
  await h.queue.enqueue(msg('aaaa', persistent)).durable;
  const d = h.queue.get({ noAck: false, owner: 'o' })!;
  h.queue.nack(d.id, true);
  assert.equal(h.queue.stats().readyBytes, 4, 'the returned body is ready bytes meanwhile');
  // The vhost's running totals (the overview's queue_totals) count it ready too, as messageCount does.
  assert.deepEqual(lengths, { ready: 1, unacked: 0 });
  // 4 + 2 bytes would pass the 5 allowed: RabbitMQ would refuse bb.
  assert.equal(h.queue.enqueue(msg('bb', persistent)).accepted, false);
  open();
  await tick();
  assert.equal(h.queue.stats().readyBytes, 4);
  assert.equal(text(h.queue.get({ noAck: true, owner: 'o' })), 'aaaa');
  assert.equal(h.queue.stats().readyBytes, 0);
  assert.deepEqual(lengths, { ready: 0, unacked: 0 });
  await h.queue.close();
});

test("a purge during a return's wait takes the returned message out of every count", async () => {
  const gate = new Promise<void>(() => {});
  const lengths = { ready: 0, unacked: 0 };
  const h = await openQueue(quorum(), { storage: gatedAcks(new MemoryStorage(), gate).storage, lengths });
  await h.queue.enqueue(msg('aaaa', persistent)).durable;
  h.queue.nack(h.queue.get({ noAck: false, owner: 'o' })!.id, true);
  assert.equal(h.queue.purge(), 1);
  assert.deepEqual(lengths, { ready: 0, unacked: 0 });
  assert.equal(h.queue.stats().readyBytes, 0);
  assert.equal(h.queue.info().messageCount, 0);
});

test('a get waiting for returns is let go when they land, when the queue is emptied, or after 5 s', async () => {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const h = await openQueue(quorum(), { storage: gatedAcks(new MemoryStorage(), gate).storage });
  assert.equal(h.queue.returnsLanded(), undefined, 'nothing returned: no wait');
  await h.queue.enqueue(msg('a', persistent)).durable;
  let landed = 0;
  const wait = () => h.queue.returnsLanded()!.then(() => landed++);
  h.queue.nack(h.queue.get({ noAck: false, owner: 'o' })!.id, true);
  const onLanding = wait();
  await tick();
  assert.equal(landed, 0, 'the count is not durable yet');
  open();
  await onLanding;
  assert.equal(text(h.queue.get({ noAck: false, owner: 'o' })), 'a', 'landed: the get finds it');
  await h.queue.close();

  // A disk that never answers: the wait ends on its own after 5 s; a purge ends it at once.
  const stalled = await openQueue(quorum(), {
    storage: gatedAcks(new MemoryStorage(), new Promise(() => {})).storage,
  });
  await stalled.queue.enqueue(msg('b', persistent)).durable;
  stalled.queue.nack(stalled.queue.get({ noAck: false, owner: 'o' })!.id, true);
  let bounded = false;
  void stalled.queue.returnsLanded()!.then(() => (bounded = true));
  stalled.clock.advance(4_999);
  await tick();
  assert.equal(bounded, false);
  stalled.clock.advance(1);
  await tick();
  assert.equal(bounded, true, 'let go after 5 s');
  const purged = stalled.queue.returnsLanded()!;
  stalled.queue.purge();
  await purged;
  assert.equal(stalled.queue.returnsLanded(), undefined);
});

test('a consumer is given a delivery only once its count is durable, so a crash after it counts it', async () => {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const storage = new MemoryStorage();
  const h = await openQueue(quorum(), { storage: gatedAcks(storage, gate).storage });
  await h.queue.enqueue(msg('a', persistent)).durable;
  const c = collector('c', { prefetch: 10 });
  h.queue.consume(c.options);
  await tick();
  assert.deepEqual(c.texts(), [], 'not before its count record is durable');
  // A transient message behind it waits its turn: the consumer sees them in queue order.
  h.queue.enqueue(msg('t'));
  await tick();
  assert.deepEqual(c.texts(), []);
  open();
  await tick();
  assert.deepEqual(c.texts(), ['a', 't']);
  assert.equal(c.deliveries[0]?.deliveryCount, 0);
  assert.deepEqual(h.faults, []);
  await h.queue.close();
});

test('a message handed to a consumer as it arrives carries its count in its own entry', async () => {
  const storage = new MemoryStorage();
  // The removals log never becomes durable, as if a crash would lose it: the delivery does not wait.
  const h = await openQueue(quorum(), { storage: gatedAcks(storage, new Promise(() => {})).storage });
  const c = collector('c', { prefetch: 10 });
  h.queue.consume(c.options);
  await tick();
  await h.queue.enqueue(msg('a', persistent)).durable;
  assert.deepEqual(c.texts(), ['a'], 'delivered as it arrived');
  await h.queue.close();
  // The removals log lost (what a crash before its write would leave): the message's entry counts it.
  await storage.removeLog(queueLogNames('/', 'q').acks);
  const again = await openQueue(quorum(), { storage });
  assert.equal(again.queue.get({ noAck: false, owner: 'o' })?.deliveryCount, 1);
  await again.queue.close();
});

/** A quorum queue whose one message went to consumer `first` and waits for its count (`open` lets it). */
async function deliveryWaiting() {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const h = await openQueue(quorum(), { storage: gatedAcks(new MemoryStorage(), gate).storage });
  await h.queue.enqueue(msg('a', persistent)).durable;
  const first = collector('first');
  const consumer = h.queue.consume(first.options);
  await tick();
  return { h, open, first, consumer };
}

test('a delivery waiting for its count goes back uncounted when its consumer is cancelled', async () => {
  const { h, open, first, consumer } = await deliveryWaiting();
  consumer.cancel();
  open();
  await tick();
  assert.deepEqual(first.texts(), [], 'never shown to the cancelled consumer');
  const second = collector('second');
  h.queue.consume(second.options);
  await tick();
  assert.deepEqual(second.texts(), ['a']);
  assert.equal(second.deliveries[0]?.deliveryCount, 0, 'not counted: nobody saw it');
  assert.equal(second.deliveries[0]?.redelivered, false, 'nor flagged redelivered');
  assert.deepEqual(h.faults, []);
  await h.queue.close();
});

test("a delivery waiting for its count goes back uncounted with its owner's release, never shown", async () => {
  const { h, open, first } = await deliveryWaiting();
  // A channel closed: what its consumer was shown counts as returned, what it never got does not.
  h.queue.releaseOwner(first.options.owner);
  open();
  await tick();
  assert.deepEqual(first.texts(), []);
  const again = h.queue.get({ noAck: false, owner: 'o' });
  assert.equal(text(again), 'a');
  assert.equal(again?.deliveryCount, 0);
  await h.queue.close();
});

test('x-max-length-bytes with drop-head counts a returned message whose count is being written, and drops it first', async () => {
  const options = quorum({ bytesMax: 8, deadLetterExchange: 'dlx' });
  const { h, open } = await firstReturning(options, ['aaaa', 'bbbb']);
  // aaaa is ready again as far as the limit goes and at the head (RabbitMQ serves returns first).
  h.queue.enqueue(msg('cccc', persistent));
  assert.equal(h.deadLetters.length, 1);
  assert.equal(new TextDecoder().decode(h.deadLetters[0]!.message.body), 'aaaa');
  open();
  await tick();
  assert.equal(h.queue.stats().readyBytes, 8, 'within the limit once the return landed');
  assert.equal(text(h.queue.get({ noAck: true, owner: 'o' })), 'bbbb');
  assert.equal(text(h.queue.get({ noAck: true, owner: 'o' })), 'cccc');
  assert.deepEqual(h.faults, []);
  await h.queue.close();
});

test('x-max-length with drop-head counts a returned message whose count is being written', async () => {
  const lengths = { ready: 0, unacked: 0 };
  const { h, open } = await firstReturning(quorum({ lengthMax: 1 }), ['a'], lengths);
  h.queue.enqueue(msg('b', persistent));
  open();
  await tick();
  assert.equal(h.queue.info().messageCount, 1);
  assert.deepEqual(lengths, { ready: 1, unacked: 0 });
  assert.equal(text(h.queue.get({ noAck: true, owner: 'o' })), 'b');
  await h.queue.close();
});
