/**
 * The transactional producers of one vhost, an owned object with its own log
 * (./state/txn-entries.ts): Kafka's transaction coordinator (KIP-98, fencing and epochs KIP-360,
 * offsets in transactions KIP-447). A transactional id gets a producer id and an epoch; a newer
 * instance bumps the epoch, which fences the older one and aborts what it left open. A transaction
 * adds partitions (the partition's stable offset then holds at where it joined) and group offsets,
 * and ends by a decision written first (`prepare`), then a marker appended to each of its partitions
 * and, on commit, its offsets committed to their groups, then `complete`. Its batches are answered once
 * appended; a commit's decision records where its data ends on each partition and is answered once it
 * and every batch are durable, one group-commit cycle for both. At start, batches no durable entry
 * accounts for are found first (`#orphans`), then every transaction open is aborted and its producer
 * fenced, and every decision carried out, a commit whose data a partition lost as an abort; a marker
 * lost behind a durable completion is appended again. An open transaction past its timeout is aborted
 * and its producer fenced. Aborted transactions are remembered per partition, so readers of
 * committed data leave their entries out. Transaction version 2 (KIP-890 part 2): a transactional
 * batch may add its partition itself (`addImplicitly`), and an end may hand the id over to its next
 * epoch, or past the last epoch to a new producer id, named in its decision (`prepare`'s `next`) and
 * taken at `complete` (docs/performance.md, "Kafka transactions", for what a crash at each point
 * leaves).
 */
import { assert } from '../shared/assert.js';
import { brokerError, ErrorCode } from '../shared/errors.js';
import type { TxnEnded, TxnInit, TxnRefusal, TxnResult, TxnSummary } from './api.js';
import type { Timer } from './exec/executor.js';
import { type ConsumerGroups, checkCommit } from './groups.js';
import type { StreamRegistry } from './internal.js';
import { entryProducer } from './logs/formats.js';
import { encodeTxnMarker } from './logs/markers.js';
import type { Partition } from './logs/partition.js';
import { entryFormat } from './message-codec.js';
import type { ProducerRegistry } from './producers.js';
import { OwnedLog, sourceOf, type VhostObjectDeps, vhostObjectOptions } from './state/owned-log.js';
import type { ProducerEntry } from './state/producer-entries.js';
import type { OpenedLog } from './state/state-log.js';
import {
  partitionKey,
  type TxnDataEnd,
  type TxnEntry,
  type TxnInstanceIds,
  type TxnLastEnd,
  type TxnMark,
  type TxnMarkerAt,
  type TxnOffset,
  type TxnPartition,
  type TxnProducerState,
  type TxnState,
  txnMachine,
  txnOffsetKey,
} from './state/txn-entries.js';

/** Kafka's transaction.max.timeout.ms default: a longer transaction timeout is refused. */
export const transactionTimeoutMsMax = 15 * 60 * 1000;
/**
 * Transactional ids evicted at once when a new one finds `CoreLimits.transactionalIdsMax` held
 * (Switchyard's bound; Kafka's only is the expiry): those without a transaction updated longest ago,
 * so a client making ids without end pushes out its own oldest first and never locks every other
 * producer of the vhost out (each new id was refused, durably, before).
 */
const transactionalIdsEvictedMax = 1000;
/**
 * Kafka's `transactional.id.expiration.ms` default: an id without a transaction open or ending,
 * not updated for this long, is forgotten; a producer naming its old producer id is then told
 * INVALID_PRODUCER_ID_MAPPING, and an InitProducerId for the id starts it afresh.
 */
export const transactionalIdExpirationMs = 7 * 24 * 60 * 60 * 1000;
/** Kafka's `transactions.remove.expired.transaction.cleanup.interval.ms` default. */
export const transactionalIdExpirationCheckMs = 60 * 60 * 1000;
/** Partitions one transaction may hold. */
export const transactionPartitionsMax = 10_000;
/**
 * Characters of a new transactional id, as `groupNameCharsMax` bounds group names: the id is kept in
 * memory and in every snapshot until it expires (Kafka bounds only the count, through memory).
 */
export const transactionalIdCharsMax = 1024;
/** Groups one transaction may commit offsets of (AddOffsetsToTxn, TxnOffsetCommit v5). */
export const transactionGroupsMax = 1000;
/** Offsets (group, partition) one transaction may hold until it ends. */
export const transactionOffsetsMax = 10_000;
/** Epochs are int16; the last one is kept for the coordinator's own fencing bump (KIP-360). */
const epochMax = 0x7ffe;
/**
 * How far past the `firstOffset` of the last durable `partitions` entry naming a partition a
 * transactional batch may be appended while its own `partitions` entry is not yet durable, in
 * offsets: also how far a restart reads in each such partition to find batches whose entry a crash
 * took (`#orphans`). Past it, the batch waits for its entry as it always did.
 */
export const aheadOffsetsMax = 10_000;
/** One read of that scan, in entries and bytes. */
const scanReadEntriesMax = 1000;
const scanReadBytesMax = 4 * 1024 * 1024;

export interface TransactionDeps extends VhostObjectDeps {
  readonly producers: ProducerRegistry;
  readonly streams: StreamRegistry;
  readonly groups: ConsumerGroups;
  /** Transactional ids held at most (`CoreLimits.transactionalIdsMax`). */
  readonly idsMax: number;
}

type Checked = TxnProducerState | { readonly kind: 'refused'; readonly reason: TxnRefusal };

/** How a transaction being ended ended, once decided. */
interface Decided {
  /** The id's instance after this end: the same, or the one EndTxn v5 hands over to (KIP-890 part 2). */
  readonly after: TxnInstanceIds;
  /** False for a commit asked for whose batch failed to be written: it ended as an abort. */
  readonly commit: boolean;
}

/** A transaction being ended. */
interface Ending {
  /**
   * The decision is durable, so is every batch of the transaction, and the markers are appended (the
   * partitions' stable offsets moved on): EndTxn may be answered, as Kafka answers once PrepareCommit
   * is written. A crash from here on carries the decision out again at start.
   */
  readonly decided: Promise<Decided>;
  /**
   * `complete` is applied and appended, once the id's ending before has its markers durable (for a
   * commit with group offsets, once its own markers are durable too and the offsets in their groups):
   * the id may start its next transaction, whose entries follow
   * `complete` in the log, so nothing the next transaction is told durable can be, unless `complete`
   * is too. The markers may still be on their way to disk: a restart appends again any that a crash
   * took behind a durable `complete` (`#remark`), and in a partition the next transaction writes to,
   * its batch follows the marker, so it is durable only if the marker is.
   */
  readonly done: Promise<void>;
  /**
   * Until the point EndTxn is answered at (`decided`; for a commit with group offsets, `done`): its
   * markers are still being written, so the id's other requests are answered CONCURRENT_TRANSACTIONS,
   * as Kafka's coordinator answers them until its markers are written. From then on they wait for
   * `done`, the moment its completion takes here (Kafka answers EndTxn before writing its markers).
   */
  writing: boolean;
}

/** What a transactional batch waits for before it is appended, if anything (`adding`). */
export interface Adding {
  /** The producer's latest `partitions` entry becoming durable; rejects if the log failed. */
  readonly until: Promise<void>;
  /** The batch may be appended now and answered once `until` settles too. */
  readonly ahead: boolean;
}

