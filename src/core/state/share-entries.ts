/**
 * A share group's durable state (KIP-932), kept in its group's log (./group-entries.ts) as Kafka's
 * share coordinator keeps it in `__share_group_state`: per share-partition its start offset, the end
 * of what was handed out and its in-flight records (delivery count, done or not), as a whole
 * (`share.snapshot`, Kafka's ShareSnapshot) or as a change (`share.update`, ShareUpdate); and the
 * group's configs (`share.config`). The log's own snapshots compact the updates (./state-log.ts).
 */
import type { ShareGroupState, SharePartitionState, ShareRecordRange, ShareStateChange } from '../api.js';
import { corrupt, Fields, type Json, type JsonObject } from './json.js';

/** Offsets one range may cover; a share-partition holds a few thousand in flight at most. */
export const shareRangeOffsetsMax = 65_536;
/** Ranges in one snapshot or update. */
export const shareRangesMax = 65_536;
/** Configs of one share group. */
export const shareConfigsMax = 64;

interface ShareRecord {
  deliveries: number;
  done: boolean;
}

interface SharePartitionRow {
  readonly stream: string;
  readonly partition: number;
  startOffset: number;
  endOffset: number;
  /** By offset: records at or past `startOffset` that were handed out. */
  readonly records: Map<number, ShareRecord>;
}

export interface ShareState {
  readonly configs: Map<string, string>;
  /** By `shareKey(stream, partition)`. */
  readonly partitions: Map<string, SharePartitionRow>;
}

export type ShareEntry =
  | { readonly type: 'share.config'; readonly name: string; readonly value: string | null }
  | { readonly type: 'share.snapshot' | 'share.update'; readonly partition: SharePartitionState }
  | { readonly type: 'share.clear' };

const shareKey = (stream: string, partition: number): string => `${stream}\u0000${partition}`;

export function initialShare(): ShareState {
  return { configs: new Map(), partitions: new Map() };
}

export function isEmptyShare(state: ShareState): boolean {
  return state.configs.size === 0 && state.partitions.size === 0;
}

export function shareEntryOf(change: ShareStateChange): ShareEntry {
  switch (change.type) {
    case 'config':
      return { type: 'share.config', name: change.name, value: change.value };
    case 'snapshot':
      return { type: 'share.snapshot', partition: change.partition };
    case 'update':
      return { type: 'share.update', partition: change.partition };
    case 'clear':
      return { type: 'share.clear' };
  }
}

export function applyShare(state: ShareState, entry: ShareEntry): void {
  switch (entry.type) {
    case 'share.config':
      if (entry.value === null) state.configs.delete(entry.name);
      else state.configs.set(entry.name, entry.value);
      return;
    case 'share.clear':
      state.configs.clear();
      state.partitions.clear();
      return;
    case 'share.snapshot':
    case 'share.update': {
      const p = entry.partition;
      const key = shareKey(p.stream, p.partition);
      let row = state.partitions.get(key);
      if (row === undefined || entry.type === 'share.snapshot') {
        row = { stream: p.stream, partition: p.partition, startOffset: 0, endOffset: 0, records: new Map() };
        state.partitions.set(key, row);
      }
      row.startOffset = p.startOffset;
      row.endOffset = Math.max(p.endOffset, p.startOffset);
      for (const r of p.records)
        for (let o = Math.max(r.first, p.startOffset); o <= r.last; o++)
          row.records.set(o, { deliveries: r.deliveries, done: r.done });
      for (const o of row.records.keys()) if (o < row.startOffset) row.records.delete(o);
      return;
    }
  }
}

/** A stream was deleted: its share-partitions go. */
export function dropShareStream(state: ShareState, stream: string): void {
  for (const [key, row] of state.partitions) if (row.stream === stream) state.partitions.delete(key);
}

export function holdsShareStream(state: ShareState, stream: string): boolean {
  return [...state.partitions.values()].some((row) => row.stream === stream);
}

