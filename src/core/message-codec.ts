/**
 * Binary form of a core `Message`, as stored in queue logs and stream entries. Pure: bytes in,
 * values out. Every `HeaderValue` kind survives a round trip, including nested tables and arrays,
 * bigint, Date, bytes and typed numbers, and headers keep their order and repeated names, so a header
 * published over one protocol reaches another unchanged.
 *
 * Layout (all integers little-endian; `varint` = unsigned LEB128; `str` = varint length + UTF-8;
 * `bytes` = varint length + bytes):
 *
 *   u8   version (= messageCodecVersion)
 *   u8   flags: bit0 envelope, bit1 envelope.expiresAtMs, bit2 envelope.readyAtMs
 *   [envelope: f64 enqueuedAtMs, [f64 expiresAtMs], [f64 readyAtMs], varint deliveryCount]
 *   str  exchange
 *   str  routingKey
 *   u32  property presence bits (bit i = `propertyOrder[i]`), then each present property in that order:
 *          contentType, contentEncoding, correlationId, replyTo, messageId, type, userId, appId,
 *          publisherId, receiveLimitQueue,
 *          deadLetteredFrom                     str
 *          persistent, retain, textBody         u8 (0 or 1)
 *          priority, qos                        u8
 *          expirationMs, timestamp, expiresAtMs,
 *          delayMs, receiveLimit                f64
 *          correlationData, key                 bytes
 *          headers                              header list
 *          replay                               str routingKey, str subscription
 *   bytes body
 *
 * Header list: varint count, then count × (str name, value), in the publisher's order; a name may
 * repeat. Table (a value nested in a header): varint count, then count × (str key, value).
 * Array: varint count, count × value.
 * Value: u8 tag (`tag` below) then: string str | number f64 | bigint str (decimal) | bytes
 * | date f64 | array | table | typed number; null/false/true carry nothing more.
 * Typed number: u8 index in `typedNumberTypes`, then int64 as str (decimal), decimal as u8 scale +
 * f64 unscaled value, every other type as f64.
 *
 * Versions: 1 and 2 (release 0.1) kept headers as one table and broker metadata among them; 3 holds
 * the ordered header list and broker fields of their own. Only 3 is read: a data folder written by 0.1
 * is refused at start (storage format version 2), so no earlier entry reaches this decoder.
 */
import { Buffer } from 'node:buffer';
import { brokerError, ErrorCode } from '../shared/errors.js';
import {
  type HeaderEntry,
  type HeaderList,
  type Headers,
  type HeaderValue,
  type Message,
  type MessageProperties,
  type Qos,
  TypedNumber,
  typedNumberTypes,
} from './types.js';

export const messageCodecVersion = 3;

/** `format` of a log/stream entry whose payload is one `encodeMessage` output. */
/**
 * Stream entry formats core knows: a core message; a transaction marker (./logs/markers.ts: a
 * producer's transaction ended, committed or aborted); and `withheld`, which no log holds: a read of
 * committed data hands it out in place of an entry a reader must not see (an aborted transaction's).
 * Queue logs also hold `skipped`: an empty entry covering offsets a crash cut off the log's end while
 * the removals log still names them, so no later message takes them (./queues/store.ts).
 */
export const entryFormat = { message: 1, txnMarker: 2, withheld: 3, skipped: 4 } as const;

/** Tables and arrays nested deeper than this are refused, so a hostile header cannot blow the stack. */
export const headerDepthMax = 64;

/** Queue bookkeeping stored beside a message in a durable queue's log. */
export interface QueueEnvelope {
  readonly enqueuedAtMs: number;
  /** Absolute time after which the message is expired (queue TTL or per-message expiration). */
  readonly expiresAtMs?: number;
  /** Absolute time before which a delayed (`x-delay`) message is held back. */
  readonly readyAtMs?: number;
  readonly deliveryCount: number;
}

export interface DecodedMessage {
  readonly message: Message;
  readonly envelope?: QueueEnvelope;
}

const flag = { envelope: 1, expires: 2, ready: 4 } as const;

const tag = {
  null: 0,
  false: 1,
  true: 2,
  string: 3,
  number: 4,
  bigint: 5,
  bytes: 6,
  date: 7,
  array: 8,
  table: 9,
  typedNumber: 10,
} as const;

