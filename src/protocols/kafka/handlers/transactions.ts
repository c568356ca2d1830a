/**
 * Transactions (KIP-98, KIP-447) over core's transactional producers: AddPartitionsToTxn 0–5,
 * AddOffsetsToTxn 0–4, EndTxn 0–5, TxnOffsetCommit 0–5, DescribeTransactions 0, ListTransactions 0–2,
 * DescribeProducers 0 (InitProducerId with a transactional id is in ./admin.ts). Core keeps the state
 * durably and writes the markers; this file maps Kafka's requests and error codes onto it.
 * Transaction version 2 (KIP-890 part 2; `transaction.version` finalized at 2 in ApiVersions,
 * KIP-1022) is what a client speaks with EndTxn 5 and TxnOffsetCommit 5: every end bumps the epoch
 * (the answer names the next producer id and epoch), and TxnOffsetCommit adds its group itself, as
 * Produce 12 adds its partition (./produce.ts). AddPartitionsToTxn 4 and 5 are Kafka's
 * broker-to-coordinator form (KIP-890 part 1: several transactions, VerifyOnly), served for a
 * partition leader elsewhere; this broker's own leader and coordinator are one process and never
 * send it. Older clients (kafkajs, librdkafka 2.x) use the versions before and
 * the first flow, unchanged. As Kafka checks them: WRITE on the
 * transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED), WRITE on each topic added (AddPartitionsToTxn
 * 4–5: CLUSTER_ACTION on the cluster instead, CLUSTER_AUTHORIZATION_FAILED), READ on the
 * group whose offsets are committed and on their topics, DESCRIBE to see a transaction or a producer.
 */
import type { TxnInstance, TxnResult, TxnSummary } from '../../../core/api.js';
import { allowed } from '../acls.js';
import { clusterResource } from '../authorized-operations.js';
import {
  type AddOffsetsToTxnRequest,
  type AddPartitionsToTxnRequest,
  ApiKey,
  type DescribeProducersRequest,
  type DescribeTransactionsRequest,
  type EndTxnRequest,
  type ListTransactionsRequest,
  type TxnOffsetCommitRequest,
} from '../codec/index.js';
import { type ApiHandler, Later, type RequestContext } from '../context.js';
import { KafkaError, kafkaErrorOf, txnErrorOf } from '../errors.js';
import { TopicRegex, TopicRegexError } from '../topic-regex.js';
import { isKafkaError, partitionOf } from '../topics.js';

/** Kafka's names of transaction states (TransactionState), as DescribeTransactions shows them. */
const stateNames: Readonly<Record<TxnSummary['phase'], string>> = {
  empty: 'Empty',
  ongoing: 'Ongoing',
  prepareCommit: 'PrepareCommit',
  prepareAbort: 'PrepareAbort',
  completeCommit: 'CompleteCommit',
  completeAbort: 'CompleteAbort',
};

/** An answer of only an error code, once `code` is known. */
function later(code: Promise<KafkaError>): Later {
  return new Later(code.then((errorCode) => ({ errorCode })));
}

function codeOf(result: TxnResult, version: number): KafkaError {
  return result.kind === 'ok' ? KafkaError.none : txnErrorOf(result.reason, 2, version);
}

