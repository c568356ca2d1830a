/**
 * Topic administration and producer ids: CreateTopics 0–7, DeleteTopics 0–5, CreatePartitions 0–3,
 * DescribeConfigs 0–4, InitProducerId 0–4. One node, so replication factor 1 is the only one offered.
 */
import type { StreamInfo } from '../../../core/api.js';
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
import { validTopicName } from '../topics.js';

/** Kafka's config source codes (DescribeConfigs): 5 = default, 1 = dynamic topic config. */
const configSource = { topic: 1, defaultConfig: 5 } as const;
const resourceType = { topic: 2, broker: 4 } as const;

interface TopicSettings {
  partitions: number;
  bytesMax?: number;
  ageMsMax?: number;
}

function settingsOf(
  broker: KafkaBroker,
  topic: CreateTopicsRequestCreatableTopic,
): TopicSettings | [KafkaError, string] {
  if (!validTopicName(topic.name))
    return [KafkaError.invalidTopic, `Topic name '${topic.name}' is not legal`];
  if (topic.replicationFactor > 1)
    return [KafkaError.invalidReplicationFactor, 'Replication factor must be 1 on a single node'];
  const partitions =
    topic.assignments.length > 0
      ? topic.assignments.length
      : topic.numPartitions === -1
        ? broker.options.defaultPartitions
        : topic.numPartitions;
  if (!Number.isInteger(partitions) || partitions < 1)
    return [KafkaError.invalidPartitions, 'Number of partitions must be at least 1'];
  const settings: TopicSettings = { partitions };
  for (const config of topic.configs) {
    const value = Number(config.value);
    if (config.name === 'retention.ms' && value > 0) settings.ageMsMax = value;
    else if (config.name === 'retention.bytes' && value > 0) settings.bytesMax = value;
    else if ((config.name === 'retention.ms' || config.name === 'retention.bytes') && value !== -1) {
      return [KafkaError.invalidConfig, `Invalid value '${config.value}' for ${config.name}`];
    }
  }
  return settings;
}

function topicConfigs(info: { bytesMax?: number; ageMsMax?: number } | undefined) {
  return [
    {
      name: 'retention.ms',
      value: String(info?.ageMsMax ?? -1),
      readOnly: false,
      isDefault: info?.ageMsMax === undefined,
      configSource: info?.ageMsMax === undefined ? configSource.defaultConfig : configSource.topic,
      isSensitive: false,
    },
    {
      name: 'retention.bytes',
      value: String(info?.bytesMax ?? -1),
      readOnly: false,
      isDefault: info?.bytesMax === undefined,
      configSource: info?.bytesMax === undefined ? configSource.defaultConfig : configSource.topic,
      isSensitive: false,
    },
    {
      name: 'cleanup.policy',
      value: 'delete',
      readOnly: true,
      isDefault: true,
      configSource: configSource.defaultConfig,
      isSensitive: false,
    },
    {
      name: 'compression.type',
      value: 'producer',
      readOnly: true,
      isDefault: true,
      configSource: configSource.defaultConfig,
      isSensitive: false,
    },
  ];
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
  let info: StreamInfo | undefined;
  if (!validateOnly) {
    try {
      info = await broker.vhost.createStream(topic.name, settings);
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
    configs: topicConfigs(info ?? settings),
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
        const info = ctx.broker.vhost.stream(r.resourceName);
        if (info === undefined)
          return { ...base, errorCode: KafkaError.unknownTopicOrPartition, configs: [] };
        configs = topicConfigs(info);
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

export const initProducerIdHandler: ApiHandler = {
  apiKey: ApiKey.InitProducerId,
  versionMin: 0,
  versionMax: 4,
  async handle(ctx: RequestContext, request: InitProducerIdRequest) {
    // Transactions are not offered; a transactional id cannot get a producer id.
    if (request.transactionalId !== null)
      return { errorCode: KafkaError.coordinatorNotAvailable, producerId: -1n, producerEpoch: -1 };
    const result = await ctx.broker.producers.initProducerId(request.producerId, request.producerEpoch);
    if (typeof result === 'number') return { errorCode: result, producerId: -1n, producerEpoch: -1 };
    return { errorCode: KafkaError.none, ...result };
  },
};
