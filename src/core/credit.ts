/**
 * A credit limit shared by several consumers (see `CreditLimit` in ./types.ts): AMQP's per-channel
 * `basic.qos global=true`, MQTT's per-client Receive Maximum across its session and shared-subscription
 * queues. Every consumer carries the same instance and core asks it before each delivery; when room
 * appears, every queue waiting on it is woken. A max of 0 means no limit.
 */
import type { CreditLimit } from './types.js';

export class SharedCredit implements CreditLimit {
  #max: number;
  #held = 0;
  /** Made with the first listener: an MQTT client that never subscribes has none. */
  #listeners: Set<() => void> | undefined;

  constructor(max = 0) {
    this.#max = max;
  }

  /** The limit; 0 = none. */
  get max(): number {
    return this.#max;
  }

  /** Deliveries taken and not yet released. */
  get held(): number {
    return this.#held;
  }

  setMax(max: number): void {
    const grew = max === 0 || max > this.#max;
    this.#max = max;
    if (grew) this.wake();
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
    if (wasFull && this.hasRoom()) this.wake();
  }

  onRoom(listener: () => void): () => void {
    this.#listeners ??= new Set();
    const listeners = this.#listeners;
    listeners.add(listener);
    return () => listeners.delete(listener);
  }

  // A method, not a #method: a class with private methods gives each instance a brand slot.
  private wake(): void {
    // A copy: a woken queue may deliver and so add or remove listeners meanwhile.
    if (this.#listeners === undefined) return;
    for (const listener of [...this.#listeners]) listener();
  }
}
