import assert from 'node:assert/strict';
import { test } from 'node:test';
import type amqp from 'amqplib';
import { channelOf, open, readyCount, sharedAmqpBroker, until } from '../../../testing/amqp-helpers.js';

const file = sharedAmqpBroker();

const ready = (q: string): number => readyCount(file.sy.broker, q);

test('after a burst of 5,000 held deliveries is acked but for its first, later acks go on counting', async () => {
  // The burst takes a channel's unacked deliveries past 4,096; then no-ack deliveries take tags up to
  // 8,192 while the first stays held, and a get's delivery at 8,193 is more than 8,192 tags after it.
  const burst = 5_000;
  const ch = await channelOf(file.conn);
  let closedWith: string | undefined;
  ch.on('error', (err: Error) => {
    closedWith = err.message;
  });
  const q = (await ch.assertQueue('', { exclusive: true })).queue;
  const passing = (await ch.assertQueue('', { exclusive: true })).queue;
  for (let i = 0; i < burst; i++) ch.sendToQueue(q, Buffer.from(`b${i}`));
  const held: amqp.ConsumeMessage[] = [];
  const { consumerTag } = await ch.consume(q, (m) => m && held.push(m));
  await until(() => held.length === burst, 20_000, 'the burst delivered');
  await ch.cancel(consumerTag);
  for (const m of held.slice(1)) ch.ack(m);

  const passingCount = 8_192 - burst;
  for (let i = 0; i < passingCount; i++) ch.sendToQueue(passing, Buffer.from('p'));
  let passed = 0;
  await ch.consume(passing, () => passed++, { noAck: true });
  await until(() => passed === passingCount, 20_000, 'no-ack deliveries');
  ch.sendToQueue(q, Buffer.from('last'));
  await until(() => ready(q) === 1);
  const last = await ch.get(q);
  assert.ok(last !== false && last.fields.deliveryTag === 8_193);
  ch.ack(last);
  await ch.checkQueue(q).catch(() => {});
  assert.equal(closedWith, undefined, 'the channel stays open');
  ch.ack(held[0]!);
  await ch.close();
  assert.equal(ready(q), 0, 'no acked message comes back when the channel closes');
});

test('acks, nacks and recover over a get held while 2,000 no-ack deliveries passed settle each delivery once', async () => {
  const ch = await channelOf(file.conn);
  const closed = new Promise<string>((resolve) => ch.once('error', (err: Error) => resolve(err.message)));
  const held = (await ch.assertQueue('', { exclusive: true })).queue;
  const passing = (await ch.assertQueue('', { exclusive: true })).queue;
  ch.sendToQueue(held, Buffer.from('got'));
  await until(() => ready(held) === 1);
  const got = await ch.get(held);
  assert.ok(got !== false && got.fields.deliveryTag === 1);
  // No-ack deliveries take tags and hold nothing: the get is now far older than anything held after it.
  const passingCount = 2_000;
  for (let i = 0; i < passingCount; i++) ch.sendToQueue(passing, Buffer.from('p'));
  let passed = 0;
  await ch.consume(passing, () => passed++, { noAck: true });
  await until(() => passed === passingCount, 20_000, 'no-ack deliveries');
  const delivered: amqp.ConsumeMessage[] = [];
  for (let i = 0; i < 5; i++) ch.sendToQueue(held, Buffer.from(`c${i}`));
  await ch.consume(held, (m) => m && delivered.push(m));
  await until(() => delivered.length === 5);
  ch.ack(delivered[2]!, true); // the get and c0..c2
  ch.nack(delivered[3]!, false, true); // c3 back and redelivered
  await until(() => delivered.length === 6);
  assert.deepEqual([delivered[5]!.content.toString(), delivered[5]!.fields.redelivered], ['c3', true]);
  await ch.recover(); // c4 and c3 again
  await until(() => delivered.length === 8);
  assert.deepEqual(
    delivered
      .slice(6)
      .map((m) => m.content.toString())
      .sort(),
    ['c3', 'c4'],
  );
  ch.ackAll(); // delivery tag 0 with multiple
  await ch.checkQueue(held);
  ch.ack(got); // already acked with the others: 406
  assert.match(await closed, /406/);
  assert.equal(ready(held), 0, 'nothing settled comes back when the channel closes');
});

test('a connection lost while holding deliveries old and new gives each back once', async () => {
  const conn = await open(file.sy.url);
  const ch = await channelOf(conn);
  const q = 'unacked.lost';
  await ch.assertQueue(q, { durable: false });
  const passing = (await ch.assertQueue('', { exclusive: true })).queue;
  ch.sendToQueue(q, Buffer.from('old'));
  const received: amqp.ConsumeMessage[] = [];
  await ch.consume(q, (m) => m && received.push(m));
  await until(() => received.length === 1);
  for (let i = 0; i < 1_000; i++) ch.sendToQueue(passing, Buffer.from('p'));
  let passed = 0;
  await ch.consume(passing, () => passed++, { noAck: true });
  await until(() => passed === 1_000, 20_000, 'no-ack deliveries');
  for (let i = 0; i < 10; i++) ch.sendToQueue(q, Buffer.from(`new${i}`));
  await until(() => received.length === 11);
  ch.ack(received[5]!);
  await ch.checkQueue(q); // the ack reached the broker before the connection goes
  await conn.close();
  await until(
    () => ready(q) === 10,
    10_000,
    () => `the held deliveries back in the queue: ${ready(q)}`,
  );
  const check = await channelOf(file.conn);
  const back: string[] = [];
  for (let m = await check.get(q, { noAck: true }); m !== false; m = await check.get(q, { noAck: true }))
    back.push(m.content.toString());
  const expected = ['old', ...Array.from({ length: 10 }, (_, i) => `new${i}`)].filter((b) => b !== 'new4');
  assert.deepEqual(back.sort(), expected.sort());
  await check.deleteQueue(q);
});
