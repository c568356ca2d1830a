/**
 * Share groups (KIP-932): members join with ShareGroupHeartbeat and are assigned the partitions of the
 * topics they subscribe to by ./share-assignor.ts: spread over the members, shared by several only when
 * members outnumber partitions (a share-partition hands each record to one member at a time, so it
 * needs no exclusive owner, and an assignment changes without revoking anything). A member acquires
 * records only of the partitions assigned to it now. Share sessions (one per member,
 * KIP-932's counterpart of KIP-227) carry the partitions a member fetches. Members and sessions live in
 * memory; share-partitions and group configs are also stored in core (the group's log, as Kafka's
 * share coordinator keeps `__share_group_state`), every change as it happens, so after a restart a
 * share group goes on where it was: what was done stays done, and what was acquired is available again
 * with its delivery count.
 */
import type { Clock, ShareGroupState, ShareStateChange } from '../../core/api.js';
import { groupNameCharsMax } from '../../core/groups.js';
import type { Assignment } from './assignors.js';
import type { ConfigChange } from './config-ops.js';
import {
  consumerHeartbeatIntervalMs,
  consumerSessionTimeoutMs,
  groupCleanupIntervalMs,
  groupIdTooLong,
  subscribedTopicsMax,
  tooManyTopics,
} from './consumer-groups.js';
import { KafkaError } from './errors.js';
import { HeldPartitions } from './fetch-sessions.js';
import { shareAssignor } from './share-assignor.js';
import { SharePartition, shareRecordLockMs } from './share-partition.js';

/** Kafka's group.share.session.timeout.ms and group.share.heartbeat.interval.ms. */
export const shareSessionTimeoutMs = 45_000;
export const shareHeartbeatIntervalMs = 5_000;
/** Kafka's group.share.max.size. */
export const shareGroupMembersMax = 200;
/** Share sessions on the broker; Kafka's share session cache is bounded the same way. */
export const shareSessionsMax = 1000;
/**
 * Partitions one share session may hold, as `fetchSessionPartitionsMax` bounds a fetch session: a
 * ShareFetch that would grow a session past it is refused (INVALID_REQUEST), so one request cannot
 * make every later fetch of the session walk 100,000 partitions.
 */
export const shareSessionPartitionsMax = 10_000;
/**
 * Partitions all share sessions hold together, as `fetchSessionCachePartitionsMax` bounds fetch
 * sessions (Switchyard's bound; Kafka bounds only the sessions, group.share.max.share.sessions):
 * 1000 sessions × 10,000 partitions would hold gigabytes. A ShareFetch that would pass it gets
 * Kafka's answer for a full cache, SHARE_SESSION_LIMIT_REACHED, and leaves any session unchanged.
 */
export const shareSessionCachePartitionsMax = 100_000;
const groupsMax = 10_000;

/** Where share groups' state is kept (core's group logs). */
export interface ShareStore {
  load(): ShareGroupState[];
  /** Resolves once durable. */
  write(groupId: string, change: ShareStateChange): Promise<void>;
}

/** A store that keeps nothing (tests of the coordinator alone). */
export const noShareStore: ShareStore = { load: () => [], write: () => Promise.resolve() };

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
  /** The member's part of the group's assignment, as last computed. */
  assigned: Assignment;
  timer?: Timer;
}

/** A partition of a share session: by topic id, as Kafka's share session cache keys it (KIP-932). */
export interface SessionPartition {
  readonly topic: string;
  readonly topicId: string;
  readonly partition: number;
}

interface Session {
  nextEpoch: number;
  /** By `partition:topicId`: a topic created again under its name is another entry. */
  readonly partitions: Map<string, SessionPartition>;
}

interface Group {
  readonly id: string;
  epoch: number;
  readonly members: Map<string, Member>;
  readonly sessions: Map<string, Session>;
  /** By `partition:topic`. */
  readonly partitions: Map<string, SharePartition>;
  /**
   * The topic id (KIP-516) each share-partition was made for, by the same key; none yet for one
   * restored after a restart, which takes the id of its first read (core dropped the stored state of a
   * topic deleted meanwhile).
   */
  readonly topicIds: Map<string, string>;
  reset: ShareReset;
  lockMs: number;
  /**
   * consumer.session.timeout.ms and consumer.heartbeat.interval.ms: GROUP configs (KIP-848) for the
   * consumer group of this id, kept here with the share group configs as Kafka keeps every group's.
   */
  consumerSessionMs: number;
  consumerHeartbeatMs: number;
  /** `share.isolation.level`: read_committed hands out committed records only (KIP-932). */
  committed: boolean;
  /** Share-partitions changed since their last write, by key. */
  readonly changed: Set<string>;
  /**
   * The last write of the group's state, true once durable (then every earlier one is), false when
   * it failed (a failed write fails the group's log, so no later one lands before it is opened again).
   */
  written: Promise<boolean>;
  /** What the assignment was computed from (epoch, partition counts), so it is computed once per change. */
  assignedFrom: string;
}

