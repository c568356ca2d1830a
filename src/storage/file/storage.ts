/**
 * `FileStorage`: the `Storage` contract on disk (docs/storage-format.md). Logs live in
 * `<dir>/logs/<name>/`; a deleted log passes through `<dir>/trash/`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { BrokerError, ErrorCode } from '../../shared/errors.js';
import { checkLogName, Leases, resolveLimits } from '../common.js';
import type { FsyncPolicy, Log, Storage, StorageLimits } from '../types.js';
import { meteredIo, WriteMeter } from '../write-meter.js';
import { creationSyncsInFlightMax, FolderSync, SyncSlots } from './folder-sync.js';
import { checkFormat, IncarnationClock } from './format.js';
import { HandleCache } from './handles.js';
import { type FileIo, failedError, fsyncDir, realIo, syncNow } from './io.js';
import { FileLog, type FileLogOwner } from './log.js';
import { logHeaderFileName, readLogHeader, writeLogHeader } from './log-header.js';
import { ReadThread } from './read-thread.js';
import { Segment } from './segment.js';
import { SyncMoments } from './sync-moments.js';

/** Bounds on the `interval` policy's timer. */
export const syncIntervalMsMin = 1;
export const syncIntervalMsMax = 60_000;

export interface FileStorageOptions {
  readonly dir: string;
  readonly fsync: FsyncPolicy;
  readonly limits?: Partial<StorageLimits>;
  /** Replaces the write path's I/O calls; tests use it to inject disk failures. */
  readonly io?: FileIo;
  /** This Switchyard's version: written to `FORMAT`, and named when another format is refused. */
  readonly softwareVersion?: string;
  /**
   * Compaction's file-system calls wait for producers' fdatasyncs (`SyncMoments`; default true). False:
   * they run when compaction reaches them, for measuring what the moments change on a file system.
   */
  readonly syncMoments?: boolean;
}

function checkPolicy(policy: FsyncPolicy): void {
  if (policy.kind !== 'interval') return;
  const ms = policy.intervalMs;
  if (!Number.isInteger(ms) || ms < syncIntervalMsMin || ms > syncIntervalMsMax) {
    throw new BrokerError(ErrorCode.invalidArgument, `Fsync intervalMs ${ms} is out of range`);
  }
}

/** Checks the format and prepares the folders; a crash between a delete's move and removal leaves trash. */
function prepareDir(dir: string, softwareVersion: string): void {
  fs.mkdirSync(dir, { recursive: true });
  checkFormat(dir, softwareVersion);
  fs.mkdirSync(path.join(dir, 'logs'), { recursive: true });
  const trash = path.join(dir, 'trash');
  fs.rmSync(trash, { recursive: true, force: true });
  fs.mkdirSync(trash);
  fsyncDir(dir);
}

/** Keeps `work` in `set` until it settles (for `close` to wait for); returns it. */
function heldIn(set: Set<Promise<void>>, work: Promise<void>): Promise<void> {
  set.add(work);
  const forget = () => set.delete(work);
  work.then(forget, forget);
  return work;
}

export class FileStorage implements Storage {
  private readonly logsDir: string;
  private readonly trashDir: string;
  private readonly policy: FsyncPolicy;
  private readonly limits: StorageLimits;
  private readonly io: FileIo;
  private readonly files: HandleCache;
  /** Where compaction's metadata calls wait for an appender's fdatasync (`SyncMoments`); none: at once. */
  private readonly moments: SyncMoments | undefined;
  /** Large reads' file reads and CRC checks (`Log.readOffThread`); the worker starts with the first. */
  private readonly reads: ReadThread;
  private readonly clock: IncarnationClock;
  private readonly leases = new Leases<FileLog>();
  /** Removals of trashed folders still running; `close` waits for them. */
  private readonly removals = new Set<Promise<void>>();
  /** Syncs of log creations still running; `close` waits for them. */
  private readonly creations = new Set<Promise<void>>();
  /**
   * A creation's syncs by log name, until they returned; a failed one stays: a log closed and reopened
   * meanwhile (or after it failed) must not confirm an append before its folder is durable.
   */
  private readonly creating = new Map<string, Promise<void>>();
  /** Group commit of `logs/`'s fsync: for the entries of created and trashed log folders. */
  private readonly logsDirSync: FolderSync;
  private readonly trashDirSync: FolderSync;
  /** Bounds the creations at work in libuv's pool. */
  private readonly creationSlots = new SyncSlots(creationSyncsInFlightMax);
  /** Names trashed folders whose header could not be read. */
  private unreadableCount = 0;
  private readonly timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly owner: FileLogOwner = {
    release: (log) => this.leases.release(log.name, log),
    moveToTrash: (log) => this.moveToTrash(log.name, String(log.incarnation)),
    removeTrashed: (dir, quiet) => this.removeTrashed(dir, quiet),
  };

