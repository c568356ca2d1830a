/** Metadata (key 3), v0–12: one broker that leads every partition and is the controller. */

import type { StreamInfo } from '../../../core/api.js';
import { clusterOperations, operationsNotAsked, topicOperations } from '../authorized-operations.js';
import type { KafkaInput, MetadataRequest, MetadataResponse, MetadataResponseTopic } from '../codec/index.js';
import { ApiKey } from '../codec/index.js';
import { type ApiHandler, clusterId, nodeId, type RequestContext } from '../context.js';
import { KafkaError } from '../errors.js';
import { topicIdOf, topicNameOf } from '../topic-ids.js';
import { topicOrCreate } from '../topics.js';

/** Metadata answers at most this many topics; more would be a response no client can use. */
const metadataTopicsMax = 10_000;

type TopicOut = KafkaInput<MetadataResponseTopic>;

function describeTopic(vhost: string, name: string, partitions: number, operations: number): TopicOut {
  return {
    errorCode: KafkaError.none,
    name,
    topicId: topicIdOf(vhost, name),
    isInternal: false,
    topicAuthorizedOperations: operations,
    partitions: Array.from({ length: partitions }, (_, index) => ({
      errorCode: KafkaError.none,
      partitionIndex: index,
      leaderId: nodeId,
      leaderEpoch: 0,
      replicaNodes: [nodeId],
      isrNodes: [nodeId],
      offlineReplicas: [],
    })),
  };
}

/** v0: an empty list means every topic; v1+: null means every topic and [] none (KIP-4). */
function wantsAll(ctx: RequestContext, request: MetadataRequest): boolean {
  if (request.topics === null) return true;
  return ctx.apiVersion === 0 && request.topics.length === 0;
}

async function requestedTopics(
  ctx: RequestContext,
  request: MetadataRequest,
  operations: number,
): Promise<TopicOut[]> {
  // v0–3 have no allowAutoTopicCreation field; the decoder fills in its default, true.
  const allowCreate = request.allowAutoTopicCreation;
  const out: TopicOut[] = [];
  for (const topic of (request.topics ?? []).slice(0, metadataTopicsMax)) {
    // v10+ may name a topic by id alone (KIP-516).
    const name = topic.name ?? topicNameOf(ctx, topic.topicId);
    if (name === undefined) {
      out.push({ errorCode: KafkaError.unknownTopicId, name: null, topicId: topic.topicId, partitions: [] });
      continue;
    }
    const found = await topicOrCreate(ctx, name, allowCreate);
    out.push(
      typeof found === 'number'
        ? { errorCode: found, name, partitions: [] }
        : describeTopic(ctx.broker.options.vhost, name, found.partitions, operations),
    );
  }
  return out;
}

/** Every topic, less those the caller may not see (no permission on the name), as Kafka leaves them out. */
function visibleTopics(ctx: RequestContext): StreamInfo[] {
  return ctx.client.streams().filter((s) => {
    try {
      return ctx.client.stream(s.name) !== undefined;
    } catch {
      return false;
    }
  });
}

export const metadataHandler: ApiHandler = {
  apiKey: ApiKey.Metadata,
  versionMin: 0,
  versionMax: 12,
  async handle(ctx: RequestContext, request: MetadataRequest): Promise<KafkaInput<MetadataResponse>> {
    // v8+ (KIP-430): no authorizer, so every supported operation, as Kafka answers without one.
    const operations = request.includeTopicAuthorizedOperations ? topicOperations : operationsNotAsked;
    const topics = wantsAll(ctx, request)
      ? visibleTopics(ctx)
          .slice(0, metadataTopicsMax)
          .map((s) => describeTopic(ctx.broker.options.vhost, s.name, s.partitions, operations))
      : await requestedTopics(ctx, request, operations);
    return {
      brokers: [{ nodeId, host: ctx.advertisedHost, port: ctx.advertisedPort, rack: null }],
      clusterId,
      controllerId: nodeId,
      clusterAuthorizedOperations: request.includeClusterAuthorizedOperations
        ? clusterOperations
        : operationsNotAsked,
      topics,
    };
  },
};
