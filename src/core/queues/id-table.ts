/**
 * Values by delivery id, for a queue's unacked deliveries and each owner's share of them. A queue
 * hands out ids mostly in increasing order and they come back mostly in that order, so the values sit
 * in a ring indexed by id: a delivery and its settlement are two array stores, where a `Map` (or a
 * `Set`) made and dropped a hash entry for every message and rebuilt its table every thousand or so.
 *
 * An id below the ring's span (a requeued message delivered again, a lower priority's) goes to a map,
 * as do the oldest values once the ring would be less than a quarter full: a delivery held while far
 * later ones come and go does not make the ring grow without bound; and a large ring settled down to a
 * few moves them out and is let go, so memory follows the count held.
 */
import { assert } from '../../shared/assert.js';

/** Slots the ring starts with (a power of two). */
const ringSlotsMin = 16;
/** An emptied ring larger than this is let go. */
const ringSlotsKeptMax = 4096;
/** The ring grows only while more than 1 / `sparseRatioMax` of its slots hold a value. */
const sparseRatioMax = 4;

export class IdTable<V> {
  /** Ids outside the ring's span. */
  readonly #outside = new Map<number, V>();
  #slots: Array<V | undefined> = [];
  /** The ring spans ids [#low, #high); every slot outside the span is empty. */
  #low = 0;
  #high = 0;
  #inRing = 0;

  get size(): number {
    return this.#inRing + this.#outside.size;
  }

  /** The ring's slots, the memory kept besides one map entry per value moved out of it. */
  get ringSlots(): number {
    return this.#slots.length;
  }

  get(id: number): V | undefined {
    // An id moved out may lie inside a span that started again lower: a miss looks outside too.
    const inRing =
      id >= this.#low && id < this.#high ? this.#slots[id & (this.#slots.length - 1)] : undefined;
    return inRing ?? this.#outside.get(id);
  }

  has(id: number): boolean {
    return this.get(id) !== undefined;
  }

  /** Holds `value` (never undefined) for `id`, replacing what it held. */
  set(id: number, value: V): void {
    assert(Number.isSafeInteger(id) && id > 0 && value !== undefined, 'an id and a value');
    if (this.#outside.size > 0 && this.#outside.has(id)) {
      this.#outside.set(id, value);
      return;
    }
    if (this.#inRing === 0) this.#startAt(id);
    if (id < this.#low) {
      this.#outside.set(id, value);
      return;
    }
    this.#makeRoom(id);
    if (this.#inRing === 0) this.#startAt(id);
    const slot = id & (this.#slots.length - 1);
    if (this.#slots[slot] === undefined) this.#inRing++;
    this.#slots[slot] = value;
    if (id >= this.#high) this.#high = id + 1;
  }

  /** Removes `id`: its value, or undefined when it was not held. */
  delete(id: number): V | undefined {
    const slot = id & (this.#slots.length - 1);
    const value = id >= this.#low && id < this.#high ? this.#slots[slot] : undefined;
    if (value === undefined) {
      const outside = this.#outside.get(id);
      if (outside !== undefined) this.#outside.delete(id);
      return outside;
    }
    this.#slots[slot] = undefined;
    this.#inRing--;
    if (id === this.#low) this.#advanceLow();
    // A large ring settled down to under 1 / 16 held (a burst settled but for a few): what it holds
    // moves out and it is let go, as the channel's tag ring does (protocols/amqp/unacked-tags.ts).
    if (this.#slots.length > ringSlotsKeptMax && this.#inRing * sparseRatioMax ** 2 < this.#slots.length)
      this.#moveAllOut();
    return value;
  }

  /** Every held id, in no particular order (a copy: the table may change while they are used). */
  ids(): number[] {
    const out = [...this.#outside.keys()];
    const mask = this.#slots.length - 1;
    for (let id = this.#low; id < this.#high; id++) if (this.#slots[id & mask] !== undefined) out.push(id);
    return out;
  }

  /** An empty ring starts its span at `id`, with slots made at the first value. */
  #startAt(id: number): void {
    this.#low = id;
    this.#high = id;
    if (this.#slots.length === 0) this.#slots = new Array<V | undefined>(ringSlotsMin).fill(undefined);
  }

  /** Until `id` fits the span: the ring doubles while dense enough, else its lowest value moves out. */
  #makeRoom(id: number): void {
    while (id - this.#low >= this.#slots.length && this.#inRing > 0) {
      if (this.#inRing * sparseRatioMax >= this.#slots.length) this.#double();
      else this.#moveLowestOut();
    }
  }

  #double(): void {
    const slots = new Array<V | undefined>(this.#slots.length * 2).fill(undefined);
    const from = this.#slots.length - 1;
    const to = slots.length - 1;
    for (let id = this.#low; id < this.#high; id++) slots[id & to] = this.#slots[id & from];
    this.#slots = slots;
  }

  #moveLowestOut(): void {
    const slot = this.#low & (this.#slots.length - 1);
    const value = this.#slots[slot];
    assert(value !== undefined, 'the span starts at a held id');
    this.#outside.set(this.#low, value);
    this.#slots[slot] = undefined;
    this.#inRing--;
    this.#advanceLow();
  }

  #moveAllOut(): void {
    const mask = this.#slots.length - 1;
    for (let id = this.#low; id < this.#high; id++) {
      const value = this.#slots[id & mask];
      if (value !== undefined) this.#outside.set(id, value);
    }
    this.#slots = [];
    this.#inRing = 0;
    this.#low = this.#high;
  }

  /** Moves `#low` past empty slots; an emptied ring spans nothing, and a large one is let go. */
  #advanceLow(): void {
    const mask = this.#slots.length - 1;
    while (this.#low < this.#high && this.#slots[this.#low & mask] === undefined) this.#low++;
    if (this.#inRing > 0) return;
    this.#high = this.#low;
    if (this.#slots.length > ringSlotsKeptMax) this.#slots = [];
  }
}
