/**
 * Protocol Buffers (proto3) encoding of KubeMQ's messages, driven by the schema table that
 * scripts/gen-kubemq.mjs generates from spec/kubemq/kubemq.proto (generated/schema.ts).
 *
 * Why a codec of our own: the KubeMQ service used to be built at start by @grpc/proto-loader, which
 * parses the .proto with protobufjs and compiles every message's code. That was ~8 MiB of an idle
 * broker's memory (the parser, the reflection tree, the compiled functions, and the young generation
 * grown while making them) for 25 flat messages. This file is that encoding for exactly the kinds
 * kubemq.proto uses, with the shapes proto-loader handed over (its options `keepCase`, `longs: String`,
 * `enums: Number`, `defaults`, `arrays`, `objects`), so handlers and clients see the same objects:
 *
 * - decode: every field present, absent ones at their proto3 default (`''`, `false`, `0`, `'0'` for
 *   int64, an empty Buffer, `null` for a message, `[]`, `{}`); int64 and uint64 as decimal strings;
 *   bytes as Buffers over the input; unknown fields skipped; packed and unpacked repeated numbers.
 * - encode: a field is written when its value is neither `null` nor `undefined`, even at its default,
 *   in field-number order; strings through `String()`, booleans through `Boolean()`, int32 as `| 0`,
 *   int64 from a number, a decimal string or a bigint (wrapped to 64 bits), enums from a number or a
 *   value name, bytes from a Uint8Array or a base64 string, repeated numbers packed, maps as entries.
 *   A message, list or map field given something else is a TypeError.
 *
 * test/kubemq-codec/protobuf.test.ts checks both directions against proto-loader's codec on every
 * message of the proto.
 */
import { Buffer } from 'node:buffer';

export type ProtoKind =
  | 'string'
  | 'bytes'
  | 'bool'
  | 'int32'
  | 'int64'
  | 'uint64'
  | 'enum'
  | 'message'
  | 'map';

export interface ProtoField {
  readonly name: string;
  readonly number: number;
  readonly kind: ProtoKind;
  readonly repeated?: true;
  /** The message type of a `message` field. */
  readonly message?: string;
  /** The enum of an `enum` field (`<message>.<enum>` when nested). */
  readonly enum?: string;
}

export interface ProtoMessage {
  readonly name: string;
  readonly fields: readonly ProtoField[];
}

export type ProtoEnum = Readonly<Record<string, number>>;

export interface ProtoMethod {
  readonly name: string;
  readonly request: string;
  readonly requestStream: boolean;
  readonly response: string;
  readonly responseStream: boolean;
}

export interface ProtoSchema {
  readonly messages: Readonly<Record<string, ProtoMessage>>;
  readonly enums: Readonly<Record<string, ProtoEnum>>;
}

type Fields = Record<string, unknown>;

const wireVarint = 0;
const wire64 = 1;
const wireDelimited = 2;
const wireGroupStart = 3;
const wireGroupEnd = 4;
const wire32 = 5;
const two32 = 4294967296;
/**
 * Items one repeated field may hold: ten times the largest batch accepted by default (KubeMQ's
 * batchMessagesMax), so a hostile message, or a REST or WebSocket body (./json.ts), is refused while
 * it is read, not after 100,000 items.
 */
export const repeatedItemsMax = 10_000;

/**
 * Map entries (Tags) one request may hold, summed over all its messages: a batch of 1,024 messages
 * of 1,000 tags each held every client 3.4–9.7 s (reading, storing and answering 1,000,000 tags),
 * and a message of 1,000,000 tags took 1.5 s to read alone. KubeMQ has no such bound; a request past
 * it is unreadable here, as one past its message size is to KubeMQ's gRPC server.
 */
export const requestTagsMax = 10_000;

/** Repeated numbers are packed (proto3's default): one length-delimited run. */
function packed(field: ProtoField): boolean {
  return (
    field.repeated === true && field.kind !== 'message' && field.kind !== 'string' && field.kind !== 'bytes'
  );
}

function wireOf(field: ProtoField): number {
  if (packed(field)) return wireDelimited;
  switch (field.kind) {
    case 'bool':
    case 'int32':
    case 'int64':
    case 'uint64':
    case 'enum':
      return wireVarint;
    default:
      return wireDelimited;
  }
}

// ---- decoding

function outOfRange(): never {
  throw new RangeError('protobuf: index out of range');
}

class Reader {
  readonly buf: Buffer;
  pos: number;
  end: number;
  /** Map entries read so far in the whole message (a key read twice counts twice: both cost). */
  mapEntries = 0;
  constructor(buf: Buffer, start: number, end: number) {
    this.buf = buf;
    this.pos = start;
    this.end = end;
  }

