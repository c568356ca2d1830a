/**
 * The sparse indexes of one segment, in memory and as `.index` / `.timeindex` files (layouts in
 * docs/storage-format.md, "Index files"). Encoding and decoding are pure.
 */
import { crc32 } from 'node:zlib';

/** `maxTimestampBefore` of the first point: nothing comes before it. */
export const timestampNone = Number.MIN_SAFE_INTEGER;
const footerMagic = 0x53575958; // "SWYX"
/** Index files are derived data: one of another version is rebuilt from its segment, never trusted. */
const indexVersion = 1;
const footerBytes = 16;
const offsetEntryBytes = 8;
const timeEntryBytes = 12;
const two32 = 2 ** 32;

/** Parallel arrays, one element per sampled record. */
export interface SparseIndex {
  readonly offsets: number[];
  readonly positions: number[];
  /** Largest maxTimestamp of the records before each point; never decreases. */
  readonly timesBefore: number[];
}

export function emptyIndex(): SparseIndex {
  return { offsets: [], positions: [], timesBefore: [] };
}

/** Index of the last point whose offset is <= `offset`, or -1. */
export function pointAtOrBefore(index: SparseIndex, offset: number): number {
  return lastBelow(index.offsets, offset + 1);
}

/** Index of the last point whose `timesBefore` is < `timestamp`, or -1. */
export function pointBeforeTime(index: SparseIndex, timestamp: number): number {
  return lastBelow(index.timesBefore, timestamp);
}

/** In a non-decreasing array: the last index whose value is < `limit`, or -1. */
function lastBelow(values: readonly number[], limit: number): number {
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (values[mid]! < limit) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

function withFooter(entries: Uint8Array, count: number): Uint8Array {
  const out = new Uint8Array(entries.byteLength + footerBytes);
  out.set(entries, 0);
  const view = new DataView(out.buffer, entries.byteLength, footerBytes);
  view.setUint32(0, count);
  view.setUint32(4, crc32(entries));
  view.setUint16(8, indexVersion);
  view.setUint16(10, footerBytes);
  view.setUint32(12, footerMagic);
  return out;
}

export function encodeIndexFiles(
  index: SparseIndex,
  base: number,
): { offsets: Uint8Array; times: Uint8Array } {
  const n = index.offsets.length;
  const offsets = new Uint8Array(n * offsetEntryBytes);
  const times = new Uint8Array(n * timeEntryBytes);
  const ov = new DataView(offsets.buffer);
  const tv = new DataView(times.buffer);
  for (let i = 0; i < n; i++) {
    ov.setUint32(i * offsetEntryBytes, index.offsets[i]! - base);
    ov.setUint32(i * offsetEntryBytes + 4, index.positions[i]!);
    const t = index.timesBefore[i]!;
    const hi = Math.floor(t / two32);
    tv.setInt32(i * timeEntryBytes, hi);
    tv.setUint32(i * timeEntryBytes + 4, t - hi * two32);
    tv.setUint32(i * timeEntryBytes + 8, index.offsets[i]! - base);
  }
  return { offsets: withFooter(offsets, n), times: withFooter(times, n) };
}

/** The entries of an index file, or undefined when the footer does not vouch for them. */
function checkedEntries(file: Uint8Array, entryBytes: number): DataView | undefined {
  if (file.byteLength < footerBytes) return undefined;
  const body = file.subarray(0, file.byteLength - footerBytes);
  const footer = new DataView(file.buffer, file.byteOffset + body.byteLength, footerBytes);
  const count = footer.getUint32(0);
  if (footer.getUint32(12) !== footerMagic || count * entryBytes !== body.byteLength) return undefined;
  if (footer.getUint16(8) !== indexVersion || footer.getUint16(10) !== footerBytes) return undefined;
  if (crc32(body) !== footer.getUint32(4)) return undefined;
  return new DataView(body.buffer, body.byteOffset, body.byteLength);
}

/**
 * Decodes both files of a segment; undefined unless they are consistent with each other and with a
 * segment file of `segmentBytes` (see "Index files" in docs/storage-format.md).
 */
export function decodeIndexFiles(
  offsetsFile: Uint8Array,
  timesFile: Uint8Array,
  base: number,
  headerBytes: number,
  segmentBytes: number,
): SparseIndex | undefined {
  const ov = checkedEntries(offsetsFile, offsetEntryBytes);
  const tv = checkedEntries(timesFile, timeEntryBytes);
  if (!ov || !tv || ov.byteLength / offsetEntryBytes !== tv.byteLength / timeEntryBytes) return undefined;
  const index = emptyIndex();
  const n = ov.byteLength / offsetEntryBytes;
  for (let i = 0; i < n; i++) {
    const offset = base + ov.getUint32(i * offsetEntryBytes);
    const position = ov.getUint32(i * offsetEntryBytes + 4);
    const time = tv.getInt32(i * timeEntryBytes) * two32 + tv.getUint32(i * timeEntryBytes + 4);
    if (base + tv.getUint32(i * timeEntryBytes + 8) !== offset) return undefined;
    if (position < headerBytes || position >= segmentBytes) return undefined;
    if (i === 0 ? offset !== base || position !== headerBytes : offset <= index.offsets[i - 1]!)
      return undefined;
    if (i > 0 && (position <= index.positions[i - 1]! || time < index.timesBefore[i - 1]!)) return undefined;
    index.offsets.push(offset);
    index.positions.push(position);
    index.timesBefore.push(time);
  }
  return index;
}
