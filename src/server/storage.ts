/** Opens the storage the config asks for: segment files under dataDir, or memory. */
import { resolve } from 'node:path';
import { packageInfo } from '../config/package.js';
import type { Config } from '../config/schema.js';
import type { FileIo } from '../storage/file/io.js';
import { FileStorage } from '../storage/file/storage.js';
import { lockDir } from '../storage/lock.js';
import { MemoryStorage } from '../storage/memory.js';
import type { FsyncPolicy, Storage, StorageLimits } from '../storage/types.js';

function fsyncPolicy(config: Pick<Config, 'fsync' | 'fsyncIntervalMs'>): FsyncPolicy {
  switch (config.fsync) {
    case 'always':
      return { kind: 'always' };
    case 'interval':
      return { kind: 'interval', intervalMs: config.fsyncIntervalMs };
    case 'never':
      return { kind: 'never' };
  }
}

/** `io` replaces the file write path's calls: tests make a disk fail with it. */
export async function openStorage(config: Readonly<Config>, io?: FileIo): Promise<Storage> {
  const limits: Partial<StorageLimits> = {
    segmentBytesMax: config.segmentBytesMax,
    entryBytesMax: config.entryBytesMax,
    openFilesMax: config.storageOpenFilesMax,
    compactionIoBytesPerSecondMax: config.compactionIoBytesPerSecondMax,
  };
  if (config.storage === 'memory') return new MemoryStorage(limits);
  const dir = resolve(config.dataDir);
  const lock = lockDir(dir);
  try {
    const storage = await FileStorage.open({
      dir,
      fsync: fsyncPolicy(config),
      limits,
      softwareVersion: packageInfo().version,
      syncMoments: config.storageSyncMoments,
      ...(io === undefined ? {} : { io }),
    });
    return withRelease(storage, lock.release);
  } catch (err) {
    lock.release();
    throw err;
  }
}

/** The lock goes with the storage: released once the storage has flushed and closed. */
function withRelease(storage: Storage, release: () => void): Storage {
  const close = storage.close.bind(storage);
  storage.close = async () => {
    try {
      await close();
    } finally {
      release();
    }
  };
  return storage;
}
