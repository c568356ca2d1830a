/**
 * One segment of a log: a `.log` file of records plus its sparse indexes. The active segment also owns
 * an `Appender` and keeps the records not yet written in `pending`, so reads see them at once.
 */
import fs from 'node:fs';
import path from 'node:path';
import { assert } from '../../shared/assert.js';
import type { BrokerError } from '../../shared/errors.js';
import { type NormalisedAppend, recordHeaderBytes } from '../common.js';
import type { FsyncPolicy, RewrittenSegmentFile, StorageLimits } from '../types.js';
import { Appender } from './appender.js';
import type { CachedFile, HandleCache } from './handles.js';
import {
  decodeIndexFiles,
  emptyIndex,
  encodeIndexFiles,
  pointAtOrBefore,
  pointBeforeTime,
  type SparseIndex,
} from './index-file.js';
import {
  corruptError,
  createFile,
  type FileIo,
  failedError,
  fsyncDir,
  readFull,
  syncNewFile,
  writeNewFile,
} from './io.js';
import type { ReadThread } from './read-thread.js';
import { type ChunkSource, directSource, type RecordSink } from './reader.js';
import { encodeRecordHeaderAt, type RecordFields, readRecordAt } from './record.js';
import { freshState, noteRecord, type ScanState, scanSegment } from './scan.js';
import type { SyncMoments } from './sync-moments.js';

/** Header of a segment as appended (version 1). */
export const segmentHeaderBytes = 16;
/** Header of a rewritten segment (version 2), which also names the end offset it covers. */
export const rewrittenHeaderBytes = 24;
const segmentMagic = 0x5357594c; // "SWYL"
const segmentVersion = 1;
const rewrittenVersion = 2;
/** Bytes a read pulls from the file per step; larger records get a read of their own size. */
export const readChunkBytes = 64 * 1024;
/**
 * An owned payload (`AppendInput.owned`) at least this large is written from the caller's buffer; a
 * smaller one is copied into the slab, where it costs less than a buffer of its own in the pwritev.
 */
export const ownedPayloadBytesMin = 16 * 1024;
/** Offsets per segment, so relative offsets fit the u32 fields of the index. */
export const segmentOffsetsMax = 2 ** 32 - 1;
const baseDigits = 20;

export function segmentFileName(base: number, ext: '.log' | '.index' | '.timeindex'): string {
  return `${String(base).padStart(baseDigits, '0')}${ext}`;
}

export const segmentNamePattern = /^(\d{20})\.(log|index|timeindex)$/;

/** What every segment of a log shares. */
export interface SegmentContext {
  /** The log's folder; after `Log.delete` the folder in the trash, where nothing more is written. */
  dir: string;
  /** Set by `Log.delete`: the folder is gone from its name, and no file may be created or rewritten. */
  deleted: boolean;
  readonly logName: string;
  readonly limits: StorageLimits;
  readonly policy: FsyncPolicy;
  readonly io: FileIo;
  readonly files: HandleCache;
  /** Storage's moments for compaction's metadata calls beside producers' fdatasyncs. */
  readonly moments?: SyncMoments | undefined;
  /** Storage's read thread, for `Log.readOffThread`; without it such reads run inline. */
  readonly reads?: ReadThread;
  readonly onFailed: (err: BrokerError) => void;
}

/**
 * A record not yet written to the file; a class so every one has the same shape. Its payload is read
 * back from where it waits to be written (the slab it was encoded into, or the caller's own buffer for
 * an owned payload), and only when a reader asks, so an append makes no view.
 */
class PendingRecord implements RecordFields {
  readonly offset: number;
  readonly count: number;
  readonly timestamp: number;
  readonly maxTimestamp: number;
  readonly format: number;
  private readonly bytes: Uint8Array;
  private readonly payloadStart: number;
  private readonly payloadEnd: number;
  /** File position just past the record. */
  readonly end: number;
  /** The caller's `AppendInput.release` for a payload kept uncopied: called once it is written. */
  readonly release: (() => void) | undefined;

