/**
 * The instance before of a transactional id while a new instance's InitProducerId is being answered
 * (zombie fencing, KIP-98), on the raw wire: the new instance's InitProducerId goes out on its own
 * connection, its epoch's writes held on a slowed disk, and meanwhile the old instance's AddPartitionsToTxn,
 * AddOffsetsToTxn, TxnOffsetCommit, EndTxn and Produce go out on another. Kafka's coordinator has a
 * transition pending then (TransactionCoordinator.prepareInitProducerIdTransit): the old epoch
 * still matches, so each is CONCURRENT_TRANSACTIONS, and PRODUCER_FENCED once the new epoch is
 * written; a transaction open when the InitProducerId came is fenced and aborted first. What a
 * read_committed reader sees afterwards is checked with Fetch, as a consumer reads it. Then a Produce v12
 * while an EndTxn's markers are slow to be written, held for transitionWaitMs at most. Last, kafkajs
 * as the old instance: a real client's offsets and commit refused, never applied.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ApiKey,
  BatchAttribute,
  decodeRecords,
  encodeRecordBatch,
  readBatchHeader,
  splitBatches,
} from '../../../src/protocols/kafka/codec/index.js';
import { KafkaError } from '../../../src/protocols/kafka/errors.js';
import { inTempFolder } from '../../../testing/crash-stall.js';
import { FaultyIo } from '../../../testing/faulty-io.js';
import { kafkaClient, sleep, startKafkaOnDisk, until } from '../../../testing/kafka-helpers.js';
import { fetchPartitionZeroRequest, WireClient } from '../../../testing/kafka-wire.js';

// biome-ignore lint/suspicious/noExplicitAny: decoded test responses
type Obj = any;

interface Instance {
  readonly transactionalId: string;
  readonly producerId: bigint;
  readonly producerEpoch: number;
}

/** kafkajs retries CONCURRENT_TRANSACTIONS past the InitProducerId in flight (its default gives up sooner). */
const kafkajsRetry = { retries: 12, initialRetryTime: 100, maxRetryTime: 1000 };
/** How long each write to a slowed log takes: the InitProducerId in flight is held that long. */
const slowMs = 2000;
/** Time for the broker to take up a request sent on another connection. */
const takenUpMs = 400;
/** The batches of one Fetch read back, at most. */
const batchesMax = 1000;

async function createTopic(c: WireClient, name: string): Promise<void> {
  await c.request(ApiKey.CreateTopics, 4, {
    topics: [{ name, numPartitions: 1, replicationFactor: 1 }],
    timeoutMs: 5000,
  });
}

function initBody(transactionalId: string): object {
  return { transactionalId, transactionTimeoutMs: 60_000 };
}

async function init(c: WireClient, transactionalId: string): Promise<Instance> {
  const r = await c.request<Obj>(ApiKey.InitProducerId, 2, initBody(transactionalId));
  assert.equal(r.errorCode, KafkaError.none);
  return { transactionalId, producerId: r.producerId, producerEpoch: r.producerEpoch };
}

async function addPartition(c: WireClient, p: Instance, topic: string): Promise<number> {
  const r = await c.request<Obj>(ApiKey.AddPartitionsToTxn, 3, {
    v3AndBelowTransactionalId: p.transactionalId,
    v3AndBelowProducerId: p.producerId,
    v3AndBelowProducerEpoch: p.producerEpoch,
    v3AndBelowTopics: [{ name: topic, partitions: [0] }],
  });
  return r.resultsByTopicV3AndBelow[0].resultsByPartition[0].partitionErrorCode;
}

async function addOffsets(c: WireClient, p: Instance, group: string): Promise<number> {
  const { transactionalId, producerId, producerEpoch } = p;
  const r = await c.request<Obj>(ApiKey.AddOffsetsToTxn, 3, {
    transactionalId,
    producerId,
    producerEpoch,
    groupId: group,
  });
  return r.errorCode;
}

/** TxnOffsetCommit of offset 1 of partition 0 of `topic` (v5 adds the group itself); its error code. */
async function commitOffset(
  c: WireClient,
  version: number,
  p: Instance,
  group: string,
  topic: string,
): Promise<number> {
  const { transactionalId, producerId, producerEpoch } = p;
  const r = await c.request<Obj>(ApiKey.TxnOffsetCommit, version, {
    transactionalId,
    groupId: group,
    producerId,
    producerEpoch,
    topics: [{ name: topic, partitions: [{ partitionIndex: 0, committedOffset: 1n }] }],
  });
  return r.topics[0].partitions[0].errorCode;
}

