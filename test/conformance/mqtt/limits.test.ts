import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, readdirSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { FrameReader } from '../../../src/protocols/mqtt/codec/framing.js';
import {
  filterMatches,
  filterToPattern,
  keyToTopic,
  topicToKey,
  validFilter,
} from '../../../src/protocols/mqtt/topics.js';
import {
  closeAll,
  connect,
  disconnectReason,
  type MqttTestBroker,
  rawClient,
  startMqttBroker,
} from '../../../testing/mqtt-harness.js';

let server: MqttTestBroker;
before(async () => {
  server = await startMqttBroker({
    limits: { connectionsMax: 40, packetBytesMax: 1024, topicLevelsMax: 4, receiveMax: 3 },
  });
});
after(() => server.stop());

async function connected(version: 4 | 5, clientId: string) {
  const raw = await rawClient(server.port, version);
  await raw.connect(clientId);
  return raw;
}

describe('codec and topic mapping', () => {
  test('topics map onto routing keys and back, dots and slashes swapped', () => {
    assert.equal(topicToKey('a/b.c/d'), 'a.b/c.d');
    assert.equal(keyToTopic(topicToKey('a/b.c//d')), 'a/b.c//d');
    assert.equal(filterToPattern('a/+/v1.2/#'), 'a.*.v1/2.#');
    assert.ok(filterMatches('a/#', 'a'));
    assert.ok(!filterMatches('#', '$SYS/x'));
    assert.ok(!validFilter('a/#/b', { topicLevelsMax: 10, topicBytesMax: 100 }));
    assert.ok(!validFilter('a/b+', { topicLevelsMax: 10, topicBytesMax: 100 }));
  });

  test('every packet type round-trips through the framer and the codec, whatever the chunking', () => {
    const packets: Packet[] = [
      {
        cmd: 'publish',
        topic: 'a/b',
        payload: Buffer.from('x'.repeat(300)),
        qos: 1,
        messageId: 7,
        retain: true,
        dup: false,
        properties: { userProperties: { k: 'v' }, messageExpiryInterval: 9 },
      },
      {
        cmd: 'subscribe',
        messageId: 2,
        subscriptions: [{ topic: 'a/+', qos: 2, nl: true, rap: true, rh: 1 }],
        properties: { subscriptionIdentifier: 5 },
      },
      { cmd: 'puback', messageId: 7, reasonCode: 0x10 },
      { cmd: 'pubrel', messageId: 8 },
      { cmd: 'pingreq' },
      { cmd: 'disconnect', reasonCode: 0x04 },
    ];
    const bytes = Buffer.concat(packets.map((p) => mqttPacket.generate(p, { protocolVersion: 5 })));
    for (const chunk of [1, 3, 17, bytes.length]) {
      const reader = new FrameReader(4096);
      const parser = mqttPacket.parser({ protocolVersion: 5 });
      const out: Packet[] = [];
      parser.on('packet', (p: Packet) => out.push(p));
      for (let i = 0; i < bytes.length; i += chunk) {
        const result = reader.push(bytes.subarray(i, i + chunk));
        assert.equal(result.kind, 'frames');
        for (const frame of result.frames) parser.parse(frame);
      }
      assert.deepEqual(
        out.map((p) => p.cmd),
        packets.map((p) => p.cmd),
      );
    }
  });
});

describe('byte-level rules', () => {
  test('byte-level rules mqtt-packet lets through close the connection (0x81 malformed, 0x82 packet id 0)', async () => {
    const hex = (text: string) => Buffer.from(text.replaceAll(' ', ''), 'hex');
    const cases: Array<[string, string, number]> = [
      ['QoS 0 with DUP (MQTT-3.3.1-2)', '38 0f 0005 746f706963 00 7061796c6f6164', 0x81],
      ['QoS 1 with packet id 0 (MQTT-2.2.1-3)', '32 11 0005 746f706963 0000 00 7061796c6f6164', 0x82],
      ['topic with U+0001', '30 0f 0005 746f700170 00 7061796c6f6164', 0x81],
      ['topic with a UTF-16 surrogate', '30 0f 0005 746feda080 00 7061796c6f6164', 0x81],
      ['empty topic filter (MQTT-4.7.3-1)', '82 06 1234 00 0000 00', 0x81],
      ['UNSUBSCRIBE without a filter (MQTT-3.10.3-2)', 'a2 03 1234 00', 0x81],
      ['PINGREQ with a body', 'c0 01 00', 0x81],
    ];
    for (const [what, bytes, reason] of cases) {
      const v5 = await connected(5, `rules-${reason}`);
      v5.write(hex(bytes));
      await v5.closed;
      assert.equal(disconnectReason(v5.packets), reason, what);
    }
    const v4 = await connected(4, 'rules-4');
    v4.write(hex('40 03 0001 00')); // PUBACK longer than its packet id (3.1.1 §3.4.1)
    await v4.closed;
    assert.equal(disconnectReason(v4.packets), undefined);
  });

  test('unsupported protocol level: CONNACK return code 1, then close (MQTT-3.1.2-2)', async () => {
    const raw = await rawClient(server.port, 4);
    raw.write(Buffer.from('100d00044d515454060000 0a00 0170'.replaceAll(' ', ''), 'hex'));
    const reply = await raw.expect((p) => p.cmd === 'connack');
    assert.equal((reply as { returnCode?: number }).returnCode, 1);
    await raw.closed;
  });
});

