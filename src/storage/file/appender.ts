/**
 * Group commit for one append-only file. Records queue in memory and go out as one write per batch;
 * every record of a batch shares the batch's promise, so an append costs no promise of its own.
 *
 * Writes and fdatasyncs are pipelined: one write and one fdatasync may be in flight at once, so while
 * batch N is being fdatasynced, batch N+1 is already being written. A batch becomes durable only through
 * an fdatasync that started after its write completed, and batches settle strictly in file order.
 *
 * The file's descriptor comes from the handle cache (`PinnedFile`) and is pinned only for the duration
 * of each write or fdatasync, so an idle appender holds none.
 */
import type { BrokerError } from '../../shared/errors.js';
import type { FsyncPolicy } from '../types.js';
import type { PinnedFile } from './handles.js';
import { type FileIo, failedError, writeChunks } from './io.js';
import type { SyncMoments } from './sync-moments.js';

/** One write never carries more than this, so a burst cannot build one enormous buffer. */
export const batchBytesMax = 16 * 1024 * 1024;
/**
 * Records are encoded straight into a shared slab, so a batch is written without per-record buffers or
 * a concatenation. A slab is sized from the previous batch within these bounds and dropped when idle.
 */
/**
 * A batch this large is written at once when no write is in flight, instead of at the end of the turn:
 * the disk then works on it while the rest of a burst of appends is still being encoded.
 */
export const batchBytesEarly = 64 * 1024;
export const slabBytesMin = 16 * 1024;
export const slabBytesMax = 8 * 1024 * 1024;
/**
 * How long a lazy record (`AppendInput.lazy`) may wait for another append to share its write and
 * fdatasync, when no write of the file is due: long enough for a client's next request of a
 * transaction to arrive, short enough that whoever waits for it at last barely notices.
 */
export const lazyWriteDelayMs = 3;

const writtenAlready: Promise<void> = Promise.resolve();

interface Batch {
  readonly chunks: Uint8Array[];
  bytes: number;
  /** Of `bytes`, those placed in slabs (the rest are the callers' own buffers): sizes the next slab. */
  slabBytes: number;
  readonly promise: Promise<void>;
  resolve: () => void;
  reject: (err: Error) => void;
  /** Called once the batch is written (or failed): `Appender.whenWritten` waiters, made only when asked. */
  wrote: Array<(err?: Error) => void> | undefined;
}

function newBatch(): Batch {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Marks the rejection handled: an I/O error must never become an unhandled rejection that ends the
  // process; whoever awaits `durable` still sees it.
  promise.catch(() => {});
  const batch: Batch = {
    chunks: [],
    bytes: 0,
    slabBytes: 0,
    promise,
    resolve: () => {
      settleWrote(batch);
      resolve();
    },
    reject: (err) => {
      settleWrote(batch, err);
      reject(err);
    },
    wrote: undefined,
  };
  return batch;
}

function settleWrote(batch: Batch, err?: Error): void {
  const waiters = batch.wrote;
  if (waiters === undefined) return;
  batch.wrote = undefined;
  for (const wake of waiters) wake(err);
}

export interface AppenderOptions {
  readonly file: PinnedFile;
  /** File position where the first queued byte goes. */
  readonly position: number;
  readonly policy: FsyncPolicy;
  readonly io: FileIo;
  /** Names the file in error messages. */
  readonly what: string;
  /** Called after each completed write with the new end of written data. */
  readonly onWritten: (writtenEnd: number) => void;
  readonly onFailed: (err: BrokerError) => void;
  /** Writing starts only once this settles (see `Segment.create`). */
  readonly gate?: Promise<void> | undefined;
  /** How long lazy records may wait for company; `lazyWriteDelayMs` unless a test says otherwise. */
  readonly lazyDelayMs?: number;
  /** Storage's moments for compaction's metadata calls, run just before each fdatasync. */
  readonly moments?: SyncMoments | undefined;
}

