/**
 * Messages through the admin API, in RabbitMQ's shapes: `POST /api/exchanges/{vhost}/{name}/publish`,
 * `POST /api/queues/{vhost}/{name}/get` and `DELETE /api/queues/{vhost}/{name}/contents` (purge). They
 * run as the logged-in user: write permission on the exchange, read on the queue.
 */
import type { CoreClient } from '../core/api.js';
import { type Delivery, headerTable, type MessageProperties } from '../core/types.js';
import { HttpError } from './errors.js';
import { headersToJson, type Json, jsonToHeaders } from './json.js';

type JsonObject = { [key: string]: Json };

/** A get takes at most this many messages at once (a debugging tool, not a consumer). */
const getCountMax = 1000;
/** The owner of the admin API's unacked gets, under its connection (src/core/README.md, "Owner ids"). */
const getOwner = 'get';

const ackModes = ['ack_requeue_true', 'ack_requeue_false', 'reject_requeue_true', 'reject_requeue_false'];

function badRequest(reason: string): never {
  throw new HttpError(400, 'bad_request', reason);
}

function fields(body: Json | undefined): JsonObject {
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    badRequest('The body must be a JSON object');
  return body;
}

function optionalString(f: JsonObject, name: string): string | undefined {
  const value = f[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') badRequest(`'${name}' must be a string`);
  return value;
}

/** RabbitMQ's names for the default exchange in a path. */
export function exchangeName(name: string): string {
  return name === 'amq.default' ? '' : name;
}

/** AMQP basic properties as RabbitMQ's JSON names them. */
function propertiesOf(json: Json | undefined): MessageProperties {
  const p = json === undefined ? {} : fields(json);
  const text = (name: string) => optionalString(p, name);
  const number = (name: string) => {
    const value = p[name];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
      badRequest(`'${name}' must be a non-negative integer`);
    return value;
  };
  const expiration = text('expiration');
  const expirationMs = expiration === undefined ? undefined : Number(expiration);
  if (expirationMs !== undefined && !(Number.isSafeInteger(expirationMs) && expirationMs >= 0))
    badRequest("'expiration' must be a string of milliseconds");
  const out: Record<string, unknown> = {
    contentType: text('content_type'),
    contentEncoding: text('content_encoding'),
    persistent: number('delivery_mode') === 2 ? true : undefined,
    priority: number('priority'),
    correlationId: text('correlation_id'),
    replyTo: text('reply_to'),
    expirationMs,
    messageId: text('message_id'),
    timestamp: number('timestamp') === undefined ? undefined : (number('timestamp') as number) * 1000,
    type: text('type'),
    userId: text('user_id'),
    appId: text('app_id'),
    headers: p['headers'] === undefined ? undefined : Object.entries(jsonToHeaders(p['headers'])),
  };
  for (const key of Object.keys(out)) if (out[key] === undefined) delete out[key];
  return out as MessageProperties;
}

function propertiesJson(p: MessageProperties): JsonObject {
  const out: JsonObject = {};
  const put = (name: string, value: Json | undefined) => {
    if (value !== undefined) out[name] = value;
  };
  put('content_type', p.contentType);
  put('content_encoding', p.contentEncoding);
  put('delivery_mode', p.persistent === undefined ? undefined : p.persistent ? 2 : 1);
  put('priority', p.priority);
  put('correlation_id', p.correlationId);
  put('reply_to', p.replyTo);
  put('expiration', p.expirationMs === undefined ? undefined : String(p.expirationMs));
  put('message_id', p.messageId);
  put('timestamp', p.timestamp === undefined ? undefined : Math.floor(p.timestamp / 1000));
  put('type', p.type);
  put('user_id', p.userId);
  put('app_id', p.appId);
  if (p.headers !== undefined && p.headers.length > 0) out['headers'] = headersToJson(headerTable(p.headers));
  return out;
}

/** `{properties, routing_key, payload, payload_encoding}` → `{routed}`. */
export async function publish(core: CoreClient, exchange: string, body: Json | undefined): Promise<Json> {
  const f = fields(body);
  const routingKey = optionalString(f, 'routing_key') ?? '';
  const payload = optionalString(f, 'payload') ?? '';
  const encoding = optionalString(f, 'payload_encoding') ?? 'string';
  if (encoding !== 'string' && encoding !== 'base64')
    badRequest("'payload_encoding' must be 'string' or 'base64'");
  const bytes = Buffer.from(payload, encoding === 'base64' ? 'base64' : 'utf8');
  const message = { body: new Uint8Array(bytes), properties: propertiesOf(f['properties']) };
  const result = core.publish(exchangeName(exchange), routingKey, message, { publisher: 'http' });
  // Answered once the queues have it as durably as they promise; a queue that refused it is "not routed".
  const kept = await result.confirmed.then(
    () => true,
    () => false,
  );
  return { routed: result.routedCount > 0 && kept };
}

function messageJson(delivery: Delivery, encoding: string, truncate: number | undefined): JsonObject {
  const { body, properties } = delivery.message;
  const bytes = truncate === undefined ? body : body.subarray(0, truncate);
  const text = new TextDecoder('utf-8', { fatal: true });
  let payload: string;
  let payloadEncoding = 'string';
  try {
    if (encoding === 'base64') throw new Error('base64 asked');
    payload = text.decode(bytes);
  } catch {
    payload = Buffer.from(bytes).toString('base64');
    payloadEncoding = 'base64';
  }
  return {
    payload_bytes: body.length,
    redelivered: delivery.redelivered,
    exchange: delivery.message.exchange,
    routing_key: delivery.message.routingKey,
    message_count: delivery.remaining,
    properties: propertiesJson(properties),
    payload,
    payload_encoding: payloadEncoding,
  };
}

/**
 * `{count, ackmode, encoding, truncate}` → RabbitMQ's message list. All are taken before any is
 * settled, so a requeueing get of 3 sees three messages, not the first one three times.
 */
export async function get(core: CoreClient, queue: string, body: Json | undefined): Promise<Json> {
  const f = fields(body);
  const count = Number(f['count'] ?? 1);
  if (!Number.isSafeInteger(count) || count < 1 || count > getCountMax)
    badRequest(`'count' must be 1 to ${getCountMax}`);
  const ackmode = optionalString(f, 'ackmode') ?? 'ack_requeue_true';
  if (!ackModes.includes(ackmode)) badRequest(`'ackmode' must be one of ${ackModes.join(', ')}`);
  const encoding = optionalString(f, 'encoding') ?? 'auto';
  if (encoding !== 'auto' && encoding !== 'base64') badRequest("'encoding' must be 'auto' or 'base64'");
  const truncateField = f['truncate'];
  const truncate = truncateField === undefined || truncateField === null ? undefined : Number(truncateField);
  if (truncate !== undefined && !(Number.isSafeInteger(truncate) && truncate >= 0))
    badRequest("'truncate' must be a non-negative integer");
  // As a client's get: after a quorum queue's returns land, each count written before it is shown.
  const taken = await core.take(queue, { noAck: false, owner: getOwner }, count);
  const requeue = ackmode.endsWith('requeue_true');
  // Back in their places, last first, so the queue's order is as it was.
  for (const delivery of [...taken].reverse()) {
    if (ackmode === 'ack_requeue_false') core.ack(queue, delivery.id);
    else core.nack(queue, delivery.id, requeue);
  }
  return taken.map((delivery) => messageJson(delivery, encoding, truncate));
}
