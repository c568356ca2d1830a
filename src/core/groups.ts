/**
 * The consumer groups of one vhost, each an owned object with its own log (./state/group-entries.ts):
 * committed offsets (Kafka OffsetCommit / OffsetFetch, KubeMQ store reads) and the membership record
 * its coordinator keeps (Kafka's classic group: generation, leader, members and their assignments).
 * A group object comes into being with its first commit or record and goes when it holds neither.
 */
import { brokerError, ErrorCode } from '../shared/errors.js';
import type { GroupMembership, GroupOffset, ShareGroupState, ShareStateChange } from './api.js';
import type { Executor, Timer } from './exec/executor.js';
import {
  type GroupEntry,
  type GroupOffsetRow,
  type GroupState,
  groupMachine,
  isEmptyGroup,
  offsetKey,
} from './state/group-entries.js';
import { encodeJson } from './state/json.js';
import {
  OwnedLog,
  type OwnedLogSource,
  type VhostObjectDeps,
  vhostObjectOptions,
} from './state/owned-log.js';
import {
  holdsShareStream,
  isEmptyShare,
  shareChangeProblem,
  shareEntryOf,
  shareStateOf,
} from './state/share-entries.js';
import type { OpenedLog } from './state/state-log.js';

export type { GroupOffsetRow };

/** Kafka's default `offset.metadata.max.bytes` is 4096; characters are a close enough bound. */
export const offsetMetadataCharsMax = 4096;
export const groupNameCharsMax = 1024;
/** Groups in one vhost; Kafka's coordinator sets no bound, a broker needs one. */
export const groupsPerVhostMax = 100_000;
/** Members kept in a membership record; a larger group is kept by its coordinator in memory only. */
export const membershipMembersMax = 1000;
/** Largest membership record (encoded); subscription metadata and assignments dominate it. */
export const membershipBytesMax = 1024 * 1024;

/** Kafka's offsets.retention.check.interval.ms: how often expired offsets are looked for. */
export const offsetsRetentionCheckIntervalMs = 10 * 60 * 1000;

type GroupLog = OwnedLog<GroupState, GroupEntry>;

export class ConsumerGroups {
  readonly #deps: VhostObjectDeps;
  readonly #groups = new Map<string, GroupLog>();
  /** Groups whose log is being created; commands meanwhile wait for it. */
  readonly #creating = new Map<string, Promise<GroupLog>>();
  /** Per name, a deleted group letting go of its log; a new one of that name opens after it. */
  readonly #releasing = new Map<string, Promise<void>>();
  /**
   * Groups whose coordinator last reported members, recorded or not: a record past its bounds is not
   * stored, yet its group is in use and keeps its offsets (KIP-211). Not durable: after a restart the
   * members rejoin and are reported again. At most one per group the coordinators keep.
   */
  readonly #withMembers = new Set<string>();
  #closed = false;
  /** Kafka's offsets.retention.minutes, in ms. */
  readonly #retentionMs: number;
  /** Runs the retention check on core's clock; its work catches its own errors. */
  readonly #exec: Executor;
  #expiryTimer: Timer;
  #expiring = false;

  private constructor(deps: VhostObjectDeps, retentionMs: number) {
    this.#deps = deps;
    this.#retentionMs = retentionMs;
    this.#exec = deps.supervisor.executor('groups', deps.vhost, { onFault: () => undefined });
    this.#expiryTimer = this.#exec.every(offsetsRetentionCheckIntervalMs, () => this.#checkRetention());
  }

  /** The vhost's groups as found at start (./state/discover.ts); offsets kept `retentionMs` (KIP-211). */
  static async open(
    deps: VhostObjectDeps,
    found: ReadonlyArray<OpenedLog<GroupState>>,
    retentionMs: number,
  ): Promise<ConsumerGroups> {
    const groups = new ConsumerGroups(deps, retentionMs);
    let adopted = 0;
    try {
      for (const opened of found) {
        const name = opened.replayed.identity!.name;
        adopted++;
        groups.#groups.set(name, await groups.#open(name, { adopt: opened }));
      }
    } catch (err) {
      for (const opened of found.slice(adopted)) await opened.log.close().catch(() => undefined);
      await groups.close();
      throw err;
    }
    return groups;
  }

