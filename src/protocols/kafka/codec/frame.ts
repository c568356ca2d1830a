/**
 * Splits a TCP byte stream into Kafka frames: each is an int32 size followed by that many bytes
 * (protocol guide "Common Request and Response Structure"). A size above `frameBytesMax` is refused
 * before any of it is buffered, so a peer cannot make the broker allocate what it claims: bytes are
 * kept as they arrive and a frame is joined once, when whole (../../chunks.ts).
 */
import type { Buffer } from 'node:buffer';
import { assert } from '../../../shared/assert.js';
import { ChunkQueue } from '../../chunks.js';
import { KafkaCodecError, KafkaCodecReason } from './errors.js';

const sizeBytes = 4;

/**
 * Where a frame that arrived in pieces is assembled, given its size and api key (the first two bytes
 * of the request header): a buffer of exactly that size, or undefined for a fresh one.
 */
export type FrameLender = (frameBytes: number, apiKey: number) => Buffer | undefined;

export class FrameSplitter {
  #frameBytesMax: number;
  readonly #input = new ChunkQueue();
  readonly #lend: FrameLender | undefined;

  constructor(frameBytesMax: number, lend?: FrameLender) {
    this.#frameBytesMax = 0;
    this.frameBytesMax = frameBytesMax;
    this.#lend = lend;
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
      frames.push(this.#input.take(size, this.#lent(size)));
    }
    this.#input.settle();
    return frames;
  }

  /** A buffer to join the next `size` bytes into, when they are not in one chunk and one is lent. */
  #lent(size: number): Buffer | undefined {
    if (this.#lend === undefined || size < 2 || this.#input.inOneChunk(size)) return undefined;
    const apiKey = this.#input.peek(2).readInt16BE(0);
    const into = this.#lend(size, apiKey);
    assert(into === undefined || into.byteLength === size, 'a lent frame buffer of the wrong size');
    return into;
  }
}
