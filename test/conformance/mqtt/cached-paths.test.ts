/**
 * The MQTT paths that remember their last answer (the codec's last topic string, the last topic found
 * valid, a connection's matches for its last topic, routing's one-queue list) and the clean session made
 * without a turn, driven with mqtt.js and raw packets: what a user sees never depends on what was
 * remembered. Payloads of many publishes per read, queued for an offline session and retained, keep
 * their bytes; topics differing by case, length or a UTF-8 byte stay apart; a wildcard after a valid
 * topic, a topic alias remapped, a topic permission revoked, subscription changes and no local all
 * apply at once; CONNECTs racing for one client id leave one connection; a clean session's will goes out.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import mqttPacket from 'mqtt-packet';
import type { CoreClient } from '../../../src/core/api.js';
import {
  closeAll,
  connect,
  inbox,
  type MqttTestBroker,
  persistentSession,
  rawClient,
  sleep,
  startMqttBroker,
  until,
} from '../../../testing/mqtt-harness.js';

let sy: MqttTestBroker;
let core: CoreClient;
before(async () => {
  sy = await startMqttBroker();
  core = sy.broker.client('/');
});
after(() => sy.stop());

const payloadOf = (i: number) => Buffer.from(`p${i}-${'x'.repeat(i % 97)}-${i * 7919}`);

test('many QoS 1 publishes in few writes, queued for an offline session, and retained, keep their bytes', async () => {
  const sub = await connect(sy.url, { clientId: 'cached-sub', ...persistentSession(4) });
  await sub.subscribeAsync('pay/#', { qos: 1 });
  await sub.endAsync();
  const raw = await rawClient(sy.port, 4);
  await raw.connect('cached-pub');
  const count = 800;
  const frames: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    frames.push(
      mqttPacket.generate({
        cmd: 'publish',
        topic: i % 3 === 0 ? 'pay/a' : `pay/r${i % 40}`,
        payload: payloadOf(i),
        qos: 1,
        messageId: (i % 60000) + 1,
        retain: i % 3 !== 0,
        dup: false,
      }),
    );
  }
  // Several publishes per write: frames are views of one chunk.
  for (let i = 0; i < count; i += 50) raw.write(Buffer.concat(frames.slice(i, i + 50)));
  await until(() => raw.packets.filter((p) => p.cmd === 'puback').length >= count, 30_000, 'pubacks');
  raw.end();
  const again = await connect(sy.url, { clientId: 'cached-sub', ...persistentSession(4) });
  const box = inbox(again);
  await box.wait(count, 30_000);
  const got = box.messages.map((m) => m.packet.payload.toString());
  assert.deepEqual(
    got,
    Array.from({ length: count }, (_, i) => payloadOf(i).toString()),
  );
  await closeAll(again);
  const late = await connect(sy.url, { clientId: 'cached-late' });
  await late.subscribeAsync('pay/#', { qos: 0 });
  const lateBox = inbox(late);
  await lateBox.wait(40, 5000);
  for (const m of lateBox.messages) {
    const r = Number(m.topic.slice('pay/r'.length));
    // The last retained message of topic r is the largest i < count with i % 40 === r and i % 3 !== 0.
    let last = -1;
    for (let i = 0; i < count; i++) if (i % 40 === r && i % 3 !== 0) last = i;
    assert.equal(m.packet.payload.toString(), payloadOf(last).toString(), m.topic);
  }
  await closeAll(late);
});

test('topics differing only in case, length or UTF-8 detail are told apart', async () => {
  const sub = await connect(sy.url, { clientId: 'cached-t-sub' });
  await sub.subscribeAsync('t/#', { qos: 0 });
  const box = inbox(sub);
  const pub = await connect(sy.url, { clientId: 'cached-t-pub' });
  const topics = ['t/ab', 't/ab', 't/aB', 't/abc', 't/a', 't/é', 't/è', 't/é', 't/ab'];
  for (const topic of topics) await pub.publishAsync(topic, topic);
  await box.wait(topics.length);
  assert.deepEqual(
    box.messages.map((m) => [m.topic, m.text]),
    topics.map((t) => [t, t]),
  );
  await closeAll(sub, pub);
});

test('a wildcard topic is refused after a valid one of the same length', async () => {
  const raw = await rawClient(sy.port, 4);
  await raw.connect('cached-w');
  raw.send({ cmd: 'publish', topic: 'w/a', payload: Buffer.from('1'), qos: 0, retain: false, dup: false });
  raw.send({ cmd: 'publish', topic: 'w/+', payload: Buffer.from('2'), qos: 0, retain: false, dup: false });
  await until(() => raw.isClosed(), 5000, 'closed on the wildcard topic [MQTT-3.3.2-2]');
});

test('v5 topic alias remapped to a new topic', async () => {
  const sub = await connect(sy.url, { clientId: 'cached-al-sub' });
  await sub.subscribeAsync('al/#', { qos: 0 });
  const box = inbox(sub);
  const raw = await rawClient(sy.port, 5);
  await raw.connect('cached-al', { protocolVersion: 5 });
  const pub = (topic: string, payload: string) =>
    raw.send({
      cmd: 'publish',
      topic,
      payload: Buffer.from(payload),
      qos: 0,
      retain: false,
      dup: false,
      properties: { topicAlias: 1 },
    });
  pub('al/one', '1');
  pub('', '2');
  pub('al/two', '3');
  pub('', '4');
  pub('al/one', '5');
  pub('', '6');
  await box.wait(6);
  assert.deepEqual(
    box.messages.map((m) => `${m.topic}:${m.text}`),
    ['al/one:1', 'al/one:2', 'al/two:3', 'al/two:4', 'al/one:5', 'al/one:6'],
  );
  raw.end();
  await closeAll(sub);
});

test('topic permission revoked mid-connection applies to a topic published before', async () => {
  await core.putUser('pdev', 'pw', []);
  await core.setPermission('/', 'pdev', { configure: '', write: '^amq\\.topic$', read: '^amq\\.topic$' });
  await core.setTopicPermission('/', 'pdev', 'amq.topic', { write: '^perm\\.', read: '.*' });
  const sub = await connect(sy.url, { clientId: 'cached-p-sub' });
  await sub.subscribeAsync('perm/#', { qos: 1 });
  const box = inbox(sub);
  const pub = await connect(sy.url, {
    clientId: 'cached-p-pub',
    username: 'pdev',
    password: 'pw',
    protocolVersion: 5,
  });
  await pub.publishAsync('perm/x', 'before', { qos: 1 });
  await box.wait(1);
  await core.setTopicPermission('/', 'pdev', 'amq.topic', { write: '^other\\.', read: '.*' });
  const codes: number[] = [];
  pub.on('packetreceive', (p) => {
    if (p.cmd === 'puback') codes.push((p as { reasonCode?: number }).reasonCode ?? 0);
  });
  await pub.publishAsync('perm/x', 'after', { qos: 1 }).catch(() => undefined);
  await until(() => codes.length > 0, 3000, 'puback');
  assert.equal(codes[0], 0x87);
  await sleep(200);
  assert.deepEqual(
    box.messages.map((m) => m.text),
    ['before'],
  );
  await closeAll(sub, pub);
});

test('subscription match cache follows SUBSCRIBE, UNSUBSCRIBE and no-local', async () => {
  const c = await connect(sy.url, { clientId: 'cached-s', protocolVersion: 5 });
  const box = inbox(c);
  const other = await connect(sy.url, { clientId: 'cached-s-other', protocolVersion: 5 });
  await c.subscribeAsync('s/#', { qos: 0, properties: { subscriptionIdentifier: 1 } });
  await other.publishAsync('s/1', 'a');
  await box.wait(1);
  await c.subscribeAsync('s/1', { qos: 1, properties: { subscriptionIdentifier: 2 } });
  await other.publishAsync('s/1', 'b', { qos: 1 });
  await box.wait(2);
  await c.unsubscribeAsync('s/#');
  await other.publishAsync('s/1', 'c', { qos: 1 });
  await box.wait(3);
  await c.subscribeAsync('s/1', { qos: 1, nl: true, properties: { subscriptionIdentifier: 3 } });
  await c.publishAsync('s/1', 'own', { qos: 1 });
  await other.publishAsync('s/1', 'd', { qos: 1 });
  await box.wait(4);
  await sleep(200);
  assert.deepEqual(
    box.messages.map((m) => [m.text, m.packet.properties?.subscriptionIdentifier]),
    [
      ['a', 1],
      ['b', [1, 2]],
      ['c', 2],
      ['d', 3],
    ],
  );
  await closeAll(c, other);
});

test('clean session takeover by many CONNECTs of one id at once leaves one connected', async () => {
  const clients = await Promise.allSettled(
    Array.from({ length: 8 }, () => connect(sy.url, { clientId: 'cached-race' })),
  );
  const alive = () => clients.filter((r) => r.status === 'fulfilled' && r.value.connected).length;
  await until(() => alive() === 1, 10_000, 'one connection left');
  const session = core.session('cached-race');
  assert.equal(session?.connected, true);
  await closeAll(...clients.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : [])));
  await until(() => core.session('cached-race') === undefined, 3000, 'session ended');
});

test('a will of a clean session is published when the connection drops', async () => {
  const sub = await connect(sy.url, { clientId: 'cached-will-sub' });
  await sub.subscribeAsync('will/#', { qos: 1 });
  const box = inbox(sub);
  const raw = await rawClient(sy.port, 4);
  await raw.connect('cached-will', {
    will: { topic: 'will/x', payload: Buffer.from('gone'), qos: 1, retain: false },
  });
  raw.end();
  await box.wait(1);
  assert.equal(box.messages[0]?.text, 'gone');
  await until(() => core.session('cached-will') === undefined, 3000, 'clean session ended');
  await closeAll(sub);
});
