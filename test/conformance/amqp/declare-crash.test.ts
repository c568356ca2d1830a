/**
 * A durable queue is declared to the client (queue.declare-ok) only once its definition is durable:
 * a child broker whose definitions log's writes never land is asked to declare a durable queue, and a
 * persistent message is published to it with a confirm; the broker is then SIGKILLed. Before the fix
 * declare-ok came at once and the message was confirmed (its own log had it), yet after the restart the
 * queue did not exist and the confirmed message was gone with it. Likewise a deletion: queue.delete-ok
 * comes only once the deletion is stored, so a queue the client was told is gone does not come back.
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

/** In a child broker: a durable queue declared and stored, then deleted with its definitions stalled. */
async function deleteWhileStalled(dataDir: string): Promise<boolean> {
  const child = await startStalledChild(dataDir, 'amqp');
  try {
    const c = await open(`amqp://guest:guest@127.0.0.1:${child.port}`);
    const ch = await confirmChannelOf(c);
    await ch.assertQueue('gone.durable', { durable: true });
    await child.stall('/logs/defs/');
    const deleted = await settlesWithin(ch.deleteQueue('gone.durable'), answerWaitMs);
    await child.kill();
    await c.close().catch(() => {});
    return deleted;
  } finally {
    await child.kill();
  }
}

test('a durable queue is reported deleted only once the deletion is stored: it does not come back after a crash', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-delete-crash-'));
  try {
    const deleted = await deleteWhileStalled(dataDir);
    const broker = await startAmqpBroker({ storage: 'file', dataDir });
    try {
      const c = await open(broker.url);
      const ch = await confirmChannelOf(c);
      const found = await ch.checkQueue('gone.durable').then(
        () => true,
        () => false,
      );
      await c.close().catch(() => {});
      assert.ok(!deleted || !found, 'a queue whose delete-ok came is gone after the crash');
      assert.equal(deleted, false, 'no delete-ok while the deletion is not stored');
    } finally {
      await broker.stop();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
