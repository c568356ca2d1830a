/**
 * `switchyard status | list <kind> | declare | delete | purge`: the objects of a running broker
 * through its admin API. Listings are RabbitMQ's routes (Kafka topics and groups, MQTT sessions and
 * KubeMQ channels under the broker's `/api/kafka`, `/api/mqtt` and `/api/kubemq` extensions); a paged answer (`{items, …}`) and a plain
 * array are both read, so the same command works with and without `--page`.
 */

import { call, enc, type Target, UsageError } from './client.js';
import type { Answer } from './manage.js';

type Row = Record<string, unknown>;

interface Listing {
  /** The route; `vhost` adds `/{vhost}` where RabbitMQ has such a route. */
  readonly path: string;
  readonly byVhost: boolean;
  readonly columns: readonly string[];
  /** Derives summary columns (counts, sums) from nested fields. */
  readonly shape?: (row: Row) => Row;
}

const sum = (items: unknown, key: string): number =>
  Array.isArray(items) ? items.reduce((n: number, item: Row) => n + (Number(item[key]) || 0), 0) : 0;
const count = (items: unknown): number => (Array.isArray(items) ? items.length : Number(items) || 0);

export const listings: Readonly<Record<string, Listing>> = {
  connections: {
    path: '/api/connections',
    byVhost: true,
    columns: ['name', 'protocol', 'user', 'vhost', 'peer_host', 'channels', 'state'],
  },
  channels: {
    path: '/api/channels',
    byVhost: true,
    columns: ['name', 'user', 'vhost', 'consumer_count', 'messages_unacknowledged', 'prefetch_count'],
  },
  exchanges: {
    path: '/api/exchanges',
    byVhost: true,
    columns: ['vhost', 'name', 'type', 'durable', 'auto_delete', 'internal'],
  },
  queues: {
    path: '/api/queues',
    byVhost: true,
    columns: ['vhost', 'name', 'type', 'durable', 'messages', 'consumers'],
  },
  bindings: {
    path: '/api/bindings',
    byVhost: true,
    columns: ['vhost', 'source', 'destination', 'destination_type', 'routing_key'],
  },
  consumers: {
    path: '/api/consumers',
    byVhost: true,
    columns: ['vhost', 'queue', 'consumer_tag', 'channel', 'ack_required', 'prefetch_count'],
    shape: (row) => ({
      ...row,
      vhost: (row['queue'] as Row | undefined)?.['vhost'],
      queue: (row['queue'] as Row | undefined)?.['name'],
      channel: (row['channel_details'] as Row | undefined)?.['name'],
    }),
  },
  topics: {
    path: '/api/kafka/topics',
    byVhost: false,
    columns: ['name', 'partitions', 'messages'],
    shape: (row) => ({
      ...row,
      partitions: count(row['partitions']),
      messages: sum(row['partitions'], 'messages'),
    }),
  },
  groups: {
    path: '/api/kafka/groups',
    byVhost: false,
    columns: ['group_id', 'protocol_type', 'state', 'members', 'lag'],
    shape: (row) => ({ ...row, members: count(row['members']), lag: sum(row['offsets'], 'lag') }),
  },
  sessions: {
    path: '/api/mqtt/sessions',
    byVhost: false,
    columns: [
      'client_id',
      'connected',
      'clean_start',
      'expiry_interval_s',
      'subscriptions',
      'inflight',
      'queued',
    ],
    shape: (row) => ({ ...row, subscriptions: count(row['subscriptions']) }),
  },
  // `channels` are RabbitMQ's (AMQP channels), as rabbitmqadmin lists them; KubeMQ's have their own word.
  'kubemq-channels': {
    path: '/api/kubemq/channels',
    byVhost: false,
    columns: ['name', 'type', 'messages', 'sent', 'subscribers', 'last_activity'],
  },
  users: { path: '/api/users', byVhost: false, columns: ['name', 'tags'] },
  vhosts: { path: '/api/vhosts', byVhost: false, columns: ['name', 'queues', 'exchanges', 'messages'] },
};

