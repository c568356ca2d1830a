/**
 * A vhost's transactional producers (`transactions.<vhost>`), as Kafka keeps them in
 * `__transaction_state` (KIP-98): per transactional id its producer id and epoch, the phase of its
 * transaction, the partitions and groups it has touched and the group offsets it will commit; and per
 * partition the transactions that aborted there, which readers of committed data leave out, and the
 * start a deletion of records set (Kafka's log start offset, which storage keeps only per segment).
 */
import type { GroupOffset } from '../api.js';
import { corrupt, Fields, type Json, type JsonObject } from './json.js';
import { type ProducerEntry, type ProducerState, producerMachine, sequenceKey } from './producer-entries.js';
import type { StateMachine } from './state-log.js';

/** Kafka's TransactionState, less the states of a transaction being moved between coordinators. */
export type TxnPhase =
  | 'empty'
  | 'ongoing'
  | 'prepareCommit'
  | 'prepareAbort'
  | 'completeCommit'
  | 'completeAbort';
const phases: readonly TxnPhase[] = [
  'empty',
  'ongoing',
  'prepareCommit',
  'prepareAbort',
  'completeCommit',
  'completeAbort',
];

export interface TxnPartition {
  readonly stream: string;
  readonly partition: number;
  /** The partition's end when it joined the transaction: nothing of the transaction lies below. */
  readonly firstOffset: number;
}

export interface TxnOffset {
  readonly group: string;
  readonly stream: string;
  readonly partition: number;
  readonly offset: GroupOffset;
}

export interface TxnProducerState {
  readonly id: string;
  producerId: number;
  epoch: number;
  timeoutMs: number;
  phase: TxnPhase;
  /** When the open transaction began (its timeout runs from here), or the last one did. */
  startedAt: number;
  updatedAt: number;
  readonly partitions: Map<string, TxnPartition>;
  readonly groups: Set<string>;
  /** Offsets committed in the transaction (Kafka TxnOffsetCommit): visible only once it commits. */
  readonly offsets: Map<string, TxnOffset>;
  /**
   * The markers of the transaction that ended last, which may become durable after its `complete`:
   * a restart appends again any a crash took.
   */
  lastEnd: TxnLastEnd | undefined;
  /**
   * The instance a decided transaction hands over to when it completes (KIP-890 part 2: EndTxn v5
   * bumps the epoch at every end, and past the last epoch gives a new producer id). Written with the
   * decision, since the client is told it once the decision is durable.
   */
  next: TxnInstanceIds | undefined;
  /**
   * A commit's decision records where the transaction's data ends on each partition it wrote to:
   * its batches were answered once appended, the commit only once they all were durable, so a
   * restart that finds a partition ending below carries the decision out as an abort.
   */
  dataEnds: readonly TxnDataEnd[] | undefined;
}

/** The end of a transaction's data on one partition: its producer's last offset there + 1. */
export interface TxnDataEnd {
  readonly stream: string;
  readonly partition: number;
  readonly end: number;
}

/** A producer id and epoch. */
export interface TxnInstanceIds {
  readonly producerId: number;
  readonly epoch: number;
}

/** How the last transaction of a producer ended, and where its markers went. */
export interface TxnLastEnd {
  readonly producerId: number;
  readonly epoch: number;
  readonly commit: boolean;
  readonly markers: readonly TxnMarkerAt[];
}

/** An aborted transaction on one partition: [its first offset, its marker's offset]. */
export type AbortedRange = readonly [producerId: number, firstOffset: number, markerOffset: number];

export interface TxnState {
  readonly producers: Map<string, TxnProducerState>;
  /** By `partitionKey`. */
  readonly aborted: Map<string, { stream: string; partition: number; ranges: AbortedRange[] }>;
  /** By `partitionKey`: the first offset readers may see after a deletion of records (Kafka DeleteRecords). */
  readonly starts: Map<string, { stream: string; partition: number; offset: number }>;
  /**
   * By `partitionKey`: where a restart looks for records of transactions whose `partitions` entry a
   * crash took (`TransactionalProducers`, "appended ahead"). It is the `firstOffset` of the last
   * `partitions` entry naming the partition: that entry came after the `partitions` entry of every
   * batch below it (a batch is appended only once its entry is applied, and entries are appended in
   * the order they are applied), so once it is durable, so are they.
   */
  readonly scans: Map<string, { stream: string; partition: number; offset: number }>;
  /**
   * Transactional producers' sequences, the producer registry's state for their batches: the record
   * of a transactional batch is carried here (`registry` entries), in the log that holds its
   * transaction, and handed to the registry at start (`ProducerRegistry.adopt`). Epochs stay the
   * registry's own.
   */
  readonly sequences: ProducerState['sequences'];
  /** By `sequenceKey`: each producer's last transaction marker on each partition (DescribeProducers). */
  readonly marks: Map<string, TxnMark>;
  /**
   * The last entry is `closed`: the run before ended with a clean close, after every partition of the
   * vhost was closed, so every batch it answered is durable (`TransactionalProducers.open`).
   */
  closedCleanly: boolean;
}

