/**
 * Where segment files get their descriptors: one bounded cache per `FileStorage`, least recently used
 * out first, so a broker can hold far more logs than the process may open files, and an idle log holds
 * none. A file with I/O in flight is *pinned*: its descriptor is never closed under the call. A pin that
 * would take the cache past its capacity waits until another file is unpinned; a synchronous read never
 * waits and may go one over for as long as every other file is pinned.
 *
 * Descriptors are opened `r+`: reads and the appender's writes are positional (the appender writes at
 * the end it tracks), so a descriptor reopened after eviction serves both as before, and an fdatasync
 * through it covers every write made through an earlier one (on Linux, fsync works on the file).
 */
import fs from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { assert } from '../../shared/assert.js';
import { BrokerError, ErrorCode } from '../../shared/errors.js';
import { failedError } from './io.js';
import type { SyncMoments } from './sync-moments.js';

/** Something that hands out a descriptor for synchronous use: valid until the next cache call. */
export interface FdSource {
  fd(): number;
}

/** How an appender reaches its file: the descriptor stays open from `pin` until `unpin`. */
export interface PinnedFile {
  /** Calls `use` with an open descriptor, at once or once the cache has room; `failed` when it cannot. */
  pin(use: (fd: number) => void, failed: (err: Error) => void): void;
  unpin(): void;
}

/** A descriptor the caller owns outright (a test's file): pinning it costs nothing. */
export function heldFile(fd: number): PinnedFile {
  return { pin: (use) => use(fd), unpin: () => {} };
}

interface Waiter {
  readonly file: CachedFile;
  readonly use: (fd: number) => void;
  readonly failed: (err: Error) => void;
}

function retiredError(file: CachedFile): BrokerError {
  return new BrokerError(ErrorCode.invalidState, `File ${file.path} is closed`);
}

/** One segment file as the cache knows it; the descriptor comes and goes, the object stays. */
export class CachedFile implements FdSource, PinnedFile {
  readonly path: string;
  private readonly cache: HandleCache;
  /** -1 while closed. */
  descriptor = -1;
  pins = 0;
  retired = false;
  closeOffLoop = false;
  /** Links of the cache's list of open, unpinned files. */
  newer: CachedFile | undefined;
  older: CachedFile | undefined;

  constructor(cache: HandleCache, path: string) {
    this.cache = cache;
    this.path = path;
  }

  /** The descriptor for a synchronous read; do not keep it past the next call into the cache. */
  fd(): number {
    return this.cache.fdFor(this);
  }

  pin(use: (fd: number) => void, failed: (err: Error) => void): void {
    this.cache.pin(this, use, failed);
  }

  unpin(): void {
    this.cache.unpin(this);
  }

  /**
   * The file will not be used again: closed now, or when its last pin goes; waiting pins fail.
   * `offLoop` closes it off the event loop (a file already unlinked, whose close frees its blocks).
   */
  retire(offLoop = false): void {
    this.cache.retire(this, offLoop);
  }
}

const fstat = promisify(fs.fstat);
const ftruncate = promisify(fs.ftruncate);

/**
 * Bytes of a replaced segment freed per step (`HandleCache.free`). On a file system mounted with
 * `discard` and no journal, as this project's machine is, each truncation discards what it frees before
 * it returns, and the virtual disk serves nothing else meanwhile: 1 MiB took 0.7 ms (p50), 256 KiB
 * 0.2 ms, a producer's write queued behind either waits that long (docs/performance.md, "Kafka
 * compaction", "5 December, late evening"). Smaller steps keep each such wait inside the gap after a
 * producer's fdatasync.
 */
export const freeStepBytes = 256 * 1024;

export class HandleCache {
  readonly capacity: number;
  /** The pace at which replaced segments are freed, in bytes per second; 0: at once. */
  readonly freeBytesPerSecondMax: number;
  /** Descriptors open, pinned or not. */
  openCount = 0;
  /** Open, unpinned files: `newest` was used last, `oldest` is evicted first. A hit allocates nothing. */
  private newest: CachedFile | undefined;
  private oldest: CachedFile | undefined;
  private readonly waiters: Waiter[] = [];
  /** The off-loop closes under way, one after another (`close`). */
  private closingOffLoop: Promise<void> = Promise.resolve();

  /** Where each freeing step waits for a gap between producers' fdatasyncs; none: steps start at once. */
  private readonly moments: SyncMoments | undefined;

  constructor(capacity: number, freeBytesPerSecondMax = 0, moments?: SyncMoments) {
    this.capacity = capacity;
    this.freeBytesPerSecondMax = freeBytesPerSecondMax;
    this.moments = moments;
  }

  file(path: string): CachedFile {
    return new CachedFile(this, path);
  }

  fdFor(file: CachedFile): number {
    if (file.descriptor >= 0) {
      if (file.pins === 0) this.touch(file);
      return file.descriptor;
    }
    if (file.retired) throw retiredError(file);
    this.makeRoom();
    this.open(file);
    this.link(file);
    return file.descriptor;
  }