async function endTxn(c: WireClient, version: number, p: Instance, committed: boolean): Promise<Obj> {
  const { transactionalId, producerId, producerEpoch } = p;
  return c.request<Obj>(ApiKey.EndTxn, version, { transactionalId, producerId, producerEpoch, committed });
}

/** One transactional record; Produce v12 adds its partition itself (KIP-890 part 2). Its error code. */
async function produce(
  c: WireClient,
  version: number,
  p: Instance,
  topic: string,
  value: string,
  baseSequence = 0,
): Promise<number> {
  const records = encodeRecordBatch({
    baseTimestamp: BigInt(Date.now()),
    attributes: BatchAttribute.transactional,
    producerId: p.producerId,
    producerEpoch: p.producerEpoch,
    baseSequence,
    records: [{ value: new TextEncoder().encode(value) }],
  });
  const r = await c.request<Obj>(ApiKey.Produce, version, {
    transactionalId: p.transactionalId,
    acks: -1,
    timeoutMs: 5000,
    topicData: [{ name: topic, partitionData: [{ index: 0, records }] }],
  });
  return r.responses[0].partitionResponses[0].errorCode;
}

/** The group's committed offset of partition 0 of `topic`, -1 when none. */
async function groupOffset(c: WireClient, group: string, topic: string): Promise<bigint> {
  const r = await c.request<Obj>(ApiKey.OffsetFetch, 1, {
    groupId: group,
    topics: [{ name: topic, partitionIndexes: [0] }],
  });
  return r.topics[0].partitions[0].committedOffset;
}

/**
 * What a read_committed consumer reads of partition 0, as Kafka's clients read it: records up to the
 * last stable offset, leaving out those of each aborted transaction (from its first offset, for its
 * producer, to its abort marker) and control batches. With the last stable offset and the high watermark.
 */
async function readCommitted(
  c: WireClient,
  topic: string,
): Promise<{ values: string[]; stable: bigint; high: bigint }> {
  const r = await c.request<Obj>(ApiKey.Fetch, 11, fetchPartitionZeroRequest(topic, 0n, 1));
  const part = r.responses[0].partitions[0];
  const aborted: Array<{ producerId: bigint; firstOffset: bigint }> = [...(part.abortedTransactions ?? [])];
  aborted.sort((a, b) => (a.firstOffset < b.firstOffset ? -1 : 1));
  const skipping = new Set<bigint>();
  const values: string[] = [];
  const records: Uint8Array = part.records ?? new Uint8Array();
  for (const { offset } of splitBatches(records, batchesMax).batches) {
    const header = readBatchHeader(records, offset);
    while (aborted[0] !== undefined && aborted[0].firstOffset <= header.baseOffset)
      skipping.add(aborted.shift()!.producerId);
    if ((header.attributes & BatchAttribute.control) !== 0) {
      skipping.delete(header.producerId);
      continue;
    }
    if ((header.attributes & BatchAttribute.transactional) !== 0 && skipping.has(header.producerId)) continue;
    for (const record of decodeRecords(records, offset))
      values.push(new TextDecoder().decode(record.value ?? undefined));
  }
  return { values, stable: part.lastStableOffset, high: part.highWatermark };
}

/** Sends the new instance's InitProducerId on `c` and waits until the broker is answering it. */
async function initInFlight(c: WireClient, transactionalId: string): Promise<void> {
  c.send(ApiKey.InitProducerId, 2, initBody(transactionalId));
  await sleep(takenUpMs);
}

async function initAnswer(c: WireClient): Promise<Obj> {
  return (await c.receive<Obj>(ApiKey.InitProducerId, 2, slowMs * 10)).body;
}

/** A broker on a disk whose writes `io` may slow, and two connections: the old instance's and the new one's. */
function onSlowDisk(
  prefix: string,
  run: (io: FaultyIo, old: WireClient, fresh: WireClient, port: number) => Promise<void>,
): Promise<void> {
  return inTempFolder(prefix, async (dataDir) => {
    const io = new FaultyIo();
    io.slowMs = slowMs;
    const tb = await startKafkaOnDisk(dataDir, io);
    const old = await WireClient.open(tb.port('kafka'));
    const fresh = await WireClient.open(tb.port('kafka'));
    try {
      await run(io, old, fresh, tb.port('kafka'));
    } finally {
      io.slow.clear();
      old.close();
      fresh.close();
      await tb.stop();
    }
  });
}

