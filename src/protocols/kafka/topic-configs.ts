/**
 * Every topic config Kafka 4.1 defines (the topic entries of Kafka's LogConfig, named in TopicConfig),
 * with Kafka's type and validator, and what Switchyard does with each. This is the one table that
 * CreateTopics checks configs against and DescribeConfigs describes from.
 *
 * How Switchyard honours a config (`honour`):
 * - `retention`: kept by core on the stream and enforced there (retention.ms, retention.bytes), while
 *   cleanup.policy includes `delete`.
 * - `compaction`: kept per topic and given to core's compaction of the stream while cleanup.policy
 *   includes `compact` (cleanup.policy itself, delete.retention.ms, min.compaction.lag.ms,
 *   min.cleanable.dirty.ratio); compacted topics also refuse records without a key on Produce.
 * - `batch`: kept per topic by the adapter and enforced on Produce (max.message.bytes).
 * - `fixed`: Switchyard always behaves one way; that value is accepted, any other is refused.
 * - `inert`: accepted and kept as given, because it has no effect in Kafka either while the config it
 *   depends on can only hold the value Switchyard offers (compression levels while compression.type is producer, tiered-storage settings while
 *   remote.storage.enable is false, replication settings on a single replica).
 * - `produce`: kept per topic and applied to every Produce (handlers/produce.ts): the timestamp type and
 *   its difference limits, compression.type (broker-side recompression) and its gzip level,
 *   min.insync.replicas (acks=all needs that many replicas, and a single node has one).
 * - `advisory`: accepted and kept as given, while Switchyard's storage decides what the config would:
 *   it sizes and rolls its segments itself (segment.bytes, segment.ms: test suites and tools set them
 *   to speed up retention) and its fsync setting decides flushing (flush.ms, flush.messages).
 * - `refused`: Switchyard manages this itself (indexes, deleting files); any value is refused.
 * A refused value answers INVALID_CONFIG naming the config, never a silent acceptance.
 */

export type ConfigType = 'boolean' | 'int' | 'long' | 'double' | 'string' | 'list';

/** Kafka's validators, as data. Numeric bounds are inclusive. */
export type ConfigCheck =
  | { readonly kind: 'range'; readonly min?: number; readonly max?: number }
  /** A compression level: min..max, or exactly `or` (gzip's -1). */
  | { readonly kind: 'level'; readonly min: number; readonly max: number; readonly or: number }
  /** A string, or every element of a list, must be one of these (case-sensitive). */
  | { readonly kind: 'oneOf'; readonly values: readonly string[] }
  /** `*` or a list of `partition:broker` pairs (leader/follower.replication.throttled.replicas). */
  | { readonly kind: 'replicas' };

export type Honour =
  | { readonly kind: 'retention'; readonly field: 'ageMsMax' | 'bytesMax' }
  | { readonly kind: 'batch' }
  | { readonly kind: 'compaction' }
  | {
      readonly kind: 'produce';
      /** Switchyard's default where it differs from Kafka's. */
      readonly switchyardDefault?: string;
      /** The values offered, when not every valid one is, and why. */
      readonly offered?: { readonly values: readonly string[]; readonly why: string };
    }
  | { readonly kind: 'fixed'; readonly value: string; readonly why: string }
  | { readonly kind: 'inert'; readonly why: string }
  /** Accepted, kept and described; Switchyard's storage decides what the config would (segments, flushing). */
  | { readonly kind: 'advisory'; readonly why: string }
  | { readonly kind: 'refused'; readonly why: string };

export interface TopicConfigDef {
  readonly name: string;
  readonly type: ConfigType;
  /** Kafka 4.1's default, the value an `inert` config shows until it is set. */
  readonly kafkaDefault: string;
  readonly check?: ConfigCheck;
  readonly honour: Honour;
}

const longMax = '9223372036854775807';
const atLeast = (min: number): ConfigCheck => ({ kind: 'range', min });

const compaction: Honour = { kind: 'compaction' };
const compressionLevel: Honour = {
  kind: 'inert',
  why: "Switchyard's LZ4 compressor has one level",
};
const tiered: Honour = {
  kind: 'inert',
  why: 'applies with tiered storage only, and remote.storage.enable is false',
};
const replication: Honour = { kind: 'inert', why: 'a single node holds the only replica' };
const segments: Honour = {
  kind: 'advisory',
  why: 'Switchyard sizes and rolls its log segments itself (segmentBytesMax); retention and compaction act on them',
};
const flushing: Honour = {
  kind: 'advisory',
  why:
    "kept and described, not applied: Switchyard's fsync setting (--fsync) decides when data reaches the disk; " +
    'its default (always: fsync before a write is confirmed) is never less durable than a flush setting asks',
};