/** A transaction's marker on one partition, as its end records it. */
export interface TxnMarkerAt {
  readonly stream: string;
  readonly partition: number;
  readonly firstOffset: number;
  readonly markerOffset: number;
}

/**
 * A producer's last marker on a partition, with the epoch Kafka writes it with: the next one when
 * its decision hands over (Kafka's decision holds the bumped epoch: a version 2 end, a timeout).
 */
export interface TxnMark {
  readonly producerId: number;
  readonly stream: string;
  readonly partition: number;
  readonly epoch: number;
  readonly markerOffset: number;
}

export type TxnEntry =
  /** InitProducerId: a producer id and epoch for the transactional id, no transaction open. */
  | {
      readonly type: 'producer';
      readonly id: string;
      readonly producerId: number;
      readonly epoch: number;
      readonly timeoutMs: number;
      readonly at: number;
    }
  | {
      readonly type: 'partitions';
      readonly id: string;
      readonly partitions: TxnPartition[];
      readonly at: number;
    }
  | { readonly type: 'group'; readonly id: string; readonly group: string; readonly at: number }
  | { readonly type: 'offsets'; readonly id: string; readonly offsets: TxnOffset[]; readonly at: number }
  /**
   * The decision (Kafka's PrepareCommit / PrepareAbort): from here the transaction ends that way, and
   * `complete` hands the id over to `next` when there is one (KIP-890 part 2).
   */
  | {
      readonly type: 'prepare';
      readonly id: string;
      readonly commit: boolean;
      readonly at: number;
      readonly next?: TxnInstanceIds;
      /** A commit's: where its data ends (absent from older decisions, which commit as before). */
      readonly dataEnds?: readonly TxnDataEnd[];
    }
  /** Markers written; an abort's are remembered per partition. */
  | {
      readonly type: 'complete';
      readonly id: string;
      readonly commit: boolean;
      readonly markers: TxnMarkerAt[];
      readonly at: number;
    }
  /** A marker a crash took was appended again at start, at `markerOffset` instead of `from`. */
  | {
      readonly type: 'remark';
      readonly id: string;
      readonly stream: string;
      readonly partition: number;
      readonly from: number;
      readonly markerOffset: number;
    }
  /** Retention removed everything below `before` on the partition. */
  | {
      readonly type: 'aborted.trim';
      readonly stream: string;
      readonly partition: number;
      readonly before: number;
    }
  /** The snapshot's form of a partition's scan start (`TxnState.scans`). */
  | { readonly type: 'scan'; readonly stream: string; readonly partition: number; readonly offset: number }
  /** Records below `offset` were deleted (Kafka DeleteRecords); also the snapshot's form of a start. */
  | { readonly type: 'start'; readonly stream: string; readonly partition: number; readonly offset: number }
  /** The stream was deleted: its partitions leave every transaction and its aborted list goes. */
  | { readonly type: 'stream.forget'; readonly stream: string }
  /** Transactional ids expired (Kafka's transactional.id.expiration.ms) or evicted at the bound. */
  | { readonly type: 'expire'; readonly ids: readonly string[] }
  /** A producer-registry entry carried here: a transactional batch's record, or (snapshot) a sequence. */
  | { readonly type: 'registry'; readonly entry: ProducerEntry }
  /** A clean close, written last, after every partition of the vhost closed. */
  | { readonly type: 'closed' }
  /** The snapshot's form of one producer. */
  | { readonly type: 'state'; readonly producer: TxnProducerState }
  /** The snapshot's form of a producer's last marker on a partition (`TxnState.marks`). */
  | ({ readonly type: 'mark' } & TxnMark)
  /** The snapshot's form of one partition's aborted transactions. */
  | {
      readonly type: 'aborted';
      readonly stream: string;
      readonly partition: number;
      readonly ranges: AbortedRange[];
    };