/** A producer's transactional records a restart found in a partition after every marker of theirs. */
interface Unmarked {
  /** The first of them. */
  first: number | undefined;
  /** The producer's last marker there, or -1. */
  lastMarker: number;
}

/**
 * What a transaction wrote and has not ended: a transactional batch is answered once appended, not
 * once durable (only a commit makes that matter), so the commit waits for these.
 */
interface Written {
  readonly ends: Map<string, TxnDataEnd>;
  readonly durables: Array<Promise<void>>;
}

/** A marker of a producer's last ending that a crash took, found at start (`#lostMarkers`). */
interface LostMarker {
  readonly id: string;
  readonly last: TxnLastEnd;
  readonly marker: TxnMarkerAt;
  readonly into: Partition;
}

/** What appending the markers left to wait for. */
interface Marked {
  readonly markers: TxnMarkerAt[];
  readonly durables: Array<Promise<void>>;
}

/** What a transactional Produce that adds its own partition (KIP-890 part 2) is told, if not to go on. */
export type ImplicitAdd =
  | { readonly kind: 'wait'; readonly until: Promise<void>; readonly transition: true }
  | { readonly kind: 'refused'; readonly reason: TxnRefusal };

const ok: TxnResult = { kind: 'ok' };
const refused = (reason: TxnRefusal) => ({ kind: 'refused', reason }) as const;

export class TransactionalProducers {
  readonly #deps: TransactionDeps;
  readonly #log: OwnedLog<TxnState, TxnEntry>;
  /** Producer id → transactional id, for the check of each transactional batch. */
  readonly #byProducer = new Map<number, string>();
  /** Transactional id → its timeout's timer and when that is due (`#arm`). */
  readonly #timers = new Map<string, { readonly timer: Timer; readonly dueAt: number }>();
  /** Transactions ending now, by transactional id. */
  readonly #ending = new Map<string, Ending>();
  /** The start's work is done: from here a clean close may say so (`close`). */
  #opened = false;
  /** Producer id → the durability of the partitions its transaction added last, while pending. */
  readonly #adding = new Map<number, Promise<void>>();
  /** Producer id → the pending `#adding` one of its batches waits for: the ones behind it wait too. */
  readonly #held = new Map<number, Promise<void>>();
  /**
   * By `partitionKey`: the `firstOffset` of the last `partitions` entry naming the partition that is
   * durable, of this run only (before a crash took the partition's tail, offsets were higher).
   */
  readonly #durableScans = new Map<string, number>();
  /**
   * Transactional id → its last ending's markers being made durable, settled either way: the id's
   * next `complete` waits for them (`#end`).
   */
  readonly #marking = new Map<string, Promise<void>>();
  /** Producer id → what its open transaction wrote. */
  readonly #written = new Map<number, Written>();
  /**
   * Transactional ids an InitProducerId is being answered for, each with a promise settled once it is
   * answered. Kafka's coordinator has a transition pending meanwhile (prepareInitProducerIdTransit):
   * the id's other requests are CONCURRENT_TRANSACTIONS once their epoch passes (`#check`), a
   * transactional Produce waits (`addImplicitly`). Its epoch is read before the awaits that write the
   * next one: a second InitProducerId, or an EndTxn v5 handing over to the next epoch, let in then
   * gave two instances one epoch, and the instance before could open a transaction and commit it,
   * group offsets and all, after the new instance had asked to fence it.
   */
  readonly #initializing = new Map<string, Promise<void>>();
  #expiryTimer: Timer | undefined;

  private constructor(deps: TransactionDeps, log: OwnedLog<TxnState, TxnEntry>) {
    this.#deps = deps;
    this.#log = log;
  }

  /** Opens the log, tells each partition what is open and what aborted, and finishes what was decided. */
  static async open(
    deps: TransactionDeps,
    found: OpenedLog<TxnState> | undefined,
  ): Promise<TransactionalProducers> {
    let txns: TransactionalProducers | undefined;
    const options = {
      ...vhostObjectOptions(deps, txnMachine, 'transactions'),
      // The registry holds in memory what this log carries for it: what the log holds now.
      onRestarted: () => {
        if (txns !== undefined) txns.#adopt();
      },
    };
    txns = new TransactionalProducers(deps, await OwnedLog.open(options, sourceOf(found)));
    txns.#adopt();
    // Read before any marker is appended again (that moves partition ends), and decided again as
    // aborts before any is: a restart killed meanwhile then finds the same ends, or the aborts.
    // Read before anything is written: any entry of this run clears it.
    const clean = txns.#state.closedCleanly;
    const torn = txns.#torn();
    await Promise.all([...torn].map((id) => txns.#undecide(id)));
    txns.#restore();
    // Before any reader: the vhost is served only once this returns.
    await txns.#settle(txns.#orphans(), torn, clean);
    txns.#opened = true;
    txns.#expiryTimer = txns.#log.exec.every(transactionalIdExpirationCheckMs, () => txns.#expireIds());
    deps.producers.pin(
      (producerId) => txns.#byProducer.has(producerId),
      (producerIds) => txns.#forgetCarried(producerIds),
    );
    return txns;
  }

  /** The registry takes the sequences of transactional batches this log carries (`record`). */
  #adopt(): void {
    const log = this.#log;
    this.#deps.producers.adopt(() => log.state.sequences);
  }

  get #state(): TxnState {
    return this.#log.state;
  }

