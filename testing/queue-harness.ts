/** Helpers for queue tests: a queue on a manual clock with recorded hooks, and a collecting consumer. */

import type { CoreLimits } from '../src/core/api.js';
import type { QueueDeps } from '../src/core/internal.js';
import { resolveLimits } from '../src/core/limits.js';
import { BodyCache } from '../src/core/queues/body-cache.js';
import { type ClassicQueue, createQueue } from '../src/core/queues/index.js';
import type {
  ConsumeOptions,
  CreditLimit,
  Delivery,
  Message,
  MessageProperties,
  QueueOptions,
} from '../src/core/types.js';
import type { QueueLengths } from '../src/core/views.js';
import { ManualClock } from '../src/shared/clock.js';
import type { Storage } from '../src/storage/types.js';
import { idCounter, testExecutor } from './exec-helpers.js';

export interface DeadLettered {
  readonly message: Message;
  readonly exchange: string;
  readonly routingKey: string;
}

export interface Harness {
  readonly queue: ClassicQueue;
  readonly clock: ManualClock;
  readonly deadLetters: DeadLettered[];
  readonly deleteRequests: string[];
  /** Errors the queue's executor caught (a test of healthy behaviour expects none). */
  readonly faults: unknown[];
  /** The queue's body budget (its own: the harness is one queue of its own broker). */
  readonly bodies: BodyCache;
}

export async function openQueue(
  options: QueueOptions = {},
  extra: {
    name?: string;
    storage?: Storage;
    clock?: ManualClock;
    limits?: Partial<CoreLimits>;
    /** The vhost's running totals the queue keeps (overview, samples, metrics). */
    lengths?: QueueLengths;
  } = {},
): Promise<Harness> {
  const clock = extra.clock ?? new ManualClock();
  const deadLetters: DeadLettered[] = [];
  const deleteRequests: string[] = [];
  const { exec, faults } = testExecutor(clock);
  const limits = resolveLimits(extra.limits);
  const bodies = new BodyCache(limits.bodyCacheBytesMax);
  const deps: QueueDeps = {
    vhost: '/',
    exec,
    idBase: 0,
    nextId: idCounter(),
    limits,
    bodies,
    hooks: {
      deadLetter: (message, exchange, routingKey) => deadLetters.push({ message, exchange, routingKey }),
      requestDelete: (reason) => deleteRequests.push(reason),
    },
    ...(extra.storage === undefined ? {} : { storage: extra.storage }),
    ...(extra.lengths === undefined ? {} : { lengths: extra.lengths }),
  };
  const queue = (await createQueue(extra.name ?? 'q', options, deps)) as ClassicQueue;
  return { queue, clock, deadLetters, deleteRequests, faults, bodies };
}

export function msg(text: string, properties: MessageProperties = {}, routingKey = 'rk'): Message {
  return { exchange: 'ex', routingKey, body: new TextEncoder().encode(text), properties };
}

export function text(delivery: Delivery | undefined): string {
  return delivery === undefined ? '<none>' : new TextDecoder().decode(delivery.message.body);
}

export interface Collector {
  readonly deliveries: Delivery[];
  readonly cancelled: string[];
  readonly active: boolean[];
  readonly options: ConsumeOptions;
  texts(): string[];
}

export function collector(tag: string, options: Partial<ConsumeOptions> = {}): Collector {
  const deliveries: Delivery[] = [];
  const cancelled: string[] = [];
  const active: boolean[] = [];
  return {
    deliveries,
    cancelled,
    active,
    options: {
      tag,
      owner: options.owner ?? `owner-${tag}`,
      deliver: (d) => deliveries.push(d),
      cancelled: (reason) => cancelled.push(reason),
      activeChanged: (a) => active.push(a),
      ...options,
    },
    texts: () => deliveries.map(text),
  };
}

/** Lets queued microtasks (deferred first dispatch after consume) run. */
export function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A plain shared credit limit, like an AMQP channel's global prefetch. */
export class CountingLimit implements CreditLimit {
  used = 0;
  readonly #max: number;
  readonly #listeners = new Set<() => void>();

  constructor(max: number) {
    this.#max = max;
  }

  hasRoom(): boolean {
    return this.used < this.#max;
  }

  take(): void {
    this.used++;
  }

  release(count: number): void {
    this.used -= count;
    for (const listener of [...this.#listeners]) listener();
  }

  onRoom(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
