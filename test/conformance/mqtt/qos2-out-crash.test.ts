/**
 * MQTT QoS 2 toward a subscriber across a crash. A raw-wire subscriber with a persistent session gets a
 * QoS 2 PUBLISH under packet id N and has not answered it when the child broker is
 * SIGKILLed; the broker starts again on the same folder and the subscriber comes back with its session.
 * [MQTT-4.4.0-1] (v5 §4.4, 3.1.1 §4.4): unacknowledged PUBLISH packets are resent with their original
 * packet identifiers and DUP 1, so a client that already PUBRECed N drops the copy instead of handing
 * the message to its application a second time. Before the fix it came back with DUP 1 under a new packet
 * id (docs/durability-tests.md, "MQTT QoS 2 toward subscribers across a crash").
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { IConnackPacket, IPublishPacket, IPubrelPacket, Packet } from 'mqtt-packet';
import { inTempFolder, startStalledChild } from '../../../testing/crash-stall.js';
import {
  closeAll,
  connect,
  persistentSession,
  type RawClient,
  rawClient,
  sleep,
  startMqttBroker,
  until,
} from '../../../testing/mqtt-harness.js';

type Version = 4 | 5;

const subscriberId = 'qos2-out-subscriber';
const topic = 'qos2/out';
/** Messages completed before the one left in flight, so its packet id is not the first a fresh numbering gives. */
const completedBefore = 2;
const packetWaitMs = 5_000;
/** Time the broker gets before the SIGKILL to write what the exchanges so far changed. */
const settleMs = 300;

const isPublish = (p: Packet) => p.cmd === 'publish';
const isPubrel = (id: number) => (p: Packet) => p.cmd === 'pubrel' && (p as IPubrelPacket).messageId === id;

/** The `index`th PUBLISH the raw client received (0-based), waiting for it. */
async function nthPublish(sub: RawClient, index: number): Promise<IPublishPacket> {
  await until(() => sub.packets.filter(isPublish).length > index, packetWaitMs, `PUBLISH ${index}`);
  return sub.packets.filter(isPublish)[index] as IPublishPacket;
}

/**
 * In a child broker: the subscriber's persistent session at QoS 2 completes `completedBefore` messages,
 * then gets one more and does not answer it; SIGKILL. Returns that message's packet id.
 */
async function leftInFlight(dataDir: string, version: Version): Promise<number> {
  const child = await startStalledChild(dataDir, 'mqtt');
  try {
    const sub = await rawClient(child.port, version);
    await sub.connect(subscriberId, persistentSession(version));
    sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 2 }] });
    await sub.expect((p) => p.cmd === 'suback', packetWaitMs);
    const pub = await connect(`mqtt://127.0.0.1:${child.port}`);
    for (let i = 0; i <= completedBefore; i++) await pub.publishAsync(topic, `m${i}`, { qos: 2 });
    await closeAll(pub);
    for (let i = 0; i < completedBefore; i++) {
      const id = (await nthPublish(sub, i)).messageId!;
      sub.send({ cmd: 'pubrec', messageId: id });
      await sub.expect(isPubrel(id), packetWaitMs);
      sub.send({ cmd: 'pubcomp', messageId: id });
    }
    const last = await nthPublish(sub, completedBefore);
    // The acks and releases of the completed messages do not wait for their writes: time to make them.
    await sleep(settleMs);
    await child.kill();
    sub.end();
    return last.messageId!;
  } finally {
    await child.kill();
  }
}

/** After the restart: the subscriber comes back with its session (present) and `body` runs with it. */
async function afterRestart(dataDir: string, version: Version, body: (sub: RawClient) => Promise<void>) {
  const broker = await startMqttBroker({ storage: 'file', dataDir });
  try {
    const sub = await rawClient(broker.port, version);
    try {
      const connack = (await sub.connect(subscriberId, persistentSession(version))) as IConnackPacket;
      assert.equal(connack.sessionPresent, true, "the subscriber's session survived");
      await body(sub);
    } finally {
      sub.end();
    }
  } finally {
    await broker.stop();
  }
}

for (const version of [4, 5] as const) {
  const name = version === 5 ? '5.0' : '3.1.1';
  test(`MQTT ${name} subscriber: a QoS 2 PUBLISH not answered before SIGKILL is resent under its packet id with DUP`, async () => {
    await inTempFolder('switchyard-qos2-out-crash-', async (dataDir) => {
      const packetId = await leftInFlight(dataDir, version);
      await afterRestart(dataDir, version, async (sub) => {
        const first = (await sub.expect(
          (p) => p.cmd === 'publish' || p.cmd === 'pubrel',
          packetWaitMs,
        )) as IPublishPacket;
        assert.equal(first.cmd, 'publish');
        assert.equal(first.payload.toString(), `m${completedBefore}`);
        assert.equal(first.dup, true, 'DUP 1 [MQTT-3.3.1-1]');
        assert.equal(first.messageId, packetId, 'the original packet id [MQTT-4.4.0-1]');
        // The exchange goes on under that id, and the message is not sent again.
        sub.send({ cmd: 'pubrec', messageId: packetId });
        await sub.expect(isPubrel(packetId), packetWaitMs);
        sub.send({ cmd: 'pubcomp', messageId: packetId });
        await sleep(settleMs);
        assert.equal(sub.packets.filter(isPublish).length, 1, 'one PUBLISH after the restart');
      });
    });
  });
}

// Without a restart the resend finds the id through the same stored marker (a disconnect requeues the
// message in its place, so its offset is unchanged): this keeps that path from regressing.
test('MQTT 5.0 subscriber on file storage: a QoS 2 PUBLISH not answered is resent under its packet id on reconnect', async () => {
  await inTempFolder('switchyard-qos2-out-reconnect-', async (dataDir) => {
    const broker = await startMqttBroker({ storage: 'file', dataDir });
    try {
      const first = await rawClient(broker.port, 5);
      await first.connect(subscriberId, persistentSession(5));
      first.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 2 }] });
      await first.expect((p) => p.cmd === 'suback', packetWaitMs);
      const pub = await connect(broker.url);
      await pub.publishAsync(topic, 'again', { qos: 2 });
      await closeAll(pub);
      const sent = (await first.expect(isPublish, packetWaitMs)) as IPublishPacket;
      first.end();
      await first.closed;
      await afterReconnect(broker.port, sent.messageId!);
    } finally {
      await broker.stop();
    }
  });
});

async function afterReconnect(port: number, packetId: number): Promise<void> {
  const second = await rawClient(port, 5);
  try {
    await second.connect(subscriberId, persistentSession(5));
    const again = (await second.expect(isPublish, packetWaitMs)) as IPublishPacket;
    assert.equal(again.messageId, packetId, 'the original packet id [MQTT-4.4.0-1]');
    assert.equal(again.dup, true);
    assert.equal(again.payload.toString(), 'again');
  } finally {
    second.end();
  }
}