export class Appender {
  /** End of the bytes known to be written (readable from the file). */
  writtenEnd: number;
  /** Written but not yet fdatasynced (interval and never policies). */
  dirty = false;
  failure: BrokerError | undefined;
  private readonly options: AppenderOptions;
  private readonly always: boolean;
  /** Batches not yet handed to a write, oldest first. */
  private readonly batches: Batch[] = [];
  /** The batch whose write is in flight. */
  private writing: Batch | undefined;
  /**
   * Written batches waiting for an fdatasync that starts after their write (`always` only); after a
   * failure, also the batches waiting to be rejected in order.
   */
  private written: Batch[] = [];
  /** Batches covered by the fdatasync in flight; undefined when none is. */
  private syncing: Batch[] | undefined;
  private scheduled = false;
  /** Set while only lazy records wait, to write them if no other append comes first. */
  private lazyTimer: NodeJS.Timeout | undefined;
  private gated = false;
  /** Where `reserve` places records; `slab[sliceStart, slabUsed)` belongs to `sliceBatch`. */
  slab: Buffer | undefined;
  /** A view of `slab` for the fixed-width header fields; made once per slab, not per record. */
  slabView: DataView | undefined;
  private slabUsed = 0;
  private sliceStart = 0;
  private sliceBatch: Batch | undefined;
  private lastSlabBytes = 0;
  /** Writes and fdatasyncs started and not yet completed (including those waiting for a descriptor). */
  private ioCount = 0;
  private quietWaiters: Array<() => void> = [];
  /** Set by `abort`: nothing more is written. */
  private aborted: BrokerError | undefined;
  /** The promise of the batch the last `reserve` placed its record in. */
  lastPromise: Promise<void> = Promise.resolve();
  private readonly pumpSoon = (): void => {
    this.scheduled = false;
    this.pump();
  };
  private readonly pumpLazy = (): void => {
    this.lazyTimer = undefined;
    if (!this.scheduled) this.pump();
  };

  constructor(options: AppenderOptions) {
    this.options = options;
    this.always = options.policy.kind === 'always';
    this.writtenEnd = options.position;
    if (options.gate) {
      this.gated = true;
      const open = () => {
        this.gated = false;
        this.pump();
      };
      options.gate.then(open, open);
    }
  }

  /** True when nothing is queued, being written or waiting for its fdatasync. */
  get idle(): boolean {
    return (
      this.writing === undefined &&
      this.batches.length === 0 &&
      this.written.length === 0 &&
      this.syncing === undefined
    );
  }

  enqueue(record: Uint8Array, lazy = false): Promise<void> {
    this.sealSlice();
    const batch = this.batchFor(record.byteLength);
    batch.chunks.push(record);
    batch.bytes += record.byteLength;
    this.schedule(lazy);
    return batch.promise;
  }

  /**
   * Makes room for a record of `bytes` in `slab` and queues it; the caller encodes it at the returned
   * position before yielding. The record's promise is then `lastPromise`.
   */
  reserve(bytes: number, lazy = false): number {
    return this.place(bytes, bytes, lazy);
  }

  /** Places `bytes` in the slab for a record of `recordBytes` (more when the rest is the caller's). */
  private place(bytes: number, recordBytes: number, lazy: boolean): number {
    const batch = this.batchFor(recordBytes);
    if (batch !== this.sliceBatch) this.sealSlice();
    if (this.slab === undefined || this.slabUsed + bytes > this.slab.byteLength) this.newSlab(bytes);
    const at = this.slabUsed;
    this.slabUsed += bytes;
    this.sliceBatch = batch;
    batch.bytes += bytes;
    batch.slabBytes += bytes;
    if (this.failure !== undefined || !this.scheduled) this.schedule(lazy);
    return at;
  }

  /**
   * Like `reserve` for a record of `headerBytes` in `slab` followed by `payload` written from the
   * caller's buffer as it is (one pwritev with the slab slices): the payload is never copied, and the
   * caller must not change it. Returns where to encode the header before yielding.
   */
  reserveBefore(headerBytes: number, payload: Uint8Array, lazy = false): number {
    const at = this.place(headerBytes, headerBytes + payload.byteLength, lazy);
    const batch = this.sliceBatch;
    this.sealSlice();
    if (batch !== undefined) {
      batch.chunks.push(payload);
      batch.bytes += payload.byteLength;
    }
    return at;
  }

  /** Called once the record placed by `reserve` is encoded: starts a write early when it is worth it. */
  encoded(): void {
    if (this.writing !== undefined || this.gated || this.failure !== undefined) return;
    const first = this.batches[0];
    if (first !== undefined && first.bytes >= batchBytesEarly) this.pump();
  }