export function partitionKey(stream: string, partition: number): string {
  return `${stream}\u0000${partition}`;
}

/** A transaction's offsets are kept by group and partition: a later commit of one replaces it. */
export function txnOffsetKey(o: { group: string; stream: string; partition: number }): string {
  return `${o.group}\u0000${o.stream}\u0000${o.partition}`;
}

function fresh(
  id: string,
  producerId: number,
  epoch: number,
  timeoutMs: number,
  at: number,
): TxnProducerState {
  return {
    id,
    producerId,
    epoch,
    timeoutMs,
    phase: 'empty',
    startedAt: at,
    updatedAt: at,
    partitions: new Map(),
    groups: new Set(),
    offsets: new Map(),
    lastEnd: undefined,
    next: undefined,
    dataEnds: undefined,
  };
}

/** An entry that names an id no producer has is a no-op: decode accepted it, apply must not throw. */
function touch(state: TxnState, id: string, at: number): TxnProducerState | undefined {
  const producer = state.producers.get(id);
  if (producer === undefined) return undefined;
  if (producer.phase !== 'ongoing') {
    producer.phase = 'ongoing';
    producer.startedAt = at;
  }
  producer.updatedAt = at;
  return producer;
}

function complete(state: TxnState, entry: TxnEntry & { type: 'complete' }): void {
  const producer = state.producers.get(entry.id);
  if (producer === undefined) return;
  if (!entry.commit) {
    for (const m of entry.markers) {
      const key = partitionKey(m.stream, m.partition);
      const list = state.aborted.get(key) ?? { stream: m.stream, partition: m.partition, ranges: [] };
      list.ranges.push([producer.producerId, m.firstOffset, m.markerOffset]);
      state.aborted.set(key, list);
    }
  }
  producer.phase = entry.commit ? 'completeCommit' : 'completeAbort';
  producer.updatedAt = entry.at;
  const { producerId, epoch } = producer;
  const markEpoch = producer.next === undefined ? epoch : epoch + 1;
  for (const { stream, partition, markerOffset } of entry.markers)
    setMark(state, { producerId, stream, partition, epoch: markEpoch, markerOffset });
  producer.lastEnd = { producerId, epoch, commit: entry.commit, markers: entry.markers };
  producer.dataEnds = undefined;
  producer.partitions.clear();
  producer.groups.clear();
  producer.offsets.clear();
  if (producer.next !== undefined) {
    producer.producerId = producer.next.producerId;
    producer.epoch = producer.next.epoch;
    producer.next = undefined;
  }
}

function setMark(state: TxnState, mark: TxnMark): void {
  state.marks.set(sequenceKey(mark.producerId, mark.stream, mark.partition), mark);
}

/** Moves a marker appended again at start: its abort range ends there now. */
function remark(state: TxnState, entry: TxnEntry & { type: 'remark' }): void {
  const producer = state.producers.get(entry.id);
  const last = producer?.lastEnd;
  if (producer === undefined || last === undefined) return;
  const mark = state.marks.get(sequenceKey(last.producerId, entry.stream, entry.partition));
  if (mark?.markerOffset === entry.from) setMark(state, { ...mark, markerOffset: entry.markerOffset });
  const moved = (m: TxnMarkerAt) =>
    m.stream === entry.stream && m.partition === entry.partition && m.markerOffset === entry.from;
  producer.lastEnd = {
    ...last,
    markers: last.markers.map((m) => (moved(m) ? { ...m, markerOffset: entry.markerOffset } : m)),
  };
  const list = state.aborted.get(partitionKey(entry.stream, entry.partition));
  if (list === undefined) return;
  list.ranges = list.ranges.map((r) =>
    r[0] === last.producerId && r[2] === entry.from ? [r[0], r[1], entry.markerOffset] : r,
  );
}

function trimAborted(state: TxnState, entry: Extract<TxnEntry, { readonly type: 'aborted.trim' }>): void {
  const key = partitionKey(entry.stream, entry.partition);
  const list = state.aborted.get(key);
  if (list === undefined) return;
  list.ranges = list.ranges.filter(([, , marker]) => marker >= entry.before);
  if (list.ranges.length === 0) state.aborted.delete(key);
}

