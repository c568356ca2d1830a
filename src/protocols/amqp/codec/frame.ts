/**
 * AMQP 0-9-1 framing (spec 4.2.3), pure: bytes in, frames out and back.
 *
 *   0      1         3         7                  7+size     8+size
 *   +------+---------+---------+ +-------------+ +-----------+
 *   | type | channel |  size   | |   payload   | | frame-end |  frame-end = 0xCE
 *   +------+---------+---------+ +-------------+ +-----------+
 *    octet   short     long        size octets      octet
 *
 * A content-bearing method (basic.publish, deliver, get-ok, return) is followed by one header frame
 * (class, weight 0, body size, properties; spec 4.2.6) and as many body frames as the size needs.
 */
import { assert } from '../../../shared/assert.js';
import { ByteReader, ByteWriter } from './bytes.js';
import { AmqpCodecError, CodecReplyCode, syntaxError } from './errors.js';
import {
  type BasicProperties,
  type BasicPublish,
  ClassId,
  decodeMethod,
  FrameType,
  frameEndOctet,
  type Method,
  readBasicProperties,
  writeBasicProperties,
  writeMethod,
} from './generated.js';

/** `AMQP` 0 0 9 1: what a 0-9-1 client sends first, and what we answer when we cannot speak its version. */
export const protocolHeader: Uint8Array = Uint8Array.of(0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1);

/** Type octet, channel short and size long before the payload, frame-end octet after it. */
export const frameOverheadBytes = 8;
const frameHeaderBytes = 7;

export type ProtocolHeaderCheck = 'ok' | 'incomplete' | 'unsupported';

/**
 * Compares the first bytes of a connection with the 0-9-1 protocol header. On `unsupported` the
 * server writes `protocolHeader` and closes (spec 4.2.2); `incomplete` means wait for more bytes.
 */
export function checkProtocolHeader(bytes: Uint8Array): ProtocolHeaderCheck {
  const count = Math.min(bytes.byteLength, protocolHeader.byteLength);
  for (let i = 0; i < count; i++) {
    if (bytes[i] !== protocolHeader[i]) return 'unsupported';
  }
  return count === protocolHeader.byteLength ? 'ok' : 'incomplete';
}

export interface ContentHeader {
  classId: number;
  bodySize: number;
  properties: BasicProperties;
}

export type Frame =
  | { kind: 'method'; channel: number; method: Method }
  | ({ kind: 'header'; channel: number } & ContentHeader)
  | { kind: 'body'; channel: number; payload: Uint8Array }
  | { kind: 'heartbeat'; channel: 0 };

export interface ParsedFrame {
  frame: Frame;
  /** Bytes of input the frame used, overhead included. */
  bytes: number;
}

function frameError(message: string): AmqpCodecError {
  return new AmqpCodecError(CodecReplyCode.frameError, message);
}

/**
 * Parses one frame from the start of `bytes`; undefined when more bytes are needed. A frame whose
 * declared size exceeds `frameBytesMax` (the negotiated frame-max, overhead included) is refused as
 * soon as its header arrives, so a peer cannot make us buffer it. Body payloads are views into
 * `bytes` (no copy): copy them before reusing the input buffer.
 */
export function parseFrame(bytes: Uint8Array, frameBytesMax: number): ParsedFrame | undefined {
  assert(frameBytesMax > frameOverheadBytes, 'frameBytesMax must leave room for a payload');
  if (bytes.byteLength < frameHeaderBytes) return undefined;
  const r = new ByteReader(bytes);
  const type = r.u8();
  const channel = r.u16();
  const size = r.u32();
  const total = size + frameOverheadBytes;
  if (total > frameBytesMax) throw frameError(`Frame of ${total} bytes exceeds frame-max ${frameBytesMax}`);
  if (bytes.byteLength < total) return undefined;
  r.view(size, 'frame payload');
  if (r.u8() !== frameEndOctet) throw frameError('Frame does not end with 0xCE');
  return { frame: decodePayload(type, channel, bytes, frameHeaderBytes, size), bytes: total };
}

