/**
 * Small synchronous and callback file helpers, and the mapping of file-system errors onto the error
 * catalogue. I/O is injectable (`FileIo`) so tests can make a disk fail on demand.
 */
import fs from 'node:fs';
import path from 'node:path';
import { BrokerError, ErrorCode } from '../../shared/errors.js';

/** The asynchronous calls on the write path; tests replace them to inject ENOSPC or EIO. */
export interface FileIo {
  write(
    fd: number,
    data: Uint8Array,
    position: number,
    done: (err: Error | null, written: number) => void,
  ): void;
  fdatasync(fd: number, done: (err: Error | null) => void): void;
  /**
   * Several buffers in one call at `position` (pwritev), so a batch spanning slabs is not joined into a
   * fresh buffer first; without it, the buffers are joined and passed to `write`.
   */
  writev?(
    fd: number,
    data: readonly Uint8Array[],
    position: number,
    done: (err: Error | null, written: number) => void,
  ): void;
}

export const realIo: FileIo = {
  write: (fd, data, position, done) =>
    fs.write(fd, data, 0, data.byteLength, position, (err, n) => done(err, n)),
  writev: (fd, data, position, done) =>
    fs.writev(fd, data as Uint8Array[], position, (err, n) => done(err, n)),
  fdatasync: (fd, done) => fs.fdatasync(fd, (err) => done(err)),
};

export function failedError(what: string, cause: unknown): BrokerError {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code ?? 'unknown';
  return new BrokerError(ErrorCode.storageFailed, `${what} failed (${code})`, { cause });
}

export function corruptError(what: string): BrokerError {
  return new BrokerError(ErrorCode.storageCorrupt, what);
}

/** Writes all of `data` at `position`, retrying short writes. */
export function writeAll(
  io: FileIo,
  fd: number,
  data: Uint8Array,
  position: number,
  done: (err: Error | null) => void,
) {
  io.write(fd, data, position, (err, written) => {
    if (err) return done(err);
    if (written === data.byteLength) return done(null);
    if (written <= 0) return done(new Error('write made no progress'));
    writeAll(io, fd, data.subarray(written), position + written, done);
  });
}

/** pwritev takes at most this many buffers per call (IOV_MAX on Linux). */
const iovecsMax = 1024;

/**
 * Writes all of `chunks` (`bytes` in total) at `position`: pwritevs of up to `iovecsMax` buffers when the
 * io offers them, else one joined write. A short pwritev continues where it stopped.
 */
export function writeChunks(
  io: FileIo,
  fd: number,
  chunks: readonly Uint8Array[],
  bytes: number,
  position: number,
  done: (err: Error | null) => void,
) {
  if (chunks.length === 1) return writeAll(io, fd, chunks[0]!, position, done);
  if (io.writev === undefined) return writeAll(io, fd, Buffer.concat(chunks, bytes), position, done);
  const group = chunks.length > iovecsMax ? chunks.slice(0, iovecsMax) : chunks;
  io.writev(fd, group, position, (err, written) => {
    if (err) return done(err);
    if (written === bytes) return done(null);
    if (written <= 0) return done(new Error('write made no progress'));
    writeChunks(io, fd, dropBytes(chunks, written), bytes - written, position + written, done);
  });
}

/** `chunks` without their first `n` bytes. */
function dropBytes(chunks: readonly Uint8Array[], n: number): Uint8Array[] {
  let i = 0;
  let left = n;
  while (left >= chunks[i]!.byteLength) left -= chunks[i++]!.byteLength;
  const rest = chunks.slice(i);
  if (left > 0) rest[0] = rest[0]!.subarray(left);
  return rest;
}

/** Reads exactly `length` bytes at `position`; returns fewer only at end of file. */
export function readFull(fd: number, length: number, position: number): Buffer {
  const buf = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const n = fs.readSync(fd, buf, got, length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return got === length ? buf : buf.subarray(0, got);
}

/** Makes a directory entry (a created, renamed or deleted file) durable. */
export function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** fsync of a file or directory by its path, off the event loop. */
async function fsyncPathAsync(file: string): Promise<void> {
  const handle = await fs.promises.open(file, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** `fsyncDir` off the event loop, for work that runs beside producers (compaction's swaps). */
export function fsyncDirAsync(dir: string): Promise<void> {
  return fsyncPathAsync(dir);
}

/**
 * Starts an fsync (`data`: fdatasync) of `file`, a file or folder, on libuv's pool at once: the open is
 * synchronous, so the sync is queued before anything the caller does next and costs the pool no job.
 * Resolves once it is done and the descriptor closed.
 */
export function syncNow(file: string, data = false): Promise<void> {
  const fd = fs.openSync(file, 'r');
  return new Promise((resolve, reject) => {
    const done = (err: Error | null) => fs.close(fd, () => (err ? reject(err) : resolve()));
    if (data) fs.fdatasync(fd, done);
    else fs.fsync(fd, done);
  });
}

/** `syncNow`'s fdatasync. */
export function fdatasyncNow(file: string): Promise<void> {
  return syncNow(file, true);
}

/** Creates `file` (which must not exist) holding `bytes`, fsynced; its directory entry is the caller's. */
export function writeNewFile(file: string, bytes: Uint8Array): void {
  const fd = fs.openSync(file, 'wx');
  try {
    fs.writeFileSync(fd, bytes);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Creates `file` (which must not exist) holding `bytes`, not yet durable: see `syncNewFile`. */
export function createFile(file: string, bytes: Uint8Array): void {
  const fd = fs.openSync(file, 'wx');
  try {
    fs.writeFileSync(fd, bytes);
  } finally {
    fs.closeSync(fd);
  }
}

/** Makes a file from `createFile` and its directory entry durable, off the event loop. */
export async function syncNewFile(file: string): Promise<void> {
  await fsyncPathAsync(file);
  await fsyncPathAsync(path.dirname(file));
}

/**
 * `replaceFile` with its two syncs off the event loop; `folderSynced` makes the rename durable (a
 * folder's shared fsync). Calls must not overlap for one `file` (they share its temporary name).
 */
export async function replaceFileOffLoop(
  file: string,
  bytes: Uint8Array,
  folderSynced: () => Promise<void>,
): Promise<void> {
  const temp = `${file}.tmp`;
  fs.rmSync(temp, { force: true });
  createFile(temp, bytes);
  await syncNow(temp, true);
  fs.renameSync(temp, file);
  await folderSynced();
}

/** Replaces `file` with `bytes` so that a reader, even after a crash, sees the old or the new content. */
export function replaceFile(file: string, bytes: Uint8Array): void {
  const temp = `${file}.tmp`;
  fs.rmSync(temp, { force: true });
  writeNewFile(temp, bytes);
  fs.renameSync(temp, file);
  fsyncDir(path.dirname(file));
}
