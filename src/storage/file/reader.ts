/**
 * Where reads get their bytes. `ReadAhead` keeps one log's last chunk, so a reader going through the
 * log a few entries per call is served from memory instead of issuing one `pread` per call; the bytes
 * of a segment below its written end never change, so a chunk stays valid for as long as it is kept.
 */

import fs from 'node:fs';
import { ReadBudget, readBytesMaxDefault, readEntriesMaxDefault, recordHeaderBytes } from '../common.js';
import type { LogEntry, ReadBuffers, ReadOptions } from '../types.js';
import type { FdSource } from './handles.js';
import { readFull } from './io.js';
import type { RecordFields } from './record.js';

/**
 * A sequential read asks the file for at least this much, and the chunk is kept for the next read. A
 * read that does not continue the last one reads only what it needs.
 */
export const readAheadBytes = 64 * 1024;
/** A kept chunk is dropped after this long without a read, so quiet logs hold no memory. */
export const readAheadIdleMs = 1000;

/** Receives the records of a read and sizes its file reads. */
export interface RecordSink {
  /** Whether a record with `payloadBytes` would be taken; asked before such a record is read whole. */
  accepts(payloadBytes: number): boolean;
  /** File bytes (records with headers) the rest of the read is expected to need. */
  wantBytes(): number;
  /** Takes a CRC-checked record ending at file position `end`; false stops the read. */
  take(record: RecordFields, end: number): boolean;
}

/**
 * Supplies the bytes of a segment file from `position`; `owner` tells segments apart. The descriptor is
 * asked of `file` only when the file must be read, so a read served from memory opens nothing.
 */
export interface ChunkSource {
  /**
   * Bytes from `position`: `wantBytes` if that many are below `end`, and never fewer than
   * min(`needBytes`, `end - position`) unless the file is shorter than `end` (the caller checks).
   * `ahead` marks a read continuing where the previous one stopped, which may be given more.
   */
  bytesAt(
    owner: object,
    file: FdSource,
    position: number,
    end: number,
    wantBytes: number,
    needBytes: number,
    ahead: boolean,
  ): Buffer;
}

/** Reads exactly what is asked, keeps nothing (index lookups). */
export const directSource: ChunkSource = {
  bytesAt(_owner, file, position, end, wantBytes, needBytes) {
    return readFull(file.fd(), Math.min(end - position, Math.max(wantBytes, needBytes, 1)), position);
  },
};

/**
 * Reads exactly what is asked into buffers the caller lends (`ReadOptions.buffers`) and keeps none, so
 * the caller may reuse them once done with the payloads.
 */
export class LentSource implements ChunkSource {
  private readonly buffers: ReadBuffers;

  constructor(buffers: ReadBuffers) {
    this.buffers = buffers;
  }

  bytesAt(
    _owner: object,
    file: FdSource,
    position: number,
    end: number,
    wantBytes: number,
    needBytes: number,
  ): Buffer {
    const length = Math.min(end - position, Math.max(wantBytes, needBytes, 1));
    const lent = this.buffers.take(length);
    const buf = Buffer.from(lent.buffer, lent.byteOffset, length);
    const fd = file.fd();
    let got = 0;
    while (got < length) {
      const n = fs.readSync(fd, buf, got, length - got, position + got);
      if (n === 0) break;
      got += n;
    }
    // Fewer bytes only at the end of a file shorter than `end`; the caller checks.
    return got === length ? buf : buf.subarray(0, got);
  }
}

export class ReadAhead implements ChunkSource {
  private owner: object | undefined;
  private chunk: Buffer | undefined;
  /** File position of `chunk[0]`. */
  private chunkPosition = 0;
  private usedSinceCheck = false;
  private timer: NodeJS.Timeout | undefined;
  /** Reads served from the kept chunk and reads that went to the file; for tests and benchmarks. */
  hits = 0;
  misses = 0;

