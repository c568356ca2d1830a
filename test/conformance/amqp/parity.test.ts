/**
 * Places where RabbitMQ departs from a plain reading of 0-9-1 and clients notice: queue types on
 * redeclare, basic.recover requeue=false, field-table tags (kept end to end, x-death's types), and
 * publisher flow control. Expected
 * texts were taken from RabbitMQ 3.10 (../shared/peers) answering the same frames.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type amqp from 'amqplib';
import {
  encodeBasicProperties,
  encodeContent,
  type FieldTable,
  type Method,
  Tagged,
} from '../../../src/protocols/amqp/codec/index.js';
import {
  channelOf,
  open,
  RawClient,
  sharedAmqpBroker,
  startAmqpBroker,
  until,
} from '../../../testing/amqp-helpers.js';

const file = sharedAmqpBroker();

/** Declares on a fresh channel; resolves with the close text, or 'ok'. */
async function declare(queue: string, options: amqp.Options.AssertQueue): Promise<string> {
  const ch = await channelOf(file.conn);
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
    for (const q of ['qt.quorum', 'qt.classic', 'qt.stream'])
      await (await channelOf(file.conn)).deleteQueue(q);
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
  const raw = await RawClient.connect(file.sy.port);
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

/** Every field-table tag, in shapes a decode → encode keeps byte for byte. */
const everyTag: FieldTable = {
  bool: true,
  int8: new Tagged('b', -7),
  uint8: new Tagged('B', 200),
  int16: new Tagged('s', -2),
  uint16: new Tagged('u', 60_000),
  int32: -5,
  uint32: new Tagged('i', 4_000_000_000),
  int64Small: new Tagged('l', 3n),
  int64: 2 ** 40,
  int64Huge: 2n ** 62n,
  float32: new Tagged('f', 1.5),
  float64: 0.25,
  float64Whole: new Tagged('d', 3),
  decimal: new Tagged('D', 125, 2),
  text: 'x',
  time: new Date(1_700_000_000_000),
  bytes: Buffer.from([1, 2]),
  void: null,
  nested: { list: [true, new Tagged('s', 9), { deeper: new Tagged('B', 1) }] },
};

function publishRaw(raw: RawClient, queue: string, headers: FieldTable, deliveryMode = 1): void {
  const publish: Method = {
    name: 'basic.publish',
    fields: { ticket: 0, exchange: '', routingKey: queue, mandatory: false, immediate: false },
  };
  raw.write(encodeContent(1, publish, { headers, deliveryMode }, new Uint8Array([1]), 131_072));
}

/** The headers of the next content header frame the raw client receives, as decoded (tags kept). */
async function nextHeaders(raw: RawClient): Promise<FieldTable> {
  await until(() => raw.frames.some((f) => f.kind === 'header'));
  const i = raw.frames.findIndex((f) => f.kind === 'header');
  const [header] = raw.frames.splice(i, 1);
  assert.ok(header?.kind === 'header');
  return header.properties.headers ?? {};
}

async function getRaw(raw: RawClient, queue: string): Promise<FieldTable> {
  raw.send(1, { name: 'basic.get', fields: { ticket: 0, queue, noAck: true } });
  await raw.method('basic.get-ok');
  return nextHeaders(raw);
}

/** Same decoded values and the same bytes on the wire. */
function assertSameTable(actual: FieldTable, expected: FieldTable): void {
  assert.deepEqual(actual, expected);
  assert.deepEqual(
    Buffer.from(encodeBasicProperties({ headers: actual })),
    Buffer.from(encodeBasicProperties({ headers: expected })),
  );
}

describe('AMQP field tables through core', () => {
  test('every field-table tag survives AMQP → AMQP byte for byte', async () => {
    const ch = await channelOf(file.conn);
    const q = (await ch.assertQueue('', { exclusive: false, autoDelete: true })).queue;
    const raw = await rawChannel();
    publishRaw(raw, q, everyTag);
    assertSameTable(await getRaw(raw, q), everyTag);
    raw.close();
    await ch.deleteQueue(q);
  });

  test('tags survive a durable queue across a restart, and a stream', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-tags-'));
    const first = await startAmqpBroker({ storage: 'file', dataDir });
    const c1 = await open(first.url);
    const ch1 = await channelOf(c1);
    await ch1.assertQueue('tags.durable', { durable: true });
    await ch1.assertQueue('tags.stream', { durable: true, arguments: { 'x-queue-type': 'stream' } });
    const raw1 = await RawClient.connect(first.port);
    await raw1.handshake();
    raw1.send(1, { name: 'channel.open', fields: { outOfBand: '' } });
    await raw1.method('channel.open-ok');
    publishRaw(raw1, 'tags.durable', everyTag, 2);
    publishRaw(raw1, 'tags.stream', everyTag, 2);
    await until(() => (first.broker.client('/').peekQueue?.('tags.durable')?.messageCount ?? 0) === 1);
    raw1.close();
    await c1.close();
    await first.stop();

    const second = await startAmqpBroker({ storage: 'file', dataDir });
    const raw2 = await RawClient.connect(second.port);
    await raw2.handshake();
    raw2.send(1, { name: 'channel.open', fields: { outOfBand: '' } });
    await raw2.method('channel.open-ok');
    assertSameTable(await getRaw(raw2, 'tags.durable'), everyTag);
    raw2.send(1, { name: 'basic.qos', fields: { prefetchSize: 0, prefetchCount: 10, global: false } });
    await raw2.method('basic.qos-ok');
    raw2.send(1, {
      name: 'basic.consume',
      fields: {
        ticket: 0,
        queue: 'tags.stream',
        consumerTag: 'c',
        noLocal: false,
        noAck: false,
        exclusive: false,
        noWait: false,
        arguments: { 'x-stream-offset': 'first' },
      },
    });
    await raw2.method('basic.deliver');
    const { 'x-stream-offset': offset, ...fromStream } = await nextHeaders(raw2);
    assert.equal(offset, 0);
    assertSameTable(fromStream, everyTag);
    raw2.close();
    await second.stop();
  });
});

