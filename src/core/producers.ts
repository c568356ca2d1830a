/**
 * The idempotent-producer registry of one vhost, an owned object with its own log
 * (./state/producer-entries.ts). It hands out producer ids and bumps epochs (Kafka InitProducerId,
 * KIP-360), and decides for each batch of an idempotent producer whether it is new, a retry of one
 * already stored (answered with that batch's offset) or out of order — the semantics of Kafka's
 * ProducerStateManager (KIP-98). The vhost checks, appends and records in one synchronous step
 * (`Vhost.appendIdempotent`), so nothing can come between a check and its record.
 */
import type { ProducerBatch, ProducerInit, ProducerRefusal } from './api.js';
import { OwnedLog, sourceOf, type VhostObjectDeps, vhostObjectOptions } from './state/owned-log.js';
import {
  type ProducerEntry,
  type ProducerState,
  producerMachine,
  sequenceKey,
} from './state/producer-entries.js';
import type { OpenedLog } from './state/state-log.js';

/** Sequences are int32 and wrap to 0 after the largest. */
const sequenceMax = 0x7fffffff;
/** Epochs are int16; past the largest an epoch wraps to 0 (KIP-360). */
const epochMax = 0x7fff;

export type SequenceVerdict =
  | { readonly kind: 'append' }
  | { readonly kind: 'duplicate'; readonly offset: number }
  | { readonly kind: 'refused'; readonly reason: ProducerRefusal };

function nextSeq(seq: number): number {
  return seq === sequenceMax ? 0 : seq + 1;
}

function lastSeqOf(batch: ProducerBatch): number {
  return (batch.baseSequence + batch.count - 1) % (sequenceMax + 1);
}

function batchEntry(
  stream: string,
  partition: number,
  batch: ProducerBatch,
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

export class ProducerRegistry {
  readonly #log: OwnedLog<ProducerState, ProducerEntry>;
  /** The sequences another log carries (`recordIn`), taken again whenever this log restarts. */
  #carried: (() => ProducerState['sequences']) | undefined;

  private constructor(log: OwnedLog<ProducerState, ProducerEntry>) {
    this.#log = log;
  }

  static async open(
    deps: VhostObjectDeps,
    found: OpenedLog<ProducerState> | undefined,
  ): Promise<ProducerRegistry> {
    let registry: ProducerRegistry | undefined;
    const options = {
      ...vhostObjectOptions(deps, producerMachine, 'producers'),
      // Rebuilt from its own log, it has lost what another log carries for it.
      onRestarted: () => {
        if (registry !== undefined) registry.#adoptCarried();
      },
    };
    registry = new ProducerRegistry(await OwnedLog.open(options, sourceOf(found)));
    return registry;
  }

  /** A new producer id (epoch 0) for `producerId` < 0, or the same id with its epoch bumped. */
  async init(producerId: number, epoch: number): Promise<ProducerInit> {
    const state = this.#log.state;
    if (producerId < 0) {
      const id = state.nextId;
      await this.#log.commit({ type: 'producer', producerId: id, epoch: 0 });
      return { kind: 'ok', producerId: id, epoch: 0 };
    }
    const known = state.epochs.get(producerId);
    if (known === undefined) return { kind: 'refused', reason: 'unknownProducer' };
    if (epoch !== known) return { kind: 'refused', reason: 'staleEpoch' };
    const bumped = known >= epochMax ? 0 : known + 1;
    await this.#log.commit({ type: 'producer', producerId, epoch: bumped });
    return { kind: 'ok', producerId, epoch: bumped };
  }

  /** The producer's current epoch; undefined for an id never handed out. */
  epochOf(producerId: number): number | undefined {
    return this.#log.state.epochs.get(producerId);
  }

  /** Sets the producer's epoch: a transaction coordinator fencing older instances of a producer. */
  setEpoch(producerId: number, epoch: number): Promise<void> {
    return this.#log.commit({ type: 'producer', producerId, epoch });
  }

  check(stream: string, partition: number, batch: ProducerBatch): SequenceVerdict {
    const state = this.#log.state;
    const epoch = state.epochs.get(batch.producerId);
    if (epoch === undefined) return { kind: 'refused', reason: 'unknownProducer' };
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

  /** Records a stored batch; throws when the registry's log refuses, resolves once durable. */
  record(stream: string, partition: number, batch: ProducerBatch, baseOffset: number): Promise<void> {
    return this.#log.commit(batchEntry(stream, partition, batch, baseOffset));
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

  /** Producers with sequences on a partition, and the last sequence each wrote there. */
  onPartition(
    stream: string,
    partition: number,
  ): Array<{ producerId: number; epoch: number; lastSeq: number }> {
    const out: Array<{ producerId: number; epoch: number; lastSeq: number }> = [];
    for (const sequence of this.#log.state.sequences.values()) {
      if (sequence.stream !== stream || sequence.partition !== partition) continue;
      out.push({ producerId: sequence.producerId, epoch: sequence.epoch, lastSeq: sequence.lastSeq });
    }
    return out;
  }

  /** The stream was deleted: the sequences kept for it go. */
  async forgetStream(stream: string): Promise<void> {
    const holds = [...this.#log.state.sequences.values()].some((sequence) => sequence.stream === stream);
    if (holds) await this.#log.commit({ type: 'stream.forget', stream });
  }

  close(): Promise<void> {
    return this.#log.close();
  }

  destroy(): Promise<void> {
    return this.#log.destroy();
  }
}
