/**
 * Delivery tags at the edges, checked against RabbitMQ 3.10.8 (../shared/peers) with the same clients:
 * settling with `multiple` and a tag not held, and settling just before closing.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type amqp from 'amqplib';
import { encodeMethodFrame, type Method } from '../../../src/protocols/amqp/codec/index.js';
import { channelOf, RawClient, readyCount, sharedAmqpBroker, until } from '../../../testing/amqp-helpers.js';

const file = sharedAmqpBroker();

const ready = (q: string): number => readyCount(file.sy.broker, q);

/** A channel holding deliveries 1..3 of its own queue (prefetch 3), and the error that closes it. */
async function holdingThree(): Promise<{
  ch: amqp.Channel;
  q: string;
  held: amqp.ConsumeMessage[];
  closed: () => string | undefined;
}> {
  const ch = await channelOf(file.conn);
  let closedWith: string | undefined;
  ch.on('error', (err: Error) => {
    closedWith = err.message;
  });
  const q = (await ch.assertQueue('', { exclusive: false, autoDelete: false })).queue;
  for (let i = 0; i < 3; i++) ch.sendToQueue(q, Buffer.from(`m${i}`));
  const held: amqp.ConsumeMessage[] = [];
  await ch.prefetch(3);
  await ch.consume(q, (m) => m && held.push(m));
  await until(() => held.length === 3);
  return { ch, q, held, closed: () => closedWith };
}

/** A settle naming only a tag (amqplib reads nothing else of the message). */
const tagged = (deliveryTag: number): amqp.Message =>
  ({ fields: { deliveryTag } }) as unknown as amqp.Message;

/** The channel's fate after `settle`: the 406 text it closed with, or undefined if it stays open. */
async function outcome(
  ch: amqp.Channel,
  q: string,
  closed: () => string | undefined,
): Promise<string | undefined> {
  await ch.checkQueue(q).catch(() => {});
  return closed();
}

const unknown = (tag: number): RegExp =>
  new RegExp(`406 .*PRECONDITION_FAILED - unknown delivery tag ${tag}"`);

// RabbitMQ 3.10.8 with amqplib, `multiple` set: the tag itself must be held, else 406 "unknown delivery
// tag N" and nothing is settled; tag 0 settles every held delivery, none held included. Cases tried:
// nothing held (ack/nack 5: 406; ack/nack 0: open), tag 1 below the oldest held 2 (406), tag 7 above
// every held 1..3 (406), tag 2 between held 1 and 3 (406), tag 0 with 1..3 held (all settled).
for (const settle of ['ack', 'nack'] as const) {
  const send = (ch: amqp.Channel, tag: number): void => {
    if (settle === 'ack') ch.ack(tagged(tag), true);
    else ch.nack(tagged(tag), true, false);
  };

  test(`${settle} multiple with nothing held: 406 for a tag, none for tag 0`, async () => {
    for (const [tag, expected] of [
      [5, unknown(5)],
      [0, undefined],
    ] as const) {
      const ch = await channelOf(file.conn);
      let closedWith: string | undefined;
      ch.on('error', (err: Error) => {
        closedWith = err.message;
      });
      const q = (await ch.assertQueue('', { exclusive: true })).queue;
      send(ch, tag);
      const got = await outcome(ch, q, () => closedWith);
      if (expected === undefined) assert.equal(got, undefined, `tag ${tag} keeps the channel open`);
      else assert.match(got ?? '', expected);
      if (got === undefined) await ch.close();
    }
  });

  test(`${settle} multiple with a tag below, above or between those held: 406, nothing settled`, async () => {
    for (const [name, tag, before] of [
      ['below', 1, 1],
      ['above', 7, 0],
      ['between', 2, 2],
    ] as const) {
      const { ch, q, held, closed } = await holdingThree();
      if (before > 0) ch.ack(held[before - 1]!);
      send(ch, tag);
      assert.match((await outcome(ch, q, closed)) ?? '', unknown(tag), name);
      // The channel's close gives back what it held: only the one acked before is gone.
      await until(() => ready(q) === 3 - (before > 0 ? 1 : 0), 5000, `${name}: held deliveries back`);
      await channelOf(file.conn).then(async (c) => {
        await c.deleteQueue(q);
        await c.close();
      });
    }
  });
}