  pin(file: CachedFile, use: (fd: number) => void, failed: (err: Error) => void): void {
    if (file.retired) {
      failed(retiredError(file));
      return;
    }
    // Waiters are served in order: a newcomer needing a descriptor queues behind them.
    if (file.descriptor < 0 && (this.waiters.length > 0 || !this.makeRoom())) {
      this.waiters.push({ file, use, failed });
      return;
    }
    this.pinNow(file, use, failed);
  }

  unpin(file: CachedFile): void {
    assert(file.pins > 0, 'unpin of a file that is not pinned');
    file.pins--;
    if (file.pins > 0) return;
    if (file.retired) this.close(file, file.closeOffLoop);
    else this.link(file);
    while (this.openCount > this.capacity && this.oldest !== undefined) this.evict(this.oldest);
    this.serveWaiters();
  }

  retire(file: CachedFile, offLoop = false): void {
    if (file.retired) return;
    file.retired = true;
    file.closeOffLoop = offLoop;
    if (file.descriptor >= 0 && file.pins === 0) {
      this.unlink(file);
      this.close(file, offLoop);
    }
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const waiter = this.waiters[i]!;
      if (waiter.file !== file) continue;
      this.waiters.splice(i, 1);
      waiter.failed(retiredError(file));
    }
    this.serveWaiters();
  }

  /** Evicts unpinned files until one more fits; false when every open file is pinned. */
  private makeRoom(): boolean {
    while (this.openCount >= this.capacity && this.oldest !== undefined) this.evict(this.oldest);
    return this.openCount < this.capacity;
  }

  private serveWaiters(): void {
    while (this.waiters.length > 0) {
      const waiter = this.waiters[0]!;
      if (waiter.file.descriptor < 0 && !this.makeRoom()) return;
      this.waiters.shift();
      this.pinNow(waiter.file, waiter.use, waiter.failed);
    }
  }

  /** Pins `file`, opening it if needed; the caller has made room. */
  private pinNow(file: CachedFile, use: (fd: number) => void, failed: (err: Error) => void): void {
    if (file.descriptor < 0) {
      try {
        this.open(file);
      } catch (err) {
        failed(err as Error);
        return;
      }
    } else if (file.pins === 0) this.unlink(file);
    file.pins++;
    use(file.descriptor);
  }

  private open(file: CachedFile): void {
    try {
      file.descriptor = fs.openSync(file.path, 'r+');
    } catch (err) {
      throw failedError(`Opening ${file.path}`, err);
    }
    this.openCount++;
  }

  /**
   * Nothing is pending on a file closed here (writes are pinned), so a failing close loses nothing.
   * `offLoop`: closed off the event loop, counting as open until closed. Closing the last descriptor of
   * a file already unlinked (a segment compaction replaced) frees its blocks, milliseconds per segment
   * on a busy disk; such closes go one at a time, so a batch of them never takes every thread of the
   * pool that the appends' writes and fdatasyncs wait for.
   */
  private close(file: CachedFile, offLoop = false): void {
    const fd = file.descriptor;
    file.descriptor = -1;
    if (!offLoop) {
      this.openCount--;
      try {
        fs.closeSync(fd);
      } catch {}
      return;
    }
    this.closingOffLoop = this.closingOffLoop
      .then(() => this.free(fd))
      .then(
        () =>
          new Promise<void>((resolve) =>
            fs.close(fd, () => {
              this.openCount--;
              this.serveWaiters();
              resolve();
            }),
          ),
      );
  }

  /**
   * Frees an unlinked file's blocks in steps of `freeStepBytes` at `freeBytesPerSecondMax`, each step
   * started in a gap after producers' fdatasyncs, so that its close frees little: freeing a 16 MiB
   * segment at once held a producer's fdatasync for ~10 ms (docs/performance.md, "Kafka compaction").
   * A file still linked (or any error) is left to the close as it is.
   */
  private async free(fd: number): Promise<void> {
    const rate = this.freeBytesPerSecondMax;
    if (rate === 0) return;
    try {
      const stat = await fstat(fd);
      // Only a file no name reaches any more: truncating a linked one would lose data.
      if (stat.nlink !== 0) return;
      for (let size = stat.size; size > 0; ) {
        size = Math.max(0, size - freeStepBytes);
        const to = size;
        await (this.moments?.gap(() => ftruncate(fd, to)) ?? ftruncate(fd, to));
        await delay((freeStepBytes / rate) * 1000, undefined, { ref: false });
      }
    } catch {
      // The close frees whatever is left.
    }
  }

  private evict(file: CachedFile): void {
    this.unlink(file);
    this.close(file);
  }

  private touch(file: CachedFile): void {
    if (this.newest === file) return;
    this.unlink(file);
    this.link(file);
  }

  /** Makes `file` the newest of the unpinned list. */
  private link(file: CachedFile): void {
    file.older = this.newest;
    file.newer = undefined;
    if (this.newest !== undefined) this.newest.newer = file;
    this.newest = file;
    this.oldest ??= file;
  }

  private unlink(file: CachedFile): void {
    if (file.newer !== undefined) file.newer.older = file.older;
    else this.newest = file.older;
    if (file.older !== undefined) file.older.newer = file.newer;
    else this.oldest = file.newer;
    file.newer = undefined;
    file.older = undefined;
  }
}
