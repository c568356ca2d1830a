/**
 * Prometheus text exposition format 0.0.4, written by hand from core stats: a handful of gauges and
 * counters does not justify a client library.
 */
import type { CoreClient } from '../core/api.js';
import { escapes } from '../shared/escapes.js';
import type { AdminInfo, EdgeStats } from './views.js';

export const metricsContentType = 'text/plain; version=0.0.4; charset=utf-8';

// Per-queue series grow with the number of queues; past this many the scrape stays bounded and the
// totals above still cover everything.
const queueSeriesMax = 10_000;

type Kind = 'gauge' | 'counter';

/** Label values escape backslash, double quote and newline (exposition format, "Text format details"). */
function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function labels(pairs: Record<string, string>): string {
  const inner = Object.entries(pairs)
    .map(([key, value]) => `${key}="${escapeLabel(value)}"`)
    .join(',');
  return inner === '' ? '' : `{${inner}}`;
}

class Exposition {
  private readonly lines: string[] = [];

  family(name: string, kind: Kind, help: string): this {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${kind}`);
    return this;
  }

  sample(name: string, value: number, pairs: Record<string, string> = {}): this {
    this.lines.push(`${name}${labels(pairs)} ${Number.isFinite(value) ? value : 'NaN'}`);
    return this;
  }

  text(): string {
    return `${this.lines.join('\n')}\n`;
  }
}

function totals(out: Exposition, core: CoreClient): void {
  const stats = core.stats();
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

function perQueue(out: Exposition, core: CoreClient): void {
  const rows: Array<{ vhost: string; queue: string; messages: number; consumers: number }> = [];
  vhosts: for (const vhost of core.vhostNames()) {
    for (const q of core.inVhost(vhost).listQueues()) {
      if (rows.length >= queueSeriesMax) break vhosts;
      rows.push({ vhost, queue: q.name, messages: q.messageCount, consumers: q.consumerCount });
    }
  }
  out.family('switchyard_queue_messages', 'gauge', 'Messages in one queue.');
  for (const row of rows)
    out.sample('switchyard_queue_messages', row.messages, { vhost: row.vhost, queue: row.queue });
  out.family('switchyard_queue_consumers', 'gauge', 'Consumers of one queue.');
  for (const row of rows) {
    out.sample('switchyard_queue_consumers', row.consumers, { vhost: row.vhost, queue: row.queue });
  }
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
    ['switchyard_login_queued', 'gauge', stats.loginQueued, 'Logins waiting for a hashing thread.'],
  ];
  for (const [name, kind, value, help] of series) out.family(name, kind, help).sample(name, value);
}

export function renderMetrics(core: CoreClient, info: AdminInfo): string {
  const out = new Exposition();
  out
    .family('switchyard_build_info', 'gauge', 'Always 1; the labels carry the version.')
    .sample('switchyard_build_info', 1, { version: info.version, node: process.version })
    .family('switchyard_uptime_seconds', 'gauge', 'Seconds since the broker started.')
    .sample('switchyard_uptime_seconds', (Date.now() - info.startedAtMs) / 1000)
    .family('switchyard_process_resident_memory_bytes', 'gauge', 'Resident set size of the process.')
    .sample('switchyard_process_resident_memory_bytes', process.memoryUsage.rss());
  totals(out, core);
  const edgeStats = info.edges?.();
  if (edgeStats !== undefined) edges(out, edgeStats);
  perQueue(out, core);
  return out.text();
}
