/**
 * MQTT QoS 1 (and QoS 1 beside QoS 2) toward a persistent subscriber across a restart. [MQTT-4.4.0-1]
 * (3.1.1 §4.4, v5 §4.4): when a client reconnects with a session, every PUBLISH sent and not
 * acknowledged is resent with its original packet identifier and DUP 1. A raw-wire subscriber with a
 * persistent session (3.1.1 clean session 0, 5.0 Clean Start 0 with a session expiry) gets messages,
 * acknowledges the first ones only, and the broker goes down (SIGKILL of a child broker on file storage
 * with `fsync always`, or a clean stop); it starts again on the same folder and the subscriber comes
 * back. Before, QoS 1 messages came back under new packet ids numbered from 1 (nothing named them
 * across a restart); now a durable session's message is sent under the id its offset in the session
 * queue's log gives, which a restart gives again, and under a stored id when that one was taken.
 * Last, mqtt.js and Paho as the returning subscriber: each takes the resent messages once and acknowledges them.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import type { IConnackPacket, IPublishPacket, IPubrelPacket, Packet } from 'mqtt-packet';
import { inTempFolder, startStalledChild } from '../../../testing/crash-stall.js';
import { hasPythonModule } from '../../../testing/kafka-helpers.js';
import { runTool } from '../../../testing/kafka-tools.js';
import {
  closeAll,
  connack,
  connect,
  inbox,
  owedNothing,
  persistentSession,
  type RawClient,
  rawClient,
  sleep,
  startMqttBroker,
  until,
} from '../../../testing/mqtt-harness.js';

type Version = 4 | 5;
type Qos = 1 | 2;

const subscriberId = 'qos1-ids-subscriber';
const topic = 'qos1/ids';
const sharedTopic = 'qos1/ids-shared';
const packetWaitMs = 5_000;
/** Time the broker gets to write what the exchanges so far changed (acks, markers) before it goes down. */
const settleMs = 300;

/** A PUBLISH as the subscriber saw it. */
interface Seen {
  readonly text: string;
  readonly messageId: number;
  readonly qos: number;
}

const isPublish = (p: Packet): p is IPublishPacket => p.cmd === 'publish';
const isPubrel = (id: number) => (p: Packet) => p.cmd === 'pubrel' && (p as IPubrelPacket).messageId === id;

function seen(p: IPublishPacket): Seen {
  return { text: p.payload.toString(), messageId: p.messageId!, qos: p.qos };
}

/** The PUBLISHes on `to` the raw client received, once there are `count`. */
async function publishes(sub: RawClient, count: number, to = topic): Promise<IPublishPacket[]> {
  const on = () => sub.packets.filter(isPublish).filter((p) => p.topic === to);
  await until(() => on().length >= count, packetWaitMs, `${count} PUBLISH on ${to}`);
  return on();
}

/** The subscriber's persistent session, subscribed to `filters` at QoS 2 (a message keeps its own QoS). */
async function subscriber(port: number, version: Version, filters: string[] = [topic]): Promise<RawClient> {
  const sub = await rawClient(port, version);
  await sub.connect(subscriberId, persistentSession(version));
  sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: filters.map((f) => ({ topic: f, qos: 2 })) });
  await sub.expect((p) => p.cmd === 'suback', packetWaitMs);
  return sub;
}

async function publish(port: number, to: string, texts: string[], qos: (i: number) => Qos): Promise<void> {
  const pub = await connect(`mqtt://127.0.0.1:${port}`);
  try {
    for (const [i, text] of texts.entries()) await pub.publishAsync(to, text, { qos: qos(i) });
  } finally {
    await closeAll(pub);
  }
}

/** Completes the exchange of one PUBLISH: PUBACK, or PUBREC, PUBREL, PUBCOMP. */
async function complete(sub: RawClient, p: Seen): Promise<void> {
  if (p.qos === 1) {
    sub.send({ cmd: 'puback', messageId: p.messageId });
    return;
  }
  sub.send({ cmd: 'pubrec', messageId: p.messageId });
  await sub.expect(isPubrel(p.messageId), packetWaitMs);
  sub.send({ cmd: 'pubcomp', messageId: p.messageId });
}

