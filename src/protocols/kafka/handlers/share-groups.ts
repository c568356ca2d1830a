/**
 * Share groups (KIP-932) over ../share-groups.ts and ../share-partition.ts: ShareGroupHeartbeat 1,
 * ShareGroupDescribe 1, ShareFetch 1 and ShareAcknowledge 1. ShareFetch acknowledges what the request
 * carries, then acquires up to MaxRecords for the member (in Kafka's order over the partitions, see
 * readAllShared), released or expired records first, then new ones from the log, and answers the stored batches holding them with the acquired ranges and their
 * delivery counts; with nothing to hand out it parks until the log grows or a record comes back, at
 * most MaxWaitMs. v2 (acquire modes, lock renewal) is not offered.
 */
import type { StreamPartition } from '../../../core/api.js';
import { allowed, heartbeatRefusal } from '../acls.js';
import { groupOperationsIf } from '../authorized-operations.js';
import type {
  KafkaInput,
  ShareAcknowledgeRequest,
  ShareAcknowledgeResponse,
  ShareFetchRequest,
  ShareGroupDescribeRequest,
  ShareGroupDescribeResponse,
  ShareGroupHeartbeatRequest,
  ShareGroupHeartbeatResponse,
} from '../codec/index.js';
import { ApiKey, RecordChunks } from '../codec/index.js';
import { BatchAttribute } from '../codec/record-batch.js';
import {
  type ApiHandler,
  type KafkaBroker,
  Later,
  nodeId,
  type RequestContext,
  type Scope,
} from '../context.js';
import { KafkaError } from '../errors.js';
import { type SessionPartition, shareHeartbeatIntervalMs, shareSessionsMax } from '../share-groups.js';
import { AckType, type AcquiredRange, type SharePartition, type Undo } from '../share-partition.js';
import { topicIdOf, topicNameOf, zeroTopicId } from '../topic-ids.js';
import { isKafkaError, partitionOf } from '../topics.js';
import { byTopicId } from './consumer-groups.js';
import { batchesBetween } from './fetch.js';

/** Records one ShareFetch acquires when the request sets no MaxRecords. */
const shareFetchRecordsDefault = 500;
/** Bytes read from one partition for one ShareFetch. */
const shareFetchPartitionBytesMax = 8 * 1024 * 1024;
/** Bytes read from the log at a time while acquiring new records. */
const shareFetchReadChunkBytes = 256 * 1024;
const shareFetchWaitMsMax = 60_000;

function batchRange(batch: Uint8Array): {
  first: number;
  last: number;
  control: boolean;
  transactional: boolean;
  producerId: number;
} {
  const view = new DataView(batch.buffer, batch.byteOffset, batch.byteLength);
  const first = Number(view.getBigInt64(0));
  const attributes = view.getInt16(21);
  return {
    first,
    last: first + view.getInt32(23),
    control: (attributes & BatchAttribute.control) !== 0,
    transactional: (attributes & BatchAttribute.transactional) !== 0,
    producerId: Number(view.getBigInt64(43)),
  };
}

/**
 * Under share.isolation.level=read_committed, tells the batches of aborted transactions, read in
 * order from `from`: a producer's transactional batches from the first offset of one of its aborted
 * transactions up to its next marker are aborted, as a read_committed consumer decides (KIP-98).
 */
function abortedBatches(log: StreamPartition, from: number, to: number): (batch: Uint8Array) => boolean {
  const pending = log.abortedBetween(from, to);
  const open = new Set<number>();
  return (batch) => {
    const b = batchRange(batch);
    while (pending.length > 0 && pending[0]!.firstOffset <= b.first) open.add(pending.shift()!.producerId);
    if (b.control) {
      open.delete(b.producerId);
      return false;
    }
    return b.transactional && open.has(b.producerId);
  };
}

function isOtherGroup(broker: KafkaBroker, groupId: string): boolean {
  return broker.groups.describe(groupId).members.length > 0 || broker.consumerGroups.hasMembers(groupId);
}

