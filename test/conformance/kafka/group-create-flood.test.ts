/**
 * Committing offsets to many fresh groups at once: each new group's log is made durable off the event
 * loop. One client sends OffsetCommits to fresh group ids, pipelined; another client's ApiVersions,
 * sent while they are in flight, is answered before the last of them (before the fix every creation
 * fsynced on the event loop and the flood's answers all came first), and a SIGKILL right after the
 * last commit is answered loses none of the committed offsets.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiKey } from '../../../src/protocols/kafka/codec/index.js';
import { inTempFolder } from '../../../testing/crash-stall.js';
import { WireClient } from '../../../testing/kafka-wire.js';
import { startKafkaCli } from '../../../testing/server-cli.js';

/** Fresh groups per flood: more than one event-loop turn's worth of creations. */
const groupsCount = 300;
const topic = 'flood-topic';
const answerWaitMs = 60_000;

type Committed = { topics: Array<{ partitions: Array<{ errorCode: number }> }> };
type Fetched = {
  groups: Array<{ groupId: string; topics: Array<{ partitions: Array<{ committedOffset: bigint }> }> }>;
};

function commitRequest(groupId: string): object {
  return {
    groupId,
    generationIdOrMemberEpoch: -1,
    topics: [{ name: topic, partitions: [{ partitionIndex: 0, committedOffset: 7n }] }],
  };
}

const groupIds = Array.from({ length: groupsCount }, (_, i) => `fresh-${i}`);

async function withTopic(port: number): Promise<WireClient> {
  const wire = await WireClient.open(port);
  await wire.request(ApiKey.ApiVersions, 3, { clientSoftwareName: 't', clientSoftwareVersion: '1' });
  await wire.request(ApiKey.Metadata, 12, { topics: [{ name: topic }], allowAutoTopicCreation: true });
  return wire;
}

/** Sends every commit, pipelined; resolves once all are answered, with their error codes. */
async function commitAll(wire: WireClient): Promise<number[]> {
  for (const id of groupIds) wire.send(ApiKey.OffsetCommit, 8, commitRequest(id));
  const codes: number[] = [];
  for (const _ of groupIds) {
    const { body } = await wire.receive<Committed>(ApiKey.OffsetCommit, 8, answerWaitMs);
    codes.push(body.topics[0]?.partitions[0]?.errorCode ?? -1);
  }
  return codes;
}

test(
  'another client is answered while offsets are committed to many fresh groups',
  { timeout: 180_000 },
  () =>
    inTempFolder('switchyard-group-flood-', async (dataDir) => {
      const broker = await startKafkaCli(dataDir);
      try {
        const port = broker.ports.kafka ?? 0;
        const wire = await withTopic(port);
        const other = await WireClient.open(port);
        let floodDone = false;
        const flood = commitAll(wire).finally(() => {
          floodDone = true;
        });
        // The flood's requests reach the broker first: they were written before this one.
        other.send(ApiKey.ApiVersions, 3, { clientSoftwareName: 'other', clientSoftwareVersion: '1' });
        await other.receive(ApiKey.ApiVersions, 3, answerWaitMs);
        const answeredDuringFlood = !floodDone;
        const codes = await flood;
        assert.deepEqual(new Set(codes), new Set([0]), 'every commit is accepted');
        assert.ok(answeredDuringFlood, 'the other client is answered before the flood has been answered');
        wire.close();
        other.close();
      } finally {
        await broker.stop();
      }
    }),
);

test(
  'a SIGKILL right after offsets committed to many fresh groups loses none of them',
  { timeout: 180_000 },
  () =>
    inTempFolder('switchyard-group-flood-crash-', async (dataDir) => {
      const first = await startKafkaCli(dataDir);
      try {
        const wire = await withTopic(first.ports.kafka ?? 0);
        const codes = await commitAll(wire);
        await first.stop('SIGKILL');
        wire.close();
        assert.deepEqual(new Set(codes), new Set([0]), 'every commit is accepted');
      } finally {
        first.kill();
      }
      const again = await startKafkaCli(dataDir);
      try {
        const wire = await WireClient.open(again.ports.kafka ?? 0);
        const fetched = await wire.request<Fetched>(ApiKey.OffsetFetch, 8, {
          groups: groupIds.map((groupId) => ({ groupId, topics: [{ name: topic, partitionIndexes: [0] }] })),
          requireStable: false,
        });
        const lost = fetched.groups
          .filter((g) => g.topics[0]?.partitions[0]?.committedOffset !== 7n)
          .map((g) => g.groupId);
        assert.equal(fetched.groups.length, groupsCount);
        assert.deepEqual(lost, [], 'every committed offset is there after the crash');
        wire.close();
      } finally {
        await again.stop();
      }
    }),
);
