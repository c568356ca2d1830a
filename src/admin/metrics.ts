/**
 * `/metrics`: the aggregated series (totals, connections per protocol, alarms, storage, the edges),
 * cheap whatever the number of objects. Per-object series are in ./metrics-objects.ts
 * (`/metrics/per-object`, `/metrics/detailed`), bounded by `metricsSeriesMax`. Names follow
 * Prometheus's conventions (`_total` counters, base units, `_bytes`, `_seconds`); where RabbitMQ's or
 * Kafka's exporters have a series, ours means the same (docs/operations.md has the table).
 */
import type { AlarmKind, CoreClient, CoreStats } from '../core/api.js';
import { protocols } from '../core/entry/context.js';
import { escapes } from '../shared/escapes.js';
import { Exposition, type Kind, metricsContentType } from './exposition.js';
import { perObjectFamilies, renderObjects } from './metrics-objects.js';
import type { AdminInfo, EdgeStats } from './views.js';

export { metricsContentType };

/** Default for `metricsSeriesMax`: per-object series one scrape writes at most. */
export const metricsSeriesMaxDefault = 50_000;

function totals(out: Exposition, stats: CoreStats): void {
  const gauges: Array<[string, number, string]> = [
    ['switchyard_vhosts', stats.vhosts, 'Virtual hosts.'],
    ['switchyard_exchanges', stats.exchanges, 'Exchanges across all vhosts.'],
    ['switchyard_queues', stats.queues, 'Queues across all vhosts.'],
    ['switchyard_streams', stats.streams, 'Streams across all vhosts.'],
    ['switchyard_consumers', stats.consumers, 'Consumers attached to queues.'],
    ['switchyard_messages_ready', stats.messagesReady, 'Messages ready for delivery.'],
    ['switchyard_messages_unacked', stats.messagesUnacked, 'Messages delivered and not yet acknowledged.'],
  ];
  for (const [name, value, help] of gauges) out.family(name, 'gauge', help).sample(name, value);
  out
    .family('switchyard_messages_published_total', 'counter', 'Messages published since start.')
    .sample('switchyard_messages_published_total', stats.published)
    .family('switchyard_messages_delivered_total', 'counter', 'Messages delivered since start.')
    .sample('switchyard_messages_delivered_total', stats.delivered)
    .family('switchyard_escaped_errors_total', 'counter', 'Errors that escaped every owner: bugs.')
    .sample('switchyard_escaped_errors_total', escapes.count);
  out.family(
    'switchyard_object_failures_total',
    'counter',
    'Owned objects failed (and stopped) by an error.',
  );
  for (const [kind, count] of stats.faults) out.sample('switchyard_object_failures_total', count, { kind });
}

/** Bytes written to clients and not yet taken by their sockets, over every connection of every vhost. */
function unsent(out: Exposition, core: CoreClient): void {
  let bytes = 0;
  for (const vhost of core.vhostNames())
    for (const c of core.inVhost(vhost).listConnections()) bytes += c.description.traffic().sendPend;
  out
    .family(
      'switchyard_connection_unsent_bytes',
      'gauge',
      'Bytes written to clients and not yet taken by their sockets (each connection bounded by its protocol).',
    )
    .sample('switchyard_connection_unsent_bytes', bytes);
}

/** Every client protocol, 0 when none is connected, so a dashboard's series do not come and go. */
function connections(out: Exposition, stats: CoreStats): void {
  const live = new Map(stats.connections);
  out.family('switchyard_connections', 'gauge', 'Client connections open now, per protocol.');
  const shown = protocols.filter((p) => p !== 'internal' && p !== 'http');
  for (const protocol of new Set([...shown, ...live.keys()]))
    out.sample('switchyard_connections', live.get(protocol) ?? 0, { protocol });
}

/** RabbitMQ's alarm series: 1 while the alarm holds publishers back. */
function alarms(out: Exposition, active: readonly AlarmKind[]): void {
  const series: Array<[string, AlarmKind, string]> = [
    ['switchyard_alarms_memory_used_watermark', 'memory', 'Memory alarm: 1 while memory is past its limit.'],
    [
      'switchyard_alarms_free_disk_space_watermark',
      'disk',
      'Disk alarm: 1 while free disk is below its limit.',
    ],
  ];
  for (const [name, kind, help] of series)
    out.family(name, 'gauge', help).sample(name, active.includes(kind) ? 1 : 0);
}