export const shareGroupHeartbeatHandler: ApiHandler = {
  apiKey: ApiKey.ShareGroupHeartbeat,
  versionMin: 1,
  versionMax: 1,
  handle(ctx: RequestContext, request: ShareGroupHeartbeatRequest): KafkaInput<ShareGroupHeartbeatResponse> {
    const refused = heartbeatRefusal(ctx, request.groupId, request.subscribedTopicNames);
    if (refused !== undefined) return refused;
    if (isOtherGroup(ctx.broker, request.groupId))
      return {
        errorCode: KafkaError.groupIdNotFound,
        errorMessage: `Group ${request.groupId} is not a share group.`,
        memberEpoch: -1,
      };
    const r = ctx.broker.shareGroups.heartbeat({
      ...request,
      clientId: ctx.clientId,
      clientHost: ctx.clientHost,
    });
    return {
      errorCode: r.errorCode,
      errorMessage: r.errorMessage,
      memberId: r.memberId,
      memberEpoch: r.memberEpoch,
      heartbeatIntervalMs: r.errorCode === KafkaError.none ? shareHeartbeatIntervalMs : 0,
      assignment:
        r.assignment === null
          ? null
          : {
              topicPartitions: byTopicId(ctx, r.assignment).map(({ topicId, partitions }) => ({
                topicId,
                partitions,
              })),
            },
    };
  },
};

export const shareGroupDescribeHandler: ApiHandler = {
  apiKey: ApiKey.ShareGroupDescribe,
  versionMin: 1,
  versionMax: 1,
  handle(ctx: RequestContext, request: ShareGroupDescribeRequest): KafkaInput<ShareGroupDescribeResponse> {
    const vhost = ctx.broker.options.vhost;
    const groups = request.groupIds.map((groupId) => {
      if (!allowed(ctx, 'GROUP', groupId, 'DESCRIBE'))
        return {
          groupId,
          errorCode: KafkaError.groupAuthorizationFailed,
          errorMessage: null,
          groupState: '',
        };
      const g = ctx.broker.shareGroups.describe(groupId);
      if (g === undefined)
        return {
          groupId,
          errorCode: KafkaError.groupIdNotFound,
          errorMessage: `Group ${groupId} not found.`,
          groupState: 'Dead',
        };
      return {
        groupId,
        errorCode: KafkaError.none,
        groupState: g.members.length === 0 ? 'Empty' : 'Stable',
        groupEpoch: g.epoch,
        assignmentEpoch: g.epoch,
        assignorName: 'simple',
        authorizedOperations: groupOperationsIf(ctx, request.includeAuthorizedOperations, groupId),
        members: g.members.map((m) => ({
          memberId: m.memberId,
          rackId: m.rackId,
          memberEpoch: m.memberEpoch,
          clientId: m.clientId,
          clientHost: m.clientHost,
          subscribedTopicNames: m.topics,
          assignment: { topicPartitions: byTopicId(ctx, m.assignment) },
        })),
      };
    });
    return { groups };
  },
};

interface AckBatch {
  readonly firstOffset: bigint;
  readonly lastOffset: bigint;
  readonly acknowledgeTypes: readonly number[];
}

/** The greatest acknowledge type of ShareAcknowledge v1 (KIP-932: 0 gap to 3 reject; 4, renew, is v2's). */
const ackTypeMax = 3;

/**
 * Whether a partition's acknowledgement batches are well formed, as Kafka checks them before applying
 * any (KafkaApis' validateAcknowledgementBatches, KIP-932): each batch's first offset at most its last
 * and past the batch before it (the first past -1, so no negative offset), one type for the range or
 * one per offset, each a type v1 knows. A partition that is not is answered INVALID_REQUEST.
 */
function wellFormed(batches: readonly AckBatch[]): boolean {
  let previousLast = -1n;
  for (const b of batches) {
    const span = b.lastOffset - b.firstOffset + 1n;
    const types = b.acknowledgeTypes;
    if (span < 1n || b.firstOffset <= previousLast || types.length === 0) return false;
    if (types.length > 1 && BigInt(types.length) !== span) return false;
    if (types.some((t) => t < 0 || t > ackTypeMax)) return false;
    previousLast = b.lastOffset;
  }
  return true;
}

