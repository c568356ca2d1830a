/**
 * What the mutation engine knows of one protocol: how a client's bytes split into frames, where the
 * length and count fields of a frame are (so they can be tampered with precisely), and how to make a
 * frame's outer length fit again after its inside was changed (so a mutation reaches the parser behind
 * the framing instead of always failing at the frame size).
 */
import type { Random } from './random.js';

export type FieldKind =
  | 'u8'
  | 'u16'
  /** HTTP/2's frame length. */
  | 'u24'
  | 'u32'
  | 'u64'
  | 'i16'
  | 'i32'
  /** Kafka unsigned varint (7 bits a byte, up to 5 bytes). */
  | 'uvarint'
  /** Kafka zig-zag varint. */
  | 'varint'
  /** MQTT Variable Byte Integer (up to 4 bytes). */
  | 'mqttvar';

export interface Field {
  readonly at: number;
  /** Bytes the field takes now (varints re-encode to another width). */
  readonly width: number;
  readonly kind: FieldKind;
  /** A length or a count says how many bytes or items follow; a value is any other number. */
  readonly role: 'length' | 'count' | 'value';
}

export interface Dialect {
  readonly name: string;
  /** Cuts what a client wrote on one connection into frames; a tail that is no whole frame is its own. */
  split(bytes: Uint8Array): Uint8Array[];
  /** Facts about a session that reading its frames needs (MQTT: the protocol level of its CONNECT). */
  context(frames: readonly Uint8Array[]): unknown;
  fields(frame: Uint8Array, context: unknown): Field[];
  /** The frame with its outer length (and checksums) made to fit its content again. */
  repair(frame: Uint8Array, context: unknown): Uint8Array;
  /** How many frames open a connection (handshake), kept in front when frames are reordered. */
  opening(frames: readonly Uint8Array[]): number;
  /** Protocol-specific operators beyond the generic ones (text mutations of HTTP, say). */
  readonly extraMutations?: ReadonlyArray<(frame: Uint8Array, random: Random) => Uint8Array>;
  /** A protocol carried inside this one's frames (MQTT inside WebSocket frames). */
  readonly inner?: {
    readonly dialect: Dialect;
    unwrap(frame: Uint8Array): Uint8Array | undefined;
    wrap(outer: Uint8Array, inner: Uint8Array): Uint8Array;
  };
}

/** Concatenates byte arrays. */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const p of parts) total += p.byteLength;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** A reader that records the fields it passes; reading past the end throws `Short`. */
export class FieldWalker {
  readonly fields: Field[] = [];
  at: number;
  readonly bytes: Uint8Array;
  readonly end: number;
  readonly #view: DataView;

  constructor(bytes: Uint8Array, at = 0, end = bytes.byteLength) {
    this.bytes = bytes;
    this.at = at;
    this.end = end;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get remaining(): number {
    return this.end - this.at;
  }

  skip(n: number): void {
    if (n < 0 || n > this.end - this.at) throw new Short();
    this.at += n;
  }

  /** Reads a fixed-width unsigned big-endian integer and records it. */
  fixed(kind: 'u8' | 'u16' | 'u24' | 'u32' | 'u64' | 'i16' | 'i32', role: Field['role']): number {
    const width = fixedWidth[kind];
    if (width > this.end - this.at) throw new Short();
    const at = this.at;
    this.fields.push({ at, width, kind, role });
    this.at += width;
    switch (kind) {
      case 'u8':
        return this.#view.getUint8(at);
      case 'u16':
        return this.#view.getUint16(at);
      case 'u24':
        return this.#view.getUint16(at) * 256 + this.#view.getUint8(at + 2);
      case 'i16':
        return this.#view.getInt16(at);
      case 'u32':
        return this.#view.getUint32(at);
      case 'i32':
        return this.#view.getInt32(at);
      default:
        return Number(this.#view.getBigUint64(at));
    }
  }

  /** Reads a little-endian base-128 integer (Kafka uvarint / zig-zag varint, MQTT Variable Byte Integer). */
  varint(kind: 'uvarint' | 'varint' | 'mqttvar', role: Field['role']): number {
    const bytesMax = kind === 'mqttvar' ? 4 : 5;
    const at = this.at;
    let value = 0;
    for (let i = 0; i < bytesMax; i++) {
      if (this.at >= this.end) throw new Short();
      const byte = this.bytes[this.at++]!;
      value += (byte & 0x7f) * 2 ** (7 * i);
      if ((byte & 0x80) === 0) {
        this.fields.push({ at, width: this.at - at, kind, role });
        return kind === 'varint' ? (value % 2 === 0 ? value / 2 : -(value + 1) / 2) : value;
      }
    }
    throw new Short();
  }
}

export const fixedWidth = { u8: 1, u16: 2, u24: 3, u32: 4, u64: 8, i16: 2, i32: 4 } as const;

/** Thrown by `FieldWalker` when a frame ends before its fields do: walking stops there. */
export class Short extends Error {}

/** Runs `walk`; whatever fields it found before the frame ran short are kept. */
export function walked(walker: FieldWalker, walk: (w: FieldWalker) => void): Field[] {
  try {
    walk(walker);
  } catch (err) {
    if (!(err instanceof Short)) throw err;
  }
  return walker.fields;
}
