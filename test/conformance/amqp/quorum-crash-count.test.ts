/**
 * A quorum queue's delivery is counted before a consumer sees it, so a crash right after it still
 * counts it as returned, as RabbitMQ's does (its Raft log holds a delivery before the consumer gets
 * it, and the consumer lost with the node returns it counted). A child broker whose queue's removals
 * log (`.acks`, where counts are written) never lands is SIGKILLed; the restarted broker must give the
 * message a count above every count a client saw before the crash. Before the fix the delivery went
 * out at once and came back after the restart with the count it had been shown (the poison-message
 * loop: a consumer that crashes the broker fast never reaches `x-delivery-limit`).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type amqp from 'amqplib';
import { confirmChannelOf, open, startAmqpBroker } from '../../../testing/amqp-helpers.js';
import { inTempFolder, settlesWithin, startStalledChild } from '../../../testing/crash-stall.js';
import { until } from '../../../testing/wait.js';

const queue = 'crashcount';
/** The queue's removals log: its file paths hold this. */
const acksPart = `${queue}.acks`;
/** How long a delivery that must not come before its count is written is waited for. */
const deliveryWaitMs = 1_500;

/** `x-delivery-count` as a number (absent on a first delivery: 0). */
const countOf = (m: amqp.Message): number => Number(m.properties.headers?.['x-delivery-count'] ?? 0);

async function declare(ch: amqp.Channel): Promise<void> {
  await ch.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
}

/** A broker on `dataDir` again: the count the message comes back with. */
async function countAfterRestart(dataDir: string): Promise<number> {
  const broker = await startAmqpBroker({ storage: 'file', dataDir });
  try {
    const c = await open(broker.url);
    const ch = await c.createChannel();
    let got: amqp.GetMessage | false = false;
    await until(
      async () => {
        got = await ch.get(queue, { noAck: true });
        return got !== false;
      },
      10_000,
      'the message back after the restart',
    );
    await c.close().catch(() => {});
    return countOf(got as unknown as amqp.GetMessage);
  } finally {
    await broker.stop();
  }
}

async function publishOne(ch: amqp.ConfirmChannel): Promise<void> {
  ch.sendToQueue(queue, Buffer.from('poison'), { persistent: true });
  await ch.waitForConfirms();
}

/** Consumes for `deliveryWaitMs` (publishing once subscribed when asked): the counts delivered. */
function consumeFor(publishAfter: boolean): (ch: amqp.ConfirmChannel) => Promise<number[]> {
  return async (ch) => {
    const seen: number[] = [];
    await ch.consume(queue, (m) => {
      if (m !== null) seen.push(countOf(m));
    });
    if (publishAfter) await publishOne(ch);
    await new Promise((resolve) => setTimeout(resolve, deliveryWaitMs));
    return seen;
  };
}

async function getOnce(ch: amqp.ConfirmChannel): Promise<number[]> {
  let got: amqp.GetMessage | false = false;
  const answered = await settlesWithin(
    ch.get(queue, { noAck: false }).then((m) => (got = m)),
    deliveryWaitMs,
  );
  const m = got as amqp.GetMessage | false;
  return answered && m !== false ? [countOf(m)] : [];
}

/**
 * In a child broker: the quorum queue declared, a persistent message confirmed (`publishFirst`), the
 * removals log stalled, `take` run (the counts the client saw); then SIGKILL and a restart.
 */
async function crashCase(
  publishFirst: boolean,
  take: (ch: amqp.ConfirmChannel) => Promise<number[]>,
): Promise<{ seen: number[]; after: number }> {
  let seen: number[] = [];
  let after = -1;
  await inTempFolder('switchyard-quorum-crash-count-', async (dataDir) => {
    const child = await startStalledChild(dataDir, 'amqp');
    try {
      const conn = await open(`amqp://guest:guest@127.0.0.1:${child.port}`);
      const ch = await confirmChannelOf(conn);
      await declare(ch);
      if (publishFirst) await publishOne(ch);
      await child.stall(acksPart);
      seen = await take(ch);
      await child.kill();
      await conn.close().catch(() => {});
    } finally {
      await child.kill();
    }
    after = await countAfterRestart(dataDir);
  });
  return { seen, after };
}

test('a consumer is not shown a quorum delivery whose count a crash could lose', async () => {
  const { seen, after } = await crashCase(true, consumeFor(false));
  for (const count of seen)
    assert.ok(after > count, `seen with ${count}, back after the crash with ${after}`);
  assert.deepEqual(seen, [], 'nothing shown while the count cannot be written');
});

test('a basic.get of a quorum queue is answered only once its count is written', async () => {
  const { seen, after } = await crashCase(true, getOnce);
  for (const count of seen)
    assert.ok(after > count, `seen with ${count}, back after the crash with ${after}`);
  assert.deepEqual(seen, [], 'no get-ok while the count cannot be written');
});

test('a message handed to a consumer as it arrives is counted in its own entry: back counted after a crash', async () => {
  const { seen, after } = await crashCase(false, consumeFor(true));
  assert.deepEqual(seen, [0], 'delivered at once: its count needs no record of its own');
  assert.equal(after, 1, 'the delivery counted as returned by the crash');
});
