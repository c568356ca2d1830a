/**
 * MQTT 5 PUBLISH properties ↔ core MessageProperties (docs/cross-protocol.md, "MQTT").
 * User properties are headers; what has no core field travels in headers named `x-mqtt-…`, which
 * are removed again before a message reaches an MQTT client.
 */
import { Buffer } from 'node:buffer';
import type { IPublishPacket, QoS, UserProperties } from 'mqtt-packet';
import { type Headers, type HeaderValue, type MessageProperties, TypedNumber } from '../../core/types.js';

/** Internal header names; every one starts with `x-mqtt-`. */
export const Header = {
  qos: 'x-mqtt-qos',
  retain: 'x-mqtt-retain',
  publisher: 'x-mqtt-publisher',
  topic: 'x-mqtt-topic',
  subscription: 'x-mqtt-subscription',
  payloadFormat: 'x-mqtt-payload-format',
  correlationData: 'x-mqtt-correlation-data',
  expiresAt: 'x-mqtt-expires-at',
} as const;

const internalPrefix = 'x-mqtt-';

export type PublishProperties = NonNullable<IPublishPacket['properties']>;

export interface IncomingInfo {
  readonly qos: QoS;
  readonly retain: boolean;
  readonly publisher: string;
  readonly nowMs: number;
}

function correlation(properties: MessageProperties, headers: Headers, data: Buffer): void {
  const text = data.toString('utf8');
  properties.correlationId = text;
  // Correlation data is binary; keep the exact bytes when UTF-8 would not give them back.
  if (!Buffer.from(text, 'utf8').equals(data)) headers[Header.correlationData] = new Uint8Array(data);
}

/** Builds the core properties of an MQTT PUBLISH (or will). */
export function toCore(props: PublishProperties | undefined, info: IncomingInfo): MessageProperties {
  const headers: Headers = {};
  for (const [key, value] of Object.entries(props?.userProperties ?? {})) headers[key] = value;
  const properties: MessageProperties = { persistent: info.qos > 0, headers };
  headers[Header.qos] = info.qos;
  headers[Header.publisher] = info.publisher;
  if (info.retain) headers[Header.retain] = true;
  if (props === undefined) return properties;
  if (props.contentType !== undefined) properties.contentType = props.contentType;
  if (props.responseTopic !== undefined) properties.replyTo = props.responseTopic;
  if (props.correlationData !== undefined) correlation(properties, headers, props.correlationData);
  if (props.payloadFormatIndicator === true) headers[Header.payloadFormat] = 1;
  if (props.messageExpiryInterval !== undefined) {
    properties.expirationMs = props.messageExpiryInterval * 1000;
    headers[Header.expiresAt] = info.nowMs + properties.expirationMs;
  }
  return properties;
}

function userValue(value: HeaderValue): string {
  if (typeof value === 'string') return value;
  if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
  if (value instanceof Date) return value.toISOString();
  // A typed number (an AMQP int16, say) is its decimal text, like any number.
  if (typeof value === 'bigint' || typeof value === 'number' || typeof value === 'boolean')
    return String(value);
  if (value instanceof TypedNumber) return value.toString();
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v));
}

function userProperties(headers: Headers): UserProperties | undefined {
  let out: UserProperties | undefined;
  for (const [key, value] of Object.entries(headers)) {
    if (key.startsWith(internalPrefix)) continue;
    out ??= {};
    out[key] = Array.isArray(value) ? value.map(userValue) : userValue(value);
  }
  return out;
}

/** The QoS a message was published with: MQTT's own, else AMQP persistence (persistent → 1). */
export function publishedQos(properties: MessageProperties): QoS {
  const qos = properties.headers?.[Header.qos];
  if (qos === 0 || qos === 1 || qos === 2) return qos;
  return properties.persistent === true ? 1 : 0;
}

/** Remaining message expiry in whole seconds (rounded up), undefined when none; ≤0 means expired. */
export function remainingExpirySec(properties: MessageProperties, nowMs: number): number | undefined {
  if (properties.expirationMs === undefined) return undefined;
  const expiresAt = properties.headers?.[Header.expiresAt];
  const leftMs = typeof expiresAt === 'number' ? expiresAt - nowMs : properties.expirationMs;
  return Math.ceil(leftMs / 1000);
}

/** PUBLISH properties for a v5 client (v3 clients get none). */
export function toMqtt(properties: MessageProperties, nowMs: number): PublishProperties {
  const headers = properties.headers ?? {};
  const out: PublishProperties = {};
  const user = userProperties(headers);
  if (user !== undefined) out.userProperties = user;
  if (properties.contentType !== undefined) out.contentType = properties.contentType;
  if (properties.replyTo !== undefined) out.responseTopic = properties.replyTo;
  const data = headers[Header.correlationData];
  if (data instanceof Uint8Array) out.correlationData = Buffer.from(data);
  else if (properties.correlationId !== undefined)
    out.correlationData = Buffer.from(properties.correlationId);
  if (headers[Header.payloadFormat] === 1) out.payloadFormatIndicator = true;
  const expirySec = remainingExpirySec(properties, nowMs);
  if (expirySec !== undefined) out.messageExpiryInterval = Math.max(1, expirySec);
  return out;
}
