/**
 * The consumer group protocol of KIP-848 (`group.protocol=consumer`): members heartbeat with
 * ConsumerGroupHeartbeat and the broker computes the assignment (assignors.ts). Every change of
 * membership, subscription or partition counts bumps the group epoch and computes a new target
 * assignment; each member then reconciles towards its target one heartbeat at a time: partitions it
 * must give up are taken away first (its epoch stays until it reports them gone), and a partition
 * moves to its new owner only once no other member holds it, so no partition ever has two owners.
 * Sessions (`sessionTimeoutMs`) and the revocation deadline (the member's rebalance timeout) run on
 * core's clock. The group's state is durable as the group's membership record in core
 * (coordinator `consumer`, see group-store.ts), written before a heartbeat that changed it is answered;
 * after a restart members carry on with their epochs and assignments. A member may subscribe by a
 * regular expression (SubscribedTopicRegex, RE2 syntax, topic-regex.ts) as well as by names: it is
 * resolved against the topics at each heartbeat, so a topic created or deleted that it matches moves
 * the group epoch like a change of partition counts.
 */
import type { Clock } from '../../core/api.js';
import { groupNameCharsMax } from '../../core/groups.js';
import { type Assignment, assignors, defaultAssignor, isAssignorName } from './assignors.js';
import { KafkaError } from './errors.js';
import type { GroupStore, StoredGroup, StoredMember } from './group-store.js';
import { TopicRegex, TopicRegexError } from './topic-regex.js';

/** Kafka's group.consumer.session.timeout.ms and group.consumer.heartbeat.interval.ms. */
export const consumerSessionTimeoutMs = 45_000;
export const consumerHeartbeatIntervalMs = 5_000;
/** Kafka's offsets.retention.check.interval.ms: how often groups left empty are looked for. */
export const groupCleanupIntervalMs = 10 * 60 * 1000;
/** Members of one group; Kafka's group.consumer.max.size. */
export const consumerGroupMembersMax = 1000;
/** Groups kept at once. */
const groupsMax = 100_000;
/** Topics one member may subscribe to. */
export const subscribedTopicsMax = 10_000;
export const tooManyTopics = `SubscribedTopicNames must name at most ${subscribedTopicsMax} topics.`;
/** Core stores no longer group name (its offsets, its record): such a group would live here only. */
export const groupIdTooLong = `GroupId must have at most ${groupNameCharsMax} characters.`;
/** Compiled patterns kept for reuse across members and heartbeats. */
const regexesCachedMax = 1000;
/**
 * Distinct SubscribedTopicRegex patterns members hold at once, over every group (Switchyard's: a
 * compiled pattern may hold a hundred KB or more, and members of fresh groups joining with patterns of
 * their own each held one for their session, without bound).
 */
export const regexesInUseMax = 1000;
export const tooManyRegexes = `At most ${regexesInUseMax} distinct SubscribedTopicRegex patterns may be in use at once.`;
/** The coordinator name on the stored record. */
export const consumerCoordinator = 'consumer';

type Timer = ReturnType<Clock['setTimeout']>;

interface Member {
  id: string;
  readonly instanceId: string | null;
  rackId: string | null;
  clientId: string;
  clientHost: string;
  rebalanceTimeoutMs: number;
  topics: string[];
  /** The member's SubscribedTopicRegex, null when it subscribes by names only. */
  regex: TopicRegex | null;
  /**
   * A pattern new to the group resolves after the heartbeat that brought it, as Kafka resolves
   * patterns in the background: that heartbeat assigns the named topics only, a later one the
   * matching ones too (librdkafka's 0045 counts on it).
   */
  regexPending: boolean;
  /** The rights of the member's last heartbeat; a member restored from the store has none until then. */
  mayDescribe?: (topic: string) => boolean;
  assignor: string | null;
  epoch: number;
  previousEpoch: number;
  /** What the member owns (or is being given). */
  assigned: Assignment;
  /** What it must give up before anything else changes. */
  revoking: Assignment;
  /** The assignment last sent, to know when to send it again. */
  sent: string;
  /** -2: a static member that left for now and keeps its place for a session timeout. */
  leftEpoch?: number;
  sessionTimer?: Timer;
  revokeTimer?: Timer;
}

