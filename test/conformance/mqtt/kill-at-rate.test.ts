/**
 * MQTT publishers at QoS 1 and QoS 2 at full rate, and a retained topic updated as fast as it is
 * acknowledged, SIGKILLed mid-rate. One QoS 2 publisher has a persistent session: after the restart
 * it comes back and resends what it had not finished (PUBLISH before its PUBREC, PUBREL after), and
 * each of its messages must reach the offline session once (§4.3.3: the ids awaiting PUBREL survive
 * the crash). After the restart a persistent session that was offline gets every
 * PUBACK'd and PUBCOMP'd message exactly once, one that was online and acknowledging gets every one it
 * had not had yet (at least once, [MQTT-4.3.2]), and the retained message is the last acknowledged
 * update or a later one.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type MqttClient, Store } from 'mqtt';
import {
  duplicates,
  type KillBroker,
  killMidRate,
  missing,
  newSent,
  type Sent,
  sendAtRate,
  startKillBroker,
  Window,
  withKillBroker,
} from '../../../testing/kill-at-rate.js';
import { closeAll, connect, inbox, sleep, until } from '../../../testing/mqtt-harness.js';
import { freePort } from '../../../testing/server-cli.js';

const messagesPerPublisherMax = 20_000;
const subscriptionsMax = 2_000;
const retainedUpdatesMax = 5_000;
const windowMax = 100;
const confirmedMin = 800;

/** Confirmed: PUBACK'd (QoS 1) or PUBREC'd (QoS 2): from then on the message is the broker's [MQTT-4.3.3]. */
type Published = Sent;

/** Adds each QoS 2 message to `out.confirmed` at its PUBREC, before mqtt.js sends PUBREL. */
function trackPubrec(client: MqttClient, out: Published): void {
  const byPacketId = new Map<number, string>();
  client.on('packetsend', (p) => {
    if (p.cmd === 'publish' && p.messageId !== undefined) byPacketId.set(p.messageId, String(p.payload));
  });
  client.on('packetreceive', (p) => {
    if (p.cmd !== 'pubrec' || p.messageId === undefined) return;
    const id = byPacketId.get(p.messageId);
    if (id !== undefined && ((p as { reasonCode?: number }).reasonCode ?? 0) < 0x80) out.confirmed.add(id);
  });
}

/** Publishes `prefix-i` to `rate/prefix` at `qos` with at most `windowMax` unanswered, until stopped. */
function publishAtRate(
  client: MqttClient,
  qos: 1 | 2,
  window: Window,
  out: Published,
  prefix = `q${qos}`,
): Promise<void> {
  return sendAtRate(prefix, messagesPerPublisherMax, window, out, (id, settle) =>
    client.publish(`rate/${prefix}`, id, { qos }, (err) => settle(err === undefined || err === null)),
  );
}

/**
 * The persistent QoS 2 publisher, followed on the wire: mqtt.js calls back a closed client's publishes
 * with an error even when it keeps them for the resend, so its callbacks cannot say what completed.
 */
interface Persistent {
  readonly client: MqttClient;
  /** What the loop handed to the client. */
  readonly out: Published;
  /** `pubrecs.confirmed`: PUBRECed (from the first PUBREC on, the broker holds the message). */
  readonly pubrecs: Published;
  /** PUBCOMPed. */
  readonly completed: Set<string>;
  /** Packet id → message, from its PUBLISH on the wire until its PUBCOMP. */
  readonly outstanding: Map<number, string>;
  /**
   * Messages whose PUBCOMP carried 0x92 (packet identifier not found): counted, not failed, since a
   * PUBCOMP the kill cut off makes the resent PUBREL find the id released, as it should.
   */
  readonly pubcompFailed: string[];
  /** What the offline session got twice (the check fills it). */
  readonly twice: string[];
}

function followPersistent(client: MqttClient): Persistent {
  const p: Persistent = {
    client,
    out: newSent(),
    pubrecs: newSent(),
    completed: new Set(),
    outstanding: new Map(),
    pubcompFailed: [],
    twice: [],
  };
  trackPubrec(client, p.pubrecs);
  client.on('packetsend', (packet) => {
    if (packet.cmd === 'publish' && packet.messageId !== undefined)
      p.outstanding.set(packet.messageId, String(packet.payload));
  });
  client.on('packetreceive', (packet) => {
    if (packet.cmd !== 'pubcomp' || packet.messageId === undefined) return;
    const id = p.outstanding.get(packet.messageId);
    p.outstanding.delete(packet.messageId);
    if (id === undefined) return;
    if (((packet as { reasonCode?: number }).reasonCode ?? 0) >= 0x80) p.pubcompFailed.push(id);
    else p.completed.add(id);
  });
  return p;
}

/**
 * A message of the persistent publisher not PUBRECed before the kill: the crash may have landed after
 * its write and before its packet id's (the id is written second, so that it never outlives a lost
 * message), and the resend is then stored again (docs/durability-tests.md, "QoS 2 across a crash").
 */
