/**
 * The bytes of Fetch answers one connection holds: read from storage and not yet taken by its socket.
 * A client that keeps asking while it drains its socket slowly (a slow reader, or one that pipelines
 * many fetches) makes its next fetch wait before reading, rather than the broker reading answer after
 * answer into memory it cannot send (`KafkaOptions.fetchBytesHeldMax`). Kafka itself reads nothing
 * more for a connection until its previous response has been sent (its socket server mutes the
 * channel meanwhile); this bound lets fetches on one connection overlap up to a size instead.
 */
import { assert } from '../../shared/assert.js';

interface Waiter {
  readonly bytes: number;
  readonly admit: () => void;
}

export class FetchBytesHeld {
  readonly #bytesMax: number;
  readonly #waiting: Waiter[] = [];
  #held = 0;

  constructor(bytesMax: number) {
    assert(bytesMax > 0, 'a fetch bound of at least one byte');
    this.#bytesMax = bytesMax;
  }

  /** Bytes held now (tests, metrics). */
  get held(): number {
    return this.#held;
  }

  /**
   * Resolves once `bytes` more may be held, in arrival order. A fetch wanting more than the bound
   * alone goes once nothing else is held, so every fetch makes progress.
   */
  reserve(bytes: number): Promise<void> {
    assert(bytes >= 0, 'a reservation of a size');
    return new Promise((admit) => {
      this.#waiting.push({ bytes, admit });
      this.#admit();
    });
  }

  /** The reservation turned out `by` bytes larger (a KIP-74 first batch over the limit) or smaller. */
  adjust(by: number): void {
    this.#held += by;
    assert(this.#held >= 0, 'fetch bytes released more than once');
    this.#admit();
  }

  release(bytes: number): void {
    this.adjust(-bytes);
  }

  #admit(): void {
    for (let next = this.#waiting[0]; next !== undefined; next = this.#waiting[0]) {
      if (this.#held > 0 && this.#held + next.bytes > this.#bytesMax) return;
      this.#waiting.shift();
      this.#held += next.bytes;
      next.admit();
    }
  }
}
