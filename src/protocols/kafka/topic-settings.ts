/**
 * Topic configs as clients send them, checked against the table in ./topic-configs.ts the way Kafka's
 * LogConfig checks them (unknown names, Kafka's types and validators, with Kafka's messages), then
 * against what Switchyard honours. Also what DescribeConfigs and CreateTopics describe back, and where
 * the configs the adapter keeps are stored.
 */
import type { CoreClient, StreamCompaction, StreamInfo } from '../../core/api.js';
import {
  brokerSynonyms,
  type ConfigCheck,
  type TopicConfigDef,
  topicConfigByName,
  topicConfigDefs,
} from './topic-configs.js';

export interface ConfigInput {
  readonly name: string;
  readonly value: string | null;
}

/** What a valid set of configs asks of the topic. */
export interface TopicSettings {
  /** Retention for core's stream; absent means none (and none while cleanup.policy lacks `delete`). */
  readonly retention: { ageMsMax?: number; bytesMax?: number };
  /** Compaction for core's stream, while cleanup.policy includes `compact`. */
  readonly compaction?: StreamCompaction;
  /** Every other config given, normalized, which the adapter keeps per topic. */
  readonly kept: Readonly<Record<string, string>>;
}

/** INVALID_CONFIG and its message. */
export interface ConfigRefusal {
  readonly refused: string;
}

export function isRefusal(value: TopicSettings | ConfigRefusal): value is ConfigRefusal {
  return 'refused' in value;
}

/** Kept configs of one topic larger than this (as JSON) are refused; they go into one state record. */
const keptBytesMax = 64 * 1024;

