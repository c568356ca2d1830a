/**
 * The consumer group protocol of KIP-848 over ../consumer-groups.ts: ConsumerGroupHeartbeat 0–1 and
 * ConsumerGroupDescribe 0–1. Assignments travel by topic id (../topic-ids.ts). A group is one protocol
 * or the other: a heartbeat for a classic group that has members answers GROUP_ID_NOT_FOUND, as Kafka
 * does without online migration, and a classic JoinGroup for a KIP-848 group with members
 * INCONSISTENT_GROUP_PROTOCOL (handlers/groups.ts).
 */

import { allowed, heartbeatRefusal } from '../acls.js';
import type { Assignment } from '../assignors.js';
import { groupOperationsIf } from '../authorized-operations.js';
import type {
  ConsumerGroupDescribeRequest,
  ConsumerGroupDescribeResponse,
  ConsumerGroupHeartbeatRequest,
  ConsumerGroupHeartbeatResponse,
  KafkaInput,
} from '../codec/index.js';
import { ApiKey } from '../codec/index.js';
import { type ApiHandler, Later, type RequestContext, type Scope } from '../context.js';
import { KafkaError } from '../errors.js';
import { topicIdOf, topicNameOf, zeroTopicId } from '../topic-ids.js';

function ownedOf(ctx: Scope, owned: ConsumerGroupHeartbeatRequest['topicPartitions']): Assignment | null {
  if (owned === null) return null;
  const out: Assignment = new Map();
  for (const t of owned) {
    const name = topicNameOf(ctx, t.topicId);
    // A topic deleted meanwhile (or created again: a new id) is owned by nobody any more.
    if (name !== undefined) out.set(name, new Set(t.partitions));
  }
  return out;
}

/** An assignment by topic id; a topic deleted since it was assigned has no id and is left out. */
export function byTopicId(
  ctx: Scope,
  a: Assignment,
): Array<{ topicId: string; topicName: string; partitions: number[] }> {
  return [...a]
    .filter(([, s]) => s.size > 0)
    .map(([topic, s]) => ({
      topicId: topicIdOf(ctx, topic),
      topicName: topic,
      partitions: [...s].sort((x, y) => x - y),
    }))
    .filter((t) => t.topicId !== zeroTopicId);
}

/**
 * What Kafka's coordinator refuses in a joining heartbeat (epoch 0) before anything else (KIP-848;
 * GroupMetadataManager's request checks): no rebalance timeout (-1), so the broker would have no
 * deadline for the member's revocations, and partitions said to be owned while joining.
 */
function joinRefusal(request: ConsumerGroupHeartbeatRequest): string | undefined {
  if (request.memberEpoch !== 0) return undefined;
  if (request.rebalanceTimeoutMs === -1) return 'RebalanceTimeoutMs must be provided in first request.';
  if (request.topicPartitions === null || request.topicPartitions.length > 0)
    return 'TopicPartitions must be empty when (re-)joining.';
  return undefined;
}