/** A partition's acknowledgements as applied: the code, and how to undo them if their write fails. */
interface Applied {
  readonly code: KafkaError;
  readonly undo?: Undo;
}

/**
 * Applies a partition's acknowledgements, all or none: INVALID_REQUEST when they are malformed,
 * INVALID_RECORD_STATE when any names a record the member does not hold.
 */
function acknowledge(sp: SharePartition | undefined, member: string, batches: readonly AckBatch[]): Applied {
  if (!wellFormed(batches)) return { code: KafkaError.invalidRequest };
  if (sp === undefined) return { code: KafkaError.invalidRecordState };
  const ranges = batches.map((b) => ({
    first: Number(b.firstOffset),
    last: Number(b.lastOffset),
    types: b.acknowledgeTypes,
  }));
  const undo = sp.acknowledgeAll(member, ranges);
  return undo === undefined ? { code: KafkaError.invalidRecordState } : { code: KafkaError.none, undo };
}

/**
 * The codes of applied acknowledgements once the group's state is written. When the write failed
 * they are undone and answered as Kafka answers them: its share coordinator turns a storage failure
 * of `__share_group_state` into NOT_COORDINATOR (CoordinatorOperationExceptionHelper), which
 * SharePartition.fetchPersisterError makes COORDINATOR_NOT_AVAILABLE, the records rolled back
 * (SharePartition.rollbackOrProcessStateUpdates): never NONE for what is not durable.
 */
async function storedAcks(
  ctx: Scope,
  groupId: string,
  applied: ReadonlyMap<string, Applied>,
): Promise<Map<string, KafkaError>> {
  const stored = await ctx.broker.shareGroups.flushed(groupId);
  const codes = new Map<string, KafkaError>();
  for (const [key, a] of applied) {
    if (stored || a.undo === undefined) codes.set(key, a.code);
    else {
      a.undo();
      codes.set(key, KafkaError.coordinatorNotAvailable);
    }
  }
  return codes;
}

interface Target {
  readonly topic: string;
  readonly topicId: string;
  readonly partition: number;
}

/** The share-partition, created from share.auto.offset.reset on its first read. */
function sharePartitionOf(
  ctx: Scope,
  groupId: string,
  t: Target,
): { sp: SharePartition; log: StreamPartition } | KafkaError {
  const { broker } = ctx;
  const log = partitionOf(ctx, t.topic, t.partition);
  if (isKafkaError(log)) return log;
  const sp = broker.shareGroups.partition(groupId, t.topic, t.partition, t.topicId, (reset) =>
    reset === 'earliest' ? log.startOffset : log.endOffset,
  );
  if (sp === undefined) return KafkaError.unknownMemberId;
  sp.truncateTo(log.startOffset);
  return { sp, log };
}

/**
 * The stored batches from `from` to `end`, read a chunk at a time while `more()` (room for records)
 * and within the partition's byte bound: a backlog is not copied whole to acquire a few hundred records.
 */
function* newBatches(
  log: StreamPartition,
  from: number,
  end: number,
  more: () => boolean,
): Generator<Uint8Array> {
  let next = from;
  for (let read = 0; next < end && read < shareFetchPartitionBytesMax && more(); ) {
    const chunk = batchesBetween(log, next, end, shareFetchReadChunkBytes);
    if (chunk.length === 0) return;
    for (const batch of chunk) {
      if (!more()) return;
      read += batch.byteLength;
      const { last } = batchRange(batch);
      next = last + 1;
      yield batch;
    }
  }
}

/**
 * Acquires up to `budget` records of one partition for the member; the batches holding them. New
 * records are taken whole batch by whole batch while they fit in `bytesLeft` (MaxBytes of the
 * request), and at least one batch when nothing else was taken, as Kafka answers a fetch.
 */
