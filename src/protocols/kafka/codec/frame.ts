/**
 * Splits a TCP byte stream into Kafka frames: each is an int32 size followed by that many bytes
 * (protocol guide "Common Request and Response Structure"). A size above `frameBytesMax` is refused
 * before any of it is buffered, so a peer cannot make the broker allocate what it claims: bytes are
 * kept as they arrive and a frame is joined once, when whole (../../chunks.ts).
 */
import { assert } from '../../../shared/assert.js';
import { ChunkQueue } from '../../chunks.js';
import { KafkaCodecError, KafkaCodecReason } from './errors.js';

const sizeBytes = 4;

export class FrameSplitter {
  #frameBytesMax: number;
  readonly #input = new ChunkQueue();

  constructor(frameBytesMax: number) {
    this.#frameBytesMax = 0;
    this.frameBytesMax = frameBytesMax;
  }

  get frameBytesMax(): number {
    return this.#frameBytesMax;
  }

  /** May change between frames: a connection's first request gets a smaller bound than later ones. */
  set frameBytesMax(bytes: number) {
    assert(Number.isInteger(bytes) && bytes > 0, 'frameBytesMax must be a positive integer');
    this.#frameBytesMax = bytes;
  }

  /** Bytes received but not yet returned as part of a frame. */
  get bufferedBytes(): number {
    return this.#input.byteLength;
  }

  /** Adds received bytes; returns the frames (without their size prefix) now complete, in order. */
  push(chunk: Uint8Array): Uint8Array[] {
    this.#input.push(chunk);
    const frames: Uint8Array[] = [];
    while (this.#input.byteLength >= sizeBytes) {
      const head = this.#input.peek(sizeBytes);
      const size = new DataView(head.buffer, head.byteOffset, sizeBytes).getInt32(0);
      if (size < 0) throw new KafkaCodecError(KafkaCodecReason.malformed, `Negative frame size ${size}`);
      if (size > this.#frameBytesMax) {
        throw new KafkaCodecError(
          KafkaCodecReason.frameTooLarge,
          `Frame of ${size} bytes exceeds frameBytesMax ${this.#frameBytesMax}`,
        );
      }
      if (this.#input.byteLength < sizeBytes + size) break;
      this.#input.take(sizeBytes);
      frames.push(this.#input.take(size));
    }
    this.#input.settle();
    return frames;
  }
}
