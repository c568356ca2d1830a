/**
 * The open-loop generator's pacing (bench/latency.ts, testing/latency-bench-peer.ts): message i goes out
 * once its due time has come, late ones at once, never before, and never waiting for answers.
 *
 * - `thread` (the default): a worker thread sleeps in `Atomics.wait` to each due time (a futex with a
 *   timeout in microseconds, where Node's timers round to the millisecond) and publishes how many
 *   messages are due in shared memory; the sending thread waits on that count with
 *   `Atomics.waitAsync`, whose wake-up is posted to its event loop at once, and sends what is due. The
 *   sends stay on the thread that owns the clients' sockets, so every byte is still the library's.
 * - `timer` (`LATENCY_PACER=timer`): a `setTimeout` to the next due time, the method before 6 December
 *   2026 16:00 UTC. Node rounds a timer to whole milliseconds and runs it only after the loop's poll,
 *   so a message left up to ~1 ms after its due time before any byte of it was written.
 *
 * Latency is measured from the due time either way, so a sending thread that is busy or not run when a
 * message is due still shows in the figures (no coordinated omission); the pacer only removes the
 * wait the timer added on top of that.
 */
import { Worker } from 'node:worker_threads';

export type PacerKind = 'thread' | 'timer';

export const pacerKind: PacerKind = process.env['LATENCY_PACER'] === 'timer' ? 'timer' : 'thread';

/**
 * The pacing thread wakes at most once in this long (then releases every message due by then): each
 * wake cost about 15 µs of CPU in each of the two threads on the 2-core VM of 6 December 2026, and a sleep of less is not kept
 * anyway (Linux's timer slack for a normal thread is 50 µs), so at high rates messages go out in
 * groups up to this late rather than the pacing thread taking a core of the two.
 */
export const wakeSpacingMs = wakeSpacingMsOf(process.env['LATENCY_PACER_SPACING_MS']);

/**
 * `LATENCY_PACER_SPACING_MS` read: 0.1 when unset. A value that is not a number is refused: the pacing
 * thread's sleep would be NaN, so it would never sleep and spin a core through the whole run.
 */
export function wakeSpacingMsOf(text: string | undefined): number {
  if (text === undefined || text.trim() === '') return 0.1;
  const ms = Number(text);
  if (!Number.isFinite(ms) || ms < 0)
    throw new Error(`LATENCY_PACER_SPACING_MS: not a number of ms ≥ 0: ${text}`);
  return ms;
}

/** Slots of the shared counters: messages released so far, and a stop flag for the worker. */
const releasedSlot = 0;
const stopSlot = 1;

/** `Atomics.waitAsync` (V8 has it since 8.7; this project's TypeScript lib predates its types). */
const waitAsync = (
  Atomics as unknown as {
    waitAsync(
      array: Int32Array,
      index: number,
      value: number,
    ): { async: false; value: string } | { async: true; value: Promise<string> };
  }
).waitAsync;

/**
 * Calls `send(i)` for every i in order, each once `now()` has reached `due[i]` (`due` ascending, in
 * the clock of `now`); resolves after the last one.
 */
export function pace(
  due: Float64Array,
  now: () => number,
  send: (index: number) => void,
  kind: PacerKind = pacerKind,
): Promise<void> {
  return kind === 'timer' ? paceByTimer(due, now, send) : paceByThread(due, now, send);
}

function paceByTimer(due: Float64Array, now: () => number, send: (index: number) => void): Promise<void> {
  let next = 0;
  return new Promise((resolve) => {
    const tick = () => {
      const at = now();
      while (next < due.length && due[next]! <= at) send(next++);
      if (next >= due.length) resolve();
      else setTimeout(tick, Math.max(0, due[next]! - now()));
    };
    tick();
  });
}

/** Milliseconds of the monotonic clock the worker reads too (process.hrtime), shared by every thread. */
const monotonicMs = () => Number(process.hrtime.bigint()) / 1e6;

/**
 * The offset from `now`'s clock to the monotonic one: the smallest of a few readings taken between two
 * monotonic ones, so that a preemption between the reads does not skew it.
 */
function offsetToMonotonic(now: () => number): number {
  let best = Number.POSITIVE_INFINITY;
  let offset = 0;
  for (let i = 0; i < 5; i++) {
    const before = monotonicMs();
    const t = now();
    const after = monotonicMs();
    if (after - before < best) {
      best = after - before;
      offset = (before + after) / 2 - t;
    }
  }
  return offset;
}

async function paceByThread(
  due: Float64Array,
  now: () => number,
  send: (index: number) => void,
): Promise<void> {
  if (due.length === 0) return;
  const counters = new Int32Array(new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT));
  const offset = offsetToMonotonic(now);
  // The worker wakes for each due time; it must never release one before `now()` has reached it, so
  // its copy is moved later by the offset's uncertainty rather than earlier.
  const slackMs = 0.005;
  const dueMonotonic = due.map((t) => t + offset + slackMs);
  const worker = new Worker(new URL('./pacer-worker.js', import.meta.url), {
    workerData: { counters, due: dueMonotonic, wakeSpacingMs },
  });
  // A worker that fails wakes the sending thread through the same counter, without a promise raced
  // against every wait (each race left a reaction on it: a leak of one per wake).
  let failure: Error | undefined;
  const fail = (err: Error) => {
    failure ??= err;
    Atomics.notify(counters, releasedSlot);
  };
  worker.once('error', fail);
  worker.once('exit', (code) => code !== 0 && fail(new Error(`pacer worker exited with ${code}`)));
  try {
    let next = 0;
    while (next < due.length) {
      const released = Atomics.load(counters, releasedSlot);
      const at = now();
      // The worker's count is the bound; the clock check keeps "never before due" this thread's own.
      while (next < released && due[next]! <= at) send(next++);
      if (next >= due.length) break;
      if (next < released) {
        // Released by the worker a hair early in this clock (the offset's error): a turn later it is due.
        await new Promise((resolve) => setImmediate(resolve));
        continue;
      }
      if (failure !== undefined) throw failure;
      const waiting = waitAsync(counters, releasedSlot, released);
      if (waiting.async) await waiting.value;
    }
  } finally {
    Atomics.store(counters, stopSlot, 1);
    Atomics.notify(counters, stopSlot);
    await worker.terminate();
  }
}
