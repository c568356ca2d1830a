import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { crc32, gzipSync } from 'node:zlib';
import {
  CompressionCodec,
  decodeMessageSet,
  encodeMessageSet,
  isKafkaCodecError,
  type LegacyMessageInput,
  legacyMessageBytes,
  MessageAttribute,
  MessageSetMagic,
  recordsMagic,
} from '../../src/protocols/kafka/codec/index.js';
import { decompress } from '../../src/protocols/kafka/compression.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const fromHex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const str = (b: Uint8Array | null): string | null => (b === null ? null : new TextDecoder().decode(b));
const limits = { messagesMax: 1000 };
const inflating = { messagesMax: 1000, inflate: decompress };

// Hand-built from the layout in the Kafka docs (§5.3.3); CRCs are zlib's CRC-32 of magic..end.
// Magic 0, offset 7, null key, value "abc".
const v0Hex = `0000000000000007 00000011 ${'{crc}'} 00 00 ffffffff 00000003 616263`;
// Magic 1, offset 0, timestamp 1_700_000_000_000 (0x18bcfe56800), key "k", value "v".
const v1Hex = `0000000000000000 00000018 ${'{crc}'} 01 00 0000018bcfe56800 00000001 6b 00000001 76`;

/** Fills the CRC placeholder with zlib's CRC-32 of everything after it. */
function withCrc(template: string): Uint8Array {
  const [head, tail] = template.replace(/\s+/g, '').split('{crc}') as [string, string];
  const crc = crc32(fromHex(tail)).toString(16).padStart(8, '0');
  return fromHex(head + crc + tail);
}

/** Literal-only raw snappy: a valid stream any snappy reader accepts (no matches needed). */
function snappyLiteral(data: Uint8Array): Uint8Array {
  assert.ok(data.length > 0 && data.length <= 65536);
  const varint: number[] = [];
  for (let n = data.length; ; n = Math.floor(n / 128)) {
    if (n < 128) {
      varint.push(n);
      break;
    }
    varint.push((n % 128) | 0x80);
  }
  const n = data.length - 1;
  const tag = n < 60 ? [n << 2] : [61 << 2, n & 0xff, n >>> 8];
  return Uint8Array.from([...varint, ...tag, ...data]);
}

/** xerial framing (snappy-java): magic, version 1, compatible 1, then int32-sized raw blocks. */
function xerial(raw: Uint8Array): Uint8Array {
  const head = fromHex('82534e4150505900 00000001 00000001');
  const out = new Uint8Array(head.length + 4 + raw.length);
  out.set(head);
  new DataView(out.buffer).setInt32(16, raw.length);
  out.set(raw, 20);
  return out;
}

/** An LZ4 frame of one stored (uncompressed) block, with the header checksum byte as given. */
function lz4Stored(data: Uint8Array, headerChecksum: number): Uint8Array {
  const out = new Uint8Array(7 + 4 + data.length + 4);
  const view = new DataView(out.buffer);
  view.setUint32(0, 0x184d2204, true);
  out[4] = 0x60; // version 01, independent blocks
  out[5] = 0x40; // 64 KB max block
  out[6] = headerChecksum;
  view.setUint32(7, (data.length | 0x80000000) >>> 0, true);
  out.set(data, 11);
  return out;
}

const innerThree: LegacyMessageInput[] = [
  { offset: 0n, timestamp: 100n, key: text('a'), value: text('one') },
  { offset: 1n, timestamp: 101n, key: null, value: text('two') },
  { offset: 2n, timestamp: 102n, key: text('c'), value: null },
];

