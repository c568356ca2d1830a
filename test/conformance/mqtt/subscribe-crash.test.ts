/**
 * A persistent session's subscription is acknowledged (SUBACK) only once the queue binding that routes
 * its messages is durable, not only the session's own record of it: a child broker whose definitions
 * log's writes never land is sent a SUBSCRIBE, then SIGKILLed. Before the fix the SUBACK came (the
 * session's log had the subscription), and after the restart the session said it was subscribed while
 * nothing reached it: its queue's binding was never written.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { settlesWithin, startStalledChild } from '../../../testing/crash-stall.js';
import { closeAll, connect, inbox, startMqttBroker } from '../../../testing/mqtt-harness.js';

/** How long the test waits for a SUBACK that must not come before the binding is written. */
const subackWaitMs = 1_500;

async function subscribeWhileStalled(dataDir: string): Promise<boolean> {
  const child = await startStalledChild(dataDir, 'mqtt');
  try {
    const client = await connect(`mqtt://127.0.0.1:${child.port}`, { clientId: 'kept-sub', clean: false });
    await child.stall('/logs/defs/');
    const subscribed = await settlesWithin(client.subscribeAsync('kept/sub', { qos: 1 }), subackWaitMs);
    await child.kill();
    await closeAll(client);
    return subscribed;
  } finally {
    await child.kill();
  }
}

test('a SUBACKed subscription of a persistent session routes after a crash', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-subscribe-crash-'));
  try {
    const subscribed = await subscribeWhileStalled(dataDir);
    const broker = await startMqttBroker({ storage: 'file', dataDir });
    try {
      const back = await connect(broker.url, { clientId: 'kept-sub', clean: false });
      const pub = await connect(broker.url);
      await pub.publishAsync('kept/sub', 'after the crash', { qos: 1 });
      const arrived = await inbox(back)
        .wait(1, 2000)
        .then(
          () => true,
          () => false,
        );
      await closeAll(back, pub);
      assert.ok(!subscribed || arrived, 'the SUBACKed subscription gets what is published after the restart');
      assert.equal(subscribed, false, 'no SUBACK while the binding is not stored');
    } finally {
      await broker.stop();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