async function heartbeat(
  ctx: RequestContext,
  request: ConsumerGroupHeartbeatRequest,
): Promise<KafkaInput<ConsumerGroupHeartbeatResponse>> {
  const { broker } = ctx;
  const refused = heartbeatRefusal(ctx, request.groupId, request.subscribedTopicNames);
  if (refused !== undefined) return refused;
  const classic = broker.groups.describe(request.groupId);
  if (classic.members.length > 0 || (broker.shareGroups.describe(request.groupId)?.members.length ?? 0) > 0)
    return {
      errorCode: KafkaError.groupIdNotFound,
      errorMessage: `Group ${request.groupId} is not a consumer group.`,
      memberEpoch: -1,
    };
  if (request.groupId === '')
    return { errorCode: KafkaError.invalidRequest, errorMessage: "GroupId can't be empty.", memberEpoch: -1 };
  const unjoinable = joinRefusal(request);
  if (unjoinable !== undefined)
    return { errorCode: KafkaError.invalidRequest, errorMessage: unjoinable, memberEpoch: -1 };
  const result = await broker.consumerGroups.heartbeat({
    groupId: request.groupId,
    memberId: request.memberId,
    memberEpoch: request.memberEpoch,
    instanceId: request.instanceId,
    rackId: request.rackId,
    rebalanceTimeoutMs: request.rebalanceTimeoutMs,
    subscribedTopicNames: request.subscribedTopicNames,
    subscribedTopicRegex: request.subscribedTopicRegex,
    serverAssignor: request.serverAssignor,
    owned: ownedOf(ctx, request.topicPartitions),
    clientId: ctx.clientId,
    clientHost: ctx.clientHost,
    mayDescribe: (topic) => allowed(ctx, 'TOPIC', topic, 'DESCRIBE'),
  });
  return {
    errorCode: result.errorCode,
    errorMessage: result.errorMessage,
    memberId: result.memberId === '' ? null : result.memberId,
    memberEpoch: result.memberEpoch,
    heartbeatIntervalMs:
      result.errorCode === KafkaError.none
        ? ctx.broker.shareGroups.consumerTimingOf(request.groupId).heartbeatMs
        : 0,
    assignment: result.assignment === null ? null : { topicPartitions: byTopicId(ctx, result.assignment) },
  };
}

export const consumerGroupHeartbeatHandler: ApiHandler = {
  apiKey: ApiKey.ConsumerGroupHeartbeat,
  versionMin: 0,
  versionMax: 1,
  handle(ctx: RequestContext, request: ConsumerGroupHeartbeatRequest): Later {
    return new Later(heartbeat(ctx, request));
  },
};

export const consumerGroupDescribeHandler: ApiHandler = {
  apiKey: ApiKey.ConsumerGroupDescribe,
  versionMin: 0,
  versionMax: 1,
  handle(
    ctx: RequestContext,
    request: ConsumerGroupDescribeRequest,
  ): KafkaInput<ConsumerGroupDescribeResponse> {
    const vhost = ctx.broker.options.vhost;
    const groups = request.groupIds.map((groupId) => {
      if (!allowed(ctx, 'GROUP', groupId, 'DESCRIBE'))
        return {
          groupId,
          errorCode: KafkaError.groupAuthorizationFailed,
          errorMessage: null,
          groupState: '',
        };
      const g = ctx.broker.consumerGroups.describe(groupId);
      if (g === undefined) {
        const classic = ctx.broker.groups.has(groupId);
        return {
          groupId,
          errorCode: KafkaError.groupIdNotFound,
          errorMessage: classic ? `Group ${groupId} is not a consumer group.` : `Group ${groupId} not found.`,
          groupState: 'Dead',
        };
      }
      return {
        groupId,
        errorCode: KafkaError.none,
        groupState:
          g.state === 'empty'
            ? 'Empty'
            : g.state === 'stable'
              ? 'Stable'
              : g.state === 'assigning'
                ? 'Assigning'
                : 'Reconciling',
        groupEpoch: g.epoch,
        assignmentEpoch: g.assignmentEpoch,
        assignorName: g.assignor,
        authorizedOperations: groupOperationsIf(ctx, request.includeAuthorizedOperations, groupId),
        members: g.members.map((m) => ({
          memberId: m.memberId,
          instanceId: m.instanceId,
          rackId: m.rackId,
          memberEpoch: m.memberEpoch,
          clientId: m.clientId,
          clientHost: m.clientHost,
          subscribedTopicNames: [...m.subscribedTopicNames],
          subscribedTopicRegex: m.subscribedTopicRegex,
          assignment: { topicPartitions: byTopicId(ctx, m.assignment) },
          targetAssignment: { topicPartitions: byTopicId(ctx, m.targetAssignment) },
          // v1: 1 for a member of the consumer protocol (0 would be a classic member of the group).
          memberType: 1,
        })),
      };
    });
    return { groups };
  },
};
