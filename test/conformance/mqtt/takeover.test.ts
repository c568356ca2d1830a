/**
 * Session takeover, every combination (MQTT 5.0 §3.1.4, [MQTT-3.1.4-3] [MQTT-3.1.2-4] [MQTT-3.1.2-5];
 * 3.1.1 §3.1.4): a client id connected as A, holding an unacknowledged QoS 1 or 2 message or none,
 * is taken over by B; then B leaves and C comes back with Clean Start 0. Whatever the combination, B
 * and C get the session-present flag the specification gives them, B gets every new message, the
 * message A held comes back to B exactly when the session survived, and what is queued while B is away
 * reaches C exactly when B's session outlived B. Mosquitto behaves the same: a session whose expiry
 * was 0 ends with its connection, a takeover included.
 *
 * Found with the Paho suite run as one process: a durable session resumed with expiry 0, then taken
 * over with Clean Start 0, lost its queue (the old connection's teardown deleted it while the new one
 * was declaring it again): SUBACK but no deliveries, later "session present" with nothing in it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { IClientOptions, MqttClient } from 'mqtt';
import {
  closeAll,
  connack,
  connect,
  disconnectReason,
  inbox,
  type MqttTestBroker,
  type RawClient,
  rawClient,
  sleep,
  startMqttBroker,
  until,
} from '../../../testing/mqtt-harness.js';

let server: MqttTestBroker;
before(async () => {
  server = await startMqttBroker();
});
after(() => server.stop());

const expiryN = 300;

interface Case {
  readonly version: 4 | 5;
  /** A's session outlives A's connection (v5: A's Session Expiry > 0; 3.1.1: A's Clean Session 0). */
  readonly oldKept: boolean;
  readonly newClean: boolean;
  /** v5 only: B's Session Expiry Interval (3.1.1: B's session is kept exactly when it is not clean). */
  readonly newExpiry: 0 | typeof expiryN;
  readonly inflight: 0 | 1 | 2;
}

function cases(): Case[] {
  const out: Case[] = [];
  for (const inflight of [0, 1, 2] as const) {
    for (const oldKept of [false, true]) {
      for (const newClean of [false, true]) {
        out.push({ version: 4, oldKept, newClean, newExpiry: 0, inflight });
        for (const newExpiry of [0, expiryN] as const)
          out.push({ version: 5, oldKept, newClean, newExpiry, inflight });
      }
    }
  }
  return out;
}

function name(c: Case): string {
  const old = c.version === 5 ? `expiry ${c.oldKept ? expiryN : 0}` : `clean ${c.oldKept ? 0 : 1}`;
  const next =
    c.version === 5 ? `clean ${c.newClean ? 1 : 0}, expiry ${c.newExpiry}` : `clean ${c.newClean ? 1 : 0}`;
  return `${c.version === 5 ? 'v5' : '3.1.1'}: A (${old}) with ${c.inflight === 0 ? 'nothing' : `QoS ${c.inflight}`} in flight, taken over by B (${next})`;
}

function options(c: Case, clientId: string, clean: boolean, expirySec?: number): IClientOptions {
  const v5 = c.version === 5 && expirySec !== undefined && expirySec > 0;
  return {
    protocolVersion: c.version,
    clientId,
    clean,
    ...(v5 ? { properties: { sessionExpiryInterval: expirySec } } : {}),
  };
}

/**
 * A: a bare client (it never acknowledges anything) connected to a session with a subscription. For
 * v5 the session is made durable with expiry N first; A then resumes it with its own expiry (0: the
 * path that lost sessions).
 */
async function connectA(c: Case, clientId: string, topic: string): Promise<RawClient> {
  const setupKept = c.version === 5 || c.oldKept;
  if (setupKept) {
    const setup = await connect(server.url, options(c, clientId, c.version === 5, expiryN));
    await setup.subscribeAsync(topic, { qos: 2 });
    await setup.endAsync();
  }
  const a = await rawClient(server.port, c.version);
  const expiry = c.version === 5 && c.oldKept ? { properties: { sessionExpiryInterval: expiryN } } : {};
  await a.connect(clientId, { clean: !setupKept, ...expiry });
  if (!setupKept) {
    a.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 2 }] });
    await a.expect((p) => p.cmd === 'suback');
  }
  return a;
}

/** B's session outlives B (v5: its expiry; 3.1.1: not clean). */
const newKept = (c: Case) => (c.version === 5 ? c.newExpiry > 0 : !c.newClean);

async function takeover(c: Case, n: number, pub: MqttClient): Promise<void> {
  const clientId = `tk-${n}`;
  const topic = `tk/${n}`;
  const a = await connectA(c, clientId, topic);
  const clients: MqttClient[] = [];
  try {
    if (c.inflight > 0) {
      await pub.publishAsync(topic, 'held', { qos: c.inflight });
      await a.expect((p) => p.cmd === 'publish');
    }
    const b = await connect(server.url, options(c, clientId, c.newClean, c.newExpiry));
    clients.push(b);
    await a.closed;
    if (c.version === 5) assert.equal(disconnectReason(a.packets), 0x8e, 'A told: session taken over');
    const present = !c.newClean && c.oldKept;
    assert.equal(connack(b).sessionPresent ?? false, present, 'B session present');
    await b.subscribeAsync(topic, { qos: 2 });
    await pub.publishAsync(topic, 'after', { qos: 1 });
    const expected = c.inflight > 0 && present ? ['held', 'after'] : ['after'];
    const got = await inbox(b).wait(expected.length);
    await sleep(20);
    assert.deepEqual(
      inbox(b)
        .messages.map((m) => m.text)
        .sort(),
      [...expected].sort(),
      'B received',
    );
    const resent = got.find((m) => m.text === 'held');
    if (resent !== undefined) assert.equal(resent.packet.dup, true, 'the held message comes back with DUP');
    await b.endAsync();
    await pub.publishAsync(topic, 'offline', { qos: 1 });
    const cc = await connect(server.url, options(c, clientId, false, expiryN));
    clients.push(cc);
    assert.equal(connack(cc).sessionPresent ?? false, newKept(c), 'C session present');
    if (newKept(c))
      assert.deepEqual(
        (await inbox(cc).wait(1)).map((m) => m.text),
        ['offline'],
      );
    await cc.subscribeAsync(topic, { qos: 1 });
    await pub.publishAsync(topic, 'last', { qos: 1 });
    await until(() => inbox(cc).messages.some((m) => m.text === 'last'));
    assert.deepEqual(
      inbox(cc).messages.map((m) => m.text),
      newKept(c) ? ['offline', 'last'] : ['last'],
      'C received',
    );
    // Clean up: the next case must not meet this one's session.
    await cc.endAsync();
    await (await connect(server.url, options(c, clientId, true))).endAsync();
  } finally {
    a.end();
    await closeAll(...clients);
  }
}

describe('session takeover (clean start × expiry × in-flight × version)', () => {
  let pub: MqttClient;
  before(async () => {
    pub = await connect(server.url, { protocolVersion: 5, clientId: 'tk-publisher' });
  });
  after(() => closeAll(pub));

  cases().forEach((c, n) => {
    test(name(c), () => takeover(c, n, pub));
  });
});
