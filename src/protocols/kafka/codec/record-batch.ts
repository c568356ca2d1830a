/**
 * Record batch v2 (magic 2), Kafka docs "implementation" §5.3.1:
 *
 *   0 baseOffset i64 | 8 batchLength i32 | 12 partitionLeaderEpoch i32 | 16 magic i8 | 17 crc u32
 *  21 attributes i16 | 23 lastOffsetDelta i32 | 27 baseTimestamp i64 | 35 maxTimestamp i64
 *  43 producerId i64 | 51 producerEpoch i16 | 53 baseSequence i32 | 57 recordsCount i32 | 61 records
 *
 * batchLength counts the bytes after itself. The CRC-32C covers attributes to the end, so the broker
 * can assign offsets by rewriting baseOffset in place and keep the batch opaque. Records are only
 * decoded here for uncompressed batches (cross-protocol delivery); compression is out of scope.
 */
import { assert } from '../../../shared/assert.js';
import { crc32c } from '../../../shared/crc32c.js';
import { KafkaCodecError, KafkaCodecReason } from './errors.js';
import { KafkaReader, KafkaWriter } from './primitives.js';

export const batchHeaderBytes = 61;
const lengthFieldEnd = 12;
const crcOffset = 17;
const crcStart = 21;
const magicV2 = 2;

export const CompressionCodec = { none: 0, gzip: 1, snappy: 2, lz4: 3, zstd: 4 } as const;
export type CompressionCodec = (typeof CompressionCodec)[keyof typeof CompressionCodec];

/** Attribute bits (§5.3.1): 0-2 codec, 3 timestamp type, 4 transactional, 5 control, 6 delete horizon. */
export const BatchAttribute = {
  compressionMask: 0x07,
  logAppendTime: 0x08,
  transactional: 0x10,
  control: 0x20,
  deleteHorizon: 0x40,
} as const;

export interface RecordBatchHeader {
  baseOffset: bigint;
  batchLength: number;
  partitionLeaderEpoch: number;
  magic: number;
  crc: number;
  attributes: number;
  lastOffsetDelta: number;
  baseTimestamp: bigint;
  maxTimestamp: bigint;
  producerId: bigint;
  producerEpoch: number;
  baseSequence: number;
  recordsCount: number;
}

export interface RecordHeader {
  key: string;
  value: Uint8Array | null;
}

export interface KafkaRecord {
  attributes: number;
  timestampDelta: bigint;
  offsetDelta: number;
  key: Uint8Array | null;
  value: Uint8Array | null;
  headers: RecordHeader[];
}

const utf8Decoder = new TextDecoder();

function malformed(why: string): KafkaCodecError {
  return new KafkaCodecError(KafkaCodecReason.malformed, why);
}

/** The codec named by the attribute bits; 5-7 are undefined and returned as-is for the caller to refuse. */
export function compressionOf(attributes: number): number {
  return attributes & BatchAttribute.compressionMask;
}

/**
 * Reads and checks the fixed batch header at `offset`; the whole batch must be present. One view
 * over the header, no reader: this runs for every batch produced, one-record requests included.
 */
export function readBatchHeader(bytes: Uint8Array, offset = 0): RecordBatchHeader {
  if (offset < 0 || bytes.length - offset < batchHeaderBytes)
    throw new KafkaCodecError(KafkaCodecReason.truncated, 'Short record batch');
  const v = new DataView(bytes.buffer, bytes.byteOffset + offset, batchHeaderBytes);
  const header: RecordBatchHeader = {
    baseOffset: v.getBigInt64(0),
    batchLength: v.getInt32(8),
    partitionLeaderEpoch: v.getInt32(12),
    magic: v.getInt8(16),
    crc: v.getUint32(17),
    attributes: v.getInt16(21),
    lastOffsetDelta: v.getInt32(23),
    baseTimestamp: v.getBigInt64(27),
    maxTimestamp: v.getBigInt64(35),
    producerId: v.getBigInt64(43),
    producerEpoch: v.getInt16(51),
    baseSequence: v.getInt32(53),
    recordsCount: v.getInt32(57),
  };
  if (header.magic !== magicV2) throw malformed(`Record batch magic ${header.magic}, only 2 is supported`);
  if (header.batchLength < batchHeaderBytes - lengthFieldEnd)
    throw malformed('Record batch length too small');
  if (header.batchLength > bytes.length - offset - lengthFieldEnd) {
    throw new KafkaCodecError(KafkaCodecReason.truncated, 'Record batch extends past the input');
  }
  if (header.recordsCount < 0) throw malformed('Negative record count');
  return header;
}

