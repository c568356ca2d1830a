/**
 * Consumer-group APIs over the coordinator (../groups.ts): FindCoordinator 0–4, JoinGroup 0–7,
 * SyncGroup 0–5, Heartbeat 0–4, LeaveGroup 0–4, DescribeGroups 0–5, ListGroups 0–5, DeleteGroups 0–2.
 * Members need READ on the group, describing it DESCRIBE, deleting it DELETE (GROUP_AUTHORIZATION_FAILED
 * otherwise); ListGroups lists every group to whoever may DESCRIBE the cluster, and otherwise the
 * groups the client may DESCRIBE.
 */

import { allowed } from '../acls.js';
import { clusterResource, groupOperationsIf } from '../authorized-operations.js';
import type {
  DeleteGroupsRequest,
  DescribeGroupsRequest,
  FindCoordinatorRequest,
  FindCoordinatorResponse,
  HeartbeatRequest,
  JoinGroupRequest,
  KafkaInput,
  LeaveGroupRequest,
  ListGroupsRequest,
  SyncGroupRequest,
} from '../codec/index.js';
import { ApiKey } from '../codec/index.js';
import { type ApiHandler, Later, nodeId, type RequestContext } from '../context.js';
import { KafkaError, kafkaErrorOf } from '../errors.js';

/** FindCoordinator's key type 1: a transactional id (0 is a group). */
const transactionKeyType = 1;

export const findCoordinatorHandler: ApiHandler = {
  apiKey: ApiKey.FindCoordinator,
  versionMin: 0,
  versionMax: 4,
  handle(ctx: RequestContext, request: FindCoordinatorRequest): KafkaInput<FindCoordinatorResponse> {
    // One node coordinates everything: groups (key type 0) and transactional ids (1).
    const errorCode = KafkaError.none;
    const here = { nodeId, host: ctx.advertisedHost, port: ctx.advertisedPort };
    // v4 batches keys (KIP-699); v0–3 carry one key and answer at the top level.
    const keys = ctx.apiVersion >= 4 ? request.coordinatorKeys : [request.key];
    const codeOf = (key: string): KafkaError =>
      request.keyType === transactionKeyType
        ? allowed(ctx, 'TRANSACTIONAL_ID', key, 'DESCRIBE')
          ? errorCode
          : KafkaError.transactionalIdAuthorizationFailed
        : allowed(ctx, 'GROUP', key, 'DESCRIBE')
          ? errorCode
          : KafkaError.groupAuthorizationFailed;
    const refusal = ctx.apiVersion >= 4 ? errorCode : codeOf(request.key);
    return {
      errorCode: refusal,
      errorMessage: null,
      ...(refusal === errorCode ? here : { nodeId: -1, host: '', port: -1 }),
      coordinators: keys.map((key) => ({ key, errorCode: codeOf(key), errorMessage: null, ...here })),
    };
  },
};

/** JoinGroup's answer when the member is not let in. */
function joinRefused(ctx: RequestContext, request: JoinGroupRequest, errorCode: number): Later {
  return new Later(
    Promise.resolve({
      errorCode,
      generationId: -1,
      protocolName: ctx.apiVersion >= 7 ? null : '',
      leader: '',
      memberId: request.memberId,
      members: [],
    }),
  );
}

