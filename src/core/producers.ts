/**
 * The idempotent-producer registry of one vhost, an owned object with its own log
 * (./state/producer-entries.ts). It hands out producer ids and bumps epochs (Kafka InitProducerId,
 * KIP-360), and decides for each batch of an idempotent producer whether it is new, a retry of one
 * already stored (answered with that batch's offset) or out of order — the semantics of Kafka's
 * ProducerStateManager (KIP-98). The vhost checks, appends and records in one synchronous step
 * (`Vhost.appendIdempotent`), so nothing can come between a check and its record.
 */
import type { LogEntry } from '../storage/types.js';
import type { ProducerBatch, ProducerInit, ProducerRefusal, StreamPartition } from './api.js';
import type { Timer } from './exec/executor.js';
import { entryProducer } from './logs/formats.js';
import { OwnedLog, sourceOf, type VhostObjectDeps, vhostObjectOptions } from './state/owned-log.js';
import {
  type ProducerEntry,
  type ProducerState,
  partitionKey,
  producerMachine,
  type RecentBatch,
  recentBatchesMax,
  sequenceKey,
} from './state/producer-entries.js';
import type { OpenedLog } from './state/state-log.js';

/** Sequences are int32 and wrap to 0 after the largest. */
const sequenceMax = 0x7fffffff;
/** Epochs are int16; past the largest an epoch wraps to 0 (KIP-360). */
const epochMax = 0x7fff;

/** A producer's last batch on a partition: its epoch, last sequence and offset (-1: none kept). */
export interface BatchTail {
  readonly producerId: number;
  readonly epoch: number;
  readonly lastSeq: number;
  readonly lastOffset: number;
}

export type SequenceVerdict =
  | { readonly kind: 'append' }
  | { readonly kind: 'duplicate'; readonly offset: number }
  | { readonly kind: 'refused'; readonly reason: ProducerRefusal };

function nextSeq(seq: number): number {
  return seq === sequenceMax ? 0 : seq + 1;
}

function lastSeqOf(batch: Pick<ProducerBatch, 'baseSequence' | 'count'>): number {
  return (batch.baseSequence + batch.count - 1) % (sequenceMax + 1);
}

/** Payload bytes of a partition read per turn of the registry's executor while its tail is read back. */
const tailReadBytesMax = 1024 * 1024;

/**
 * How often the partitions read back in a run are covered to their ends while running, so what a
 * crash leaves for the next start to read back is about what was appended in this time, not all
 * that was appended since the last clean close.
 */
export const producerCoverIntervalMs = 30_000;

/**
 * Kafka's `producer.id.expiration.ms` default: an idempotent producer id neither initialized nor
 * written with for this long is forgotten, its epoch and sequences with it, as Kafka's partition
 * leaders expire a producer's state. Its producer's next batch then starts its state again
 * (`#forgottenVerdict`).
 */
export const producerIdExpirationMs = 24 * 60 * 60 * 1000;
/** Kafka's `producer.id.expiration.check.interval.ms` default. */
export const producerIdExpirationCheckMs = 10 * 60 * 1000;
/**
 * A new producer id past `CoreLimits.producerIdsMax` (Switchyard's bound: Kafka's only is the
 * expiry) evicts the least recently used idempotent ones, a hundredth of the bound at a time and at
 * most this many, as Kafka's fetch session cache evicts: a client handing out ids without end pushes
 * out its own oldest first.
 */
const producerIdsEvictedMax = 1000;

export interface ProducerRegistryDeps extends VhostObjectDeps {
  /** Producer ids held at most (`CoreLimits.producerIdsMax`). */
  readonly idsMax: number;
}

function batchEntry(
  stream: string,
  partition: number,
  batch: Pick<ProducerBatch, 'producerId' | 'epoch' | 'baseSequence' | 'count'>,
  baseOffset: number,
): ProducerEntry {
  const { producerId, epoch, baseSequence } = batch;
  return {
    type: 'batch',
    producerId,
    epoch,
    stream,
    partition,
    firstSeq: baseSequence,
    lastSeq: lastSeqOf(batch),
    baseOffset,
  };
}

