/**
 * The vhosts' running totals of queued messages (ready, unacknowledged): kept by the classic queues as
 * messages come and go, they must always equal a count over every queue, whatever path a message
 * takes (get, consume, ack, nack, requeue, dead-letter, expiry, overflow, purge, delete, a consumer's
 * connection going), and the sampler records them in the totals' ring.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { internalContext } from '../../src/core/entry/context.js';
import { sampleIntervalMs } from '../../src/core/entry/rates.js';
import type { Delivery } from '../../src/core/types.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { message, openCore, settle } from '../../testing/core-helpers.js';

test('the running totals equal a count over every queue after each kind of change', async () => {
  const { broker, client, clock } = await openCore();
  const lengths = broker.vhost('/').lengths;
  /** The totals against the walk of every queue that `stats` does. */
  const check = (step: string) => {
    const { messagesReady, messagesUnacked } = broker.stats();
    assert.deepEqual({ ...lengths }, { ready: messagesReady, unacked: messagesUnacked }, step);
  };
  try {
    client.declareQueue('dead', { durable: false });
    client.declareQueue('work', { durable: false, deadLetterExchange: '', deadLetterRoutingKey: 'dead' });
    client.declareQueue('ranked', { durable: false, priorityMax: 5 });
    client.declareQueue('short', { durable: false, lengthMax: 2, overflow: 'drop-head' });
    client.declareQueue('brief', { durable: false, messageTtlMs: 1000 });
    await settle();
    for (let i = 0; i < 6; i++) client.publish('', 'work', message(`w${i}`));
    for (let i = 0; i < 3; i++) client.publish('', 'ranked', message(`r${i}`, { priority: i }));
    for (let i = 0; i < 5; i++) client.publish('', 'short', message(`s${i}`));
    client.publish('', 'brief', message('b'));
    check('published');
    assert.deepEqual({ ...lengths }, { ready: 6 + 3 + 2 + 1, unacked: 0 });

    const got = [0, 1, 2].map(() => client.get('work', { noAck: false, owner: 'c1/1' }) as Delivery);
    client.get('ranked', { noAck: true, owner: 'c1/1' });
    check('got');
    client.ack('work', got[0]!.id);
    client.nack('work', got[1]!.id, true);
    client.nack('work', got[2]!.id, false);
    check('acked, requeued, dead-lettered');

    const held: Delivery[] = [];
    const other = broker.connect(internalContext('/', 'c2'));
    other.consume('work', { tag: 't', owner: 'c2/1', prefetch: 2, deliver: (d) => held.push(d) });
    await settle();
    assert.equal(held.length, 2);
    check('consumed');
    other.closeConnection();
    await settle();
    check('consumer connection gone: requeued');

    clock.advance(sampleIntervalMs);
    check('expired');
    assert.equal(client.purgeQueue('dead'), 1);
    check('purged');
    client.get('work', { noAck: false, owner: 'c1/1' });
    client.deleteQueue('work');
    await settle();
    check('deleted with a delivery held');
    await client.deleteVhost('/');
    await settle();
    assert.deepEqual({ ...lengths }, { ready: 0, unacked: 0 }, 'vhost deleted');
  } finally {
    await broker.close();
  }
});

test('the sampler records the messages queued with each sample of the totals', async () => {
  const { broker, client, clock } = await openCore();
  try {
    client.declareQueue('q', { durable: false });
    await settle();
    for (let i = 0; i < 4; i++) client.publish('', 'q', message(`m${i}`));
    client.get('q', { noAck: false, owner: 'c1/1' });
    clock.advance(sampleIntervalMs);
    client.publish('', 'q', message('m4'));
    clock.advance(sampleIntervalMs);
    const ring = client.meterSamples();
    assert.deepEqual(
      ring.map((s) => s.lengths),
      [
        { ready: 3, unacked: 1 },
        { ready: 4, unacked: 1 },
      ],
    );
  } finally {
    await broker.close();
  }
});

test('the running totals count what a durable queue recovers after a restart', async () => {
  const storage = new MemoryStorage();
  const first = await openCore({ storage });
  first.client.declareQueue('kept', { durable: true });
  await settle();
  for (let i = 0; i < 3; i++) first.client.publish('', 'kept', message(`k${i}`, { persistent: true }));
  await settle();
  await first.broker.close();
  const again = await openCore({ storage });
  try {
    await settle();
    assert.deepEqual({ ...again.broker.vhost('/').lengths }, { ready: 3, unacked: 0 });
    assert.equal(again.broker.stats().messagesReady, 3);
  } finally {
    await again.broker.close();
  }
});