function instanceOf(transactionalId: string, answer: Obj): Instance {
  return { transactionalId, producerId: answer.producerId, producerEpoch: answer.producerEpoch };
}

/** read_committed reads exactly `values`, nothing is left open, and the group got no offset. */
async function onlyCommitted(c: WireClient, topic: string, values: string[], group: string): Promise<void> {
  const read = await readCommitted(c, topic);
  assert.deepEqual(read.values, values);
  assert.equal(read.stable, read.high, 'no transaction left open on the partition');
  assert.equal(await groupOffset(c, group, topic), -1n);
}

/** Transaction version 1, the last transaction committed: the old instance asks to go on while the new one is written. */
async function nothingOpenV1(io: FaultyIo, old: WireClient, fresh: WireClient): Promise<void> {
  await createTopic(old, 'zombie1');
  const p = await init(old, 'zombie1');
  assert.equal(await addPartition(old, p, 'zombie1'), KafkaError.none);
  assert.equal(await produce(old, 9, p, 'zombie1', 'first'), KafkaError.none);
  assert.equal((await endTxn(old, 3, p, true)).errorCode, KafkaError.none);
  // The producer registry's log: the new epoch is durable there only after `slowMs`.
  io.slow.add('producers.');
  await initInFlight(fresh, 'zombie1');
  const during = [
    await addPartition(old, p, 'zombie1'),
    await addOffsets(old, p, 'zombie1-group'),
    await commitOffset(old, 3, p, 'zombie1-group', 'zombie1'),
    (await endTxn(old, 3, p, true)).errorCode,
  ];
  const c = KafkaError.concurrentTransactions;
  assert.deepEqual(during, [c, c, c, c], 'AddPartitions, AddOffsets, TxnOffsetCommit, EndTxn');
  const next = await initAnswer(fresh);
  io.slow.clear();
  assert.deepEqual([next.errorCode, next.producerEpoch], [KafkaError.none, p.producerEpoch + 1]);
  const f = KafkaError.producerFenced;
  const afterwards = [await addPartition(old, p, 'zombie1'), (await endTxn(old, 3, p, true)).errorCode];
  assert.deepEqual(afterwards, [f, f], 'AddPartitions, EndTxn');
  const q = instanceOf('zombie1', next);
  assert.equal(await addPartition(fresh, q, 'zombie1'), KafkaError.none);
  assert.equal(await produce(fresh, 9, q, 'zombie1', 'second'), KafkaError.none);
  assert.equal((await endTxn(fresh, 3, q, true)).errorCode, KafkaError.none);
  await onlyCommitted(fresh, 'zombie1', ['first', 'second'], 'zombie1-group');
}

/** Transaction version 2: the old instance ends, retries and produces while the new one is written. */
async function nothingOpenV2(io: FaultyIo, old: WireClient, fresh: WireClient): Promise<void> {
  await createTopic(old, 'zombie2');
  const first = await init(old, 'zombie2');
  assert.equal(await produce(old, 12, first, 'zombie2', 'first'), KafkaError.none);
  const ended = await endTxn(old, 5, first, true);
  assert.equal(ended.errorCode, KafkaError.none);
  const p = instanceOf('zombie2', ended);
  io.slow.add('producers.');
  await initInFlight(fresh, 'zombie2');
  const c = KafkaError.concurrentTransactions;
  // Before, the abort handed the old instance the epoch the InitProducerId was writing.
  assert.equal((await endTxn(old, 5, p, false)).errorCode, c, 'EndTxn v5 abort');
  assert.equal((await endTxn(old, 5, first, true)).errorCode, c, 'EndTxn v5 commit retried');
  assert.equal(await commitOffset(old, 5, p, 'zombie2-group', 'zombie2'), c, 'TxnOffsetCommit v5');
  // Held while the new epoch is written, for transitionWaitMs at most, then CONCURRENT_TRANSACTIONS
  // as Kafka's leader answers a batch whose verification finds a transition pending: nothing of it
  // reaches the partition, and its retry once the epoch is written is refused.
  assert.equal(await produce(old, 12, p, 'zombie2', 'zombie'), c, 'Produce v12 while the write stalls');
  assert.equal(fresh.framesWaiting, 0, 'answered before the InitProducerId, whose write stalls');
  const next = await initAnswer(fresh);
  io.slow.clear();
  assert.equal(await produce(old, 12, p, 'zombie2', 'zombie'), KafkaError.invalidProducerEpoch);
  assert.deepEqual([next.errorCode, next.producerEpoch], [KafkaError.none, p.producerEpoch + 1]);
  assert.equal((await endTxn(old, 5, p, false)).errorCode, KafkaError.producerFenced);
  const q = instanceOf('zombie2', next);
  assert.equal(await produce(fresh, 12, q, 'zombie2', 'second'), KafkaError.none);
  assert.equal((await endTxn(fresh, 5, q, true)).errorCode, KafkaError.none);
  await onlyCommitted(fresh, 'zombie2', ['first', 'second'], 'zombie2-group');
}