/**
 * Whether the partition still holds the batch a record names: false when its offset is past the end or
 * an entry another producer wrote (or none: a plain batch) starts there; true when compaction or
 * retention took it (a gap is no loss) and when the entry's format does not tell who wrote it.
 */
function holdsBatch(partition: StreamPartition, producerId: number, [first, , offset]: RecentBatch): boolean {
  if (offset >= partition.endOffset) return false;
  const entry = partition.read(offset, { maxEntries: 1 })[0];
  if (entry === undefined || entry.offset !== offset) return true;
  const producer = entryProducer(entry);
  if (producer === undefined) return true;
  return producer.producerId === producerId && (producer.sequence?.first ?? first) === first;
}

export class ProducerRegistry {
  readonly #log: OwnedLog<ProducerState, ProducerEntry>;
  /** The sequences another log carries (`recordIn`), taken again whenever this log restarts. */
  #carried: (() => ProducerState['sequences']) | undefined;
  /**
   * Per partition (`partitionKey`), the offset its tail is read back from: past the last batch this
   * registry's own log recorded there, and past its last `covered` entry (`#noteTails`).
   */
  #tailFrom = new Map<string, number>();
  /**
   * Partitions whose tail was read back since the log (re)opened: the partition, which a clean close
   * covers (`coverRead`), or the reading under way.
   */
  readonly #tails = new Map<string, Promise<void> | StreamPartition>();
  /** Per partition, the sequences this log held for it when it (re)opened (`#forgetLost`). */
  #recorded = new Map<string, string[]>();
  /** Counts the log's (re)openings, so a reading begun before a restart does not count after it. */
  #generation = 0;
  /** Armed while a partition read back in this run may have grown past its last `covered` entry. */
  #coverTimer: Timer | undefined;
  /**
   * Each producer id's last use (an init, an epoch set, a batch), least recent first; ids found at
   * open count as used then, so a restart gives every id a full expiry period again.
   */
  #used = new Map<number, number>();
  /** Ids a transactional id holds: the transaction coordinator expires those (`pin`). */
  #pinned: (producerId: number) => boolean = () => false;
  /** Told each set of ids forgotten: the transaction log drops what it carries of them (`pin`). */
  #forgotten: (producerIds: readonly number[]) => void = () => undefined;
  #expiryTimer: Timer | undefined;
  readonly #idsMax: number;

  private constructor(log: OwnedLog<ProducerState, ProducerEntry>, idsMax: number) {
    this.#log = log;
    this.#idsMax = idsMax;
    this.#noteUsed();
    this.#expiryTimer = log.exec.every(producerIdExpirationCheckMs, () => this.#expire());
  }

  static async open(
    deps: ProducerRegistryDeps,
    found: OpenedLog<ProducerState> | undefined,
  ): Promise<ProducerRegistry> {
    let registry: ProducerRegistry | undefined;
    const options = {
      ...vhostObjectOptions(deps, producerMachine, 'producers'),
      // Rebuilt from its own log, it has lost what another log carries for it.
      onRestarted: () => {
        if (registry === undefined) return;
        registry.#noteTails();
        registry.#adoptCarried();
        registry.#noteUsed();
      },
    };
    registry = new ProducerRegistry(await OwnedLog.open(options, sourceOf(found)), deps.idsMax);
    registry.#noteTails();
    return registry;
  }