function acquireFrom(
  sp: SharePartition,
  log: StreamPartition,
  member: string,
  budget: number,
  bytesLeft: number,
  firstOfAnswer: boolean,
  committed: boolean,
): { ranges: AcquiredRange[]; batches: Uint8Array[] } {
  const offsets = sp.available(budget);
  let room = Math.min(budget - offsets.length, sp.room());
  let bytes = 0;
  // read_committed hands out nothing past the last stable offset, and skips aborted transactions.
  const end = committed ? log.stableOffset : log.endOffset;
  const aborted = committed ? abortedBatches(log, sp.endOffset, end) : () => false;
  // Skipped only once the records before them are acquired: a skip moves the share-partition's end,
  // and new records below its end would count as a gap.
  const skipped: Array<[number, number]> = [];
  for (const batch of newBatches(log, sp.endOffset, end, () => room > 0)) {
    const { first, last, control } = batchRange(batch);
    if (aborted(batch) || control) {
      skipped.push([first, last]);
      continue;
    }
    if ((offsets.length > 0 || !firstOfAnswer) && bytes + batch.byteLength > bytesLeft) break;
    bytes += batch.byteLength;
    for (let o = Math.max(first, sp.endOffset); o <= last && room > 0; o++, room--) offsets.push(o);
  }
  const ranges = sp.acquire(member, offsets);
  for (const [first, last] of skipped) sp.skip(first, last);
  const seen = new Set<number>();
  const batches: Uint8Array[] = [];
  for (const r of ranges)
    for (const batch of batchesBetween(log, r.firstOffset, r.lastOffset + 1, shareFetchPartitionBytesMax)) {
      const { first } = batchRange(batch);
      if (!seen.has(first)) batches.push(batch);
      seen.add(first);
    }
  return { ranges, batches };
}

type PartitionOut = {
  partitionIndex: number;
  errorCode: KafkaError;
  acknowledgeErrorCode: KafkaError;
  currentLeader: { leaderId: number; leaderEpoch: number };
  records: RecordChunks;
  acquiredRecords: Array<{ firstOffset: bigint; lastOffset: bigint; deliveryCount: number }>;
};

/**
 * The session's partitions rotated left by the request's epoch, as Kafka's round-robin
 * PartitionRotateStrategy orders a share fetch (none at epoch 0): MaxRecords does not always go to
 * the same partitions first.
 */
function rotated<T>(items: readonly T[], epoch: number): T[] {
  const at = epoch < 1 || items.length < 2 ? 0 : epoch % items.length;
  return [...items.slice(at), ...items.slice(0, at)];
}

/**
 * Acquires from the targets in Kafka's order (KIP-932 as SharePartitionManager and DelayedShareFetch
 * implement it): a share-partition is initialized by the first fetch that names it and is acquirable
 * only once that is done, and a waiting fetch completes as soon as a partition it can acquire from has
 * records. So the share-partitions that existed before the request are read first, and those it
 * initializes after them, one at a time and only while nothing is acquired: a fresh group's first
 * answer holds one partition's records, the next fetch reads them all.
 */
