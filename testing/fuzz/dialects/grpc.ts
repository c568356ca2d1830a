/**
 * KubeMQ's gRPC port for the fuzzer: HTTP/2 (RFC 9113) as a gRPC client writes it — the connection
 * preface, then frames of a 9-byte header (24-bit length, type, flags, stream id) and a payload. The
 * fields walked are the frame header's, the padding and priority fields of DATA and HEADERS, SETTINGS
 * entries, WINDOW_UPDATE, PING, RST_STREAM and GOAWAY values, and the gRPC message prefix (compressed
 * flag, 32-bit length) at the start of a DATA payload. HPACK header blocks are mutated as bytes; they
 * are stateful (a dynamic table), so a reordered or dropped HEADERS frame is a compression error the
 * server must survive too. Repair makes the frame length (and a DATA frame's gRPC length) fit again.
 */
import { concat, type Dialect, type Field, FieldWalker, walked } from '../dialect.js';

export const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const headerBytes = 9;

const Type = { data: 0, headers: 1, rstStream: 3, settings: 4, ping: 6, goaway: 7, windowUpdate: 8 } as const;
const Flag = { padded: 0x08, priority: 0x20 } as const;

function isPreface(frame: Uint8Array): boolean {
  return (
    frame.byteLength >= preface.byteLength &&
    Buffer.from(frame.subarray(0, preface.byteLength)).equals(preface)
  );
}

function frameLength(bytes: Uint8Array, at: number): number | undefined {
  if (bytes.byteLength - at < headerBytes) return undefined;
  return (bytes[at]! << 16) | (bytes[at + 1]! << 8) | bytes[at + 2]!;
}

function split(bytes: Uint8Array): Uint8Array[] {
  const frames: Uint8Array[] = [];
  let at = 0;
  if (isPreface(bytes)) {
    frames.push(bytes.slice(0, preface.byteLength));
    at = preface.byteLength;
  }
  while (at < bytes.byteLength) {
    const length = frameLength(bytes, at);
    const end =
      length === undefined ? bytes.byteLength : Math.min(bytes.byteLength, at + headerBytes + length);
    frames.push(bytes.slice(at, end));
    at = end;
  }
  return frames;
}

function walkPayload(w: FieldWalker, type: number, flags: number): void {
  switch (type) {
    case Type.data: {
      if ((flags & Flag.padded) !== 0) w.fixed('u8', 'length');
      if (w.remaining >= 5) {
        w.fixed('u8', 'value'); // compressed
        w.fixed('u32', 'length'); // message length
      }
      return;
    }
    case Type.headers: {
      if ((flags & Flag.padded) !== 0) w.fixed('u8', 'length');
      if ((flags & Flag.priority) !== 0) {
        w.fixed('u32', 'value'); // exclusive bit and stream dependency
        w.fixed('u8', 'value'); // weight
      }
      return;
    }
    case Type.settings:
      while (w.remaining >= 6) {
        w.fixed('u16', 'value');
        w.fixed('u32', 'value');
      }
      return;
    case Type.ping:
      w.fixed('u64', 'value');
      return;
    case Type.goaway:
      w.fixed('u32', 'value');
      w.fixed('u32', 'value');
      return;
    case Type.rstStream:
    case Type.windowUpdate:
      w.fixed('u32', 'value');
      return;
  }
}

function fields(frame: Uint8Array): Field[] {
  if (isPreface(frame)) return [];
  return walked(new FieldWalker(frame), (w) => {
    w.fixed('u24', 'length');
    const type = w.fixed('u8', 'value');
    const flags = w.fixed('u8', 'value');
    w.fixed('u32', 'value'); // reserved bit and stream id
    walkPayload(w, type, flags);
  });
}

/** The frame length set to its payload; an unpadded DATA frame's gRPC message length to the rest. */
function repair(frame: Uint8Array): Uint8Array {
  if (isPreface(frame) || frame.byteLength < headerBytes) return frame;
  const out = frame.slice();
  const payload = out.byteLength - headerBytes;
  out[0] = (payload >> 16) & 0xff;
  out[1] = (payload >> 8) & 0xff;
  out[2] = payload & 0xff;
  if (out[3] === Type.data && (out[4]! & Flag.padded) === 0 && payload >= 5) {
    new DataView(out.buffer, out.byteOffset).setUint32(headerBytes + 1, payload - 5);
  }
  return out;
}

/** The preface and the connection's first frames on stream 0 (SETTINGS, WINDOW_UPDATE). */
function opening(frames: readonly Uint8Array[]): number {
  let n = 0;
  for (const frame of frames) {
    if (isPreface(frame)) {
      n++;
      continue;
    }
    const streamZero =
      frame.byteLength >= headerBytes && new DataView(frame.buffer, frame.byteOffset).getUint32(5) === 0;
    if (!streamZero || (frame[3] !== Type.settings && frame[3] !== Type.windowUpdate)) break;
    n++;
  }
  return n;
}

/** A DATA frame of stream `streamId` carrying `message` as one gRPC message. */
export function grpcDataFrame(streamId: number, message: Uint8Array, endStream = false): Uint8Array {
  const payload = concat([Uint8Array.of(0, 0, 0, 0, 0), message]);
  new DataView(payload.buffer).setUint32(1, message.byteLength);
  const header = new Uint8Array(headerBytes);
  const view = new DataView(header.buffer);
  view.setUint32(0, payload.byteLength << 8);
  header[3] = Type.data;
  header[4] = endStream ? 0x01 : 0;
  view.setUint32(5, streamId);
  return concat([header, payload]);
}

export const grpcDialect: Dialect = {
  name: 'kubemq-grpc',
  split,
  context: () => undefined,
  fields,
  repair,
  opening,
};
