/**
 * What RabbitMQ's API has no word for, under prefixes of their own: Kafka topics, consumer groups (lag,
 * offset reset) under `/api/kafka/`, MQTT sessions, subscriptions and retained messages under
 * `/api/mqtt/`. All of it is core's state (streams, groups, sessions, the retained set) read through
 * the caller's `CoreClient`, so no protocol is imported; the little of each protocol's notation shown
 * (MQTT topic form, Kafka's consumer-protocol assignment) is decoded here.
 */
import type { CoreClient, GroupMembership } from '../core/api.js';
import { HttpError } from './errors.js';
import type { Json } from './json.js';
import { type KafkaTopicRules, topicRoutes } from './kafka-topics.js';
import type { KubemqChannelView } from './views.js';

type JsonObject = { [key: string]: Json };
export type ExtensionReply = { readonly status: number; readonly body: Json | undefined };

/** Retained payloads are shown up to this many bytes. */
const retainedPayloadBytesMax = 4096;

function notFound(reason: string): never {
  throw new HttpError(404, 'not_found', reason);
}

function badRequest(reason: string): never {
  throw new HttpError(400, 'bad_request', reason);
}

// ---- Kafka

/** Kafka's ConsumerProtocol assignment (version, [topic, [partition]], user data); raw base64 otherwise. */
function assignmentJson(bytes: Uint8Array): Json {
  try {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let at = 2;
    const topics: JsonObject[] = [];
    const count = view.getInt32(at);
    at += 4;
    for (let t = 0; t < count; t++) {
      const length = view.getInt16(at);
      at += 2;
      const topic = Buffer.from(bytes.subarray(at, at + length)).toString('utf8');
      at += length;
      const n = view.getInt32(at);
      at += 4;
      const partitions: number[] = [];
      for (let i = 0; i < n; i++, at += 4) partitions.push(view.getInt32(at));
      topics.push({ topic, partitions });
    }
    return topics;
  } catch {
    return Buffer.from(bytes).toString('base64');
  }
}

function groupState(membership: GroupMembership | undefined): string {
  if (membership === undefined || membership.members.length === 0) return 'Empty';
  return membership.rebalance ? 'PreparingRebalance' : 'Stable';
}

function groupJson(v: CoreClient, vhost: string, group: string): JsonObject {
  const membership = v.groupMembership(group);
  const offsets = v.groupOffsets(group).map(({ stream, partition, offset }) => {
    const end = v.stream(stream) === undefined ? offset.offset : v.partition(stream, partition).endOffset;
    return {
      topic: stream,
      partition,
      committed_offset: offset.offset,
      end_offset: end,
      lag: Math.max(0, end - offset.offset),
    };
  });
  return {
    group_id: group,
    vhost,
    protocol_type: membership?.protocolType ?? 'consumer',
    state: groupState(membership),
    members: (membership?.members ?? []).map((m) => ({
      member_id: m.id,
      client_id: m.clientId,
      host: m.clientHost,
      assignment: assignmentJson(m.assignment),
    })),
    offsets,
  };
}

type ResetTo = 'earliest' | 'latest' | 'datetime' | 'shift';

/** The partitions a reset covers: those the group has offsets in, or every partition of `topics`. */
function resetPartitions(v: CoreClient, group: string, topics: readonly string[] | undefined) {
  if (topics === undefined)
    return v
      .groupOffsets(group)
      .map(({ stream, partition, offset }) => ({ stream, partition, current: offset.offset }));
  return topics.flatMap((topic) => {
    const info = v.stream(topic) ?? notFound(`No topic ${topic}`);
    return Array.from({ length: info.partitions }, (_, partition) => ({
      stream: topic,
      partition,
      current: v.fetchOffset(group, topic, partition)?.offset ?? null,
    }));
  });
}