/** Consecutive offsets alike, as ranges. */
function rangesOf(records: Map<number, ShareRecord>): ShareRecordRange[] {
  const out: ShareRecordRange[] = [];
  for (const o of [...records.keys()].sort((a, b) => a - b)) {
    const r = records.get(o)!;
    const last = out[out.length - 1];
    const fits =
      last !== undefined && last.last === o - 1 && last.last - last.first + 1 < shareRangeOffsetsMax;
    if (fits && last.deliveries === r.deliveries && last.done === r.done)
      out[out.length - 1] = { ...last, last: o };
    else out.push({ first: o, last: o, deliveries: r.deliveries, done: r.done });
  }
  return out;
}

function partitionOf(row: SharePartitionRow): SharePartitionState {
  return {
    stream: row.stream,
    partition: row.partition,
    startOffset: row.startOffset,
    endOffset: row.endOffset,
    records: rangesOf(row.records),
  };
}

export function* snapshotShare(state: ShareState): Iterable<ShareEntry> {
  for (const [name, value] of state.configs) yield { type: 'share.config', name, value };
  for (const row of state.partitions.values()) yield { type: 'share.snapshot', partition: partitionOf(row) };
}

/** What a reader of the group sees: its configs and its share-partitions, records as ranges. */
export function shareStateOf(group: string, state: ShareState): ShareGroupState {
  return {
    group,
    configs: Object.fromEntries(state.configs),
    partitions: [...state.partitions.values()].map(partitionOf),
  };
}

/** Why a change cannot be stored, if it cannot. */
export function shareChangeProblem(state: ShareState, change: ShareStateChange): string | undefined {
  if (change.type === 'clear') return undefined;
  if (change.type === 'config')
    return !state.configs.has(change.name) && state.configs.size >= shareConfigsMax
      ? `A share group has at most ${shareConfigsMax} configs`
      : undefined;
  const p = change.partition;
  const ints = [p.partition, p.startOffset, p.endOffset];
  if (!ints.every((n) => Number.isSafeInteger(n) && n >= 0))
    return 'Share-partition offsets must be integers >= 0';
  if (p.records.length > shareRangesMax)
    return `A share-partition change has at most ${shareRangesMax} ranges`;
  for (const r of p.records)
    if (!validRange(r)) return 'A share-partition record range must be ordered, bounded and counted';
  return undefined;
}

function validRange(r: ShareRecordRange): boolean {
  const ints = [r.first, r.last, r.deliveries];
  if (!ints.every((n) => Number.isSafeInteger(n) && n >= 0)) return false;
  return r.first <= r.last && r.last - r.first < shareRangeOffsetsMax;
}

// ---- encoding

function partitionToJson(p: SharePartitionState): JsonObject {
  return {
    stream: p.stream,
    partition: p.partition,
    start: p.startOffset,
    end: p.endOffset,
    records: p.records.map((r) => [r.first, r.last, r.deliveries, r.done ? 1 : 0]),
  };
}

function partitionFromJson(f: Fields): SharePartitionState {
  const records = f.array('records').map((raw, i) => {
    const [first, last, deliveries, done] = Array.isArray(raw) ? raw : [];
    const range = new Fields({ first, last, deliveries, done }, `share range ${i}`);
    const r = {
      first: range.int('first'),
      last: range.int('last'),
      deliveries: range.int('deliveries'),
      done: range.int('done') === 1,
    };
    if (!validRange(r)) throw corrupt(`share range ${i}`);
    return r;
  });
  if (records.length > shareRangesMax) throw corrupt('share ranges');
  return {
    stream: f.str('stream'),
    partition: f.int('partition'),
    startOffset: f.int('start'),
    endOffset: f.int('end'),
    records,
  };
}

export function encodeShare(entry: ShareEntry): Json {
  switch (entry.type) {
    case 'share.config':
      return { t: entry.type, name: entry.name, value: entry.value };
    case 'share.snapshot':
    case 'share.update':
      return { t: entry.type, ...partitionToJson(entry.partition) };
    case 'share.clear':
      return { t: entry.type };
  }
}

/** The share entry `json` holds, or undefined when its type is not a share entry. */
export function decodeShare(f: Fields, type: string): ShareEntry | undefined {
  switch (type) {
    case 'share.config':
      return { type, name: f.str('name'), value: f.strOrNull('value') };
    case 'share.snapshot':
    case 'share.update':
      return { type, partition: partitionFromJson(f) };
    case 'share.clear':
      return { type };
    default:
      return undefined;
  }
}
