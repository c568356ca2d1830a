/**
 * A channel's unacked deliveries by delivery tag. The channel numbers its deliveries 1, 2, 3, …
 * (spec basic.deliver, delivery-tag) and consumers mostly ack in that order, so the deliveries sit in a
 * ring indexed by tag: a delivery and its ack are two array stores, where a `Map` of tag → `{queue, id}`
 * made an object per delivery and rebuilt its hash table every thousand or so.
 *
 * Tags skipped (no-ack deliveries, acked ones) leave empty slots. The ring spans the tags from the
 * oldest held to the newest, and grows while at least a quarter of its slots are held; a delivery
 * held long while far later ones come and go would make the span unbounded, so once the ring is that
 * sparse its oldest deliveries move to a `Map` instead, in tag order. A large ring acked down to a few
 * (a burst acked but for some) moves those few to the `Map` and is let go, so memory follows the count
 * held, as the `Map` alone did.
 */
import { assert } from '../../shared/assert.js';

export interface Unacked {
  readonly queue: string;
  readonly id: number;
}

/** Slots the ring starts with. */
const ringSlotsMin = 64;
/** An emptied ring larger than this (a burst of unacked deliveries gone) is let go. */
const ringSlotsKeptMax = 4096;
/** The ring grows only while more than 1 / `sparseRatioMax` of its slots hold a delivery. */
const sparseRatioMax = 4;

export class UnackedTags {
  /** Deliveries older than the ring's span, in tag order (insertion order = tag order). */
  readonly #old = new Map<number, Unacked>();
  /** Made at the first delivery held: a channel that never holds one (a publisher's) keeps no ring. */
  #queues: Array<string | undefined> = [];
  #ids = new Float64Array(0);
  /** The ring holds tags in [#low, #high); every slot outside that span is empty. */
  #low = 0;
  #high = 0;
  #ringSize = 0;
  /** The delivery id of the last `take` that found its tag. */
  takenId = 0;

  get size(): number {
    return this.#ringSize + this.#old.size;
  }

  /** The ring's slots, the memory kept besides one map entry per delivery moved out of it. */
  get ringSlots(): number {
    return this.#queues.length;
  }

  /** Holds delivery `tag`; tags must grow (the channel numbers them). */
  set(tag: number, queue: string, id: number): void {
    assert(tag >= this.#high && Number.isSafeInteger(tag) && tag > 0, 'delivery tags grow');
    this.#makeRoom(tag);
    const slot = tag & (this.#queues.length - 1);
    this.#queues[slot] = queue;
    this.#ids[slot] = id;
    this.#high = tag + 1;
    this.#ringSize++;
  }

  /**
   * Makes the ring span `tag`: grown while dense enough, else its oldest retired to `#old`. Retiring
   * can empty the ring and so let a large one go (`#skipEmpty`): the ring is made again only after
   * that, so `tag` always lands in allocated slots.
   */
  #makeRoom(tag: number): void {
    while (this.#ringSize > 0 && tag + 1 - this.#low > this.#queues.length) {
      if (this.#ringSize * sparseRatioMax >= this.#queues.length) this.#grow();
      else this.#retireLowest();
    }
    // An empty ring (every slot empty) starts again at this tag.
    if (this.#ringSize === 0) {
      this.#low = tag;
      this.#high = tag;
    }
    if (this.#queues.length === 0) {
      this.#queues = new Array<string | undefined>(ringSlotsMin).fill(undefined);
      this.#ids = new Float64Array(ringSlotsMin);
    }
  }

  /** Whether delivery `tag` is held. */
  has(tag: number): boolean {
    if (tag >= this.#low && tag < this.#high)
      return this.#queues[tag & (this.#queues.length - 1)] !== undefined;
    return this.#old.has(tag);
  }

  /** Takes delivery `tag`: its queue (its id in `takenId`), or undefined when it is not held. */
  take(tag: number): string | undefined {
    if (tag >= this.#low && tag < this.#high) {
      const slot = tag & (this.#queues.length - 1);
      const queue = this.#queues[slot];
      if (queue === undefined) return undefined;
      this.#queues[slot] = undefined;
      this.takenId = this.#ids[slot]!;
      this.#ringSize--;
      if (tag === this.#low) this.#skipEmpty();
      // A large ring acked down to under 1 / 16 held: below the 1 / 8 held just after a grow, so acks
      // soon after one never move anything, and the move's work is paid for by the acks before it.
      if (
        this.#queues.length > ringSlotsKeptMax &&
        this.#ringSize * sparseRatioMax ** 2 < this.#queues.length
      )
        this.#retireAll();
      return queue;
    }
    const old = this.#old.get(tag);
    if (old === undefined) return undefined;
    this.#old.delete(tag);
    this.takenId = old.id;
    return old.queue;
  }

  /** Takes every delivery up to `tag` (0: all of them), in tag order. */
  takeUpTo(tag: number): Unacked[] {
    const last = tag === 0 ? Number.MAX_SAFE_INTEGER : tag;
    const taken: Unacked[] = [];
    for (const [oldTag, entry] of this.#old) {
      if (oldTag > last) return taken;
      taken.push(entry);
      this.#old.delete(oldTag);
    }
    const end = Math.min(this.#high, last + 1);
    for (let t = this.#low; t < end; t++) {
      const queue = this.take(t);
      if (queue !== undefined) taken.push({ queue, id: this.takenId });
    }
    return taken;
  }

  /** Every held delivery, in tag order, all taken. */
  takeAll(): Unacked[] {
    return this.takeUpTo(0);
  }

  clear(): void {
    this.#old.clear();
    this.#queues.fill(undefined);
    this.#low = this.#high;
    this.#ringSize = 0;
    this.#skipEmpty();
  }

  /** Advances `#low` past empty slots; an empty ring spans nothing, and one grown large is let go. */
  #skipEmpty(): void {
    const mask = this.#queues.length - 1;
    while (this.#low < this.#high && this.#queues[this.#low & mask] === undefined) this.#low++;
    if (this.#ringSize === 0 && this.#queues.length > ringSlotsKeptMax) {
      this.#queues = [];
      this.#ids = new Float64Array(0);
    }
  }

  #grow(): void {
    const queues = new Array<string | undefined>(this.#queues.length * 2).fill(undefined);
    const ids = new Float64Array(queues.length);
    const oldMask = this.#queues.length - 1;
    const mask = queues.length - 1;
    for (let t = this.#low; t < this.#high; t++) {
      queues[t & mask] = this.#queues[t & oldMask];
      ids[t & mask] = this.#ids[t & oldMask]!;
    }
    this.#queues = queues;
    this.#ids = ids;
  }

  /** Moves the ring's oldest delivery to `#old`, which keeps tag order: every tag there is below `#low`. */
  #retireLowest(): void {
    const slot = this.#low & (this.#queues.length - 1);
    const queue = this.#queues[slot];
    assert(queue !== undefined, 'the ring starts at a held delivery');
    this.#old.set(this.#low, { queue, id: this.#ids[slot]! });
    this.#queues[slot] = undefined;
    this.#ringSize--;
    this.#low++;
    this.#skipEmpty();
  }

  /** Moves every delivery of the ring to `#old`, in tag order, and lets the ring go. */
  #retireAll(): void {
    const mask = this.#queues.length - 1;
    for (let t = this.#low; t < this.#high; t++) {
      const queue = this.#queues[t & mask];
      if (queue !== undefined) this.#old.set(t, { queue, id: this.#ids[t & mask]! });
    }
    this.#queues = [];
    this.#ids = new Float64Array(0);
    this.#ringSize = 0;
    this.#low = this.#high;
  }
}
