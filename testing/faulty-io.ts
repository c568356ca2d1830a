/**
 * A disk that fails on demand: file storage's write calls, except that writes and syncs to files
 * whose path contains one of `failing` fail with EIO. The path of a descriptor is read from
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

  write(
    fd: number,
    data: Uint8Array,
    position: number,
    done: (err: Error | null, written: number) => void,
  ): void {
    if (!this.#fails(fd)) {
      realIo.write(fd, data, position, done);
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
    if (this.failing.size === 0) return false;
    let path: string;
    try {
      path = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      return false;
    }
    for (const part of this.failing) if (path.includes(part)) return true;
    return false;
  }
}
