/**
 * Ready messages of one queue, ordered by priority (higher first) and, within a priority, by id.
 * Ids grow with arrival, so a requeued message goes back to its original place (AMQP 0-9-1
 * basic.reject/nack requeue: "the server MUST … place it back in its original position when possible").
 */
import { assert } from '../../shared/assert.js';
import type { Message } from '../types.js';
import type { ConsumerState } from './consumers.js';

/** One message held by a queue. Kept small: a million of these may sit in memory without bodies. */
export interface QueuedMessage {
  /** Delivery handle and order key; assigned when the message becomes ready. */
  id: number;
  priority: number;
  /** Offset in the queue's log; -1 for a message that was never stored. */
  offset: number;
  bodyBytes: number;
  expiresAtMs: number | undefined;
  deliveryCount: number;
  redelivered: boolean;
  /** The whole message while it is in memory; undefined when only the log holds the body. */
  message: Message | undefined;
  /** Unacked only: the consumer holding the delivery, or the owner that took it with `get`. One field, not two, because a million records add up. */
  holder: ConsumerState | string | undefined;
}

/** A queue grows at the tail and shrinks at the head; compact the array once the dead head is this big. */
const compactHeadMin = 1024;

class Level {
  items: Array<QueuedMessage | undefined> = [];
  head = 0;

  get size(): number {
    return this.items.length - this.head;
  }

  first(): QueuedMessage | undefined {
    return this.items[this.head];
  }

  shift(): QueuedMessage | undefined {
    const m = this.items[this.head];
    if (m === undefined) return undefined;
    this.items[this.head++] = undefined;
    if (this.head >= compactHeadMin && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return m;
  }

  insert(m: QueuedMessage): void {
    const last = this.items[this.items.length - 1];
    if (this.size === 0 || (last !== undefined && last.id < m.id)) {
      this.items.push(m);
      return;
    }
    const index = this.#lowerBound(m.id);
    if (index === this.head && this.head > 0) this.items[--this.head] = m;
    else this.items.splice(index, 0, m);
  }

  #lowerBound(id: number): number {
    let lo = this.head;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.items[mid]!.id < id) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

export class ReadyList {
  /** Indexed by priority; only priority queues use more than index 0. */
  readonly #levels: Level[];
  #count = 0;
  #bytes = 0;

  constructor(priorityMax: number) {
    assert(priorityMax >= 0 && priorityMax <= 255, 'priorityMax out of range');
    this.#levels = Array.from({ length: priorityMax + 1 }, () => new Level());
  }

  get count(): number {
    return this.#count;
  }

  get bytes(): number {
    return this.#bytes;
  }

  insert(m: QueuedMessage): void {
    const level = this.#levels[m.priority];
    assert(level !== undefined, 'message priority above the queue maximum');
    level.insert(m);
    this.#count++;
    this.#bytes += m.bodyBytes;
  }

  peek(): QueuedMessage | undefined {
    for (let p = this.#levels.length - 1; p >= 0; p--) {
      const m = this.#levels[p]!.first();
      if (m !== undefined) return m;
    }
    return undefined;
  }

  shift(): QueuedMessage | undefined {
    for (let p = this.#levels.length - 1; p >= 0; p--) {
      const m = this.#levels[p]!.shift();
      if (m === undefined) continue;
      this.#count--;
      this.#bytes -= m.bodyBytes;
      return m;
    }
    return undefined;
  }

  /** The head of each priority level: each is the next to expire in its level (expiry is lazy). */
  heads(): QueuedMessage[] {
    const heads: QueuedMessage[] = [];
    for (const level of this.#levels) {
      const m = level.first();
      if (m !== undefined) heads.push(m);
    }
    return heads;
  }

  /** Removes the head of one level (expiry at a lower priority's head). */
  shiftLevel(priority: number): QueuedMessage | undefined {
    const m = this.#levels[priority]?.shift();
    if (m === undefined) return undefined;
    this.#count--;
    this.#bytes -= m.bodyBytes;
    return m;
  }

  /** Empties the list and returns what it held, in order. */
  drain(): QueuedMessage[] {
    const all: QueuedMessage[] = [];
    for (let m = this.shift(); m !== undefined; m = this.shift()) all.push(m);
    return all;
  }
}
