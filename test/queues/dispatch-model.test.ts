/**
 * Dispatch against a model: consumers of several priorities, prefetches, channel-wide limits and send
 * rooms come and go, settle, change their windows and get; after every step no message waits while a
 * consumer that may take it has room (the worst outcome of a consumer set aside and never woken).
 * Seeded; `SEEDS=n` runs more of them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SharedCredit } from '../../src/core/credit.js';
import type { ClassicQueue } from '../../src/core/queues/index.js';
import type { Consumer, CreditLimit, Delivery, QueueOptions } from '../../src/core/types.js';
import type { ManualClock } from '../../src/shared/clock.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { msg, openQueue, tick } from '../../testing/queue-harness.js';

/** Steps of one seeded run: bounded in count. */
const stepsPerRun = 400;
const consumersMax = 8;
const seeds = Array.from({ length: Number(process.env['SEEDS'] ?? 12) }, (_, i) => i + 1);

/** Room to send on a connection, as a front end gives it: set by the test, listeners woken when it opens. */
class Room implements CreditLimit {
  open = true;
  readonly #listeners = new Set<() => void>();

  hasRoom(): boolean {
    return this.open;
  }

  take(): void {}

  release(): void {}

  onRoom(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  set(open: boolean): void {
    this.open = open;
    if (open) for (const listener of [...this.#listeners]) listener();
  }
}

interface Modelled {
  readonly owner: number;
  readonly noAck: boolean;
  readonly limits: SharedCredit[];
  prefetch: number;
  /** Ids delivered and not settled. */
  readonly held: Set<number>;
  handle?: Consumer;
  gone: boolean;
}

const variants: Array<{ name: string; options: QueueOptions }> = [
  { name: 'classic', options: {} },
  { name: 'single active consumer', options: { singleActiveConsumer: true } },
  { name: 'priorities and TTL', options: { priorityMax: 5, messageTtlMs: 50 } },
  {
    name: 'quorum with a delivery limit',
    options: { durable: true, deliveryLimit: 2, arguments: { 'x-queue-type': 'quorum' } },
  },
];

class Model {
  readonly channels = [new SharedCredit(0), new SharedCredit(0)];
  readonly rooms = [new Room(), new Room()];
  readonly consumers: Modelled[] = [];
  readonly gets = new Set<number>();
  readonly queue: ClassicQueue;
  readonly clock: ManualClock;
  #seed: number;

  constructor(queue: ClassicQueue, clock: ManualClock, seed: number) {
    this.queue = queue;
    this.clock = clock;
    this.#seed = seed;
  }

  pick(n: number): number {
    this.#seed = (this.#seed * 1103515245 + 12345) % 2 ** 31;
    return Math.floor((this.#seed / 2 ** 31) * n);
  }

  live(): Modelled[] {
    return this.consumers.filter((c) => !c.gone);
  }

  any<T>(list: readonly T[]): T | undefined {
    return list[this.pick(Math.max(1, list.length))];
  }

  consume(): void {
    const owner = this.pick(2);
    const c: Modelled = {
      owner,
      noAck: this.pick(6) === 0,
      limits: this.pick(2) === 0 ? [] : [this.channels[owner]!],
      prefetch: this.pick(4),
      held: new Set(),
      gone: false,
    };
    c.handle = this.queue.consume({
      tag: `c${this.consumers.length}`,
      owner: `ch${owner}`,
      noAck: c.noAck,
      priority: this.pick(3),
      prefetch: c.prefetch,
      limits: c.limits,
      sendRoom: this.rooms[owner]!,
      deliver: (d: Delivery) => {
        if (!c.noAck) c.held.add(d.id);
      },
    });
    this.consumers.push(c);
  }

  cancel(): void {
    const c = this.any(this.live());
    c?.handle?.cancel();
    if (c !== undefined) c.gone = true;
  }

  /** Acks, rejects or requeues one delivery some consumer holds. */
  settle(): void {
    const c = this.any(this.consumers.filter((each) => each.held.size > 0));
    const id = c === undefined ? undefined : this.any([...c.held]);
    if (c === undefined || id === undefined) return;
    c.held.delete(id);
    const how = this.pick(3);
    if (how === 0) this.queue.ack(id);
    else this.queue.nack(id, how === 1);
  }

  /** A channel's prefetch, a consumer's window, a send room or the clock moves. */
  change(): void {
    const what = this.pick(4);
    if (what === 0) this.channels[this.pick(2)]!.setMax(this.pick(4));
    else if (what === 1) this.rooms[this.pick(2)]!.set(this.pick(2) === 0);
    else if (what === 2) this.clock.advance(this.pick(40));
    else {
      const c = this.any(this.live());
      if (c === undefined) return;
      c.prefetch = this.pick(4);
      c.handle?.setPrefetch(c.prefetch);
    }
  }

  /** A get, the gets settled, or a channel's release (closing, or recovering what it held). */
  getOrRelease(): void {
    const what = this.pick(3);
    if (what === 0) {
      const d = this.queue.get({ noAck: false, owner: 'getter' });
      if (d !== undefined) this.gets.add(d.id);
    } else if (what === 1) {
      for (const id of this.gets) this.queue.ack(id);
      this.gets.clear();
    } else if (this.pick(4) === 0) {
      const owner = this.pick(2);
      this.queue.releaseOwner(`ch${owner}`);
      for (const c of this.consumers.filter((each) => each.owner === owner)) {
        c.held.clear();
        c.gone = true;
      }
    }
  }

  step(): void {
    const op = this.pick(13);
    if (op === 0 && this.live().length < consumersMax) this.consume();
    else if (op === 1) this.live().length < 3 ? this.consume() : this.cancel();
    else if (op <= 5)
      this.queue.enqueue(msg('m', { priority: this.pick(6), persistent: this.pick(2) === 0 }));
    else if (op <= 8) this.settle();
    else if (op <= 10) this.change();
    else this.getOrRelease();
  }

  hasRoom(c: Modelled): boolean {
    if (!this.rooms[c.owner]!.open) return false;
    if (c.noAck) return true;
    if (c.prefetch > 0 && c.held.size >= c.prefetch) return false;
    return c.limits.every((l) => l.hasRoom());
  }
}

for (const variant of variants) {
  test(`no message waits while a consumer has room for it (${variant.name})`, async () => {
    for (const seed of seeds) {
      const { queue, clock } = await openQueue(variant.options, { storage: new MemoryStorage() });
      const model = new Model(queue, clock, seed);
      for (let step = 0; step < stepsPerRun; step++) {
        model.step();
        // The first dispatch after a consume and a quorum queue's count writes come a turn later.
        await tick();
        await tick();
        const single = variant.options.singleActiveConsumer === true;
        const eligible = single ? model.live().slice(0, 1) : model.live();
        const roomy = eligible.filter((c) => model.hasRoom(c));
        const ready = queue.info().messageCount;
        assert.ok(
          ready === 0 || roomy.length === 0,
          `seed ${seed} step ${step}: ${ready} ready, ${roomy.length} with room`,
        );
      }
      await queue.close();
    }
  });
}
