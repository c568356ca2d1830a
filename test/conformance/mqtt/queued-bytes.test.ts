/**
 * `mqttQueuedBytesMax`: the messages waiting in one session are bounded in bytes as well as in count,
 * the oldest dropped. Without it a subscriber that never reads held every message published to it
 * (100,000 of up to a MiB each), in memory for a clean client: 2 GiB in 8 s of 64 KiB QoS 0 messages.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { internalContext } from '../../../src/core/entry/context.js';
import { sessionQueueName } from '../../../src/core/sessions.js';
import {
  closeAll,
  connect,
  inbox,
  type MqttTestBroker,
  persistentSession,
  startMqttBroker,
  until,
} from '../../../testing/mqtt-harness.js';

let server: MqttTestBroker;
/** The session's bound, and 64 messages of 16 KiB each: four times as many bytes as it keeps. */
const queuedBytesMax = 256 * 1024;
const bodyBytes = 16 * 1024;
const published = 64;
before(async () => {
  server = await startMqttBroker({ limits: { queuedBytesMax, queueSweepIntervalMs: 50 } });
});
after(() => server.stop());

/** Bytes of the messages waiting in the session of `clientId`. */
function waitingBytes(clientId: string): number {
  const core = server.broker.core.connect(internalContext('/'));
  return core.peekQueue(sessionQueueName(clientId))?.messageBytes ?? 0;
}

const session = persistentSession(5);

/** A persistent session of `clientId` subscribed to `filter` at QoS 1, left offline. */
async function leaveSubscribed(clientId: string, filter: string): Promise<void> {
  const keeper = await connect(server.url, { clientId, protocolVersion: 5, ...session });
  await keeper.subscribeAsync(filter, { qos: 1 });
  await keeper.endAsync();
}

test('an offline session keeps the newest messages that fit mqttQueuedBytesMax, the oldest dropped', async () => {
  await leaveSubscribed('keeper', 'bulk/#');
  const publisher = await connect(server.url, { clientId: 'bulk-publisher', protocolVersion: 5 });
  for (let i = 0; i < published; i++) {
    const body = Buffer.alloc(bodyBytes, 0x20);
    body.write(`m${i}`);
    await publisher.publishAsync('bulk/a', body, { qos: 1 });
  }
  await until(() => waitingBytes('keeper') <= queuedBytesMax, 10_000, 'the session trimmed to its bytes');
  const back = await connect(server.url, { clientId: 'keeper', protocolVersion: 5, ...session });
  const got = inbox(back);
  await until(() => got.messages.at(-1)?.text.trim() === `m${published - 1}`, 10_000, 'the newest message');
  const kept = got.messages.map((m) => m.text.trim());
  assert.ok(kept.length <= queuedBytesMax / bodyBytes, `kept ${kept.length} of ${published}`);
  assert.deepEqual(
    kept,
    Array.from({ length: kept.length }, (_, i) => `m${published - kept.length + i}`),
    'the newest, in order',
  );
  await closeAll(publisher, back);
});

test('user properties count against mqttQueuedBytesMax: empty bodies with large properties are trimmed too', async () => {
  await leaveSubscribed('props-keeper', 'props/#');
  const publisher = await connect(server.url, { clientId: 'props-publisher', protocolVersion: 5 });
  // Each message: no body and 16 KiB of user properties; 64 of them hold four times the bound.
  const userProperties = { pad: 'x'.repeat(bodyBytes) };
  for (let i = 0; i < published; i++) {
    await publisher.publishAsync('props/a', Buffer.alloc(0), { qos: 1, properties: { userProperties } });
  }
  const core = server.broker.core.connect(internalContext('/'));
  const count = (): number => core.peekQueue(sessionQueueName('props-keeper'))?.messageCount ?? 0;
  await until(() => count() <= queuedBytesMax / bodyBytes, 10_000, 'the session trimmed to its bytes');
  assert.ok(count() > 0, 'the newest messages are kept');
  assert.ok(waitingBytes('props-keeper') <= queuedBytesMax, `${waitingBytes('props-keeper')} bytes waiting`);
  await closeAll(publisher);
});
