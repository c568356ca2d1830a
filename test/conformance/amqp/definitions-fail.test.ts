/**
 * A durable queue whose definition could not be written would not survive a crash, so a message
 * routed to it is never confirmed: the definitions log's writes fail (EIO) in a broker on file
 * storage, a durable queue is declared (its declare-ok fails), and another connection publishes to it
 * with confirms, twice: both are nacked. Before, once the failed write had settled, later messages
 * to the queue were confirmed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { confirmChannelOf, open, startAmqpOnFaultyDisk } from '../../../testing/amqp-helpers.js';
import { inTempFolder } from '../../../testing/crash-stall.js';

/** Two publishes, the second after the failed write has long settled. */
const publishes = 2;

test('messages to a durable queue whose definition failed to be stored are nacked, not confirmed', () =>
  inTempFolder('switchyard-definitions-fail-', async (dataDir) => {
    const { io, tb } = await startAmqpOnFaultyDisk(dataDir);
    try {
      const url = tb.url('amqp');
      const [declarer, publisher] = [await open(url), await open(url)];
      io.failing.add('/logs/defs/');
      const declared = await (await declarer.createChannel()).assertQueue('unstored', { durable: true }).then(
        () => true,
        () => false,
      );
      assert.equal(declared, false, 'no declare-ok for a queue whose definition failed');
      const ch = await confirmChannelOf(publisher);
      for (let i = 0; i < publishes; i++) {
        ch.sendToQueue('unstored', Buffer.from(`m${i}`), { persistent: true });
        const confirmed = await ch.waitForConfirms().then(
          () => true,
          () => false,
        );
        assert.equal(confirmed, false, `message ${i} is nacked`);
      }
      for (const c of [declarer, publisher]) await c.close().catch(() => {});
    } finally {
      await tb.stop().catch(() => {});
    }
  }));
