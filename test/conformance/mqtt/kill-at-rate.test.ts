/**
 * MQTT publishers at QoS 1 and QoS 2 at full rate, and a retained topic updated as fast as it is
 * acknowledged, SIGKILLed mid-rate. After the restart a persistent session that was offline gets every
 * PUBACK'd and PUBCOMP'd message exactly once, one that was online and acknowledging gets every one it
 * had not had yet (at least once, [MQTT-4.3.2]), and the retained message is the last acknowledged
 * update or a later one.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MqttClient } from 'mqtt';
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

/** Publishes `prefix-i` at `qos` with at most `windowMax` unanswered, until stopped. */
function publishAtRate(client: MqttClient, qos: 1 | 2, window: Window, out: Published): Promise<void> {
  return sendAtRate(`q${qos}`, messagesPerPublisherMax, window, out, (id, settle) =>
    client.publish(`rate/q${qos}`, id, { qos }, (err) => settle(err === undefined || err === null)),
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
}

/** Persistent sessions first, then every publisher at full rate until the kill. */
async function loadUntilKilled(url: string, first: KillBroker): Promise<Load> {
  const offline = await connect(url, { clientId: 'kill-offline', clean: false });
  await offline.subscribeAsync('rate/#', { qos: 2 });
  await offline.endAsync();
  const online = await connect(url, { clientId: 'kill-online', clean: false });
  await online.subscribeAsync('rate/#', { qos: 1 });
  const subscriber = await connect(url, { clientId: 'kill-subscriber', clean: false });
  const [pub1, pub2, pubR, pubA] = await Promise.all([
    connect(url),
    connect(url),
    connect(url),
    connect(url),
  ]);
  const window = new Window(windowMax);
  const q1 = newSent();
  const q2 = newSent();
  trackPubrec(pub2, q2);
  const loops = [publishAtRate(pub1, 1, window, q1), publishAtRate(pub2, 2, window, q2)];
  const retaining = [
    retainAtRate(pubR, 'rate/retained', window),
    retainAtRate(pubA, 'alone/retained', window),
  ];
  const subscribing = subscribeAtRate(subscriber, window);
  await killMidRate(first, () => q1.confirmed.size + q2.confirmed.size, confirmedMin);
  window.stop();
  await Promise.all(loops);
  const [subscribed, alone] = await Promise.all(retaining);
  const subscriptions = await subscribing;
  const seenOnline = inbox(online).messages.map((m) => m.text);
  await closeAll(online, subscriber, pub1, pub2, pubR, pubA);
  return { q1, q2, retained: { subscribed: subscribed!, alone: alone! }, subscriptions, seenOnline };
}

async function checkSessions(url: string, load: Load): Promise<void> {
  const { q1, q2, seenOnline } = load;
  const confirmed = [...q1.confirmed, ...q2.confirmed];
  const offlineBack = await connect(url, { clientId: 'kill-offline', clean: false });
  const onlineBack = await connect(url, { clientId: 'kill-online', clean: false });
  try {
    await settle(offlineBack, confirmed);
    const offlineGot = texts(offlineBack, 'rate/q');
    assert.deepEqual(duplicates(offlineGot), [], 'the offline session got nothing twice');
    const sent = new Set([...q1.sent, ...q2.sent]);
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
      await checkSessions(url, load);
      for (const [topic, answered] of [
        ['rate/retained', load.retained.subscribed],
        ['alone/retained', load.retained.alone],
      ] as const) {
        const kept = await retainedIndex(url, topic);
        assert.ok(kept >= answered, `${topic}: retained r-${kept}, at least the last answered r-${answered}`);
      }
      await checkSubscriptions(url, load.subscriptions);
      const { q1, q2, retained } = load;
      t.diagnostic(
        `confirmed/sent q1 ${q1.confirmed.size}/${q1.sent.length}, q2 ${q2.confirmed.size}/${q2.sent.length}, retained r-${retained.subscribed} r-${retained.alone}, subscriptions ${load.subscriptions}`,
      );
    },
  );
});
