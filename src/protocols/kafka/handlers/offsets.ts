/**
 * ListOffsets 0–7 (earliest, latest, by timestamp, the largest timestamp), OffsetCommit 0–9 and OffsetFetch 0–9 (v9 checks a
 * KIP-848 member's epoch), and OffsetDelete 0 (KIP-496), the last three over core's group offsets,
 * which are durable: a commit is answered once it is stored. As Kafka checks them: ListOffsets needs
 * DESCRIBE on the topic, committing READ on the group and the topic, fetching DESCRIBE on both (topics
 * the client may not DESCRIBE are left out of a fetch of all), deleting DELETE on the group.
 */

import type { StreamPartition } from '../../../core/api.js';
import { assert } from '../../../shared/assert.js';
import type { LogEntry } from '../../../storage/types.js';
import { allowed } from '../acls.js';
import type {
  KafkaInput,
  ListOffsetsRequest,
  ListOffsetsResponseListOffsetsPartitionResponse,
  OffsetCommitRequest,
  OffsetDeleteRequest,
  OffsetFetchRequest,
  OffsetFetchResponsePartition,
} from '../codec/index.js';
import { ApiKey, KafkaReader } from '../codec/index.js';
import { type ApiHandler, Later, type RequestContext, type Scope } from '../context.js';
import { batchRecords, kafkaBatchFormat } from '../entry-format.js';
import { KafkaError, kafkaErrorOf } from '../errors.js';
import { isKafkaError, partitionOf } from '../topics.js';

const latestTimestamp = -1n;
const earliestTimestamp = -2n;
const maxTimestampSpec = -3n;

type ListOut = KafkaInput<ListOffsetsResponseListOffsetsPartitionResponse>;

/** Entries looked at past the time index's answer before giving up on a batch whose header lied. */
const timeScanEntriesMax = 64;

/** The first record of one stored entry stamped at or after `target`, with that stamp. */
function recordInEntry(entry: LogEntry, target: number): { offset: number; timestamp: number } | undefined {
  // Entries other protocols wrote are one message each, stamped with its time.
  if (entry.format !== kafkaBatchFormat || entry.timestamp >= target) {
    return { offset: entry.offset, timestamp: entry.timestamp };
  }
  // Only the batch that straddles the target is decoded (and inflated, when compressed).
  const batch = batchRecords(entry.payload);
  for (const record of batch.records) {
    const at = Number(batch.logAppendTime ? batch.maxTimestamp : batch.baseTimestamp + record.timestampDelta);
    if (at >= target) return { offset: entry.offset + record.offsetDelta, timestamp: at };
  }
  return undefined;
}

/**
 * The first record whose timestamp is ≥ `target` (ListOffsets by time, KIP-79): the time index finds
 * the first entry whose max timestamp reaches it, and that entry's records are searched.
 */
function firstRecordAtOrAfter(
  partition: StreamPartition,
  target: number,
): { offset: number; timestamp: number } | undefined {
  let offset = partition.offsetForTimestamp(target);
  for (let scanned = 0; scanned < timeScanEntriesMax && offset < partition.endOffset; scanned++) {
    const entry = partition.read(offset, { maxEntries: 1 })[0];
    if (entry === undefined) return undefined;
    if (entry.maxTimestamp >= target) {
      const hit = recordInEntry(entry, target);
      if (hit !== undefined) return hit;
    }
    offset = entry.offset + entry.count;
  }
  return undefined;
}

/** Steps of the search for the largest timestamp: halving the span of safe integers ends within 54. */
const maxTimestampStepsMax = 64;

/**
 * The first record stamped with the partition's largest timestamp (ListOffsets v7's MAX_TIMESTAMP,
 * KIP-734; the record itself, not its batch's last offset, since Kafka 3.8 fixed KAFKA-16310). The
 * time index answers "the first entry reaching t" for any t, which only grows with t, so the largest
 * timestamp is the largest t it finds an entry for.
 */