describe('legacy MessageSet v0/v1', () => {
  it('decodes and re-encodes a hand-built magic-0 message byte for byte', () => {
    const bytes = withCrc(v0Hex);
    assert.equal(recordsMagic(bytes), 0);
    const { messages, partialBytes } = decodeMessageSet(bytes, limits);
    assert.equal(partialBytes, 0);
    assert.equal(messages.length, 1);
    const [m] = messages as [(typeof messages)[0]];
    assert.deepEqual([m.offset, m.magic, m.attributes, m.timestamp], [7n, 0, 0, -1n]);
    assert.equal(m.key, null);
    assert.equal(str(m.value), 'abc');
    const again = encodeMessageSet(MessageSetMagic.v0, [{ offset: 7n, key: null, value: text('abc') }]);
    assert.equal(hex(again), hex(bytes));
    assert.equal(again.length, legacyMessageBytes(MessageSetMagic.v0, 0, 3));
  });

  it('decodes and re-encodes a hand-built magic-1 message with its timestamp', () => {
    const bytes = withCrc(v1Hex);
    const [m] = decodeMessageSet(bytes, limits).messages;
    assert.ok(m);
    assert.deepEqual([m.magic, m.timestamp, str(m.key), str(m.value)], [1, 1_700_000_000_000n, 'k', 'v']);
    const again = encodeMessageSet(MessageSetMagic.v1, [
      { offset: 0n, timestamp: 1_700_000_000_000n, key: text('k'), value: text('v') },
    ]);
    assert.equal(hex(again), hex(bytes));
  });

  it('writes zlib CRC-32s over magic to the end of each message', () => {
    assert.equal(crc32(text('123456789')), 0xcbf43926, 'the CRC-32 check value');
    const set = encodeMessageSet(MessageSetMagic.v1, innerThree);
    const view = new DataView(set.buffer, set.byteOffset, set.byteLength);
    let count = 0;
    for (let at = 0; at < set.length; count++) {
      const end = at + 12 + view.getInt32(at + 8);
      assert.equal(view.getUint32(at + 12), crc32(set.subarray(at + 16, end)));
      at = end;
    }
    assert.equal(count, 3);
  });
});

describe('legacy MessageSet sets and their errors', () => {
  it('round-trips several messages with null and empty keys and values', () => {
    const input: LegacyMessageInput[] = [
      { offset: 5n, key: text(''), value: text('') },
      { offset: 6n, key: null, value: null },
      { offset: 7n, key: text('k'), value: new Uint8Array(300).fill(7) },
    ];
    for (const magic of [MessageSetMagic.v0, MessageSetMagic.v1]) {
      const set = encodeMessageSet(magic, input);
      const { messages } = decodeMessageSet(set, limits);
      assert.deepEqual(
        messages.map((m) => [m.offset, m.key?.length ?? null, m.value?.length ?? null]),
        [
          [5n, 0, 0],
          [6n, null, null],
          [7n, 1, 300],
        ],
      );
      const reencoded = encodeMessageSet(
        magic,
        messages.map((m) => ({ offset: m.offset, timestamp: m.timestamp, key: m.key, value: m.value })),
      );
      assert.equal(hex(reencoded), hex(set));
    }
  });

  it('refuses a wrong CRC unless asked not to check', () => {
    const bytes = withCrc(v0Hex);
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 1;
    assert.throws(() => decodeMessageSet(bytes, limits), /CRC-32/);
    assert.equal(str(decodeMessageSet(bytes, { ...limits, verifyCrc: false }).messages[0]!.value), 'abb');
  });

  it('reports a trailing partial message and refuses impossible sizes, magics and counts', () => {
    const two = encodeMessageSet(MessageSetMagic.v0, innerThree.slice(0, 2));
    const cut = two.subarray(0, two.length - 3);
    const got = decodeMessageSet(cut, limits);
    assert.equal(got.messages.length, 1);
    assert.equal(got.partialBytes, two.length - 3 - legacyMessageBytes(0, 1, 3));
    const tiny = fromHex('0000000000000000 0000000d 00000000 00 00 ffffffff ffffff');
    assert.throws(() => decodeMessageSet(tiny, limits), isKafkaCodecError);
    const magic2 = withCrc(v0Hex);
    magic2[16] = 2;
    assert.throws(() => decodeMessageSet(magic2, { ...limits, verifyCrc: false }), /magic 2/);
    assert.throws(() => decodeMessageSet(two, { messagesMax: 1 }), /More than 1/);
  });
});

