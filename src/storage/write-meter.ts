/**
 * Bytes storage has handed to the disk since it opened, with a hook per write, and how long each
 * fdatasync took. The disk alarm uses the bytes to account for what was written since its last
 * reading of the free space, so the limit holds within one write batch rather than one timer tick;
 * core passes the fsync histogram up to /metrics (storage knows nothing above it).
 */
import { Histogram, syncSecondsBounds } from '../shared/histogram.js';
import type { FileIo } from './file/io.js';

export type WriteListener = (bytes: number) => void;

export class WriteMeter {
  #bytes = 0;
  readonly #listeners = new Set<WriteListener>();
  /** Seconds from issuing an fdatasync to its completion, failed ones included. */
  readonly syncSeconds = new Histogram(syncSecondsBounds);

  /** Bytes written (or being written) since open. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Called before each write with its size; returns the unsubscribe function. */
  onWrite(listener: WriteListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  add(bytes: number): void {
    this.#bytes += bytes;
    for (const listener of this.#listeners) listener(bytes);
  }
}

/** `io` with every write counted by `meter` as it is issued. */
type WriteDone = (err: Error | null, written: number) => void;

export function meteredIo(io: FileIo, meter: WriteMeter): FileIo {
  const { writev } = io;
  return {
    write: (fd, data, position, done) => {
      meter.add(data.byteLength);
      io.write(fd, data, position, done);
    },
    // Offered only when the wrapped io offers it, so a test's io without it keeps the joined write.
    ...(writev === undefined
      ? {}
      : {
          writev: (fd: number, data: readonly Uint8Array[], position: number, done: WriteDone) => {
            for (const chunk of data) meter.add(chunk.byteLength);
            writev(fd, data, position, done);
          },
        }),
    fdatasync: (fd, done) => {
      // A measurement, not a decision: wall time is what an fsync costs the appends waiting on it.
      const startMs = performance.now();
      io.fdatasync(fd, (err) => {
        meter.syncSeconds.observe((performance.now() - startMs) / 1000);
        done(err);
      });
    },
  };
}