/**
 * The frame whose payload is `bytes[at, at + size)`. The hot decoders read it in place; only a body
 * or a frame for the generic decoders gets a view of its own.
 */
function decodePayload(type: number, channel: number, bytes: Uint8Array, at: number, size: number): Frame {
  switch (type) {
    case FrameType.method: {
      const method = decodeHotMethod(bytes, at, size) ?? decodeMethod(bytes.subarray(at, at + size));
      return { kind: 'method', channel, method };
    }
    case FrameType.header: {
      const hot = decodeHotHeader(bytes, at, size, channel);
      if (hot !== undefined) return hot;
      const { classId, bodySize, properties } = decodeContentHeader(bytes.subarray(at, at + size));
      return { kind: 'header', channel, classId, bodySize, properties };
    }
    case FrameType.body:
      return { kind: 'body', channel, payload: bytes.subarray(at, at + size) };
    case FrameType.heartbeat:
      // Spec 4.2.7: heartbeats belong to the connection, so only channel 0 and no payload.
      if (channel !== 0 || size !== 0) throw frameError('Heartbeat frame must be empty, on channel 0');
      return { kind: 'heartbeat', channel: 0 };
    default:
      throw frameError(`Unknown frame type ${type}`);
  }
}

/**
 * Parses as many whole frames as `bytes` holds, at most `framesMax` so one read cannot monopolise
 * the event loop; `bytes` of input used tells the caller what to keep for the next read.
 */
export function parseFrames(
  bytes: Uint8Array,
  frameBytesMax: number,
  framesMax = 1024,
): { frames: Frame[]; bytes: number } {
  return parseWith(bytes, frameBytesMax, framesMax, false) as { frames: Frame[]; bytes: number };
}

/**
 * A whole basic.publish as `parseInput` joins it: the method's fields, its header's properties and
 * its one body frame, in one record instead of five objects and a view (method, fields and three
 * frames). `body` is a view into the input: copy it before the input is reused.
 */
export interface PublishRecord extends BasicPublish {
  readonly kind: 'publish';
  readonly channel: number;
  readonly properties: BasicProperties;
  body: Uint8Array;
}

/** A plain basic.ack as `parseInput` reads it: the record is its own fields. */
export interface AckRecord {
  readonly kind: 'ack';
  readonly channel: number;
  readonly deliveryTag: number;
  readonly multiple: boolean;
}

export type InputFrame = Frame | PublishRecord | AckRecord;

/**
 * `parseFrames` for a server's input: the same frames, checks and errors, except that a basic.ack
 * comes as an `AckRecord`, and a basic.publish whose header and one body frame follow it whole (the
 * common shapes `decodeHotMethod` and `decodeHotHeader` read, on a channel other than 0) as one
 * `PublishRecord` standing for the three frames. Anything else, split or unusual, comes frame by frame.
 */
export function parseInput(
  bytes: Uint8Array,
  frameBytesMax: number,
  framesMax = 1024,
): { frames: InputFrame[]; bytes: number } {
  return parseWith(bytes, frameBytesMax, framesMax, true);
}

/** Both parsers: `join` makes the records of `parseInput`, else every frame is its own. */
function parseWith(
  bytes: Uint8Array,
  frameBytesMax: number,
  framesMax: number,
  join: boolean,
): { frames: InputFrame[]; bytes: number } {
  assert(frameBytesMax > frameOverheadBytes, 'frameBytesMax must leave room for a payload');
  const frames: InputFrame[] = [];
  let used = 0;
  // The same checks, in the same order, as parseFrame, without a reader or a view per frame.
  while (frames.length < framesMax) {
    const total = wholeFrameBytes(bytes, used, frameBytesMax);
    if (total === 0) break;
    const channel = (bytes[used + 1]! << 8) | bytes[used + 2]!;
    const joinable = join && bytes[used] === FrameType.method && channel !== 0;
    const joined = joinable ? joinHot(bytes, used, total, channel, frameBytesMax) : 0;
    if (joined > 0) {
      frames.push(joinedRecord!);
      joinedRecord = undefined;
      used += joined;
      continue;
    }
    frames.push(
      decodePayload(bytes[used]!, channel, bytes, used + frameHeaderBytes, total - frameOverheadBytes),
    );
    used += total;
  }
  return { frames, bytes: used };
}