  /** Bytes handed to the disk since open (the disk alarm counts from its last reading with it). */
  readonly writes: WriteMeter;

  private constructor(
    options: FileStorageOptions,
    clock: IncarnationClock,
    metered: { io: FileIo; writes: WriteMeter },
  ) {
    this.logsDir = path.join(options.dir, 'logs');
    this.trashDir = path.join(options.dir, 'trash');
    this.logsDirSync = new FolderSync(this.logsDir);
    this.trashDirSync = new FolderSync(this.trashDir);
    this.policy = options.fsync;
    this.limits = resolveLimits(options.limits);
    this.io = metered.io;
    this.writes = metered.writes;
    this.moments = options.syncMoments === false ? undefined : new SyncMoments();
    this.files = new HandleCache(
      this.limits.openFilesMax,
      this.limits.compactionIoBytesPerSecondMax,
      this.moments,
    );
    this.reads = new ReadThread();
    this.clock = clock;
    if (options.fsync.kind === 'interval') {
      this.timer = setInterval(() => this.syncDirty(), options.fsync.intervalMs);
      this.timer.unref();
    }
  }

  static async open(options: FileStorageOptions): Promise<FileStorage> {
    checkPolicy(options.fsync);
    resolveLimits(options.limits);
    try {
      prepareDir(options.dir, options.softwareVersion ?? '(version unknown)');
      const dataDirSync = new FolderSync(options.dir);
      const clock = new IncarnationClock(options.dir, () => dataDirSync.request());
      const writes = new WriteMeter();
      const io = meteredIo(options.io ?? realIo, writes);
      return new FileStorage(options, clock, { io, writes });
    } catch (err) {
      if (err instanceof BrokerError) throw err;
      throw failedError(`Opening storage in ${options.dir}`, err);
    }
  }

  /** Fsyncs of `logs/` started since open, each covering every creation and deletion of its moment. */
  get logsFolderSyncCount(): number {
    return this.logsDirSync.syncCount;
  }

  /** Names whose creation's syncs have not returned (or failed); for tests and diagnostics. */
  get creatingCount(): number {
    return this.creating.size;
  }

  /** Descriptors the handle cache holds open; for tests and diagnostics. */
  get openFileCount(): number {
    return this.files.openCount;
  }

  /**
   * A new log is handed out at once; its folder, header and first segment's entry are made durable off
   * the event loop (the `logs/` folder's fsync shared by every creation made meanwhile), and its first
   * write waits for that, so nothing appended is confirmed before the log would survive a crash.
   */
  async openLog(name: string): Promise<Log> {
    this.checkOpen();
    checkLogName(name);
    return this.leases.take(name, () => this.openFileLog(name));
  }

  async removeLog(name: string): Promise<void> {
    this.checkOpen();
    checkLogName(name);
    const removal = await this.leases.whenFree(name, () => this.trashIfPresent(name));
    await removal;
  }