/** Core's ids are safe integers; a larger one was never handed out. */
function instance(transactionalId: string, producerId: bigint, epoch: number): TxnInstance | undefined {
  if (producerId < 0n || producerId > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
  return { transactionalId, producerId: Number(producerId), epoch };
}

/**
 * Core applies a transaction request at once and resolves once its log holds it durably; the answer
 * waits for that, the connection does not (../txn-order.ts keeps one id's requests in order).
 */
function settle(run: () => Promise<TxnResult>, version: number): Promise<KafkaError> {
  try {
    return run().then(
      (result) => codeOf(result, version),
      (err: unknown) => kafkaErrorOf(err),
    );
  } catch (err) {
    return Promise.resolve(kafkaErrorOf(err));
  }
}

/** From this version AddPartitionsToTxn is Kafka's broker-to-coordinator form (KIP-890 part 1). */
const addPartitionsBatchedVersion = 4;
/** From this version a verification answers TRANSACTION_ABORTABLE for a partition not in the transaction. */
const transactionAbortableVersion = 5;

type TxnTopics = AddPartitionsToTxnRequest['v3AndBelowTopics'];
type BatchedTxn = AddPartitionsToTxnRequest['transactions'][number];
/** A partition's answer: one code for a whole transaction, or one per partition. */
type CodeFor = (topic: string, partition: number) => KafkaError;

export const addPartitionsToTxnHandler: ApiHandler = {
  apiKey: ApiKey.AddPartitionsToTxn,
  versionMin: 0,
  versionMax: 5,
  handle(ctx: RequestContext, request: AddPartitionsToTxnRequest): Later {
    if (ctx.apiVersion >= addPartitionsBatchedVersion) return new Later(addBatched(ctx, request));
    const transactionalId = request.v3AndBelowTransactionalId;
    const topics = request.v3AndBelowTopics;
    const txn = instance(transactionalId, request.v3AndBelowProducerId, request.v3AndBelowProducerEpoch);
    // A client needs WRITE on the transactional id, then on each topic it adds.
    const txnRefused = !allowed(ctx, 'TRANSACTIONAL_ID', transactionalId, 'WRITE');
    const refused = txnRefused
      ? refuseAll(topics, KafkaError.transactionalIdAuthorizationFailed)
      : partitionRefusals(ctx, topics, true);
    const answer = addOrRefuse(ctx, txn, topics, refused).then((codeFor) => ({
      resultsByTopicV3AndBelow: topicResults(topics, codeFor),
    }));
    return new Later(answer);
  },
};

/**
 * Kafka refuses a transaction's whole request for one refused or unknown partition and marks the rest
 * OPERATION_NOT_ATTEMPTED (KafkaApis.handleAddPartitionsToTxnRequest); otherwise every partition is
 * answered with the add's one result.
 */
async function addOrRefuse(
  ctx: RequestContext,
  txn: TxnInstance | undefined,
  topics: TxnTopics,
  refused: Map<string, KafkaError>,
): Promise<CodeFor> {
  if (refused.size > 0) return (topic, p) => refused.get(`${topic}/${p}`) ?? KafkaError.operationNotAttempted;
  if (txn === undefined) return () => KafkaError.invalidProducerIdMapping;
  const refs = topics.flatMap((t) => t.partitions.map((partition) => ({ stream: t.name, partition })));
  const code = await settle(() => ctx.client.addToTransaction(txn, refs), ctx.apiVersion);
  return () => code;
}

function refuseAll(topics: TxnTopics, code: KafkaError): Map<string, KafkaError> {
  return new Map(
    topics.flatMap((t) => t.partitions.map((p): [string, KafkaError] => [`${t.name}/${p}`, code])),
  );
}

/** Partitions refused by topic (WRITE, checked for clients only) or not existing, by `topic/partition`. */
function partitionRefusals(
  ctx: RequestContext,
  topics: TxnTopics,
  checkWrite: boolean,
): Map<string, KafkaError> {
  const refused = new Map<string, KafkaError>();
  for (const t of topics) {
    const writable = !checkWrite || allowed(ctx, 'TOPIC', t.name, 'WRITE');
    for (const p of t.partitions) {
      if (!writable) refused.set(`${t.name}/${p}`, KafkaError.topicAuthorizationFailed);
      else if (isKafkaError(partitionOf(ctx, t.name, p)))
        refused.set(`${t.name}/${p}`, KafkaError.unknownTopicOrPartition);
    }
  }
  return refused;
}

function topicResults(topics: TxnTopics, codeFor: CodeFor) {
  return topics.map((t) => ({
    name: t.name,
    resultsByPartition: t.partitions.map((p) => ({
      partitionIndex: p,
      partitionErrorCode: codeFor(t.name, p),
    })),
  }));
}

/**
 * v4–5, what a partition leader sends the coordinator (KIP-890 part 1): several transactions, each
 * added or only verified, each answered on its own. Only brokers send it, so Kafka asks CLUSTER_ACTION
 * on the cluster instead of WRITE on ids and topics, and refuses the whole request with a top-level
 * CLUSTER_AUTHORIZATION_FAILED (AddPartitionsToTxnRequest.getErrorResponse from version 4).
 */
async function addBatched(ctx: RequestContext, request: AddPartitionsToTxnRequest) {
  if (!allowed(ctx, 'CLUSTER', clusterResource, 'CLUSTER_ACTION'))
    return { errorCode: KafkaError.clusterAuthorizationFailed, resultsByTransaction: [] };
  const resultsByTransaction = await Promise.all(
    request.transactions.map(async (t) => ({
      transactionalId: t.transactionalId,
      topicResults: topicResults(t.topics, await batchedCodes(ctx, t)),
    })),
  );
  return { errorCode: KafkaError.none, resultsByTransaction };
}

function batchedCodes(ctx: RequestContext, t: BatchedTxn): Promise<CodeFor> {
  // Kafka's coordinator answers INVALID_REQUEST for an empty transactional id.
  if (t.transactionalId === '') return Promise.resolve(() => KafkaError.invalidRequest);
  const refused = partitionRefusals(ctx, t.topics, false);
  if (refused.size > 0 || !t.verifyOnly) {
    const txn = instance(t.transactionalId, t.producerId, t.producerEpoch);
    return addOrRefuse(ctx, txn, t.topics, refused);
  }
  return Promise.resolve(verified(ctx, t));
}

/**
 * VerifyOnly: whether each partition is in the transaction, nothing added (Kafka's
 * TransactionCoordinator.handleVerifyPartitionsInTransaction): an unknown id or another producer id
 * is INVALID_PRODUCER_ID_MAPPING, another epoch PRODUCER_FENCED, a transaction ending
 * CONCURRENT_TRANSACTIONS, each for every partition; else NONE for a partition in the transaction and,
 * for one outside it, TRANSACTION_ABORTABLE from v5, INVALID_TXN_STATE before (v5 brought that code).
 */
function verified(ctx: RequestContext, t: BatchedTxn): CodeFor {
  const summary = ctx.client.describeTransaction(t.transactionalId);
  if (summary === undefined || BigInt(summary.producerId) !== t.producerId)
    return () => KafkaError.invalidProducerIdMapping;
  if (summary.epoch !== t.producerEpoch) return () => KafkaError.producerFenced;
  if (summary.phase === 'prepareCommit' || summary.phase === 'prepareAbort')
    return () => KafkaError.concurrentTransactions;
  const held = new Set(summary.partitions.map((p) => `${p.stream}/${p.partition}`));
  const outside =
    ctx.apiVersion >= transactionAbortableVersion
      ? KafkaError.transactionAbortable
      : KafkaError.invalidTxnState;
  return (topic, p) => (held.has(`${topic}/${p}`) ? KafkaError.none : outside);
}

export const addOffsetsToTxnHandler: ApiHandler = {
  apiKey: ApiKey.AddOffsetsToTxn,
  versionMin: 0,
  versionMax: 4,
  handle(ctx: RequestContext, request: AddOffsetsToTxnRequest) {
    if (!allowed(ctx, 'TRANSACTIONAL_ID', request.transactionalId, 'WRITE'))
      return { errorCode: KafkaError.transactionalIdAuthorizationFailed };
    if (!allowed(ctx, 'GROUP', request.groupId, 'READ'))
      return { errorCode: KafkaError.groupAuthorizationFailed };
    const txn = instance(request.transactionalId, request.producerId, request.producerEpoch);
    if (txn === undefined) return { errorCode: KafkaError.invalidProducerIdMapping };
    const run = () => ctx.client.addGroupToTransaction(txn, request.groupId);
    return later(settle(run, ctx.apiVersion));
  },
};

/** From this version on an end bumps the epoch (KIP-890 part 2), and TxnOffsetCommit adds its group. */
const endTxnBumpVersion = 5;
const txnOffsetCommitAddsGroupVersion = 5;

export const endTxnHandler: ApiHandler = {
  apiKey: ApiKey.EndTxn,
  versionMin: 0,
  versionMax: 5,
  handle(ctx: RequestContext, request: EndTxnRequest) {
    if (!allowed(ctx, 'TRANSACTIONAL_ID', request.transactionalId, 'WRITE'))
      return { errorCode: KafkaError.transactionalIdAuthorizationFailed };
    const txn = instance(request.transactionalId, request.producerId, request.producerEpoch);
    if (txn === undefined) return { errorCode: KafkaError.invalidProducerIdMapping };
    const bump = ctx.apiVersion >= endTxnBumpVersion;
    const ended = (async () => {
      try {
        const result = await ctx.client.endTransaction(txn, request.committed, bump);
        if (result.kind !== 'ok') return { errorCode: codeOf(result, ctx.apiVersion) };
        // v5: the instance the client goes on with (the defaults, -1, with an error).
        return {
          errorCode: KafkaError.none,
          producerId: BigInt(result.producerId),
          producerEpoch: result.epoch,
        };
      } catch (err) {
        return { errorCode: kafkaErrorOf(err) };
      }
    })();
    return new Later(ended);
  },
};

export const txnOffsetCommitHandler: ApiHandler = {
  apiKey: ApiKey.TxnOffsetCommit,
  versionMin: 0,
  versionMax: 5,
  handle(ctx: RequestContext, request: TxnOffsetCommitRequest): Later {
    const { broker, client } = ctx;
    const txn = instance(request.transactionalId, request.producerId, request.producerEpoch);
    const refusal = !allowed(ctx, 'TRANSACTIONAL_ID', request.transactionalId, 'WRITE')
      ? KafkaError.transactionalIdAuthorizationFailed
      : !allowed(ctx, 'GROUP', request.groupId, 'READ')
        ? KafkaError.groupAuthorizationFailed
        : undefined;
    // KIP-447 (v3+): a consumer's group metadata fences a zombie that lost its partitions.
    const member =
      refusal ??
      (ctx.apiVersion >= 3 && request.memberId !== ''
        ? broker.groups.checkCommit(
            request.groupId,
            request.memberId,
            request.generationId,
            request.groupInstanceId,
          )
        : KafkaError.none);
    const unknown = (topic: string, p: number) => isKafkaError(partitionOf(ctx, topic, p));
    const readable = (topic: string) => allowed(ctx, 'TOPIC', topic, 'READ');
    let code: Promise<KafkaError> = Promise.resolve(member);
    if (refusal === undefined && txn === undefined)
      code = Promise.resolve(KafkaError.invalidProducerIdMapping);
    else if (member === KafkaError.none && txn !== undefined) {
      const offsets = request.topics.flatMap((t) =>
        t.partitions
          .filter((p) => readable(t.name) && !unknown(t.name, p.partitionIndex))
          .map((p) => ({
            stream: t.name,
            partition: p.partitionIndex,
            offset: {
              offset: Number(p.committedOffset),
              metadata: p.committedMetadata ?? '',
              committedAt: Date.now(),
              ...(p.committedLeaderEpoch >= 0 ? { leaderEpoch: p.committedLeaderEpoch } : {}),
            },
          })),
      );
      const addGroup = ctx.apiVersion >= txnOffsetCommitAddsGroupVersion;
      const run = () => client.commitTransactionOffsets(txn, request.groupId, offsets, addGroup);
      code = settle(run, ctx.apiVersion);
    }
    const answer = code.then((settled) => ({
      topics: request.topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((p) => ({
          partitionIndex: p.partitionIndex,
          errorCode:
            settled === KafkaError.none && !readable(t.name)
              ? KafkaError.topicAuthorizationFailed
              : unknown(t.name, p.partitionIndex)
                ? KafkaError.unknownTopicOrPartition
                : settled,
        })),
      })),
    }));
    return new Later(answer);
  },
};

