/**
 * `FileLog`: one incarnation of a log, as a folder of segments (docs/storage-format.md). Appends go to
 * the last segment, rolling to a new one at `segmentBytesMax`; reads walk the segments from the one
 * holding the offset. The handle is its holder's lease: `close` and `delete` end it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { assert } from '../../shared/assert.js';
import { BrokerError, ErrorCode } from '../../shared/errors.js';
import {
  closedError,
  type Leased,
  normaliseAppend,
  quietRejection,
  readBytesMaxDefault,
  readEntriesMaxDefault,
} from '../common.js';
import type {
  AdoptedRewrite,
  AppendInput,
  AppendResult,
  Log,
  LogEntry,
  ReadOptions,
  RetentionOptions,
  RewriteChoice,
  RewriteResult,
  RewrittenSegmentFile,
  SealedSegment,
} from '../types.js';
import type { CachedFile } from './handles.js';
import { corruptError, failedError, fdatasyncNow, fsyncDir, fsyncDirAsync } from './io.js';
import { type FarRead, farEntries, offThreadReadBytesMin } from './read-thread.js';
import type { FarReadReply } from './read-worker.js';
import { LentSource, ReadAhead, ReadCollector } from './reader.js';
import { recordBytes } from './record.js';
import { cleanedSuffix, type RewrittenSegment, writeRewritten } from './rewrite.js';
import { cleanedPathOf } from './sealed.js';
import {
  Segment,
  type SegmentContext,
  segmentFileName,
  segmentHeaderBytes,
  segmentNamePattern,
} from './segment.js';

/** Where a read off the thread lies in its segment's file. */
interface FarPlan {
  readonly segment: Segment;
  readonly position: number;
  readonly length: number;
}

/**
 * Whether a planned read has enough records still to check to be worth the read thread. Records below
 * the segment's verified end need no CRC, and reading them is a `pread` the hop to the thread and back
 * costs more than (docs/performance.md, "Large fetches, each record checked once").
 */
function needsChecking(planned: FarPlan): boolean {
  const { position, length, segment } = planned;
  return position + length - Math.max(position, segment.verifiedEnd) >= offThreadReadBytesMin;
}

type ContextBase = Omit<SegmentContext, 'onFailed' | 'dir' | 'deleted' | 'logName'>;

/** A rewrite's pace when its caller gives none: one event-loop turn between chunks. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** What a log asks of its storage when its lease ends. */
export interface FileLogOwner {
  /** The handle no longer holds its name. */
  release(log: FileLog): void;
  /** Moves the log's folder out of its name at once; returns where it went. */
  moveToTrash(log: FileLog): string;
  /** Removes a folder moved to the trash once `quiet` settles; the storage's close waits for it. */
  removeTrashed(dir: string, quiet: Promise<unknown>): Promise<void>;
}

/**
 * Opens `file` if the handle cache had closed it, before a rename drops its last name: the old file's
 * blocks are then freed by its retirement, in steps off the event loop (`HandleCache.free`). Without a
 * descriptor the rename itself frees them, all at once on this thread, and on a file system with
 * `discard` and no journal it waits for the discard of the whole segment. A failed open leaves that.
 */
function holdOpen(file: CachedFile): void {
  try {
    file.fd();
  } catch {
    // The rename frees the file at once.
  }
}

/**
 * Base offsets of the segment files in `dir`, ascending. Index files without a segment are removed, and
 * so are rewrites a crash interrupted before their swap (the segment they were to replace is intact).
 */
function listSegments(dir: string): number[] {
  const names = fs.readdirSync(dir);
  const bases = new Set<number>();
  for (const name of names) {
    const match = segmentNamePattern.exec(name);
    if (match?.[2] === 'log') bases.add(Number(match[1]));
    if (name.endsWith(cleanedSuffix)) fs.rmSync(path.join(dir, name), { force: true });
  }
  for (const name of names) {
    const match = segmentNamePattern.exec(name);
    if (match && match[2] !== 'log' && !bases.has(Number(match[1])))
      fs.rmSync(path.join(dir, name), { force: true });
  }
  return [...bases].sort((a, b) => a - b);
}