  get #now(): number {
    return this.#log.exec.now();
  }

  // ---- InitProducerId

  async init(id: string, timeoutMs: number, producerId: number, epoch: number): Promise<TxnInit> {
    if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0 || timeoutMs > transactionTimeoutMsMax)
      return refused('invalidTimeout');
    // Kafka's prepareInitProducerIdTransit: a transition in flight is CONCURRENT_TRANSACTIONS first.
    if (this.#writing(id) || this.#initializing.has(id)) return refused('concurrent');
    let answered = (): void => {};
    this.#initializing.set(
      id,
      new Promise<void>((resolve) => {
        answered = resolve;
      }),
    );
    try {
      return await this.#initNow(id, timeoutMs, producerId, epoch);
    } finally {
      this.#initializing.delete(id);
      answered();
    }
  }

  async #initNow(id: string, timeoutMs: number, producerId: number, epoch: number): Promise<TxnInit> {
    await this.#ended(id);
    const current = this.#state.producers.get(id);
    if (current === undefined) return this.#first(id, timeoutMs);
    // KIP-360: a producer that names itself must be the current instance (or the one just before).
    if (producerId >= 0 && (producerId !== current.producerId || epoch !== current.epoch))
      return refused(producerId !== current.producerId ? 'producerIdMismatch' : 'fenced');
    if (isPrepared(current)) return refused('concurrent');
    // Kafka's coordinator fences the open transaction's epoch, aborts it and answers
    // CONCURRENT_TRANSACTIONS (prepareInitProducerIdTransit, Ongoing): the client's retry, once the
    // abort is written, bumps the epoch again.
    if (current.phase === 'ongoing') {
      this.#fenceAndAbort(current);
      return refused('concurrent');
    }
    return this.#bump(current, timeoutMs);
  }

  async #first(id: string, timeoutMs: number): Promise<TxnInit> {
    // Only a new id: one kept from before the bound goes on.
    if (id.length > transactionalIdCharsMax) {
      const message = `Transactional id must have at most ${transactionalIdCharsMax} characters`;
      throw brokerError(ErrorCode.invalidArgument, message);
    }
    const { idsMax } = this.#deps;
    if (this.#state.producers.size >= idsMax)
      await this.#forgetIds(this.#idleIds(evictedCount(idsMax), Number.POSITIVE_INFINITY));
    if (this.#state.producers.size >= idsMax) {
      const message = `Vhost '${this.#deps.vhost}' has ${idsMax} transactional ids in transactions`;
      throw brokerError(ErrorCode.resourceExhausted, message);
    }
    const given = await this.#deps.producers.init(-1, -1);
    if (given.kind !== 'ok') return refused('invalidState');
    await this.#commitProducer(id, given.producerId, given.epoch, timeoutMs);
    return given;
  }

  /** A new epoch fences every older instance; past the last epoch a new producer id starts at 0. */
  async #bump(current: TxnProducerState, timeoutMs: number): Promise<TxnInit> {
    // Its `producer` entry starts the id afresh, without its last ending, whose markers a restart
    // appends again if a crash took them (`#remark`): those must be durable first, as the id's next
    // `complete` waits for them (`#end`). Else a commit answered could be found unmarked, and aborted.
    await this.#marking.get(current.id);
    let { producerId } = current;
    let epoch = current.epoch + 1;
    if (epoch > epochMax) {
      const given = await this.#deps.producers.init(-1, -1);
      if (given.kind !== 'ok') return refused('invalidState');
      ({ producerId, epoch } = given);
    } else await this.#deps.producers.setEpoch(producerId, epoch);
    await this.#commitProducer(current.id, producerId, epoch, timeoutMs);
    return { kind: 'ok', producerId, epoch };
  }

  async #commitProducer(id: string, producerId: number, epoch: number, timeoutMs: number): Promise<void> {
    const previous = this.#state.producers.get(id);
    if (previous !== undefined) this.#byProducer.delete(previous.producerId);
    this.#byProducer.set(producerId, id);
    await this.#log.commit({ type: 'producer', id, producerId, epoch, timeoutMs, at: this.#now });
  }

  // ---- expiry

  /** Kafka's periodic removal of expired transactional ids. */
  #expireIds(): void {
    const before = this.#now - transactionalIdExpirationMs;
    this.#forgetIds(this.#idleIds(Number.POSITIVE_INFINITY, before)).catch(() => undefined);
  }

  /**
   * Up to `countMax` ids with no transaction open or ending and nothing under way, updated before
   * `before`, least recently updated first (Kafka expires ids in Empty, CompleteCommit, CompleteAbort).
   */
  #idleIds(countMax: number, before: number): string[] {
    const idle: TxnProducerState[] = [];
    for (const current of this.#state.producers.values())
      if (current.updatedAt < before && this.#idle(current)) idle.push(current);
    if (idle.length > countMax) idle.sort((a, b) => a.updatedAt - b.updatedAt);
    return idle.slice(0, countMax).map((current) => current.id);
  }

  #idle(current: TxnProducerState): boolean {
    const { id, phase } = current;
    if (phase === 'ongoing' || isPrepared(current)) return false;
    return !this.#ending.has(id) && !this.#initializing.has(id) && !this.#marking.has(id);
  }

  async #forgetIds(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    for (const id of ids) {
      const current = this.#state.producers.get(id);
      if (current !== undefined && this.#byProducer.get(current.producerId) === id)
        this.#byProducer.delete(current.producerId);
      this.#timers.get(id)?.timer.cancel();
      this.#timers.delete(id);
    }
    await this.#log.commit({ type: 'expire', ids });
  }

  /**
   * Producer ids the registry forgot: the sequences and markers this log carries of their
   * transactional batches go too, in the registry's own `forget` entry, so that DescribeProducers
   * stops listing them as Kafka's expired producer state, and a restart hands none back.
   */
  #forgetCarried(producerIds: readonly number[]): void {
    const gone = new Set(producerIds);
    const { sequences, marks } = this.#state;
    const held = (carried: Iterable<{ producerId: number }>) => {
      for (const { producerId } of carried) if (gone.has(producerId)) return true;
      return false;
    };
    if (!held(sequences.values()) && !held(marks.values())) return;
    const entry: ProducerEntry = { type: 'forget', producerIds, nextId: 0 };
    this.#log.commit({ type: 'registry', entry }).catch(() => undefined);
  }

  // ---- the transaction

  /** AddPartitionsToTxn: every partition must exist, or none is added. */
  async addPartitions(
    id: string,
    producerId: number,
    epoch: number,
    refs: ReadonlyArray<{ stream: string; partition: number }>,
  ): Promise<TxnResult> {
    const current = await this.#checkAfterEnding(id, producerId, epoch);
    if ('kind' in current) return current;
    return this.#join(current, refs);
  }

  /**
   * KIP-890 part 2: a transactional Produce of v12 on adds its partition to its producer's
   * transaction itself (opening one if none is), as Kafka's partition leader asks the coordinator
   * with AddPartitionsToTxn v5 before it appends. The same `partitions` entry as AddPartitionsToTxn
   * writes, applied at once: the batch then goes ahead of its durability, or waits for it, exactly
   * as after an explicit add (`adding`), so a crash leaves the same states. While the id's previous
   * transaction is still ending, or an InitProducerId of the id is being answered, the batch waits for
   * that (Kafka answers CONCURRENT_TRANSACTIONS and the client retries), then meets the new epoch.
   * Undefined when the batch may go on.
   */
  addImplicitly(
    producerId: number,
    epoch: number,
    stream: string,
    partition: number,
  ): ImplicitAdd | undefined {
    const id = this.#byProducer.get(producerId);
    if (id === undefined) return refused('producerIdMismatch');
    const ending = this.#ended(id) ?? this.#initializing.get(id);
    if (ending !== undefined) return { kind: 'wait', until: ending, transition: true };
    const current = this.#check(id, producerId, epoch);
    if ('kind' in current) return current;
    const joined = this.#join(current, [{ stream, partition }]);
    return joined.kind === 'ok' ? undefined : joined;
  }

  /** The partitions not yet in the transaction join it: one `partitions` entry, applied at once. */
  #join(current: TxnProducerState, refs: ReadonlyArray<{ stream: string; partition: number }>): TxnResult {
    const added: Array<{ stream: string; partition: number; firstOffset: number; into: Partition }> = [];
    // A partition named twice in one request joins once, and counts once against the bound.
    const named = new Set<string>();
    for (const ref of refs) {
      const key = partitionKey(ref.stream, ref.partition);
      if (current.partitions.has(key) || named.has(key)) continue;
      named.add(key);
      const into = this.#partition(ref.stream, ref.partition);
      if (into === undefined) return refused('unknownPartition');
      added.push({ ...ref, firstOffset: into.endOffset, into });
    }
    if (added.length === 0) return ok;
    if (current.partitions.size + added.length > transactionPartitionsMax) return refused('invalidState');
    const partitions = added.map(({ stream, partition, firstOffset }) => ({
      stream,
      partition,
      firstOffset,
    }));
    const starting = current.phase !== 'ongoing';
    this.#commitPartitions(current.producerId, current.id, partitions);
    for (const { into, firstOffset } of added) into.beginTransaction(current.producerId, firstOffset);
    if (starting) this.#arm(current);
    return ok;
  }

  /**
   * Appends a `partitions` entry; once durable, its offsets are where a restart scans from. Lazy:
   * nothing waits for it before the transaction's first batch, whose record (`record`) follows it
   * in this log and shares its write. Until it is durable a crash can take it and keep a batch, records
   * of a transaction nobody knows of: the producer's batches go ahead only where a restart finds them
   * (`#orphans`), and wait otherwise (`adding`).
   */
  #commitPartitions(producerId: number, id: string, partitions: TxnPartition[]): void {
    const entry: TxnEntry = { type: 'partitions', id, partitions, at: this.#now };
    const committed = this.#log.commit(entry, { lazy: true });
    this.#adding.set(producerId, committed);
    const forget = () => {
      if (this.#adding.get(producerId) === committed) this.#adding.delete(producerId);
      if (this.#held.get(producerId) === committed) this.#held.delete(producerId);
    };
    committed.then(() => {
      for (const p of partitions) this.#durableScans.set(partitionKey(p.stream, p.partition), p.firstOffset);
      forget();
    }, forget);
  }

  /**
   * While the producer's latest `partitions` entry is not durable, what its transactional batch for
   * the partition, to be appended at `offset`, waits for (`Vhost.appendIdempotent`). It may go
   * ahead — appended now, answered once the entry is durable too — when a restart would find it
   * (`#orphans`): the partition has a durable `partitions` entry of this run at most
   * `aheadOffsetsMax` below. Otherwise it, and every batch of the producer behind it, is appended
   * once the entry is durable.
   */
  adding(producerId: number, stream: string, partition: number, offset: number): Adding | undefined {
    const until = this.#adding.get(producerId);
    if (until === undefined) return undefined;
    const from = this.#durableScans.get(partitionKey(stream, partition));
    const ahead =
      this.#held.get(producerId) !== until &&
      from !== undefined &&
      offset >= from &&
      offset - from <= aheadOffsetsMax;
    if (!ahead) this.#held.set(producerId, until);
    return { until, ahead };
  }

  /**
   * The record of a transactional batch (`ProducerRegistry.recordIn`), carried in this log: durable with
   * the transaction's `partitions` entry before it, in one file. Lazy: only the commit waits for it
   * (the batch is answered once appended), so it goes out with the decision, in the same write and
   * fdatasync, when EndTxn follows within the lazy delay. Throws when the log refuses.
   */
  record(entry: ProducerEntry): Promise<void> {
    return this.#log.commit({ type: 'registry', entry }, { lazy: true });
  }

  /**
   * A transactional batch was appended, its records up to `end`: it is answered now, and its
   * transaction's commit waits for the batch and its record to be durable (`#decide`), and for the
   * producer's `partitions` entry, which the record follows in this log.
   */
  wrote(
    producerId: number,
    stream: string,
    partition: number,
    end: number,
    stored: Promise<void>,
    recorded: Promise<void>,
  ): void {
    let written = this.#written.get(producerId);
    if (written === undefined) {
      written = { ends: new Map(), durables: [] };
      this.#written.set(producerId, written);
    }
    written.ends.set(partitionKey(stream, partition), { stream, partition, end });
    written.durables.push(stored, recorded);
  }

  /** AddOffsetsToTxn: the transaction will commit offsets of `group`. */
  async addGroup(id: string, producerId: number, epoch: number, group: string): Promise<TxnResult> {
    checkCommit(group, []);
    const current = await this.#checkAfterEnding(id, producerId, epoch);
    if ('kind' in current) return current;
    if (current.groups.has(group)) return ok;
    // Kept, with its offsets, until the transaction ends: before, one transaction could name any number.
    if (current.groups.size >= transactionGroupsMax) return refused('invalidState');
    const starting = current.phase !== 'ongoing';
    const committed = this.#log.commit({ type: 'group', id, group, at: this.#now });
    if (starting) this.#arm(current);
    await committed;
    return ok;
  }

  /**
   * TxnOffsetCommit: offsets the group gets only when the transaction commits. With `addGroup`
   * (TxnOffsetCommit v5, KIP-890 part 2) a group not yet in the transaction joins it first, as
   * AddOffsetsToTxn would have added it; its entry goes before the offsets' in the log, so both are
   * durable once the offsets are.
   */
  async commitOffsets(
    id: string,
    producerId: number,
    epoch: number,
    group: string,
    offsets: ReadonlyArray<Omit<TxnOffset, 'group'>>,
    addGroup = false,
  ): Promise<TxnResult> {
    // Refused now: at the commit, the group's own check would drop them with the client told it worked.
    checkCommit(
      group,
      offsets.map((o) => o.offset),
    );
    // Kept only past durable records, as a plain commit is (Partition.durableTo); checked after it.
    for (const o of offsets) await this.#partition(o.stream, o.partition)?.durableTo(o.offset.offset);
    const ending = this.#ended(id);
    if (ending !== undefined) await ending;
    const current = this.#check(id, producerId, epoch);
    if ('kind' in current) return current;
    if (!fitsBounds(current, group, offsets)) return refused('invalidState');
    if (!current.groups.has(group)) {
      if (!addGroup) return refused('invalidState');
      const starting = current.phase !== 'ongoing';
      void this.#log.commit({ type: 'group', id, group, at: this.#now }).catch(() => undefined);
      if (starting) this.#arm(current);
    }
    const entries = offsets.map((o) => ({ group, ...o }));
    await this.#log.commit({ type: 'offsets', id, offsets: entries, at: this.#now });
    return ok;
  }

  /**
   * EndTxn, answered once the decision and the transaction's batches are durable and the markers are
   * appended (Kafka answers once PrepareCommit is written); a transaction with group offsets is
   * answered once they are committed, so the group shows them. While an ending writes its markers
   * (until it is answered), another EndTxn of the id is CONCURRENT_TRANSACTIONS, as in Kafka, which
   * its client retries; after, it waits for the completion, and the same end again is then answered
   * as done, the other way refused. With `bump` (EndTxn v5,
   * KIP-890 part 2) every end hands the id over to its next epoch, or past the last epoch to a new
   * producer id at epoch 0, which the answer names; a retry of an end already done (the instance
   * before the hand-over) is answered with it, and an abort with no transaction open bumps the epoch
   * too, as Kafka's coordinator does. Before version 5, an end with nothing added (Empty) is
   * INVALID_TXN_STATE either way, and while a decision hands over (a timeout's fence, an end of
   * version 5) the instance before it is fenced: Kafka's coordinator stores the bumped epoch with the
   * decision (TransactionCoordinator.endTransactionWithTV1).
   */
  async end(id: string, producerId: number, epoch: number, commit: boolean, bump = false): Promise<TxnEnded> {
    const ending = this.#ending.get(id);
    // Its markers are written: what is left is its completion, a moment here.
    if (ending !== undefined && !ending.writing) await ending.done.catch(() => undefined);
    return this.#endNow(id, producerId, epoch, commit, bump);
  }

  async #endNow(
    id: string,
    producerId: number,
    epoch: number,
    commit: boolean,
    bump: boolean,
  ): Promise<TxnEnded> {
    const current = this.#state.producers.get(id);
    if (current === undefined) return refused('producerIdMismatch');
    // An InitProducerId being answered: from version 5 a transition pending is checked first, as
    // below; a retry answered now would name the epoch that InitProducerId is fencing.
    const initializing = this.#initializing.has(id);
    if (bump && initializing) return refused('concurrent');
    const same = { kind: 'ok', producerId: current.producerId, epoch: current.epoch } as const;
    const ended =
      current.phase === 'completeCommit' ? true : current.phase === 'completeAbort' ? false : undefined;
    if (bump && ended !== undefined && isRetryOf(current, producerId, epoch))
      return ended === commit ? same : refused('invalidState');
    if (current.producerId !== producerId) return refused('producerIdMismatch');
    // An ending writing its markers: Kafka has a transition pending, CONCURRENT_TRANSACTIONS either
    // way, checked before the epoch from version 5 on (KAFKA-18464), after it before.
    const writing = isPrepared(current) || this.#ending.has(id) || initializing;
    if (bump && writing) return refused('concurrent');
    if (epoch !== current.epoch || (!bump && handingOver(current))) return refused('fenced');
    if (writing) return refused('concurrent');
    if (bump) {
      // KIP-890 part 2: a commit needs an open transaction; an abort always fences the epoch.
      if (current.phase !== 'ongoing' && commit) return refused('invalidState');
    } else if (ended !== undefined) return ended === commit ? same : refused('invalidState');
    // Kafka's TransactionCoordinator.endTransactionWithTV1: Empty takes neither a commit nor an abort.
    else if (current.phase === 'empty') return refused('invalidState');
    const withOffsets = commit && current.offsets.size > 0;
    const ending = this.#end(current, commit, bump);
    const decided = await ending.decided;
    if (withOffsets) await ending.done;
    return endedAsAsked(decided, commit);
  }

  /**
   * Whether a newer instance of the batch's transactional id fenced the batch's epoch: a batch
   * `holds` refuses is then a stale epoch (INVALID_PRODUCER_EPOCH), as Kafka's partition leader
   * answers once the fencing marker, which carries the bumped epoch, is written.
   */
  fenced(producerId: number, epoch: number): boolean {
    const id = this.#byProducer.get(producerId);
    const current = id === undefined ? undefined : this.#state.producers.get(id);
    return current !== undefined && current.producerId === producerId && epoch < shownEpoch(current);
  }

  /** Whether a transactional batch may go to the partition: its producer's transaction holds it. */
  holds(producerId: number, epoch: number, stream: string, partition: number): boolean {
    const id = this.#byProducer.get(producerId);
    const current = id === undefined ? undefined : this.#state.producers.get(id);
    return (
      current !== undefined &&
      current.producerId === producerId &&
      current.epoch === epoch &&
      current.phase === 'ongoing' &&
      current.partitions.has(partitionKey(stream, partition))
    );
  }

  /** Whether a transaction has offsets for the group's partition waiting on its end (KIP-447). */
  pendingOffset(group: string, stream: string, partition: number): boolean {
    for (const current of this.#state.producers.values()) {
      for (const o of current.offsets.values()) {
        if (o.group === group && o.stream === stream && o.partition === partition) return true;
      }
    }
    return false;
  }

  /** The first offset of the producer's open transaction on the partition, or -1. */
  openSince(producerId: number, stream: string, partition: number): number {
    const id = this.#byProducer.get(producerId);
    const current = id === undefined ? undefined : this.#state.producers.get(id);
    return current?.partitions.get(partitionKey(stream, partition))?.firstOffset ?? -1;
  }

  /** Each producer's last marker on the partition. */
  marksOn(stream: string, partition: number): TxnMark[] {
    return [...this.#state.marks.values()].filter((m) => m.stream === stream && m.partition === partition);
  }

  describe(id: string): TxnSummary | undefined {
    const current = this.#state.producers.get(id);
    return current === undefined ? undefined : summaryOf(current);
  }

  list(): TxnSummary[] {
    return [...this.#state.producers.values()].map(summaryOf);
  }

  // ---- upkeep

  /** Retention removed what lies below `startOffset`: aborted transactions there are forgotten. */
  async trim(stream: string, partition: number, startOffset: number): Promise<void> {
    const list = this.#state.aborted.get(partitionKey(stream, partition));
    if (list === undefined || list.ranges.every(([, , marker]) => marker >= startOffset)) return;
    await this.#log.commit({ type: 'aborted.trim', stream, partition, before: startOffset });
  }

  /**
   * Records below `offset` are deleted (Kafka DeleteRecords): the new start is made durable first,
   * so no restart shows deleted records again, then the partition stops reading below it.
   */
  async deleteRecords(partition: Partition, offset: number): Promise<void> {
    if (offset <= partition.startOffset) return;
    const { stream, index } = partition;
    await this.#log.commit({ type: 'start', stream, partition: index, offset });
    partition.deleteBefore(offset);
    await this.trim(stream, index, offset);
  }

  /** The stream was deleted: it leaves every transaction. */
  async forgetStream(stream: string): Promise<void> {
    const state = this.#state;
    const holds =
      [...state.aborted.values()].some((list) => list.stream === stream) ||
      [...state.starts.values()].some((start) => start.stream === stream) ||
      [...state.producers.values()].some((p) =>
        [...p.partitions.values()].some((x) => x.stream === stream),
      ) ||
      [...state.sequences.values()].some((sequence) => sequence.stream === stream);
    if (holds) await this.#log.commit({ type: 'stream.forget', stream });
  }

  /**
   * Called once every partition of the vhost is closed. When every batch answered in this run was
   * stored, the log ends with `closed`, so the next start keeps the transactions open now: nothing
   * they wrote can be missing. A failed write, or a start that never finished, leaves it out.
   */
  async close(): Promise<void> {
    this.#expiryTimer?.cancel();
    for (const { timer } of this.#timers.values()) timer.cancel();
    this.#timers.clear();
    await Promise.allSettled([...this.#ending.values()].map((ending) => ending.done));
    const batches = [...this.#written.values()].flatMap((written) => written.durables);
    const stored = (await Promise.allSettled(batches)).every((s) => s.status === 'fulfilled');
    if (this.#opened && stored) await this.#log.commit({ type: 'closed' }).catch(() => undefined);
    await this.#log.close();
  }

  destroy(): Promise<void> {
    this.#expiryTimer?.cancel();
    for (const { timer } of this.#timers.values()) timer.cancel();
    return this.#log.destroy();
  }

  // ---- inside

  /**
   * Kafka's checks (handleAddPartitionsToTransaction): the producer id, its epoch (the one a
   * handing-over decision names, as Kafka stores it with the decision), then an ending under way.
   */
  #check(id: string, producerId: number, epoch: number): Checked {
    const current = this.#state.producers.get(id);
    if (current === undefined || current.producerId !== producerId) return refused('producerIdMismatch');
    if (epoch !== shownEpoch(current)) return refused('fenced');
    if (isPrepared(current) || this.#ending.has(id) || this.#initializing.has(id))
      return refused('concurrent');
    return current;
  }

  /** `#check`, after waiting for an ending whose markers are written (`Ending.writing`). */
  async #checkAfterEnding(id: string, producerId: number, epoch: number): Promise<Checked> {
    const first = this.#check(id, producerId, epoch);
    if (!('kind' in first) || first.reason !== 'concurrent' || this.#writing(id)) return first;
    if (this.#initializing.has(id)) return first;
    await this.#ended(id);
    return this.#check(id, producerId, epoch);
  }

  /** The id's ending is still writing its markers (`Ending.writing`). */
  #writing(id: string): boolean {
    return this.#ending.get(id)?.writing === true;
  }

  #partition(stream: string, index: number): Partition | undefined {
    try {
      return this.#deps.streams.partition(stream, index);
    } catch {
      return undefined;
    }
  }

  /** Settles once the id's transaction being ended is done (whether or not that went well). */
  #ended(id: string): Promise<void> | undefined {
    return this.#ending.get(id)?.done.catch(() => undefined);
  }

  /**
   * Decides, marks every partition, commits the offsets, completes; one at a time per id. Nothing
   * waits for `complete` to be durable: whatever the id writes next follows it in the log, and a
   * crash before it is durable finds the decision and carries it out again.
   */
  #end(current: TxnProducerState, commit: boolean, bump = false): Ending {
    const running = this.#ending.get(current.id);
    if (running !== undefined) return running;
    const withOffsets = commit && current.offsets.size > 0;
    const { producerId } = current;
    // Read now: this ending's own markers replace it once they are appended.
    const before = this.#marking.get(current.id);
    const marked = (async () => {
      let outcome = commit;
      if (current.phase === 'ongoing' || (bump && !isPrepared(current)))
        outcome = await this.#decide(current, commit, bump ? await this.#nextOf(current) : undefined);
      const after = current.next ?? { producerId, epoch: current.epoch };
      return { ...this.#mark(current, outcome, !(withOffsets && outcome)), after, outcome };
    })();
    // The ending before must have its markers durable before this one's `complete` is appended: then
    // only the last completed ending's markers can be missing behind a durable `complete`, the ones a
    // restart checks (`#remark`). The decision need not wait for them: until `complete` is applied
    // the restart's `lastEnd` is still the ending before, whose markers it appends again if lost.
    const done = marked.then(async (m) => {
      await before;
      if (withOffsets && m.outcome) await this.#complete(current, true, m);
      else this.#completed(current, m.outcome, m);
    });
    const decided = marked.then((m) => ({ after: m.after, commit: m.outcome }));
    const ending: Ending = { decided, done, writing: true };
    const written = () => {
      ending.writing = false;
    };
    // Where EndTxn is answered (`end`).
    (withOffsets ? done : decided).then(written, written);
    // Whoever waits sees a failure (the log failed, and its owner with it); nobody else need.
    ending.decided.catch(() => {});
    done.catch(() => {});
    this.#ending.set(current.id, ending);
    const forget = () => {
      if (this.#ending.get(current.id) === ending) this.#ending.delete(current.id);
    };
    done.then(forget, forget);
    return ending;
  }

  /**
   * Writes the decision at once, with where a commit's data ends on each partition, and waits for it
   * and for every batch of the transaction to be durable: one group-commit cycle for all of them. A
   * batch that failed to be written turns the commit into an abort (the client hears an error, not a
   * commit), as a restart does when a partition lost one (`#torn`).
   */
  async #decide(
    current: TxnProducerState,
    commit: boolean,
    next: TxnInstanceIds | undefined,
  ): Promise<boolean> {
    const written = this.#written.get(current.producerId);
    this.#written.delete(current.producerId);
    const dataEnds = commit && written !== undefined ? { dataEnds: [...written.ends.values()] } : {};
    const handover = next === undefined ? {} : { next };
    const entry = {
      type: 'prepare',
      id: current.id,
      commit,
      at: this.#now,
      ...handover,
      ...dataEnds,
    } as const;
    const decided = this.#log.commit(entry);
    // The client may be told the new producer id before `complete` hands over to it (its markers
    // before wait for the ending before's): its first batch must find its id, and wait for the end.
    if (next !== undefined && next.producerId !== current.producerId)
      this.#byProducer.set(next.producerId, current.id);
    if (!commit) {
      await decided;
      return false;
    }
    const synced = await Promise.allSettled(written?.durables ?? []);
    await decided;
    if (synced.every((s) => s.status === 'fulfilled')) return true;
    await this.#undecide(current.id);
    return false;
  }

  /**
   * A commit decided that cannot be carried out (a batch of it is not stored) is decided again as an
   * abort, durably, before any marker: a crash while its markers go out then finds an abort, never the
   * commit (an abort marker would otherwise raise a partition's end to where its data was meant to end).
   */
  async #undecide(id: string): Promise<void> {
    const current = this.#state.producers.get(id);
    if (current === undefined) return;
    const handover = current.next === undefined ? {} : { next: current.next };
    await this.#log.commit({ type: 'prepare', id, commit: false, at: this.#now, ...handover });
  }

  /**
   * The instance an end hands over to (KIP-890 part 2): the next epoch, or past the last one a new
   * producer id at epoch 0, as Kafka's coordinator does when the epoch would overflow. The new id is
   * the registry's (durable before the decision that names it); the old one's data keeps its id.
   */
  async #nextOf(current: TxnProducerState): Promise<TxnInstanceIds> {
    if (current.epoch < epochMax) return { producerId: current.producerId, epoch: current.epoch + 1 };
    const given = await this.#deps.producers.init(-1, -1);
    assert(given.kind === 'ok', 'a new producer id is always given');
    return { producerId: given.producerId, epoch: given.epoch };
  }

  /**
   * Appends the marker to each partition of the transaction, which then no longer holds it open.
   * `lazy` when nothing waits for the markers' durability before the id's next `complete` (`#marking`):
   * each then shares the partition's next write, the id's next batch there as a rule.
   */
  #mark(current: TxnProducerState, commit: boolean, lazy: boolean): Marked {
    const { producerId, epoch } = current;
    const payload = encodeTxnMarker({ producerId, epoch, commit });
    const markers: TxnMarkerAt[] = [];
    const durables: Array<Promise<void>> = [];
    for (const p of current.partitions.values()) {
      const into = this.#partition(p.stream, p.partition);
      if (into === undefined) continue; // deleted meanwhile: its data went with it
      let markerOffset = into.endOffset;
      try {
        const options = { timestamp: this.#now, format: entryFormat.txnMarker, lazy };
        const appended = into.append(payload, options);
        markerOffset = appended.offset;
        durables.push(appended.durable);
      } catch {
        // The partition failed; it leaves service and its restart reads what it holds. The
        // transaction still ends, so the stable offset moves on.
      }
      const first = into.endTransaction(producerId, !commit, markerOffset);
      const firstOffset = commit ? p.firstOffset : (first ?? p.firstOffset);
      markers.push({ stream: p.stream, partition: p.partition, firstOffset, markerOffset });
    }
    return { markers, durables };
  }

  /** A commit's group offsets go to their groups once its markers are durable, then it completes. */
  async #complete(current: TxnProducerState, commit: boolean, { markers, durables }: Marked): Promise<void> {
    await Promise.allSettled(durables);
    if (commit) {
      for (const o of current.offsets.values()) {
        await this.#deps.groups.commit(o.group, o.stream, o.partition, o.offset).catch(() => undefined);
      }
    }
    this.#completed(current, commit, { markers, durables: [] });
  }

  /**
   * Appended, not awaited: see `#end`. A write that fails fails the log and its owner; a marker's
   * failed write fails its partition, which leaves service and whose restart reads what it holds.
   */
  #completed(current: TxnProducerState, commit: boolean, { markers, durables }: Marked): void {
    const { id, producerId } = current;
    this.#trackMarkers(id, durables);
    // Lazy: it shares the log's next write, the id's next `partitions` entry as a rule.
    const entry: TxnEntry = { type: 'complete', id, commit, markers, at: this.#now };
    void this.#log.commit(entry, { lazy: true }).catch(() => undefined);
    // Applied at once: a hand-over to a new producer id (KIP-890 part 2) took effect.
    if (current.producerId !== producerId) {
      this.#byProducer.delete(producerId);
      this.#byProducer.set(current.producerId, id);
    }
  }

  /** The id's last ending's markers, until durable: its next `complete` waits for them (`#end`). */
  #trackMarkers(id: string, durables: Array<Promise<void>>): void {
    if (durables.length === 0) return;
    const forget = (): void => {
      if (this.#marking.get(id) === synced) this.#marking.delete(id);
    };
    // One partition, as most transactions: its promise needs no joining.
    const one = durables.length === 1 ? durables[0] : undefined;
    const synced = (one ?? Promise.allSettled(durables)).then(forget, forget);
    this.#marking.set(id, synced);
  }

  /**
   * Aborts the open transaction at its timeout and fences its producer (Kafka bumps the epoch). One
   * timer per id outlives the transactions it does not end: one that fires early for the
   * transaction open then waits again for its due time, so a transaction costs no timer of its own.
   */
  #arm(current: TxnProducerState): void {
    const dueAt = current.startedAt + current.timeoutMs;
    const armed = this.#timers.get(current.id);
    if (armed !== undefined && armed.dueAt <= dueAt) return;
    armed?.timer.cancel();
    this.#armAt(current.id, dueAt);
  }

  #armAt(id: string, dueAt: number): void {
    const timer = this.#log.exec.after(Math.max(0, dueAt - this.#now), () => this.#expire(id));
    this.#timers.set(id, { timer, dueAt });
  }

  #expire(id: string): void {
    this.#timers.delete(id);
    const now = this.#state.producers.get(id);
    // Ending already: the next transaction arms its own.
    if (now === undefined || now.phase !== 'ongoing' || this.#ending.has(id)) return;
    const dueAt = now.startedAt + now.timeoutMs;
    if (dueAt > this.#now) {
      this.#armAt(id, dueAt);
      return;
    }
    this.#fenceAndAbort(now);
  }

  /**
   * The decision names the next epoch, as Kafka's coordinator fences before it aborts
   * (TransactionMetadata.prepareFenceProducerEpoch): PrepareAbort and CompleteAbort show it, the
   * instance before is fenced from the decision on, and the lost-marker check keeps this ending.
   */
  #fenceAndAbort(current: TxnProducerState): void {
    void this.#end(current, false, true)
      .done.then(() => this.#deps.producers.setEpoch(current.producerId, current.epoch))
      .catch((err: unknown) => this.#log.exec.fail(err));
  }

  #restore(): void {
    const state = this.#state;
    for (const { stream, partition, offset } of state.starts.values())
      this.#partition(stream, partition)?.deleteBefore(offset);
    this.#remark(this.#lostMarkers());
    for (const list of state.aborted.values()) {
      const into = this.#partition(list.stream, list.partition);
      for (const [producerId, first, marker] of list.ranges) into?.addAborted(producerId, first, marker);
    }
    for (const current of state.producers.values()) {
      this.#byProducer.set(current.producerId, current.id);
      // A decision handing over to a new producer id: batches of that id may lie beyond it (`#orphans`).
      if (current.next !== undefined) this.#byProducer.set(current.next.producerId, current.id);
      if (current.phase !== 'ongoing' && !isPrepared(current)) continue;
      // A crash may have taken the partition's tail from below where the transaction joined it.
      for (const p of current.partitions.values()) {
        const into = this.#partition(p.stream, p.partition);
        into?.beginTransaction(current.producerId, Math.min(p.firstOffset, into.endOffset));
      }
    }
  }

  /**
   * The ids whose commit decision a partition no longer holds all the data of: one ends below where
   * the decision says the transaction's data ends there. A partition is durable as a prefix, so
   * reaching that end means holding all of it. Such a commit is decided again as an abort at `open`,
   * before any marker moves an end, and carried out so (`#settle`): its EndTxn was never answered.
   */
  #torn(): Set<string> {
    const torn = new Set<string>();
    for (const current of this.#state.producers.values()) {
      if (current.phase !== 'prepareCommit') continue;
      for (const d of current.dataEnds ?? []) {
        const into = this.#partition(d.stream, d.partition);
        if (into !== undefined && into.endOffset < d.end) torn.add(current.id);
      }
    }
    return torn;
  }

  /**
   * The markers of each producer's last ending that a crash took: its `complete` can be durable
   * before they are. A partition loses only a tail, so a marker is gone exactly when the partition
   * ends at or below its offset, judged on the ends the start found, before any marker is appended
   * again: one appended for another producer would fill the offset of a lost one and pass it for
   * present, leaving a decided commit's data unmarked for `#orphans` to abort. In the order they
   * were first appended, so markers lost together land again where they were.
   */
  #lostMarkers(): LostMarker[] {
    const lost: LostMarker[] = [];
    for (const current of this.#state.producers.values()) {
      const last = current.lastEnd;
      for (const marker of last?.markers ?? []) {
        const into = this.#partition(marker.stream, marker.partition);
        if (last !== undefined && into !== undefined && into.endOffset <= marker.markerOffset)
          lost.push({ id: current.id, last, marker, into });
      }
    }
    return lost.sort((a, b) => a.marker.markerOffset - b.marker.markerOffset);
  }

  /**
   * Appends again each marker a crash took (`#lostMarkers`). Appended again it may land lower, and an
   * abort's range then ends there (`remark`). A crash before `remark` is durable appends it once
   * more, harmlessly.
   */
  #remark(lost: readonly LostMarker[]): void {
    const durables = new Map<string, Array<Promise<void>>>();
    for (const { id, last, marker, into } of lost) {
      const { producerId, epoch, commit } = last;
      const payload = encodeTxnMarker({ producerId, epoch, commit });
      let offset: number;
      try {
        const appended = into.append(payload, { timestamp: this.#now, format: entryFormat.txnMarker });
        appended.durable.catch(() => undefined); // a failed write fails the partition, as in `#mark`
        const list = durables.get(id);
        if (list === undefined) durables.set(id, [appended.durable]);
        else list.push(appended.durable);
        offset = appended.offset;
      } catch {
        continue; // the partition failed: it leaves service, and its next start tries again
      }
      if (offset === marker.markerOffset) continue;
      const { stream, partition, markerOffset: from } = marker;
      void this.#log
        .commit({ type: 'remark', id, stream, partition, from, markerOffset: offset })
        .catch(() => undefined);
    }
    // Tracked like an ending's markers: the id's next `complete` must not be durable before these.
    for (const [id, list] of durables) this.#trackMarkers(id, list);
  }

  /**
   * Transactional records in a partition that no durable transaction accounts for: a batch appended
   * ahead of its `partitions` entry (`adding`) whose entry a crash took. Each partition is read from
   * its scan start (`TxnState.scans`), which is at or below every such batch, up to
   * `aheadOffsetsMax` past it, beyond which no batch went ahead. A producer's records there after
   * its last marker belong to its open transaction if that lists the partition and began after that
   * marker; otherwise they are orphans. Runs before any ending at start (`#settle`), so a decided
   * transaction's markers not yet appended again do not hide its own records.
   */
  #orphans(): Map<string, TxnPartition[]> {
    const orphans = new Map<string, TxnPartition[]>();
    for (const scan of this.#state.scans.values()) {
      const into = this.#partition(scan.stream, scan.partition);
      if (into === undefined || into.endOffset <= scan.offset) continue;
      const key = partitionKey(scan.stream, scan.partition);
      for (const [producerId, { first, lastMarker }] of unmarked(into, scan.offset)) {
        if (first === undefined) continue;
        const id = this.#byProducer.get(producerId);
        const current = id === undefined ? undefined : this.#state.producers.get(id);
        // A batch is appended only for the producer's current id and epoch, which are durable
        // before InitProducerId is answered: a producer unknown here wrote no batch ahead.
        if (current === undefined) continue;
        const listed = current.partitions.get(key);
        const open = current.phase === 'ongoing' || isPrepared(current);
        // Records of the id handed over to (a new producer id, KIP-890 part 2) are never the open
        // transaction's: it was decided before they were written.
        const own = producerId === current.producerId;
        if (open && own && listed !== undefined && lastMarker < listed.firstOffset) continue;
        const found = orphans.get(current.id) ?? [];
        found.push({ stream: scan.stream, partition: scan.partition, firstOffset: first });
        orphans.set(current.id, found);
      }
    }
    return orphans;
  }

  /**
   * What a start leaves of every transaction, each id on its own and all of them together so their
   * entries share fsyncs; awaited before the vhost serves, so no reader sees anything meanwhile.
   */
  async #settle(orphans: Map<string, TxnPartition[]>, torn: Set<string>, clean: boolean): Promise<void> {
    const ids = [...this.#state.producers.values()]
      .filter((p) => p.phase === 'ongoing' || isPrepared(p) || orphans.has(p.id))
      .map((p) => p.id);
    await Promise.all(ids.map((id) => this.#settleOne(id, orphans.get(id), torn.has(id), clean)));
  }

  /**
   * A decision is carried out (a torn commit was decided again as an abort at `open`). Orphans then
   * join the id's transaction. After a clean close (`clean`) a transaction still open stays open, its
   * timeout armed again: every batch it wrote is stored. Otherwise it is aborted: its batches were
   * answered before they were durable, so a commit after the restart could miss records its client
   * was told were stored, and orphans were never answered. The producer is then fenced (a new epoch, as at a
   * timeout; Kafka would keep a transaction open across a coordinator move), and so is a torn
   * commit's: its client learns from the fence that its transaction is gone.
   */
  async #settleOne(
    id: string,
    orphans: TxnPartition[] | undefined,
    torn: boolean,
    clean: boolean,
  ): Promise<void> {
    const current = this.#state.producers.get(id);
    if (current === undefined) return;
    let fence = torn;
    if (isPrepared(current)) await this.#end(current, current.phase === 'prepareCommit').done;
    if (orphans !== undefined) {
      // Not a scan start for batches going ahead (`#durableScans`): its offsets lie below the end,
      // and only entries applied after the restart rise with the partition as `adding` assumes.
      await this.#log.commit({ type: 'partitions', id, partitions: orphans, at: this.#now });
      for (const p of orphans)
        this.#partition(p.stream, p.partition)?.beginTransaction(current.producerId, p.firstOffset);
    }
    // Orphans were never answered: a transaction that has them ends, clean close or not.
    if (current.phase === 'ongoing' && clean && !fence && orphans === undefined) this.#arm(current);
    else if (current.phase === 'ongoing') {
      await this.#end(current, false).done;
      fence = true;
    }
    if (fence) await this.#bump(current, current.timeoutMs);
  }
}