function readAllShared(
  ctx: Scope,
  groupId: string,
  member: string,
  targets: readonly Target[],
  budget: number,
  bytesBudget: number,
): { out: Map<string, PartitionOut>; count: number } {
  const { broker } = ctx;
  const out = new Map<string, PartitionOut>();
  const committed = broker.shareGroups.committedOf(groupId);
  const fresh = new Set(
    targets.filter((t) => !broker.shareGroups.hasPartition(groupId, t.topic, t.partition)),
  );
  let count = 0;
  let bytes = 0;
  for (const t of [...targets.filter((t) => !fresh.has(t)), ...fresh]) {
    const found = sharePartitionOf(ctx, groupId, t);
    const base = {
      partitionIndex: t.partition,
      acknowledgeErrorCode: KafkaError.none,
      currentLeader: { leaderId: nodeId, leaderEpoch: 0 },
    };
    if (isKafkaError(found)) {
      out.set(`${t.partition}:${t.topicId}`, {
        ...base,
        errorCode: found,
        records: new RecordChunks([]),
        acquiredRecords: [],
      });
      continue;
    }
    // Only the member's partitions: the others are some other member's now (KIP-932 assignment).
    const mine = broker.shareGroups.isAssigned(groupId, member, t.topic, t.partition);
    const { ranges, batches } =
      mine && count < budget && bytes < bytesBudget && (count === 0 || !fresh.has(t))
        ? acquireFrom(
            found.sp,
            found.log,
            member,
            budget - count,
            bytesBudget - bytes,
            count === 0,
            committed,
          )
        : { ranges: [], batches: [] };
    for (const r of ranges) count += r.lastOffset - r.firstOffset + 1;
    for (const b of batches) bytes += b.byteLength;
    out.set(`${t.partition}:${t.topicId}`, {
      ...base,
      errorCode: KafkaError.none,
      records: new RecordChunks(batches),
      acquiredRecords: ranges.map((r) => ({
        firstOffset: BigInt(r.firstOffset),
        lastOffset: BigInt(r.lastOffset),
        deliveryCount: r.deliveryCount,
      })),
    });
  }
  return { out, count };
}

/** Parks until a target's log grows past what its share-partition has handed out, a record comes back, or the time is up. */
function waitForRecords(
  ctx: Scope,
  groupId: string,
  targets: readonly Target[],
  timeoutMs: number,
): Promise<void> {
  return new Promise((resolve) => {
    const cleanups: Array<() => void> = [];
    const done = (): void => {
      for (const c of cleanups) c();
      resolve();
    };
    for (const t of targets) {
      const found = sharePartitionOf(ctx, groupId, t);
      if (isKafkaError(found)) continue;
      found.sp.waiters.add(done);
      cleanups.push(() => found.sp.waiters.delete(done));
      const committed = ctx.broker.shareGroups.committedOf(groupId);
      const end = committed ? found.log.stableOffset : found.log.endOffset;
      found.log.waitFor(Math.max(found.sp.endOffset, end), timeoutMs, committed).then(done, done);
    }
    const timer = setTimeout(done, timeoutMs);
    cleanups.push(() => clearTimeout(timer));
  });
}

