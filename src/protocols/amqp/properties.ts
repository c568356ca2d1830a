/**
 * Basic properties (wire) ↔ core message properties. AMQP timestamps are seconds, core's are
 * milliseconds; `expiration` is a string of milliseconds on the wire (RabbitMQ refuses anything
 * else with 406); delivery-mode 2 is persistent.
 */
import type { MessageProperties } from '../../core/types.js';
import type { BasicProperties } from './codec/index.js';
import { encodeBasicProperties, ReplyCode } from './codec/index.js';
import { channelError } from './errors.js';
import { toFieldTable, toHeaders } from './header-values.js';

const persistentMode = 2;
const transientMode = 1;

function isEmpty(table: object): boolean {
  for (const _ in table) return false;
  return true;
}

export function toCoreProperties(p: BasicProperties): MessageProperties {
  const out: MessageProperties = {};
  if (p.contentType !== undefined) out.contentType = p.contentType;
  if (p.contentEncoding !== undefined) out.contentEncoding = p.contentEncoding;
  // Clients such as amqplib send an empty table on every message: nothing to convert.
  if (p.headers !== undefined) out.headers = isEmpty(p.headers) ? {} : toHeaders(p.headers);
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
  if (p.headers !== undefined) out.headers = toFieldTable(p.headers);
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

/**
 * Core properties as encoded basic properties. Most messages carry only `persistent` and perhaps an
 * empty headers table; those are looked up instead of converted and encoded per delivery.
 */
export function encodedProperties(p: MessageProperties): Uint8Array {
  let flags = 0;
  let mode = 0;
  for (const key in p) {
    const value = p[key as keyof MessageProperties];
    if (value === undefined) continue;
    if (key === 'persistent') {
      flags |= deliveryModeFlag;
      mode = value ? persistentMode : transientMode;
    } else if (key === 'headers' && isEmpty(value as object)) flags |= headersFlag;
    else return encodeBasicProperties(toBasicProperties(p));
  }
  return commonShapes.get(flags * 4 + mode)!;
}
