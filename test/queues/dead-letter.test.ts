import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type HeaderList,
  type HeaderValue,
  headerTable,
  headerValue,
  TypedNumber,
} from '../../src/core/types.js';
import { collector, msg, openQueue, text, tick } from '../../testing/queue-harness.js';

type Table = Record<string, HeaderValue>;
const deaths = (h: HeaderList | undefined): Table[] => (headerValue(h, 'x-death') ?? []) as Table[];

test('drop-head over lengthMax dead-letters the oldest as maxlen', async () => {
  const { queue, deadLetters } = await openQueue({ lengthMax: 2, deadLetterExchange: 'dlx' });
  for (let i = 0; i < 4; i++) assert.equal(queue.enqueue(msg(`m${i}`)).accepted, true);
  assert.equal(queue.info().messageCount, 2);
  assert.deepEqual(
    deadLetters.map((d) => new TextDecoder().decode(d.message.body)),
    ['m0', 'm1'],
  );
  assert.equal(deaths(deadLetters[0]!.message.properties.headers)[0]!['reason'], 'maxlen');
  assert.equal(text(queue.get({ noAck: true, owner: 'o' })), 'm2');
});

test('bytesMax with drop-head keeps the newest that fit', async () => {
  const { queue } = await openQueue({ bytesMax: 10 });
  queue.enqueue(msg('aaaa'));
  queue.enqueue(msg('bbbb'));
  queue.enqueue(msg('cccc'));
  assert.equal(queue.info().messageCount, 2);
  assert.equal(text(queue.get({ noAck: true, owner: 'o' })), 'bbbb');
});

test('reject-publish refuses when full and keeps what it has', async () => {
  const { queue, deadLetters } = await openQueue({
    lengthMax: 1,
    overflow: 'reject-publish',
    deadLetterExchange: 'dlx',
  });
  assert.equal(queue.enqueue(msg('a')).accepted, true);
  assert.equal(queue.enqueue(msg('b')).accepted, false);
  assert.equal(deadLetters.length, 0);
  assert.equal(text(queue.get({ noAck: true, owner: 'o' })), 'a');
  assert.equal(queue.enqueue(msg('c')).accepted, true);
});

test('reject-publish-dlx refuses and dead-letters the refused message', async () => {
  const { queue, deadLetters } = await openQueue({
    lengthMax: 1,
    overflow: 'reject-publish-dlx',
    deadLetterExchange: 'dlx',
  });
  queue.enqueue(msg('a'));
  assert.equal(queue.enqueue(msg('b')).accepted, false);
  assert.equal(deadLetters.length, 1);
  assert.equal(new TextDecoder().decode(deadLetters[0]!.message.body), 'b');
  assert.equal(deaths(deadLetters[0]!.message.properties.headers)[0]!['reason'], 'maxlen');
});

test('rejected messages carry an x-death entry like RabbitMQ, routed with the dead-letter key', async () => {
  const { queue, clock, deadLetters } = await openQueue(
    { deadLetterExchange: 'dlx', deadLetterRoutingKey: 'dead' },
    { name: 'work' },
  );
  queue.enqueue(
    msg(
      'a',
      {
        expirationMs: 60_000,
        headers: [
          ['keep', 1],
          ['CC', ['cc1']],
        ],
      },
      'orig.key',
    ),
  );
  const d = queue.get({ noAck: false, owner: 'o' })!;
  queue.nack(d.id, false);
  const dead = deadLetters[0]!;
  assert.equal(dead.exchange, 'dlx');
  assert.equal(dead.routingKey, 'dead');
  const list = dead.message.properties.headers!;
  // The publisher's headers stay first, in order; RabbitMQ's x-death family follows.
  assert.deepEqual(
    list.slice(0, 3).map(([name]) => name),
    ['keep', 'CC', 'x-death'],
  );
  const headers = headerTable(list);
  assert.equal(headers['keep'], 1);
  assert.equal(dead.message.properties.expirationMs, undefined);
  const [entry] = deaths(list);
  assert.deepEqual(
    { ...entry, time: undefined },
    {
      // An int64, as RabbitMQ sends it: Java clients read it as a Long.
      count: new TypedNumber('int64', 1),
      reason: 'rejected',
      queue: 'work',
      time: undefined,
      exchange: 'ex',
      'routing-keys': ['orig.key', 'cc1'],
      'original-expiration': '60000',
    },
  );
  assert.equal((entry!['time'] as Date).getTime(), Math.floor(clock.now() / 1000) * 1000);
  assert.equal(headers['x-first-death-reason'], 'rejected');
  assert.equal(headers['x-first-death-queue'], 'work');
  assert.equal(headers['x-first-death-exchange'], 'ex');
});

