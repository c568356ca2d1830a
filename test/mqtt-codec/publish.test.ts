/**
 * PUBLISH encoding and decoding (src/protocols/mqtt/codec/publish.ts, wellformed.ts): what the broker
 * writes, `mqtt-packet` (an independent decoder) reads the same; what a client sends, the broker reads
 * with its User Properties in order; malformed property blocks are refused before anything is routed.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { describe, test } from 'node:test';
import type { IPublishPacket } from 'mqtt-packet';
import { readHeader } from '../../src/protocols/mqtt/codec/framing.js';
import { encodePublish, type OutgoingPublish } from '../../src/protocols/mqtt/codec/publish.js';
import { checkPacket, type PublishIn, type Violation } from '../../src/protocols/mqtt/codec/wellformed.js';
import { parseOnePacket } from '../../testing/mqtt-packets.js';

function parseWithMqttPacket(bytes: Buffer, protocolVersion: 4 | 5): IPublishPacket {
  return parseOnePacket(bytes, protocolVersion) as IPublishPacket;
}

function check(bytes: Buffer, version: 4 | 5): Violation | PublishIn | undefined {
  const header = readHeader(bytes);
  assert.ok(typeof header === 'object');
  return checkPacket(bytes, header.headerBytes, version);
}

const publish: OutgoingPublish = {
  topic: 'a/b/ç',
  payload: Buffer.from('payload'),
  qos: 2,
  retain: true,
  dup: true,
  packetId: 513,
  properties: {
    userProperties: [
      ['a', '1'],
      ['b', 'two'],
      ['a', '3'],
    ],
    contentType: 'text/plain',
    correlationData: Buffer.from([0, 0xff]),
    subscriptionIdentifiers: [2, 300],
    messageExpiryInterval: 9,
  },
};

describe('PUBLISH codec', () => {
  test('v5: mqtt-packet reads what the broker writes', () => {
    const parsed = parseWithMqttPacket(encodePublish(publish, 5), 5);
    assert.equal(parsed.topic, publish.topic);
    assert.equal(parsed.payload.toString(), 'payload');
    assert.deepEqual([parsed.qos, parsed.retain, parsed.dup, parsed.messageId], [2, true, true, 513]);
    assert.equal(parsed.properties?.contentType, 'text/plain');
    assert.deepEqual(parsed.properties?.subscriptionIdentifier, [2, 300]);
    assert.deepEqual({ ...parsed.properties?.userProperties }, { a: ['1', '3'], b: 'two' });
  });

  test('3.1.1: the same packet without properties; QoS 0 carries no packet id', () => {
    const { properties: _none, ...plain } = publish;
    const parsed = parseWithMqttPacket(encodePublish(plain, 4), 4);
    assert.deepEqual([parsed.topic, parsed.qos, parsed.messageId], [publish.topic, 2, 513]);
    const qos0 = encodePublish({ topic: 't', payload: Buffer.from('x'), qos: 0, retain: false }, 4);
    assert.deepEqual([...qos0], [0x30, 4, 0, 1, 0x74, 0x78]);
  });

  test('a client PUBLISH decodes with its User Properties in the order sent, repeats kept', () => {
    const { subscriptionIdentifiers: _serverOnly, ...fromClient } = publish.properties!;
    const bytes = encodePublish({ ...publish, properties: fromClient }, 5);
    const decoded = check(bytes, 5) as PublishIn;
    assert.equal(decoded.cmd, 'publish');
    assert.deepEqual(decoded.properties?.userProperties, fromClient.userProperties);
    assert.equal(decoded.payload.toString(), 'payload');
  });

  test('a property block that runs into the payload is malformed, not a shorter payload', () => {
    // Property Length 1 holding only the Payload Format Indicator's identifier, then "payload".
    const bytes = Buffer.from([
      0x32,
      0x11,
      0,
      5,
      ...Buffer.from('topic'),
      0x12,
      0x34,
      0x01,
      0x01,
      ...Buffer.from('payload'),
    ]);
    assert.deepEqual(check(bytes, 5), {
      reason: 0x81,
      message: 'payloadFormatIndicator cut short',
    });
  });

  test('a client may not send a Subscription Identifier [MQTT-3.3.4-6] nor an empty topic without an alias', () => {
    const withId = encodePublish({ ...publish, properties: { subscriptionIdentifiers: [1] } }, 5);
    assert.equal((check(withId, 5) as Violation).reason, 0x82);
    const noTopic = encodePublish({ ...publish, topic: '', properties: {} }, 5);
    assert.equal((check(noTopic, 5) as Violation).reason, 0x82);
    const aliased = encodePublish({ ...publish, topic: '', properties: { topicAlias: 1 } }, 5);
    assert.equal((check(aliased, 5) as PublishIn).properties?.topicAlias, 1);
  });

  test('random bytes never throw: a PUBLISH is decoded or refused', () => {
    let seed = 99;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed;
    };
    const { subscriptionIdentifiers: _serverOnly, ...fromClient } = publish.properties!;
    const base = encodePublish({ ...publish, properties: fromClient }, 5);
    for (let round = 0; round < 5000; round++) {
      const bytes = Buffer.from(base);
      for (let k = 0; k < 1 + (round % 3); k++) bytes[2 + (rand() % (bytes.length - 2))] = rand() % 256;
      const result = check(bytes, 5);
      assert.ok(result !== undefined);
      if ('reason' in result) assert.ok(result.reason === 0x81 || result.reason === 0x82);
      else assert.equal(result.cmd, 'publish');
    }
  });
});

describe('PUBLISH topic names read message after message', () => {
  test('each PUBLISH reads as its own topic, whether the topic repeats, alternates or differs by a byte', () => {
    const topics = [
      'a/b',
      'a/b',
      'a/c',
      'a/b',
      'ç/é',
      'ç/é',
      'a/b',
      'a/bb',
      'a/b',
      'x'.repeat(300),
      'x'.repeat(300),
    ];
    for (const topic of topics) {
      const bytes = encodePublish({ topic, payload: Buffer.from(topic), qos: 0, retain: false }, 4);
      const packet = check(bytes, 4) as PublishIn;
      assert.equal(packet.topic, topic);
      assert.equal(packet.payload.toString(), topic);
    }
  });

  test('a topic name refused once is refused again after a valid one', () => {
    const bad = Buffer.from([0x30, 6, 0, 2, 0x61, 0x00, 0x62, 0x63]);
    const good = encodePublish({ topic: 'a', payload: Buffer.from('bc'), qos: 0, retain: false }, 4);
    for (const bytes of [bad, good, bad]) {
      const packet = check(bytes, 4);
      if (bytes === good) assert.equal((packet as PublishIn).topic, 'a');
      else assert.ok(packet !== undefined && 'reason' in packet, 'a NUL in a topic name is refused');
    }
  });
});
