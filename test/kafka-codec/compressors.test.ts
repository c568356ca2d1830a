/**
 * The broker's own compressors: every output decodes back to its input through the decompressors
 * clients' batches go through (which follow the LZ4 frame, snappy and xerial specifications), over
 * sizes around the formats' limits (zstd through fzstd, the decoder batches from clients go through), and xxHash32 matches the specification's published values.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { CompressionCodec } from '../../src/protocols/kafka/codec/index.js';
import { decompress } from '../../src/protocols/kafka/compression.js';
import { compress, xxh32, zstdReady } from '../../src/protocols/kafka/compressors.js';

const levels = { gzipLevel: -1, zstdLevel: 3 };
await zstdReady();

function samples(): Uint8Array[] {
  const text = new TextEncoder().encode('the same words over and over, '.repeat(3000));
  const mixed = Buffer.concat([randomBytes(5000), text.subarray(0, 20_000), randomBytes(70)]);
  const sizes = [0, 1, 4, 11, 12, 13, 17, 64, 65, 300, 70_000];
  return [
    ...sizes.map((n) => randomBytes(n)),
    ...sizes.map((n) => new Uint8Array(n).fill(7)),
    text,
    mixed,
    new Uint8Array(5 * 1024 * 1024).fill(1),
  ];
}

for (const [name, codec] of [
  ['lz4', CompressionCodec.lz4],
  ['snappy', CompressionCodec.snappy],
  ['gzip', CompressionCodec.gzip],
  ['zstd', CompressionCodec.zstd],
] as const) {
  test(`${name}: what the broker compresses decompresses to the same bytes`, () => {
    for (const input of samples()) {
      const packed = compress(codec, input, levels);
      assert.deepEqual(Buffer.from(decompress(codec, packed)), Buffer.from(input), `${input.length} bytes`);
    }
    const repetitive = new TextEncoder().encode('abcabcabc'.repeat(10_000));
    assert.ok(
      compress(codec, repetitive, levels).length < repetitive.length / 10,
      'repetitive input shrinks',
    );
  });
}

test('xxHash32 (seed 0) matches the published values', () => {
  assert.equal(xxh32(new Uint8Array(0)), 0x02cc5d05);
  assert.equal(xxh32(new TextEncoder().encode('abc')), 0x32d153ff);
});

test('zstd: a frame header claiming more than the inflation limit is refused before decoding', () => {
  // Magic, a single-segment frame with an 8-byte content size of 2^40, then nothing.
  const bomb = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0xe0, 0, 0, 0, 0, 0, 1, 0, 0]);
  assert.throws(() => decompress(CompressionCodec.zstd, bomb), /inflates past the limit/);
  assert.throws(() => decompress(CompressionCodec.zstd, Buffer.from('not zstd')), /not a zstd frame/);
});