/** basic.get until a message is there; bounded by `timeoutMs`. */
async function getWithin(ch: amqp.Channel, queue: string, timeoutMs = 3000): Promise<amqp.GetMessage> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await ch.get(queue);
    if (got !== false) return got;
    if (Date.now() > deadline) throw new Error(`no message in ${queue} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('AMQP x-death field types', () => {
  test('count is an int64 (l), time a timestamp, the rest long strings, as RabbitMQ sends them', async () => {
    const ch = await channelOf(file.conn);
    await ch.assertQueue('dl.target', { durable: false });
    await ch.assertQueue('dl.work', {
      durable: false,
      arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'dl.target' },
    });
    for (const body of ['a', 'b']) ch.sendToQueue('dl.work', Buffer.from(body));
    for (let i = 0; i < 2; i++) ch.reject(await getWithin(ch, 'dl.work'), false);

    // What amqplib shows: it decodes `l` as a number and `T` as { '!': 'timestamp', value: seconds }.
    const headers = (await getWithin(ch, 'dl.target')).properties.headers ?? {};
    const [entry] = headers['x-death'] as unknown as Array<Record<string, unknown>>;
    assert.equal(entry?.['count'], 1);
    const time = entry?.['time'] as { '!': string; value: number };
    assert.equal(time['!'], 'timestamp');
    assert.ok(Math.abs(time.value - Date.now() / 1000) < 60, String(time.value));
    assert.deepEqual(
      { ...entry, count: undefined, time: undefined },
      {
        count: undefined,
        time: undefined,
        reason: 'rejected',
        queue: 'dl.work',
        exchange: '',
        'routing-keys': ['dl.work'],
      },
    );
    assert.equal(headers['x-first-death-reason'], 'rejected');
    assert.equal(headers['x-first-death-queue'], 'dl.work');
    assert.equal(headers['x-first-death-exchange'], '');

    // The tags on the wire: the codec keeps a non-default tag in a Tagged, strings (S) and
    // timestamps (T) come back as string and Date.
    const raw = await rawChannel();
    const table = await getRaw(raw, 'dl.target');
    const [wire] = table['x-death'] as FieldTable[];
    assert.deepEqual(wire?.['count'], new Tagged('l', 1n));
    assert.ok(wire?.['time'] instanceof Date);
    for (const key of ['reason', 'queue', 'exchange']) assert.equal(typeof wire?.[key], 'string');
    for (const key of ['x-first-death-reason', 'x-first-death-queue', 'x-first-death-exchange']) {
      assert.equal(typeof table[key], 'string');
    }
    raw.close();
    await ch.deleteQueue('dl.work');
    await ch.deleteQueue('dl.target');
  });
});

describe('AMQP publisher flow control', () => {
  test('a publisher through a named exchange is held while its queue is far ahead of consumers', async () => {
    const publisher = await open(file.sy.url);
    const pub = await channelOf(publisher);
    const consumer = await channelOf(file.conn);
    await pub.assertExchange('ex.flow', 'direct', { durable: false });
    const q = (await pub.assertQueue('q.flow', { durable: false })).queue;
    await pub.bindQueue(q, 'ex.flow', 'k');
    const vhost = file.sy.broker.client('/');
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
