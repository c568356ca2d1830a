/**
 * Making log creation and deletion durable off the event loop (docs/storage-format.md, "Creating and
 * deleting a log: the syncs"). `FolderSync` is group commit for one folder's fsync: every change made to the folder
 * before a request is covered by the fsync that request waits for; the requests of one event-loop turn
 * share one, and all those made while it runs share the next. `SyncSlots` bounds how many creations'
 * syncs wait in libuv's pool at once, so a flood of them cannot queue ahead of producers' fdatasyncs.
 */
import { syncNow } from './io.js';

/** Per-log creation syncs (the header's fdatasync, then the log folder's fsync) in the pool at once. */
export const creationSyncsInFlightMax = 2;

/** Resolves at the end of this event-loop turn. */
const turnEnd = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Group commit for the fsync of one folder. */
export class FolderSync {
  private readonly dir: string;
  /** The last fsync started or scheduled. */
  private last: Promise<void> = Promise.resolve();
  /** The fsync not yet started: every request made until it starts shares it. */
  private next: Promise<void> | undefined;
  /** Folder fsyncs started; tests and benches read it. */
  syncCount = 0;

  constructor(dir: string) {
    this.dir = dir;
  }

  /**
   * Resolves once an fsync of the folder started after this call has returned, so the entries changed
   * before it are durable; rejects when that fsync failed.
   */
  request(): Promise<void> {
    this.next ??= this.schedule();
    return this.next;
  }

  /** The next fsync: once the one before has returned, at the end of that turn, so the turn's changes join. */
  private schedule(): Promise<void> {
    const sync = this.last
      .catch(() => undefined)
      .then(turnEnd)
      .then(() => {
        // Requests from here on need a later fsync: this one may start before their change.
        this.next = undefined;
        this.syncCount++;
        return syncNow(this.dir);
      });
    this.last = sync;
    return sync;
  }
}

/** At most `max` pieces of work at once; the rest start in call order as slots free. */
export class SyncSlots {
  private readonly max: number;
  private running = 0;
  private readonly queued: (() => void)[] = [];

  constructor(max: number) {
    this.max = max;
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.running < this.max) this.running++;
    // A freed slot passes straight to the first waiter, so `running` stays counted for it.
    else await new Promise<void>((resolve) => this.queued.push(resolve));
    try {
      return await work();
    } finally {
      const nextWork = this.queued.shift();
      if (nextWork) nextWork();
      else this.running--;
    }
  }
}
