/**
 * Places where RabbitMQ departs from a plain reading of 0-9-1 and clients notice: queue types on
 * redeclare, basic.recover requeue=false, field-table tags, and publisher flow control. Expected
 * texts were taken from RabbitMQ 3.10 (../shared/peers) answering the same frames.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type amqp from 'amqplib';
import {
  encodeContent,
  type FieldTable,
  type Method,
  Tagged,
} from '../../../src/protocols/amqp/codec/index.js';
import {
  channelOf,
  open,
  RawClient,
  startAmqpBroker,
  type TestBroker,
  until,
} from '../../../src/testing/amqp-helpers.js';

let sy: TestBroker;
let conn: amqp.ChannelModel;
before(async () => {
  sy = await startAmqpBroker();
  conn = await open(sy.url);
});
after(async () => {
  await conn.close();
  await sy.stop();
});

/** Declares on a fresh channel; resolves with the close text, or 'ok'. */
async function declare(queue: string, options: amqp.Options.AssertQueue): Promise<string> {
  const ch = await channelOf(conn);
  const closed = new Promise<string>((resolve) => ch.once('error', (e: Error) => resolve(e.message)));
  try {
    await ch.assertQueue(queue, options);
  } catch {
    return closed;
  }
  await ch.close();
  return 'ok';
}

const typed = (type: string, options: amqp.Options.AssertQueue = {}): amqp.Options.AssertQueue => ({
  durable: true,
  ...options,
  arguments: { 'x-queue-type': type },
});

describe('AMQP x-queue-type', () => {
  test('redeclaring with another queue type is 406 with RabbitMQ text', async () => {
    assert.equal(await declare('qt.quorum', typed('quorum')), 'ok');
    assert.equal(await declare('qt.quorum', typed('quorum')), 'ok');
    const text = (received: string, current: string, q: string) =>
      `PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue '${q}' in vhost '/': received '${received}' but current is '${current}'`;
    assert.match(
      await declare('qt.quorum', typed('classic')),
      new RegExp(text('classic', 'quorum', 'qt.quorum')),
    );
    assert.match(
      await declare('qt.quorum', typed('stream')),
      new RegExp(text('stream', 'quorum', 'qt.quorum')),
    );
    assert.match(await declare('qt.quorum', { durable: true }), /406.*x-queue-type/);

    // No argument means classic, both ways.
    assert.equal(await declare('qt.classic', { durable: true }), 'ok');
    assert.equal(await declare('qt.classic', typed('classic')), 'ok');
    assert.match(
      await declare('qt.classic', typed('quorum')),
      new RegExp(text('quorum', 'classic', 'qt.classic')),
    );

    assert.equal(await declare('qt.stream', typed('stream')), 'ok');
    assert.match(
      await declare('qt.stream', typed('classic')),
      new RegExp(text('classic', 'stream', 'qt.stream')),
    );
    for (const q of ['qt.quorum', 'qt.classic', 'qt.stream']) await (await channelOf(conn)).deleteQueue(q);
  });

  test('quorum and stream queues must be durable, not exclusive, not auto-delete, and named', async () => {
    for (const type of ['quorum', 'stream']) {
      const cases: Array<[amqp.Options.AssertQueue, string]> = [
        [{ durable: false }, 'non-durable'],
        [{ exclusive: true, durable: false }, 'exclusive-owner'],
        [{ autoDelete: true, exclusive: true }, 'auto-delete'],
      ];
      for (const [flags, property] of cases) {
        const text = await declare('qt.flags', typed(type, flags));
        assert.match(
          text,
          new RegExp(`^.*406.*invalid property '${property}' for queue 'qt.flags' in vhost '/'`),
        );
      }
      const serverNamed = await declare('', typed(type));
      assert.match(
        serverNamed,
        new RegExp(`406.*Cannot declare a server-named queue for type rabbit_${type}_queue`),
      );
    }
  });

  test('x-queue-type must be a known long string', async () => {
    assert.match(
      await declare('qt.bad', typed('fast')),
      /406.*invalid arg 'x-queue-type'.*unsupported queue type 'fast'/,
    );
    const bytes = { durable: true, arguments: { 'x-queue-type': Buffer.from('quorum') } };
    assert.match(await declare('qt.bad', bytes), /406.*\{unacceptable_type,binary\}/);
  });
});

