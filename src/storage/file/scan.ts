/**
 * Sequential scan of a segment file: verifies every record (CRC, contiguous offsets) from a starting
 * point and rebuilds the sparse index as it goes. Used by recovery and index rebuilds.
 */

import { type SparseIndex, timestampNone } from './index-file.js';
import { readFull } from './io.js';
import { decodeRecord } from './record.js';

/** Bytes read per step of a scan. */
export const scanChunkBytes = 1024 * 1024;

/** Where a scan stands; also the write state of a segment (its next record goes at `position`). */
export interface ScanState {
  position: number;
  nextOffset: number;
  /** Largest maxTimestamp seen so far in the segment. */
  maxTimestamp: number;
  recordCount: number;
  bytesSinceIndex: number;
  readonly index: SparseIndex;
}

export function freshState(base: number, headerBytes: number, index: SparseIndex): ScanState {
  return {
    position: headerBytes,
    nextOffset: base,
    maxTimestamp: timestampNone,
    recordCount: 0,
    bytesSinceIndex: 0,
    index,
  };
}

/** Adds an index point for a record about to be placed, when the interval since the last one has passed. */
export function noteRecord(
  state: ScanState,
  offset: number,
  count: number,
  maxTimestamp: number,
  bytes: number,
  intervalBytes: number,
): void {
  const { index } = state;
  if (index.offsets.length === 0 || state.bytesSinceIndex >= intervalBytes) {
    index.offsets.push(offset);
    index.positions.push(state.position);
    index.timesBefore.push(state.maxTimestamp);
    state.bytesSinceIndex = 0;
  }
  state.bytesSinceIndex += bytes;
  state.position += bytes;
  state.nextOffset = offset + count;
  state.recordCount += 1;
  if (maxTimestamp > state.maxTimestamp) state.maxTimestamp = maxTimestamp;
}

/**
 * Scans from `state` to `fileBytes`, advancing `state` over every valid record. Returns the reason the
 * scan stopped early, or undefined when it reached the end of the file cleanly. `coveredEnd` is set
 * for a rewritten segment: its records may leave gaps, but never go back or reach past that end.
 */
export function scanSegment(
  fd: number,
  fileBytes: number,
  state: ScanState,
  payloadBytesMax: number,
  intervalBytes: number,
  coveredEnd?: number,
): string | undefined {
  let chunk = scanChunkBytes;
  while (state.position < fileBytes) {
    const want = Math.min(chunk, fileBytes - state.position);
    const buf = readFull(fd, want, state.position);
    if (buf.byteLength < want) return 'file shorter than expected';
    let at = 0;
    for (;;) {
      const result = decodeRecord(buf, at, payloadBytesMax);
      if (result.kind === 'corrupt') return `corrupt record at ${state.position}: ${result.reason}`;
      if (result.kind === 'incomplete') {
        if (state.position + result.bytesNeeded > fileBytes) return `torn record at ${state.position}`;
        if (at === 0) chunk = result.bytesNeeded;
        break;
      }
      const { record } = result;
      const inOrder =
        coveredEnd === undefined
          ? record.offset === state.nextOffset
          : record.offset >= state.nextOffset && record.offset + record.count <= coveredEnd;
      if (!inOrder) return `offset ${record.offset} at ${state.position} breaks the sequence`;
      noteRecord(state, record.offset, record.count, record.maxTimestamp, result.bytes, intervalBytes);
      at += result.bytes;
      if (at === buf.byteLength) break;
    }
  }
  return undefined;
}
