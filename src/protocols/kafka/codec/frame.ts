/**
 * Splits a TCP byte stream into Kafka frames: each is an int32 size followed by that many bytes
 * (protocol guide "Common Request and Response Structure"). A size above `frameBytesMax` is refused
 * before any of it is buffered, so a peer cannot make the broker allocate what it claims: bytes are
 * kept as they arrive and a frame is joined once, when whole (../../chunks.ts). Over a transport with
 * shared reads a large frame may instead be read in place into a buffer the lender already holds.
 */
import { Buffer } from 'node:buffer';
import { assert } from '../../../shared/assert.js';
import { ChunkQueue } from '../../chunks.js';
import { KafkaCodecError, KafkaCodecReason } from './errors.js';

const sizeBytes = 4;

/**
 * Where a frame is assembled, given its size and api key (the first two bytes of the request header):
 * a buffer of exactly that size, or undefined for a fresh one. `whole`: every byte of it has arrived;
 * otherwise only memory the lender already holds may be given, since a size a peer announces must never
 * make the broker allocate.
 */
export type FrameLender = (frameBytes: number, apiKey: number, whole: boolean) => Buffer | undefined;

/** A frame being read in place: the rest of its bytes land straight in `bytes` (`readTarget`). */
interface Target {
  readonly bytes: Buffer;
  filled: number;
}

/** Bytes of a frame's start that name its size and api key. */
const headBytes = sizeBytes + 2;
/** The rest of a read once all of it is framed: shared, as nothing writes into it. */
const noBytes = new Uint8Array(0);

/** The api key of the frame `head` starts (its request header's first field). */
function apiKeyAfterSize(head: Uint8Array): number {
  return new DataView(head.buffer, head.byteOffset, headBytes).getInt16(sizeBytes);
}

export class FrameSplitter {
  #frameBytesMax: number;
  readonly #input = new ChunkQueue();
  readonly #lend: FrameLender | undefined;
  #target: Target | undefined;

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
    return this.#input.byteLength + (this.#target?.filled ?? 0);
  }

  /** Where the next read should land: the rest of a frame being read in place, if one is. */
  readTarget(): Buffer | undefined {
    const target = this.#target;
    return target === undefined ? undefined : target.bytes.subarray(target.filled);
  }

  /**
   * Adds received bytes; returns the frames (without their size prefix) now complete, in order.
   * `transient`: `chunk` is reused once this returns (a shared read buffer), so every frame returned
   * and every byte kept is a copy, or was read in place (`readTarget`).
   */
  push(chunk: Uint8Array, transient = false): Uint8Array[] {
    return transient ? this.#pushTransient(chunk) : this.#pushKept(chunk);
  }

  /**
   * Whole frames are copied out of the read; a large one that has only begun, when the lender has a
   * buffer for it, becomes the target that the following reads fill in place. Anything else is kept
   * as a copy and framed as kept bytes are.
   */
  #pushTransient(chunk: Uint8Array): Uint8Array[] {
    const frames: Uint8Array[] = [];
    let rest = chunk;
    while (rest.byteLength > 0) {
      if (this.#target !== undefined) {
        rest = rest.subarray(this.#fill(this.#target, rest, frames));
        continue;
      }
      if (this.#input.byteLength > 0 || rest.byteLength < headBytes) break;
      const size = this.#sizeOf(rest);
      const whole = rest.byteLength >= sizeBytes + size;
      const lent = this.#borrow(size, apiKeyAfterSize(rest), whole);
      if (whole) {
        const bytes = rest.subarray(sizeBytes, sizeBytes + size);
        if (lent === undefined) frames.push(Buffer.from(bytes));
        else {
          lent.set(bytes);
          frames.push(lent);
        }
        // A read that held exactly its frames (the usual one) ends without a view of nothing.
        const end = sizeBytes + size;
        rest = end === rest.byteLength ? noBytes : rest.subarray(end);
      } else if (lent !== undefined) {
        this.#target = { bytes: lent, filled: 0 };
        rest = rest.subarray(sizeBytes);
      } else break;
    }
    if (rest.byteLength > 0) {
      frames.push(...this.#pushKept(Buffer.from(rest)));
      this.#readInPlace();
    }
    return frames;
  }

  /**
   * The kept bytes are the start of one frame: when the lender now has a buffer for it, they move
   * there and the rest is read in place, so one frame kept as copies does not make the next one so.
   */
  #readInPlace(): void {
    const held = this.#input.byteLength;
    if (this.#target !== undefined || held < headBytes || this.#lend === undefined) return;
    const head = this.#input.peek(headBytes);
    const size = this.#sizeOf(head);
    const lent = this.#borrow(size, apiKeyAfterSize(head), false);
    if (lent === undefined) return;
    assert(held < sizeBytes + size, 'kept bytes of a whole frame left unframed');
    this.#input.take(sizeBytes);
    const part = this.#input.take(held - sizeBytes, lent.subarray(0, held - sizeBytes));
    if (part.buffer !== lent.buffer) lent.set(part);
    this.#input.settle();
    this.#target = { bytes: lent, filled: held - sizeBytes };
  }

  /** Adds `bytes` to `target` (nothing to copy when they were read in place); returns how many it took. */
  #fill(target: Target, bytes: Uint8Array, frames: Uint8Array[]): number {
    const taken = Math.min(bytes.byteLength, target.bytes.byteLength - target.filled);
    const at = target.bytes.byteOffset + target.filled;
    const inPlace = bytes.buffer === target.bytes.buffer && bytes.byteOffset === at;
    if (!inPlace) target.bytes.set(bytes.subarray(0, taken), target.filled);
    target.filled += taken;
    if (target.filled === target.bytes.byteLength) {
      frames.push(target.bytes);
      this.#target = undefined;
    }
    return taken;
  }

  /** The size a frame's first four bytes announce, refused when negative or above the limit. */
  #sizeOf(head: Uint8Array): number {
    const size = new DataView(head.buffer, head.byteOffset, sizeBytes).getInt32(0);
    if (size < 0) throw new KafkaCodecError(KafkaCodecReason.malformed, `Negative frame size ${size}`);
    if (size > this.#frameBytesMax) {
      throw new KafkaCodecError(
        KafkaCodecReason.frameTooLarge,
        `Frame of ${size} bytes exceeds frameBytesMax ${this.#frameBytesMax}`,
      );
    }
    return size;
  }

  #pushKept(chunk: Uint8Array): Uint8Array[] {
    this.#input.push(chunk);
    const frames: Uint8Array[] = [];
    while (this.#input.byteLength >= sizeBytes) {
      const size = this.#sizeOf(this.#input.peek(sizeBytes));
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
    return this.#borrow(size, this.#input.peek(2).readInt16BE(0), true);
  }

  /** The lender's buffer for a frame of `size` bytes, if it gives one; none for a frame too short for an api key. */
  #borrow(size: number, apiKey: number, whole: boolean): Buffer | undefined {
    if (this.#lend === undefined || size < 2) return undefined;
    const lent = this.#lend(size, apiKey, whole);
    assert(lent === undefined || lent.byteLength === size, 'a lent frame buffer of the wrong size');
    return lent;
  }
}
