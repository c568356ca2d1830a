/**
 * Per-object series: queues, stream partitions and consumer groups, one series per object and
 * measure, under one budget (`metricsSeriesMax`) so that 100 000 queues cannot make a scrape of
 * millions of lines. Objects past the budget are left out whole (never half an object's series) and
 * counted in `switchyard_metrics_objects_omitted{family}`, so a dashboard can say the view is partial.
 */
import type { CoreClient } from '../core/api.js';
import { type Exposition, type Kind, type Labels, labelText } from './exposition.js';

export const perObjectFamilies: readonly string[] = ['queue', 'stream', 'group'];

export interface ObjectRender {
  readonly families: readonly string[];
  readonly seriesMax: number;
  /** Only the queue depth and consumers (the aggregated endpoint's share). */
  readonly brief: boolean;
  readonly vhosts?: readonly string[];
}

interface Measure<R> {
  readonly name: string;
  readonly kind: Kind;
  readonly help: string;
  value(row: R): number;
}

/** Series left to write, and objects left out per family. */
class Budget {
  readonly omitted = new Map<string, number>();
  #left: number;

  constructor(seriesMax: number) {
    this.#left = seriesMax;
  }

  /** Whether an object of `series` series still fits; counts it as omitted otherwise. */
  take(family: string, series: number): boolean {
    if (series <= this.#left) {
      this.#left -= series;
      return true;
    }
    this.omitted.set(family, (this.omitted.get(family) ?? 0) + 1);
    return false;
  }

