/**
 * What is connected now, in RabbitMQ's shapes: `/api/connections` (every protocol's, with `protocol`),
 * `/api/channels` (AMQP's channels; MQTT, Kafka and KubeMQ connections have none), `/api/consumers`
 * (consumers of core queues, whatever their protocol) and closing a connection. Core holds what each
 * front end described at `connection.open`; the figures are read here, when asked.
 */
import type { ChannelDescription, CoreClient, LiveConnection } from '../core/api.js';
import { HttpError } from './errors.js';
import { headersToJson, type Json } from './json.js';
import { messageStats, metersOf, nodeName, rateOf } from './views.js';

type JsonObject = { [key: string]: Json };
export type LiveReply = { readonly status: number; readonly body: Json | undefined };

function notFound(reason: string): never {
  throw new HttpError(404, 'not_found', reason);
}

function connectionsOf(core: CoreClient, vhosts: readonly string[]): LiveConnection[] {
  return vhosts.flatMap((vhost) => core.inVhost(vhost).listConnections());
}

/** The meters of connections (or their channels) per vhost, each vhost read once. */
function metersByVhost(core: CoreClient, objects: 'connection' | 'channel') {
  const meters = new Map<string, ReturnType<typeof metersOf>>();
  return (vhost: string) => {
    let ofVhost = meters.get(vhost);
    if (ofVhost === undefined) {
      ofVhost = metersOf(core.inVhost(vhost), objects);
      meters.set(vhost, ofVhost);
    }
    return ofVhost;
  };
}

/** Connections as JSON with their `message_stats` (what their own commands did: publishes, gets, acks). */
function connectionsJson(core: CoreClient, connections: readonly LiveConnection[]): JsonObject[] {
  const meters = metersByVhost(core, 'connection');
  return connections.map((c) => ({
    ...connectionJson(c),
    message_stats: messageStats(meters(c.vhost).get(c.connectionId)),
  }));
}

function connectionJson(c: LiveConnection): JsonObject {
  const d = c.description;
  const traffic = d.traffic();
  const clientId = d.clientId();
  return {
    name: d.name,
    node: nodeName(),
    type: 'network',
    state: 'running',
    protocol: d.protocol,
    user: c.user,
    vhost: c.vhost,
    host: d.host,
    port: d.port ?? null,
    peer_host: d.peerHost,
    peer_port: d.peerPort ?? null,
    ssl: d.tls,
    connected_at: d.connectedAtMs,
    channels: d.channels().length,
    ...(d.subscriptions === undefined ? {} : { subscriptions: d.subscriptions() }),
    client_properties: d.clientProperties === undefined ? {} : headersToJson(d.clientProperties),
    ...(clientId === undefined ? {} : { client_id: clientId }),
    recv_oct: traffic.recvOct,
    send_oct: traffic.sendOct,
    send_pend: traffic.sendPend,
    ...(traffic.recvCnt === undefined ? {} : { recv_cnt: traffic.recvCnt }),
    ...(traffic.sendCnt === undefined ? {} : { send_cnt: traffic.sendCnt }),
  };
}

function channelJson(c: LiveConnection, channel: ChannelDescription): JsonObject {
  const d = c.description;
  return {
    name: `${d.name} (${channel.number})`,
    node: nodeName(),
    number: channel.number,
    state: 'running',
    user: c.user,
    vhost: c.vhost,
    connection_details: { name: d.name, peer_host: d.peerHost, peer_port: d.peerPort ?? null },
    prefetch_count: channel.prefetchCount,
    global_prefetch_count: channel.globalPrefetchCount,
    messages_unacknowledged: channel.unacked,
    consumer_count: channel.consumers,
    confirm: channel.confirm,
    transactional: channel.transactional,
  };
}

/**
 * Channels with `message_stats.confirm` (RabbitMQ's channel rows carry it): the publishes each one
 * confirmed, counted by core per channel number while its connection lives.
 */
