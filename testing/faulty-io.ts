/**
 * A disk that fails on demand: file storage's write calls, except that writes and syncs to files
 * whose path contains one of `failing` fail with EIO, and writes to those matching `slow` stall. The path of a descriptor is read from
 * /proc/self/fd, so it holds whatever descriptors storage opens and caches.
 */
import { readlinkSync } from 'node:fs';
import { type FileIo, realIo } from '../src/storage/file/io.js';

function eio(): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error('EIO: i/o error (injected)');
  err.code = 'EIO';
  return err;
}

export class FaultyIo implements FileIo {
  /** Substrings of paths (log folder names, say `q._2f.jobs`) whose writes fail while listed. */
  readonly failing = new Set<string>();
  /** Writes and syncs refused so far. */
  refused = 0;
  /** Substrings of paths whose writes complete only after `slowMs` (a disk that stalls). */
  readonly slow = new Set<string>();
  slowMs = 200;

  write(
    fd: number,
    data: Uint8Array,
    position: number,
    done: (err: Error | null, written: number) => void,
  ): void {
    if (!this.#fails(fd)) {
      if (this.#matches(fd, this.slow)) setTimeout(() => realIo.write(fd, data, position, done), this.slowMs);
      else realIo.write(fd, data, position, done);
      return;
    }
    this.refused++;
    setImmediate(() => done(eio(), 0));
  }

  fdatasync(fd: number, done: (err: Error | null) => void): void {
    if (!this.#fails(fd)) {
      realIo.fdatasync(fd, done);
      return;
    }
    this.refused++;
    setImmediate(() => done(eio()));
  }

  #fails(fd: number): boolean {
    return this.#matches(fd, this.failing);
  }

  #matches(fd: number, parts: ReadonlySet<string>): boolean {
    if (parts.size === 0) return false;
    let path: string;
    try {
      path = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      return false;
    }
    for (const part of parts) if (path.includes(part)) return true;
    return false;
  }
}
