/**
 * Large buffers reused across requests, process-wide: Fetch reads stored batches into them, and a
 * large Produce request is assembled in one. A fresh buffer of a megabyte costs more in page faults
 * and garbage collection than filling it (docs/performance.md, Kafka). Fetch's are backed by
 * SharedArrayBuffers, so storage's read thread can read into them (`Log.readOffThread`); a request's
 * are not, since text decoders refuse shared memory.
 */
import { Buffer } from 'node:buffer';
import { assert } from '../../shared/assert.js';

/** Free buffers kept, both pools together; beyond this they are left to the collector. */
const poolBytesMax = 128 * 1024 * 1024;
let freeBytesAll = 0;
/** Pooled buffers come in multiples of this, so requests of about the same size share them. */
const grainBytes = 1024 * 1024;

class BufferPool {
  readonly #free: Buffer[] = [];
  readonly #alloc: (bytes: number) => Buffer;

  constructor(alloc: (bytes: number) => Buffer) {
    this.#alloc = alloc;
  }

  /** A buffer of at least `bytes` (the smallest free one that fits, else a new one). */
  take(bytes: number): Buffer {
    return this.takeFree(bytes) ?? this.#alloc(Math.ceil(bytes / grainBytes) * grainBytes);
  }

  /** The smallest free buffer of at least `bytes`, if one is free: nothing is allocated. */
  takeFree(bytes: number): Buffer | undefined {
    let best = -1;
    for (let i = 0; i < this.#free.length; i++) {
      const size = this.#free[i]!.byteLength;
      if (size >= bytes && (best < 0 || size < this.#free[best]!.byteLength)) best = i;
    }
    if (best < 0) return undefined;
    const [buf] = this.#free.splice(best, 1);
    freeBytesAll -= buf!.byteLength;
    return buf!;
  }

  /** Gives back a buffer from `take`; nothing may use it afterwards. */
  give(buf: Buffer): void {
    if (freeBytesAll + buf.byteLength > poolBytesMax) return;
    this.#free.push(buf);
    freeBytesAll += buf.byteLength;
  }
}

export const bufferPool = new BufferPool((bytes) => Buffer.allocUnsafeSlow(bytes));
/** Fetch's read buffers: shared memory storage's read thread can fill. */
export const sharedBufferPool = new BufferPool((bytes) => Buffer.from(new SharedArrayBuffer(bytes)));

/**
 * One request frame assembled in a pooled buffer. It goes back to the pool once the connection and
 * every holder (an append that storage writes from the request's bytes) have let go; a request whose
 * bytes stay in use past its handler in a way nobody counts is `kept`, and then left to the collector.
 */
export class FrameLease {
  /** The frame: a view of the pooled buffer of exactly its size. */
  readonly bytes: Buffer;
  readonly #buffer: Buffer;
  #holds = 1;
  #kept = false;

  private constructor(buffer: Buffer, frameBytes: number) {
    this.#buffer = buffer;
    this.bytes = buffer.subarray(0, frameBytes);
  }

  /** A lease on a pooled buffer for a frame; with `allocate` false, only if a free one fits. */
  static take(frameBytes: number, allocate: boolean): FrameLease | undefined {
    const buffer = allocate ? bufferPool.take(frameBytes) : bufferPool.takeFree(frameBytes);
    return buffer === undefined ? undefined : new FrameLease(buffer, frameBytes);
  }

  /** One more holder; the function returned lets go of it (a second call does nothing). */
  hold(): () => void {
    assert(this.#holds > 0, 'a frame lease held after it was given back');
    this.#holds++;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.#drop();
    };
  }

  /** Something keeps views of the frame for as long as it likes: never reuse it. */
  keep(): void {
    this.#kept = true;
  }

  /** The connection is done with the request (its handler has returned). */
  done(): void {
    this.#drop();
  }

  #drop(): void {
    this.#holds--;
    if (this.#holds === 0 && !this.#kept) bufferPool.give(this.#buffer);
  }
}
