/**
 * Produce (key 0), v0–12. Legacy message sets are first converted into a v2 batch (../legacy.ts).
 * From v12 on a transactional batch adds its partition to its producer's transaction itself
 * (KIP-890 part 2, transaction.version 2: no AddPartitionsToTxn); v10 and v11 answer as v9 (v10's
 * leader hints are for errors this single node never gives, v11's TRANSACTION_ABORTABLE is not used).
 * Record batches are checked (magic 2, CRC-32C, sizes, idempotent
 * sequences), given their offsets by rewriting baseOffset, and appended whole as one stream entry
 * each. acks=0 gets no response at all; acks 1 and -1 are answered once the appends are durable, but
 * a transactional batch's once appended (core: its transaction's commit waits for its durability).
 * The topic's configs apply (../topic-settings.ts `ProduceRules`): max.message.bytes,
 * min.insync.replicas against acks=all, the CreateTime difference limits, LogAppendTime, and
 * compression.type, for which a batch of another codec is recompressed. A topic the client may not
 * WRITE gets TOPIC_AUTHORIZATION_FAILED, and transactional records need WRITE on their transactional
 * id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED for every partition); nothing refused is appended.
 */
import type { StreamAppendOptions, StreamPartition } from '../../../core/api.js';
import { ErrorCode, isBrokerError } from '../../../shared/errors.js';
import { allowed } from '../acls.js';
import {
  ApiKey,
  BatchAttribute,
  batchCrcValid,
  batchHeaderBytes,
  batchSizeAt,
  type KafkaInput,
  type ProduceRequest,
  type ProduceResponse,
  type ProduceResponsePartitionProduceResponse,
  type RecordBatchHeader,
  readBatchHeader,
  rebuildBatch,
  setBaseOffset,
  splitBatches,
} from '../codec/index.js';
import { decompress } from '../compression.js';
import { compress, compressibleCodecs, zstdReady } from '../compressors.js';
import { type ApiHandler, Later, type RequestContext } from '../context.js';
import { batchRecords, kafkaBatchFormat } from '../entry-format.js';
import { KafkaError, kafkaErrorOf } from '../errors.js';
import { upConvertRecords } from '../legacy.js';
import type { ProduceRules } from '../topic-settings.js';
import { isKafkaError, partitionOf } from '../topics.js';

/** Batches accepted in one partition's records of one request. */
const batchesPerPartitionMax = 10_000;
const magicOffset = 16;
/** From this version on a transactional batch adds its partition to its transaction (KIP-890 part 2). */
const implicitAddVersion = 12;
/**
 * How long a transactional Produce (v12) waits for its id's InitProducerId or ending to be written
 * before it is answered CONCURRENT_TRANSACTIONS and retried by the client: Kafka's partition leader
 * answers so at once when verification finds a transition pending (KIP-890 part 2; Kafka 4.x passes
 * that code to transaction-version-2 clients unconverted). Waiting a little saves the usual retry,
 * a write of a few milliseconds; the bound keeps a stalled write from holding the request, and the
 * connection's later requests of the id, for good.
 */
export const transitionWaitMs = 1_000;

type PartitionOut = KafkaInput<ProduceResponsePartitionProduceResponse>;

interface Batch {
  readonly bytes: Uint8Array;
  readonly header: RecordBatchHeader;
}

/** A batch refused for some of its records (KIP-467): their indexes in the batch, so the client fails only those. */
interface RecordsRefused {
  readonly errorCode: KafkaError;
  readonly errorMessage: string;
  readonly recordErrors: Array<{ batchIndex: number; batchIndexErrorMessage: string | null }>;
}

