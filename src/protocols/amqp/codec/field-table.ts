/**
 * AMQP field tables with RabbitMQ's type tags (RabbitMQ "AMQP 0-9-1 errata"; these differ from the
 * 0-9-1 spec's 4.2.5.5 grammar: `s` is a signed 16-bit integer, `l` a signed 64-bit one, `x` a byte
 * array, and `U`/`L` do not exist):
 *
 *   t boolean   b int8    B uint8   s int16   u uint16   I int32   i uint32   l int64
 *   f float32   d float64  D decimal (scale octet + uint32)   S long string (uint32 length)
 *   A array (uint32 byte length, then tag+value…)   T timestamp (uint64 seconds)
 *   F table (uint32 byte length, then shortstr key + tag+value…)   V void   x byte array
 *
 * JS values and tags. Encoding picks the tag from the JS value: string → S, boolean → t, integer
 * number → I when it fits int32 else l (while |n| < 2^63), other numbers → d, bigint → l,
 * Uint8Array → x, Date → T (whole seconds, milliseconds dropped), null → V, array → A, plain
 * object → F. Decoding returns exactly those plain values when they would re-encode under the same
 * tag, and a `Tagged` wrapper otherwise (b B s u i f D; l within int32; d holding an integral value;
 * T beyond Date's range; S that is not valid UTF-8). So decode → encode is byte-exact, with three
 * documented exceptions: a boolean octet other than 0/1 comes back as 1, NaN payloads are
 * canonicalised, and keys that look like array indices move first (JS property order) — duplicate
 * keys keep the last value.
 */
import { ByteReader, type ByteWriter, utf8Bytes } from './bytes.js';
import { syntaxError } from './errors.js';

/** Tables and arrays nested deeper than this are refused, so hostile input cannot exhaust the stack. */
export const fieldDepthMax = 64;

/**
 * Entries (table keys and array items, nested ones counted) one table read from a frame may hold.
 * A 128 KiB frame carries up to 130,000 one-octet entries, and decoding and handling 25,000 held
 * every connection's event loop 80–150 ms; real headers and arguments hold tens. RabbitMQ has no
 * such bound (it reads whatever fits frame-max), so this one is Switchyard's, refused as a table it
 * cannot read: 502 SYNTAX_ERROR.
 */
export const fieldEntriesMax = 10_000;

/** What is left of `fieldEntriesMax` while one top-level table is read. */
interface EntriesLeft {
  count: number;
}

function takeEntry(left: EntriesLeft): void {
  left.count -= 1;
  if (left.count < 0) throw syntaxError(`Field table holds more than ${fieldEntriesMax} entries`);
}

interface TaggedValues {
  b: number;
  B: number;
  s: number;
  u: number;
  I: number;
  i: number;
  f: number;
  d: number;
  l: bigint;
  T: bigint;
  D: number;
  S: Uint8Array;
}
export type TaggedTag = keyof TaggedValues;

/** A value whose wire tag is not the one its JS value would get; keeps re-encoding byte-exact. */
export class Tagged<T extends TaggedTag = TaggedTag> {
  readonly tag: T;
  readonly value: TaggedValues[T];
  /** Decimal places, for `D` only: the number is value / 10^scale. */
  readonly scale: number;

  constructor(tag: T, value: TaggedValues[T], scale = 0) {
    this.tag = tag;
    this.value = value;
    this.scale = scale;
  }
}

export type FieldValue =
  | string
  | number
  | bigint
  | boolean
  | null
  | Uint8Array
  | Date
  | Tagged
  | FieldValue[]
  | FieldTable;
export interface FieldTable {
  [key: string]: FieldValue;
}

/** Field values without wire tags: the shape other protocols and the core understand. */
export type PlainFieldValue =
  | string
  | number
  | bigint
  | boolean
  | null
  | Uint8Array
  | Date
  | PlainFieldValue[]
  | { [key: string]: PlainFieldValue };

const int32Min = -(2 ** 31);
const int32Max = 2 ** 31 - 1;
const int64Bound = 2 ** 63;
/** Seconds at which `new Date(seconds * 1000)` stops being valid (ECMA-262 time value range). */
const dateSecondsMax = 8_640_000_000_000n;

/** A table of a frame's fields; nested tables and arrays share the top-level table's `left`. */
export function readTable(
  r: ByteReader,
  depth = 0,
  left: EntriesLeft = { count: fieldEntriesMax },
): FieldTable {
  const inner = new ByteReader(r.view(r.u32(), 'field table'));
  const table: FieldTable = {};
  // Each entry consumes at least two bytes, so the loop ends with the table's bytes.
  while (inner.remaining > 0) {
    takeEntry(left);
    const key = inner.shortstr();
    setEntry(table, key, readValue(inner, depth + 1, left));
  }
  return table;
}

