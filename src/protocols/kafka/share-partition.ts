/**
 * One share-partition of a share group (KIP-932): which records of a topic partition are in flight
 * for the group. Records between the share-partition start offset (SPSO) and `endOffset` (the next
 * offset never handed out) are each available, acquired by one member under a lock with a deadline,
 * or done (acknowledged or archived); below the SPSO all are done. A record is handed to one member at
 * a time, lowest offset first, so a released or expired record goes back to its place in line (as an
 * AMQP queue requeues a rejected message to its original position); its delivery count grows with each
 * acquisition, and one released or expired at `deliveryCountLimit` is archived (as a quorum queue's
 * delivery limit drops a message). Pure state on a clock: reading the log is the handler's part.
 *
 * Every change is also kept as a `SharePartitionState` change (`takeChange`), which the coordinator
 * stores in core, so a share-partition survives a restart (`restore`): what was acquired then is
 * available again, with its delivery count.
 */
import type { SharePartitionState, ShareRecordRange } from '../../core/api.js';
import type { Clock } from '../../shared/clock.js';

/** Kafka's group.share.delivery.count.limit. */
export const shareDeliveryCountLimit = 5;
/** Kafka's group.share.record.lock.duration.ms. */
export const shareRecordLockMs = 30_000;
/** Kafka's group.share.partition.max.record.locks: records in flight per share-partition. */
export const shareRecordLocksMax = 2000;

/** ShareAcknowledge types (KIP-932): 0 gap, 1 accept, 2 release, 3 reject. */
export const AckType = { gap: 0, accept: 1, release: 2, reject: 3 } as const;

type Timer = ReturnType<Clock['setTimeout']>;

interface InFlight {
  readonly offset: number;
  state: 'available' | 'acquired' | 'done';
  deliveries: number;
  owner: string | undefined;
  /** Which acquisition holds it, so an old lock's timer leaves a newer one alone. */
  lock: number;
}

export interface AcquiredRange {
  readonly firstOffset: number;
  readonly lastOffset: number;
  readonly deliveryCount: number;
}

export class SharePartition {
  startOffset: number;
  endOffset: number;
  readonly #records = new Map<number, InFlight>();
  readonly #clock: Clock;
  readonly #lockMs: number;
  readonly #timers = new Set<Timer>();
  #locks = 0;
  /** Called when records become available again, so parked ShareFetches look again. */
  readonly waiters = new Set<() => void>();
  /** Called after every change (the coordinator stores it, see `takeChange`). */
  onChange: (() => void) | undefined;
  /** Offsets changed since the last `takeChange`, and the bounds it last told. */
  readonly #changed = new Set<number>();
  #told = { start: -1, end: -1 };

  constructor(clock: Clock, startOffset: number, lockMs = shareRecordLockMs) {
    this.#clock = clock;
    this.startOffset = startOffset;
    this.endOffset = startOffset;
    this.#lockMs = lockMs;
  }

