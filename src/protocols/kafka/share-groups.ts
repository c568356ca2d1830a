/**
 * Share groups (KIP-932): members join with ShareGroupHeartbeat and every member is assigned every
 * partition of the topics it subscribes to, whoever else has them, because a share-partition hands each record to one
 * member at a time (share-partition.ts) and needs no exclusive owner. Share sessions (one per member,
 * KIP-932's counterpart of KIP-227) carry the partitions a member fetches. Members, sessions and
 * share-partitions live in memory: after a restart a share group starts again from
 * `share.auto.offset.reset`.
 */
import type { Clock } from '../../core/api.js';
import type { Assignment } from './assignors.js';
import { KafkaError } from './errors.js';
import { SharePartition, shareRecordLockMs } from './share-partition.js';

/** Kafka's group.share.session.timeout.ms and group.share.heartbeat.interval.ms. */
export const shareSessionTimeoutMs = 45_000;
export const shareHeartbeatIntervalMs = 5_000;
/** Kafka's group.share.max.size. */
export const shareGroupMembersMax = 200;
/** Share sessions on the broker; Kafka's share session cache is bounded the same way. */
export const shareSessionsMax = 1000;
const groupsMax = 10_000;
const subscribedTopicsMax = 10_000;

/** `share.auto.offset.reset`: where a share-partition starts when the group first reads it. */
export type ShareReset = 'latest' | 'earliest';

type Timer = ReturnType<Clock['setTimeout']>;

interface Member {
  readonly id: string;
  epoch: number;
  rackId: string | null;
  clientId: string;
  clientHost: string;
  topics: string[];
  sent: string;
  timer?: Timer;
}

interface Session {
  nextEpoch: number;
  readonly partitions: Map<string, { topic: string; partition: number }>;
}

interface Group {
  readonly id: string;
  epoch: number;
  readonly members: Map<string, Member>;
  readonly sessions: Map<string, Session>;
  /** By `partition:topic`. */
  readonly partitions: Map<string, SharePartition>;
  reset: ShareReset;
  lockMs: number;
  /** `share.isolation.level`: read_committed hands out committed records only (KIP-932). */
  committed: boolean;
}

export interface ShareHeartbeatResult {
  readonly errorCode: KafkaError;
  readonly errorMessage: string | null;
  readonly memberId: string;
  readonly memberEpoch: number;
  readonly assignment: Assignment | null;
}

const keyOf = (topic: string, partition: number): string => `${partition}:${topic}`;

export class ShareGroupCoordinator {
  readonly #groups = new Map<string, Group>();
  readonly #clock: Clock;
  readonly #partitions: (topic: string) => number | undefined;
  #sessions = 0;

  constructor(clock: Clock, partitions: (topic: string) => number | undefined) {
    this.#clock = clock;
    this.#partitions = partitions;
  }

  has(groupId: string): boolean {
    return this.#groups.has(groupId);
  }

  heartbeat(input: {
    groupId: string;
    memberId: string;
    memberEpoch: number;
    rackId: string | null;
    subscribedTopicNames: readonly string[] | null;
    clientId: string;
    clientHost: string;
  }): ShareHeartbeatResult {
    const fail = (errorCode: KafkaError, errorMessage: string | null = null): ShareHeartbeatResult => ({
      errorCode,
      errorMessage,
      memberId: input.memberId,
      memberEpoch: -1,
      assignment: null,
    });
    if (input.memberId === '') return fail(KafkaError.invalidRequest, "MemberId can't be empty.");
    let group = this.#groups.get(input.groupId);
    let member = group?.members.get(input.memberId);
    if (input.memberEpoch === -1) {
      if (group !== undefined && member !== undefined) this.#remove(group, member, true);
      return {
        errorCode: KafkaError.none,
        errorMessage: null,
        memberId: input.memberId,
        memberEpoch: -1,
        assignment: null,
      };
    }
    if (input.memberEpoch === 0) {
      if (input.subscribedTopicNames === null)
        return fail(KafkaError.invalidRequest, 'SubscribedTopicNames must be set in first request.');
      group ??= this.#groupFor(input.groupId);
      if (group === undefined) return fail(KafkaError.groupMaxSizeReached);
      if (member === undefined && group.members.size >= shareGroupMembersMax)
        return fail(KafkaError.groupMaxSizeReached);
      if (member === undefined) {
        member = {
          id: input.memberId,
          epoch: 0,
          rackId: null,
          clientId: '',
          clientHost: '',
          topics: [],
          sent: '',
        };
        group.members.set(member.id, member);
      }
    } else {
      if (group === undefined) return fail(KafkaError.groupIdNotFound);
      if (member === undefined) return fail(KafkaError.unknownMemberId);
      if (input.memberEpoch !== member.epoch) return fail(KafkaError.fencedMemberEpoch);
    }
    member.rackId = input.rackId ?? member.rackId;
    member.clientId = input.clientId;
    member.clientHost = input.clientHost;
    const topics =
      input.subscribedTopicNames === null
        ? member.topics
        : [...new Set(input.subscribedTopicNames)].slice(0, subscribedTopicsMax);
    if (member.epoch === 0 || topics.join('\u0000') !== member.topics.join('\u0000')) {
      member.topics = topics;
      group.epoch++;
    }
    // Every member is at the group's epoch: nothing is revoked in a share group.
    member.epoch = group.epoch;
    this.#touch(group, member);
    const assignment = this.assignmentOf(group.id, member.id);
    const now = JSON.stringify([...assignment].map(([t, s]) => [t, [...s]]));
    const send = now !== member.sent || input.memberEpoch === 0;
    member.sent = now;
    return {
      errorCode: KafkaError.none,
      errorMessage: null,
      memberId: member.id,
      memberEpoch: member.epoch,
      assignment: send ? assignment : null,
    };
  }