export interface ShareHeartbeatResult {
  readonly errorCode: KafkaError;
  readonly errorMessage: string | null;
  readonly memberId: string;
  readonly memberEpoch: number;
  readonly assignment: Assignment | null;
}

const keyOf = (topic: string, partition: number): string => `${partition}:${topic}`;

/** How many partitions a session holding `held` would hold once `added` join and `forgotten` leave. */
function grownSize(
  held: ReadonlyMap<string, unknown>,
  added: ReadonlyArray<{ topicId: string; partition: number }>,
  forgotten: ReadonlyArray<{ topicId: string; partition: number }>,
): number {
  const keys = new Set(held.keys());
  for (const p of forgotten) keys.delete(keyOf(p.topicId, p.partition));
  for (const p of added) keys.add(keyOf(p.topicId, p.partition));
  return keys.size;
}
const topicOfKey = (key: string): [string, number] => [
  key.slice(key.indexOf(':') + 1),
  Number.parseInt(key, 10),
];

export class ShareGroupCoordinator {
  readonly #groups = new Map<string, Group>();
  readonly #clock: Clock;
  readonly #partitions: (topic: string) => number | undefined;
  #sessions = 0;
  readonly #held: HeldPartitions;
  readonly #store: ShareStore;
  readonly #report: (err: unknown, groupId: string) => void;
  #cleanupTimer: Timer;

  constructor(
    clock: Clock,
    partitions: (topic: string) => number | undefined,
    store: ShareStore = noShareStore,
    report: (err: unknown, groupId: string) => void = () => undefined,
    sessionPartitionsMax = shareSessionCachePartitionsMax,
  ) {
    this.#clock = clock;
    this.#held = new HeldPartitions(sessionPartitionsMax);
    this.#partitions = partitions;
    this.#store = store;
    this.#report = report;
    for (const stored of store.load().slice(0, groupsMax)) this.#restore(stored);
    this.#cleanupTimer = this.#armCleanup();
  }

