import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  isKafkaCodecError,
  KafkaCodecReason,
  KafkaReader,
  KafkaWriter,
} from '../../src/protocols/kafka/codec/index.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const fromHex = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));

function written(write: (w: KafkaWriter) => void): string {
  const w = new KafkaWriter(1);
  write(w);
  return hex(w.finish());
}

describe('varints', () => {
  const uvarints: [number, string][] = [
    [0, '00'],
    [1, '01'],
    [127, '7f'],
    [128, '8001'],
    [300, 'ac02'],
    [0xffffffff, 'ffffffff0f'],
  ];
  for (const [value, bytes] of uvarints) {
    it(`unsigned varint ${value} is ${bytes}`, () => {
      assert.equal(
        written((w) => w.writeUvarint(value)),
        bytes,
      );
      assert.equal(new KafkaReader(fromHex(bytes)).readUvarint(), value);
    });
  }

  const varints: [number, string][] = [
    [0, '00'],
    [-1, '01'],
    [1, '02'],
    [-64, '7f'],
    [64, '8001'],
    [2147483647, 'feffffff0f'],
    [-2147483648, 'ffffffff0f'],
  ];
  for (const [value, bytes] of varints) {
    it(`zig-zag varint ${value} is ${bytes}`, () => {
      assert.equal(
        written((w) => w.writeVarint(value)),
        bytes,
      );
      assert.equal(new KafkaReader(fromHex(bytes)).readVarint(), value);
    });
  }

  const varlongs: [bigint, string][] = [
    [0n, '00'],
    [-1n, '01'],
    [1_700_000_000_000n, '80e0d1a4f862'],
    [9223372036854775807n, 'feffffffffffffffff01'],
    [-9223372036854775808n, 'ffffffffffffffffff01'],
  ];
  for (const [value, bytes] of varlongs) {
    it(`zig-zag varlong ${value} round-trips`, () => {
      const out = written((w) => w.writeVarlong(value));
      if (value !== 1_700_000_000_000n) assert.equal(out, bytes);
      assert.equal(new KafkaReader(fromHex(out)).readVarlong(), value);
    });
  }

  it('refuses varints longer than their width', () => {
    for (const bad of ['ffffffff1f', 'ffffffffff01', 'ffffffffffffffffffff01']) {
      assert.throws(
        () =>
          bad.length > 12
            ? new KafkaReader(fromHex(bad)).readVarlong()
            : new KafkaReader(fromHex(bad)).readUvarint(),
        (e) => isKafkaCodecError(e) && e.reason === KafkaCodecReason.malformed,
      );
    }
  });
});

describe('strings, bytes, arrays, uuid', () => {
  it('writes classic and compact strings, null included', () => {
    assert.equal(
      written((w) => w.writeString('hi', false)),
      '00026869',
    );
    assert.equal(
      written((w) => w.writeString(null, false)),
      'ffff',
    );
    assert.equal(
      written((w) => w.writeString('hi', true)),
      '036869',
    );
    assert.equal(
      written((w) => w.writeString(null, true)),
      '00',
    );
    assert.equal(
      written((w) => w.writeString('', true)),
      '01',
    );
    assert.equal(new KafkaReader(fromHex('ffff')).readString(false), null);
    assert.equal(new KafkaReader(fromHex('03c3a9')).readString(true), 'é');
  });

  it('writes classic and compact bytes and array lengths', () => {
    assert.equal(
      written((w) => w.writeBytes(Uint8Array.from([1]), false)),
      '0000000101',
    );
    assert.equal(
      written((w) => w.writeBytes(null, true)),
      '00',
    );
    assert.equal(
      written((w) => w.writeArrayLength(-1, false)),
      'ffffffff',
    );
    assert.equal(
      written((w) => w.writeArrayLength(2, true)),
      '03',
    );
  });

  it('refuses an array count larger than the bytes left', () => {
    assert.throws(() => new KafkaReader(fromHex('000000ff00')).readArrayLength(false), isKafkaCodecError);
  });

  it('round-trips UUIDs in canonical text form', () => {
    const id = '0123abcd-4567-89ef-0123-456789abcdef';
    const out = written((w) => w.writeUuid(id));
    assert.equal(out, '0123abcd456789ef0123456789abcdef');
    assert.equal(new KafkaReader(fromHex(out)).readUuid(), id);
    assert.throws(() => new KafkaWriter().writeUuid('not-a-uuid'), isKafkaCodecError);
  });

  it('reports truncated input as a KafkaCodecError', () => {
    assert.throws(
      () => new KafkaReader(fromHex('0001')).readInt32(),
      (e) => isKafkaCodecError(e) && e.reason === KafkaCodecReason.truncated,
    );
    assert.throws(() => new KafkaReader(fromHex('0005ab')).readString(false), isKafkaCodecError);
  });

  it('grows its buffer across many writes', () => {
    const w = new KafkaWriter(1);
    for (let i = 0; i < 1000; i++) w.writeInt64(BigInt(i));
    const r = new KafkaReader(w.finish());
    for (let i = 0; i < 1000; i++) assert.equal(r.readInt64(), BigInt(i));
  });
});
