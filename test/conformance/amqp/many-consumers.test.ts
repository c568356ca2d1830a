/**
 * A client that opens many consumers with prefetch 1 and never acks (careless or hostile) does not
 * stop the others: consumers with credit on the same queue still get every message, in round-robin
 * turn, and those at their window get nothing more (amqplib against the real broker).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ConsumeMessage } from 'amqplib';
import { channelOf, sharedAmqpBroker, until } from '../../../testing/amqp-helpers.js';

const shared = sharedAmqpBroker();
const crowd = 1_000;
const rounds = 100;

test('1,000 consumers at prefetch 1 that never ack: the three with credit get the rest in round-robin order', async () => {
  const queue = 'crowded';
  const idle = await channelOf(shared.conn);
  await idle.assertQueue(queue, { durable: false });
  await idle.prefetch(1);
  const held = new Map<string, string[]>();
  const consumes: Array<Promise<unknown>> = [];
  for (let i = 0; i < crowd; i++) {
    const tag = `idle${i}`;
    held.set(tag, []);
    consumes.push(
      idle.consume(queue, (m) => m && held.get(tag)!.push(m.content.toString()), { consumerTag: tag }),
    );
  }
  await Promise.all(consumes);
  const busy = await channelOf(shared.conn);
  await busy.prefetch(rounds);
  const got = new Map<string, string[]>();
  for (const tag of ['a', 'b', 'c']) {
    got.set(tag, []);
    await busy.consume(
      queue,
      (m: ConsumeMessage | null) => {
        if (m === null) return;
        got.get(tag)!.push(m.content.toString());
        busy.ack(m);
      },
      { consumerTag: tag },
    );
  }
  const total = crowd + 3 * rounds;
  for (let i = 0; i < total; i++) idle.sendToQueue(queue, Buffer.from(String(i)));
  const count = (m: Map<string, string[]>) => [...m.values()].reduce((n, list) => n + list.length, 0);
  await until(() => count(held) + count(got) === total, 20_000, 'every message delivered');
  // The first round reaches each consumer once, in the order they came; the idle ones keep theirs.
  for (let i = 0; i < crowd; i++) assert.deepEqual(held.get(`idle${i}`), [String(i)]);
  ['a', 'b', 'c'].forEach((tag, k) => {
    const expected = Array.from({ length: rounds }, (_, j) => String(crowd + 3 * j + k));
    assert.deepEqual(got.get(tag), expected, `${tag} in its turn`);
  });
  assert.equal((await busy.checkQueue(queue)).messageCount, 0);
  await idle.close();
  await busy.close();
});