function resetRequest(body: Json | undefined) {
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    badRequest('The body must be a JSON object');
  const to = body['to'];
  if (to !== 'earliest' && to !== 'latest' && to !== 'datetime' && to !== 'shift')
    badRequest("'to' must be earliest, latest, datetime or shift");
  const datetime = to === 'datetime' ? Date.parse(String(body['datetime'])) : 0;
  if (Number.isNaN(datetime)) badRequest("'datetime' must be an ISO date");
  const shift = body['shift_by'] ?? 0;
  if (to === 'shift' && (typeof shift !== 'number' || !Number.isSafeInteger(shift)))
    badRequest("'shift_by' must be an integer");
  const topics = body['topics'];
  if (topics !== undefined && !(Array.isArray(topics) && topics.every((t) => typeof t === 'string')))
    badRequest("'topics' must be a list of topic names");
  return {
    to: to as ResetTo,
    datetime,
    shift: shift as number,
    topics: topics as string[] | undefined,
    dryRun: body['dry_run'] !== false,
  };
}

/** Kafka's kafka-consumer-groups --reset-offsets: refused while the group has members (409). */
async function resetOffsets(v: CoreClient, group: string, body: Json | undefined): Promise<Json> {
  const request = resetRequest(body);
  if ((v.groupMembership(group)?.members.length ?? 0) > 0)
    throw new HttpError(409, 'conflict', `Group ${group} has active members; stop them first`);
  const offsets = resetPartitions(v, group, request.topics).map(({ stream, partition, current }) => {
    const p = v.partition(stream, partition);
    const target =
      request.to === 'earliest'
        ? p.startOffset
        : request.to === 'latest'
          ? p.endOffset
          : request.to === 'datetime'
            ? p.offsetForTimestamp(request.datetime)
            : (current ?? p.startOffset) + request.shift;
    const offset = Math.min(Math.max(target < 0 ? p.endOffset : target, p.startOffset), p.endOffset);
    return { topic: stream, partition, current_offset: current, new_offset: offset };
  });
  if (!request.dryRun) {
    for (const o of offsets)
      await v.commitOffset(group, o.topic, o.partition, {
        offset: o.new_offset,
        metadata: '',
        committedAt: Date.now(),
      });
  }
  return { offsets };
}

async function kafkaRoutes(
  core: CoreClient,
  method: string,
  parts: string[],
  vhosts: string[],
  body: Json | undefined,
  rules: KafkaTopicRules | undefined,
) {
  const [kind, name, action, ...rest] = parts;
  if (kind === 'topics') return topicRoutes(core, method, parts.slice(1), vhosts, body, rules);
  if (rest.length > 0) return undefined;
  if (kind !== 'groups') return undefined;
  if (name === undefined) {
    if (method !== 'GET') return undefined;
    const rows = vhosts.flatMap((vhost) => {
      const v = core.inVhost(vhost);
      return v.listGroups().map((g) => groupJson(v, vhost, g.name));
    });
    return { status: 200, body: rows };
  }
  const vhost = vhosts.find((vh) =>
    core
      .inVhost(vh)
      .listGroups()
      .some((g) => g.name === name),
  );
  if (vhost === undefined) return notFound(`No group ${name}`);
  const v = core.inVhost(vhost);
  if (action === undefined && method === 'GET') return { status: 200, body: groupJson(v, vhost, name) };
  if (action === 'reset-offsets' && method === 'POST')
    return { status: 200, body: await resetOffsets(v, name, body) };
  return undefined;
}

// ---- MQTT

/** A routing key or pattern on `amq.topic` in MQTT's form: `/` and `.` swap back, `*` is `+`. */
function mqttTopic(key: string): string {
  return key
    .split('.')
    .map((word) => (word === '*' ? '+' : word.replaceAll('/', '.')))
    .join('/');
}

/** The filter as the client gave it, kept with the subscription; else rebuilt from the pattern. */
function filterOf(sub: { pattern: string; options: Readonly<Record<string, unknown>> }): string {
  const given = sub.options['filter'];
  return typeof given === 'string' ? given : mqttTopic(sub.pattern);
}

