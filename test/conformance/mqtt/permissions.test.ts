/**
 * Permissions through mqtt.js: CONNECT as the user (refused without permissions in the vhost),
 * SUBSCRIBE refused per filter (SUBACK 0x87 in v5, 0x80 in 3.1.1), PUBLISH refused with PUBACK 0x87 in
 * v5 and by closing the connection in 3.1.1, retained and will messages checked when published, and
 * `{client_id}` in topic permissions: nothing refused is stored.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { MqttClient } from 'mqtt';
import type { CoreClient } from '../../../src/core/api.js';
import {
  closeAll,
  connect,
  inbox,
  type MqttTestBroker,
  startMqttBroker,
  until,
} from '../../../testing/mqtt-harness.js';

let sy: MqttTestBroker;
let core: CoreClient;

before(async () => {
  sy = await startMqttBroker();
  core = sy.broker.client('/');
  await core.putUser('dev', 'dev-pw', []);
  await core.putUser('nobody', 'nobody-pw', []);
  await core.setPermission('/', 'dev', { configure: '', write: '^amq\\.topic$', read: '^amq\\.topic$' });
  // A device writes under its own id only, and reads its own topics and the public ones.
  const topic = { write: '^devices\\.{client_id}\\.', read: '^(devices\\.{client_id}\\..*|public\\..*)$' };
  await core.setTopicPermission('/', 'dev', 'amq.topic', topic);
  core.declareQueue('watch', { durable: false });
  core.bindQueue('watch', 'amq.topic', '#');
});

after(() => sy.stop());

const as = (clientId: string, protocolVersion: 4 | 5) =>
  connect(sy.url, { username: 'dev', password: 'dev-pw', clientId, protocolVersion });
/** The SUBACK's codes, whatever they are (mqtt.js rejects a SUBACK with any refusal). */
function subscribeCodes(client: MqttClient, filters: Record<string, { qos: 0 | 1 | 2 }>): Promise<number[]> {
  return new Promise((resolve) => {
    client.once('packetreceive', (packet) => {
      if (packet.cmd === 'suback') resolve(packet.granted as number[]);
    });
    client.subscribe(filters, () => {});
  });
}

const watched = () => core.checkQueue('watch').messageCount;

test('v5: SUBACK refuses only the filters the user may not read, with 0x87', async () => {
  const client = await as('c1', 5);
  try {
    const granted = await subscribeCodes(client, {
      'devices/c1/#': { qos: 1 },
      'public/#': { qos: 0 },
      'secret/#': { qos: 1 },
    });
    assert.deepEqual(granted, [1, 0, 0x87]);
    const other = await subscribeCodes(client, { 'devices/c2/#': { qos: 0 } });
    assert.deepEqual(other, [0x87], "another device's topics");
  } finally {
    await closeAll(client);
  }
});

test('v5: a PUBLISH outside the topic permission gets PUBACK 0x87 and is not stored, retained or not', async () => {
  const client = await as('c1', 5);
  try {
    const before = watched();
    const retainedBefore = core.retainedCount();
    for (const [topic, retain] of [
      ['secret/x', false],
      ['devices/c2/x', false],
      ['secret/r', true],
    ] as const) {
      await assert.rejects(client.publishAsync(topic, 'no', { qos: 1, retain }), (err: { code?: number }) => {
        assert.equal(err.code, 0x87, topic);
        return true;
      });
    }
    client.publish('secret/q0', 'no', { qos: 0 });
    await client.publishAsync('devices/c1/ok', 'yes', { qos: 1, retain: true });
    await until(() => watched() === before + 1);
    assert.equal(core.retainedCount(), retainedBefore + 1, 'only the allowed retained message is kept');
    assert.ok(client.connected, 'v5 keeps the connection');
  } finally {
    await closeAll(client);
  }
});

test('3.1.1: SUBACK 0x80 per refused filter; a refused PUBLISH closes the connection', async () => {
  const client = await as('c3', 4);
  try {
    const granted = await subscribeCodes(client, { 'devices/c3/#': { qos: 1 }, 'secret/#': { qos: 1 } });
    assert.deepEqual(granted, [1, 0x80]);
    const before = watched();
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.publish('secret/x', 'no', { qos: 1 });
    await closed;
    assert.equal(watched(), before);
  } finally {
    await closeAll(client);
  }
});

test('a will the user may not publish is dropped; an allowed one is delivered', async () => {
  const watcher = await connect(sy.url, { username: 'guest', password: 'guest', clientId: 'watcher' });
  const box = inbox(watcher);
  await watcher.subscribeAsync('#', { qos: 1 });
  for (const [clientId, topic] of [
    ['w1', 'secret/will'],
    ['w2', 'devices/w2/will'],
  ] as const) {
    const client = await connect(sy.url, {
      username: 'dev',
      password: 'dev-pw',
      clientId,
      will: { topic, payload: Buffer.from('gone'), qos: 1, retain: false },
    });
    client.stream.destroy();
  }
  try {
    await until(() => box.messages.some((m) => m.topic === 'devices/w2/will'));
    assert.ok(!box.messages.some((m) => m.topic === 'secret/will'));
  } finally {
    await closeAll(watcher);
  }
});

test('CONNECT as a user without permissions in the vhost is refused: 0x87 in v5, 5 in 3.1.1', async () => {
  await assert.rejects(
    connect(sy.url, { username: 'nobody', password: 'nobody-pw', protocolVersion: 5 }),
    (err: { code?: number }) => err.code === 0x87,
  );
  await assert.rejects(
    connect(sy.url, { username: 'nobody', password: 'nobody-pw', protocolVersion: 4 }),
    (err: { code?: number }) => err.code === 5,
  );
});

test('a client without credentials from loopback is guest', async () => {
  const client = await connect(sy.url, { clientId: 'anon' });
  try {
    await client.publishAsync('anything/at/all', 'ok', { qos: 1 });
  } finally {
    await closeAll(client);
  }
});