/** Splits and validates every batch first, so a bad one refuses the whole partition's data. */
function parseBatches(
  rules: ProduceRules,
  given: Uint8Array | null,
  now: number,
): Batch[] | KafkaError | RecordsRefused {
  if (given === null || given.length === 0) return KafkaError.corruptMessage;
  // A legacy MessageSet v0/v1 (Produce v0–2, or magic 0/1 in later versions) becomes one v2 batch.
  const records = upConvertRecords(given);
  if (isKafkaError(records)) return records;
  // The usual request holds one batch: the records themselves, without the split's spans or a view.
  if (batchSizeAt(records) === records.length) {
    const one = checkedBatch(rules, records, now);
    return isKafkaError(one) || !('bytes' in one) ? one : [one];
  }
  let split: ReturnType<typeof splitBatches>;
  try {
    split = splitBatches(records, batchesPerPartitionMax);
  } catch {
    return KafkaError.corruptMessage;
  }
  if (split.partialBytes > 0 || split.batches.length === 0) return KafkaError.corruptMessage;
  const batches: Batch[] = [];
  for (const span of split.batches) {
    const one = checkedBatch(rules, records.subarray(span.offset, span.offset + span.length), now);
    if (isKafkaError(one) || !('bytes' in one)) return one;
    batches.push(one);
  }
  return batches;
}

/** One batch checked against the broker's and the topic's rules: the batch, or why it is refused. */
function checkedBatch(
  rules: ProduceRules,
  bytes: Uint8Array,
  now: number,
): Batch | KafkaError | RecordsRefused {
  if (bytes[magicOffset] !== 2) return KafkaError.unsupportedForMessageFormat;
  // The topic's max.message.bytes, within the broker's own limit.
  if (bytes.length > rules.batchBytesMax) return KafkaError.messageTooLarge;
  let header: RecordBatchHeader;
  try {
    header = readBatchHeader(bytes);
    if (!batchCrcValid(bytes, 0, header)) return KafkaError.corruptMessage;
  } catch {
    return KafkaError.corruptMessage;
  }
  const countOk = header.recordsCount > 0 && header.lastOffsetDelta + 1 === header.recordsCount;
  if (!countOk || (header.attributes & BatchAttribute.control) !== 0) return KafkaError.invalidRecord;
  if (!rules.logAppendTime && !timestampsWithin(rules, header, now)) return KafkaError.invalidTimestamp;
  if (rules.keyRequired) {
    const keyless = keylessRecords(bytes);
    if (keyless === undefined) return KafkaError.invalidRecord;
    if (keyless.length > 0)
      return {
        errorCode: KafkaError.invalidRecord,
        errorMessage: 'One or more records have been rejected',
        recordErrors: keyless.map((batchIndex) => ({
          batchIndex,
          batchIndexErrorMessage: 'Compacted topic cannot accept message without key.',
        })),
      };
  }
  return { bytes, header };
}

/**
 * A compacted topic keeps the latest record per key, so a record without one is refused (Kafka's
 * INVALID_RECORD): the indexes of such records in the batch, undefined when it cannot be read.
 */
function keylessRecords(bytes: Uint8Array): number[] | undefined {
  try {
    return batchRecords(bytes).records.flatMap((record, i) => (record.key === null ? [i] : []));
  } catch {
    return undefined;
  }
}

/**
 * Whether a CreateTime batch's timestamps lie within the topic's limits around `now` (KIP-937). The
 * first and the largest timestamp are checked, which bound every record's when deltas are not
 * negative, as producers write them; records are not decoded for this.
 */
function timestampsWithin(rules: ProduceRules, header: RecordBatchHeader, now: number): boolean {
  // In doubles, not BigInts (each BigInt step allocated): milliseconds since 1970 are exact in them,
  // and a limit or timestamp far past 2^53 still compares on the right side of now.
  const first = Number(header.baseTimestamp);
  if (first >= 0 && now - first > rules.timestampBeforeMsMax) return false;
  const max = Number(header.maxTimestamp);
  return max < 0 || max - now <= rules.timestampAfterMsMax;
}

/**
 * The batch as the topic keeps it: recompressed when compression.type names another codec (the
 * records inside are unchanged), and stamped with the broker's time under LogAppendTime. Unchanged,
 * it is the request's own bytes: the request is this handler's to change (`prepareBatch` sets the
 * base offset in place) and is given up to storage with the append (`owned`), uncopied.
 */
