/**
 * Kafka primitive types (protocol guide "Protocol Primitive Types"): big-endian fixed-width integers,
 * zig-zag varints, unsigned varints, and the classic (int16/int32 length) and compact (uvarint length+1,
 * used in flexible versions, KIP-482) forms of strings, bytes and arrays.
 *
 * int64 values are `bigint` throughout: offsets, producer ids and timestamps need all 64 bits, and a
 * silent loss of precision above 2^53 is worse than the cost of bigint arithmetic at the edges.
 * Byte fields returned by the reader are views into the input (no copy); copy them to keep them longer
 * than the input buffer lives.
 */
import { KafkaCodecError, KafkaCodecReason } from './errors.js';

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const utf8Decoder = new TextDecoder('utf-8');
const utf8Encoder = new TextEncoder();
const int16Max = 0x7fff;
const int32Max = 0x7fffffff;
const uint32Max = 0xffffffff;
const uvarintBytesMax = 5;
const varlongBytesMax = 10;
export const zeroUuid = '00000000-0000-0000-0000-000000000000';
const hexOfByte: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Strings up to this long are checked for ASCII and copied without TextEncoder (names, ids). */
const asciiCopyCharsMax = 256;

/**
 * Strings up to this many bytes are looked up among the recently decoded before being decoded: every
 * request carries its client id and most its topic names, the same few strings each time, and each
 * decode was a view of the bytes and a new string.
 */
const recentStringBytesMax = 64;
/** Slots of the recent strings' table; a string's slot is a hash of its length and bytes. */
const recentStringSlots = 64;

interface RecentString {
  /** A copy: the bytes decoded came from a request buffer that is reused. */
  readonly bytes: Uint8Array;
  readonly text: string;
}

const recentStrings: Array<RecentString | undefined> = new Array<RecentString | undefined>(recentStringSlots);

function recentSlot(bytes: Uint8Array, at: number, n: number): number {
  let hash = n;
  // A few bytes are enough to spread names told apart by a suffix or a prefix.
  hash = (hash * 31 + bytes[at]!) | 0;
  hash = (hash * 31 + bytes[at + (n >> 1)]!) | 0;
  hash = (hash * 31 + bytes[at + n - 1]!) | 0;
  return (hash >>> 0) % recentStringSlots;
}

function sameBytes(known: Uint8Array, bytes: Uint8Array, at: number, n: number): boolean {
  if (known.length !== n) return false;
  for (let i = 0; i < n; i++) if (known[i] !== bytes[at + i]) return false;
  return true;
}

/** The UTF-8 string of `n` bytes at `at` (invalid sequences replaced, as TextDecoder does). */
function decodeString(bytes: Uint8Array, at: number, n: number): string {
  if (n === 0) return '';
  if (n > recentStringBytesMax) return utf8Decoder.decode(bytes.subarray(at, at + n));
  const slot = recentSlot(bytes, at, n);
  const known = recentStrings[slot];
  if (known !== undefined && sameBytes(known.bytes, bytes, at, n)) return known.text;
  const copy = bytes.slice(at, at + n);
  const text = utf8Decoder.decode(copy);
  recentStrings[slot] = { bytes: copy, text };
  return text;
}

function isAscii(v: string): boolean {
  for (let i = 0; i < v.length; i++) if (v.charCodeAt(i) >= 0x80) return false;
  return true;
}

/** The 16 bytes at `at` in the `8-4-4-4-12` hex form. */
function uuidOf(b: Uint8Array, at: number): string {
  let out = '';
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) out += '-';
    out += hexOfByte[b[at + i] ?? 0];
  }
  return out;
}

/**
 * How many array elements one message may still hold, all its arrays together: a reader given one
 * refuses a message past it as soon as an array's count says so, before decoding that array, so a
 * hostile request costs at most the budget's worth of decoding.
 */
export interface EntryBudget {
  left: number;
  readonly max: number;
}

export function entryBudget(max: number): EntryBudget {
  return { left: max, max };
}

export class KafkaReader {
  readonly bytes: Uint8Array;
  readonly end: number;
  offset: number;
  /** Counts array elements against a bound when set (requests); responses and records have none. */
  budget: EntryBudget | undefined;
  private readonly view: DataView;

