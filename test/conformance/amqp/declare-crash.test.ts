/**
 * A durable queue is declared to the client (queue.declare-ok) only once its definition is durable:
 * a child broker whose definitions log's writes never land is asked to declare a durable queue, and a
 * persistent message is published to it with a confirm; the broker is then SIGKILLed. Before the fix
 * declare-ok came at once and the message was confirmed (its own log had it), yet after the restart the
 * queue did not exist and the confirmed message was gone with it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { confirmChannelOf, open, startAmqpBroker } from '../../../testing/amqp-helpers.js';
import { settlesWithin, startStalledChild } from '../../../testing/crash-stall.js';

/** How long the test waits for an answer that must not come before the definition is written. */
const answerWaitMs = 1_500;

/** In a child broker with its definitions stalled: declare, publish with a confirm, die. */
async function declareWhileStalled(dataDir: string): Promise<{ declared: boolean; confirmed: boolean }> {
  const child = await startStalledChild(dataDir, 'amqp');
  try {
    const c = await open(`amqp://guest:guest@127.0.0.1:${child.port}`);
    const ch = await confirmChannelOf(c);
    await child.stall('/logs/defs/');
    const declared = await settlesWithin(ch.assertQueue('kept.durable', { durable: true }), answerWaitMs);
    let confirmed = false;
    if (declared) {
      ch.sendToQueue('kept.durable', Buffer.from('confirmed'), { persistent: true });
      confirmed = await settlesWithin(ch.waitForConfirms(), answerWaitMs);
    }
    await child.kill();
    await c.close().catch(() => {});
    return { declared, confirmed };
  } finally {
    await child.kill();
  }
}

test('a durable queue is declared only once stored: neither it nor its confirmed messages are lost by a crash', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-declare-crash-'));
  try {
    const { declared, confirmed } = await declareWhileStalled(dataDir);
    const broker = await startAmqpBroker({ storage: 'file', dataDir });
    try {
      const c = await open(broker.url);
      const ch = await confirmChannelOf(c);
      const found = await ch.checkQueue('kept.durable').then(
        (q) => q.messageCount,
        () => undefined,
      );
      await c.close().catch(() => {});
      assert.ok(!declared || found !== undefined, 'a queue whose declare-ok came is there after the crash');
      assert.ok(!confirmed || found === 1, `the confirmed message is there (found ${found})`);
      assert.equal(declared, false, 'no declare-ok while the definition is not stored');
    } finally {
      await broker.stop();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