function applyRules(rules: ProduceRules, batch: Batch, now: number): Uint8Array {
  const { attributes, maxTimestamp } = batch.header;
  const from = attributes & BatchAttribute.compressionMask;
  const to = compressibleCodecs.get(rules.compression) ?? from;
  if (to === from && !rules.logAppendTime) return batch.bytes;
  const section = batch.bytes.subarray(batchHeaderBytes);
  const records = to === from ? section : compress(to, decompress(from, section), rules);
  const timeBits = rules.logAppendTime ? BatchAttribute.logAppendTime : 0;
  return rebuildBatch(batch.bytes, {
    attributes:
      (attributes & ~(BatchAttribute.compressionMask | BatchAttribute.logAppendTime)) | to | timeBits,
    maxTimestamp: rules.logAppendTime ? BigInt(now) : maxTimestamp,
    records,
  });
}

/**
 * The batch as stored: its baseOffset set to the offset it will get, and its entry options. When
 * they are the request's own bytes in a pooled buffer, storage holds that buffer until it has
 * written them (`release`).
 */
function prepareBatch(
  ctx: RequestContext,
  partition: StreamPartition,
  rules: ProduceRules,
  batch: Batch,
  now: number,
): { bytes: Uint8Array; options: StreamAppendOptions } {
  const bytes = applyRules(rules, batch, now);
  setBaseOffset(bytes, 0, partition.endOffset);
  const base = rules.logAppendTime ? now : Number(batch.header.baseTimestamp);
  const max = rules.logAppendTime ? now : Number(batch.header.maxTimestamp);
  const timestamp = base >= 0 ? base : now;
  // Built in one literal, `release` undefined when there is none: a spread of it was a generic copy per produce.
  const pooled = ctx.frame !== undefined && bytes.buffer === ctx.frame.bytes.buffer;
  const options: StreamAppendOptions = {
    count: batch.header.recordsCount,
    timestamp,
    maxTimestamp: Math.max(timestamp, max),
    format: kafkaBatchFormat,
    // Nothing changes the batch once it is appended, so storage may write it from the request.
    owned: true,
    // Its CRC-32C was checked (parseBatches) or computed (rebuildBatch): storage relies on it.
    payloadCrc32c: true,
    release: pooled ? ctx.frame!.hold() : undefined,
  };
  return { bytes, options };
}

type Appended =
  // A plain batch: storage's own answer (`kind` absent), not copied into another object.
  | { kind?: undefined; offset: number; durable?: Promise<void> }
  | { kind: 'appended' | 'duplicate'; offset: number; durable?: Promise<void> }
  | { kind: 'wait'; until: Promise<void>; transition?: true }
  | KafkaError;

/**
 * Appends one batch; an idempotent producer's goes through core's check of its sequence, which may
 * answer that it was stored before (a retry) or refuse it, and a transactional one may be told to
 * wait until the partitions its transaction added are durable.
 */
function appendBatch(
  ctx: RequestContext,
  topic: string,
  partition: StreamPartition,
  rules: ProduceRules,
  batch: Batch,
  now: number,
): Appended {
  const { bytes, options } = prepareBatch(ctx, partition, rules, batch, now);
  if (batch.header.producerId < 0n) return partition.append(bytes, options);
  const result = ctx.broker.producers.append(
    ctx.client,
    topic,
    partition.index,
    batch.header,
    bytes,
    options,
    ctx.apiVersion >= implicitAddVersion,
  );
  // Refused, a retry already stored, or to wait: storage never saw these bytes.
  if (result.kind !== 'appended') options.release?.();
  return result.kind === 'error' ? result.code : result;
}

