/**
 * MQTT 5 PUBLISH properties ↔ core MessageProperties (docs/cross-protocol.md, "MQTT").
 * User Properties are the message's application headers, in order and with repeated names
 * [MQTT-3.3.2-17] [MQTT-3.3.2-18]. Everything else MQTT says about a message (QoS, RETAIN, the
 * publishing client, expiry, binary correlation data, payload format) has a core field of its own, so
 * a User Property of any name is only ever data, and a header from another protocol of any name is
 * only ever a User Property.
 */
import { Buffer } from 'node:buffer';
import type { HeaderValue, MessageProperties, Qos } from '../../core/types.js';
import { TypedNumber } from '../../core/types.js';
import type { Properties, UserProperty } from './codec/properties.js';

export interface IncomingInfo {
  readonly qos: Qos;
  readonly retain: boolean;
  /** The publishing client's id. */
  readonly publisher: string;
  readonly nowMs: number;
}

function correlation(properties: MessageProperties, data: Buffer): void {
  const text = data.toString('utf8');
  properties.correlationId = text;
  // Correlation data is binary; keep the exact bytes when UTF-8 would not give them back [MQTT-3.3.2-16].
  if (!Buffer.from(text, 'utf8').equals(data)) properties.correlationData = Uint8Array.from(data);
}

/** Builds the core properties of an MQTT PUBLISH (or will). */
export function toCore(props: Properties | undefined, info: IncomingInfo): MessageProperties {
  const properties: MessageProperties = {
    persistent: info.qos > 0,
    qos: info.qos,
    publisherId: info.publisher,
  };
  if (info.retain) properties.retain = true;
  if (props === undefined) return properties;
  if (props.userProperties !== undefined) properties.headers = props.userProperties;
  if (props.contentType !== undefined) properties.contentType = props.contentType;
  if (props.responseTopic !== undefined) properties.replyTo = props.responseTopic;
  if (props.correlationData !== undefined) correlation(properties, props.correlationData);
  if (props.payloadFormatIndicator === 1) properties.textBody = true;
  if (props.messageExpiryInterval !== undefined) {
    properties.expirationMs = props.messageExpiryInterval * 1000;
    properties.expiresAtMs = info.nowMs + properties.expirationMs;
  }
  return properties;
}

/** An MQTT string holds no U+0000 [MQTT-1.5.4-2]: one from another protocol's header becomes U+FFFD. */
function mqttText(text: string): string {
  return text.includes('\u0000') ? text.replaceAll('\u0000', '\ufffd') : text;
}

function userValue(value: HeaderValue): string {
  if (typeof value === 'string') return mqttText(value);
  if (value === null) return '';
  if (value instanceof Uint8Array) return mqttText(Buffer.from(value).toString('utf8'));
  if (value instanceof Date) return value.toISOString();
  // A typed number (an AMQP int16, say) is its decimal text, like any number.
  if (typeof value === 'bigint' || typeof value === 'number' || typeof value === 'boolean')
    return String(value);
  if (value instanceof TypedNumber) return value.toString();
  return mqttText(JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)));
}

/** Headers as User Properties, in order; an array value (an AMQP field array) gives one per item. */
function userProperties(properties: MessageProperties): UserProperty[] | undefined {
  const headers = properties.headers;
  if (headers === undefined || headers.length === 0) return undefined;
  const out: UserProperty[] = [];
  for (const [name, value] of headers) {
    const key = mqttText(name);
    if (Array.isArray(value)) for (const item of value) out.push([key, userValue(item)]);
    else out.push([key, userValue(value)]);
  }
  return out;
}

/** The QoS a message was published with: MQTT's own, else AMQP persistence (persistent → 1). */
export function publishedQos(properties: MessageProperties): Qos {
  return properties.qos ?? (properties.persistent === true ? 1 : 0);
}

/** Remaining message expiry in whole seconds (rounded up), undefined when none; ≤0 means expired. */
export function remainingExpirySec(properties: MessageProperties, nowMs: number): number | undefined {
  if (properties.expirationMs === undefined) return undefined;
  const leftMs =
    properties.expiresAtMs === undefined ? properties.expirationMs : properties.expiresAtMs - nowMs;
  return Math.ceil(leftMs / 1000);
}

/** PUBLISH properties for a v5 client (v3 clients get none). */
export function toMqtt(properties: MessageProperties, nowMs: number): Properties {
  const out: Properties = {};
  const user = userProperties(properties);
  if (user !== undefined) out.userProperties = user;
  if (properties.contentType !== undefined) out.contentType = mqttText(properties.contentType);
  if (properties.replyTo !== undefined) out.responseTopic = mqttText(properties.replyTo);
  if (properties.correlationData !== undefined) out.correlationData = Buffer.from(properties.correlationData);
  else if (properties.correlationId !== undefined)
    out.correlationData = Buffer.from(properties.correlationId);
  if (properties.textBody === true) out.payloadFormatIndicator = 1;
  const expirySec = remainingExpirySec(properties, nowMs);
  if (expirySec !== undefined) out.messageExpiryInterval = Math.max(1, expirySec);
  return out;
}
