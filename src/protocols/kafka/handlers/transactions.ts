/**
 * Transactions (KIP-98, KIP-447) over core's transactional producers: AddPartitionsToTxn 0–3,
 * AddOffsetsToTxn 0–4, EndTxn 0–5, TxnOffsetCommit 0–5, DescribeTransactions 0, ListTransactions 0–1,
 * DescribeProducers 0 (InitProducerId with a transactional id is in ./admin.ts). Core keeps the state
 * durably and writes the markers; this file maps Kafka's requests and error codes onto it.
 * Transaction version 2 (KIP-890 part 2; `transaction.version` finalized at 2 in ApiVersions,
 * KIP-1022) is what a client speaks with EndTxn 5 and TxnOffsetCommit 5: every end bumps the epoch
 * (the answer names the next producer id and epoch), and TxnOffsetCommit adds its group itself, as
 * Produce 12 adds its partition (./produce.ts). AddPartitionsToTxn 4 and 5 are Kafka's
 * broker-to-coordinator form, not served: here the partition leader and the coordinator are one
 * process and the add is a call. Older clients (kafkajs, librdkafka 2.x) use the versions before and
 * the first flow, unchanged. As Kafka checks them: WRITE on the
 * transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED), WRITE on each topic added, READ on the
 * group whose offsets are committed and on their topics, DESCRIBE to see a transaction or a producer.
 */
import type { TxnInstance, TxnResult, TxnSummary } from '../../../core/api.js';
import { allowed } from '../acls.js';
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

export const addPartitionsToTxnHandler: ApiHandler = {
  apiKey: ApiKey.AddPartitionsToTxn,
  versionMin: 0,
  versionMax: 3,
  handle(ctx: RequestContext, request: AddPartitionsToTxnRequest): Later {
    const topics = request.v3AndBelowTopics;
    const txn = instance(
      request.v3AndBelowTransactionalId,
      request.v3AndBelowProducerId,
      request.v3AndBelowProducerEpoch,
    );
    // Kafka refuses the whole request for one refused or unknown partition and marks the rest as
    // not attempted; an id the client may not WRITE refuses every partition.
    const txnRefused = !allowed(ctx, 'TRANSACTIONAL_ID', request.v3AndBelowTransactionalId, 'WRITE');
    const unknown = new Map<string, KafkaError>();
    for (const t of topics) {
      const writable = allowed(ctx, 'TOPIC', t.name, 'WRITE');
      for (const p of t.partitions) {
        if (txnRefused) unknown.set(`${t.name}/${p}`, KafkaError.transactionalIdAuthorizationFailed);
        else if (!writable) unknown.set(`${t.name}/${p}`, KafkaError.topicAuthorizationFailed);
        else if (isKafkaError(partitionOf(ctx, t.name, p)))
          unknown.set(`${t.name}/${p}`, KafkaError.unknownTopicOrPartition);
      }
    }
    let code: Promise<KafkaError> = Promise.resolve(KafkaError.none);
    if (txn === undefined) code = Promise.resolve(KafkaError.invalidProducerIdMapping);
    else if (unknown.size === 0) {
      const refs = topics.flatMap((t) => t.partitions.map((partition) => ({ stream: t.name, partition })));
      code = settle(() => ctx.client.addToTransaction(txn, refs), ctx.apiVersion);
    }
    const answer = code.then((settled) => {
      const codeFor = (topic: string, p: number) =>
        unknown.size === 0 ? settled : (unknown.get(`${topic}/${p}`) ?? KafkaError.operationNotAttempted);
      return {
        resultsByTopicV3AndBelow: topics.map((t) => ({
          name: t.name,
          resultsByPartition: t.partitions.map((p) => ({
            partitionIndex: p,
            partitionErrorCode: codeFor(t.name, p),
          })),
        })),
      };
    });
    return new Later(answer);
  },
};

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
        transactionStartTimeMs: summary.phase === 'empty' ? -1n : BigInt(Math.trunc(summary.startedAt)),
        producerId: BigInt(summary.producerId),
        producerEpoch: summary.epoch,
        topics: topicsOf(summary),
      };
    });
    return { transactionStates };
  },
};

export const listTransactionsHandler: ApiHandler = {
  apiKey: ApiKey.ListTransactions,
  versionMin: 0,
  versionMax: 1,
  handle(ctx: RequestContext, request: ListTransactionsRequest) {
    const known = new Set(Object.values(stateNames));
    const states = new Set(request.stateFilters);
    const producers = new Set(request.producerIdFilters.map(Number));
    // v1 (KIP-994): only transactions open longer than this.
    const longerThanMs = ctx.apiVersion >= 1 ? Number(request.durationFilter) : -1;
    const now = Date.now();
    const transactionStates = ctx.client
      .listTransactions()
      .filter((s) => states.size === 0 || states.has(stateNames[s.phase]))
      .filter((s) => producers.size === 0 || producers.has(s.producerId))
      .filter((s) => longerThanMs < 0 || (s.phase === 'ongoing' && now - s.startedAt > longerThanMs))
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
          lastTimestamp: -1n,
          coordinatorEpoch: 0,
          currentTxnStartOffset: BigInt(p.transactionStartOffset),
        }));
        return { partitionIndex: index, errorCode: KafkaError.none, errorMessage: null, activeProducers };
      }),
    }));
    return { topics };
  },
};
