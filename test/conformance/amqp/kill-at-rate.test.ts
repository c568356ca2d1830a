/**
 * AMQP publishers with confirms at full rate, SIGKILLed mid-rate: every confirmed persistent message
 * is in its durable queue after the restart, exactly once (classic and quorum queues, one of them
 * drained by an acking consumer meanwhile: what was not acked is there), and in its stream once, in
 * publish order; every exchange and binding whose declare-ok came routes after the restart.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type amqp from 'amqplib';
import { confirmChannelOf, open, until } from '../../../testing/amqp-helpers.js';
import {
  duplicates,
  killMidRate,
  missing,
  newSent,
  type Sent,
  sendAtRate,
  startKillBroker,
  Window,
  withKillBroker,
} from '../../../testing/kill-at-rate.js';
import { freePort } from '../../../testing/server-cli.js';

const messagesPerQueueMax = 20_000;
const windowMax = 200;
const confirmedMin = 1000;
const declaresMax = 2_000;

const queues = {
  classic: { durable: true },
  quorum: { durable: true, arguments: { 'x-queue-type': 'quorum' } },
  stream: { durable: true, arguments: { 'x-queue-type': 'stream' } },
} as const;
type QueueName = keyof typeof queues;

/** Publishes `queue-i` persistent messages with at most `windowMax` unconfirmed, until stopped. */
function publishAtRate(ch: amqp.ConfirmChannel, queue: QueueName, window: Window, result: Sent) {
  // sendToQueue throws once the channel closed under the kill, which ends the loop.
  return sendAtRate(queue, messagesPerQueueMax, window, result, (id, settle) =>
    ch.sendToQueue(queue, Buffer.from(id), { persistent: true }, (err: unknown) =>
      settle(err === null || err === undefined),
    ),
  );
}

/** Acks every delivery of `queue` as it comes; returns the ids acked (the ack sent, not known applied). */
async function ackAtRate(ch: amqp.Channel, queue: QueueName): Promise<Set<string>> {
  const acked = new Set<string>();
  await ch.prefetch(100);
  await ch.consume(queue, (m) => {
    if (m === null) return;
    ch.ack(m);
    acked.add(m.content.toString());
  });
  return acked;
}

/** Declares `kill.x.i` durable exchanges bound to queue `kill.bound`, one at a time; returns those answered. */
async function declareAtRate(ch: amqp.Channel, window: Window): Promise<number[]> {
  const answered: number[] = [];
  await ch.assertQueue('kill.bound', { durable: true });
  for (let i = 0; i < declaresMax && !window.stopped; i++) {
    try {
      await ch.assertExchange(`kill.x.${i}`, 'direct', { durable: true });
      await ch.bindQueue('kill.bound', `kill.x.${i}`, 'k');
      answered.push(i);
    } catch {
      break;
    }
  }
  return answered;
}

/** Every message of a classic or quorum queue after the restart (its count read first). */
async function drainQueue(c: amqp.ChannelModel, queue: QueueName): Promise<string[]> {
  const ch = await c.createChannel();
  const { messageCount } = await ch.checkQueue(queue);
  const got: string[] = [];
  await ch.consume(queue, (m) => m && got.push(m.content.toString()), { noAck: true });
  await until(
    () => got.length >= messageCount,
    10_000,
    () => `${messageCount} of ${queue} (got ${got.length})`,
  );
  await ch.close();
  return got;
}

/** The stream read from its first offset, until `expected` are seen and nothing more comes for 300 ms. */
async function readStream(c: amqp.ChannelModel, expected: ReadonlySet<string>): Promise<string[]> {
  const ch = await c.createChannel();
  await ch.prefetch(1000);
  const got: string[] = [];
  let last = Date.now();
  await ch.consume(
    'stream',
    (m) => {
      if (m === null) return;
      got.push(m.content.toString());
      last = Date.now();
      ch.ack(m);
    },
    { arguments: { 'x-stream-offset': 'first' } },
  );
  const seen = () => new Set(got);
  await until(() => missing(expected, seen()).length === 0, 10_000, 'every confirmed stream message');
  await until(() => Date.now() - last > 300, 5_000, 'the stream read to its end');
  await ch.close();
  return got;
}