/**
 * `count` messages (`m0`, `m1`…, QoS by `qos`) to the subscriber, which completes the first `acked` and
 * leaves the others unanswered. Returns what it got of those others.
 */
async function leaveInFlight(
  sub: RawClient,
  port: number,
  count: number,
  acked: number,
  qos: (i: number) => Qos,
): Promise<Seen[]> {
  const texts = Array.from({ length: count }, (_, i) => `m${i}`);
  await publish(port, topic, texts, qos);
  const got = (await publishes(sub, count)).map(seen);
  assert.deepEqual(
    got.map((p) => [p.text, p.qos]),
    texts.map((t, i) => [t, qos(i)]),
  );
  for (const p of got.slice(0, acked)) await complete(sub, p);
  // The acks do not wait for their writes, nor do the QoS 2 markers: time to make them.
  await sleep(settleMs);
  return got.slice(acked);
}

/** In a child broker: `leaveInFlight`, then SIGKILL. */
async function killedWithInFlight(
  dataDir: string,
  version: Version,
  count: number,
  acked: number,
  qos: (i: number) => Qos,
): Promise<Seen[]> {
  const child = await startStalledChild(dataDir, 'mqtt');
  try {
    const sub = await subscriber(child.port, version);
    const inFlight = await leaveInFlight(sub, child.port, count, acked, qos);
    await child.kill();
    sub.end();
    return inFlight;
  } finally {
    await child.kill();
  }
}

/**
 * The restarted broker on `dataDir`; the subscriber comes back with its session and must get exactly
 * `expected` again, in order, DUP 1, under the same packet ids; it completes them, and a reconnect
 * after that is owed nothing.
 */
async function resentAsBefore(dataDir: string, version: Version, expected: Seen[]): Promise<void> {
  const broker = await startMqttBroker({ storage: 'file', dataDir });
  try {
    const sub = await rawClient(broker.port, version);
    try {
      const ack = (await sub.connect(subscriberId, persistentSession(version))) as IConnackPacket;
      assert.equal(ack.sessionPresent, true, "the subscriber's session survived");
      const back = await publishes(sub, expected.length);
      assert.deepEqual(
        back.map(seen),
        expected,
        'the same messages under their original packet ids [MQTT-4.4.0-1]',
      );
      assert.ok(
        back.every((p) => p.dup),
        'DUP 1 [MQTT-3.3.1-1]',
      );
      for (const p of back) await complete(sub, seen(p));
      await sleep(settleMs);
      assert.equal(sub.packets.filter(isPublish).length, expected.length, 'nothing sent twice');
    } finally {
      sub.end();
    }
    await owedNothing(broker.port, version, subscriberId, settleMs);
  } finally {
    await broker.stop();
  }
}

const allQos1 = () => 1 as const;
/** QoS 1, 2, 1, 2…: a QoS 2 message's stored marker and a QoS 1 message's derived id side by side. */
const alternating = (i: number): Qos => (i % 2 === 0 ? 1 : 2);

for (const version of [4, 5] as const) {
  const name = version === 5 ? '5.0' : '3.1.1';
  test(`MQTT ${name} subscriber: QoS 1 PUBLISHes not acknowledged before SIGKILL are resent under their packet ids with DUP`, async () => {
    await inTempFolder('switchyard-qos1-ids-', async (dataDir) => {
      const inFlight = await killedWithInFlight(dataDir, version, 5, 2, allQos1);
      await resentAsBefore(dataDir, version, inFlight);
    });
  });

  test(`MQTT ${name} subscriber: QoS 1 and QoS 2 PUBLISHes in flight at SIGKILL are resent under their packet ids`, async () => {
    await inTempFolder('switchyard-qos12-ids-', async (dataDir) => {
      const inFlight = await killedWithInFlight(dataDir, version, 6, 2, alternating);
      await resentAsBefore(dataDir, version, inFlight);
    });
  });
}