async function shareFetch(ctx: RequestContext, request: ShareFetchRequest): Promise<object> {
  const { broker } = ctx;
  const groupId = request.groupId ?? '';
  const member = request.memberId ?? '';
  const fail = (errorCode: KafkaError, errorMessage: string | null = null) => ({
    errorCode,
    errorMessage,
    acquisitionLockTimeoutMs: 0,
    responses: [],
  });
  if (groupId === '' || member === '') return fail(KafkaError.invalidRequest);
  if (!allowed(ctx, 'GROUP', groupId, 'READ')) return fail(KafkaError.groupAuthorizationFailed);
  const asked = request.topics.flatMap((t) => {
    const topic = topicNameOf(ctx, t.topicId) ?? '';
    return t.partitions.map((p) => ({
      topic,
      topicId: t.topicId,
      partition: p.partitionIndex,
      acks: p.acknowledgementBatches,
    }));
  });
  // Partitions of topics the client may not READ, and of ids no topic has (a topic deleted or created
  // again since the client looked it up), are answered so, and neither fetched nor acknowledged:
  // Kafka's ShareFetch context answers UNKNOWN_TOPIC_ID for an id it cannot resolve.
  const judged = asked.map((n) => ({ ...n, errorCode: refusalOf(ctx, n.topic) }));
  const denied = judged.filter((n) => n.errorCode !== KafkaError.none);
  const named = denied.length === 0 ? judged : judged.filter((n) => n.errorCode === KafkaError.none);
  const forgotten = request.forgottenTopicsData.flatMap((t) => {
    const topic = topicNameOf(ctx, t.topicId) ?? '';
    return t.partitions.map((partition) => ({ topic, topicId: t.topicId, partition }));
  });
  // Epoch -1 carries final acknowledgements and closes the session; nothing is fetched.
  const epoch = request.shareSessionEpoch;
  const session = epoch === -1 ? [] : broker.shareGroups.session(groupId, member, epoch, named, forgotten);
  if (isKafkaError(session)) return fail(session);
  const applied = new Map<string, Applied>();
  for (const n of named)
    if (n.acks.length > 0) {
      const found = sharePartitionOf(ctx, groupId, n);
      applied.set(
        `${n.partition}:${n.topicId}`,
        acknowledge(isKafkaError(found) ? undefined : found.sp, member, n.acks),
      );
    }
  // Records released here are handed out again only once the release is durable, as Kafka's
  // share-partition acquires no record whose state transition is in flight (a failed write puts them
  // back with the member); accepted or rejected ones are never handed out, so those need not wait.
  const releasing = named.some((n) => n.acks.some((b) => b.acknowledgeTypes.includes(AckType.release)));
  const settled = releasing ? await storedAcks(ctx, groupId, applied) : undefined;
  // What the member holds of a partition it forgets goes back to the group at once (after the
  // acknowledgements the same request carried), as when its session closes.
  for (const f of forgotten)
    if (f.topic !== '') broker.shareGroups.release(groupId, member, f.topic, f.partition);
  if (epoch === -1) {
    broker.shareGroups.closeSession(groupId, member);
    const ackCodes = await answeredAcks(ctx, groupId, applied, settled);
    return {
      errorCode: KafkaError.none,
      errorMessage: null,
      acquisitionLockTimeoutMs: broker.shareGroups.lockMsOf(groupId),
      responses: withRefused(answer(named, new Map(), ackCodes), denied),
    };
  }
  // A session partition whose topic was deleted (or created again: a new id) since it was added is
  // answered UNKNOWN_TOPIC_ID at every fetch until the client forgets it, as Kafka's share fetch
  // context answers a cached partition whose id no longer resolves.
  const [targets, gone] = splitStale(ctx, rotated(session, epoch));
  const deniedKeys = new Set(denied.map(entryKey));
  const refused = [...denied, ...gone.filter((g) => !deniedKeys.has(entryKey(g)))];
  // With only ids no topic has left to read, the client must look its topics up again: it is told at
  // once, as Kafka answers a share fetch with no valid partition (others wait as usual).
  const stale = targets.length === 0 && refused.some((n) => n.errorCode === KafkaError.unknownTopicId);
  if (epoch === 0) closeWithConnection(ctx, groupId, member);
  const budget = request.maxRecords > 0 ? request.maxRecords : shareFetchRecordsDefault;
  const deadline = Date.now() + Math.min(Math.max(request.maxWaitMs, 0), shareFetchWaitMsMax);
  for (;;) {
    // A fetch parked past its connection's end acquires nothing for a client that cannot get it.
    if (ctx.closed?.aborted === true) return fail(KafkaError.none);
    const { out, count } = readAllShared(ctx, groupId, member, targets, budget, request.maxBytes);
    const left = deadline - Date.now();
    if (count > 0 || left <= 0 || stale) {
      // Answered once what it acknowledged and acquired is stored (KIP-932: the share coordinator's
      // write comes first), so a restart neither hands out accepted records nor forgets a delivery.
      const ackCodes = await answeredAcks(ctx, groupId, applied, settled);
      return {
        errorCode: KafkaError.none,
        errorMessage: null,
        acquisitionLockTimeoutMs: broker.shareGroups.lockMsOf(groupId),
        responses: withRefused(answer(named, out, ackCodes), refused),
      };
    }
    await waitForRecords(ctx, groupId, targets, left);
  }
}

/** The acknowledgements' codes once everything the fetch changed is written (`settled`: known already). */
async function answeredAcks(
  ctx: Scope,
  groupId: string,
  applied: ReadonlyMap<string, Applied>,
  settled: Map<string, KafkaError> | undefined,
): Promise<Map<string, KafkaError>> {
  if (settled === undefined) return storedAcks(ctx, groupId, applied);
  await ctx.broker.shareGroups.flushed(groupId);
  return settled;
}