  private newSlab(bytes: number): void {
    this.sealSlice();
    const size = Math.max(bytes, Math.min(slabBytesMax, Math.max(slabBytesMin, 2 * this.lastSlabBytes)));
    // Never reused once full: a slab's bytes may still be in a write in flight.
    this.slab = Buffer.allocUnsafeSlow(size);
    this.slabView = new DataView(this.slab.buffer, this.slab.byteOffset, size);
    this.slabUsed = 0;
    this.sliceStart = 0;
  }

  private batchFor(bytes: number): Batch {
    const last = this.batches[this.batches.length - 1];
    if (last !== undefined && last.bytes + bytes <= batchBytesMax) return last;
    this.sealSlice();
    const batch = newBatch();
    this.batches.push(batch);
    this.lastPromise = batch.promise;
    return batch;
  }

  /** Closes the open slice of the slab into its batch's chunks. */
  private sealSlice(): void {
    if (this.sliceBatch && this.slab && this.slabUsed > this.sliceStart) {
      this.sliceBatch.chunks.push(this.slab.subarray(this.sliceStart, this.slabUsed));
    }
    this.sliceStart = this.slabUsed;
    this.sliceBatch = undefined;
  }

  /**
   * A lazy record alone waits up to `lazyWriteDelayMs` for company; any other append, or a write
   * already in flight (the next one follows it), takes it along sooner.
   */
  private schedule(lazy = false): void {
    if (this.failure) this.settleFailed();
    else if (!this.writing && !this.scheduled && !this.gated) {
      if (lazy) {
        this.lazyTimer ??= setTimeout(this.pumpLazy, this.options.lazyDelayMs ?? lazyWriteDelayMs);
        return;
      }
      this.scheduled = true;
      // Wait for the rest of this turn of the event loop, so appends made together share one write.
      setImmediate(this.pumpSoon);
    }
  }