async function rawChannel(): Promise<RawClient> {
  const raw = await RawClient.connect(sy.port);
  await raw.handshake();
  raw.send(1, { name: 'channel.open', fields: { outOfBand: '' } });
  await raw.method('channel.open-ok');
  return raw;
}

describe('AMQP basic.recover requeue=false', () => {
  test('recover and recover-async without requeue close the connection with 540, as RabbitMQ', async () => {
    const cases: Array<[Method, number]> = [
      [{ name: 'basic.recover', fields: { requeue: false } }, 110],
      [{ name: 'basic.recover-async', fields: { requeue: false } }, 100],
    ];
    for (const [method, methodId] of cases) {
      const raw = await rawChannel();
      raw.send(1, method);
      const close = await raw.method('connection.close');
      assert.deepEqual(close.fields, {
        replyCode: 540,
        replyText: 'NOT_IMPLEMENTED - requeue=false',
        classId: 60,
        methodId,
      });
      raw.close();
    }
  });
});

describe('AMQP field tables through core', () => {
  test('header values survive AMQP → AMQP; rarer numeric tags come back as int32 / double', async () => {
    const ch = await channelOf(conn);
    const q = (await ch.assertQueue('', { exclusive: false, autoDelete: true })).queue;
    const raw = await rawChannel();
    const headers: FieldTable = {
      short: new Tagged('s', -2),
      float: new Tagged('f', 1.5),
      byte: new Tagged('b', 7),
      decimal: new Tagged('D', 125, 2),
      long: 2n ** 40n,
      text: 'x',
      nested: { list: [true, null, new Uint8Array([1, 2])] },
    };
    const publish: Method = {
      name: 'basic.publish',
      fields: { ticket: 0, exchange: '', routingKey: q, mandatory: false, immediate: false },
    };
    raw.write(encodeContent(1, publish, { headers }, new Uint8Array([1]), 131_072));
    raw.send(1, { name: 'basic.get', fields: { ticket: 0, queue: q, noAck: true } });
    await raw.method('basic.get-ok');
    await until(() => raw.frames.some((f) => f.kind === 'header'));
    const header = raw.frames.find((f) => f.kind === 'header');
    assert.ok(header?.kind === 'header');
    // Core headers carry plain values, so the tag each number arrived with is not kept (README:
    // "Missing or different from RabbitMQ"); the value is.
    assert.deepEqual(header.properties.headers, {
      short: -2,
      float: 1.5,
      byte: 7,
      decimal: 1.25,
      long: 2 ** 40,
      text: 'x',
      nested: { list: [true, null, Buffer.from([1, 2])] },
    });
    raw.close();
    await ch.deleteQueue(q);
  });
});

describe('AMQP publisher flow control', () => {
  test('a publisher through a named exchange is held while its queue is far ahead of consumers', async () => {
    const publisher = await open(sy.url);
    const pub = await channelOf(publisher);
    const consumer = await channelOf(conn);
    await pub.assertExchange('ex.flow', 'direct', { durable: false });
    const q = (await pub.assertQueue('q.flow', { durable: false })).queue;
    await pub.bindQueue(q, 'ex.flow', 'k');
    const vhost = sy.broker.core.vhost('/');
    const total = 30_000;
    let received = 0;
    let peak = 0;
    await consumer.prefetch(50);
    await consumer.consume(q, (m) => {
      if (m === null) return;
      received++;
      peak = Math.max(peak, vhost.peekQueue?.(q)?.messageCount ?? 0);
      consumer.ack(m);
    });
    const payload = Buffer.alloc(64);
    for (let i = 0; i < total; i++) pub.publish('ex.flow', 'k', payload);
    await until(() => received === total, 60_000, 'all messages consumed');
    // Unheld, the queue takes nearly all of them at once; held, it stays near 2,000 ready.
    assert.ok(peak < total / 3, `peak backlog ${peak}`);
    await publisher.close();
    await consumer.deleteQueue(q);
    await consumer.deleteExchange('ex.flow');
  });
});