/** Appends one partition's batches; synchronous up to the durability wait, so offsets follow request order. */
function producePartition(
  ctx: RequestContext,
  topic: string,
  index: number,
  records: Uint8Array | null,
  acks: number,
  deferred: Promise<unknown>[],
): Promise<PartitionOut> {
  const { broker } = ctx;
  const partition = partitionOf(ctx, topic, index);
  if (isKafkaError(partition)) return Promise.resolve({ index, errorCode: partition });
  const rules = broker.topicConfigs.produceRules(topic, broker.options.batchBytesMax);
  // The zstd compressor loads the first time a topic needs it; the requests that wait for it resume
  // in the order they came, so their offsets still follow request order.
  const loading = rules.compression === 'zstd' ? zstdReady() : undefined;
  if (loading !== undefined) {
    const resumed = loading.then(() => producePartition(ctx, topic, index, records, acks, deferred));
    deferred.push(loading);
    return resumed;
  }
  // One node holds the one replica: acks=all cannot meet a larger min.insync.replicas.
  if (acks === -1 && rules.minInsyncReplicas > 1)
    return Promise.resolve({ index, errorCode: KafkaError.notEnoughReplicas });
  return appendPartition(ctx, topic, partition, rules, index, records, deferred);
}

/**
 * Appends the batches of one partition and answers once they are durable. Its own function, so that
 * nothing waiting for durability keeps the request's bytes alive: they are storage's until written,
 * and a 1 MB buffer that outlives the fdatasync is more often promoted and left to a full collection.
 */
function appendPartition(
  ctx: RequestContext,
  topic: string,
  partition: StreamPartition,
  rules: ProduceRules,
  index: number,
  records: Uint8Array | null,
  deferred: Promise<unknown>[],
): Promise<PartitionOut> {
  const now = Date.now();
  const batches = parseBatches(rules, records, now);
  if (isKafkaError(batches)) return Promise.resolve({ index, errorCode: batches });
  if (!Array.isArray(batches)) return Promise.resolve({ index, ...batches });
  return appendBatches(ctx, topic, partition, rules, batches, now, deferred);
}

/**
 * Appends the batches from `from` on. A transactional batch whose partitions are not yet durably in
 * its transaction resumes once they are (the ones behind it of the same producer wait alike, in
 * order): only that batch's offset then comes later than the requests after it.
 */
function appendBatches(
  ctx: RequestContext,
  topic: string,
  partition: StreamPartition,
  rules: ProduceRules,
  batches: readonly Batch[],
  now: number,
  deferred: Promise<unknown>[],
  from = 0,
  given: Waits = undefined,
  firstOffset = -1,
): Promise<PartitionOut> {
  const { index } = partition;
  let baseOffset = firstOffset;
  let waits = given;
  try {
    for (let i = from; i < batches.length; i++) {
      const appended = appendBatch(ctx, topic, partition, rules, batches[i]!, now);
      if (isKafkaError(appended)) return Promise.resolve({ index, errorCode: appended });
      if (appended.kind === 'wait') {
        const until =
          appended.transition === true ? readyWithin(appended.until, transitionWaitMs) : appended.until;
        deferred.push(until);
        const resume = { ctx, topic, partition, rules, batches, now, deferred, from: i, waits, baseOffset };
        return resumeAfter(until, resume);
      }
      if (baseOffset < 0) baseOffset = appended.offset;
      if (appended.durable !== undefined) waits = withWait(waits, appended.durable);
    }
  } catch (err) {
    return Promise.resolve({ index, errorCode: kafkaErrorOf(err) });
  }
  const answer: PartitionOut = {
    index,
    errorCode: KafkaError.none,
    baseOffset: BigInt(baseOffset),
    logAppendTimeMs: rules.logAppendTime ? BigInt(now) : -1n,
    logStartOffset: BigInt(partition.startOffset),
  };
  return whenDurable(ctx, topic, index, waits, answer);
}

/**
 * The durability waits of a partition's appends: none, the usual one on its own, or several in an
 * array (an array and `Promise.all` for every produce were garbage the usual request does not need).
 */
type Waits = Promise<unknown> | Promise<unknown>[] | undefined;