interface Opened {
  readonly groupId: string;
  readonly member: string;
  readonly session: object;
}

/** Per connection, the share sessions it opened, by group and member: closed when it closes. */
const openedBy = new WeakMap<AbortSignal, Map<string, Opened>>();

/**
 * A share session ends with the connection that opened it, as Kafka's share session cache drops a
 * closed connection's sessions (KIP-932): what its member held goes back to the others at once
 * rather than at the lock's end, 30 s later. A session opened since on another connection stays.
 */
function closeWithConnection(ctx: RequestContext, groupId: string, member: string): void {
  const { broker, closed: signal } = ctx;
  const session = broker.shareGroups.sessionOf(groupId, member);
  if (signal === undefined || session === undefined) return;
  let opened = openedBy.get(signal);
  if (opened === undefined) {
    const sessions = new Map<string, Opened>();
    signal.addEventListener('abort', () => {
      for (const o of sessions.values()) broker.shareGroups.closeSessionIf(o.groupId, o.member, o.session);
    });
    openedBy.set(signal, sessions);
    opened = sessions;
  }
  // Bounded as the broker's sessions are (shareSessionsMax): those closed since are dropped first.
  if (opened.size >= shareSessionsMax)
    for (const [key, o] of opened)
      if (broker.shareGroups.sessionOf(o.groupId, o.member) !== o.session) opened.delete(key);
  opened.set(`${groupId}\u0000${member}`, { groupId, member, session });
}

const entryKey = (e: { topicId: string; partition: number }): string => `${e.partition}:${e.topicId}`;

/** The session's partitions whose topic still has the id they were added with, and the others, refused. */
function splitStale(
  ctx: Scope,
  entries: readonly SessionPartition[],
): [SessionPartition[], Array<SessionPartition & { errorCode: KafkaError }>] {
  const live: SessionPartition[] = [];
  const gone: Array<SessionPartition & { errorCode: KafkaError }> = [];
  for (const e of entries) {
    if (e.topic !== '' && topicIdOf(ctx, e.topic) === e.topicId) live.push(e);
    else gone.push({ ...e, errorCode: KafkaError.unknownTopicId });
  }
  return [live, gone];
}

function refusalOf(ctx: RequestContext, topic: string): KafkaError {
  if (topic === '') return KafkaError.unknownTopicId;
  return allowed(ctx, 'TOPIC', topic, 'READ') ? KafkaError.none : KafkaError.topicAuthorizationFailed;
}

/** The answer with each refused partition's error. */
function withRefused(
  responses: Array<{ topicId: string; partitions: PartitionOut[] }>,
  denied: ReadonlyArray<{ topicId: string; partition: number; errorCode: KafkaError }>,
) {
  const byId = new Map(responses.map((r) => [r.topicId, r]));
  for (const d of denied) {
    const refusal: PartitionOut = {
      partitionIndex: d.partition,
      errorCode: d.errorCode,
      acknowledgeErrorCode: d.errorCode,
      currentLeader: { leaderId: nodeId, leaderEpoch: 0 },
      records: new RecordChunks([]),
      acquiredRecords: [],
    };
    const topic = byId.get(d.topicId);
    if (topic !== undefined) topic.partitions.push(refusal);
    else {
      const added = { topicId: d.topicId, partitions: [refusal] };
      responses.push(added);
      byId.set(d.topicId, added);
    }
  }
  return responses;
}