  /** A new producer id (epoch 0) for `producerId` < 0, or the same id with its epoch bumped. */
  async init(producerId: number, epoch: number): Promise<ProducerInit> {
    const state = this.#log.state;
    if (producerId < 0) {
      const evicted = this.#evict();
      const id = state.nextId;
      this.#touch(id);
      await Promise.all([evicted, this.#log.commit({ type: 'producer', producerId: id, epoch: 0 })]);
      return { kind: 'ok', producerId: id, epoch: 0 };
    }
    const known = state.epochs.get(producerId);
    if (known === undefined) return { kind: 'refused', reason: 'unknownProducer' };
    if (epoch !== known) return { kind: 'refused', reason: 'staleEpoch' };
    const bumped = known >= epochMax ? 0 : known + 1;
    this.#touch(producerId);
    await this.#log.commit({ type: 'producer', producerId, epoch: bumped });
    return { kind: 'ok', producerId, epoch: bumped };
  }

  /**
   * The transaction coordinator names the producer ids its transactional ids hold, never expired
   * here, and is told of those forgotten: the sequences and markers of their transactional batches
   * live in its log, and would outlive the id there (and come back here at each restart).
   */
  pin(held: (producerId: number) => boolean, forgotten: (producerIds: readonly number[]) => void): void {
    this.#pinned = held;
    this.#forgotten = forgotten;
  }

  #touch(producerId: number): void {
    this.#used.delete(producerId);
    this.#used.set(producerId, this.#log.exec.now());
  }

  #noteUsed(): void {
    const now = this.#log.exec.now();
    const used = new Map<number, number>();
    for (const id of this.#log.state.epochs.keys()) used.set(id, this.#used.get(id) ?? now);
    this.#used = new Map([...used].sort((a, b) => a[1] - b[1]));
  }

  /** At `producerIdsMax`, the least recently used unpinned ids go, in one entry. */
  #evict(): Promise<void> | undefined {
    if (this.#log.state.epochs.size < this.#idsMax) return undefined;
    const count = Math.min(producerIdsEvictedMax, Math.ceil(this.#idsMax / 100));
    return this.#forget(this.#unpinned(count, Number.POSITIVE_INFINITY));
  }

  /** Up to `countMax` unpinned ids, least recently used first, last used before `before`. */
  #unpinned(countMax: number, before: number): number[] {
    const out: number[] = [];
    for (const [id, at] of this.#used) {
      if (out.length >= countMax || at >= before) break;
      if (!this.#pinned(id)) out.push(id);
    }
    return out;
  }

  #forget(producerIds: number[]): Promise<void> | undefined {
    if (producerIds.length === 0) return undefined;
    for (const id of producerIds) this.#used.delete(id);
    const committed = this.#log.commit({ type: 'forget', producerIds, nextId: this.#log.state.nextId });
    this.#forgotten(producerIds);
    return committed;
  }

  /** Kafka's periodic check: ids unused for `producerIdExpirationMs` are forgotten. */
  #expire(): void {
    const before = this.#log.exec.now() - producerIdExpirationMs;
    this.#forget(this.#unpinned(Number.POSITIVE_INFINITY, before))?.catch(() => undefined);
  }

  /** The producer's current epoch; undefined for an id never handed out. */
  epochOf(producerId: number): number | undefined {
    return this.#log.state.epochs.get(producerId);
  }

  /** Sets the producer's epoch: a transaction coordinator fencing older instances of a producer. */
  setEpoch(producerId: number, epoch: number): Promise<void> {
    this.#touch(producerId);
    return this.#log.commit({ type: 'producer', producerId, epoch });
  }

  check(stream: string, partition: number, batch: ProducerBatch): SequenceVerdict {
    const state = this.#log.state;
    const epoch = state.epochs.get(batch.producerId);
    if (epoch === undefined) return this.#forgottenVerdict(batch);
    if (batch.epoch < epoch) return { kind: 'refused', reason: 'staleEpoch' };
    const sequence = state.sequences.get(sequenceKey(batch.producerId, stream, partition));
    const first = batch.baseSequence;
    if (sequence === undefined || sequence.epoch !== batch.epoch) {
      if (first === 0) return { kind: 'append' };
      return { kind: 'refused', reason: sequence === undefined ? 'unknownProducer' : 'outOfOrder' };
    }
    const last = lastSeqOf(batch);
    const seen = sequence.recent.find(([f, l]) => f === first && l === last);
    if (seen !== undefined) return { kind: 'duplicate', offset: seen[2] };
    if (first === nextSeq(sequence.lastSeq)) return { kind: 'append' };
    if (first <= sequence.lastSeq) return { kind: 'refused', reason: 'duplicateSequence' };
    return { kind: 'refused', reason: 'outOfOrder' };
  }

  /**
   * A batch of a producer id held nothing of. One handed out here and since forgotten (expired, or
   * evicted at `producerIdsMax`) is taken, whatever its sequence, and its state starts again from it,
   * as Kafka's partition leader takes a batch from a producer whose state it no longer holds
   * (ProducerAppendInfo.checkSequence; KIP-360 retired UNKNOWN_PRODUCER_ID from Produce). An id never
   * handed out, or a transactional batch (its transaction coordinator answers for it), stays unknown.
   */
  #forgottenVerdict(batch: ProducerBatch): SequenceVerdict {
    const forgotten = batch.producerId < this.#log.state.nextId && batch.transactional !== true;
    return forgotten ? { kind: 'append' } : { kind: 'refused', reason: 'unknownProducer' };
  }

