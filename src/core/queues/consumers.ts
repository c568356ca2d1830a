/**
 * The consumers of one queue and the choice of who gets the next message: the highest consumer
 * priority with credit first, round robin among equals; with single active consumer only the
 * active one (the longest attached) is eligible.
 */
import { brokerError, ErrorCode } from '../../shared/errors.js';
import type { ConsumeOptions } from '../types.js';

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
  /** Unsubscribes from the shared limits' room notifications. */
  unsubscribe: Array<() => void>;
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

export class ConsumerSet {
  /** Service order: priority descending, round robin within a priority by moving the served to its group's end. */
  #order: ConsumerState[] = [];
  /** Attach order, for single active consumer hand-over. */
  #attached: ConsumerState[] = [];
  readonly #single: boolean;

  constructor(singleActive: boolean) {
    this.#single = singleActive;
  }

  get size(): number {
    return this.#attached.length;
  }

  get all(): readonly ConsumerState[] {
    return this.#attached;
  }

  get active(): ConsumerState | undefined {
    return this.#single ? this.#attached[0] : undefined;
  }

  add(c: ConsumerState): void {
    if (this.#attached.some((x) => x.tag === c.tag)) {
      throw brokerError(ErrorCode.invalidArgument, `Consumer tag '${c.tag}' is already in use on this queue`);
    }
    if (this.#attached.length >= consumersPerQueueMax) {
      throw brokerError(ErrorCode.resourceExhausted, `Queue has ${consumersPerQueueMax} consumers already`);
    }
    if (c.options.exclusive === true && this.#attached.length > 0) {
      throw brokerError(ErrorCode.resourceLocked, 'Queue has consumers; an exclusive consumer cannot attach');
    }
    if (this.#attached.some((x) => x.options.exclusive === true)) {
      throw brokerError(ErrorCode.resourceLocked, 'Queue has an exclusive consumer');
    }
    this.#attached.push(c);
    const at = this.#order.findIndex((x) => x.priority < c.priority);
    this.#order.splice(at === -1 ? this.#order.length : at, 0, c);
  }

  remove(c: ConsumerState): void {
    this.#attached = this.#attached.filter((x) => x !== c);
    this.#order = this.#order.filter((x) => x !== c);
  }

  /** The consumer to serve next, or undefined when nobody has credit. */
  pick(): ConsumerState | undefined {
    if (this.#single) {
      const active = this.#attached[0];
      return active !== undefined && hasCredit(active) ? active : undefined;
    }
    return this.#order.find(hasCredit);
  }

  /** `c` was just served: it goes behind the others of its priority. */
  served(c: ConsumerState): void {
    const from = this.#order.indexOf(c);
    if (from === -1) return;
    let to = from;
    while (to + 1 < this.#order.length && this.#order[to + 1]!.priority === c.priority) to++;
    if (to === from) return;
    this.#order.splice(from, 1);
    this.#order.splice(to, 0, c);
  }
}
