/**
 * One share-partition of a share group (KIP-932): which records of a topic partition are in flight
 * for the group. Records between the share-partition start offset (SPSO) and `endOffset` (the next
 * offset never handed out) are each available, acquired by one member under a lock with a deadline,
 * or done (acknowledged or archived); below the SPSO all are done. A record is handed to one member at
 * a time, lowest offset first, so a released or expired record goes back to its place in line (as an
 * AMQP queue requeues a rejected message to its original position); its delivery count grows with each
 * acquisition, and one released or expired at `deliveryCountLimit` is archived (as a quorum queue's
 * delivery limit drops a message). Pure state on a clock: reading the log is the handler's part.
 */
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

  constructor(clock: Clock, startOffset: number, lockMs = shareRecordLockMs) {
    this.#clock = clock;
    this.startOffset = startOffset;
    this.endOffset = startOffset;
    this.#lockMs = lockMs;
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
        r = { state: 'available', deliveries: 0, owner: undefined, lock: 0 };
        this.#records.set(o, r);
        this.endOffset = o + 1;
      }
      if (r === undefined || r.state !== 'available') continue;
      r.state = 'acquired';
      r.deliveries++;
      r.owner = member;
      r.lock = lock;
      taken.push([o, r.deliveries]);
    }
    if (taken.length > 0) this.#arm(lock);
    this.#advance();
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
      if (freed) this.#wake();
    }, this.#lockMs);
    this.#timers.add(timer);
  }

  /** True when the record is available again, false when it reached the delivery limit. */
  #giveBack(r: InFlight): boolean {
    r.state = r.deliveries >= shareDeliveryCountLimit ? 'done' : 'available';
    r.owner = undefined;
    return r.state === 'available';
  }

  /**
   * Applies one acknowledgement batch of `member` (one type for the range, or one per offset); false
   * when any offset named is not acquired by it (INVALID_RECORD_STATE), and then nothing changes.
   */
  acknowledge(member: string, first: number, last: number, types: readonly number[]): boolean {
    if (last < first || last - first >= shareRecordLocksMax * 4) return false;
    const typeAt = (o: number): number | undefined => (types.length === 1 ? types[0] : types[o - first]);
    for (let o = first; o <= last; o++) {
      const type = typeAt(o);
      if (type === undefined || type < 0 || type > 3) return false;
      if (type === AckType.gap) continue;
      const r = this.#records.get(o);
      if (r === undefined || r.state !== 'acquired' || r.owner !== member) return false;
    }
    let freed = false;
    for (let o = first; o <= last; o++) {
      const r = this.#records.get(o);
      if (r === undefined) continue;
      const type = typeAt(o);
      if (type === AckType.release) {
        freed = this.#giveBack(r) || freed;
      } else if (type !== AckType.gap || r.state === 'acquired') {
        r.state = 'done';
        r.owner = undefined;
      }
    }
    this.#advance();
    if (freed) this.#wake();
    return true;
  }

  /** Everything `member` holds goes back (it left, or closed its share session). */
  releaseAll(member: string): void {
    let freed = false;
    for (const r of this.#records.values())
      if (r.state === 'acquired' && r.owner === member) {
        freed = this.#giveBack(r) || freed;
      }
    this.#advance();
    if (freed) this.#wake();
  }

  /** The log's start moved past the SPSO (retention, DeleteRecords): those records are gone. */
  truncateTo(logStart: number): void {
    if (logStart <= this.startOffset) return;
    for (const o of [...this.#records.keys()]) if (o < logStart) this.#records.delete(o);
    this.startOffset = logStart;
    this.endOffset = Math.max(this.endOffset, logStart);
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