/** A deleted stream's state goes, or expired transactional ids. */
function forget(
  state: TxnState,
  entry: Extract<TxnEntry, { readonly type: 'stream.forget' | 'expire' }>,
): void {
  if (entry.type === 'stream.forget') forgetStream(state, entry.stream);
  else for (const id of entry.ids) state.producers.delete(id);
}

function forgetStream(state: TxnState, stream: string): void {
  for (const producer of state.producers.values()) {
    const last = producer.lastEnd;
    if (last?.markers.some((m) => m.stream === stream) === true)
      producer.lastEnd = { ...last, markers: last.markers.filter((m) => m.stream !== stream) };
    for (const [key, p] of producer.partitions) if (p.stream === stream) producer.partitions.delete(key);
    for (const [key, o] of producer.offsets) if (o.stream === stream) producer.offsets.delete(key);
  }
  for (const [key, list] of state.aborted) if (list.stream === stream) state.aborted.delete(key);
  for (const [key, start] of state.starts) if (start.stream === stream) state.starts.delete(key);
  for (const [key, scan] of state.scans) if (scan.stream === stream) state.scans.delete(key);
  for (const [key, mark] of state.marks) if (mark.stream === stream) state.marks.delete(key);
  applyRegistry(state, { type: 'stream.forget', stream });
}

/** A registry entry applied to the sequences kept here; what it says of epochs is the registry's. */
function applyRegistry(state: TxnState, entry: ProducerEntry): void {
  producerMachine.apply(registryView(state), entry);
  if (entry.type !== 'forget' || entry.producerIds.length === 0) return;
  // Forgotten producer ids: their last markers go with their sequences.
  const gone = new Set(entry.producerIds);
  for (const [key, mark] of state.marks) if (gone.has(mark.producerId)) state.marks.delete(key);
}

function registryView(state: TxnState): ProducerState {
  return { nextId: 0, epochs: new Map(), sequences: state.sequences, covered: new Map() };
}

function applyTxn(state: TxnState, entry: TxnEntry): TxnState {
  state.closedCleanly = entry.type === 'closed';
  switch (entry.type) {
    case 'closed':
      break;
    case 'producer':
      state.producers.set(
        entry.id,
        fresh(entry.id, entry.producerId, entry.epoch, entry.timeoutMs, entry.at),
      );
      break;
    case 'partitions': {
      const producer = touch(state, entry.id, entry.at);
      for (const p of entry.partitions) {
        const key = partitionKey(p.stream, p.partition);
        if (!producer?.partitions.has(key)) producer?.partitions.set(key, p);
        // The last entry's, not the highest: a crash may have taken the partition's tail, and the
        // offsets written since then restart below an older entry's.
        state.scans.set(key, { stream: p.stream, partition: p.partition, offset: p.firstOffset });
      }
      break;
    }
    case 'scan':
      state.scans.set(partitionKey(entry.stream, entry.partition), {
        stream: entry.stream,
        partition: entry.partition,
        offset: entry.offset,
      });
      break;
    case 'group':
      touch(state, entry.id, entry.at)?.groups.add(entry.group);
      break;
    case 'offsets': {
      const producer = touch(state, entry.id, entry.at);
      for (const o of entry.offsets) producer?.offsets.set(txnOffsetKey(o), o);
      break;
    }
    case 'prepare': {
      const producer = state.producers.get(entry.id);
      if (producer !== undefined) {
        producer.phase = entry.commit ? 'prepareCommit' : 'prepareAbort';
        producer.updatedAt = entry.at;
        producer.next = entry.next;
        producer.dataEnds = entry.dataEnds;
      }
      break;
    }
    case 'complete':
      complete(state, entry);
      break;
    case 'remark':
      remark(state, entry);
      break;
    case 'aborted.trim':
      trimAborted(state, entry);
      break;
    case 'start': {
      const key = partitionKey(entry.stream, entry.partition);
      const offset = Math.max(entry.offset, state.starts.get(key)?.offset ?? 0);
      state.starts.set(key, { stream: entry.stream, partition: entry.partition, offset });
      break;
    }
    case 'stream.forget':
    case 'expire':
      forget(state, entry);
      break;
    case 'registry':
      applyRegistry(state, entry.entry);
      break;
    case 'state':
      state.producers.set(entry.producer.id, entry.producer);
      break;
    case 'mark': {
      const { type: _type, ...mark } = entry;
      setMark(state, mark);
      break;
    }
    case 'aborted':
      state.aborted.set(partitionKey(entry.stream, entry.partition), {
        stream: entry.stream,
        partition: entry.partition,
        ranges: [...entry.ranges],
      });
      break;
  }
  return state;
}