const int32 = [-(2n ** 31n), 2n ** 31n - 1n] as const;
const int64 = [-(2n ** 63n), 2n ** 63n - 1n] as const;
const integerPattern = /^[+-]?\d+$/;
// What Java's Double.parseDouble takes, hexadecimal forms aside.
const doublePattern = /^[+-]?(NaN|Infinity|(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?[fFdD]?)$/;

/** A value in Kafka's canonical form, or why it is not of the config's type. */
function parse(def: Pick<TopicConfigDef, 'type'>, raw: string): { value: string } | { why: string } {
  const text = raw.trim();
  switch (def.type) {
    case 'boolean': {
      const lower = text.toLowerCase();
      if (lower === 'true' || lower === 'false') return { value: lower };
      return { why: 'Expected value to be either true or false' };
    }
    case 'int':
    case 'long': {
      const [min, max] = def.type === 'int' ? int32 : int64;
      if (!integerPattern.test(text)) return { why: `Not a number of type ${def.type.toUpperCase()}` };
      const n = BigInt(text);
      if (n < min || n > max) return { why: `Not a number of type ${def.type.toUpperCase()}` };
      return { value: n.toString() };
    }
    case 'double':
      if (!doublePattern.test(text)) return { why: 'Not a number of type DOUBLE' };
      return { value: String(Number(text.replace(/[fFdD]$/, ''))) };
    case 'list':
      return { value: text === '' ? '' : text.split(/\s*,\s*/).join(',') };
    default:
      return { value: text };
  }
}

/** Why a value breaks Kafka's validator for the config, if it does. */
function violation(name: string, check: ConfigCheck, value: string): string | undefined {
  switch (check.kind) {
    case 'range': {
      const n = Number(value);
      if (check.min !== undefined && n < check.min) return `Value must be at least ${check.min}`;
      if (check.max !== undefined && n > check.max) return `Value must be no more than ${check.max}`;
      return undefined;
    }
    case 'level': {
      const n = Number(value);
      if (n === check.or || (n >= check.min && n <= check.max)) return undefined;
      return `Value must be between ${check.min} and ${check.max} or equal to ${check.or}`;
    }
    case 'oneOf': {
      const items = value === '' ? [] : value.split(',');
      if (items.every((item) => check.values.includes(item))) return undefined;
      return `String must be one of: ${check.values.join(', ')}`;
    }
    case 'replicas': {
      const items = value.split(',');
      if (value === '*' || items.every((item) => /^(\d+:\d+)?$/.test(item))) return undefined;
      return `${name} must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],...`;
    }
  }
}

/** The one refusal message style Kafka uses for a bad value (ConfigException). */
function invalidValue(name: string, raw: string, why: string): ConfigRefusal {
  return { refused: `Invalid value ${raw} for configuration ${name}: ${why}` };
}

/**
 * A value checked as Kafka's ConfigDef checks one, its type then its validator: the canonical form, or
 * the refusal. Topic configs and the broker's dynamic ones (../broker-configs.ts) share it.
 */
export function checkedValue(
  name: string,
  spec: Pick<TopicConfigDef, 'type' | 'check'>,
  raw: string,
): { value: string } | ConfigRefusal {
  const parsed = parse(spec, raw);
  if ('why' in parsed) return invalidValue(name, raw, parsed.why);
  const why = spec.check && violation(name, spec.check, parsed.value);
  return why === undefined ? parsed : invalidValue(name, raw, why);
}

/** Whether Switchyard honours this (valid) value; why not, when it does not. */
function unhonoured(def: TopicConfigDef, value: string, batchBytesMax: number): string | undefined {
  const h = def.honour;
  switch (h.kind) {
    case 'retention': {
      const n = BigInt(value);
      if (n === 0n) return `${def.name} of 0 is not offered (use -1 for no limit or a positive value)`;
      return undefined;
    }
    case 'batch':
      if (Number(value) <= batchBytesMax) return undefined;
      return `Switchyard accepts record batches of at most ${batchBytesMax} bytes`;
    case 'compaction':
      return undefined;
    case 'fixed':
      return value === h.value ? undefined : h.why;
    case 'produce':
      return h.offered === undefined || h.offered.values.includes(value) ? undefined : h.offered.why;
    case 'inert':
    case 'advisory':
      return undefined;
    case 'refused':
      return `Switchyard does not offer ${def.name} per topic: ${h.why}`;
  }
}

/** Kafka's cross-config check (LogConfig.validateValues). */
function conflict(kept: Readonly<Record<string, string>>): string | undefined {
  const min = BigInt(kept['min.compaction.lag.ms'] ?? '0');
  const max = BigInt(kept['max.compaction.lag.ms'] ?? int64[1].toString());
  if (min <= max) return undefined;
  return `conflict topic config setting min.compaction.lag.ms (${min}) > max.compaction.lag.ms (${max})`;
}

/** A retention value as core keeps it: none for negative or beyond what a double holds exactly. */
function retentionBound(value: string): number | undefined {
  const n = BigInt(value);
  return n > 0n && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : undefined;
}

/**
 * The settings a topic's configs ask for, or INVALID_CONFIG's message: null values first, then the
 * first unknown name, then the first value Kafka or Switchyard refuses (CreateTopics in KRaft order).
 */
export function checkTopicConfigs(
  configs: readonly ConfigInput[],
  batchBytesMax: number,
): TopicSettings | ConfigRefusal {
  const nulls = configs.filter((c) => c.value === null).map((c) => c.name);
  if (nulls.length > 0) return { refused: `Null value not supported for topic configs: ${nulls.join(',')}` };
  const unknown = configs.find((c) => !topicConfigByName.has(c.name));
  if (unknown !== undefined) return { refused: `Unknown topic config name: ${unknown.name}` };
  const retention: { ageMsMax?: number; bytesMax?: number } = {};
  const kept: Record<string, string> = {};
  for (const { name, value } of configs) {
    const def = topicConfigByName.get(name)!;
    const raw = value ?? '';
    const parsed = checkedValue(name, def, raw);
    if ('refused' in parsed) return parsed;
    const why = unhonoured(def, parsed.value, batchBytesMax);
    if (why !== undefined) return invalidValue(name, raw, why);
    if (def.honour.kind !== 'retention') kept[name] = parsed.value;
    else {
      const bound = retentionBound(parsed.value);
      if (bound === undefined) delete retention[def.honour.field];
      else retention[def.honour.field] = bound;
    }
  }
  const clash = conflict(kept);
  if (clash !== undefined) return { refused: clash };
  if (Buffer.byteLength(JSON.stringify(kept), 'utf8') > keptBytesMax)
    return { refused: `Topic configs take more than ${keptBytesMax} bytes` };
  const policy = cleanupPolicyOf(kept);
  const compaction = policy.compact ? compactionOf(kept) : undefined;
  return {
    retention: policy.delete ? retention : {},
    kept,
    ...(compaction === undefined ? {} : { compaction }),
  };
}

/** Which cleanups the topic's cleanup.policy asks for (Kafka's default: delete). */
function cleanupPolicyOf(kept: Readonly<Record<string, string>>): { compact: boolean; delete: boolean } {
  const policies = (kept['cleanup.policy'] ?? 'delete').split(',');
  return { compact: policies.includes('compact'), delete: policies.includes('delete') };
}

/** Core's compaction settings from the topic's configs; a bound beyond a safe integer is that integer. */
function compactionOf(kept: Readonly<Record<string, string>>): StreamCompaction {
  const value = (name: string) => kept[name] ?? topicConfigByName.get(name)!.kafkaDefault;
  const ms = (name: string) => {
    const n = BigInt(value(name));
    return n > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(n);
  };
  return {
    tombstoneRetentionMs: ms('delete.retention.ms'),
    lagMsMin: ms('min.compaction.lag.ms'),
    dirtyRatioMin: Number(value('min.cleanable.dirty.ratio')),
  };
}

/** Kafka's DescribeConfigs source codes. */
export const ConfigSource = { topic: 1, defaultConfig: 5 } as const;
/** Kafka's DescribeConfigs v3 config types. */
const configTypeCode = { boolean: 1, string: 2, int: 3, long: 5, double: 6, list: 7 } as const;

export interface ConfigSynonym {
  readonly name: string;
  readonly value: string;
  readonly source: number;
}

export interface DescribedConfig {
  readonly name: string;
  readonly value: string;
  readonly readOnly: boolean;
  readonly isDefault: boolean;
  readonly configSource: number;
  readonly isSensitive: boolean;
  readonly configType: number;
  /** The topic's own value (when set) then the default's, under its broker config name (KIP-226). */
  readonly synonyms: ConfigSynonym[];
  readonly documentation: string | null;
}

/** The value Switchyard applies for `def` on this topic, and whether the topic set it. */
function effective(
  def: TopicConfigDef,
  info: Pick<StreamInfo, 'ageMsMax' | 'bytesMax'> | undefined,
  kept: Readonly<Record<string, string>>,
  batchBytesMax: number,
): { value: string; set: boolean } | undefined {
  const h = def.honour;
  if (h.kind === 'refused') return undefined;
  if (h.kind === 'retention') {
    const bound = info?.[h.field];
    return { value: String(bound ?? -1), set: bound !== undefined };
  }
  const given = kept[def.name];
  if (given !== undefined) return { value: given, set: true };
  return { value: defaultOf(def, batchBytesMax), set: false };
}

/** What applies to a topic that does not set `def`. */
function defaultOf(def: TopicConfigDef, batchBytesMax: number): string {
  const h = def.honour;
  switch (h.kind) {
    case 'retention':
      return '-1';
    case 'batch':
      return String(batchBytesMax);
    case 'fixed':
      return h.value;
    case 'produce':
      return h.switchyardDefault ?? def.kafkaDefault;
    default:
      return def.kafkaDefault;
  }
}

/** How Switchyard treats the config, for DescribeConfigs v3+ with documentation. */
function documentationOf(def: TopicConfigDef): string {
  const h = def.honour;
  switch (h.kind) {
    case 'retention':
      return 'Enforced by Switchyard on the stream behind the topic (whole segments) while cleanup.policy includes delete.';
    case 'compaction':
      return "Applied by Switchyard's compaction of the stream behind the topic while cleanup.policy includes compact.";
    case 'batch':
      return "Enforced on Produce, within the broker's own batch limit.";
    case 'produce':
      return 'Applied by Switchyard to every Produce to the topic.';
    default:
      return h.why;
  }
}

/** Every config Switchyard honours for a topic, with the value it applies and where that came from. */
export function describeTopicConfigs(
  info: Pick<StreamInfo, 'ageMsMax' | 'bytesMax'> | undefined,
  kept: Readonly<Record<string, string>>,
  batchBytesMax: number,
  asked: { readonly synonyms?: boolean; readonly documentation?: boolean } = {},
): DescribedConfig[] {
  const out: DescribedConfig[] = [];
  for (const def of topicConfigDefs) {
    const applied = effective(def, info, kept, batchBytesMax);
    if (applied === undefined) continue;
    const configSource = applied.set ? ConfigSource.topic : ConfigSource.defaultConfig;
    const fallback = {
      name: brokerSynonyms.get(def.name) ?? def.name,
      value: defaultOf(def, batchBytesMax),
      source: ConfigSource.defaultConfig,
    };
    const synonyms = applied.set ? [{ name: def.name, value: applied.value, source: configSource }] : [];
    out.push({
      name: def.name,
      value: applied.value,
      readOnly: false,
      isDefault: !applied.set,
      configSource,
      isSensitive: false,
      configType: configTypeCode[def.type],
      synonyms: asked.synonyms === true ? [...synonyms, fallback] : [],
      documentation: asked.documentation === true ? documentationOf(def) : null,
    });
  }
  return out;
}

/** The configs the topic sets, as an AlterConfigs would send them (retention from core, the rest kept). */
export function setTopicConfigs(
  info: Pick<StreamInfo, 'ageMsMax' | 'bytesMax'>,
  kept: Readonly<Record<string, string>>,
): ConfigInput[] {
  const out: ConfigInput[] = [];
  if (info.ageMsMax !== undefined) out.push({ name: 'retention.ms', value: String(info.ageMsMax) });
  if (info.bytesMax !== undefined) out.push({ name: 'retention.bytes', value: String(info.bytesMax) });
  for (const [name, value] of Object.entries(kept)) out.push({ name, value });
  return out;
}

/** What a Produce to the topic must respect, from its configs (./handlers/produce.ts). */
export interface ProduceRules {
  readonly batchBytesMax: number;
  readonly logAppendTime: boolean;
  /** Kafka's compression.type: `producer` keeps batches as they came. */
  readonly compression: string;
  readonly gzipLevel: number;
  readonly zstdLevel: number;
  /** How far a CreateTime timestamp may lie before / after the broker's clock (KIP-937). */
  readonly timestampBeforeMsMax: number;
  readonly timestampAfterMsMax: number;
  readonly minInsyncReplicas: number;
  /** A compacted topic: every record needs a key (INVALID_RECORD otherwise). */
  readonly keyRequired: boolean;
}

function produceRulesOf(kept: Readonly<Record<string, string>>, brokerBatchBytesMax: number): ProduceRules {
  const value = (name: string) => {
    const def = topicConfigByName.get(name)!;
    return kept[name] ?? defaultOf(def, brokerBatchBytesMax);
  };
  return {
    batchBytesMax: Math.min(Number(value('max.message.bytes')), brokerBatchBytesMax),
    logAppendTime: value('message.timestamp.type') === 'LogAppendTime',
    compression: value('compression.type'),
    gzipLevel: Number(value('compression.gzip.level')),
    zstdLevel: Number(value('compression.zstd.level')),
    timestampBeforeMsMax: Number(value('message.timestamp.before.max.ms')),
    timestampAfterMsMax: Number(value('message.timestamp.after.max.ms')),
    minInsyncReplicas: Number(value('min.insync.replicas')),
    keyRequired: cleanupPolicyOf(kept).compact,
  };
}

/**
 * The configs the adapter keeps per topic (everything but retention, which core enforces itself):
 * the stream's attributes in core, stored in its definition and deleted with it, so a topic of an old
 * name starts from the defaults whichever protocol re-created it.
 */
export class TopicConfigStore {
  readonly #core: CoreClient;
  /**
   * Produce rules per description of a stream: core gives a stream a new description whenever its
   * settings change, so a description's rules never go stale and every Produce need not work them out.
   */
  readonly #rules = new WeakMap<
    StreamInfo,
    { readonly batchBytesMax: number; readonly rules: ProduceRules }
  >();

  /** `core` reads configs for Produce (the listener's own client); changes go through the caller's. */
  constructor(core: CoreClient) {
    this.#core = core;
  }

  kept(topic: string, core: CoreClient = this.#core): Readonly<Record<string, string>> {
    return keptOf(core.stream(topic)?.attributes);
  }

  /** What a Produce to the topic must respect; the broker's defaults for a topic that sets nothing. */
  produceRules(topic: string, brokerBatchBytesMax: number): ProduceRules {
    const info = this.#core.stream(topic);
    if (info === undefined) return produceRulesOf(keptOf(undefined), brokerBatchBytesMax);
    const known = this.#rules.get(info);
    if (known !== undefined && known.batchBytesMax === brokerBatchBytesMax) return known.rules;
    const rules = produceRulesOf(keptOf(info.attributes), brokerBatchBytesMax);
    this.#rules.set(info, { batchBytesMax: brokerBatchBytesMax, rules });
    return rules;
  }

  /**
   * Replaces the topic's configs (checked by `checkTopicConfigs`): retention in core, the rest kept
   * as attributes beside any another front end keeps.
   */
  async replace(core: CoreClient, topic: string, settings: TopicSettings): Promise<void> {
    const attributes: Record<string, string> = {};
    for (const [name, value] of Object.entries(core.stream(topic)?.attributes ?? {})) {
      if (!topicConfigByName.has(name)) attributes[name] = value;
    }
    Object.assign(attributes, settings.kept);
    const compaction = settings.compaction === undefined ? {} : { compaction: settings.compaction };
    await core.configureStream(topic, { ...settings.retention, ...compaction, attributes });
  }
}

/** Only the configs Kafka defines: attributes another front end kept are not Kafka's to show. */
function keptOf(attributes: Readonly<Record<string, string>> | undefined): Readonly<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(attributes ?? {})) {
    if (topicConfigByName.has(name)) out[name] = value;
  }
  return out;
}