  constructor(
    n: NormalisedAppend,
    offset: number,
    bytes: Uint8Array,
    payloadStart: number,
    end: number,
    release?: () => void,
  ) {
    this.offset = offset;
    this.count = n.count;
    this.timestamp = n.timestamp;
    this.maxTimestamp = n.maxTimestamp;
    this.format = n.format;
    this.bytes = bytes;
    this.payloadStart = payloadStart;
    this.payloadEnd = payloadStart + n.payload.byteLength;
    this.end = end;
    this.release = release;
  }

  /** A copy when the caller will reuse the buffer once it is written: no reader may keep a view of it. */
  get payload(): Uint8Array {
    const view = this.bytes.subarray(this.payloadStart, this.payloadEnd);
    return this.release === undefined ? view : Uint8Array.prototype.slice.call(view);
  }
}

/**
 * A segment header: version 1 for a segment as appended, version 2 (with `end`, the offset past the
 * last one it covers) for one rewritten by compaction, whose records may leave gaps.
 */
export function encodeHeader(base: number, end?: number): Buffer {
  const bytes = end === undefined ? segmentHeaderBytes : rewrittenHeaderBytes;
  const header = Buffer.alloc(bytes);
  header.writeUInt32BE(segmentMagic, 0);
  header.writeUInt16BE(end === undefined ? segmentVersion : rewrittenVersion, 4);
  header.writeUInt16BE(bytes, 6);
  header.writeBigUInt64BE(BigInt(base), 8);
  if (end !== undefined) header.writeBigUInt64BE(BigInt(end), 16);
  return header;
}

/** What a valid header says; undefined when it is torn, of another version or names another base. */
interface SegmentHeader {
  readonly bytes: number;
  /** Set for a rewritten segment: the end offset it covers, whatever records remain. */
  readonly end: number | undefined;
}

function readHeader(fd: number, base: number): SegmentHeader | undefined {
  const header = readFull(fd, rewrittenHeaderBytes, 0);
  if (header.byteLength < segmentHeaderBytes) return undefined;
  const v1 = header.subarray(0, segmentHeaderBytes);
  if (v1.equals(encodeHeader(base))) return { bytes: segmentHeaderBytes, end: undefined };
  if (header.byteLength < rewrittenHeaderBytes) return undefined;
  const end = Number(header.readBigUInt64BE(16));
  if (!Number.isSafeInteger(end) || end < base || end - base > segmentOffsetsMax) return undefined;
  return header.equals(encodeHeader(base, end)) ? { bytes: rewrittenHeaderBytes, end } : undefined;
}

/** Reading a segment's index files; undefined when missing or inconsistent. */
function loadIndex(
  ctx: SegmentContext,
  base: number,
  headerBytes: number,
  fileBytes: number,
): SparseIndex | undefined {
  try {
    const offsets = fs.readFileSync(path.join(ctx.dir, segmentFileName(base, '.index')));
    const times = fs.readFileSync(path.join(ctx.dir, segmentFileName(base, '.timeindex')));
    return decodeIndexFiles(offsets, times, base, headerBytes, fileBytes);
  } catch {
    return undefined;
  }
}

/** Scan state resumed at the last index point, so only the tail after it is read. */
function stateAtLastPoint(index: SparseIndex, base: number, headerBytes: number): ScanState {
  const k = index.offsets.length - 1;
  if (k < 0) return freshState(base, headerBytes, emptyIndex());
  const kept: SparseIndex = {
    offsets: index.offsets.slice(0, k),
    positions: index.positions.slice(0, k),
    timesBefore: index.timesBefore.slice(0, k),
  };
  const state = freshState(base, headerBytes, kept);
  state.position = index.positions[k]!;
  state.nextOffset = index.offsets[k]!;
  state.maxTimestamp = index.timesBefore[k]!;
  state.recordCount = k; // at least k records precede; only "non-empty" is used
  state.bytesSinceIndex = Number.POSITIVE_INFINITY;
  return state;
}