function topicsOf(summary: TxnSummary): Array<{ topic: string; partitions: number[] }> {
  const byTopic = new Map<string, number[]>();
  for (const { stream, partition } of summary.partitions) {
    const list = byTopic.get(stream) ?? [];
    list.push(partition);
    byTopic.set(stream, list);
  }
  return [...byTopic].map(([topic, partitions]) => ({ topic, partitions }));
}

/** Kafka's txnStartTimestamp: -1 in Empty, else when the open (or last) transaction began. */
function startTimeOf(summary: TxnSummary): number {
  return summary.phase === 'empty' ? -1 : Math.trunc(summary.startedAt);
}

export const describeTransactionsHandler: ApiHandler = {
  apiKey: ApiKey.DescribeTransactions,
  versionMin: 0,
  versionMax: 0,
  handle(ctx: RequestContext, request: DescribeTransactionsRequest) {
    const transactionStates = request.transactionalIds.map((transactionalId) => {
      if (!allowed(ctx, 'TRANSACTIONAL_ID', transactionalId, 'DESCRIBE'))
        return {
          transactionalId,
          errorCode: KafkaError.transactionalIdAuthorizationFailed,
          transactionState: '',
          topics: [],
        };
      const summary = ctx.client.describeTransaction(transactionalId);
      if (summary === undefined)
        return {
          transactionalId,
          errorCode: KafkaError.transactionalIdNotFound,
          transactionState: '',
          topics: [],
        };
      return {
        transactionalId,
        errorCode: KafkaError.none,
        transactionState: stateNames[summary.phase],
        transactionTimeoutMs: summary.timeoutMs,
        transactionStartTimeMs: BigInt(startTimeOf(summary)),
        producerId: BigInt(summary.producerId),
        producerEpoch: summary.epoch,
        topics: topicsOf(summary),
      };
    });
    return { transactionStates };
  },
};

