/**
 * Input bytes kept as the chunks they arrived in, for frame readers (MQTT, Kafka). Nothing is ever
 * allocated from a length a peer announces: memory grows only with bytes that arrived, a frame that
 * trickles in over many reads is joined once (when whole), and a small rest of a large read is copied
 * so that it does not keep the whole read alive.
 */
import { Buffer } from 'node:buffer';
import { assert } from '../shared/assert.js';

/** A view keeping more than twice its size alive is copied (small copies share Node's 8 KiB pool). */
export function compact(rest: Buffer): Buffer {
  return rest.buffer.byteLength > Math.max(2 * rest.byteLength, Buffer.poolSize) ? Buffer.from(rest) : rest;
}

/** Holds Buffers (other byte arrays are wrapped, not copied) and hands out Buffers. */
export class ChunkQueue {
  #chunks: Buffer[] = [];
  #bytes = 0;

  /** Bytes held. */
  get byteLength(): number {
    return this.#bytes;
  }

  push(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return;
    this.#chunks.push(
      Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength),
    );
    this.#bytes += chunk.byteLength;
  }

  /** The first `n` bytes, without removing them: a view when they lie in one chunk, else a copy. */
  peek(n: number): Buffer {
    assert(n <= this.#bytes, 'peek past the bytes held');
    const head = this.#chunks[0];
    if (head !== undefined && head.byteLength >= n) return head.subarray(0, n);
    return this.#join(n);
  }

  /** Removes and returns the first `n` bytes (a view when they lie in one chunk, else one copy). */
  take(n: number): Buffer {
    assert(n <= this.#bytes, 'take past the bytes held');
    const head = this.#chunks[0];
    if (head !== undefined && head.byteLength >= n) {
      const out = head.subarray(0, n);
      if (head.byteLength === n) this.#chunks.shift();
      else this.#chunks[0] = head.subarray(n);
      this.#bytes -= n;
      return out;
    }
    const out = this.#join(n);
    this.#drop(n);
    return out;
  }

  /** Call after taking what can be taken: the rest no longer pins the large reads it came from. */
  settle(): void {
    if (this.#chunks.length > 0) this.#chunks[0] = compact(this.#chunks[0]!);
    // An emptied array keeps the room it grew to (17 slots, 152 bytes, after one push): an idle
    // connection holds an empty one instead.
    else this.#chunks = [];
  }

  clear(): void {
    this.#chunks = [];
    this.#bytes = 0;
  }

  #join(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    for (const chunk of this.#chunks) {
      if (filled === n) break;
      const part = Math.min(n - filled, chunk.byteLength);
      out.set(chunk.subarray(0, part), filled);
      filled += part;
    }
    return out;
  }

  #drop(n: number): void {
    let left = n;
    while (left > 0) {
      const head = this.#chunks[0]!;
      if (head.byteLength <= left) {
        this.#chunks.shift();
        left -= head.byteLength;
      } else {
        this.#chunks[0] = head.subarray(left);
        left = 0;
      }
    }
    this.#bytes -= n;
  }
}