function withWait(waits: Waits, durable: Promise<unknown>): Waits {
  if (waits === undefined) return durable;
  if (!Array.isArray(waits)) return [waits, durable];
  waits.push(durable);
  return waits;
}

/** Where `appendBatches` goes on once a transactional batch may be appended. */
interface Resume {
  readonly ctx: RequestContext;
  readonly topic: string;
  readonly partition: StreamPartition;
  readonly rules: ProduceRules;
  readonly batches: readonly Batch[];
  readonly now: number;
  readonly deferred: Promise<unknown>[];
  readonly from: number;
  readonly waits: Waits;
  readonly baseOffset: number;
}

/**
 * `appendBatches` from `r.from` on once `until` settles. Its own function: a closure made in
 * `appendBatches` itself would cost every append a context, waiting or not.
 */
function resumeAfter(until: Promise<void>, r: Resume): Promise<PartitionOut> {
  const { ctx, topic, partition, rules, batches, now, deferred, from, waits, baseOffset } = r;
  return until.then(
    () => appendBatches(ctx, topic, partition, rules, batches, now, deferred, from, waits, baseOffset),
    (err: unknown) => ({
      index: partition.index,
      errorCode: err === transitionPending ? KafkaError.concurrentTransactions : kafkaErrorOf(err),
    }),
  );
}

/** Why `readyWithin` gave up; told apart from core's errors by identity. */
const transitionPending = new Error('the transactional id has an InitProducerId or ending being written');