interface Group {
  readonly id: string;
  epoch: number;
  assignmentEpoch: number;
  assignor: string;
  readonly members: Map<string, Member>;
  target: Map<string, Assignment>;
  /** Partition counts of the subscribed topics when the target was computed. */
  topicsSeen: string;
}

export interface HeartbeatInput {
  readonly groupId: string;
  readonly memberId: string;
  readonly memberEpoch: number;
  readonly instanceId: string | null;
  readonly rackId: string | null;
  readonly rebalanceTimeoutMs: number;
  readonly subscribedTopicNames: readonly string[] | null;
  /** Null when unchanged since its last heartbeat; empty to clear it. */
  readonly subscribedTopicRegex: string | null;
  readonly serverAssignor: string | null;
  /** What the member owns now, by topic name; null when unchanged since its last heartbeat. */
  readonly owned: Assignment | null;
  readonly clientId: string;
  readonly clientHost: string;
  /**
   * Whether the member's principal may DESCRIBE a topic: a pattern matches only those, as Kafka
   * filters a regular expression's topics by the subscriber's rights (KIP-848). All when absent.
   */
  readonly mayDescribe?: (topic: string) => boolean;
}

export interface HeartbeatResult {
  readonly errorCode: KafkaError;
  readonly errorMessage: string | null;
  readonly memberId: string;
  readonly memberEpoch: number;
  /** Sent when it changed, on a join, or when the member reported something else. */
  readonly assignment: Assignment | null;
}

export interface DescribedMember {
  readonly memberId: string;
  readonly instanceId: string | null;
  readonly rackId: string | null;
  readonly memberEpoch: number;
  readonly clientId: string;
  readonly clientHost: string;
  readonly subscribedTopicNames: readonly string[];
  readonly subscribedTopicRegex: string | null;
  readonly assignment: Assignment;
  readonly targetAssignment: Assignment;
}

export interface DescribedGroup {
  readonly state: 'empty' | 'assigning' | 'reconciling' | 'stable';
  readonly epoch: number;
  readonly assignmentEpoch: number;
  readonly assignor: string;
  readonly members: DescribedMember[];
}

const fail = (
  errorCode: KafkaError,
  memberId: string,
  errorMessage: string | null = null,
): HeartbeatResult => ({
  errorCode,
  errorMessage,
  memberId,
  memberEpoch: -1,
  assignment: null,
});

function keyOf(a: Assignment): string {
  return [...a]
    .filter(([, s]) => s.size > 0)
    .map(([t, s]) => `${t}:${[...s].sort((x, y) => x - y).join(',')}`)
    .sort()
    .join(';');
}

function minus(a: Assignment, b: Assignment): Assignment {
  const out: Assignment = new Map();
  for (const [t, s] of a) {
    const left = [...s].filter((p) => !b.get(t)?.has(p));
    if (left.length > 0) out.set(t, new Set(left));
  }
  return out;
}

function union(a: Assignment, b: Assignment): Assignment {
  const out: Assignment = new Map([...a].map(([t, s]) => [t, new Set(s)]));
  for (const [t, s] of b) out.set(t, new Set([...(out.get(t) ?? []), ...s]));
  return out;
}

const isEmpty = (a: Assignment): boolean => [...a.values()].every((s) => s.size === 0);

export class ConsumerGroupCoordinator {
  readonly #groups = new Map<string, Group>();
  readonly #clock: Clock;
  readonly #partitions: (topic: string) => number | undefined;
  readonly #store: GroupStore | undefined;
  readonly #report: (err: unknown, groupId: string) => void;
  readonly #topics: () => readonly string[];
  /** The group's consumer.session.timeout.ms (a GROUP config), Kafka's default when it sets none. */
  readonly #sessionMsOf: (groupId: string) => number;
  readonly #regexes = new Map<string, TopicRegex>();
  /** Members holding each pattern, by its source (`regexesInUseMax`). */
  readonly #regexUses = new Map<string, number>();
  #closed = false;
  #cleanupTimer: Timer | undefined;