function recordWithMaxTimestamp(
  partition: StreamPartition,
): { offset: number; timestamp: number } | undefined {
  const reaches = (t: number) => partition.offsetForTimestamp(t) < partition.endOffset;
  let low = Number.MIN_SAFE_INTEGER;
  if (!reaches(low)) return undefined;
  let high = Number.MAX_SAFE_INTEGER;
  let steps = 0;
  while (low < high) {
    assert(++steps <= maxTimestampStepsMax, 'the search for the largest timestamp ends');
    const mid = low + Math.ceil((high - low) / 2);
    if (reaches(mid)) low = mid;
    else high = mid - 1;
  }
  const entry = partition.read(partition.offsetForTimestamp(low), { maxEntries: 1 })[0];
  return entry === undefined ? undefined : recordInEntry(entry, low);
}

function listOffset(
  ctx: Scope,
  topic: string,
  index: number,
  timestamp: bigint,
  version: number,
  committed: boolean,
): ListOut {
  const partition = partitionOf(ctx, topic, index);
  if (isKafkaError(partition)) return { partitionIndex: index, errorCode: partition };
  let offset: number;
  let found = -1n;
  // read_committed (v2+, KIP-98): the latest offset is the last stable one.
  if (timestamp === latestTimestamp) offset = committed ? partition.stableOffset : partition.endOffset;
  else if (timestamp === earliestTimestamp) offset = partition.startOffset;
  else {
    const hit =
      timestamp === maxTimestampSpec
        ? recordWithMaxTimestamp(partition)
        : firstRecordAtOrAfter(partition, Number(timestamp));
    offset = hit?.offset ?? -1;
    found = hit === undefined ? -1n : BigInt(hit.timestamp);
  }
  // v0 answers a list of offsets (maxNumOffsets); the newest-first list holds just this one.
  const oldStyleOffsets = version === 0 && offset >= 0 ? [BigInt(offset)] : [];
  return {
    partitionIndex: index,
    errorCode: KafkaError.none,
    oldStyleOffsets,
    timestamp: found,
    offset: BigInt(offset),
    leaderEpoch: 0,
  };
}

export const listOffsetsHandler: ApiHandler = {
  apiKey: ApiKey.ListOffsets,
  versionMin: 0,
  versionMax: 7,
  handle(ctx: RequestContext, request: ListOffsetsRequest) {
    const topics = request.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p) => {
        if (!allowed(ctx, 'TOPIC', t.name, 'DESCRIBE'))
          return { partitionIndex: p.partitionIndex, errorCode: KafkaError.topicAuthorizationFailed };
        try {
          const committed = ctx.apiVersion >= 2 && request.isolationLevel === 1;
          return listOffset(ctx, t.name, p.partitionIndex, p.timestamp, ctx.apiVersion, committed);
        } catch (err) {
          return { partitionIndex: p.partitionIndex, errorCode: kafkaErrorOf(err) };
        }
      }),
    }));
    return { topics };
  },
};

/** An OffsetCommit partition; `committedLeaderEpoch` is -1 before v6 and when the client knows none. */
interface Commit {
  readonly partitionIndex: number;
  readonly committedOffset: bigint;
  readonly committedLeaderEpoch: number;
  readonly committedMetadata: string | null;
}

async function commitOne(ctx: Scope, group: string, topic: string, commit: Commit): Promise<KafkaError> {
  const { client } = ctx;
  const index = commit.partitionIndex;
  const partition = partitionOf(ctx, topic, index);
  if (isKafkaError(partition)) return partition;
  // KIP-320: the epoch is kept for OffsetFetch to hand back, so a consumer can validate its position.
  const epoch = commit.committedLeaderEpoch;
  try {
    await client.commitOffset(group, topic, index, {
      offset: Number(commit.committedOffset),
      metadata: commit.committedMetadata ?? '',
      committedAt: Date.now(),
      ...(epoch >= 0 ? { leaderEpoch: epoch } : {}),
    });
    return KafkaError.none;
  } catch (err) {
    return kafkaErrorOf(err);
  }
}

