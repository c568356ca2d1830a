/**
 * A consumer group's log (`group.<vhost>.<group>`): its committed offsets and its coordinator's
 * membership record, as Kafka keeps both in `__consumer_offsets`, and a share group's state
 * (./share-entries.ts), as Kafka keeps it in `__share_group_state`.
 */
import type { GroupMember, GroupMembership, GroupOffset } from '../api.js';
import { bytesToJson, corrupt, Fields, type Json, type JsonObject } from './json.js';
import {
  applyShare,
  decodeShare,
  dropShareStream,
  encodeShare,
  initialShare,
  isEmptyShare,
  type ShareEntry,
  type ShareState,
  snapshotShare,
} from './share-entries.js';
import type { StateMachine } from './state-log.js';

export interface GroupOffsetRow {
  readonly stream: string;
  readonly partition: number;
  readonly offset: GroupOffset;
}

export interface GroupState {
  /** By `offsetKey(stream, partition)`, in first-commit order. */
  readonly offsets: Map<string, GroupOffsetRow>;
  membership: GroupMembership | undefined;
  /**
   * When the membership record last went from members to none (KIP-211's empty-state time), from
   * which an emptied group's offsets expire; undefined while it has members or no record.
   */
  emptiedAt: number | undefined;
  /** A share group's configs and share-partitions (KIP-932). */
  readonly share: ShareState;
}

export type GroupEntry =
  | {
      readonly type: 'offset.commit';
      readonly stream: string;
      readonly partition: number;
      readonly offset: GroupOffset;
    }
  /** Every offset of the group goes (Kafka DeleteGroups, OffsetDelete of all). */
  | { readonly type: 'offsets.clear' }
  /** The stream was deleted: its offsets go. */
  | { readonly type: 'offsets.dropStream'; readonly stream: string }
  /** Offsets committed at or before `before` (ms) expire (KIP-211, offsets.retention.minutes). */
  | { readonly type: 'offsets.expire'; readonly before: number }
  /** One partition's offset goes (Kafka OffsetDelete, KIP-496). */
  | { readonly type: 'offset.delete'; readonly stream: string; readonly partition: number }
  | {
      readonly type: 'membership.put';
      readonly membership: GroupMembership;
      readonly emptiedAt?: number;
    }
  | { readonly type: 'membership.clear' }
  | ShareEntry;

export function offsetKey(stream: string, partition: number): string {
  return `${stream}\u0000${partition}`;
}

export function isEmptyGroup(state: GroupState): boolean {
  return state.offsets.size === 0 && state.membership === undefined && isEmptyShare(state.share);
}

function applyGroup(state: GroupState, entry: GroupEntry): GroupState {
  switch (entry.type) {
    case 'offset.commit':
      state.offsets.set(offsetKey(entry.stream, entry.partition), {
        stream: entry.stream,
        partition: entry.partition,
        offset: entry.offset,
      });
      break;
    case 'offsets.clear':
      state.offsets.clear();
      break;
    case 'offset.delete':
      state.offsets.delete(offsetKey(entry.stream, entry.partition));
      break;
    case 'offsets.expire':
      for (const [key, row] of state.offsets)
        if (row.offset.committedAt <= entry.before) state.offsets.delete(key);
      break;
    case 'offsets.dropStream':
      for (const [key, row] of state.offsets) if (row.stream === entry.stream) state.offsets.delete(key);
      dropShareStream(state.share, entry.stream);
      break;
    case 'membership.put':
      state.membership = entry.membership;
      state.emptiedAt = entry.emptiedAt;
      break;
    case 'membership.clear':
      state.membership = undefined;
      state.emptiedAt = undefined;
      break;
    default:
      applyShare(state.share, entry);
  }
  return state;
}

function* snapshotGroup(state: GroupState): Iterable<GroupEntry> {
  for (const row of state.offsets.values()) yield { type: 'offset.commit', ...row };
  const { membership, emptiedAt } = state;
  if (membership !== undefined) {
    yield emptiedAt === undefined
      ? { type: 'membership.put', membership }
      : { type: 'membership.put', membership, emptiedAt };
  }
  yield* snapshotShare(state.share);
}

// ---- encoding

function offsetToJson(offset: GroupOffset): JsonObject {
  const out: JsonObject = { offset: offset.offset, metadata: offset.metadata, at: offset.committedAt };
  if (offset.leaderEpoch !== undefined) out['epoch'] = offset.leaderEpoch;
  return out;
}

