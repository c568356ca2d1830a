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
  /** Undefined while empty: an idle connection's reader holds no array (32 bytes each). */
  #chunks: Buffer[] | undefined;
  #bytes = 0;

  /** Bytes held. */
  get byteLength(): number {
    return this.#bytes;
  }

  push(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return;
    this.#chunks ??= [];
    this.#chunks.push(
      Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength),
    );
    this.#bytes += chunk.byteLength;
  }

  /** The first `n` bytes, without removing them: a view when they lie in one chunk, else a copy. */
  peek(n: number): Buffer {
    assert(n <= this.#bytes, 'peek past the bytes held');
    const head = this.#chunks?.[0];
    if (head !== undefined && head.byteLength >= n) return head.subarray(0, n);
    return this.join(n, Buffer.allocUnsafe(n));
  }

  /** Whether the first `n` bytes lie in one chunk, so `take(n)` returns a view without copying. */
  inOneChunk(n: number): boolean {
    return (this.#chunks?.[0]?.byteLength ?? 0) >= n;
  }

  /**
   * Removes and returns the first `n` bytes: a view when they lie in one chunk, else one copy, made
   * into `into` (of exactly `n` bytes, returned) when given.
   */
  take(n: number, into?: Buffer): Buffer {
    assert(n <= this.#bytes, 'take past the bytes held');
    const chunks = this.#chunks;
    const head = chunks?.[0];
    if (chunks !== undefined && head !== undefined && head.byteLength >= n) {
      const out = head.subarray(0, n);
      if (head.byteLength === n) chunks.shift();
      else chunks[0] = head.subarray(n);
      this.#bytes -= n;
      return out;
    }
    assert(into === undefined || into.byteLength === n, 'a join target of the wrong size');
    const out = this.join(n, into ?? Buffer.allocUnsafe(n));
    this.drop(n);
    return out;
  }

  /** Call after taking what can be taken: the rest no longer pins the large reads it came from. */
  settle(): void {
    const chunks = this.#chunks;
    if (chunks !== undefined && chunks.length > 0) chunks[0] = compact(chunks[0]!);
    // An emptied array keeps the room it grew to (17 slots, 152 bytes, after one push): an idle
    // connection holds none instead.
    else this.#chunks = undefined;
  }

  clear(): void {
    this.#chunks = undefined;
    this.#bytes = 0;
  }

  // Methods, not #methods: a class with private methods gives each instance a brand slot.
  private join(n: number, out: Buffer): Buffer {
    let filled = 0;
    for (const chunk of this.#chunks ?? []) {
      if (filled === n) break;
      const part = Math.min(n - filled, chunk.byteLength);
      out.set(chunk.subarray(0, part), filled);
      filled += part;
    }
    return out;
  }

  private drop(n: number): void {
    const chunks = this.#chunks!;
    let left = n;
    while (left > 0) {
      const head = chunks[0]!;
      if (head.byteLength <= left) {
        chunks.shift();
        left -= head.byteLength;
      } else {
        chunks[0] = head.subarray(left);
        left = 0;
      }
    }
    this.#bytes -= n;
  }
}