  /**
   * Every partition of every topic the member subscribes to that exists: members with other
   * subscriptions share the topics they have in common only, as Kafka's share assignor gives each
   * topic's partitions to the members subscribed to it.
   */
  assignmentOf(groupId: string, memberId: string): Assignment {
    const member = this.#groups.get(groupId)?.members.get(memberId);
    const out: Assignment = new Map();
    if (member === undefined) return out;
    for (const t of member.topics) {
      const count = this.#partitions(t);
      if (count !== undefined && count > 0) out.set(t, new Set(Array.from({ length: count }, (_, i) => i)));
    }
    return out;
  }

  isMember(groupId: string, memberId: string): boolean {
    return this.#groups.get(groupId)?.members.has(memberId) ?? false;
  }

  #touch(group: Group, member: Member): void {
    member.timer?.cancel();
    member.timer = this.#clock.setTimeout(() => this.#remove(group, member), shareSessionTimeoutMs);
  }

  /**
   * Removes a member. One that leaves (rather than expires) with its share session open keeps the
   * session and what it holds until the session closes, for at most the group's lock duration: a
   * closing share consumer sends its last acknowledgements (epoch -1) beside its leave, in either
   * order, and they must still find its records.
   */
  #remove(group: Group, member: Member, leaving = false): void {
    if (group.members.get(member.id) !== member) return;
    member.timer?.cancel();
    group.members.delete(member.id);
    group.epoch++;
    if (!leaving || !group.sessions.has(member.id)) {
      this.closeSession(group.id, member.id);
      return;
    }
    this.#clock.setTimeout(() => {
      if (!group.members.has(member.id)) this.closeSession(group.id, member.id);
    }, group.lockMs);
  }

  #groupFor(groupId: string): Group | undefined {
    if (this.#groups.size >= groupsMax) return undefined;
    const group: Group = {
      id: groupId,
      epoch: 0,
      members: new Map(),
      sessions: new Map(),
      partitions: new Map(),
      reset: 'latest',
      lockMs: shareRecordLockMs,
      committed: false,
    };
    this.#groups.set(groupId, group);
    return group;
  }

  // ---- share sessions

  /**
   * Opens (epoch 0), continues (its next epoch) or checks a member's share session, adding
   * `partitions` and dropping `forgotten`; the session's partitions, or the error.
   */
  session(
    groupId: string,
    memberId: string,
    epoch: number,
    partitions: ReadonlyArray<{ topic: string; partition: number }>,
    forgotten: ReadonlyArray<{ topic: string; partition: number }>,
  ): Array<{ topic: string; partition: number }> | KafkaError {
    const group = this.#groups.get(groupId);
    if (group === undefined || !group.members.has(memberId)) return KafkaError.unknownMemberId;
    let session = group.sessions.get(memberId);
    if (epoch === 0) {
      if (session === undefined && this.#sessions >= shareSessionsMax)
        return KafkaError.shareSessionLimitReached;
      if (session !== undefined) this.closeSession(groupId, memberId);
      session = { nextEpoch: 1, partitions: new Map() };
      group.sessions.set(memberId, session);
      this.#sessions++;
    } else {
      if (session === undefined) return KafkaError.shareSessionNotFound;
      if (epoch !== session.nextEpoch) return KafkaError.invalidShareSessionEpoch;
      session.nextEpoch = session.nextEpoch === 0x7fffffff ? 1 : session.nextEpoch + 1;
    }
    for (const p of forgotten) session.partitions.delete(keyOf(p.topic, p.partition));
    for (const p of partitions) session.partitions.set(keyOf(p.topic, p.partition), p);
    return [...session.partitions.values()];
  }

  /** Closes the member's share session; what it holds becomes available to the others. */
  closeSession(groupId: string, memberId: string): void {
    const group = this.#groups.get(groupId);
    if (group === undefined) return;
    if (group.sessions.delete(memberId)) this.#sessions--;
    for (const sp of group.partitions.values()) sp.releaseAll(memberId);
  }

  /** The share-partition, created at `start` (from share.auto.offset.reset) the first time it is read. */
  partition(
    groupId: string,
    topic: string,
    partition: number,
    start: (reset: ShareReset) => number,
  ): SharePartition | undefined {
    const group = this.#groups.get(groupId);
    if (group === undefined) return undefined;
    const key = keyOf(topic, partition);
    let sp = group.partitions.get(key);
    if (sp === undefined) {
      sp = new SharePartition(this.#clock, start(group.reset), group.lockMs);
      group.partitions.set(key, sp);
    }
    return sp;
  }

  /** True when the group's share.isolation.level is read_committed. */
  committedOf(groupId: string): boolean {
    return this.#groups.get(groupId)?.committed ?? false;
  }

  lockMsOf(groupId: string): number {
    return this.#groups.get(groupId)?.lockMs ?? shareRecordLockMs;
  }

  /** A group config (IncrementalAlterConfigs on a GROUP resource): share.auto.offset.reset, share.isolation.level, share.record.lock.duration.ms. */
  configure(groupId: string, name: string, value: string | null): KafkaError {
    const group = this.#groups.get(groupId) ?? this.#groupFor(groupId);
    if (group === undefined) return KafkaError.groupMaxSizeReached;
    if (name === 'share.auto.offset.reset') {
      if (value !== null && value !== 'latest' && value !== 'earliest') return KafkaError.invalidConfig;
      group.reset = value ?? 'latest';
      return KafkaError.none;
    }
    if (name === 'share.isolation.level') {
      if (value !== null && value !== 'read_committed' && value !== 'read_uncommitted')
        return KafkaError.invalidConfig;
      group.committed = value === 'read_committed';
      return KafkaError.none;
    }
    if (name === 'share.record.lock.duration.ms') {
      const ms = value === null ? shareRecordLockMs : Number(value);
      if (!Number.isInteger(ms) || ms < 1000 || ms > 3_600_000) return KafkaError.invalidConfig;
      group.lockMs = ms;
      return KafkaError.none;
    }
    return KafkaError.invalidConfig;
  }

  configsOf(groupId: string): Array<{ name: string; value: string; isDefault: boolean }> {
    const group = this.#groups.get(groupId);
    return [
      {
        name: 'share.auto.offset.reset',
        value: group?.reset ?? 'latest',
        isDefault: (group?.reset ?? 'latest') === 'latest',
      },
      {
        name: 'share.isolation.level',
        value: group?.committed === true ? 'read_committed' : 'read_uncommitted',
        isDefault: group?.committed !== true,
      },
      {
        name: 'share.record.lock.duration.ms',
        value: String(group?.lockMs ?? shareRecordLockMs),
        isDefault: (group?.lockMs ?? shareRecordLockMs) === shareRecordLockMs,
      },
    ];
  }

  describe(groupId: string):
    | {
        epoch: number;
        members: Array<{
          memberId: string;
          rackId: string | null;
          memberEpoch: number;
          clientId: string;
          clientHost: string;
          topics: string[];
          assignment: Assignment;
        }>;
      }
    | undefined {
    const group = this.#groups.get(groupId);
    if (group === undefined) return undefined;
    return {
      epoch: group.epoch,
      members: [...group.members.values()].map((m) => ({
        memberId: m.id,
        rackId: m.rackId,
        memberEpoch: m.epoch,
        clientId: m.clientId,
        clientHost: m.clientHost,
        topics: m.topics,
        assignment: this.assignmentOf(groupId, m.id),
      })),
    };
  }

  list(): Array<{ groupId: string; state: 'Empty' | 'Stable' }> {
    return [...this.#groups.values()].map((g) => ({
      groupId: g.id,
      state: g.members.size === 0 ? 'Empty' : 'Stable',
    }));
  }

  /** Deletes an empty share group and its share-partitions (DeleteGroups); NON_EMPTY_GROUP while it has members. */
  delete(groupId: string): KafkaError | undefined {
    const group = this.#groups.get(groupId);
    if (group === undefined) return undefined;
    if (group.members.size > 0) return KafkaError.nonEmptyGroup;
    for (const sp of group.partitions.values()) sp.close();
    this.#groups.delete(groupId);
    return KafkaError.none;
  }

  close(): void {
    for (const group of this.#groups.values()) {
      for (const m of group.members.values()) m.timer?.cancel();
      for (const sp of group.partitions.values()) sp.close();
    }
    this.#groups.clear();
  }
}
