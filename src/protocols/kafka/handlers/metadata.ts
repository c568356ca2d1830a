/**
 * Metadata (key 3), v0–12: one broker that leads every partition and is the controller. A topic the
 * client may not DESCRIBE is left out of a listing of all topics and answered TOPIC_AUTHORIZATION_FAILED
 * when named, without saying whether it exists; auto-creation needs CREATE on the cluster or the topic.
 */

import type { StreamInfo } from '../../../core/api.js';
import { allowed } from '../acls.js';
import {
  authorizedOperations,
  clusterOperationsIf,
  clusterResource,
  operationsNotAsked,
} from '../authorized-operations.js';
import type { KafkaInput, MetadataRequest, MetadataResponse, MetadataResponseTopic } from '../codec/index.js';
import { ApiKey } from '../codec/index.js';
import { type ApiHandler, clusterId, nodeId, type RequestContext } from '../context.js';
import { KafkaError } from '../errors.js';
import { topicNameOf } from '../topic-ids.js';
import { topicOrCreate } from '../topics.js';

/** Metadata answers at most this many topics; more would be a response no client can use. */
const metadataTopicsMax = 10_000;

type TopicOut = KafkaInput<MetadataResponseTopic>;

function describeTopic(
  ctx: RequestContext,
  request: MetadataRequest,
  { name, id, partitions }: StreamInfo,
): TopicOut {
  return {
    errorCode: KafkaError.none,
    name,
    topicId: id,
    isInternal: false,
    topicAuthorizedOperations: request.includeTopicAuthorizedOperations
      ? authorizedOperations(ctx, 'TOPIC', name)
      : operationsNotAsked,
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

async function requestedTopics(ctx: RequestContext, request: MetadataRequest): Promise<TopicOut[]> {
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
    if (!allowed(ctx, 'TOPIC', name, 'DESCRIBE')) {
      // Asked by id, the name is not disclosed (topic ids are not secret, names may be).
      const shown = topic.name === null ? { name: null, topicId: topic.topicId } : { name };
      out.push({ errorCode: KafkaError.topicAuthorizationFailed, ...shown, partitions: [] });
      continue;
    }
    const create =
      allowCreate &&
      (allowed(ctx, 'CLUSTER', clusterResource, 'CREATE') || allowed(ctx, 'TOPIC', name, 'CREATE'));
    const found = await topicOrCreate(ctx, name, create);
    // A topic that would have been created but for the ACLs is refused as Kafka refuses it.
    const refused =
      found === KafkaError.unknownTopicOrPartition &&
      allowCreate &&
      !create &&
      ctx.broker.options.autoCreateTopics;
    out.push(
      typeof found === 'number'
        ? { errorCode: refused ? KafkaError.topicAuthorizationFailed : found, name, partitions: [] }
        : describeTopic(ctx, request, found),
    );
  }
  return out;
}

/** Every topic, less those the caller may not see (no permission on the name), as Kafka leaves them out. */
export const metadataHandler: ApiHandler = {
  apiKey: ApiKey.Metadata,
  versionMin: 0,
  versionMax: 12,
  async handle(ctx: RequestContext, request: MetadataRequest): Promise<KafkaInput<MetadataResponse>> {
    const topics = wantsAll(ctx, request)
      ? ctx.client
          .streams()
          .filter((s) => allowed(ctx, 'TOPIC', s.name, 'DESCRIBE'))
          .slice(0, metadataTopicsMax)
          .map((s) => describeTopic(ctx, request, s))
      : await requestedTopics(ctx, request);
    return {
      brokers: [{ nodeId, host: ctx.advertisedHost, port: ctx.advertisedPort, rack: null }],
      clusterId,
      controllerId: nodeId,
      // v8–10 (KIP-430); later versions ask DescribeCluster.
      clusterAuthorizedOperations: clusterOperationsIf(ctx, request.includeClusterAuthorizedOperations),
      topics,
    };
  },
};
