/**
 * One keep-alive timer for all of a server's connections: a min-heap of deadlines behind a single
 * clock timer armed for the earliest. A Node timer per connection (its `Timeout`, the cancel handle
 * and the callback's closure) cost an idle connection about 250 bytes; an entry here is a slot in
 * one array and two fields on the connection. Deadlines fire at the same time they would on timers
 * of their own (on `ManualClock` too), in deadline order.
 */
import { assert } from '../../shared/assert.js';
import type { Clock } from '../../shared/clock.js';

/** A connection as the wheel sees it; the two fields belong to the wheel. */
export interface KeepAliveMember {
  /** When `keepAliveDue` is called, on the clock's time; meaningful while `keepAliveSlot >= 0`. */
  keepAliveDueMs: number;
  /** Its index in the wheel's heap, or -1 when not in it. */
  keepAliveSlot: number;
  keepAliveDue(): void;
}

export class KeepAliveWheel {
  readonly #clock: Clock;
  readonly #heap: KeepAliveMember[] = [];
  #timer: { cancel(): void } | undefined;
  /** The deadline `#timer` is armed for. */
  #armedMs = Number.POSITIVE_INFINITY;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  get size(): number {
    return this.#heap.length;
  }

  /** Calls `member.keepAliveDue()` after `waitMs`, replacing any deadline it had. */
  set(member: KeepAliveMember, waitMs: number): void {
    this.#remove(member);
    member.keepAliveDueMs = this.#clock.now() + Math.max(0, waitMs);
    member.keepAliveSlot = this.#heap.length;
    this.#heap.push(member);
    this.#up(member.keepAliveSlot);
    this.#arm();
  }

  cancel(member: KeepAliveMember): void {
    this.#remove(member);
  }

  /** Drops every deadline (the server closing). */
  clear(): void {
    for (const member of this.#heap) member.keepAliveSlot = -1;
    this.#heap.length = 0;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#armedMs = Number.POSITIVE_INFINITY;
  }

  #arm(): void {
    const first = this.#heap[0];
    if (first === undefined || first.keepAliveDueMs >= this.#armedMs) return;
    this.#timer?.cancel();
    this.#armedMs = first.keepAliveDueMs;
    this.#timer = this.#clock.setTimeout(() => this.#fire(), first.keepAliveDueMs - this.#clock.now());
  }

  #fire(): void {
    this.#timer = undefined;
    this.#armedMs = Number.POSITIVE_INFINITY;
    const now = this.#clock.now();
    // Bounded by the heap: each member is taken once; one that sets itself again is due later. A
    // member that throws still leaves the timer armed for the others (the error goes on to the
    // process's report of errors that escaped their owner).
    try {
      for (let taken = this.#heap.length; taken > 0; taken--) {
        const first = this.#heap[0];
        if (first === undefined || first.keepAliveDueMs > now) break;
        this.#remove(first);
        first.keepAliveDue();
      }
    } finally {
      this.#arm();
    }
  }

  #remove(member: KeepAliveMember): void {
    const slot = member.keepAliveSlot;
    if (slot < 0) return;
    assert(this.#heap[slot] === member, 'a keep-alive member is where its slot says');
    member.keepAliveSlot = -1;
    const last = this.#heap.pop()!;
    if (last === member) return;
    this.#heap[slot] = last;
    last.keepAliveSlot = slot;
    this.#up(slot);
    this.#down(last.keepAliveSlot);
  }

  #up(from: number): void {
    let slot = from;
    const member = this.#heap[slot]!;
    while (slot > 0) {
      const parentSlot = (slot - 1) >> 1;
      const parent = this.#heap[parentSlot]!;
      if (parent.keepAliveDueMs <= member.keepAliveDueMs) break;
      this.#place(parent, slot);
      slot = parentSlot;
    }
    this.#place(member, slot);
  }

  #down(from: number): void {
    let slot = from;
    const member = this.#heap[slot]!;
    const count = this.#heap.length;
    for (;;) {
      let child = 2 * slot + 1;
      if (child >= count) break;
      const right = this.#heap[child + 1];
      if (right !== undefined && right.keepAliveDueMs < this.#heap[child]!.keepAliveDueMs) child++;
      const smaller = this.#heap[child]!;
      if (smaller.keepAliveDueMs >= member.keepAliveDueMs) break;
      this.#place(smaller, slot);
      slot = child;
    }
    this.#place(member, slot);
  }

  #place(member: KeepAliveMember, slot: number): void {
    this.#heap[slot] = member;
    member.keepAliveSlot = slot;
  }
}
