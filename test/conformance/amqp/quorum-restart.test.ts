/**
 * A quorum queue's delivery count survives a broker restart, as RabbitMQ's does (its Raft log records
 * every return): a poison message keeps counting toward `x-delivery-limit` instead of starting again
 * from zero, so a consumer that keeps failing on it, stopping or crashing the broker meanwhile, does
 * not get it forever. Checked against RabbitMQ 3.10.8: after two nacks and a third delivery held
 * unacked, a clean stop and a SIGKILL both brought it back with count 3 (the held delivery counted as
 * returned), and the next nack dead-lettered it with reason `delivery_limit` (limit 3).
 *
 * What is durable when: a delivery's count is recorded with its group commit, not awaited before it is
 * sent; a returned message is delivered again only once its count is durable. So once the consumer
 * has seen a redelivery counted N, a SIGKILL keeps N or more; a clean stop keeps the held delivery too.
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
/** Deliveries after the restart at most: count 2 or 3 back, then one more per nack up to the limit. */
const deliveriesAfterRestartMax = deliveryLimit + 1 - 2;

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

  test('a SIGKILL after the redelivery counted 2 keeps 2 or more; the limit still applies on schedule', async (t) => {
    const counts = await restartCase(async (broker) => {
      broker.kill();
      await until(() => broker.exitStatus() !== undefined, 10_000, 'the broker killed');
    });
    // 3 when the held delivery's record was durable before the kill, 2 when not.
    t.diagnostic(`counts after the restart: ${counts.join(', ')}`);
    assert.ok(counts.length >= 1 && counts.length <= deliveriesAfterRestartMax, `counts ${counts}`);
    const first = Number(counts[0]);
    assert.ok(first >= 2, `the first count after the restart is ${first}`);
    // One more per return, up to the limit; the return past it dead-letters the message.
    assert.deepEqual(
      counts.map(Number),
      Array.from({ length: deliveryLimit + 1 - first }, (_, i) => first + i),
    );
  });
});
