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
import { inTempFolder } from '../../../testing/crash-stall.js';
import { FaultyIo } from '../../../testing/faulty-io.js';
import {
  type KafkaTestBroker,
  startKafkaBroker,
  startKafkaOnDisk,
  until,
} from '../../../testing/kafka-helpers.js';
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

/** One record, stamped `baseTimestamp`, and a second `deltaMs` later when `deltaMs` is given. */
interface Stamped {
  readonly baseSequence?: number;
  readonly baseTimestamp?: number;
  readonly deltaMs?: number;
}

async function produceTxn(
  c: WireClient,
  p: Instance,
  topic: string,
  value: string,
  { baseSequence = 0, baseTimestamp = Date.now(), deltaMs }: Stamped = {},
): Promise<void> {
  const record = (timestampDelta: number) => ({
    timestampDelta: BigInt(timestampDelta),
    value: new TextEncoder().encode(value),
  });
  const records = encodeRecordBatch({
    baseTimestamp: BigInt(baseTimestamp),
    attributes: BatchAttribute.transactional,
    producerId: p.producerId,
    producerEpoch: p.producerEpoch,
    baseSequence,
    records: deltaMs === undefined ? [record(0)] : [record(0), record(deltaMs)],
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

  test('InitProducerId while a transaction is open: CONCURRENT_TRANSACTIONS while it is fenced and aborted, then the epoch bumped again', async () => {
    const p = await init(c, 'edge-reinit');
    assert.equal(await addPartition(c, 3, p, 'edge'), KafkaError.none);
    const reinit = () =>
      c.request<Obj>(ApiKey.InitProducerId, 2, {
        transactionalId: 'edge-reinit',
        transactionTimeoutMs: 60_000,
      });
    assert.equal((await reinit()).errorCode, KafkaError.concurrentTransactions);
    // The instance before is fenced from the decision on.
    assert.equal((await endTxn(c, 3, p, true)).errorCode, KafkaError.producerFenced);
    let again: Obj;
    await until(
      async () => {
        again = await reinit();
        return again.errorCode !== KafkaError.concurrentTransactions;
      },
      10_000,
      'the abort written',
    );
    assert.deepEqual([again.errorCode, again.producerEpoch], [KafkaError.none, p.producerEpoch + 2]);
    const shown = await describeTxn(c, 'edge-reinit');
    assert.deepEqual([shown.transactionState, shown.producerEpoch], ['Empty', p.producerEpoch + 2]);
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

  test('DescribeProducers: the last batch or marker gives LastTimestamp, a marker CoordinatorEpoch 0 and, at another epoch, no sequence', async () => {
    await createTopic(c, 'edge-producers');
    const p = await init(c, 'edge-producers');
    const shown = () => describeProducer(c, 'edge-producers', p.producerId);
    assert.equal(await addPartition(c, 3, p, 'edge-producers'), KafkaError.none);
    const stamp = 1_700_000_000_000;
    await produceTxn(c, p, 'edge-producers', 'one', { baseTimestamp: stamp, deltaMs: 250 });
    assert.deepEqual(await shown(), {
      producerEpoch: p.producerEpoch,
      lastSequence: 1,
      lastTimestamp: BigInt(stamp + 250),
      coordinatorEpoch: -1,
      currentTxnStartOffset: 0n,
    });
    // The marker (transaction version 1: the same epoch) keeps the sequence and stamps its own time.
    const before = Date.now();
    assert.equal((await endTxn(c, 3, p, true)).errorCode, KafkaError.none);
    const marked = await shown();
    assert.deepEqual([marked.lastSequence, marked.coordinatorEpoch], [1, 0]);
    assert.ok(marked.lastTimestamp >= BigInt(before) && marked.lastTimestamp <= BigInt(Date.now()));
    assert.equal(marked.currentTxnStartOffset, -1n);
    // The next batch is the last again; the coordinator epoch stays.
    assert.equal(await addPartition(c, 3, p, 'edge-producers'), KafkaError.none);
    await produceTxn(c, p, 'edge-producers', 'two', { baseSequence: 2, baseTimestamp: stamp + 1000 });
    assert.deepEqual(await shown(), {
      producerEpoch: p.producerEpoch,
      lastSequence: 2,
      lastTimestamp: BigInt(stamp + 1000),
      coordinatorEpoch: 0,
      currentTxnStartOffset: 3n,
    });
    // Version 2: the marker is Kafka's at the bumped epoch, which leaves no sequence.
    const ended = await endTxn(c, 5, p, false);
    assert.equal(ended.errorCode, KafkaError.none);
    const bumped = await shown();
    assert.deepEqual(
      [bumped.producerEpoch, bumped.lastSequence, bumped.coordinatorEpoch, bumped.currentTxnStartOffset],
      [ended.producerEpoch, -1, 0, -1n],
    );
    assert.ok(bumped.lastTimestamp >= BigInt(before));
  });
});

/** DescribeProducers' entry for one producer on partition 0 of `topic`, its fields as Kafka names them. */
async function describeProducer(c: WireClient, topic: string, producerId: bigint): Promise<Obj> {
  const r = await c.request<Obj>(ApiKey.DescribeProducers, 0, {
    topics: [{ name: topic, partitionIndexes: [0] }],
  });
  const partition = r.topics[0].partitions[0];
  assert.equal(partition.errorCode, KafkaError.none);
  const found = partition.activeProducers.find((a: Obj) => a.producerId === producerId);
  assert.ok(found !== undefined, `producer ${producerId} listed`);
  const { producerEpoch, lastSequence, lastTimestamp, coordinatorEpoch, currentTxnStartOffset } = found;
  return { producerEpoch, lastSequence, lastTimestamp, coordinatorEpoch, currentTxnStartOffset };
}

describe('kafka DescribeProducers after a restart (file storage)', () => {
  test('the same producers, sequences, epochs, timestamps and coordinator epochs, read back from the logs', () =>
    inTempFolder('switchyard-describe-producers-', async (dataDir) => {
      const stamp = 1_700_000_000_000;
      let kb = await startKafkaBroker({ storage: 'file', dataDir });
      let c = await WireClient.open(kb.port);
      const seen: Obj[] = [];
      try {
        await createTopic(c, 'producers-kept');
        const marked = await init(c, 'kept-marked');
        assert.equal(await addPartition(c, 3, marked, 'producers-kept'), KafkaError.none);
        await produceTxn(c, marked, 'producers-kept', 'a', { baseTimestamp: stamp, deltaMs: 5 });
        assert.equal((await endTxn(c, 5, marked, true)).errorCode, KafkaError.none);
        const open = await init(c, 'kept-open');
        assert.equal(await addPartition(c, 3, open, 'producers-kept'), KafkaError.none);
        await produceTxn(c, open, 'producers-kept', 'b', { baseTimestamp: stamp + 9 });
        for (const p of [marked, open]) seen.push(await describeProducer(c, 'producers-kept', p.producerId));
        assert.deepEqual(
          seen.map((s) => [s.producerEpoch, s.lastSequence, s.coordinatorEpoch]),
          [
            [marked.producerEpoch + 1, -1, 0],
            [open.producerEpoch, 0, -1],
          ],
        );
        assert.equal(seen[1].lastTimestamp, BigInt(stamp + 9));
        c.close();
        await kb.stop();
        kb = await startKafkaBroker({ storage: 'file', dataDir });
        c = await WireClient.open(kb.port);
        // A clean stop keeps the open transaction open: its start offset too.
        const again = [];
        for (const p of [marked, open]) again.push(await describeProducer(c, 'producers-kept', p.producerId));
        assert.deepEqual(again, seen);
      } finally {
        c.close();
        await kb.stop();
      }
    }));
});

describe('kafka transaction requests while an ending writes its markers (a slow disk)', () => {
  /** The part of the path of the vhost's transaction log: its writes are slowed while listed. */
  const txnLog = 'transactions.';

  test('EndTxn again, AddPartitionsToTxn, AddOffsetsToTxn and InitProducerId get CONCURRENT_TRANSACTIONS until the end is answered; then the same end again is NONE', () =>
    inTempFolder('switchyard-txn-concurrent-', async (dataDir) => {
      const io = new FaultyIo();
      io.slowMs = 300;
      const tb = await startKafkaOnDisk(dataDir, io);
      const a = await WireClient.open(tb.port('kafka'));
      const b = await WireClient.open(tb.port('kafka'));
      try {
        await createTopic(a, 'slow-end');
        for (const version of [3, 5]) {
          const id = `slow-end-v${version}`;
          const p = await init(a, id);
          assert.equal(await addPartition(a, 3, p, 'slow-end'), KafkaError.none);
          await produceTxn(a, p, 'slow-end', 'x');
          io.slow.add(txnLog);
          const ending = endTxn(a, version, p, true);
          await until(
            async () => (await describeTxn(b, id)).transactionState === 'PrepareCommit',
            10_000,
            'the decision applied',
          );
          const during = await concurrentAnswers(b, version, p);
          io.slow.delete(txnLog);
          assert.ok(
            during.every((code) => code === KafkaError.concurrentTransactions),
            `v${version}: ${during}`,
          );
          const ended = await ending;
          assert.equal(ended.errorCode, KafkaError.none);
          // The markers are written once the end is answered: the same end again is done.
          const again = await endTxn(b, version, p, true);
          assert.deepEqual(
            [again.errorCode, again.producerEpoch],
            [KafkaError.none, version >= 5 ? ended.producerEpoch : again.producerEpoch],
          );
          assert.equal((await describeTxn(b, id)).transactionState, 'CompleteCommit');
        }
      } finally {
        io.slow.clear();
        a.close();
        b.close();
        await tb.stop();
      }
    }));
});

/**
 * What another connection is told while `p`'s end is being written: EndTxn either way, InitProducerId
 * and, before version 5 (where the decision already holds the bumped epoch, and the instance before is
 * fenced), AddPartitionsToTxn and AddOffsetsToTxn.
 */
async function concurrentAnswers(c: WireClient, version: number, p: Instance): Promise<number[]> {
  const codes = [
    (await endTxn(c, version, p, true)).errorCode,
    (await endTxn(c, version, p, false)).errorCode,
  ];
  const reinit = await c.request<Obj>(ApiKey.InitProducerId, 2, {
    transactionalId: p.transactionalId,
    transactionTimeoutMs: 60_000,
  });
  codes.push(reinit.errorCode);
  if (version >= 5) return codes;
  codes.push(await addPartition(c, 3, p, 'slow-end'));
  const { transactionalId, producerId, producerEpoch } = p;
  const offsets = await c.request<Obj>(ApiKey.AddOffsetsToTxn, 3, {
    transactionalId,
    producerId,
    producerEpoch,
    groupId: 'slow-end-group',
  });
  codes.push(offsets.errorCode);
  return codes;
}
