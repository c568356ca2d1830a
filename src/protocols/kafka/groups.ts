/**
 * The classic consumer-group coordinator (Kafka's GroupCoordinator, KIP-345 static membership,
 * KIP-394 MEMBER_ID_REQUIRED). A group moves Empty → PreparingRebalance → CompletingRebalance →
 * Stable: JoinGroup answers wait until every known member has rejoined (or the rebalance timeout
 * drops the laggards), the leader's SyncGroup assignment is handed to everyone, and a member whose
 * session lapses without a heartbeat is removed, which starts a new rebalance. Assignments are opaque
 * bytes computed by the leader. Committed offsets live in core; with a `GroupStore` the group's
 * metadata is durable too (group-store.ts): written when SyncGroup completes a generation, when a
 * member leaves, expires or is replaced, and removed on delete. Loaded groups give every member a new
 * session timeout, so members that come back with their member id and generation carry on without a
 * rebalance and the others expire as usual (Kafka's GroupMetadataManager does the same on load).
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from '../../core/api.js';
import { groupNameCharsMax } from '../../core/groups.js';
import { systemClock } from '../../shared/clock.js';
import { groupCleanupIntervalMs } from './consumer-groups.js';
import { KafkaError } from './errors.js';
import type { GroupStore, StoredGroup, StoredMember } from './group-store.js';
import type { KafkaOptions } from './options.js';

export type GroupState = 'Empty' | 'PreparingRebalance' | 'CompletingRebalance' | 'Stable' | 'Dead';

/** The longest rebalance the coordinator waits for, whatever members ask. */
const rebalanceTimeoutMsMax = 5 * 60 * 1000;
/** Groups kept at once (members or not). */
const groupsMax = 100_000;
/**
 * Member ids handed out with MEMBER_ID_REQUIRED (KIP-394) and not yet brought back, over every group;
 * past it the oldest is forgotten (its JoinGroup then meets UNKNOWN_MEMBER_ID and starts again).
 */
export const pendingMemberIdsMax = 10_000;

type Timer = ReturnType<Clock['setTimeout']>;

export interface Protocol {
  readonly name: string;
  readonly metadata: Uint8Array;
}

export interface JoinInput {
  readonly groupId: string;
  readonly memberId: string;
  readonly groupInstanceId: string | null;
  readonly clientId: string;
  readonly clientHost: string;
  readonly sessionTimeoutMs: number;
  readonly rebalanceTimeoutMs: number;
  readonly protocolType: string;
  readonly protocols: readonly Protocol[];
  /** JoinGroup v4+: an unknown member first gets MEMBER_ID_REQUIRED and its id. */
  readonly requireKnownMemberId: boolean;
}

export interface JoinResult {
  readonly errorCode: KafkaError;
  readonly generationId: number;
  readonly protocolType: string | null;
  readonly protocolName: string | null;
  readonly leader: string;
  readonly memberId: string;
  readonly members: Array<{ memberId: string; groupInstanceId: string | null; metadata: Uint8Array }>;
}

export interface SyncResult {
  readonly errorCode: KafkaError;
  readonly protocolType: string | null;
  readonly protocolName: string | null;
  readonly assignment: Uint8Array;
}

interface Member {
  id: string;
  readonly instanceId: string | null;
  readonly clientId: string;
  readonly clientHost: string;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  protocols: readonly Protocol[];
  assignment: Uint8Array;
  joinWaiter?: ((result: JoinResult) => void) | undefined;
  syncWaiter?: ((result: SyncResult) => void) | undefined;
  sessionTimer?: Timer | undefined;
}

interface Group {
  readonly id: string;
  state: GroupState;
  generation: number;
  protocolType: string | null;
  protocol: string | null;
  leader: string | null;
  readonly members: Map<string, Member>;
  readonly staticMembers: Map<string, string>;
  readonly pending: Map<string, Timer>;
  rebalanceTimer?: Timer | undefined;
  /** Set while a group that had no members waits out group.initial.rebalance.delay.ms. */
  initialJoin?: { newMemberAdded: boolean } | undefined;
}

const empty = new Uint8Array(0);

function joinError(errorCode: KafkaError, memberId = ''): JoinResult {
  return {
    errorCode,
    generationId: -1,
    protocolType: null,
    protocolName: null,
    leader: '',
    memberId,
    members: [],
  };
}