function qosOf(options: Readonly<Record<string, unknown>>): number {
  const qos = options['qos'] ?? options['x-mqtt-qos'];
  return typeof qos === 'number' ? qos : 0;
}

function mqttRoutes(core: CoreClient, method: string, parts: string[], vhosts: string[]) {
  const [kind, ...rest] = parts;
  if (method !== 'GET' || rest.length > 0) return undefined;
  if (kind === 'sessions') {
    const rows = vhosts.flatMap((vhost) => {
      const v = core.inVhost(vhost);
      return v.listSessions().map((s) => ({
        client_id: s.id,
        vhost,
        connected: s.connected,
        clean_start: !s.durable,
        expiry_interval_s: s.expiryMs === undefined ? null : Math.floor(s.expiryMs / 1000),
        subscriptions: s.subscriptions.length + s.groupSubscriptions.length,
        inflight: v.session(s.id)?.inflight().size ?? 0,
        queued: v.peekQueue(s.queue)?.messageCount ?? 0,
      }));
    });
    return { status: 200, body: rows };
  }
  if (kind === 'subscriptions') {
    const rows = vhosts.flatMap((vhost) =>
      core
        .inVhost(vhost)
        .listSessions()
        .flatMap((s) => [
          ...s.subscriptions.map((sub) => ({
            client_id: s.id,
            vhost,
            filter: filterOf(sub),
            qos: qosOf(sub.options),
          })),
          ...s.groupSubscriptions.map((sub) => ({
            client_id: s.id,
            vhost,
            filter: filterOf(sub),
            qos: qosOf(sub.options),
            share_group: sub.group,
          })),
        ]),
    );
    return { status: 200, body: rows };
  }
  if (kind === 'retained') {
    const rows = vhosts.flatMap((vhost) =>
      core
        .inVhost(vhost)
        .matchRetained('#')
        .map((m) => ({
          topic: mqttTopic(m.key),
          vhost,
          qos: m.properties.qos ?? (m.properties.persistent === true ? 1 : 0),
          payload_bytes: m.body.length,
          payload: Buffer.from(m.body.subarray(0, retainedPayloadBytesMax)).toString('base64'),
        })),
    );
    return { status: 200, body: rows };
  }
  return undefined;
}

// ---- KubeMQ

/** `GET /api/kubemq/channels`: the channels of the vhosts the caller sees (KubeMQ's dashboard columns). */
function kubemqRoutes(
  method: string,
  parts: string[],
  vhosts: string[],
  channels: (() => readonly KubemqChannelView[]) | undefined,
): ExtensionReply | undefined {
  if (method !== 'GET' || parts.length !== 1 || parts[0] !== 'channels') return undefined;
  const visible = new Set(vhosts);
  const rows = (channels?.() ?? [])
    .filter((c) => visible.has(c.vhost))
    .map((c) => ({
      name: c.name,
      type: c.type,
      vhost: c.vhost,
      messages: c.messages,
      sent: c.sent,
      subscribers: c.subscribers,
      last_activity: c.lastActivityMs === 0 ? null : new Date(c.lastActivityMs).toISOString(),
      last_activity_ms: c.lastActivityMs,
    }));
  return { status: 200, body: rows };
}

/** `/api/kafka/…`, `/api/mqtt/…` and `/api/kubemq/…`; `parts` are the decoded segments after `/api`. */
export async function extensionRoutes(
  core: CoreClient,
  method: string,
  parts: readonly string[],
  vhosts: string[],
  body: Json | undefined,
  kafkaRules?: KafkaTopicRules,
  kubemq?: () => readonly KubemqChannelView[],
): Promise<ExtensionReply | undefined> {
  const [prefix, ...rest] = parts;
  if (prefix === 'kubemq') return kubemqRoutes(method, rest, vhosts, kubemq);
  if (prefix === 'kafka') return kafkaRoutes(core, method, rest, vhosts, body, kafkaRules);
  if (prefix === 'mqtt') return mqttRoutes(core, method, rest, vhosts);
  return undefined;
}