export const joinGroupHandler: ApiHandler = {
  apiKey: ApiKey.JoinGroup,
  versionMin: 0,
  versionMax: 7,
  handle(ctx: RequestContext, request: JoinGroupRequest): Later {
    // v0 has no rebalance timeout; Kafka uses the session timeout then.
    const rebalanceTimeoutMs = ctx.apiVersion === 0 ? request.sessionTimeoutMs : request.rebalanceTimeoutMs;
    if (!allowed(ctx, 'GROUP', request.groupId, 'READ'))
      return joinRefused(ctx, request, KafkaError.groupAuthorizationFailed);
    // A group is one protocol or the other (KIP-848): a classic member cannot join a consumer group.
    if (
      ctx.broker.consumerGroups.hasMembers(request.groupId) ||
      (ctx.broker.shareGroups.describe(request.groupId)?.members.length ?? 0) > 0
    )
      return joinRefused(ctx, request, KafkaError.inconsistentGroupProtocol);
    // The group keeps each member's metadata for as long as the member stays (up to the longest session
    // timeout): bounded per member, so that many members of many groups cannot hold the request limit each.
    let metadataBytes = 0;
    for (const p of request.protocols) metadataBytes += p.metadata.byteLength;
    if (metadataBytes > ctx.broker.options.memberMetadataBytesMax)
      return joinRefused(ctx, request, KafkaError.invalidRequest);
    ctx.broker.consumerGroups.yieldToClassic(request.groupId);
    const result = ctx.broker.groups.join({
      groupId: request.groupId,
      memberId: request.memberId,
      groupInstanceId: request.groupInstanceId,
      clientId: ctx.clientId,
      clientHost: ctx.clientHost,
      sessionTimeoutMs: request.sessionTimeoutMs,
      rebalanceTimeoutMs,
      protocolType: request.protocolType,
      protocols: request.protocols.map((p) => ({ name: p.name, metadata: Uint8Array.from(p.metadata) })),
      requireKnownMemberId: ctx.apiVersion >= 4,
    });
    return new Later(
      result.then((r) => ({
        ...r,
        protocolName: ctx.apiVersion >= 7 ? r.protocolName : (r.protocolName ?? ''),
      })),
    );
  },
};

export const syncGroupHandler: ApiHandler = {
  apiKey: ApiKey.SyncGroup,
  versionMin: 0,
  versionMax: 5,
  handle(ctx: RequestContext, request: SyncGroupRequest): Later {
    if (!allowed(ctx, 'GROUP', request.groupId, 'READ'))
      return new Later(
        Promise.resolve({ errorCode: KafkaError.groupAuthorizationFailed, assignment: new Uint8Array(0) }),
      );
    const assignments = request.assignments.map((a) => ({ memberId: a.memberId, assignment: a.assignment }));
    const result = ctx.broker.groups.sync(
      request.groupId,
      request.memberId,
      request.generationId,
      request.groupInstanceId,
      assignments,
    );
    return new Later(result);
  },
};

export const heartbeatHandler: ApiHandler = {
  apiKey: ApiKey.Heartbeat,
  versionMin: 0,
  versionMax: 4,
  handle(ctx: RequestContext, request: HeartbeatRequest) {
    if (!allowed(ctx, 'GROUP', request.groupId, 'READ'))
      return { errorCode: KafkaError.groupAuthorizationFailed };
    return {
      errorCode: ctx.broker.groups.heartbeat(
        request.groupId,
        request.memberId,
        request.generationId,
        request.groupInstanceId,
      ),
    };
  },
};

export const leaveGroupHandler: ApiHandler = {
  apiKey: ApiKey.LeaveGroup,
  versionMin: 0,
  versionMax: 4,
  handle(ctx: RequestContext, request: LeaveGroupRequest) {
    const groups = ctx.broker.groups;
    if (!allowed(ctx, 'GROUP', request.groupId, 'READ'))
      return { errorCode: KafkaError.groupAuthorizationFailed };
    if (ctx.apiVersion < 3) return { errorCode: groups.leave(request.groupId, request.memberId, null) };
    // v3+ leave in batches (KIP-345); the top-level code is the first member's failure, if any.
    const members = request.members.map((m) => ({
      memberId: m.memberId,
      groupInstanceId: m.groupInstanceId,
      errorCode: groups.leave(request.groupId, m.memberId, m.groupInstanceId),
    }));
    return { errorCode: KafkaError.none, members };
  },
};

export const describeGroupsHandler: ApiHandler = {
  apiKey: ApiKey.DescribeGroups,
  versionMin: 0,
  versionMax: 5,
  handle(ctx: RequestContext, request: DescribeGroupsRequest) {
    const groups = request.groups.map((groupId) => {
      if (!allowed(ctx, 'GROUP', groupId, 'DESCRIBE'))
        return { errorCode: KafkaError.groupAuthorizationFailed, groupId, members: [] };
      const g = ctx.broker.groups.describe(groupId);
      const members = g.members.map((m) => ({
        memberId: m.memberId,
        groupInstanceId: m.groupInstanceId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        memberMetadata: m.metadata,
        memberAssignment: m.assignment,
      }));
      return {
        errorCode: KafkaError.none,
        groupId,
        groupState: g.state,
        protocolType: g.protocolType,
        protocolData: g.protocol,
        members,
        authorizedOperations: groupOperationsIf(ctx, request.includeAuthorizedOperations, groupId),
      };
    });
    return { groups };
  },
};