  constructor(bytes: Uint8Array, offset = 0, end = bytes.length) {
    if (offset < 0 || end > bytes.length || offset > end) {
      throw new KafkaCodecError(
        KafkaCodecReason.truncated,
        `Reader window ${offset}..${end} is out of bounds`,
      );
    }
    this.bytes = bytes;
    this.offset = offset;
    this.end = end;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get remaining(): number {
    return this.end - this.offset;
  }

  /** Returns the start offset of `n` bytes and moves past them. */
  private take(n: number): number {
    if (n > this.end - this.offset) {
      throw new KafkaCodecError(KafkaCodecReason.truncated, `Needed ${n} bytes, ${this.remaining} remain`);
    }
    const at = this.offset;
    this.offset += n;
    return at;
  }

  readInt8(): number {
    return this.view.getInt8(this.take(1));
  }
  readInt16(): number {
    return this.view.getInt16(this.take(2));
  }
  readUint16(): number {
    return this.view.getUint16(this.take(2));
  }
  readInt32(): number {
    return this.view.getInt32(this.take(4));
  }
  readUint32(): number {
    return this.view.getUint32(this.take(4));
  }
  readInt64(): bigint {
    return this.view.getBigInt64(this.take(8));
  }
  readFloat64(): number {
    return this.view.getFloat64(this.take(8));
  }
  readBool(): boolean {
    return this.readInt8() !== 0;
  }

  /**
   * Most UUIDs a request carries are the zero one (a topic named, not identified), answered by the
   * shared constant; the rest are spelled from a table, without a view or per-byte strings: a
   * 100,000-topic Metadata request spent most of its decoding here.
   */
  readUuid(): string {
    const at = this.take(16);
    const b = this.bytes;
    let zero = true;
    for (let i = at; i < at + 16; i++) {
      if (b[i] !== 0) {
        zero = false;
        break;
      }
    }
    return zero ? zeroUuid : uuidOf(b, at);
  }

  readUvarint(): number {
    let value = 0;
    for (let i = 0; i < uvarintBytesMax; i++) {
      const byte = this.readInt8() & 0xff;
      value += (byte & 0x7f) * 2 ** (7 * i);
      if ((byte & 0x80) === 0) {
        if (value > uint32Max) break;
        return value;
      }
    }
    throw new KafkaCodecError(KafkaCodecReason.malformed, 'Unsigned varint is longer than 32 bits');
  }

  readVarint(): number {
    const u = this.readUvarint();
    return (u >>> 1) ^ -(u & 1);
  }

  readVarlong(): bigint {
    let value = 0n;
    for (let i = 0; i < varlongBytesMax; i++) {
      const byte = this.readInt8() & 0xff;
      value |= BigInt(byte & 0x7f) << BigInt(7 * i);
      if ((byte & 0x80) === 0) {
        value = BigInt.asUintN(64, value);
        return BigInt.asIntN(64, (value >> 1n) ^ -(value & 1n));
      }
    }
    throw new KafkaCodecError(KafkaCodecReason.malformed, 'Varlong is longer than 64 bits');
  }

  /** A view of the next `n` bytes (not a copy). */
  readRaw(n: number): Uint8Array {
    const at = this.take(n);
    return this.bytes.subarray(at, at + n);
  }

  skip(n: number): void {
    this.take(n);
  }

  /** A reader over the next `n` bytes; this reader moves past them. */
  sub(n: number): KafkaReader {
    const at = this.take(n);
    const sub = new KafkaReader(this.bytes, at, at + n);
    sub.budget = this.budget;
    return sub;
  }

  /** Length of a string/bytes/array: -1 means null. Compact lengths are stored as uvarint(n + 1). */
  private readLength(compact: boolean, width: 2 | 4): number {
    const n = compact ? this.readUvarint() - 1 : width === 2 ? this.readInt16() : this.readInt32();
    if (n < -1) throw new KafkaCodecError(KafkaCodecReason.malformed, `Negative length ${n}`);
    return n;
  }

  readString(compact: boolean): string | null {
    const n = this.readLength(compact, 2);
    if (n === -1) return null;
    return decodeString(this.bytes, this.take(n), n);
  }

  readBytes(compact: boolean): Uint8Array | null {
    const n = this.readLength(compact, 4);
    if (n === -1) return null;
    return this.readRaw(n);
  }

  /** Array element count, -1 for null. A count above the bytes left cannot be honest, so it is refused. */
  readArrayLength(compact: boolean): number {
    const n = this.readLength(compact, 4);
    if (n > this.remaining) {
      throw new KafkaCodecError(
        KafkaCodecReason.malformed,
        `Array of ${n} elements, ${this.remaining} bytes remain`,
      );
    }
    if (this.budget !== undefined && n > 0) {
      this.budget.left -= n;
      if (this.budget.left < 0)
        throw new KafkaCodecError(
          KafkaCodecReason.tooManyEntries,
          `More than ${this.budget.max} array elements in one message`,
        );
    }
    return n;
  }
}

/**
 * A `records` value made of several record batches that are written back to back but never joined:
 * a Fetch answer hands the stored batches to the socket as they are (see `KafkaWriter.pieces`).
 */
export class RecordChunks {
  readonly chunks: readonly Uint8Array[];
  /** Total bytes, the length the wire prefix carries. */
  readonly length: number;