/** From this version ListTransactions filters by a transactional id pattern (KIP-1152). */
const idPatternVersion = 2;

/**
 * KIP-1152's TransactionalIdPattern: RE2 syntax, as Kafka evaluates it with RE2/J, the whole id
 * matched (as topic patterns are, ../topic-regex.ts); null or empty filters nothing. Undefined when
 * no pattern filters, false when RE2 refuses it.
 */
function idPatternOf(ctx: RequestContext, request: ListTransactionsRequest): TopicRegex | false | undefined {
  const source = ctx.apiVersion >= idPatternVersion ? request.transactionalIdPattern : null;
  if (source === null || source === '') return undefined;
  try {
    return new TopicRegex(source);
  } catch (err) {
    if (err instanceof TopicRegexError) return false;
    throw err;
  }
}

export const listTransactionsHandler: ApiHandler = {
  apiKey: ApiKey.ListTransactions,
  versionMin: 0,
  versionMax: 2,
  handle(ctx: RequestContext, request: ListTransactionsRequest) {
    const pattern = idPatternOf(ctx, request);
    if (pattern === false)
      return {
        errorCode: KafkaError.invalidRegularExpression,
        unknownStateFilters: [],
        transactionStates: [],
      };
    // Kafka's TransactionState.fromName knows two states Switchyard never shows (PrepareEpochFence:
    // its fence is part of the decision; Dead: ids are not expired): filters by them match nothing.
    const known = new Set([...Object.values(stateNames), 'PrepareEpochFence', 'Dead']);
    const states = new Set(request.stateFilters);
    const producers = new Set(request.producerIdFilters.map(Number));
    // v1 (KIP-994): as Kafka's TransactionStateManager.listTransactionStates, every state whose
    // transaction started longer ago than this, an Empty one (start -1) always.
    const longerThanMs = ctx.apiVersion >= 1 ? Number(request.durationFilter) : -1;
    const now = Date.now();
    const transactionStates = ctx.client
      .listTransactions()
      .filter((s) => states.size === 0 || states.has(stateNames[s.phase]))
      .filter((s) => producers.size === 0 || producers.has(s.producerId))
      .filter((s) => longerThanMs < 0 || now - startTimeOf(s) > longerThanMs)
      .filter((s) => pattern === undefined || pattern.matches(s.transactionalId))
      .filter((s) => allowed(ctx, 'TRANSACTIONAL_ID', s.transactionalId, 'DESCRIBE'))
      .map((s) => ({
        transactionalId: s.transactionalId,
        producerId: BigInt(s.producerId),
        transactionState: stateNames[s.phase],
      }));
    return {
      errorCode: KafkaError.none,
      unknownStateFilters: request.stateFilters.filter((name) => !known.has(name)),
      transactionStates,
    };
  },
};

