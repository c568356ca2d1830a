/**
 * Reads done ahead on storage's read thread (docs/storage-format.md, "Reads off the event loop"). Once
 * a large `Log.readOffThread` has answered (on the thread, or inline for records known good), the range
 * that continues it is read at once (and CRC-checked, where not known good) into shared memory storage
 * holds, while the caller sends what it got; the next call asking for that offset takes the checked
 * entries instead of waiting for a read of its own. One reader of a log thus keeps the read thread and
 * the sending thread busy at the same time, where otherwise each waits for the other
 * (docs/performance.md, "Kafka").
 *
 * What bounds it: one storage's kept memory (`StorageLimits.readAheadBytesMax`, reads in flight, kept
 * and lent to callers together; 0 turns reading ahead off; free memory kept `aheadMemoryKeptMs`),
 * `aheadReadsPerLogMax` reads per log, and `aheadKeptMs` before an unclaimed read is dropped. A log
 * drops its reads ahead whenever the bytes they came from may have changed or left it (a segment
 * swapped by compaction, segments dropped by retention or truncation, the log closed), so a read ahead
 * is only ever served when a read issued at the claim would have read the same bytes.
 */
import type { FarReadReply } from './read-worker.js';

/** Reads ahead one log keeps unclaimed: one per reader going through it, for two readers. */
export const aheadReadsPerLogMax = 2;
/** An unclaimed read ahead is dropped after this long, and so is free memory nobody took. */
export const aheadKeptMs = 1000;
/**
 * A log whose read ahead went unclaimed (pushed out by a third reader's, or kept too long while nothing
 * of the log was taken: its readers fetch more slowly than once a second) reads ahead again only after
 * this long, so such readers cost the read thread at most one wasted read per pause.
 */
export const aheadPausedMs = 10_000;
/**
 * Free memory nobody took for this long goes. Longer than an unclaimed read is kept: fresh memory costs
 * its page faults again (10 MB fresh took 110–180 ms here, reused 1 ms), and a consumer pausing between
 * polls for more than a second would otherwise pay them on every poll.
 */
export const aheadMemoryKeptMs = 30_000;
/** Kept memory comes in multiples of this, so reads of about the same size share it. */
const grainBytes = 1024 * 1024;

