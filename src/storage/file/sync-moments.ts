/**
 * Moments for compaction's file-system calls beside producers, gaps for its disk work
 * (docs/performance.md, "Kafka compaction": "5 December, evening", "late evening" and "night").
 *
 * Moments: a swap's calls (a `.cleaned` fdatasync, the old indexes' removal, the renames, the new index
 * files) wait for the next fdatasync of an appender and run, synchronously, just before it starts; their
 * caller goes on once that fdatasync has returned, and its folder fsync then makes them durable on any
 * file system. The reason is a journaling file system's: on ext4 with a journal (data=ordered) and on
 * xfs, an appender's fdatasync of a file it made longer commits the journal (forces the log) anyway, and
 * a metadata change made just before it joins that commit instead of forcing one of its own that a
 * producer arriving meanwhile would wait behind. ext4 without a journal has no commit to join: there the
 * moment only places the calls ahead of a flush. With no fdatasync started within
 * `syncMomentWaitMsMax` and none running (no producer writing, so none to hold up), they run then.
 *
 * Gaps: work that occupies the disk (a freeing truncation) starts just after an appender's fdatasync
 * has returned with none left running. Where a truncation discards before it returns (ext4 without a
 * journal, mounted with `discard`) on a disk that serves one request at a time, a producer's write
 * queued behind the discard waits for it; started in the gap, it runs while the producer is answered.
 * Without `discard` (the usual mount) a truncation only changes metadata, which on a journal goes into
 * the next commit (and may hold up one that begins while it runs).
 *
 * Measured on and off (`FileStorageOptions.syncMoments`) on ext4 with a journal, xfs and ext4 without
 * one, at load 5-21 ("night"): no difference in producers' p99 during compaction on any of them, and on
 * journaled ext4 compaction ended sooner with them in most pairs; nothing hurt, so they stay on.
 */
import { assert } from '../../shared/assert.js';

/** How long a call may wait for an appender's fdatasync before it runs anyway. */
export const syncMomentWaitMsMax = 20;
/** Calls run in one moment at most, so a producer's fdatasync never waits behind a long queue. */
export const syncMomentCallsMax = 4;

/** Work started in a gap (`SyncMoments.gap`): it runs on its own and settles its caller. */
type GapWork = () => Promise<void>;

interface Waiting {
  readonly call: () => void;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

export class SyncMoments {
  readonly #waitMs: number;
  readonly #waiting: Waiting[] = [];
  readonly #gaps: Array<{ readonly work: GapWork; readonly settle: (work: Promise<void>) => void }> = [];
  #timer: NodeJS.Timeout | undefined;
  /** Appenders' fdatasyncs started and not yet returned: no call runs on the timer meanwhile. */
  #syncing = 0;

  constructor(waitMs = syncMomentWaitMsMax) {
    assert(waitMs >= 0, 'a moment is waited for a non-negative time');
    this.#waitMs = waitMs;
  }

  /** Calls waiting for a moment; for tests and diagnostics. */
  get waitingCount(): number {
    return this.#waiting.length + this.#gaps.length;
  }

  /**
   * Runs `call` (synchronous file-system calls) just before the next appender's fdatasync starts, or
   * after `syncMomentWaitMsMax` without one. Resolves once that fdatasync has returned (at once when
   * run on the timer); rejects with what `call` threw.
   */
  at(call: () => void): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ call, resolve, reject });
      this.#arm();
    });
  }

  /**
   * Starts `work` (asynchronous disk work) in the next gap: once an appender's fdatasync has returned
   * with none left running, or after `syncMomentWaitMsMax` with none running. Settles as `work` does.
   */
  gap(work: GapWork): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#gaps.push({ work, settle: (started) => started.then(resolve, reject) });
      this.#arm();
    });
  }

  /**
   * An appender's fdatasync is about to start: runs the calls waiting. Returns what to call once that
   * fdatasync has returned, whether or not it failed (the calls' own durability is their caller's
   * folder fsync).
   */
  beforeSync(): () => void {
    this.#syncing++;
    const ran = this.#waiting.length === 0 ? [] : this.#run();
    return () => {
      this.#syncing--;
      assert(this.#syncing >= 0, 'an fdatasync returns once');
      for (const waiting of ran) waiting.resolve();
      if (this.#syncing === 0) this.#startGaps();
    };
  }

  /**
   * No fdatasync started for `syncMomentWaitMsMax`. While one is still running, a call would block on
   * the commit it is waiting for, on the event loop: the calls wait for the next one instead.
   */
  readonly #late = (): void => {
    this.#timer = undefined;
    if (this.#syncing > 0) {
      this.#arm();
      return;
    }
    this.#startGaps();
    if (this.#waiting.length > 0) for (const waiting of this.#run()) waiting.resolve();
  };

  /** Starts the work waiting for a gap, one item per gap, so that a gap stays short. */
  #startGaps(): void {
    const next = this.#gaps.shift();
    if (next === undefined) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#arm();
    let started: Promise<void>;
    try {
      started = next.work();
    } catch (err) {
      started = Promise.reject(err as Error);
    }
    next.settle(started);
  }

  /** Runs up to `syncMomentCallsMax` calls; returns those that did not throw. */
  #run(): Waiting[] {
    const taken = this.#waiting.splice(0, syncMomentCallsMax);
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#arm();
    const ran: Waiting[] = [];
    for (const waiting of taken) {
      try {
        waiting.call();
        ran.push(waiting);
      } catch (err) {
        waiting.reject(err as Error);
      }
    }
    return ran;
  }

  #arm(): void {
    if (this.#waiting.length > 0 || this.#gaps.length > 0)
      this.#timer ??= setTimeout(this.#late, this.#waitMs);
  }
}
