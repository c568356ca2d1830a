/**
 * The broker's KubeMQ protobuf codec (src/protocols/kubemq/protobuf.ts) against @grpc/proto-loader's
 * (protobufjs) on every message of kubemq.proto: for seeded random messages of every type the two
 * write the same bytes and read each other's bytes into equal objects, and for those bytes mutated,
 * both refuse or both read the same object, but for a varint cut short at the very end (refused here).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import { messages, methods } from '../../src/protocols/kubemq/generated/schema.js';
import { kubemqSchema, kubemqService } from '../../src/protocols/kubemq/proto.js';
import {
  decodeMessage,
  encodeMessage,
  type ProtoField,
  repeatedItemsMax,
  requestTagsMax,
} from '../../src/protocols/kubemq/protobuf.js';
import { type Random, random } from '../../testing/fuzz/random.js';
import { kubemqPackage } from '../../testing/kubemq-proto-loader.js';

const messagesPerType = 60;
const mutationsPerMessage = 8;

const texts = ['', 'a', 'queue.a', 'é€𝄞 ü', 'x'.repeat(200), '\u0000nul'];
const int64s = [
  '0',
  '1',
  '-1',
  '127',
  '128',
  '4294967296',
  '-4294967297',
  '9223372036854775807',
  '-9223372036854775808',
];
const int64Numbers = [0, 1, -1, 300, -300, 2 ** 40, -(2 ** 40), Number.MAX_SAFE_INTEGER, 1.7];
const int32s = [0, 1, -1, 127, 128, 2 ** 31 - 1, -(2 ** 31), 65_535];

function randomValue(r: Random, field: ProtoField, depth: number): unknown {
  switch (field.kind) {
    case 'string':
      return r.pick(texts);
    case 'bytes':
      return Buffer.from(r.pick(texts));
    case 'bool':
      return r.chance(0.5);
    case 'int32':
      return r.pick(int32s);
    case 'enum':
      return r.below(4);
    case 'int64':
      return r.chance(0.5) ? r.pick(int64s) : r.pick(int64Numbers);
    case 'uint64':
      return r.pick(['0', '1', '18446744073709551615', '4294967295', '9007199254740993']);
    case 'map':
      return Object.fromEntries(
        Array.from({ length: r.below(3) }, (_, i) => [`k${i}${r.pick(texts)}`, r.pick(texts)]),
      );
    default:
      return depth > 2 || r.chance(0.2) ? null : randomMessage(r, field.message!, depth + 1);
  }
}

function randomMessage(r: Random, type: string, depth = 0): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of messages[type]!.fields) {
    if (r.chance(0.25)) continue; // absent
    out[field.name] =
      field.repeated === true
        ? Array.from({ length: r.below(3) }, () => randomValue(r, field, depth) ?? {})
        : randomValue(r, field, depth);
  }
  return out;
}

function theirs(): Record<string, MethodDefinition<unknown, unknown>> {
  return kubemqPackage()['kubemq.kubemq'] as ServiceDefinition as Record<
    string,
    MethodDefinition<unknown, unknown>
  >;
}

const refused = Symbol('refused');
function attempt(decode: () => unknown): unknown {
  try {
    return decode();
  } catch {
    return refused;
  }
}

function mutate(bytes: Buffer, r: Random): Buffer {
  const out = Buffer.from(bytes);
  if (out.length === 0) return Buffer.from([r.below(256)]);
  if (r.chance(0.3)) return out.subarray(0, r.below(out.length));
  for (let i = 0; i < 1 + r.below(3); i++) out[r.below(out.length)] = r.below(256);
  return out;
}

test("the service has the RPCs of kubemq.proto with proto-loader's paths and stream flags", () => {
  const ours = kubemqService();
  const reference = theirs();
  assert.deepEqual(Object.keys(ours).sort(), Object.keys(reference).sort());
  for (const [name, method] of Object.entries(reference)) {
    const mine = ours[name]!;
    assert.equal(mine.path, method.path);
    assert.equal(mine.requestStream, method.requestStream);
    assert.equal(mine.responseStream, method.responseStream);
    assert.equal(mine.originalName, method.originalName);
  }
});

test("every message: the same bytes as protobufjs, and each side reads the other's bytes alike", () => {
  const r = random(14);
  const reference = theirs();
  for (const method of methods) {
    const pairs = [
      [method.request, reference[method.name]!.requestSerialize, reference[method.name]!.requestDeserialize],
      [
        method.response,
        reference[method.name]!.responseSerialize,
        reference[method.name]!.responseDeserialize,
      ],
    ] as const;
    for (const [type, serialize, deserialize] of pairs) {
      for (let i = 0; i < messagesPerType; i++) {
        const message = randomMessage(r, type);
        const mine = encodeMessage(kubemqSchema, type, message);
        assert.deepEqual(mine, serialize(message), `${type} #${i} bytes`);
        const expected = deserialize(mine);
        assert.deepEqual(decodeMessage(kubemqSchema, type, mine), expected, `${type} #${i} decoded`);
        for (let m = 0; m < mutationsPerMessage; m++) {
          const bytes = mutate(mine, r);
          const ours = attempt(() => decodeMessage(kubemqSchema, type, bytes));
          const reference = attempt(() => deserialize(bytes));
          if (ours === refused || reference === refused) {
            // The one difference: a varint cut short by the end of the request, which protobufjs
            // reads past the end of its buffer and accepts.
            if (ours !== reference)
              assert.ok(ours === refused && bytes.at(-1)! >= 0x80, bytes.toString('hex'));
            continue;
          }
          assert.deepEqual(ours, reference, `${type} #${i} mutation ${m}: ${bytes.toString('hex')}`);
        }
      }
    }
  }
});

test('enum names, base64 bytes and bigint int64 are written as proto-loader writes them', () => {
  const reference = theirs();
  const subscribe = {
    SubscribeTypeData: 'EventsStore',
    EventsStoreTypeData: 'Nope',
    EventsStoreTypeValue: 5n,
  };
  const request = { Body: 'aGVsbG8=', RequestTypeData: 'Query', Timeout: '12' };
  const pairs: Array<[string, string, object]> = [
    ['SubscribeToEvents', 'Subscribe', { ...subscribe, EventsStoreTypeValue: '5' }],
    ['SendRequest', 'Request', request],
  ];
  for (const [rpc, type, message] of pairs) {
    assert.deepEqual(encodeMessage(kubemqSchema, type, message), reference[rpc]!.requestSerialize(message));
  }
  assert.deepEqual(
    encodeMessage(kubemqSchema, 'Subscribe', subscribe),
    encodeMessage(kubemqSchema, 'Subscribe', { ...subscribe, EventsStoreTypeValue: 5 }),
  );
});

test('a message, list or map field given the wrong kind of value is a TypeError', () => {
  assert.throws(() => encodeMessage(kubemqSchema, 'QueueMessage', { Attributes: 'x' }), TypeError);
  assert.throws(() => encodeMessage(kubemqSchema, 'QueueMessagesBatchRequest', { Messages: {} }), TypeError);
  assert.throws(() => encodeMessage(kubemqSchema, 'Event', { Tags: 3 }), TypeError);
});

test('a repeated field of more than repeatedItemsMax items is refused while it is read', () => {
  const batch = (count: number) =>
    encodeMessage(kubemqSchema, 'QueueMessagesBatchRequest', {
      BatchID: 'b',
      Messages: Array.from({ length: count }, () => ({ Channel: 'q', Body: Buffer.from('x') })),
    });
  const within = decodeMessage(kubemqSchema, 'QueueMessagesBatchRequest', batch(repeatedItemsMax));
  assert.equal((within['Messages'] as unknown[]).length, repeatedItemsMax);
  assert.throws(
    () => decodeMessage(kubemqSchema, 'QueueMessagesBatchRequest', batch(repeatedItemsMax + 1)),
    /more than 10000 items in Messages/,
  );
});

test('map entries past requestTagsMax, summed over every message of the request, are refused while read', () => {
  const tags = (count: number, prefix: string) =>
    Object.fromEntries(Array.from({ length: count }, (_, i) => [`${prefix}${i}`, 'v']));
  const message = (count: number) =>
    encodeMessage(kubemqSchema, 'QueueMessage', { Channel: 'q', Tags: tags(count, 'k') });
  const within = decodeMessage(kubemqSchema, 'QueueMessage', message(requestTagsMax));
  assert.equal(Object.keys(within['Tags'] as object).length, requestTagsMax);
  assert.throws(
    () => decodeMessage(kubemqSchema, 'QueueMessage', message(requestTagsMax + 1)),
    /more than 10000 entries in Tags, over the request/,
  );
  // Two messages of half the bound and one more each: each within it, together past it.
  const batch = (each: number) =>
    encodeMessage(kubemqSchema, 'QueueMessagesBatchRequest', {
      BatchID: 'b',
      Messages: ['a', 'b'].map((prefix) => ({ Channel: 'q', Tags: tags(each, prefix) })),
    });
  const half = requestTagsMax / 2;
  assert.equal(
    (decodeMessage(kubemqSchema, 'QueueMessagesBatchRequest', batch(half))['Messages'] as unknown[]).length,
    2,
  );
  assert.throws(
    () => decodeMessage(kubemqSchema, 'QueueMessagesBatchRequest', batch(half + 1)),
    /more than 10000 entries in Tags, over the request/,
  );
});
