/**
 * Byte-exact method and property round trips. Expected bytes are written out by hand from the spec
 * (4.2.5 data types, 4.2.5.2 bit packing, 4.2.6.1 property flags), not produced by the encoder.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AmqpCodecError } from '../../src/protocols/amqp/codec/errors.js';
import { Tagged } from '../../src/protocols/amqp/codec/field-table.js';
import {
  type BasicProperties,
  decodeMethod,
  decodeProperties,
  encodeMethod,
  encodeProperties,
  hardErrorCodes,
  type Method,
  methodInfo,
  ReplyCode,
  replyCodeNames,
} from '../../src/protocols/amqp/codec/generated.js';

import { bytes, lstr, type Part, sstr, u16, u32, u64 } from '../../testing/amqp-bytes.js';

const utf8 = new TextEncoder();

const id = (classId: number, methodId: number): Part => [u16(classId), u16(methodId)];

function roundTrip(method: Method, expected: Uint8Array): void {
  assert.deepEqual(encodeMethod(method), expected, `${method.name} encodes as spelled out`);
  assert.deepStrictEqual(decodeMethod(expected), method, `${method.name} decodes back`);
}

function codecError(replyCode: number, classId?: number, methodId?: number) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof AmqpCodecError, `expected AmqpCodecError, got ${String(err)}`);
    assert.equal(err.replyCode, replyCode, err.message);
    if (classId !== undefined) assert.equal(err.classId, classId);
    if (methodId !== undefined) assert.equal(err.methodId, methodId);
    return true;
  };
}

describe('connection and channel methods round-trip byte-exactly', () => {
  test('connection.start with a nested capabilities table', () => {
    const capabilities = [sstr('publisher_confirms'), 't', 1];
    const capabilitiesBytes = bytes(capabilities).byteLength;
    const entry = [sstr('capabilities'), 'F', u32(capabilitiesBytes), capabilities];
    roundTrip(
      {
        name: 'connection.start',
        fields: {
          versionMajor: 0,
          versionMinor: 9,
          serverProperties: { capabilities: { publisher_confirms: true } },
          mechanisms: utf8.encode('PLAIN AMQPLAIN'),
          locales: utf8.encode('en_US'),
        },
      },
      bytes(id(10, 10), 0, 9, u32(bytes(entry).byteLength), entry, lstr('PLAIN AMQPLAIN'), lstr('en_US')),
    );
  });

  test('connection.start-ok carries a binary SASL response', () => {
    const entry = [sstr('product'), 'S', lstr('x')];
    roundTrip(
      {
        name: 'connection.start-ok',
        fields: {
          clientProperties: { product: 'x' },
          mechanism: 'PLAIN',
          response: bytes(0, 'guest', 0, 'guest'),
          locale: 'en_US',
        },
      },
      bytes(id(10, 11), u32(14), entry, sstr('PLAIN'), u32(12), 0, 'guest', 0, 'guest', sstr('en_US')),
    );
  });

  test('connection.tune', () => {
    roundTrip(
      { name: 'connection.tune', fields: { channelMax: 2047, frameMax: 131072, heartbeat: 60 } },
      bytes(id(10, 30), 0x07, 0xff, 0x00, 0x02, 0x00, 0x00, 0x00, 0x3c),
    );
  });

  test('connection.close', () => {
    roundTrip(
      {
        name: 'connection.close',
        fields: { replyCode: 320, replyText: 'CONNECTION_FORCED - bye', classId: 0, methodId: 0 },
      },
      bytes(id(10, 50), u16(320), sstr('CONNECTION_FORCED - bye'), u16(0), u16(0)),
    );
  });

  test('channel.open-ok with an empty long string', () => {
    roundTrip(
      { name: 'channel.open-ok', fields: { channelId: new Uint8Array() } },
      bytes(id(20, 11), u32(0)),
    );
  });
});

describe('exchange and queue methods round-trip byte-exactly', () => {
  test('exchange.declare packs five bits into one octet, low bit first', () => {
    const args = [sstr('alternate-exchange'), 'S', lstr('ae')];
    roundTrip(
      {
        name: 'exchange.declare',
        fields: {
          ticket: 0,
          exchange: 'orders',
          type: 'topic',
          passive: false,
          durable: true,
          autoDelete: false,
          internal: true,
          noWait: true,
          arguments: { 'alternate-exchange': 'ae' },
        },
      },
      // durable (bit 1) + internal (bit 3) + no-wait (bit 4) = 0b11010
      bytes(id(40, 10), u16(0), sstr('orders'), sstr('topic'), 0b11010, u32(bytes(args).byteLength), args),
    );
  });

  test('queue.declare with an arguments table', () => {
    const args = [sstr('x-message-ttl'), 'I', u32(60000), sstr('x-queue-type'), 'S', lstr('classic')];
    roundTrip(
      {
        name: 'queue.declare',
        fields: {
          ticket: 0,
          queue: 'jobs',
          passive: false,
          durable: true,
          exclusive: false,
          autoDelete: true,
          noWait: false,
          arguments: { 'x-message-ttl': 60000, 'x-queue-type': 'classic' },
        },
      },
      bytes(id(50, 10), u16(0), sstr('jobs'), 0b01010, u32(44), args),
    );
  });

  test('queue.declare-ok', () => {
    roundTrip(
      { name: 'queue.declare-ok', fields: { queue: 'amq.gen-1', messageCount: 3, consumerCount: 1 } },
      bytes(id(50, 11), sstr('amq.gen-1'), u32(3), u32(1)),
    );
  });
});

describe('basic, tx and confirm methods round-trip byte-exactly', () => {
  test('basic.qos', () => {
    roundTrip(
      { name: 'basic.qos', fields: { prefetchSize: 0, prefetchCount: 10, global: true } },
      bytes(id(60, 10), u32(0), u16(10), 1),
    );
  });

  test('basic.consume with a consumer priority argument', () => {
    const args = [sstr('x-priority'), 'I', u32(5)];
    roundTrip(
      {
        name: 'basic.consume',
        fields: {
          ticket: 0,
          queue: 'jobs',
          consumerTag: '',
          noLocal: false,
          noAck: true,
          exclusive: false,
          noWait: false,
          arguments: { 'x-priority': 5 },
        },
      },
      bytes(id(60, 20), u16(0), sstr('jobs'), sstr(''), 0b0010, u32(bytes(args).byteLength), args),
    );
  });

  test('basic.publish', () => {
    roundTrip(
      {
        name: 'basic.publish',
        fields: { ticket: 0, exchange: 'amq.topic', routingKey: 'a.b', mandatory: true, immediate: false },
      },
      bytes(id(60, 40), u16(0), sstr('amq.topic'), sstr('a.b'), 1),
    );
  });

  test('basic.deliver with a delivery tag above 2^32', () => {
    const deliveryTag = 2 ** 40 + 5;
    roundTrip(
      {
        name: 'basic.deliver',
        fields: { consumerTag: 'ctag-1', deliveryTag, redelivered: true, exchange: '', routingKey: 'rk' },
      },
      bytes(id(60, 60), sstr('ctag-1'), u64(BigInt(deliveryTag)), 1, sstr(''), sstr('rk')),
    );
  });

  test('basic.ack with multiple', () => {
    roundTrip(
      { name: 'basic.ack', fields: { deliveryTag: 7, multiple: true } },
      bytes(id(60, 80), u64(7n), 1),
    );
  });

  test('basic.nack packs multiple and requeue', () => {
    roundTrip(
      { name: 'basic.nack', fields: { deliveryTag: 9, multiple: false, requeue: true } },
      bytes(id(60, 120), u64(9n), 0b10),
    );
  });

  test('methods without arguments: tx.select, confirm.select-ok', () => {
    roundTrip({ name: 'tx.select', fields: {} }, bytes(id(90, 10)));
    roundTrip({ name: 'confirm.select-ok', fields: {} }, bytes(id(85, 11)));
  });

  test('confirm.select and the RabbitMQ extensions keep their ids', () => {
    roundTrip({ name: 'confirm.select', fields: { noWait: false } }, bytes(id(85, 10), 0));
    assert.deepEqual(methodInfo['exchange.unbind-ok'], {
      classId: 40,
      methodId: 51,
      synchronous: false,
      content: false,
    });
    assert.equal(methodInfo['basic.publish'].content, true);
    assert.equal(methodInfo['queue.declare'].synchronous, true);
  });
});

describe('method decoding refuses bad input', () => {
  test('unknown class or method is 540 NOT_IMPLEMENTED with the ids', () => {
    assert.throws(() => decodeMethod(bytes(id(99, 10))), codecError(540, 99, 10));
    assert.throws(() => decodeMethod(bytes(id(50, 99))), codecError(540, 50, 99));
  });

  test('truncated arguments are 502 SYNTAX_ERROR naming the method', () => {
    const full = encodeMethod({ name: 'basic.ack', fields: { deliveryTag: 1, multiple: false } });
    for (let cut = 0; cut < full.byteLength; cut++) {
      assert.throws(() => decodeMethod(full.subarray(0, cut)), codecError(502));
    }
    assert.throws(() => decodeMethod(full.subarray(0, 6)), codecError(502, 60, 80));
  });

  test('trailing bytes are 502', () => {
    assert.throws(() => decodeMethod(bytes(id(90, 10), 0)), codecError(502, 90, 10));
  });

  test('invalid UTF-8 in a short string is 502', () => {
    assert.throws(() => decodeMethod(bytes(id(60, 30), 1, 0xff, 0)), codecError(502, 60, 30));
  });

  test('a delivery tag above 2^53 - 1 is refused, not rounded', () => {
    assert.throws(() => decodeMethod(bytes(id(60, 80), u64(2n ** 53n), 0)), codecError(502));
  });
});

describe('method encoding refuses values the wire cannot carry', () => {
  test('short string over 255 bytes', () => {
    const queue = 'é'.repeat(128);
    const method: Method = { name: 'queue.purge', fields: { ticket: 0, queue, noWait: false } };
    assert.throws(() => encodeMethod(method), codecError(502));
    const fits: Method = {
      name: 'queue.purge',
      fields: { ticket: 0, queue: 'q'.repeat(255), noWait: false },
    };
    assert.equal(encodeMethod(fits).byteLength, 4 + 2 + 256 + 1);
  });

  test('integers out of range or not integers', () => {
    const tune = (channelMax: number, frameMax: number): Method => ({
      name: 'connection.tune',
      fields: { channelMax, frameMax, heartbeat: 0 },
    });
    assert.throws(() => encodeMethod(tune(70000, 0)), codecError(502));
    assert.throws(() => encodeMethod(tune(1.5, 0)), codecError(502));
    assert.throws(() => encodeMethod(tune(0, -1)), codecError(502));
    assert.throws(() => encodeMethod(tune(0, 2 ** 32)), codecError(502));
  });
});

describe('content properties', () => {
  test('all fourteen properties, flags 0xfffc, byte-exact', () => {
    const properties: BasicProperties = {
      contentType: 'text/plain',
      contentEncoding: 'gzip',
      headers: { a: 1 },
      deliveryMode: 2,
      priority: 9,
      correlationId: 'c1',
      replyTo: 'r',
      expiration: '60000',
      messageId: 'm',
      timestamp: 1_700_000_000,
      type: 't',
      userId: 'guest',
      appId: 'app',
      clusterId: '',
    };
    const expected = bytes(
      0xff,
      0xfc,
      sstr('text/plain'),
      sstr('gzip'),
      u32(7),
      sstr('a'),
      'I',
      u32(1),
      2,
      9,
      sstr('c1'),
      sstr('r'),
      sstr('60000'),
      sstr('m'),
      u64(1_700_000_000n),
      sstr('t'),
      sstr('guest'),
      sstr('app'),
      sstr(''),
    );
    assert.deepEqual(encodeProperties(properties), expected);
    assert.deepStrictEqual(decodeProperties(expected), properties);
  });

  test('no properties is a zero flags short', () => {
    assert.deepEqual(encodeProperties({}), bytes(0, 0));
    assert.deepStrictEqual(decodeProperties(bytes(0, 0)), {});
  });

  test('a sparse set keeps the spec order', () => {
    const properties: BasicProperties = { deliveryMode: 1, clusterId: 'c' };
    const expected = bytes(0x10, 0x04, 1, sstr('c'));
    assert.deepEqual(encodeProperties(properties), expected);
    assert.deepStrictEqual(decodeProperties(expected), properties);
  });

  test('headers keep non-default tags through a round trip', () => {
    const properties: BasicProperties = { headers: { n: new Tagged('s', -2), big: 2n ** 60n } };
    assert.deepStrictEqual(decodeProperties(encodeProperties(properties)), properties);
  });

  test('continuation or unused flag bits, truncation and trailing bytes are 502', () => {
    assert.throws(() => decodeProperties(bytes(0x00, 0x01)), codecError(502));
    assert.throws(() => decodeProperties(bytes(0x00, 0x02)), codecError(502));
    assert.throws(() => decodeProperties(bytes(0x80, 0x00, 5, 'ab')), codecError(502));
    assert.throws(() => decodeProperties(bytes(0x00, 0x00, 0)), codecError(502));
  });
});

describe('constants', () => {
  test('reply codes, names and classes follow the spec', () => {
    assert.equal(ReplyCode.notFound, 404);
    assert.equal(ReplyCode.frameError, 501);
    assert.equal(replyCodeNames[406], 'PRECONDITION_FAILED');
    assert.ok(hardErrorCodes.has(540));
    assert.ok(!hardErrorCodes.has(404));
  });
});