/** Presence bit i of the stored properties is `propertyOrder[i]`; new properties go at the end. */
const propertyOrder = [
  'contentType',
  'contentEncoding',
  'headers',
  'persistent',
  'priority',
  'correlationId',
  'replyTo',
  'expirationMs',
  'messageId',
  'timestamp',
  'type',
  'userId',
  'appId',
  'qos',
  'retain',
  'publisherId',
  'expiresAtMs',
  'correlationData',
  'textBody',
  'delayMs',
  'key',
  'replay',
  'receiveLimit',
  'receiveLimitQueue',
  'deadLetteredFrom',
] as const satisfies ReadonlyArray<keyof MessageProperties>;

type PropertyKind = 'str' | 'flag' | 'u8' | 'f64' | 'bytes' | 'headers' | 'replay';

/** How each property is stored (see the layout above). */
const propertyKind: { readonly [K in (typeof propertyOrder)[number]]: PropertyKind } = {
  contentType: 'str',
  contentEncoding: 'str',
  headers: 'headers',
  persistent: 'flag',
  priority: 'u8',
  correlationId: 'str',
  replyTo: 'str',
  expirationMs: 'f64',
  messageId: 'str',
  timestamp: 'f64',
  type: 'str',
  userId: 'str',
  appId: 'str',
  qos: 'u8',
  retain: 'flag',
  publisherId: 'str',
  expiresAtMs: 'f64',
  correlationData: 'bytes',
  textBody: 'flag',
  delayMs: 'f64',
  key: 'bytes',
  replay: 'replay',
  receiveLimit: 'f64',
  receiveLimitQueue: 'str',
  deadLetteredFrom: 'str',
};

/** Unused bytes an encoded message may carry at the end of its buffer rather than be copied. */
const finishSlackBytesMax = 256;
/** Room for envelope, names and ordinary properties beyond the body and headers. */
const encodeSlackBytes = 192;

class Writer {
  #buf: Buffer;
  #pos = 0;

  /**
   * Sized from a hint so a typical message is written without growing: fewer short-lived buffers.
   * Or given a buffer to write into from its start (`MessageEncoder`'s scratch).
   */
  constructor(capacityHint: number, into?: Buffer) {
    this.#buf = into ?? Buffer.allocUnsafeSlow(capacityHint);
  }

  /** The buffer written into (a larger one when it grew). */
  get buffer(): Buffer {
    return this.#buf;
  }