function storedWithoutId(load: Load, id: string): boolean {
  return id.startsWith('q2p-') && !load.pubrecsAtKill.has(id);
}

/**
 * After the restart the persistent publisher connects again with what mqtt.js kept (its outgoing
 * store: PUBLISHes not PUBRECed, PUBRELs not PUBCOMPed) and resends it; waits until every message it
 * put on the wire is PUBCOMPed.
 */
async function finishPersistent(p: Persistent): Promise<void> {
  const { client } = p;
  client.reconnect({ incomingStore: client.incomingStore, outgoingStore: client.outgoingStore });
  await until(() => client.connected, 10_000, 'the persistent publisher connected again');
  await until(
    () => p.outstanding.size === 0,
    20_000,
    () => `every persistent QoS 2 message resent completed (${p.outstanding.size} left)`,
  );
}

/**
 * Updates the retained message of `topic` one acknowledged update at a time; returns the last answered.
 * On a topic nobody subscribes to, the PUBACK can only wait for the retained message itself.
 */
async function retainAtRate(client: MqttClient, topic: string, window: Window): Promise<number> {
  let answered = -1;
  for (let i = 0; i < retainedUpdatesMax && !window.stopped; i++) {
    const update = client.publishAsync(topic, `r-${i}`, { qos: 1, retain: true }).then(
      () => true,
      () => false,
    );
    // A killed broker never answers, and mqtt.js keeps the packet for a reconnect that never comes.
    if (!(await Promise.race([update, window.whenStopped.then(() => false)]))) break;
    answered = i;
  }
  return answered;
}

/** Subscribes a persistent session to `sub/i`, one SUBACK at a time; returns the answered count. */
async function subscribeAtRate(client: MqttClient, window: Window): Promise<number> {
  let answered = 0;
  for (let i = 0; i < subscriptionsMax && !window.stopped; i++) {
    const subscribed = client.subscribeAsync(`sub/${i}`, { qos: 1 }).then(
      (granted) => granted.every((g) => g.qos < 0x80),
      () => false,
    );
    if (!(await Promise.race([subscribed, window.whenStopped.then(() => false)]))) break;
    answered = i + 1;
  }
  return answered;
}

/** The last retained update of `topic` a new subscriber gets, as its index. */
async function retainedIndex(url: string, topic: string): Promise<number> {
  const late = await connect(url);
  try {
    await late.subscribeAsync(topic, { qos: 1 });
    const [kept] = await inbox(late).wait(1, 5000);
    return Number(kept!.text.slice(2));
  } finally {
    await closeAll(late);
  }
}

/** After the restart, the session subscribed to every answered `sub/i`: a message to each arrives. */
async function checkSubscriptions(url: string, answered: number): Promise<void> {
  const back = await connect(url, { clientId: 'kill-subscriber', clean: false });
  const pub = await connect(url);
  try {
    for (let i = 0; i < answered; i++) await pub.publishAsync(`sub/${i}`, `s-${i}`, { qos: 1 });
    const got = await inbox(back).wait(answered, 10_000);
    const want = Array.from({ length: answered }, (_, i) => `s-${i}`);
    assert.deepEqual(missing(want, new Set(got.map((m) => m.text))), [], 'every SUBACKed subscription kept');
  } finally {
    await closeAll(back, pub);
  }
}

const texts = (client: MqttClient, topicPrefix: string) =>
  inbox(client)
    .messages.filter((m) => m.topic.startsWith(topicPrefix))
    .map((m) => m.text);

/** Waits until `client` has had every one of `expected`, then until nothing more came for 300 ms. */
async function settle(client: MqttClient, expected: readonly string[], seenBefore: readonly string[] = []) {
  const have = () => new Set([...seenBefore, ...inbox(client).messages.map((m) => m.text)]);
  await until(
    () => missing(expected, have()).length === 0,
    15_000,
    () => `every confirmed message (missing ${missing(expected, have()).slice(0, 5).join(' ')}…)`,
  );
  let count = -1;
  while (count !== inbox(client).messages.length) {
    count = inbox(client).messages.length;
    await sleep(300);
  }
}

interface Load {
  readonly q1: Published;
  readonly q2: Published;
  readonly retained: { subscribed: number; alone: number };
  readonly subscriptions: number;
  readonly seenOnline: string[];
  readonly persistent: Persistent;
  /** The persistent publisher's messages PUBRECed when the broker was killed. */
  readonly pubrecsAtKill: ReadonlySet<string>;
}

