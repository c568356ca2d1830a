/**
 * Topic and cluster administration and producer ids: CreateTopics 0–7, DeleteTopics 0–5,
 * CreatePartitions 0–3, DeleteRecords 0–2, DescribeLogDirs 0–4, DescribeCluster 0–1,
 * InitProducerId 0–4. One node keeps one replica, whatever replication factor a topic asked for.
 * Configs are in ./configs.ts.
 */

import { allowed } from '../acls.js';
import { clusterOperationsIf, clusterResource } from '../authorized-operations.js';
import type {
  CreatePartitionsRequest,
  CreateTopicsRequest,
  CreateTopicsRequestCreatableTopic,
  DeleteRecordsRequest,
  DeleteTopicsRequest,
  DescribeClusterRequest,
  DescribeLogDirsRequest,
  InitProducerIdRequest,
} from '../codec/index.js';
import { ApiKey } from '../codec/index.js';
import { type ApiHandler, clusterId, type KafkaBroker, nodeId, type RequestContext } from '../context.js';
import { KafkaError, kafkaErrorOf, txnErrorOf } from '../errors.js';
import { zeroTopicId } from '../topic-ids.js';
import {
  checkTopicConfigs,
  type DescribedConfig,
  describeTopicConfigs,
  isRefusal,
  type TopicSettings,
} from '../topic-settings.js';
import { isKafkaError, partitionOf, validTopicName } from '../topics.js';

/** What a topic to create asks for, or the error Kafka answers for it (configs: ../topic-settings.ts). */
function settingsOf(
  broker: KafkaBroker,
  topic: CreateTopicsRequestCreatableTopic,
): (TopicSettings & { partitions: number }) | [KafkaError, string] {
  if (!validTopicName(topic.name))
    return [KafkaError.invalidTopic, `Topic name '${topic.name}' is not legal`];
  const replicasMax = broker.options.replicationFactorMax;
  if (topic.replicationFactor > replicasMax)
    return [
      KafkaError.invalidReplicationFactor,
      `Replication factor must be at most ${replicasMax} (one node)`,
    ];
  const partitions =
    topic.assignments.length > 0
      ? topic.assignments.length
      : topic.numPartitions === -1
        ? broker.options.defaultPartitions
        : topic.numPartitions;
  if (!Number.isInteger(partitions) || partitions < 1)
    return [KafkaError.invalidPartitions, 'Number of partitions must be at least 1'];
  const checked = checkTopicConfigs(topic.configs, broker.options.batchBytesMax);
  if (isRefusal(checked)) return [KafkaError.invalidConfig, checked.refused];
  return { ...checked, partitions };
}

/**
 * The configs a created topic is described with (v5+), made once per request for the topics that set
 * none, which are described alike: a request of thousands of topics spent most of its turn here.
 */
class DefaultsDescribed {
  #described: DescribedConfig[] | undefined;

  of(
    topic: CreateTopicsRequestCreatableTopic,
    settings: TopicSettings,
    batchBytesMax: number,
  ): DescribedConfig[] {
    if (topic.configs.length > 0)
      return describeTopicConfigs(settings.retention, settings.kept, batchBytesMax);
    this.#described ??= describeTopicConfigs(settings.retention, settings.kept, batchBytesMax);
    return this.#described;
  }
}

async function createOne(
  ctx: RequestContext,
  topic: CreateTopicsRequestCreatableTopic,
  validateOnly: boolean,
  defaults: DefaultsDescribed,
) {
  const { broker, client } = ctx;
  const fail = (errorCode: KafkaError, errorMessage: string) => ({
    name: topic.name,
    errorCode,
    errorMessage,
    numPartitions: -1,
    replicationFactor: -1,
    configs: null,
  });
  // Kafka asks CREATE of the cluster, then of the topic, before telling whether it exists.
  if (!allowed(ctx, 'CLUSTER', clusterResource, 'CREATE') && !allowed(ctx, 'TOPIC', topic.name, 'CREATE'))
    return fail(KafkaError.topicAuthorizationFailed, 'Authorization failed.');
  if (client.stream(topic.name) !== undefined)
    return fail(KafkaError.topicAlreadyExists, `Topic '${topic.name}' already exists`);
  const settings = settingsOf(broker, topic);
  if (Array.isArray(settings)) return fail(settings[0], settings[1]);
  // v7+ answers the new topic's id (KIP-516); a validation creates nothing and answers the zero id.
  let topicId = zeroTopicId;
  if (!validateOnly) {
    try {
      // The kept configs go in with the stream, so no request sees the new topic without them.
      const attributes = settings.kept;
      ({ id: topicId } = await client.createStream(topic.name, {
        partitions: settings.partitions,
        ...settings.retention,
        ...(settings.compaction === undefined ? {} : { compaction: settings.compaction }),
        attributes,
      }));
    } catch (err) {
      return fail(
        kafkaErrorOf(err) === KafkaError.invalidRequest ? KafkaError.invalidPartitions : kafkaErrorOf(err),
        (err as Error).message,
      );
    }
  }
  return {
    name: topic.name,
    topicId,
    errorCode: KafkaError.none,
    errorMessage: null,
    numPartitions: settings.partitions,
    replicationFactor: 1,
    // v5+ describes the new topic's configs to a client that may DESCRIBE_CONFIGS it (Kafka's rule).
    ...(allowed(ctx, 'TOPIC', topic.name, 'DESCRIBE_CONFIGS')
      ? { configs: defaults.of(topic, settings, broker.options.batchBytesMax) }
      : { configs: null, topicConfigErrorCode: KafkaError.topicAuthorizationFailed }),
  };
}

