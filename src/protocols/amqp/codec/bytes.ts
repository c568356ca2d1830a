/**
 * Big-endian reader and writer for AMQP's data types (spec 4.2.5). Every read checks the bytes left
 * and every write checks its range, so bad input surfaces as `AmqpCodecError` (502) rather than a
 * `RangeError` or a silently wrapped number.
 */
import { syntaxError } from './errors.js';

const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

/** A longlong beyond this cannot be a JS number without losing digits. */
const safeIntegerMax = Number.MAX_SAFE_INTEGER;
const shortstrBytesMax = 255;
const uint32Max = 0xffff_ffff;

export class ByteReader {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  #offset = 0;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get offset(): number {
    return this.#offset;
  }

  get remaining(): number {
    return this.#bytes.byteLength - this.#offset;
  }

  /** Returns the offset to read at and advances past `count` bytes. */
  #take(count: number, what: string): number {
    if (count > this.remaining) {
      throw syntaxError(`Truncated ${what}: needs ${count} bytes, ${this.remaining} left`);
    }
    const at = this.#offset;
    this.#offset += count;
    return at;
  }

  u8(): number {
    return this.#view.getUint8(this.#take(1, 'octet'));
  }
  i8(): number {
    return this.#view.getInt8(this.#take(1, 'octet'));
  }
  u16(): number {
    return this.#view.getUint16(this.#take(2, 'short'));
  }
  i16(): number {
    return this.#view.getInt16(this.#take(2, 'short'));
  }
  u32(): number {
    return this.#view.getUint32(this.#take(4, 'long'));
  }
  i32(): number {
    return this.#view.getInt32(this.#take(4, 'long'));
  }
  u64(): bigint {
    return this.#view.getBigUint64(this.#take(8, 'longlong'));
  }
  i64(): bigint {
    return this.#view.getBigInt64(this.#take(8, 'longlong'));
  }
  f32(): number {
    return this.#view.getFloat32(this.#take(4, 'float'));
  }
  f64(): number {
    return this.#view.getFloat64(this.#take(8, 'double'));
  }

  /** An unsigned longlong as a number; refuses values above 2^53 - 1 rather than rounding them. */
  u64Number(): number {
    const value = this.u64();
    if (value > BigInt(safeIntegerMax)) throw syntaxError(`Longlong ${value} exceeds 2^53 - 1`);
    return Number(value);
  }

  /** A view onto the input (no copy): valid only while the caller keeps the input unchanged. */
  view(count: number, what: string): Uint8Array {
    const at = this.#take(count, what);
    return this.#bytes.subarray(at, at + count);
  }

  /** A copy, safe to keep after the input buffer is reused. */
  copy(count: number, what: string): Uint8Array {
    const at = this.#take(count, what);
    return this.#bytes.slice(at, at + count);
  }

  utf8(count: number, what: string): string {
    const bytes = this.view(count, what);
    try {
      return utf8Decoder.decode(bytes);
    } catch {
      throw syntaxError(`Invalid UTF-8 in ${what}`);
    }
  }

  shortstr(): string {
    return this.utf8(this.u8(), 'short string');
  }

  longstr(): Uint8Array {
    return this.copy(this.u32(), 'long string');
  }

  /** Spec 4.2.5 leaves no room for trailing bytes: a method or header must be consumed exactly. */
  end(what: string): void {
    if (this.remaining !== 0) throw syntaxError(`${this.remaining} unexpected bytes after ${what}`);
  }
}

export class ByteWriter {
  #bytes: Uint8Array;
  #view: DataView;
  #length = 0;
  readonly #bytesMax: number;

  constructor(initialBytes = 256, bytesMax = 0x7fff_ffff) {
    this.#bytes = new Uint8Array(initialBytes);
    this.#view = new DataView(this.#bytes.buffer);
    this.#bytesMax = bytesMax;
  }

  get length(): number {
    return this.#length;
  }

  /**
   * Returns the offset to write at and advances past `count` bytes, growing the buffer. Call it
   * before touching `#view`/`#bytes`: growing replaces both.
   */
  #take(count: number): number {
    const at = this.#length;
    const needed = at + count;
    if (needed > this.#bytes.byteLength) this.#grow(needed);
    this.#length = needed;
    return at;
  }

