import assert from 'node:assert/strict';
import { test } from 'node:test';
import { headerValue } from '../../src/core/types.js';
import { collector, msg, openQueue, text, tick } from '../../testing/queue-harness.js';

test('per-queue TTL expires waiting messages and dead-letters them as expired', async () => {
  const { queue, clock, deadLetters } = await openQueue({ messageTtlMs: 1000, deadLetterExchange: 'dlx' });
  queue.enqueue(msg('old'));
  clock.advance(500);
  queue.enqueue(msg('young'));
  clock.advance(500);
  assert.equal(queue.info().messageCount, 1);
  assert.deepEqual(
    deadLetters.map((d) => text({ message: d.message } as never)),
    ['old'],
  );
  const death = (
    headerValue(deadLetters[0]!.message.properties.headers, 'x-death') as Array<Record<string, unknown>>
  )[0]!;
  assert.equal(death['reason'], 'expired');
  clock.advance(500);
  assert.equal(queue.info().messageCount, 0);
  assert.equal(deadLetters.length, 2);
});

test('per-message expiration takes the smaller of message and queue TTL', async () => {
  const { queue, clock } = await openQueue({ messageTtlMs: 10_000 });
  queue.enqueue(msg('short', { expirationMs: 100 }));
  queue.enqueue(msg('long'));
  clock.advance(100);
  assert.equal(text(queue.get({ noAck: true, owner: 'o' })), 'long');
});

test('a per-message TTL behind a longer-lived head expires when it reaches the head', async () => {
  const { queue, clock } = await openQueue();
  queue.enqueue(msg('head', { expirationMs: 5000 }));
  queue.enqueue(msg('behind', { expirationMs: 100 }));
  clock.advance(200);
  assert.equal(queue.info().messageCount, 2);
  assert.equal(text(queue.get({ noAck: true, owner: 'o' })), 'head');
  assert.equal(queue.get({ noAck: true, owner: 'o' }), undefined);
});

test('TTL 0 delivers only to a waiting consumer, otherwise expires at once', async () => {
  const { queue, deadLetters } = await openQueue({ messageTtlMs: 0, deadLetterExchange: 'dlx' });
  queue.enqueue(msg('nobody'));
  assert.equal(queue.info().messageCount, 0);
  assert.equal(deadLetters.length, 1);
  const c = collector('c');
  queue.consume(c.options);
  await tick();
  queue.enqueue(msg('taken'));
  assert.deepEqual(c.texts(), ['taken']);
});

test('requeued messages keep their original expiry', async () => {
  const { queue, clock } = await openQueue({ messageTtlMs: 1000 });
  queue.enqueue(msg('a'));
  const d = queue.get({ noAck: false, owner: 'o' })!;
  clock.advance(2000);
  queue.nack(d.id, true);
  assert.equal(queue.info().messageCount, 0);
});

test('an unused queue asks to be deleted after expiresMs; use resets the countdown', async () => {
  const { queue, clock, deleteRequests } = await openQueue({ expiresMs: 1000 });
  clock.advance(900);
  queue.get({ noAck: true, owner: 'o' });
  clock.advance(900);
  queue.touch();
  clock.advance(900);
  assert.deepEqual(deleteRequests, []);
  clock.advance(100);
  assert.deepEqual(deleteRequests, ['expired']);
});

test('a queue with consumers does not expire; the countdown starts when the last leaves', async () => {
  const { queue, clock, deleteRequests } = await openQueue({ expiresMs: 1000 });
  const consumer = queue.consume(collector('c').options);
  clock.advance(5000);
  assert.deepEqual(deleteRequests, []);
  consumer.cancel();
  clock.advance(999);
  assert.deepEqual(deleteRequests, []);
  clock.advance(1);
  assert.deepEqual(deleteRequests, ['expired']);
});

test('delayMs (AMQP x-delay) holds a message back, then it joins the tail of the queue', async () => {
  const { queue, clock } = await openQueue();
  queue.enqueue(msg('later', { delayMs: 1000 }));
  queue.enqueue(msg('now'));
  assert.equal(queue.info().messageCount, 1);
  assert.equal(queue.stats().delayed, 1);
  clock.advance(999);
  assert.equal(text(queue.get({ noAck: true, owner: 'o' })), 'now');
  assert.equal(queue.get({ noAck: true, owner: 'o' }), undefined);
  clock.advance(1);
  assert.equal(text(queue.get({ noAck: true, owner: 'o' })), 'later');
});

test('delayed messages are released in due order to consumers', async () => {
  const { queue, clock } = await openQueue();
  const c = collector('c');
  queue.consume(c.options);
  await tick();
  queue.enqueue(msg('b', { delayMs: 200 }));
  queue.enqueue(msg('a', { delayMs: 100 }));
  queue.enqueue(msg('c', { delayMs: 200 }));
  clock.advance(150);
  assert.deepEqual(c.texts(), ['a']);
  clock.advance(50);
  assert.deepEqual(c.texts(), ['a', 'b', 'c']);
});

test('TTL of a delayed message counts from when it becomes ready', async () => {
  const { queue, clock } = await openQueue({ messageTtlMs: 100 });
  queue.enqueue(msg('d', { delayMs: 500 }));
  clock.advance(550);
  assert.equal(text(queue.get({ noAck: true, owner: 'o' })), 'd');
});

for (const keeps of [true, false]) {
  test(`a message its owner's release hands back ${keeps ? 'no longer expires for a consumer that keeps started deliveries' : 'keeps its expiry for any other consumer'}`, async () => {
    const { queue, clock } = await openQueue();
    const first = collector('first', { prefetch: 1, ...(keeps ? { keepsStartedDeliveries: true } : {}) });
    queue.consume(first.options);
    await tick();
    queue.enqueue(msg('started', { expirationMs: 1000 }));
    queue.enqueue(msg('waiting', { expirationMs: 1000 }));
    assert.deepEqual(first.texts(), ['started']);
    queue.releaseOwner(first.options.owner);
    clock.advance(2000);
    // The copy whose delivery started is the adapter's to judge; one never handed out expires as before
    // (behind a head that does not expire, once it reaches the head).
    assert.equal(queue.info().messageCount, keeps ? 2 : 0);
    const second = collector('second');
    queue.consume(second.options);
    await tick();
    assert.deepEqual(second.texts(), keeps ? ['started'] : []);
  });
}
