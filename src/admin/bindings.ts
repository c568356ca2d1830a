/**
 * Bindings made and removed through the admin API, in RabbitMQ's routes:
 * `POST /api/bindings/{vhost}/e/{source}/q/{queue}` (or `/e/{exchange}`) `{routing_key, arguments}` →
 * 201 with `Location`; `GET` of the same path lists the bindings between the two;
 * `DELETE /api/bindings/{vhost}/e/{source}/q/{queue}/{properties_key}` removes the one that key names
 * (the `properties_key` of the listing: the routing key, plus a hash of the arguments when it has any).
 */
import type { CoreClient } from '../core/api.js';
import type { Headers } from '../core/types.js';
import { HttpError } from './errors.js';
import { headersToJson, type Json } from './json.js';
import * as views from './views.js';

type Reply = { readonly status: number; readonly body: Json | undefined };

function bad(reason: string): never {
  throw new HttpError(400, 'bad_request', reason);
}

/** Binding arguments from JSON: flat values only (what a headers exchange matches on). */
function argumentsOf(value: Json | undefined): Headers {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) bad("'arguments' must be an object");
  const args: Headers = {};
  for (const [key, item] of Object.entries(value)) {
    if (item !== null && typeof item === 'object')
      bad(`argument '${key}' must be a string, number or boolean`);
    args[key] = item;
  }
  return args;
}

function bind(core: CoreClient, source: string, kind: string, destination: string, body: Json | undefined) {
  const object = body !== null && typeof body === 'object' && !Array.isArray(body) ? body : {};
  const routingKey = object['routing_key'] ?? '';
  if (typeof routingKey !== 'string') bad("'routing_key' must be a string");
  const args = argumentsOf(object['arguments']);
  if (kind === 'q') core.bindQueue(destination, source, routingKey, args);
  else core.bindExchange(destination, source, routingKey, args);
  return views.propertiesKey(routingKey, headersToJson(args));
}

/** Answers a binding route; undefined when `parts` (the path after `/api`, decoded) is not one. */
export function bindingRoutes(
  core: CoreClient,
  method: string,
  parts: readonly string[],
  body: Json | undefined,
  setLocation: (path: string) => void,
): Reply | undefined {
  const [resource, vhost, e, source, kind, destination, key] = parts;
  if (resource !== 'bindings' || e !== 'e' || (kind !== 'q' && kind !== 'e')) return undefined;
  if (vhost === undefined || source === undefined || destination === undefined || parts.length > 7)
    return undefined;
  if (!core.vhostNames().includes(vhost)) throw new HttpError(404, 'not_found', `No vhost ${vhost}`);
  const client = core.inVhost(vhost);
  const between = () =>
    views
      .bindings(core, [vhost])
      .filter(
        (b) =>
          b['source'] === source &&
          b['destination'] === destination &&
          b['destination_type'] === (kind === 'q' ? 'queue' : 'exchange'),
      );
  if (key === undefined && method === 'GET') return { status: 200, body: between() };
  if (key === undefined && method === 'POST') {
    const made = bind(client, source, kind, destination, body);
    setLocation(made);
    return { status: 201, body: undefined };
  }
  if (key !== undefined && method === 'DELETE') {
    const found = between().find((b) => b['properties_key'] === key);
    if (found === undefined) throw new HttpError(404, 'not_found', 'No such binding');
    const routingKey = String(found['routing_key']);
    const args = argumentsOf(found['arguments']);
    if (kind === 'q') client.unbindQueue(destination, source, routingKey, args);
    else client.unbindExchange(destination, source, routingKey, args);
    return { status: 204, body: undefined };
  }
  return undefined;
}