export const describeProducersHandler: ApiHandler = {
  apiKey: ApiKey.DescribeProducers,
  versionMin: 0,
  versionMax: 0,
  handle(ctx: RequestContext, request: DescribeProducersRequest) {
    const topics = request.topics.map((t) => ({
      name: t.name,
      partitions: t.partitionIndexes.map((index) => {
        if (!allowed(ctx, 'TOPIC', t.name, 'READ'))
          return {
            partitionIndex: index,
            errorCode: KafkaError.topicAuthorizationFailed,
            errorMessage: null,
            activeProducers: [],
          };
        const partition = partitionOf(ctx, t.name, index);
        if (isKafkaError(partition))
          return { partitionIndex: index, errorCode: partition, errorMessage: null, activeProducers: [] };
        const activeProducers = ctx.client.partitionProducers(t.name, index).map((p) => ({
          producerId: BigInt(p.producerId),
          producerEpoch: p.epoch,
          lastSequence: p.lastSequence,
          lastTimestamp: BigInt(p.lastTimestamp),
          coordinatorEpoch: p.coordinatorEpoch,
          currentTxnStartOffset: BigInt(p.transactionStartOffset),
        }));
        return { partitionIndex: index, errorCode: KafkaError.none, errorMessage: null, activeProducers };
      }),
    }));
    return { topics };
  },
};
