/**
 * Writes to one key that may each wait a different time before they are made (a group offset waits
 * for the records below it to be durable, `Partition.durableTo`): the one issued last must be the one
 * that stands. A write whose wait ends after a later-issued one was made is dropped, not made over it.
 */
interface KeyOrder {
  issued: number;
  made: number;
  pending: number;
}

export class LatestWins {
  /** Only keys with a write in progress: a key's entry goes with its last write. */
  readonly #keys = new Map<string, KeyOrder>();

  /** Runs `make` once `wait` resolves, unless a write to `key` issued after this one was made first. */
  async write(key: string, wait: Promise<void>, make: () => Promise<void>): Promise<void> {
    const order = this.#keys.get(key) ?? { issued: 0, made: 0, pending: 0 };
    this.#keys.set(key, order);
    const turn = ++order.issued;
    order.pending++;
    try {
      await wait;
      if (turn < order.made) return;
      order.made = turn;
      await make();
    } finally {
      if (--order.pending === 0) this.#keys.delete(key);
    }
  }
}
