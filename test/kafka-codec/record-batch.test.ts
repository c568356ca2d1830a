import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  BatchAttribute,
  batchCrcValid,
  CompressionCodec,
  compressionOf,
  crc32c,
  crc32cJs,
  decodeRecords,
  encodeRecordBatch,
  isKafkaCodecError,
  readBatchHeader,
  recordKeys,
  setBaseOffset,
  splitBatches,
} from '../../src/protocols/kafka/codec/index.js';
import { nativeBytesMin } from '../../src/shared/crc32c.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('crc32c', () => {
  it('matches the CRC-32C check value', () => {
    assert.equal(crc32c(text('123456789')), 0xe3069283);
    assert.equal(crc32c(new Uint8Array(0)), 0);
    assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa, 'RFC 3720 B.4: 32 bytes of zeros');
    assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43, 'RFC 3720 B.4: 32 bytes of ones');
  });

  it('continues a running checksum and honours a window', () => {
    const all = text('The quick brown fox jumps over the lazy dog, twice or more');
    const whole = crc32c(all);
    assert.equal(crc32c(all, 13, all.length, crc32c(all, 0, 13)), whole);
    assert.equal(crc32c(all, 4, 13), crc32c(all.subarray(4, 13)));
  });

  it('gives the same answer on long inputs, native or not, for any window and running value', () => {
    const bytes = new Uint8Array(70_000);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24;
    const cases: Array<[number, number]> = [
      [0, bytes.length],
      [3, 3 + nativeBytesMin],
      [1, nativeBytesMin - 1],
      [61, 65_537],
      [1000, 1000],
    ];
    for (const [start, end] of cases) {
      assert.equal(crc32c(bytes, start, end), crc32cJs(bytes, start, end), `[${start}, ${end})`);
      const head = crc32cJs(bytes, 0, start);
      assert.equal(crc32c(bytes, start, end, head), crc32cJs(bytes, 0, end), `continued at ${start}`);
    }
    const batch = encodeRecordBatch({
      baseTimestamp: 0n,
      records: [{ key: null, value: bytes.subarray(0, 5000) }],
    });
    assert.ok(batchCrcValid(batch));
    batch[batch.length - 1]! ^= 1;
    assert.ok(!batchCrcValid(batch), 'one flipped bit of a long batch is found');
  });
});