function* snapshotTxn(state: TxnState): Iterable<TxnEntry> {
  for (const producer of state.producers.values()) yield { type: 'state', producer };
  for (const { stream, partition, ranges } of state.aborted.values()) {
    yield { type: 'aborted', stream, partition, ranges };
  }
  for (const { stream, partition, offset } of state.starts.values()) {
    yield { type: 'start', stream, partition, offset };
  }
  for (const { stream, partition, offset } of state.scans.values()) {
    yield { type: 'scan', stream, partition, offset };
  }
  for (const mark of state.marks.values()) yield { type: 'mark', ...mark };
  for (const entry of producerMachine.snapshot(registryView(state)))
    if (entry.type === 'sequence') yield { type: 'registry', entry };
  if (state.closedCleanly) yield { type: 'closed' };
}

// ---- encoding

function offsetToJson(o: GroupOffset): JsonObject {
  const out: JsonObject = { offset: o.offset, metadata: o.metadata, at: o.committedAt };
  if (o.leaderEpoch !== undefined) out['epoch'] = o.leaderEpoch;
  return out;
}

function offsetFromJson(f: Fields): GroupOffset {
  const offset = { offset: f.int('offset', -1), metadata: f.str('metadata'), committedAt: f.num('at') };
  return f.has('epoch') ? { ...offset, leaderEpoch: f.int('epoch', Number.MIN_SAFE_INTEGER) } : offset;
}

const partitionToJson = (p: TxnPartition): Json => [p.stream, p.partition, p.firstOffset];
const markerToJson = (m: TxnMarkerAt): Json => [m.stream, m.partition, m.firstOffset, m.markerOffset];
const txnOffsetToJson = (o: TxnOffset): Json => ({
  group: o.group,
  stream: o.stream,
  partition: o.partition,
  ...offsetToJson(o.offset),
});

function tuple(raw: unknown, what: string, size: number): unknown[] {
  if (!Array.isArray(raw) || raw.length !== size) throw corrupt(`${what} is not a ${size}-tuple`);
  return raw;
}

function intAt(value: unknown, what: string, min = 0): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) throw corrupt(`${what}`);
  return value;
}

function strAt(value: unknown, what: string): string {
  if (typeof value !== 'string') throw corrupt(`${what}`);
  return value;
}

function partitionFromJson(raw: unknown, i: number): TxnPartition {
  const [stream, partition, first] = tuple(raw, `partition ${i}`, 3);
  const what = `partition ${i}`;
  return { stream: strAt(stream, what), partition: intAt(partition, what), firstOffset: intAt(first, what) };
}

function markerFromJson(raw: unknown, i: number): TxnMarkerAt {
  const [stream, partition, first, marker] = tuple(raw, `marker ${i}`, 4);
  const what = `marker ${i}`;
  return {
    stream: strAt(stream, what),
    partition: intAt(partition, what),
    firstOffset: intAt(first, what),
    markerOffset: intAt(marker, what),
  };
}

function rangeFromJson(raw: unknown, i: number): AbortedRange {
  const [producerId, first, marker] = tuple(raw, `aborted range ${i}`, 3);
  const what = `aborted range ${i}`;
  return [intAt(producerId, what), intAt(first, what), intAt(marker, what)];
}

function txnOffsetFromJson(raw: unknown, i: number): TxnOffset {
  const f = new Fields(raw, `transaction offset ${i}`);
  return {
    group: f.str('group'),
    stream: f.str('stream'),
    partition: f.int('partition'),
    offset: offsetFromJson(f),
  };
}

