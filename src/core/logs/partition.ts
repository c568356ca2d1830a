/**
 * One partition of a stream: a storage Log plus the wake-ups that readers need. Fetch long-polls
 * (`waitFor`) and stream-queue consumers (`onAppend`) are woken by the append itself, never by polling.
 * The partition outlives a failure of its log: `fail` takes the log out of service (every call then
 * throws `storageFailed`), `revive` puts a freshly opened one in, and readers keep their reference.
 */
import { assert } from '../../shared/assert.js';
import { brokerError, ErrorCode, isBrokerError } from '../../shared/errors.js';
import type { AppendResult, Log, LogEntry } from '../../storage/types.js';
import type { AbortedTransaction, StreamAppendOptions, StreamPartition, StreamReadOptions } from '../api.js';
import type { Executor, Timer } from '../exec/executor.js';
import { entryFormat } from '../message-codec.js';
import { Compactor } from './compaction.js';
import type { AbortedRanges } from './compaction-rules.js';
import { entryProducer } from './formats.js';

const noBytes = new Uint8Array(0);
/** How far an aborted transaction's first entry is looked for, in entries and bytes. */
const firstScanEntriesMax = 10_000;
const firstScanBytesMax = 4 * 1024 * 1024;

/** Long-polls parked on one partition at a time; Kafka fetch sessions are far fewer in practice. */
export const partitionWaitersMax = 10_000;

interface Waiter {
  readonly offset: number;
  /** Waits for the stable offset to pass `offset`, not the end. */
  readonly committed: boolean;
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
  /** Producers with a transaction open here → the lowest offset it may have written (KIP-98). */
  readonly #open = new Map<number, number>();
  /** Aborted transactions by producer, oldest first: [first offset, marker offset]. */
  readonly #aborted = new Map<number, Array<readonly [number, number]>>();
  /**
   * The first offset readers may see after a deletion of records (Kafka's log start offset): storage
   * drops only whole segments, so what lies between its start and this is stored but never read.
   */
  #floor = 0;
  /**
   * Every offset below this is known durable: recovered at open, or its append's `durable` seen
   * resolved by `durableTo`. Appends do not move it, so the produce path pays nothing for it.
   */
  #durableEnd: number;
  #closed = false;
  /** The partition's compaction, run on its stream's executor when the stream is compacted. */
  readonly compactor: Compactor;