export class FileLog implements Log, Leased {
  readonly name: string;
  readonly incarnation: number;
  private readonly segments: Segment[] = [];
  private readonly ctx: SegmentContext;
  private readonly owner: FileLogOwner;
  private failure: BrokerError | undefined;
  private closed = false;
  /** The close or delete that ended the lease; set by the first of them. */
  private ending: Promise<void> | undefined;
  private deleting = false;
  private readonly readAhead = new ReadAhead();
  /** Where the last read stopped, so the next one from there needs no index lookup or skipping. */
  private resume: { segment: object; position: number; offset: number } | undefined;
  /** Mean payload of the last read; sizes the next read's file reads. */
  private payloadBytesAvg: number | undefined;
  /** The rewrite under way; close waits for it, delete's removal of the folder too. */
  private rewriting: Promise<unknown> | undefined;
  /** Descriptors `sealedSegments` handed out, to the segment each names (`adoptRewritten`). */
  private readonly handedOut = new WeakMap<SealedSegment, Segment>();

  private constructor(name: string, incarnation: number, ctx: SegmentContext, owner: FileLogOwner) {
    this.name = name;
    this.incarnation = incarnation;
    this.ctx = ctx;
    this.owner = owner;
  }

  /**
   * Opens (recovering) the log in `dir`, a folder with a valid header naming `incarnation`. `creation`:
   * the folder's creation syncs have not all returned, and `done` is their durability, which the first
   * write waits for; `fresh`: the folder was just made with its header and first segment's file
   * (`Segment.fresh`), else it is recovered, reopened after a close while its creation's syncs ran.
   */
  static open(
    name: string,
    dir: string,
    incarnation: number,
    base: ContextBase,
    owner: FileLogOwner,
    creation?: { readonly done: Promise<void>; readonly fresh: boolean },
  ): FileLog {
    let log: FileLog | undefined;
    const onFailed = (err: BrokerError) => log?.fail(err);
    const ctx: SegmentContext = { ...base, dir, deleted: false, logName: name, onFailed };
    log = new FileLog(name, incarnation, ctx, owner);
    try {
      if (creation?.fresh === true) log.segments.push(Segment.fresh(ctx, 0, creation.done));
      else log.recover(listSegments(dir));
      if (creation?.fresh === false) log.active.awaitCreation(creation.done);
    } catch (err) {
      // The segments opened so far give their descriptors back.
      for (const segment of log.segments) segment.file.retire();
      throw err;
    }
    return log;
  }

  get releasing(): Promise<void> | undefined {
    return this.ending;
  }

  get startOffset(): number {
    return this.segments[0]!.base;
  }

  get endOffset(): number {
    return this.active.endOffset;
  }

  /** Segments below the first one still writable (the active one, or one whose seal is under way). */
  get sealedOffset(): number {
    for (const segment of this.segments) if (segment.writable) return segment.base;
    return this.endOffset;
  }

  get sizeBytes(): number {
    let total = 0;
    for (const segment of this.segments) total += segment.sizeBytes;
    return total;
  }

  append(input: AppendInput): AppendResult {
    this.checkUsable();
    if (this.failure) throw this.failure;
    const n = normaliseAppend(this.name, input, this.ctx.limits);
    let segment = this.active;
    if (!segment.fits(recordBytes(n.payload.byteLength), n.count)) segment = this.roll();
    const offset = segment.endOffset;
    return { offset, durable: segment.append(n, offset) };
  }

  read(offset: number, options?: ReadOptions): LogEntry[] {
    this.checkUsable();
    if (offset >= this.endOffset) return [];
    const from = Math.max(offset, this.startOffset);
    const collector = new ReadCollector(options, this.payloadBytesAvg);
    const source = options?.buffers === undefined ? this.readAhead : new LentSource(options.buffers);
    for (let i = this.segmentIndexFor(from); i < this.segments.length; i++) {
      const segment = this.segments[i]!;
      // A read continuing where the last one stopped starts at its file position, not at an index point.
      const resume = this.resume;
      const start = resume?.segment === segment && resume.offset === from ? resume.position : undefined;
      collector.current = segment;
      if (!segment.visit(from, collector, source, start)) break;
    }
    const { out } = collector;
    const last = out.at(-1);
    if (last !== undefined && collector.endSegment !== undefined) {
      const offset = last.offset + last.count;
      this.resume = { segment: collector.endSegment, position: collector.endPosition, offset };
      this.payloadBytesAvg = collector.meanPayloadBytes!;
    }
    return out;
  }

