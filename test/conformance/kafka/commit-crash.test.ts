/**
 * A reader sees records once they are appended, before they are durable, so an offset a client then
 * stores can pass records a crash cuts off; the next records produced, and confirmed, after the
 * restart take those offsets. A group resuming at a committed offset past them never reads them, and
 * a log start (DeleteRecords) past them hides them. A child broker stalls the partition's log, a record
 * is produced (never answered), fetched by another connection, and its end committed or made the start;
 * SIGKILL; a broker on the same folder takes a record `fresh`, which must lie at or past what was
 * stored. Before the fix both requests were answered at once, and `fresh` went to offset 0 under a
 * committed offset (or a start) of 1.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiKey, encodeRecordBatch } from '../../../src/protocols/kafka/codec/index.js';
import { inTempFolder, settlesWithin, startStalledChild } from '../../../testing/crash-stall.js';
import { startKafkaBroker } from '../../../testing/kafka-helpers.js';
import { fetchPartitionZeroRequest, WireClient } from '../../../testing/kafka-wire.js';

const topic = 'commit-crash';
const group = 'commit-crash-group';
/** How long the test waits for a commit that must not be answered while its records are not stored. */
const answerWaitMs = 1_500;
const utf8 = new TextEncoder();
// biome-ignore lint/suspicious/noExplicitAny: decoded responses
type Obj = any;

function produceBody(value: string): object {
  const records = encodeRecordBatch({
    baseTimestamp: BigInt(Date.now()),
    records: [{ value: utf8.encode(value) }],
  });
  return { acks: -1, timeoutMs: 5000, topicData: [{ name: topic, partitionData: [{ index: 0, records }] }] };
}

async function fetchEnd(wire: WireClient): Promise<bigint> {
  const body = await wire.request<Obj>(ApiKey.Fetch, 11, fetchPartitionZeroRequest(topic, 0n, 0));
  const partition = body.responses[0].partitions[0];
  assert.ok(partition.records.length > 0, 'the record is served before it is stored');
  return partition.highWatermark;
}

function commitBody(offset: bigint): object {
  return {
    groupId: group,
    generationIdOrMemberEpoch: -1,
    memberId: '',
    groupInstanceId: null,
    topics: [
      {
        name: topic,
        partitions: [
          { partitionIndex: 0, committedOffset: offset, committedLeaderEpoch: -1, committedMetadata: null },
        ],
      },
    ],
  };
}

function deleteBody(offset: bigint): object {
  return { topics: [{ name: topic, partitions: [{ partitionIndex: 0, offset }] }], timeoutMs: 1000 };
}

/** Stores the fetched `end` over `wire`: resolves once answered. */
type Store = (wire: WireClient, end: bigint) => Promise<unknown>;
const commitEnd: Store = (wire, end) => wire.request(ApiKey.OffsetCommit, 8, commitBody(end));
const deleteBelowEnd: Store = (wire, end) => wire.request(ApiKey.DeleteRecords, 2, deleteBody(end));

/** A transactional producer (KIP-890 part 2) commits `end` for the group with its transaction. */
const commitEndInTransaction: Store = async (wire, end) => {
  const init = await wire.request<Obj>(ApiKey.InitProducerId, 2, {
    transactionalId: 'commit-crash-txn',
    transactionTimeoutMs: 60_000,
  });
  assert.equal(init.errorCode, 0);
  const { producerId, producerEpoch } = init;
  const ids = { transactionalId: 'commit-crash-txn', producerId, producerEpoch };
  const offsets = await wire.request<Obj>(ApiKey.TxnOffsetCommit, 5, {
    ...ids,
    groupId: group,
    generationId: -1,
    memberId: '',
    groupInstanceId: null,
    topics: [
      { name: topic, partitions: [{ partitionIndex: 0, committedOffset: end, committedMetadata: '' }] },
    ],
  });
  assert.equal(offsets.topics[0].partitions[0].errorCode, 0);
  const ended = await wire.request<Obj>(ApiKey.EndTxn, 5, { ...ids, committed: true });
  assert.equal(ended.errorCode, 0);
};

