/**
 * Produce (key 0), v0–9. Legacy message sets are first converted into a v2 batch (../legacy.ts).
 * Record batches are checked (magic 2, CRC-32C, sizes, idempotent
 * sequences), given their offsets by rewriting baseOffset, and appended whole as one stream entry
 * each. acks=0 gets no response at all; acks 1 and -1 are answered once the appends are durable.
 */
import type { StreamPartition } from '../../../core/api.js';
import { ErrorCode, isBrokerError } from '../../../shared/errors.js';
import {
  ApiKey,
  BatchAttribute,
  batchCrcValid,
  type KafkaInput,
  type ProduceRequest,
  type ProduceResponse,
  type ProduceResponsePartitionProduceResponse,
  type RecordBatchHeader,
  readBatchHeader,
  setBaseOffset,
  splitBatches,
} from '../codec/index.js';
import { type ApiHandler, type KafkaBroker, Later, type RequestContext } from '../context.js';
import { kafkaBatchFormat } from '../entry-format.js';
import { KafkaError, kafkaErrorOf } from '../errors.js';
import { upConvertRecords } from '../legacy.js';
import { isKafkaError, partitionOf } from '../topics.js';

/** Batches accepted in one partition's records of one request. */
const batchesPerPartitionMax = 10_000;
const magicOffset = 16;

type PartitionOut = KafkaInput<ProduceResponsePartitionProduceResponse>;

interface Batch {
  readonly bytes: Uint8Array;
  readonly header: RecordBatchHeader;
}

/** Splits and validates every batch first, so a bad one refuses the whole partition's data. */
function parseBatches(broker: KafkaBroker, given: Uint8Array | null): Batch[] | KafkaError {
  if (given === null || given.length === 0) return KafkaError.corruptMessage;
  // A legacy MessageSet v0/v1 (Produce v0–2, or magic 0/1 in later versions) becomes one v2 batch.
  const records = upConvertRecords(given);
  if (isKafkaError(records)) return records;
  let split: ReturnType<typeof splitBatches>;
  try {
    split = splitBatches(records, batchesPerPartitionMax);
  } catch {
    return KafkaError.corruptMessage;
  }
  if (split.partialBytes > 0 || split.batches.length === 0) return KafkaError.corruptMessage;
  const batches: Batch[] = [];
  for (const span of split.batches) {
    const bytes = records.subarray(span.offset, span.offset + span.length);
    if (bytes[magicOffset] !== 2) return KafkaError.unsupportedForMessageFormat;
    if (bytes.length > broker.options.batchBytesMax) return KafkaError.messageTooLarge;
    let header: RecordBatchHeader;
    try {
      header = readBatchHeader(bytes);
      if (!batchCrcValid(bytes)) return KafkaError.corruptMessage;
    } catch {
      return KafkaError.corruptMessage;
    }
    const countOk = header.recordsCount > 0 && header.lastOffsetDelta + 1 === header.recordsCount;
    if (!countOk || (header.attributes & BatchAttribute.control) !== 0) return KafkaError.invalidRecord;
    batches.push({ bytes, header });
  }
  return batches;
}

function appendBatch(
  partition: StreamPartition,
  batch: Batch,
  now: number,
): { offset: number; durable: Promise<void> } {
  const bytes = Uint8Array.from(batch.bytes);
  const offset = partition.endOffset;
  setBaseOffset(bytes, 0, BigInt(offset));
  const base = Number(batch.header.baseTimestamp);
  const max = Number(batch.header.maxTimestamp);
  const timestamp = base >= 0 ? base : now;
  const result = partition.append(bytes, {
    count: batch.header.recordsCount,
    timestamp,
    maxTimestamp: Math.max(timestamp, max),
    format: kafkaBatchFormat,
  });
  return result;
}

/** Appends one partition's batches; synchronous up to the durability wait, so offsets follow request order. */
function producePartition(
  ctx: RequestContext,
  topic: string,
  index: number,
  records: Uint8Array | null,
): Promise<PartitionOut> {
  const { broker } = ctx;
  const partition = partitionOf(broker, topic, index);
  if (isKafkaError(partition)) return Promise.resolve({ index, errorCode: partition });
  const batches = parseBatches(broker, records);
  if (isKafkaError(batches)) return Promise.resolve({ index, errorCode: batches });
  const waits: Promise<unknown>[] = [];
  let baseOffset = -1;
  try {
    for (const batch of batches) {
      const idempotent = batch.header.producerId >= 0n;
      const verdict = idempotent
        ? broker.producers.check(topic, index, batch.header)
        : { kind: 'append' as const };
      if (verdict.kind === 'error') return Promise.resolve({ index, errorCode: verdict.code });
      if (verdict.kind === 'duplicate') {
        if (baseOffset < 0) baseOffset = verdict.baseOffset;
        continue;
      }
      const appended = appendBatch(partition, batch, Date.now());
      if (baseOffset < 0) baseOffset = appended.offset;
      waits.push(appended.durable);
      if (idempotent) waits.push(broker.producers.record(topic, index, batch.header, appended.offset));
    }
  } catch (err) {
    return Promise.resolve({ index, errorCode: kafkaErrorOf(err) });
  }
  const answer: PartitionOut = {
    index,
    errorCode: KafkaError.none,
    baseOffset: BigInt(baseOffset),
    logAppendTimeMs: -1n,
    logStartOffset: BigInt(partition.startOffset),
  };
  return Promise.all(waits).then(
    () => answer,
    (err: unknown) => {
      // The log closed under the append: the topic was deleted meanwhile (or the broker is stopping).
      // Kafka answers a produce to a topic being deleted with UNKNOWN_TOPIC_OR_PARTITION; no disk failed.
      if (isBrokerError(err, ErrorCode.invalidState))
        return { index, errorCode: KafkaError.unknownTopicOrPartition };
      broker.logger.error({ err, topic, partition: index }, 'kafka: append failed');
      return { index, errorCode: KafkaError.kafkaStorageError };
    },
  );
}

export const produceHandler: ApiHandler = {
  apiKey: ApiKey.Produce,
  versionMin: 0,
  versionMax: 9,
  handle(ctx: RequestContext, request: ProduceRequest): Later | null | KafkaInput<ProduceResponse> {
    const acks = request.acks;
    const topics = request.topicData.map((topic) => ({
      name: topic.name,
      partitions: topic.partitionData.map((p) =>
        acks === 0 || acks === 1 || acks === -1
          ? producePartition(ctx, topic.name, p.index, p.records)
          : Promise.resolve({ index: p.index, errorCode: KafkaError.invalidRequiredAcks }),
      ),
    }));
    // Clients expect no response at all to acks=0 (kafkajs, librdkafka, kafka-python).
    if (acks === 0) return null;
    const response = Promise.all(
      topics.map(async (t) => ({ name: t.name, partitionResponses: await Promise.all(t.partitions) })),
    ).then((responses): KafkaInput<ProduceResponse> => ({ responses }));
    return new Later(response);
  },
};