/** Partitions with records or acknowledgement results, grouped by topic id. */
function answer(
  named: ReadonlyArray<{ topicId: string; partition: number }>,
  out: Map<string, PartitionOut>,
  ackCodes: Map<string, KafkaError>,
) {
  const byTopic = new Map<string, PartitionOut[]>();
  const add = (topicId: string, p: PartitionOut): void => {
    const partitions = byTopic.get(topicId);
    if (partitions === undefined) byTopic.set(topicId, [p]);
    else partitions.push(p);
  };
  for (const [key, p] of out) {
    const topicId = key.slice(key.indexOf(':') + 1);
    const ack = ackCodes.get(key);
    ackCodes.delete(key);
    // A partition whose acknowledgements the request carried is answered even when they all
    // succeeded: librdkafka counts one left out as INVALID_RECORD_STATE.
    if (p.acquiredRecords.length > 0 || p.errorCode !== KafkaError.none || ack !== undefined)
      add(topicId, { ...p, acknowledgeErrorCode: ack ?? KafkaError.none });
  }
  for (const n of named) {
    const ack = ackCodes.get(`${n.partition}:${n.topicId}`);
    if (ack === undefined) continue;
    add(n.topicId, {
      partitionIndex: n.partition,
      errorCode: KafkaError.none,
      acknowledgeErrorCode: ack,
      currentLeader: { leaderId: nodeId, leaderEpoch: 0 },
      records: new RecordChunks([]),
      acquiredRecords: [],
    });
  }
  return [...byTopic].map(([topicId, partitions]) => ({ topicId, partitions }));
}

export const shareFetchHandler: ApiHandler = {
  apiKey: ApiKey.ShareFetch,
  versionMin: 1,
  versionMax: 1,
  handle(ctx: RequestContext, request: ShareFetchRequest): Later {
    return new Later(shareFetch(ctx, request));
  },
};

export const shareAcknowledgeHandler: ApiHandler = {
  apiKey: ApiKey.ShareAcknowledge,
  versionMin: 1,
  versionMax: 1,
  handle(ctx: RequestContext, request: ShareAcknowledgeRequest): Later {
    return new Later(shareAcknowledge(ctx, request));
  },
};

async function shareAcknowledge(
  ctx: RequestContext,
  request: ShareAcknowledgeRequest,
): Promise<KafkaInput<ShareAcknowledgeResponse>> {
  const { broker } = ctx;
  const groupId = request.groupId ?? '';
  const member = request.memberId ?? '';
  const epoch = request.shareSessionEpoch;
  if (!allowed(ctx, 'GROUP', groupId, 'READ'))
    return { errorCode: KafkaError.groupAuthorizationFailed, responses: [] };
  // ShareAcknowledge continues a session (or closes it with -1); it never opens one.
  const session =
    epoch === 0
      ? KafkaError.invalidShareSessionEpoch
      : epoch === -1
        ? []
        : broker.shareGroups.session(groupId, member, epoch, [], []);
  if (isKafkaError(session)) return { errorCode: session, responses: [] };
  const applied = new Map<string, Applied>();
  for (const t of request.topics) {
    const topic = topicNameOf(ctx, t.topicId);
    for (const p of t.partitions) {
      const found =
        topic === undefined
          ? KafkaError.unknownTopicId
          : !allowed(ctx, 'TOPIC', topic, 'READ')
            ? KafkaError.topicAuthorizationFailed
            : sharePartitionOf(ctx, groupId, { topic, topicId: t.topicId, partition: p.partitionIndex });
      const key = `${p.partitionIndex}:${t.topicId}`;
      applied.set(
        key,
        isKafkaError(found) ? { code: found } : acknowledge(found.sp, member, p.acknowledgementBatches),
      );
    }
  }
  if (epoch === -1) broker.shareGroups.closeSession(groupId, member);
  const codes = await storedAcks(ctx, groupId, applied);
  const responses = request.topics.map((t) => ({
    topicId: t.topicId,
    partitions: t.partitions.map((p) => ({
      partitionIndex: p.partitionIndex,
      errorCode: codes.get(`${p.partitionIndex}:${t.topicId}`) ?? KafkaError.none,
      currentLeader: { leaderId: nodeId, leaderEpoch: 0 },
    })),
  }));
  return {
    errorCode: KafkaError.none,
    acquisitionLockTimeoutMs: broker.shareGroups.lockMsOf(groupId),
    responses,
  };
}
