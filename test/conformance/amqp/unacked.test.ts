import assert from 'node:assert/strict';
import { test } from 'node:test';
import type amqp from 'amqplib';
import { channelOf, sharedAmqpBroker, until } from '../../../testing/amqp-helpers.js';

const file = sharedAmqpBroker();

/** Ready messages in a queue, read from core (exclusive queues included). */
const ready = (q: string): number =>
  file.sy.broker
    .client()
    .listQueues()
    .find((x) => x.name === q)?.messageCount ?? -1;

test('after a burst of 5,000 held deliveries is acked but for its first, acks one at a time go on counting', async () => {
  // The burst takes a channel's unacked deliveries past 4,096; the deliveries after it come and go
  // one at a time until the first one has been held through more than 8,192 later ones.
  const burst = 5_000;
  const after = 3_300;
  const ch = await channelOf(file.conn);
  let closedWith: string | undefined;
  ch.on('error', (err: Error) => {
    closedWith = err.message;
  });
  const q = (await ch.assertQueue('', { exclusive: true })).queue;
  for (let i = 0; i < burst; i++) ch.sendToQueue(q, Buffer.from(`b${i}`));
  const held: amqp.ConsumeMessage[] = [];
  const { consumerTag } = await ch.consume(q, (m) => m && held.push(m));
  await until(() => held.length === burst, 20_000, 'the burst delivered');
  await ch.cancel(consumerTag);
  for (const m of held.slice(1)) ch.ack(m);

  for (let i = 0; i < after; i++) ch.sendToQueue(q, Buffer.from(`a${i}`));
  await ch.prefetch(1);
  let acked = 0;
  await ch.consume(q, (m) => {
    if (m === null) return;
    ch.ack(m);
    acked++;
  });
  await until(() => acked === after || closedWith !== undefined, 30_000, 'one at a time acked');
  await ch.checkQueue(q).catch(() => {});
  assert.equal(closedWith, undefined, 'the channel stays open');
  ch.ack(held[0]!);
  await ch.close();
  assert.equal(ready(q), 0, 'no acked message comes back when the channel closes');
});