describe('legacy MessageSet compressed wrappers', () => {
  it('expands a gzip magic-1 wrapper: relative inner offsets, LogAppendTime stamped from the wrapper', () => {
    const inner = encodeMessageSet(MessageSetMagic.v1, innerThree);
    const wrap = (attributes: number): Uint8Array =>
      encodeMessageSet(MessageSetMagic.v1, [
        { offset: 12n, attributes, timestamp: 999n, key: null, value: gzipSync(inner) },
      ]);
    const create = decodeMessageSet(wrap(CompressionCodec.gzip), inflating).messages;
    assert.deepEqual(
      create.map((m) => [m.offset, m.timestamp, str(m.key), str(m.value)]),
      [
        [10n, 100n, 'a', 'one'],
        [11n, 101n, null, 'two'],
        [12n, 102n, 'c', null],
      ],
    );
    const appendTime = wrap(CompressionCodec.gzip | MessageAttribute.logAppendTime);
    const stamped = decodeMessageSet(appendTime, inflating).messages;
    assert.deepEqual(
      stamped.map((m) => m.timestamp),
      [999n, 999n, 999n],
    );
    assert.throws(() => decodeMessageSet(wrap(CompressionCodec.gzip), limits), /Compressed message/);
  });

  it('keeps the absolute inner offsets of a magic-0 wrapper', () => {
    const inner = encodeMessageSet(
      MessageSetMagic.v0,
      innerThree.map((m, i) => ({ ...m, offset: 40n + BigInt(i) })),
    );
    const set = encodeMessageSet(MessageSetMagic.v0, [
      { offset: 42n, attributes: CompressionCodec.gzip, value: gzipSync(inner) },
    ]);
    const { messages } = decodeMessageSet(set, inflating);
    assert.deepEqual(
      messages.map((m) => [m.offset, m.timestamp]),
      [
        [40n, -1n],
        [41n, -1n],
        [42n, -1n],
      ],
    );
  });

  it('reads snappy wrappers, raw and xerial-framed', () => {
    const inner = encodeMessageSet(MessageSetMagic.v1, innerThree);
    for (const value of [snappyLiteral(inner), xerial(snappyLiteral(inner))]) {
      const set = encodeMessageSet(MessageSetMagic.v1, [
        { offset: 2n, attributes: CompressionCodec.snappy, timestamp: 102n, value },
      ]);
      const { messages } = decodeMessageSet(set, inflating);
      assert.deepEqual(
        messages.map((m) => str(m.value)),
        ['one', 'two', null],
      );
    }
  });

  it('reads magic-0 LZ4 written with the pre-0.10 (wrong) frame header checksum', () => {
    const inner = encodeMessageSet(MessageSetMagic.v0, innerThree);
    for (const checksum of [0x00, 0x5a]) {
      const set = encodeMessageSet(MessageSetMagic.v0, [
        { offset: 2n, attributes: CompressionCodec.lz4, value: lz4Stored(inner, checksum) },
      ]);
      assert.equal(decodeMessageSet(set, inflating).messages.length, 3);
    }
  });
});

describe('legacy MessageSet refusals and fuzz', () => {
  it('refuses nested compression, mismatched inner magic and undecodable compressed values', () => {
    const gz = (inner: Uint8Array, magic: MessageSetMagic): Uint8Array =>
      encodeMessageSet(magic, [{ offset: 0n, attributes: CompressionCodec.gzip, value: gzipSync(inner) }]);
    const nested = gz(
      gz(encodeMessageSet(MessageSetMagic.v1, innerThree), MessageSetMagic.v1),
      MessageSetMagic.v1,
    );
    assert.throws(() => decodeMessageSet(nested, inflating), /Nested/);
    const mixed = gz(encodeMessageSet(MessageSetMagic.v0, innerThree), MessageSetMagic.v1);
    assert.throws(() => decodeMessageSet(mixed, inflating), /magic differs/);
    const junk = encodeMessageSet(MessageSetMagic.v1, [
      { offset: 0n, attributes: CompressionCodec.gzip, value: text('not gzip') },
    ]);
    assert.throws(() => decodeMessageSet(junk, inflating), isKafkaCodecError);
  });

  it('fuzz: random and mutated input either decodes or throws KafkaCodecError', () => {
    let seed = 0x2545f491;
    const random = (n: number): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    const inner = encodeMessageSet(MessageSetMagic.v1, innerThree);
    const samples = [
      encodeMessageSet(MessageSetMagic.v0, innerThree),
      encodeMessageSet(MessageSetMagic.v1, innerThree),
      encodeMessageSet(MessageSetMagic.v1, [
        { offset: 2n, attributes: CompressionCodec.gzip, timestamp: 1n, value: gzipSync(inner) },
      ]),
      encodeMessageSet(MessageSetMagic.v1, [
        { offset: 2n, attributes: CompressionCodec.snappy, timestamp: 1n, value: snappyLiteral(inner) },
      ]),
    ];
    const rounds = 3000;
    for (let i = 0; i < rounds; i++) {
      let input: Uint8Array;
      if (i % 4 === 0) {
        input = Uint8Array.from({ length: random(80) }, () => random(256));
      } else {
        input = Uint8Array.from(samples[random(samples.length)]!);
        for (let k = 1 + random(4); k > 0; k--) input[random(input.length)] = random(256);
        if (random(5) === 0) input = input.subarray(0, random(input.length));
      }
      for (const verifyCrc of [true, false]) {
        try {
          decodeMessageSet(input, { messagesMax: 100, inflate: decompress, verifyCrc });
        } catch (err) {
          assert.ok(isKafkaCodecError(err), `round ${i}: ${String(err)}`);
        }
      }
    }
  });
});