/** Per producer, its transactional records in `into` from `from` on that follow its last marker. */
function unmarked(into: Partition, from: number): Map<number, Unmarked> {
  const seen = new Map<number, Unmarked>();
  const last = from + aheadOffsetsMax;
  let next = Math.max(from, into.startOffset);
  while (next <= last && next < into.endOffset) {
    const entries = into.log.read(next, { maxEntries: scanReadEntriesMax, maxBytes: scanReadBytesMax });
    if (entries.length === 0) break;
    for (const entry of entries) {
      if (entry.offset > last) break;
      const producer = entryProducer(entry);
      if (producer === undefined || !producer.transactional) continue;
      const state = seen.get(producer.producerId) ?? { first: undefined, lastMarker: -1 };
      if (entry.format === entryFormat.txnMarker) {
        state.first = undefined;
        state.lastMarker = entry.offset;
      } else state.first ??= entry.offset;
      seen.set(producer.producerId, state);
    }
    const tail = entries[entries.length - 1]!;
    next = Math.max(next + 1, tail.offset + Math.max(1, tail.count));
  }
  return seen;
}

/**
 * An EndTxn v5 sent again by the instance an end handed over from (KIP-890 part 2): the same id one
 * epoch below, or the last epoch of the producer id given up for a new one.
 */