  /**
   * `read`, with the file read and the CRC checks of a large read done on storage's read thread
   * (docs/storage-format.md, "Reads off the event loop"): into the lent buffers, which must say they are
   * `shared`. One segment's written bytes per call; a read that has fewer than `offThreadReadBytesMin`
   * bytes to check (a small read, or one of records already known good), starts among records not yet
   * written, or has no shared buffers to read into runs inline, as `read`.
   */
  async readOffThread(offset: number, options: ReadOptions = {}): Promise<LogEntry[]> {
    this.checkUsable();
    const reads = this.ctx.reads;
    const buffers = options.buffers;
    if (offset >= this.endOffset || reads === undefined || buffers?.shared !== true)
      return this.read(offset, options);
    const from = Math.max(offset, this.startOffset);
    const planned = this.planFar(from, options);
    // Records known good need only a `pread`, which the hop to the thread costs about as much as.
    if (planned === undefined || reads.busy || !needsChecking(planned)) return this.read(offset, options);
    const lent = buffers.take(planned.length);
    assert(lent.buffer instanceof SharedArrayBuffer, 'buffers that say they are shared lend shared memory');
    const reply = await this.readFar(planned, from, options, lent.buffer, lent.byteOffset);
    const what = `Log ${this.name} segment ${planned.segment.base}`;
    const entries = farEntries(reply, lent.buffer, lent.byteOffset, what);
    // The first record wanted was longer than the range read: read it here, as `read` would.
    if (entries.length === 0) return this.read(offset, options);
    this.payloadBytesAvg = Math.round(entries.reduce((n, e) => n + e.payload.byteLength, 0) / entries.length);
    return entries;
  }

  /** Where a read off the thread from `from` lies: one segment's written bytes, at least the threshold. */
  private planFar(from: number, options: ReadOptions): FarPlan | undefined {
    const segment = this.segments[this.segmentIndexFor(from)]!;
    const span = segment.fileSpan(from);
    if (span === undefined) return undefined;
    const want = new ReadCollector(options, this.payloadBytesAvg).wantBytes() + span.skipBytes;
    const length = Math.min(span.end - span.start, want);
    return length < offThreadReadBytesMin ? undefined : { segment, position: span.start, length };
  }

  /**
   * The read thread's read of `planned`, skipping the CRC of records the segment already knows good and
   * telling it what the read verified, so each byte is checked at most once (docs/storage-format.md,
   * "Verified once").
   */
  private async readFar(
    planned: FarPlan,
    from: number,
    options: ReadOptions,
    target: SharedArrayBuffer,
    targetOffset: number,
  ): Promise<FarReadReply> {
    const { segment, position } = planned;
    const reads = this.ctx.reads;
    assert(reads !== undefined, 'reads off the thread are planned only with a read thread');
    const reply = await reads.read(
      segment.file,
      this.farRequest(planned, from, options, target, targetOffset),
    );
    segment.noteVerified(position, reply.checkedEnd);
    return reply;
  }

  private farRequest(
    planned: FarPlan,
    from: number,
    options: ReadOptions,
    target: SharedArrayBuffer,
    targetOffset: number,
  ): FarRead {
    return {
      position: planned.position,
      length: planned.length,
      trustedEnd: planned.segment.verifiedEnd,
      from,
      maxBytes: options.maxBytes ?? readBytesMaxDefault,
      maxEntries: options.maxEntries ?? readEntriesMaxDefault,
      entryBytesMax: this.ctx.limits.entryBytesMax,
      target,
      targetOffset,
    };
  }

  offsetForTimestamp(timestamp: number): number {
    this.checkUsable();
    for (const segment of this.segments) {
      const found = segment.offsetForTimestamp(timestamp);
      if (found !== undefined) return found;
    }
    return this.endOffset;
  }

  truncateBefore(offset: number): void {
    this.checkUsable();
    this.dropOldestWhile((oldest) => oldest.endOffset <= offset);
  }

  applyRetention(options: RetentionOptions, now: number): number {
    this.checkUsable();
    const { bytesMax, ageMsMax } = options;
    if (bytesMax !== undefined) this.dropOldestWhile(() => this.sizeBytes > bytesMax);
    if (ageMsMax !== undefined) this.dropOldestWhile((oldest) => oldest.maxTimestamp < now - ageMsMax);
    return this.startOffset;
  }

