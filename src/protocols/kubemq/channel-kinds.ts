/**
 * Queues and streams share one namespace in core: a queue channel is the durable core queue of that
 * name, an events-store channel the one-partition core stream of that name. A KubeMQ call that names
 * a channel the other kind already holds is refused, naming the conflict. Channels seen are
 * remembered (boundedly) so a send does not ask core each time; `forget` drops one that vanished.
 */
import type { CoreClient } from '../../core/api.js';
import { fail } from './errors.js';

/** Channels remembered per kind; past it the memory starts afresh (a cache, not a registry). */
const knownMax = 100_000;

export class Channels {
  readonly #core: CoreClient;
  readonly #queues = new Set<string>();
  readonly #streams = new Set<string>();

  constructor(core: CoreClient) {
    this.#core = core;
  }

  /**
   * `name` as a queue channel: declared durable when absent; refused when it is a stream. True when
   * it was declared here (its definition is then being written in the background).
   */
  queue(name: string): boolean {
    if (this.#queues.has(name)) return false;
    if (this.#core.stream(name) !== undefined) {
      fail(`channel '${name}' is an events store (a stream); it cannot be used as a queue`);
    }
    const absent = this.#core.peekQueue(name) === undefined;
    if (absent) this.#core.declareQueue(name, { durable: true });
    remember(this.#queues, name);
    return absent;
  }

  /** `name` as an events-store channel: a one-partition stream, created when absent; refused when it is a queue. */
  async stream(name: string): Promise<void> {
    if (this.#streams.has(name)) return;
    const found = this.#core.stream(name);
    if (found === undefined) {
      if (this.#core.peekQueue(name) !== undefined) {
        fail(`channel '${name}' is a queue; it cannot be used as an events store`);
      }
      await this.#core.createStream(name, { partitions: 1 });
    } else if (found.partitions !== 1) {
      fail(`channel '${name}' is a stream of ${found.partitions} partitions; an events store has one`);
    }
    remember(this.#streams, name);
  }

  forget(name: string): void {
    this.#queues.delete(name);
    this.#streams.delete(name);
  }
}

function remember(set: Set<string>, name: string): void {
  if (set.size >= knownMax) set.clear();
  set.add(name);
}
