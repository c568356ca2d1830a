/**
 * MQTT over WebSocket for the fuzzer: the HTTP upgrade request, then WebSocket frames (RFC 6455 §5.2)
 * each carrying MQTT bytes, masked as a client must. Mutations reach both layers: the frame header
 * (opcode, payload length in its 7-, 16- and 64-bit forms, mask) directly, and the MQTT packet inside
 * through `inner`, unmasked, mutated with the MQTT dialect and masked again.
 */
import { concat, type Dialect, type Field, FieldWalker, walked } from '../dialect.js';
import { headEndAt, httpTextMutations, repairRequest } from './http-text.js';
import { mqttContext, mqttDialect, packetBytes } from './mqtt.js';

interface FrameShape {
  readonly headerBytes: number;
  readonly payloadBytes: number;
  readonly mask: Uint8Array | undefined;
}

export function shape(frame: Uint8Array): FrameShape | undefined {
  if (frame.byteLength < 2) return undefined;
  const len7 = frame[1]! & 0x7f;
  const masked = (frame[1]! & 0x80) !== 0;
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  let at = 2;
  let payloadBytes = len7;
  if (len7 === 126) {
    if (frame.byteLength < 4) return undefined;
    payloadBytes = view.getUint16(2);
    at = 4;
  } else if (len7 === 127) {
    if (frame.byteLength < 10) return undefined;
    payloadBytes = Number(view.getBigUint64(2));
    at = 10;
  }
  const mask = masked ? frame.slice(at, at + 4) : undefined;
  return { headerBytes: at + (masked ? 4 : 0), payloadBytes, mask };
}

function isUpgrade(frame: Uint8Array): boolean {
  return frame[0] === 0x47 && frame[1] === 0x45 && frame[2] === 0x54; // "GET"
}

/** The upgrade request, then WebSocket frames. */
export function splitWebSocket(bytes: Uint8Array): Uint8Array[] {
  const frames: Uint8Array[] = [];
  let at = 0;
  if (isUpgrade(bytes)) {
    at = headEndAt(bytes);
    if (at === -1) return [bytes.slice()];
    frames.push(bytes.slice(0, at));
  }
  while (at < bytes.byteLength) {
    const s = shape(bytes.subarray(at));
    const end =
      s === undefined ? bytes.byteLength : Math.min(bytes.byteLength, at + s.headerBytes + s.payloadBytes);
    frames.push(bytes.slice(at, end));
    at = end;
  }
  return frames;
}

export function xor(payload: Uint8Array, mask: Uint8Array | undefined): Uint8Array {
  const out = payload.slice();
  if (mask !== undefined && mask.byteLength === 4)
    for (let i = 0; i < out.byteLength; i++) out[i]! ^= mask[i & 3]!;
  return out;
}

/** A client frame with `payload`, keeping the first byte and the mask of `like`. */
export function frameLike(like: Uint8Array, payload: Uint8Array): Uint8Array {
  const mask = shape(like)?.mask ?? Uint8Array.of(0x37, 0xfa, 0x21, 0x3d);
  const n = payload.byteLength;
  const length =
    n < 126 ? [0x80 | n] : n < 0x10000 ? [0x80 | 126, n >> 8, n & 0xff] : [0x80 | 127, ...bigEndian64(n)];
  return concat([Uint8Array.of(like[0] ?? 0x82, ...length, ...mask), xor(payload, mask)]);
}

function bigEndian64(n: number): number[] {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(n));
  return [...bytes];
}

/** A client frame's payload, unmasked; undefined for the upgrade request or a frame too short. */
export function unwrap(frame: Uint8Array): Uint8Array | undefined {
  if (isUpgrade(frame)) return undefined;
  const s = shape(frame);
  if (s === undefined) return undefined;
  return xor(frame.subarray(s.headerBytes, s.headerBytes + s.payloadBytes), s.mask);
}

/** The frame header's fields: opcode byte, 7-bit length and its 16- or 64-bit form, mask. */
export function webSocketFields(frame: Uint8Array): Field[] {
  if (isUpgrade(frame)) return [];
  return walked(new FieldWalker(frame), (w) => {
    w.fixed('u8', 'value'); // FIN, RSV, opcode
    const len7 = w.fixed('u8', 'length') & 0x7f;
    if (len7 === 126) w.fixed('u16', 'length');
    if (len7 === 127) w.fixed('u64', 'length');
    w.fixed('u32', 'value'); // mask
  });
}

/** The upgrade and the frames that carry the whole CONNECT packet (mqtt.js writes it in pieces). */
function opening(frames: readonly Uint8Array[]): number {
  if (frames.length === 0 || !isUpgrade(frames[0]!)) return 0;
  let carried: Uint8Array = new Uint8Array(0);
  for (let i = 1; i < frames.length; i++) {
    carried = concat([carried, unwrap(frames[i]!) ?? new Uint8Array(0)]);
    if (carried.byteLength > 0 && packetBytes(carried) <= carried.byteLength) return i + 1;
  }
  return frames.length;
}

export const wsDialect: Dialect = {
  name: 'mqtt-ws',
  split: splitWebSocket,
  context: () => undefined,
  fields: webSocketFields,
  repair(frame) {
    if (isUpgrade(frame)) return repairRequest(frame);
    const s = shape(frame);
    if (s === undefined) return frame;
    return frameLike(frame, xor(frame.subarray(s.headerBytes), s.mask));
  },
  opening,
  extraMutations: httpTextMutations.map(
    (op) => (frame, random) => (isUpgrade(frame) ? op(frame, random) : frame),
  ),
  inner: {
    dialect: { ...mqttDialect, context: (frames) => mqttContext(frames.map((f) => unwrap(f) ?? f)) },
    unwrap,
    wrap: (outer, inner) => frameLike(outer, inner),
  },
};