/** In a child broker: the partition stalled, a record produced and read, its end stored; SIGKILL. */
async function storeWhileStalled(dataDir: string, store: Store): Promise<boolean> {
  const child = await startStalledChild(dataDir, 'kafka');
  try {
    const producer = await WireClient.open(child.port);
    await producer.request(ApiKey.Metadata, 12, { topics: [{ name: topic }], allowAutoTopicCreation: true });
    await child.stall('/logs/s.');
    producer.send(ApiKey.Produce, 7, produceBody('lost')); // never answered: its write never lands
    const consumer = await WireClient.open(child.port);
    const end = await fetchEnd(consumer);
    const answered = await settlesWithin(store(consumer, end), answerWaitMs);
    await child.kill();
    producer.close();
    consumer.close();
    return answered;
  } finally {
    await child.kill();
  }
}

/** A broker on `dataDir` again: `fresh` produced; its offset and `stored` (what the crash left stored). */
async function freshAfterRestart(
  dataDir: string,
  stored: (wire: WireClient) => Promise<bigint>,
): Promise<{ fresh: bigint; stored: bigint }> {
  const broker = await startKafkaBroker({ storage: 'file', dataDir });
  try {
    const wire = await WireClient.open(broker.port);
    const produced = await wire.request<Obj>(ApiKey.Produce, 7, produceBody('fresh'));
    const answer = produced.responses[0].partitionResponses[0];
    assert.equal(answer.errorCode, 0);
    const result = { fresh: answer.baseOffset as bigint, stored: await stored(wire) };
    wire.close();
    return result;
  } finally {
    await broker.stop();
  }
}

async function committedOffset(wire: WireClient): Promise<bigint> {
  const fetched = await wire.request<Obj>(ApiKey.OffsetFetch, 7, {
    groupId: group,
    topics: [{ name: topic, partitionIndexes: [0] }],
    requireStable: false,
  });
  return fetched.topics[0].partitions[0].committedOffset;
}

async function earliestOffset(wire: WireClient): Promise<bigint> {
  const listed = await wire.request<Obj>(ApiKey.ListOffsets, 2, {
    replicaId: -1,
    topics: [{ name: topic, partitions: [{ partitionIndex: 0, timestamp: -2n }] }],
  });
  return listed.topics[0].partitions[0].offset;
}

test('a committed offset never passes records a crash cut off: the next record produced is read', async () => {
  await inTempFolder('switchyard-commit-crash-', async (dataDir) => {
    const answered = await storeWhileStalled(dataDir, commitEnd);
    const { fresh, stored } = await freshAfterRestart(dataDir, committedOffset);
    assert.ok(stored <= fresh, `committed ${stored}, fresh at ${fresh}`);
    assert.equal(answered, false, 'the commit is not answered while the records it passes are not stored');
  });
});

test('a log start never passes records a crash cut off: the next record produced is readable', async () => {
  await inTempFolder('switchyard-delete-crash-', async (dataDir) => {
    const answered = await storeWhileStalled(dataDir, deleteBelowEnd);
    const { fresh, stored } = await freshAfterRestart(dataDir, earliestOffset);
    assert.ok(stored <= fresh, `log start ${stored}, fresh at ${fresh}`);
    assert.equal(answered, false, 'DeleteRecords is not answered while the records it passes are not stored');
  });
});

test('offsets committed by a transaction never pass records a crash cut off', async () => {
  await inTempFolder('switchyard-txn-commit-crash-', async (dataDir) => {
    const answered = await storeWhileStalled(dataDir, commitEndInTransaction);
    const { fresh, stored } = await freshAfterRestart(dataDir, committedOffset);
    assert.ok(stored <= fresh, `committed ${stored}, fresh at ${fresh}`);
    assert.equal(
      answered,
      false,
      'the transaction is not done while the records its offsets pass are not stored',
    );
  });
});