  /**
   * Resolves once everything queued so far is written to the file: a crash of the process keeps it
   * (its fdatasync may still be due, so a power loss may not). Rejects if that write fails.
   */
  whenWritten(): Promise<void> {
    const last = this.batches.at(-1) ?? this.writing;
    if (last === undefined) return this.failure === undefined ? writtenAlready : Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      last.wrote ??= [];
      last.wrote.push((err) => (err === undefined ? resolve() : reject(err)));
    });
  }

  /** Resolves once everything queued so far is written and fdatasynced. */
  async sync(): Promise<void> {
    const last = this.lastUnsettled();
    if (last) await last.promise;
    if (this.aborted) throw this.aborted;
    if (this.failure) throw this.failure;
    if (this.always && !this.dirty) return;
    await this.fdatasync();
  }

  private lastUnsettled(): Batch | undefined {
    return (
      this.batches.at(-1) ??
      this.writing ??
      this.written.at(-1) ??
      (this.syncing === undefined ? undefined : this.syncing.at(-1))
    );
  }

  /** For the interval timer: fdatasync when something was written since the last one. */
  syncIfDirty(): void {
    if (this.dirty && !this.failure && !this.aborted) this.fdatasync().catch(() => {});
  }

  private fdatasync(): Promise<void> {
    this.dirty = false;
    return new Promise((resolve, reject) => {
      this.withFd(
        (fd, done) => this.syncFd(fd, done),
        (err) => {
          if (!err) return resolve();
          const failure = failedError(`fdatasync of ${this.options.what}`, err);
          this.fail(failure);
          reject(failure);
        },
      );
    });
  }

  /**
   * Runs `op` with the file's descriptor pinned and calls `done` once it is released. Counted, so
   * `whenQuiet` knows when no call is left on the file.
   */
  private withFd(
    op: (fd: number, done: (err: Error | null) => void) => void,
    done: (err: Error | null) => void,
  ): void {
    this.ioCount++;
    const file = this.options.file;
    const finish = (err: Error | null): void => {
      this.ioCount--;
      done(err);
      if (this.ioCount === 0) for (const wake of this.quietWaiters.splice(0)) wake();
    };
    file.pin(
      (fd) =>
        op(fd, (err) => {
          file.unpin();
          finish(err);
        }),
      finish,
    );
  }

  /** Resolves once no write or fdatasync is in flight. */
  whenQuiet(): Promise<void> {
    if (this.ioCount === 0) return Promise.resolve();
    return new Promise((resolve) => this.quietWaiters.push(resolve));
  }

  /**
   * The file is being deleted: batches not yet written reject with `reason`, written ones resolve (their
   * bytes are in the file, which is going away), and nothing more is written or fdatasynced.
   */
  abort(reason: BrokerError): void {
    if (this.aborted) return;
    this.aborted = reason;
    this.scheduled = true; // a pump already scheduled finds nothing to do
    clearTimeout(this.lazyTimer);
    this.lazyTimer = undefined;
    for (const batch of this.batches.splice(0)) batch.reject(reason);
    for (const batch of this.written.splice(0)) batch.resolve();
    this.releaseSlab();
  }

  /** Starts the next write when none is in flight. */
  private pump(): void {
    if (this.writing || this.failure || this.gated || this.aborted) return;
    clearTimeout(this.lazyTimer);
    this.lazyTimer = undefined;
    this.sealSlice();
    const batch = this.batches.shift();
    if (!batch) return;
    this.writing = batch;
    this.lastSlabBytes = batch.slabBytes;
    const { io } = this.options;
    const at = this.writtenEnd;
    this.withFd(
      (fd, done) => writeChunks(io, fd, batch.chunks, batch.bytes, at, done),
      (err) => this.onWrite(batch, err),
    );
  }

  private onWrite(batch: Batch, err: Error | null): void {
    this.writing = undefined;
    // Written or failed, its bytes are not needed again: callers' owned buffers go while it is fdatasynced.
    batch.chunks.length = 0;
    if (this.aborted) {
      if (err) batch.reject(this.aborted);
      else batch.resolve();
      return;
    }
    if (err || this.failure) {
      // This batch follows every batch in `written`, so it joins them to fail in order.
      this.written.push(batch);
      this.fail(this.failure ?? failedError(`Write to ${this.options.what}`, err));
      return;
    }
    this.writtenEnd += batch.bytes;
    this.options.onWritten(this.writtenEnd);
    settleWrote(batch);
    if (this.always) {
      this.written.push(batch);
      this.startSync();
    } else {
      this.dirty = true;
      batch.resolve();
    }
    this.pump();
    if (this.idle) this.releaseSlab();
  }

  /** Starts an fdatasync covering every written batch, unless one is already in flight. */
  private startSync(): void {
    if (this.syncing !== undefined || this.written.length === 0) return;
    const covered = this.written;
    this.written = [];
    this.syncing = covered;
    this.withFd(
      (fd, done) => this.syncFd(fd, done),
      (err) => this.onSync(covered, err),
    );
  }

  /** fdatasync, with the metadata calls waiting for a moment run just before it (`SyncMoments`). */
  private syncFd(fd: number, done: (err: Error | null) => void): void {
    const moments = this.options.moments;
    if (moments === undefined) {
      this.options.io.fdatasync(fd, done);
      return;
    }
    const after = moments.beforeSync();
    this.options.io.fdatasync(fd, (err) => {
      after();
      done(err);
    });
  }

  private onSync(covered: Batch[], err: Error | null): void {
    this.syncing = undefined;
    if (this.aborted) {
      // Written before the delete: their bytes reached the file, which is going away.
      for (const batch of covered) batch.resolve();
      return;
    }
    if (err) {
      // The covered batches precede every batch still in `written`.
      this.written.unshift(...covered);
      this.fail(failedError(`fdatasync of ${this.options.what}`, err));
      return;
    }
    for (const batch of covered) batch.resolve();
    if (this.failure) {
      this.settleFailed();
      return;
    }
    this.startSync();
    if (this.idle) this.releaseSlab();
  }

  /** An idle appender holds no slab: a broker may have thousands of quiet logs. */
  private releaseSlab(): void {
    this.slab = undefined;
    this.slabView = undefined;
    this.slabUsed = 0;
    this.sliceStart = 0;
    this.sliceBatch = undefined;
  }

  /** The log is failed from now on: the failing batch and every later one are rejected. */
  private fail(failure: BrokerError): void {
    if (!this.failure) {
      this.failure = failure;
      this.options.onFailed(failure);
    }
    this.settleFailed();
  }

  /**
   * Rejects every unsettled batch, in file order, once no I/O is in flight: an fdatasync already running
   * may still make earlier batches durable, and the file must not be closed under a running write.
   */
  private settleFailed(): void {
    if (this.writing !== undefined || this.syncing !== undefined) return;
    const failure = this.failure!;
    for (const batch of this.written.splice(0)) batch.reject(failure);
    for (const batch of this.batches.splice(0)) batch.reject(failure);
    this.releaseSlab();
  }
}
