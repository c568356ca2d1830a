/**
 * Configs of topics and of the broker: DescribeConfigs 0–4 (sources, KIP-226 synonyms, v3 types and
 * documentation), AlterConfigs 0–2 (the topic's configs replaced as a whole) and
 * IncrementalAlterConfigs 0–1 (KIP-339: SET, DELETE, APPEND, SUBTRACT). Whatever the request, the
 * topic's resulting configs go through the one check of CreateTopics (../topic-settings.ts) and are
 * then stored in one step, retention in core and the rest as the stream's attributes. The broker's
 * configs are ../broker-configs.ts: `max.connections` applied, Kafka's other dynamic configs kept
 * without effect (../dynamic-broker-configs.ts), the rest read at start. Describing
 * needs DESCRIBE_CONFIGS and altering ALTER_CONFIGS on the topic, the group or (for the broker) the
 * cluster, each refusal with the resource's own authorization error.
 */

import { allowed } from '../acls.js';
import { clusterResource } from '../authorized-operations.js';
import {
  alterBrokerConfigs,
  type BrokerConfigChange,
  brokerConfigOperations,
  describeBrokerConfigs,
  replacedBrokerConfigs,
} from '../broker-configs.js';
import type {
  AlterConfigsRequest,
  DescribeConfigsRequest,
  IncrementalAlterConfigsRequest,
} from '../codec/index.js';
import { ApiKey } from '../codec/index.js';
import {
  type ConfigOperation,
  configOp,
  listOperation,
  operationRefusal,
  scalarChanges,
} from '../config-ops.js';
import type { ApiHandler, KafkaBroker, RequestContext, Scope } from '../context.js';
import { KafkaError, kafkaErrorOf } from '../errors.js';
import { topicConfigByName } from '../topic-configs.js';
import {
  type ConfigInput,
  checkTopicConfigs,
  describeTopicConfigs,
  isRefusal,
  setTopicConfigs,
} from '../topic-settings.js';

/** Kafka's ConfigResource.Type codes; GROUP (KIP-848, KIP-932) carries share group configs. */
const resourceType = { topic: 2, broker: 4, group: 32 } as const;

interface ResourceResult {
  readonly errorCode: KafkaError;
  readonly errorMessage: string | null;
}

const done: ResourceResult = { errorCode: KafkaError.none, errorMessage: null };

/** The refusal of `operation` on a config resource, as Kafka answers it; undefined when allowed. */
function refusedConfigs(
  ctx: RequestContext,
  resource: { resourceType: number; resourceName: string },
  operation: 'DESCRIBE_CONFIGS' | 'ALTER_CONFIGS',
): ResourceResult | undefined {
  const [type, name, code] =
    resource.resourceType === resourceType.topic
      ? (['TOPIC', resource.resourceName, KafkaError.topicAuthorizationFailed] as const)
      : resource.resourceType === resourceType.group
        ? (['GROUP', resource.resourceName, KafkaError.groupAuthorizationFailed] as const)
        : resource.resourceType === resourceType.broker
          ? (['CLUSTER', clusterResource, KafkaError.clusterAuthorizationFailed] as const)
          : [];
  if (type === undefined || allowed(ctx, type, name, operation)) return undefined;
  return { errorCode: code, errorMessage: null };
}
const failed = (errorCode: KafkaError, errorMessage: string): ResourceResult => ({ errorCode, errorMessage });

export const describeConfigsHandler: ApiHandler = {
  apiKey: ApiKey.DescribeConfigs,
  versionMin: 0,
  versionMax: 4,
  handle(ctx: RequestContext, request: DescribeConfigsRequest) {
    const asked = { synonyms: request.includeSynonyms, documentation: request.includeDocumentation };
    const seen = new Set<string>();
    const results = request.resources.map((r) => {
      const base = { resourceType: r.resourceType, resourceName: r.resourceName, errorMessage: null };
      // A resource asked for again is not described again: 100,000 copies of one topic with its
      // documentation would be a 500 MB answer built from a 2 MB request. Kafka describes each copy.
      const key = `${r.resourceType}:${r.resourceName}`;
      if (seen.has(key)) return { ...base, ...appearsTwice, configs: [] };
      seen.add(key);
      const refused = refusedConfigs(ctx, r, 'DESCRIBE_CONFIGS');
      if (refused !== undefined) return { ...base, errorCode: refused.errorCode, configs: [] };
      let configs: Array<{ name: string; value: string; configSource: number }>;
      if (r.resourceType === resourceType.topic) {
        const { broker, client } = ctx;
        const info = client.stream(r.resourceName);
        if (info === undefined)
          return { ...base, errorCode: KafkaError.unknownTopicOrPartition, configs: [] };
        const kept = broker.topicConfigs.kept(r.resourceName);
        configs = describeTopicConfigs(info, kept, broker.options.batchBytesMax, asked);
      } else if (r.resourceType === resourceType.broker) {
        configs = describeBrokerConfigs(
          ctx.broker.options,
          ctx.broker.vhost,
          ctx.broker.brokerConfigs,
          r.resourceName,
        ).map((c) => (asked.synonyms ? c : { ...c, synonyms: [] }));
      } else if (r.resourceType === resourceType.group) {
        // Source 8 is GROUP_CONFIG, 5 DEFAULT_CONFIG.
        configs = ctx.broker.shareGroups.configsOf(r.resourceName).map((c) => ({
          name: c.name,
          value: c.value,
          readOnly: false,
          isDefault: c.isDefault,
          configSource: c.isDefault ? 5 : 8,
          isSensitive: false,
          synonyms: [],
        }));
      } else return { ...base, errorCode: KafkaError.invalidRequest, configs: [] };
      const keys = r.configurationKeys;
      const chosen =
        keys === null || keys.length === 0 ? configs : configs.filter((c) => keys.includes(c.name));
      return { ...base, errorCode: KafkaError.none, configs: chosen };
    });
    return { results };
  },
};