  #armCleanup(): Timer {
    return this.#clock.setTimeout(() => this.#cleanup(), groupCleanupIntervalMs);
  }

  /**
   * Every offsets.retention.check.interval.ms, as the other coordinators: the share-partitions of a
   * topic deleted are dropped (core dropped their stored state with the topic), and a group left with
   * no members, no sessions, no share-partitions and its default configs is deleted. Before, both
   * stayed for good, and past `groupsMax` groups every new share group was refused.
   */
  #cleanup(): void {
    // Armed before the run, so a run that throws does not end the schedule.
    this.#cleanupTimer = this.#armCleanup();
    for (const group of [...this.#groups.values()]) {
      this.#dropDeletedTopics(group);
      if (this.#unused(group)) this.delete(group.id);
    }
  }

  #dropDeletedTopics(group: Group): void {
    for (const [key, sp] of group.partitions) {
      const [topic, partition] = topicOfKey(key);
      const count = this.#partitions(topic);
      if (count !== undefined && partition < count) continue;
      sp.close();
      group.partitions.delete(key);
      group.topicIds.delete(key);
      group.changed.delete(key);
    }
  }

  #unused(group: Group): boolean {
    if (group.members.size > 0 || group.sessions.size > 0 || group.partitions.size > 0) return false;
    return this.configsOf(group.id).every((config) => config.isDefault);
  }

  /** A group as stored before a restart: its configs and share-partitions, no members. */
  #restore(stored: ShareGroupState): void {
    const group = this.#groupFor(stored.group);
    if (group === undefined) return;
    for (const [name, value] of Object.entries(stored.configs)) setterOf(name, value)?.(group);
    for (const p of stored.partitions) {
      const sp = SharePartition.restore(this.#clock, p, group.lockMs);
      this.#watch(group, keyOf(p.stream, p.partition), sp);
    }
  }

  #watch(group: Group, key: string, sp: SharePartition): void {
    group.partitions.set(key, sp);
    sp.onChange = () => {
      if (group.changed.size === 0) queueMicrotask(() => this.#flush(group));
      group.changed.add(key);
    };
  }

  /** Writes what changed in the group's share-partitions, one update each. */
  #flush(group: Group): void {
    for (const key of group.changed) {
      const sp = group.partitions.get(key);
      const [topic, partition] = topicOfKey(key);
      const change = sp?.takeChange(topic, partition);
      if (change !== undefined) this.#write(group, { type: 'update', partition: change });
    }
    group.changed.clear();
  }

  #write(group: Group, change: ShareStateChange): void {
    if (this.#groups.get(group.id) !== group && change.type !== 'clear') return;
    let written: Promise<void>;
    try {
      written = this.#store.write(group.id, change);
    } catch (err) {
      written = Promise.reject(err);
    }
    group.written = written.then(
      () => true,
      (err: unknown) => {
        this.#report(err, group.id);
        return false;
      },
    );
  }

  /**
   * Resolves once every change of the group so far is written (before answering what caused them):
   * true when durable, false when the write failed.
   */
  flushed(groupId: string): Promise<boolean> {
    const group = this.#groups.get(groupId);
    if (group === undefined) return Promise.resolve(true);
    this.#flush(group);
    return group.written;
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
    if (input.groupId.length > groupNameCharsMax) return fail(KafkaError.invalidRequest, groupIdTooLong);
    if (input.subscribedTopicNames !== null && input.subscribedTopicNames.length > subscribedTopicsMax)
      return fail(KafkaError.invalidRequest, tooManyTopics);
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
          assigned: new Map(),
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
      input.subscribedTopicNames === null ? member.topics : [...new Set(input.subscribedTopicNames)];
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

  /** The member's partitions in the group's assignment (./share-assignor.ts). */
  assignmentOf(groupId: string, memberId: string): Assignment {
    const group = this.#groups.get(groupId);
    const member = group?.members.get(memberId);
    if (group === undefined || member === undefined) return new Map();
    this.#assign(group);
    return member.assigned;
  }

  /** Whether the member may acquire records of the partition now. */
  isAssigned(groupId: string, memberId: string, topic: string, partition: number): boolean {
    return this.assignmentOf(groupId, memberId).get(topic)?.has(partition) ?? false;
  }

  /** Computes the group's assignment again when its members, subscriptions or partition counts changed. */
  #assign(group: Group): void {
    const members = [...group.members.values()];
    const topics = [...new Set(members.flatMap((m) => m.topics))].sort();
    const from = JSON.stringify([group.epoch, topics.map((t) => this.#partitions(t) ?? 0)]);
    if (from === group.assignedFrom) return;
    group.assignedFrom = from;
    const result = shareAssignor(
      members.map((m) => ({ id: m.id, topics: m.topics, previous: m.assigned })),
      this.#partitions,
    );
    for (const m of members) m.assigned = result.get(m.id) ?? new Map();
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
      topicIds: new Map(),
      reset: 'latest',
      lockMs: shareRecordLockMs,
      consumerSessionMs: consumerSessionTimeoutMs,
      consumerHeartbeatMs: consumerHeartbeatIntervalMs,
      committed: false,
      changed: new Set(),
      written: Promise.resolve(true),
      assignedFrom: '',
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
    partitions: readonly SessionPartition[],
    forgotten: ReadonlyArray<{ topicId: string; partition: number }>,
  ): SessionPartition[] | KafkaError {
    const group = this.#groups.get(groupId);
    if (group === undefined || !group.members.has(memberId)) return KafkaError.unknownMemberId;
    let session = group.sessions.get(memberId);
    const held = epoch === 0 || session === undefined ? new Map() : session.partitions;
    const grown = grownSize(held, partitions, forgotten);
    if (grown > shareSessionPartitionsMax) return KafkaError.invalidRequest;
    if (epoch === 0) {
      if (session === undefined && this.#sessions >= shareSessionsMax)
        return KafkaError.shareSessionLimitReached;
      if (!this.#held.fits(grown - (session?.partitions.size ?? 0)))
        return KafkaError.shareSessionLimitReached;
      if (session !== undefined) this.closeSession(groupId, memberId);
      session = { nextEpoch: 1, partitions: new Map() };
      group.sessions.set(memberId, session);
      this.#sessions++;
    } else {
      if (session === undefined) return KafkaError.shareSessionNotFound;
      if (epoch !== session.nextEpoch) return KafkaError.invalidShareSessionEpoch;
      if (!this.#held.fits(grown - session.partitions.size)) return KafkaError.shareSessionLimitReached;
      session.nextEpoch = session.nextEpoch === 0x7fffffff ? 1 : session.nextEpoch + 1;
    }
    const before = session.partitions.size;
    for (const p of forgotten) session.partitions.delete(keyOf(p.topicId, p.partition));
    for (const { topic, topicId, partition } of partitions)
      session.partitions.set(keyOf(topicId, partition), { topic, topicId, partition });
    this.#held.change(session.partitions.size - before);
    return [...session.partitions.values()];
  }

  /** The member's share session now, to tell it from one opened after it. */
  sessionOf(groupId: string, memberId: string): object | undefined {
    return this.#groups.get(groupId)?.sessions.get(memberId);
  }

  /** Closes the member's share session if it is still `session` (not one opened since). */
  closeSessionIf(groupId: string, memberId: string, session: object): void {
    if (this.sessionOf(groupId, memberId) === session) this.closeSession(groupId, memberId);
  }

  /** Closes the member's share session; what it holds becomes available to the others. */
  closeSession(groupId: string, memberId: string): void {
    const group = this.#groups.get(groupId);
    if (group === undefined) return;
    const session = group.sessions.get(memberId);
    if (session !== undefined) {
      group.sessions.delete(memberId);
      this.#sessions--;
      this.#held.change(-session.partitions.size);
    }
    for (const sp of group.partitions.values()) sp.releaseAll(memberId);
  }

  /** What the member holds of one partition becomes available to the others (it forgot the partition). */
  release(groupId: string, memberId: string, topic: string, partition: number): void {
    this.#groups.get(groupId)?.partitions.get(keyOf(topic, partition))?.releaseAll(memberId);
  }

  /** True when the group's share-partition exists: some fetch has read (initialized) it. */
  hasPartition(groupId: string, topic: string, partition: number): boolean {
    return this.#groups.get(groupId)?.partitions.has(keyOf(topic, partition)) ?? false;
  }

  /**
   * The share-partition of the topic whose id is `topicId`, created at `start` (from
   * share.auto.offset.reset) the first time it is read. A share-partition made for another id belongs
   * to a topic since deleted and created again under the name: Kafka keys share-partitions by topic id,
   * so its records, locks and delivery counts go and the new topic's share-partition starts afresh.
   */
  partition(
    groupId: string,
    topic: string,
    partition: number,
    topicId: string,
    start: (reset: ShareReset) => number,
  ): SharePartition | undefined {
    const group = this.#groups.get(groupId);
    if (group === undefined) return undefined;
    const key = keyOf(topic, partition);
    let sp = group.partitions.get(key);
    const madeFor = group.topicIds.get(key);
    group.topicIds.set(key, topicId);
    if (sp !== undefined && madeFor !== undefined && madeFor !== topicId) {
      sp.close();
      sp = undefined;
    }
    if (sp === undefined) {
      sp = new SharePartition(this.#clock, start(group.reset), group.lockMs);
      this.#watch(group, key, sp);
      // Stored whole at once, so a restart starts it where it started, not where the log then ends.
      this.#write(group, { type: 'snapshot', partition: sp.takeChange(topic, partition)! });
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

  /** The KIP-848 consumer group's session timeout and heartbeat interval, from its GROUP configs. */
  consumerTimingOf(groupId: string): { readonly sessionMs: number; readonly heartbeatMs: number } {
    const group = this.#groups.get(groupId);
    return {
      sessionMs: group?.consumerSessionMs ?? consumerSessionTimeoutMs,
      heartbeatMs: group?.consumerHeartbeatMs ?? consumerHeartbeatIntervalMs,
    };
  }

  /**
   * Group configs (IncrementalAlterConfigs on a GROUP resource: share.auto.offset.reset,
   * share.isolation.level, share.record.lock.duration.ms, and a consumer group's
   * consumer.session.timeout.ms and consumer.heartbeat.interval.ms), all or none: every value is checked
   * before the first is applied. Returns the first refused change, or undefined when all applied
   * (or, with `validateOnly`, would apply).
   */
  configure(
    groupId: string,
    changes: readonly ConfigChange[],
    validateOnly: boolean,
  ): { code: KafkaError; change: ConfigChange } | undefined {
    const setters = [];
    for (const change of changes) {
      const set = setterOf(change.name, change.value);
      if (set === undefined) return { code: KafkaError.invalidConfig, change };
      setters.push(set);
    }
    if (validateOnly || changes.length === 0) return undefined;
    const group = this.#groups.get(groupId) ?? this.#groupFor(groupId);
    if (group === undefined) return { code: KafkaError.groupMaxSizeReached, change: changes[0]! };
    for (const [i, change] of changes.entries()) {
      setters[i]!(group);
      this.#write(group, { type: 'config', name: change.name, value: change.value });
    }
    return undefined;
  }

  /**
   * Puts back configs whose write failed (`configure` answered for them before it was known), as they
   * were read with `configsOf` before; nothing is written, the group's log failed with that write.
   */
  restoreConfigs(groupId: string, before: ReadonlyArray<{ name: string; value: string }>): void {
    const group = this.#groups.get(groupId);
    if (group !== undefined) for (const { name, value } of before) setterOf(name, value)?.(group);
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
      ...consumerConfigs(group),
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
    // A departed member's session may linger (see #remove); it would keep its slot and partitions.
    for (const memberId of [...group.sessions.keys()]) this.closeSession(groupId, memberId);
    for (const sp of group.partitions.values()) sp.close();
    this.#groups.delete(groupId);
    this.#write(group, { type: 'clear' });
    return KafkaError.none;
  }

  close(): void {
    this.#cleanupTimer.cancel();
    for (const group of this.#groups.values()) {
      for (const m of group.members.values()) m.timer?.cancel();
      for (const sp of group.partitions.values()) sp.close();
    }
    this.#groups.clear();
  }
}

/** What setting a group config to `value` (null: its default) does to a group; undefined when refused. */
function setterOf(name: string, value: string | null): ((group: Group) => void) | undefined {
  switch (name) {
    case 'share.auto.offset.reset':
      if (value !== null && value !== 'latest' && value !== 'earliest') return undefined;
      return (group) => {
        group.reset = value ?? 'latest';
      };
    case 'share.isolation.level':
      if (value !== null && value !== 'read_committed' && value !== 'read_uncommitted') return undefined;
      return (group) => {
        group.committed = value === 'read_committed';
      };
    case 'share.record.lock.duration.ms': {
      const ms = value === null ? shareRecordLockMs : Number(value);
      if (!Number.isInteger(ms) || ms < 1000 || ms > 3_600_000) return undefined;
      return (group) => {
        group.lockMs = ms;
      };
    }
    case 'consumer.session.timeout.ms':
    case 'consumer.heartbeat.interval.ms':
      return consumerSetter(name, value);
    default:
      return undefined;
  }
}

/**
 * Kafka's GroupConfig bounds a consumer group's timing by the broker's group.consumer.min/max
 * session timeout (45 s, 60 s) and heartbeat interval (5 s, 15 s), at their defaults here.
 */
const consumerTiming = {
  'consumer.session.timeout.ms': { min: 45_000, max: 60_000, byDefault: consumerSessionTimeoutMs },
  'consumer.heartbeat.interval.ms': { min: 5_000, max: 15_000, byDefault: consumerHeartbeatIntervalMs },
} as const;

function consumerSetter(name: keyof typeof consumerTiming, value: string | null) {
  const bounds = consumerTiming[name];
  const ms = value === null ? bounds.byDefault : Number(value);
  if (!Number.isInteger(ms) || ms < bounds.min || ms > bounds.max) return undefined;
  return (group: Group) => {
    if (name === 'consumer.session.timeout.ms') group.consumerSessionMs = ms;
    else group.consumerHeartbeatMs = ms;
  };
}

function consumerConfigs(group: Group | undefined) {
  const session = group?.consumerSessionMs ?? consumerSessionTimeoutMs;
  const heartbeat = group?.consumerHeartbeatMs ?? consumerHeartbeatIntervalMs;
  return [
    {
      name: 'consumer.session.timeout.ms',
      value: String(session),
      isDefault: session === consumerSessionTimeoutMs,
    },
    {
      name: 'consumer.heartbeat.interval.ms',
      value: String(heartbeat),
      isDefault: heartbeat === consumerHeartbeatIntervalMs,
    },
  ];
}