  rewrite(
    from: number,
    choose: (entry: LogEntry) => RewriteChoice,
    pace: () => Promise<void> = nextTurn,
  ): Promise<RewriteResult> {
    try {
      this.checkUsable();
      if (this.failure) throw this.failure;
      if (this.rewriting !== undefined) {
        throw new BrokerError(ErrorCode.invalidState, `Log ${this.name} is already being rewritten`);
      }
    } catch (err) {
      return quietRejection(err as Error);
    }
    const start = Math.max(from, this.startOffset);
    const sealed = this.sealedOffset;
    if (start >= sealed) return Promise.resolve({ nextOffset: start, bytesFreed: 0 });
    const segment = this.segments[this.segmentIndexFor(start)]!;
    const next = this.segments[this.segments.indexOf(segment) + 1]!.base;
    const running = (async () => {
      try {
        return { nextOffset: next, bytesFreed: await this.rewriteSegment(segment, start, choose, pace) };
      } finally {
        this.rewriting = undefined;
      }
    })();
    this.rewriting = running.catch(() => undefined);
    return running;
  }

  get sealedIoBytesPerSecondMax(): number {
    return this.ctx.limits.compactionIoBytesPerSecondMax;
  }

  sealedSegments(from: number, to: number): readonly SealedSegment[] {
    this.checkUsable();
    const out: SealedSegment[] = [];
    const end = Math.min(to, this.sealedOffset);
    const { entryBytesMax, indexIntervalBytes } = this.ctx.limits;
    for (const segment of this.segments) {
      if (segment.writable || segment.base >= end) break;
      if (segment.endOffset <= from) continue;
      const { base, endOffset, headerBytes, sizeBytes } = segment;
      const file = segment.file.path;
      const sealed = {
        base,
        end: endOffset,
        file,
        headerBytes,
        sizeBytes,
        entryBytesMax,
        indexIntervalBytes,
      };
      this.handedOut.set(sealed, segment);
      out.push(sealed);
    }
    return out;
  }

  adoptRewritten(batch: readonly AdoptedRewrite[]): Promise<number> {
    if (this.rewriting !== undefined) {
      const message = `Log ${this.name} is already being rewritten`;
      return quietRejection(new BrokerError(ErrorCode.invalidState, message));
    }
    const running = (async () => {
      try {
        return await this.adoptBatch(batch);
      } finally {
        this.rewriting = undefined;
      }
    })();
    this.rewriting = running.catch(() => undefined);
    return running;
  }

  /**
   * `adoptRewritten`'s work: the old indexes of every segment of the batch removed and one folder fsync,
   * then every rename in one synchronous step, one folder fsync, and the new indexes written. On a
   * journaling file system (ext4 with a journal, xfs) each journal commit a folder fsync forces makes an
   * fdatasync of the produce path wait for it (docs/performance.md, "Kafka compaction"), so a batch asks
   * for two, not two per segment.
   */
  private async adoptBatch(batch: readonly AdoptedRewrite[]): Promise<number> {
    const current = (segment: Segment | undefined): segment is Segment =>
      segment !== undefined && !this.closed && this.failure === undefined && this.segments.includes(segment);
    // A deleted log's folder is in the trash, removed whole, and a closed one's name may be held anew:
    // nothing is touched under it then (the next open removes what is left).
    const discard = async (files: readonly string[]) => {
      for (const file of files) if (!this.closed) await fs.promises.rm(file, { force: true });
    };
    const wanted: Array<{ segment: Segment; rewritten: RewrittenSegmentFile; sealed: SealedSegment }> = [];
    const unwanted: string[] = [];
    for (const { sealed, rewritten } of batch) {
      const segment = this.handedOut.get(sealed);
      if (rewritten !== undefined && current(segment)) {
        assert(rewritten.file === cleanedPathOf(sealed.file), 'a rewritten segment lies beside its segment');
        wanted.push({ segment, rewritten, sealed });
      } else unwanted.push(cleanedPathOf(sealed.file));
    }
    await discard(unwanted);
    if (wanted.length === 0) return 0;
    await this.syncCleaned(wanted, current);
    await this.dropIndexFiles(
      wanted.map((w) => w.segment),
      wanted.map((w) => w.rewritten.file),
    );
    // The log may have closed, or retention removed segments, while the folder was fsynced.
    const swapped: Segment[] = [];
    const late: string[] = [];
    let freed = 0;
    await this.atMoment(() => {
      for (const { segment, rewritten, sealed } of wanted) {
        if (!current(segment)) {
          late.push(rewritten.file);
          continue;
        }
        swapped.push(this.swap(segment, rewritten.file, rewritten));
        freed += sealed.sizeBytes - rewritten.sizeBytes;
      }
    });
    await discard(late);
    if (swapped.length === 0) return 0;
    try {
      // The renames' durability: until then a crash leaves the old segments, which recovery reopens.
      await fsyncDirAsync(this.ctx.dir);
      // Only now may an index describe a new file: a crash before leaves no index, rebuilt at open.
      for (const segment of swapped) {
        await this.atMoment(() => {
          if (!this.closed) segment.writeIndexFiles();
        });
      }
    } catch (err) {
      this.fail(failedError(`Swapping in rewritten segments of log ${this.name}`, err));
    }
    return freed;
  }

