/**
 * Splits a TCP byte stream into Kafka frames: each is an int32 size followed by that many bytes
 * (protocol guide "Common Request and Response Structure"). A size above `frameBytesMax` is refused
 * before any of it is buffered, so a peer cannot make the broker allocate what it claims.
 */
import { assert } from '../../../shared/assert.js';
import { KafkaCodecError, KafkaCodecReason } from './errors.js';

const sizeBytes = 4;

export class FrameSplitter {
  readonly frameBytesMax: number;
  private chunks: Uint8Array[] = [];
  private buffered = 0;

  constructor(frameBytesMax: number) {
    assert(Number.isInteger(frameBytesMax) && frameBytesMax > 0, 'frameBytesMax must be a positive integer');
    this.frameBytesMax = frameBytesMax;
  }

  /** Bytes received but not yet returned as part of a frame. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /** Adds received bytes; returns the frames (without their size prefix) now complete, in order. */
  push(chunk: Uint8Array): Uint8Array[] {
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    const frames: Uint8Array[] = [];
    while (this.buffered >= sizeBytes) {
      const size = this.peekSize();
      if (size < 0) throw new KafkaCodecError(KafkaCodecReason.malformed, `Negative frame size ${size}`);
      if (size > this.frameBytesMax) {
        throw new KafkaCodecError(
          KafkaCodecReason.frameTooLarge,
          `Frame of ${size} bytes exceeds frameBytesMax ${this.frameBytesMax}`,
        );
      }
      if (this.buffered < sizeBytes + size) break;
      this.take(sizeBytes);
      frames.push(this.take(size));
    }
    return frames;
  }

  private peekSize(): number {
    const head = this.chunks[0];
    if (head !== undefined && head.length >= sizeBytes) {
      return new DataView(head.buffer, head.byteOffset, sizeBytes).getInt32(0);
    }
    const bytes = this.copyFront(sizeBytes, false);
    return new DataView(bytes.buffer).getInt32(0);
  }

  /** Removes `n` buffered bytes; a view when they lie in one chunk, a copy otherwise. */
  private take(n: number): Uint8Array {
    const head = this.chunks[0];
    if (head !== undefined && head.length >= n) {
      const out = head.subarray(0, n);
      if (head.length === n) this.chunks.shift();
      else this.chunks[0] = head.subarray(n);
      this.buffered -= n;
      return out;
    }
    return this.copyFront(n, true);
  }

  private copyFront(n: number, consume: boolean): Uint8Array {
    const out = new Uint8Array(n);
    let filled = 0;
    let index = 0;
    while (filled < n) {
      const chunk = this.chunks[index];
      assert(chunk !== undefined, 'frame splitter ran out of buffered chunks');
      const part = Math.min(n - filled, chunk.length);
      out.set(chunk.subarray(0, part), filled);
      filled += part;
      if (consume && part === chunk.length) this.chunks.shift();
      else if (consume) this.chunks[index] = chunk.subarray(part);
      else index++;
    }
    if (consume) this.buffered -= n;
    return out;
  }
}
