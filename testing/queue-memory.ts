/** Shared by the bounded-memory test and the RSS script: fill one durable queue on file storage. */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { ClassicQueue } from '../src/core/queues/index.js';
import type { Message } from '../src/core/types.js';

/** A full collection, so heap numbers measure what is live rather than what the GC has not reached yet. */
export function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
}

/** Awaiting every this many appends keeps the storage write queue, not the queue under test, from growing. */
const awaitEvery = 2000;

export async function fillQueue(queue: ClassicQueue, count: number, bodyBytes: number): Promise<void> {
  const body = new Uint8Array(bodyBytes).fill(120);
  let pending: Array<Promise<void>> = [];
  for (let i = 0; i < count; i++) {
    const message: Message = {
      exchange: '',
      routingKey: 'rss',
      body: body.slice(),
      properties: { persistent: true, messageId: String(i) },
    };
    pending.push(queue.enqueue(message).durable);
    if (pending.length >= awaitEvery) {
      await Promise.all(pending);
      pending = [];
    }
  }
  await Promise.all(pending);
}
