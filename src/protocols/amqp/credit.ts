/**
 * A channel's shared prefetch (`basic.qos global=true`, RabbitMQ's per-channel limit): every consumer
 * of the channel carries it, and core asks it before each delivery. 0 means no limit.
 */
import type { CreditLimit } from '../../core/types.js';

export class ChannelCredit implements CreditLimit {
  #max = 0;
  #held = 0;
  readonly #listeners = new Set<() => void>();

  get held(): number {
    return this.#held;
  }

  setMax(max: number): void {
    const grew = max === 0 || max > this.#max;
    this.#max = max;
    if (grew) this.#wake();
  }

  hasRoom(): boolean {
    return this.#max === 0 || this.#held < this.#max;
  }

  take(): void {
    this.#held++;
  }

  release(count: number): void {
    const wasFull = !this.hasRoom();
    this.#held = Math.max(0, this.#held - count);
    if (wasFull && this.hasRoom()) this.#wake();
  }

  onRoom(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #wake(): void {
    for (const listener of [...this.#listeners]) listener();
  }
}
