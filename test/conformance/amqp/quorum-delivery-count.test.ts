/**
 * Poison-message handling of quorum queues as RabbitMQ 3.10 does it for an AMQP consumer: a message
 * returned to the queue (reject / nack with requeue, its channel closed unacked) comes back with
 * `x-delivery-count`, the number of earlier deliveries; `x-delivery-limit` dead-letters one returned
 * more often than the limit (reason `delivery_limit`). A classic queue adds no such header.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type amqp from 'amqplib';
import { channelOf, sharedAmqpBroker, until } from '../../../testing/amqp-helpers.js';

const file = sharedAmqpBroker();

const quorum = (args: Record<string, unknown> = {}): amqp.Options.AssertQueue => ({
  durable: true,
  arguments: { 'x-queue-type': 'quorum', ...args },
});

/** Consumes `queue` on `ch` into a list the test reads. */
async function collect(ch: amqp.Channel, queue: string): Promise<amqp.ConsumeMessage[]> {
  const got: amqp.ConsumeMessage[] = [];
  await ch.consume(queue, (m) => {
    if (m !== null) got.push(m);
  });
  return got;
}

async function nth(got: amqp.ConsumeMessage[], n: number): Promise<amqp.ConsumeMessage> {
  await until(() => got.length >= n, 10_000, `delivery ${n}`);
  return got[n - 1]!;
}

/** basic.get until it answers a message (a publish is routed asynchronously). */
async function getOne(ch: amqp.Channel, queue: string, noAck = false): Promise<amqp.GetMessage> {
  let got: amqp.GetMessage | false = false;
  await until(
    async () => {
      got = await ch.get(queue, { noAck });
      return got !== false;
    },
    10_000,
    `a message on ${queue}`,
  );
  assert.ok(got !== false);
  return got;
}

const countOf = (m: amqp.Message): unknown => m.properties.headers?.['x-delivery-count'];

describe('quorum queue x-delivery-count and x-delivery-limit', () => {
  test('reject and nack with requeue count; past the limit the message is dropped', async () => {
    const ch = await channelOf(file.conn);
    await ch.assertQueue('qdc.jobs', quorum({ 'x-delivery-limit': 2 }));
    ch.sendToQueue('qdc.jobs', Buffer.from('poison'));
    const got = await collect(ch, 'qdc.jobs');

    const first = await nth(got, 1);
    assert.equal(countOf(first), undefined, 'a first delivery carries no count');
    assert.equal(first.fields.redelivered, false);
    ch.nack(first, false, true);
    const second = await nth(got, 2);
    assert.equal(countOf(second), 1);
    assert.equal(second.fields.redelivered, true);
    ch.reject(second, true);
    const third = await nth(got, 3);
    assert.equal(countOf(third), 2);
    // Returned a third time: more than the limit of 2, so it leaves the queue.
    // The marker is published after the nack on the same channel: a requeued poison would come first.
    ch.nack(third, false, true);
    ch.sendToQueue('qdc.jobs', Buffer.from('marker'));
    assert.equal((await nth(got, 4)).content.toString(), 'marker');
    ch.ack(got[3]!);
    await ch.close();
  });

  test('with a dead-letter exchange the copy names delivery_limit as its reason', async () => {
    const ch = await channelOf(file.conn);
    await ch.assertQueue('qdc.dlq', { durable: true });
    const args = {
      'x-delivery-limit': 0,
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': 'qdc.dlq',
    };
    await ch.assertQueue('qdc.limited', quorum(args));
    ch.sendToQueue('qdc.limited', Buffer.from('once'));
    const got = await collect(ch, 'qdc.limited');
    ch.nack(await nth(got, 1), false, true);
    const dead = await getOne(ch, 'qdc.dlq', true);
    const deaths = dead.properties.headers?.['x-death'];
    assert.equal(deaths?.[0]?.reason, 'delivery_limit');
    assert.equal(deaths?.[0]?.queue, 'qdc.limited');
    assert.equal(got.length, 1);
    await ch.close();
  });

  test('a channel closed with unacked messages returns them counted', async () => {
    const a = await channelOf(file.conn);
    await a.assertQueue('qdc.held', quorum());
    a.sendToQueue('qdc.held', Buffer.from('held'));
    const first = await nth(await collect(a, 'qdc.held'), 1);
    assert.equal(countOf(first), undefined);
    await a.close();

    const b = await channelOf(file.conn);
    const again = await nth(await collect(b, 'qdc.held'), 1);
    assert.equal(countOf(again), 1);
    assert.equal(again.fields.redelivered, true);
    b.ack(again);
    await b.close();
  });

  test('basic.get on a quorum queue answers the count, 0 on a first delivery', async () => {
    const ch = await channelOf(file.conn);
    await ch.assertQueue('qdc.got', quorum());
    ch.sendToQueue('qdc.got', Buffer.from('x'));
    const m = await getOne(ch, 'qdc.got');
    assert.equal(countOf(m), 0);
    ch.nack(m, false, true);
    const again = await getOne(ch, 'qdc.got');
    assert.equal(countOf(again), 1);
    ch.ack(again);
    await ch.close();
  });

  test('a persistent message nacked with requeue comes back before the next one (prefetch 1)', async () => {
    const ch = await channelOf(file.conn);
    await ch.prefetch(1);
    await ch.assertQueue('qdc.order', quorum());
    for (const body of ['first', 'second'])
      ch.sendToQueue('qdc.order', Buffer.from(body), { persistent: true });
    const got = await collect(ch, 'qdc.order');
    ch.nack(await nth(got, 1), false, true);
    const next = await nth(got, 2);
    // RabbitMQ's quorum queue serves its returned messages first.
    assert.equal(next.content.toString(), 'first');
    assert.equal(countOf(next), 1);
    ch.ack(next);
    ch.ack(await nth(got, 3));
    await ch.close();
  });

  test('a classic queue adds no x-delivery-count', async () => {
    const ch = await channelOf(file.conn);
    await ch.assertQueue('qdc.classic', { durable: true });
    ch.sendToQueue('qdc.classic', Buffer.from('c'));
    const got = await collect(ch, 'qdc.classic');
    ch.nack(await nth(got, 1), false, true);
    const again = await nth(got, 2);
    assert.equal(again.fields.redelivered, true);
    assert.equal(countOf(again), undefined);
    ch.ack(again);
    await ch.close();
  });
});