  /**
   * The low 32 bits of a varint, unsigned. As protobufjs does, a varint still going after its fifth
   * byte is taken to be ten bytes long (a negative int32 is sent sign-extended to 64 bits).
   */
  uint32(): number {
    let value = 0;
    for (let i = 0; i < 5; i++) {
      if (this.pos >= this.end) outOfRange();
      const byte = this.buf[this.pos++]!;
      value += (byte & 0x7f) * 2 ** (7 * i);
      if (byte < 0x80) return value % two32;
    }
    this.advance(5);
    return value % two32;
  }

  /** A varint as its low and high 32-bit words. */
  varint64(): [number, number] {
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) outOfRange();
      const byte = this.buf[this.pos++]!;
      const bits = byte & 0x7f;
      if (i < 4) lo |= bits << (7 * i);
      else if (i === 4) {
        lo |= bits << 28;
        hi |= bits >>> 4;
      } else hi |= bits << (7 * i - 32);
      if (byte < 0x80) return [lo >>> 0, hi >>> 0];
    }
    throw new Error('protobuf: invalid varint encoding');
  }

  int64(signed: boolean): string {
    const [lo, hi] = this.varint64();
    if (hi === 0) return String(lo);
    const bits = (BigInt(hi) << 32n) | BigInt(lo);
    return (signed ? BigInt.asIntN(64, bits) : bits).toString();
  }

  delimited(): number {
    const length = this.uint32();
    const end = this.pos + length;
    if (end > this.end) outOfRange();
    return end;
  }

  /** A string cut short by the end of its message is read as far as it goes, as protobufjs reads it. */
  string(): string {
    const length = this.uint32();
    const end = Math.min(this.pos + length, this.end);
    const text = this.pos === end ? '' : this.buf.toString('utf8', this.pos, end);
    this.pos = end;
    return text;
  }

  bytes(): Buffer {
    const end = this.delimited();
    const bytes = end === this.pos ? Buffer.alloc(0) : this.buf.subarray(this.pos, end);
    this.pos = end;
    return bytes;
  }

  skip(wire: number): void {
    switch (wire) {
      case wireVarint:
        do if (this.pos >= this.end) outOfRange();
        while (this.buf[this.pos++]! >= 0x80);
        return;
      case wire64:
        this.advance(8);
        return;
      case wireDelimited:
        this.pos = this.delimited();
        return;
      case wireGroupStart:
        for (let tag = this.uint32(); tag % 8 !== wireGroupEnd; tag = this.uint32()) this.skip(tag % 8);
        return;
      case wire32:
        this.advance(4);
        return;
      default:
        throw new Error(`protobuf: invalid wire type ${wire} at offset ${this.pos}`);
    }
  }

  advance(count: number): void {
    if (this.pos + count > this.end) outOfRange();
    this.pos += count;
  }
}

function defaultOf(field: ProtoField): unknown {
  if (field.kind === 'map') return {};
  if (field.repeated === true) return [];
  switch (field.kind) {
    case 'string':
      return '';
    case 'bool':
      return false;
    case 'bytes':
      return Buffer.alloc(0);
    case 'int64':
    case 'uint64':
      return '0';
    case 'message':
      return null;
    default:
      return 0;
  }
}

function readScalar(schema: ProtoSchema, reader: Reader, field: ProtoField): unknown {
  switch (field.kind) {
    case 'string':
      return reader.string();
    case 'bytes':
      return reader.bytes();
    case 'bool':
      return reader.uint32() !== 0;
    case 'int32':
    case 'enum':
      return reader.uint32() | 0;
    case 'int64':
      return reader.int64(true);
    case 'uint64':
      return reader.int64(false);
    default:
      return readMessage(schema, schema.messages[field.message!]!, reader, reader.delimited());
  }
}

function readMapEntry(reader: Reader, into: Fields): void {
  const end = reader.delimited();
  const outer = reader.end;
  reader.end = end;
  let key = '';
  let value = '';
  while (reader.pos < end) {
    const tag = reader.uint32();
    if (tag >>> 3 === 1) key = reader.string();
    else if (tag >>> 3 === 2) value = reader.string();
    else reader.skip(tag & 7);
  }
  if (reader.pos !== end) outOfRange();
  reader.end = outer;
  // A key named `__proto__` is an entry like any other (an own property), not the object's prototype.
  if (key === '__proto__')
    Object.defineProperty(into, key, { value, enumerable: true, writable: true, configurable: true });
  else into[key] = value;
}

/** Refuses the next item of `field` once `read` of them are in. */
function roomFor(read: number, field: ProtoField): void {
  if (read >= repeatedItemsMax)
    throw new RangeError(`protobuf: more than ${repeatedItemsMax} items in ${field.name}`);
}

