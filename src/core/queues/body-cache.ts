/**
 * One broker's budget for bodies of ready messages of durable queues (`bodyCacheBytesMax`). A durable
 * queue keeps a persistent message's body in memory only while the budget has room; beyond it the
 * queue keeps a few numbers per message and reads the body back from its log on delivery. One budget
 * for all queues of a broker, because memory is one resource however many queues share it — and one
 * per broker, so two brokers in one process never spend each other's.
 */
import { assert } from '../../shared/assert.js';

/**
 * What a kept body costs beyond its bytes: the message, properties and buffer objects around it.
 * Charged so the budget tracks memory rather than payload, which matters for small messages.
 */
export const cachedMessageOverheadBytes = 256;

export class BodyCache {
  readonly bytesMax: number;
  #usedBytes = 0;

  constructor(bytesMax: number) {
    assert(Number.isSafeInteger(bytesMax) && bytesMax >= 0, 'body cache bound must be a whole number');
    this.bytesMax = bytesMax;
  }

  get usedBytes(): number {
    return this.#usedBytes;
  }

  /** Room left, in body bytes plus their overhead: what read-ahead may still attach. */
  get freeBytes(): number {
    return Math.max(0, this.bytesMax - this.#usedBytes);
  }

  /** Reserves room for a body of `bodyBytes` when it fits; release it when the body goes. */
  reserve(bodyBytes: number): boolean {
    const bytes = bodyBytes + cachedMessageOverheadBytes;
    if (this.#usedBytes + bytes > this.bytesMax) return false;
    this.#usedBytes += bytes;
    return true;
  }

  release(bodyBytes: number): void {
    this.#usedBytes -= bodyBytes + cachedMessageOverheadBytes;
    assert(this.#usedBytes >= 0, 'body cache released more than it reserved');
  }
}