/** A group as ListGroups lists it; `groupType` is KIP-848's (v5+): classic, consumer or share. */
interface ListedGroup {
  groupId: string;
  protocolType: string;
  groupState: string;
  groupType: string;
}

export const listGroupsHandler: ApiHandler = {
  apiKey: ApiKey.ListGroups,
  versionMin: 0,
  versionMax: 5,
  handle(ctx: RequestContext, request: ListGroupsRequest) {
    const states = new Set(request.statesFilter.map((s) => s.toLowerCase()));
    // KIP-848: the types filter (v5) matches group types case-insensitively; empty lists every type.
    const types = new Set(request.typesFilter.map((t) => t.toLowerCase()));
    const groups = everyGroup(ctx).filter(
      (g) =>
        (states.size === 0 || states.has(g.groupState.toLowerCase())) &&
        (types.size === 0 || types.has(g.groupType)),
    );
    // Kafka lists every group to whoever may DESCRIBE the cluster, and otherwise those it may DESCRIBE.
    const all = allowed(ctx, 'CLUSTER', clusterResource, 'DESCRIBE');
    const visible = all ? groups : groups.filter((g) => allowed(ctx, 'GROUP', g.groupId, 'DESCRIBE'));
    return { errorCode: KafkaError.none, groups: visible };
  },
};

/** Classic, KIP-848 and share groups (KIP-932), each with the protocol type Kafka gives it. */
function everyGroup(ctx: RequestContext): ListedGroup[] {
  const classic = ctx.broker.groups
    .list()
    // An empty classic group that became a consumer group is listed once, as the latter.
    .filter((g) => !ctx.broker.consumerGroups.has(g.groupId))
    .map((g) => ({
      groupId: g.groupId,
      protocolType: g.protocolType,
      groupState: g.state,
      groupType: 'classic',
    }));
  const consumer = ctx.broker.consumerGroups.list().map((g) => ({
    groupId: g.groupId,
    protocolType: 'consumer',
    groupState: capitalized(g.state),
    groupType: 'consumer',
  }));
  const share = ctx.broker.shareGroups
    .list()
    .map((g) => ({ groupId: g.groupId, protocolType: 'share', groupState: g.state, groupType: 'share' }));
  return [...classic, ...consumer, ...share];
}

function capitalized(state: string): string {
  return state.charAt(0).toUpperCase() + state.slice(1);
}

export const deleteGroupsHandler: ApiHandler = {
  apiKey: ApiKey.DeleteGroups,
  versionMin: 0,
  versionMax: 2,
  async handle(ctx: RequestContext, request: DeleteGroupsRequest) {
    const results = [];
    for (const groupId of request.groupsNames) {
      if (!allowed(ctx, 'GROUP', groupId, 'DELETE')) {
        results.push({ groupId, errorCode: KafkaError.groupAuthorizationFailed });
        continue;
      }
      const consumer = ctx.broker.consumerGroups.delete(groupId) ?? ctx.broker.shareGroups.delete(groupId);
      const known =
        consumer !== undefined ||
        ctx.broker.groups.has(groupId) ||
        ctx.client.groupOffsets(groupId).length > 0;
      let errorCode: KafkaError = !known
        ? KafkaError.groupIdNotFound
        : consumer === KafkaError.nonEmptyGroup
          ? consumer
          : ctx.broker.groups.delete(groupId);
      if (errorCode === KafkaError.none) {
        try {
          await ctx.client.deleteGroupOffsets(groupId);
        } catch (err) {
          errorCode = kafkaErrorOf(err);
        }
      }
      results.push({ groupId, errorCode });
    }
    return { results };
  },
};