function assertQueueAfter(queue: QueueName, got: string[], sent: Sent, acked: ReadonlySet<string>): void {
  assert.deepEqual(duplicates(got), [], `no ${queue} message twice`);
  const present = new Set(got);
  const lost = missing(
    [...sent.confirmed].filter((id) => !acked.has(id)),
    present,
  );
  assert.deepEqual(lost, [], `every confirmed, unacked ${queue} message is there`);
  const sentSet = new Set(sent.sent);
  assert.deepEqual(
    got.filter((id) => !sentSet.has(id)),
    [],
    `nothing but what was published is in ${queue}`,
  );
}

async function load(url: string, window: Window) {
  const c = await open(url);
  const admin = await c.createChannel();
  for (const [name, options] of Object.entries(queues)) await admin.assertQueue(name, options);
  const channels = await Promise.all((Object.keys(queues) as QueueName[]).map(() => confirmChannelOf(c)));
  const consumer = await c.createChannel();
  consumer.on('error', () => {});
  const declarer = await c.createChannel();
  declarer.on('error', () => {});
  const acked = await ackAtRate(consumer, 'classic');
  const sent = { classic: newSent(), quorum: newSent(), stream: newSent() };
  const publishing = (Object.keys(queues) as QueueName[]).map((q, i) =>
    publishAtRate(channels[i]!, q, window, sent[q]),
  );
  const declaring = declareAtRate(declarer, window);
  return { acked, sent, publishing, declaring };
}

async function verify(url: string, sent: Record<QueueName, Sent>, acked: Set<string>) {
  const c = await open(url);
  try {
    for (const queue of ['classic', 'quorum'] as const)
      assertQueueAfter(
        queue,
        await drainQueue(c, queue),
        sent[queue],
        queue === 'classic' ? acked : new Set(),
      );
    const stream = await readStream(c, sent.stream.confirmed);
    assert.deepEqual(duplicates(stream), [], 'no stream message twice');
    const order = stream.map((id) => Number(id.split('-')[1]));
    assert.ok(
      order.every((n, i) => i === 0 || n > order[i - 1]!),
      'the stream keeps publish order',
    );
  } finally {
    await c.close().catch(() => {});
  }
}

async function verifyBindings(url: string, answered: number[]): Promise<void> {
  const c = await open(url);
  try {
    const ch = await confirmChannelOf(c);
    await ch.purgeQueue('kill.bound');
    for (const i of answered) ch.publish(`kill.x.${i}`, 'k', Buffer.from(String(i)));
    await ch.waitForConfirms();
    const { messageCount } = await ch.checkQueue('kill.bound');
    assert.equal(
      messageCount,
      answered.length,
      'every answered exchange and binding routes after the restart',
    );
  } finally {
    await c.close().catch(() => {});
  }
}

test('AMQP confirms, queues, streams and declarations survive SIGKILL at full rate', {
  timeout: 150_000,
}, async (t) => {
  const port = await freePort();
  const url = `amqp://guest:guest@127.0.0.1:${port}`;
  await withKillBroker(
    () => startKillBroker({ amqp: port }, 'amqp-rate'),
    async (first, track) => {
      const window = new Window(windowMax);
      const { acked, sent, publishing, declaring } = await load(url, window);
      const confirmed = () => Object.values(sent).reduce((n, s) => n + s.confirmed.size, 0);
      await killMidRate(first, confirmed, confirmedMin);
      window.stop();
      await Promise.all(publishing);
      const answered = await declaring;
      const second = await first.restart();
      track(second);
      await verify(url, sent, acked);
      await verifyBindings(url, answered);
      const counts = Object.values(sent).map((s) => `${s.confirmed.size}/${s.sent.length}`);
      t.diagnostic(`confirmed/sent ${counts.join(' ')}, acked ${acked.size}, declared ${answered.length}`);
    },
  );
});
