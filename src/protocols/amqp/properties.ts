/**
 * Basic properties (wire) ↔ core message properties. AMQP timestamps are seconds, core's are
 * milliseconds; `expiration` is a string of milliseconds on the wire (RabbitMQ refuses anything
 * else with 406); delivery-mode 2 is persistent.
 *
 * Headers are application data, with two names AMQP publishers use to reach core fields
 * (docs/cross-protocol.md): `x-delay` (RabbitMQ's delayed delivery) also sets `delayMs` and stays a
 * header, as RabbitMQ leaves it; `x-kafka-key` becomes the message's `key` (a Kafka record key) and is
 * given back as that header on delivery. Core fields AMQP has no property for are not shown.
 */
import { Buffer, isUtf8 } from 'node:buffer';
import {
  type HeaderList,
  type Headers,
  type HeaderValue,
  headerList,
  headerTable,
  type Message,
  type MessageProperties,
  TypedNumber,
  withHeader,
} from '../../core/types.js';
import type { BasicProperties } from './codec/index.js';
import { encodeBasicProperties, ReplyCode } from './codec/index.js';
import { channelError } from './errors.js';
import { toFieldTable, toHeaders } from './header-values.js';

const persistentMode = 2;
const transientMode = 1;

/** Header that holds a message back (RabbitMQ's delayed-message plugin); also kept as a header. */
export const delayHeader = 'x-delay';
/** Header naming the message's key, for Kafka consumers of a stream. */
export const keyHeader = 'x-kafka-key';
/** Earlier deliveries of a quorum queue's message that ended without an ack (RabbitMQ 3.10). */
export const deliveryCountHeader = 'x-delivery-count';

function isEmpty(table: object): boolean {
  for (const _ in table) return false;
  return true;
}

/** `x-delay` in milliseconds when it is a positive finite number of any width; Java clients send a long. */
function delayOf(value: HeaderValue | undefined): number | undefined {
  const plain = value instanceof TypedNumber ? value.valueOf() : value;
  const ms = typeof plain === 'bigint' ? Number(plain) : plain;
  return typeof ms === 'number' && Number.isFinite(ms) && ms > 0 ? ms : undefined;
}

function keyBytes(value: HeaderValue): Uint8Array {
  if (value instanceof Uint8Array) return value;
  return Buffer.from(typeof value === 'string' ? value : String(value));
}

/** The publish's headers, with `x-delay` and `x-kafka-key` read into `out` (see the file comment). */
function headersToCore(table: Headers, out: MessageProperties): HeaderList {
  const delayMs = delayOf(table[delayHeader]);
  if (delayMs !== undefined) out.delayMs = delayMs;
  const key = table[keyHeader];
  if (key === undefined || key === null) return headerList(table);
  out.key = keyBytes(key);
  return headerList(table).filter(([name]) => name !== keyHeader);
}

/** Core headers as the table a delivery carries, with the message's key as `x-kafka-key`. */
function headersToTable(p: MessageProperties): Headers {
  const table = headerTable(p.headers);
  if (p.key === undefined) return table;
  const key = p.key;
  Object.defineProperty(table, keyHeader, {
    value: isUtf8(key) ? Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('utf8') : key,
    enumerable: true,
    writable: true,
    configurable: true,
  });
  return table;
}

/** One empty list for every message without headers (lists are read-only): one object less per message. */
const noHeaders: HeaderList = Object.freeze([]);

/**
 * `message` as a quorum queue hands it out: `x-delivery-count` set to `count`, an int64 as RabbitMQ
 * writes it (`long`), replacing any header of that name the publisher sent.
 */
export function withDeliveryCount(message: Message, count: number): Message {
  const headers = withHeader(
    message.properties.headers,
    deliveryCountHeader,
    new TypedNumber('int64', count),
  );
  return { ...message, properties: { ...message.properties, headers } };
}