function isRetryOf(current: TxnProducerState, producerId: number, epoch: number): boolean {
  const last = current.lastEnd;
  const handedOver = current.producerId !== producerId || current.epoch !== epoch;
  return handedOver && last !== undefined && last.producerId === producerId && last.epoch === epoch;
}

/** EndTxn's answer: a commit asked for that ended as an abort is an error the client can abort on. */
function endedAsAsked(decided: Decided, commit: boolean): TxnEnded {
  if (commit && !decided.commit)
    throw brokerError(ErrorCode.storageFailed, 'A batch of the transaction was not stored: it was aborted');
  return { kind: 'ok', ...decided.after };
}

/** Ids evicted at once: a hundredth of the bound, at most `transactionalIdsEvictedMax`. */
function evictedCount(idsMax: number): number {
  return Math.min(transactionalIdsEvictedMax, Math.ceil(idsMax / 100));
}

function isPrepared(current: TxnProducerState): boolean {
  return current.phase === 'prepareCommit' || current.phase === 'prepareAbort';
}

/** A decision that names the instance after it: Kafka stores that epoch with the decision already. */
function handingOver(current: TxnProducerState): boolean {
  return isPrepared(current) && current.next !== undefined;
}

/** The epoch Kafka shows: while a decision hands over to the next epoch of the same id, that one. */
function shownEpoch(current: TxnProducerState): number {
  const next = handingOver(current) ? current.next : undefined;
  return next !== undefined && next.producerId === current.producerId ? next.epoch : current.epoch;
}

function summaryOf(current: TxnProducerState): TxnSummary {
  return {
    transactionalId: current.id,
    producerId: current.producerId,
    epoch: shownEpoch(current),
    timeoutMs: current.timeoutMs,
    phase: current.phase,
    startedAt: current.startedAt,
    partitions: [...current.partitions.values()].map(({ stream, partition }) => ({ stream, partition })),
    groups: [...current.groups],
  };
}

/** Whether the transaction may take `group`'s `offsets` within its bounds on groups and offsets. */
function fitsBounds(
  current: TxnProducerState,
  group: string,
  offsets: ReadonlyArray<Omit<TxnOffset, 'group'>>,
): boolean {
  if (!current.groups.has(group) && current.groups.size >= transactionGroupsMax) return false;
  const added = new Set<string>();
  for (const o of offsets) {
    const key = txnOffsetKey({ group, ...o });
    if (!current.offsets.has(key)) added.add(key);
  }
  return current.offsets.size + added.size <= transactionOffsetsMax;
}
