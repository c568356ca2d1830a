/**
 * Idempotent producers (KIP-98, epochs KIP-360) as Kafka sees them, over core's producer registry:
 * InitProducerId hands out ids and bumps epochs, and each batch of an idempotent producer is checked,
 * appended and its sequence recorded in one core command, so a retried batch is answered with its
 * first offset instead of being stored twice. Core keeps the ids, epochs and sequences durably; this
 * file only maps Kafka's types and error codes onto it.
 */
import type { CoreClient, ProducerBatch, ProducerRefusal, StreamAppendOptions } from '../../core/api.js';
import { KafkaError } from './errors.js';

export interface BatchIdentity {
  readonly producerId: bigint;
  readonly producerEpoch: number;
  readonly baseSequence: number;
  readonly recordsCount: number;
  /** The batch's attributes: bit 4 says it belongs to a transaction. */
  readonly attributes: number;
}

export type IdempotentResult =
  | { readonly kind: 'appended'; readonly offset: number; readonly durable: Promise<void> }
  | { readonly kind: 'duplicate'; readonly offset: number }
  /** Append again once `until` settles: the partitions of the batch's transaction are not yet durable. */
  | { readonly kind: 'wait'; readonly until: Promise<void>; readonly transition?: true }
  | { readonly kind: 'error'; readonly code: KafkaError };

const refusalCodes: Readonly<Record<ProducerRefusal, KafkaError>> = {
  unknownProducer: KafkaError.unknownProducerId,
  staleEpoch: KafkaError.invalidProducerEpoch,
  outOfOrder: KafkaError.outOfOrderSequenceNumber,
  duplicateSequence: KafkaError.duplicateSequenceNumber,
  notInTransaction: KafkaError.invalidTxnState,
};

const transactionalBit = 0x10;

/** Core's ids are safe integers; a larger one was never handed out. */
function coreId(producerId: bigint): number | undefined {
  return producerId <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(producerId) : undefined;
}

/** Maps Kafka's producers onto core's registry; each call acts as `core`, the caller's client. */
export class ProducerRegistry {
  /** A new producer id (epoch 0) for id -1, or the same id with its epoch bumped (KIP-360). */
  async initProducerId(
    core: CoreClient,
    producerId: bigint,
    producerEpoch: number,
  ): Promise<{ producerId: bigint; producerEpoch: number } | KafkaError> {
    const id = producerId < 0n ? -1 : coreId(producerId);
    if (id === undefined) return KafkaError.unknownProducerId;
    const result = await core.initProducer(id, producerEpoch);
    if (result.kind === 'refused') return refusalCodes[result.reason];
    return { producerId: BigInt(result.producerId), producerEpoch: result.epoch };
  }

  /**
   * Appends a batch of an idempotent producer unless it is a retry or out of sequence. With
   * `addsPartition` (Produce v12 on, KIP-890 part 2) a transactional batch adds its partition to
   * its producer's transaction itself.
   */
  append(
    core: CoreClient,
    topic: string,
    partition: number,
    identity: BatchIdentity,
    payload: Uint8Array,
    options: StreamAppendOptions,
    addsPartition = false,
  ): IdempotentResult {
    const producerId = coreId(identity.producerId);
    if (producerId === undefined) return { kind: 'error', code: KafkaError.unknownProducerId };
    const batch: ProducerBatch = {
      producerId,
      epoch: identity.producerEpoch,
      baseSequence: identity.baseSequence,
      count: identity.recordsCount,
      transactional: (identity.attributes & transactionalBit) !== 0,
      // Given false rather than spread in when absent: a spread was a generic copy per idempotent produce.
      addsPartition,
    };

    const result = core.appendIdempotent(topic, partition, batch, payload, options);
    return result.kind === 'refused' ? { kind: 'error', code: refusalCodes[result.reason] } : result;
  }
}
