/**
 * A message that reaches a consumer before its own write (handed over as it arrives, or taken by a
 * get) can be acked, or counted, in the queue's removals log while its entry in the message log never
 * lands: a child broker whose message log is stalled is SIGKILLed with the record written. The lost
 * message was never confirmed; the next one, published and confirmed after the restart, must come
 * back after a second restart, untouched by that record. Before the fix it took the lost message's
 * offset, and the record removed it (classic, acked) or gave it the lost one's count (quorum).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type amqp from 'amqplib';
import { confirmChannelOf, open, startAmqpBroker } from '../../../testing/amqp-helpers.js';
import { inTempFolder, startStalledChild } from '../../../testing/crash-stall.js';
import { until } from '../../../testing/wait.js';

const queue = 'offreuse';
/** The message log's segment files hold this in their path, the removals log's (`offreuse.acks/`) not. */
const messagesPart = `.${queue}/`;
/** Time given the ack's or count's record to reach the file before the kill. */
const recordWaitMs = 1_000;

const countOf = (m: amqp.Message): number => Number(m.properties.headers?.['x-delivery-count'] ?? 0);
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The message log stalled, `touch` run (the lost message delivered and acked or counted); SIGKILL. */
async function crashWithRecord(
  dataDir: string,
  args: amqp.Options.AssertQueue,
  touch: (ch: amqp.ConfirmChannel) => Promise<void>,
): Promise<void> {
  const child = await startStalledChild(dataDir, 'amqp');
  try {
    const conn = await open(`amqp://guest:guest@127.0.0.1:${child.port}`);
    const ch = await confirmChannelOf(conn);
    await ch.assertQueue(queue, args);
    await child.stall(messagesPart);
    await touch(ch);
    await pause(recordWaitMs);
    await child.kill();
    await conn.close().catch(() => {});
  } finally {
    await child.kill();
  }
}

/** A broker on `dataDir`: `fresh` published and confirmed, then a clean stop. */
async function publishFresh(dataDir: string, args: amqp.Options.AssertQueue): Promise<void> {
  const broker = await startAmqpBroker({ storage: 'file', dataDir });
  try {
    const c = await open(broker.url);
    const ch = await confirmChannelOf(c);
    await ch.assertQueue(queue, args);
    ch.sendToQueue(queue, Buffer.from('fresh'), { persistent: true });
    await ch.waitForConfirms();
    await c.close().catch(() => {});
  } finally {
    await broker.stop();
  }
}

/** A broker on `dataDir` again: every message there is (body and count), taken with no ack. */
async function drainAfterRestart(dataDir: string): Promise<Array<[string, number]>> {
  const broker = await startAmqpBroker({ storage: 'file', dataDir });
  try {
    const c = await open(broker.url);
    const ch = await c.createChannel();
    const got: Array<[string, number]> = [];
    await until(
      async () => {
        const m = await ch.get(queue, { noAck: true });
        if (m !== false) got.push([m.content.toString(), countOf(m)]);
        return m === false && got.length > 0;
      },
      10_000,
      'the confirmed message back after the restart',
    ).catch(() => {});
    await c.close().catch(() => {});
    return got;
  } finally {
    await broker.stop();
  }
}

async function consumeAndAck(ch: amqp.ConfirmChannel): Promise<void> {
  let acked = false;
  await ch.consume(queue, (m) => {
    if (m === null) return;
    ch.ack(m);
    acked = true;
  });
  // Its confirm waits for the stalled write: never awaited.
  ch.sendToQueue(queue, Buffer.from('lost'), { persistent: true });
  await until(() => acked, 10_000, 'the lost message delivered before its write');
}

async function getUnacked(ch: amqp.ConfirmChannel): Promise<void> {
  ch.sendToQueue(queue, Buffer.from('lost'), { persistent: true });
  let got = false;
  await until(
    async () => {
      got = (await ch.get(queue, { noAck: false })) !== false;
      return got;
    },
    10_000,
    'the lost message taken before its write',
  );
}

test('an ack of a message a crash lost does not remove the next message confirmed (classic)', async () => {
  const args = { durable: true };
  await inTempFolder('switchyard-offreuse-classic-', async (dataDir) => {
    await crashWithRecord(dataDir, args, consumeAndAck);
    await publishFresh(dataDir, args);
    assert.deepEqual(await drainAfterRestart(dataDir), [['fresh', 0]]);
  });
});

test("a count of a message a crash lost does not become the next message's (quorum)", async () => {
  const args = { durable: true, arguments: { 'x-queue-type': 'quorum' } };
  await inTempFolder('switchyard-offreuse-quorum-', async (dataDir) => {
    await crashWithRecord(dataDir, args, getUnacked);
    await publishFresh(dataDir, args);
    assert.deepEqual(await drainAfterRestart(dataDir), [['fresh', 0]]);
  });
});