export const createTopicsHandler: ApiHandler = {
  apiKey: ApiKey.CreateTopics,
  versionMin: 0,
  versionMax: 7,
  async handle(ctx: RequestContext, request: CreateTopicsRequest) {
    const topics = [];
    const defaults = new DefaultsDescribed();
    for (const topic of request.topics)
      topics.push(await createOne(ctx, topic, request.validateOnly, defaults));
    return { topics };
  },
};

export const deleteTopicsHandler: ApiHandler = {
  apiKey: ApiKey.DeleteTopics,
  versionMin: 0,
  versionMax: 5,
  async handle(ctx: RequestContext, request: DeleteTopicsRequest) {
    const responses = [];
    for (const name of request.topicNames) {
      let errorCode: KafkaError = KafkaError.none;
      if (!allowed(ctx, 'TOPIC', name, 'DELETE')) errorCode = KafkaError.topicAuthorizationFailed;
      else if (ctx.client.stream(name) === undefined) errorCode = KafkaError.unknownTopicOrPartition;
      else {
        try {
          // Core drops the topic's group offsets and producer sequences with it.
          await ctx.client.deleteStream(name);
        } catch (err) {
          errorCode = kafkaErrorOf(err);
        }
      }
      responses.push({ name, errorCode, errorMessage: null });
    }
    return { responses };
  },
};

export const createPartitionsHandler: ApiHandler = {
  apiKey: ApiKey.CreatePartitions,
  versionMin: 0,
  versionMax: 3,
  async handle(ctx: RequestContext, request: CreatePartitionsRequest) {
    const results = [];
    for (const topic of request.topics) {
      const info = ctx.client.stream(topic.name);
      let errorCode: KafkaError = KafkaError.none;
      let errorMessage: string | null = null;
      if (!allowed(ctx, 'TOPIC', topic.name, 'ALTER')) errorCode = KafkaError.topicAuthorizationFailed;
      else if (info === undefined) errorCode = KafkaError.unknownTopicOrPartition;
      else if (topic.count <= info.partitions) {
        errorCode = KafkaError.invalidPartitions;
        errorMessage = `Topic '${topic.name}' already has ${info.partitions} partitions`;
      } else if (!request.validateOnly) {
        try {
          await ctx.client.addPartitions(topic.name, topic.count);
        } catch (err) {
          errorCode = KafkaError.invalidPartitions;
          errorMessage = (err as Error).message;
        }
      }
      results.push({ name: topic.name, errorCode, errorMessage });
    }
    return { results };
  },
};

/** InitProducerId with a transactional id (KIP-98): a new instance fences every older one. */
async function initTransactional(ctx: RequestContext, request: InitProducerIdRequest, id: string) {
  const failed = (errorCode: KafkaError) => ({ errorCode, producerId: -1n, producerEpoch: -1 });
  // v3+ (KIP-360) names the instance asking; ids beyond what core hands out were never given.
  const given = ctx.apiVersion >= 3 ? request.producerId : -1n;
  if (given > BigInt(Number.MAX_SAFE_INTEGER)) return failed(KafkaError.invalidProducerIdMapping);
  const epoch = given < 0n ? -1 : request.producerEpoch;
  try {
    const result = await ctx.client.initTransactional(id, request.transactionTimeoutMs, Number(given), epoch);
    if (result.kind === 'refused') return failed(txnErrorOf(result.reason, 4, ctx.apiVersion));
    return { errorCode: KafkaError.none, producerId: BigInt(result.producerId), producerEpoch: result.epoch };
  } catch (err) {
    return failed(kafkaErrorOf(err));
  }
}