/** Assigning `__proto__` would replace the object's prototype instead of adding a key. */
function setEntry(table: FieldTable, key: string, value: FieldValue): void {
  if (key === '__proto__') {
    Object.defineProperty(table, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    table[key] = value;
  }
}

function readArray(r: ByteReader, depth: number, left: EntriesLeft): FieldValue[] {
  const inner = new ByteReader(r.view(r.u32(), 'field array'));
  const values: FieldValue[] = [];
  while (inner.remaining > 0) {
    takeEntry(left);
    values.push(readValue(inner, depth + 1, left));
  }
  return values;
}

function readValue(r: ByteReader, depth: number, left: EntriesLeft): FieldValue {
  if (depth > fieldDepthMax) throw syntaxError(`Field table nested deeper than ${fieldDepthMax}`);
  const code = r.u8();
  switch (String.fromCharCode(code)) {
    case 't':
      return r.u8() !== 0;
    case 'b':
      return new Tagged('b', r.i8());
    case 'B':
      return new Tagged('B', r.u8());
    case 's':
      return new Tagged('s', r.i16());
    case 'u':
      return new Tagged('u', r.u16());
    case 'I':
      return r.i32();
    case 'i':
      return new Tagged('i', r.u32());
    case 'l':
      return int64Value(r.i64());
    case 'f':
      return new Tagged('f', r.f32());
    case 'd':
      return doubleValue(r.f64());
    default:
      return readOtherValue(r, code, depth, left);
  }
}

function readOtherValue(r: ByteReader, code: number, depth: number, left: EntriesLeft): FieldValue {
  switch (String.fromCharCode(code)) {
    case 'D': {
      const scale = r.u8();
      return new Tagged('D', r.u32(), scale);
    }
    case 'S':
      return longStringValue(r.view(r.u32(), 'long string'));
    case 'A':
      return readArray(r, depth, left);
    case 'T':
      return timestampValue(r.u64());
    case 'F':
      return readTable(r, depth, left);
    case 'V':
      return null;
    case 'x':
      return r.copy(r.u32(), 'byte array');
    default:
      throw syntaxError(`Unknown field type tag 0x${code.toString(16).padStart(2, '0')}`);
  }
}

function int64Value(value: bigint): FieldValue {
  if (value >= BigInt(int32Min) && value <= BigInt(int32Max)) return new Tagged('l', value);
  const asNumber = Number(value);
  return Number.isSafeInteger(asNumber) ? asNumber : value;
}

function doubleValue(value: number): FieldValue {
  // An integral double would re-encode as I or l, so it keeps its tag (this also covers -0).
  return Number.isInteger(value) ? new Tagged('d', value) : value;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function longStringValue(bytes: Uint8Array): FieldValue {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return new Tagged('S', bytes.slice());
  }
}

function timestampValue(seconds: bigint): FieldValue {
  return seconds <= dateSecondsMax ? new Date(Number(seconds) * 1000) : new Tagged('T', seconds);
}

export function writeTable(w: ByteWriter, table: FieldTable, depth = 0): void {
  const at = w.reserveU32();
  const start = w.length;
  for (const key of Object.keys(table)) {
    w.shortstr(key);
    writeValue(w, table[key] as FieldValue, depth + 1);
  }
  w.patchU32(at, w.length - start);
}

function writeArray(w: ByteWriter, values: readonly FieldValue[], depth: number): void {
  const at = w.reserveU32();
  const start = w.length;
  for (const value of values) writeValue(w, value, depth + 1);
  w.patchU32(at, w.length - start);
}

function writeValue(w: ByteWriter, value: FieldValue, depth: number): void {
  if (depth > fieldDepthMax) throw syntaxError(`Field table nested deeper than ${fieldDepthMax}`);
  switch (typeof value) {
    case 'string':
      writeTag(w, 'S');
      w.longstr(utf8Bytes(value));
      break;
    case 'boolean':
      writeTag(w, 't');
      w.u8(value ? 1 : 0);
      break;
    case 'number':
      writeNumber(w, value);
      break;
    case 'bigint':
      writeTag(w, 'l');
      w.i64(value);
      break;
    case 'object':
      writeObject(w, value, depth);
      break;
    default:
      throw syntaxError(`A ${typeof value} cannot be encoded in a field table`);
  }
}

function writeNumber(w: ByteWriter, value: number): void {
  if (Number.isInteger(value) && value >= int32Min && value <= int32Max) {
    writeTag(w, 'I');
    w.i32(value);
  } else if (Number.isInteger(value) && Math.abs(value) < int64Bound) {
    writeTag(w, 'l');
    w.i64(BigInt(value));
  } else {
    writeTag(w, 'd');
    w.f64(value);
  }
}

function writeObject(w: ByteWriter, value: object | null, depth: number): void {
  if (value === null) {
    writeTag(w, 'V');
  } else if (Array.isArray(value)) {
    writeTag(w, 'A');
    writeArray(w, value as FieldValue[], depth);
  } else if (value instanceof Uint8Array) {
    writeTag(w, 'x');
    w.longstr(value);
  } else if (value instanceof Date) {
    writeTag(w, 'T');
    w.u64(dateSeconds(value));
  } else if (value instanceof Tagged) {
    writeTagged(w, value);
  } else {
    writeTag(w, 'F');
    writeTable(w, value as FieldTable, depth);
  }
}

function dateSeconds(date: Date): bigint {
  const ms = date.getTime();
  if (!Number.isFinite(ms) || ms < 0) throw syntaxError(`Timestamp ${date.toString()} is not encodable`);
  return BigInt(Math.floor(ms / 1000));
}

function writeTagged(w: ByteWriter, tagged: Tagged): void {
  const { tag, value } = tagged;
  writeTag(w, tag);
  if (typeof value === 'number') {
    writeTaggedNumber(w, tag, value, tagged.scale);
  } else if (typeof value === 'bigint' && tag === 'l') {
    w.i64(value);
  } else if (typeof value === 'bigint' && tag === 'T') {
    w.u64(value);
  } else if (value instanceof Uint8Array && tag === 'S') {
    w.longstr(value);
  } else {
    throw syntaxError(`Tag ${tag} cannot hold a ${typeof value}`);
  }
}

/** Each writer checks its own range, so a wrapper built by hand cannot emit a wrapped number. */
const taggedNumberWriters: { readonly [tag: string]: (w: ByteWriter, value: number) => void } = {
  b: (w, v) => w.i8(v),
  B: (w, v) => w.u8(v),
  s: (w, v) => w.i16(v),
  u: (w, v) => w.u16(v),
  I: (w, v) => w.i32(v),
  i: (w, v) => w.u32(v),
  f: (w, v) => w.f32(v),
  d: (w, v) => w.f64(v),
};

function writeTaggedNumber(w: ByteWriter, tag: TaggedTag, value: number, scale: number): void {
  if (tag === 'D') {
    w.u8(scale);
    w.u32(value);
    return;
  }
  const write = taggedNumberWriters[tag];
  if (write === undefined) throw syntaxError(`Tag ${tag} cannot hold a number`);
  write(w, value);
}

function writeTag(w: ByteWriter, tag: string): void {
  w.u8(tag.charCodeAt(0));
}

/** The value with wire tags dropped; decimals become numbers (value / 10^scale). */
export function plainFieldValue(value: FieldValue): PlainFieldValue {
  if (value instanceof Tagged) return plainTagged(value);
  if (Array.isArray(value)) return value.map(plainFieldValue);
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array || value instanceof Date) {
    return value;
  }
  const plain: { [key: string]: PlainFieldValue } = {};
  for (const key of Object.keys(value)) setPlain(plain, key, plainFieldValue(value[key] as FieldValue));
  return plain;
}

function setPlain(table: { [key: string]: PlainFieldValue }, key: string, value: PlainFieldValue): void {
  Object.defineProperty(table, key, { value, enumerable: true, writable: true, configurable: true });
}

function plainTagged(tagged: Tagged): PlainFieldValue {
  const { value } = tagged;
  if (typeof value === 'bigint') {
    return Number.isSafeInteger(Number(value)) ? Number(value) : value;
  }
  if (value instanceof Uint8Array) return value;
  return tagged.tag === 'D' ? value / 10 ** tagged.scale : value;
}

/**
 * A numeric field as a JS number, whatever integer or float tag the client chose (clients differ:
 * the same `x-message-ttl` arrives as I, l, s or d); undefined for non-numbers and unsafe bigints.
 */
export function fieldNumber(value: FieldValue | undefined): number | undefined {
  if (value === undefined) return undefined;
  const plain = value instanceof Tagged ? plainTagged(value) : value;
  if (typeof plain === 'number') return plain;
  if (typeof plain === 'bigint' && Number.isSafeInteger(Number(plain))) return Number(plain);
  return undefined;
}