  /**
   * Records a stored batch; throws when the registry's log refuses, resolves once durable. A
   * forgotten id it brings back counts against `producerIdsMax` as a new one does.
   */
  record(stream: string, partition: number, batch: ProducerBatch, baseOffset: number): Promise<void> {
    const evicted = this.#log.state.epochs.has(batch.producerId) ? undefined : this.#evict();
    this.#touch(batch.producerId);
    const committed = this.#log.commit(batchEntry(stream, partition, batch, baseOffset));
    return evicted === undefined ? committed : Promise.all([evicted, committed]).then(() => undefined);
  }

  /**
   * Records a stored transactional batch whose entry another log carries (`carry`: the
   * transaction log's `TransactionalProducers.record`), so that a transaction's entries and its
   * batches' records share one file and its fdatasyncs. Applied here only once `carry` took it.
   */
  recordIn(
    carry: (entry: ProducerEntry) => Promise<void>,
    stream: string,
    partition: number,
    batch: ProducerBatch,
    baseOffset: number,
  ): Promise<void> {
    const entry = batchEntry(stream, partition, batch, baseOffset);
    this.#touch(batch.producerId);
    const durable = carry(entry);
    this.#log.applyCarried(entry);
    return durable;
  }

  /**
   * The sequences the transaction log carries replace the registry's own for those producers and
   * partitions, now and at each restart of either log: every answered batch's record is durable
   * there. (A registry snapshot may hold a later one noted in memory, of a batch never answered; it
   * goes.)
   */
  adopt(carried: () => ProducerState['sequences']): void {
    this.#carried = carried;
    this.#adoptCarried();
  }