/** One storage's memory for reads ahead: shared buffers reused, bounded in bytes. */
export class AheadMemory {
  /** `StorageLimits.readAheadBytesMax`: free and in use together. */
  readonly #bytesMax: number;
  readonly #free: SharedArrayBuffer[] = [];
  /** Bytes allocated: free, read into, kept or lent. */
  #bytes = 0;
  #takenSinceCheck = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(bytesMax: number) {
    this.#bytesMax = bytesMax;
  }

  /** A buffer of at least `bytes`, or none when that would pass the limit. */
  take(bytes: number): SharedArrayBuffer | undefined {
    this.#takenSinceCheck = true;
    let best = -1;
    for (let i = 0; i < this.#free.length; i++) {
      const size = this.#free[i]!.byteLength;
      if (size >= bytes && (best < 0 || size < this.#free[best]!.byteLength)) best = i;
    }
    if (best >= 0) return this.#free.splice(best, 1)[0];
    const size = Math.ceil(bytes / grainBytes) * grainBytes;
    // Free buffers too small for this one give way to it.
    while (this.#bytes + size > this.#bytesMax && this.#free.length > 0)
      this.#bytes -= this.#free.pop()!.byteLength;
    if (this.#bytes + size > this.#bytesMax) return undefined;
    this.#bytes += size;
    return new SharedArrayBuffer(size);
  }

  /** Gives back a buffer from `take`; nothing may use it afterwards. */
  give(buf: SharedArrayBuffer): void {
    this.#free.push(buf);
    this.#armIdleDrop();
  }

  /** No memory may be held: reading ahead is off. */
  get off(): boolean {
    return this.#bytesMax === 0;
  }

  /** Bytes allocated now (tests). */
  get bytes(): number {
    return this.#bytes;
  }

  /** Free memory nobody took for `aheadMemoryKeptMs` goes, so a storage whose readers stopped holds none. */
  #armIdleDrop(): void {
    if (this.#timer !== undefined) return;
    this.#takenSinceCheck = false;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#takenSinceCheck) return this.#armIdleDrop();
      for (const buf of this.#free.splice(0)) this.#bytes -= buf.byteLength;
    }, aheadMemoryKeptMs);
    this.#timer.unref();
  }
}

/** A read issued ahead: where it starts, and its answer once the thread has given it. */
export interface AheadRead {
  /** The offset a call must ask for to take it. */
  readonly from: number;
  /** The segment read, for error messages. */
  readonly segmentBase: number;
  /** The thread's answer, or why there is none; never rejects. */
  readonly settled: Promise<FarReadReply | Error>;
  readonly memory: SharedArrayBuffer;
  /**
   * The payload bytes its reader asks for in a whole call. A read ahead sized to the rest of a call
   * cut by a segment's end is taken by that call's continuation, which then reads ahead this much again.
   */
  readonly readerBytes: number;
  readonly issuedMs: number;
}

/** One log's reads ahead, at most `aheadReadsPerLogMax`, each taken once or dropped. */
export class AheadReads {
  readonly #memory: AheadMemory;
  #reads: AheadRead[] = [];
  /** Every read issued and not yet answered, kept, taken or dropped: a close waits for them. */
  readonly #unanswered = new Set<Promise<unknown>>();
  /** After a read ahead went unclaimed, none is issued until then (`aheadPausedMs`). */
  #pausedUntilMs = 0;
  /** When a read ahead was last taken: one dropped as stale after a seek pauses nothing then. */
  #claimedMs = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(memory: AheadMemory) {
    this.#memory = memory;
  }

  /** Whether a read ahead may be issued now. */
  get paused(): boolean {
    return Date.now() < this.#pausedUntilMs;
  }

  /** Takes the read ahead that starts at `from`; its memory is then the caller's to give back. */
  claim(from: number): AheadRead | undefined {
    const at = this.#reads.findIndex((read) => read.from === from);
    if (at < 0) return undefined;
    this.#claimedMs = Date.now();
    return this.#reads.splice(at, 1)[0];
  }

  /** Keeps `read`, pushing out the oldest when full. */
  add(read: AheadRead): void {
    if (this.#reads.length >= aheadReadsPerLogMax) {
      const oldest = this.#reads.shift()!;
      this.release(oldest);
      // Readers pushing out each other's reads before any is taken; one left behind by a skip is not.
      if (oldest.issuedMs >= this.#claimedMs) this.#pausedUntilMs = Date.now() + aheadPausedMs;
    }
    this.#reads.push(read);
    this.#unanswered.add(read.settled);
    void read.settled.then(() => this.#unanswered.delete(read.settled));
    this.#armExpiry();
  }

  /**
   * Drops every read ahead: the bytes they came from may have changed or left the log. Resolves once
   * the thread has answered every read this log issued, so that no descriptor stays pinned for them.
   */
  dropAll(): Promise<void> {
    for (const read of this.#reads.splice(0)) this.release(read);
    return Promise.all([...this.#unanswered]).then(() => undefined);
  }

  /** Gives `read`'s memory back once the thread no longer writes into it. */
  release(read: AheadRead): void {
    void read.settled.then(() => this.#memory.give(read.memory));
  }

  #armExpiry(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      const now = Date.now();
      const stale = this.#reads.filter((read) => now - read.issuedMs >= aheadKeptMs);
      this.#reads = this.#reads.filter((read) => now - read.issuedMs < aheadKeptMs);
      for (const read of stale) this.release(read);
      if (stale.some((read) => read.issuedMs >= this.#claimedMs)) this.#pausedUntilMs = now + aheadPausedMs;
      if (this.#reads.length > 0) this.#armExpiry();
    }, aheadKeptMs);
    this.#timer.unref();
  }
}