export class Segment {
  readonly base: number;
  readonly ctx: SegmentContext;
  /** The `.log` file; its descriptor comes from the handle cache when needed. */
  readonly file: CachedFile;
  /** Where records start: the header's size. */
  readonly headerBytes: number;
  /** Set for a rewritten segment: the end offset it covers (records may stop, or leave gaps, before it). */
  readonly coveredEnd: number | undefined;
  private readonly state: ScanState;
  private readonly pending: PendingRecord[] = [];
  private appender: Appender | undefined;
  private indexWritten = false;
  /**
   * File position below which every record is known good, so reads skip its CRC (docs/storage-format.md,
   * "Verified once"): what this process wrote (it computed those CRCs), what recovery scanned whole, and
   * what a read has since verified from there on. Only grows, and only contiguously from the header.
   */
  #verifiedEnd: number;

  private constructor(
    base: number,
    ctx: SegmentContext,
    file: CachedFile,
    state: ScanState,
    writable: boolean,
    header: SegmentHeader,
    gate?: Promise<void>,
  ) {
    this.base = base;
    this.ctx = ctx;
    this.file = file;
    this.headerBytes = header.bytes;
    this.coveredEnd = header.end;
    this.state = state;
    this.#verifiedEnd = header.bytes;
    if (writable) this.appender = this.newAppender(gate);
  }

  /**
   * Creates the file with its header, durably, before any record goes into it. Its first write waits for
   * `gate` (the previous segment's seal), so `durable` promises resolve in offset order across a roll.
   */
  static create(ctx: SegmentContext, base: number, gate?: Promise<void>): Segment {
    const file = path.join(ctx.dir, segmentFileName(base, '.log'));
    writeNewFile(file, encodeHeader(base));
    fsyncDir(ctx.dir);
    const state = freshState(base, segmentHeaderBytes, emptyIndex());
    const header = { bytes: segmentHeaderBytes, end: undefined };
    return new Segment(base, ctx, ctx.files.file(file), state, true, header, gate);
  }

  /**
   * The first segment of a log being created, its file made by `createFreshFile`. Its first write waits
   * for `created` (the creation's syncs, which make the file's entry durable), and its first append's
   * fdatasync carries the header with it, so no record is confirmed in a file whose header or entry
   * might not survive a crash; a crash before that leaves a missing or torn header, which recovery
   * replaces (`FileLog.recover`). A failure of `created` fails the log through `ctx.onFailed`.
   */
  static fresh(ctx: SegmentContext, base: number, created: Promise<void>): Segment {
    const file = path.join(ctx.dir, segmentFileName(base, '.log'));
    const state = freshState(base, segmentHeaderBytes, emptyIndex());
    const header = { bytes: segmentHeaderBytes, end: undefined };
    const segment = new Segment(base, ctx, ctx.files.file(file), state, true, header);
    segment.awaitCreation(created);
    return segment;
  }

  /**
   * The log's folder is still being made durable (`created`, the creation's syncs): the first write
   * waits for it, and its failure fails the log through `ctx.onFailed`. For the active segment before
   * anything was appended to it: a fresh log's, or that of a log reopened while its creation's syncs run.
   */
  awaitCreation(created: Promise<void>): void {
    assert(this.appender !== undefined && this.pending.length === 0, 'a creation gates an unused segment');
    const appender = this.newAppender(created.catch(() => undefined));
    this.appender = appender;
    // Runs before the gate opens the appender (that waits one reaction more).
    created.catch((err: unknown) => {
      // A log deleted meanwhile took the folder with it: nothing is lost.
      if (this.ctx.deleted) return;
      const failure = failedError(`Creating log ${this.ctx.logName}`, err);
      // Nothing queued may be written: it would be confirmed in a log that might not survive a crash.
      appender.abort(failure);
      this.ctx.onFailed(failure);
    });
  }

  /** Creates the file of `Segment.fresh(…, base, …)` in `dir`, its header written, not yet durable. */
  static createFreshFile(dir: string, base: number): void {
    createFile(path.join(dir, segmentFileName(base, '.log')), encodeHeader(base));
  }