export const initProducerIdHandler: ApiHandler = {
  apiKey: ApiKey.InitProducerId,
  versionMin: 0,
  versionMax: 4,
  async handle(ctx: RequestContext, request: InitProducerIdRequest) {
    const refused = (errorCode: KafkaError) => ({ errorCode, producerId: -1n, producerEpoch: -1 });
    const id = request.transactionalId;
    if (id !== null) {
      if (!allowed(ctx, 'TRANSACTIONAL_ID', id, 'WRITE'))
        return refused(KafkaError.transactionalIdAuthorizationFailed);
      return initTransactional(ctx, request, id);
    }
    // KIP-679: IDEMPOTENT_WRITE on the cluster, or WRITE on some topic.
    if (
      !allowed(ctx, 'CLUSTER', clusterResource, 'IDEMPOTENT_WRITE') &&
      !ctx.acls.allowsSome(ctx.kafkaPrincipal, 'TOPIC', 'WRITE')
    )
      return refused(KafkaError.clusterAuthorizationFailed);
    const result = await ctx.broker.producers.initProducerId(
      ctx.client,
      request.producerId,
      request.producerEpoch,
    );
    if (typeof result === 'number') return refused(result);
    return { errorCode: KafkaError.none, ...result };
  },
};

/** DeleteRecords' offset -1: up to the high watermark, which on one node is the end of the log. */
const deleteToHighWatermark = -1n;

/** Moves one partition's start (core keeps it durable); OFFSET_OUT_OF_RANGE past the end. */
async function deleteRecordsOf(ctx: RequestContext, topic: string, index: number, offset: bigint) {
  const failed = (errorCode: KafkaError) => ({ partitionIndex: index, lowWatermark: -1n, errorCode });
  if (!allowed(ctx, 'TOPIC', topic, 'DELETE')) return failed(KafkaError.topicAuthorizationFailed);
  const partition = partitionOf(ctx, topic, index);
  if (isKafkaError(partition)) return failed(partition);
  const end = BigInt(partition.endOffset);
  const before = offset === deleteToHighWatermark ? end : offset;
  if (before < 0n || before > end) return failed(KafkaError.offsetOutOfRange);
  try {
    const start = await ctx.client.deleteRecords(topic, index, Number(before));
    return { partitionIndex: index, lowWatermark: BigInt(start), errorCode: KafkaError.none };
  } catch (err) {
    return failed(kafkaErrorOf(err));
  }
}

export const deleteRecordsHandler: ApiHandler = {
  apiKey: ApiKey.DeleteRecords,
  versionMin: 0,
  versionMax: 2,
  async handle(ctx: RequestContext, request: DeleteRecordsRequest) {
    const topics = [];
    for (const topic of request.topics) {
      const partitions = [];
      for (const p of topic.partitions)
        partitions.push(await deleteRecordsOf(ctx, topic.name, p.partitionIndex, p.offset));
      topics.push({ name: topic.name, partitions });
    }
    return { topics };
  },
};

/**
 * One log directory, the data folder (`logDir`), holding every partition. Volume sizes are -1
 * (unknown), which Kafka's clients show as such.
 */
export const describeLogDirsHandler: ApiHandler = {
  apiKey: ApiKey.DescribeLogDirs,
  versionMin: 0,
  versionMax: 4,
  handle(ctx: RequestContext, request: DescribeLogDirsRequest) {
    const { broker, client } = ctx;
    if (!allowed(ctx, 'CLUSTER', clusterResource, 'DESCRIBE'))
      return { errorCode: KafkaError.clusterAuthorizationFailed, results: [] };
    const asked =
      request.topics === null
        ? client.streams().map((info) => ({
            topic: info.name,
            partitions: Array.from({ length: info.partitions }, (_, i) => i),
          }))
        : request.topics;
    const topics = [];
    for (const { topic, partitions } of asked) {
      const found = [];
      for (const index of partitions) {
        const partition = partitionOf(ctx, topic, index);
        if (isKafkaError(partition)) continue;
        found.push({ partitionIndex: index, partitionSize: BigInt(partition.sizeBytes), offsetLag: 0n });
      }
      if (found.length > 0) topics.push({ name: topic, partitions: found });
    }
    const dir = {
      errorCode: KafkaError.none,
      logDir: broker.options.logDir,
      topics,
      totalBytes: -1n,
      usableBytes: -1n,
    };
    return { errorCode: KafkaError.none, results: [dir] };
  },
};

/** The one node, which is also the controller (KIP-700). Endpoint type 2 (controllers) answers the same node. */
export const describeClusterHandler: ApiHandler = {
  apiKey: ApiKey.DescribeCluster,
  versionMin: 0,
  versionMax: 1,
  handle(ctx: RequestContext, request: DescribeClusterRequest) {
    return {
      errorCode: KafkaError.none,
      errorMessage: null,
      endpointType: request.endpointType,
      clusterId,
      controllerId: nodeId,
      brokers: [{ brokerId: nodeId, host: ctx.advertisedHost, port: ctx.advertisedPort, rack: null }],
      clusterAuthorizedOperations: clusterOperationsIf(ctx, request.includeClusterAuthorizedOperations),
    };
  },
};
