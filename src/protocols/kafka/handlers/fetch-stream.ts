/**
 * Streamed Fetch answers. A response states its size before its records, so a Fetch whose stored
 * batches storage can lay out from memory (`StreamPartition.layout`: records known good, one per index
 * gap) is answered with its sizes first and each partition's batches read in chunks, each written to
 * the socket as soon as it is read and the next read while the previous one drains: the read and the
 * send overlap instead of following one another. Once the size is sent the answer must be finished; a
 * read that fails or finds other records than laid out (the log truncated or rewritten meanwhile)
 * leaves the connection only one honest way out, closing, as a broker that cannot finish a response must.
 */
import type { StreamPartition } from '../../../core/api.js';
import { assert } from '../../../shared/assert.js';
import { brokerError, ErrorCode } from '../../../shared/errors.js';
import type { LaidOutEntry, ReadBuffers } from '../../../storage/types.js';
import { bufferPool, sharedBufferPool } from '../buffer-pool.js';
import { DeferredRecords } from '../codec/index.js';
import { kafkaBatchFormat } from '../entry-format.js';

/**
 * Payload bytes read per step of a streamed answer: under the socket's send buffer (4 MiB at most on
 * this kernel's loopback), so a chunk's write mostly completes at once and the client reads it while
 * the next chunk is read.
 */
export const streamChunkBytesMax = 1024 * 1024;

/** Smaller reads get a buffer of their own: Node's allocator serves those cheaply. */
const pooledReadBytesMin = 64 * 1024;

/**
 * The buffers one fetch response (or one chunk of a streamed one) reads into; released once the socket
 * has taken those bytes. A `shared` lease hands out shared memory, which storage's read thread can fill
 * (record batches only: the legacy down-conversion inflates what it reads, and zlib is not promised
 * shared memory), and takes over the memory of storage's reads done ahead, given back with its own.
 */
export class ReadLease implements ReadBuffers {
  readonly shared: boolean;
  readonly #taken: Buffer[] = [];
  readonly #adopted: Array<() => void> = [];
  readonly #pool: typeof bufferPool;

  constructor(shared: boolean) {
    this.shared = shared;
    this.#pool = shared ? sharedBufferPool : bufferPool;
  }

  take(bytes: number): Uint8Array {
    if (bytes < pooledReadBytesMin) return Buffer.allocUnsafe(bytes);
    const buf = this.#pool.take(bytes);
    this.#taken.push(buf);
    return buf.subarray(0, bytes);
  }

  adopt(release: () => void): void {
    this.#adopted.push(release);
  }

  release(): void {
    for (const buf of this.#taken) this.#pool.give(buf);
    this.#taken.length = 0;
    for (const release of this.#adopted.splice(0)) release();
  }
}

/** Where a streamed answer's chunks go: the connection's socket. */
export interface RecordsOut {
  /** Queues `pieces` for the peer; `done` once the socket is finished with them (or closed). */
  write(pieces: readonly Uint8Array[], done: () => void): void;
  readonly closed: boolean;
}

/** One partition's records in a streamed answer: their size stated first, read and sent chunk by chunk. */
export class PlannedRecords extends DeferredRecords {
  readonly #partition: StreamPartition;
  readonly #entries: readonly LaidOutEntry[];

  constructor(partition: StreamPartition, entries: readonly LaidOutEntry[], bytes: number) {
    super(bytes);
    this.#partition = partition;
    this.#entries = entries;
  }

  /**
   * Reads and writes the records chunk by chunk: each chunk is read while the socket still sends the
   * last, and written once the socket has taken that one, so every write finds Node's queue empty and
   * goes straight to the kernel. Rejects when a read fails or gives other records than laid out; the
   * caller must then close the connection.
   */
  async send(out: RecordsOut): Promise<void> {
    const count = this.#entries.length;
    let sent = 0;
    let chunk = count === 0 ? undefined : await this.#read(0);
    while (chunk !== undefined) {
      const { batches, lease, end } = chunk;
      if (out.closed) {
        lease.release();
        return;
      }
      // Taken: handed to the kernel (or the connection closed). A drain event would not do: Node emits
      // one only after a write it asked to wait for, which a small chunk is not.
      const taken = new Promise<void>((resolve) =>
        out.write(batches, () => {
          lease.release();
          resolve();
        }),
      );
      for (const batch of batches) sent += batch.byteLength;
      chunk = end < count ? await this.#read(end) : undefined;
      // Back-pressure: one chunk read ahead at most, held until the socket has taken the last.
      if (chunk !== undefined) await taken;
    }
    assert(out.closed || sent === this.length, 'a streamed answer sends the bytes it announced');
  }

  /** The chunk of entries from `at`, read into a lease of its own. */
  async #read(at: number): Promise<{ batches: Uint8Array[]; lease: ReadLease; end: number }> {
    const end = chunkEnd(this.#entries, at);
    const lease = new ReadLease(true);
    try {
      return { batches: await readLaidOut(this.#partition, this.#entries, at, end, lease), lease, end };
    } catch (err) {
      lease.release();
      throw err;
    }
  }
}

/** The end of the chunk starting at entry `at`: entries up to `streamChunkBytesMax`, at least one. */
function chunkEnd(entries: readonly LaidOutEntry[], at: number): number {
  let bytes = 0;
  let end = at;
  while (end < entries.length && (end === at || bytes + entries[end]!.payloadBytes <= streamChunkBytesMax)) {
    bytes += entries[end]!.payloadBytes;
    end++;
  }
  return end;
}

/** The batches of entries [from, end), each checked against its layout before it may go out. */
async function readLaidOut(
  partition: StreamPartition,
  entries: readonly LaidOutEntry[],
  from: number,
  end: number,
  lease: ReadLease,
): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  let bytes = 0;
  for (let i = from; i < end; i++) bytes += entries[i]!.payloadBytes;
  for (let i = from; i < end; ) {
    const options = { maxBytes: bytes, maxEntries: end - i, buffers: lease };
    const got = await partition.readOffThread(entries[i]!.offset, options);
    if (got.length === 0) throw changed(partition, entries[i]!.offset, 'no record');
    for (const entry of got) {
      const want = entries[i];
      if (want === undefined || i >= end) break;
      if (entry.offset !== want.offset || entry.format !== kafkaBatchFormat)
        throw changed(partition, want.offset, `the record of offset ${entry.offset}`);
      if (entry.payload.byteLength !== want.payloadBytes)
        throw changed(partition, want.offset, `${entry.payload.byteLength} bytes, not ${want.payloadBytes}`);
      out.push(entry.payload);
      bytes -= want.payloadBytes;
      i++;
    }
  }
  return out;
}

function changed(partition: StreamPartition, offset: number, found: string): Error {
  const where = `${partition.stream}-${partition.index} at offset ${offset}`;
  return brokerError(ErrorCode.invalidState, `A streamed fetch of ${where} found ${found}`);
}
