/**
 * MQTT 3.1, 3.1.1 and 5.0 for the fuzzer: packets are a fixed-header byte, a Remaining Length
 * (Variable Byte Integer) and the rest. The protocol level of the session's CONNECT says whether
 * packets carry v5 properties, whose lengths (and every string length inside them) are fields too.
 */
import { concat, type Dialect, FieldWalker, type FieldWalker as Walker, walked } from '../dialect.js';

export interface MqttContext {
  readonly v5: boolean;
}

/** Value kinds of v5 properties by identifier (MQTT 5.0 §2.2.2.2). */
const propertyKinds: ReadonlyMap<number, 'byte' | 'u16' | 'u32' | 'var' | 'str' | 'pair'> = new Map([
  ...[0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2a].map((id) => [id, 'byte'] as const),
  ...[0x13, 0x21, 0x22, 0x23].map((id) => [id, 'u16'] as const),
  ...[0x02, 0x11, 0x18, 0x27].map((id) => [id, 'u32'] as const),
  [0x0b, 'var'] as const,
  ...[0x03, 0x08, 0x09, 0x12, 0x15, 0x16, 0x1a, 0x1c, 0x1f].map((id) => [id, 'str'] as const),
  [0x26, 'pair'] as const,
]);

export function encodeVariableByteInteger(value: number): number[] {
  const out: number[] = [];
  let rest = value;
  do {
    let byte = rest % 128;
    rest = Math.floor(rest / 128);
    if (rest > 0) byte |= 0x80;
    out.push(byte);
  } while (rest > 0 && out.length < 4);
  return out;
}

/** Bytes of the fixed header: type byte plus the Remaining Length as written (at most 4 bytes). */
function fixedHeaderBytes(packet: Uint8Array): { header: number; remaining: number } {
  let i = 1;
  let remaining = 0;
  for (; i <= 4 && i < packet.byteLength; i++) {
    const byte = packet[i]!;
    remaining += (byte & 0x7f) * 2 ** (7 * (i - 1));
    if ((byte & 0x80) === 0) return { header: i + 1, remaining };
  }
  return { header: Math.min(i, 5), remaining: Number.POSITIVE_INFINITY };
}

/** Bytes of the packet that starts `bytes` as its header says (Infinity when the header is cut short). */
export function packetBytes(bytes: Uint8Array): number {
  const { header, remaining } = fixedHeaderBytes(bytes);
  return header + remaining;
}

function split(bytes: Uint8Array): Uint8Array[] {
  const packets: Uint8Array[] = [];
  let at = 0;
  while (at < bytes.byteLength) {
    const end = Math.min(at + packetBytes(bytes.subarray(at)), bytes.byteLength);
    packets.push(bytes.slice(at, end));
    at = end;
  }
  return packets;
}

function string(w: Walker): void {
  w.skip(w.fixed('u16', 'length'));
}

function properties(w: Walker, v5: boolean): void {
  if (!v5) return;
  const end = w.at + w.varint('mqttvar', 'length');
  while (w.at < end) {
    const kind = propertyKinds.get(w.varint('mqttvar', 'value'));
    if (kind === 'byte') w.fixed('u8', 'value');
    else if (kind === 'u16') w.fixed('u16', 'value');
    else if (kind === 'u32') w.fixed('u32', 'value');
    else if (kind === 'var') w.varint('mqttvar', 'value');
    else if (kind === 'str') string(w);
    else if (kind === 'pair') {
      string(w);
      string(w);
    } else return;
  }
}

function connect(w: Walker): void {
  string(w); // protocol name
  const level = w.fixed('u8', 'value');
  const flags = w.fixed('u8', 'value');
  w.fixed('u16', 'value'); // keep alive
  const v5 = level === 5;
  properties(w, v5);
  string(w); // client id
  if (flags & 0x04) {
    properties(w, v5);
    string(w);
    string(w);
  }
  if (flags & 0x80) string(w);
  if (flags & 0x40) string(w);
}

function body(w: Walker, type: number, flags: number, v5: boolean): void {
  switch (type) {
    case 1:
      connect(w);
      return;
    case 3:
      string(w);
      if ((flags & 0x06) !== 0) w.fixed('u16', 'value');
      properties(w, v5);
      return;
    case 4:
    case 5:
    case 6:
    case 7:
      w.fixed('u16', 'value');
      if (v5 && w.remaining > 0) {
        w.fixed('u8', 'value');
        properties(w, v5);
      }
      return;
    case 8:
    case 10:
      w.fixed('u16', 'value');
      properties(w, v5);
      while (w.remaining > 0) {
        string(w);
        if (type === 8) w.fixed('u8', 'value');
      }
      return;
    case 14:
    case 15:
      if (v5 && w.remaining > 0) {
        w.fixed('u8', 'value');
        properties(w, v5);
      }
      return;
    default:
      return;
  }
}

export function mqttContext(frames: readonly Uint8Array[]): MqttContext {
  const connectPacket = frames.find((f) => f[0] !== undefined && f[0] >> 4 === 1);
  if (connectPacket === undefined) return { v5: false };
  const { header } = fixedHeaderBytes(connectPacket);
  const nameBytes = ((connectPacket[header] ?? 0) << 8) | (connectPacket[header + 1] ?? 0);
  return { v5: connectPacket[header + 2 + nameBytes] === 5 };
}

export const mqttDialect: Dialect = {
  name: 'mqtt',
  split,
  context: mqttContext,
  fields(frame, context) {
    const v5 = (context as MqttContext | undefined)?.v5 ?? false;
    return walked(new FieldWalker(frame), (w) => {
      const first = w.fixed('u8', 'value');
      const remaining = w.varint('mqttvar', 'length');
      const inner = new FieldWalker(frame, w.at, Math.min(frame.byteLength, w.at + remaining));
      w.fields.push(...walked(inner, (r) => body(r, first >> 4, first & 0x0f, v5)));
    });
  },
  repair(frame) {
    if (frame.byteLength === 0) return frame;
    const { header } = fixedHeaderBytes(frame);
    const rest = frame.subarray(header);
    return concat([Uint8Array.of(frame[0]!, ...encodeVariableByteInteger(rest.byteLength)), rest]);
  },
  opening: (frames) => Math.min(1, frames.length),
};