export interface ObjectOptions {
  readonly vhost?: string | undefined;
  readonly filter?: string | undefined;
  readonly page?: string | undefined;
  readonly 'page-size'?: string | undefined;
  readonly type?: string | undefined;
  readonly durable?: string | undefined;
  readonly 'auto-delete'?: boolean | undefined;
  readonly internal?: boolean | undefined;
  readonly arguments?: string | undefined;
  readonly source?: string | undefined;
  readonly destination?: string | undefined;
  readonly 'destination-type'?: string | undefined;
  readonly 'routing-key'?: string | undefined;
  readonly 'if-empty'?: boolean | undefined;
  readonly 'if-unused'?: boolean | undefined;
}

/** The rows of a listing, whether the broker answered a page or the whole array. */
export function itemsOf(answer: unknown): Row[] {
  if (Array.isArray(answer)) return answer as Row[];
  const items = (answer as { items?: unknown } | undefined)?.items;
  return Array.isArray(items) ? (items as Row[]) : [];
}

async function list(target: Target, kind: string | undefined, o: ObjectOptions): Promise<Answer> {
  const listing = kind === undefined ? undefined : listings[kind];
  if (listing === undefined)
    throw new UsageError(`expected list <${Object.keys(listings).join('|')}>, not ${JSON.stringify(kind)}`);
  const query = new URLSearchParams();
  if (o.filter !== undefined) {
    query.set('name', o.filter);
    query.set('use_regex', 'true');
  }
  if (o.page !== undefined) query.set('page', o.page);
  if (o['page-size'] !== undefined) query.set('page_size', o['page-size']);
  if (query.has('page_size') && !query.has('page')) query.set('page', '1');
  const vhost = listing.byVhost && o.vhost !== undefined ? `/${enc(o.vhost)}` : '';
  const qs = query.size > 0 ? `?${query.toString()}` : '';
  const rows = itemsOf(await call(target, 'GET', `${listing.path}${vhost}${qs}`));
  return { rows: listing.shape === undefined ? rows : rows.map(listing.shape), columns: listing.columns };
}

function jsonArgument(text: string | undefined): unknown {
  if (text === undefined) return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new UsageError(`--arguments is not JSON: ${text}`);
  }
}

function bindingPath(vhost: string, o: ObjectOptions): string {
  if (o.source === undefined || o.destination === undefined)
    throw new UsageError('a binding needs --source and --destination');
  const kind = o['destination-type'] === 'exchange' ? 'e' : 'q';
  return `/api/bindings/${enc(vhost)}/e/${enc(o.source)}/${kind}/${enc(o.destination)}`;
}

async function declare(target: Target, [kind, name]: string[], o: ObjectOptions): Promise<Answer> {
  const vhost = o.vhost ?? '/';
  const durable = o.durable === undefined ? true : o.durable !== 'false';
  const args = jsonArgument(o.arguments) as Row;
  if (kind === 'binding') {
    const body = { routing_key: o['routing-key'] ?? '', arguments: args };
    await call(target, 'POST', bindingPath(vhost, o), body);
    return {
      line: `Binding ${o.source} to ${o.destination} with key "${body.routing_key}" in vhost "${vhost}"`,
    };
  }
  if (name === undefined) throw new UsageError(`expected declare ${kind ?? '<kind>'} <name>`);
  if (kind === 'vhost') {
    await call(target, 'PUT', `/api/vhosts/${enc(name)}`, {});
    return { line: `Declaring vhost "${name}"` };
  }
  if (kind === 'queue') {
    if (o.type !== undefined) args['x-queue-type'] = o.type;
    const body = { durable, auto_delete: o['auto-delete'] === true, arguments: args };
    await call(target, 'PUT', `/api/queues/${enc(vhost)}/${enc(name)}`, body);
    return { line: `Declaring queue "${name}" in vhost "${vhost}"` };
  }
  if (kind === 'exchange') {
    const body = {
      type: o.type ?? 'direct',
      durable,
      auto_delete: o['auto-delete'] === true,
      internal: o.internal === true,
      arguments: args,
    };
    await call(target, 'PUT', `/api/exchanges/${enc(vhost)}/${enc(name)}`, body);
    return { line: `Declaring exchange "${name}" of type ${body.type} in vhost "${vhost}"` };
  }
  throw new UsageError(`expected declare queue|exchange|binding|vhost, not ${JSON.stringify(kind)}`);
}