/**
 * Bytes of the whole frame at `at` (checked as `parseFrames` checks it), or 0 while it is incomplete.
 * Throws for a frame over frame-max or without its frame-end octet.
 */
function wholeFrameBytes(bytes: Uint8Array, at: number, frameBytesMax: number): number {
  if (bytes.byteLength - at < frameHeaderBytes) return 0;
  const size = u32At(bytes, at + 3);
  const total = size + frameOverheadBytes;
  if (total > frameBytesMax) throw frameError(`Frame of ${total} bytes exceeds frame-max ${frameBytesMax}`);
  if (bytes.byteLength - at < total) return 0;
  if (bytes[at + frameHeaderBytes + size] !== frameEndOctet) throw frameError('Frame does not end with 0xCE');
  return total;
}

/** The record `joinHot` made, taken at once by `parseInput`. */
let joinedRecord: PublishRecord | AckRecord | undefined;

/**
 * Bytes of the method frame at `at` and the content frames joined with it into `joinedRecord`, or 0
 * when they are not a hot ack or a whole hot publish. Never throws: a frame it cannot vouch for is
 * left to the frame-by-frame path, which raises what it always would.
 */
function joinHot(
  b: Uint8Array,
  at: number,
  methodBytes: number,
  channel: number,
  frameBytesMax: number,
): number {
  const payloadAt = at + frameHeaderBytes;
  const size = methodBytes - frameOverheadBytes;
  const deliveryTag = hotAckTag(b, payloadAt, size);
  if (deliveryTag >= 0) {
    joinedRecord = { kind: 'ack', channel, deliveryTag, multiple: (b[payloadAt + 12]! & 1) !== 0 };
    return methodBytes;
  }
  if (!readHotPublish(b, payloadAt, size)) return 0;
  const headerAt = at + methodBytes;
  const headerBytes = sameChannelFrameBytes(b, headerAt, FrameType.header, channel, frameBytesMax);
  if (headerBytes === 0) return 0;
  const properties = hotHeaderProperties(b, headerAt + frameHeaderBytes, headerBytes - frameOverheadBytes);
  if (properties === undefined || hotBodySize === 0) return 0;
  const bodyAt = headerAt + headerBytes;
  const bodyBytes = sameChannelFrameBytes(b, bodyAt, FrameType.body, channel, frameBytesMax);
  if (bodyBytes - frameOverheadBytes !== hotBodySize) return 0;
  const body = b.subarray(bodyAt + frameHeaderBytes, bodyAt + bodyBytes - 1);
  const { ticket, exchange, routingKey, mandatory, immediate } = hotPublish;
  joinedRecord = {
    kind: 'publish',
    channel,
    ticket,
    exchange,
    routingKey,
    mandatory,
    immediate,
    properties,
    body,
  };
  return methodBytes + headerBytes + bodyBytes;
}

/** Bytes of a whole, well-ended frame of `type` on `channel` at `at` within frame-max, or 0. */
function sameChannelFrameBytes(
  b: Uint8Array,
  at: number,
  type: number,
  channel: number,
  frameBytesMax: number,
): number {
  if (b.byteLength - at < frameHeaderBytes || b[at] !== type) return 0;
  if (((b[at + 1]! << 8) | b[at + 2]!) !== channel) return 0;
  const total = u32At(b, at + 3) + frameOverheadBytes;
  if (total > frameBytesMax || b.byteLength - at < total || b[at + total - 1] !== frameEndOctet) return 0;
  return total;
}

/**
 * Bytes of the frame at the start of `bytes` (header, payload, frame-end) as its header says, or the
 * header's own length while that is incomplete: how much input to gather before parsing again.
 */