function producerToJson(p: TxnProducerState): Json {
  return {
    id: p.id,
    pid: p.producerId,
    epoch: p.epoch,
    timeoutMs: p.timeoutMs,
    phase: p.phase,
    startedAt: p.startedAt,
    updatedAt: p.updatedAt,
    partitions: [...p.partitions.values()].map(partitionToJson),
    groups: [...p.groups],
    offsets: [...p.offsets.values()].map(txnOffsetToJson),
    ...(p.lastEnd === undefined ? {} : { lastEnd: lastEndToJson(p.lastEnd) }),
    ...(p.next === undefined ? {} : { next: nextToJson(p.next) }),
    ...(p.dataEnds === undefined ? {} : { dataEnds: p.dataEnds.map(dataEndToJson) }),
  };
}

const dataEndToJson = (d: TxnDataEnd): Json => [d.stream, d.partition, d.end];

function dataEndFromJson(raw: unknown, i: number): TxnDataEnd {
  const what = `data end ${i}`;
  const [stream, partition, end] = tuple(raw, what, 3);
  return { stream: strAt(stream, what), partition: intAt(partition, what), end: intAt(end, what) };
}

function lastEndToJson(last: TxnLastEnd): Json {
  return {
    pid: last.producerId,
    epoch: last.epoch,
    commit: last.commit,
    markers: last.markers.map(markerToJson),
  };
}

const nextToJson = (next: TxnInstanceIds): Json => [next.producerId, next.epoch];

function nextFromJson(raw: unknown): TxnInstanceIds {
  const [producerId, epoch] = tuple(raw, 'next instance', 2);
  return { producerId: intAt(producerId, 'next producer id'), epoch: intAt(epoch, 'next epoch') };
}

function lastEndFromJson(f: Fields): TxnLastEnd {
  return {
    producerId: f.int('pid'),
    epoch: f.int('epoch'),
    commit: f.bool('commit'),
    markers: f.array('markers').map(markerFromJson),
  };
}

function producerFromJson(f: Fields): TxnProducerState {
  const phase = f.str('phase');
  if (!phases.includes(phase as TxnPhase)) throw corrupt(`transaction phase '${phase}'`);
  const partitions = f.array('partitions').map(partitionFromJson);
  const offsets = f.array('offsets').map(txnOffsetFromJson);
  return {
    id: f.str('id'),
    producerId: f.int('pid'),
    epoch: f.int('epoch'),
    timeoutMs: f.int('timeoutMs'),
    phase: phase as TxnPhase,
    startedAt: f.num('startedAt'),
    updatedAt: f.num('updatedAt'),
    partitions: new Map(partitions.map((p) => [partitionKey(p.stream, p.partition), p])),
    groups: new Set(f.strings('groups')),
    offsets: new Map(offsets.map((o) => [txnOffsetKey(o), o])),
    // Absent from snapshots written before markers could be durable after their `complete`.
    lastEnd: f.has('lastEnd') ? lastEndFromJson(f.fields('lastEnd')) : undefined,
    next: f.has('next') ? nextFromJson(f.array('next')) : undefined,
    dataEnds: f.has('dataEnds') ? f.array('dataEnds').map(dataEndFromJson) : undefined,
  };
}

function encodeTxn(entry: TxnEntry): Json {
  switch (entry.type) {
    case 'closed':
      return { t: entry.type };
    case 'producer':
      return {
        t: entry.type,
        id: entry.id,
        pid: entry.producerId,
        epoch: entry.epoch,
        timeoutMs: entry.timeoutMs,
        at: entry.at,
      };
    case 'partitions':
      return { t: entry.type, id: entry.id, partitions: entry.partitions.map(partitionToJson), at: entry.at };
    case 'group':
      return { t: entry.type, id: entry.id, group: entry.group, at: entry.at };
    case 'offsets':
      return { t: entry.type, id: entry.id, offsets: entry.offsets.map(txnOffsetToJson), at: entry.at };
    case 'prepare':
      return {
        t: entry.type,
        id: entry.id,
        commit: entry.commit,
        at: entry.at,
        ...(entry.next === undefined ? {} : { next: nextToJson(entry.next) }),
        ...(entry.dataEnds === undefined ? {} : { dataEnds: entry.dataEnds.map(dataEndToJson) }),
      };
    case 'complete':
      return {
        t: entry.type,
        id: entry.id,
        commit: entry.commit,
        markers: entry.markers.map(markerToJson),
        at: entry.at,
      };
    case 'remark':
      return {
        t: entry.type,
        id: entry.id,
        stream: entry.stream,
        partition: entry.partition,
        from: entry.from,
        marker: entry.markerOffset,
      };
    case 'aborted.trim':
      return { t: entry.type, stream: entry.stream, partition: entry.partition, before: entry.before };
    case 'start':
    case 'scan':
      return { t: entry.type, stream: entry.stream, partition: entry.partition, offset: entry.offset };
    case 'stream.forget':
      return { t: entry.type, stream: entry.stream };
    case 'expire':
      return { t: entry.type, ids: [...entry.ids] };
    case 'registry':
      return { t: entry.type, entry: producerMachine.encode(entry.entry) };
    case 'state':
      return { t: entry.type, producer: producerToJson(entry.producer) };
    case 'mark':
      return {
        t: entry.type,
        pid: entry.producerId,
        stream: entry.stream,
        partition: entry.partition,
        epoch: entry.epoch,
        marker: entry.markerOffset,
      };
    case 'aborted':
      return {
        t: entry.type,
        stream: entry.stream,
        partition: entry.partition,
        ranges: entry.ranges.map((r) => [...r]),
      };
  }
}