function readField(schema: ProtoSchema, reader: Reader, field: ProtoField, wire: number, into: Fields): void {
  if (field.kind === 'map') {
    if (reader.mapEntries >= requestTagsMax)
      throw new RangeError(
        `protobuf: more than ${requestTagsMax} entries in ${field.name}, over the request`,
      );
    reader.mapEntries += 1;
    readMapEntry(reader, into[field.name] as Fields);
    return;
  }
  if (field.repeated !== true) {
    into[field.name] = readScalar(schema, reader, field);
    return;
  }
  const list = into[field.name] as unknown[];
  roomFor(list.length, field);
  if (wire === wireDelimited && packed(field)) {
    const end = reader.delimited();
    const outer = reader.end;
    reader.end = end;
    while (reader.pos < end) {
      roomFor(list.length, field);
      list.push(readScalar(schema, reader, field));
    }
    reader.end = outer;
    return;
  }
  list.push(readScalar(schema, reader, field));
}

/** Each message's fields by number, made at its first decode. */
const byNumber = new WeakMap<ProtoMessage, Array<ProtoField | undefined>>();

function fieldsByNumber(type: ProtoMessage): Array<ProtoField | undefined> {
  let index = byNumber.get(type);
  if (index === undefined) {
    index = [];
    for (const field of type.fields) index[field.number] = field;
    byNumber.set(type, index);
  }
  return index;
}

function readMessage(schema: ProtoSchema, type: ProtoMessage, reader: Reader, end: number): Fields {
  const out: Fields = {};
  for (const field of type.fields) out[field.name] = defaultOf(field);
  const fields = fieldsByNumber(type);
  const outer = reader.end;
  reader.end = end;
  while (reader.pos < end) {
    const tag = reader.uint32();
    const field = fields[tag >>> 3];
    if (field === undefined) reader.skip(tag & 7);
    else readField(schema, reader, field, tag & 7, out);
  }
  reader.end = outer;
  return out;
}

/** Decodes one message of `type` from `bytes` (all of them). */
export function decodeMessage(schema: ProtoSchema, type: string, bytes: Uint8Array): Fields {
  const message = schema.messages[type];
  if (message === undefined) throw new Error(`protobuf: no message ${type}`);
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return readMessage(schema, message, new Reader(buf, 0, buf.length), buf.length);
}

// ---- encoding

