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
  const payload = r.view(size, 'frame payload');
  if (r.u8() !== frameEndOctet) throw frameError('Frame does not end with 0xCE');
  return { frame: decodePayload(type, channel, payload), bytes: total };
}

function decodePayload(type: number, channel: number, payload: Uint8Array): Frame {
  switch (type) {
    case FrameType.method:
      return { kind: 'method', channel, method: decodeMethod(payload) };
    case FrameType.header:
      return { kind: 'header', channel, ...decodeContentHeader(payload) };
    case FrameType.body:
      return { kind: 'body', channel, payload };
    case FrameType.heartbeat:
      // Spec 4.2.7: heartbeats belong to the connection, so only channel 0 and no payload.
      if (channel !== 0 || payload.byteLength !== 0)
        throw frameError('Heartbeat frame must be empty, on channel 0');
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
  const frames: Frame[] = [];
  let used = 0;
  while (frames.length < framesMax) {
    const parsed = parseFrame(bytes.subarray(used), frameBytesMax);
    if (parsed === undefined) break;
    frames.push(parsed.frame);
    used += parsed.bytes;
  }
  return { frames, bytes: used };
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
