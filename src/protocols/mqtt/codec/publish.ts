/**
 * PUBLISH encoding (MQTT 3.1.1 §3.3, 5.0 §3.3). Pure. One function writes every PUBLISH the broker
 * sends: fixed header with DUP, QoS and RETAIN, Remaining Length, topic, packet id (QoS 1/2), the v5
 * property block (User Properties in the order given [MQTT-3.3.2-18]) and the payload.
 */
import { Buffer } from 'node:buffer';
import { measureProperties, type Properties, vbiBytes, writeProperties, writeVbi } from './properties.js';

export type QoS = 0 | 1 | 2;

export interface OutgoingPublish {
  /** Empty when a v5 topic alias stands for it. */
  readonly topic: string;
  readonly payload: Uint8Array;
  readonly qos: QoS;
  readonly retain: boolean;
  readonly dup?: boolean | undefined;
  /** Set exactly when QoS > 0. */
  readonly packetId?: number | undefined;
  /** v5 only; 3.1 / 3.1.1 have no properties. */
  readonly properties?: Properties | undefined;
}

const publishType = 0x30;

export function encodePublish(publish: OutgoingPublish, version: 3 | 4 | 5): Buffer {
  const topicBytes = Buffer.byteLength(publish.topic);
  const idBytes = publish.packetId === undefined ? 0 : 2;
  const measured = version === 5 ? measureProperties(publish.properties ?? {}) : undefined;
  const remaining = 2 + topicBytes + idBytes + (measured?.bytes ?? 0) + publish.payload.byteLength;
  const out = Buffer.allocUnsafe(1 + vbiBytes(remaining) + remaining);
  out[0] = publishType | (publish.dup === true ? 0x08 : 0) | (publish.qos << 1) | (publish.retain ? 0x01 : 0);
  let at = writeVbi(out, 1, remaining);
  at = out.writeUInt16BE(topicBytes, at);
  at += out.write(publish.topic, at, 'utf8');
  if (publish.packetId !== undefined) at = out.writeUInt16BE(publish.packetId, at);
  if (measured !== undefined) at = writeProperties(out, at, measured);
  out.set(publish.payload, at);
  return out;
}
