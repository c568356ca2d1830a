/**
 * A client's Receive Maximum across all its consumers (MQTT 5.0 §3.3.4, [MQTT-3.3.4-9]): the session
 * queue and every shared subscription queue are separate core consumers, so a per-consumer prefetch
 * alone would let the client hold one window per queue. Every consumer of the connection carries this
 * one limit, and core asks it before each delivery.
 */
import type { CreditLimit } from '../../core/types.js';

export class ClientCredit implements CreditLimit {
  /** Unacked deliveries the client may hold over all its consumers; at least 1. */
  #max = 1;
  #held = 0;
  readonly #listeners = new Set<() => void>();

  get held(): number {
    return this.#held;
  }

  setMax(max: number): void {
    const grew = max > this.#max;
    this.#max = Math.max(1, max);
    if (grew) this.#wake();
  }

  hasRoom(): boolean {
    return this.#held < this.#max;
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
    // A copy: a woken queue may deliver and so add or remove listeners meanwhile.
    for (const listener of [...this.#listeners]) listener();
  }
}
