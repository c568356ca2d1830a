/**
 * MQTT QoS 2 toward a subscriber across a crash. A raw-wire subscriber with a persistent session gets a
 * QoS 2 PUBLISH under packet id N and has not answered it when the child broker is
 * SIGKILLed; the broker starts again on the same folder and the subscriber comes back with its session.
 * [MQTT-4.4.0-1] (v5 §4.4, 3.1.1 §4.4): unacknowledged PUBLISH packets are resent with their original
 * packet identifiers and DUP 1, so a client that already PUBRECed N drops the copy instead of handing
 * the message to its application a second time. Before the fix it came back with DUP 1 under a new packet
 * id (docs/durability-tests.md, "MQTT QoS 2 toward subscribers across a crash").
 *
 * Then a crash between the two writes a PUBREC makes: the delivery's ack (the session queue's ack log)
 * and the PUBREL-owed marker (the session's log). The writes to one of the two logs are stalled before
 * the subscriber's PUBREC, so only the other lands before the SIGKILL. Either way the restarted broker
 * must send PUBREL for the id (a client that delivers at PUBREL, §4.3.3 method B, delivers only then)
 * and must not send the message again under a new id.
 *
 * Last, a marker that outlives its message: the session queue's logs are stalled before the message is
 * published, so the subscriber gets it (a queue delivers before the append is durable) and its marker
 * lands, but the message does not. After the restart a new message takes the lost one's offset before
 * the subscriber is back; it must reach the subscriber as a new message, not be taken for the lost one,
 * also when the broker goes down once more (SIGKILL or a clean stop) before the subscriber returns.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { IConnackPacket, IPublishPacket, IPubrelPacket, Packet } from 'mqtt-packet';
import { inTempFolder, startStalledChild } from '../../../testing/crash-stall.js';
import {
  closeAll,
  connect,
  owedNothing,
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

/** The session queue's logs, messages and acks (`q.<vhost>.<queue>`, core/queues/store.ts), names escaped. */
const sessionQueueLogs = `session_2e${subscriberId}`;
/** The session's own log (core/state/names.ts). */
const sessionLog = '/logs/session.';
/** The session queue's ack log (`q.<vhost>.<queue>.acks`, core/queues/store.ts), names escaped. */
const sessionQueueAcks = `session_2e${subscriberId}.acks`;

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
    const sub = await subscribedWith(child.port, version, completedBefore + 1);
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

/** The subscriber's persistent session at QoS 2, and `messages` published to it (`m0`, `m1`…). */
async function subscribedWith(port: number, version: Version, messages: number): Promise<RawClient> {
  const sub = await rawClient(port, version);
  await sub.connect(subscriberId, persistentSession(version));
  sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 2 }] });
  await sub.expect((p) => p.cmd === 'suback', packetWaitMs);
  const pub = await connect(`mqtt://127.0.0.1:${port}`);
  for (let i = 0; i < messages; i++) await pub.publishAsync(topic, `m${i}`, { qos: 2 });
  await closeAll(pub);
  return sub;
}

/**
 * In a child broker: the subscriber gets one QoS 2 message, then the writes to `stalled` stop and it
 * PUBRECs; it gets its PUBREL, and the broker is SIGKILLed. Returns the packet id.
 */
async function pubrecedThenKilled(dataDir: string, version: Version, stalled: string): Promise<number> {
  const child = await startStalledChild(dataDir, 'mqtt');
  try {
    const sub = await subscribedWith(child.port, version, 1);
    const { messageId } = await nthPublish(sub, 0);
    // The PUBLISH's marker (its packet id by the message's offset) is written after the send.
    await sleep(settleMs);
    await child.stall(stalled);
    sub.send({ cmd: 'pubrec', messageId: messageId! });
    await sub.expect(isPubrel(messageId!), packetWaitMs);
    await sleep(settleMs);
    await child.kill();
    sub.end();
    return messageId!;
  } finally {
    await child.kill();
  }
}

/**
 * After the restart: `before` runs first (a publisher, say), then the subscriber comes back with its
 * session (present) and `body` runs with it.
 */
async function afterRestart(
  dataDir: string,
  version: Version,
  body: (sub: RawClient) => Promise<void>,
  before?: (url: string) => Promise<void>,
) {
  const broker = await startMqttBroker({ storage: 'file', dataDir });
  try {
    await before?.(broker.url);
    const sub = await rawClient(broker.port, version);
    try {
      const connack = (await sub.connect(subscriberId, persistentSession(version))) as IConnackPacket;
      assert.equal(connack.sessionPresent, true, "the subscriber's session survived");
      await body(sub);
    } finally {
      sub.end();
    }
    await owedNothing(broker.port, version, subscriberId, settleMs);
  } finally {
    await broker.stop();
  }
}

