/**
 * The consumers of one queue and the choice of who gets the next message: the highest consumer
 * priority with credit first, round robin among equals (the one served least recently first); with
 * single active consumer only the active one (the longest attached) is eligible.
 *
 * Every step costs the same with 10 consumers or `consumersPerQueueMax`: one client may attach that
 * many, and a closing channel detaches them all at once, so a step that walked every consumer made that
 * close cost their number squared (minutes at the bound, the event loop held). Choosing (`pick`) looks
 * only at consumers that may have credit: one found without is set aside, by what stopped it (its own
 * window, or a shared limit or send room it carries), until that gives room again (`credited`,
 * `roomIn`), and then takes back its turn. So 10,000 consumers at a prefetch of 1 that never ack are
 * each looked at once, not on every publish. Those waiting for a shared limit are weighed from the top
 * of their own heap when it gives room, so an ack under a channel-wide prefetch that thousands share
 * costs a few steps, not one per consumer.
 */
import { assert } from '../../shared/assert.js';
import { brokerError, ErrorCode } from '../../shared/errors.js';
import type { ConsumeOptions, CreditLimit, Delivery } from '../types.js';

/** Consumers one queue accepts; each costs a little on every delivery. */
export const consumersPerQueueMax = 65_536;

export interface ConsumerState {
  readonly options: ConsumeOptions;
  readonly tag: string;
  readonly owner: string;
  readonly noAck: boolean;
  readonly priority: number;
  prefetch: number;
  unacked: number;
  cancelled: boolean;
  /**
   * Deliveries not yet handed to `options.deliver`, in order: the first ones wait for their delivery
   * count to be durable (a quorum queue), the others for those before them. Undefined when none waits.
   */
  waiting?: Delivery[] | undefined;
  /** Beside each of `waiting`, the number of the count record it waits for (0: none of its own). */
  waitingSeqs?: number[] | undefined;
  /** The ConsumerSet's: when it was last served (or attached); the lowest of a priority goes first. */
  turn: number;
  /**
   * The ConsumerSet's: its index in its priority's heap, or set aside for a limit in that limit's
   * heap; -1 set aside for its own window, or detached.
   */
  slot: number;
  /** The ConsumerSet's: what it waits for room in, set aside: itself (its prefetch) or a limit. */
  aside: ConsumerState | CreditLimit | undefined;
}

/** What keeps `c` from taking a delivery now: itself (its window is full), a limit, or nothing. */
function stopOf(c: ConsumerState): ConsumerState | CreditLimit | undefined {
  // AMQP 0-9-1 basic.qos: prefetch limits are ignored for no-ack consumers.
  if (!c.noAck) {
    if (c.prefetch > 0 && c.unacked >= c.prefetch) return c;
    const limits = c.options.limits;
    if (limits !== undefined) for (const limit of limits) if (!limit.hasRoom()) return limit;
  }
  // Last: the cheaper checks above decide most calls of a consumer at its window.
  const room = c.options.sendRoom;
  return room === undefined || room.hasRoom() ? undefined : room;
}

export function hasCredit(c: ConsumerState): boolean {
  return !c.cancelled && stopOf(c) === undefined;
}

/** The consumers of one priority that may have credit: a heap, the least recently served on top (`ahead`). */
interface PriorityGroup {
  readonly priority: number;
  readonly heap: ConsumerState[];
}

export class ConsumerSet {
  /** Attach order (a Set's insertion order), for single active consumer hand-over. */
  readonly #attached = new Set<ConsumerState>();
  readonly #tags = new Set<string>();
  /**
   * The groups that have a consumer which may have credit, by priority ascending: the highest is
   * served first and is the one most often emptied or made, at the end of the array.
   */
  readonly #ranked: PriorityGroup[] = [];
  readonly #byPriority = new Map<number, PriorityGroup>();
  /**
   * Consumers set aside until a shared limit or send room they carry has room, by that limit: a heap
   * each, the one to serve first on top (`ahead`).
   */
  readonly #awaiting = new Map<CreditLimit, ConsumerState[]>();
  /**
   * The limits of `#awaiting` that gave room since: their consumers are weighed against the ranked
   * ones from the top of their heap, not ranked all at once. A channel-wide prefetch shared by
   * thousands of consumers is full again after one delivery; ranking them all at each room and
   * setting each aside again made every ack cost their number.
   */
  readonly #woken = new Set<CreditLimit>();
  #turns = 0;
  #exclusive = 0;
  /** The only consumer, when there is exactly one: most queues, served without looking further. */
  #sole: ConsumerState | undefined;
  readonly #single: boolean;

  constructor(singleActive: boolean) {
    this.#single = singleActive;
  }

  get size(): number {
    return this.#attached.size;
  }