/** The same name twice in one resource is refused whole, as Kafka does. */
function duplicateOf(configs: ReadonlyArray<{ name: string }>): string | undefined {
  const seen = new Set<string>();
  for (const { name } of configs) {
    if (seen.has(name)) return name;
    seen.add(name);
  }
  return undefined;
}

/** Checks the topic's configs as they would become and, unless only validating, stores them. */
async function replaceTopicConfigs(
  ctx: Scope,
  topic: string,
  configs: readonly ConfigInput[],
  validateOnly: boolean,
): Promise<ResourceResult> {
  const { broker, client } = ctx;
  const checked = checkTopicConfigs(configs, broker.options.batchBytesMax);
  if (isRefusal(checked)) return failed(KafkaError.invalidConfig, checked.refused);
  if (validateOnly) return done;
  try {
    await broker.topicConfigs.replace(client, topic, checked);
    return done;
  } catch (err) {
    return failed(kafkaErrorOf(err), (err as Error).message);
  }
}

interface AlterResource {
  readonly resourceType: number;
  readonly resourceName: string;
  readonly configs: ReadonlyArray<{ name: string; value: string | null; configOperation?: number }>;
}

/**
 * What either Alter request answers before anything else, authorization included, as Kafka's
 * ConfigAdminManager.preprocess does, each INVALID_REQUEST: a resource named more than once, every
 * time it appears (so one request cannot have the broker store one resource over and over); a config
 * named twice in a resource; a null value, but for IncrementalAlterConfigs' DELETE; an operation
 * KIP-339 does not define (Kafka's controller answers INVALID_REQUEST for it too).
 */
function shapeRefusals<R extends AlterResource>(resources: readonly R[]): Map<R, ResourceResult> {
  const refused = new Map<R, ResourceResult>();
  const first = new Map<string, R>();
  for (const r of resources) {
    const key = `${r.resourceType}:${r.resourceName}`;
    const earlier = first.get(key);
    if (earlier === undefined) first.set(key, r);
    else for (const twice of [earlier, r]) refused.set(twice, appearsTwice);
  }
  for (const r of resources) {
    if (refused.has(r)) continue;
    const why = malformedConfigs(r.configs);
    if (why !== undefined) refused.set(r, failed(KafkaError.invalidRequest, why));
  }
  return refused;
}

/** Why one resource's configs are malformed, in the order Kafka checks: operation, duplicate, null. */
function malformedConfigs(configs: AlterResource['configs']): string | undefined {
  const unknown = configs.find((c) => c.configOperation !== undefined && !knownOps.has(c.configOperation));
  if (unknown !== undefined) return `Unknown operation type ${unknown.configOperation} for ${unknown.name}`;
  const duplicate = duplicateOf(configs);
  if (duplicate !== undefined) return `Error due to duplicate config keys: ${duplicate}`;
  const nulls = configs.filter((c) => c.value === null && c.configOperation !== configOp.delete);
  if (nulls.length > 0) return `Null value not supported for : ${nulls.map((c) => c.name).join(', ')}`;
  return undefined;
}

/** KIP-339's operations; any other code is a malformed request (INVALID_REQUEST, as Kafka answers it). */
const knownOps = new Set<number>(Object.values(configOp));

const appearsTwice = failed(KafkaError.invalidRequest, 'Each resource must appear at most once.');

/** What every resource of either Alter request answers before its configs are looked at. */
function refuseResource(
  ctx: Scope,
  resource: { resourceType: number; resourceName: string },
): ResourceResult | undefined {
  if (resource.resourceType === resourceType.broker) return undefined;
  if (resource.resourceType !== resourceType.topic)
    return failed(KafkaError.invalidRequest, `Unexpected resource type ${resource.resourceType}`);
  if (ctx.client.stream(resource.resourceName) === undefined)
    return failed(KafkaError.unknownTopicOrPartition, `Topic ${resource.resourceName} does not exist`);
  return undefined;
}

/** The broker's dynamic configs changed, a refusal of core (not an administrator) in Kafka's terms. */
async function alterBroker(
  ctx: Scope,
  name: string,
  changes: readonly BrokerConfigChange[],
  validateOnly: boolean,
): Promise<ResourceResult> {
  try {
    return await alterBrokerConfigs(ctx.client, ctx.broker.brokerConfigs, name, changes, validateOnly);
  } catch (err) {
    return failed(kafkaErrorOf(err), (err as Error).message);
  }
}

