/**
 * One partition of a stream: a storage Log plus the wake-ups that readers need. Fetch long-polls
 * (`waitFor`) and stream-queue consumers (`onAppend`) are woken by the append itself, never by polling.
 * The partition outlives a failure of its log: `fail` takes the log out of service (every call then
 * throws `storageFailed`), `revive` puts a freshly opened one in, and readers keep their reference.
 */
import { assert } from '../../shared/assert.js';
import { brokerError, ErrorCode, isBrokerError } from '../../shared/errors.js';
import type { AppendResult, Log, LogEntry } from '../../storage/types.js';
import type { StreamPartition, StreamReadOptions } from '../api.js';
import type { Executor, Timer } from '../exec/executor.js';

/** Long-polls parked on one partition at a time; Kafka fetch sessions are far fewer in practice. */
export const partitionWaitersMax = 10_000;

interface Waiter {
  readonly offset: number;
  readonly resolve: () => void;
  readonly timer: Timer;
}

export class Partition implements StreamPartition {
  readonly stream: string;
  readonly index: number;
  readonly #exec: Executor;
  #log: Log;
  #failure: Error | undefined;
  #watched: Promise<void> | undefined;
  readonly #waiters = new Set<Waiter>();
  readonly #appendListeners = new Set<() => void>();
  #closed = false;

  constructor(stream: string, index: number, log: Log, exec: Executor) {
    this.stream = stream;
    this.index = index;
    this.#log = log;
    this.#exec = exec;
  }

  /** The log in service; throws while the partition is failed. */
  get log(): Log {
    if (this.#failure !== undefined) throw this.#failure;
    return this.#log;
  }

  get failed(): boolean {
    return this.#failure !== undefined;
  }

  /** Takes the log out of service and returns it for closing; parked readers are woken. */
  fail(err: unknown): Log {
    const reason = err instanceof Error ? err.message : String(err);
    const text = `Partition ${this.index} of stream '${this.stream}' failed: ${reason}`;
    this.#failure ??= brokerError(ErrorCode.storageFailed, text, err);
    for (const waiter of [...this.#waiters]) this.#release(waiter);
    return this.#log;
  }

  /** Puts a reopened log in service after a failure. */
  revive(log: Log): void {
    this.#log = log;
    this.#failure = undefined;
  }

  get startOffset(): number {
    return this.log.startOffset;
  }

  get endOffset(): number {
    return this.log.endOffset;
  }

  append(
    payload: Uint8Array,
    options: { count?: number; timestamp: number; maxTimestamp?: number; format: number },
  ): AppendResult {
    // Count, format and timestamps are validated by storage, which owns those bounds.
    this.#checkOpen();
    const count = options.count ?? 1;
    let result: AppendResult;
    try {
      result = this.log.append({
        payload,
        count,
        timestamp: options.timestamp,
        maxTimestamp: options.maxTimestamp ?? options.timestamp,
        format: options.format,
      });
    } catch (err) {
      // The log refused (it failed): the stream fails and its supervisor may restart it.
      if (isBrokerError(err, ErrorCode.storageFailed)) this.#exec.defer(() => this.#exec.fail(err));
      throw err;
    }
    // A write that fails later fails the stream too; batches share one promise, watched once.
    if (result.durable !== this.#watched) {
      this.#watched = result.durable;
      this.#exec.follow(result.durable);
    }
    assert(this.log.endOffset === result.offset + count, 'log end moves by the entry count');
    this.#wake();
    return result;
  }

  read(offset: number, options?: StreamReadOptions): LogEntry[] {
    this.#checkOpen();
    return this.log.read(offset, options);
  }

  offsetForTimestamp(timestamp: number): number {
    this.#checkOpen();
    return this.log.offsetForTimestamp(timestamp);
  }

  waitFor(offset: number, timeoutMs: number): Promise<void> {
    if (this.#closed || this.failed || this.log.endOffset > offset || timeoutMs <= 0)
      return Promise.resolve();
    if (this.#waiters.size >= partitionWaitersMax) {
      const message = `Partition ${this.index} of stream '${this.stream}' has ${partitionWaitersMax} waiting readers`;
      return Promise.reject(brokerError(ErrorCode.resourceExhausted, message));
    }
    return new Promise((resolve) => {
      const waiter: Waiter = {
        offset,
        resolve,
        timer: this.#exec.after(timeoutMs, () => this.#release(waiter)),
      };
      this.#waiters.add(waiter);
    });
  }

  /** Called after every append; returns the unsubscribe function. */
  onAppend(listener: () => void): () => void {
    this.#appendListeners.add(listener);
    return () => this.#appendListeners.delete(listener);
  }

  /** Wakes every waiter and refuses further use; the log itself is closed or deleted by the owner. */
  close(): void {
    this.#closed = true;
    for (const waiter of [...this.#waiters]) this.#release(waiter);
    this.#appendListeners.clear();
  }

  get closed(): boolean {
    return this.#closed;
  }

  #wake(): void {
    const end = this.log.endOffset;
    for (const waiter of [...this.#waiters]) {
      if (end > waiter.offset) this.#release(waiter);
    }
    for (const listener of [...this.#appendListeners]) listener();
  }

  #release(waiter: Waiter): void {
    if (!this.#waiters.delete(waiter)) return;
    waiter.timer.cancel();
    waiter.resolve();
  }

  #checkOpen(): void {
    if (this.#closed) {
      throw brokerError(ErrorCode.notFound, `Partition ${this.index} of stream '${this.stream}' is gone`);
    }
  }
}