/** Sorted by name, as Kafka lists them. */
export const topicConfigDefs: readonly TopicConfigDef[] = [
  {
    name: 'cleanup.policy',
    type: 'list',
    kafkaDefault: 'delete',
    check: { kind: 'oneOf', values: ['compact', 'delete'] },
    honour: compaction,
  },
  {
    name: 'compression.gzip.level',
    type: 'int',
    kafkaDefault: '-1',
    check: { kind: 'level', min: 1, max: 9, or: -1 },
    honour: { kind: 'produce' },
  },
  {
    name: 'compression.lz4.level',
    type: 'int',
    kafkaDefault: '9',
    check: { kind: 'range', min: 1, max: 17 },
    honour: compressionLevel,
  },
  {
    name: 'compression.type',
    type: 'string',
    kafkaDefault: 'producer',
    check: { kind: 'oneOf', values: ['uncompressed', 'zstd', 'lz4', 'snappy', 'gzip', 'producer'] },
    honour: {
      kind: 'produce',
    },
  },
  {
    name: 'compression.zstd.level',
    type: 'int',
    kafkaDefault: '3',
    check: { kind: 'range', min: -131072, max: 22 },
    honour: { kind: 'produce' },
  },
  {
    name: 'delete.retention.ms',
    type: 'long',
    kafkaDefault: '86400000',
    check: atLeast(0),
    honour: compaction,
  },
  {
    name: 'file.delete.delay.ms',
    type: 'long',
    kafkaDefault: '60000',
    check: atLeast(0),
    honour: { kind: 'refused', why: 'Switchyard removes expired segment files itself' },
  },
  { name: 'flush.messages', type: 'long', kafkaDefault: longMax, check: atLeast(1), honour: flushing },
  { name: 'flush.ms', type: 'long', kafkaDefault: longMax, check: atLeast(0), honour: flushing },
  {
    name: 'follower.replication.throttled.replicas',
    type: 'list',
    kafkaDefault: '',
    check: { kind: 'replicas' },
    honour: replication,
  },
  {
    name: 'index.interval.bytes',
    type: 'int',
    kafkaDefault: '4096',
    check: atLeast(0),
    honour: { kind: 'refused', why: 'Switchyard indexes its log segments itself' },
  },
  {
    name: 'leader.replication.throttled.replicas',
    type: 'list',
    kafkaDefault: '',
    check: { kind: 'replicas' },
    honour: replication,
  },
  { name: 'local.retention.bytes', type: 'long', kafkaDefault: '-2', check: atLeast(-2), honour: tiered },
  { name: 'local.retention.ms', type: 'long', kafkaDefault: '-2', check: atLeast(-2), honour: tiered },
  {
    name: 'max.compaction.lag.ms',
    type: 'long',
    kafkaDefault: longMax,
    check: atLeast(1),
    honour: {
      kind: 'inert',
      why: 'Switchyard starts a compaction run by the dirty ratio (checked every second), not by a maximum lag',
    },
  },
  {
    name: 'max.message.bytes',
    type: 'int',
    kafkaDefault: '1048588',
    check: atLeast(0),
    honour: { kind: 'batch' },
  },
  {
    name: 'message.downconversion.enable',
    type: 'boolean',
    kafkaDefault: 'true',
    honour: {
      kind: 'fixed',
      value: 'true',
      why: 'Switchyard always converts batches for Fetch v0-3 clients',
    },
  },
  {
    name: 'message.timestamp.after.max.ms',
    type: 'long',
    kafkaDefault: '3600000',
    check: atLeast(0),
    // Unbounded unless the topic sets it: Switchyard refused no timestamp before this existed.
    honour: { kind: 'produce', switchyardDefault: longMax },
  },
  {
    name: 'message.timestamp.before.max.ms',
    type: 'long',
    kafkaDefault: longMax,
    check: atLeast(0),
    honour: { kind: 'produce' },
  },
  {
    name: 'message.timestamp.type',
    type: 'string',
    kafkaDefault: 'CreateTime',
    check: { kind: 'oneOf', values: ['CreateTime', 'LogAppendTime'] },
    honour: { kind: 'produce' },
  },
  {
    name: 'min.cleanable.dirty.ratio',
    type: 'double',
    kafkaDefault: '0.5',
    check: { kind: 'range', min: 0, max: 1 },
    honour: compaction,
  },
  { name: 'min.compaction.lag.ms', type: 'long', kafkaDefault: '0', check: atLeast(0), honour: compaction },
  {
    name: 'min.insync.replicas',
    type: 'int',
    kafkaDefault: '1',
    check: atLeast(1),
    honour: { kind: 'produce' },
  },
  {
    name: 'preallocate',
    type: 'boolean',
    kafkaDefault: 'false',
    honour: { kind: 'fixed', value: 'false', why: 'Switchyard does not preallocate segment files' },
  },
  { name: 'remote.log.copy.disable', type: 'boolean', kafkaDefault: 'false', honour: tiered },
  { name: 'remote.log.delete.on.disable', type: 'boolean', kafkaDefault: 'false', honour: tiered },
  {
    name: 'remote.storage.enable',
    type: 'boolean',
    kafkaDefault: 'false',
    honour: { kind: 'fixed', value: 'false', why: 'Switchyard has no tiered storage' },
  },
  {
    name: 'retention.bytes',
    type: 'long',
    kafkaDefault: '-1',
    honour: { kind: 'retention', field: 'bytesMax' },
  },
  {
    name: 'retention.ms',
    type: 'long',
    kafkaDefault: '604800000',
    check: atLeast(-1),
    honour: { kind: 'retention', field: 'ageMsMax' },
  },
  {
    name: 'segment.bytes',
    type: 'int',
    kafkaDefault: '1073741824',
    check: atLeast(1024 * 1024),
    honour: segments,
  },
  { name: 'segment.index.bytes', type: 'int', kafkaDefault: '10485760', check: atLeast(4), honour: segments },
  { name: 'segment.jitter.ms', type: 'long', kafkaDefault: '0', check: atLeast(0), honour: segments },
  { name: 'segment.ms', type: 'long', kafkaDefault: '604800000', check: atLeast(1), honour: segments },
  {
    name: 'unclean.leader.election.enable',
    type: 'boolean',
    kafkaDefault: 'false',
    honour: replication,
  },
];

