/**
 * MQTT 5.0 §3.3.2.3.3: a message's expiry deletes the copy for a subscriber only while onward delivery
 * to it has not started [MQTT-3.3.2-5]. A QoS 1/2 PUBLISH already sent is part of the session (§4.1)
 * and is resent with its packet id and DUP when the client comes back [MQTT-4.4.0-1], whatever its
 * expiry, with an expiry interval that is never negative [MQTT-3.3.2-6]. Before the fix the session
 * queue expired the copy handed back at the disconnect, so it was never resent, and its packet id
 * stayed taken (QoS 1: until the connection ended; QoS 2: a PUBREL for a PUBLISH never completed).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { IConnackPacket, IPublishPacket, Packet } from 'mqtt-packet';
import type { BrokerCore } from '../../../src/core/broker.js';
import {
  closeAll,
  connect,
  persistentSession,
  type RawClient,
  rawClient,
  sleep,
  startMqttBroker,
} from '../../../testing/mqtt-harness.js';

const clientId = 'expiry-inflight';
const topic = 'expiry/inflight';
const expirySec = 1;
/** Past the message's expiry: the resend comes after it. */
const awayMs = 2_000;
const packetWaitMs = 5_000;
/** Time for the session's in-flight changes after the last acknowledgement. */
const settleMs = 300;

const isPublish = (p: Packet) => p.cmd === 'publish';

async function subscriber(port: number, qos: 1 | 2): Promise<RawClient> {
  const sub = await rawClient(port, 5);
  await sub.connect(clientId, persistentSession(5));
  sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos }] });
  await sub.expect((p) => p.cmd === 'suback', packetWaitMs);
  return sub;
}

/** Completes the exchange of `packetId` as the client's side of QoS 1 or 2. */
async function acknowledge(sub: RawClient, qos: 1 | 2, packetId: number): Promise<void> {
  if (qos === 1) {
    sub.send({ cmd: 'puback', messageId: packetId });
    return;
  }
  sub.send({ cmd: 'pubrec', messageId: packetId });
  await sub.expect((p) => p.cmd === 'pubrel' && p.messageId === packetId, packetWaitMs);
  sub.send({ cmd: 'pubcomp', messageId: packetId });
}

for (const qos of [1, 2] as const) {
  test(`MQTT 5.0 subscriber: a QoS ${qos} PUBLISH sent and not acknowledged is resent with DUP after its Message Expiry Interval passed, and its packet id is freed`, async () => {
    const broker = await startMqttBroker();
    try {
      const first = await subscriber(broker.port, qos);
      const pub = await connect(broker.url, { protocolVersion: 5 });
      await pub.publishAsync(topic, 'short-lived', { qos, properties: { messageExpiryInterval: expirySec } });
      await closeAll(pub);
      const sent = (await first.expect(isPublish, packetWaitMs)) as IPublishPacket;
      first.end();
      await first.closed;
      await sleep(awayMs);

      const back = await rawClient(broker.port, 5);
      try {
        const connack = (await back.connect(clientId, persistentSession(5))) as IConnackPacket;
        assert.equal(connack.sessionPresent, true);
        const again = (await back.expect(isPublish, packetWaitMs)) as IPublishPacket;
        assert.equal(again.payload.toString(), 'short-lived');
        assert.equal(again.messageId, sent.messageId, 'the original packet id [MQTT-4.4.0-1]');
        assert.equal(again.dup, true, 'DUP 1 [MQTT-3.3.1-1]');
        assert.equal(again.properties?.messageExpiryInterval, 1, 'none left: 1 s, never negative');
        await acknowledge(back, qos, again.messageId!);
        await sleep(settleMs);
        // The session's in-flight map is core's; the server's core is a BrokerCore.
        const session = (broker.broker.core as BrokerCore).sessions('/').session(clientId);
        assert.deepEqual([...(session?.inflight() ?? [])], [], 'the session holds no in-flight entry');
        assert.equal(back.packets.filter(isPublish).length, 1, 'sent once');
      } finally {
        back.end();
      }
    } finally {
      await broker.stop();
    }
  });
}
