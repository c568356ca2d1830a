import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  decodeEnvelope,
  decodeMessage,
  encodeMessage,
  MessageEncoder,
  messageCodecVersion,
} from '../../src/core/message-codec.js';
import { type HeaderList, headerValue, type Message, TypedNumber } from '../../src/core/types.js';
import { isBrokerError } from '../../src/shared/errors.js';

const full: Message = {
  exchange: 'amq.topic',
  routingKey: 'a.b.ç',
  body: new Uint8Array([0, 1, 2, 255]),
  properties: {
    contentType: 'application/json',
    contentEncoding: 'gzip',
    persistent: true,
    priority: 7,
    correlationId: 'c-1',
    replyTo: 'amq.rabbitmq.reply-to',
    expirationMs: 1500,
    messageId: 'm-1',
    timestamp: 1_700_000_000_000,
    type: 'order',
    userId: 'guest',
    appId: 'app',
    qos: 2,
    retain: true,
    publisherId: 'client-7',
    expiresAtMs: 1_700_000_001_500,
    correlationData: new Uint8Array([0xff, 0x00, 0xc3]),
    textBody: true,
    delayMs: 250,
    receiveLimit: 3,
    receiveLimitQueue: 'dead',
    deadLetteredFrom: 'source',
    key: new Uint8Array([107, 0, 255]),
    replay: { routingKey: 'a.b', subscription: 'a/+' },
    headers: [
      ['s', 'text'],
      ['n', -1.5],
      ['i', 42],
      ['s', 'the same name again'],
      ['big', -(2n ** 70n)],
      ['t', true],
      ['f', false],
      ['z', null],
      ['bytes', new Uint8Array([9, 8, 7])],
      ['when', new Date(1_600_000_000_123)],
      ['list', [1, 'two', [3, { four: 4 }], null]],
      ['nested', { a: { b: { c: [] } } }],
      ['__proto__', 'plain key'],
      ['', 'empty name'],
      [
        'typed',
        [
          new TypedNumber('int8', -128),
          new TypedNumber('uint8', 255),
          new TypedNumber('int16', -2),
          new TypedNumber('uint16', 65_535),
          new TypedNumber('int32', 7),
          new TypedNumber('uint32', 4_000_000_000),
          new TypedNumber('int64', 1),
          new TypedNumber('int64', -(2n ** 63n)),
          new TypedNumber('float32', 1.1),
          new TypedNumber('float64', -0),
          new TypedNumber('float64', Number.NaN),
          new TypedNumber('decimal', 125, 2),
        ],
      ],
      ['deep', { count: new TypedNumber('int64', 3), ['__proto__']: 1 }],
      ['s', 'third, after others'],
    ],
  },
};

test('every property and header kind survives a round trip, headers in order with repeated names', () => {
  const decoded = decodeMessage(encodeMessage(full));
  assert.equal(decoded.envelope, undefined);
  assert.deepEqual(decoded.message.properties, full.properties);
  assert.deepEqual([...decoded.message.body], [...full.body]);
  assert.equal(decoded.message.exchange, full.exchange);
  assert.equal(decoded.message.routingKey, full.routingKey);
});

test('the envelope round-trips, with and without optional fields', () => {
  const envelope = { enqueuedAtMs: 5, expiresAtMs: 10, readyAtMs: 7, deliveryCount: 300 };
  const bytes = encodeMessage(full, envelope);
  assert.equal(bytes[0], messageCodecVersion);
  assert.deepEqual(decodeMessage(bytes).envelope, envelope);
  assert.deepEqual(decodeEnvelope(bytes), envelope);
  const minimal = { enqueuedAtMs: 1, deliveryCount: 0 };
  assert.deepEqual(decodeEnvelope(encodeMessage(full, minimal)), minimal);
});