/** What the restarted broker must do after either half of a PUBREC's writes: PUBREL for the id, no PUBLISH. */
async function pubrelOnly(sub: RawClient, packetId: number): Promise<void> {
  await sub.expect(isPubrel(packetId), packetWaitMs);
  sub.send({ cmd: 'pubcomp', messageId: packetId });
  await sleep(settleMs);
  assert.equal(sub.packets.filter(isPublish).length, 0, 'the message is not sent again');
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

test('MQTT 3.1.1 subscriber: a PUBREC whose ack landed but not its PUBREL marker gets its PUBREL after SIGKILL', async () => {
  await inTempFolder('switchyard-qos2-pubrec-ack-', async (dataDir) => {
    const packetId = await pubrecedThenKilled(dataDir, 4, sessionLog);
    await afterRestart(dataDir, 4, (sub) => pubrelOnly(sub, packetId));
  });
});

test('MQTT 5.0 subscriber: a PUBREC whose PUBREL marker landed but not its ack gets its PUBREL after SIGKILL, and no second PUBLISH', async () => {
  await inTempFolder('switchyard-qos2-pubrec-marker-', async (dataDir) => {
    const packetId = await pubrecedThenKilled(dataDir, 5, sessionQueueAcks);
    await afterRestart(dataDir, 5, (sub) => pubrelOnly(sub, packetId));
  });
});

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

/**
 * In a child broker: the session queue's logs stall, then one QoS 2 message is published (its PUBREC
 * never comes: its append never lands) and reaches the subscriber under N, which PUBRECs it when
 * `pubrec`; the marker (sent, or released after the PUBREC) lands in the session's log; SIGKILL.
 */
async function markerOutlivesMessage(dataDir: string, version: Version, pubrec: boolean): Promise<number> {
  const child = await startStalledChild(dataDir, 'mqtt');
  try {
    const sub = await subscribedWith(child.port, version, 0);
    await child.stall(sessionQueueLogs);
    const pub = await connect(`mqtt://127.0.0.1:${child.port}`);
    pub.publish(topic, 'lost', { qos: 2 });
    const { messageId } = await nthPublish(sub, 0);
    if (pubrec) {
      sub.send({ cmd: 'pubrec', messageId: messageId! });
      await sub.expect(isPubrel(messageId!), packetWaitMs);
    }
    await sleep(settleMs);
    await child.kill();
    await closeAll(pub);
    sub.end();
    return messageId!;
  } finally {
    await child.kill();
  }
}

async function publishFresh(url: string): Promise<void> {
  const pub = await connect(url);
  try {
    await pub.publishAsync(topic, 'fresh', { qos: 2 });
  } finally {
    await closeAll(pub);
  }
}

/** The new message arrives as new (no DUP, not under the lost message's id N), and PUBREL N comes too. */
async function freshDelivered(sub: RawClient, lostId: number): Promise<void> {
  const fresh = await nthPublish(sub, 0);
  assert.equal(fresh.payload.toString(), 'fresh');
  assert.notEqual(fresh.messageId, lostId, "not under the lost message's packet id");
  assert.equal(fresh.dup, false, 'a first delivery [MQTT-3.3.1-2]');
  await sub.expect(isPubrel(lostId), packetWaitMs);
  sub.send({ cmd: 'pubcomp', messageId: lostId });
  sub.send({ cmd: 'pubrec', messageId: fresh.messageId! });
  await sub.expect(isPubrel(fresh.messageId!), packetWaitMs);
  sub.send({ cmd: 'pubcomp', messageId: fresh.messageId! });
  await sleep(settleMs);
  assert.equal(sub.packets.filter(isPublish).length, 1, 'one PUBLISH after the restart');
}

for (const [version, pubrec] of [
  [4, false],
  [5, true],
] as const) {
  const marker = pubrec ? 'released (PUBRECed)' : 'sent';
  test(`MQTT ${version === 5 ? '5.0' : '3.1.1'} subscriber: a ${marker} marker whose message a SIGKILL took does not claim the next message at its offset`, async () => {
    await inTempFolder('switchyard-qos2-lost-append-', async (dataDir) => {
      const lostId = await markerOutlivesMessage(dataDir, version, pubrec);
      await afterRestart(dataDir, version, (sub) => freshDelivered(sub, lostId), publishFresh);
    });
  });
}

/**
 * The same lost message, and a second restart before the subscriber is back: after the first, `fresh`
 * is published and confirmed (it takes the lost message's offset), and the broker goes down again,
 * SIGKILLed or stopped. A restart recovers every stored message as possibly delivered, so the second
 * one must not let the stale marker claim `fresh` either.
 */
async function freshThenDown(dataDir: string, down: 'kill' | 'stop'): Promise<void> {
  if (down === 'stop') {
    const broker = await startMqttBroker({ storage: 'file', dataDir });
    try {
      await publishFresh(broker.url);
    } finally {
      await broker.stop();
    }
    return;
  }
  const child = await startStalledChild(dataDir, 'mqtt');
  try {
    await publishFresh(`mqtt://127.0.0.1:${child.port}`);
  } finally {
    await child.kill();
  }
}

for (const [version, pubrec, down] of [
  [4, false, 'kill'],
  [5, true, 'kill'],
  [4, false, 'stop'],
] as const) {
  const marker = pubrec ? 'released (PUBRECed)' : 'sent';
  const second = down === 'kill' ? 'a second SIGKILL' : 'a clean stop';
  test(`MQTT ${version === 5 ? '5.0' : '3.1.1'} subscriber: a ${marker} marker whose message a SIGKILL took does not claim the next message at its offset after ${second}`, async () => {
    await inTempFolder('switchyard-qos2-lost-twice-', async (dataDir) => {
      const lostId = await markerOutlivesMessage(dataDir, version, pubrec);
      await freshThenDown(dataDir, down);
      await afterRestart(dataDir, version, (sub) => freshDelivered(sub, lostId));
    });
  });
}
