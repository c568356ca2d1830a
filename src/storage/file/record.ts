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

function writeInt64(out: Buffer, at: number, value: number): void {
  const hi = Math.floor(value / two32);
  out.writeInt32BE(hi, at);
  out.writeUInt32BE(value - hi * two32, at + 4);
}

function readInt64(view: DataView, at: number): number {
  return view.getInt32(at) * two32 + view.getUint32(at + 4);
}

/**
 * Encodes into `out` at `at` (which must have room for `recordBytes`); returns the bytes written.
 * Buffer methods rather than a DataView: this runs once per append and must not allocate.
 */
export function encodeRecordInto(out: Buffer, at: number, fields: RecordFields): number {
  const size = recordBytes(fields.payload.byteLength);
  out.writeUInt32BE(size - 4, at);
  out[at + 8] = recordVersion;
  out[at + 9] = fields.format;
  writeInt64(out, at + 10, fields.offset);
  out.writeUInt32BE(fields.count, at + 18);
  writeInt64(out, at + 22, fields.timestamp);
  writeInt64(out, at + 30, fields.maxTimestamp);
  out.set(fields.payload, at + recordHeaderBytes);
  out.writeUInt32BE(crc32(out.subarray(at + crcStart, at + size)), at + 4);
  return size;
}

export function encodeRecord(fields: RecordFields): Uint8Array {
  const out = Buffer.alloc(recordBytes(fields.payload.byteLength));
  encodeRecordInto(out, 0, fields);
  return out;
}

/**
 * Decodes the record starting at `at`. `payloadBytesMax` bounds the length field, so a corrupt length
 * is reported as corrupt instead of asking for gigabytes. The payload is a view into `bytes`.
 */
export function decodeRecord(bytes: Uint8Array, at: number, payloadBytesMax: number): DecodeResult {
  const available = bytes.byteLength - at;
  if (at < 0 || available < 4) return { kind: 'incomplete', bytesNeeded: 4 };
  const view = new DataView(bytes.buffer, bytes.byteOffset + at, available);
  const length = view.getUint32(0);
  if (length < lengthOverheadBytes) return { kind: 'corrupt', reason: `length ${length} is too small` };
  if (length - lengthOverheadBytes > payloadBytesMax) {
    return { kind: 'corrupt', reason: `length ${length} exceeds the entry limit` };
  }
  const size = length + 4;
  if (available < size) return { kind: 'incomplete', bytesNeeded: size };
  const stored = view.getUint32(4);
  if (crc32(bytes.subarray(at + crcStart, at + size)) !== stored)
    return { kind: 'corrupt', reason: 'CRC mismatch' };
  const version = view.getUint8(8);
  if (version !== recordVersion) return { kind: 'corrupt', reason: `unknown record version ${version}` };
  const count = view.getUint32(18);
  if (count < 1) return { kind: 'corrupt', reason: 'count is 0' };
  const offset = readInt64(view, 10);
  if (offset < 0 || !Number.isSafeInteger(offset + count))
    return { kind: 'corrupt', reason: 'offset out of range' };
  const record: RecordFields = {
    offset,
    count,
    timestamp: readInt64(view, 22),
    maxTimestamp: readInt64(view, 30),
    format: view.getUint8(9),
    payload: bytes.subarray(at + recordHeaderBytes, at + size),
  };
  return { kind: 'ok', record, bytes: size };
}