  // ---- offsets

  async commit(group: string, stream: string, partition: number, offset: GroupOffset): Promise<void> {
    checkGroup(group);
    checkOffset(offset);
    const log = this.#groups.get(group) ?? (await this.#create(group));
    await log.commit({ type: 'offset.commit', stream, partition, offset: pickOffset(offset) });
  }

  fetch(group: string, stream: string, partition: number): GroupOffset | undefined {
    return this.#groups.get(group)?.state.offsets.get(offsetKey(stream, partition))?.offset;
  }

  /** The group's offsets, by stream then partition. */
  offsets(group: string): GroupOffsetRow[] {
    const rows = [...(this.#groups.get(group)?.state.offsets.values() ?? [])];
    return rows.sort((a, b) =>
      a.stream < b.stream ? -1 : a.stream > b.stream ? 1 : a.partition - b.partition,
    );
  }

  async deleteOffsets(group: string): Promise<void> {
    const log = this.#groups.get(group);
    if (log === undefined || log.state.offsets.size === 0) return;
    await this.#change(group, log, { type: 'offsets.clear' });
  }

  /** Removes the group's offsets of these partitions (Kafka OffsetDelete); partitions without one are skipped. */
  async deletePartitionOffsets(
    group: string,
    partitions: ReadonlyArray<{ readonly stream: string; readonly partition: number }>,
  ): Promise<void> {
    const log = this.#groups.get(group);
    if (log === undefined) return;
    for (const { stream, partition } of partitions) {
      if (this.#groups.get(group) !== log) return;
      if (!log.state.offsets.has(offsetKey(stream, partition))) continue;
      await this.#change(group, log, { type: 'offset.delete', stream, partition });
    }
    // An offset already gone may be another request's deletion, still being written.
    if (this.#groups.get(group) === log) await log.settled();
  }

  /** A stream was deleted: every group's offsets on it go. */
  async dropStream(stream: string): Promise<void> {
    const changes: Array<Promise<void>> = [];
    for (const [group, log] of this.#groups) {
      const holds =
        [...log.state.offsets.values()].some((row) => row.stream === stream) ||
        holdsShareStream(log.state.share, stream);
      if (holds) changes.push(this.#change(group, log, { type: 'offsets.dropStream', stream }));
    }
    await Promise.all(changes);
  }

  // ---- membership

  membership(group: string): GroupMembership | undefined {
    return this.#groups.get(group)?.state.membership;
  }

  /** Every group, with its membership record when it has one. */
  list(): Array<{ name: string; membership: GroupMembership | undefined }> {
    return [...this.#groups].map(([name, log]) => ({ name, membership: log.state.membership }));
  }

  /**
   * Records the membership (null removes the record). One past its bounds is not recorded: the
   * stored one is removed instead and the answer is false, so after a restart that group's members
   * rejoin rather than carry on from an outdated generation. Either way the group has members until
   * it is reported without them: its offsets do not expire meanwhile.
   */
  async saveMembership(group: string, membership: GroupMembership | null): Promise<boolean> {
    checkGroup(group);
    // Before the write: a record that cannot be stored, or whose write fails, still has its members.
    if (membership !== null && membership.members.length > 0) this.#withMembers.add(group);
    else this.#withMembers.delete(group);
    const entry: GroupEntry | undefined =
      membership === null ? undefined : this.#membershipEntry(group, membership);
    const fits = entry !== undefined && recordFits(entry);
    if (!fits) {
      const log = this.#groups.get(group);
      if (log?.state.membership !== undefined) await this.#change(group, log, { type: 'membership.clear' });
      return membership === null;
    }
    const log = this.#groups.get(group) ?? (await this.#create(group));
    await log.commit(entry);
    return true;
  }

  /** The record as stored, stamped with when the group went empty (KIP-211's empty-state time). */
  #membershipEntry(group: string, membership: GroupMembership): GroupEntry & { type: 'membership.put' } {
    const put = { type: 'membership.put', membership: { ...membership } } as const;
    if (membership.members.length > 0) return put;
    const state = this.#groups.get(group)?.state;
    const wasEmpty = state?.membership !== undefined && state.membership.members.length === 0;
    return { ...put, emptiedAt: (wasEmpty ? state.emptiedAt : undefined) ?? this.#exec.now() };
  }

  // ---- offset retention (KIP-211)

  /** Kafka's periodic offset expiry; a check still writing when the next is due lets it pass. */
  #checkRetention(): void {
    if (this.#expiring || this.#closed) return;
    this.#expiring = true;
    const done = () => {
      this.#expiring = false;
    };
    this.#expireAll().then(done, done);
  }

  /** One group at a time, so a vhost of many expiring groups does not flood the log with writes. */
  async #expireAll(): Promise<void> {
    const before = this.#exec.now() - this.#retentionMs;
    for (const [group, log] of [...this.#groups]) {
      if (this.#closed) return;
      // Looked at just before the write: a member may have joined meanwhile.
      const entry = this.#withMembers.has(group) ? undefined : expiryOf(log.state, before);
      if (entry === undefined || this.#groups.get(group) !== log) continue;
      await this.#change(group, log, entry).catch(() => undefined);
    }
  }

  // ---- share groups (KIP-932)

  /** Every group holding share state. */
  shareStates(): ShareGroupState[] {
    const out: ShareGroupState[] = [];
    for (const [name, log] of this.#groups)
      if (!isEmptyShare(log.state.share)) out.push(shareStateOf(name, log.state.share));
    return out;
  }

  /** Stores a change to the group's share state; a group left holding nothing is deleted. */
  async writeShare(group: string, change: ShareStateChange): Promise<void> {
    checkGroup(group);
    const existing = this.#groups.get(group);
    if (change.type === 'clear') {
      if (existing !== undefined && !isEmptyShare(existing.state.share))
        await this.#change(group, existing, shareEntryOf(change));
      return;
    }
    const log = existing ?? (await this.#create(group));
    const problem = shareChangeProblem(log.state.share, change);
    if (problem !== undefined) throw brokerError(ErrorCode.invalidArgument, problem);
    await log.commit(shareEntryOf(change));
  }

  /** Deletes the group: its offsets, its membership record and its log. */
  delete(group: string): Promise<void> {
    this.#withMembers.delete(group);
    return this.#drop(group);
  }

  /** Lets go of the group's log; whether it has members is the coordinator's to say. */
  async #drop(group: string): Promise<void> {
    const log = this.#groups.get(group) ?? (await this.#creating.get(group));
    if (log === undefined) return;
    if (this.#groups.get(group) === log) this.#groups.delete(group);
    const released = log.destroy();
    this.#release(group, released);
    await released;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#expiryTimer.cancel();
    this.#exec.stop();
    await Promise.allSettled([...this.#creating.values()]);
    await Promise.allSettled([...this.#releasing.values()]);
    for (const log of this.#groups.values()) await log.close().catch(() => undefined);
    this.#groups.clear();
    this.#withMembers.clear();
  }

  /** The vhost is deleted: every group goes with it. */
  async destroyAll(): Promise<void> {
    await Promise.allSettled([...this.#creating.values()]);
    for (const group of [...this.#groups.keys()]) await this.delete(group);
    await this.close();
  }

  /** Commits `entry`; a group left holding nothing is deleted. */
  async #change(group: string, log: GroupLog, entry: GroupEntry): Promise<void> {
    await log.commit(entry);
    if (isEmptyGroup(log.state) && this.#groups.get(group) === log) await this.#drop(group);
  }

  #create(group: string): Promise<GroupLog> {
    const pending = this.#creating.get(group);
    if (pending !== undefined) return pending;
    if (this.#closed) {
      return Promise.reject(
        brokerError(ErrorCode.invalidState, `Groups of vhost '${this.#deps.vhost}' are closed`),
      );
    }
    if (this.#groups.size + this.#creating.size >= groupsPerVhostMax) {
      const message = `Vhost '${this.#deps.vhost}' has ${groupsPerVhostMax} consumer groups`;
      return Promise.reject(brokerError(ErrorCode.resourceExhausted, message));
    }
    const created = (this.#releasing.get(group) ?? Promise.resolve()).then(async () => {
      const log = await this.#open(group, 'create');
      this.#groups.set(group, log);
      return log;
    });
    this.#creating.set(group, created);
    const done = () => this.#creating.delete(group);
    created.then(done, done);
    return created;
  }

  #open(group: string, source: OwnedLogSource<GroupState>): Promise<GroupLog> {
    return OwnedLog.open(vhostObjectOptions(this.#deps, groupMachine, 'group', group), source);
  }

  #release(group: string, released: Promise<void>): void {
    const settled = released.then(
      () => undefined,
      () => undefined,
    );
    this.#releasing.set(group, settled);
    void settled.then(() => {
      if (this.#releasing.get(group) === settled) this.#releasing.delete(group);
    });
  }
}

/**
 * What expires of the group's offsets committed up to `before` (KIP-211): nothing while it is in use
 * (a membership record with members, share state); all of them once an emptied group has been empty
 * since `before`; otherwise (a standalone consumer's, or a record written without its empty time)
 * each one committed by then.
 */
function expiryOf(state: GroupState, before: number): GroupEntry | undefined {
  const { membership, emptiedAt, offsets } = state;
  if (offsets.size === 0 || !isEmptyShare(state.share)) return undefined;
  if (membership !== undefined && membership.members.length > 0) return undefined;
  if (membership !== undefined && emptiedAt !== undefined)
    return emptiedAt <= before ? { type: 'offsets.clear' } : undefined;
  for (const row of offsets.values())
    if (row.offset.committedAt <= before) return { type: 'offsets.expire', before };
  return undefined;
}

function recordFits(entry: GroupEntry & { type: 'membership.put' }): boolean {
  if (entry.membership.members.length > membershipMembersMax) return false;
  return encodeJson(groupMachine.encode(entry)).length <= membershipBytesMax;
}

/** Only the declared fields are stored, whatever else the caller's object carries. */
function pickOffset(offset: GroupOffset): GroupOffset {
  const { leaderEpoch } = offset;
  const picked = { offset: offset.offset, metadata: offset.metadata, committedAt: offset.committedAt };
  return leaderEpoch === undefined ? picked : { ...picked, leaderEpoch };
}

/**
 * What `commit` refuses (a group name or an offset out of bounds), checked where offsets are promised
 * before they are committed: a transaction's are committed at its end, when nobody can be told.
 */
export function checkCommit(group: string, offsets: readonly GroupOffset[]): void {
  checkGroup(group);
  for (const offset of offsets) checkOffset(offset);
}

function checkGroup(group: string): void {
  if (group.length > groupNameCharsMax) {
    throw brokerError(
      ErrorCode.invalidArgument,
      `Group name must have at most ${groupNameCharsMax} characters`,
    );
  }
}

function checkOffset(offset: GroupOffset): void {
  // Kafka clients commit -1 to mean "no position"; anything lower is a bug.
  if (!Number.isSafeInteger(offset.offset) || offset.offset < -1) {
    throw brokerError(
      ErrorCode.invalidArgument,
      `Committed offset must be an integer >= -1, got ${offset.offset}`,
    );
  }
  if (offset.metadata.length > offsetMetadataCharsMax) {
    throw brokerError(
      ErrorCode.invalidArgument,
      `Offset metadata exceeds ${offsetMetadataCharsMax} characters`,
    );
  }
  if (!Number.isFinite(offset.committedAt)) {
    throw brokerError(ErrorCode.invalidArgument, `Commit time must be a number, got ${offset.committedAt}`);
  }
  if (offset.leaderEpoch !== undefined && !Number.isSafeInteger(offset.leaderEpoch)) {
    throw brokerError(
      ErrorCode.invalidArgument,
      `Leader epoch must be an integer, got ${offset.leaderEpoch}`,
    );
  }
}
