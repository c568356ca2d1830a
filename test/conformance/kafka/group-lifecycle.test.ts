/**
 * Consumer-group behaviour Kafka clients and tools rely on: a group that empties stays a `consumer`
 * group, a starting group waits group.initial.rebalance.delay.ms for its members (KIP-134; the
 * arithmetic is in initial-rebalance.test.ts), committed leader epochs come back from OffsetFetch
 * (KIP-320), and Metadata and DescribeGroups report every operation when asked (KIP-430, no
 * authorizer). kafkajs where it exercises the behaviour, the raw protocol where no client does.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Consumer, Kafka } from 'kafkajs';
import {
  ApiKey,
  type DescribeGroupsResponse,
  type MetadataResponse,
  type OffsetCommitResponse,
  type OffsetFetchResponse,
} from '../../../src/protocols/kafka/codec/index.js';
import { kafkaClient, startKafkaBroker, until } from '../../../testing/kafka-helpers.js';
import { WireClient } from '../../../testing/kafka-wire.js';

const groupTimeouts = {
  sessionTimeout: 6000,
  rebalanceTimeout: 10_000,
  heartbeatInterval: 200,
  maxWaitTimeInMs: 100,
};

const consumers: Consumer[] = [];

function consumerOf(kafka: Kafka, groupId: string): Consumer {
  const consumer = kafka.consumer({ groupId, ...groupTimeouts });
  consumers.push(consumer);
  return consumer;
}

async function emptiedGroupStaysConsumer(kafka: Kafka): Promise<void> {
  const consumer = consumerOf(kafka, 'emptied');
  await consumer.connect();
  await consumer.subscribe({ topic: 'life', fromBeginning: true });
  let joined = false;
  consumer.on(consumer.events.GROUP_JOIN, () => {
    joined = true;
  });
  await consumer.run({ eachMessage: async () => undefined });
  await until(() => joined, 15_000, 'the consumer joined');
  await consumer.disconnect();
  const admin = kafka.admin();
  await admin.connect();
  try {
    const { groups } = await admin.listGroups();
    assert.deepEqual(
      groups.filter((g) => g.groupId === 'emptied'),
      [{ groupId: 'emptied', protocolType: 'consumer' }],
    );
    const [described] = (await admin.describeGroups(['emptied'])).groups;
    assert.equal(described?.state, 'Empty');
    assert.equal(described?.protocolType, 'consumer');
  } finally {
    await admin.disconnect();
  }
}

async function startingGroupSharesFirstGeneration(kafka: Kafka): Promise<void> {
  // Each consumer's assignments, in the order it was given them.
  const joins: number[][][] = [[], []];
  const pair = [0, 1].map((i) => {
    const consumer = consumerOf(kafka, 'starting-together');
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      joins[i]!.push(e.payload.memberAssignment['four'] ?? []);
    });
    return consumer;
  });
  // One after the other, as a deployment starts: the second connects while the first is joining
  // (kafkajs's run() resolves only once its first join is done, so it is not awaited here).
  const running: Promise<void>[] = [];
  for (const c of pair) {
    await c.connect();
    await c.subscribe({ topic: 'four' });
    running.push(c.run({ eachMessage: async () => undefined }));
  }
  await Promise.all(running);
  await until(() => joins.every((j) => j.length > 0), 20_000, 'both consumers joined');
  const [first, second] = joins.map((j) => j[0]!);
  assert.equal(first!.length, 2, `first consumer's first assignment: ${first}`);
  assert.equal(second!.length, 2, `second consumer's first assignment: ${second}`);
  assert.deepEqual([...first!, ...second!].sort(), [0, 1, 2, 3]);
  await Promise.all(pair.map((c) => c.disconnect()));
}

async function committedEpochsComeBack(wire: WireClient): Promise<void> {
  const commit = (version: number, offset: bigint, epoch: number) =>
    wire.request<OffsetCommitResponse>(ApiKey.OffsetCommit, version, {
      groupId: 'epochs',
      generationIdOrMemberEpoch: -1,
      memberId: '',
      topics: [
        {
          name: 'life',
          partitions: [{ partitionIndex: 0, committedOffset: offset, committedLeaderEpoch: epoch }],
        },
      ],
    });
  const fetched = async (version: number) => {
    const wanted = [{ name: 'life', partitionIndexes: [0] }];
    const request =
      version >= 8
        ? { groups: [{ groupId: 'epochs', topics: wanted }] }
        : { groupId: 'epochs', topics: wanted };
    const body = await wire.request<OffsetFetchResponse>(ApiKey.OffsetFetch, version, request);
    const p = (version >= 8 ? body.groups[0]!.topics : body.topics)[0]!.partitions[0]!;
    return [p.committedOffset, p.committedLeaderEpoch];
  };
  const committed = await commit(8, 0n, 7);
  assert.equal(committed.topics[0]!.partitions[0]!.errorCode, 0);
  for (const version of [5, 6, 7, 8])
    assert.deepEqual(await fetched(version), [0n, 7], `OffsetFetch v${version}`);
  await commit(5, 0n, -1);
  assert.deepEqual(await fetched(8), [0n, -1]);
}

const bits = (codes: number[]) => codes.reduce((a, c) => a | (1 << c), 0);
// AclOperation codes: read 3, write 4, create 5, delete 6, alter 7, describe 8, cluster action 9,
// describe configs 10, alter configs 11, idempotent write 12.
const topicOperations = bits([3, 4, 5, 6, 7, 8, 10, 11]);
const clusterOperations = bits([5, 7, 8, 9, 10, 11, 12]);
const groupOperations = bits([3, 6, 8, 10, 11]);

async function everyOperationWhenAsked(wire: WireClient): Promise<void> {
  for (let version = 8; version <= 12; version++) {
    const ask = { topics: [{ name: 'life' }], allowAutoTopicCreation: false };
    const asked = await wire.request<MetadataResponse>(ApiKey.Metadata, version, {
      ...ask,
      includeClusterAuthorizedOperations: version <= 10,
      includeTopicAuthorizedOperations: true,
    });
    assert.equal(asked.topics[0]!.topicAuthorizedOperations, topicOperations, `Metadata v${version} topic`);
    if (version <= 10)
      assert.equal(asked.clusterAuthorizedOperations, clusterOperations, `Metadata v${version} cluster`);
    const unasked = await wire.request<MetadataResponse>(ApiKey.Metadata, version, ask);
    assert.equal(unasked.topics[0]!.topicAuthorizedOperations, -2147483648, `Metadata v${version} not asked`);
  }
  const described = await wire.request<DescribeGroupsResponse>(ApiKey.DescribeGroups, 5, {
    groups: ['emptied'],
    includeAuthorizedOperations: true,
  });
  assert.equal(described.groups[0]!.authorizedOperations, groupOperations);
}

describe('kafka groups through their life', () => {
  let stop: () => Promise<void>;
  let bootstrap: string;
  let port: number;
  before(async () => {
    const kb = await startKafkaBroker({ groupInitialRebalanceDelayMs: 1500 });
    ({ stop } = kb);
    ({ bootstrap, port } = kb);
    const admin = kafkaClient(bootstrap).admin();
    await admin.connect();
    const topics = [
      { topic: 'life', numPartitions: 1 },
      { topic: 'four', numPartitions: 4 },
    ];
    await admin.createTopics({ topics });
    await admin.disconnect();
  });
  after(async () => {
    await Promise.all(consumers.map((c) => c.disconnect().catch(() => undefined)));
    await stop();
  });
  const withWire = (check: (wire: WireClient) => Promise<void>) => async () => {
    const wire = await WireClient.open(port);
    try {
      await check(wire);
    } finally {
      wire.close();
    }
  };

  test('a group whose members all left is still listed and described as a consumer group', () =>
    emptiedGroupStaysConsumer(kafkaClient(bootstrap)));
  test('consumers starting one after the other share one first generation; the first is not revoked', () =>
    startingGroupSharesFirstGeneration(kafkaClient(bootstrap)));
  test(
    'OffsetFetch returns the leader epoch committed with OffsetCommit v6+, -1 without one',
    withWire(committedEpochsComeBack),
  );
  test(
    'Metadata v8+ and DescribeGroups v3+ report every supported operation when asked',
    withWire(everyOperationWhenAsked),
  );
});
