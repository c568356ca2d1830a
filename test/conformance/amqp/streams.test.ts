import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import type amqp from 'amqplib';
import { channelOf, sharedAmqpBroker, until } from '../../../testing/amqp-helpers.js';

const file = sharedAmqpBroker();

async function readFrom(q: string, offset: unknown, expected: number): Promise<amqp.ConsumeMessage[]> {
  const ch = await channelOf(file.conn);
  await ch.prefetch(100);
  const got: amqp.ConsumeMessage[] = [];
  await ch.consume(
    q,
    (m) => {
      if (m === null) return;
      got.push(m);
      ch.ack(m);
    },
    { arguments: { 'x-stream-offset': offset } },
  );
  await until(() => got.length >= expected, 3000, `${expected} stream messages from ${String(offset)}`);
  await new Promise((r) => setTimeout(r, 30));
  await ch.close();
  return got;
}

describe('AMQP stream queues', () => {
  test('x-queue-type stream is a core stream read from x-stream-offset', async () => {
    const ch = await channelOf(file.conn);
    await ch.assertQueue('s.events', {
      durable: true,
      arguments: { 'x-queue-type': 'stream', 'x-max-age': '7D' },
    });
    assert.ok(file.sy.broker.client('/').stream('s.events'), 'the stream exists in core');
    const before = new Date(Date.now() - 1000);
    for (let i = 0; i < 5; i++) ch.sendToQueue('s.events', Buffer.from(`e${i}`));
    await until(
      () =>
        file.sy.broker
          .client()
          .listQueues()
          .find((q) => q.name === 's.events')?.messageCount === 5,
    );
    const first = await readFrom('s.events', 'first', 5);
    assert.deepEqual(
      first.map((m) => m.content.toString()),
      ['e0', 'e1', 'e2', 'e3', 'e4'],
    );
    const fromThree = await readFrom('s.events', 3, 2);
    assert.deepEqual(
      fromThree.map((m) => m.content.toString()),
      ['e3', 'e4'],
    );
    // amqplib's explicit type syntax sends a field-table timestamp (tag T, seconds).
    const byTime = await readFrom(
      's.events',
      { '!': 'timestamp', value: Math.floor(before.getTime() / 1000) },
      5,
    );
    assert.equal(byTime.length, 5);
    const last = await readFrom('s.events', 'last', 1);
    assert.equal(last[0]!.content.toString(), 'e4');
  });

  test('next reads only new messages; non-durable stream declare is 406', async () => {
    const ch = await channelOf(file.conn);
    await ch.assertQueue('s.next', { durable: true, arguments: { 'x-queue-type': 'stream' } });
    ch.sendToQueue('s.next', Buffer.from('old'));
    const reader = await channelOf(file.conn);
    await reader.prefetch(10);
    const got: string[] = [];
    await reader.consume(
      's.next',
      (m) => {
        if (m) {
          got.push(m.content.toString());
          reader.ack(m);
        }
      },
      { arguments: { 'x-stream-offset': 'next' } },
    );
    await new Promise((r) => setTimeout(r, 50));
    ch.sendToQueue('s.next', Buffer.from('new'));
    await until(() => got.length === 1);
    assert.deepEqual(got, ['new']);
    const bad = await channelOf(file.conn);
    const failed = new Promise<number>((resolve) =>
      bad.once('error', (e: { code: number }) => resolve(e.code)),
    );
    await bad
      .assertQueue('s.bad', { durable: false, arguments: { 'x-queue-type': 'stream' } })
      .catch(() => {});
    assert.equal(await failed, 406);
  });
});
