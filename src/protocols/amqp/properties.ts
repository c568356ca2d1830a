/**
 * Basic properties (wire) ↔ core message properties. AMQP timestamps are seconds, core's are
 * milliseconds; `expiration` is a string of milliseconds on the wire (RabbitMQ refuses anything
 * else with 406); delivery-mode 2 is persistent.
 */
import type { MessageProperties } from '../../core/types.js';
import { toHeaders } from './arguments.js';
import type { BasicProperties, FieldTable } from './codec/index.js';
import { ReplyCode } from './codec/index.js';
import { channelError } from './errors.js';

const persistentMode = 2;
const transientMode = 1;

export function toCoreProperties(p: BasicProperties): MessageProperties {
  const out: MessageProperties = {};
  if (p.contentType !== undefined) out.contentType = p.contentType;
  if (p.contentEncoding !== undefined) out.contentEncoding = p.contentEncoding;
  if (p.headers !== undefined) out.headers = toHeaders(p.headers);
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
  // Core header values are a subset of field values (same JS shapes), so no conversion is needed.
  if (p.headers !== undefined) out.headers = p.headers as FieldTable;
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
