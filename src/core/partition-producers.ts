/**
 * What Kafka's DescribeProducers shows of one partition: a producer's state there as its partition
 * leader keeps it (ProducerStateManager, KIP-664), rebuilt from what core stores durably — the
 * producer registry's last batch per producer (./producers.ts) and the transaction log's last marker
 * (./transactions.ts) — and the partition's entries for their timestamps, so a restart shows the same.
 */
import type { PartitionProducer, StreamPartition } from './api.js';
import type { BatchTail } from './producers.js';
import type { TxnMark } from './state/txn-entries.js';

/** Switchyard has one transaction coordinator, never moved: the epoch every marker is written at. */
export const coordinatorEpoch = 0;
/** Kafka's "none" for a sequence or a timestamp. */
const none = -1;

/**
 * One entry per producer with a batch or a marker on the partition. The later of the two decides, as
 * each updates Kafka's entry in turn: a marker sets the last timestamp and, written at another epoch
 * (a version 2 end, a timeout's fence), moves the epoch and forgets the sequence
 * (ProducerStateEntry.maybeUpdateProducerEpoch); a batch sets both. The coordinator epoch stays
 * -1 until the producer's first marker there.
 */
export function partitionProducers(
  partition: StreamPartition,
  batches: readonly BatchTail[],
  marks: readonly TxnMark[],
  openSince: (producerId: number) => number,
): PartitionProducer[] {
  const byProducer = new Map<number, { batch?: BatchTail; mark?: TxnMark }>();
  for (const batch of batches) byProducer.set(batch.producerId, { batch });
  for (const mark of marks) byProducer.set(mark.producerId, { ...byProducer.get(mark.producerId), mark });
  return [...byProducer].map(([producerId, { batch, mark }]) => {
    const markLast = mark !== undefined && (batch === undefined || mark.markerOffset > batch.lastOffset);
    const epoch = markLast ? mark.epoch : (batch?.epoch ?? none);
    const lastSequence = batch !== undefined && batch.epoch === epoch ? batch.lastSeq : none;
    const lastOffset = markLast ? mark.markerOffset : (batch?.lastOffset ?? none);
    return {
      producerId,
      epoch,
      lastSequence,
      lastTimestamp: maxTimestampAt(partition, lastOffset),
      coordinatorEpoch: mark === undefined ? none : coordinatorEpoch,
      transactionStartOffset: openSince(producerId),
    };
  });
}

/** The largest timestamp of the entry stored at `offset`; -1 when retention or compaction took it. */
function maxTimestampAt(partition: StreamPartition, offset: number): number {
  if (offset < partition.startOffset || offset >= partition.endOffset) return none;
  const entry = partition.read(offset, { maxEntries: 1 })[0];
  return entry?.offset === offset ? entry.maxTimestamp : none;
}
