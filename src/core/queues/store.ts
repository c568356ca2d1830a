/**
 * Durable storage of one queue: two logs (see docs/queue-storage.md).
 *
 * - `q.<vhost>.<queue>` holds persistent messages, one `encodeMessage` entry each (format
 *   `entryFormat.message`), with the queue envelope (enqueue time, expiry, delay).
 * - `q.<vhost>.<queue>.acks` holds which of those left the queue (acked, expired, dropped, purged):
 *   `removed` records (a sorted list of offsets) and `snapshot` records (all removals at or above a
 *   base offset, as ranges). After a snapshot is durable the log is truncated before it. A quorum
 *   queue also writes `counts` records there: a message's delivery count as a restart should find it
 *   (the latest record of an offset wins; a snapshot is followed by one record of every live count).
 *
 * Every offset below the lowest live one is gone, so the message log is truncated there and
 * only out-of-order removals are kept in memory.
 */

import { brokerError, ErrorCode, isBrokerError } from '../../shared/errors.js';
import { entryCountMax } from '../../storage/common.js';
import type { AppendResult, Log, LogEntry, Storage } from '../../storage/types.js';
import type { Executor } from '../exec/executor.js';
import {
  type DecodedMessage,
  decodeMessage,
  entryFormat,
  MessageEncoder,
  type QueueEnvelope,
} from '../message-codec.js';
import type { Message } from '../types.js';
import { queueLogNames } from './names.js';

/** One scratch buffer for every queue's appends (see `MessageEncoder`). */
const scratchEncoder = new MessageEncoder();
const ackFormat = { removed: 1, snapshot: 2, counts: 3 } as const;

/** Removal records appended before a snapshot replaces them. */
const ackRecordsPerSnapshot = 1024;
/** Truncate the message log once the live head moved this many offsets (truncation is per segment anyway). */
const truncateStepOffsets = 4096;
/** Bytes read per chunk while recovering. */
const recoverReadBytesMax = 4 * 1024 * 1024;

export interface StoredMessage {
  readonly offset: number;
  readonly message: Message;
}

/**
 * A decoded body is a view into the payload the log handed back, which may share its buffer with
 * neighbouring entries; a body that would pin much more than itself gets its own copy, so a kept
 * body costs its size and a dropped one frees its memory.
 */
const sharedBufferSlackBytes = 1024;

function ownBody(message: Message): Message {
  const { body } = message;
  if (body.buffer.byteLength - body.byteLength <= sharedBufferSlackBytes) return message;
  return { ...message, body: body.slice() };
}

/** `deliveryCount`: the latest count recorded for the offset (0 when none was). */
export type RecoveredVisitor = (offset: number, decoded: DecodedMessage, deliveryCount: number) => void;

const durableNow: Promise<void> = Promise.resolve();

/** Counts recorded in one job, and the promise of the record that will hold them. */
interface CountBatch {
  readonly counts: Map<number, number>;
  readonly written: Promise<void>;
  resolve(durable: Promise<void>): void;
}

function newCountBatch(): CountBatch {
  let resolve!: (durable: Promise<void>) => void;
  const written = new Promise<void>((r) => (resolve = r));
  // Most batches have no reader (a delivery's count, no return awaiting it): a failed write is
  // reported once, through the append's own promise (`#watch`), not as an unhandled rejection here.
  written.catch(() => {});
  return { counts: new Map(), written, resolve };
}

export class QueueStore {
  readonly #exec: Executor;
  readonly #messages: Log;
  readonly #acks: Log;
  /** Lowest offset that may still be live; everything below is removed. */
  #live: number;
  /** Removed offsets at or above `#live`. */
  readonly #removed = new Set<number>();
  #pending: number[] = [];
  /** Recorded delivery counts of live offsets (quorum queues): rewritten after each snapshot. */
  readonly #counts = new Map<number, number>();
  #countBatch: CountBatch | undefined;
  /** Resolves once every counts record flushed so far is written (a log's appends are written in order). */
  #countsWritten = durableNow;
  #flushScheduled = false;
  #truncatedAt: number;
  #recordsSinceSnapshot = 0;
  /** One past the highest offset a record of the removals log names (recovery only). */
  #namedEnd = 0;
  /** The last batch whose durability this store watches. */
  #watched: Promise<void> | undefined;
  #closed = false;

