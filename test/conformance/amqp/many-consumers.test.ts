/**
 * A client that opens many consumers with prefetch 1 and never acks (careless or hostile) does not
 * stop the others: consumers with credit on the same queue still get every message, in round-robin
 * turn, and those at their window get nothing more (amqplib against the real broker).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Channel, ConsumeMessage } from 'amqplib';
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

/** Messages `consume` gets on `channel`, acked (each, or every second with multiple) a turn later. */
async function ackingConsumer(
  channel: Channel,
  queue: string,
  got: string[],
  options: { tag: string; priority?: number; multiple?: boolean },
): Promise<void> {
  let unsettled: ConsumeMessage | undefined;
  await channel.consume(
    queue,
    (m) => {
      if (m === null) return;
      got.push(m.content.toString());
      if (options.multiple === true && unsettled === undefined) {
        unsettled = m;
        setImmediate(() => {
          // Whichever came last settles both, the pair's or the lone one's.
          if (unsettled === m) {
            unsettled = undefined;
            channel.ack(m);
          }
        });
        return;
      }
      unsettled = undefined;
      setImmediate(() => channel.ack(m, options.multiple === true));
    },
    { consumerTag: options.tag, ...(options.priority === undefined ? {} : { priority: options.priority }) },
  );
}

test('a channel-wide prefetch shared by consumers of two queues, of two priorities, some acking several at once: every message arrives', async () => {
  const channel = await channelOf(shared.conn);
  const queues = ['wide-a', 'wide-b'];
  for (const queue of queues) await channel.assertQueue(queue, { durable: false });
  await channel.prefetch(2, true);
  const got: string[] = [];
  await ackingConsumer(channel, 'wide-a', got, { tag: 'a-low' });
  await ackingConsumer(channel, 'wide-a', got, { tag: 'a-high', priority: 5, multiple: true });
  await ackingConsumer(channel, 'wide-b', got, { tag: 'b-low', multiple: true });
  await ackingConsumer(channel, 'wide-b', got, { tag: 'b-mid', priority: 1 });
  const publisher = await channelOf(shared.conn);
  const each = 300;
  for (let i = 0; i < each; i++)
    for (const queue of queues) publisher.sendToQueue(queue, Buffer.from(`${queue}${i}`));
  await until(() => got.length === 2 * each, 20_000, `every message delivered (${got.length})`);
  for (const queue of queues) assert.equal((await publisher.checkQueue(queue)).messageCount, 0);
  await channel.close();
  await publisher.close();
});

test('credit given back by reject, nack, recover and a re-consume under the same tag reaches the consumer that has room', async () => {
  const queue = 'given-back';
  const holder = await channelOf(shared.conn);
  await holder.assertQueue(queue, { durable: false });
  await holder.prefetch(1);
  const held: ConsumeMessage[] = [];
  const hold = () => holder.consume(queue, (m) => m && held.push(m), { consumerTag: 'holder' });
  await hold();
  const other = await channelOf(shared.conn);
  await other.prefetch(1);
  const seen: string[] = [];
  await other.consume(queue, (m) => m && seen.push(m.content.toString()), { consumerTag: 'other' });
  for (let i = 0; i < 6; i++) holder.sendToQueue(queue, Buffer.from(`m${i}`));
  await until(() => held.length === 1 && seen.length === 1, 5000, 'each at its window');
  // `other` never acks: every later message reaches `holder` only when what it held goes back.
  holder.reject(held[0]!, false);
  await until(() => held.length === 2, 5000, 'a reject gives the window back');
  holder.nack(held[1]!, false, false);
  await until(() => held.length === 3, 5000, 'a nack gives the window back');
  await holder.recover();
  await until(() => held.length === 4 && held[3]!.fields.redelivered, 5000, 'recover redelivers');
  await holder.cancel('holder');
  await hold();
  holder.ack(held[3]!);
  await until(() => held.length === 5, 5000, 'the re-consumed tag is served after an ack');
  holder.ack(held[4]!);
  await until(() => held.length === 6, 5000, 'and again');
  assert.deepEqual(seen, ['m1'], 'the consumer at its window got nothing more');
  await holder.close();
  await other.close();
});
