/**
 * A byte rate for one thread's file I/O, as Kafka's `log.cleaner.io.max.bytes.per.second`: a thread
 * that reads and writes synchronously (the compaction thread) reports each call's bytes and sleeps,
 * synchronously, as long as it is ahead of the rate. Its I/O then arrives a chunk at a time, spread
 * evenly, instead of in bursts that the produce path's fdatasyncs and the event loop's share of the
 * cores meet all at once (docs/performance.md, "Kafka compaction").
 */

/** Sleeps this thread for `ms` (a worker's; on the main thread it would hold the event loop). */
export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Credit an idle spell may earn, in milliseconds at the rate: after a pause, at most this much I/O
 * goes unpaced, so a run that starts after a quiet minute does not begin with a burst.
 */
const creditMsMax = 20;

export class IoThrottle {
  /** 0: no limit. */
  #bytesPerSecondMax: number;
  readonly #now: () => number;
  readonly #sleep: (ms: number) => void;
  /** When the rate's account was opened, and the bytes spent since. */
  #sinceMs = 0;
  #spentBytes = 0;

  constructor(bytesPerSecondMax: number, now = () => performance.now(), sleep = sleepSync) {
    this.#bytesPerSecondMax = bytesPerSecondMax;
    this.#now = now;
    this.#sleep = sleep;
    this.#sinceMs = now();
  }

  get bytesPerSecondMax(): number {
    return this.#bytesPerSecondMax;
  }

  /** A new rate, from now on. */
  set bytesPerSecondMax(rate: number) {
    if (rate === this.#bytesPerSecondMax) return;
    this.#bytesPerSecondMax = rate;
    this.#sinceMs = this.#now();
    this.#spentBytes = 0;
  }

  /** Accounts for `bytes` just read or written; sleeps until the rate allows them. */
  spend(bytes: number): void {
    const rate = this.#bytesPerSecondMax;
    if (rate === 0) return;
    const now = this.#now();
    // An idle spell earns at most `creditMsMax` of I/O ahead: the account restarts from just before now.
    if (now - (this.#sinceMs + (this.#spentBytes / rate) * 1000) > creditMsMax) {
      this.#sinceMs = now - creditMsMax;
      this.#spentBytes = 0;
    }
    this.#spentBytes += bytes;
    const dueMs = this.#sinceMs + (this.#spentBytes / rate) * 1000;
    if (dueMs > now) this.#sleep(dueMs - now);
  }
}

/** No limit: what reads and rewrites use when no rate is given. */
export const unthrottled = new IoThrottle(0);