  /**
   * The next segment at a roll: as `create`, but the header and the directory entry are made durable
   * off the event loop (the two took 7–33 ms per roll here, every 64 MiB of appends). Its first
   * write waits for them as well as for `sealed`, so no record reaches a file whose header might not
   * survive a crash; a failure fails the log through `ctx.onFailed`.
   */
  static rolled(ctx: SegmentContext, base: number, sealed: Promise<void>): Segment {
    const file = path.join(ctx.dir, segmentFileName(base, '.log'));
    createFile(file, encodeHeader(base));
    const created = syncNewFile(file).catch((err: unknown) => {
      // A log deleted meanwhile took the file with it: nothing is lost.
      if (!ctx.deleted)
        ctx.onFailed(failedError(`Making segment ${base} of log ${ctx.logName} durable`, err));
    });
    const state = freshState(base, segmentHeaderBytes, emptyIndex());
    const header = { bytes: segmentHeaderBytes, end: undefined };
    const gate = Promise.all([sealed, created]).then(() => undefined);
    const opened = gate.catch(() => undefined);
    const segment = new Segment(base, ctx, ctx.files.file(file), state, true, header, opened);
    // Runs before the gate opens the appender. A failed seal left records before this segment unwritten
    // (the log is failed): none after them may be written, or it would be confirmed past a gap.
    gate.catch((err: unknown) => {
      segment.appender?.abort(failedError(`Sealing the segment before ${base} of log ${ctx.logName}`, err));
    });
    return segment;
  }

  /**
   * A segment rewritten away from the log (storage/file/sealed.ts), just renamed into its name: its file
   * was fsynced whole, and `built` is what was written to it and its index, so nothing is rescanned.
   */
  static adopt(ctx: SegmentContext, base: number, end: number, built: RewrittenSegmentFile): Segment {
    const file = ctx.files.file(path.join(ctx.dir, segmentFileName(base, '.log')));
    const { offsets, positions, timesBefore } = built.index;
    const state: ScanState = {
      position: built.sizeBytes,
      nextOffset: end,
      maxTimestamp: built.maxTimestamp,
      recordCount: built.records,
      bytesSinceIndex: 0,
      index: { offsets: [...offsets], positions: [...positions], timesBefore: [...timesBefore] },
    };
    // Its index files are the caller's to write (`writeIndexFiles`), once the swap is durable.
    const segment = new Segment(base, ctx, file, state, false, { bytes: rewrittenHeaderBytes, end });
    // This process wrote it, each record from one it had verified, with a CRC computed afresh.
    segment.#verifiedEnd = built.sizeBytes;
    return segment;
  }

  /**
   * Opens and recovers a segment (docs/storage-format.md, "Recovery on open"). `last` scans it whole and
   * keeps it writable, unless it was rewritten (a rewritten segment never takes appends). Returns
   * undefined when the header is torn or wrong.
   */
  static open(ctx: SegmentContext, base: number, last: boolean): Segment | undefined {
    const file = ctx.files.file(path.join(ctx.dir, segmentFileName(base, '.log')));
    try {
      const segment = Segment.recover(ctx, base, last, file);
      if (segment === undefined) file.retire();
      return segment;
    } catch (err) {
      file.retire();
      throw err;
    }
  }

  /** Scans `file` (and trims a torn tail); undefined when its header is torn or wrong. */
  private static recover(
    ctx: SegmentContext,
    base: number,
    last: boolean,
    file: CachedFile,
  ): Segment | undefined {
    // Nothing below asks the cache for another file, so the descriptor stays valid throughout.
    const fd = file.fd();
    const fileBytes = fs.fstatSync(fd).size;
    const header = readHeader(fd, base);
    if (header === undefined) return undefined;
    const { bytes, end } = header;
    const { entryBytesMax, indexIntervalBytes } = ctx.limits;
    const index = last ? undefined : loadIndex(ctx, base, bytes, fileBytes);
    const scan = (from: ScanState) =>
      scanSegment(fd, fileBytes, from, entryBytesMax, indexIntervalBytes, end);
    let state = index ? stateAtLastPoint(index, base, bytes) : freshState(base, bytes, emptyIndex());
    let stop = scan(state);
    let scannedWhole = index === undefined;
    if (stop !== undefined && index) {
      state = freshState(base, bytes, emptyIndex());
      stop = scan(state);
      scannedWhole = true;
    }
    if (stop !== undefined) {
      // A rewritten segment was fsynced whole before it took its name: a bad record is corruption.
      if (end !== undefined) throw corruptError(`Log ${ctx.logName} segment ${base}: ${stop}`);
      // A torn or corrupt tail: it was never acknowledged under `always`, and must never be served.
      fs.ftruncateSync(fd, state.position);
      fs.fsyncSync(fd);
    }
    if (end !== undefined) state.nextOffset = end;
    const writable = last && end === undefined;
    const segment = new Segment(base, ctx, file, state, writable, header);
    // A scan from the last index point verified the tail only: the bytes before it wait for a read.
    if (scannedWhole) segment.#verifiedEnd = state.position;
    if (!writable) {
      if (index === undefined || stop !== undefined) segment.writeIndexFiles();
      else segment.indexWritten = true;
    }
    return segment;
  }