  async listLogs(): Promise<string[]> {
    this.checkOpen();
    const entries = fs.readdirSync(this.logsDir, { withFileTypes: true });
    return entries
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    const results = await Promise.allSettled(this.leases.holders().map((log) => log.close()));
    await Promise.allSettled([...this.removals, ...this.creations]);
    await this.reads.close();
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** Opens the log under `name`, creating a new incarnation when there is none (or only a torn one). */
  private openFileLog(name: string): FileLog {
    const dir = path.join(this.logsDir, name);
    const { limits, policy, io, files, reads, moments } = this;
    const base = { limits, policy, io, files, reads, moments };
    try {
      const header = readLogHeader(dir);
      if (header !== undefined) {
        this.clock.observe(header.incarnation);
        const creation = this.creationOf(name, dir);
        return FileLog.open(name, dir, header.incarnation, base, this.owner, creation);
      }
      // A folder without a valid header was cut short while being created: nothing in it was acknowledged.
      this.trashIfPresent(name);
      const { incarnation, reserved } = this.clock.next();
      // The files on the event loop: the name is taken at the call, and every creation of this turn is in
      // `logs/` before its shared fsync starts.
      fs.mkdirSync(dir);
      // The header last: a creation cut short by a failure leaves no valid one, so the next open takes
      // the folder for torn and creates it afresh, syncs and all, instead of recovering it unsynced.
      Segment.createFreshFile(dir, 0);
      writeLogHeader(dir, { incarnation, createdAtMs: Date.now() });
      const done = this.makeDurable(name, dir, reserved);
      return FileLog.open(name, dir, incarnation, base, this.owner, { done, fresh: true });
    } catch (err) {
      if (err instanceof BrokerError) throw err;
      throw failedError(`Opening log ${name}`, err);
    }
  }

  /**
   * The syncs that make a just-created log folder durable, off the event loop: its header's fdatasync
   * and then its folder's fsync (the header's and the first segment's entries), in one of
   * `creationSyncsInFlightMax` slots, and beside them the `logs/` fsync shared with every other
   * creation and deletion of the moment, and `reserved`, the incarnation clock's reservation covering
   * the log's number. The first segment's header is made durable by its first append's fdatasync.
   */
  private makeDurable(name: string, dir: string, reserved: Promise<void>): Promise<void> {
    const own = this.creationSlots.run(async () => {
      await syncNow(path.join(dir, logHeaderFileName), true);
      await syncNow(dir);
    });
    const created = Promise.all([own, this.logsDirSync.request(), reserved]).then(() => undefined);
    this.creating.set(name, created);
    const forget = () => {
      if (this.creating.get(name) === created) this.creating.delete(name);
    };
    created.then(forget, () => undefined);
    return heldIn(this.creations, created);
  }

  /**
   * For an existing folder reopened: the syncs of its creation when they have not all returned. Still
   * running, the reopened log's first write waits for them; failed, they run again (nothing of the
   * folder's files is lost, only their durability was not confirmed).
   */
  private creationOf(name: string, dir: string): { done: Promise<void>; fresh: false } | undefined {
    const pending = this.creating.get(name);
    if (pending === undefined) return undefined;
    // A failed reservation may be why: a number issued now is reserved past this log's too.
    const done = pending.catch(() => this.makeDurable(name, dir, this.clock.next().reserved));
    return { done, fresh: false };
  }

  /** Moves `logs/<name>` to the trash at once and removes it in the background; undefined when absent. */
  private trashIfPresent(name: string): Promise<void> | undefined {
    if (!fs.existsSync(path.join(this.logsDir, name))) return undefined;
    let tag: string;
    try {
      const incarnation = readLogHeader(path.join(this.logsDir, name))?.incarnation;
      if (incarnation !== undefined) this.clock.observe(incarnation);
      tag = String(incarnation ?? this.unreadableTag());
    } catch {
      tag = this.unreadableTag();
    }
    return this.removeTrashed(this.moveToTrash(name, tag));
  }

  private unreadableTag(): string {
    this.unreadableCount++;
    return `unreadable-${this.unreadableCount}`;
  }

  /** Synchronous, so the name is free when it returns; open descriptors stay valid on the moved files. */
  private moveToTrash(name: string, tag: string): string {
    const target = path.join(this.trashDir, `${name}.${tag}`);
    fs.renameSync(path.join(this.logsDir, name), target);
    // Its creation's syncs no longer concern the name: a new folder under it has its own.
    this.creating.delete(name);
    return target;
  }

  /**
   * Once `quiet` settles (no write left in flight on the files), makes the move durable and removes the
   * folder; a crash meanwhile leaves it to the next open. Both folder fsyncs run off the event loop,
   * each shared with the creations and deletions of the moment (`FolderSync`).
   */
  private removeTrashed(dir: string, quiet?: Promise<unknown>): Promise<void> {
    const removal = (async () => {
      await quiet;
      try {
        await this.logsDirSync.request();
        await fs.promises.rm(dir, { recursive: true, force: true });
        await this.trashDirSync.request();
      } catch (err) {
        throw failedError(`Removing ${dir}`, err);
      }
    })();
    return heldIn(this.removals, removal);
  }

  private syncDirty(): void {
    for (const log of this.leases.holders()) log.syncIfDirty();
  }

  private checkOpen(): void {
    if (this.closed) throw new BrokerError(ErrorCode.invalidState, 'Storage is closed');
  }
}