/** Settles with `until`, or rejects as CONCURRENT_TRANSACTIONS once `ms` have passed without it. */
function readyWithin(until: Promise<void>, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(transitionPending), ms);
    until.then(
      () => {
        clearTimeout(timer);
        resolve();
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

/** `answer` once every append in `waits` is durable, or the error a failed one means. */
function whenDurable(
  ctx: RequestContext,
  topic: string,
  index: number,
  waits: Waits,
  answer: PartitionOut,
): Promise<PartitionOut> {
  // One append is the usual request: its own promise, without Promise.all's array and closures.
  const all = waits === undefined ? Promise.resolve() : Array.isArray(waits) ? Promise.all(waits) : waits;
  return all.then(
    () => answer,
    (err: unknown) => {
      // The log closed under the append: the topic was deleted meanwhile (or the broker is stopping).
      // Kafka answers a produce to a topic being deleted with UNKNOWN_TOPIC_OR_PARTITION; no disk failed.
      if (isBrokerError(err, ErrorCode.invalidState))
        return { index, errorCode: KafkaError.unknownTopicOrPartition };
      ctx.broker.logger.error({ err, topic, partition: index }, 'kafka: append failed');
      return { index, errorCode: KafkaError.kafkaStorageError };
    },
  );
}

/**
 * Settles once every promise in `list` has, including those pushed meanwhile: a resumed append
 * runs before this sees its promise settle (it was chained first) and may push the next wait.
 */
async function settledAll(list: Promise<unknown>[]): Promise<void> {
  for (let i = 0; i < list.length; i++) await list[i]!.catch(() => undefined);
}

const attributesOffset = 21;

/** Whether the records open with a batch of a transaction (v2, attributes bit 4). */
function isTransactional(records: Uint8Array | null): boolean {
  if (records === null || records.length < batchHeaderBytes || records[magicOffset] !== 2) return false;
  return ((records[attributesOffset + 1] ?? 0) & BatchAttribute.transactional) !== 0;
}

/** Whether any partition's records open with a transactional batch; loops, not closures made per request. */
function anyTransactional(request: ProduceRequest): boolean {
  for (const topic of request.topicData)
    for (const partition of topic.partitionData) if (isTransactional(partition.records)) return true;
  return false;
}

/** The refusal the whole request or one topic gets before anything is appended, if any. */
function refusalOf(ctx: RequestContext, request: ProduceRequest): KafkaError | undefined {
  if (!anyTransactional(request)) return undefined;
  const id = request.transactionalId;
  return id !== null && allowed(ctx, 'TRANSACTIONAL_ID', id, 'WRITE')
    ? undefined
    : KafkaError.transactionalIdAuthorizationFailed;
}

/** One partition's answer to come, or its refusal: `refused` applies to the whole topic. */
function partitionAnswer(
  ctx: RequestContext,
  topic: string,
  refused: KafkaError | undefined,
  acks: number,
  data: ProduceRequest['topicData'][number]['partitionData'][number],
  deferred: Promise<unknown>[],
): Promise<PartitionOut> {
  if (refused !== undefined) return Promise.resolve({ index: data.index, errorCode: refused });
  if (acks !== 0 && acks !== 1 && acks !== -1)
    return Promise.resolve({ index: data.index, errorCode: KafkaError.invalidRequiredAcks });
  return producePartition(ctx, topic, data.index, data.records, acks, deferred);
}

/** The whole request's refusal (`refusalOf`), else the topic's: WRITE on it. */
function topicRefusal(
  ctx: RequestContext,
  refusal: KafkaError | undefined,
  topic: string,
): KafkaError | undefined {
  return refusal ?? (allowed(ctx, 'TOPIC', topic, 'WRITE') ? undefined : KafkaError.topicAuthorizationFailed);
}

/**
 * Whether the request is answered (acks=0 gets no response at all: kafkajs, librdkafka and
 * kafka-python expect none); work resumed later keeps the request's buffer from being reused.
 */
function answered(ctx: RequestContext, acks: number, deferred: readonly Promise<unknown>[]): boolean {
  if (deferred.length > 0) ctx.frame?.keep();
  return acks !== 0;
}

/** Settles once what resumed later has (the next request of its transactional id waits for it). */
function appliedOf(deferred: Promise<unknown>[]): Promise<void> | undefined {
  return deferred.length > 0 ? settledAll(deferred) : undefined;
}

/** One topic and one partition, the usual request: no per-topic arrays, no Promise.all. */
function produceOne(ctx: RequestContext, request: ProduceRequest): Later | null {
  const { acks } = request;
  const topic = request.topicData[0]!;
  // What resumes later (a transactional batch waiting for its partitions, a codec loading).
  const deferred: Promise<unknown>[] = [];
  const refused = topicRefusal(ctx, refusalOf(ctx, request), topic.name);
  const answer = partitionAnswer(ctx, topic.name, refused, acks, topic.partitionData[0]!, deferred);
  if (!answered(ctx, acks, deferred)) return null;
  return new Later(answer, appliedOf(deferred), oneTopicResponse, topic.name);
}

/** The response of one topic's one partition (`Later.shape`): no promise of its own to make it. */
function oneTopicResponse(partition: object, name: string): KafkaInput<ProduceResponse> {
  return { responses: [{ name, partitionResponses: [partition as PartitionOut] }] };
}

export const produceHandler: ApiHandler = {
  apiKey: ApiKey.Produce,
  versionMin: 0,
  versionMax: 12,
  handle(ctx: RequestContext, request: ProduceRequest): Later | null | KafkaInput<ProduceResponse> {
    if (request.topicData.length === 1 && request.topicData[0]!.partitionData.length === 1)
      return produceOne(ctx, request);
    const refusal = refusalOf(ctx, request);
    const deferred: Promise<unknown>[] = [];
    const topics = request.topicData.map((topic) => {
      const refused = topicRefusal(ctx, refusal, topic.name);
      return {
        name: topic.name,
        partitions: topic.partitionData.map((p) =>
          partitionAnswer(ctx, topic.name, refused, request.acks, p, deferred),
        ),
      };
    });
    if (!answered(ctx, request.acks, deferred)) return null;
    const response = Promise.all(
      topics.map(async (t) => ({ name: t.name, partitionResponses: await Promise.all(t.partitions) })),
    ).then((responses): KafkaInput<ProduceResponse> => ({ responses }));
    return new Later(response, appliedOf(deferred));
  },
};