  #adoptCarried(): void {
    const sequences = this.#carried?.() ?? new Map();
    for (const { producerId, stream, partition, epoch, lastSeq, recent } of sequences.values()) {
      const state = { epoch, lastSeq, recent };
      this.#log.applyCarried({ type: 'sequence', producerId, stream, partition, state });
    }
  }

  /**
   * What this log holds tells from where each partition's tail must be read back: its own log only
   * (before the transaction log's sequences are adopted, which say nothing of this log's batches).
   */
  #noteTails(): void {
    const state = this.#log.state;
    const from = new Map<string, number>();
    const recorded = new Map<string, string[]>();
    for (const [held, { stream, partition, recent }] of state.sequences) {
      const last = recent.at(-1);
      if (last === undefined) continue;
      const key = partitionKey(stream, partition);
      from.set(key, Math.max(from.get(key) ?? 0, last[2] + 1));
      const keys = recorded.get(key) ?? [];
      keys.push(held);
      recorded.set(key, keys);
    }
    this.#recorded = recorded;
    for (const [key, { offset }] of state.covered) from.set(key, Math.max(from.get(key) ?? 0, offset));
    this.#tailFrom = from;
    this.#tails.clear();
    this.#generation++;
  }

  /**
   * Before the first idempotent batch a partition takes since this registry opened: the batches of
   * idempotent producers the partition holds past what this log recorded for it are read back from
   * its tail and recorded, the newest of either source winning, as Kafka rebuilds its producer state
   * from the log (KIP-98). A batch is appended and its record written to this log in one synchronous
   * step, in the partition's order, and the log replays a prefix of what it was given; so after a
   * crash every batch of the partition up to the last one this log still holds for it (or up to its
   * last `covered` offset) is recorded, and only the batches past it may be stored without a record,
   * never answered, and retried. Transactional batches are recorded in the transaction log and are
   * left to it. Undefined once read; else append only once the promise resolves.
   */
  readTail(partition: StreamPartition): Promise<void> | undefined {
    const key = partitionKey(partition.stream, partition.index);
    const known = this.#tails.get(key);
    if (known instanceof Promise) return known;
    if (known !== undefined) return undefined;
    const bound = this.#tailFrom.get(key) ?? 0;
    const from = Math.max(bound, partition.startOffset);
    const end = partition.endOffset;
    this.#forgetLost(partition);
    if (bound > end) return this.#track(key, partition, this.#lowerBound(partition, end));
    if (from >= end) {
      this.#readDone(key, partition);
      return undefined;
    }
    return this.#track(key, partition, this.#readTail(partition, from, end));
  }

  /** The partition is read once `work` is done; meanwhile batches wait for it (`readTail`). */
  #track(key: string, partition: StreamPartition, work: Promise<void>): Promise<void> {
    const generation = this.#generation;
    const tracked = work.then(
      () => {
        if (generation === this.#generation) this.#readDone(key, partition);
      },
      (err: unknown) => {
        if (generation === this.#generation) this.#tails.delete(key);
        throw err;
      },
    );
    this.#tails.set(key, tracked);
    return tracked;
  }

  /**
   * This log's bound lies past the partition's end: a crash took a tail the log had already
   * recorded or covered (each log is durable as a prefix, but not with the other). Batches appended
   * from here on would sit below the stale bound, and a second crash that took their records would
   * leave them unread at the next start; so the bound is lowered to the end, durably, before any is.
   */
  #lowerBound(partition: StreamPartition, end: number): Promise<void> {
    return this.#log.commit({
      type: 'covered',
      stream: partition.stream,
      partition: partition.index,
      offset: end,
    });
  }

  #readDone(key: string, partition: StreamPartition): void {
    this.#tails.set(key, partition);
    this.#coverTimer ??= this.#armCover();
  }

  #armCover(): Timer {
    return this.#log.exec.after(producerCoverIntervalMs, () => this.#coverWhileRunning());
  }

  /**
   * Covers each partition read back in this run to its end, as a clean close does (`coverRead`), and
   * arms itself again. An end not yet durable in its partition may be covered: a crash that takes it
   * leaves a bound past the end, which the next start lowers (`#lowerBound`).
   */
  #coverWhileRunning(): void {
    this.#coverTimer = undefined;
    if (this.#tails.size === 0) return;
    this.#cover().catch(() => undefined);
    this.#coverTimer = this.#armCover();
  }

  async #readTail(partition: StreamPartition, from: number, end: number): Promise<void> {
    const found = new Map<number, ProducerEntry[]>();
    let offset = from;
    while (offset < end) {
      const entries = partition.read(offset, { maxBytes: tailReadBytesMax });
      const last = entries.at(-1);
      if (last === undefined) break;
      for (const entry of entries) if (entry.offset < end) this.#noteTailBatch(found, partition, entry);
      offset = last.offset + last.count;
      await this.#log.exec.turn();
    }
    const { stream, index } = partition;
    // Applied at once, so the next check sees them; in the log before any later record of the
    // partition. A write that fails fails the registry, which then reads the tail again.
    const commits = [...found.values()].flat().map((entry) => this.#log.commit(entry));
    commits.push(this.#log.commit({ type: 'covered', stream, partition: index, offset: end }));
    Promise.all(commits).catch(() => undefined);
  }

  /**
   * The other way round: a record this log kept of a batch the partition lost with its tail (the
   * record was written, the crash came before the batch's own write). Never answered, the batch will
   * be retried, and must then be appended, not taken for a duplicate of what is not there.
   */
  #forgetLost(partition: StreamPartition): void {
    const { stream, index } = partition;
    for (const key of this.#recorded.get(partitionKey(stream, index)) ?? []) {
      const sequence = this.#log.state.sequences.get(key);
      if (sequence === undefined) continue;
      let kept = sequence.recent.length;
      while (kept > 0 && !holdsBatch(partition, sequence.producerId, sequence.recent[kept - 1]!)) kept--;
      const lost = sequence.recent[kept];
      if (lost === undefined) continue;
      const recent = sequence.recent.slice(0, kept);
      const lastSeq = recent.at(-1)?.[1] ?? (lost[0] === 0 ? sequenceMax : lost[0] - 1);
      const state = { epoch: sequence.epoch, lastSeq, recent };
      const { producerId } = sequence;
      this.#log
        .commit({ type: 'sequence', producerId, stream, partition: index, state })
        .catch(() => undefined);
    }
  }

  /** Keeps an idempotent batch read back when it is newer than what the registry holds for its producer. */
  #noteTailBatch(found: Map<number, ProducerEntry[]>, partition: StreamPartition, entry: LogEntry): void {
    const producer = entryProducer(entry);
    if (producer?.sequence === undefined || producer.transactional) return;
    const { producerId, sequence } = producer;
    const { stream, index } = partition;
    const known = this.#log.state.sequences.get(sequenceKey(producerId, stream, index))?.recent.at(-1);
    if (known !== undefined && known[2] >= entry.offset) return;
    const batch = { producerId, epoch: sequence.epoch, baseSequence: sequence.first, count: sequence.count };
    const kept = found.get(producerId) ?? [];
    kept.push(batchEntry(stream, index, batch, entry.offset));
    found.set(producerId, kept.slice(-recentBatchesMax));
  }

  /** Producers with sequences on a partition, the last sequence each wrote there and its batch's offset. */
  onPartition(stream: string, partition: number): BatchTail[] {
    const out: BatchTail[] = [];
    for (const sequence of this.#log.state.sequences.values()) {
      if (sequence.stream !== stream || sequence.partition !== partition) continue;
      const { producerId, epoch, lastSeq, recent } = sequence;
      out.push({ producerId, epoch, lastSeq, lastOffset: recent.at(-1)?.[2] ?? -1 });
    }
    return out;
  }

  /** The stream was deleted: the sequences kept for it go. */
  async forgetStream(stream: string): Promise<void> {
    const state = this.#log.state;
    const holds =
      [...state.sequences.values()].some((sequence) => sequence.stream === stream) ||
      [...state.covered.values()].some((covered) => covered.stream === stream);
    // A stream of the same name created later starts empty: nothing of this one's is read back.
    const prefix = partitionKey(stream, 0).slice(0, -1);
    for (const key of [...this.#tailFrom.keys()]) if (key.startsWith(prefix)) this.#tailFrom.delete(key);
    for (const key of [...this.#tails.keys()]) if (key.startsWith(prefix)) this.#tails.delete(key);
    for (const key of [...this.#recorded.keys()]) if (key.startsWith(prefix)) this.#recorded.delete(key);
    if (holds) await this.#log.commit({ type: 'stream.forget', stream });
  }

  /**
   * At a clean close, before the partitions close: each partition whose tail was read back in this
   * run is covered to its end, so the next start reads none of what plain producers wrote since (a
   * partition only they wrote would otherwise be read whole at its first idempotent batch after every
   * start). Sound for the reason `readTail` gives: every idempotent batch below the end was recorded
   * in this log, in order, before this entry. A partition not read in this run keeps its bound: what a
   * crash before this run left unrecorded may still be past it.
   */
  async coverRead(): Promise<void> {
    this.#coverTimer?.cancel();
    this.#coverTimer = undefined;
    await this.#cover();
  }

  async #cover(): Promise<void> {
    const commits: Array<Promise<void>> = [];
    for (const [key, partition] of this.#tails) {
      if (partition instanceof Promise) continue;
      const end = partition.endOffset;
      const { stream, index } = partition;
      if (end > (this.#log.state.covered.get(key)?.offset ?? 0))
        commits.push(this.#log.commit({ type: 'covered', stream, partition: index, offset: end }));
    }
    await Promise.all(commits);
  }

  close(): Promise<void> {
    this.#coverTimer?.cancel();
    this.#expiryTimer?.cancel();
    return this.#log.close();
  }

  destroy(): Promise<void> {
    this.#coverTimer?.cancel();
    this.#expiryTimer?.cancel();
    return this.#log.destroy();
  }
}
