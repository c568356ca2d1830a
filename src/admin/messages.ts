/**
 * Messages through the admin API, in RabbitMQ's shapes: `POST /api/exchanges/{vhost}/{name}/publish`,
 * `POST /api/queues/{vhost}/{name}/get` and `DELETE /api/queues/{vhost}/{name}/contents` (purge).
 * The smallest form the dashboard needs; each runs as the logged-in user, so core's authorizer checks
 * write (publish) and read (get, purge) permission as for any client.
 */
import type { CoreClient } from '../core/api.js';
import { type Delivery, headerTable } from '../core/types.js';
import { HttpError } from './errors.js';
import { headersToJson, type Json } from './json.js';

type Reply = { readonly status: number; readonly body: Json | undefined };
type JsonObject = { readonly [key: string]: Json };

/** A get takes at most this many messages at once (RabbitMQ's UI offers a count to fetch). */
const getCountMax = 1000;
/** A payload shown by get is cut at this many bytes unless the request sets `truncate` lower. */
const payloadBytesMax = 64 * 1024;
/** Unacked deliveries taken by a get are held under this name until settled, within the request. */
const getOwner = 'http-get';

const ackModes = ['ack_requeue_true', 'ack_requeue_false', 'reject_requeue_true', 'reject_requeue_false'];

function bad(reason: string): never {
  throw new HttpError(400, 'bad_request', reason);
}

function objectOf(body: Json | undefined): JsonObject {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) bad('The body must be a JSON object');
  return body as JsonObject;
}

/** RabbitMQ's name for the default exchange in paths. */
function exchangeName(name: string): string {
  return name === 'amq.default' ? '' : name;
}

function publish(core: CoreClient, exchange: string, body: JsonObject): Reply {
  const routingKey = body['routing_key'] ?? '';
  const payload = body['payload'] ?? '';
  const encoding = body['payload_encoding'] ?? 'string';
  if (typeof routingKey !== 'string' || typeof payload !== 'string')
    bad("'routing_key' and 'payload' are strings");
  if (encoding !== 'string' && encoding !== 'base64') bad("'payload_encoding' is 'string' or 'base64'");
  const props = body['properties'] ?? {};
  if (props === null || typeof props !== 'object' || Array.isArray(props)) bad("'properties' is an object");
  const { content_type: contentType, delivery_mode: deliveryMode } = props as JsonObject;
  const bytes = Buffer.from(payload, encoding === 'base64' ? 'base64' : 'utf8');
  core.checkExchange(exchange, { publishing: true });
  const result = core.publish(exchange, routingKey, {
    body: bytes,
    properties: {
      ...(typeof contentType === 'string' ? { contentType } : {}),
      persistent: deliveryMode === 2,
    },
  });
  // The answer does not wait for durability; a refusal by a full queue is not the caller's concern here.
  result.confirmed.catch(() => undefined);
  return { status: 200, body: { routed: result.routedCount > 0 } };
}

function shown(delivery: Delivery, truncate: number): JsonObject {
  const { message } = delivery;
  const text = Buffer.from(message.body.subarray(0, truncate));
  const utf8 = text.toString('utf8');
  const isText = Buffer.from(utf8, 'utf8').equals(text);
  const { properties } = message;
  return {
    payload_bytes: message.body.length,
    redelivered: delivery.redelivered,
    exchange: message.exchange,
    routing_key: message.routingKey,
    message_count: delivery.remaining,
    properties: {
      ...(properties.contentType === undefined ? {} : { content_type: properties.contentType }),
      delivery_mode: properties.persistent === true ? 2 : 1,
      headers: headersToJson(headerTable(properties.headers)),
    },
    payload: isText ? utf8 : text.toString('base64'),
    payload_encoding: isText ? 'string' : 'base64',
  };
}

function get(core: CoreClient, queue: string, body: JsonObject): Reply {
  const count = body['count'] ?? 1;
  const ackmode = body['ackmode'] ?? 'ack_requeue_true';
  const truncate = body['truncate'] ?? payloadBytesMax;
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > getCountMax)
    bad(`'count' is a whole number from 1 to ${getCountMax}`);
  if (typeof ackmode !== 'string' || !ackModes.includes(ackmode))
    bad(`'ackmode' is one of ${ackModes.join(', ')}`);
  if (typeof truncate !== 'number' || truncate < 0) bad("'truncate' is a number of bytes");
  const taken: Delivery[] = [];
  // All are taken before any is settled, so a requeue does not hand the same message back twice.
  for (let i = 0; i < count; i += 1) {
    const delivery = core.get(queue, { noAck: false, owner: getOwner });
    if (delivery === undefined) break;
    taken.push(delivery);
  }
  for (const { id } of taken.toReversed()) {
    if (ackmode === 'ack_requeue_false') core.ack(queue, id);
    else if (ackmode === 'ack_requeue_true') core.requeue(queue, id, { atTail: false, counted: false });
    else core.nack(queue, id, ackmode === 'reject_requeue_true');
  }
  return { status: 200, body: taken.map((delivery) => shown(delivery, Math.min(truncate, payloadBytesMax))) };
}

/** Answers a message route; undefined when `parts` (the path after `/api`, decoded) is not one. */
export async function messageRoutes(
  core: CoreClient,
  method: string,
  parts: readonly string[],
  body: Json | undefined,
): Promise<Reply | undefined> {
  if (parts.length !== 4) return undefined;
  const [resource, vhost, name, action] = parts as [string, string, string, string];
  const route = `${method} ${resource} ${action}`;
  if (!['POST exchanges publish', 'POST queues get', 'DELETE queues contents'].includes(route))
    return undefined;
  if (!core.vhostNames().includes(vhost)) throw new HttpError(404, 'not_found', `No vhost ${vhost}`);
  const client = core.inVhost(vhost);
  if (route === 'POST exchanges publish') return publish(client, exchangeName(name), objectOf(body));
  if (route === 'POST queues get') return get(client, name, objectOf(body));
  client.purgeQueue(name);
  return { status: 204, body: undefined };
}
