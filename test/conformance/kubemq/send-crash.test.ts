/**
 * A queue send to a channel that does not exist yet is confirmed only once the queue it creates is
 * stored: a child broker whose definitions log's writes never land gets a send (kubemq-js) to a new
 * queue channel, then SIGKILL. Before the fix the send result came at once (the queue's own log had
 * the message), and after the restart the channel did not exist: the confirmed message was gone.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { QueuesClient } from 'kubemq-js';
import { settlesWithin, startStalledChild } from '../../../testing/crash-stall.js';
import { startKubemqBroker, textOf, utf8 } from '../../../testing/kubemq-harness.js';

/** How long the test waits for a send result that must not come before the queue is stored. */
const resultWaitMs = 1_500;

async function sendWhileStalled(dataDir: string): Promise<boolean> {
  const child = await startStalledChild(dataDir, 'grpc');
  const queues = new QueuesClient({
    address: `127.0.0.1:${child.port}`,
    clientId: 'sender',
    reconnectInterval: 0,
  });
  try {
    await child.stall('/logs/defs/');
    const sent = queues.send({ channel: 'kept.new', body: utf8('confirmed') }).then((r) => {
      if (r.isError) throw new Error(r.error);
    });
    const confirmed = await settlesWithin(sent, resultWaitMs);
    await child.kill();
    return confirmed;
  } finally {
    queues.close();
    await child.kill();
  }
}

test('a send that creates its queue channel is confirmed only once the queue is stored', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-kubemq-send-crash-'));
  try {
    const confirmed = await sendWhileStalled(dataDir);
    const broker = await startKubemqBroker({ storage: 'file', dataDir });
    const queues = new QueuesClient({ address: broker.address, clientId: 'reader', reconnectInterval: 0 });
    try {
      const pulled = await queues.pull({
        channel: 'kept.new',
        maxNumberOfMessages: 10,
        waitTimeoutSeconds: 1,
      });
      const bodies = pulled.messages.map((m) => textOf(m.body!));
      assert.ok(!confirmed || bodies.includes('confirmed'), `the confirmed message is there (got ${bodies})`);
      assert.equal(confirmed, false, 'no send result while the queue is not stored');
    } finally {
      queues.close();
      await broker.stop();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
