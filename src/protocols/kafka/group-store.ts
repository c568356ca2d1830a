/**
 * Durable consumer-group metadata, the counterpart of the group records Kafka keeps in
 * `__consumer_offsets`: generation, protocol type and name, leader, and per member its ids, client,
 * timeouts, subscription metadata and assignment. One record per group, written with one atomic
 * `core.state` put per change, under
 *
 *   kafka/group/<vhost>/<group>   StoredGroup (both parts URI-encoded)
 *
 * Bytes are kept as base64 because the state holds JSON. A record that would break a bound is not
 * written; the stored one is removed instead, so after a restart that group's members rejoin (the
 * behaviour without persistence) rather than carry on from an outdated generation.
 */
import type { CoreBroker } from '../../core/api.js';

/** Members recorded for one group; a larger group is kept in memory only. */
export const storedGroupMembersMax = 1000;
/** Largest record (JSON text) for one group; subscription metadata and assignments dominate it. */
export const storedGroupBytesMax = 1024 * 1024;
/** Version of the record layout, checked on load. */
const recordVersion = 1;

export interface StoredProtocol {
  readonly name: string;
  readonly metadata: Uint8Array;
}

export interface StoredMember {
  readonly id: string;
  readonly instanceId: string | null;
  readonly clientId: string;
  readonly clientHost: string;
  readonly sessionTimeoutMs: number;
  readonly rebalanceTimeoutMs: number;
  readonly protocols: readonly StoredProtocol[];
  readonly assignment: Uint8Array;
}

export interface StoredGroup {
  readonly id: string;
  readonly generation: number;
  readonly protocolType: string | null;
  readonly protocol: string | null;
  readonly leader: string | null;
  /** A member left or expired after the last completed generation: the rest must rejoin. */
  readonly rebalance: boolean;
  readonly members: readonly StoredMember[];
}

interface MemberRecord {
  id: string;
  instanceId: string | null;
  clientId: string;
  clientHost: string;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  protocols: Array<[string, string]>;
  assignment: string;
}

interface GroupRecord {
  v: number;
  generation: number;
  protocolType: string | null;
  protocol: string | null;
  leader: string | null;
  rebalance: boolean;
  members: MemberRecord[];
}

const base64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');
const bytesOf = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text, 'base64'));

function toRecord(group: StoredGroup): GroupRecord {
  return {
    v: recordVersion,
    generation: group.generation,
    protocolType: group.protocolType,
    protocol: group.protocol,
    leader: group.leader,
    rebalance: group.rebalance,
    members: group.members.map((m) => ({
      id: m.id,
      instanceId: m.instanceId,
      clientId: m.clientId,
      clientHost: m.clientHost,
      sessionTimeoutMs: m.sessionTimeoutMs,
      rebalanceTimeoutMs: m.rebalanceTimeoutMs,
      protocols: m.protocols.map((p): [string, string] => [p.name, base64(p.metadata)]),
      assignment: base64(m.assignment),
    })),
  };
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isStringOrNull = (v: unknown): v is string | null => v === null || typeof v === 'string';
const isCount = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0;

function memberOf(raw: unknown): StoredMember | undefined {
  const m = raw as Partial<MemberRecord> | null;
  if (m === null || typeof m !== 'object') return undefined;
  if (!isString(m.id) || !isStringOrNull(m.instanceId) || !isString(m.clientId) || !isString(m.clientHost))
    return undefined;
  if (!isCount(m.sessionTimeoutMs) || !isCount(m.rebalanceTimeoutMs) || !isString(m.assignment))
    return undefined;
  if (!Array.isArray(m.protocols) || m.protocols.length === 0) return undefined;
  if (!m.protocols.every((p) => Array.isArray(p) && isString(p[0]) && isString(p[1]))) return undefined;
  return {
    id: m.id,
    instanceId: m.instanceId,
    clientId: m.clientId,
    clientHost: m.clientHost,
    sessionTimeoutMs: m.sessionTimeoutMs,
    rebalanceTimeoutMs: m.rebalanceTimeoutMs,
    protocols: m.protocols.map(([name, metadata]) => ({ name, metadata: bytesOf(metadata) })),
    assignment: bytesOf(m.assignment),
  };
}

/** A stored record read back, or undefined when it is not one this version wrote. */
function fromRecord(id: string, raw: unknown): StoredGroup | undefined {
  const r = raw as Partial<GroupRecord> | null;
  if (r === null || typeof r !== 'object' || r.v !== recordVersion) return undefined;
  if (!isCount(r.generation) || !isStringOrNull(r.protocolType) || !isStringOrNull(r.protocol))
    return undefined;
  if (!isStringOrNull(r.leader) || typeof r.rebalance !== 'boolean' || !Array.isArray(r.members))
    return undefined;
  if (r.members.length > storedGroupMembersMax) return undefined;
  const members = r.members.map(memberOf);
  if (members.some((m) => m === undefined)) return undefined;
  return {
    id,
    generation: r.generation,
    protocolType: r.protocolType,
    protocol: r.protocol,
    leader: r.leader,
    rebalance: r.rebalance,
    members: members as StoredMember[],
  };
}

export class GroupStore {
  readonly #state: CoreBroker['state'];
  readonly #prefix: string;

  constructor(state: CoreBroker['state'], vhost: string) {
    this.#state = state;
    this.#prefix = `kafka/group/${encodeURIComponent(vhost)}/`;
  }

  /**
   * Every group stored for this vhost, at most `groupsMax`. A record this version cannot read is
   * skipped and left in place; the group starts empty, as it would have without persistence.
   */
  load(groupsMax: number): StoredGroup[] {
    const groups: StoredGroup[] = [];
    for (const [key, value] of this.#state.entries(this.#prefix)) {
      if (groups.length >= groupsMax) break;
      const group = fromRecord(decodeURIComponent(key.slice(this.#prefix.length)), value);
      if (group !== undefined) groups.push(group);
    }
    return groups;
  }

  /**
   * Writes the group's record in one put. Past a bound the stored record is removed instead and
   * the promise resolves to false.
   */
  async save(group: StoredGroup): Promise<boolean> {
    const record = toRecord(group);
    const fits =
      record.members.length <= storedGroupMembersMax &&
      Buffer.byteLength(JSON.stringify(record), 'utf8') <= storedGroupBytesMax;
    if (!fits) {
      await this.remove(group.id);
      return false;
    }
    await this.#state.put(this.#key(group.id), record);
    return true;
  }

  remove(groupId: string): Promise<void> {
    if (this.#state.get(this.#key(groupId)) === undefined) return Promise.resolve();
    return this.#state.delete(this.#key(groupId));
  }

  #key(groupId: string): string {
    return this.#prefix + encodeURIComponent(groupId);
  }
}