function offsetFromJson(f: Fields): GroupOffset {
  const offset = { offset: f.int('offset', -1), metadata: f.str('metadata'), committedAt: f.num('at') };
  return f.has('epoch') ? { ...offset, leaderEpoch: f.int('epoch', Number.MIN_SAFE_INTEGER) } : offset;
}

function memberToJson(m: GroupMember): Json {
  return {
    id: m.id,
    instance: m.instanceId,
    client: m.clientId,
    host: m.clientHost,
    sessionMs: m.sessionTimeoutMs,
    rebalanceMs: m.rebalanceTimeoutMs,
    protocols: m.protocols.map((p) => [p.name, bytesToJson(p.metadata)]),
    assignment: bytesToJson(m.assignment),
  };
}

function memberFromJson(f: Fields): GroupMember {
  const protocols = f.array('protocols').map((raw, i) => {
    const pair = new Fields(
      { name: (raw as unknown[])?.[0], metadata: (raw as unknown[])?.[1] },
      `protocol ${i}`,
    );
    return { name: pair.str('name'), metadata: pair.bytes('metadata') };
  });
  return {
    id: f.str('id'),
    instanceId: f.strOrNull('instance'),
    clientId: f.str('client'),
    clientHost: f.str('host'),
    sessionTimeoutMs: f.int('sessionMs'),
    rebalanceTimeoutMs: f.int('rebalanceMs'),
    protocols,
    assignment: f.bytes('assignment'),
  };
}

function membershipToJson(m: GroupMembership): Json {
  const out: JsonObject = {
    generation: m.generation,
    protocolType: m.protocolType,
    protocol: m.protocol,
    leader: m.leader,
    rebalance: m.rebalance,
    members: m.members.map(memberToJson),
  };
  // Left out when absent, so records written before the field existed read back the same.
  if (m.coordinator !== undefined) out['coordinator'] = m.coordinator;
  return out;
}

function membershipFromJson(f: Fields): GroupMembership {
  return {
    generation: f.int('generation'),
    protocolType: f.strOrNull('protocolType'),
    protocol: f.strOrNull('protocol'),
    leader: f.strOrNull('leader'),
    rebalance: f.bool('rebalance'),
    members: f.array('members').map((raw, i) => memberFromJson(new Fields(raw, `member ${i}`))),
    ...(f.has('coordinator') ? { coordinator: f.str('coordinator') } : {}),
  };
}

function encodeGroup(entry: GroupEntry): Json {
  switch (entry.type) {
    case 'offset.commit':
      return {
        t: entry.type,
        stream: entry.stream,
        partition: entry.partition,
        ...offsetToJson(entry.offset),
      };
    case 'offsets.dropStream':
      return { t: entry.type, stream: entry.stream };
    case 'offset.delete':
      return { t: entry.type, stream: entry.stream, partition: entry.partition };
    case 'offsets.expire':
      return { t: entry.type, before: entry.before };
    case 'membership.put': {
      const out: JsonObject = { t: entry.type, membership: membershipToJson(entry.membership) };
      // Left out when absent, so records written before the field existed read back the same.
      if (entry.emptiedAt !== undefined) out['emptiedAt'] = entry.emptiedAt;
      return out;
    }
    case 'offsets.clear':
    case 'membership.clear':
      return { t: entry.type };
    default:
      return encodeShare(entry);
  }
}

function decodeGroup(json: unknown): GroupEntry {
  const f = new Fields(json, 'group entry');
  const type = f.str('t');
  switch (type) {
    case 'offset.commit':
      return { type, stream: f.str('stream'), partition: f.int('partition'), offset: offsetFromJson(f) };
    case 'offsets.dropStream':
      return { type, stream: f.str('stream') };
    case 'offset.delete':
      return { type, stream: f.str('stream'), partition: f.int('partition') };
    case 'offsets.expire':
      return { type, before: f.num('before') };
    case 'membership.put': {
      const membership = membershipFromJson(f.fields('membership'));
      return f.has('emptiedAt') ? { type, membership, emptiedAt: f.num('emptiedAt') } : { type, membership };
    }
    case 'offsets.clear':
    case 'membership.clear':
      return { type };
    default: {
      const share = decodeShare(f, type);
      if (share === undefined) throw corrupt(`group entry type '${type}'`);
      return share;
    }
  }
}

export const groupMachine: StateMachine<GroupState, GroupEntry> = {
  kind: 'group',
  initial: () => ({ offsets: new Map(), membership: undefined, emptiedAt: undefined, share: initialShare() }),
  apply: applyGroup,
  encode: encodeGroup,
  decode: decodeGroup,
  snapshot: snapshotGroup,
};