/** Persistent sessions first, then every publisher at full rate until the kill. */
async function loadUntilKilled(url: string, first: KillBroker): Promise<Load> {
  const offline = await connect(url, { clientId: 'kill-offline', clean: false });
  await offline.subscribeAsync('rate/#', { qos: 2 });
  await offline.endAsync();
  const online = await connect(url, { clientId: 'kill-online', clean: false });
  await online.subscribeAsync('rate/#', { qos: 1 });
  const subscriber = await connect(url, { clientId: 'kill-subscriber', clean: false });
  const [pub1, pub2, pubR, pubA, pubP] = await Promise.all([
    connect(url),
    connect(url),
    connect(url),
    connect(url),
    // Stores that keep their packets when the client closes under the kill, for the resend after it;
    // 5.0, whose PUBCOMP says whether the broker still knew the id.
    connect(url, {
      clientId: 'kill-q2-persistent',
      clean: false,
      protocolVersion: 5,
      properties: { sessionExpiryInterval: 3600 },
      incomingStore: new Store({ clean: false }),
      outgoingStore: new Store({ clean: false }),
    }),
  ]);
  const window = new Window(windowMax);
  const q1 = newSent();
  const q2 = newSent();
  trackPubrec(pub2, q2);
  const persistent = followPersistent(pubP);
  const loops = [
    publishAtRate(pub1, 1, window, q1),
    publishAtRate(pub2, 2, window, q2),
    publishAtRate(pubP, 2, window, persistent.out, 'q2p'),
  ];
  const retaining = [
    retainAtRate(pubR, 'rate/retained', window),
    retainAtRate(pubA, 'alone/retained', window),
  ];
  const subscribing = subscribeAtRate(subscriber, window);
  const confirmed = () => q1.confirmed.size + q2.confirmed.size + persistent.pubrecs.confirmed.size;
  await killMidRate(first, confirmed, confirmedMin);
  const pubrecsAtKill = new Set(persistent.pubrecs.confirmed);
  window.stop();
  await Promise.all(loops);
  const [subscribed, alone] = await Promise.all(retaining);
  const subscriptions = await subscribing;
  const seenOnline = inbox(online).messages.map((m) => m.text);
  await closeAll(online, subscriber, pub1, pub2, pubR, pubA);
  return {
    q1,
    q2,
    retained: { subscribed: subscribed!, alone: alone! },
    subscriptions,
    seenOnline,
    persistent,
    pubrecsAtKill,
  };
}

async function checkSessions(url: string, load: Load): Promise<void> {
  const { q1, q2, seenOnline, persistent } = load;
  const confirmed = [...q1.confirmed, ...q2.confirmed, ...persistent.completed];
  const offlineBack = await connect(url, { clientId: 'kill-offline', clean: false });
  const onlineBack = await connect(url, { clientId: 'kill-online', clean: false });
  try {
    await settle(offlineBack, confirmed);
    const offlineGot = texts(offlineBack, 'rate/q');
    persistent.twice.push(...duplicates(offlineGot));
    assert.deepEqual(
      persistent.twice.filter((id) => !storedWithoutId(load, id)),
      [],
      'the offline session got nothing twice but what the crash stored without its QoS 2 id',
    );
    assert.deepEqual(
      duplicates(offlineGot.filter((id, i) => offlineGot.indexOf(id) !== i)),
      [],
      'nothing thrice',
    );
    const sent = new Set([...q1.sent, ...q2.sent, ...persistent.out.sent]);
    assert.deepEqual(
      offlineGot.filter((id) => !sent.has(id)),
      [],
      'nothing but what was published',
    );
    await settle(onlineBack, confirmed, seenOnline);
  } finally {
    await closeAll(offlineBack, onlineBack);
  }
}

test('MQTT QoS 1 and 2, retained messages and subscriptions survive SIGKILL at full rate', {
  timeout: 150_000,
}, async (t) => {
  const port = await freePort();
  const url = `mqtt://127.0.0.1:${port}`;
  await withKillBroker(
    () => startKillBroker({ mqtt: port }, 'mqtt-rate'),
    async (first, track) => {
      const load = await loadUntilKilled(url, first);
      track(await first.restart());
      try {
        await finishPersistent(load.persistent);
      } finally {
        await closeAll(load.persistent.client);
      }
      await checkSessions(url, load);
      for (const [topic, answered] of [
        ['rate/retained', load.retained.subscribed],
        ['alone/retained', load.retained.alone],
      ] as const) {
        const kept = await retainedIndex(url, topic);
        assert.ok(kept >= answered, `${topic}: retained r-${kept}, at least the last answered r-${answered}`);
      }
      await checkSubscriptions(url, load.subscriptions);
      const { q1, q2, retained, persistent } = load;
      t.diagnostic(
        `confirmed/sent q1 ${q1.confirmed.size}/${q1.sent.length}, q2 ${q2.confirmed.size}/${q2.sent.length}, persistent q2 PUBRECed before the kill ${load.pubrecsAtKill.size}, stored twice ${load.persistent.twice.length}, PUBCOMP 0x92 ${persistent.pubcompFailed.length}, completed ${persistent.completed.size}, retained r-${retained.subscribed} r-${retained.alone}, subscriptions ${load.subscriptions}`,
      );
    },
  );
});