describe('malformed input and limits', () => {
  test('a malformed packet: v5 gets DISCONNECT 0x81, 3.1.1 is closed silently, the broker serves on', async () => {
    const v5 = await connected(5, 'bad-5');
    v5.write(Buffer.from([0x80, 0x03, 0x00, 0x01, 0x00])); // SUBSCRIBE with reserved flags 0000 (§3.8.1)
    await v5.closed;
    assert.equal(disconnectReason(v5.packets), 0x81);
    const v4 = await connected(4, 'bad-4');
    v4.write(Buffer.from([0x80, 0x03, 0x00, 0x01, 0x00]));
    await v4.closed;
    assert.equal(disconnectReason(v4.packets), undefined);
    const ok = await connect(server.url);
    await closeAll(ok);
  });

  test('random and mutated bytes never take the broker down', async () => {
    const valid = mqttPacket.generate(
      {
        cmd: 'publish',
        topic: 'fuzz/t',
        payload: Buffer.from('p'),
        qos: 1,
        messageId: 1,
        retain: false,
        dup: false,
      },
      { protocolVersion: 5 },
    );
    for (let round = 0; round < 30; round++) {
      const raw = await connected(round % 2 === 0 ? 5 : 4, `fuzz-${round}`);
      const mutated = Buffer.from(valid);
      for (let i = 0; i < 3; i++)
        mutated[Math.floor(Math.random() * mutated.length)] = Math.floor(Math.random() * 256);
      raw.write(round % 3 === 0 ? randomBytes(1 + (round % 40)) : mutated);
      raw.end();
    }
    const ok = await connect(server.url, { protocolVersion: 5 });
    await ok.publishAsync('fuzz/ok', 'alive', { qos: 1 });
    await closeAll(ok);
  });

  test('packet too large: DISCONNECT 0x95', async () => {
    const raw = await connected(5, 'big');
    raw.send({
      cmd: 'publish',
      topic: 'big/t',
      payload: Buffer.alloc(2000),
      qos: 0,
      retain: false,
      dup: false,
    });
    await raw.closed;
    assert.equal(disconnectReason(raw.packets), 0x95);
  });

  test('topic levels: SUBACK 0x8F (v5) / 0x80 (3.1.1) and DISCONNECT 0x90 on PUBLISH', async () => {
    const v5 = await connect(server.url, { protocolVersion: 5 });
    const v4 = await connect(server.url);
    try {
      await assert.rejects(v5.subscribeAsync('a/b/c/d/e'), (err: Error) =>
        /Topic Filter invalid/.test(err.message),
      );
      await assert.rejects(v4.subscribeAsync('a/b/c/d/e'), (err: Error) =>
        /Unspecified error/.test(err.message),
      );
    } finally {
      await closeAll(v5, v4);
    }
    const raw = await connected(5, 'deep');
    raw.send({
      cmd: 'publish',
      topic: 'a/b/c/d/e',
      payload: Buffer.from('x'),
      qos: 0,
      retain: false,
      dup: false,
    });
    await raw.closed;
    assert.equal(disconnectReason(raw.packets), 0x90);
  });

  test('our receive maximum: one QoS 2 publish too many gets DISCONNECT 0x93', async () => {
    const raw = await connected(5, 'greedy');
    for (let id = 1; id <= 4; id++) {
      raw.send({
        cmd: 'publish',
        topic: 'rm/t',
        payload: Buffer.from('x'),
        qos: 2,
        messageId: id,
        retain: false,
        dup: false,
      });
    }
    await raw.closed;
    assert.equal(disconnectReason(raw.packets), 0x93);
  });

  test('3.1.1 has no receive maximum: a burst past ours is slowed by back-pressure, never dropped', async () => {
    const raw = await connected(4, 'burst');
    const publishes = 50;
    const bytes = Buffer.concat(
      Array.from({ length: publishes }, (_, i) =>
        mqttPacket.generate({
          cmd: 'publish',
          topic: 'burst/t',
          payload: Buffer.from(`m${i}`),
          qos: 1,
          messageId: i + 1,
          retain: false,
          dup: false,
        }),
      ),
    );
    raw.write(bytes);
    await raw.expect((p) => p.cmd === 'puback' && p.messageId === publishes);
    const acked = raw.packets
      .filter((p) => p.cmd === 'puback')
      .map((p) => (p as { messageId: number }).messageId);
    assert.deepEqual(
      acked,
      Array.from({ length: publishes }, (_, i) => i + 1),
      'every publish acknowledged, in order',
    );
    assert.equal(raw.isClosed(), false);
    raw.end();
  });

  test('a client that sends DISCONNECT and never closes holds no socket of the broker (MQTT-3.14.4-1)', async (t) => {
    if (!existsSync('/proc/self/fd')) return t.skip('needs /proc');
    // The broker runs in this process: its sockets are this process's descriptors.
    const descriptors = () => readdirSync('/proc/self/fd').length;
    const lingering = 20;
    const sockets: Socket[] = [];
    try {
      const before = descriptors();
      for (let i = 0; i < lingering; i++) {
        const socket = createConnection({ host: '127.0.0.1', port: server.port, allowHalfOpen: true });
        socket.on('error', () => {});
        sockets.push(socket);
        await once(socket, 'connect');
        socket.write(
          mqttPacket.generate({
            cmd: 'connect',
            protocolVersion: 4,
            clientId: `linger-${i}`,
            clean: true,
            keepalive: 30,
          }),
        );
        await once(socket, 'data');
        // DISCONNECT, then the client keeps its end open (allowHalfOpen) and reads the broker's end.
        const ended = once(socket, 'end');
        socket.write(Buffer.from([0xe0, 0]));
        await ended;
      }
      // Each client's own socket is a descriptor here too; the broker's side of each is gone.
      assert.ok(descriptors() - before <= lingering + 2, `${descriptors() - before} descriptors held`);
    } finally {
      for (const socket of sockets) socket.destroy();
    }
  });

  test('maximum connections: CONNACK 0x97 (v5) and return code 3 (3.1.1) beyond the limit', async () => {
    const held = [];
    for (let i = 0; i < 40; i++) held.push(await rawClient(server.port, 4));
    try {
      const v5 = await rawClient(server.port, 5);
      const refused = (await v5.connect('one-too-many')) as { reasonCode?: number };
      assert.equal(refused.reasonCode, 0x97);
      const v4 = await rawClient(server.port, 4);
      const refused4 = (await v4.connect('one-too-many-4')) as { returnCode?: number };
      assert.equal(refused4.returnCode, 3);
    } finally {
      for (const raw of held) raw.end();
    }
  });
});