function channelsOf(core: CoreClient, connections: readonly LiveConnection[]): JsonObject[] {
  const meters = metersByVhost(core, 'channel');
  return connections.flatMap((c) =>
    c.description.channels().map((channel) => {
      const row = meters(c.vhost).get(`${c.connectionId}/${channel.number}`);
      const stats =
        row === undefined
          ? {}
          : {
              confirm: row.counts.confirmed,
              confirm_details: { rate: Math.round(row.rates.confirmed * 10) / 10 },
            };
      return { ...channelJson(c, channel), message_stats: stats };
    }),
  );
}

/** Consumers of the vhosts' queues; `channel_details` names the connection (and AMQP channel) holding them. */
function consumersOf(core: CoreClient, vhosts: readonly string[]): JsonObject[] {
  return vhosts.flatMap((vhost) => {
    const v = core.inVhost(vhost);
    const connections = new Map(v.listConnections().map((c) => [c.connectionId, c]));
    return v.listConsumers().map((row) => {
      const slash = row.owner.indexOf('/');
      const connectionId = slash === -1 ? row.owner : row.owner.slice(0, slash);
      const channel = Number(row.owner.slice(slash + 1));
      const c = connections.get(connectionId);
      // Front ends scope their tags by channel (`1/worker-1`); the client knows the tag it gave.
      const local = `${row.owner.slice(slash + 1)}/`;
      const tag = slash !== -1 && row.tag.startsWith(local) ? row.tag.slice(local.length) : row.tag;
      const name = c?.description.name ?? connectionId;
      return {
        queue: { name: row.queue, vhost },
        consumer_tag: tag,
        ack_required: row.ackRequired,
        exclusive: row.exclusive,
        prefetch_count: row.prefetch,
        priority: row.priority,
        active: true,
        activity_status: 'up',
        arguments: {},
        channel_details: {
          name: Number.isSafeInteger(channel) && slash !== -1 ? `${name} (${channel})` : name,
          number: Number.isSafeInteger(channel) && slash !== -1 ? channel : 0,
          connection_name: name,
          peer_host: c?.description.peerHost ?? '',
          peer_port: c?.description.peerPort ?? null,
          user: c?.user ?? '',
        },
      };
    });
  });
}

function oneConnection(core: CoreClient, vhosts: readonly string[], name: string): LiveConnection {
  return (
    connectionsOf(core, vhosts).find((c) => c.description.name === name) ?? notFound(`No connection ${name}`)
  );
}

/**
 * The routes of this module: `parts` are the decoded path segments after `/api`; `scope` gives the
 * vhosts a listing covers (one named, or those the user may see). Undefined: not a route here.
 */
export function liveRoutes(
  core: CoreClient,
  method: string,
  parts: readonly string[],
  scope: (vhost?: string) => string[],
  reason: string | undefined,
): LiveReply | undefined {
  const [resource, first, second, ...rest] = parts;
  if (rest.length > 0) return undefined;
  if (resource === 'vhosts' && first !== undefined && method === 'GET') {
    if (second === 'connections')
      return { status: 200, body: connectionsJson(core, connectionsOf(core, scope(first))) };
    if (second === 'channels')
      return { status: 200, body: channelsOf(core, connectionsOf(core, scope(first))) };
    return undefined;
  }
  if (resource === 'connections') {
    if (first === undefined)
      return method === 'GET'
        ? { status: 200, body: connectionsJson(core, connectionsOf(core, scope())) }
        : undefined;
    const found = oneConnection(core, scope(), first);
    if (second === 'channels')
      return method === 'GET' ? { status: 200, body: channelsOf(core, [found]) } : undefined;
    if (second !== undefined) return undefined;
    if (method === 'GET') return { status: 200, body: connectionsJson(core, [found])[0] as JsonObject };
    if (method !== 'DELETE') return undefined;
    core.inVhost(found.vhost).killConnection(first, reason ?? 'Closed via management plugin');
    return { status: 204, body: undefined };
  }
  if (resource === 'channels' && method === 'GET' && second === undefined) {
    const rows = channelsOf(core, connectionsOf(core, scope()));
    if (first === undefined) return { status: 200, body: rows };
    return { status: 200, body: rows.find((r) => r['name'] === first) ?? notFound(`No channel ${first}`) };
  }
  if (resource === 'consumers' && method === 'GET' && second === undefined)
    return { status: 200, body: consumersOf(core, scope(first)) };
  return undefined;
}
