/**
 * The record codec: one log entry as bytes (layout in docs/storage-format.md, "Record"). Pure: no file
 * system, no clock, so it can be fed any bytes. `decodeRecord` never throws.
 */
import { crc32 } from 'node:zlib';
import { recordHeaderBytes } from '../common.js';

export const recordVersion = 1;
/** Bytes after the length field that are not payload. */
const lengthOverheadBytes = recordHeaderBytes - 4;
const crcStart = 8;
const two32 = 2 ** 32;

export interface RecordFields {
  readonly offset: number;
  readonly count: number;
  readonly timestamp: number;
  readonly maxTimestamp: number;
  readonly format: number;
  readonly payload: Uint8Array;
}

export type DecodeResult =
  | { readonly kind: 'ok'; readonly record: RecordFields; readonly bytes: number }
  | { readonly kind: 'incomplete'; readonly bytesNeeded: number }
  | { readonly kind: 'corrupt'; readonly reason: string };

export function recordBytes(payloadBytes: number): number {
  return recordHeaderBytes + payloadBytes;
}

function writeInt64(view: DataView, at: number, value: number): void {
  const hi = Math.floor(value / two32);
  view.setInt32(at, hi);
  view.setUint32(at + 4, value - hi * two32);
}

function readInt64(view: DataView, at: number): number {
  return view.getInt32(at) * two32 + view.getUint32(at + 4);
}

/**
 * Encodes the header of the record at `at` whose payload is `payload`, wherever that lies: copied after
 * the header in `out`, or in its own buffer written right after it; the CRC covers both. This runs once
 * per append, so it takes the fields as arguments and a `view` of `out` made by the caller once per
 * buffer: no object, no DataView and no bounds-checking Buffer helpers per record.
 */
export function encodeRecordHeaderAt(
  out: Buffer,
  view: DataView,
  at: number,
  offset: number,
  count: number,
  timestamp: number,
  maxTimestamp: number,
  format: number,
  payload: Uint8Array,
): void {
  view.setUint32(at, recordHeaderBytes + payload.byteLength - 4);
  out[at + 8] = recordVersion;
  out[at + 9] = format;
  writeInt64(view, at + 10, offset);
  view.setUint32(at + 18, count);
  writeInt64(view, at + 22, timestamp);
  writeInt64(view, at + 30, maxTimestamp);
  view.setUint32(at + 4, crc32(payload, crc32(out.subarray(at + crcStart, at + recordHeaderBytes))));
}

function encodeRecordInto(out: Buffer, at: number, fields: RecordFields): number {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const { offset, count, timestamp, maxTimestamp, format, payload } = fields;
  out.set(payload, at + recordHeaderBytes);
  encodeRecordHeaderAt(out, view, at, offset, count, timestamp, maxTimestamp, format, payload);
  return recordHeaderBytes + payload.byteLength;
}

export function encodeRecord(fields: RecordFields): Uint8Array {
  const out = Buffer.alloc(recordBytes(fields.payload.byteLength));
  encodeRecordInto(out, 0, fields);
  return out;
}

/**
 * What `readRecordAt` found: a record, the bytes the record at `at` needs when not all are there
 * (a number), or why it is corrupt (a string). No result object, so a read makes one object per record.
 */
export type RecordAt = RecordFields | number | string;

/**
 * Decodes the record at `at` of `bytes`, given a `view` over all of `bytes` made once per buffer. The
 * CRC is one native call over header and payload; the payload is a view into `bytes`, not a copy.
 * `payloadBytesMax` bounds the length field, so a corrupt length is reported, not waited for. A record
 * lying wholly within the first `trustedBytes` of `bytes` skips the CRC (bytes this process wrote or
 * already verified: docs/storage-format.md, "Verified once"); every other check still runs.
 */
export function readRecordAt(
  bytes: Uint8Array,
  view: DataView,
  at: number,
  payloadBytesMax: number,
  trustedBytes = 0,
): RecordAt {
  const available = bytes.byteLength - at;
  if (at < 0 || available < 4) return 4;
  const length = view.getUint32(at);
  if (length < lengthOverheadBytes) return `length ${length} is too small`;
  if (length - lengthOverheadBytes > payloadBytesMax) return `length ${length} exceeds the entry limit`;
  const size = length + 4;
  if (available < size) return size;
  if (at + size > trustedBytes && crc32(bytes.subarray(at + crcStart, at + size)) !== view.getUint32(at + 4))
    return 'CRC mismatch';
  const version = bytes[at + 8]!;
  if (version !== recordVersion) return `unknown record version ${version}`;
  const count = view.getUint32(at + 18);
  if (count < 1) return 'count is 0';
  const offset = readInt64(view, at + 10);
  if (offset < 0 || !Number.isSafeInteger(offset + count)) return 'offset out of range';
  return {
    offset,
    count,
    timestamp: readInt64(view, at + 22),
    maxTimestamp: readInt64(view, at + 30),
    format: bytes[at + 9]!,
    payload: bytes.subarray(at + recordHeaderBytes, at + size),
  };
}

/**
 * Decodes the record starting at `at`. `payloadBytesMax` bounds the length field, so a corrupt length
 * is reported as corrupt instead of asking for gigabytes. The payload is a view into `bytes`.
 */
export function decodeRecord(bytes: Uint8Array, at: number, payloadBytesMax: number): DecodeResult {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const found = readRecordAt(bytes, view, at, payloadBytesMax);
  if (typeof found === 'number') return { kind: 'incomplete', bytesNeeded: found };
  if (typeof found === 'string') return { kind: 'corrupt', reason: found };
  return { kind: 'ok', record: found, bytes: recordHeaderBytes + found.payload.byteLength };
}