  /**
   * A share-partition as it was stored: records handed out and not done are available again with
   * their delivery count (archived when it reached the limit), as Kafka's share-partition leader
   * rebuilds one from its share coordinator's state.
   */
  static restore(clock: Clock, stored: SharePartitionState, lockMs = shareRecordLockMs): SharePartition {
    const sp = new SharePartition(clock, stored.startOffset, lockMs);
    sp.endOffset = Math.max(stored.endOffset, stored.startOffset);
    for (const r of stored.records)
      for (let o = Math.max(r.first, stored.startOffset); o <= r.last; o++) {
        const done = r.done || r.deliveries >= shareDeliveryCountLimit;
        sp.#records.set(o, {
          offset: o,
          state: done ? 'done' : 'available',
          deliveries: r.deliveries,
          owner: undefined,
          lock: 0,
        });
        sp.endOffset = Math.max(sp.endOffset, o + 1);
      }
    sp.#advance();
    sp.#told = { start: sp.startOffset, end: sp.endOffset };
    return sp;
  }

  /**
   * What changed since the last call, as a share-partition change (its bounds and the records that
   * changed, done or not); undefined when nothing did.
   */
  takeChange(stream: string, partition: number): SharePartitionState | undefined {
    const { startOffset, endOffset } = this;
    if (this.#changed.size === 0 && this.#told.start === startOffset && this.#told.end === endOffset)
      return undefined;
    const taken: Array<[number, number, boolean]> = [];
    for (const o of [...this.#changed].sort((a, b) => a - b)) {
      const r = this.#records.get(o);
      if (r !== undefined) taken.push([o, r.deliveries, r.state === 'done']);
    }
    this.#changed.clear();
    this.#told = { start: startOffset, end: endOffset };
    return { stream, partition, startOffset, endOffset, records: storedRanges(taken) };
  }

  /** Whether everything is as last told (nothing handed out changed, bounds the same). */
  get unchanged(): boolean {
    return (
      this.#changed.size === 0 && this.#told.start === this.startOffset && this.#told.end === this.endOffset
    );
  }

  get inFlight(): number {
    return this.#records.size;
  }

  /** Offsets released or expired, waiting for a member, lowest first, at most `max`. */
  available(max: number): number[] {
    const out: number[] = [];
    for (const [offset, r] of [...this.#records].sort(([a], [b]) => a - b)) {
      if (out.length >= max) break;
      if (r.state === 'available') out.push(offset);
    }
    return out;
  }

  /** Room for new records from the log under the in-flight bound. */
  room(): number {
    return Math.max(0, shareRecordLocksMax - this.#records.size);
  }

  /** Records past `endOffset` that cannot be delivered (control batches): done at once. */
  skip(first: number, last: number): void {
    // Offsets below endOffset without a record count as done: a gap is nothing to deliver.
    if (first >= this.endOffset) this.endOffset = last + 1;
    this.#advance();
    this.#changedNow();
  }

  /**
   * Hands `offsets` (available ones, or new ones at `endOffset` and beyond) to `member` under one
   * lock; answers the acquired ranges with their delivery counts.
   */
  acquire(member: string, offsets: readonly number[]): AcquiredRange[] {
    const lock = ++this.#locks;
    const taken: Array<[number, number]> = [];
    for (const o of offsets) {
      if (o < this.startOffset) continue;
      let r = this.#records.get(o);
      if (r === undefined && o >= this.endOffset) {
        r = { offset: o, state: 'available', deliveries: 0, owner: undefined, lock: 0 };
        this.#records.set(o, r);
        this.endOffset = o + 1;
      }
      if (r === undefined || r.state !== 'available') continue;
      r.state = 'acquired';
      r.deliveries++;
      r.owner = member;
      r.lock = lock;
      taken.push([o, r.deliveries]);
      this.#changed.add(o);
    }
    if (taken.length > 0) this.#arm(lock);
    this.#advance();
    this.#changedNow();
    return ranges(taken);
  }

  #arm(lock: number): void {
    const timer = this.#clock.setTimeout(() => {
      this.#timers.delete(timer);
      let freed = false;
      for (const r of this.#records.values())
        if (r.state === 'acquired' && r.lock === lock) {
          freed = this.#giveBack(r) || freed;
        }
      this.#advance();
      this.#changedNow();
      if (freed) this.#wake();
    }, this.#lockMs);
    this.#timers.add(timer);
  }

  /** True when the record is available again, false when it reached the delivery limit. */
  #giveBack(r: InFlight): boolean {
    this.#changed.add(r.offset);
    r.state = r.deliveries >= shareDeliveryCountLimit ? 'done' : 'available';
    r.owner = undefined;
    return r.state === 'available';
  }

  /**
   * Applies one acknowledgement batch of `member` (one type for the range, or one per offset); false
   * when any offset named is not acquired by it (INVALID_RECORD_STATE), and then nothing changes.
   */
  acknowledge(member: string, first: number, last: number, types: readonly number[]): boolean {
    return this.acknowledgeAll(member, [{ first, last, types }]) !== undefined;
  }

  /**
   * Applies a partition's acknowledgement batches of `member` all or none, as Kafka's share-partition
   * rolls a request's batches back when one fails: false when any offset named is not acquired by it.
   * A gap (type 0) names an offset with no record to deliver: it leaves a record that is not acquired
   * as it is, and one acquired must be the member's, so no member can settle another's records. The
   * work is bounded by what is in flight or by the types the request carries, whatever the ranges span.
   * Answers how to undo it (the write of the change failed), or undefined when refused.
   */
  acknowledgeAll(member: string, batches: readonly AckRange[]): Undo | undefined {
    if (!batches.every((b) => this.#acknowledgeable(member, b))) return undefined;
    let freed = false;
    const before: InFlight[] = [];
    for (const b of batches)
      for (const o of this.#inFlightBetween(b.first, b.last)) {
        const r = this.#records.get(o)!;
        if (r.state !== 'acquired') continue;
        before.push({ ...r });
        if (typeOf(b, o) === AckType.release) freed = this.#giveBack(r) || freed;
        else {
          r.state = 'done';
          r.owner = undefined;
          this.#changed.add(o);
        }
      }
    this.#advance();
    this.#changedNow();
    if (freed) this.#wake();
    return () => this.#undo(before);
  }

  /**
   * Puts acknowledged records back as they were before, acquired by their member under their lock
   * (whose timer still runs), as Kafka's SharePartition.rollbackOrProcessStateUpdates does when its
   * persister write fails. A released record another member acquired since stays with it.
   */
  #undo(before: readonly InFlight[]): void {
    for (const was of before) {
      const now = this.#records.get(was.offset);
      if (now !== undefined && now.state === 'acquired') continue;
      this.#records.set(was.offset, { ...was });
      this.#changed.add(was.offset);
      this.startOffset = Math.min(this.startOffset, was.offset);
    }
    this.#changedNow();
  }

  /** Whether every offset of the batch is a gap or a record `member` holds, and no gap names another's. */
  #acknowledgeable(member: string, b: AckRange): boolean {
    const single = b.types.length === 1 ? b.types[0] : undefined;
    if (b.last < b.first || (single === undefined && b.types.length !== b.last - b.first + 1)) return false;
    // One type for a wider range than is in flight cannot name only records the member holds.
    if (single !== undefined && single !== AckType.gap && b.last - b.first >= this.#records.size)
      return false;
    const offsets =
      single === AckType.gap ? this.#inFlightBetween(b.first, b.last) : rangeOf(b.first, b.last);
    for (const o of offsets) {
      const type = typeOf(b, o);
      if (type === undefined || type < AckType.gap || type > AckType.reject) return false;
      const r = this.#records.get(o);
      const held = r?.state === 'acquired' && r.owner === member;
      if (type === AckType.gap ? r?.state === 'acquired' && !held : !held) return false;
    }
    return true;
  }

  /** The offsets in flight from `first` to `last`, walking whichever is shorter: the range or the records. */
  #inFlightBetween(first: number, last: number): number[] {
    if (last - first < this.#records.size) return rangeOf(first, last).filter((o) => this.#records.has(o));
    return [...this.#records.keys()].filter((o) => o >= first && o <= last);
  }

  /** Everything `member` holds goes back (it left, or closed its share session). */
  releaseAll(member: string): void {
    let freed = false;
    for (const r of this.#records.values())
      if (r.state === 'acquired' && r.owner === member) {
        freed = this.#giveBack(r) || freed;
      }
    this.#advance();
    this.#changedNow();
    if (freed) this.#wake();
  }

  /** The log's start moved past the SPSO (retention, DeleteRecords): those records are gone. */
  truncateTo(logStart: number): void {
    if (logStart <= this.startOffset) return;
    for (const o of [...this.#records.keys()]) if (o < logStart) this.#records.delete(o);
    this.startOffset = logStart;
    this.endOffset = Math.max(this.endOffset, logStart);
    this.#changedNow();
  }

  #changedNow(): void {
    if (!this.unchanged) this.onChange?.();
  }

  /** The SPSO moves past every done record at its front. */
  #advance(): void {
    while (this.startOffset < this.endOffset) {
      const r = this.#records.get(this.startOffset);
      if (r !== undefined && r.state !== 'done') break;
      if (r !== undefined) {
        this.#records.delete(this.startOffset);
        this.startOffset++;
        continue;
      }
      // A gap (offsets the log never had, or records skipped): jump to the next record or the end.
      let next = this.endOffset;
      for (const o of this.#records.keys()) if (o > this.startOffset && o < next) next = o;
      this.startOffset = next;
    }
  }

  #wake(): void {
    for (const w of [...this.waiters]) w();
  }

  close(): void {
    for (const t of this.#timers) t.cancel();
    this.#timers.clear();
  }
}

/** Undoes an acknowledgement whose write failed. */
export type Undo = () => void;

/** One acknowledgement batch: one type for the range, or one per offset. */
export interface AckRange {
  readonly first: number;
  readonly last: number;
  readonly types: readonly number[];
}

const typeOf = (b: AckRange, o: number): number | undefined =>
  b.types.length === 1 ? b.types[0] : b.types[o - b.first];

/** Offsets from `first` to `last`; callers bound the span by what is in flight or by the request's types. */
function rangeOf(first: number, last: number): number[] {
  return Array.from({ length: last - first + 1 }, (_, i) => first + i);
}

/** Consecutive offsets alike, as stored ranges. */
function storedRanges(taken: ReadonlyArray<[number, number, boolean]>): ShareRecordRange[] {
  const out: ShareRecordRange[] = [];
  for (const [o, deliveries, done] of taken) {
    const last = out[out.length - 1];
    if (last !== undefined && last.last === o - 1 && last.deliveries === deliveries && last.done === done)
      out[out.length - 1] = { ...last, last: o };
    else out.push({ first: o, last: o, deliveries, done });
  }
  return out;
}

/** Consecutive offsets with the same delivery count, as ShareFetch's AcquiredRecords. */
function ranges(taken: ReadonlyArray<[number, number]>): AcquiredRange[] {
  const out: AcquiredRange[] = [];
  for (const [o, count] of taken) {
    const last = out[out.length - 1];
    if (last !== undefined && last.lastOffset === o - 1 && last.deliveryCount === count)
      out[out.length - 1] = { ...last, lastOffset: o };
    else out.push({ firstOffset: o, lastOffset: o, deliveryCount: count });
  }
  return out;
}