test('MQTT 3.1.1 subscriber: QoS 1 and 2 PUBLISHes in flight at a clean stop are resent under their packet ids', async () => {
  await inTempFolder('switchyard-qos1-ids-stop-', async (dataDir) => {
    const broker = await startMqttBroker({ storage: 'file', dataDir });
    let inFlight: Seen[];
    try {
      const sub = await subscriber(broker.port, 4);
      inFlight = await leaveInFlight(sub, broker.port, 5, 1, alternating);
      sub.end();
    } finally {
      await broker.stop();
    }
    await resentAsBefore(dataDir, 4, inFlight);
  });
});

test('MQTT 5.0 subscriber: QoS 1 PUBLISHes of its own subscription beside unanswered ones of a shared subscription keep their ids across SIGKILL', async () => {
  await inTempFolder('switchyard-qos1-ids-shared-', async (dataDir) => {
    const child = await startStalledChild(dataDir, 'mqtt');
    let inFlight: Seen[];
    try {
      const sub = await subscriber(child.port, 5, [`$share/g/${sharedTopic}`, topic]);
      const shared = Array.from({ length: 10 }, (_, i) => `s${i}`);
      await publish(child.port, sharedTopic, shared, allQos1);
      const sharedIds = (await publishes(sub, shared.length, sharedTopic)).map((p) => p.messageId);
      inFlight = await leaveInFlight(sub, child.port, 3, 0, allQos1);
      assert.ok(
        inFlight.every((p) => !sharedIds.includes(p.messageId)),
        'no packet id is in use twice',
      );
      await child.kill();
      sub.end();
    } finally {
      await child.kill();
    }
    const broker = await startMqttBroker({ storage: 'file', dataDir });
    try {
      const sub = await rawClient(broker.port, 5);
      try {
        await sub.connect(subscriberId, persistentSession(5));
        const back = await publishes(sub, inFlight.length);
        assert.deepEqual(back.map(seen), inFlight, 'their original packet ids [MQTT-4.4.0-1]');
        assert.ok(back.every((p) => p.dup));
      } finally {
        sub.end();
      }
    } finally {
      await broker.stop();
    }
  });
});

/** Offsets apart that give the same packet id: packet ids run 1 to 65535. */
const idsCount = 65_535;

test('MQTT 5.0 subscriber: a message whose offset gives the packet id of one still in flight goes under another, kept across a restart', async () => {
  await inTempFolder('switchyard-qos1-ids-taken-', async (dataDir) => {
    let inFlight: Seen[];
    const first = await startMqttBroker({ storage: 'file', dataDir });
    try {
      let sub = await subscriber(first.port, 5);
      // Two acknowledged first, so a numbering from 1 after the restart would not match by chance.
      const [held] = await leaveInFlight(sub, first.port, 3, 2, allQos1);
      // Gone before the fillers come: none of them is handed to this connection.
      sub.send({ cmd: 'disconnect' });
      await sub.closed;
      await sleep(settleMs);
      // While the subscriber is away: messages that expire before it is back, each taking the next
      // offset of the session queue's log, so the one after them lies 65,535 offsets past `held`.
      const core = first.broker.client();
      const expirationMs = 100;
      const filler = {
        body: Buffer.from('x'),
        properties: { persistent: true, qos: 1, expirationMs, expiresAtMs: Date.now() + expirationMs },
      } as const;
      const confirmed: Array<Promise<void>> = [];
      for (let i = 0; i < idsCount - 1; i++)
        confirmed.push(core.publish('amq.topic', 'qos1.ids', filler).confirmed);
      await Promise.all(confirmed);
      await sleep(expirationMs);
      sub = await rawClient(first.port, 5);
      await sub.connect(subscriberId, persistentSession(5));
      const again = (await publishes(sub, 1)).map(seen);
      assert.deepEqual(again, [held], 'the held message again, under its id');
      const texts = ['n0', 'n1', 'n2'];
      await publish(first.port, topic, texts, allQos1);
      const fresh = (await publishes(sub, 1 + texts.length)).slice(1).map(seen);
      assert.deepEqual(
        fresh.map((p) => p.text),
        texts,
      );
      // n1 and n2 take the ids after held's: their offsets lie 65,535 past held's neighbours, so n0's
      // gives held's own id. Without this the test passed as well had the fillers taken no offsets.
      assert.deepEqual(
        fresh.slice(1).map((p) => p.messageId),
        [held!.messageId + 1, held!.messageId + 2],
        'the fillers wrapped the derived ids',
      );
      const ids = [held!.messageId, ...fresh.map((p) => p.messageId)];
      assert.equal(new Set(ids).size, ids.length, 'no packet id is in use twice');
      inFlight = [held!, ...fresh];
      await sleep(settleMs);
      sub.end();
    } finally {
      await first.stop();
    }
    await resentAsBefore(dataDir, 5, inFlight);
  });
});