  private constructor(exec: Executor, messages: Log, acks: Log) {
    this.#exec = exec;
    this.#messages = messages;
    this.#acks = acks;
    this.#live = messages.startOffset;
    this.#truncatedAt = messages.startOffset;
  }

  static async open(
    storage: Storage,
    owner: { readonly vhost: string; readonly exec: Executor },
    queue: string,
    visit: RecoveredVisitor,
  ): Promise<QueueStore> {
    const names = queueLogNames(owner.vhost, queue);
    const messages = await storage.openLog(names.messages);
    const acks = await storage.openLog(names.acks);
    const store = new QueueStore(owner.exec, messages, acks);
    store.#loadAcks();
    store.#skipLostEnd();
    for (const offset of store.#removed) if (offset < store.#live) store.#removed.delete(offset);
    store.#advanceLive();
    for (const offset of store.#counts.keys()) if (!store.holds(offset)) store.#counts.delete(offset);
    store.#scan(visit);
    return store;
  }

  /**
   * Throws when the log refuses (it failed): the publisher hears of it, and the queue fails. A write
   * that fails later fails the queue too, through the batch's `durable` promise (one watch per batch).
   */
  append(message: Message, envelope: QueueEnvelope): AppendResult {
    // The log copies the payload before this returns, so one scratch buffer serves every append.
    const payload = scratchEncoder.encode(message, envelope);
    let appended: AppendResult;
    try {
      const timestamp = envelope.enqueuedAtMs;
      appended = this.#messages.append({ payload, timestamp, format: entryFormat.message });
    } catch (err) {
      this.#exec.defer(() => this.#exec.fail(err));
      throw err;
    }
    this.#watch(appended.durable);
    return appended;
  }

  #watch(durable: Promise<void>): void {
    if (durable === this.#watched) return;
    this.#watched = durable;
    this.#exec.follow(durable);
  }

  /** Reads a stored message back; synchronous so deliveries need no await. */
  read(offset: number): Message {
    return this.readRun(offset, 0)[0]!.message;
  }

  /**
   * Reads the message at `offset` and the stored entries after it, up to about `bytesMax` of payload,
   * in one log read: a consumer working through a paged-out backlog then costs one read per run
   * rather than one per message. Entries that fail to decode after the first are left out.
   */
  readRun(offset: number, bytesMax: number): StoredMessage[] {
    const entries = this.#readEntries(offset, bytesMax);
    const first = entries[0];
    if (first === undefined || first.offset !== offset) {
      throw brokerError(ErrorCode.storageCorrupt, `Queue log ${this.#messages.name} lost offset ${offset}`);
    }
    const run: StoredMessage[] = [{ offset, message: ownBody(decodeMessage(first.payload).message) }];
    for (let i = 1; i < entries.length; i++) {
      const entry = entries[i]!;
      if (entry.format === entryFormat.skipped) continue;
      try {
        run.push({ offset: entry.offset, message: ownBody(decodeMessage(entry.payload).message) });
      } catch {
        // Its own read, when a consumer reaches it, reports the damage.
      }
    }
    return run;
  }

  /** A damaged entry later in the run must not cost the one asked for: then it is read alone. */
  #readEntries(offset: number, bytesMax: number): LogEntry[] {
    if (bytesMax > 0) {
      try {
        return this.#messages.read(offset, { maxBytes: bytesMax });
      } catch (err) {
        if (!isBrokerError(err, ErrorCode.storageCorrupt)) throw err;
      }
    }
    return this.#messages.read(offset, { maxEntries: 1 });
  }

  /**
   * The message stored at `offset` is still in the queue: appended, and not recorded as gone (acked,
   * expired, dropped, purged). After a restart this is what the logs kept.
   */
  holds(offset: number): boolean {
    return offset >= this.#live && offset < this.#messages.endOffset && !this.#removed.has(offset);
  }

  /** Records that `offset` left the queue; written at the end of the current job, many per record. */
  remove(offset: number): void {
    if (this.#closed || offset < this.#live) return;
    this.#removed.add(offset);
    this.#pending.push(offset);
    this.#counts.delete(offset);
    this.#advanceLive();
    this.#flushSoon();
  }

  /**
   * Records the delivery count a restart should give the message at `offset`; written at the end of
   * the current job with the others of that job, in one `counts` record. Returns the promise of that
   * record being written (`Log.written`: kept by a crash of the process); undefined when nothing is
   * written (the count recorded last is the same).
   */
  recordCount(offset: number, deliveryCount: number): Promise<void> | undefined {
    if (this.#closed || offset < this.#live || this.#counts.get(offset) === deliveryCount) return undefined;
    this.#counts.set(offset, deliveryCount);
    this.#countBatch ??= newCountBatch();
    this.#countBatch.counts.set(offset, deliveryCount);
    this.#flushSoon();
    return this.#countBatch.written;
  }

  /**
   * The message at `offset` was appended with `deliveryCount` in its own envelope (a delivery that
   * went out as the message arrived): known, so a `recordCount` of the same count writes nothing.
   */
  noteCount(offset: number, deliveryCount: number): void {
    if (!this.#closed && offset >= this.#live) this.#counts.set(offset, deliveryCount);
  }

  /** Resolves once every count recorded so far is written (kept by a crash of the process). */
  countsWritten(): Promise<void> {
    return this.#countBatch?.written ?? this.#countsWritten;
  }

  #flushSoon(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    this.#exec.defer(() => this.flush());
  }

  flush(): void {
    this.#flushScheduled = false;
    if (this.#closed) return;
    this.#flushCounts();
    if (this.#pending.length > 0) {
      const offsets = this.#pending.sort((a, b) => a - b);
      this.#pending = [];
      const { durable } = this.#acks.append({
        payload: encodeOffsets(offsets),
        timestamp: Date.now(),
        format: ackFormat.removed,
      });
      this.#watch(durable);
      this.#recordsSinceSnapshot++;
    }
    if (this.#live - this.#truncatedAt >= truncateStepOffsets) {
      this.#messages.truncateBefore(this.#live);
      this.#truncatedAt = this.#live;
    }
    if (this.#recordsSinceSnapshot >= ackRecordsPerSnapshot) this.#snapshot();
  }

  #flushCounts(): void {
    const batch = this.#countBatch;
    if (batch === undefined) return;
    this.#countBatch = undefined;
    this.#appendCounts(batch.counts);
    this.#countsWritten = this.#acks.written();
    // A message returned over and over writes only these: they too call for a snapshot.
    this.#recordsSinceSnapshot++;
    batch.resolve(this.#countsWritten);
  }

  #appendCounts(counts: ReadonlyMap<number, number>): Promise<void> {
    const sorted = [...counts].sort((a, b) => a[0] - b[0]);
    const { durable } = this.#acks.append({
      payload: encodeCounts(sorted),
      timestamp: Date.now(),
      format: ackFormat.counts,
    });
    this.#watch(durable);
    return durable;
  }

