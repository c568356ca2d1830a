/**
 * The wire of the MQTT bench's lean clients (`npm run bench -- mqtt lean`, bench/mqtt-lean-peer.ts):
 * MQTT 3.1.1 packets encoded once and copied, and a reader that knows only what a publisher and a
 * subscriber get back (CONNACK, SUBACK, PUBLISH, PUBACK). Pure; test/bench/mqtt-lean.test.ts holds it
 * to the broker's own codec. Written for cost, not generality: no properties (3.1.1 only), no QoS 2,
 * no will, no credentials. What is left of a client's cost is its reads and writes.
 */
import { Buffer } from 'node:buffer';
import { vbiBytes, writeVbi } from '../src/protocols/mqtt/codec/properties.js';

export const PacketType = { connack: 2, publish: 3, puback: 4, suback: 9 } as const;

/** Remaining Length is at most four bytes [MQTT-1.5.5] (2.2.3 in 3.1.1). */
const lengthBytesMax = 4;
/** Bytes of a packet this reader accepts: a bench message is 256 B, this bounds a broken stream. */
export const leanPacketBytesMax = 1 << 20;

function packet(first: number, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(1 + vbiBytes(body.byteLength) + body.byteLength);
  out[0] = first;
  body.copy(out, writeVbi(out, 1, body.byteLength));
  return out;
}

function text(value: string): Buffer {
  const bytes = Buffer.from(value, 'utf8');
  const out = Buffer.allocUnsafe(2 + bytes.byteLength);
  out.writeUInt16BE(bytes.byteLength, 0);
  bytes.copy(out, 2);
  return out;
}

/** CONNECT, protocol level 4, clean session, keep alive `keepAliveSec` (§3.1). */
export function encodeConnect(clientId: string, keepAliveSec: number): Buffer {
  const head = Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x02, keepAliveSec >> 8, keepAliveSec & 0xff]);
  return packet(0x10, Buffer.concat([head, text(clientId)]));
}

/** SUBSCRIBE of one filter at `qos`; its fixed header's flags are 0010 [MQTT-3.8.1-1]. */
export function encodeSubscribe(packetId: number, filter: string, qos: 0 | 1): Buffer {
  const id = Buffer.from([packetId >> 8, packetId & 0xff]);
  return packet(0x82, Buffer.concat([id, text(filter), Buffer.from([qos])]));
}

/** PUBACK of `packetId`, written into `out` at `at`; returns the offset after it. */
export function writePuback(out: Buffer, at: number, packetId: number): number {
  out[at] = 0x40;
  out[at + 1] = 2;
  out[at + 2] = packetId >> 8;
  out[at + 3] = packetId & 0xff;
  return at + 4;
}
export const pubackBytes = 4;

/**
 * A PUBLISH of one topic and payload size, encoded once; each message is a copy with its packet id
 * and its payload's first bytes written in (`write`).
 */
export class PublishTemplate {
  readonly bytes: Buffer;
  /** Offset of the packet id (QoS 1), and of the payload, in each copy. */
  readonly #idAt: number;
  readonly payloadAt: number;

  constructor(topic: string, qos: 0 | 1, payload: Buffer) {
    const idBytes = qos === 0 ? 0 : 2;
    const body = Buffer.concat([text(topic), Buffer.alloc(idBytes), payload]);
    this.bytes = packet(0x30 | (qos << 1), body);
    this.#idAt = this.bytes.byteLength - payload.byteLength - idBytes;
    this.payloadAt = this.bytes.byteLength - payload.byteLength;
  }

  /** Copies the template into `out` at `at` with `packetId` (QoS 1 only); returns the copy's payload offset. */
  write(out: Buffer, at: number, packetId: number): number {
    this.bytes.copy(out, at);
    if (this.payloadAt !== this.#idAt) out.writeUInt16BE(packetId, at + this.#idAt);
    return at + this.payloadAt;
  }
}

/**
 * Called per whole packet: its type and flags, and where its body lies in `bytes` (valid during the
 * call only). No object is made per packet.
 */
export type OnPacket = (type: number, flags: number, bytes: Buffer, bodyAt: number, bodyEnd: number) => void;

/** Splits a byte stream into packets. Bytes of an incomplete packet are kept for the next chunk. */
export class LeanReader {
  #held: Buffer | undefined;

  /** Feeds `chunk`; `onPacket` runs for each packet completed. Throws on a stream that is not MQTT. */
  push(chunk: Buffer, onPacket: OnPacket): void {
    const bytes = this.#held === undefined ? chunk : Buffer.concat([this.#held, chunk]);
    this.#held = undefined;
    let at = 0;
    while (at < bytes.byteLength) {
      let remaining = 0;
      let multiplier = 1;
      let headerBytes = 0;
      for (let i = 1; i <= lengthBytesMax && at + i < bytes.byteLength; i++) {
        const byte = bytes[at + i]!;
        remaining += (byte & 0x7f) * multiplier;
        multiplier *= 128;
        if ((byte & 0x80) === 0) {
          headerBytes = i + 1;
          break;
        }
        if (i === lengthBytesMax) throw new Error('remaining length longer than four bytes');
      }
      if (headerBytes === 0) break;
      if (headerBytes + remaining > leanPacketBytesMax) throw new Error(`packet of ${remaining} bytes`);
      const end = at + headerBytes + remaining;
      if (end > bytes.byteLength) break;
      onPacket(bytes[at]! >> 4, bytes[at]! & 0x0f, bytes, at + headerBytes, end);
      at = end;
    }
    if (at < bytes.byteLength) this.#held = Buffer.from(bytes.subarray(at));
  }
}

/** Where a PUBLISH's payload starts: after its topic and, at QoS 1 or 2, its packet id [MQTT-3.3.2]. */
export function publishPayloadAt(flags: number, bytes: Buffer, bodyAt: number): number {
  const topicEnd = bodyAt + 2 + bytes.readUInt16BE(bodyAt);
  return (flags & 0x06) === 0 ? topicEnd : topicEnd + 2;
}

/** A PUBLISH's packet id, 0 at QoS 0 (which has none). */
export function publishPacketId(flags: number, bytes: Buffer, bodyAt: number): number {
  return (flags & 0x06) === 0 ? 0 : bytes.readUInt16BE(bodyAt + 2 + bytes.readUInt16BE(bodyAt));
}

/** The packet id of a PUBACK or SUBACK body. */
export function packetIdAt(bytes: Buffer, bodyAt: number): number {
  return bytes.readUInt16BE(bodyAt);
}
