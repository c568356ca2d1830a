/**
 * RabbitMQ's routes on one object: a queue or exchange and its bindings, the bindings between two
 * objects (`/api/bindings/{vhost}/e/{source}/q|e/{destination}[/{props}]`), message publish, get and
 * purge (./messages.ts), and the node (`/api/nodes[/{name}]`).
 */
import { readdirSync, statfsSync } from 'node:fs';
import { cpus } from 'node:os';
import type { CoreClient } from '../core/api.js';
import { HttpError } from './errors.js';
import { type Json, jsonToHeaders } from './json.js';
import { exchangeName, get, publish } from './messages.js';
import * as views from './views.js';

type JsonObject = { [key: string]: Json };
export type ObjectReply = { readonly status: number; readonly body: Json | undefined; location?: string };

const noContent: ObjectReply = { status: 204, body: undefined };

function notFound(reason: string): never {
  throw new HttpError(404, 'not_found', reason);
}

/** The one node's name, as RabbitMQ's `rabbit@host`. */

function fdsUsed(): number | null {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return null;
  }
}

function diskFree(dir: string): number | null {
  try {
    const stats = statfsSync(dir);
    return stats.bavail * stats.bsize;
  } catch {
    return null;
  }
}

/** RabbitMQ's main node fields, measured in this process. */
export function node(info: views.AdminInfo, sockets: number): JsonObject {
  const alarms = info.alarms();
  return {
    name: views.nodeName(),
    type: 'disc',
    running: true,
    uptime: Date.now() - info.startedAtMs,
    mem_used: process.memoryUsage().rss,
    fd_used: fdsUsed(),
    sockets_used: sockets,
    // Node has no processes of its own; its live handles (sockets, timers, files) stand in.
    proc_used: process.getActiveResourcesInfo().length,
    disk_free: diskFree(info.dataDir ?? '.'),
    processors: cpus().length,
    os_pid: String(process.pid),
    mem_alarm: alarms.includes('memory'),
    disk_free_alarm: alarms.includes('disk'),
  };
}

function requireVhost(core: CoreClient, vhost: string): CoreClient {
  if (!core.vhostNames().includes(vhost)) notFound(`No vhost ${vhost}`);
  return core.inVhost(vhost);
}

function oneOf(rows: JsonObject[], name: string, kind: string): ObjectReply {
  const row = rows.find((r) => r['name'] === name);
  return row === undefined ? notFound(`No ${kind} ${name}`) : { status: 200, body: row };
}

/** `/api/queues/{vhost}/{name}[/bindings|/get|/contents]`. */
async function queueRoute(core: CoreClient, method: string, vhost: string, rest: string[], body?: Json) {
  const [name, action, ...more] = rest;
  if (name === undefined || more.length > 0) return undefined;
  const v = requireVhost(core, vhost);
  if (action === undefined)
    return method === 'GET' ? oneOf(views.queueRows(v, vhost, [name]), name, 'queue') : undefined;
  if (action === 'bindings' && method === 'GET') {
    const rows = v.listBindings().filter((b) => b.destinationKind === 'queue' && b.destination === name);
    return { status: 200, body: rows.map((b) => views.bindingJson(b, vhost)) };
  }
  if (action === 'get' && method === 'POST') return { status: 200, body: await get(v, name, body) };
  if (action === 'contents' && method === 'DELETE') {
    v.purgeQueue(name);
    return noContent;
  }
  return undefined;
}

/** `/api/exchanges/{vhost}/{name}[/publish|/bindings/source|/bindings/destination]`. */
async function exchangeRoute(core: CoreClient, method: string, vhost: string, rest: string[], body?: Json) {
  const [encoded, action, side, ...more] = rest;
  if (encoded === undefined || more.length > 0) return undefined;
  const name = exchangeName(encoded);
  const v = requireVhost(core, vhost);
  if (action === undefined)
    return method === 'GET' ? oneOf(views.exchangeRows(v, vhost, [name]), name, 'exchange') : undefined;
  if (action === 'publish' && side === undefined && method === 'POST')
    return { status: 200, body: await publish(v, name, body) };
  if (action !== 'bindings' || method !== 'GET') return undefined;
  if (side !== 'source' && side !== 'destination') return undefined;
  const rows = v
    .listBindings()
    .filter((b) =>
      side === 'source' ? b.source === name : b.destinationKind === 'exchange' && b.destination === name,
    );
  return { status: 200, body: rows.map((b) => views.bindingJson(b, vhost)) };
}

/**
 * `/api/bindings/{vhost}/e/{source}/q|e/{destination}[/{props}]`. A binding made or removed is
 * answered once the definitions log holds it, so a crash cannot undo what the operator was told.
 */
async function bindingRoute(core: CoreClient, method: string, vhost: string, rest: string[], body?: Json) {
  const [e, source, kindChar, destination, props, ...more] = rest;
  if (e !== 'e' || source === undefined || destination === undefined || more.length > 0) return undefined;
  if (kindChar !== 'q' && kindChar !== 'e') return undefined;
  const v = requireVhost(core, vhost);
  const kind = kindChar === 'q' ? 'queue' : 'exchange';
  const between = v
    .listBindings()
    .filter((b) => b.source === source && b.destination === destination && b.destinationKind === kind);
  if (props === undefined) {
    if (method === 'GET') return { status: 200, body: between.map((b) => views.bindingJson(b, vhost)) };
    if (method !== 'POST') return undefined;
    const f =
      body === undefined || body === null || typeof body !== 'object' || Array.isArray(body) ? {} : body;
    const routingKey = typeof f['routing_key'] === 'string' ? f['routing_key'] : '';
    const args = jsonToHeaders(f['arguments']);
    if (kind === 'queue') v.bindQueue(destination, source, routingKey, args);
    else v.bindExchange(destination, source, routingKey, args);
    await v.definitionsDurable();
    const key = views.bindingJson({ source, destination, destinationKind: kind, routingKey, args }, vhost);
    return { status: 201, body: undefined, location: encodeURIComponent(String(key['properties_key'])) };
  }
  const found = between.find((b) => views.bindingJson(b, vhost)['properties_key'] === props);
  if (found === undefined) return notFound(`No binding ${props}`);
  if (method === 'GET') return { status: 200, body: views.bindingJson(found, vhost) };
  if (method !== 'DELETE') return undefined;
  if (kind === 'queue') v.unbindQueue(destination, source, found.routingKey, found.args);
  else v.unbindExchange(destination, source, found.routingKey, found.args);
  await v.definitionsDurable();
  return noContent;
}

/**
 * The routes of this module: `parts` are the decoded path segments after `/api`. Undefined: not a
 * route here (or not with this method).
 */
export async function objectRoutes(
  core: CoreClient,
  method: string,
  parts: readonly string[],
  body: Json | undefined,
): Promise<ObjectReply | undefined> {
  const [resource, vhost, ...rest] = parts;
  if (vhost === undefined) return undefined;
  switch (resource) {
    case 'queues':
      return queueRoute(core, method, vhost, rest, body);
    case 'exchanges':
      return exchangeRoute(core, method, vhost, rest, body);
    case 'bindings':
      return rest.length === 0 ? undefined : bindingRoute(core, method, vhost, rest, body);
    default:
      return undefined;
  }
}