/**
 * The broker config behind each topic config (Kafka's ServerTopicConfigSynonyms), named as the
 * default's synonym in DescribeConfigs; a topic config not listed is its own broker config.
 */
export const brokerSynonyms: ReadonlyMap<string, string> = new Map([
  ['cleanup.policy', 'log.cleanup.policy'],
  ['delete.retention.ms', 'log.cleaner.delete.retention.ms'],
  ['file.delete.delay.ms', 'log.segment.delete.delay.ms'],
  ['flush.messages', 'log.flush.interval.messages'],
  ['flush.ms', 'log.flush.interval.ms'],
  ['index.interval.bytes', 'log.index.interval.bytes'],
  ['local.retention.bytes', 'log.local.retention.bytes'],
  ['local.retention.ms', 'log.local.retention.ms'],
  ['max.compaction.lag.ms', 'log.cleaner.max.compaction.lag.ms'],
  ['max.message.bytes', 'message.max.bytes'],
  ['message.timestamp.after.max.ms', 'log.message.timestamp.after.max.ms'],
  ['message.timestamp.before.max.ms', 'log.message.timestamp.before.max.ms'],
  ['message.timestamp.type', 'log.message.timestamp.type'],
  ['min.cleanable.dirty.ratio', 'log.cleaner.min.cleanable.ratio'],
  ['min.compaction.lag.ms', 'log.cleaner.min.compaction.lag.ms'],
  ['preallocate', 'log.preallocate'],
  ['retention.bytes', 'log.retention.bytes'],
  ['retention.ms', 'log.retention.ms'],
  ['segment.bytes', 'log.segment.bytes'],
  ['segment.index.bytes', 'log.index.size.max.bytes'],
  ['segment.jitter.ms', 'log.roll.jitter.ms'],
  ['segment.ms', 'log.roll.ms'],
]);

export const topicConfigByName: ReadonlyMap<string, TopicConfigDef> = new Map(
  topicConfigDefs.map((d) => [d.name, d]),
);