  /** The written bytes as a view of the buffer, however much of it is unused. */
  view(): Uint8Array {
    return new Uint8Array(this.#buf.buffer, this.#buf.byteOffset, this.#pos);
  }

  #room(bytes: number): void {
    if (this.#pos + bytes <= this.#buf.length) return;
    const next = Buffer.allocUnsafeSlow(Math.max(this.#buf.length * 2, this.#pos + bytes));
    this.#buf.copy(next, 0, 0, this.#pos);
    this.#buf = next;
  }

  u8(v: number): void {
    this.#room(1);
    this.#buf[this.#pos++] = v;
  }

  u32(v: number): void {
    this.#room(4);
    this.#pos = this.#buf.writeUInt32LE(v, this.#pos);
  }

  f64(v: number): void {
    this.#room(8);
    this.#pos = this.#buf.writeDoubleLE(v, this.#pos);
  }

  varint(v: number): void {
    this.#room(8);
    let rest = v;
    while (rest >= 0x80) {
      this.#buf[this.#pos++] = (rest % 0x80) | 0x80;
      rest = Math.floor(rest / 0x80);
    }
    this.#buf[this.#pos++] = rest;
  }

  bytes(v: Uint8Array): void {
    this.varint(v.length);
    this.#room(v.length);
    this.#buf.set(v, this.#pos);
    this.#pos += v.length;
  }

  str(v: string): void {
    const length = Buffer.byteLength(v);
    this.varint(length);
    this.#room(length);
    this.#pos += this.#buf.write(v, this.#pos, 'utf8');
  }

  /** The written bytes; copied when the buffer is much larger, so callers never pin a mostly empty one. */
  finish(): Uint8Array {
    const view = new Uint8Array(this.#buf.buffer, this.#buf.byteOffset, this.#pos);
    return this.#buf.length - this.#pos <= finishSlackBytesMax ? view : view.slice();
  }
}

class Reader {
  readonly #buf: Buffer;
  #pos = 0;
  constructor(bytes: Uint8Array) {
    this.#buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  #need(bytes: number): void {
    if (this.#pos + bytes > this.#buf.length) throw corrupt('truncated');
  }

  u8(): number {
    this.#need(1);
    return this.#buf[this.#pos++]!;
  }

  u32(): number {
    this.#need(4);
    const v = this.#buf.readUInt32LE(this.#pos);
    this.#pos += 4;
    return v;
  }

  f64(): number {
    this.#need(8);
    const v = this.#buf.readDoubleLE(this.#pos);
    this.#pos += 8;
    return v;
  }

  varint(): number {
    let value = 0;
    for (let shift = 1, i = 0; i < 8; i++, shift *= 0x80) {
      const byte = this.u8();
      value += (byte & 0x7f) * shift;
      if (byte < 0x80) return value;
    }
    throw corrupt('varint too long');
  }

  /** A view into the input: cheap, but it keeps the input alive as long as it lives. */
  bytes(): Uint8Array {
    const length = this.varint();
    this.#need(length);
    const v = new Uint8Array(this.#buf.buffer, this.#buf.byteOffset + this.#pos, length);
    this.#pos += length;
    return v;
  }

  str(): string {
    const length = this.varint();
    this.#need(length);
    const v = this.#buf.toString('utf8', this.#pos, this.#pos + length);
    this.#pos += length;
    return v;
  }

  get done(): boolean {
    return this.#pos === this.#buf.length;
  }
}

function corrupt(why: string): Error {
  return brokerError(ErrorCode.storageCorrupt, `Stored message is malformed: ${why}`);
}

export function encodeMessage(message: Message, envelope?: QueueEnvelope): Uint8Array {
  const w = new Writer(capacityHint(message));
  writeMessage(w, message, envelope);
  return w.finish();
}

function capacityHint(message: Message): number {
  const names = message.exchange.length + message.routingKey.length;
  return message.body.length + 3 * names + encodeSlackBytes;
}

function writeMessage(w: Writer, message: Message, envelope: QueueEnvelope | undefined): void {
  w.u8(messageCodecVersion);
  writeEnvelope(w, envelope);
  w.str(message.exchange);
  w.str(message.routingKey);
  writeProperties(w, message.properties);
  w.bytes(message.body);
}

/** Messages larger than this are encoded into a buffer of their own, so the scratch never stays huge. */
const scratchBytesMax = 64 * 1024;

/**
 * Encodes messages into one reused buffer, for callers that copy the bytes before the next encode
 * (a log append copies its payload): a persistent publish then allocates no buffer of its own.
 * The result is valid only until the next `encode`.
 */
export class MessageEncoder {
  #scratch: Buffer | undefined;

  encode(message: Message, envelope?: QueueEnvelope): Uint8Array {
    const hint = capacityHint(message);
    if (hint > scratchBytesMax) return encodeMessage(message, envelope);
    this.#scratch ??= Buffer.allocUnsafeSlow(scratchBytesMax);
    const w = new Writer(hint, this.#scratch);
    writeMessage(w, message, envelope);
    // A message that outgrew the hint (large headers) grew its own buffer: keep the scratch as it was.
    return w.buffer === this.#scratch ? w.view() : w.finish();
  }
}

function readVersion(r: Reader): void {
  const version = r.u8();
  if (version !== messageCodecVersion) throw corrupt(`unknown version ${version}`);
}

export function decodeMessage(bytes: Uint8Array): DecodedMessage {
  const r = new Reader(bytes);
  readVersion(r);
  const envelope = readEnvelope(r);
  const exchange = r.str();
  const routingKey = r.str();
  const properties = readProperties(r);
  const body = r.bytes();
  if (!r.done) throw corrupt('trailing bytes');
  const message: Message = { exchange, routingKey, body, properties };
  return envelope === undefined ? { message } : { message, envelope };
}

/** Reads only the envelope: recovery scans use it to rebuild queue state without parsing headers. */
export function decodeEnvelope(bytes: Uint8Array): QueueEnvelope | undefined {
  const r = new Reader(bytes);
  readVersion(r);
  return readEnvelope(r);
}

function writeEnvelope(w: Writer, envelope: QueueEnvelope | undefined): void {
  if (envelope === undefined) {
    w.u8(0);
    return;
  }
  let flags: number = flag.envelope;
  if (envelope.expiresAtMs !== undefined) flags |= flag.expires;
  if (envelope.readyAtMs !== undefined) flags |= flag.ready;
  w.u8(flags);
  w.f64(envelope.enqueuedAtMs);
  if (envelope.expiresAtMs !== undefined) w.f64(envelope.expiresAtMs);
  if (envelope.readyAtMs !== undefined) w.f64(envelope.readyAtMs);
  w.varint(envelope.deliveryCount);
}

function readEnvelope(r: Reader): QueueEnvelope | undefined {
  const flags = r.u8();
  if (flags & ~(flag.envelope | flag.expires | flag.ready)) throw corrupt(`unknown flags ${flags}`);
  if ((flags & flag.envelope) === 0) return undefined;
  const enqueuedAtMs = r.f64();
  const expiresAtMs = flags & flag.expires ? r.f64() : undefined;
  const readyAtMs = flags & flag.ready ? r.f64() : undefined;
  const deliveryCount = r.varint();
  return {
    enqueuedAtMs,
    deliveryCount,
    ...(expiresAtMs === undefined ? {} : { expiresAtMs }),
    ...(readyAtMs === undefined ? {} : { readyAtMs }),
  };
}

/** Presence bit of each stored property, by name. */
const propertyBit: ReadonlyMap<string, number> = new Map(propertyOrder.map((key, i) => [key, i]));

function writeProperties(w: Writer, p: MessageProperties): void {
  // A message sets a few of the properties: visit those it has (not every known name), then write
  // them in the stored order.
  let present = 0;
  for (const key in p) {
    const bit = propertyBit.get(key);
    if (bit !== undefined && p[key as keyof MessageProperties] !== undefined) present |= 1 << bit;
  }
  w.u32(present >>> 0);
  for (let bits = present >>> 0, i = 0; bits !== 0; bits >>>= 1, i++) {
    if ((bits & 1) === 0) continue;
    const key = propertyOrder[i]!;
    writeProperty(w, propertyKind[key], p[key]!);
  }
}

function writeProperty(
  w: Writer,
  kind: PropertyKind,
  value: NonNullable<MessageProperties[keyof MessageProperties]>,
): void {
  if (kind === 'str') w.str(value as string);
  else if (kind === 'flag') w.u8(value ? 1 : 0);
  else if (kind === 'u8') w.u8(value as number);
  else if (kind === 'f64') w.f64(value as number);
  else if (kind === 'bytes') w.bytes(value as Uint8Array);
  else if (kind === 'headers') writeHeaderList(w, value as HeaderList);
  else {
    const replay = value as NonNullable<MessageProperties['replay']>;
    w.str(replay.routingKey);
    w.str(replay.subscription);
  }
}

function readProperties(r: Reader): MessageProperties {
  const present = r.u32();
  if (present >>> propertyOrder.length !== 0) throw corrupt('unknown property bits');
  const p: Record<string, unknown> = {};
  propertyOrder.forEach((key, i) => {
    if ((present & (1 << i)) !== 0) p[key] = readProperty(r, propertyKind[key]);
  });
  if (p['qos'] !== undefined && p['qos'] !== 0 && p['qos'] !== 1 && p['qos'] !== 2) throw corrupt('bad qos');
  return p as MessageProperties;
}

function readProperty(r: Reader, kind: PropertyKind): unknown {
  switch (kind) {
    case 'str':
      return r.str();
    case 'flag':
      return r.u8() !== 0;
    case 'u8':
      return r.u8() as Qos;
    case 'f64':
      return r.f64();
    case 'bytes':
      return r.bytes().slice();
    case 'headers':
      return readHeaderList(r);
    case 'replay':
      return { routingKey: r.str(), subscription: r.str() };
  }
}

function writeHeaderList(w: Writer, headers: HeaderList): void {
  w.varint(headers.length);
  for (const [name, value] of headers) {
    w.str(name);
    writeValue(w, value, 1);
  }
}

function readHeaderList(r: Reader): HeaderList {
  const count = r.varint();
  const headers: HeaderEntry[] = [];
  for (let i = 0; i < count; i++) headers.push([r.str(), readValue(r, 1)]);
  return headers;
}

function writeTable(w: Writer, table: Headers, depth: number): void {
  const keys = Object.keys(table).filter((k) => table[k] !== undefined);
  w.varint(keys.length);
  for (const key of keys) {
    w.str(key);
    writeValue(w, table[key]!, depth + 1);
  }
}

function readTable(r: Reader, depth: number): Headers {
  const count = r.varint();
  const table: Headers = {};
  for (let i = 0; i < count; i++) {
    const key = r.str();
    // defineProperty keeps a stored "__proto__" key an ordinary key.
    Object.defineProperty(table, key, {
      value: readValue(r, depth + 1),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return table;
}

function writeValue(w: Writer, v: HeaderValue, depth: number): void {
  if (depth > headerDepthMax) {
    throw brokerError(ErrorCode.invalidArgument, `Headers nest deeper than ${headerDepthMax} levels`);
  }
  if (v === null) w.u8(tag.null);
  else if (v === true) w.u8(tag.true);
  else if (v === false) w.u8(tag.false);
  else if (typeof v === 'string') writeTagged(w, tag.string, () => w.str(v));
  else if (typeof v === 'number') writeTagged(w, tag.number, () => w.f64(v));
  else if (typeof v === 'bigint') writeTagged(w, tag.bigint, () => w.str(v.toString()));
  else if (v instanceof Uint8Array) writeTagged(w, tag.bytes, () => w.bytes(v));
  else if (v instanceof Date) writeTagged(w, tag.date, () => w.f64(v.getTime()));
  else if (v instanceof TypedNumber) writeTagged(w, tag.typedNumber, () => writeTypedNumber(w, v));
  else if (Array.isArray(v)) writeTagged(w, tag.array, () => writeArray(w, v, depth));
  else writeTagged(w, tag.table, () => writeTable(w, v, depth));
}

function writeTagged(w: Writer, t: number, body: () => void): void {
  w.u8(t);
  body();
}

function writeArray(w: Writer, values: HeaderValue[], depth: number): void {
  w.varint(values.length);
  for (const v of values) writeValue(w, v, depth + 1);
}

function readValue(r: Reader, depth: number): HeaderValue {
  if (depth > headerDepthMax) throw corrupt('headers nest too deep');
  const t = r.u8();
  switch (t) {
    case tag.null:
      return null;
    case tag.false:
      return false;
    case tag.true:
      return true;
    case tag.string:
      return r.str();
    case tag.number:
      return r.f64();
    case tag.bigint:
      return readBigint(r);
    case tag.bytes:
      return r.bytes().slice();
    case tag.date:
      return new Date(r.f64());
    case tag.array:
      return readArray(r, depth);
    case tag.table:
      return readTable(r, depth);
    case tag.typedNumber:
      return readTypedNumber(r);
    default:
      throw corrupt(`unknown header tag ${t}`);
  }
}

function readBigint(r: Reader): bigint {
  const text = r.str();
  if (!/^-?\d{1,4096}$/.test(text)) throw corrupt('bad bigint');
  return BigInt(text);
}

function readArray(r: Reader, depth: number): HeaderValue[] {
  const count = r.varint();
  const values: HeaderValue[] = [];
  for (let i = 0; i < count; i++) values.push(readValue(r, depth + 1));
  return values;
}

function writeTypedNumber(w: Writer, v: TypedNumber): void {
  w.u8(typedNumberTypes.indexOf(v.type));
  if (v.type === 'int64') {
    w.str(v.value.toString());
    return;
  }
  if (v.type === 'decimal') w.u8(v.scale);
  w.f64(v.value as number);
}

function readTypedNumber(r: Reader): TypedNumber {
  const type = typedNumberTypes[r.u8()];
  if (type === undefined) throw corrupt('unknown typed number type');
  const scale = type === 'decimal' ? r.u8() : 0;
  const value = type === 'int64' ? readBigint(r) : r.f64();
  try {
    return new TypedNumber(type, value, scale);
  } catch (err) {
    throw corrupt(`bad ${type}: ${(err as Error).message}`);
  }
}