class Writer {
  buf: Buffer;
  pos = 0;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }

  room(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + bytes));
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }

  varint(value: number): void {
    this.room(5);
    let rest = value >>> 0;
    while (rest > 0x7f) {
      this.buf[this.pos++] = (rest & 0x7f) | 0x80;
      rest >>>= 7;
    }
    this.buf[this.pos++] = rest;
  }

  varint64(lo: number, hi: number): void {
    if (hi === 0) {
      this.varint(lo);
      return;
    }
    this.room(10);
    let low = lo >>> 0;
    let high = hi >>> 0;
    while (high > 0 || low > 0x7f) {
      this.buf[this.pos++] = (low & 0x7f) | 0x80;
      low = ((low >>> 7) | (high << 25)) >>> 0;
      high >>>= 7;
    }
    this.buf[this.pos++] = low;
  }

  int32(value: number): void {
    if (value >= 0) this.varint(value);
    else this.varint64(value >>> 0, 0xffffffff);
  }

  tag(number: number, wire: number): void {
    this.varint(number * 8 + wire);
  }

  string(text: string): void {
    const length = Buffer.byteLength(text);
    this.varint(length);
    this.room(length);
    this.pos += this.buf.write(text, this.pos, 'utf8');
  }

  bytes(bytes: Uint8Array): void {
    this.varint(bytes.length);
    this.room(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /** Writes what `body` writes as one length-delimited value (5 bytes kept for its length, then closed up). */
  delimited(body: () => void): void {
    this.room(5);
    const lengthAt = this.pos;
    this.pos += 5;
    body();
    const length = this.pos - lengthAt - 5;
    let size = 1;
    while (length >= 2 ** (7 * size)) size++;
    if (size < 5) this.buf.copy(this.buf, lengthAt + size, lengthAt + 5, this.pos);
    const end = this.pos - (5 - size);
    this.pos = lengthAt;
    this.varint(length);
    this.pos = end;
  }
}

/** A 64-bit integer as its low and high words, from what proto-loader's fromObject accepted. */
function int64Words(value: unknown): [number, number] {
  if (typeof value === 'number') {
    if (Number.isNaN(value)) return [0, 0];
    const whole = Math.trunc(value);
    if (Number.isSafeInteger(whole)) {
      const hi = Math.floor(whole / two32);
      return [(whole - hi * two32) >>> 0, hi >>> 0];
    }
    const clamped = whole > 0 ? 2n ** 63n - 1n : -(2n ** 63n);
    return int64Words(Number.isFinite(whole) && Math.abs(whole) < 2 ** 63 ? BigInt(whole) : clamped);
  }
  if (typeof value === 'string') {
    if (!/^[-+]?\d+$/.test(value))
      throw new TypeError(`protobuf: ${JSON.stringify(value)} is not an integer`);
    return int64Words(BigInt(value));
  }
  if (typeof value === 'bigint') {
    const bits = BigInt.asUintN(64, value);
    return [Number(bits & 0xffffffffn), Number(bits >> 32n)];
  }
  if (typeof value === 'object' && value !== null && 'low' in value && 'high' in value) {
    const { low, high } = value as { low: number; high: number };
    return [low >>> 0, high >>> 0];
  }
  throw new TypeError(`protobuf: ${String(value)} is not an integer`);
}

function bytesOf(value: unknown, field: ProtoField): Uint8Array {
  if (typeof value === 'string') return Buffer.from(value, 'base64');
  if (value instanceof Uint8Array) return value;
  if (Array.isArray(value)) return Buffer.from(value as number[]);
  throw new TypeError(`protobuf: ${field.name}: bytes expected`);
}

/** An enum value as proto-loader's fromObject took it: a number, or a value name; anything else is absent. */
function enumNumber(schema: ProtoSchema, field: ProtoField, value: unknown): number | undefined {
  if (typeof value === 'number') return value | 0;
  if (typeof value === 'string') return schema.enums[field.enum!]?.[value];
  return undefined;
}

function writeScalar(schema: ProtoSchema, w: Writer, field: ProtoField, value: unknown): void {
  switch (field.kind) {
    case 'string':
      w.string(String(value));
      break;
    case 'bytes':
      w.bytes(bytesOf(value, field));
      break;
    case 'bool':
      w.varint(value ? 1 : 0);
      break;
    case 'int32':
    case 'enum':
      w.int32((value as number) | 0);
      break;
    case 'int64':
    case 'uint64': {
      const [lo, hi] = int64Words(value);
      w.varint64(lo, hi);
      break;
    }
    default:
      if (typeof value !== 'object' || value === null)
        throw new TypeError(`protobuf: ${field.name}: object expected`);
      w.delimited(() => writeMessage(schema, w, schema.messages[field.message!]!, value as Fields));
  }
}

function writeMap(w: Writer, field: ProtoField, value: unknown): void {
  if (typeof value !== 'object' || value === null)
    throw new TypeError(`protobuf: ${field.name}: object expected`);
  const entries = value as Fields;
  for (const key of Object.keys(entries)) {
    w.tag(field.number, wireDelimited);
    w.delimited(() => {
      w.tag(1, wireDelimited);
      w.string(key);
      w.tag(2, wireDelimited);
      w.string(String(entries[key]));
    });
  }
}

function writeField(schema: ProtoSchema, w: Writer, field: ProtoField, value: unknown): void {
  if (field.kind === 'map') {
    writeMap(w, field, value);
    return;
  }
  if (field.kind === 'enum') {
    const number = enumNumber(schema, field, value);
    if (number === undefined) return;
    value = number;
  }
  if (field.repeated !== true) {
    w.tag(field.number, wireOf(field));
    writeScalar(schema, w, field, value);
    return;
  }
  if (!Array.isArray(value)) throw new TypeError(`protobuf: ${field.name}: array expected`);
  if (field.kind === 'message') {
    for (const item of value) {
      w.tag(field.number, wireDelimited);
      writeScalar(schema, w, field, item);
    }
  } else if (value.length > 0) {
    w.tag(field.number, wireDelimited);
    w.delimited(() => {
      for (const item of value) writeScalar(schema, w, field, item);
    });
  }
}

function writeMessage(schema: ProtoSchema, w: Writer, type: ProtoMessage, value: Fields): void {
  for (const field of type.fields) {
    const item = value[field.name];
    if (item !== null && item !== undefined) writeField(schema, w, field, item);
  }
}

/** Encodes `value` as one message of `type`. */
export function encodeMessage(schema: ProtoSchema, type: string, value: unknown): Buffer {
  const message = schema.messages[type];
  if (message === undefined) throw new Error(`protobuf: no message ${type}`);
  if (typeof value !== 'object' || value === null) throw new TypeError(`protobuf: ${type}: object expected`);
  const w = new Writer(256);
  writeMessage(schema, w, message, value as Fields);
  return w.buf.subarray(0, w.pos);
}