function storage(out: Exposition, stats: CoreStats): void {
  if (stats.storage === undefined) return;
  out
    .family(
      'switchyard_storage_written_bytes_total',
      'counter',
      'Bytes storage handed to the disk since start.',
    )
    .sample('switchyard_storage_written_bytes_total', stats.storage.writtenBytes)
    .histogram(
      'switchyard_storage_fsync_seconds',
      'Time an fdatasync of a log took.',
      stats.storage.syncSeconds,
    );
}

function edges(out: Exposition, stats: EdgeStats): void {
  const series: Array<[string, Kind, number, string]> = [
    [
      'switchyard_ingress_bytes',
      'gauge',
      stats.ingressBytes,
      'Bytes read from clients and not yet handed on.',
    ],
    [
      'switchyard_ingress_unauthenticated_bytes',
      'gauge',
      stats.ingressUnauthenticatedBytes,
      'Of those, held by connections not logged in.',
    ],
    [
      'switchyard_ingress_paused_connections',
      'gauge',
      stats.ingressPausedConnections,
      'Connections not read because the ingress budget is spent.',
    ],
    [
      'switchyard_ingress_evictions_total',
      'counter',
      stats.ingressEvictions,
      'Connections closed for holding bytes before login past their share.',
    ],
    ['switchyard_login_hashes_total', 'counter', stats.loginHashes, 'Password hashes computed for logins.'],
    ['switchyard_login_queued', 'gauge', stats.loginQueued, 'Logins waiting for a hashing process.'],
  ];
  for (const [name, kind, value, help] of series) out.family(name, kind, help).sample(name, value);
  addressCap(out, stats);
}

/** The per-address cap of the TCP listeners (src/protocols/address-gate.ts). */
function addressCap(out: Exposition, stats: EdgeStats): void {
  if (stats.addressConnections !== undefined) {
    const name = 'switchyard_address_capped_connections';
    out
      .family(name, 'gauge', 'TCP connections counted against their address cap (connectionsPerAddressMax).')
      .sample(name, stats.addressConnections);
  }
  if (stats.addressRefusals === undefined) return;
  const name = 'switchyard_address_cap_refused_connections_total';
  out.family(name, 'counter', 'Connections refused at accept: their address held connectionsPerAddressMax.');
  for (const [listener, count] of stats.addressRefusals) out.sample(name, count, { listener });
}

function seriesMax(info: AdminInfo): number {
  return info.metricsSeriesMax ?? metricsSeriesMaxDefault;
}

export function renderMetrics(core: CoreClient, info: AdminInfo): string {
  const out = new Exposition();
  const stats = core.stats();
  out
    .family('switchyard_build_info', 'gauge', 'Always 1; the labels carry the version.')
    .sample('switchyard_build_info', 1, { version: info.version, node: process.version })
    .family('switchyard_uptime_seconds', 'gauge', 'Seconds since the broker started.')
    .sample('switchyard_uptime_seconds', (Date.now() - info.startedAtMs) / 1000)
    .family('switchyard_process_resident_memory_bytes', 'gauge', 'Resident set size of the process.')
    .sample('switchyard_process_resident_memory_bytes', process.memoryUsage.rss());
  totals(out, stats);
  connections(out, stats);
  unsent(out, core);
  alarms(out, info.alarms());
  storage(out, stats);
  const edgeStats = info.edges?.();
  if (edgeStats !== undefined) edges(out, edgeStats);
  // Queue depth and consumers stay here too (dashboards built on them before the per-object
  // endpoint), under the same bound.
  renderObjects(out, core, { families: ['queue'], seriesMax: seriesMax(info), brief: true });
  return out.text();
}

/**
 * `/metrics/per-object` (every family) and `/metrics/detailed?family=queue&family=group&vhost=V`
 * (the families and vhosts asked for), as RabbitMQ's per-object and detailed endpoints. Undefined for
 * any other path.
 */
export function renderObjectMetrics(core: CoreClient, info: AdminInfo, url: string): string | undefined {
  const { pathname, searchParams } = new URL(url, 'http://x');
  if (pathname !== '/metrics/per-object' && pathname !== '/metrics/detailed') return undefined;
  const asked = pathname === '/metrics/detailed' ? searchParams.getAll('family') : [];
  const families =
    asked.length === 0 ? perObjectFamilies : perObjectFamilies.filter((f) => asked.includes(f));
  const vhosts = searchParams.getAll('vhost');
  const out = new Exposition();
  renderObjects(out, core, {
    families,
    seriesMax: seriesMax(info),
    brief: false,
    ...(vhosts.length > 0 ? { vhosts } : {}),
  });
  return out.text();
}

export function isMetricsPath(path: string): boolean {
  return path === '/metrics' || path === '/metrics/per-object' || path === '/metrics/detailed';
}