  constructor(chunks: readonly Uint8Array[]) {
    this.chunks = chunks;
    let total = 0;
    for (const chunk of chunks) total += chunk.length;
    this.length = total;
  }
}

/** Chunks shorter than this are copied into the writer: a separate iovec would cost more than the copy. */
export const spliceBytesMin = 512;

interface Splice {
  /** Position in the writer's own bytes where the outside bytes go. */
  readonly at: number;
  readonly bytes: Uint8Array;
}

export class KafkaWriter {
  private buf: Uint8Array;
  private view: DataView;
  /** Bytes written into the writer's own buffer; `byteLength` also counts spliced chunks. */
  length = 0;
  private readonly splices: Splice[] = [];
  private splicedBytes = 0;

  constructor(initialBytes = 256) {
    // A slice of Node's shared pool: a typed array of its own costs an off-heap allocation, and a writer
    // is made for every response. Every byte reserved is written before it is read.
    // (A plain Uint8Array over it: what a writer returns stays a Uint8Array, not a Buffer.)
    const slice = Buffer.allocUnsafe(Math.max(16, initialBytes));
    this.buf = new Uint8Array(slice.buffer, slice.byteOffset, slice.byteLength);
    this.view = new DataView(slice.buffer, slice.byteOffset, slice.byteLength);
  }

  private reserve(n: number): number {
    const at = this.length;
    if (at + n > this.buf.length) {
      const grown = new Uint8Array(Math.max(this.buf.length * 2, at + n));
      grown.set(this.buf.subarray(0, at));
      this.buf = grown;
      this.view = new DataView(grown.buffer);
    }
    this.length = at + n;
    return at;
  }

  writeInt8(v: number): void {
    const at = this.reserve(1);
    this.view.setInt8(at, v);
  }
  writeInt16(v: number): void {
    const at = this.reserve(2);
    this.view.setInt16(at, v);
  }
  writeUint16(v: number): void {
    const at = this.reserve(2);
    this.view.setUint16(at, v);
  }
  writeInt32(v: number): void {
    const at = this.reserve(4);
    this.view.setInt32(at, v);
  }
  writeUint32(v: number): void {
    const at = this.reserve(4);
    this.view.setUint32(at, v);
  }
  writeInt64(v: bigint): void {
    const at = this.reserve(8);
    this.view.setBigInt64(at, BigInt.asIntN(64, v));
  }
  writeFloat64(v: number): void {
    const at = this.reserve(8);
    this.view.setFloat64(at, v);
  }
  writeBool(v: boolean): void {
    this.writeInt8(v ? 1 : 0);
  }

  /** Overwrites an int32 written earlier (frame and batch size prefixes). */
  setInt32At(at: number, v: number): void {
    this.view.setInt32(at, v);
  }

  writeUuid(v: string): void {
    if (v === zeroUuid) {
      // The usual value (a topic named, not identified): 16 zero bytes without parsing it.
      const at = this.reserve(16);
      this.buf.fill(0, at, at + 16);
      return;
    }
    const hex = v.toLowerCase();
    if (!uuidPattern.test(hex)) throw new KafkaCodecError(KafkaCodecReason.invalidValue, `Invalid UUID ${v}`);
    const digits = hex.replaceAll('-', '');
    const at = this.reserve(16);
    for (let i = 0; i < 16; i++) this.buf[at + i] = Number.parseInt(digits.slice(2 * i, 2 * i + 2), 16);
  }