  /** A copy, in attach order: callers cancel consumers while going through it. */
  get all(): readonly ConsumerState[] {
    return [...this.#attached];
  }

  get active(): ConsumerState | undefined {
    return this.#single ? this.#first() : undefined;
  }

  add(c: ConsumerState): void {
    if (this.#tags.has(c.tag)) {
      throw brokerError(ErrorCode.invalidArgument, `Consumer tag '${c.tag}' is already in use on this queue`);
    }
    if (this.#attached.size >= consumersPerQueueMax) {
      throw brokerError(ErrorCode.resourceExhausted, `Queue has ${consumersPerQueueMax} consumers already`);
    }
    if (c.options.exclusive === true && this.#attached.size > 0) {
      throw brokerError(ErrorCode.resourceLocked, 'Queue has consumers; an exclusive consumer cannot attach');
    }
    if (this.#exclusive > 0) throw brokerError(ErrorCode.resourceLocked, 'Queue has an exclusive consumer');
    this.#attached.add(c);
    this.#tags.add(c.tag);
    if (c.options.exclusive === true) this.#exclusive++;
    c.turn = ++this.#turns;
    this.#rank(c);
    this.#sole = this.#attached.size === 1 ? c : undefined;
  }

  remove(c: ConsumerState): void {
    if (!this.#attached.delete(c)) return;
    this.#sole = this.#attached.size === 1 ? this.#first() : undefined;
    this.#tags.delete(c.tag);
    if (c.options.exclusive === true) this.#exclusive--;
    if (c.aside === undefined) this.#unrank(c);
    else this.#stopAwaiting(c);
  }

  /** The consumer to serve next, or undefined when nobody has credit. */
  pick(): ConsumerState | undefined {
    if (this.#single) {
      const active = this.#first();
      return active !== undefined && hasCredit(active) ? active : undefined;
    }
    const sole = this.#sole;
    if (sole !== undefined) return hasCredit(sole) ? sole : undefined;
    // Each consumer looked at is served or leaves its heap, and a woken limit found full again is
    // no longer woken, so this ends.
    for (;;) {
      const ranked = this.#rankedPick();
      const woken = this.#bestWoken();
      if (woken === undefined || (ranked !== undefined && !ahead(woken, ranked))) return ranked;
      const limit = woken.aside as CreditLimit;
      const stop = stopOf(woken);
      // Full again: none of the consumers waiting for it has room.
      if (stop === limit) this.#woken.delete(limit);
      else {
        this.#stopAwaiting(woken);
        if (stop === undefined) {
          this.#rank(woken);
          return woken;
        }
        this.#setAside(woken, stop);
      }
    }
  }

  /** The first ranked consumer with credit, those found without set aside on the way. */
  #rankedPick(): ConsumerState | undefined {
    for (let group = this.#top(); group !== undefined; group = this.#top()) {
      for (let c = group.heap[0]; c !== undefined; c = group.heap[0]) {
        const stop = stopOf(c);
        if (stop === undefined) return c;
        this.#unrank(c);
        this.#setAside(c, stop);
      }
    }
    return undefined;
  }

  /** The consumer to weigh first among those waiting for a limit that gave room. */
  #bestWoken(): ConsumerState | undefined {
    let best: ConsumerState | undefined;
    for (const limit of this.#woken) {
      const top = this.#awaiting.get(limit)?.[0];
      if (top !== undefined && (best === undefined || ahead(top, best))) best = top;
    }
    return best;
  }

  /** `c` was just served: it goes behind the others of its priority. */
  served(c: ConsumerState): void {
    if (this.#attached.size === 1) return;
    c.turn = ++this.#turns;
    const heap = this.#heapOf(c);
    if (heap !== undefined) siftDown(heap, c.slot);
  }

  /** `c`'s own window may have room (a delivery of it settled, its prefetch changed). */
  credited(c: ConsumerState): void {
    if (c.aside !== c) return;
    c.aside = undefined;
    this.#rank(c);
  }

  /** `limit` has room: the consumers set aside for it take their turns again, from the top of theirs. */
  roomIn(limit: CreditLimit): void {
    if (this.#awaiting.has(limit)) this.#woken.add(limit);
  }

  #first(): ConsumerState | undefined {
    for (const c of this.#attached) return c;
    return undefined;
  }

  #top(): PriorityGroup | undefined {
    return this.#ranked[this.#ranked.length - 1];
  }

  /** The heap `c` is in: its priority's, or the one of the limit it waits for; none for its own window. */
  #heapOf(c: ConsumerState): ConsumerState[] | undefined {
    if (c.slot < 0) return undefined;
    if (c.aside === undefined) return this.#byPriority.get(c.priority)?.heap;
    return this.#awaiting.get(c.aside as CreditLimit);
  }

  /** `c`, out of every heap, waits for `stop`: its own window, or a limit with no room. */
  #setAside(c: ConsumerState, stop: ConsumerState | CreditLimit): void {
    c.aside = stop;
    if (stop === c) return;
    const limit = stop as CreditLimit;
    // No room in it now: nobody waiting for it can take anything until it wakes again.
    this.#woken.delete(limit);
    let waiting = this.#awaiting.get(limit);
    if (waiting === undefined) {
      waiting = [];
      this.#awaiting.set(limit, waiting);
    }
    c.slot = waiting.length;
    waiting.push(c);
    siftUp(waiting, c.slot);
  }