  /** How many of `objects` objects of `series` series each still fit (the first ones); the rest are omitted. */
  takeSome(family: string, series: number, objects: number): number {
    const fit = Math.min(objects, Math.floor(this.#left / series));
    this.#left -= fit * series;
    const omitted = objects - fit;
    if (omitted > 0) this.omitted.set(family, (this.omitted.get(family) ?? 0) + omitted);
    return fit;
  }
}

/** The message counters of the named queues (those counted so far), by name. */
function meterCounts(client: CoreClient, names: readonly string[]) {
  return new Map(client.readMeters('queue', names).map((row) => [row.name, row.counts]));
}

function m<R>(name: string, kind: Kind, help: string, value: (row: R) => number): Measure<R> {
  return { name, kind, help, value };
}

function write<R extends { labels: Labels }>(
  out: Exposition,
  rows: readonly R[],
  measures: readonly Measure<R>[],
) {
  const labels = rows.map((row) => labelText(row.labels));
  for (const m of measures) {
    out.family(m.name, m.kind, m.help);
    for (const [i, row] of rows.entries()) out.sample(m.name, m.value(row), labels[i]!);
  }
}

interface QueueRow {
  labels: Labels;
  messages: number;
  consumers: number;
  published: number;
  delivered: number;
  redelivered: number;
  acked: number;
}

const queueDepth: readonly Measure<QueueRow>[] = [
  m('switchyard_queue_messages', 'gauge', 'Messages ready for delivery in one queue.', (r) => r.messages),
  m('switchyard_queue_consumers', 'gauge', 'Consumers of one queue.', (r) => r.consumers),
];

const queueRates: readonly Measure<QueueRow>[] = [
  m(
    'switchyard_queue_messages_published_total',
    'counter',
    'Messages routed into one queue since start.',
    (r) => r.published,
  ),
  m(
    'switchyard_queue_messages_delivered_total',
    'counter',
    'Deliveries and gets from one queue since start.',
    (r) => r.delivered,
  ),
  m(
    'switchyard_queue_messages_redelivered_total',
    'counter',
    'Of those, redeliveries.',
    (r) => r.redelivered,
  ),
  m(
    'switchyard_queue_messages_acked_total',
    'counter',
    'Messages acknowledged from one queue since start.',
    (r) => r.acked,
  ),
];

function queues(
  out: Exposition,
  core: CoreClient,
  vhosts: readonly string[],
  budget: Budget,
  brief: boolean,
) {
  const measures = brief ? queueDepth : [...queueDepth, ...queueRates];
  const rows: QueueRow[] = [];
  for (const vhost of vhosts) {
    const client = core.inVhost(vhost);
    // Parallel arrays and one read of the meters: no object per queue past the budget, and no
    // command per queue (100,000 queues cost a scrape what the budget's share of them does).
    const { names, messages, consumers } = client.queueDepths();
    const taken = budget.takeSome('queue', measures.length, names.length);
    const counted = brief ? undefined : meterCounts(client, names.slice(0, taken));
    for (let i = 0; i < taken; i++) {
      const name = names[i] as string;
      const counts = counted?.get(name);
      rows.push({
        labels: { vhost, queue: name },
        messages: messages[i] ?? 0,
        consumers: consumers[i] ?? 0,
        published: counts?.published ?? 0,
        delivered: counts?.delivered ?? 0,
        redelivered: counts?.redelivered ?? 0,
        acked: counts?.acked ?? 0,
      });
    }
  }
  write(out, rows, measures);
}

interface PartitionRow {
  labels: Labels;
  start: number;
  end: number;
  bytes: number;
}

const partitionMeasures: readonly Measure<PartitionRow>[] = [
  m(
    'switchyard_stream_partition_start_offset',
    'gauge',
    'First offset still stored in one partition (Kafka: oldest offset).',
    (r) => r.start,
  ),
  m(
    'switchyard_stream_partition_end_offset',
    'gauge',
    'Offset the next record of one partition gets (Kafka: current offset, the high watermark).',
    (r) => r.end,
  ),
  m(
    'switchyard_stream_partition_bytes',
    'gauge',
    'Bytes one partition holds, record headers included.',
    (r) => r.bytes,
  ),
];

/** End offsets by `vhost/stream/partition`, for the groups' lag. */
type Ends = Map<string, number>;

function streams(out: Exposition, core: CoreClient, vhosts: readonly string[], budget: Budget, ends: Ends) {
  const rows: PartitionRow[] = [];
  for (const vhost of vhosts) {
    const client = core.inVhost(vhost);
    for (const stream of client.streams()) {
      for (let partition = 0; partition < stream.partitions; partition++) {
        const p = client.partition(stream.name, partition);
        ends.set(`${vhost}/${stream.name}/${partition}`, p.endOffset);
        if (!budget.take('stream', partitionMeasures.length)) continue;
        const labels = { vhost, stream: stream.name, partition: String(partition) };
        rows.push({ labels, start: p.startOffset, end: p.endOffset, bytes: p.sizeBytes });
      }
    }
  }
  write(out, rows, partitionMeasures);
}

interface OffsetRow {
  labels: Labels;
  committed: number;
  lag: number;
}

const offsetMeasures: readonly Measure<OffsetRow>[] = [
  m(
    'switchyard_consumer_group_committed_offset',
    'gauge',
    'Offset one consumer group committed for one partition (Kafka: current offset).',
    (r) => r.committed,
  ),
  m(
    'switchyard_consumer_group_lag',
    'gauge',
    'Records of one partition past the group committed offset (Kafka: consumer group lag).',
    (r) => r.lag,
  ),
];

function groups(out: Exposition, core: CoreClient, vhosts: readonly string[], budget: Budget, ends: Ends) {
  const members: Array<{ labels: Labels; members: number }> = [];
  const offsets: OffsetRow[] = [];
  for (const vhost of vhosts) {
    const client = core.inVhost(vhost);
    for (const group of client.listGroups()) {
      const committed = client.groupOffsets(group.name);
      if (!budget.take('group', 1 + committed.length * offsetMeasures.length)) continue;
      members.push({ labels: { vhost, group: group.name }, members: group.membership?.members.length ?? 0 });
      for (const { stream, partition, offset } of committed) {
        const end = ends.get(`${vhost}/${stream}/${partition}`) ?? endOffset(client, stream, partition);
        const labels = { vhost, group: group.name, stream, partition: String(partition) };
        offsets.push({ labels, committed: offset.offset, lag: Math.max(0, end - offset.offset) });
      }
    }
  }
  write(out, members, [
    m(
      'switchyard_consumer_group_members',
      'gauge',
      'Members of one consumer group (Kafka: consumergroup members).',
      (r) => r.members,
    ),
  ]);
  write(out, offsets, offsetMeasures);
}

/** A partition the stream family did not read (not asked for, or deleted since): NaN when gone. */
function endOffset(client: CoreClient, stream: string, partition: number): number {
  try {
    return client.partition(stream, partition).endOffset;
  } catch {
    return Number.NaN;
  }
}

export function renderObjects(out: Exposition, core: CoreClient, o: ObjectRender): void {
  const vhosts = core.vhostNames().filter((v) => o.vhosts === undefined || o.vhosts.includes(v));
  const budget = new Budget(o.seriesMax);
  const ends: Ends = new Map();
  if (o.families.includes('queue')) queues(out, core, vhosts, budget, o.brief);
  if (o.families.includes('stream')) streams(out, core, vhosts, budget, ends);
  if (o.families.includes('group')) groups(out, core, vhosts, budget, ends);
  out.family(
    'switchyard_metrics_objects_omitted',
    'gauge',
    'Objects left out of this scrape by metricsSeriesMax, per family.',
  );
  for (const family of o.families)
    out.sample('switchyard_metrics_objects_omitted', budget.omitted.get(family) ?? 0, { family });
}