export const offsetCommitHandler: ApiHandler = {
  apiKey: ApiKey.OffsetCommit,
  versionMin: 0,
  versionMax: 9,
  handle(ctx: RequestContext, request: OffsetCommitRequest): Later {
    const { broker } = ctx;
    // v0 commits are standalone (no generation); v1+ name the member and generation.
    const generation = ctx.apiVersion === 0 ? -1 : request.generationIdOrMemberEpoch;
    const memberId = ctx.apiVersion === 0 ? '' : request.memberId;
    // v9+ carries a KIP-848 member's epoch where classic members send their generation.
    const check = !allowed(ctx, 'GROUP', request.groupId, 'READ')
      ? KafkaError.groupAuthorizationFailed
      : (broker.consumerGroups.checkCommit(request.groupId, memberId, generation) ??
        broker.groups.checkCommit(request.groupId, memberId, generation, request.groupInstanceId));
    const topics = request.topics.map(async (t) => {
      const refused = check === KafkaError.none && !allowed(ctx, 'TOPIC', t.name, 'READ');
      return {
        name: t.name,
        partitions: await Promise.all(
          t.partitions.map(async (p) => ({
            partitionIndex: p.partitionIndex,
            errorCode:
              check !== KafkaError.none
                ? check
                : refused
                  ? KafkaError.topicAuthorizationFailed
                  : await commitOne(ctx, request.groupId, t.name, p),
          })),
        ),
      };
    });
    return new Later(Promise.all(topics).then((list) => ({ topics: list })));
  },
};

type FetchOut = KafkaInput<OffsetFetchResponsePartition>;

function fetchGroup(
  ctx: RequestContext,
  group: string,
  topics: ReadonlyArray<{ name: string; partitionIndexes: number[] }> | null,
  requireStable: boolean,
) {
  const { client } = ctx;
  const describable = (topic: string) => allowed(ctx, 'TOPIC', topic, 'DESCRIBE');
  const wanted =
    topics ??
    [...new Set(client.groupOffsets(group).map((o) => o.stream))].filter(describable).map((name) => ({
      name,
      partitionIndexes: client
        .groupOffsets(group)
        .filter((o) => o.stream === name)
        .map((o) => o.partition),
    }));
  return wanted.map((t) => ({
    name: t.name,
    partitions: t.partitionIndexes.map((index): FetchOut => {
      if (!describable(t.name))
        return {
          partitionIndex: index,
          committedOffset: -1n,
          committedLeaderEpoch: -1,
          metadata: '',
          errorCode: KafkaError.topicAuthorizationFailed,
        };
      const stored =
        client.stream(t.name) === undefined ? undefined : client.fetchOffset(group, t.name, index);
      return {
        partitionIndex: index,
        committedOffset: BigInt(stored?.offset ?? -1),
        committedLeaderEpoch: stored?.leaderEpoch ?? -1,
        metadata: stored?.metadata ?? '',
        // KIP-447: an offset an open transaction will commit is not yet known for sure.
        errorCode:
          requireStable && client.stream(t.name) !== undefined && client.offsetPending(group, t.name, index)
            ? KafkaError.unstableOffsetCommit
            : KafkaError.none,
      };
    }),
  }));
}

export const offsetFetchHandler: ApiHandler = {
  apiKey: ApiKey.OffsetFetch,
  versionMin: 0,
  versionMax: 9,
  handle(ctx: RequestContext, request: OffsetFetchRequest) {
    if (ctx.apiVersion >= 8) {
      const groups = request.groups.map((g) => {
        if (!allowed(ctx, 'GROUP', g.groupId, 'DESCRIBE'))
          return { groupId: g.groupId, errorCode: KafkaError.groupAuthorizationFailed, topics: [] };
        // v9: a KIP-848 member names itself and its epoch; a stale one learns it before reading.
        const member =
          ctx.apiVersion >= 9 && g.memberId !== null
            ? (ctx.broker.consumerGroups.checkCommit(g.groupId, g.memberId, g.memberEpoch) ?? KafkaError.none)
            : KafkaError.none;
        if (member !== KafkaError.none) return { groupId: g.groupId, errorCode: member, topics: [] };
        return {
          groupId: g.groupId,
          errorCode: KafkaError.none,
          topics: fetchGroup(ctx, g.groupId, g.topics, request.requireStable),
        };
      });
      return { groups };
    }
    const requireStable = ctx.apiVersion >= 7 && request.requireStable;
    // v0 and v1 carry no top-level error: their partitions say it.
    if (!allowed(ctx, 'GROUP', request.groupId, 'DESCRIBE'))
      return {
        errorCode: KafkaError.groupAuthorizationFailed,
        topics: (request.topics ?? []).map((t) => ({
          name: t.name,
          partitions: t.partitionIndexes.map((partitionIndex) => ({
            partitionIndex,
            committedOffset: -1n,
            errorCode: KafkaError.groupAuthorizationFailed,
          })),
        })),
      };
    return {
      errorCode: KafkaError.none,
      topics: fetchGroup(ctx, request.groupId, request.topics, requireStable),
    };
  },
};

