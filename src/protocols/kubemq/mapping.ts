/**
 * KubeMQ messages ↔ core messages (docs/cross-protocol.md, "KubeMQ"). The body is the body; the id
 * (`EventID`, `MessageID`, `RequestID`) is `messageId`; `Tags` are headers, one per tag, so they meet
 * AMQP headers, MQTT 5 user properties and Kafka record headers; KubeMQ's own fields travel in headers
 * starting `x-kubemq-`, which are never shown as tags. Other headers become tags as text.
 */
import { Buffer } from 'node:buffer';
import {
  type HeaderList,
  type Headers,
  type HeaderValue,
  headerList,
  headerTable,
  headerValue,
  type MessageProperties,
  TypedNumber,
} from '../../core/types.js';
import type { Int64, Tags } from './types.js';

export const Header = {
  /** KubeMQ's `Metadata` string. */
  metadata: 'x-kubemq-metadata',
  /** The sender's `ClientID`. */
  clientId: 'x-kubemq-client-id',
  /** A response's `Executed` and `Error`. */
  executed: 'x-kubemq-executed',
  error: 'x-kubemq-error',
} as const;

const ownPrefix = 'x-kubemq-';
const nsPerMs = 1_000_000n;

/** Milliseconds since the epoch as KubeMQ's nanoseconds (a decimal string: it does not fit a double). */
export function msToNs(ms: number | undefined): Int64 {
  if (ms === undefined || !Number.isFinite(ms) || ms <= 0) return 0;
  return (BigInt(Math.trunc(ms)) * nsPerMs).toString();
}

/** KubeMQ's nanoseconds (as the codec hands int64 over) as milliseconds. */
export function nsToMs(ns: Int64): number {
  return Number(BigInt(ns) / nsPerMs);
}

function tagText(value: HeaderValue): string {
  if (typeof value === 'string') return value;
  if (value === null) return '';
  if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
  if (value instanceof Date) return value.toISOString();
  if (value instanceof TypedNumber) return value.toString();
  if (typeof value === 'bigint' || typeof value === 'number' || typeof value === 'boolean')
    return String(value);
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v));
}

/** The tags of a core message: every header that is not KubeMQ's own, as text. */
export function tagsOf(headers: HeaderList | undefined): Tags {
  const tags: Tags = {};
  if (headers === undefined) return tags;
  for (const [key, value] of Object.entries(headerTable(headers))) {
    if (!key.startsWith(ownPrefix)) tags[key] = tagText(value);
  }
  return tags;
}

/**
 * The tags of a message read from a stream: its headers, and its Kafka record key as the tag
 * `x-kafka-key` (as AMQP consumers see it), text when it is UTF-8.
 */
export function tagsOfProperties(properties: MessageProperties): Tags {
  const tags = tagsOf(properties.headers);
  if (properties.key !== undefined) tags[kafkaKeyTag] = Buffer.from(properties.key).toString('utf8');
  return tags;
}

const kafkaKeyTag = 'x-kafka-key';

export function text(headers: HeaderList | undefined, name: string): string {
  const value = headerValue(headers, name);
  return value === undefined || value === null ? '' : tagText(value);
}

export function integer(headers: HeaderList | undefined, name: string): number {
  const value = headerValue(headers, name);
  const plain = value instanceof TypedNumber ? value.valueOf() : value;
  return typeof plain === 'number' || typeof plain === 'bigint' ? Number(plain) : 0;
}

/** Core headers for a KubeMQ message: its tags, then its own fields (which win over a tag of that name). */
export function headersOf(fields: { tags: Tags; metadata: string; clientId: string }): Headers {
  const headers: Headers = {};
  for (const [key, value] of Object.entries(fields.tags)) {
    if (!key.startsWith(ownPrefix)) headers[key] = value;
  }
  if (fields.metadata !== '') headers[Header.metadata] = fields.metadata;
  if (fields.clientId !== '') headers[Header.clientId] = fields.clientId;
  return headers;
}

/** The core properties every KubeMQ message gets: id, timestamp, persistence, headers. */
export function propertiesOf(
  id: string,
  headers: Headers,
  options: { persistent: boolean; nowMs: number },
): MessageProperties {
  return {
    messageId: id,
    timestamp: options.nowMs,
    persistent: options.persistent,
    headers: headerList(headers),
  };
}