  /** Rewrites `segment` and swaps it in; returns the bytes freed (0 when abandoned or unchanged). */
  private async rewriteSegment(
    segment: Segment,
    from: number,
    choose: (entry: LogEntry) => RewriteChoice,
    pace: () => Promise<void>,
  ): Promise<number> {
    const wanted = () => !this.closed && this.failure === undefined && this.segments.includes(segment);
    let written: RewrittenSegment | undefined;
    try {
      written = await writeRewritten(segment, from, { choose, stillWanted: wanted, pace });
    } catch (err) {
      // A choice that threw is the caller's error; the rest is the disk's.
      const fromDisk = typeof (err as NodeJS.ErrnoException).code === 'string';
      throw fromDisk ? failedError(`Rewriting segment ${segment.base} of log ${this.name}`, err) : err;
    }
    if (written === undefined) return 0;
    if (written.unchanged) {
      await fs.promises.rm(written.file, { force: true });
      return 0;
    }
    await this.dropIndexFiles([segment], [written.file]);
    // The log may have closed, or retention removed the segment, while the folder was fsynced.
    if (!wanted()) {
      if (!this.ctx.deleted) await fs.promises.rm(written.file, { force: true });
      return 0;
    }
    this.swap(segment, written.file);
    // The rename's durability: until then a crash leaves the old segment, which recovery reopens.
    await fsyncDirAsync(this.ctx.dir).catch((err: unknown) => {
      this.fail(failedError(`Swapping in rewritten segment ${segment.base} of log ${this.name}`, err));
    });
    return written.bytesBefore - written.bytesAfter;
  }

  /**
   * Makes the rewritten files durable before their swap, one at a time, each fdatasync started in a
   * sync moment: on a journaling file system it then joins the commit of the producer's fdatasync that
   * follows it instead of forcing one of its own while producers wait. On a failure the rewritten files
   * are removed.
   */
  private async syncCleaned(
    wanted: ReadonlyArray<{ segment: Segment; rewritten: RewrittenSegmentFile }>,
    current: (segment: Segment) => boolean,
  ): Promise<void> {
    try {
      for (const { segment, rewritten } of wanted) {
        let synced: Promise<void> = Promise.resolve();
        await this.atMoment(() => {
          // One the log no longer holds (closed, deleted, retention) is not swapped in: nothing to sync.
          if (!current(segment)) return;
          synced = fdatasyncNow(rewritten.file);
          // Awaited below, once the producer's fdatasync returned: not an unhandled rejection meanwhile.
          synced.catch(() => undefined);
        });
        await synced;
      }
    } catch (err) {
      if (!this.ctx.deleted)
        for (const { rewritten } of wanted)
          await fs.promises.rm(rewritten.file, { force: true }).catch(() => undefined);
      throw failedError(`Making rewritten segments of log ${this.name} durable`, err);
    }
  }

