/**
 * `/api/kafka/topics[/{vhost}]/{name}`: a Kafka topic read, created (PUT) and deleted (DELETE) from
 * the admin API, as Kafka's CreateTopics and DeleteTopics would (KIP-4). A topic is a core stream, so
 * core's authorizer decides as RabbitMQ does for a queue: creating and deleting need `configure` on
 * the name in the vhost. Kafka's own rules for names and configs belong to the Kafka front end; the
 * server hands them in (`KafkaTopicRules`), so nothing here imports a protocol.
 */
import type { CoreClient, StreamCompaction } from '../core/api.js';
import { HttpError } from './errors.js';
import type { Json } from './json.js';

type JsonObject = { [key: string]: Json };

/** What a topic's configs ask of its stream, once Kafka's checks took them. */
export interface TopicStreamSettings {
  readonly bytesMax?: number;
  readonly ageMsMax?: number;
  readonly compaction?: StreamCompaction;
  readonly attributes: Readonly<Record<string, string>>;
}

/** The Kafka front end's rules, as the server hands them to the admin API. */
export interface KafkaTopicRules {
  /** The vhost whose streams Kafka clients see (setting `kafkaVhost`): a path without one means it. */
  readonly vhost: string;
  /** Partitions of a topic created without a count (setting `kafkaDefaultPartitions`). */
  readonly defaultPartitions: number;
  /** Kafka's topic name rule (1–249 of `[a-zA-Z0-9._-]`, not `.` or `..`). */
  validName(name: string): boolean;
  /** Kafka's checks of topic configs (its names, types and validators): the stream's settings or why not. */
  check(configs: ReadonlyArray<{ name: string; value: string }>): TopicStreamSettings | { refused: string };
}

/** Without the Kafka front end's rules: Kafka's name rule, no configs. */
const plainRules: KafkaTopicRules = {
  vhost: '/',
  defaultPartitions: 1,
  validName: (name) => /^[a-zA-Z0-9._-]{1,249}$/.test(name) && name !== '.' && name !== '..',
  check: (configs) =>
    configs.length === 0 ? { attributes: {} } : { refused: 'Topic configs need the Kafka listener' },
};

export type TopicReply = { readonly status: number; readonly body: Json | undefined };

function badRequest(reason: string): never {
  throw new HttpError(400, 'bad_request', reason);
}

function notFound(reason: string): never {
  throw new HttpError(404, 'not_found', reason);
}

export function topicJson(v: CoreClient, vhost: string, name: string): JsonObject | undefined {
  const info = v.stream(name);
  if (info === undefined) return undefined;
  const partitions: JsonObject[] = [];
  for (let i = 0; i < info.partitions; i++) {
    const p = v.partition(name, i);
    partitions.push({
      partition: i,
      start_offset: p.startOffset,
      end_offset: p.endOffset,
      messages: p.endOffset - p.startOffset,
    });
  }
  const configs: JsonObject = { ...info.attributes };
  if (info.bytesMax !== undefined) configs['retention.bytes'] = String(info.bytesMax);
  if (info.ageMsMax !== undefined) configs['retention.ms'] = String(info.ageMsMax);
  return { name, vhost, partitions, configs };
}

/** `{partitions?, configs?: {name: value}}`; config values may be strings, numbers or booleans. */
function topicRequest(body: Json | undefined) {
  const given = body ?? {};
  if (given === null || typeof given !== 'object' || Array.isArray(given))
    badRequest('The body must be a JSON object');
  const partitions = given['partitions'];
  if (partitions !== undefined && !(typeof partitions === 'number' && Number.isSafeInteger(partitions)))
    badRequest("'partitions' must be an integer");
  if (typeof partitions === 'number' && partitions < 1) badRequest('Number of partitions must be at least 1');
  const configs = given['configs'] ?? {};
  if (configs === null || typeof configs !== 'object' || Array.isArray(configs))
    badRequest("'configs' must be an object of config names and values");
  const entries = Object.entries(configs).map(([name, value]) => {
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean')
      badRequest(`The value of config ${name} must be a string, a number or a boolean`);
    return { name, value: String(value) };
  });
  return { partitions: partitions as number | undefined, configs: entries };
}

/**
 * PUT: creates the topic (201), or for one that exists grows it to `partitions` (Kafka's
 * CreatePartitions; fewer is refused, as Kafka refuses it) and answers 204. Configs are taken at
 * creation only; an existing topic's are changed with Kafka's AlterConfigs (`kafka-configs --alter`).
 */
async function putTopic(v: CoreClient, name: string, body: Json | undefined, rules: KafkaTopicRules) {
  const request = topicRequest(body);
  const existing = v.stream(name);
  if (existing !== undefined) {
    if (request.configs.length > 0)
      badRequest(`Topic ${name} exists; change its configs with Kafka's AlterConfigs`);
    const wanted = request.partitions ?? existing.partitions;
    if (wanted < existing.partitions)
      badRequest(`Topic ${name} has ${existing.partitions} partitions; their number cannot shrink`);
    if (wanted > existing.partitions) await v.addPartitions(name, wanted);
    return { status: 204, body: undefined };
  }
  if (!rules.validName(name)) badRequest(`Topic name '${name}' is not legal`);
  const checked = rules.check(request.configs);
  if ('refused' in checked) badRequest(checked.refused);
  await v.createStream(name, { partitions: request.partitions ?? rules.defaultPartitions, ...checked });
  return { status: 201, body: undefined };
}

/** The vhost a path names (`{vhost}/{name}`), else the Kafka vhost for a write, every one visible for a read. */
function scopeOf(segments: readonly string[], method: string, vhosts: string[], rules: KafkaTopicRules) {
  if (segments.length === 2) {
    const [vhost = '', name = ''] = segments;
    if (!vhosts.includes(vhost)) notFound(`No vhost ${vhost}`);
    return { vhosts: [vhost], name };
  }
  const [name] = segments;
  if (method === 'GET' || name === undefined) return { vhosts, name };
  return { vhosts: [rules.vhost], name };
}

/** `segments` follow `topics`: none, `{name}` or `{vhost}/{name}`. */
export async function topicRoutes(
  core: CoreClient,
  method: string,
  segments: readonly string[],
  vhosts: string[],
  body: Json | undefined,
  rules: KafkaTopicRules = plainRules,
): Promise<TopicReply | undefined> {
  if (segments.length > 2) return undefined;
  const scope = scopeOf(segments, method, vhosts, rules);
  const { name } = scope;
  if (method === 'GET') {
    const rows = scope.vhosts.flatMap((vhost) => {
      const v = core.inVhost(vhost);
      const names = name === undefined ? v.streams().map((s) => s.name) : [name];
      return names.flatMap((n) => topicJson(v, vhost, n) ?? []);
    });
    if (name === undefined) return { status: 200, body: rows };
    return { status: 200, body: rows[0] ?? notFound(`No topic ${name}`) };
  }
  if (name === undefined) return undefined;
  const v = core.inVhost(scope.vhosts[0] ?? rules.vhost);
  if (method === 'PUT') return putTopic(v, name, body, rules);
  if (method !== 'DELETE') return undefined;
  if (v.stream(name) === undefined) notFound(`No topic ${name}`);
  await v.deleteStream(name);
  return { status: 204, body: undefined };
}
