/**
 * Random and mutated input: a decoder may succeed or throw `AmqpCodecError`, nothing else (no
 * RangeError, no stack overflow, no hang). Whatever decodes must re-encode and decode to the same
 * value. Seeded, so a failure reproduces; bounded in iterations and in wall time.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import { AmqpCodecError } from '../../src/protocols/amqp/codec/errors.js';
import { Tagged } from '../../src/protocols/amqp/codec/field-table.js';
import { encodeContent, encodeHeartbeatFrame, parseFrames } from '../../src/protocols/amqp/codec/frame.js';
import {
  type BasicProperties,
  decodeMethod,
  decodeProperties,
  encodeMethod,
  encodeProperties,
  frameMinBytes,
  type Method,
} from '../../src/protocols/amqp/codec/generated.js';

const iterations = 4000;
const deadlineMs = 20_000;

/** mulberry32: tiny, seedable, good enough to spread bytes. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const seeds: Method[] = [
  {
    name: 'queue.declare',
    fields: {
      ticket: 0,
      queue: 'jobs',
      passive: false,
      durable: true,
      exclusive: false,
      autoDelete: false,
      noWait: false,
      arguments: {
        'x-message-ttl': 60000,
        nested: { a: [1, 'two', null, true, 2.5, 2n ** 40n], when: new Date(1_700_000_000_000) },
        tagged: new Tagged('s', -7),
        raw: Uint8Array.of(0, 1, 2),
      },
    },
  },
  {
    name: 'basic.deliver',
    fields: { consumerTag: 'c', deliveryTag: 99, redelivered: true, exchange: 'x', routingKey: 'rk' },
  },
  {
    name: 'connection.start-ok',
    fields: {
      clientProperties: { product: 'p' },
      mechanism: 'PLAIN',
      response: Uint8Array.of(0, 97),
      locale: 'en',
    },
  },
  { name: 'basic.nack', fields: { deliveryTag: 5, multiple: true, requeue: false } },
  { name: 'tx.commit', fields: {} },
];
const seedProperties: BasicProperties = {
  contentType: 'text/plain',
  headers: { h: new Tagged('D', 5, 1), list: [new Tagged('f', 0.5), 'x'] },
  priority: 3,
  timestamp: 1,
  appId: 'a',
};

function mutate(source: Uint8Array, next: () => number): Uint8Array {
  const out = source.slice();
  const edits = 1 + Math.floor(next() * 4);
  for (let i = 0; i < edits && out.byteLength > 0; i++) {
    out[Math.floor(next() * out.byteLength)] = Math.floor(next() * 256);
  }
  const cut = next() < 0.3 ? Math.floor(next() * out.byteLength) : out.byteLength;
  return out.subarray(0, cut);
}

function randomBytes(next: () => number, bytesMax: number): Uint8Array {
  return Uint8Array.from({ length: Math.floor(next() * bytesMax) }, () => Math.floor(next() * 256));
}

/** Runs `decode` and reports whether it succeeded; any error other than AmqpCodecError fails. */
function survives<T>(decode: () => T, input: Uint8Array): T | undefined {
  try {
    return decode();
  } catch (err) {
    if (err instanceof AmqpCodecError) return undefined;
    assert.fail(`${String(err)} on input ${Buffer.from(input).toString('hex')}`);
  }
}

function fuzz(
  seed: number,
  inputs: (next: () => number) => Uint8Array,
  check: (input: Uint8Array) => void,
): number {
  const next = random(seed);
  const deadline = Date.now() + deadlineMs;
  let count = 0;
  for (; count < iterations && Date.now() < deadline; count++) check(inputs(next));
  return count;
}

function checkMethod(input: Uint8Array): void {
  const method = survives(() => decodeMethod(input), input);
  if (method !== undefined) assert.deepStrictEqual(decodeMethod(encodeMethod(method)), method);
}

function checkProperties(input: Uint8Array): void {
  const properties = survives(() => decodeProperties(input), input);
  if (properties !== undefined)
    assert.deepStrictEqual(decodeProperties(encodeProperties(properties)), properties);
}

function checkFrames(input: Uint8Array): void {
  survives(() => parseFrames(input, frameMinBytes, 64), input);
}

test('decodeMethod on random and mutated bytes', () => {
  const encoded = seeds.map(encodeMethod);
  const ran = fuzz(1, (next) => randomBytes(next, 48), checkMethod);
  const mutated = fuzz(2, (next) => mutate(encoded[Math.floor(next() * encoded.length)]!, next), checkMethod);
  assert.ok(ran > 0 && mutated > 0);
});

test('decodeMethod on random bytes behind every known method id', () => {
  const ids = seeds.map((m) => encodeMethod(m).subarray(0, 4));
  const withId = (next: () => number): Uint8Array => {
    const id = ids[Math.floor(next() * ids.length)]!;
    const rest = randomBytes(next, 64);
    const out = new Uint8Array(4 + rest.byteLength);
    out.set(id);
    out.set(rest, 4);
    return out;
  };
  assert.ok(fuzz(3, withId, checkMethod) > 0);
});

test('decodeProperties on random and mutated bytes', () => {
  const encoded = encodeProperties(seedProperties);
  assert.ok(fuzz(4, (next) => randomBytes(next, 48), checkProperties) > 0);
  assert.ok(fuzz(5, (next) => mutate(encoded, next), checkProperties) > 0);
});

test('parseFrames on random and mutated bytes', () => {
  const body = Uint8Array.from({ length: 5000 }, (_, i) => i & 0xff);
  const stream = new Uint8Array([
    ...encodeContent(1, seeds[1]!, seedProperties, body, frameMinBytes),
    ...encodeHeartbeatFrame(),
  ]);
  assert.ok(fuzz(6, (next) => randomBytes(next, 64), checkFrames) > 0);
  assert.ok(fuzz(7, (next) => mutate(stream, next), checkFrames) > 0);
});

test('deeply nested tables in a frame are refused, not a stack overflow', () => {
  // 10 000 levels of F inside an arguments table, each "key + F + length" = 7 bytes.
  const depth = 10_000;
  const levelBytes = 7;
  const wire = new Uint8Array(4 + 2 + 3 + 1 + 4 + depth * levelBytes);
  const view = new DataView(wire.buffer);
  view.setUint16(0, 50);
  view.setUint16(2, 20); // queue.bind: ticket, queue, exchange, routing-key, no-wait, arguments
  let at = 4 + 2 + 3; // ticket, then three empty short strings
  wire[at++] = 0; // no-wait bits
  view.setUint32(at, depth * levelBytes);
  at += 4;
  for (let level = 0; level < depth; level++) {
    wire.set([1, 0x6b, 0x46], at); // key "k", tag F
    view.setUint32(at + 3, (depth - level - 1) * levelBytes);
    at += levelBytes;
  }
  assert.throws(
    () => decodeMethod(wire.subarray(0, at)),
    (err) => err instanceof AmqpCodecError,
  );
});
