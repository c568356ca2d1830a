/**
 * Transaction edges as Apache Kafka 4.x's coordinator answers them (core/.../transaction/
 * TransactionCoordinator.scala, TransactionMetadata.scala, TransactionStateManager.scala), on the
 * raw wire: EndTxn on a transaction with nothing added (Empty) per EndTxn version, EndTxn twice in a
 * row, a transaction aborted on its timeout (the epoch fenced with the decision, then CompleteAbort
 * with the bumped epoch; EndTxn and AddPartitionsToTxn of the instance before fenced, or answered as
 * a retry by transaction version 2, KIP-890), ListTransactions' filters (KIP-994 DurationFilter,
 * KIP-1152 TransactionalIdPattern) and
 * DescribeProducers' CurrentTxnStartOffset.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ApiKey, BatchAttribute, encodeRecordBatch } from '../../../src/protocols/kafka/codec/index.js';
import { KafkaError } from '../../../src/protocols/kafka/errors.js';
import { type KafkaTestBroker, startKafkaBroker, until } from '../../../testing/kafka-helpers.js';
import { WireClient } from '../../../testing/kafka-wire.js';

// biome-ignore lint/suspicious/noExplicitAny: decoded test responses
type Obj = any;

interface Instance {
  readonly transactionalId: string;
  readonly producerId: bigint;
  readonly producerEpoch: number;
}

async function init(c: WireClient, transactionalId: string, timeoutMs = 60_000): Promise<Instance> {
  const r = await c.request<Obj>(ApiKey.InitProducerId, 2, {
    transactionalId,
    transactionTimeoutMs: timeoutMs,
  });
  assert.equal(r.errorCode, KafkaError.none);
  return { transactionalId, producerId: r.producerId, producerEpoch: r.producerEpoch };
}

async function endTxn(c: WireClient, version: number, p: Instance, committed: boolean): Promise<Obj> {
  const { transactionalId, producerId, producerEpoch } = p;
  return c.request<Obj>(ApiKey.EndTxn, version, { transactionalId, producerId, producerEpoch, committed });
}

/** AddPartitionsToTxn (v0–3 form) of partition 0 of `topic`; its error code. */
async function addPartition(c: WireClient, version: number, p: Instance, topic: string): Promise<number> {
  const r = await c.request<Obj>(ApiKey.AddPartitionsToTxn, version, {
    v3AndBelowTransactionalId: p.transactionalId,
    v3AndBelowProducerId: p.producerId,
    v3AndBelowProducerEpoch: p.producerEpoch,
    v3AndBelowTopics: [{ name: topic, partitions: [0] }],
  });
  return r.resultsByTopicV3AndBelow[0].resultsByPartition[0].partitionErrorCode;
}

async function produceTxn(c: WireClient, p: Instance, topic: string, value: string): Promise<void> {
  const records = encodeRecordBatch({
    baseTimestamp: BigInt(Date.now()),
    attributes: BatchAttribute.transactional,
    producerId: p.producerId,
    producerEpoch: p.producerEpoch,
    baseSequence: 0,
    records: [{ value: new TextEncoder().encode(value) }],
  });
  const r = await c.request<Obj>(ApiKey.Produce, 9, {
    transactionalId: p.transactionalId,
    acks: -1,
    timeoutMs: 5000,
    topicData: [{ name: topic, partitionData: [{ index: 0, records }] }],
  });
  assert.equal(r.responses[0].partitionResponses[0].errorCode, KafkaError.none);
}

async function describeTxn(c: WireClient, transactionalId: string): Promise<Obj> {
  const r = await c.request<Obj>(ApiKey.DescribeTransactions, 0, { transactionalIds: [transactionalId] });
  return r.transactionStates[0];
}

async function createTopic(c: WireClient, name: string): Promise<void> {
  await c.request(ApiKey.CreateTopics, 4, {
    topics: [{ name, numPartitions: 1, replicationFactor: 1 }],
    timeoutMs: 5000,
  });
}

