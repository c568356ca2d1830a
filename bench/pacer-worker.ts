/**
 * The worker thread of bench/pacer.ts: sleeps in `Atomics.wait` until each message's due time (the
 * monotonic clock, ms) and publishes how many are due, waking the sending thread. It wakes at most
 * once per `wakeSpacingMs` and then releases everything due by then, so at high rates a message may
 * leave up to that much after its due time, never before. It never sends anything itself, and ends
 * when the last is released or the stop flag is set.
 */
import { workerData } from 'node:worker_threads';

const { counters, due, wakeSpacingMs } = workerData as {
  counters: Int32Array;
  due: Float64Array;
  wakeSpacingMs: number;
};
const releasedSlot = 0;
const stopSlot = 1;

const monotonicMs = () => Number(process.hrtime.bigint()) / 1e6;

let next = 0;
let wokeMs = Number.NEGATIVE_INFINITY;
while (next < due.length && Atomics.load(counters, stopSlot) === 0) {
  const waitMs = Math.max(due[next]!, wokeMs + wakeSpacingMs) - monotonicMs();
  // Sleeps on the stop flag, so a stop wakes it at once.
  if (waitMs > 0) Atomics.wait(counters, stopSlot, 0, waitMs);
  wokeMs = monotonicMs();
  while (next < due.length && due[next]! <= wokeMs) next++;
  if (next > Atomics.load(counters, releasedSlot)) {
    Atomics.store(counters, releasedSlot, next);
    Atomics.notify(counters, releasedSlot);
  }
}