/**
 * Transaction version 2, an EndTxn in flight whose markers are slow to be written (a commit with
 * offsets is answered once they are durable and the offsets committed): a Produce v12 of the epoch
 * being ended waits for the ending for transitionWaitMs at most, then is CONCURRENT_TRANSACTIONS with
 * nothing of it written, as Kafka's leader answers while the coordinator completes the transaction;
 * once the ending is answered the same batch is a stale epoch, and read_committed reads the
 * transaction once.
 */
async function endingSlow(io: FaultyIo, old: WireClient, other: WireClient): Promise<void> {
  await createTopic(old, 'zombie5');
  const p = await init(old, 'zombie5');
  assert.equal(await produce(old, 12, p, 'zombie5', 'first'), KafkaError.none);
  assert.equal(await commitOffset(old, 5, p, 'zombie5-group', 'zombie5'), KafkaError.none);
  // Time for the batch's own write to reach the disk before the partition's log is slowed.
  await sleep(takenUpMs);
  io.slow.add('zombie5');
  const { transactionalId, producerId, producerEpoch } = p;
  old.send(ApiKey.EndTxn, 5, { transactionalId, producerId, producerEpoch, committed: true });
  await sleep(takenUpMs);
  const c = KafkaError.concurrentTransactions;
  assert.equal(
    await produce(other, 12, p, 'zombie5', 'zombie', 1),
    c,
    'Produce v12 while the markers are written',
  );
  assert.equal(old.framesWaiting, 0, 'answered before the EndTxn, whose markers are slow');
  const ended = (await old.receive<Obj>(ApiKey.EndTxn, 5, slowMs * 10)).body;
  io.slow.clear();
  assert.deepEqual([ended.errorCode, ended.producerEpoch], [KafkaError.none, p.producerEpoch + 1]);
  assert.equal(await produce(other, 12, p, 'zombie5', 'zombie', 1), KafkaError.invalidProducerEpoch);
  const read = await readCommitted(old, 'zombie5');
  assert.deepEqual(read.values, ['first']);
  assert.equal(read.stable, read.high, 'no transaction left open on the partition');
  assert.equal(await groupOffset(old, 'zombie5-group', 'zombie5'), 1n);
}

/** A transaction open: the InitProducerId fences and aborts it while the old instance goes on. */
async function transactionOpen(io: FaultyIo, old: WireClient, fresh: WireClient): Promise<void> {
  await createTopic(old, 'zombie3');
  const p = await init(old, 'zombie3');
  assert.equal(await addPartition(old, p, 'zombie3'), KafkaError.none);
  assert.equal(await addOffsets(old, p, 'zombie3-group'), KafkaError.none);
  assert.equal(await produce(old, 9, p, 'zombie3', 'zombie-1'), KafkaError.none);
  // The transaction log: the fencing abort's decision is durable only after `slowMs`.
  io.slow.add('transactions.');
  const fenced = await fresh.request<Obj>(ApiKey.InitProducerId, 2, initBody('zombie3'));
  assert.equal(fenced.errorCode, KafkaError.concurrentTransactions);
  const during = [
    await produce(old, 9, p, 'zombie3', 'zombie-2', 1),
    await commitOffset(old, 3, p, 'zombie3-group', 'zombie3'),
    (await endTxn(old, 3, p, true)).errorCode,
  ];
  const f = KafkaError.producerFenced;
  assert.deepEqual(during, [KafkaError.invalidProducerEpoch, f, f], 'Produce, TxnOffsetCommit, EndTxn');
  io.slow.clear();
  let next: Obj;
  const retried = async () => {
    next = await fresh.request<Obj>(ApiKey.InitProducerId, 2, initBody('zombie3'));
    return next.errorCode !== KafkaError.concurrentTransactions;
  };
  await until(retried, slowMs * 5, 'the abort written');
  assert.deepEqual([next.errorCode, next.producerEpoch], [KafkaError.none, p.producerEpoch + 2]);
  assert.equal(await produce(old, 9, p, 'zombie3', 'zombie-3', 1), KafkaError.invalidProducerEpoch);
  const q = instanceOf('zombie3', next);
  assert.equal(await addPartition(fresh, q, 'zombie3'), KafkaError.none);
  assert.equal(await produce(fresh, 9, q, 'zombie3', 'fresh'), KafkaError.none);
  assert.equal((await endTxn(fresh, 3, q, true)).errorCode, KafkaError.none);
  await onlyCommitted(fresh, 'zombie3', ['fresh'], 'zombie3-group');
}

