/**
 * Ready messages of one queue, ordered by priority (higher first) and, within a priority, by id.
 * Ids grow with arrival, so a requeued message goes back to its original place (AMQP 0-9-1
 * basic.reject/nack requeue: "the server MUST … place it back in its original position when possible").
 *
 * A durable queue's backlog may be millions of messages whose bodies are on disk, so the list keeps
 * their numbers in parallel typed arrays (12 bytes a message, 25 once it has an expiry and a
 * delivery; about 1.5 slots a message) rather than one object each (over 100 bytes with its slot), and
 * the bodies it does hold in a column of references beside them (8 bytes a slot: Node does not
 * compress pointers), not in a map by id whose entry was made and dropped for every message; past
 * `bodyColumnSlotsMax` slots a level keeps them in such a map again (a large backlog holds few).
 * `QueuedMessage` objects exist only for messages taken out (delivered, unacked, delayed) or looked at.
 */
import { assert } from '../../shared/assert.js';
import type { Message } from '../types.js';
import type { QueueLengths } from '../views.js';
import type { ConsumerState } from './consumers.js';

/** One message held by a queue. */
export interface QueuedMessage {
  /** Delivery handle and order key; assigned when the message becomes ready. */
  id: number;
  priority: number;
  /** Offset in the queue's log; -1 for a message that was never stored. */
  offset: number;
  /** What it counts in the queue's bytes: its body, and its properties where the queue counts them. */
  bodyBytes: number;
  expiresAtMs: number | undefined;
  deliveryCount: number;
  redelivered: boolean;
  /** The whole message while it is in memory; undefined when only the log holds the body. */
  message: Message | undefined;
  /** Unacked only: the consumer holding the delivery, or the owner that took it with `get`. */
  holder: ConsumerState | string | undefined;
}

/** A stored message without its body in memory, as read-ahead sees it. */
export interface PagedMessage {
  readonly id: number;
  readonly offset: number;
  readonly bodyBytes: number;
}

const capacityMin = 64;
/** A queue grows at the tail and shrinks at the head; move the live part down once the dead head is this big. */
const compactHeadMin = 1024;
/**
 * Slots per live message after a move. 1.5 rather than 2: a million-message backlog then costs 30 MB of
 * columns instead of 40, and a regrowth briefly holds 2.5 times the live columns instead of 3.
 */
const growthFactor = 1.5;
const uint32Max = 0xffff_ffff;
/**
 * A level of more slots than this keeps its bodies in a map by id, not a column: a column costs 8
 * bytes a slot, which a durable backlog of millions holding a few read-ahead bodies must not pay
 * (12 MB and the garbage of every regrowth at 1,000,000). A queue that keeps up stays far below.
 */
const bodyColumnSlotsMax = 16_384;
/** Delivery ids start at 1 (the vhost's counter), so no message has this one. */
const noMessageId = 0;
/** How far below the lowest live value a column's base sits, so requeued (older) messages still fit. */
const baseMarginBelow = 2 ** 30;

/**
 * Ids or log offsets of one level: whole numbers (offsets may be -1, never stored) kept as 32-bit
 * distances from a base while they fit, and as doubles once one does not. The live messages of a
 * level lie within a few billion of each other, so a backlog costs 4 bytes a slot here instead of 8.
 */
class WholeColumn {
  /** Distance from `#base`; `uint32Max` stands for -1. Undefined once widened. */
  #narrow: Uint32Array | undefined;
  #wide: Float64Array | undefined;
  /** NaN until the first value other than -1 sets it. */
  #base: number;

  /** `lowest`: the smallest value the column starts with (undefined: none yet). */
  constructor(capacity: number, lowest: number | undefined) {
    this.#narrow = new Uint32Array(capacity);
    this.#base = lowest === undefined ? Number.NaN : lowest - baseMarginBelow;
  }

  get(i: number): number {
    const narrow = this.#narrow;
    if (narrow === undefined) return this.#wide![i]!;
    const d = narrow[i]!;
    return d === uint32Max ? -1 : d + this.#base;
  }