  bytesAt(
    owner: object,
    file: FdSource,
    position: number,
    end: number,
    wantBytes: number,
    needBytes: number,
    ahead: boolean,
  ): Buffer {
    this.usedSinceCheck = true;
    const kept = owner === this.owner ? this.keptAt(position, end, needBytes) : undefined;
    if (kept !== undefined) {
      this.hits++;
      return kept;
    }
    const ask = Math.max(wantBytes, needBytes, 1, ahead ? readAheadBytes : 0);
    const fresh = readFull(file.fd(), Math.min(end - position, ask), position);
    this.misses++;
    this.owner = owner;
    this.chunk = fresh;
    this.chunkPosition = position;
    this.armIdleDrop();
    return fresh;
  }

  /** Forgets the kept chunk (its segment was deleted, or the log closed). */
  drop(): void {
    this.owner = undefined;
    this.chunk = undefined;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** The kept bytes from `position` when they hold the whole record there (or reach `end`). */
  private keptAt(position: number, end: number, needBytes: number): Buffer | undefined {
    const chunk = this.chunk;
    const at = position - this.chunkPosition;
    if (chunk === undefined || at < 0 || at >= chunk.byteLength) return undefined;
    const held = chunk.byteLength - at;
    const recordBytes = held >= 4 ? chunk.readUInt32BE(at) + 4 : 4;
    return held >= Math.min(Math.max(needBytes, recordBytes), end - position)
      ? chunk.subarray(at)
      : undefined;
  }

  private armIdleDrop(): void {
    if (this.timer !== undefined) return;
    this.usedSinceCheck = false;
    const check = (): void => {
      this.timer = undefined;
      if (this.usedSinceCheck && this.chunk !== undefined) this.armIdleDrop();
      else this.drop();
    };
    this.timer = setTimeout(check, readAheadIdleMs);
    this.timer.unref();
  }
}

/** Payload size assumed before a log has been read: sizes the first read asked by entry count. */
const payloadBytesGuess = 1024;

/**
 * Collects the entries of one `Log.read` under its limits (the rules of `ReadBudget`) and sizes the file
 * reads from what is still wanted and the payload size seen in the previous read, so a read asks the
 * file for about what it returns, plus at most one record header to see where to stop.
 */
export class ReadCollector implements RecordSink {
  readonly out: LogEntry[] = [];
  private readonly budget: ReadBudget;
  private readonly bytesMax: number;
  private readonly entriesMax: number;
  private readonly payloadBytesAvg: number;
  private bytes = 0;
  /** Segment being walked; with `endPosition`, where the last taken record ends. */
  current: object | undefined;
  endSegment: object | undefined;
  endPosition = 0;

  constructor(options: ReadOptions | undefined, payloadBytesAvg = payloadBytesGuess) {
    this.budget = new ReadBudget(options);
    this.bytesMax = Math.max(0, options?.maxBytes ?? readBytesMaxDefault);
    this.entriesMax = Math.max(1, options?.maxEntries ?? readEntriesMaxDefault);
    this.payloadBytesAvg = Math.max(1, payloadBytesAvg);
  }

  accepts(payloadBytes: number): boolean {
    const n = this.out.length;
    return n < this.entriesMax && (n === 0 || this.bytes + payloadBytes <= this.bytesMax);
  }

  wantBytes(): number {
    const avg = this.payloadBytesAvg;
    const recordBytes = avg + recordHeaderBytes;
    const byEntries = (this.entriesMax - this.out.length) * recordBytes;
    // The first entry is taken whatever its size.
    const payloadLeft = Math.max(this.bytesMax - this.bytes, this.out.length === 0 ? avg : 0);
    const byBytes = Math.ceil((payloadLeft * recordBytes) / avg) + recordHeaderBytes;
    return Math.min(byEntries, byBytes);
  }

  take(record: RecordFields, end: number): boolean {
    if (!this.budget.take(record.payload.byteLength)) return false;
    this.out.push(record);
    this.bytes += record.payload.byteLength;
    this.endSegment = this.current;
    this.endPosition = end;
    return !this.budget.full;
  }

  /** Mean payload of the entries taken, or undefined when none were. */
  get meanPayloadBytes(): number | undefined {
    return this.out.length === 0 ? undefined : Math.round(this.bytes / this.out.length);
  }
}
