/**
 * The consumers of one queue and the choice of who gets the next message: the highest consumer
 * priority with credit first, round robin among equals; with single active consumer only the
 * active one (the longest attached) is eligible.
 *
 * Attaching, detaching and moving a served consumer back cost the same with 10 consumers or
 * `consumersPerQueueMax`: one client may attach that many, and a closing channel detaches them all at
 * once, so a step that walked every consumer made that close cost their number squared (minutes at the
 * bound, the event loop held). Choosing the next one (`pick`) still walks past those without credit,
 * so it costs the number of consumers at their window ahead of the first with room.
 */
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
}

export function hasCredit(c: ConsumerState): boolean {
  if (c.cancelled) return false;
  // AMQP 0-9-1 basic.qos: prefetch limits are ignored for no-ack consumers.
  if (!c.noAck) {
    if (c.prefetch > 0 && c.unacked >= c.prefetch) return false;
    const limits = c.options.limits;
    if (limits !== undefined && !limits.every((l) => l.hasRoom())) return false;
  }
  // Last: the cheaper checks above decide most calls of a consumer at its window.
  return c.options.sendRoom?.hasRoom() !== false;
}

/** The consumers of one priority in service order: a Set keeps insertion order, so re-adding moves to the end. */
interface PriorityGroup {
  readonly priority: number;
  readonly members: Set<ConsumerState>;
}

export class ConsumerSet {
  /** Attach order (a Set's insertion order), for single active consumer hand-over. */
  readonly #attached = new Set<ConsumerState>();
  readonly #tags = new Set<string>();
  /** Service order: groups by priority descending, round robin within each. */
  readonly #groups: PriorityGroup[] = [];
  readonly #byPriority = new Map<number, PriorityGroup>();
  #exclusive = 0;
  /** The only consumer, when there is exactly one: most queues, served without walking a Set. */
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
    this.#groupOf(c.priority).members.add(c);
    this.#sole = this.#attached.size === 1 ? c : undefined;
  }

  remove(c: ConsumerState): void {
    if (!this.#attached.delete(c)) return;
    this.#sole = this.#attached.size === 1 ? this.#first() : undefined;
    this.#tags.delete(c.tag);
    if (c.options.exclusive === true) this.#exclusive--;
    const group = this.#byPriority.get(c.priority);
    if (group === undefined) return;
    group.members.delete(c);
    if (group.members.size > 0) return;
    this.#byPriority.delete(c.priority);
    this.#groups.splice(this.#groups.indexOf(group), 1);
  }

  /** The consumer to serve next, or undefined when nobody has credit. */
  pick(): ConsumerState | undefined {
    if (this.#single) {
      const active = this.#first();
      return active !== undefined && hasCredit(active) ? active : undefined;
    }
    const sole = this.#sole;
    if (sole !== undefined) return hasCredit(sole) ? sole : undefined;
    for (const group of this.#groups) {
      for (const c of group.members) if (hasCredit(c)) return c;
    }
    return undefined;
  }

  /** `c` was just served: it goes behind the others of its priority. */
  served(c: ConsumerState): void {
    if (this.#attached.size === 1) return;
    const members = this.#byPriority.get(c.priority)?.members;
    if (members !== undefined && members.size > 1 && members.delete(c)) members.add(c);
  }

  #first(): ConsumerState | undefined {
    for (const c of this.#attached) return c;
    return undefined;
  }

  /** The group of `priority`, made in its place (descending) when it is the first of that priority. */
  #groupOf(priority: number): PriorityGroup {
    const known = this.#byPriority.get(priority);
    if (known !== undefined) return known;
    const group: PriorityGroup = { priority, members: new Set() };
    let low = 0;
    let high = this.#groups.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.#groups[mid]!.priority > priority) low = mid + 1;
      else high = mid;
    }
    this.#groups.splice(low, 0, group);
    this.#byPriority.set(priority, group);
    return group;
  }
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
  readonly #wake: () => void;

  constructor(wake: () => void) {
    this.#wake = wake;
  }

  add(limits: readonly CreditLimit[]): void {
    for (const limit of limits) {
      const watched = this.#watched.get(limit);
      if (watched !== undefined) watched.users++;
      else this.#watched.set(limit, { users: 1, off: limit.onRoom(this.#wake) });
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