test('mqtt.js 5.0 subscriber back after SIGKILL: the resent QoS 1 messages come once each, under their packet ids, and are acknowledged', async () => {
  await inTempFolder('switchyard-qos1-ids-mqttjs-', async (dataDir) => {
    const inFlight = await killedWithInFlight(dataDir, 5, 4, 1, allQos1);
    const broker = await startMqttBroker({ storage: 'file', dataDir });
    const options = {
      clientId: subscriberId,
      clean: false,
      protocolVersion: 5,
      properties: { sessionExpiryInterval: 3600 },
    } as const;
    try {
      const back = await connect(broker.url, options);
      assert.equal(connack(back).sessionPresent, true);
      const got = await inbox(back).wait(inFlight.length, packetWaitMs);
      assert.deepEqual(
        got.map((m) => ({ text: m.text, messageId: m.packet.messageId, qos: m.packet.qos })),
        inFlight,
      );
      assert.ok(got.every((m) => m.packet.dup));
      await sleep(settleMs);
      assert.equal(inbox(back).messages.length, inFlight.length, 'each once');
      await closeAll(back);
      await owedNothing(broker.port, 5, subscriberId, settleMs);
    } finally {
      await broker.stop();
    }
  });
});

const noPaho = hasPythonModule('paho.mqtt.client')
  ? false
  : 'python3-paho-mqtt is not installed (apt-get install python3-paho-mqtt)';

/**
 * Paho (python, 3.1.1, clean session 0) as the returning subscriber: takes `count` messages (QoS 2 ones
 * at PUBREL, as Paho delivers), lets its acknowledgements go, and prints what it got as JSON.
 */
const pahoReturning = `
import json, sys, time
import paho.mqtt.client as mqtt
port, client_id, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
got = []
def on_message(client, userdata, m):
    got.append({"text": m.payload.decode(), "messageId": m.mid, "qos": m.qos, "dup": bool(m.dup)})
c = mqtt.Client(client_id=client_id, clean_session=False, protocol=mqtt.MQTTv311)
c.on_message = on_message
c.connect("127.0.0.1", port, 30)
deadline = time.time() + 10
while len(got) < count and time.time() < deadline:
    c.loop(0.1)
settle = time.time() + 0.3
while time.time() < settle:
    c.loop(0.05)
c.disconnect()
print(json.dumps(got))
`;

test('Paho 3.1.1 subscriber back after SIGKILL: the resent QoS 1 and 2 messages come once each, under their packet ids, and are acknowledged', {
  skip: noPaho,
}, async () => {
  await inTempFolder('switchyard-qos1-ids-paho-', async (dataDir) => {
    const inFlight = await killedWithInFlight(dataDir, 4, 5, 1, alternating);
    const broker = await startMqttBroker({ storage: 'file', dataDir });
    try {
      const run = await runTool('/usr/bin/python3', [
        '-c',
        pahoReturning,
        String(broker.port),
        subscriberId,
        String(inFlight.length),
      ]);
      assert.equal(run.code, 0, run.stderr);
      const got = JSON.parse(run.stdout) as Array<Seen & { dup: boolean }>;
      // Paho hands a QoS 2 message over at PUBREL, so the order is by completion: compare as sets.
      const byText = (a: Seen, b: Seen) => a.text.localeCompare(b.text);
      assert.deepEqual(
        got.map(({ text, messageId, qos }) => ({ text, messageId, qos })).sort(byText),
        [...inFlight].sort(byText),
      );
      assert.ok(got.every((m) => m.dup));
      await owedNothing(broker.port, 4, subscriberId, settleMs);
    } finally {
      await broker.stop();
    }
  });
});
