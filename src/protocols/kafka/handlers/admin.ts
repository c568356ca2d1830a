/**
 * Topic administration and producer ids: CreateTopics 0–7, DeleteTopics 0–5, CreatePartitions 0–3,
 * DescribeConfigs 0–4, InitProducerId 0–4. One node, so replication factor 1 is the only one offered.
 */
import type {
  CreatePartitionsRequest,
  CreateTopicsRequest,
  CreateTopicsRequestCreatableTopic,
  DeleteTopicsRequest,
  DescribeConfigsRequest,
  InitProducerIdRequest,
} from '../codec/index.js';
import { ApiKey } from '../codec/index.js';
import type { ApiHandler, KafkaBroker, RequestContext } from '../context.js';
import { KafkaError, kafkaErrorOf } from '../errors.js';
import { checkTopicConfigs, describeTopicConfigs, isRefusal, type TopicSettings } from '../topic-settings.js';
import { validTopicName } from '../topics.js';
import { txnErrorOf } from './transactions.js';

const resourceType = { topic: 2, broker: 4 } as const;

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

async function createOne(
  ctx: RequestContext,
  topic: CreateTopicsRequestCreatableTopic,
  validateOnly: boolean,
) {
  const { broker } = ctx;
  const fail = (errorCode: KafkaError, errorMessage: string) => ({
    name: topic.name,
    errorCode,
    errorMessage,
    numPartitions: -1,
    replicationFactor: -1,
    configs: null,
  });
  if (broker.vhost.stream(topic.name) !== undefined)
    return fail(KafkaError.topicAlreadyExists, `Topic '${topic.name}' already exists`);
  const settings = settingsOf(broker, topic);
  if (Array.isArray(settings)) return fail(settings[0], settings[1]);
  if (!validateOnly) {
    try {
      // The kept configs go in with the stream, so no request sees the new topic without them.
      const attributes = settings.kept;
      await broker.vhost.createStream(topic.name, {
        partitions: settings.partitions,
        ...settings.retention,
        attributes,
      });
    } catch (err) {
      return fail(
        kafkaErrorOf(err) === KafkaError.invalidRequest ? KafkaError.invalidPartitions : kafkaErrorOf(err),
        (err as Error).message,
      );
    }
  }
  return {
    name: topic.name,
    errorCode: KafkaError.none,
    errorMessage: null,
    numPartitions: settings.partitions,
    replicationFactor: 1,
    configs: describeTopicConfigs(settings.retention, settings.kept, broker.options.batchBytesMax),
  };
}

export const createTopicsHandler: ApiHandler = {
  apiKey: ApiKey.CreateTopics,
  versionMin: 0,
  versionMax: 7,
  async handle(ctx: RequestContext, request: CreateTopicsRequest) {
    const topics = [];
    for (const topic of request.topics) topics.push(await createOne(ctx, topic, request.validateOnly));
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
      if (ctx.broker.vhost.stream(name) === undefined) errorCode = KafkaError.unknownTopicOrPartition;
      else {
        try {
          // Core drops the topic's group offsets and producer sequences with it.
          await ctx.broker.vhost.deleteStream(name);
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
      const info = ctx.broker.vhost.stream(topic.name);
      let errorCode: KafkaError = KafkaError.none;
      let errorMessage: string | null = null;
      if (info === undefined) errorCode = KafkaError.unknownTopicOrPartition;
      else if (topic.count <= info.partitions) {
        errorCode = KafkaError.invalidPartitions;
        errorMessage = `Topic '${topic.name}' already has ${info.partitions} partitions`;
      } else if (!request.validateOnly) {
        try {
          await ctx.broker.vhost.addPartitions(topic.name, topic.count);
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

function brokerConfigs(ctx: RequestContext) {
  const o = ctx.broker.options;
  const entry = (name: string, value: string) => ({
    name,
    value,
    readOnly: true,
    isDefault: false,
    configSource: 4,
    isSensitive: false,
  });
  return [
    entry('auto.create.topics.enable', String(o.autoCreateTopics)),
    entry('num.partitions', String(o.defaultPartitions)),
    entry('message.max.bytes', String(o.batchBytesMax)),
    entry('group.initial.rebalance.delay.ms', String(o.groupInitialRebalanceDelayMs)),
  ];
}

export const describeConfigsHandler: ApiHandler = {
  apiKey: ApiKey.DescribeConfigs,
  versionMin: 0,
  versionMax: 4,
  handle(ctx: RequestContext, request: DescribeConfigsRequest) {
    const results = request.resources.map((r) => {
      const base = { resourceType: r.resourceType, resourceName: r.resourceName, errorMessage: null };
      let configs: Array<{ name: string; value: string; configSource: number }>;
      if (r.resourceType === resourceType.topic) {
        const { broker } = ctx;
        const info = broker.vhost.stream(r.resourceName);
        if (info === undefined)
          return { ...base, errorCode: KafkaError.unknownTopicOrPartition, configs: [] };
        const kept = broker.topicConfigs.kept(r.resourceName);
        configs = describeTopicConfigs(info, kept, broker.options.batchBytesMax);
      } else if (r.resourceType === resourceType.broker) configs = brokerConfigs(ctx);
      else return { ...base, errorCode: KafkaError.invalidRequest, configs: [] };
      const keys = r.configurationKeys;
      const chosen =
        keys === null || keys.length === 0 ? configs : configs.filter((c) => keys.includes(c.name));
      return { ...base, errorCode: KafkaError.none, configs: chosen };
    });
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
    const result = await ctx.broker.vhost.initTransactional(
      id,
      request.transactionTimeoutMs,
      Number(given),
      epoch,
    );
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
    if (request.transactionalId !== null) return initTransactional(ctx, request, request.transactionalId);
    const result = await ctx.broker.producers.initProducerId(request.producerId, request.producerEpoch);
    if (typeof result === 'number') return { errorCode: result, producerId: -1n, producerEpoch: -1 };
    return { errorCode: KafkaError.none, ...result };
  },
};