describe('record batch v2', () => {
  const records = [
    { key: null, value: text('hi') },
    { key: text('k'), value: null, timestampDelta: 250n, headers: [{ key: 'trace', value: text('t1') }] },
    { key: text('k2'), value: text('v'), timestampDelta: 100n, headers: [{ key: 'empty', value: null }] },
  ];
  const batch = encodeRecordBatch({ baseTimestamp: 1_700_000_000_000n, records });

  it('writes the header fields a broker reads', () => {
    const h = readBatchHeader(batch);
    assert.equal(h.baseOffset, 0n);
    assert.equal(h.batchLength, batch.length - 12);
    assert.equal(h.magic, 2);
    assert.equal(h.lastOffsetDelta, 2);
    assert.equal(h.baseTimestamp, 1_700_000_000_000n);
    assert.equal(h.maxTimestamp, 1_700_000_000_250n);
    assert.equal(h.producerId, -1n);
    assert.equal(h.producerEpoch, -1);
    assert.equal(h.baseSequence, -1);
    assert.equal(h.recordsCount, 3);
    assert.equal(compressionOf(h.attributes), CompressionCodec.none);
  });

  it('ends with the hand-encoded first record when it is alone', () => {
    const single = encodeRecordBatch({ baseTimestamp: 0n, records: [{ key: null, value: text('hi') }] });
    // length 8, attributes 0, timestampDelta 0, offsetDelta 0, key null (-1), value len 2 "hi", 0 headers
    assert.equal(hex(single.subarray(61)), '1000000001046869' + '00');
  });

  it('decodes what it encodes', () => {
    const decoded = decodeRecords(batch);
    assert.equal(decoded.length, 3);
    assert.deepEqual(decoded[0], {
      attributes: 0,
      timestampDelta: 0n,
      offsetDelta: 0,
      key: null,
      value: text('hi'),
      headers: [],
    });
    assert.deepEqual(decoded[1]?.headers, [{ key: 'trace', value: text('t1') }]);
    assert.equal(decoded[1]?.value, null);
    assert.equal(decoded[2]?.offsetDelta, 2);
    assert.deepEqual(decoded[2]?.headers, [{ key: 'empty', value: null }]);
  });

  it('lists the keys compaction needs as decodeRecords sees them, and refuses a record cut short', () => {
    const binaryKey = new Uint8Array([0, 200, 255]);
    const big = encodeRecordBatch({
      baseTimestamp: 0n,
      records: [...records, { key: binaryKey, value: new Uint8Array(300), timestampDelta: 1n << 40n }],
    });
    assert.deepEqual(
      recordKeys(big),
      decodeRecords(big).map((r) => ({
        offsetDelta: r.offsetDelta,
        key: r.key === null ? undefined : Buffer.from(r.key).toString('latin1'),
        nullValue: r.value === null,
      })),
    );
    const cut = Uint8Array.from(big);
    // The last record claims more bytes than the batch holds.
    new DataView(cut.buffer).setInt32(57, 5);
    assert.throws(() => recordKeys(cut), isKafkaCodecError);
  });

  it('has a valid CRC that survives a baseOffset rewrite and catches corruption', () => {
    const copy = Uint8Array.from(batch);
    assert.equal(batchCrcValid(copy), true);
    setBaseOffset(copy, 0, 1234n);
    assert.equal(readBatchHeader(copy).baseOffset, 1234n);
    assert.equal(batchCrcValid(copy), true);
    copy[copy.length - 2]! ^= 0x01;
    assert.equal(batchCrcValid(copy), false);
  });

  it('writes a base offset given as a number as the same bytes as the BigInt, past 2^32 too', () => {
    for (const offset of [0, 1234, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 7, Number.MAX_SAFE_INTEGER]) {
      const asNumber = Uint8Array.from(batch);
      const asBigInt = Uint8Array.from(batch);
      setBaseOffset(asNumber, 0, offset);
      setBaseOffset(asBigInt, 0, BigInt(offset));
      assert.equal(hex(asNumber), hex(asBigInt), `offset ${offset}`);
      assert.equal(readBatchHeader(asNumber).baseOffset, BigInt(offset));
      assert.equal(batchCrcValid(asNumber), true);
    }
    assert.throws(() => setBaseOffset(Uint8Array.from(batch), 0, -1));
  });

  it('reads a batch header at an offset and refuses one cut short', () => {
    const padded = Uint8Array.from([1, 2, 3, ...batch]);
    assert.deepEqual(readBatchHeader(padded, 3), readBatchHeader(batch));
    assert.equal(batchCrcValid(padded, 3, readBatchHeader(padded, 3)), true);
    assert.throws(() => readBatchHeader(batch.subarray(0, 60)), isKafkaCodecError);
  });

  it('splits a records field into batches and reports a trailing partial batch', () => {
    const second = encodeRecordBatch({ baseOffset: 3n, baseTimestamp: 5n, records: [{ value: text('x') }] });
    const joined = Uint8Array.from([...batch, ...second, ...second.subarray(0, 20)]);
    const { batches, partialBytes } = splitBatches(joined, 10);
    assert.deepEqual(batches, [
      { offset: 0, length: batch.length },
      { offset: batch.length, length: second.length },
    ]);
    assert.equal(partialBytes, 20);
    assert.equal(readBatchHeader(joined, batch.length).baseOffset, 3n);
    assert.throws(() => splitBatches(joined, 1), isKafkaCodecError);
  });

  it('names the compression codec from the attributes and refuses to decode compressed records', () => {
    assert.equal(compressionOf(CompressionCodec.zstd | BatchAttribute.transactional), CompressionCodec.zstd);
    const compressed = Uint8Array.from(batch);
    compressed[22] = CompressionCodec.gzip;
    assert.throws(() => decodeRecords(compressed), isKafkaCodecError);
    assert.throws(() => encodeRecordBatch({ baseTimestamp: 0n, attributes: 1, records }), isKafkaCodecError);
  });

  it('refuses batches with a wrong magic or a length past the input', () => {
    const wrongMagic = Uint8Array.from(batch);
    wrongMagic[16] = 1;
    assert.throws(() => readBatchHeader(wrongMagic), isKafkaCodecError);
    assert.throws(() => readBatchHeader(batch.subarray(0, batch.length - 1)), isKafkaCodecError);
  });
});
