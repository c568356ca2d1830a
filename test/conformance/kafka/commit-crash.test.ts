/**
 * A consumer reads records once they are appended, before they are durable, so an offset it commits
 * can pass records a crash then cuts off. The next records produced, and confirmed, after the restart
 * would take those offsets, and the group, resuming at its committed offset, would never read them.
 * A child broker stalls the partition's log, a record is produced (never answered), fetched by
 * another connection and its next offset committed; SIGKILL; a broker on the same folder takes a
 * record `fresh`. The group's committed offset must not lie past it. Before the fix the commit was
 * answered at once, and `fresh` went to offset 0 under a committed offset of 1.
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

/** In a child broker: the partition stalled, a record produced, read, and its end committed; SIGKILL. */
async function commitWhileStalled(dataDir: string): Promise<boolean> {
  const child = await startStalledChild(dataDir, 'kafka');
  try {
    const producer = await WireClient.open(child.port);
    await producer.request(ApiKey.Metadata, 12, { topics: [{ name: topic }], allowAutoTopicCreation: true });
    await child.stall('/logs/s.');
    producer.send(ApiKey.Produce, 7, produceBody('lost')); // never answered: its write never lands
    const consumer = await WireClient.open(child.port);
    const end = await fetchEnd(consumer);
    const answered = await settlesWithin(
      consumer.request(ApiKey.OffsetCommit, 8, commitBody(end)),
      answerWaitMs,
    );
    await child.kill();
    producer.close();
    consumer.close();
    return answered;
  } finally {
    await child.kill();
  }
}

test('a committed offset never passes records a crash cut off: the next record produced is read', async () => {
  await inTempFolder('switchyard-commit-crash-', async (dataDir) => {
    const answered = await commitWhileStalled(dataDir);
    const broker = await startKafkaBroker({ storage: 'file', dataDir });
    try {
      const wire = await WireClient.open(broker.port);
      const produced = await wire.request<Obj>(ApiKey.Produce, 7, produceBody('fresh'));
      const fresh = produced.responses[0].partitionResponses[0];
      assert.equal(fresh.errorCode, 0);
      const fetched = await wire.request<Obj>(ApiKey.OffsetFetch, 7, {
        groupId: group,
        topics: [{ name: topic, partitionIndexes: [0] }],
        requireStable: false,
      });
      const committed: bigint = fetched.topics[0].partitions[0].committedOffset;
      assert.ok(committed <= fresh.baseOffset, `committed ${committed}, fresh at ${fresh.baseOffset}`);
      assert.equal(answered, false, 'the commit is not answered while the records it passes are not stored');
      wire.close();
    } finally {
      await broker.stop();
    }
  });
});
