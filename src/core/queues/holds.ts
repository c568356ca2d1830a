/**
 * Visibility timeouts of one queue (SQS's visibility timeout, KubeMQ's queue transactions): an
 * unacked delivery may be held for a while; if its holder neither settles it nor holds it again in
 * time, the queue takes it back (at the tail, counted as a failed delivery). The timers run on the
 * queue's executor, so they stop with the queue.
 */
import { assert } from '../../shared/assert.js';
import type { Executor, Timer } from '../exec/executor.js';
import { durationMsMax } from './options.js';

interface Hold {
  readonly timer: Timer;
  readonly resolve: (expired: boolean) => void;
}

export class Holds {
  readonly #exec: Executor;
  /** Made on the first hold: most queues never hold a delivery, and an idle one costs no table. */
  #holds: Map<number, Hold> | undefined;

  constructor(exec: Executor) {
    this.#exec = exec;
  }

  get size(): number {
    return this.#holds?.size ?? 0;
  }

  /**
   * Holds delivery `id` for `timeoutMs`, replacing an earlier hold (which resolves false); `expire`
   * runs when the time passes, then the promise resolves true.
   */
  arm(id: number, timeoutMs: number, expire: () => void): Promise<boolean> {
    assert(
      Number.isSafeInteger(timeoutMs) && timeoutMs > 0 && timeoutMs <= durationMsMax,
      'hold out of range',
    );
    this.settle(id);
    return new Promise((resolve) => {
      const timer = this.#exec.after(timeoutMs, () => {
        if (this.#holds?.get(id)?.timer !== timer) return;
        this.#holds.delete(id);
        expire();
        resolve(true);
      });
      this.#holds ??= new Map();
      this.#holds.set(id, { timer, resolve });
    });
  }

  /** Delivery `id` left its holder some other way (ack, nack, requeue, release): its hold ends unexpired. */
  settle(id: number): void {
    const hold = this.#holds?.get(id);
    if (hold === undefined) return;
    this.#holds?.delete(id);
    hold.timer.cancel();
    hold.resolve(false);
  }

  /** The queue stops (closed, deleted, failed): every hold ends unexpired. */
  clear(): void {
    for (const id of [...(this.#holds?.keys() ?? [])]) this.settle(id);
  }
}
