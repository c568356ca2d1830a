/**
 * The hot path of a consumer: basic.deliver, its content header and body frames written straight
 * into a caller's buffer, with no intermediate method object or writer. Produces the same bytes as
 * `encodeContent` with a basic.deliver method (checked byte for byte against it); callers use the
 * generic encoder whenever `deliveryBytes` says the fast form does not apply.
 */
import { ClassId, FrameType, frameEndOctet } from './generated.js';

const frameOverheadBytes = 8;
const shortstrBytesMax = 255;
/** basic.deliver's class and method ids (spec: class basic 60, method deliver 60). */
const deliverMethodId = 60;
/** class, method, tag length, delivery tag, redelivered, exchange length, routing-key length. */
const deliverFixedBytes = 2 + 2 + 1 + 8 + 1 + 1 + 1;
/** class, weight, body size. */
const headerFixedBytes = 2 + 2 + 8;

export interface DeliveryShape {
  readonly consumerTag: Uint8Array;
  /** The exchange and routing key as UTF-8 (`RecentUtf8` keeps them from one delivery to the next). */
  readonly exchange: Uint8Array;
  readonly routingKey: Uint8Array;
  /** Encoded basic properties (flags and values). */
  readonly properties: Uint8Array;
  readonly bodyBytes: number;
}

/**
 * Bytes the three kinds of frames take, or -1 when the fast form does not apply (a string over 255
 * bytes, or method or header frame over `frameBytesMax`): the generic encoder then raises the error.
 */
export function deliveryBytes(shape: DeliveryShape, frameBytesMax: number): number {
  const { consumerTag, properties, bodyBytes } = shape;
  const exchangeBytes = shape.exchange.byteLength;
  const routingKeyBytes = shape.routingKey.byteLength;
  if (consumerTag.byteLength > shortstrBytesMax) return -1;
  if (exchangeBytes > shortstrBytesMax || routingKeyBytes > shortstrBytesMax) return -1;
  const methodFrame =
    frameOverheadBytes + deliverFixedBytes + consumerTag.byteLength + exchangeBytes + routingKeyBytes;
  const headerFrame = frameOverheadBytes + headerFixedBytes + properties.byteLength;
  if (methodFrame > frameBytesMax || headerFrame > frameBytesMax) return -1;
  const chunkBytes = frameBytesMax - frameOverheadBytes;
  const bodyFrames = Math.ceil(bodyBytes / chunkBytes);
  return methodFrame + headerFrame + bodyBytes + bodyFrames * frameOverheadBytes;
}

/*
 * Plain byte stores rather than Buffer's write methods: every value here is in range by construction
 * (checked by `deliveryBytes` and the callers), and the methods' own checks cost more than the stores.
 */

function u16At(out: Uint8Array, at: number, value: number): void {
  out[at] = value >>> 8;
  out[at + 1] = value;
}

function u32At(out: Uint8Array, at: number, value: number): void {
  out[at] = value >>> 24;
  out[at + 1] = value >>> 16;
  out[at + 2] = value >>> 8;
  out[at + 3] = value;
}

function frameStart(out: Uint8Array, at: number, type: number, channel: number, size: number): number {
  out[at] = type;
  u16At(out, at + 1, channel);
  u32At(out, at + 3, size);
  return at + 7;
}

function writeU64(out: Uint8Array, at: number, value: number): void {
  u32At(out, at, Math.floor(value / 0x1_0000_0000));
  u32At(out, at + 4, value >>> 0);
}

function shortstrAt(out: Buffer, at: number, bytes: Uint8Array): number {
  out[at] = bytes.byteLength;
  if (bytes.byteLength > 0) out.set(bytes, at + 1);
  return at + 1 + bytes.byteLength;
}

/**
 * The UTF-8 bytes of the last string asked for: the deliveries of a queue repeat their exchange and
 * routing key, so they are encoded once rather than measured and written per delivery.
 */
const noBytes = new Uint8Array(0);

export class RecentUtf8 {
  #value = '';
  #bytes: Uint8Array = noBytes;

  of(value: string): Uint8Array {
    if (value !== this.#value) {
      this.#bytes = Buffer.from(value, 'utf8');
      this.#value = value;
    }
    return this.#bytes;
  }
}

/** Writes the frames at `at` (room checked by the caller with `deliveryBytes`); returns the end. */
export function writeDelivery(
  out: Buffer,
  at: number,
  channel: number,
  shape: DeliveryShape,
  deliveryTag: number,
  redelivered: boolean,
  body: Uint8Array,
  frameBytesMax: number,
): number {
  const { consumerTag, exchange, routingKey, properties } = shape;
  const methodSize = deliverFixedBytes + consumerTag.byteLength + exchange.byteLength + routingKey.byteLength;
  let p = frameStart(out, at, FrameType.method, channel, methodSize);
  u16At(out, p, ClassId.basic);
  u16At(out, p + 2, deliverMethodId);
  out[p + 4] = consumerTag.byteLength;
  out.set(consumerTag, p + 5);
  p += 5 + consumerTag.byteLength;
  writeU64(out, p, deliveryTag);
  out[p + 8] = redelivered ? 1 : 0;
  p = shortstrAt(out, p + 9, exchange);
  p = shortstrAt(out, p, routingKey);
  out[p++] = frameEndOctet;
  p = frameStart(out, p, FrameType.header, channel, headerFixedBytes + properties.byteLength);
  u16At(out, p, ClassId.basic);
  u16At(out, p + 2, 0);
  writeU64(out, p + 4, body.byteLength);
  out.set(properties, p + 12);
  p += 12 + properties.byteLength;
  out[p++] = frameEndOctet;
  const chunkBytes = frameBytesMax - frameOverheadBytes;
  if (body.byteLength > 0 && body.byteLength <= chunkBytes) {
    // One body frame (the usual case): no view of the body to make.
    p = frameStart(out, p, FrameType.body, channel, body.byteLength);
    out.set(body, p);
    p += body.byteLength;
    out[p++] = frameEndOctet;
    return p;
  }
  for (let from = 0; from < body.byteLength; from += chunkBytes) {
    const chunk = body.subarray(from, Math.min(body.byteLength, from + chunkBytes));
    p = frameStart(out, p, FrameType.body, channel, chunk.byteLength);
    out.set(chunk, p);
    p += chunk.byteLength;
    out[p++] = frameEndOctet;
  }
  return p;
}
