import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { QueueEngine } from '../../src/core/internal.js';
import { retentionIntervalMs } from '../../src/core/logs/index.js';
import { headerValue, type StreamOffsetSpec } from '../../src/core/types.js';
import { isBrokerError } from '../../src/shared/errors.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import {
  bodyText,
  creditLimit,
  offsetOf,
  openStreams,
  recordingConsumer,
  settle,
  textMessage,
} from '../../testing/stream-harness.js';

async function streamQueue(name = 'sq') {
  const harness = await openStreams(new MemoryStorage());
  await harness.registry.create(name, { partitions: 1 });
  const queue = harness.registry.asQueue(name, { durable: true, kind: 'stream' });
  return { ...harness, queue };
}

function publish(queue: QueueEngine, texts: string[]): void {
  for (const text of texts) queue.enqueue(textMessage(text));
}

async function readFrom(offset: StreamOffsetSpec, existing: string[], later: string[] = []) {
  const { registry, queue } = await streamQueue();
  publish(queue, existing);
  const consumer = recordingConsumer('c', { offset, prefetch: 100 });
  queue.consume(consumer.options);
  publish(queue, later);
  await settle();
  await registry.close();
  return consumer.deliveries.map((d) => [offsetOf(d), bodyText(d)]);
}

describe('stream as a queue: where consumers start', () => {
  const existing = ['m0', 'm1', 'm2'];
  const later = ['m3'];

  it("'first' reads everything stored", async () => {
    assert.deepEqual(await readFrom('first', existing, later), [
      [0, 'm0'],
      [1, 'm1'],
      [2, 'm2'],
      [3, 'm3'],
    ]);
  });

  it("'next' (the default) reads only what comes after", async () => {
    assert.deepEqual(await readFrom('next', existing, later), [[3, 'm3']]);
  });

  it("'last' starts at the newest entry", async () => {
    assert.deepEqual(await readFrom('last', existing, later), [
      [2, 'm2'],
      [3, 'm3'],
    ]);
  });

  it('an offset starts there; one past the end waits for new messages', async () => {
    assert.deepEqual(await readFrom({ offset: 1 }, existing), [
      [1, 'm1'],
      [2, 'm2'],
    ]);
    assert.deepEqual(await readFrom({ offset: 99 }, existing, later), [[3, 'm3']]);
  });

  it('a timestamp starts at the first message stored at or after it', async () => {
    const { registry, queue, clock } = await streamQueue();
    const t0 = clock.now();
    publish(queue, ['old']);
    clock.advance(10_000);
    publish(queue, ['new']);
    const consumer = recordingConsumer('c', { offset: { timestamp: t0 + 5_000 } });
    queue.consume(consumer.options);
    await settle();
    assert.deepEqual(consumer.deliveries.map(bodyText), ['new']);
    await registry.close();
  });
});

describe('stream as a queue: credit and acks', () => {
  it('delivers up to prefetch, and each ack or nack gives one credit back without removing messages', async () => {
    const { registry, queue } = await streamQueue();
    publish(queue, ['a', 'b', 'c', 'd', 'e']);
    const consumer = recordingConsumer('c', { offset: 'first', prefetch: 2 });
    queue.consume(consumer.options);
    await settle();
    const id = (i: number) => consumer.deliveries[i]!.id;
    assert.deepEqual(consumer.deliveries.map(offsetOf), [0, 1]);
    const [first] = consumer.deliveries;
    assert.equal(first?.redelivered, false);
    assert.equal(first?.queue, 'sq');
    assert.equal(headerValue(first?.message.properties.headers, 'x-stream-offset'), 0);
    queue.ack(id(0));
    await settle();
    assert.deepEqual(consumer.deliveries.map(offsetOf), [0, 1, 2]);
    queue.nack(id(1), true);
    queue.ack(id(2));
    await settle();
    assert.deepEqual(
      consumer.deliveries.map(offsetOf),
      [0, 1, 2, 3, 4],
      'a nack does not redeliver: the consumer moves on',
    );
    assert.deepEqual(queue.info(), { name: 'sq', messageCount: 5, consumerCount: 1 });
    assert.throws(
      () => queue.ack(id(0)),
      (err) => isBrokerError(err, 'invalid_state'),
    );
    await registry.close();
  });

  it('wakes a waiting consumer on new messages, and honours shared credit limits', async () => {
    const { registry, queue } = await streamQueue();
    const channel = creditLimit(1);
    const consumer = recordingConsumer('c', { prefetch: 10, limits: [channel] });
    queue.consume(consumer.options);
    publish(queue, ['x', 'y']);
    await settle();
    assert.deepEqual(consumer.deliveries.map(bodyText), ['x']);
    assert.equal(channel.used, 1);
    queue.ack(consumer.deliveries[0]!.id);
    await settle();
    assert.deepEqual(consumer.deliveries.map(bodyText), ['x', 'y']);
    queue.ack(consumer.deliveries[1]!.id);
    assert.equal(channel.used, 0);
    await registry.close();
  });

  it('lets each consumer read the whole stream on its own', async () => {
    const { registry, queue } = await streamQueue();
    publish(queue, ['a', 'b']);
    const one = recordingConsumer('one', { offset: 'first' });
    const two = recordingConsumer('two', { offset: 'first', owner: 'channel-2' });
    queue.consume(one.options);
    queue.consume(two.options);
    await settle();
    assert.deepEqual(one.deliveries.map(bodyText), ['a', 'b']);
    assert.deepEqual(two.deliveries.map(bodyText), ['a', 'b']);
    assert.equal(queue.info().consumerCount, 2);
    await registry.close();
  });
});