/**
 * kafkajs as the old instance, consuming and producing exactly once: its next transaction's offsets
 * (AddOffsetsToTxn) meet CONCURRENT_TRANSACTIONS, which kafkajs hands to the application, so the
 * group never gets its offset and the new instance's commit is the only one read_committed reads
 * after the first. Before, the offsets were added and committed by the old instance.
 */
async function kafkajsZombie(io: FaultyIo, _old: WireClient, fresh: WireClient, port: number): Promise<void> {
  const kafka = kafkaClient(`127.0.0.1:${port}`, 'zombie', kafkajsRetry);
  const options = { transactionalId: 'zombie4', maxInFlightRequests: 1, idempotent: true };
  const first = kafka.producer(options);
  const second = kafka.producer(options);
  try {
    await fresh.request(ApiKey.CreateTopics, 4, {
      topics: [{ name: 'zombie4', numPartitions: 1, replicationFactor: 1 }],
      timeoutMs: 5000,
    });
    await first.connect();
    const committed = await first.transaction();
    await committed.send({ topic: 'zombie4', messages: [{ value: 'first' }] });
    await committed.commit();
    await second.connect();
    io.slow.add('producers.');
    // kafkajs asks for its producer id with its first transaction.
    const starting = second.transaction();
    await sleep(takenUpMs);
    const zombie = await first.transaction();
    const offsets = { topic: 'zombie4', partitions: [{ partition: 0, offset: '1' }] };
    // kafkajs passes CONCURRENT_TRANSACTIONS on from AddOffsetsToTxn, or fenced if it came to retry.
    await assert.rejects(
      zombie.sendOffsets({ consumerGroupId: 'zombie4-group', topics: [offsets] }),
      (err: Obj) => /CONCURRENT_TRANSACTIONS|PRODUCER_FENCED|INVALID_PRODUCER_EPOCH/.test(`${err.type}`),
    );
    const txn = await starting;
    io.slow.clear();
    // kafkajs sends no EndTxn for a transaction that added nothing.
    await zombie.abort().catch(() => undefined);
    await txn.send({ topic: 'zombie4', messages: [{ value: 'second' }] });
    await txn.commit();
    await onlyCommitted(fresh, 'zombie4', ['first', 'second'], 'zombie4-group');
  } finally {
    await Promise.all([
      first.disconnect().catch(() => undefined),
      second.disconnect().catch(() => undefined),
    ]);
  }
}

describe('kafka zombie fencing: the instance before while InitProducerId is answered (raw wire, a slowed disk)', () => {
  test('transaction version 1, nothing open: AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit and EndTxn are CONCURRENT_TRANSACTIONS, then PRODUCER_FENCED; read_committed reads every commit', () =>
    onSlowDisk('switchyard-txn-zombie-v1-', nothingOpenV1));

  test('transaction version 2, nothing open: EndTxn v5, TxnOffsetCommit v5 and Produce v12 (after transitionWaitMs) are CONCURRENT_TRANSACTIONS, its retry a stale epoch; no two instances share an epoch', () =>
    onSlowDisk('switchyard-txn-zombie-v2-', nothingOpenV2));

  test('transaction version 2, an EndTxn whose markers are slow: a Produce v12 of its epoch is CONCURRENT_TRANSACTIONS after transitionWaitMs, then a stale epoch; read_committed reads the commit once', () =>
    onSlowDisk('switchyard-txn-ending-slow-', endingSlow));

  test('a transaction open: fenced and aborted; the old Produce is a stale epoch, its TxnOffsetCommit and EndTxn commit PRODUCER_FENCED; read_committed never reads its records', () =>
    onSlowDisk('switchyard-txn-zombie-open-', transactionOpen));

  test('kafkajs: the offsets of the old producer are CONCURRENT_TRANSACTIONS, and the group never gets them', () =>
    onSlowDisk('switchyard-txn-zombie-kafkajs-', kafkajsZombie));
});