describe('receive maximum and QoS 2 ids awaiting PUBREL', () => {
  test('our receive maximum counts a QoS 2 publish once: as many as it allows, sent at once, are all PUBRECed', async () => {
    const raw = await connected(5, 'exact');
    // Receive Maximum 3 here; each id stays unacknowledged until PUBCOMP (no PUBREL is sent).
    for (let id = 1; id <= 3; id++) raw.send(qos2Publish(id));
    await raw.expect((p) => p.cmd === 'pubrec' && p.messageId === 3);
    assert.equal(raw.isClosed(), false, 'not closed for a receive maximum it kept');
    raw.end();
  });

  test('3.1.1 has no receive maximum: QoS 2 publishes awaiting PUBREL past ours never close it', async () => {
    const raw = await connected(4, 'burst2');
    const publishes = 20;
    raw.write(
      Buffer.concat(Array.from({ length: publishes }, (_, i) => mqttPacket.generate(qos2Publish(i + 1)))),
    );
    await raw.expect((p) => p.cmd === 'pubrec' && p.messageId === publishes);
    assert.equal(raw.isClosed(), false);
    raw.end();
  });
});

function qos2Publish(id: number) {
  return {
    cmd: 'publish',
    topic: 'rm2/t',
    payload: Buffer.from(`m${id}`),
    qos: 2,
    messageId: id,
    retain: false,
    dup: false,
  } as const;
}