test('dying again in the same queue for the same reason bumps count and moves the entry first', async () => {
  const { queue, deadLetters } = await openQueue({ deadLetterExchange: 'dlx' }, { name: 'work' });
  queue.enqueue(msg('a'));
  queue.nack(queue.get({ noAck: false, owner: 'o' })!.id, false);
  // The dead-letter route brings it back (a retry loop), where it expires once and is rejected again.
  const back = deadLetters[0]!.message;
  const other = await openQueue({ deadLetterExchange: 'dlx', messageTtlMs: 0 }, { name: 'retry' });
  other.queue.enqueue(back);
  const returned = other.deadLetters[0]!.message;
  queue.enqueue(returned);
  queue.nack(queue.get({ noAck: false, owner: 'o' })!.id, false);
  const final = deadLetters[1]!.message.properties.headers!;
  const entries = deaths(final);
  const table = headerTable(final);
  assert.deepEqual(
    entries.map((e) => [e['queue'], e['reason'], e['count']]),
    [
      ['work', 'rejected', new TypedNumber('int64', 2)],
      ['retry', 'expired', new TypedNumber('int64', 1)],
    ],
  );
  assert.equal(table['x-first-death-queue'], 'work');
  assert.equal(table['x-last-death-queue'], 'work');
  assert.equal(final.filter(([name]) => name === 'x-death').length, 1, 'replaced, not repeated');
});

test('without a dead-letter exchange, rejected messages are dropped', async () => {
  const { queue, deadLetters } = await openQueue();
  queue.enqueue(msg('a'));
  queue.nack(queue.get({ noAck: false, owner: 'o' })!.id, false);
  assert.equal(deadLetters.length, 0);
  assert.equal(queue.info().messageCount, 0);
});

test('the delivery limit dead-letters once returns exceed it', async () => {
  const { queue, deadLetters } = await openQueue({ deliveryLimit: 2, deadLetterExchange: 'dlx' });
  const c = collector('c', { owner: 'ch' });
  queue.consume(c.options);
  await tick();
  queue.enqueue(msg('poison'));
  queue.nack(c.deliveries[0]!.id, true);
  queue.nack(c.deliveries[1]!.id, true);
  assert.equal(c.deliveries.length, 3);
  assert.equal(c.deliveries[2]!.deliveryCount, 2);
  queue.nack(c.deliveries[2]!.id, true);
  assert.equal(c.deliveries.length, 3);
  assert.equal(deaths(deadLetters[0]!.message.properties.headers)[0]!['reason'], 'delivery_limit');
});

test('the delivery limit also counts returns from releaseOwner', async () => {
  const { queue, deadLetters } = await openQueue({ deliveryLimit: 0, deadLetterExchange: 'dlx' });
  queue.enqueue(msg('a'));
  queue.get({ noAck: false, owner: 'gone' });
  queue.releaseOwner('gone');
  assert.equal(queue.info().messageCount, 0);
  assert.equal(deadLetters.length, 1);
});

test('a count of another numeric kind from a republishing client is bumped to an int64', async () => {
  const { queue, deadLetters } = await openQueue({ deadLetterExchange: 'dlx' }, { name: 'work' });
  const own = { queue: 'work', reason: 'rejected', count: new TypedNumber('int16', 4) };
  queue.enqueue(msg('a', { headers: [['x-death', [own]]] }));
  queue.nack(queue.get({ noAck: false, owner: 'o' })!.id, false);
  const [entry] = deaths(deadLetters[0]!.message.properties.headers);
  assert.deepEqual(entry!['count'], new TypedNumber('int64', 5));
});