  async close(): Promise<void> {
    this.flush();
    this.#closed = true;
    await Promise.all([this.#messages.sync(), this.#acks.sync()]);
    await Promise.all([this.#messages.close(), this.#acks.close()]);
  }

  /** The queue failed: release both logs without writing anything more; never throws. */
  async abandon(): Promise<void> {
    this.#pending = [];
    this.#closed = true;
    await Promise.allSettled([this.#messages.close(), this.#acks.close()]);
  }

  /** Both names are free once this returns its promise; the files go in the background. */
  async destroy(): Promise<void> {
    this.#pending = [];
    this.#closed = true;
    await Promise.all([this.#messages.delete(), this.#acks.delete()]);
  }

  #advanceLive(): void {
    const end = this.#messages.endOffset;
    while (this.#live < end && this.#removed.delete(this.#live)) this.#live++;
  }

  #snapshot(): void {
    const removed = [...this.#removed].sort((a, b) => a - b);
    const payload = encodeSnapshot(this.#live, removed);
    const { offset, durable } = this.#acks.append({
      payload,
      timestamp: Date.now(),
      format: ackFormat.snapshot,
    });
    this.#recordsSinceSnapshot = 0;
    // The counts recorded before it go with the older records: written again after it.
    const counts = this.#counts.size === 0 ? durableNow : this.#appendCounts(this.#counts);
    // Older records may go only once the snapshot that replaces them is safe.
    // A failed write fails the queue through the executor; the next open recovers what is on disk.
    this.#exec.follow(Promise.all([durable, counts]), () => {
      if (!this.#closed) this.#acks.truncateBefore(offset);
    });
  }

  #loadAcks(): void {
    for (let offset = this.#acks.startOffset; offset < this.#acks.endOffset; ) {
      const entries = this.#acks.read(offset, { maxBytes: recoverReadBytesMax });
      if (entries.length === 0) break;
      for (const entry of entries) this.#applyAckEntry(entry.format, entry.payload);
      const last = entries[entries.length - 1]!;
      offset = last.offset + last.count;
    }
  }

  #applyAckEntry(format: number, payload: Uint8Array): void {
    if (format === ackFormat.counts) {
      for (const [offset, count] of decodeCounts(payload)) {
        this.#counts.set(offset, count);
        this.#name(offset);
      }
      this.#recordsSinceSnapshot++;
      return;
    }
    if (format === ackFormat.removed) {
      for (const offset of decodeOffsets(payload)) {
        this.#name(offset);
        if (offset >= this.#live) this.#removed.add(offset);
      }
      this.#recordsSinceSnapshot++;
      return;
    }
    if (format !== ackFormat.snapshot)
      throw brokerError(ErrorCode.storageCorrupt, `Unknown ack record ${format}`);
    const { base, offsets } = decodeSnapshot(payload);
    this.#live = Math.max(this.#live, base);
    this.#namedEnd = Math.max(this.#namedEnd, base);
    for (const offset of offsets) {
      this.#name(offset);
      if (offset >= this.#live) this.#removed.add(offset);
    }
    this.#recordsSinceSnapshot = 0;
  }

  #name(offset: number): void {
    if (offset >= this.#namedEnd) this.#namedEnd = offset + 1;
  }

  /**
   * A crash can cut the message log's end (SIGKILL: what was not yet written; power loss: what was not
   * yet fdatasynced) while the removals log, written on its own schedule, kept an ack or a count of a
   * message in that end: one delivered as it arrived, before its own write, and so never confirmed.
   * Were its offset handed to the next message, that record would remove it, or give it another's
   * count, at the following start. So the offsets any record names are taken by `skipped` entries
   * first; they need no fdatasync of their own, as no later message of the log is durable before them.
   */
  #skipLostEnd(): void {
    for (let end = this.#messages.endOffset; end < this.#namedEnd; end = this.#messages.endOffset) {
      const count = Math.min(this.#namedEnd - end, entryCountMax);
      const { durable } = this.#messages.append({
        payload: new Uint8Array(0),
        count,
        timestamp: Date.now(),
        format: entryFormat.skipped,
      });
      this.#watch(durable);
    }
  }

  #scan(visit: RecoveredVisitor): void {
    for (let offset = this.#live; offset < this.#messages.endOffset; ) {
      const entries = this.#messages.read(offset, { maxBytes: recoverReadBytesMax });
      if (entries.length === 0) break;
      for (const entry of entries) {
        if (entry.format === entryFormat.skipped) {
          this.#forgetSkipped(entry);
          continue;
        }
        if (entry.offset < this.#live || this.#removed.has(entry.offset)) continue;
        visit(entry.offset, decodeMessage(entry.payload), this.#counts.get(entry.offset) ?? 0);
      }
      const last = entries[entries.length - 1]!;
      offset = last.offset + last.count;
    }
  }
  /**
   * No message holds a skipped entry's offsets: they are recorded as removed (the record also lets a
   * build from before `skipped` entries pass over the entry without reading it as a message).
   */
  #forgetSkipped(entry: LogEntry): void {
    for (let offset = entry.offset; offset < entry.offset + entry.count; offset++) {
      if (!this.#removed.has(offset)) this.remove(offset);
    }
  }
}

// Offsets lists: varint count, then deltas from the previous offset (the first from 0).

function encodeOffsets(sorted: number[]): Uint8Array {
  const out: number[] = [];
  pushVarint(out, sorted.length);
  let previous = 0;
  for (const offset of sorted) {
    pushVarint(out, offset - previous);
    previous = offset;
  }
  return Uint8Array.from(out);
}

function decodeOffsets(bytes: Uint8Array): number[] {
  const cursor = { pos: 0 };
  const count = readVarint(bytes, cursor);
  const offsets: number[] = [];
  let previous = 0;
  for (let i = 0; i < count; i++) {
    previous += readVarint(bytes, cursor);
    offsets.push(previous);
  }
  return offsets;
}

/** Counts: varint pair count, then (offset delta from the previous, delivery count) pairs, offsets ascending. */
function encodeCounts(sorted: ReadonlyArray<readonly [number, number]>): Uint8Array {
  const out: number[] = [];
  pushVarint(out, sorted.length);
  let previous = 0;
  for (const [offset, count] of sorted) {
    pushVarint(out, offset - previous);
    pushVarint(out, count);
    previous = offset;
  }
  return Uint8Array.from(out);
}

function decodeCounts(bytes: Uint8Array): Array<[number, number]> {
  const cursor = { pos: 0 };
  const length = readVarint(bytes, cursor);
  // Each pair takes two bytes at least: a longer claim is damage, not a record.
  if (length > bytes.length) throw brokerError(ErrorCode.storageCorrupt, 'Counts record too long');
  const pairs: Array<[number, number]> = [];
  let previous = 0;
  for (let i = 0; i < length; i++) {
    previous += readVarint(bytes, cursor);
    pairs.push([previous, readVarint(bytes, cursor)]);
  }
  return pairs;
}

/** Snapshot: varint base, varint run count, then (gap from previous run end, run length) pairs. */
function encodeSnapshot(base: number, sorted: number[]): Uint8Array {
  const runs: Array<[number, number]> = [];
  for (const offset of sorted) {
    const run = runs[runs.length - 1];
    if (run !== undefined && run[0] + run[1] === offset) run[1]++;
    else runs.push([offset, 1]);
  }
  const out: number[] = [];
  pushVarint(out, base);
  pushVarint(out, runs.length);
  let previousEnd = base;
  for (const [start, length] of runs) {
    pushVarint(out, start - previousEnd);
    pushVarint(out, length);
    previousEnd = start + length;
  }
  return Uint8Array.from(out);
}

function decodeSnapshot(bytes: Uint8Array): { base: number; offsets: number[] } {
  const cursor = { pos: 0 };
  const base = readVarint(bytes, cursor);
  const runCount = readVarint(bytes, cursor);
  const offsets: number[] = [];
  let previousEnd = base;
  for (let i = 0; i < runCount; i++) {
    const start = previousEnd + readVarint(bytes, cursor);
    const length = readVarint(bytes, cursor);
    if (length > bytes.length * 1_000_000)
      throw brokerError(ErrorCode.storageCorrupt, 'Ack snapshot run too long');
    for (let k = 0; k < length; k++) offsets.push(start + k);
    previousEnd = start + length;
  }
  return { base, offsets };
}

function pushVarint(out: number[], value: number): void {
  let rest = value;
  while (rest >= 0x80) {
    out.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  out.push(rest);
}

function readVarint(bytes: Uint8Array, cursor: { pos: number }): number {
  let value = 0;
  for (let shift = 1, i = 0; i < 8; i++, shift *= 0x80) {
    const byte = bytes[cursor.pos++];
    if (byte === undefined) throw brokerError(ErrorCode.storageCorrupt, 'Ack record truncated');
    value += (byte & 0x7f) * shift;
    if (byte < 0x80) return value;
  }
  throw brokerError(ErrorCode.storageCorrupt, 'Ack record varint too long');
}
