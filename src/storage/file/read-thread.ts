/**
 * Storage's read thread, seen from the logs' thread: one worker (./read-worker.ts) that does the
 * positional reads and CRC checks of large reads (`Log.readOffThread`), so that the event loop which
 * sends the bytes does not also copy them in from the page cache and checksum them
 * (docs/storage-format.md, "Reads off the event loop"). It belongs to storage because it reads segment
 * files through the handle cache's descriptors and checks records with storage's codec; nothing above
 * storage knows it.
 *
 * The worker starts with the first read and is unref'd while idle, so it never keeps a process alive.
 * Should it die, every read in flight rejects with `storage_failed` and the next read starts another.
 */
import { Worker } from 'node:worker_threads';
import { BrokerError, ErrorCode } from '../../shared/errors.js';
import type { LogEntry } from '../types.js';
import type { PinnedFile } from './handles.js';
import { corruptError } from './io.js';
import { type FarReadReply, type FarReadRequest, farRecordFields } from './read-worker.js';

const workerUrl = new URL('./read-worker.js', import.meta.url);

/**
 * Reads with fewer file bytes than this to check stay on the log's thread: below it the hop to the
 * worker and back costs about what the read and its CRC checks do (docs/performance.md, "Kafka"), and
 * bytes already known good (docs/storage-format.md, "Verified once") need only the read.
 */
export const offThreadReadBytesMin = 256 * 1024;

/** Requests a worker may have queued at once, beyond which a read waits in `ReadThread`'s queue. */
const readsInFlightMax = 64;

export type FarRead = Omit<FarReadRequest, 'id' | 'fd'>;

interface Pending {
  readonly file: PinnedFile;
  readonly resolve: (reply: FarReadReply) => void;
  readonly reject: (err: Error) => void;
}

export class ReadThread {
  #worker: Worker | undefined;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #closed = false;

  /**
   * Reads `read` from `file`, pinned from now until the answer (so its descriptor is neither closed nor
   * reused meanwhile, whatever happens to the segment); rejects when the file was retired first.
   */
  read(file: PinnedFile, read: FarRead): Promise<FarReadReply> {
    if (this.#closed) return Promise.reject(new BrokerError(ErrorCode.invalidState, 'Storage is closed'));
    return new Promise((resolve, reject) => {
      file.pin(
        (fd) => {
          const id = this.#nextId++;
          const worker = this.#started();
          this.#pending.set(id, { file, resolve, reject });
          if (this.#pending.size === 1) worker.ref();
          worker.postMessage({ ...read, id, fd } satisfies FarReadRequest);
        },
        (err) => reject(err),
      );
    });
  }

  /** Reads waiting for their answer (tests, and whether a large read should rather stay inline). */
  get inFlight(): number {
    return this.#pending.size;
  }

  /** Whether another read would queue behind `readsInFlightMax`. */
  get busy(): boolean {
    return this.#pending.size >= readsInFlightMax;
  }

  /** Ends the worker; reads in flight reject. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#worker?.terminate();
  }

  #started(): Worker {
    if (this.#worker !== undefined) return this.#worker;
    const worker = new Worker(workerUrl);
    worker.unref();
    worker.on('message', (reply: FarReadReply) => {
      const pending = this.#pending.get(reply.id);
      if (pending === undefined) return;
      this.#pending.delete(reply.id);
      pending.file.unpin();
      if (this.#pending.size === 0) worker.unref();
      pending.resolve(reply);
    });
    // An uncaught error in the worker is followed by its exit, which rejects what was waiting.
    worker.on('error', () => undefined);
    worker.on('exit', (code) => {
      if (this.#worker === worker) this.#worker = undefined;
      const err = new BrokerError(ErrorCode.storageFailed, `Storage's read thread exited (code ${code})`);
      const pending = [...this.#pending.values()];
      this.#pending.clear();
      for (const p of pending) {
        p.file.unpin();
        p.reject(err);
      }
    });
    this.#worker = worker;
    return worker;
  }
}

/**
 * The entries of a reply, payloads as views of the shared buffer the worker read into; a record that
 * failed its checks throws `storage_corrupt`, as a read on the log's thread does.
 */
export function farEntries(
  reply: FarReadReply,
  target: SharedArrayBuffer,
  at: number,
  what: string,
): LogEntry[] {
  if (reply.corrupt !== undefined)
    throw corruptError(`${what} at byte ${reply.corrupt.position}: ${reply.corrupt.why}`);
  if (reply.failed !== undefined) {
    const message = `${what}: read failed (${reply.failed})`;
    throw reply.failed.startsWith('file ends')
      ? corruptError(message)
      : new BrokerError(ErrorCode.storageFailed, message);
  }
  const r = reply.records;
  const out: LogEntry[] = [];
  for (let i = 0; i < r.length; i += farRecordFields) {
    out.push({
      offset: r[i]!,
      count: r[i + 1]!,
      timestamp: r[i + 2]!,
      maxTimestamp: r[i + 3]!,
      format: r[i + 4]!,
      payload: Buffer.from(target, at + r[i + 5]!, r[i + 6]!),
    });
  }
  return out;
}
