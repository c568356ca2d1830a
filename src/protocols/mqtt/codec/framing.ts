/**
 * Splits a byte stream into whole MQTT packets before they reach the codec, so the size limit is
 * enforced from the fixed header alone (MQTT 5.0 §3.1.2.24: a server may close on a packet above its
 * Maximum Packet Size) and a huge Remaining Length never makes us buffer it. Bytes are kept as they
 * arrive and a packet is joined once, when whole (../chunks.ts).
 */
import type { Buffer } from 'node:buffer';
import { ChunkQueue } from '../../chunks.js';
import { Reason } from './reasons.js';

export type FrameResult =
  | { readonly kind: 'frames'; readonly frames: Buffer[] }
  | { readonly kind: 'error'; readonly frames: Buffer[]; readonly reason: number; readonly message: string };

/** Remaining Length is a variable byte integer of at most four bytes (§1.5.5). */
const lengthBytesMax = 4;

/**
 * The chunk queue itself rather than an object holding one: a reader per connection, and one object
 * less (40 bytes) on every idle one. Its `push` returns the packets made whole.
 */
export class FrameReader extends ChunkQueue {
  #packetBytesMax: number;

  constructor(packetBytesMax: number) {
    super();
    this.#packetBytesMax = packetBytesMax;
  }

  /** Bytes received and not yet returned in a whole packet. */
  get bufferedBytes(): number {
    return this.byteLength;
  }

  /** The bound changes at login: a client not yet logged in may send less (`handshakeBytesMax`). */
  set packetBytesMax(bytes: number) {
    this.#packetBytesMax = bytes;
  }

  override push(chunk: Buffer): FrameResult {
    const frames: Buffer[] = [];
    if (this.byteLength === 0) {
      const read = this.#inPlace(chunk, frames);
      if (typeof read !== 'number') return read;
      if (read === chunk.byteLength) return { kind: 'frames', frames };
      // super's: this class's own push is the frame reader.
      super.push(read === 0 ? chunk : chunk.subarray(read));
      this.settle();
      return { kind: 'frames', frames };
    }
    super.push(chunk);
    for (;;) {
      const header = readHeader(this.peek(Math.min(this.byteLength, 1 + lengthBytesMax)));
      if (header === 'incomplete') break;
      if (header === 'malformed') {
        return {
          kind: 'error',
          frames,
          reason: Reason.malformed,
          message: 'remaining length longer than four bytes',
        };
      }
      const total = header.headerBytes + header.remaining;
      if (total > this.#packetBytesMax) {
        return { kind: 'error', frames, reason: Reason.packetTooLarge, message: `packet of ${total} bytes` };
      }
      if (this.byteLength < total) break;
      frames.push(this.take(total));
    }
    this.settle();
    return { kind: 'frames', frames };
  }

  /**
   * With nothing held from earlier reads (the usual case), the whole packets of `chunk` are viewed
   * where they lie, their headers read in place: no view of each header and no view of each rest.
   * Returns the bytes taken, or the error.
   */
  #inPlace(chunk: Buffer, frames: Buffer[]): number | FrameResult {
    let at = 0;
    while (at < chunk.byteLength) {
      const header = headerAt(chunk, at);
      if (header === incomplete) break;
      if (header === malformed) {
        return {
          kind: 'error',
          frames,
          reason: Reason.malformed,
          message: 'remaining length longer than four bytes',
        };
      }
      const total = headerBytesOf(header) + remainingOf(header);
      if (total > this.#packetBytesMax) {
        return { kind: 'error', frames, reason: Reason.packetTooLarge, message: `packet of ${total} bytes` };
      }
      if (chunk.byteLength - at < total) break;
      frames.push(chunk.subarray(at, at + total));
      at += total;
    }
    return at;
  }
}

/** `headerAt`'s answers that are not a header. */
const incomplete = -1;
const malformed = -2;
/** A header is packed into one number, Remaining Length × 8 + header bytes (2 to 5): no object per packet. */
const headerBytesOf = (header: number) => header % 8;
const remainingOf = (header: number) => Math.floor(header / 8);

/** The fixed header of the packet at `start` of `buffer`, packed, or `incomplete` or `malformed`. */
function headerAt(buffer: Buffer, start: number): number {
  let remaining = 0;
  let multiplier = 1;
  for (let i = 1; i <= lengthBytesMax; i++) {
    if (start + i >= buffer.length) return incomplete;
    const byte = buffer[start + i]!;
    remaining += (byte & 0x7f) * multiplier;
    if ((byte & 0x80) === 0) return remaining * 8 + i + 1;
    multiplier *= 128;
  }
  return malformed;
}

export function readHeader(
  buffer: Buffer,
): { headerBytes: number; remaining: number } | 'incomplete' | 'malformed' {
  const header = headerAt(buffer, 0);
  if (header === incomplete) return 'incomplete';
  if (header === malformed) return 'malformed';
  return { headerBytes: headerBytesOf(header), remaining: remainingOf(header) };
}
