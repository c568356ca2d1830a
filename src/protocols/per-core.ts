/**
 * State the listeners of one protocol share on one core — the plain and the TLS form of AMQP, MQTT
 * and Kafka, KubeMQ's gRPC and REST faces — so that a client sees one broker whichever port it
 * reached: one connection numbering, one set of client ids, one group coordinator. The first
 * listener to start creates it, the last to close closes it.
 */
import type { CoreBroker } from '../core/api.js';

export class PerCore<T> {
  readonly #entries = new WeakMap<CoreBroker, { value: T; users: number }>();
  readonly #close: (value: T) => void;

  constructor(close: (value: T) => void = () => {}) {
    this.#close = close;
  }

  /** The core's shared value, made by `create` for the first listener. */
  acquire(core: CoreBroker, create: () => T): T {
    let entry = this.#entries.get(core);
    if (entry === undefined) {
      entry = { value: create(), users: 0 };
      this.#entries.set(core, entry);
    }
    entry.users++;
    return entry.value;
  }

  /** The core's shared value while a listener holds it. */
  peek(core: CoreBroker): T | undefined {
    return this.#entries.get(core)?.value;
  }

  /** A listener is done with it; the last one closes it. */
  release(core: CoreBroker): void {
    const entry = this.#entries.get(core);
    if (entry === undefined) return;
    entry.users--;
    if (entry.users > 0) return;
    this.#entries.delete(core);
    this.#close(entry.value);
  }
}