test('ack multiple with tag 0 settles every held delivery', async () => {
  const { ch, q, closed } = await holdingThree();
  ch.ack(tagged(0), true);
  assert.equal(await outcome(ch, q, closed), undefined);
  await ch.close();
  assert.equal(ready(q), 0);
  await channelOf(file.conn).then(async (c) => {
    await c.deleteQueue(q);
    await c.close();
  });
});

// Settling and then closing. Frames of one connection are handled in order, so a settle that
// precedes connection.close on the wire is applied before the close gives deliveries back. RabbitMQ
// 3.10.8 did the same for each raw case below. amqplib's `ch.ack(m); conn.close()` without awaiting
// the channel's close is another matter: captured through a loopback proxy, amqplib 0.10 writes
// connection.close (channel 0) before the basic.ack (channel 1), its channels' frames being merged
// after channel 0's, so the ack arrives after the close and the message comes back as unacked, from
// RabbitMQ 3.10.8 as from Switchyard (3 of 3 runs each; nack and reject alike). Closing the channel
// first (`await ch.close()`) keeps the order.
test('amqplib: ack then channel close then connection close keeps the ack', async () => {
  const admin = await channelOf(file.conn);
  const q = (await admin.assertQueue('', { exclusive: false })).queue;
  admin.sendToQueue(q, Buffer.from('m'));
  const amqplib = await import('amqplib');
  const conn = await amqplib.default.connect(file.sy.url);
  conn.on('error', () => {});
  const ch = await channelOf(conn);
  const m = await new Promise<amqp.ConsumeMessage>((resolve) => {
    void ch.consume(q, (d) => d && resolve(d));
  });
  ch.ack(m);
  await ch.close();
  await conn.close();
  assert.equal(ready(q), 0, 'the acked message does not come back');
  await admin.deleteQueue(q);
  await admin.close();
});

const closeMethod = (name: 'connection.close' | 'channel.close'): Method => ({
  name,
  fields: { replyCode: 200, replyText: 'bye', classId: 0, methodId: 0 },
});

test('raw client: a settle written with connection.close in one write is applied before the close', async () => {
  const cases: Array<[string, (tag: number) => Method, boolean]> = [
    ['ack', (tag) => ({ name: 'basic.ack', fields: { deliveryTag: tag, multiple: false } }), false],
    [
      'ack + channel.close',
      (tag) => ({ name: 'basic.ack', fields: { deliveryTag: tag, multiple: false } }),
      true,
    ],
    [
      'nack',
      (tag) => ({ name: 'basic.nack', fields: { deliveryTag: tag, multiple: false, requeue: false } }),
      false,
    ],
    ['reject', (tag) => ({ name: 'basic.reject', fields: { deliveryTag: tag, requeue: false } }), false],
  ];
  const admin = await channelOf(file.conn);
  for (const [name, settle, closeChannel] of cases) {
    const q = (await admin.assertQueue('', { exclusive: false })).queue;
    admin.sendToQueue(q, Buffer.from('m'));
    const c = await RawClient.connect(file.sy.port);
    await c.handshake();
    await c.openChannel(1);
    c.send(1, {
      name: 'basic.consume',
      fields: {
        ticket: 0,
        queue: q,
        consumerTag: '',
        noLocal: false,
        noAck: false,
        exclusive: false,
        noWait: false,
        arguments: {},
      },
    });
    const d = await c.method('basic.deliver');
    assert.ok(d.name === 'basic.deliver');
    const frames = [encodeMethodFrame(1, settle(d.fields.deliveryTag), 131_072)];
    if (closeChannel) frames.push(encodeMethodFrame(1, closeMethod('channel.close'), 131_072));
    frames.push(encodeMethodFrame(0, closeMethod('connection.close'), 131_072));
    c.write(Buffer.concat(frames));
    await c.method('connection.close-ok');
    c.close();
    await until(() => c.closed);
    assert.equal(ready(q), 0, `${name}: the message does not come back`);
    await admin.deleteQueue(q);
  }
  await admin.close();
});