  constructor(stream: string, index: number, log: Log, exec: Executor) {
    this.stream = stream;
    this.index = index;
    this.#log = log;
    this.#exec = exec;
    this.#durableEnd = log.endOffset;
    this.compactor = new Compactor(this, exec);
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
    this.compactor.reset();
    for (const waiter of [...this.#waiters]) this.#release(waiter);
    return this.#log;
  }

  /** Puts a reopened log in service after a failure. */
  revive(log: Log): void {
    this.#log = log;
    this.#failure = undefined;
    // The old log's last promise says nothing of the new one, whose recovered records are durable.
    this.#watched = undefined;
    this.#durableEnd = log.endOffset;
  }

  /**
   * Resolves once every record below `offset` (or below the end, when `offset` lies past it) is
   * durable; rejects when the write failed. A consumer reads records before they are durable, so an
   * offset it commits can name records a crash then cuts off; the next records produced would take
   * those offsets and a group resuming there would never read them. Batches become durable in order,
   * so the last append's promise covers every record before it.
   */
  async durableTo(offset: number): Promise<void> {
    if (offset <= this.#durableEnd) return;
    const end = this.log.endOffset;
    if (this.#watched !== undefined) await this.#watched;
    if (end > this.#durableEnd) this.#durableEnd = end;
  }

  get startOffset(): number {
    return Math.max(this.log.startOffset, this.#floor);
  }

  /** Bytes the partition's log holds (Kafka DescribeLogDirs). */
  get sizeBytes(): number {
    return this.log.sizeBytes;
  }

  /**
   * Nothing below `offset` is read any more (Kafka DeleteRecords); storage frees the segments wholly
   * below it. The caller has made the new start durable and checked it lies within the log.
   */
  deleteBefore(offset: number): void {
    assert(Number.isSafeInteger(offset) && offset >= 0, 'a start offset is a non-negative integer');
    if (offset <= this.#floor) return;
    this.#floor = offset;
    this.log.truncateBefore(offset);
    this.trimAborted(offset);
  }

  get endOffset(): number {
    return this.log.endOffset;
  }

  /**
   * The last stable offset: below it no transaction is still open, so readers of committed data read
   * up to here (Kafka's LSO). The end of the log when no transaction is open.
   */
  get stableOffset(): number {
    let stable = this.log.endOffset;
    for (const first of this.#open.values()) stable = Math.min(stable, first);
    return stable;
  }

  /** A producer's transaction is open here; what it writes from `firstOffset` on is not yet stable. */
  beginTransaction(producerId: number, firstOffset: number): void {
    const known = this.#open.get(producerId);
    this.#open.set(producerId, known === undefined ? firstOffset : Math.min(known, firstOffset));
  }

  /**
   * The producer's transaction ended with its marker at `markerOffset`; aborted, its entries are
   * withheld, from its first entry found here (Kafka's aborted-transaction index starts there; a
   * consumer such as kafkajs takes up one aborted transaction per record it passes, so a start before
   * the data can leave a second one taken up late). Returns where the aborted range starts.
   */
  endTransaction(producerId: number, aborted: boolean, markerOffset: number): number | undefined {
    const joined = this.#open.get(producerId);
    this.#open.delete(producerId);
    const first = aborted && joined !== undefined ? this.#firstOf(producerId, joined, markerOffset) : joined;
    if (aborted && first !== undefined) this.addAborted(producerId, first, markerOffset);
    this.#wake();
    return first;
  }

  /** The producer's first entry in [from, to), looked for in a bounded read; `from` when not found. */
  #firstOf(producerId: number, from: number, to: number): number {
    try {
      const entries = this.log.read(from, { maxEntries: firstScanEntriesMax, maxBytes: firstScanBytesMax });
      for (const entry of entries) {
        if (entry.offset >= to) break;
        if (entryProducer(entry)?.producerId === producerId) return entry.offset;
      }
    } catch {
      // Unreadable here: the range keeps its wider start, which still covers the data.
    }
    return from;
  }

  /** An aborted transaction as the transaction log remembers it (at start, and when one ends). */
  addAborted(producerId: number, firstOffset: number, markerOffset: number): void {
    const ranges = this.#aborted.get(producerId) ?? [];
    ranges.push([firstOffset, markerOffset]);
    this.#aborted.set(producerId, ranges);
  }

  /** Forgets aborted transactions whose marker lies below `offset` (retention removed them). */
  trimAborted(offset: number): void {
    for (const [producerId, ranges] of this.#aborted) {
      const kept = ranges.filter(([, marker]) => marker >= offset);
      if (kept.length === 0) this.#aborted.delete(producerId);
      else this.#aborted.set(producerId, kept);
    }
  }

  /** A copy of the aborted transactions known, for a compaction run on another thread. */
  abortedRanges(): AbortedRanges {
    return [...this.#aborted].map(([producerId, ranges]) => [
      producerId,
      ranges.map(([a, b]) => [a, b] as const),
    ]);
  }

  /** Aborted transactions with data in [from, to), by first offset (Kafka Fetch's aborted list). */
  abortedBetween(from: number, to: number): AbortedTransaction[] {
    const out: AbortedTransaction[] = [];
    for (const [producerId, ranges] of this.#aborted) {
      for (const [first, marker] of ranges) {
        if (marker >= from && first < to) out.push({ producerId, firstOffset: first, markerOffset: marker });
      }
    }
    return out.sort((a, b) => a.firstOffset - b.firstOffset);
  }

  #isAborted(producerId: number, offset: number): boolean {
    const ranges = this.#aborted.get(producerId);
    return ranges?.some(([first, marker]) => offset >= first && offset < marker) === true;
  }

  append(payload: Uint8Array, options: StreamAppendOptions): AppendResult {
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
        owned: options.owned === true,
        lazy: options.lazy === true,
        payloadCrc32c: options.payloadCrc32c === true,
        ...(options.release === undefined ? {} : { release: options.release }),
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
    const entries = this.log.read(Math.max(offset, this.#floor), options);
    return options?.committed === true ? this.#committedOnly(entries) : entries;
  }

  /**
   * `read`, with a large read's file work and CRC checks off the event loop where the log can do that
   * (`Log.readOffThread`); the committed filter applies when the entries arrive.
   */
  async readOffThread(offset: number, options?: StreamReadOptions): Promise<LogEntry[]> {
    this.#checkOpen();
    const from = Math.max(offset, this.#floor);
    const entries =
      this.log.readOffThread === undefined
        ? this.log.read(from, options)
        : await this.log.readOffThread(from, options);
    return options?.committed === true ? this.#committedOnly(entries) : entries;
  }

  /**
   * What a reader of committed data may see: nothing at or past the stable offset, and in place of a
   * transaction marker or an entry of an aborted transaction a `withheld` entry of the same offsets,
   * so readers move past it without seeing it.
   */
  #committedOnly(entries: LogEntry[]): LogEntry[] {
    const stable = this.stableOffset;
    const out: LogEntry[] = [];
    for (const entry of entries) {
      if (entry.offset >= stable) break;
      out.push(this.#hidden(entry) ? { ...entry, format: entryFormat.withheld, payload: noBytes } : entry);
    }
    return out;
  }

  #hidden(entry: LogEntry): boolean {
    return entry.format === entryFormat.txnMarker || this.abortedEntry(entry);
  }

  /** Whether the entry was written by a transaction that aborted (compaction removes it). */
  abortedEntry(entry: LogEntry): boolean {
    if (this.#aborted.size === 0) return false;
    const producer = entryProducer(entry);
    return producer?.transactional === true && this.#isAborted(producer.producerId, entry.offset);
  }

  offsetForTimestamp(timestamp: number): number {
    this.#checkOpen();
    return Math.max(this.log.offsetForTimestamp(timestamp), this.#floor);
  }

  waitFor(offset: number, timeoutMs: number, committed = false): Promise<void> {
    if (this.#closed || this.failed || this.#reached(offset, committed) || timeoutMs <= 0)
      return Promise.resolve();
    if (this.#waiters.size >= partitionWaitersMax) {
      const message = `Partition ${this.index} of stream '${this.stream}' has ${partitionWaitersMax} waiting readers`;
      return Promise.reject(brokerError(ErrorCode.resourceExhausted, message));
    }
    return new Promise((resolve) => {
      const waiter: Waiter = {
        offset,
        committed,
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

  #reached(offset: number, committed: boolean): boolean {
    return (committed ? this.stableOffset : this.log.endOffset) > offset;
  }

  #wake(): void {
    for (const waiter of [...this.#waiters]) {
      if (this.#reached(waiter.offset, waiter.committed)) this.#release(waiter);
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
