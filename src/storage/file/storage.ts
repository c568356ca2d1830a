/**
 * `FileStorage`: the `Storage` contract on disk (docs/storage-format.md). Logs live in
 * `<dir>/logs/<name>/`, the meta store in `<dir>/meta/`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { BrokerError, ErrorCode } from '../../shared/errors.js';
import { checkLogName, resolveLimits } from '../common.js';
import type { FsyncPolicy, Log, Storage, StorageLimits } from '../types.js';
import { type FileIo, failedError, fsyncDir, realIo } from './io.js';
import { FileLog } from './log.js';
import { FileMetaStore } from './meta.js';

/** Bounds on the `interval` policy's timer. */
export const syncIntervalMsMin = 1;
export const syncIntervalMsMax = 60_000;

export interface FileStorageOptions {
  readonly dir: string;
  readonly fsync: FsyncPolicy;
  readonly limits?: Partial<StorageLimits>;
  /** Replaces the write path's I/O calls; tests use it to inject disk failures. */
  readonly io?: FileIo;
}

function checkPolicy(policy: FsyncPolicy): void {
  if (policy.kind !== 'interval') return;
  const ms = policy.intervalMs;
  if (!Number.isInteger(ms) || ms < syncIntervalMsMin || ms > syncIntervalMsMax) {
    throw new BrokerError(ErrorCode.invalidArgument, `Fsync intervalMs ${ms} is out of range`);
  }
}

export class FileStorage implements Storage {
  readonly meta: FileMetaStore;
  private readonly logsDir: string;
  private readonly policy: FsyncPolicy;
  private readonly limits: StorageLimits;
  private readonly io: FileIo;
  private readonly open = new Map<string, FileLog>();
  private readonly timer: NodeJS.Timeout | undefined;
  private closed = false;

  private constructor(options: FileStorageOptions, meta: FileMetaStore) {
    this.logsDir = path.join(options.dir, 'logs');
    this.policy = options.fsync;
    this.limits = resolveLimits(options.limits);
    this.io = options.io ?? realIo;
    this.meta = meta;
    if (options.fsync.kind === 'interval') {
      this.timer = setInterval(() => this.syncDirty(), options.fsync.intervalMs);
      this.timer.unref();
    }
  }

  static async open(options: FileStorageOptions): Promise<FileStorage> {
    checkPolicy(options.fsync);
    resolveLimits(options.limits);
    try {
      fs.mkdirSync(path.join(options.dir, 'logs'), { recursive: true });
      const meta = FileMetaStore.open(path.join(options.dir, 'meta'), options.fsync, options.io ?? realIo);
      return new FileStorage(options, meta);
    } catch (err) {
      if (err instanceof BrokerError) throw err;
      throw failedError(`Opening storage in ${options.dir}`, err);
    }
  }

  async openLog(name: string): Promise<Log> {
    this.checkOpen();
    checkLogName(name);
    const existing = this.open.get(name);
    if (existing) return existing;
    try {
      const base = { limits: this.limits, policy: this.policy, io: this.io };
      const log = FileLog.open(name, path.join(this.logsDir, name), base, () => this.open.delete(name));
      this.open.set(name, log);
      return log;
    } catch (err) {
      if (err instanceof BrokerError) throw err;
      throw failedError(`Opening log ${name}`, err);
    }
  }

  async deleteLog(name: string): Promise<void> {
    this.checkOpen();
    checkLogName(name);
    await this.open.get(name)?.close();
    try {
      fs.rmSync(path.join(this.logsDir, name), { recursive: true, force: true });
      fsyncDir(this.logsDir);
    } catch (err) {
      throw failedError(`Deleting log ${name}`, err);
    }
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
    const results = await Promise.allSettled([...this.open.values()].map((log) => log.close()));
    await this.meta.close();
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  private syncDirty(): void {
    for (const log of this.open.values()) log.syncIfDirty();
  }

  private checkOpen(): void {
    if (this.closed) throw new BrokerError(ErrorCode.invalidState, 'Storage is closed');
  }
}
