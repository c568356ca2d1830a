/**
 * The record codec: one log entry as bytes (layout in docs/storage-format.md, "Record"). Pure: no file
 * system, no clock, so it can be fed any bytes. `decodeRecord` never throws.
 */
import { crc32 } from 'node:zlib';
import { crc32c } from '../../shared/crc32c.js';
import { payloadCrc32cAt, payloadCrc32cFromByte, recordHeaderBytes } from '../common.js';

/** A record whose CRC-32 covers its header and whole payload. */
export const recordVersion = 1;
/**
 * A record whose payload carries its own CRC-32C (`AppendInput.payloadCrc32c`): the record's CRC-32
 * covers the header and the payload's first `payloadCrc32cFromByte` bytes, the payload's checksum the rest.
 */
export const selfCheckedVersion = 2;
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
  /** Written as version 2: the payload's own CRC-32C guards its bytes from `payloadCrc32cFromByte` on. */
  readonly payloadCrc32c?: boolean;
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
 * the header in `out`, or in its own buffer written right after it; the CRC covers both (with
 * `selfChecked`, only the payload's bytes its own CRC-32C does not). This runs once per append, so it
 * takes the fields as arguments and a `view` of `out` made by the caller once per buffer: no object,
 * no DataView and no bounds-checking Buffer helpers per record.
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
  selfChecked: boolean,
): void {
  view.setUint32(at, recordHeaderBytes + payload.byteLength - 4);
  out[at + 8] = selfChecked ? selfCheckedVersion : recordVersion;
  out[at + 9] = format;
  writeInt64(view, at + 10, offset);
  view.setUint32(at + 18, count);
  writeInt64(view, at + 22, timestamp);
  writeInt64(view, at + 30, maxTimestamp);
  const covered = selfChecked ? payload.subarray(0, payloadCrc32cFromByte) : payload;
  view.setUint32(at + 4, crc32(covered, crc32(out.subarray(at + crcStart, at + recordHeaderBytes))));
}

function encodeRecordInto(out: Buffer, at: number, fields: RecordFields): number {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const { offset, count, timestamp, maxTimestamp, format, payload } = fields;
  out.set(payload, at + recordHeaderBytes);
  const selfChecked = fields.payloadCrc32c === true;
  encodeRecordHeaderAt(out, view, at, offset, count, timestamp, maxTimestamp, format, payload, selfChecked);
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
 * Why the record of `size` bytes at `at` fails its checksums, or undefined when it passes: version 1's
 * CRC-32 over header and payload, or version 2's over the header and the payload's first bytes and the
 * payload's own CRC-32C over the rest. The version byte is read before it is verified, but a flipped
 * one sends the record to the other version's check, which then fails.
 */
function checksumFault(bytes: Uint8Array, view: DataView, at: number, size: number): string | undefined {
  const version = bytes[at + 8]!;
  const payloadAt = at + recordHeaderBytes;
  if (version === recordVersion) {
    return crc32(bytes.subarray(at + crcStart, at + size)) === view.getUint32(at + 4)
      ? undefined
      : 'CRC mismatch';
  }
  if (version !== selfCheckedVersion) return `unknown record version ${version}`;
  if (size - recordHeaderBytes < payloadCrc32cFromByte) return 'payload too short for its own CRC-32C';
  const coveredEnd = payloadAt + payloadCrc32cFromByte;
  if (crc32(bytes.subarray(at + crcStart, coveredEnd)) !== view.getUint32(at + 4)) return 'CRC mismatch';
  const own = view.getUint32(payloadAt + payloadCrc32cAt);
  return crc32c(bytes, coveredEnd, at + size) === own ? undefined : 'payload CRC-32C mismatch';
}

/**
 * Decodes the record at `at` of `bytes`, given a `view` over all of `bytes` made once per buffer. The
 * checksums are native calls (`checksumFault`); the payload is a view into `bytes`, not a copy.
 * `payloadBytesMax` bounds the length field, so a corrupt length is reported, not waited for. A record
 * lying wholly within the first `trustedBytes` of `bytes` skips the checksums (bytes this process
 * wrote or already verified: docs/storage-format.md, "Verified once"); every other check still runs.
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
  if (at + size > trustedBytes) {
    const fault = checksumFault(bytes, view, at, size);
    if (fault !== undefined) return fault;
  } else {
    const version = bytes[at + 8]!;
    if (version !== recordVersion && version !== selfCheckedVersion)
      return `unknown record version ${version}`;
  }
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