describe('stream as a queue: consumer lifecycle', () => {
  it('raising the prefetch lets more through', async () => {
    const { registry, queue } = await streamQueue();
    publish(queue, ['a', 'b', 'c']);
    const consumer = recordingConsumer('c', { offset: 'first', prefetch: 1 });
    const handle = queue.consume(consumer.options);
    await settle();
    assert.equal(consumer.deliveries.length, 1);
    handle.setPrefetch(3);
    await settle();
    assert.equal(consumer.deliveries.length, 3);
    await registry.close();
  });

  it('releasing an owner cancels its consumers and frees what they held', async () => {
    const { registry, queue } = await streamQueue();
    publish(queue, ['a', 'b']);
    const channel = creditLimit(10);
    const consumer = recordingConsumer('c', { offset: 'first', limits: [channel] });
    queue.consume(consumer.options);
    await settle();
    assert.equal(channel.used, 2);
    queue.releaseOwner('channel-1');
    assert.equal(channel.used, 0);
    assert.equal(queue.info().consumerCount, 0);
    assert.deepEqual(consumer.cancelled, [], 'the owner asked, so no server cancel');
    assert.throws(
      () => queue.ack(consumer.deliveries[0]!.id),
      (err) => isBrokerError(err, 'invalid_state'),
    );
    await registry.close();
  });

  it('a cancelled consumer gets nothing more but can still ack what it holds', async () => {
    const { registry, queue } = await streamQueue();
    const channel = creditLimit(10);
    const consumer = recordingConsumer('c', { limits: [channel] });
    const handle = queue.consume(consumer.options);
    publish(queue, ['a']);
    await settle();
    handle.cancel();
    publish(queue, ['b']);
    await settle();
    assert.deepEqual(consumer.deliveries.map(bodyText), ['a']);
    queue.ack(consumer.deliveries[0]!.id);
    assert.equal(channel.used, 0);
    await registry.close();
  });
});

describe('stream as a queue: what RabbitMQ refuses, and deletion', () => {
  it('refuses no-ack consumers, consumers without prefetch, get and purge', async () => {
    const { registry, queue } = await streamQueue();
    const refused = (err: unknown) => isBrokerError(err, 'precondition_failed');
    assert.throws(() => queue.consume(recordingConsumer('a', { noAck: true }).options), refused);
    assert.throws(() => queue.consume(recordingConsumer('b', { prefetch: 0 }).options), refused);
    assert.throws(() => queue.get({ noAck: false, owner: 'x' }), refused);
    assert.throws(() => queue.purge(), refused);
    queue.consume(recordingConsumer('c').options);
    assert.throws(
      () => queue.consume(recordingConsumer('c').options),
      (err) => isBrokerError(err, 'invalid_state'),
    );
    assert.throws(
      () => queue.consume(recordingConsumer('d', { exclusive: true }).options),
      (err) => isBrokerError(err, 'resource_locked'),
    );
    await registry.close();
  });

  it('resolves enqueue as durable and accepted', async () => {
    const { registry, queue } = await streamQueue();
    const result = queue.enqueue(textMessage('a'));
    assert.equal(result.accepted, true);
    await result.durable;
    assert.equal(registry.partition('sq', 0).endOffset, 1);
    await registry.close();
  });

  it('destroy cancels consumers and deletes the stream', async () => {
    const { registry, queue } = await streamQueue();
    const consumer = recordingConsumer('c');
    queue.consume(consumer.options);
    await queue.destroy();
    assert.equal(consumer.cancelled.length, 1);
    assert.equal(registry.get('sq'), undefined);
    assert.equal(queue.info().consumerCount, 0);
    await registry.close();
  });

  it('needs the stream to exist first', async () => {
    const { registry } = await openStreams(new MemoryStorage());
    assert.throws(
      () => registry.asQueue('none', { kind: 'stream' }),
      (err) => isBrokerError(err, 'not_found'),
    );
    await registry.close();
  });
});

describe('stream as a queue: long backlogs and retention', () => {
  it('delivers a backlog larger than one turn', async () => {
    const { registry, queue } = await streamQueue();
    const total = 3000;
    publish(
      queue,
      Array.from({ length: total }, (_, i) => `m${i}`),
    );
    const consumer = recordingConsumer('c', { offset: 'first', prefetch: total });
    queue.consume(consumer.options);
    for (let turn = 0; turn < 50 && consumer.deliveries.length < total; turn++) await settle(1);
    assert.equal(consumer.deliveries.length, total);
    assert.deepEqual(consumer.deliveries.slice(-1).map(bodyText), [`m${total - 1}`]);
    await registry.close();
  });

  it('a reader left behind by retention goes on from the new start', async () => {
    const harness = await openStreams(new MemoryStorage());
    const { registry, clock } = harness;
    await registry.create('aged', { partitions: 1, ageMsMax: 1_000 });
    const queue = registry.asQueue('aged', { kind: 'stream' });
    publish(queue, ['a', 'b', 'c']);
    const consumer = recordingConsumer('c', { offset: 'first', prefetch: 1 });
    queue.consume(consumer.options);
    await settle();
    clock.advance(retentionIntervalMs);
    assert.equal(registry.partition('aged', 0).startOffset, 3);
    publish(queue, ['d']);
    queue.ack(consumer.deliveries[0]!.id);
    await settle();
    assert.deepEqual(consumer.deliveries.map(bodyText), ['a', 'd']);
    await registry.close();
  });
});
