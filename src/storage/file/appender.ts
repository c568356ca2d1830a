/**
 * Group commit for one append-only file. Records queue in memory; one write is in flight at a time, and
 * when it (and, under `always`, its fdatasync) completes, everything queued meanwhile goes out as the
 * next single write. Every record of a batch shares the batch's promise, so an append costs no promise
 * of its own.
 */
import type { BrokerError } from '../../shared/errors.js';
import type { FsyncPolicy } from '../types.js';
import { type FileIo, failedError, fdatasyncAsync, writeAll } from './io.js';

/** One write never carries more than this, so a burst cannot build one enormous buffer. */
export const batchBytesMax = 16 * 1024 * 1024;
/**
 * Records are encoded straight into a shared slab, so a batch is written without per-record buffers or
 * a concatenation. A slab is sized from the previous batch within these bounds and dropped when idle.
 */
export const slabBytesMin = 16 * 1024;
export const slabBytesMax = 8 * 1024 * 1024;

interface Batch {
  readonly chunks: Uint8Array[];
  bytes: number;
  readonly promise: Promise<void>;
  resolve: () => void;
  reject: (err: Error) => void;
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
  return { chunks: [], bytes: 0, promise, resolve, reject };
}

export interface AppenderOptions {
  readonly fd: number;
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
}

export class Appender {
  /** End of the bytes known to be written (readable from the file). */
  writtenEnd: number;
  /** Written but not yet fdatasynced (interval and never policies). */
  dirty = false;
  failure: BrokerError | undefined;
  private readonly options: AppenderOptions;
  private readonly batches: Batch[] = [];
  private inflight: Batch | undefined;
  private scheduled = false;
  private gated = false;
  /** Where `reserve` places records; `slab[sliceStart, slabUsed)` belongs to `sliceBatch`. */
  slab: Buffer | undefined;
  private slabUsed = 0;
  private sliceStart = 0;
  private sliceBatch: Batch | undefined;
  private lastBatchBytes = 0;

  constructor(options: AppenderOptions) {
    this.options = options;
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

  get idle(): boolean {
    return this.inflight === undefined && this.batches.length === 0;
  }

  enqueue(record: Uint8Array): Promise<void> {
    this.sealSlice();
    const batch = this.batchFor(record.byteLength);
    batch.chunks.push(record);
    batch.bytes += record.byteLength;
    this.schedule();
    return batch.promise;
  }

  /**
   * Makes room for a record of `bytes` in `slab` and queues it; the caller encodes it at the returned
   * position before yielding. The record's promise is then `lastPromise`.
   */
  reserve(bytes: number): number {
    const batch = this.batchFor(bytes);
    if (batch !== this.sliceBatch) this.sealSlice();
    if (this.slab === undefined || this.slabUsed + bytes > this.slab.byteLength) {
      this.sealSlice();
      const size = Math.max(bytes, Math.min(slabBytesMax, Math.max(slabBytesMin, 2 * this.lastBatchBytes)));
      this.slab = Buffer.allocUnsafeSlow(size);
      this.slabUsed = 0;
      this.sliceStart = 0;
    }
    const at = this.slabUsed;
    this.slabUsed += bytes;
    this.sliceBatch = batch;
    batch.bytes += bytes;
    this.schedule();
    return at;
  }

  get lastPromise(): Promise<void> {
    return this.batches.at(-1)!.promise;
  }

  private batchFor(bytes: number): Batch {
    let batch = this.batches.at(-1);
    if (!batch || batch.bytes + bytes > batchBytesMax) {
      this.sealSlice();
      batch = newBatch();
      this.batches.push(batch);
    }
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

  private schedule(): void {
    if (this.failure) this.failAll(this.failure);
    else if (!this.inflight && !this.scheduled && !this.gated) {
      this.scheduled = true;
      // Wait for the rest of this turn of the event loop, so appends made together share one write.
      setImmediate(() => {
        this.scheduled = false;
        this.pump();
      });
    }
  }

  /** Resolves once everything queued so far is written and fdatasynced. */
  async sync(): Promise<void> {
    const last = this.batches.at(-1) ?? this.inflight;
    if (last) await last.promise;
    if (this.failure) throw this.failure;
    if (this.options.policy.kind === 'always' && !this.dirty) return;
    await this.fdatasync();
  }

  /** For the interval timer: fdatasync when something was written since the last one. */
  syncIfDirty(): void {
    if (this.dirty && !this.failure) this.fdatasync().catch(() => {});
  }

  private async fdatasync(): Promise<void> {
    this.dirty = false;
    try {
      await fdatasyncAsync(this.options.io, this.options.fd);
    } catch (err) {
      const failure = failedError(`fdatasync of ${this.options.what}`, err);
      this.fail(failure);
      throw failure;
    }
  }

  private pump(): void {
    if (this.inflight || this.failure || this.gated) return;
    this.sealSlice();
    const batch = this.batches.shift();
    if (!batch) return;
    this.inflight = batch;
    this.lastBatchBytes = batch.bytes;
    const data = batch.chunks.length === 1 ? batch.chunks[0]! : Buffer.concat(batch.chunks, batch.bytes);
    const { io, fd } = this.options;
    writeAll(io, fd, data, this.writtenEnd, (err) => {
      if (err) return this.fail(failedError(`Write to ${this.options.what}`, err));
      this.writtenEnd += batch.bytes;
      this.options.onWritten(this.writtenEnd);
      if (this.options.policy.kind !== 'always') {
        this.dirty = true;
        return this.complete(batch);
      }
      io.fdatasync(fd, (syncErr) => {
        if (syncErr) return this.fail(failedError(`fdatasync of ${this.options.what}`, syncErr));
        this.complete(batch);
      });
    });
  }

  private complete(batch: Batch): void {
    this.inflight = undefined;
    if (this.batches.length === 0) this.releaseSlab();
    batch.resolve();
    this.pump();
  }

  /** An idle appender holds no slab: a broker may have thousands of quiet logs. */
  private releaseSlab(): void {
    this.slab = undefined;
    this.slabUsed = 0;
    this.sliceStart = 0;
    this.sliceBatch = undefined;
  }

  private fail(failure: BrokerError): void {
    if (!this.failure) {
      this.failure = failure;
      this.options.onFailed(failure);
    }
    this.failAll(failure);
  }

  private failAll(failure: BrokerError): void {
    this.inflight?.reject(failure);
    this.inflight = undefined;
    for (const batch of this.batches.splice(0)) batch.reject(failure);
  }
}
