/**
 * The JSON shapes of the admin API. Field names follow RabbitMQ's management API (snake case,
 * `messages_ready`, `destination_type`) so scripts and dashboards written for it read ours with few
 * changes; the shapes are documented in src/admin/README.md.
 */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import type { AlarmKind, CoreClient } from '../core/api.js';
import { headersToJson, type Json } from './json.js';
import type { KafkaTopicRules } from './kafka-topics.js';

export interface ListenerView {
  readonly protocol: string;
  readonly ip_address: string;
  readonly port: number;
}

export interface AdminInfo {
  readonly version: string;
  readonly startedAtMs: number;
  listeners(): ListenerView[];
  /** Where the broker keeps its data, for the node's `disk_free` (absent: in memory). */
  readonly dataDir?: string;
  /** Resource alarms active now. */
  alarms(): readonly AlarmKind[];
  /** The broker's edges, for /metrics: ingress budget and login gate (docs/architecture.md, "Edges"). */
  edges?(): EdgeStats;
  /** Per-object series one scrape writes at most (the `metricsSeriesMax` setting). */
  readonly metricsSeriesMax?: number;
  /** The Kafka front end's topic rules, for creating topics from the API (./kafka-topics.ts). */
  readonly kafkaTopics?: KafkaTopicRules;
  /** KubeMQ's channels as its front end counts them (`/api/kubemq/channels`). */
  kubemqChannels?(): readonly KubemqChannelView[];
}

/** One KubeMQ channel as the KubeMQ front end describes it. */
export interface KubemqChannelView {
  readonly name: string;
  readonly type: string;
  readonly vhost: string;
  readonly messages: number;
  readonly sent: number;
  readonly subscribers: number;
  readonly lastActivityMs: number;
}

export interface EdgeStats {
  readonly ingressBytes: number;
  readonly ingressUnauthenticatedBytes: number;
  readonly ingressPausedConnections: number;
  readonly ingressEvictions: number;
  readonly loginHashes: number;
  readonly loginQueued: number;
  /** TCP sockets counted against their address's cap now (`connectionsPerAddressMax`). */
  readonly addressConnections?: number;
  /** Sockets refused for their address's cap since start, per listener name. */
  readonly addressRefusals?: ReadonlyMap<string, number>;
}

type JsonObject = { [key: string]: Json };
type BindingRow = ReturnType<CoreClient['listBindings']>[number];

type MeterRow = ReturnType<CoreClient['readMeters']>[number];
type AppliedPolicy = ReturnType<CoreClient['appliedPolicies']>[number];

export const rateOf = (value: number) => ({ rate: Math.round(value * 10) / 10 });

/**
 * RabbitMQ's `message_stats`: counts since start and `*_details.rate` per second over the last
 * sampling interval (5 s). `deliver_get` is every delivery and get; `deliver` and `get` split it.
 */
export function messageStats(row: MeterRow | undefined, publishName = 'publish'): JsonObject {
  if (row === undefined) return {};
  const { counts: c, rates: r } = row;
  return {
    [publishName]: c.published,
    [`${publishName}_details`]: rateOf(r.published),
    deliver_get: c.delivered,
    deliver_get_details: rateOf(r.delivered),
    deliver: c.delivered - c.got,
    deliver_details: rateOf(r.delivered - r.got),
    get: c.got,
    get_details: rateOf(r.got),
    ack: c.acked,
    ack_details: rateOf(r.acked),
    redeliver: c.redelivered,
    redeliver_details: rateOf(r.redelivered),
    confirm: c.confirmed,
    confirm_details: rateOf(r.confirmed),
  };
}

/** The meters of one kind of object in a vhost, by name. */
export function metersOf(
  v: CoreClient,
  objects: 'queue' | 'exchange' | 'connection' | 'channel',
): Map<string, MeterRow> {
  return new Map(v.readMeters(objects).map((row) => [row.name, row]));
}

/** One listing across the named vhosts, in their order. */
function perVhost(
  core: CoreClient,
  names: string[],
  rows: (vhost: CoreClient, name: string) => JsonObject[],
): JsonObject[] {
  return names.flatMap((name) => rows(core.inVhost(name), name));
}

/** This broker's node name in RabbitMQ's form (`name@host`), as /api/nodes and the overview show it. */
export function nodeName(): string {
  return `switchyard@${hostname()}`;
}

export function overview(core: CoreClient, info: AdminInfo): JsonObject {
  const stats = core.stats();
  return {
    product_name: 'Switchyard',
    product_version: info.version,
    // RabbitMQ's tools show these (rabbitmqadmin's `show overview`); the version is Switchyard's own.
    rabbitmq_version: info.version,
    management_version: info.version,
    cluster_name: nodeName(),
    node: nodeName(),
    node_version: process.version,
    uptime_ms: Date.now() - info.startedAtMs,
    object_totals: {
      vhosts: stats.vhosts,
      exchanges: stats.exchanges,
      queues: stats.queues,
      streams: stats.streams,
      consumers: stats.consumers,
    },
    queue_totals: {
      messages: stats.messagesReady + stats.messagesUnacked,
      messages_ready: stats.messagesReady,
      messages_unacknowledged: stats.messagesUnacked,
    },
    message_stats: messageStats(core.readMeters('total')[0]),
    listeners: info.listeners().map((l) => ({ ...l })),
    // RabbitMQ shows mem_alarm / disk_free_alarm per node; one node here, so the active list.
    alarms: [...info.alarms()],
  };
}