/** Total size of the batch starting at `offset`, or null if fewer than 12 bytes are there to tell. */
export function batchSizeAt(bytes: Uint8Array, offset = 0): number | null {
  if (bytes.length - offset < lengthFieldEnd) return null;
  // Big-endian i32 read from the bytes themselves: a view per batch cost more than the read.
  const at = offset + 8;
  const length = (bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!;
  if (length < batchHeaderBytes - lengthFieldEnd) throw malformed('Record batch length too small');
  return lengthFieldEnd + length;
}

export interface BatchSpan {
  offset: number;
  length: number;
}

/**
 * Splits a `records` field into its batches. A trailing partial batch (legal at the end of a Fetch
 * response) is reported in `partialBytes`, not returned.
 */
export function splitBatches(
  records: Uint8Array,
  batchesMax: number,
): { batches: BatchSpan[]; partialBytes: number } {
  const batches: BatchSpan[] = [];
  let offset = 0;
  while (offset < records.length) {
    const size = batchSizeAt(records, offset);
    if (size === null || offset + size > records.length) break;
    if (batches.length === batchesMax) throw malformed(`More than ${batchesMax} record batches`);
    batches.push({ offset, length: size });
    offset += size;
  }
  return { batches, partialBytes: records.length - offset };
}

/**
 * Assigns the batch's first offset in place; the CRC does not cover it, so it stays valid. A number
 * (an offset is a safe integer, ≥ 0) is written without a BigInt or a view, as every produce does.
 */
export function setBaseOffset(bytes: Uint8Array, offset: number, baseOffset: bigint | number): void {
  if (bytes.length - offset < 8) throw new KafkaCodecError(KafkaCodecReason.truncated, 'Short record batch');
  if (typeof baseOffset === 'bigint') {
    new DataView(bytes.buffer, bytes.byteOffset + offset, 8).setBigInt64(0, baseOffset);
    return;
  }
  assert(Number.isSafeInteger(baseOffset) && baseOffset >= 0, 'a base offset is a safe integer ≥ 0');
  writeUint32(bytes, offset, Math.floor(baseOffset / 2 ** 32));
  writeUint32(bytes, offset + 4, baseOffset >>> 0);
}

function writeUint32(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value >>> 24;
  bytes[at + 1] = value >>> 16;
  bytes[at + 2] = value >>> 8;
  bytes[at + 3] = value;
}

/**
 * A copy of the batch at the start of `bytes` with new attributes, max timestamp and records section
 * (encoded as the new attributes' codec says); its length and CRC-32C are computed again.
 */
export function rebuildBatch(
  bytes: Uint8Array,
  changes: { readonly attributes: number; readonly maxTimestamp: bigint; readonly records: Uint8Array },
): Uint8Array {
  if (bytes.length < batchHeaderBytes)
    throw new KafkaCodecError(KafkaCodecReason.truncated, 'Short record batch');
  const out = new Uint8Array(batchHeaderBytes + changes.records.length);
  out.set(bytes.subarray(0, batchHeaderBytes));
  out.set(changes.records, batchHeaderBytes);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  view.setInt32(8, out.length - lengthFieldEnd);
  view.setInt16(crcStart, changes.attributes);
  view.setBigInt64(35, changes.maxTimestamp);
  view.setUint32(crcOffset, crc32c(out, crcStart, out.length));
  return out;
}

/** True when the stored CRC-32C matches the bytes from attributes to the end of the batch. */
export function batchCrcValid(
  bytes: Uint8Array,
  offset = 0,
  header: RecordBatchHeader = readBatchHeader(bytes, offset),
): boolean {
  const end = offset + lengthFieldEnd + header.batchLength;
  return crc32c(bytes, offset + crcStart, end) === header.crc;
}

/** Decodes the records of an uncompressed batch at `offset`. */
export function decodeRecords(bytes: Uint8Array, offset = 0): KafkaRecord[] {
  const header = readBatchHeader(bytes, offset);
  const codec = compressionOf(header.attributes);
  if (codec !== CompressionCodec.none) {
    throw new KafkaCodecError(KafkaCodecReason.invalidValue, `Record batch is compressed (codec ${codec})`);
  }
  const r = new KafkaReader(bytes, offset + batchHeaderBytes, offset + lengthFieldEnd + header.batchLength);
  if (header.recordsCount > r.remaining)
    throw malformed(`${header.recordsCount} records in ${r.remaining} bytes`);
  const records: KafkaRecord[] = [];
  for (let i = 0; i < header.recordsCount; i++) records.push(readRecord(r));
  if (r.remaining !== 0) throw malformed(`${r.remaining} bytes after the last record`);
  return records;
}

/** Moves past a varlong without making its value (a BigInt). */
function skipVarlong(r: KafkaReader): void {
  for (let i = 0; i < 10; i++) if ((r.readInt8() & 0x80) === 0) return;
  throw malformed('Varlong is longer than 64 bits');
}

/** What `recordKeys` gives of one record: where it sits, its key's bytes, whether its value is null. */
export interface RecordKey {
  readonly offsetDelta: number;
  /** The key as a latin1 string of its bytes (one character per byte), or undefined when null. */
  readonly key: string | undefined;
  readonly nullValue: boolean;
}

/**
 * The keys of an uncompressed batch's records, without decoding values or headers: what compaction
 * needs of every stored record, at a fraction of `decodeRecords`' cost (no copy, no header objects).
 * Each record's own length bounds the walk, so a record is skipped whole whatever its value holds.
 */
export function recordKeys(bytes: Uint8Array): RecordKey[] {
  const header = readBatchHeader(bytes);
  const codec = compressionOf(header.attributes);
  if (codec !== CompressionCodec.none) {
    throw new KafkaCodecError(KafkaCodecReason.invalidValue, `Record batch is compressed (codec ${codec})`);
  }
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const r = new KafkaReader(bytes, batchHeaderBytes, lengthFieldEnd + header.batchLength);
  if (header.recordsCount > r.remaining)
    throw malformed(`${header.recordsCount} records in ${r.remaining} bytes`);
  const out: RecordKey[] = [];
  for (let i = 0; i < header.recordsCount; i++) {
    const length = r.readVarint();
    if (length < 0 || length > r.remaining) throw malformed(`Bad record length ${length}`);
    const end = r.offset + length;
    r.readInt8(); // attributes
    skipVarlong(r); // timestampDelta
    const offsetDelta = r.readVarint();
    const keyBytes = r.readVarint();
    if (keyBytes < -1 || r.offset + Math.max(keyBytes, 0) > end)
      throw malformed(`Bad key length ${keyBytes}`);
    const key = keyBytes === -1 ? undefined : buf.toString('latin1', r.offset, r.offset + keyBytes);
    r.skip(Math.max(keyBytes, 0));
    const valueBytes = r.readVarint();
    if (valueBytes < -1 || r.offset > end) throw malformed(`Bad value length ${valueBytes}`);
    out.push({ offsetDelta, key, nullValue: valueBytes === -1 });
    r.skip(end - r.offset);
  }
  if (r.remaining !== 0) throw malformed(`${r.remaining} bytes after the last record`);
  return out;
}

function readVarBytes(r: KafkaReader): Uint8Array | null {
  const n = r.readVarint();
  if (n < -1) throw malformed(`Negative length ${n}`);
  return n === -1 ? null : r.readRaw(n);
}

function readRecord(outer: KafkaReader): KafkaRecord {
  const length = outer.readVarint();
  if (length < 0) throw malformed(`Negative record length ${length}`);
  const r = outer.sub(length);
  const attributes = r.readInt8();
  const timestampDelta = r.readVarlong();
  const offsetDelta = r.readVarint();
  const key = readVarBytes(r);
  const value = readVarBytes(r);
  const headerCount = r.readVarint();
  if (headerCount < 0 || headerCount > r.remaining) throw malformed(`Bad record header count ${headerCount}`);
  const headers: RecordHeader[] = [];
  for (let i = 0; i < headerCount; i++) {
    const headerKey = readVarBytes(r);
    if (headerKey === null) throw malformed('Null record header key');
    headers.push({ key: utf8Decoder.decode(headerKey), value: readVarBytes(r) });
  }
  if (r.remaining !== 0) throw malformed(`${r.remaining} bytes after a record's fields`);
  return { attributes, timestampDelta, offsetDelta, key, value, headers };
}

export interface RecordInput {
  timestampDelta?: bigint;
  /** Defaults to the record's index in the batch. */
  offsetDelta?: number;
  key?: Uint8Array | null;
  value: Uint8Array | null;
  headers?: readonly RecordHeader[];
}

export interface RecordBatchInput {
  baseOffset?: bigint;
  partitionLeaderEpoch?: number;
  /** Compression bits must be 0: this helper only writes uncompressed batches. */
  attributes?: number;
  baseTimestamp: bigint;
  /** Defaults to baseTimestamp plus the largest timestampDelta. */
  maxTimestamp?: bigint;
  producerId?: bigint;
  producerEpoch?: number;
  baseSequence?: number;
  /** At least the last record's offsetDelta; larger for a batch whose last records were removed (compaction). */
  lastOffsetDelta?: number;
  records: readonly RecordInput[];
}

const utf8 = new TextEncoder();

function writeVarBytes(w: KafkaWriter, bytes: Uint8Array | null): void {
  if (bytes === null) {
    w.writeVarint(-1);
    return;
  }
  w.writeVarint(bytes.length);
  w.writeRaw(bytes);
}

function writeRecord(w: KafkaWriter, rec: RecordInput, index: number): void {
  const body = new KafkaWriter(64);
  body.writeInt8(0);
  body.writeVarlong(rec.timestampDelta ?? 0n);
  body.writeVarint(rec.offsetDelta ?? index);
  writeVarBytes(body, rec.key ?? null);
  writeVarBytes(body, rec.value);
  const headers = rec.headers ?? [];
  body.writeVarint(headers.length);
  for (const h of headers) {
    writeVarBytes(body, utf8.encode(h.key));
    writeVarBytes(body, h.value);
  }
  w.writeVarint(body.length);
  w.writeRaw(body.finish());
}

/** Encodes an uncompressed v2 batch with its lengths and CRC-32C filled in. */
export function encodeRecordBatch(input: RecordBatchInput): Uint8Array {
  const attributes = input.attributes ?? 0;
  if (compressionOf(attributes) !== CompressionCodec.none) {
    throw new KafkaCodecError(KafkaCodecReason.invalidValue, 'Only uncompressed batches can be encoded');
  }
  if (input.records.length === 0)
    throw new KafkaCodecError(KafkaCodecReason.invalidValue, 'Empty record batch');
  let lastOffsetDelta = input.lastOffsetDelta ?? 0;
  let maxDelta = 0n;
  input.records.forEach((rec, i) => {
    lastOffsetDelta = Math.max(lastOffsetDelta, rec.offsetDelta ?? i);
    if ((rec.timestampDelta ?? 0n) > maxDelta) maxDelta = rec.timestampDelta ?? 0n;
  });
  const w = new KafkaWriter(batchHeaderBytes + 64 * input.records.length);
  w.writeInt64(input.baseOffset ?? 0n);
  w.writeInt32(0);
  w.writeInt32(input.partitionLeaderEpoch ?? -1);
  w.writeInt8(magicV2);
  w.writeUint32(0);
  w.writeInt16(attributes);
  w.writeInt32(lastOffsetDelta);
  w.writeInt64(input.baseTimestamp);
  w.writeInt64(input.maxTimestamp ?? input.baseTimestamp + maxDelta);
  w.writeInt64(input.producerId ?? -1n);
  w.writeInt16(input.producerEpoch ?? -1);
  w.writeInt32(input.baseSequence ?? -1);
  w.writeInt32(input.records.length);
  for (let i = 0; i < input.records.length; i++) writeRecord(w, input.records[i]!, i);
  const bytes = w.finish();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  view.setInt32(8, bytes.length - lengthFieldEnd);
  view.setUint32(crcOffset, crc32c(bytes, crcStart));
  return bytes;
}
