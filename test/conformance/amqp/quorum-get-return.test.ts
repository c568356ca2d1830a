/**
 * A basic.get sent right after a nack with requeue answers the returned message, as RabbitMQ applies
 * a quorum queue's get after the return before it. The return waits for its delivery count to be
 * durable, here made slow: the queue's removals log (`.acks`) on a disk whose writes take 200 ms.
 * Before, the get was answered at once from what was ready: the next message, or get-empty. When the
 * count's write fails the queue fails and restarts from its logs: the get is still answered and the
 * message is back (before, the failed write was also an unhandled rejection).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type amqp from 'amqplib';
import { adminCall } from '../../../testing/admin-api.js';
import { confirmChannelOf, open, startAmqpOnFaultyDisk, until } from '../../../testing/amqp-helpers.js';
import { inTempFolder } from '../../../testing/crash-stall.js';
import type { FaultyIo } from '../../../testing/faulty-io.js';

const queue = 'qgrjobs';
/** Under the queue's own 5 s bound on a get's wait: the failure, not the bound, must let it go. */
const answerMsMax = 3_000;

/**
 * A file-storage broker whose disk `io` the test steers, with the quorum queue holding `bodies`
 * (confirmed) and the first of them taken by a get: its count record is being written, slowly.
 */
function withFirstTaken(
  bodies: string[],
  body: (
    io: FaultyIo,
    conn: amqp.ChannelModel,
    ch: amqp.ConfirmChannel,
    first: amqp.GetMessage,
  ) => Promise<void>,
): Promise<void> {
  return inTempFolder('switchyard-quorum-get-return-', async (dataDir) => {
    const { io, tb } = await startAmqpOnFaultyDisk(dataDir);
    try {
      const conn = await open(tb.url('amqp'));
      const ch = await confirmChannelOf(conn);
      await ch.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
      for (const b of bodies) ch.sendToQueue(queue, Buffer.from(b), { persistent: true });
      await ch.waitForConfirms();
      io.slow.add(`${queue}.acks`);
      const first = await ch.get(queue, { noAck: false });
      assert.ok(first !== false);
      await body(io, conn, ch, first);
      await conn.close();
    } finally {
      await tb.stop().catch(() => {});
    }
  });
}

test('basic.get right after a nack with requeue answers the returned message, its count durable first', () =>
  withFirstTaken(['a', 'b'], async (_io, _conn, ch, first) => {
    // The get's count record is still being written: the return waits for it, and so must the get.
    ch.nack(first, false, true);
    const again = await ch.get(queue, { noAck: false });
    assert.ok(again !== false, 'a message, not get-empty');
    assert.equal(again.content.toString(), 'a');
    assert.equal(again.properties.headers?.['x-delivery-count'], 1);
    assert.equal(again.fields.redelivered, true);
    assert.equal(again.fields.messageCount, 1, 'b still behind it');
    ch.ack(again);
    const b = await ch.get(queue, { noAck: false });
    assert.ok(b !== false);
    // Alone in the queue: get-empty was the answer before.
    ch.nack(b, false, true);
    const bAgain = await ch.get(queue, { noAck: true });
    assert.ok(bAgain !== false, 'the returned message, not get-empty');
    assert.equal(bAgain.content.toString(), 'b');
  }));

test('a get after a return whose count write fails is answered, and the message comes back', () =>
  withFirstTaken(['a'], async (io, conn, ch, first) => {
    // The count record in flight fails: the queue fails and restarts from its logs.
    io.failing.add(`${queue}.acks`);
    ch.nack(first, false, true);
    // Let go by the queue's failure, well before the 5 s bound: a message, get-empty or a closed channel.
    const answered = await Promise.race([
      ch.get(queue, { noAck: false }).then(
        () => true,
        () => true,
      ),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), answerMsMax).unref()),
    ]);
    assert.equal(answered, true, 'the get is answered, not left waiting');
    io.failing.clear();
    const reader = await confirmChannelOf(conn);
    let back: string | undefined;
    await until(
      async () => {
        const m = await reader.get(queue, { noAck: true }).catch(() => false as const);
        if (m !== false) back = m.content.toString();
        return back !== undefined;
      },
      10_000,
      'the message back after the restart',
    );
    assert.equal(back, 'a');
  }));

test("the admin API's get right after a requeueing get answers the returned message, not an empty queue", () =>
  inTempFolder('switchyard-quorum-admin-get-', async (dataDir) => {
    const { io, tb } = await startAmqpOnFaultyDisk(dataDir, ['http']);
    try {
      const conn = await open(tb.url('amqp'));
      const ch = await confirmChannelOf(conn);
      await ch.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
      ch.sendToQueue(queue, Buffer.from('a'), { persistent: true });
      await ch.waitForConfirms();
      await conn.close();
      io.slow.add(`${queue}.acks`);
      // "Get messages" as the management UI sends it, twice: each puts the message back (a return
      // whose count is written slowly) and the next must still find it.
      const getOne = () =>
        adminCall(tb.url('http'), 'POST', `/api/queues/%2F/${queue}/get`, {
          count: 1,
          ackmode: 'reject_requeue_true',
          encoding: 'auto',
        });
      for (const round of [1, 2]) {
        const { status, json } = await getOne();
        assert.equal(status, 200);
        const got = (json as Array<{ payload: string }>).map((m) => m.payload);
        assert.deepEqual(got, ['a'], `get ${round}`);
      }
    } finally {
      await tb.stop().catch(() => {});
    }
  }));
