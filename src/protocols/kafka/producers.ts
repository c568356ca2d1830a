/**
 * Idempotent producers (KIP-98): producer ids and epochs from InitProducerId, and per (producer,
 * topic, partition) the last sequence and the last few batches, so that a retried batch is answered
 * with its first offset instead of being stored twice. Kept durably in `core.state`:
 *
 *   kafka/producer-id-next              the next producer id to hand out
 *   kafka/producer/<id>                 { epoch }
 *   kafka/seq/<id>/<topic>/<partition>  { epoch, lastSeq, recent: [firstSeq, lastSeq, baseOffset][] }
 */
import type { CoreBroker } from '../../core/api.js';
import { KafkaError } from './errors.js';

/** Batches remembered per producer and partition for duplicate detection (Kafka keeps five). */
const recentBatchesMax = 5;
const int32Max = 0x7fffffff;
const epochMax = 0x7fff;

interface SequenceState {
  epoch: number;
  lastSeq: number;
  recent: Array<[number, number, number]>;
}

export type SequenceVerdict =
  | { readonly kind: 'append' }
  | { readonly kind: 'duplicate'; readonly baseOffset: number }
  | { readonly kind: 'error'; readonly code: KafkaError };

export interface BatchIdentity {
  readonly producerId: bigint;
  readonly producerEpoch: number;
  readonly baseSequence: number;
  readonly recordsCount: number;
}

function nextSeq(seq: number): number {
  return seq === int32Max ? 0 : seq + 1;
}

function lastSeqOf(batch: BatchIdentity): number {
  return (batch.baseSequence + batch.recordsCount - 1) % (int32Max + 1);
}

export class ProducerRegistry {
  readonly #core: CoreBroker;
  readonly #epochs = new Map<string, number>();
  readonly #sequences = new Map<string, SequenceState>();

  constructor(core: CoreBroker) {
    this.#core = core;
  }

  /** A new producer id (epoch 0), or the same id with its epoch bumped (KIP-360). */
  async initProducerId(
    producerId: bigint,
    producerEpoch: number,
  ): Promise<{ producerId: bigint; producerEpoch: number } | KafkaError> {
    if (producerId >= 0n) {
      const known = this.#epoch(producerId);
      if (known === undefined) return KafkaError.unknownProducerId;
      if (producerEpoch !== known) return KafkaError.invalidProducerEpoch;
      const epoch = known >= epochMax ? 0 : known + 1;
      await this.#setEpoch(producerId, epoch);
      return { producerId, producerEpoch: epoch };
    }
    const next = Number(this.#core.state.get('kafka/producer-id-next') ?? 1000);
    await this.#core.state.put('kafka/producer-id-next', next + 1);
    await this.#setEpoch(BigInt(next), 0);
    return { producerId: BigInt(next), producerEpoch: 0 };
  }

  /** Decides what to do with a batch of an idempotent producer (ProducerStateManager semantics). */
  check(topic: string, partition: number, batch: BatchIdentity): SequenceVerdict {
    const epoch = this.#epoch(batch.producerId);
    if (epoch === undefined) return { kind: 'error', code: KafkaError.unknownProducerId };
    if (batch.producerEpoch < epoch) return { kind: 'error', code: KafkaError.invalidProducerEpoch };
    const state = this.#sequence(batch.producerId, topic, partition);
    const first = batch.baseSequence;
    if (state === undefined || state.epoch !== batch.producerEpoch) {
      if (first === 0) return { kind: 'append' };
      const code = state === undefined ? KafkaError.unknownProducerId : KafkaError.outOfOrderSequenceNumber;
      return { kind: 'error', code };
    }
    const last = lastSeqOf(batch);
    const seen = state.recent.find(([f, l]) => f === first && l === last);
    if (seen !== undefined) return { kind: 'duplicate', baseOffset: seen[2] };
    if (first === nextSeq(state.lastSeq)) return { kind: 'append' };
    if (first <= state.lastSeq) return { kind: 'error', code: KafkaError.duplicateSequenceNumber };
    return { kind: 'error', code: KafkaError.outOfOrderSequenceNumber };
  }

  /** Records an appended batch; the promise resolves once the state is stored. */
  record(topic: string, partition: number, batch: BatchIdentity, baseOffset: number): Promise<void> {
    const key = sequenceKey(batch.producerId, topic, partition);
    const previous = this.#sequence(batch.producerId, topic, partition);
    const recent = previous !== undefined && previous.epoch === batch.producerEpoch ? previous.recent : [];
    const state: SequenceState = {
      epoch: batch.producerEpoch,
      lastSeq: lastSeqOf(batch),
      recent: [
        ...recent,
        [batch.baseSequence, lastSeqOf(batch), baseOffset] as [number, number, number],
      ].slice(-recentBatchesMax),
    };
    this.#sequences.set(key, state);
    if (batch.producerEpoch > (this.#epoch(batch.producerId) ?? -1)) {
      this.#epochs.set(String(batch.producerId), batch.producerEpoch);
      void this.#core.state.put(`kafka/producer/${batch.producerId}`, { epoch: batch.producerEpoch });
    }
    return this.#core.state.put(key, state);
  }

  #epoch(producerId: bigint): number | undefined {
    const id = String(producerId);
    const cached = this.#epochs.get(id);
    if (cached !== undefined) return cached;
    const stored = this.#core.state.get(`kafka/producer/${id}`) as { epoch?: unknown } | undefined;
    if (typeof stored?.epoch !== 'number') return undefined;
    this.#epochs.set(id, stored.epoch);
    return stored.epoch;
  }

  async #setEpoch(producerId: bigint, epoch: number): Promise<void> {
    this.#epochs.set(String(producerId), epoch);
    await this.#core.state.put(`kafka/producer/${producerId}`, { epoch });
  }

  #sequence(producerId: bigint, topic: string, partition: number): SequenceState | undefined {
    const key = sequenceKey(producerId, topic, partition);
    const cached = this.#sequences.get(key);
    if (cached !== undefined) return cached;
    const stored = this.#core.state.get(key) as SequenceState | undefined;
    if (stored === undefined || typeof stored.lastSeq !== 'number' || !Array.isArray(stored.recent))
      return undefined;
    this.#sequences.set(key, stored);
    return stored;
  }

  /** Forgets the sequences kept for a deleted topic. */
  async forgetTopic(topic: string): Promise<void> {
    const part = `/${encodeURIComponent(topic)}/`;
    for (const key of [...this.#sequences.keys()]) if (key.includes(part)) this.#sequences.delete(key);
    for (const [key] of this.#core.state.entries('kafka/seq/')) {
      if (key.includes(part)) await this.#core.state.delete(key);
    }
  }
}

function sequenceKey(producerId: bigint, topic: string, partition: number): string {
  return `kafka/seq/${producerId}/${encodeURIComponent(topic)}/${partition}`;
}