function syncError(errorCode: KafkaError): SyncResult {
  return { errorCode, protocolType: null, protocolName: null, assignment: empty };
}

/**
 * KIP-345: a request naming an instance id that now belongs to another member id comes from a member
 * that a newer one replaced; Kafka checks this before whether the member id is still known.
 */
function fenced(group: Group | undefined, memberId: string, instanceId: string | null): boolean {
  if (group === undefined || instanceId === null) return false;
  const current = group.staticMembers.get(instanceId);
  return current !== undefined && current !== memberId;
}

function sameProtocols(a: readonly Protocol[], b: readonly Protocol[]): boolean {
  return (
    a.length === b.length &&
    a.every((p, i) => p.name === b[i]!.name && Buffer.compare(p.metadata, b[i]!.metadata) === 0)
  );
}

export class GroupCoordinator {
  readonly #groups = new Map<string, Group>();
  /** Every pending member id, oldest first, with its group (`pendingMemberIdsMax`). */
  readonly #pendingIds = new Map<string, Group>();
  readonly #options: KafkaOptions;
  readonly #store: GroupStore | undefined;
  readonly #report: (err: unknown, groupId: string) => void;
  readonly #clock: Clock;
  #closed = false;
  #cleanupTimer: Timer;

  /**
   * `report` hears of group records that could not be written (the group goes on in memory); every
   * timeout (sessions, rebalances, the initial delay) runs on `clock`.
   */
  constructor(
    options: KafkaOptions,
    store?: GroupStore,
    report: (err: unknown, groupId: string) => void = () => undefined,
    clock: Clock = systemClock,
  ) {
    this.#options = options;
    this.#store = store;
    this.#report = report;
    this.#clock = clock;
    if (store !== undefined) for (const stored of store.load(groupsMax)) this.#restore(stored);
    this.#cleanupTimer = this.#armCleanup();
  }