  /**
   * Removes the segments' index files durably, off the event loop, before their swap: an index must
   * never describe a file it was not built from, and a segment without them is only rescanned on open
   * (readers use the indexes in memory). On a failure the rewrites end, the rewritten files are removed
   * and the segments stay as they are.
   */
  private async dropIndexFiles(segments: readonly Segment[], cleaned: readonly string[]): Promise<void> {
    const { dir } = this.ctx;
    const files = segments.flatMap((segment) =>
      (['.index', '.timeindex'] as const).map((ext) => path.join(dir, segmentFileName(segment.base, ext))),
    );
    try {
      await this.atMoment(() => {
        for (const file of files) fs.rmSync(file, { force: true });
      });
      await fsyncDirAsync(dir);
    } catch (err) {
      if (!this.ctx.deleted)
        for (const file of cleaned) await fs.promises.rm(file, { force: true }).catch(() => undefined);
      const bases = segments.map((segment) => segment.base).join(', ');
      throw failedError(`Swapping in rewritten segments ${bases} of log ${this.name}`, err);
    }
  }

  /**
   * Runs `call` (synchronous metadata calls beside producers) in storage's next moment (`SyncMoments`):
   * just before an appender's fdatasync, resolving once it returned; at once without moments.
   */
  private atMoment(call: () => void): Promise<void> {
    return (
      this.ctx.moments?.at(call) ??
      new Promise((resolve) => {
        call();
        resolve();
      })
    );
  }

  /**
   * Puts the rewritten file in the segment's place, synchronously, so no read sees a mix; returns the
   * new segment. The old indexes are already gone, durably (`dropIndexFiles`). The rename replaces the
   * segment in one step; the new segment is opened by the recovery path, which rebuilds its indexes, or
   * taken with the index built while it was written (`built`, a rewrite away from the log: no rescan
   * on this thread, and its index files are the caller's to write once the rename is durable). A crash
   * before the rename leaves the old segment and a `.cleaned` file that recovery removes; after it, the
   * new one. The old file is closed off the event loop: the rename unlinked it, and its last close
   * frees it.
   */
  private swap(old: Segment, cleaned: string, built?: RewrittenSegmentFile): Segment {
    const at = this.segments.indexOf(old);
    assert(at >= 0 && at < this.segments.length - 1, 'a rewritten segment is a sealed one still in the log');
    const { dir } = this.ctx;
    const what = `Swapping in rewritten segment ${old.base} of log ${this.name}`;
    holdOpen(old.file);
    try {
      fs.renameSync(cleaned, path.join(dir, segmentFileName(old.base, '.log')));
    } catch (err) {
      fs.rmSync(cleaned, { force: true });
      throw failedError(what, err);
    }
    // From the rename on, the name holds the new file: the old segment must not be read through it.
    old.file.retire(true);
    this.readAhead.drop();
    this.resume = undefined;
    try {
      const fresh = built
        ? Segment.adopt(this.ctx, old.base, old.endOffset, built)
        : Segment.open(this.ctx, old.base, false);
      assert(fresh !== undefined, 'a rewritten segment has a valid header');
      this.segments[at] = fresh;
      return fresh;
    } catch (err) {
      // The log no longer knows its segment: out of service until reopened, which recovers it.
      const failed = failedError(what, err);
      this.fail(failed);
      throw failed;
    }
  }

  async sync(): Promise<void> {
    this.checkUsable();
    if (this.failure) throw this.failure;
    await Promise.all(this.segments.map((segment) => segment.sync()));
  }

  /**
   * The last writable segment's writes: a segment after a roll writes only once the one before it is
   * sealed (written and fdatasynced), so its last write follows every earlier one.
   */
  written(): Promise<void> {
    this.checkUsable();
    if (this.failure) return Promise.reject(this.failure);
    return this.segments.at(-1)?.written() ?? Promise.resolve();
  }

  /** For the interval policy's timer. */
  syncIfDirty(): void {
    for (const segment of this.segments) segment.syncIfDirty();
  }

  close(): Promise<void> {
    this.ending ??= this.ended(this.finishClose());
    return this.ending;
  }

  delete(): Promise<void> {
    if (this.deleting) return this.ending!;
    if (this.ending !== undefined) return quietRejection(closedError(this.name));
    this.deleting = true;
    this.ending = this.ended(this.finishDelete());
    return this.ending;
  }

  /** A caller may drop the promise of a close or delete: a failure then must not end the process. */
  private ended(promise: Promise<void>): Promise<void> {
    promise.catch(() => {});
    return promise;
  }

  private async finishClose(): Promise<void> {
    this.shut();
    // A rewrite stops at its next chunk; it must not outlive the lease, or it could swap a file into a
    // log someone else holds.
    await this.rewriting;
    let first: unknown;
    for (const segment of this.segments) {
      await segment.close().catch((err: unknown) => {
        first ??= err;
      });
    }
    this.owner.release(this);
    // After a failure the log is closed so it can be reopened; the failure was already reported.
    if (first !== undefined && !this.failure) throw first;
  }