test('the reusing encoder writes the same bytes as encodeMessage, for small, large and header-heavy messages', () => {
  const encoder = new MessageEncoder();
  const envelope = { enqueuedAtMs: 5, expiresAtMs: 10, deliveryCount: 1 };
  const large = { ...full, body: new Uint8Array(100_000).fill(7) };
  const manyHeaders: HeaderList = Array.from({ length: 2000 }, (_, i) => [`h${i}`, 'v'.repeat(40)]);
  const heavy = { ...full, properties: { ...full.properties, headers: manyHeaders } };
  for (const message of [full, large, heavy, full]) {
    // Compared before the next encode: the result is valid only until then.
    assert.deepEqual([...encoder.encode(message, envelope)], [...encodeMessage(message, envelope)]);
  }
});

test('an empty message is small', () => {
  const bytes = encodeMessage({ exchange: '', routingKey: '', body: new Uint8Array(0), properties: {} });
  assert.ok(bytes.length <= 9);
  assert.deepEqual(decodeMessage(bytes).message.properties, {});
});

test('truncated or altered input is refused as storage corruption, never returned', () => {
  const bytes = encodeMessage(full, { enqueuedAtMs: 1, deliveryCount: 0 });
  for (let cut = 0; cut < bytes.length; cut++) {
    assert.throws(
      () => decodeMessage(bytes.subarray(0, cut)),
      (e) => isBrokerError(e, 'storage_corrupt'),
    );
  }
  const badVersion = bytes.slice();
  badVersion[0] = 99;
  assert.throws(
    () => decodeMessage(badVersion),
    (e) => isBrokerError(e, 'storage_corrupt'),
  );
});

test('random bytes never crash the decoder with anything but a BrokerError', () => {
  let seed = 12345;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed;
  };
  const base = encodeMessage(full);
  for (let round = 0; round < 2000; round++) {
    const bytes = base.slice();
    for (let k = 0; k < 3; k++) bytes[rand() % bytes.length] = rand() % 256;
    try {
      decodeMessage(bytes);
    } catch (e) {
      assert.ok(isBrokerError(e), String(e));
    }
  }
});

test('headers nested beyond the limit are refused on encode', () => {
  let deep: Record<string, unknown> = { leaf: 1 };
  for (let i = 0; i < 100; i++) deep = { d: deep };
  const message: Message = {
    exchange: '',
    routingKey: '',
    body: new Uint8Array(),
    properties: { headers: [['deep', deep as never]] },
  };
  assert.throws(
    () => encodeMessage(message),
    (e) => isBrokerError(e, 'invalid_argument'),
  );
});

test('typed numbers come back as typed numbers of the same type, value and scale', () => {
  const decoded = decodeMessage(encodeMessage(full)).message.properties.headers!;
  const typed = headerValue(decoded, 'typed') as TypedNumber[];
  assert.ok(typed.every((v) => v instanceof TypedNumber));
  assert.deepEqual(
    typed.map((v) => [v.type, v.value, v.scale]),
    (headerValue(full.properties.headers, 'typed') as TypedNumber[]).map((v) => [v.type, v.value, v.scale]),
  );
});

test('entries of the 0.1 formats (versions 1 and 2) are refused as corrupt, never misread', () => {
  const bytes = encodeMessage(full).slice();
  for (const old of [1, 2]) {
    bytes[0] = old;
    assert.throws(
      () => decodeMessage(bytes),
      (e) => isBrokerError(e, 'storage_corrupt'),
    );
  }
});

test('a header list is written as count, then name and tagged value each, in order', () => {
  const headers: HeaderList = [
    ['a', '1'],
    ['b', 'two'],
    ['a', '3'],
  ];
  const bytes = encodeMessage({
    exchange: '',
    routingKey: '',
    body: new Uint8Array(),
    properties: { headers },
  });
  // version, flags, exchange '', routing key '', u32 presence (bit 2: headers), then the list.
  assert.deepEqual([...bytes.subarray(0, 8)], [3, 0, 0, 0, 0b100, 0, 0, 0]);
  const list = [3, 1, 0x61, 3, 1, 0x31, 1, 0x62, 3, 3, 0x74, 0x77, 0x6f, 1, 0x61, 3, 1, 0x33];
  assert.deepEqual([...bytes.subarray(8, 8 + list.length)], list);
  assert.deepEqual([...bytes.subarray(8 + list.length)], [0], 'then the empty body');
});