  get endOffset(): number {
    return this.state.nextOffset;
  }

  /** File position below which records are known good (see `#verifiedEnd`). */
  get verifiedEnd(): number {
    return this.#verifiedEnd;
  }

  /**
   * A read found every record from `from` (a record's start) up to `to` good: the verified prefix grows
   * when the two meet, since a record starting within the prefix ends within it or exactly where it does.
   */
  noteVerified(from: number, to: number): void {
    if (from <= this.#verifiedEnd && to > this.#verifiedEnd) this.#verifiedEnd = to;
  }

  get sizeBytes(): number {
    return this.state.position;
  }

  get maxTimestamp(): number {
    return this.state.maxTimestamp;
  }

  get isEmpty(): boolean {
    return this.state.recordCount === 0;
  }

  /** True when nothing is waiting to be written, so the file holds every record. */
  get settled(): boolean {
    return this.appender === undefined || this.appender.idle;
  }

  /** Whether a record of `bytes` covering `count` offsets still fits. */
  fits(bytes: number, count: number): boolean {
    if (this.isEmpty) return true;
    const { segmentBytesMax } = this.ctx.limits;
    return (
      this.state.position + bytes <= segmentBytesMax &&
      this.endOffset + count - this.base <= segmentOffsetsMax
    );
  }

  append(n: NormalisedAppend, offset: number): Promise<void> {
    const appender = this.appender;
    if (!appender) throw corruptError(`Segment ${this.base} of log ${this.ctx.logName} is sealed`);
    const { payload, count, timestamp, maxTimestamp, format } = n;
    const bytes = recordHeaderBytes + payload.byteLength;
    const state = this.state;
    // An owned payload is written from the caller's buffer after its header in the slab: no copy.
    const copied = !n.owned || payload.byteLength < ownedPayloadBytesMin;
    const at = copied
      ? appender.reserve(bytes, n.lazy)
      : appender.reserveBefore(recordHeaderBytes, payload, n.lazy);
    const slab = appender.slab!;
    if (copied) slab.set(payload, at + recordHeaderBytes);
    encodeRecordHeaderAt(
      slab,
      appender.slabView!,
      at,
      offset,
      count,
      timestamp,
      maxTimestamp,
      format,
      payload,
      n.payloadCrc32c,
    );
    noteRecord(state, offset, count, maxTimestamp, bytes, this.ctx.limits.indexIntervalBytes);
    const pending = copied
      ? new PendingRecord(n, offset, slab, at + recordHeaderBytes, state.position)
      : new PendingRecord(n, offset, payload, 0, state.position, n.release);
    this.pending.push(pending);
    appender.encoded();
    // Copied into the slab (the header CRC above was the last look at it): the caller's at once.
    if (copied) n.release?.();
    return appender.lastPromise;
  }

  /**
   * Hands `sink` each record reaching `from`, in order, from the file and then from `pending`; stops when
   * the sink declines one. Returns false when stopped. `start` is a file position known to hold the
   * record of `from` or one before it (where the last read stopped); otherwise the index is used.
   * Throws storage_corrupt on a bad record.
   */
  visit(from: number, sink: RecordSink, source: ChunkSource = directSource, start?: number): boolean {
    const firstPending = this.pending[0];
    if (firstPending === undefined || from < firstPending.offset) {
      const { offsets, positions } = this.state.index;
      const k = pointAtOrBefore(this.state.index, from);
      let skipBytes = 0;
      const resumed = start !== undefined;
      if (start === undefined) {
        start = k < 0 ? this.headerBytes : positions[k]!;
        // Records between the index point and `from` are read but not taken.
        if (k >= 0 && offsets[k]! < from) skipBytes = (positions[k + 1] ?? this.writtenEnd) - start;
      }
      if (!this.visitFile(start, from, sink, source, skipBytes, resumed)) return false;
    }
    for (const record of this.pending) {
      if (record.offset + record.count <= from) continue;
      const { offset, count, timestamp, maxTimestamp, format, payload } = record;
      if (!sink.take({ offset, count, timestamp, maxTimestamp, format, payload }, record.end)) return false;
    }
    return true;
  }

  /**
   * The file bytes a read from `from` starts in: `start`, a record's position at or before the one
   * holding `from` (an index point), and `end`, what is written now; bytes below it never change while
   * the file is this segment's. Undefined when `from` is only queued in memory, or nothing is written.
   * `skipBytes`: bytes from `start` that may hold records before `from`.
   */
  fileSpan(from: number): { start: number; end: number; skipBytes: number } | undefined {
    const firstPending = this.pending[0];
    if (firstPending !== undefined && from >= firstPending.offset) return undefined;
    const { offsets, positions } = this.state.index;
    const k = pointAtOrBefore(this.state.index, from);
    const end = this.writtenEnd;
    const start = k < 0 ? this.headerBytes : positions[k]!;
    const skipBytes = k >= 0 && offsets[k]! < from ? (positions[k + 1] ?? end) - start : 0;
    return start < end ? { start, end, skipBytes } : undefined;
  }

  /** First offset of a record with maxTimestamp >= `timestamp`, or undefined when none here has. */
  offsetForTimestamp(timestamp: number): number | undefined {
    if (this.state.maxTimestamp < timestamp) return undefined;
    const k = pointBeforeTime(this.state.index, timestamp);
    const from = k < 0 ? this.base : this.state.index.offsets[k]!;
    let found: number | undefined;
    const sink: RecordSink = {
      accepts: () => true,
      wantBytes: () => readChunkBytes,
      take: (record) => {
        if (record.maxTimestamp >= timestamp) found = record.offset;
        return found === undefined;
      },
    };
    this.visit(from, sink);
    return found;
  }

  get writable(): boolean {
    return this.appender !== undefined;
  }

  /** Resolves when every record queued so far is written (`Appender.whenWritten`). */
  written(): Promise<void> {
    return this.appender?.whenWritten() ?? Promise.resolve();
  }

  /** Resolves when every record queued so far is written and fdatasynced. */
  async sync(): Promise<void> {
    await this.appender?.sync();
  }

  /** For the interval policy's timer. */
  syncIfDirty(): void {
    this.appender?.syncIfDirty();
  }

  /** The segment will take no more records: write its indexes once its last record is on disk. */
  async seal(): Promise<void> {
    const appender = this.appender;
    if (appender) {
      await appender.sync();
      this.appender = undefined;
    }
    this.writeIndexFiles();
  }

  async close(): Promise<void> {
    try {
      await this.seal();
    } finally {
      this.file.retire();
    }
  }

  /**
   * For `Log.delete`, once the folder has moved away: queued records are dropped (their `durable`
   * rejects with `reason`), the file is given up, and the result resolves when no write or fdatasync is
   * left in flight on it.
   */
  abandon(reason: BrokerError): Promise<void> {
    this.pending.length = 0;
    this.appender?.abort(reason);
    this.file.retire();
    return this.appender?.whenQuiet() ?? Promise.resolve();
  }

  /** Drops the record queue after a write failure: those records are not on disk and never will be. */
  dropPending(): void {
    this.pending.length = 0;
  }

  delete(): void {
    this.file.retire();
    for (const ext of ['.log', '.index', '.timeindex'] as const) {
      fs.rmSync(path.join(this.ctx.dir, segmentFileName(this.base, ext)), { force: true });
    }
  }

  writeIndexFiles(): void {
    if (this.ctx.deleted || (this.indexWritten && this.appender === undefined)) return;
    const files = encodeIndexFiles(this.state.index, this.base);
    fs.writeFileSync(path.join(this.ctx.dir, segmentFileName(this.base, '.index')), files.offsets);
    fs.writeFileSync(path.join(this.ctx.dir, segmentFileName(this.base, '.timeindex')), files.times);
    this.indexWritten = true;
  }

  private get writtenEnd(): number {
    return this.appender?.writtenEnd ?? this.state.position;
  }

  private newAppender(gate: Promise<void> | undefined): Appender {
    return new Appender({
      gate,
      file: this.file,
      position: this.state.position,
      policy: this.ctx.policy,
      io: this.ctx.io,
      moments: this.ctx.moments,
      what: `segment ${this.base} of log ${this.ctx.logName}`,
      onWritten: (writtenEnd) => this.dropWritten(writtenEnd),
      onFailed: (err) => this.ctx.onFailed(err),
    });
  }

  /**
   * Written records leave `pending`; the appender let go of their bytes before this is called. What it
   * wrote carries CRCs this process computed, over bytes that follow a prefix already known good.
   */
  private dropWritten(writtenEnd: number): void {
    this.#verifiedEnd = writtenEnd;
    let n = 0;
    while (n < this.pending.length && this.pending[n]!.end <= writtenEnd) n++;
    if (n === 0) return;
    const dropped = this.pending.splice(0, n);
    for (const record of dropped) record.release?.();
  }

  /**
   * Walks the records of the file from `start` to the written end. Each file read is sized by the sink
   * (what the read still wants) plus `skipBytes` for the first; a record cut by the end of a chunk is
   * read whole only when the sink would take it. `resumed`: `start` is where the last read stopped.
   */
  private visitFile(
    start: number,
    from: number,
    sink: RecordSink,
    source: ChunkSource,
    skipBytes: number,
    resumed: boolean,
  ): boolean {
    const end = this.writtenEnd;
    const { entryBytesMax } = this.ctx.limits;
    let position = start;
    let needBytes = 0;
    let extraBytes = skipBytes;
    while (position < end) {
      // Only a read that resumes where the last stopped reads ahead: the reader is going sequentially.
      const want = sink.wantBytes() + extraBytes;
      const buf = source.bytesAt(
        this,
        this.file,
        position,
        end,
        want,
        needBytes,
        resumed && position === start,
      );
      extraBytes = 0;
      if (buf.byteLength < Math.min(Math.max(needBytes, 1), end - position)) {
        throw corruptError(`Log ${this.ctx.logName} segment ${this.base} is shorter than ${end} bytes`);
      }
      const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
      const trustedBytes = this.#verifiedEnd - position;
      let at = 0;
      while (position + at < end) {
        const found = readRecordAt(buf, view, at, entryBytesMax, trustedBytes);
        if (typeof found === 'object') {
          const recordStart = position + at;
          at += recordHeaderBytes + found.payload.byteLength;
          this.noteVerified(recordStart, position + at);
          if (found.offset + found.count > from && !sink.take(found, position + at)) return false;
          continue;
        }
        if (typeof found === 'number' && position + at + found <= end) {
          if (!this.wanted(buf, view, at, from, sink)) return false;
          needBytes = found;
          break;
        }
        const why = typeof found === 'string' ? found : 'record cut short';
        throw corruptError(`Log ${this.ctx.logName} segment ${this.base} at byte ${position + at}: ${why}`);
      }
      position += at;
    }
    return true;
  }

  /**
   * For a record only partly in the chunk: false when its header is there and says the sink would not
   * take it, so the read stops without fetching it. Unverified fields only ever stop a read early; the
   * record itself is CRC-checked when it is read.
   */
  private wanted(buf: Uint8Array, view: DataView, at: number, from: number, sink: RecordSink): boolean {
    if (buf.byteLength - at < recordHeaderBytes) return true;
    const reaches =
      view.getUint32(at + 10) * 2 ** 32 + view.getUint32(at + 14) + view.getUint32(at + 18) > from;
    return !reaches || sink.accepts(view.getUint32(at) + 4 - recordHeaderBytes);
  }
}