  /**
   * `partitions(topic)`: the topic's partition count, undefined when it does not exist; `topics()`:
   * every topic's name, against which regular expression subscriptions are resolved.
   */
  constructor(
    clock: Clock,
    partitions: (topic: string) => number | undefined,
    store?: GroupStore,
    report: (err: unknown, groupId: string) => void = () => undefined,
    topics: () => readonly string[] = () => [],
    sessionMsOf: (groupId: string) => number = () => consumerSessionTimeoutMs,
  ) {
    this.#clock = clock;
    this.#partitions = partitions;
    this.#store = store;
    this.#report = report;
    this.#topics = topics;
    this.#sessionMsOf = sessionMsOf;
    if (store !== undefined) for (const g of store.load(groupsMax, consumerCoordinator)) this.#restore(g);
    this.#cleanupTimer = this.#armCleanup();
  }

  #armCleanup(): Timer {
    return this.#clock.setTimeout(() => this.#cleanup(), groupCleanupIntervalMs);
  }

  /**
   * Kafka's periodic cleanup (GroupMetadataManager, every offsets.retention.check.interval.ms): a
   * group with no members and no committed offsets is deleted, its stored record with it. Before,
   * such groups were kept for good: 20,000 made by one client (a member each, never heard from
   * again) held 240 MiB and took a restart 53 s to open again.
   */
  #cleanup(): void {
    // Armed before the run, so a run that throws does not end the schedule.
    this.#cleanupTimer = this.#armCleanup();
    for (const [groupId, group] of this.#groups)
      if (group.members.size === 0 && this.#store?.hasOffsets(groupId) !== true) this.delete(groupId);
  }

  /** Whether the group exists here with members (a classic JoinGroup must then be refused). */
  hasMembers(groupId: string): boolean {
    return (this.#groups.get(groupId)?.members.size ?? 0) > 0;
  }

  has(groupId: string): boolean {
    return this.#groups.has(groupId);
  }

  async heartbeat(input: HeartbeatInput): Promise<HeartbeatResult> {
    const checked = this.#check(input);
    if ('errorCode' in checked) return checked;
    const { group, member, regex } = checked;
    if (input.memberEpoch === -1 || input.memberEpoch === -2)
      return this.#leave(group, member, input.memberEpoch);
    const before = this.#snapshot(group, member);
    this.#update(group, member, input, regex);
    this.#refreshTarget(group);
    this.#reconcile(group, member, input.owned);
    member.regexPending = false;
    this.#touch(group, member);
    const now = keyOf(member.assigned);
    const send =
      now !== member.sent || input.memberEpoch === 0 || (input.owned !== null && keyOf(input.owned) !== now);
    member.sent = now;
    if (this.#snapshot(group, member) !== before || input.memberEpoch === 0) await this.#persist(group);
    return {
      errorCode: KafkaError.none,
      errorMessage: null,
      memberId: member.id,
      memberEpoch: member.epoch,
      assignment: send ? member.assigned : null,
    };
  }

  /** The member the request is about and its new pattern, or why it is refused (KIP-848 epoch rules). */
  #check(input: HeartbeatInput): Checked | HeartbeatResult {
    if (input.groupId.length > groupNameCharsMax)
      return fail(KafkaError.invalidRequest, input.memberId, groupIdTooLong);
    if (input.memberId === '' && input.memberEpoch !== 0) return fail(KafkaError.unknownMemberId, '');
    const source = input.subscribedTopicRegex;
    const fresh = source !== null && source !== '' && !this.#regexUses.has(source);
    if (fresh && this.#regexUses.size >= regexesInUseMax)
      return fail(KafkaError.invalidRegularExpression, input.memberId, tooManyRegexes);
    const regex = this.#regexOf(source);
    if (regex instanceof TopicRegexError)
      return fail(
        KafkaError.invalidRegularExpression,
        input.memberId,
        `SubscribedTopicRegex \`${input.subscribedTopicRegex}\` is not a valid regular expression: ${regex.message}.`,
      );
    const checked = this.#checkMember(input);
    return 'errorCode' in checked ? checked : { ...checked, regex };
  }

  /**
   * The compiled pattern; null to clear it (an empty pattern, as in Kafka: librdkafka 2.x sends one
   * beside its topic names), undefined when unchanged.
   */
  #regexOf(source: string | null): TopicRegex | TopicRegexError | null | undefined {
    if (source === null) return undefined;
    if (source === '') return null;
    const known = this.#regexes.get(source);
    if (known !== undefined) return known;
    try {
      const regex = new TopicRegex(source);
      // Only patterns no member holds are let go: members share the compiled ones.
      if (this.#regexes.size >= regexesCachedMax)
        for (const held of this.#regexes.keys()) if (!this.#regexUses.has(held)) this.#regexes.delete(held);
      this.#regexes.set(source, regex);
      return regex;
    } catch (err) {
      if (err instanceof TopicRegexError) return err;
      throw err;
    }
  }

  #checkMember(input: HeartbeatInput): { group: Group; member: Member } | HeartbeatResult {
    // Refused at any epoch: a later heartbeat's list was cut to the bound, a subscription the member
    // never asked for.
    if (input.subscribedTopicNames !== null && input.subscribedTopicNames.length > subscribedTopicsMax)
      return fail(KafkaError.invalidRequest, input.memberId, tooManyTopics);
    if (input.memberEpoch === 0) {
      if (input.subscribedTopicNames === null && input.subscribedTopicRegex === null)
        return fail(
          KafkaError.invalidRequest,
          input.memberId,
          'SubscribedTopicNames or SubscribedTopicRegex must be set in first request.',
        );
      if (input.serverAssignor !== null && !isAssignorName(input.serverAssignor))
        return fail(
          KafkaError.unsupportedAssignor,
          input.memberId,
          `ServerAssignor ${input.serverAssignor} is not supported.`,
        );
      return this.#join(input);
    }
    const group = this.#groups.get(input.groupId);
    const member = group?.members.get(input.memberId);
    if (group === undefined) return fail(KafkaError.groupIdNotFound, input.memberId);
    if (member === undefined || member.leftEpoch !== undefined)
      return fail(KafkaError.unknownMemberId, input.memberId);
    if (input.memberEpoch === -1 || input.memberEpoch === -2) return { group, member };
    if (input.memberEpoch > member.epoch) return fail(KafkaError.fencedMemberEpoch, member.id);
    if (input.memberEpoch < member.epoch) {
      // A member that missed the answer that moved it on may come back once with its previous epoch,
      // as long as it owns nothing it should not.
      const lost =
        input.memberEpoch === member.previousEpoch &&
        (input.owned === null || isEmpty(minus(input.owned, member.assigned)));
      if (!lost) return fail(KafkaError.fencedMemberEpoch, member.id);
    }
    if (input.serverAssignor !== null && !isAssignorName(input.serverAssignor))
      return fail(KafkaError.unsupportedAssignor, member.id);
    return { group, member };
  }

  #join(input: HeartbeatInput): { group: Group; member: Member } | HeartbeatResult {
    const group = this.#groupFor(input.groupId);
    if (group === undefined) return fail(KafkaError.groupMaxSizeReached, input.memberId);
    // v0 lets the broker choose the id; from v1 the member brings its own (KIP-1082).
    const id = input.memberId === '' ? crypto.randomUUID() : input.memberId;
    let inherited: Member | undefined;
    if (input.instanceId !== null) {
      const holder = [...group.members.values()].find((m) => m.instanceId === input.instanceId);
      if (holder !== undefined && holder.leftEpoch === undefined && holder.id !== id)
        return fail(
          KafkaError.unreleasedInstanceId,
          id,
          `Static member ${input.instanceId} is still in the group.`,
        );
      if (holder !== undefined) {
        inherited = holder;
        this.#drop(group, holder);
      }
    }
    const existing = group.members.get(id);
    if (existing !== undefined) this.#drop(group, existing);
    if (inherited === undefined && group.members.size >= consumerGroupMembersMax)
      return fail(KafkaError.groupMaxSizeReached, id);
    const member: Member = {
      id,
      instanceId: input.instanceId,
      rackId: input.rackId,
      clientId: input.clientId,
      clientHost: input.clientHost,
      rebalanceTimeoutMs: input.rebalanceTimeoutMs,
      topics: [...new Set(input.subscribedTopicNames ?? [])],
      regex: null,
      regexPending: false,
      assignor: input.serverAssignor,
      // A static member coming back takes over its predecessor's epoch and partitions.
      epoch: inherited?.epoch ?? 0,
      previousEpoch: inherited?.previousEpoch ?? -1,
      assigned: inherited?.assigned ?? new Map(),
      revoking: new Map(),
      sent: '',
      ...(input.mayDescribe === undefined ? {} : { mayDescribe: input.mayDescribe }),
    };
    if (inherited !== undefined) {
      const target = group.target.get(inherited.id);
      group.target.delete(inherited.id);
      if (target !== undefined) group.target.set(id, target);
    }
    group.members.set(id, member);
    if (inherited === undefined) this.#bump(group);
    return { group, member };
  }

  #update(group: Group, member: Member, input: HeartbeatInput, regex: TopicRegex | null | undefined): void {
    if (input.rebalanceTimeoutMs >= 0) member.rebalanceTimeoutMs = input.rebalanceTimeoutMs;
    member.clientId = input.clientId;
    member.clientHost = input.clientHost;
    if (input.mayDescribe !== undefined) member.mayDescribe = input.mayDescribe;
    if (input.rackId !== null) member.rackId = input.rackId;
    if (input.subscribedTopicNames !== null) {
      const topics = [...new Set(input.subscribedTopicNames)];
      if (topics.join('\u0000') !== member.topics.join('\u0000')) {
        member.topics = topics;
        this.#bump(group);
      }
    }
    if (regex !== undefined && regex !== member.regex) {
      this.#holdRegex(member, regex);
      const known = (o: Member): boolean =>
        o !== member && o.regex?.source === regex?.source && !o.regexPending;
      member.regexPending = regex !== null && ![...group.members.values()].some(known);
      if (!member.regexPending) this.#bump(group);
    }
    if (input.serverAssignor !== null && input.serverAssignor !== member.assignor) {
      member.assignor = input.serverAssignor;
      this.#bump(group);
    }
  }

  /** Each member's topics: its names and, with a pattern, every topic the pattern matches now. */
  #subscriptions(group: Group): Map<Member, readonly string[]> {
    const members = [...group.members.values()];
    const all = members.some((m) => m.regex !== null) ? this.#topics() : [];
    return new Map(
      members.map((m) => {
        const regex = m.regex;
        if (regex === null || m.regexPending) return [m, m.topics];
        const visible = (t: string): boolean => regex.matches(t) && (m.mayDescribe?.(t) ?? true);
        return [m, [...new Set([...m.topics, ...all.filter(visible)])]];
      }),
    );
  }

  /** The subscribed topics' partition counts, so a topic created, deleted or grown bumps the epoch. */
  #topicsKey(subscriptions: Map<Member, readonly string[]>): string {
    const topics = new Set<string>();
    for (const list of subscriptions.values()) for (const t of list) topics.add(t);
    return [...topics]
      .sort()
      .map((t) => `${t}=${this.#partitions(t) ?? -1}`)
      .join(',');
  }

  #bump(group: Group): void {
    group.epoch++;
  }

  /** A new target whenever the group epoch moved past the assignment epoch (or topics changed). */
  #refreshTarget(group: Group): void {
    const subscriptions = this.#subscriptions(group);
    const topics = this.#topicsKey(subscriptions);
    if (topics !== group.topicsSeen && group.assignmentEpoch === group.epoch) group.epoch++;
    if (group.assignmentEpoch === group.epoch) return;
    group.topicsSeen = topics;
    group.assignor = this.#chooseAssignor(group);
    const members = [...group.members.values()].map((m) => ({
      id: m.id,
      topics: subscriptions.get(m) ?? m.topics,
      previous: group.target.get(m.id) ?? new Map(),
    }));
    const assign = isAssignorName(group.assignor) ? assignors[group.assignor] : assignors[defaultAssignor];
    group.target = assign(members, this.#partitions);
    group.assignmentEpoch = group.epoch;
  }

  /** The assignor most members ask for; the default when none asks. */
  #chooseAssignor(group: Group): string {
    const votes = new Map<string, number>();
    for (const m of group.members.values())
      if (m.assignor !== null) votes.set(m.assignor, (votes.get(m.assignor) ?? 0) + 1);
    let best: string = defaultAssignor;
    for (const [name, n] of votes) if (n > (votes.get(best) ?? 0)) best = name;
    return best;
  }

  /** One step towards the member's target: revoke first, then take what nobody else holds. */
  #reconcile(group: Group, member: Member, owned: Assignment | null): void {
    if (!isEmpty(member.revoking)) {
      if (owned === null || !isEmpty(minus(member.revoking, minus(member.revoking, owned)))) return;
      member.revoking = new Map();
      member.revokeTimer?.cancel();
    }
    const target = group.target.get(member.id) ?? new Map();
    const toRevoke = minus(member.assigned, target);
    if (!isEmpty(toRevoke)) {
      member.assigned = minus(member.assigned, toRevoke);
      member.revoking = toRevoke;
      member.revokeTimer?.cancel();
      // A member that does not let go within its rebalance timeout is removed (KIP-848).
      member.revokeTimer = this.#clock.setTimeout(
        () => this.#fence(group, member),
        Math.max(member.rebalanceTimeoutMs, 0),
      );
      return;
    }
    const held: Assignment = new Map();
    for (const other of group.members.values())
      if (other !== member)
        for (const a of [other.assigned, other.revoking])
          for (const [t, s] of a) for (const p of s) (held.get(t) ?? held.set(t, new Set()).get(t)!).add(p);
    const free = minus(minus(target, member.assigned), held);
    member.assigned = union(member.assigned, free);
    if (member.epoch !== group.assignmentEpoch) {
      member.previousEpoch = member.epoch;
      member.epoch = group.assignmentEpoch;
    }
  }

  #leave(group: Group, member: Member, epoch: number): HeartbeatResult {
    if (epoch === -2 && member.instanceId !== null) {
      // A static member leaving for a while keeps its partitions until its session runs out.
      member.leftEpoch = -2;
      this.#touch(group, member);
    } else {
      this.#drop(group, member);
      this.#bump(group);
    }
    void this.#persist(group);
    return {
      errorCode: KafkaError.none,
      errorMessage: null,
      memberId: member.id,
      memberEpoch: epoch,
      assignment: null,
    };
  }

  #fence(group: Group, member: Member): void {
    if (group.members.get(member.id) !== member) return;
    this.#drop(group, member);
    this.#bump(group);
    void this.#persist(group);
  }

  #drop(group: Group, member: Member): void {
    member.sessionTimer?.cancel();
    member.revokeTimer?.cancel();
    group.members.delete(member.id);
    this.#holdRegex(member, null);
  }

  /** The member now holds `regex` instead of its pattern before (`regexesInUseMax`). */
  #holdRegex(member: Member, regex: TopicRegex | null): void {
    const before = member.regex?.source;
    const uses = before === undefined ? 0 : (this.#regexUses.get(before) ?? 0);
    if (before !== undefined && uses <= 1) this.#regexUses.delete(before);
    else if (before !== undefined) this.#regexUses.set(before, uses - 1);
    member.regex = regex;
    if (regex !== null) this.#regexUses.set(regex.source, (this.#regexUses.get(regex.source) ?? 0) + 1);
  }

  #touch(group: Group, member: Member): void {
    member.sessionTimer?.cancel();
    if (this.#closed) return;
    const ms = this.#sessionMsOf(group.id);
    member.sessionTimer = this.#clock.setTimeout(() => this.#fence(group, member), ms);
  }

  #groupFor(groupId: string): Group | undefined {
    const found = this.#groups.get(groupId);
    if (found !== undefined) return found;
    if (this.#groups.size >= groupsMax) return undefined;
    const group: Group = {
      id: groupId,
      epoch: 0,
      assignmentEpoch: 0,
      assignor: defaultAssignor,
      members: new Map(),
      target: new Map(),
      topicsSeen: '',
    };
    this.#groups.set(groupId, group);
    return group;
  }

  /**
   * May this member commit offsets now (OffsetCommit v9+ carries the member epoch)? Undefined when
   * the group is not a KIP-848 group.
   */
  checkCommit(groupId: string, memberId: string, epoch: number): KafkaError | undefined {
    const group = this.#groups.get(groupId);
    if (group === undefined) return undefined;
    // Epoch -1 is the admin client or a consumer outside group management, taken while the group is empty.
    if (epoch < 0 && group.members.size === 0) return KafkaError.none;
    if (memberId === '' && epoch < 0) return KafkaError.unknownMemberId;
    const member = group.members.get(memberId);
    if (member === undefined) return KafkaError.unknownMemberId;
    if (epoch !== member.epoch) return KafkaError.staleMemberEpoch;
    return KafkaError.none;
  }

  describe(groupId: string): DescribedGroup | undefined {
    const group = this.#groups.get(groupId);
    if (group === undefined) return undefined;
    const members = [...group.members.values()];
    const state =
      members.length === 0
        ? 'empty'
        : group.assignmentEpoch !== group.epoch
          ? 'assigning'
          : members.some((m) => m.epoch !== group.assignmentEpoch || !isEmpty(m.revoking))
            ? 'reconciling'
            : 'stable';
    return {
      state,
      epoch: group.epoch,
      assignmentEpoch: group.assignmentEpoch,
      assignor: group.assignor,
      members: members.map((m) => ({
        memberId: m.id,
        instanceId: m.instanceId,
        rackId: m.rackId,
        memberEpoch: m.epoch,
        clientId: m.clientId,
        clientHost: m.clientHost,
        subscribedTopicNames: m.topics,
        subscribedTopicRegex: m.regex?.source ?? null,
        assignment: m.assigned,
        targetAssignment: group.target.get(m.id) ?? new Map(),
      })),
    };
  }

  /** The topics a group's members subscribe to, by name or pattern; undefined for no such group. */
  subscribedTopics(groupId: string): Set<string> | undefined {
    const group = this.#groups.get(groupId);
    if (group === undefined) return undefined;
    return new Set([...this.#subscriptions(group).values()].flat());
  }

  list(): Array<{ groupId: string; state: string }> {
    return [...this.#groups.keys()].map((groupId) => ({ groupId, state: this.describe(groupId)!.state }));
  }

  /**
   * A classic JoinGroup takes the group over while it is empty: it is forgotten here, its stored
   * record left to the classic coordinator that now writes it (KIP-848: Kafka converts an empty
   * consumer group into a classic one). Kept, it was listed as an empty consumer group, and the
   * cleanup or a DeleteGroups removed the classic group's record.
   */
  yieldToClassic(groupId: string): void {
    if (this.#groups.get(groupId)?.members.size === 0) this.#groups.delete(groupId);
  }

  /** Deletes an empty group (DeleteGroups); NON_EMPTY_GROUP while it has members. */
  delete(groupId: string): KafkaError | undefined {
    const group = this.#groups.get(groupId);
    if (group === undefined) return undefined;
    if (group.members.size > 0) return KafkaError.nonEmptyGroup;
    this.#groups.delete(groupId);
    this.#store?.remove(groupId).catch((err: unknown) => this.#report(err, groupId));
    return KafkaError.none;
  }

  close(): void {
    this.#closed = true;
    this.#cleanupTimer?.cancel();
    for (const group of this.#groups.values())
      for (const m of group.members.values()) {
        m.sessionTimer?.cancel();
        m.revokeTimer?.cancel();
      }
    this.#groups.clear();
    this.#regexUses.clear();
  }

  // ---- durability

  /**
   * What a heartbeat may change of the stored record: the group's epochs and assignor, its member set,
   * and this member (a heartbeat changes no other member without moving an epoch), cheap to compare.
   */
  #snapshot(group: Group, member: Member): string {
    const m = member;
    const own = [
      m.id,
      m.epoch,
      m.previousEpoch,
      m.topics.join(','),
      m.regex?.source,
      m.assignor,
      m.rackId,
      m.clientId,
      m.clientHost,
    ];
    const held = `${keyOf(m.assigned)}|${keyOf(m.revoking)}|${m.leftEpoch ?? ''}|${m.rebalanceTimeoutMs}`;
    return `${group.epoch}|${group.assignmentEpoch}|${group.assignor}|${group.members.size}|${own.join('|')}|${held}`;
  }

  #stored(group: Group): StoredGroup {
    const members: StoredMember[] = [...group.members.values()].map((m) => ({
      id: m.id,
      instanceId: m.instanceId,
      clientId: m.clientId,
      clientHost: m.clientHost,
      sessionTimeoutMs: this.#sessionMsOf(group.id),
      rebalanceTimeoutMs: m.rebalanceTimeoutMs,
      protocols: [
        {
          name: 'subscription',
          metadata: jsonBytes({
            topics: m.topics,
            regex: m.regex?.source ?? null,
            assignor: m.assignor,
            rack: m.rackId,
            epoch: m.epoch,
            previousEpoch: m.previousEpoch,
            left: m.leftEpoch ?? null,
            target: toJson(group.target.get(m.id) ?? new Map()),
          }),
        },
      ],
      assignment: jsonBytes({ assigned: toJson(m.assigned), revoking: toJson(m.revoking) }),
    }));
    return {
      id: group.id,
      generation: group.epoch,
      protocolType: 'consumer',
      protocol: group.assignor,
      leader: null,
      rebalance: false,
      members,
      coordinator: consumerCoordinator,
    };
  }

  #persist(group: Group): Promise<void> {
    if (this.#store === undefined || this.#closed) return Promise.resolve();
    return this.#store.save(this.#stored(group)).then(
      () => undefined,
      (err: unknown) => this.#report(err, group.id),
    );
  }

  /** A group as stored; every member on a new session timeout, the target recomputed on its next heartbeat. */
  #restore(stored: StoredGroup): void {
    const group = this.#groupFor(stored.id);
    if (group === undefined) return;
    group.epoch = stored.generation;
    group.assignmentEpoch = stored.generation;
    group.assignor = stored.protocol ?? defaultAssignor;
    for (const m of stored.members) {
      try {
        const sub = JSON.parse(
          Buffer.from(m.protocols[0]?.metadata ?? []).toString('utf8'),
        ) as StoredSubscription;
        const held = JSON.parse(Buffer.from(m.assignment).toString('utf8')) as {
          assigned: AssignmentJson;
          revoking: AssignmentJson;
        };
        const member: Member = {
          id: m.id,
          instanceId: m.instanceId,
          rackId: sub.rack,
          clientId: m.clientId,
          clientHost: m.clientHost,
          rebalanceTimeoutMs: m.rebalanceTimeoutMs,
          topics: sub.topics,
          regex: null,
          regexPending: false,
          assignor: sub.assignor,
          epoch: sub.epoch,
          previousEpoch: sub.previousEpoch,
          assigned: fromJson(held.assigned),
          revoking: fromJson(held.revoking),
          sent: '',
          ...(sub.left === -2 ? { leftEpoch: -2 } : {}),
        };
        group.members.set(m.id, member);
        this.#holdRegex(member, this.#restoredRegex(sub.regex ?? null, stored.id));
        group.target.set(m.id, fromJson(sub.target));
        this.#touch(group, member);
      } catch (err) {
        this.#report(err, stored.id);
      }
    }
    group.topicsSeen = this.#topicsKey(this.#subscriptions(group));
  }

  #restoredRegex(source: string | null, groupId: string): TopicRegex | null {
    const regex = this.#regexOf(source);
    if (regex instanceof TopicRegexError) {
      this.#report(regex, groupId);
      return null;
    }
    return regex ?? null;
  }
}

interface Checked {
  group: Group;
  member: Member;
  /** The pattern the heartbeat sets (null clears it), undefined when it left it as it was. */
  regex: TopicRegex | null | undefined;
}

type AssignmentJson = Array<[string, number[]]>;

interface StoredSubscription {
  topics: string[];
  /** Absent in records stored before regular expressions were offered. */
  regex?: string | null;
  assignor: string | null;
  rack: string | null;
  epoch: number;
  previousEpoch: number;
  left: number | null;
  target: AssignmentJson;
}

function toJson(a: Assignment): AssignmentJson {
  return [...a].map(([t, s]) => [t, [...s]]);
}

function fromJson(json: AssignmentJson): Assignment {
  return new Map(json.map(([t, ps]) => [t, new Set(ps)]));
}

function jsonBytes(value: unknown): Uint8Array {
  return Buffer.from(JSON.stringify(value), 'utf8');
}