  #armCleanup(): Timer {
    return this.#clock.setTimeout(() => this.#cleanup(), groupCleanupIntervalMs);
  }

  /**
   * Kafka's periodic cleanup (every offsets.retention.check.interval.ms): an empty group left with no
   * committed offsets (core expires them, KIP-211) is deleted, its stored record with it. Before,
   * such groups were kept for good.
   */
  #cleanup(): void {
    // Armed before the run, so a run that throws does not end the schedule.
    this.#cleanupTimer = this.#armCleanup();
    for (const [groupId, group] of this.#groups) {
      const empty = group.state === 'Empty' && group.members.size === 0 && group.pending.size === 0;
      if (empty && this.#store?.hasOffsets(groupId) !== true) this.delete(groupId);
    }
  }

  /** A group as stored: stable (or rebalancing, if someone had left), every member on a new session. */
  #restore(stored: StoredGroup): void {
    const group = this.#groupFor(stored.id)!;
    group.generation = stored.generation;
    group.protocolType = stored.protocolType;
    group.protocol = stored.protocol;
    group.leader = stored.leader;
    for (const m of stored.members) {
      const member: Member = { ...m };
      group.members.set(m.id, member);
      if (m.instanceId !== null) group.staticMembers.set(m.instanceId, m.id);
    }
    if (group.members.size === 0) {
      group.state = 'Empty';
      return;
    }
    group.state = 'Stable';
    for (const member of group.members.values()) this.#touch(group, member);
    if (stored.rebalance) this.#prepareRebalance(group);
  }

  /** Writes the group's record (one put); resolves once durable, never rejects. */
  #persist(group: Group, rebalance = false): Promise<void> {
    if (this.#store === undefined || this.#closed) return Promise.resolve();
    const members: StoredMember[] = [...group.members.values()].map((m) => ({
      id: m.id,
      instanceId: m.instanceId,
      clientId: m.clientId,
      clientHost: m.clientHost,
      sessionTimeoutMs: m.sessionTimeoutMs,
      rebalanceTimeoutMs: m.rebalanceTimeoutMs,
      protocols: m.protocols,
      assignment: m.assignment,
    }));
    const stored: StoredGroup = {
      id: group.id,
      generation: group.generation,
      protocolType: group.protocolType,
      protocol: group.protocol,
      leader: group.leader,
      rebalance,
      members,
    };
    return this.#store.save(stored).then(
      () => undefined,
      (err: unknown) => this.#report(err, group.id),
    );
  }

  join(input: JoinInput): Promise<JoinResult> {
    // Core stores no longer name; before, such a group was kept here all the same.
    if (input.groupId === '' || input.groupId.length > groupNameCharsMax)
      return Promise.resolve(joinError(KafkaError.invalidGroupId));
    const { sessionTimeoutMsMin: min, sessionTimeoutMsMax: max } = this.#options;
    if (input.sessionTimeoutMs < min || input.sessionTimeoutMs > max) {
      return Promise.resolve(joinError(KafkaError.invalidSessionTimeout, input.memberId));
    }
    const group = this.#groupFor(input.groupId);
    if (group === undefined)
      return Promise.resolve(joinError(KafkaError.groupMaxSizeReached, input.memberId));
    if (!this.#protocolsFit(group, input))
      return Promise.resolve(joinError(KafkaError.inconsistentGroupProtocol, input.memberId));
    if (input.memberId === '') return this.#joinNew(group, input);
    return this.#joinKnown(group, input);
  }

  #joinNew(group: Group, input: JoinInput): Promise<JoinResult> {
    const memberId = `${input.clientId || 'member'}-${randomUUID()}`;
    if (input.groupInstanceId !== null) {
      const previous = group.staticMembers.get(input.groupInstanceId);
      if (previous !== undefined) return this.#replaceStatic(group, previous, memberId, input);
    }
    // Ids handed out and not yet back count as members: before, each came back past the bound.
    if (group.members.size + group.pending.size >= this.#options.groupMembersMax)
      return Promise.resolve(joinError(KafkaError.groupMaxSizeReached));
    if (input.groupInstanceId === null && input.requireKnownMemberId) {
      // KIP-394: the id is handed out first and must come back within a session timeout.
      this.#addPending(group, memberId, input.sessionTimeoutMs);
      return Promise.resolve(joinError(KafkaError.memberIdRequired, memberId));
    }
    return this.#addAndRebalance(group, memberId, input);
  }

  #addPending(group: Group, memberId: string, sessionTimeoutMs: number): void {
    const oldest = this.#pendingIds.entries().next().value;
    if (oldest !== undefined && this.#pendingIds.size >= pendingMemberIdsMax)
      this.#dropPending(oldest[1], oldest[0]);
    const timer = this.#clock.setTimeout(() => this.#dropPending(group, memberId), sessionTimeoutMs);
    group.pending.set(memberId, timer);
    this.#pendingIds.set(memberId, group);
  }

  /**
   * Forgets a pending member id; whether it was still pending. An id `group` did not hand out stays
   * counted: a JoinGroup bringing it to another group must not take it out of `pendingMemberIdsMax`.
   */
  #dropPending(group: Group, memberId: string): boolean {
    const timer = group.pending.get(memberId);
    if (timer === undefined) return false;
    this.#pendingIds.delete(memberId);
    timer.cancel();
    group.pending.delete(memberId);
    return true;
  }

  #joinKnown(group: Group, input: JoinInput): Promise<JoinResult> {
    if (this.#dropPending(group, input.memberId)) {
      if (group.members.size >= this.#options.groupMembersMax)
        return Promise.resolve(joinError(KafkaError.groupMaxSizeReached, input.memberId));
      return this.#addAndRebalance(group, input.memberId, input);
    }
    if (fenced(group, input.memberId, input.groupInstanceId))
      return Promise.resolve(joinError(KafkaError.fencedInstanceId, input.memberId));
    const member = group.members.get(input.memberId);
    if (member === undefined) return Promise.resolve(joinError(KafkaError.unknownMemberId, input.memberId));
    const unchanged = sameProtocols(member.protocols, input.protocols);
    member.protocols = input.protocols;
    member.sessionTimeoutMs = input.sessionTimeoutMs;
    member.rebalanceTimeoutMs = input.rebalanceTimeoutMs;
    this.#touch(group, member);
    // A follower rejoining a stable group with the same metadata gets the current generation back.
    if (group.state === 'Stable' && unchanged && group.leader !== member.id) {
      return Promise.resolve(this.#joinResult(group, member));
    }
    if (group.state !== 'PreparingRebalance') this.#prepareRebalance(group);
    return this.#awaitJoin(group, member);
  }

  /**
   * KIP-345: a static member restarting takes over its old identity. The member it replaces is fenced
   * (its parked requests answer FENCED_INSTANCE_ID). In a stable group whose chosen protocol still
   * fits, nobody rebalances: the newcomer gets the current generation and, at SyncGroup, the old
   * assignment. As Kafka does before JoinGroup v9 (no skipAssignment), the answer names the leader
   * as it was, so a restarted leader acts as a follower and does not reassign.
   */
  #replaceStatic(group: Group, previousId: string, memberId: string, input: JoinInput): Promise<JoinResult> {
    const old = group.members.get(previousId);
    const instanceId = input.groupInstanceId ?? '';
    if (old === undefined) {
      group.staticMembers.delete(instanceId);
      return this.#addAndRebalance(group, memberId, input);
    }
    const leaderBefore = group.leader ?? '';
    old.joinWaiter?.(joinError(KafkaError.fencedInstanceId, previousId));
    old.syncWaiter?.(syncError(KafkaError.fencedInstanceId));
    old.joinWaiter = undefined;
    old.syncWaiter = undefined;
    old.sessionTimer?.cancel();
    group.members.delete(previousId);
    const member = this.#newMember(memberId, input);
    member.assignment = old.assignment;
    group.members.set(memberId, member);
    group.staticMembers.set(instanceId, memberId);
    if (group.leader === previousId) group.leader = memberId;
    this.#touch(group, member);
    if (group.state === 'Stable' && this.#selectProtocol(group) === group.protocol) {
      // The new member id must survive a restart, or the restarted member would be unknown.
      const answer = { ...this.#joinResult(group, member), leader: leaderBefore, members: [] };
      return this.#persist(group).then(() => answer);
    }
    if (group.state !== 'PreparingRebalance') this.#prepareRebalance(group);
    return this.#awaitJoin(group, member);
  }

  #newMember(id: string, input: JoinInput): Member {
    return {
      id,
      instanceId: input.groupInstanceId,
      clientId: input.clientId,
      clientHost: input.clientHost,
      sessionTimeoutMs: input.sessionTimeoutMs,
      rebalanceTimeoutMs: input.rebalanceTimeoutMs,
      protocols: input.protocols,
      assignment: empty,
    };
  }

  #addAndRebalance(group: Group, memberId: string, input: JoinInput): Promise<JoinResult> {
    const member = this.#newMember(memberId, input);
    // The first member names the group's protocol type; it outlives the members, as in Kafka.
    if (group.members.size === 0) group.protocolType = input.protocolType;
    group.members.set(memberId, member);
    if (input.groupInstanceId !== null) group.staticMembers.set(input.groupInstanceId, memberId);
    this.#touch(group, member);
    if (group.state !== 'PreparingRebalance') this.#prepareRebalance(group);
    else if (group.initialJoin !== undefined) group.initialJoin.newMemberAdded = true;
    return this.#awaitJoin(group, member);
  }

  #awaitJoin(group: Group, member: Member): Promise<JoinResult> {
    return new Promise((resolve) => {
      member.joinWaiter?.(joinError(KafkaError.unknownMemberId, member.id));
      member.joinWaiter = resolve;
      this.#tryCompleteJoin(group);
    });
  }

  #protocolsFit(group: Group, input: JoinInput): boolean {
    if (input.protocols.length === 0) return false;
    const others = [...group.members.values()].filter((m) => m.id !== input.memberId);
    if (others.length === 0) return true;
    if (group.protocolType !== null && group.protocolType !== input.protocolType) return false;
    return input.protocols.some((p) => others.every((m) => m.protocols.some((q) => q.name === p.name)));
  }

  #prepareRebalance(group: Group): void {
    for (const member of group.members.values()) {
      member.syncWaiter?.(syncError(KafkaError.rebalanceInProgress));
      member.syncWaiter = undefined;
    }
    const initial = group.state === 'Empty';
    group.state = 'PreparingRebalance';
    const members = [...group.members.values()];
    const timeoutMs = Math.min(
      rebalanceTimeoutMsMax,
      Math.max(0, ...members.map((m) => m.rebalanceTimeoutMs)),
    );
    group.rebalanceTimer?.cancel();
    const delayMs = this.#options.groupInitialRebalanceDelayMs;
    if (initial && delayMs > 0) {
      group.initialJoin = { newMemberAdded: false };
      this.#delayInitialJoin(group, delayMs, Math.max(timeoutMs - delayMs, 0));
      return;
    }
    group.initialJoin = undefined;
    group.rebalanceTimer = this.#clock.setTimeout(() => this.#completeJoin(group), timeoutMs);
  }

  /**
   * Kafka's initial delayed join (KIP-134): a group that had no members waits `delayMs` before its
   * first generation, even once everyone known has joined; if someone new joined meanwhile it waits
   * again, until the rebalance timeout is spent. Without it the first consumer of a starting group
   * would take every partition and give them back at once.
   */
  #delayInitialJoin(group: Group, delayMs: number, remainingMs: number): void {
    group.rebalanceTimer = this.#clock.setTimeout(() => {
      const joining = group.initialJoin;
      if (joining?.newMemberAdded === true && remainingMs > 0) {
        joining.newMemberAdded = false;
        const nextMs = Math.min(this.#options.groupInitialRebalanceDelayMs, remainingMs);
        this.#delayInitialJoin(group, nextMs, remainingMs - nextMs);
      } else this.#completeJoin(group);
    }, delayMs);
  }

  #tryCompleteJoin(group: Group): void {
    if (group.state !== 'PreparingRebalance' || group.initialJoin !== undefined) return;
    for (const member of group.members.values()) if (member.joinWaiter === undefined) return;
    this.#completeJoin(group);
  }

  /** Ends the join phase: laggards are dropped, a protocol chosen, and every waiting member answered. */
  #completeJoin(group: Group): void {
    if (group.state !== 'PreparingRebalance') return;
    group.rebalanceTimer?.cancel();
    group.rebalanceTimer = undefined;
    group.initialJoin = undefined;
    for (const member of [...group.members.values()])
      if (member.joinWaiter === undefined) this.#remove(group, member);
    group.generation += 1;
    if (group.members.size === 0) {
      // Kafka keeps the protocol type of a group that empties: it is still a consumer group.
      group.state = 'Empty';
      group.protocol = null;
      group.leader = null;
      void this.#persist(group);
      return;
    }
    group.protocol = this.#selectProtocol(group);
    if (group.leader === null || !group.members.has(group.leader))
      group.leader = group.members.keys().next().value ?? null;
    group.state = 'CompletingRebalance';
    for (const member of group.members.values()) {
      const waiter = member.joinWaiter;
      member.joinWaiter = undefined;
      this.#touch(group, member);
      waiter?.(this.#joinResult(group, member));
    }
  }

  /** The protocol every member supports with the most first-choice votes, as Kafka's vote. */
  #selectProtocol(group: Group): string {
    const members = [...group.members.values()];
    const candidates = members[0]!.protocols
      .map((p) => p.name)
      .filter((name) => members.every((m) => m.protocols.some((p) => p.name === name)));
    const votes = new Map<string, number>();
    for (const m of members) {
      const choice = m.protocols.find((p) => candidates.includes(p.name))?.name;
      if (choice !== undefined) votes.set(choice, (votes.get(choice) ?? 0) + 1);
    }
    let best = candidates[0] ?? members[0]!.protocols[0]!.name;
    for (const name of candidates) if ((votes.get(name) ?? 0) > (votes.get(best) ?? 0)) best = name;
    return best;
  }

  #joinResult(group: Group, member: Member): JoinResult {
    const isLeader = group.leader === member.id;
    const protocol = group.protocol ?? '';
    return {
      errorCode: KafkaError.none,
      generationId: group.generation,
      protocolType: group.protocolType,
      protocolName: group.protocol,
      leader: group.leader ?? '',
      memberId: member.id,
      members: isLeader
        ? [...group.members.values()].map((m) => ({
            memberId: m.id,
            groupInstanceId: m.instanceId,
            metadata: m.protocols.find((p) => p.name === protocol)?.metadata ?? empty,
          }))
        : [],
    };
  }

  sync(
    groupId: string,
    memberId: string,
    generation: number,
    instanceId: string | null,
    assignments: ReadonlyArray<{ memberId: string; assignment: Uint8Array }>,
  ): Promise<SyncResult> {
    const group = this.#groups.get(groupId);
    if (fenced(group, memberId, instanceId)) return Promise.resolve(syncError(KafkaError.fencedInstanceId));
    const member = group?.members.get(memberId);
    if (group === undefined || member === undefined)
      return Promise.resolve(syncError(KafkaError.unknownMemberId));
    if (generation !== group.generation) return Promise.resolve(syncError(KafkaError.illegalGeneration));
    this.#touch(group, member);
    if (group.state === 'PreparingRebalance')
      return Promise.resolve(syncError(KafkaError.rebalanceInProgress));
    if (group.state === 'Stable') return Promise.resolve(this.#syncResult(group, member));
    return new Promise((resolve) => {
      member.syncWaiter?.(syncError(KafkaError.rebalanceInProgress));
      member.syncWaiter = resolve;
      if (group.leader !== memberId) return;
      const given = new Map(assignments.map((a) => [a.memberId, a.assignment]));
      for (const m of group.members.values()) m.assignment = Uint8Array.from(given.get(m.id) ?? empty);
      group.state = 'Stable';
      // As Kafka, the generation is answered once its record is stored; a rebalance started meanwhile
      // has already answered the waiters with REBALANCE_IN_PROGRESS.
      const generation = group.generation;
      void this.#persist(group).then(() => this.#answerSync(group, generation));
    });
  }

  #answerSync(group: Group, generation: number): void {
    if (group.state !== 'Stable' || group.generation !== generation) return;
    for (const m of group.members.values()) {
      const waiter = m.syncWaiter;
      m.syncWaiter = undefined;
      waiter?.(this.#syncResult(group, m));
    }
  }

  #syncResult(group: Group, member: Member): SyncResult {
    return {
      errorCode: KafkaError.none,
      protocolType: group.protocolType,
      protocolName: group.protocol,
      assignment: member.assignment,
    };
  }

  heartbeat(groupId: string, memberId: string, generation: number, instanceId: string | null): KafkaError {
    const group = this.#groups.get(groupId);
    if (fenced(group, memberId, instanceId)) return KafkaError.fencedInstanceId;
    const member = group?.members.get(memberId);
    if (group === undefined || member === undefined) return KafkaError.unknownMemberId;
    if (generation !== group.generation) return KafkaError.illegalGeneration;
    this.#touch(group, member);
    return group.state === 'PreparingRebalance' ? KafkaError.rebalanceInProgress : KafkaError.none;
  }

  leave(groupId: string, memberId: string, instanceId: string | null): KafkaError {
    const group = this.#groups.get(groupId);
    if (group === undefined) return KafkaError.unknownMemberId;
    // v3+ lets a static member leave by instance id alone (KIP-345).
    const id = memberId === '' && instanceId !== null ? group.staticMembers.get(instanceId) : memberId;
    if (id !== undefined && fenced(group, id, instanceId)) return KafkaError.fencedInstanceId;
    const member = id === undefined ? undefined : group.members.get(id);
    if (member === undefined) return KafkaError.unknownMemberId;
    this.#removeAndRebalance(group, member);
    return KafkaError.none;
  }

  /** May this member (or a standalone client: generation < 0, no member id) commit offsets now? */
  checkCommit(groupId: string, memberId: string, generation: number, instanceId: string | null): KafkaError {
    const group = this.#groups.get(groupId);
    // Generation -1 is the admin client or a consumer outside group management: Kafka takes its
    // commit while the group has no members, whatever member id it names (a KIP-848 client names its own).
    if (generation < 0 && (group === undefined || group.members.size === 0)) return KafkaError.none;
    if (generation < 0 && memberId === '') return KafkaError.unknownMemberId;
    if (group === undefined) return KafkaError.illegalGeneration;
    if (fenced(group, memberId, instanceId)) return KafkaError.fencedInstanceId;
    const member = group.members.get(memberId);
    if (member === undefined) return KafkaError.unknownMemberId;
    if (generation !== group.generation) return KafkaError.illegalGeneration;
    if (group.state === 'CompletingRebalance') return KafkaError.rebalanceInProgress;
    this.#touch(group, member);
    return KafkaError.none;
  }

  #touch(group: Group, member: Member): void {
    member.sessionTimer?.cancel();
    if (this.#closed) return;
    member.sessionTimer = this.#clock.setTimeout(() => this.#expire(group, member), member.sessionTimeoutMs);
  }

  #expire(group: Group, member: Member): void {
    if (group.members.get(member.id) !== member) return;
    // A member parked in JoinGroup is bounded by the rebalance timeout instead.
    if (member.joinWaiter !== undefined) this.#touch(group, member);
    else this.#removeAndRebalance(group, member);
  }

  #remove(group: Group, member: Member): void {
    member.sessionTimer?.cancel();
    group.members.delete(member.id);
    if (member.instanceId !== null && group.staticMembers.get(member.instanceId) === member.id)
      group.staticMembers.delete(member.instanceId);
    member.joinWaiter?.(joinError(KafkaError.unknownMemberId, member.id));
    member.syncWaiter?.(syncError(KafkaError.unknownMemberId));
    member.joinWaiter = undefined;
    member.syncWaiter = undefined;
  }

  #removeAndRebalance(group: Group, member: Member): void {
    this.#remove(group, member);
    if (group.state !== 'PreparingRebalance') this.#prepareRebalance(group);
    void this.#persist(group, true);
    this.#tryCompleteJoin(group);
  }

  #groupFor(groupId: string): Group | undefined {
    let group = this.#groups.get(groupId);
    if (group !== undefined) return group;
    if (this.#groups.size >= groupsMax) return undefined;
    group = {
      id: groupId,
      state: 'Empty',
      generation: 0,
      protocolType: null,
      protocol: null,
      leader: null,
      members: new Map(),
      staticMembers: new Map(),
      pending: new Map(),
    };
    this.#groups.set(groupId, group);
    return group;
  }

  describe(groupId: string): {
    state: GroupState;
    protocolType: string;
    protocol: string;
    members: Array<{
      memberId: string;
      groupInstanceId: string | null;
      clientId: string;
      clientHost: string;
      metadata: Uint8Array;
      assignment: Uint8Array;
    }>;
  } {
    const group = this.#groups.get(groupId);
    if (group === undefined) return { state: 'Dead', protocolType: '', protocol: '', members: [] };
    const protocol = group.protocol ?? '';
    return {
      state: group.state,
      protocolType: group.protocolType ?? '',
      protocol: group.state === 'Stable' ? protocol : '',
      members: [...group.members.values()].map((m) => ({
        memberId: m.id,
        groupInstanceId: m.instanceId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        metadata: m.protocols.find((p) => p.name === protocol)?.metadata ?? empty,
        assignment: m.assignment,
      })),
    };
  }

  list(): Array<{ groupId: string; protocolType: string; state: GroupState }> {
    return [...this.#groups.values()].map((g) => ({
      groupId: g.id,
      protocolType: g.protocolType ?? '',
      state: g.state,
    }));
  }

  /** Deletes an empty group; NON_EMPTY_GROUP while it has members. */
  delete(groupId: string): KafkaError {
    const group = this.#groups.get(groupId);
    if (group === undefined) return KafkaError.none;
    if (group.members.size > 0) return KafkaError.nonEmptyGroup;
    group.rebalanceTimer?.cancel();
    for (const memberId of [...group.pending.keys()]) this.#dropPending(group, memberId);
    this.#groups.delete(groupId);
    this.#store?.remove(groupId).catch((err: unknown) => this.#report(err, groupId));
    return KafkaError.none;
  }

  has(groupId: string): boolean {
    return this.#groups.has(groupId);
  }

  close(): void {
    this.#closed = true;
    this.#cleanupTimer.cancel();
    for (const group of this.#groups.values()) {
      group.rebalanceTimer?.cancel();
      for (const timer of group.pending.values()) timer.cancel();
      for (const member of group.members.values()) {
        member.sessionTimer?.cancel();
        member.joinWaiter?.(joinError(KafkaError.coordinatorNotAvailable, member.id));
        member.syncWaiter?.(syncError(KafkaError.coordinatorNotAvailable));
      }
    }
    this.#groups.clear();
    this.#pendingIds.clear();
  }
}
