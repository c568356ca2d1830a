/**
 * Producers' pressure, told to the compaction thread: the broker's thread raises a flag in shared
 * memory while its producers' fdatasyncs come back slower than usual, and the compaction thread holds
 * its next read or write while the flag is up, for a bounded time, so a cleaner backs off when the
 * produce path shows strain instead of only keeping to its fixed byte rate (docs/compaction.md,
 * docs/performance.md "Kafka compaction", "6 December, morning").
 *
 * An fdatasync's time here is wall time from issuing it to its callback on the event loop, so it
 * grows both with the disk's queue and with the event loop's wait for a CPU: the two things the slow
 * produce probes were found waiting on.
 */

/** How long one slow fdatasync keeps the flag raised, in milliseconds. */
export const pressureRaisedMs = 20;
/** An fdatasync this many times the recent median raises the flag. */
export const pressureSlowFactor = 2;
/** Below this an fdatasync never raises the flag, however small the median (page-cache-only syncs). */
export const pressureSlowMsMin = 1;
/** fdatasync times the running median is taken over. */
const samplesMax = 63;
/** The median is recomputed after this many new samples, not on every one. */
const medianEverySamples = 16;

/** Flag words: [0] raised (0 or 1); [1] the raise's end, ms since the epoch, modulo 2^31. */
const raisedWord = 0;
const untilWord = 1;

/** The shared words of a `ProducePressure`, as sent to the compaction thread. */
export type PressureSignal = SharedArrayBuffer;

/** Storage's side: fed every fdatasync's time, raises the shared flag when one is slow. */
export class ProducePressure {
  readonly signal: PressureSignal = new SharedArrayBuffer(8);
  readonly #words = new Int32Array(this.signal);
  readonly #samples: number[] = [];
  #next = 0;
  #sinceMedian = 0;
  #medianMs = Number.POSITIVE_INFINITY;
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** An fdatasync took `ms`: raises the flag when that is well above the recent median. */
  observeSync(ms: number): void {
    this.#remember(ms);
    if (ms >= pressureSlowMsMin && ms > this.#medianMs * pressureSlowFactor) this.raise(pressureRaisedMs);
  }

  /** Raises the flag for `ms` from now (also for tests). */
  raise(ms: number): void {
    Atomics.store(this.#words, untilWord, (this.#now() + ms) % 2 ** 31);
    Atomics.store(this.#words, raisedWord, 1);
  }

  /** Lowers the flag at once and wakes a held thread. */
  lower(): void {
    Atomics.store(this.#words, raisedWord, 0);
    Atomics.notify(this.#words, raisedWord);
  }

  #remember(ms: number): void {
    this.#samples[this.#next] = ms;
    this.#next = (this.#next + 1) % samplesMax;
    this.#sinceMedian += 1;
    if (this.#sinceMedian < medianEverySamples) return;
    this.#sinceMedian = 0;
    const sorted = this.#samples.toSorted((a, b) => a - b);
    this.#medianMs = sorted[sorted.length >> 1] ?? Number.POSITIVE_INFINITY;
  }
}

/**
 * The compaction thread's side: blocks while the flag is raised, for at most `holdMsMax` in all, and
 * returns how long it held. The ceiling is what lets a partition written without pause still be
 * compacted: between two holds at least one chunk of I/O goes through.
 */
export function holdWhilePressed(
  signal: PressureSignal,
  holdMsMax: number,
  now: () => number = Date.now,
): number {
  const words = new Int32Array(signal);
  if (Atomics.load(words, raisedWord) === 0) return 0;
  const startMs = now();
  for (;;) {
    if (Atomics.load(words, raisedWord) === 0) break;
    const heldMs = now() - startMs;
    const raisedForMs = ((Atomics.load(words, untilWord) - (now() % 2 ** 31) + 2 ** 31) % 2 ** 31) | 0;
    // A raise from long ago (or one whose end wrapped past) reads as far ahead: the ceiling bounds it.
    const waitMs = Math.min(holdMsMax - heldMs, raisedForMs > 2 ** 30 ? 0 : raisedForMs);
    if (waitMs <= 0) break;
    Atomics.wait(words, raisedWord, 1, waitMs);
  }
  return now() - startMs;
}