export function toCoreProperties(p: BasicProperties): MessageProperties {
  const out: MessageProperties = {};
  if (p.contentType !== undefined) out.contentType = p.contentType;
  if (p.contentEncoding !== undefined) out.contentEncoding = p.contentEncoding;
  // Clients such as amqplib send an empty table on every message: nothing to convert.
  if (p.headers !== undefined)
    out.headers = isEmpty(p.headers) ? noHeaders : headersToCore(toHeaders(p.headers), out);
  if (p.deliveryMode !== undefined) out.persistent = p.deliveryMode === persistentMode;
  if (p.priority !== undefined) out.priority = p.priority;
  if (p.correlationId !== undefined) out.correlationId = p.correlationId;
  if (p.replyTo !== undefined) out.replyTo = p.replyTo;
  if (p.expiration !== undefined) out.expirationMs = parseExpiration(p.expiration);
  if (p.messageId !== undefined) out.messageId = p.messageId;
  if (p.timestamp !== undefined) out.timestamp = p.timestamp * 1000;
  if (p.type !== undefined) out.type = p.type;
  if (p.userId !== undefined) out.userId = p.userId;
  if (p.appId !== undefined) out.appId = p.appId;
  return out;
}

function parseExpiration(value: string): number {
  if (!/^\d{1,10}$/.test(value)) {
    throw channelError(ReplyCode.preconditionFailed, `invalid expiration '${value}'`);
  }
  return Number(value);
}

export function toBasicProperties(p: MessageProperties): BasicProperties {
  const out: BasicProperties = {};
  if (p.contentType !== undefined) out.contentType = p.contentType;
  if (p.contentEncoding !== undefined) out.contentEncoding = p.contentEncoding;
  if (p.headers !== undefined || p.key !== undefined) out.headers = toFieldTable(headersToTable(p));
  if (p.persistent !== undefined) out.deliveryMode = p.persistent ? persistentMode : transientMode;
  if (p.priority !== undefined) out.priority = p.priority;
  if (p.correlationId !== undefined) out.correlationId = p.correlationId;
  if (p.replyTo !== undefined) out.replyTo = p.replyTo;
  if (p.expirationMs !== undefined) out.expiration = String(p.expirationMs);
  if (p.messageId !== undefined) out.messageId = p.messageId;
  if (p.timestamp !== undefined) out.timestamp = Math.floor(p.timestamp / 1000);
  if (p.type !== undefined) out.type = p.type;
  if (p.userId !== undefined) out.userId = p.userId;
  if (p.appId !== undefined) out.appId = p.appId;
  return out;
}

/** Property flags (spec 4.2.6.1, first property in the highest bit) of the two the fast path knows. */
const headersFlag = 0x2000;
const deliveryModeFlag = 0x1000;

/** Encoded forms of the common shapes: at most delivery mode and an empty headers table. */
const commonShapes = new Map<number, Uint8Array>();
for (const headers of [false, true]) {
  for (const mode of [undefined, transientMode, persistentMode]) {
    const flags = (headers ? headersFlag : 0) | (mode === undefined ? 0 : deliveryModeFlag);
    const bytes = encodeBasicProperties({
      ...(headers ? { headers: {} } : {}),
      ...(mode === undefined ? {} : { deliveryMode: mode }),
    });
    commonShapes.set(flags * 4 + (mode ?? 0), bytes);
  }
}

/** Core fields no basic property carries: they never make a delivery leave the fast path. */
const notCarried: ReadonlySet<string> = new Set([
  'qos',
  'retain',
  'publisherId',
  'expiresAtMs',
  'correlationData',
  'textBody',
  'delayMs',
  'replay',
] satisfies Array<keyof MessageProperties>);

/**
 * Core properties as encoded basic properties. Most messages carry only `persistent` and perhaps an
 * empty headers table; those are looked up instead of converted and encoded per delivery.
 */
export function encodedProperties(p: MessageProperties): Uint8Array {
  let flags = 0;
  let mode = 0;
  for (const key in p) {
    const value = p[key as keyof MessageProperties];
    if (value === undefined || notCarried.has(key)) continue;
    if (key === 'persistent') {
      flags |= deliveryModeFlag;
      mode = value ? persistentMode : transientMode;
    } else if (key === 'headers' && (value as HeaderList).length === 0) flags |= headersFlag;
    else return encodeBasicProperties(toBasicProperties(p));
  }
  return commonShapes.get(flags * 4 + mode)!;
}