export function frameBytesAt(bytes: Uint8Array): number {
  if (bytes.byteLength < frameHeaderBytes) return frameHeaderBytes;
  return u32At(bytes, 3) + frameOverheadBytes;
}

function u32At(bytes: Uint8Array, at: number): number {
  return bytes[at]! * 0x100_0000 + ((bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!);
}

/** A longlong known to fit in 53 bits, or -1. */
function u53At(bytes: Uint8Array, at: number): number {
  const high = u32At(bytes, at);
  return high > 0x1f_ffff ? -1 : high * 0x1_0000_0000 + u32At(bytes, at + 4);
}

const latin1Decoder = new TextDecoder('latin1');
const shortstrBytesMax = 255;

/**
 * The last ASCII short string decoded in each slot (exchange, routing key) and its bytes: a publisher
 * names the same exchange and routing key on message after message, so comparing the bytes is enough
 * and no string, view or decoder call is made. Invisible to callers: the result is the same string.
 */
class RecentString {
  #bytes = new Uint8Array(shortstrBytesMax);
  #count = -1;
  #value = '';

  /** An ASCII short string (valid UTF-8 as it is), or undefined for anything else. */
  decode(bytes: Uint8Array, at: number, count: number): string | undefined {
    if (count === 0) return '';
    const recent = this.#bytes;
    let same = count === this.#count;
    for (let i = 0; i < count; i++) {
      const byte = bytes[at + i]!;
      if (byte >= 0x80) return undefined;
      if (same && recent[i] !== byte) same = false;
    }
    if (same) return this.#value;
    this.#value = latin1Decoder.decode(bytes.subarray(at, at + count));
    recent.set(bytes.subarray(at, at + count));
    this.#count = count;
    return this.#value;
  }
}

const recentExchange = new RecentString();
const recentRoutingKey = new RecentString();

const basicClass = 60;
const publishMethodId = 40;
const ackMethodId = 80;

/** What `readHotPublish` decoded last: read at once by its caller, never kept. */
const hotPublish: BasicPublish = {
  ticket: 0,
  exchange: '',
  routingKey: '',
  mandatory: false,
  immediate: false,
};

/**
 * A basic.publish with ASCII names and the usual layout, decoded into `hotPublish`; false for anything
 * else, which the generic decoder then decodes or refuses as it always would.
 */
function readHotPublish(b: Uint8Array, at: number, size: number): boolean {
  // Class, method, ticket, two name lengths and the bits: 9 bytes with both names empty.
  if (size < 9 || ((b[at]! << 8) | b[at + 1]!) !== basicClass) return false;
  if (((b[at + 2]! << 8) | b[at + 3]!) !== publishMethodId) return false;
  const exchangeBytes = b[at + 6]!;
  if (7 + exchangeBytes >= size) return false;
  const routingKeyBytes = b[at + 7 + exchangeBytes]!;
  if (size !== 9 + exchangeBytes + routingKeyBytes) return false;
  const exchange = recentExchange.decode(b, at + 7, exchangeBytes);
  const routingKey = recentRoutingKey.decode(b, at + 8 + exchangeBytes, routingKeyBytes);
  if (exchange === undefined || routingKey === undefined) return false;
  const bits = b[at + size - 1]!;
  hotPublish.ticket = (b[at + 4]! << 8) | b[at + 5]!;
  hotPublish.exchange = exchange;
  hotPublish.routingKey = routingKey;
  hotPublish.mandatory = (bits & 1) !== 0;
  hotPublish.immediate = (bits & 2) !== 0;
  return true;
}

/** basic.ack's delivery tag when the payload is a plain basic.ack (its bit in `b[at + 12]`), or -1. */
function hotAckTag(b: Uint8Array, at: number, size: number): number {
  if (size !== 13 || ((b[at]! << 8) | b[at + 1]!) !== basicClass) return -1;
  if (((b[at + 2]! << 8) | b[at + 3]!) !== ackMethodId) return -1;
  return u53At(b, at + 4);
}

/**
 * basic.publish with ASCII names and basic.ack, the methods of every message, decoded without the
 * generic reader. Anything unusual (other bytes, lengths, values) returns undefined, and the generic
 * decoder then decodes it or raises the error it always would.
 */
function decodeHotMethod(b: Uint8Array, at: number, size: number): Method | undefined {
  const deliveryTag = hotAckTag(b, at, size);
  if (deliveryTag >= 0)
    return { name: 'basic.ack', fields: { deliveryTag, multiple: (b[at + 12]! & 1) !== 0 } };
  if (!readHotPublish(b, at, size)) return undefined;
  const { ticket, exchange, routingKey, mandatory, immediate } = hotPublish;
  return { name: 'basic.publish', fields: { ticket, exchange, routingKey, mandatory, immediate } };
}

const headersFlag = 0x2000;
const deliveryModeFlag = 0x1000;

/** The body size `hotHeaderProperties` read last. */
let hotBodySize = 0;

/**
 * Content headers whose properties are at most a delivery mode and an empty headers table (what
 * most clients send), decoded straight into their frame without the generic reader; undefined for
 * anything else.
 */
function decodeHotHeader(b: Uint8Array, start: number, size: number, channel: number): Frame | undefined {
  const properties = hotHeaderProperties(b, start, size);
  if (properties === undefined) return undefined;
  return { kind: 'header', channel, classId: ClassId.basic, bodySize: hotBodySize, properties };
}

/** The properties of such a header (its body size in `hotBodySize`), or undefined for any other. */
function hotHeaderProperties(b: Uint8Array, start: number, size: number): BasicProperties | undefined {
  if (size < 14 || ((b[start]! << 8) | b[start + 1]!) !== ClassId.basic) return undefined;
  if (b[start + 2]! !== 0 || b[start + 3]! !== 0) return undefined;
  const bodySize = u53At(b, start + 4);
  const flags = (b[start + 12]! << 8) | b[start + 13]!;
  if (bodySize < 0 || (flags & ~(headersFlag | deliveryModeFlag)) !== 0) return undefined;
  const headers = (flags & headersFlag) !== 0;
  const end = start + size;
  let at = start + 14;
  if (headers) {
    if (end < at + 4 || u32At(b, at) !== 0) return undefined;
    at += 4;
  }
  let deliveryMode: number | undefined;
  if ((flags & deliveryModeFlag) !== 0) {
    if (end < at + 1) return undefined;
    deliveryMode = b[at++]!;
  }
  if (at !== end) return undefined;
  hotBodySize = bodySize;
  return commonProperties(headers, deliveryMode);
}

/**
 * The decoded properties of the common shapes, made once and frozen (readers only read them): a
 * message then costs no properties object and no empty table. Other delivery modes get their own.
 */
const commonShapes = [undefined, 1, 2].flatMap((deliveryMode) =>
  [false, true].map((headers) =>
    Object.freeze<BasicProperties>({
      ...(headers ? { headers: Object.freeze({}) } : {}),
      ...(deliveryMode === undefined ? {} : { deliveryMode }),
    }),
  ),
);

function commonProperties(headers: boolean, deliveryMode: number | undefined): BasicProperties {
  if (deliveryMode === undefined || deliveryMode === 1 || deliveryMode === 2)
    return commonShapes[(deliveryMode ?? 0) * 2 + (headers ? 1 : 0)]!;
  return headers ? { headers: {}, deliveryMode } : { deliveryMode };
}

/** Content header payload (spec 4.2.6): class, weight (always 0), body size, properties. */
export function decodeContentHeader(payload: Uint8Array): ContentHeader {
  const r = new ByteReader(payload);
  const classId = r.u16();
  if (classId !== ClassId.basic) {
    throw new AmqpCodecError(CodecReplyCode.commandInvalid, `Class ${classId} carries no content`);
  }
  if (r.u16() !== 0) throw syntaxError('Content header weight must be 0');
  const bodySize = r.u64Number();
  const properties = readBasicProperties(r);
  r.end('content header');
  return { classId, bodySize, properties };
}

/** Appends one frame; the payload callback writes in place, so nothing is copied twice. */
function writeFrame(
  w: ByteWriter,
  type: FrameType,
  channel: number,
  frameBytesMax: number,
  writePayload: (w: ByteWriter) => void,
): void {
  const start = w.length;
  w.u8(type);
  w.u16(channel);
  const sizeAt = w.reserveU32();
  writePayload(w);
  w.patchU32(sizeAt, w.length - sizeAt - 4);
  w.u8(frameEndOctet);
  const total = w.length - start;
  if (total > frameBytesMax) throw frameError(`Frame of ${total} bytes exceeds frame-max ${frameBytesMax}`);
}

export function encodeMethodFrame(channel: number, method: Method, frameBytesMax: number): Uint8Array {
  const w = new ByteWriter();
  writeFrame(w, FrameType.method, channel, frameBytesMax, (pw) => writeMethod(pw, method));
  return w.finish();
}

export function encodeHeaderFrame(
  channel: number,
  bodySize: number,
  properties: BasicProperties,
  frameBytesMax: number,
): Uint8Array {
  const w = new ByteWriter();
  writeHeaderFrame(w, channel, bodySize, properties, frameBytesMax);
  return w.finish();
}

function writeHeaderFrame(
  w: ByteWriter,
  channel: number,
  bodySize: number,
  properties: BasicProperties,
  frameBytesMax: number,
): void {
  writeFrame(w, FrameType.header, channel, frameBytesMax, (pw) => {
    pw.u16(ClassId.basic);
    pw.u16(0);
    pw.u64Number(bodySize);
    writeBasicProperties(pw, properties);
  });
}

/** Body frames of at most `frameBytesMax` bytes each, overhead included; none for an empty body. */
export function encodeBodyFrames(channel: number, body: Uint8Array, frameBytesMax: number): Uint8Array {
  const w = new ByteWriter(body.byteLength + bodyFrameCount(body, frameBytesMax) * frameOverheadBytes);
  writeBodyFrames(w, channel, body, frameBytesMax);
  return w.finish();
}

function bodyFrameCount(body: Uint8Array, frameBytesMax: number): number {
  assert(frameBytesMax > frameOverheadBytes, 'frameBytesMax must leave room for a payload');
  return Math.ceil(body.byteLength / (frameBytesMax - frameOverheadBytes));
}

function writeBodyFrames(w: ByteWriter, channel: number, body: Uint8Array, frameBytesMax: number): void {
  const chunkBytes = frameBytesMax - frameOverheadBytes;
  const count = bodyFrameCount(body, frameBytesMax);
  for (let i = 0; i < count; i++) {
    const chunk = body.subarray(i * chunkBytes, (i + 1) * chunkBytes);
    writeFrame(w, FrameType.body, channel, frameBytesMax, (pw) => pw.bytes(chunk));
  }
}

/**
 * A content-bearing method with its header and body frames in one buffer, so a delivery goes to the
 * socket in one write and frames of other channels cannot interleave with it (spec 4.2.6).
 */
export function encodeContent(
  channel: number,
  method: Method,
  properties: BasicProperties,
  body: Uint8Array,
  frameBytesMax: number,
): Uint8Array {
  const bodyFrames = bodyFrameCount(body, frameBytesMax);
  const w = new ByteWriter(512 + body.byteLength + bodyFrames * frameOverheadBytes);
  writeFrame(w, FrameType.method, channel, frameBytesMax, (pw) => writeMethod(pw, method));
  writeHeaderFrame(w, channel, body.byteLength, properties, frameBytesMax);
  writeBodyFrames(w, channel, body, frameBytesMax);
  return w.finish();
}

const heartbeatFrame = Uint8Array.of(FrameType.heartbeat, 0, 0, 0, 0, 0, 0, frameEndOctet);

/** A fresh copy each time, so no caller can corrupt the next heartbeat. */
export function encodeHeartbeatFrame(): Uint8Array {
  return heartbeatFrame.slice();
}