  /** `c` no longer waits for anything (it is ranked again, or detached). */
  #stopAwaiting(c: ConsumerState): void {
    const limit = c.aside;
    c.aside = undefined;
    if (limit === undefined || limit === c) return;
    const waiting = this.#awaiting.get(limit as CreditLimit);
    assert(waiting !== undefined && waiting[c.slot] === c, 'a waiting consumer is in its limit heap');
    removeAt(waiting, c.slot);
    c.slot = -1;
    if (waiting.length > 0) return;
    this.#awaiting.delete(limit as CreditLimit);
    this.#woken.delete(limit as CreditLimit);
  }

  /** Into its priority's heap, the group made in its place when it is the first there. */
  #rank(c: ConsumerState): void {
    assert(c.slot < 0, 'a consumer is ranked once');
    let group = this.#byPriority.get(c.priority);
    if (group === undefined) {
      group = { priority: c.priority, heap: [] };
      this.#ranked.splice(this.#rankOf(c.priority), 0, group);
      this.#byPriority.set(c.priority, group);
    }
    const heap = group.heap;
    c.slot = heap.length;
    heap.push(c);
    siftUp(heap, c.slot);
  }

  /** Out of its priority's heap, and the group out of the ranks once empty. */
  #unrank(c: ConsumerState): void {
    const group = this.#byPriority.get(c.priority);
    assert(group !== undefined && group.heap[c.slot] === c, 'a ranked consumer is in its heap');
    removeAt(group.heap, c.slot);
    c.slot = -1;
    if (group.heap.length > 0) return;
    this.#byPriority.delete(c.priority);
    const at = this.#top() === group ? this.#ranked.length - 1 : this.#rankOf(c.priority);
    this.#ranked.splice(at, 1);
  }

  /** The index of the first group of `priority` or above in `#ranked` (binary search). */
  #rankOf(priority: number): number {
    let low = 0;
    let high = this.#ranked.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.#ranked[mid]!.priority < priority) low = mid + 1;
      else high = mid;
    }
    return low;
  }
}

// ---- a heap of consumers, each knowing its `slot`, the one to serve first on top

/** `a` goes before `b`: a higher priority, or of the same the one served less recently. */
function ahead(a: ConsumerState, b: ConsumerState): boolean {
  return a.priority > b.priority || (a.priority === b.priority && a.turn < b.turn);
}

function place(heap: ConsumerState[], at: number, c: ConsumerState): void {
  heap[at] = c;
  c.slot = at;
}

function siftUp(heap: ConsumerState[], from: number): void {
  const c = heap[from]!;
  let at = from;
  while (at > 0) {
    const up = (at - 1) >>> 1;
    const parent = heap[up]!;
    if (!ahead(c, parent)) break;
    place(heap, at, parent);
    at = up;
  }
  place(heap, at, c);
}

function siftDown(heap: ConsumerState[], from: number): void {
  const c = heap[from]!;
  let at = from;
  for (;;) {
    const left = 2 * at + 1;
    if (left >= heap.length) break;
    const right = left + 1;
    const next = right < heap.length && ahead(heap[right]!, heap[left]!) ? right : left;
    if (!ahead(heap[next]!, c)) break;
    place(heap, at, heap[next]!);
    at = next;
  }
  place(heap, at, c);
}

function removeAt(heap: ConsumerState[], at: number): void {
  const last = heap.pop()!;
  if (at === heap.length) return;
  place(heap, at, last);
  siftDown(heap, at);
  siftUp(heap, last.slot);
}

/** The limits whose room wakes a queue for this consumer: its shared limits and its connection's send room. */
export function watchedLimits(options: ConsumeOptions): readonly CreditLimit[] {
  const limits = options.limits ?? [];
  return options.sendRoom === undefined ? limits : [...limits, options.sendRoom];
}

/**
 * A queue's room listeners on its consumers' shared limits (a channel's global prefetch, an MQTT
 * client's Receive Maximum): one per limit however many consumers carry it. A listener per consumer
 * made each release of a channel's limit dispatch the queue once per consumer of that channel, each
 * dispatch looking through every consumer.
 */
export class LimitWatch {
  readonly #watched = new Map<CreditLimit, { users: number; off: () => void }>();
  readonly #wake: (limit: CreditLimit) => void;

  constructor(wake: (limit: CreditLimit) => void) {
    this.#wake = wake;
  }

  add(limits: readonly CreditLimit[]): void {
    for (const limit of limits) {
      const watched = this.#watched.get(limit);
      if (watched !== undefined) watched.users++;
      else this.#watched.set(limit, { users: 1, off: limit.onRoom(() => this.#wake(limit)) });
    }
  }

  remove(limits: readonly CreditLimit[]): void {
    for (const limit of limits) {
      const watched = this.#watched.get(limit);
      if (watched === undefined) continue;
      if (--watched.users > 0) continue;
      watched.off();
      this.#watched.delete(limit);
    }
  }

  clear(): void {
    for (const watched of this.#watched.values()) watched.off();
    this.#watched.clear();
  }
}
