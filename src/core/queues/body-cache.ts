/**
 * The process-wide budget for bodies of ready messages of durable queues (`bodyCacheBytesMax`).
 * A durable queue keeps a persistent message's body in memory only while the budget has room; beyond
 * it the queue keeps a few numbers per message and reads the body back from its log on delivery.
 * One budget for all queues, because memory is one resource however many queues share it.
 */
import { assert } from '../../shared/assert.js';

let usedBytes = 0;

/**
 * What a kept body costs beyond its bytes: the message, properties and buffer objects around it.
 * Charged so the budget tracks memory rather than payload, which matters for small messages.
 */
export const cachedMessageOverheadBytes = 256;

/** Reserves room for a body of `bodyBytes` when it fits under `maxBytes`; release it when the body goes. */
export function reserveBody(bodyBytes: number, maxBytes: number): boolean {
  const bytes = bodyBytes + cachedMessageOverheadBytes;
  if (usedBytes + bytes > maxBytes) return false;
  usedBytes += bytes;
  return true;
}

export function releaseBody(bodyBytes: number): void {
  usedBytes -= bodyBytes + cachedMessageOverheadBytes;
  assert(usedBytes >= 0, 'body cache released more than it reserved');
}

export function bodyCacheBytesUsed(): number {
  return usedBytes;
}
