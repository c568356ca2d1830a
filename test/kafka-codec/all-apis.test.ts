/**
 * Every generated API at every valid version: a message with every field populated round-trips
 * byte-exactly, and random or mutated input makes the decoders either succeed or throw a
 * KafkaCodecError, never anything else.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FieldSchema, MessageSchema } from '../../src/protocols/kafka/codec/index.js';
import {
  decodeMessage,
  decodeRecords,
  decodeRequestHeader,
  encodeMessage,
  encodeRecordBatch,
  inRange,
  isKafkaCodecError,
  KafkaReader,
  kafkaApis,
} from '../../src/protocols/kafka/codec/index.js';

const sampleBatch = encodeRecordBatch({ baseTimestamp: 1n, records: [{ value: Uint8Array.of(1, 2, 3) }] });

function sampleScalar(f: FieldSchema, salt: number): unknown {
  switch (f.type) {
    case 'bool':
      return salt % 2 === 0;
    case 'int8':
      return -3 + salt;
    case 'int16':
      return 300 + salt;
    case 'uint16':
      return 65000 + salt;
    case 'int32':
      return -70000 - salt;
    case 'int64':
      return 1n << 40n;
    case 'float64':
      return 0.5 + salt;
    case 'uuid':
      return `0123abcd-4567-89ef-0123-456789abcde${salt % 10}`;
    case 'string':
      return `s${salt}é`;
    case 'bytes':
      return Uint8Array.of(salt, 255);
    case 'records':
      return sampleBatch;
    default:
      return undefined;
  }
}

/** A value for every field that exists at `version`, so that the encoding exercises all of them. */
function sample(fields: readonly FieldSchema[], version: number, depth: number): Record<string, unknown> {
  const obj: Record<string, unknown> = {};
  fields.forEach((f, i) => {
    if (!inRange(f.versions, version)) return;
    const one = (): unknown =>
      f.type === 'struct' ? sample(f.fields ?? [], version, depth + 1) : sampleScalar(f, i);
    obj[f.name] = f.array ? [one(), one()] : one();
  });
  return obj;
}

function versionsOf(schema: MessageSchema): number[] {
  const out: number[] = [];
  for (let v = schema.validVersions[0]; v <= schema.validVersions[1]; v++) out.push(v);
  return out;
}

const schemas = kafkaApis.flatMap((api) => [api.request, api.response]);

describe('every generated API', () => {
  it('round-trips a fully populated message at every valid version', () => {
    let checked = 0;
    for (const schema of schemas) {
      for (const version of versionsOf(schema)) {
        const msg = sample(schema.fields, version, 0);
        const bytes = encodeMessage(schema, msg, version);
        const r = new KafkaReader(bytes);
        const decoded = decodeMessage(schema, r, version);
        assert.equal(r.remaining, 0, `${schema.name} v${version} consumed`);
        assert.deepEqual(encodeMessage(schema, decoded, version), bytes, `${schema.name} v${version}`);
        checked++;
      }
    }
    assert.ok(checked > 200, `checked ${checked} message versions`);
  });
});

/** Deterministic xorshift32, so a failure can be reproduced. */
function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

function decodeOnly(schema: MessageSchema, bytes: Uint8Array, version: number): void {
  try {
    decodeMessage(schema, new KafkaReader(bytes), version);
  } catch (err) {
    if (!isKafkaCodecError(err)) {
      assert.fail(
        `${schema.name} v${version} threw ${String(err)} for ${Buffer.from(bytes).toString('hex')}`,
      );
    }
  }
}

describe('decoder fuzzing', () => {
  const deadlineMs = 20_000;

  it('handles random bytes with success or KafkaCodecError only', () => {
    const next = prng(0x5eed);
    const started = Date.now();
    for (const schema of schemas) {
      for (const version of versionsOf(schema)) {
        for (let i = 0; i < 40 && Date.now() - started < deadlineMs; i++) {
          const bytes = new Uint8Array(next() % 80);
          for (let j = 0; j < bytes.length; j++) bytes[j] = next() & 0xff;
          decodeOnly(schema, bytes, version);
        }
      }
    }
  });

  it('handles mutated and truncated valid messages with success or KafkaCodecError only', () => {
    const next = prng(0xc0dec);
    const started = Date.now();
    for (const schema of schemas) {
      for (const version of versionsOf(schema)) {
        const valid = encodeMessage(schema, sample(schema.fields, version, 0), version);
        decodeOnly(schema, valid.subarray(0, next() % (valid.length + 1)), version);
        for (let i = 0; i < 30 && Date.now() - started < deadlineMs && valid.length > 0; i++) {
          const bytes = Uint8Array.from(valid);
          for (let k = 0; k < 1 + (next() % 3); k++) bytes[next() % bytes.length] = next() & 0xff;
          decodeOnly(schema, bytes, version);
        }
      }
    }
  });

  it('handles mutated request headers and record batches with success or KafkaCodecError only', () => {
    const next = prng(0xba7c4);
    const started = Date.now();
    const header = Uint8Array.from([0, 18, 0, 3, 0, 0, 0, 1, 0, 2, 104, 105, 0]);
    for (let i = 0; i < 2000 && Date.now() - started < deadlineMs; i++) {
      const input = Uint8Array.from(i % 2 === 0 ? header : sampleBatch);
      for (let k = 0; k < 1 + (next() % 3); k++) input[next() % input.length] = next() & 0xff;
      const cut = input.subarray(0, next() % (input.length + 1));
      for (const bytes of [input, cut]) {
        try {
          if (i % 2 === 0) decodeRequestHeader(new KafkaReader(bytes));
          else decodeRecords(bytes);
        } catch (err) {
          if (!isKafkaCodecError(err))
            assert.fail(`threw ${String(err)} for ${Buffer.from(bytes).toString('hex')}`);
        }
      }
    }
  });
});
