/**
 * A quorum queue's delivery count survives a broker restart, as RabbitMQ's does (its Raft log records
 * every return): a poison message keeps counting toward `x-delivery-limit` instead of starting again
 * from zero, so a consumer that keeps failing on it, stopping or crashing the broker meanwhile, does
 * not get it forever. Checked against RabbitMQ 3.10.8: after two nacks and a third delivery held
 * unacked, a clean stop and a SIGKILL both brought it back with count 3 (the held delivery counted as
 * returned), and the next nack dead-lettered it with reason `delivery_limit` (limit 3).
 *
 * What is durable when: a delivery is sent only once its count (one more, as if returned) is durable,
 * and a returned message is delivered again only once its count is. So once the consumer has seen a
 * redelivery counted N, a SIGKILL keeps N + 1 or more (quorum-crash-count.test.ts stalls that write).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type amqp from 'amqplib';
import { channelOf, confirmChannelOf, open, until } from '../../../testing/amqp-helpers.js';
import { freePort, listenerFlags, type RunningCli, startCli } from '../../../testing/server-cli.js';

const deliveryLimit = 3;
const queue = 'poison.jobs';
const deadQueue = 'poison.dead';

const countOf = (m: amqp.Message): unknown => m.properties.headers?.['x-delivery-count'];

interface Broker {
  readonly url: string;
  start(): Promise<RunningCli>;
}

async function brokerIn(dataDir: string): Promise<Broker> {
  const port = await freePort();
  const args = ['--data-dir', dataDir, ...listenerFlags({ amqp: port }), '--log-level', 'warn'];
  return { url: `amqp://guest:guest@127.0.0.1:${port}`, start: () => startCli(args) };
}

/** Declares, publishes with a confirm, nacks the first two deliveries; returns holding the third. */
async function nackTwice(url: string): Promise<amqp.ChannelModel> {
  const c = await open(url);
  const ch = await confirmChannelOf(c);
  await ch.assertQueue(deadQueue, { durable: true });
  await ch.assertQueue(queue, {
    durable: true,
    arguments: {
      'x-queue-type': 'quorum',
      'x-delivery-limit': deliveryLimit,
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': deadQueue,
    },
  });
  ch.sendToQueue(queue, Buffer.from('poison'), { persistent: true });
  await ch.waitForConfirms();
  const consumer = await channelOf(c);
  const got: amqp.ConsumeMessage[] = [];
  await consumer.consume(queue, (m) => {
    if (m === null) return;
    got.push(m);
    if (got.length < 3) consumer.nack(m, false, true);
  });
  await until(() => got.length === 3, 10_000, 'three deliveries');
  assert.deepEqual(got.map(countOf), [undefined, 1, 2]);
  return c;
}

/** Nacks every delivery until the message is dead-lettered; the counts the consumer saw. */
async function nackUntilDead(url: string): Promise<unknown[]> {
  const c = await open(url);
  const ch = await channelOf(c);
  const counts: unknown[] = [];
  await ch.consume(queue, (m) => {
    if (m === null) return;
    counts.push(countOf(m));
    ch.nack(m, false, true);
  });
  const dead: amqp.GetMessage[] = [];
  await until(
    async () => {
      const m = await ch.get(deadQueue, { noAck: true });
      if (m !== false) dead.push(m);
      return dead.length > 0;
    },
    10_000,
    'the message dead-lettered',
  );
  await c.close();
  assert.equal(dead[0]?.properties.headers?.['x-death']?.[0]?.reason, 'delivery_limit');
  return counts;
}

async function restartCase(end: (broker: RunningCli) => Promise<void>): Promise<unknown[]> {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-quorum-restart-'));
  try {
    const broker = await brokerIn(dataDir);
    const first = await broker.start();
    try {
      await nackTwice(broker.url);
    } finally {
      await end(first);
    }
    const second = await broker.start();
    try {
      return await nackUntilDead(broker.url);
    } finally {
      await second.stop();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

describe('quorum queue delivery count across a restart', () => {
  test('a clean stop keeps the count, the held delivery counted: back with 3, dead at the next nack', async () => {
    const counts = await restartCase(async (broker) => {
      await broker.stop('SIGTERM');
    });
    assert.deepEqual(counts, [3]);
  });

  test('a SIGKILL after the redelivery counted 2 brings it back with 3, as RabbitMQ: dead at the next nack', async () => {
    const counts = await restartCase(async (broker) => {
      broker.kill();
      await until(() => broker.exitStatus() !== undefined, 10_000, 'the broker killed');
    });
    // The held delivery was sent only once its record (3) was durable.
    assert.deepEqual(counts, [3]);
  });
});