function answer(resource: { resourceType: number; resourceName: string }, result: ResourceResult) {
  return { ...result, resourceType: resource.resourceType, resourceName: resource.resourceName };
}

export const alterConfigsHandler: ApiHandler = {
  apiKey: ApiKey.AlterConfigs,
  versionMin: 0,
  versionMax: 2,
  async handle(ctx: RequestContext, request: AlterConfigsRequest) {
    const responses = [];
    const shaped = shapeRefusals(request.resources);
    for (const resource of request.resources) {
      const refused =
        shaped.get(resource) ??
        refusedConfigs(ctx, resource, 'ALTER_CONFIGS') ??
        refuseResource(ctx, resource);
      const result =
        refused ??
        (resource.resourceType === resourceType.broker
          ? await alterBroker(
              ctx,
              resource.resourceName,
              replacedBrokerConfigs(resource.configs, ctx.broker.brokerConfigs),
              request.validateOnly,
            )
          : await replaceTopicConfigs(ctx, resource.resourceName, resource.configs, request.validateOnly));
      responses.push(answer(resource, result));
    }
    return { responses };
  },
};

/**
 * The topic's configs after KIP-339's operations, in order: SET replaces, DELETE reverts to the
 * default, APPEND adds list items not already there, SUBTRACT removes them (lists only).
 */
function applyOperations(
  current: readonly ConfigInput[],
  ops: IncrementalAlterConfigsRequest['resources'][number]['configs'],
): ConfigInput[] | string {
  const values = new Map(current.map((c) => [c.name, c.value ?? '']));
  for (const op of ops) {
    const def = topicConfigByName.get(op.name);
    const isList = def?.type === 'list';
    const refused = operationRefusal(op, isList);
    if (refused !== undefined) return refused;
    if (op.configOperation === configOp.set) values.set(op.name, op.value ?? '');
    else if (op.configOperation === configOp.delete) values.delete(op.name);
    else values.set(op.name, listOperation(values.get(op.name) ?? def?.kafkaDefault, op));
  }
  return [...values].map(([name, value]) => ({ name, value }));
}

/**
 * SET and DELETE of a share group's configs (share.auto.offset.reset, share.isolation.level,
 * share.record.lock.duration.ms), all or none; answered once the group's log holds them. A write
 * that fails is UNKNOWN_SERVER_ERROR, as Kafka's controller answers a config it could not store, and
 * the values before are put back: a success is never answered for what a restart would not have.
 */
async function alterGroupConfigs(
  broker: KafkaBroker,
  resource: { resourceName: string; configs: readonly ConfigOperation[] },
  validateOnly: boolean,
): Promise<ResourceResult> {
  const changes = scalarChanges(resource.configs);
  if (!Array.isArray(changes)) return failed(KafkaError.invalidConfig, changes.refused);
  const { shareGroups } = broker;
  const group = resource.resourceName;
  const before = shareGroups.configsOf(group).filter((c) => changes.some((change) => change.name === c.name));
  const refused = shareGroups.configure(group, changes, validateOnly);
  if (refused !== undefined)
    return failed(
      refused.code,
      `Invalid value ${refused.change.value} for configuration ${refused.change.name}`,
    );
  if (validateOnly || (await shareGroups.flushed(group))) return done;
  shareGroups.restoreConfigs(group, before);
  return failed(KafkaError.unknownServerError, `The configs of share group ${group} could not be stored`);
}

export const incrementalAlterConfigsHandler: ApiHandler = {
  apiKey: ApiKey.IncrementalAlterConfigs,
  versionMin: 0,
  versionMax: 1,
  async handle(ctx: RequestContext, request: IncrementalAlterConfigsRequest) {
    const { broker, client } = ctx;
    const responses = [];
    const shaped = shapeRefusals(request.resources);
    for (const resource of request.resources) {
      const refused = shaped.get(resource) ?? refusedConfigs(ctx, resource, 'ALTER_CONFIGS');
      if (refused !== undefined) {
        responses.push(answer(resource, refused));
        continue;
      }
      if (resource.resourceType === resourceType.group) {
        responses.push(answer(resource, await alterGroupConfigs(broker, resource, request.validateOnly)));
        continue;
      }
      let result = refuseResource(ctx, resource);
      if (result === undefined && resource.resourceType === resourceType.broker) {
        const changes = brokerConfigOperations(resource.configs, broker.brokerConfigs);
        result = Array.isArray(changes)
          ? await alterBroker(ctx, resource.resourceName, changes, request.validateOnly)
          : changes;
      } else if (result === undefined) {
        const topic = resource.resourceName;
        const info = client.stream(topic)!;
        const current = setTopicConfigs(info, broker.topicConfigs.kept(topic));
        const next = applyOperations(current, resource.configs);
        result =
          typeof next === 'string'
            ? failed(KafkaError.invalidConfig, next)
            : await replaceTopicConfigs(ctx, topic, next, request.validateOnly);
      }
      responses.push(answer(resource, result));
    }
    return { responses };
  },
};