export function vhosts(core: CoreClient, names: string[]): JsonObject[] {
  return names.map((name) => {
    const vhost = core.inVhost(name);
    // Counted in core: listing a vhost's 100,000 queues to count them is what made this slow.
    const counts = vhost.vhostCounts();
    const stats = messageStats(vhost.readMeters('vhost')[0]);
    return {
      name,
      queues: counts.queues,
      exchanges: counts.exchanges,
      messages: counts.ready,
      message_stats: stats,
    };
  });
}

type ExchangeInfo = ReturnType<CoreClient['listExchanges']>[number];

/** In the order of `names`, those of `rows` that are named (all of them without `names`). */
function inOrderOf<R extends { readonly name: string }>(rows: R[], names?: readonly string[]): R[] {
  if (names === undefined) return rows;
  const byName = new Map(rows.map((row) => [row.name, row]));
  return names.flatMap((name) => byName.get(name) ?? []);
}

/**
 * The listing rows of one vhost's exchanges (only those in `names`, in that order, when given): the
 * policies and meters are asked for those exchanges alone.
 */
export function exchangeRows(v: CoreClient, vhost: string, names?: readonly string[]): JsonObject[] {
  return exchangeRowsOf(v, vhost, inOrderOf(v.listExchanges(), names), names);
}

/** The rows of exchanges already listed (`names`: theirs, or undefined for every exchange of the vhost). */
export function exchangeRowsOf(
  v: CoreClient,
  vhost: string,
  infos: readonly ExchangeInfo[],
  names: readonly string[] | undefined = infos.map((e) => e.name),
): JsonObject[] {
  const applied = new Map(v.appliedPolicies('exchanges', names).map((a) => [a.name, a]));
  const meters = new Map(v.readMeters('exchange', names).map((row) => [row.name, row]));
  return infos.map((e) => exchangeRow(e, vhost, applied.get(e.name), meters.get(e.name)));
}

function exchangeRow(
  e: ExchangeInfo,
  vhost: string,
  applied: AppliedPolicy | undefined,
  meter: MeterRow | undefined,
): JsonObject {
  return {
    name: e.name,
    vhost,
    type: e.type,
    durable: e.durable ?? false,
    auto_delete: e.autoDelete ?? false,
    internal: e.internal ?? false,
    arguments: headersToJson(e.arguments),
    policy: applied?.policy ?? null,
    message_stats: messageStats(meter, 'publish_in'),
  };
}

type QueueRowInfo = ReturnType<CoreClient['listQueues']>[number];

/**
 * The listing rows of one vhost's queues (only those in `names`, in that order, when given): their
 * policies and meters are asked for those queues alone, so a page of 100 costs 100 rows whatever
 * the number of queues.
 */
export function queueRows(v: CoreClient, vhost: string, names?: readonly string[]): JsonObject[] {
  const infos = names === undefined ? v.listQueues() : v.queueRows(names);
  const applied = new Map(v.appliedPolicies('queues', names).map((a) => [a.name, a]));
  const meters = new Map(v.readMeters('queue', names).map((row) => [row.name, row]));
  return infos.map((q) => queueRow(q, vhost, applied.get(q.name), meters.get(q.name)));
}

function queueRow(
  q: QueueRowInfo,
  vhost: string,
  applied: AppliedPolicy | undefined,
  meter: MeterRow | undefined,
): JsonObject {
  return {
    name: q.name,
    vhost,
    type: q.kind ?? 'classic',
    durable: q.durable ?? false,
    auto_delete: q.autoDelete ?? false,
    exclusive: q.exclusiveOwner !== undefined,
    arguments: headersToJson(q.arguments),
    messages: q.messageCount,
    consumers: q.consumerCount,
    // RabbitMQ's fields: the names of the policies in force and what they amount to together.
    policy: applied?.policy ?? null,
    operator_policy: applied?.operatorPolicy ?? null,
    effective_policy_definition: { ...applied?.definition } as JsonObject,
    message_stats: messageStats(meter),
  };
}

export function streams(core: CoreClient, names: string[]): JsonObject[] {
  return perVhost(core, names, (v, vhost) =>
    v.streams().map((s) => ({
      name: s.name,
      vhost,
      partitions: s.partitions,
      max_length_bytes: s.bytesMax ?? null,
      max_age_ms: s.ageMsMax ?? null,
    })),
  );
}

/** RabbitMQ's handle for one binding among several with the same ends: routing key, plus a hash of args. */
export function propertiesKey(routingKey: string, args: JsonObject): string {
  const base = routingKey === '' ? '~' : encodeURIComponent(routingKey);
  if (Object.keys(args).length === 0) return base;
  const digest = createHash('sha256').update(JSON.stringify(args)).digest('base64url').slice(0, 22);
  return `${base}~${digest}`;
}

/** One binding in RabbitMQ's shape. */
export function bindingJson(b: BindingRow, vhost: string): JsonObject {
  const args = headersToJson(b.args);
  return {
    source: b.source,
    vhost,
    destination: b.destination,
    destination_type: b.destinationKind,
    routing_key: b.routingKey,
    arguments: args,
    properties_key: propertiesKey(b.routingKey, args),
  };
}
