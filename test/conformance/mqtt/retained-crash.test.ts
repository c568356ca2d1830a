/**
 * A retained message is acknowledged (PUBACK) only once the retained set holds it durably
 * ([MQTT-3.3.1-5]: the server stores it): a child broker whose retained log's writes never land is sent
 * a retained update at QoS 1 on a topic nobody subscribes to, then SIGKILLed. Before the fix the PUBACK
 * came at once (the publish itself had nothing to store), and after the restart the topic still held
 * the update before it: acknowledged, then lost.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { settlesWithin, startStalledChild } from '../../../testing/crash-stall.js';
import { closeAll, connect, inbox, startMqttBroker } from '../../../testing/mqtt-harness.js';

/** How long the test waits for a PUBACK that must not come before the retained write lands. */
const pubackWaitMs = 1_500;

/** In a child broker: `v1` retained and acknowledged, then `v2` sent while the retained log stalls. */
async function updateWhileStalled(dataDir: string): Promise<boolean> {
  const child = await startStalledChild(dataDir, 'mqtt');
  try {
    const client = await connect(`mqtt://127.0.0.1:${child.port}`);
    await client.publishAsync('kept/alone', 'v1', { qos: 1, retain: true });
    await child.stall('/logs/retained.');
    const update = client.publishAsync('kept/alone', 'v2', { qos: 1, retain: true });
    const v2Acknowledged = await settlesWithin(update, pubackWaitMs);
    await child.kill();
    await closeAll(client);
    return v2Acknowledged;
  } finally {
    await child.kill();
  }
}

test('a retained update is acknowledged only once stored: none is lost by a crash after its PUBACK', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-retained-crash-'));
  try {
    const v2Acknowledged = await updateWhileStalled(dataDir);
    const broker = await startMqttBroker({ storage: 'file', dataDir });
    try {
      const reader = await connect(broker.url);
      await reader.subscribeAsync('kept/alone', { qos: 1 });
      const [kept] = await inbox(reader).wait(1, 5000);
      await closeAll(reader);
      assert.ok(!v2Acknowledged || kept!.text === 'v2', `v2 was acknowledged, yet ${kept!.text} is retained`);
      assert.equal(kept!.text, 'v1', 'the update whose write never landed is not there');
      assert.equal(v2Acknowledged, false, 'no PUBACK while the retained message is not stored');
    } finally {
      await broker.stop();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
