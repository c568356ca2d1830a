/**
 * The few bytes a connection refused at accept is answered with (src/protocols/address-gate.ts): no
 * session, no full CONNECT parse, just enough of its head to learn the protocol level the CONNACK must
 * be written in.
 */
import { Buffer } from 'node:buffer';
import { Reason, ReturnCode311 } from './reasons.js';

/** Protocol levels (§2.1.3 of 5.0, §3.1.2.2 of 3.1.1): 3 is 3.1 (`MQIsdp`), 4 is 3.1.1, 5 is 5.0. */
export type ProtocolLevel = 3 | 4 | 5;

/** Fixed header (1 + a 4-byte remaining length), protocol name (2 + `MQIsdp`), level: all that is read. */
export const connectHeadBytesMax = 1 + 4 + 2 + 6 + 1;

const connectType = 0x10;
const protocolNameBytesMax = 6;

/**
 * The level a CONNECT announces, from its first bytes: undefined while more are needed, null when
 * they are not the head of a CONNECT (then there is nothing to answer [MQTT-3.1.0-1]).
 */
export function connectLevel(head: Buffer): ProtocolLevel | null | undefined {
  if (head.length === 0) return undefined;
  if (head[0] !== connectType) return null;
  let at = 1;
  // The remaining length: up to 4 bytes, the last without its continuation bit (§1.5.5).
  while (at < head.length && at <= 4 && ((head[at] ?? 0) & 0x80) !== 0) at++;
  if (at > 4) return null;
  if (at >= head.length) return undefined;
  at++;
  if (head.length < at + 2) return undefined;
  const nameBytes = head.readUInt16BE(at);
  if (nameBytes > protocolNameBytesMax) return null;
  const levelAt = at + 2 + nameBytes;
  const level = head[levelAt];
  if (level === undefined) return undefined;
  return level === 3 || level === 4 || level === 5 ? level : null;
}

/**
 * CONNACK for a connection over its address's cap, in the level's own terms: 0x97 Quota exceeded in
 * 5.0 (§3.2.2.2, no properties), 3 Server unavailable in 3.1.1 and 3.1 (§3.2.2.3). Either way the
 * connection is then closed [MQTT-3.2.2-5] [MQTT-3.2.2-7].
 */
export function quotaConnack(level: ProtocolLevel): Buffer {
  return level === 5
    ? Buffer.from([0x20, 3, 0, Reason.quotaExceeded, 0])
    : Buffer.from([0x20, 2, 0, ReturnCode311.serverUnavailable]);
}