  writeUvarint(v: number): void {
    if (!Number.isInteger(v) || v < 0 || v > uint32Max) {
      throw new KafkaCodecError(KafkaCodecReason.invalidValue, `Unsigned varint out of range: ${v}`);
    }
    let rest = v;
    while (rest >= 0x80) {
      const at = this.reserve(1);
      this.buf[at] = (rest % 0x80) | 0x80;
      rest = Math.floor(rest / 0x80);
    }
    const at = this.reserve(1);
    this.buf[at] = rest;
  }

  writeVarint(v: number): void {
    this.writeUvarint(((v << 1) ^ (v >> 31)) >>> 0);
  }

  writeVarlong(v: bigint): void {
    let rest = BigInt.asUintN(64, (v << 1n) ^ (v >> 63n));
    while (rest >= 0x80n) {
      const at = this.reserve(1);
      this.buf[at] = Number(rest & 0x7fn) | 0x80;
      rest >>= 7n;
    }
    const at = this.reserve(1);
    this.buf[at] = Number(rest);
  }

  writeRaw(bytes: Uint8Array): void {
    const at = this.reserve(bytes.length);
    this.buf.set(bytes, at);
  }

  private writeLength(n: number, compact: boolean, width: 2 | 4): void {
    if (compact) this.writeUvarint(n + 1);
    else if (width === 2) this.writeInt16(n);
    else this.writeInt32(n);
  }

  writeString(v: string | null, compact: boolean): void {
    if (v === null) {
      this.writeLength(-1, compact, 2);
      return;
    }
    if (v.length <= asciiCopyCharsMax && isAscii(v)) {
      // Names are short ASCII: copied char by char, without the encoder's own array for each.
      this.writeLength(v.length, compact, 2);
      const at = this.reserve(v.length);
      for (let i = 0; i < v.length; i++) this.buf[at + i] = v.charCodeAt(i);
      return;
    }
    const bytes = utf8Encoder.encode(v);
    if (!compact && bytes.length > int16Max) {
      throw new KafkaCodecError(
        KafkaCodecReason.invalidValue,
        `String of ${bytes.length} bytes exceeds int16`,
      );
    }
    this.writeLength(bytes.length, compact, 2);
    this.writeRaw(bytes);
  }

  writeBytes(v: Uint8Array | null, compact: boolean): void {
    if (v === null) {
      this.writeLength(-1, compact, 4);
      return;
    }
    if (v.length > int32Max) throw new KafkaCodecError(KafkaCodecReason.invalidValue, 'Bytes exceed int32');
    this.writeLength(v.length, compact, 4);
    this.writeRaw(v);
  }

  /**
   * Writes batches as one bytes field without copying them: large chunks are only referenced, and
   * `pieces()` interleaves them with the writer's own bytes. The chunks must stay unchanged until then.
   */
  writeRecordChunks(v: RecordChunks, compact: boolean): void {
    if (v.length > int32Max) throw new KafkaCodecError(KafkaCodecReason.invalidValue, 'Bytes exceed int32');
    this.writeLength(v.length, compact, 4);
    for (const chunk of v.chunks) {
      if (chunk.length < spliceBytesMin) this.writeRaw(chunk);
      else {
        this.splices.push({ at: this.length, bytes: chunk });
        this.splicedBytes += chunk.length;
      }
    }
  }

  writeArrayLength(n: number, compact: boolean): void {
    this.writeLength(n, compact, 4);
  }

  /** Everything written so far, spliced chunks included. */
  get byteLength(): number {
    return this.length + this.splicedBytes;
  }

  /**
   * The bytes written so far as a list to send in order: views of the internal buffer between the
   * spliced chunks. Views of the buffer stay valid only until the next write.
   */
  pieces(): Uint8Array[] {
    const out: Uint8Array[] = [];
    let from = 0;
    for (const { at, bytes } of this.splices) {
      if (at > from) out.push(this.buf.subarray(from, at));
      out.push(bytes);
      from = at;
    }
    if (this.length > from || out.length === 0) out.push(this.buf.subarray(from, this.length));
    return out;
  }

  /** The bytes written so far: a view of the internal buffer, or one joined copy when chunks were spliced. */
  finish(): Uint8Array {
    if (this.splices.length === 0) return this.buf.subarray(0, this.length);
    const out = new Uint8Array(this.byteLength);
    let at = 0;
    for (const piece of this.pieces()) {
      out.set(piece, at);
      at += piece.length;
    }
    return out;
  }
}