  #grow(needed: number): void {
    if (needed > this.#bytesMax) throw syntaxError(`Encoded value exceeds ${this.#bytesMax} bytes`);
    const size = Math.min(this.#bytesMax, Math.max(needed, this.#bytes.byteLength * 2));
    const bigger = new Uint8Array(size);
    bigger.set(this.#bytes.subarray(0, this.#length));
    this.#bytes = bigger;
    this.#view = new DataView(bigger.buffer);
  }

  u8(value: number): void {
    checkInteger(value, 0, 0xff, 'octet');
    const at = this.#take(1);
    this.#view.setUint8(at, value);
  }
  i8(value: number): void {
    checkInteger(value, -0x80, 0x7f, 'signed octet');
    const at = this.#take(1);
    this.#view.setInt8(at, value);
  }
  u16(value: number): void {
    checkInteger(value, 0, 0xffff, 'short');
    const at = this.#take(2);
    this.#view.setUint16(at, value);
  }
  i16(value: number): void {
    checkInteger(value, -0x8000, 0x7fff, 'signed short');
    const at = this.#take(2);
    this.#view.setInt16(at, value);
  }
  u32(value: number): void {
    checkInteger(value, 0, uint32Max, 'long');
    const at = this.#take(4);
    this.#view.setUint32(at, value);
  }
  i32(value: number): void {
    checkInteger(value, -0x8000_0000, 0x7fff_ffff, 'signed long');
    const at = this.#take(4);
    this.#view.setInt32(at, value);
  }
  u64(value: bigint): void {
    if (value < 0n || value > 0xffff_ffff_ffff_ffffn) throw syntaxError(`Longlong ${value} out of range`);
    const at = this.#take(8);
    this.#view.setBigUint64(at, value);
  }
  i64(value: bigint): void {
    if (value < -(2n ** 63n) || value >= 2n ** 63n)
      throw syntaxError(`Signed longlong ${value} out of range`);
    const at = this.#take(8);
    this.#view.setBigInt64(at, value);
  }
  f32(value: number): void {
    const at = this.#take(4);
    this.#view.setFloat32(at, value);
  }
  f64(value: number): void {
    const at = this.#take(8);
    this.#view.setFloat64(at, value);
  }

  /** An unsigned longlong given as a number (delivery tags, timestamps): a safe integer ≥ 0. */
  u64Number(value: number): void {
    checkInteger(value, 0, safeIntegerMax, 'longlong');
    const at = this.#take(8);
    this.#view.setBigUint64(at, BigInt(value));
  }

  bytes(value: Uint8Array): void {
    const at = this.#take(value.byteLength);
    this.#bytes.set(value, at);
  }

  shortstr(value: string): void {
    // Every UTF-16 unit takes at least one UTF-8 byte, so a longer string can never fit.
    if (value.length > shortstrBytesMax) {
      throw syntaxError(`Short string over ${shortstrBytesMax} bytes: ${value.slice(0, 40)}…`);
    }
    // UTF-8 needs at most 3 bytes per UTF-16 unit; encode in place, then fix the length octet.
    const at = this.#take(1 + value.length * 3);
    const { written } = utf8Encoder.encodeInto(value, this.#bytes.subarray(at + 1));
    if (written > shortstrBytesMax) {
      throw syntaxError(`Short string is ${written} bytes, over ${shortstrBytesMax}: ${value.slice(0, 40)}…`);
    }
    this.#bytes[at] = written;
    this.#length = at + 1 + written;
  }

  longstr(value: Uint8Array): void {
    this.u32(value.byteLength);
    this.bytes(value);
  }

  /** Writes a placeholder long and returns where, for lengths known only after the content. */
  reserveU32(): number {
    return this.#take(4);
  }

  patchU32(at: number, value: number): void {
    checkInteger(value, 0, uint32Max, 'long');
    this.#view.setUint32(at, value);
  }

  /** The bytes written so far; the writer must not be used afterwards. */
  finish(): Uint8Array {
    return this.#bytes.subarray(0, this.#length);
  }
}

function checkInteger(value: number, min: number, max: number, what: string): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw syntaxError(`${what} ${value} out of range ${min}..${max}`);
  }
}

export function utf8Bytes(value: string): Uint8Array {
  return utf8Encoder.encode(value);
}