/** The protocol type whose member metadata is a ConsumerProtocolSubscription. */
const consumerProtocolType = 'consumer';

/**
 * The topics a ConsumerProtocolSubscription names (version int16, then an array of int16 strings in
 * every version); unreadable metadata names none.
 */
function subscribedTopics(metadata: Uint8Array): string[] {
  try {
    const r = new KafkaReader(metadata);
    r.readInt16();
    const count = r.readArrayLength(false);
    const topics: string[] = [];
    for (let i = 0; i < count; i++) topics.push(r.readString(false) ?? '');
    return topics;
  } catch {
    return [];
  }
}

/**
 * The topics a group's members consume: their partitions' offsets cannot be deleted (Kafka answers
 * GROUP_SUBSCRIBED_TO_TOPIC); a group of another protocol type with members refuses as a whole.
 */
function activeTopics(ctx: Scope, groupId: string): Set<string> | KafkaError {
  const { broker } = ctx;
  // A KIP-848 group's topics are its members' subscriptions, names and patterns alike, as in Kafka.
  const subscribed = broker.consumerGroups.subscribedTopics(groupId);
  if (subscribed !== undefined) return subscribed;
  const group = broker.groups.describe(groupId);
  if (group.members.length === 0) return new Set();
  if (group.protocolType !== consumerProtocolType) return KafkaError.nonEmptyGroup;
  return new Set(group.members.flatMap((m) => subscribedTopics(m.metadata)));
}

export const offsetDeleteHandler: ApiHandler = {
  apiKey: ApiKey.OffsetDelete,
  versionMin: 0,
  versionMax: 0,
  async handle(ctx: RequestContext, request: OffsetDeleteRequest) {
    const { broker, client } = ctx;
    const refuse = (errorCode: KafkaError) => ({ errorCode, topics: [] });
    const { groupId } = request;
    if (!allowed(ctx, 'GROUP', groupId, 'DELETE')) return refuse(KafkaError.groupAuthorizationFailed);
    if (!broker.groups.has(groupId) && client.groupOffsets(groupId).length === 0)
      return refuse(KafkaError.groupIdNotFound);
    const active = activeTopics(ctx, groupId);
    if (isKafkaError(active)) return refuse(active);
    const deleted: Array<{ stream: string; partition: number }> = [];
    const topics = request.topics.map((topic) => ({
      name: topic.name,
      partitions: topic.partitions.map(({ partitionIndex }) => {
        let errorCode: KafkaError = KafkaError.none;
        if (!allowed(ctx, 'TOPIC', topic.name, 'READ')) errorCode = KafkaError.topicAuthorizationFailed;
        else if (isKafkaError(partitionOf(ctx, topic.name, partitionIndex)))
          errorCode = KafkaError.unknownTopicOrPartition;
        else if (active.has(topic.name)) errorCode = KafkaError.groupSubscribedToTopic;
        else deleted.push({ stream: topic.name, partition: partitionIndex });
        return { partitionIndex, errorCode };
      }),
    }));
    try {
      await client.deletePartitionOffsets(groupId, deleted);
    } catch (err) {
      return refuse(kafkaErrorOf(err));
    }
    return { errorCode: KafkaError.none, topics };
  },
};