async function deleteBinding(target: Target, vhost: string, o: ObjectOptions): Promise<Answer> {
  const path = bindingPath(vhost, o);
  const key = o['routing-key'] ?? '';
  const found = itemsOf(await call(target, 'GET', path)).find((b) => b['routing_key'] === key);
  if (found === undefined)
    throw new UsageError(`no binding with key "${key}" from ${o.source} to ${o.destination}`);
  await call(target, 'DELETE', `${path}/${enc(String(found['properties_key']))}`);
  return { line: `Unbinding ${o.source} from ${o.destination} (key "${key}") in vhost "${vhost}"` };
}

async function remove(target: Target, [kind, name]: string[], o: ObjectOptions): Promise<Answer> {
  const vhost = o.vhost ?? '/';
  if (kind === 'binding') return deleteBinding(target, vhost, o);
  if (name === undefined) throw new UsageError(`expected delete ${kind ?? '<kind>'} <name>`);
  const query = new URLSearchParams();
  if (o['if-empty']) query.set('if-empty', 'true');
  if (o['if-unused']) query.set('if-unused', 'true');
  const qs = query.size > 0 ? `?${query.toString()}` : '';
  const paths: Record<string, string> = {
    queue: `/api/queues/${enc(vhost)}/${enc(name)}${qs}`,
    exchange: `/api/exchanges/${enc(vhost)}/${enc(name)}${qs}`,
    vhost: `/api/vhosts/${enc(name)}`,
    connection: `/api/connections/${enc(name)}`,
  };
  const path = kind === undefined ? undefined : paths[kind];
  if (path === undefined)
    throw new UsageError(
      `expected delete queue|exchange|binding|vhost|connection, not ${JSON.stringify(kind)}`,
    );
  await call(target, 'DELETE', path);
  return {
    line: `Deleting ${kind} "${name}"${kind === 'queue' || kind === 'exchange' ? ` in vhost "${vhost}"` : ''}`,
  };
}

async function status(target: Target): Promise<Answer> {
  const o = (await call(target, 'GET', '/api/overview')) as Row;
  const totals = (o['object_totals'] ?? {}) as Row;
  const queues = (o['queue_totals'] ?? {}) as Row;
  const listeners = Array.isArray(o['listeners']) ? (o['listeners'] as Row[]) : [];
  const alarms = Array.isArray(o['alarms']) ? (o['alarms'] as string[]) : [];
  const rows: Row[] = [
    { key: 'version', value: o['product_version'] },
    { key: 'uptime', value: `${Math.round(Number(o['uptime_ms'] ?? 0) / 1000)} s` },
    ...['vhosts', 'exchanges', 'queues', 'streams', 'connections', 'consumers'].flatMap((k) =>
      totals[k] === undefined ? [] : [{ key: k, value: totals[k] }],
    ),
    { key: 'messages', value: queues['messages'] },
    { key: 'listeners', value: listeners.map((l) => `${l['protocol']}:${l['port']}`).join(' ') },
    { key: 'alarms', value: alarms.length === 0 ? 'none' : alarms.join(' ') },
  ];
  return { rows, columns: ['key', 'value'], document: o };
}

export async function purge(target: Target, [queue]: string[], o: ObjectOptions): Promise<Answer> {
  if (queue === undefined) throw new UsageError('expected purge <queue>');
  const vhost = o.vhost ?? '/';
  await call(target, 'DELETE', `/api/queues/${enc(vhost)}/${enc(queue)}/contents`);
  return { line: `Purging queue "${queue}" in vhost "${vhost}"` };
}

export const objectCommands = {
  status: (target: Target) => status(target),
  list: (target: Target, words: string[], o: ObjectOptions) => list(target, words[0], o),
  declare,
  delete: remove,
  purge,
} as const;