describe('kafka transaction edges as Kafka 4.x answers them (raw wire)', () => {
  let kb: KafkaTestBroker;
  let c: WireClient;
  before(async () => {
    kb = await startKafkaBroker();
    c = await WireClient.open(kb.port);
    await createTopic(c, 'edge');
  });
  after(async () => {
    c.close();
    await kb.stop();
  });

  test('EndTxn with nothing added: INVALID_TXN_STATE before v5 either way; v5 commit refused, abort bumps the epoch', async () => {
    const p = await init(c, 'edge-empty');
    for (const version of [0, 3, 4])
      for (const committed of [true, false])
        assert.equal((await endTxn(c, version, p, committed)).errorCode, KafkaError.invalidTxnState);
    assert.equal((await describeTxn(c, 'edge-empty')).transactionState, 'Empty');
    assert.equal((await endTxn(c, 5, p, true)).errorCode, KafkaError.invalidTxnState);
    const aborted = await endTxn(c, 5, p, false);
    assert.equal(aborted.errorCode, KafkaError.none);
    assert.equal(aborted.producerEpoch, p.producerEpoch + 1);
    const shown = await describeTxn(c, 'edge-empty');
    assert.deepEqual([shown.transactionState, shown.producerEpoch], ['CompleteAbort', p.producerEpoch + 1]);
  });

  test('EndTxn twice in a row: the same end again is NONE, the other INVALID_TXN_STATE; v5 retries by the epoch before', async () => {
    const p = await init(c, 'edge-twice');
    assert.equal(await addPartition(c, 3, p, 'edge'), KafkaError.none);
    assert.equal((await endTxn(c, 3, p, true)).errorCode, KafkaError.none);
    assert.equal((await endTxn(c, 3, p, true)).errorCode, KafkaError.none);
    assert.equal((await endTxn(c, 3, p, false)).errorCode, KafkaError.invalidTxnState);

    const q = await init(c, 'edge-twice-v5');
    assert.equal(await addPartition(c, 3, q, 'edge'), KafkaError.none);
    const first = await endTxn(c, 5, q, true);
    assert.equal(first.errorCode, KafkaError.none);
    const retried = await endTxn(c, 5, q, true);
    assert.deepEqual([retried.errorCode, retried.producerEpoch], [KafkaError.none, first.producerEpoch]);
    assert.equal((await endTxn(c, 5, q, false)).errorCode, KafkaError.invalidTxnState);
    const next = { ...q, producerEpoch: first.producerEpoch as number };
    assert.equal((await endTxn(c, 5, next, true)).errorCode, KafkaError.invalidTxnState);
  });

  test('a timeout abort fences the epoch: CompleteAbort with the bumped epoch, the instance before fenced', async () => {
    const p = await init(c, 'edge-timeout', 1000);
    assert.equal(await addPartition(c, 3, p, 'edge'), KafkaError.none);
    assert.equal((await describeTxn(c, 'edge-timeout')).transactionState, 'Ongoing');
    let shown: Obj;
    await until(
      async () => {
        shown = await describeTxn(c, 'edge-timeout');
        return shown.transactionState === 'CompleteAbort';
      },
      10_000,
      'the broker aborting the transaction on its timeout',
    );
    assert.equal(shown.producerEpoch, p.producerEpoch + 1, 'the epoch Kafka fences with');
    assert.deepEqual(shown.topics, []);
    // Version 1 of EndTxn and AddPartitionsToTxn cannot read PRODUCER_FENCED (KafkaApis).
    assert.equal((await endTxn(c, 3, p, true)).errorCode, KafkaError.producerFenced);
    assert.equal((await endTxn(c, 3, p, false)).errorCode, KafkaError.producerFenced);
    assert.equal((await endTxn(c, 1, p, true)).errorCode, KafkaError.invalidProducerEpoch);
    assert.equal(await addPartition(c, 3, p, 'edge'), KafkaError.producerFenced);
    assert.equal(await addPartition(c, 1, p, 'edge'), KafkaError.invalidProducerEpoch);
    // Transaction version 2: the epoch before is a retry of the abort, answered with the bumped one.
    assert.equal((await endTxn(c, 5, p, true)).errorCode, KafkaError.invalidTxnState);
    const retried = await endTxn(c, 5, p, false);
    assert.deepEqual([retried.errorCode, retried.producerEpoch], [KafkaError.none, p.producerEpoch + 1]);
    // The bumped instance goes on.
    const fenced = { ...p, producerEpoch: p.producerEpoch + 1 };
    assert.equal(await addPartition(c, 3, fenced, 'edge'), KafkaError.none);
    assert.equal((await endTxn(c, 3, fenced, false)).errorCode, KafkaError.none);
  });

  test('ListTransactions filters states, producer ids, from v1 how long ago a transaction started, from v2 an id pattern', async () => {
    const open = await init(c, 'edge-list-open');
    assert.equal(await addPartition(c, 3, open, 'edge'), KafkaError.none);
    const empty = await init(c, 'edge-list-empty');
    const list = (version: number, filters: object) =>
      c.request<Obj>(ApiKey.ListTransactions, version, {
        stateFilters: [],
        producerIdFilters: [],
        durationFilter: -1n,
        transactionalIdPattern: null,
        ...filters,
      });
    const ids = (r: Obj) => r.transactionStates.map((s: Obj) => s.transactionalId).sort();
    // Kafka knows eight state names; PrepareEpochFence and Dead are never listed.
    const ongoing = await list(0, { stateFilters: ['Ongoing', 'Nope', 'PrepareEpochFence', 'Dead'] });
    assert.ok(ids(ongoing).includes('edge-list-open'));
    assert.ok(!ids(ongoing).includes('edge-list-empty'));
    assert.deepEqual(ongoing.unknownStateFilters, ['Nope']);
    const byId = await list(0, { producerIdFilters: [empty.producerId] });
    assert.deepEqual(ids(byId), ['edge-list-empty']);
    assert.equal(byId.transactionStates[0].transactionState, 'Empty');
    // Kafka compares now with txnStartTimestamp in every state; an Empty one's is -1, so it is listed.
    const hour = await list(1, { durationFilter: 3_600_000n });
    assert.ok(ids(hour).includes('edge-list-empty'));
    assert.ok(!ids(hour).includes('edge-list-open'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok(ids(await list(1, { durationFilter: 10n })).includes('edge-list-open'));
    // v2 (KIP-1152): an RE2 pattern matching the whole id; one RE2 refuses is INVALID_REGULAR_EXPRESSION.
    assert.deepEqual(ids(await list(2, { transactionalIdPattern: 'edge-list-.*' })), [
      'edge-list-empty',
      'edge-list-open',
    ]);
    assert.deepEqual(ids(await list(2, { transactionalIdPattern: 'edge-list' })), []);
    assert.ok(ids(await list(2, { transactionalIdPattern: '' })).includes('edge-empty'));
    const refused = await list(2, { transactionalIdPattern: '(a)\\1' });
    assert.deepEqual(
      [refused.errorCode, refused.transactionStates],
      [KafkaError.invalidRegularExpression, []],
    );
    assert.equal((await endTxn(c, 3, open, false)).errorCode, KafkaError.none);
  });

  test('DescribeProducers: CurrentTxnStartOffset is the open transaction’s first offset, -1 once it ended', async () => {
    await createTopic(c, 'edge-producers');
    const p = await init(c, 'edge-producers');
    const started = async () => {
      const r = await c.request<Obj>(ApiKey.DescribeProducers, 0, {
        topics: [{ name: 'edge-producers', partitionIndexes: [0] }],
      });
      const partition = r.topics[0].partitions[0];
      assert.equal(partition.errorCode, KafkaError.none);
      return partition.activeProducers.find((a: Obj) => a.producerId === p.producerId)?.currentTxnStartOffset;
    };
    assert.equal(await addPartition(c, 3, p, 'edge-producers'), KafkaError.none);
    await produceTxn(c, p, 'edge-producers', 'one');
    assert.equal(await started(), 0n);
    assert.equal((await endTxn(c, 3, p, true)).errorCode, KafkaError.none);
    assert.equal(await started(), -1n);
  });
});