  set(i: number, value: number): void {
    const narrow = this.#narrow;
    if (narrow === undefined) {
      this.#wide![i] = value;
      return;
    }
    if (value === -1) {
      narrow[i] = uint32Max;
      return;
    }
    if (Number.isNaN(this.#base)) this.#base = value - baseMarginBelow;
    const d = value - this.#base;
    if (d >= 0 && d < uint32Max) narrow[i] = d;
    else {
      this.#widen();
      this.#wide![i] = value;
    }
  }

  copyWithin(target: number, start: number, end: number): void {
    (this.#narrow ?? this.#wide!).copyWithin(target, start, end);
  }

  /** A new column of `capacity` holding slots [head, tail) of this one from slot 0, narrow when they fit. */
  moved(capacity: number, head: number, tail: number): WholeColumn {
    let lowest = Number.POSITIVE_INFINITY;
    for (let i = head; i < tail; i++) {
      const v = this.get(i);
      if (v !== -1 && v < lowest) lowest = v;
    }
    const next = new WholeColumn(capacity, lowest === Number.POSITIVE_INFINITY ? undefined : lowest);
    for (let i = head; i < tail; i++) next.set(i - head, this.get(i));
    return next;
  }

  #widen(): void {
    const narrow = this.#narrow!;
    const wide = new Float64Array(narrow.length);
    for (let i = 0; i < narrow.length; i++) wide[i] = this.get(i);
    this.#wide = wide;
    this.#narrow = undefined;
  }
}

/**
 * One column per field. The first three are always there; the others hold values most messages
 * never have (an expiry, a delivery), so each comes with the first message that needs it: a backlog
 * of plain persistent messages costs 12 bytes a slot rather than 25.
 */
interface Columns {
  ids: WholeColumn;
  offsets: WholeColumn;
  bodyBytes: Uint32Array;
  /** NaN: no expiry. */
  expires: Float64Array | undefined;
  deliveryCounts: Uint32Array | undefined;
  redelivered: Uint8Array | undefined;
  /** The bodies held in memory; undefined in a slot whose body is on disk only (or that is free). */
  messages: Array<Message | undefined> | undefined;
}

type Column = NonNullable<Columns[keyof Columns]>;

/** Empty columns of `capacity`, with the optional ones `like` has; `ids` and `offsets` when given. */
function newColumns(capacity: number, like?: Columns, ids?: WholeColumn, offsets?: WholeColumn): Columns {
  return {
    ids: ids ?? new WholeColumn(capacity, undefined),
    offsets: offsets ?? new WholeColumn(capacity, undefined),
    bodyBytes: new Uint32Array(capacity),
    expires: like?.expires === undefined ? undefined : new Float64Array(capacity).fill(Number.NaN),
    deliveryCounts: like?.deliveryCounts === undefined ? undefined : new Uint32Array(capacity),
    redelivered: like?.redelivered === undefined ? undefined : new Uint8Array(capacity),
    // Bodies are moved by `Level.#movedBodies`, which makes the column only for a body.
    messages: undefined,
  };
}

function emptySlots(capacity: number): Array<Message | undefined> {
  return new Array<Message | undefined>(capacity).fill(undefined);
}

function presentColumns(c: Columns): Column[] {
  const out: Column[] = [c.ids, c.offsets, c.bodyBytes];
  if (c.expires !== undefined) out.push(c.expires);
  if (c.deliveryCounts !== undefined) out.push(c.deliveryCounts);
  if (c.redelivered !== undefined) out.push(c.redelivered);
  if (c.messages !== undefined) out.push(c.messages);
  return out;
}

/**
 * The columns of a level that never held a message. Typed arrays per queue were most of what
 * declaring 100,000 empty queues cost (time and memory), so columns come with the first message.
 */
const noColumns: Columns = newColumns(0);

/** Messages of one priority in slots [head, tail) of the columns. */
class Level {
  #c = noColumns;
  #capacity = 0;
  head = 0;
  tail = 0;
  readonly #priority: number;
  /** The bodies by id while the level is past `bodyColumnSlotsMax` slots (its column is unused then). */
  #bodyMap: Map<number, Message | undefined> | undefined;

  constructor(priority: number) {
    this.#priority = priority;
  }

  get size(): number {
    return this.tail - this.head;
  }

  first(): QueuedMessage | undefined {
    return this.size === 0 ? undefined : this.#read(this.head);
  }

  /** The first message's id and expiry, read from the columns without making its object. */
  firstId(): number {
    return this.#c.ids.get(this.head);
  }

  firstExpiresAtMs(): number | undefined {
    const expires = this.size === 0 ? undefined : this.#c.expires?.[this.head];
    return expires === undefined || Number.isNaN(expires) ? undefined : expires;
  }

  /** False when no message here has an expiry (the column comes with the first one that does). */
  get mayExpire(): boolean {
    return this.#c.expires !== undefined;
  }

  shift(): QueuedMessage | undefined {
    if (this.size === 0) return undefined;
    const at = this.head++;
    const m = this.#read(at);
    // The slot lets go of the body: a freed slot must not keep a message alive.
    this.#setBody(at, undefined);
    if (this.size === 0) this.#release();
    else if (this.head >= compactHeadMin && this.head * 2 >= this.tail) this.#moveTo(this.#fitCapacity());
    return m;
  }

  insert(m: QueuedMessage): void {
    if (this.size === 0 || this.#c.ids.get(this.tail - 1) < m.id) {
      this.#roomAtTail();
      this.#write(this.tail++, m);
      return;
    }
    if (this.head > 0 && this.#lowerBound(m.id) === this.head) {
      this.#write(--this.head, m);
      return;
    }
    this.#roomAtTail();
    // After #roomAtTail, which may have moved the slots.
    const at = this.#lowerBound(m.id);
    for (const column of presentColumns(this.#c)) column.copyWithin(at + 1, at, this.tail);
    this.tail++;
    this.#write(at, m);
  }

  paged(scanMax: number): PagedMessage[] {
    const out: PagedMessage[] = [];
    const { ids, offsets, bodyBytes } = this.#c;
    const end = Math.min(this.tail, this.head + scanMax);
    for (let i = this.head; i < end; i++) {
      const offset = offsets.get(i);
      if (offset >= 0 && this.#bodyAt(i) === undefined)
        out.push({ id: ids.get(i), offset, bodyBytes: bodyBytes[i]! });
    }
    return out;
  }

  #read(i: number): QueuedMessage {
    const c = this.#c;
    const id = c.ids.get(i);
    const expires = c.expires?.[i] ?? Number.NaN;
    return {
      id,
      priority: this.#priority,
      offset: c.offsets.get(i),
      bodyBytes: c.bodyBytes[i]!,
      expiresAtMs: Number.isNaN(expires) ? undefined : expires,
      deliveryCount: c.deliveryCounts?.[i] ?? 0,
      redelivered: c.redelivered?.[i] === 1,
      message: this.#bodyAt(i),
      holder: undefined,
    };
  }

  #write(i: number, m: QueuedMessage): void {
    assert(m.bodyBytes <= uint32Max && m.deliveryCount <= uint32Max, 'queued message field out of range');
    const c = this.#c;
    c.ids.set(i, m.id);
    c.offsets.set(i, m.offset);
    c.bodyBytes[i] = m.bodyBytes;
    if (m.expiresAtMs !== undefined) c.expires ??= new Float64Array(this.#capacity).fill(Number.NaN);
    if (c.expires !== undefined) c.expires[i] = m.expiresAtMs ?? Number.NaN;
    if (m.deliveryCount !== 0) c.deliveryCounts ??= new Uint32Array(this.#capacity);
    if (c.deliveryCounts !== undefined) c.deliveryCounts[i] = m.deliveryCount;
    if (m.redelivered) c.redelivered ??= new Uint8Array(this.#capacity);
    if (c.redelivered !== undefined) c.redelivered[i] = m.redelivered ? 1 : 0;
    this.#setBody(i, m.message);
  }

  #bodyAt(i: number): Message | undefined {
    const map = this.#bodyMap;
    return map === undefined ? this.#c.messages?.[i] : map.get(this.#c.ids.get(i));
  }

  /** The body of slot `i`, whose id is written; undefined clears it. */
  #setBody(i: number, message: Message | undefined): void {
    const map = this.#bodyMap;
    if (map !== undefined) {
      if (message === undefined) map.delete(this.#c.ids.get(i));
      else map.set(this.#c.ids.get(i), message);
      return;
    }
    if (message !== undefined) this.#c.messages ??= emptySlots(this.#capacity);
    if (this.#c.messages !== undefined) this.#c.messages[i] = message;
  }

  /** Gives the ready message `id` its body; false when it is not in this level. */
  attach(id: number, message: Message): boolean {
    const at = this.#lowerBound(id);
    if (at >= this.tail || this.#c.ids.get(at) !== id) return false;
    this.#setBody(at, message);
    return true;
  }

  #roomAtTail(): void {
    if (this.tail < this.#capacity) return;
    this.#moveTo(this.#fitCapacity());
  }

  /** Room for the live slots and then some (at least one free slot), so moves and regrowth stay amortised O(1). */
  #fitCapacity(): number {
    return Math.max(capacityMin, Math.ceil((this.size + 1) * growthFactor));
  }

  /**
   * An emptied level starts again at slot 0; one that had grown gives its columns back (and with them
   * any optional column it no longer needs), so a drained backlog leaves nothing behind.
   */
  #release(): void {
    if (this.#capacity > compactHeadMin) {
      this.#c = noColumns;
      this.#capacity = 0;
      this.#bodyMap = undefined;
    }
    this.head = 0;
    this.tail = 0;
  }

  /** Moves the live slots to the start of columns of `capacity` (new ones when it changes). */
  #moveTo(capacity: number): void {
    const { head, tail } = this;
    if (capacity === this.#capacity) {
      for (const column of presentColumns(this.#c)) column.copyWithin(0, head, tail);
      this.#c.messages?.fill(undefined, tail - head, tail);
    } else {
      const from = this.#c;
      const ids = from.ids.moved(capacity, head, tail);
      const next = newColumns(capacity, from, ids, from.offsets.moved(capacity, head, tail));
      next.bodyBytes.set(from.bodyBytes.subarray(head, tail));
      if (from.expires !== undefined) next.expires?.set(from.expires.subarray(head, tail));
      if (from.deliveryCounts !== undefined)
        next.deliveryCounts?.set(from.deliveryCounts.subarray(head, tail));
      if (from.redelivered !== undefined) next.redelivered?.set(from.redelivered.subarray(head, tail));
      this.#bodyMap = this.#movedBodies(next, capacity);
      this.#c = next;
      this.#capacity = capacity;
    }
    this.head = 0;
    this.tail = tail - head;
  }

  /**
   * The live bodies put where columns of `capacity` keep them: in `next`'s column, or in the map it
   * returns past `bodyColumnSlotsMax` slots. Read before `#c` and `head` change.
   */
  #movedBodies(next: Columns, capacity: number): Map<number, Message | undefined> | undefined {
    const inMap = capacity > bodyColumnSlotsMax;
    // Keyed by id, the map does not change when the slots move.
    if (inMap && this.#bodyMap !== undefined) return this.#bodyMap;
    // It always holds `noMessageId`: V8 gives a map a new table whenever a delete empties it, which a
    // drain (each read-ahead run attached, then shifted out) would do at every run.
    const map = inMap ? new Map<number, Message | undefined>([[noMessageId, undefined]]) : undefined;
    if (this.#c.messages === undefined && (this.#bodyMap?.size ?? 0) <= 1) return map;
    const { ids } = this.#c;
    for (let i = this.head; i < this.tail; i++) {
      const body = this.#bodyAt(i);
      if (body === undefined) continue;
      if (map !== undefined) {
        map.set(ids.get(i), body);
        continue;
      }
      next.messages ??= emptySlots(capacity);
      next.messages[i - this.head] = body;
    }
    return map;
  }

  #lowerBound(id: number): number {
    const { ids } = this.#c;
    let lo = this.head;
    let hi = this.tail;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ids.get(mid) < id) lo = mid + 1;
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
  /** The vhost's running totals, moved with `count`. */
  readonly #lengths: QueueLengths;

  constructor(priorityMax: number, lengths: QueueLengths = { ready: 0, unacked: 0 }) {
    assert(priorityMax >= 0 && priorityMax <= 255, 'priorityMax out of range');
    this.#lengths = lengths;
    this.#levels = Array.from({ length: priorityMax + 1 }, (_, p) => new Level(p));
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
    this.#lengths.ready++;
    this.#bytes += m.bodyBytes;
  }

  /** The next message, as a copy: changing it does not change the list. */
  peek(): QueuedMessage | undefined {
    return this.#top()?.first();
  }

  /**
   * The id and expiry of the message `peek` would return, without making its object: dispatch looks
   * at the head of every delivery only to see whether it expired.
   */
  headId(): number | undefined {
    return this.#top()?.firstId();
  }

  headExpiresAtMs(): number | undefined {
    return this.#top()?.firstExpiresAtMs();
  }

  /** False when no ready message can have an expiry: there is nothing for an expiry scan to find. */
  get mayExpire(): boolean {
    for (const level of this.#levels) if (level.mayExpire) return true;
    return false;
  }

  /** The highest priority level holding a message. */
  #top(): Level | undefined {
    for (let p = this.#levels.length - 1; p >= 0; p--) {
      const level = this.#levels[p]!;
      if (level.size > 0) return level;
    }
    return undefined;
  }

  shift(): QueuedMessage | undefined {
    for (let p = this.#levels.length - 1; p >= 0; p--) {
      const m = this.#levels[p]!.shift();
      if (m === undefined) continue;
      this.#count--;
      this.#lengths.ready--;
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
    this.#lengths.ready--;
    this.#bytes -= m.bodyBytes;
    return m;
  }

  /** Read-ahead candidates: among the next `scanMax` messages of one priority, those whose body is on disk only. */
  paged(priority: number, scanMax: number): PagedMessage[] {
    return this.#levels[priority]?.paged(scanMax) ?? [];
  }

  /** Gives a ready message (one `paged` returned) its body. */
  attach(id: number, message: Message): void {
    for (const level of this.#levels) if (level.attach(id, message)) return;
  }
}
