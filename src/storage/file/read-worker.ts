/**
 * Storage's read thread (`ReadThread`, ./read-thread.ts): reads one byte range of a segment file into
 * shared memory the caller lent, checks every record's CRC as a read on the log's thread does, and
 * answers where the records lie. It uses the descriptor the log's thread pinned for it (descriptors
 * belong to the process, so this thread reads the very file the log had at the request), and keeps no
 * state between requests.
 */
import fs from 'node:fs';
import { isMainThread, parentPort } from 'node:worker_threads';
import { ReadBudget, recordHeaderBytes } from '../common.js';
import { readRecordAt } from './record.js';

export interface FarReadRequest {
  readonly id: number;
  readonly fd: number;
  /** File position of the first byte read: a record's start. */
  readonly position: number;
  /** Bytes to read from `position`; never past the segment's written end at the request. */
  readonly length: number;
  /** Records wholly below this offset are read but not taken. */
  readonly from: number;
  readonly maxBytes: number;
  readonly maxEntries: number;
  readonly entryBytesMax: number;
  /** File position below which records are known good (`Segment.verifiedEnd`): their CRC is not recomputed. */
  readonly trustedEnd: number;
  /** Where the bytes go: `length` bytes of `target` from `targetOffset`. */
  readonly target: SharedArrayBuffer;
  readonly targetOffset: number;
}

/** Numbers per record taken in `FarReadReply.records`. */
export const farRecordFields = 7;

export interface FarReadReply {
  readonly id: number;
  /**
   * Per record taken: offset, count, timestamp, maxTimestamp, format, payload start (from
   * `targetOffset`), payload bytes.
   */
  readonly records: Float64Array;
  /** File position after the last record taken. */
  readonly end: number;
  /** File position after the last record found good, taken or not (`Segment.noteVerified`). */
  readonly checkedEnd: number;
  /** Set when the first record reaching `from` did not fit in `length`: its size, to read it some other way. */
  readonly cutBytes?: number;
  /** Why a record failed its checks, and where. */
  readonly corrupt?: { readonly why: string; readonly position: number };
  /** A read the file system refused (its code), or a file shorter than asked. */
  readonly failed?: string;
}

function readInto(request: FarReadRequest, buf: Buffer): number {
  let got = 0;
  while (got < request.length) {
    const n = fs.readSync(request.fd, buf, got, request.length - got, request.position + got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

/** Reads the range and walks its records; a pure function of the file's bytes. */
export function farRead(request: FarReadRequest): FarReadReply {
  const { id, position, length, from } = request;
  const buf = Buffer.from(request.target, request.targetOffset, length);
  const empty = new Float64Array(0);
  let got: number;
  try {
    got = readInto(request, buf);
  } catch (err) {
    const failed = (err as NodeJS.ErrnoException).code ?? String(err);
    return { id, records: empty, end: position, checkedEnd: position, failed };
  }
  if (got < length)
    return {
      id,
      records: empty,
      end: position,
      checkedEnd: position,
      failed: `file ends at byte ${position + got}`,
    };
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const budget = new ReadBudget({ maxBytes: request.maxBytes, maxEntries: request.maxEntries });
  const out: number[] = [];
  const trustedBytes = Math.max(0, request.trustedEnd - position);
  let at = 0;
  let end = position;
  while (at < length) {
    const found = readRecordAt(buf, view, at, request.entryBytesMax, trustedBytes);
    const checkedEnd = position + at;
    if (typeof found === 'string')
      return { id, records: empty, end, checkedEnd, corrupt: { why: found, position: position + at } };
    if (typeof found === 'number') {
      // Cut by the end of the range: a later read takes it, unless it is the first one wanted.
      if (out.length === 0) return { id, records: empty, end, checkedEnd, cutBytes: found };
      break;
    }
    const size = recordHeaderBytes + found.payload.byteLength;
    if (found.offset + found.count > from) {
      if (!budget.take(found.payload.byteLength)) break;
      const { offset, count, timestamp, maxTimestamp, format } = found;
      out.push(
        offset,
        count,
        timestamp,
        maxTimestamp,
        format,
        at + recordHeaderBytes,
        found.payload.byteLength,
      );
      end = position + at + size;
      if (budget.full) break;
    }
    at += size;
  }
  // A full budget stops before stepping past the last record taken, which was checked all the same.
  return { id, records: Float64Array.from(out), end, checkedEnd: Math.max(end, position + at) };
}

if (!isMainThread && parentPort !== null) {
  const port = parentPort;
  port.on('message', (request: FarReadRequest) => {
    const reply = farRead(request);
    port.postMessage(reply, [reply.records.buffer as ArrayBuffer]);
  });
}
