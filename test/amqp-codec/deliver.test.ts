/** The consumer hot path writes the same bytes as the generic content encoder (spec 4.2.6). */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { deliveryBytes, writeDelivery } from '../../src/protocols/amqp/codec/deliver.js';
import { AmqpCodecError } from '../../src/protocols/amqp/codec/errors.js';
import { decodeContentHeader, encodeContent, parseFrames } from '../../src/protocols/amqp/codec/frame.js';
import {
  type BasicProperties,
  decodeMethod,
  encodeMethod,
  encodeProperties,
  FrameType,
} from '../../src/protocols/amqp/codec/generated.js';

const utf8 = new TextEncoder();

/** A seeded generator, so a failure names a case that can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 0x1_0000_0000;
  };
}

const words = ['', 'q', 'amq.topic', 'orders.eu.créé', 'ключ', 'a'.repeat(255)];
const propertyCases: BasicProperties[] = [
  {},
  { contentType: 'text/plain', deliveryMode: 2 },
  {
    headers: { n: 1, s: 'x', nested: { b: true } },
    priority: 5,
    correlationId: 'c-1',
    timestamp: 1_700_000_000,
  },
];

function generic(
  tag: string,
  fields: { deliveryTag: number; redelivered: boolean; exchange: string; routingKey: string },
  properties: BasicProperties,
  body: Uint8Array,
  frameBytesMax: number,
): Uint8Array {
  return encodeContent(
    1,
    { name: 'basic.deliver', fields: { consumerTag: tag, ...fields } },
    properties,
    body,
    frameBytesMax,
  );
}

describe('basic.deliver fast path', () => {
  test('matches encodeContent byte for byte across tags, keys, properties and body sizes', () => {
    const next = random(7);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
    for (let i = 0; i < 300; i++) {
      const frameBytesMax = pick([4096, 8192, 131072]);
      const tag = pick(['amq.ctag-1', 'consumer', 'ü'.repeat(100)]);
      const exchange = pick(words);
      const routingKey = pick(words);
      const properties = pick(propertyCases);
      const body = new Uint8Array(pick([0, 1, 4087, 4088, 4089, 20_000])).map(() => Math.floor(next() * 256));
      const fields = {
        deliveryTag: pick([1, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER]),
        redelivered: next() < 0.5,
        exchange,
        routingKey,
      };
      const shape = {
        consumerTag: utf8.encode(tag),
        exchange: utf8.encode(exchange),
        routingKey: utf8.encode(routingKey),
        properties: encodeProperties(properties),
        bodyBytes: body.byteLength,
      };
      const size = deliveryBytes(shape, frameBytesMax);
      assert.ok(size > 0, `case ${i} takes the fast path`);
      const out = Buffer.alloc(size + 16);
      const end = writeDelivery(
        out,
        16,
        1,
        shape,
        fields.deliveryTag,
        fields.redelivered,
        body,
        frameBytesMax,
      );
      assert.equal(end - 16, size, `case ${i}: size as announced`);
      assert.deepEqual(
        new Uint8Array(out.subarray(16, end)),
        generic(tag, fields, properties, body, frameBytesMax),
        `case ${i}`,
      );
    }
  });

  test('declines what the fast form cannot carry, leaving the error to the generic encoder', () => {
    const shape = {
      consumerTag: utf8.encode('c'),
      exchange: new Uint8Array(256),
      routingKey: new Uint8Array(1),
      properties: new Uint8Array(2),
      bodyBytes: 0,
    };
    assert.equal(deliveryBytes(shape, 4096), -1);
    const big = { ...shape, exchange: new Uint8Array(1), properties: new Uint8Array(5000) };
    assert.equal(deliveryBytes(big, 4096), -1);
  });
});

describe('basic.publish, basic.ack and simple content headers fast decode', () => {
  /** Decodes with the generic decoders only: the answer the fast path must give. */
  function genericFrame(type: number, payload: Uint8Array): unknown {
    try {
      if (type === FrameType.method) return decodeMethod(payload);
      const { classId, bodySize, properties } = decodeContentHeader(payload);
      return { classId, bodySize, properties };
    } catch (err) {
      return err instanceof AmqpCodecError ? 'error' : err;
    }
  }

  function parsedFrame(type: number, payload: Uint8Array): unknown {
    const frame = new Uint8Array(payload.byteLength + 8);
    frame[0] = type;
    new DataView(frame.buffer).setUint32(3, payload.byteLength);
    frame.set(payload, 7);
    frame[frame.byteLength - 1] = 0xce;
    try {
      const parsed = parseFrames(frame, 1 << 20).frames[0];
      if (parsed?.kind === 'method') return parsed.method;
      if (parsed?.kind === 'header')
        return { classId: parsed.classId, bodySize: parsed.bodySize, properties: parsed.properties };
      return parsed;
    } catch (err) {
      return err instanceof AmqpCodecError ? 'error' : err;
    }
  }

  test('agrees with the generic decoders on valid and mutated input', () => {
    const next = random(11);
    const seeds: Array<[number, Uint8Array]> = [
      [
        FrameType.method,
        encodeMethod({ name: 'basic.ack', fields: { deliveryTag: 2 ** 40, multiple: true } }),
      ],
      [
        FrameType.method,
        encodeMethod({
          name: 'basic.publish',
          fields: { ticket: 0, exchange: 'amq.topic', routingKey: 'a.b', mandatory: true, immediate: false },
        }),
      ],
      [
        FrameType.method,
        encodeMethod({
          name: 'basic.publish',
          fields: { ticket: 0, exchange: '', routingKey: 'jobs', mandatory: false, immediate: false },
        }),
      ],
      [FrameType.header, encodeHeaderPayload({ deliveryMode: 2, headers: {} }, 300)],
      [FrameType.header, encodeHeaderPayload({ deliveryMode: 1 }, 0)],
      [FrameType.header, encodeHeaderPayload({}, 7)],
    ];
    for (let i = 0; i < 20_000; i++) {
      const [type, seed] = seeds[i % seeds.length]!;
      const payload = seed.slice();
      const mutations = i < seeds.length ? 0 : 1 + Math.floor(next() * 3);
      for (let m = 0; m < mutations; m++)
        payload[Math.floor(next() * payload.byteLength)] = Math.floor(next() * 256);
      const cut = next() < 0.1 ? payload.subarray(0, Math.floor(next() * payload.byteLength)) : payload;
      assert.deepEqual(parsedFrame(type, cut), genericFrame(type, cut), `case ${i}`);
    }
  });
});

function encodeHeaderPayload(properties: BasicProperties, bodySize: number): Uint8Array {
  const props = encodeProperties(properties);
  const out = new Uint8Array(12 + props.byteLength);
  const view = new DataView(out.buffer);
  view.setUint16(0, 60);
  view.setBigUint64(4, BigInt(bodySize));
  out.set(props, 12);
  return out;
}