  /**
   * Runs synchronously up to its first await: the folder leaves the name and the lease is released
   * before `delete()` returns. Should the move fail, the lease is kept until nothing more of this handle
   * can reach the folder, and the log stays as written.
   */
  private async finishDelete(): Promise<void> {
    this.shut();
    this.ctx.deleted = true;
    let moveFailure: unknown;
    try {
      this.ctx.dir = this.owner.moveToTrash(this);
      this.owner.release(this);
    } catch (err) {
      moveFailure = failedError(`Deleting log ${this.name}`, err);
    }
    const reason = closedError(this.name);
    const abandoned = this.segments.map((segment) => segment.abandon(reason));
    const quiet = Promise.all([...abandoned, this.rewriting]);
    if (moveFailure === undefined) return this.owner.removeTrashed(this.ctx.dir, quiet);
    await quiet;
    this.owner.release(this);
    throw moveFailure;
  }

  private shut(): void {
    this.closed = true;
    this.readAhead.drop();
    this.resume = undefined;
  }

  private get active(): Segment {
    return this.segments[this.segments.length - 1]!;
  }

  private checkUsable(): void {
    if (this.closed) throw closedError(this.name);
  }

  private fail(err: BrokerError): void {
    if (this.failure) return;
    this.failure = new BrokerError(ErrorCode.storageFailed, `Log ${this.name} failed: ${err.message}`, {
      cause: err,
    });
    for (const segment of this.segments) segment.dropPending();
  }

  private recover(bases: number[]): void {
    this.dropEmptyTail(bases);
    for (let i = 0; i < bases.length; i++) {
      const last = i === bases.length - 1;
      const segment = Segment.open(this.ctx, bases[i]!, last);
      if (segment) {
        this.segments.push(segment);
        continue;
      }
      if (!last) throw corruptError(`Log ${this.name} segment ${bases[i]} has a bad header`);
      // A last segment with a torn header never received an acknowledged record.
      fs.rmSync(path.join(this.ctx.dir, segmentFileName(bases[i]!, '.log')));
    }
    if (this.segments.length === 0) this.segments.push(Segment.create(this.ctx, bases[0] ?? 0));
    else if (!this.active.writable) this.segments.push(Segment.create(this.ctx, this.active.endOffset));
  }

  /**
   * A crash right after a roll can leave a last segment holding only its header while the one before
   * lost its unacknowledged tail; that empty file would open a gap below `endOffset`, so it goes, and
   * the one before becomes the active segment again.
   */
  private dropEmptyTail(bases: number[]): void {
    while (bases.length > 1) {
      const file = path.join(this.ctx.dir, segmentFileName(bases.at(-1)!, '.log'));
      if (fs.statSync(file).size > segmentHeaderBytes) return;
      fs.rmSync(file);
      bases.pop();
    }
  }

  private roll(): Segment {
    const previous = this.active;
    const sealed = previous.seal();
    sealed.catch((err: unknown) => this.fail(failedError(`Sealing a segment of log ${this.name}`, err)));
    let next: Segment;
    try {
      next = Segment.rolled(this.ctx, previous.endOffset, sealed);
    } catch (err) {
      throw failedError(`Creating a segment of log ${this.name}`, err);
    }
    this.segments.push(next);
    return next;
  }

  private segmentIndexFor(offset: number): number {
    let lo = 0;
    let hi = this.segments.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.segments[mid]!.base <= offset) lo = mid + 1;
      else hi = mid;
    }
    return Math.max(0, lo - 1);
  }

  /** Deletes sealed segments from the oldest while `predicate` holds; never the active one. */
  private dropOldestWhile(predicate: (oldest: Segment) => boolean): void {
    let dropped = 0;
    while (this.segments.length > 1) {
      const oldest = this.segments[0]!;
      if (!oldest.settled || !predicate(oldest)) break;
      oldest.delete();
      this.segments.shift();
      dropped++;
    }
    if (dropped > 0) {
      this.readAhead.drop();
      this.resume = undefined;
      fsyncDir(this.ctx.dir);
    }
    assert(this.segments.length > 0, 'a log keeps its active segment');
  }
}