function producerEntryFromJson(f: Fields): TxnEntry {
  const [id, producerId, epoch] = [f.str('id'), f.int('pid'), f.int('epoch')];
  return { type: 'producer', id, producerId, epoch, timeoutMs: f.int('timeoutMs'), at: f.num('at') };
}

function decodeTxn(json: unknown): TxnEntry {
  const f = new Fields(json, 'transaction entry');
  const type = f.str('t');
  switch (type) {
    case 'producer':
      return producerEntryFromJson(f);
    case 'partitions':
      return {
        type,
        id: f.str('id'),
        partitions: f.array('partitions').map(partitionFromJson),
        at: f.num('at'),
      };
    case 'group':
      return { type, id: f.str('id'), group: f.str('group'), at: f.num('at') };
    case 'offsets':
      return { type, id: f.str('id'), offsets: f.array('offsets').map(txnOffsetFromJson), at: f.num('at') };
    case 'prepare': {
      const decided = { type, id: f.str('id'), commit: f.bool('commit'), at: f.num('at') };
      const next = f.has('next') ? { next: nextFromJson(f.array('next')) } : {};
      const dataEnds = f.has('dataEnds') ? { dataEnds: f.array('dataEnds').map(dataEndFromJson) } : {};
      return { ...decided, ...next, ...dataEnds };
    }
    case 'complete':
      return {
        type,
        id: f.str('id'),
        commit: f.bool('commit'),
        markers: f.array('markers').map(markerFromJson),
        at: f.num('at'),
      };
    case 'remark':
      return {
        type,
        id: f.str('id'),
        stream: f.str('stream'),
        partition: f.int('partition'),
        from: f.int('from'),
        markerOffset: f.int('marker'),
      };
    case 'aborted.trim':
      return { type, stream: f.str('stream'), partition: f.int('partition'), before: f.int('before') };
    case 'start':
    case 'scan':
      return { type, stream: f.str('stream'), partition: f.int('partition'), offset: f.int('offset') };
    case 'stream.forget':
      return { type, stream: f.str('stream') };
    case 'expire':
      return {
        type,
        ids: f.array('ids').map((raw, i) => new Fields({ id: raw }, `expired id ${i}`).str('id')),
      };
    case 'closed':
      return { type };
    case 'registry':
      return { type, entry: producerMachine.decode(f.raw('entry')) };
    case 'state':
      return { type, producer: producerFromJson(f.fields('producer')) };
    case 'mark':
      return {
        type,
        producerId: f.int('pid'),
        stream: f.str('stream'),
        partition: f.int('partition'),
        epoch: f.int('epoch'),
        markerOffset: f.int('marker'),
      };
    case 'aborted':
      return {
        type,
        stream: f.str('stream'),
        partition: f.int('partition'),
        ranges: f.array('ranges').map(rangeFromJson),
      };
    default:
      throw corrupt(`transaction entry type '${type}'`);
  }
}

export const txnMachine: StateMachine<TxnState, TxnEntry> = {
  kind: 'transactions',
  initial: () => ({
    producers: new Map(),
    aborted: new Map(),
    starts: new Map(),
    scans: new Map(),
    sequences: new Map(),
    marks: new Map(),
    closedCleanly: false,
  }),
  apply: applyTxn,
  encode: encodeTxn,
  decode: decodeTxn,
  snapshot: snapshotTxn,
};
