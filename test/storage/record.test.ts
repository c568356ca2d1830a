/**
 * The record codec: byte-exact layout, round trips, and the promise that any input decodes to an entry,
 * `incomplete` or `corrupt`, never an exception.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crc32 } from 'node:zlib';
import { decodeRecord, encodeRecord, type RecordFields } from '../../src/storage/file/record.js';
import { payloadFor } from '../../testing/storage-fixtures.js';

const payloadBytesMax = 1 << 20;

function random(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

test('a record is laid out byte by byte as docs/storage-format.md says', () => {
  const fields: RecordFields = {
    offset: 0x0102030405,
    count: 3,
    timestamp: 1_700_000_000_123,
    maxTimestamp: 1_700_000_000_456,
    format: 9,
    payload: Uint8Array.of(0xaa, 0xbb),
  };
  const bytes = Buffer.from(encodeRecord(fields));
  const expectedAfterCrc = Buffer.from([
    1,
    9, // version, format
    0,
    0,
    0,
    0x01,
    0x02,
    0x03,
    0x04,
    0x05, // base offset
    0,
    0,
    0,
    3, // count
    0,
    0,
    0x01,
    0x8b,
    0xcf,
    0xe5,
    0x68,
    0x7b, // timestamp 1700000000123
    0,
    0,
    0x01,
    0x8b,
    0xcf,
    0xe5,
    0x69,
    0xc8, // maxTimestamp 1700000000456
    0xaa,
    0xbb, // payload
  ]);
  assert.equal(bytes.length, 40);
  assert.equal(bytes.readUInt32BE(0), 36, 'length counts every byte after the length field');
  assert.equal(bytes.readUInt32BE(4), crc32(expectedAfterCrc), 'CRC covers everything after the CRC field');
  assert.deepEqual(bytes.subarray(8), expectedAfterCrc);
});

test('encode then decode gives back the same fields, negative timestamps included', () => {
  const next = random(7);
  for (let i = 0; i < 200; i++) {
    const fields: RecordFields = {
      offset: Math.floor(next() * 2 ** 52),
      count: 1 + Math.floor(next() * 1000),
      timestamp: Math.floor((next() - 0.5) * 2 ** 50),
      maxTimestamp: Math.floor((next() - 0.5) * 2 ** 50),
      format: Math.floor(next() * 256),
      payload: payloadFor(i, Math.floor(next() * 300)),
    };
    const bytes = encodeRecord(fields);
    const result = decodeRecord(bytes, 0, payloadBytesMax);
    assert.equal(result.kind, 'ok');
    if (result.kind !== 'ok') return;
    assert.equal(result.bytes, bytes.byteLength);
    assert.deepEqual(
      { ...result.record, payload: [...result.record.payload] },
      { ...fields, payload: [...fields.payload] },
    );
  }
});

test('every prefix of a record is incomplete, and decoding never reads past the record', () => {
  const bytes = encodeRecord({
    offset: 5,
    count: 1,
    timestamp: 1,
    maxTimestamp: 1,
    format: 0,
    payload: payloadFor(1, 50),
  });
  for (let n = 0; n < bytes.byteLength; n++) {
    assert.equal(decodeRecord(bytes.subarray(0, n), 0, payloadBytesMax).kind, 'incomplete', `prefix ${n}`);
  }
  const twice = new Uint8Array(bytes.byteLength * 2);
  twice.set(bytes, 0);
  twice.set(bytes, bytes.byteLength);
  const second = decodeRecord(twice, bytes.byteLength, payloadBytesMax);
  assert.equal(second.kind, 'ok');
});

test('flipping any bit of a record makes it corrupt or incomplete, never a different entry', () => {
  const bytes = encodeRecord({
    offset: 77,
    count: 2,
    timestamp: 3,
    maxTimestamp: 4,
    format: 1,
    payload: payloadFor(3, 40),
  });
  for (let bit = 0; bit < bytes.byteLength * 8; bit++) {
    const mutated = Uint8Array.from(bytes);
    mutated[bit >> 3]! ^= 1 << (bit & 7);
    const result = decodeRecord(mutated, 0, payloadBytesMax);
    assert.notEqual(result.kind, 'ok', `bit ${bit}`);
  }
});

test('random bytes never throw and never decode as a valid record by accident', () => {
  const next = random(42);
  let ok = 0;
  for (let i = 0; i < 5000; i++) {
    const bytes = Uint8Array.from({ length: Math.floor(next() * 200) }, () => Math.floor(next() * 256));
    const result = decodeRecord(bytes, Math.floor(next() * 4), Math.floor(next() * payloadBytesMax));
    assert.ok(['ok', 'incomplete', 'corrupt'].includes(result.kind));
    if (result.kind === 'ok') ok++;
  }
  assert.equal(ok, 0);
});

test('a length beyond the entry limit is corrupt, not a request for more bytes', () => {
  const bytes = encodeRecord({
    offset: 0,
    count: 1,
    timestamp: 0,
    maxTimestamp: 0,
    format: 0,
    payload: payloadFor(0, 100),
  });
  assert.equal(decodeRecord(bytes, 0, 99).kind, 'corrupt');
  const huge = Buffer.from(bytes);
  huge.writeUInt32BE(0xffffffff, 0);
  assert.equal(decodeRecord(huge, 0, payloadBytesMax).kind, 'corrupt');
});
