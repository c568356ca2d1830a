/**
 * KIP-848 consumer groups over the wire, by raw requests (kafkajs 2.2.4 and Debian's librdkafka 2.0.2
 * predate `group.protocol=consumer`): server-side assignment by topic id, ConsumerGroupDescribe,
 * OffsetCommit v9 with the member epoch, one protocol per group, and the group's state surviving a
 * restart.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  ApiKey,
  type ConsumerGroupDescribeResponse,
  type ConsumerGroupHeartbeatResponse,
  type JoinGroupResponse,
  type ListGroupsResponse,
  type MetadataResponse,
  type OffsetCommitResponse,
  type OffsetDeleteResponse,
  type OffsetFetchResponse,
} from '../../../src/protocols/kafka/codec/index.js';
import { KafkaError } from '../../../src/protocols/kafka/errors.js';
import {
  type KafkaTestBroker,
  kafkaClient,
  startKafkaBroker,
  until,
} from '../../../testing/kafka-helpers.js';
import { WireClient } from '../../../testing/kafka-wire.js';

const topic = 'kip848';

function joining(groupId: string, memberId: string) {
  return {
    groupId,
    memberId,
    memberEpoch: 0,
    rebalanceTimeoutMs: 30_000,
    subscribedTopicNames: [topic],
    serverAssignor: 'range',
    topicPartitions: [],
  };
}

async function topicId(wire: WireClient): Promise<string> {
  const md = await wire.request<MetadataResponse>(ApiKey.Metadata, 12, { topics: [{ name: topic }] });
  return md.topics[0]!.topicId;
}

async function createTopic(kb: KafkaTestBroker): Promise<void> {
  const admin = kafkaClient(kb.bootstrap).admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] });
  await admin.disconnect();
}

describe('KIP-848 consumer groups', () => {
  let kb: KafkaTestBroker;
  let wire: WireClient;
  before(async () => {
    kb = await startKafkaBroker();
    await createTopic(kb);
    wire = await WireClient.open(kb.port);
  });
  after(async () => {
    wire.close();
    await kb.stop();
  });

  test('a member joins, gets every partition by topic id and commits with its epoch', async () => {
    const hb = await wire.request<ConsumerGroupHeartbeatResponse>(
      ApiKey.ConsumerGroupHeartbeat,
      1,
      joining('cg1', 'w1'),
    );
    assert.equal(hb.errorCode, KafkaError.none, hb.errorMessage ?? '');
    assert.equal(hb.memberId, 'w1');
    assert.equal(hb.memberEpoch, 1);
    assert.ok(hb.heartbeatIntervalMs > 0);
    const id = await topicId(wire);
    assert.notEqual(id, '00000000-0000-0000-0000-000000000000');
    const byId = await wire.request<MetadataResponse>(ApiKey.Metadata, 12, {
      topics: [
        { name: null, topicId: id },
        { name: null, topicId: '11111111-1111-8111-8111-111111111111' },
      ],
    });
    assert.deepEqual(
      byId.topics.map((t) => [t.name, t.errorCode]),
      [
        [topic, KafkaError.none],
        [null, KafkaError.unknownTopicId],
      ],
    );
    assert.deepEqual(
      hb.assignment?.topicPartitions.map((t) => [t.topicId, t.partitions]),
      [[id, [0, 1]]],
    );

    const described = await wire.request<ConsumerGroupDescribeResponse>(ApiKey.ConsumerGroupDescribe, 1, {
      groupIds: ['cg1', 'nope'],
    });
    const [g, missing] = described.groups;
    assert.equal(g?.errorCode, KafkaError.none);
    assert.equal(g?.groupState, 'Stable');
    assert.equal(g?.assignorName, 'range');
    assert.deepEqual(
      g?.members.map((m) => [m.memberId, m.memberEpoch, m.assignment.topicPartitions[0]?.topicName]),
      [['w1', 1, topic]],
    );
    assert.equal(missing?.errorCode, KafkaError.groupIdNotFound);

    const commit = (epoch: number) =>
      wire.request<OffsetCommitResponse>(ApiKey.OffsetCommit, 9, {
        groupId: 'cg1',
        generationIdOrMemberEpoch: epoch,
        memberId: 'w1',
        topics: [{ name: topic, partitions: [{ partitionIndex: 0, committedOffset: 5n }] }],
      });
    assert.equal((await commit(1)).topics[0]?.partitions[0]?.errorCode, KafkaError.none);
    assert.equal((await commit(3)).topics[0]?.partitions[0]?.errorCode, KafkaError.staleMemberEpoch);
    const read = (memberEpoch: number) =>
      wire.request<OffsetFetchResponse>(ApiKey.OffsetFetch, 9, {
        groups: [
          { groupId: 'cg1', memberId: 'w1', memberEpoch, topics: [{ name: topic, partitionIndexes: [0] }] },
        ],
      });
    const fetched = await read(1);
    assert.equal(fetched.groups[0]?.errorCode, KafkaError.none);
    assert.equal(fetched.groups[0]?.topics[0]?.partitions[0]?.committedOffset, 5n);
    assert.equal((await read(3)).groups[0]?.errorCode, KafkaError.staleMemberEpoch);

    const listed = await wire.request<ListGroupsResponse>(ApiKey.ListGroups, 4, {});
    assert.ok(listed.groups.some((l) => l.groupId === 'cg1' && l.protocolType === 'consumer'));
  });

  test('consumer.session.timeout.ms and consumer.heartbeat.interval.ms are GROUP configs in Kafka’s bounds', async () => {
    const alter = async (configs: object[]) =>
      (
        await wire.request<{ responses: Array<{ errorCode: number; errorMessage: string | null }> }>(
          ApiKey.IncrementalAlterConfigs,
          1,
          { resources: [{ resourceType: 32, resourceName: 'timed-848', configs }], validateOnly: false },
        )
      ).responses[0]!;
    // What librdkafka's 0081_admin sets on a group.
    const set = await alter([
      { name: 'consumer.session.timeout.ms', configOperation: 0, value: '50000' },
      { name: 'consumer.heartbeat.interval.ms', configOperation: 0, value: '8000' },
    ]);
    assert.equal(set.errorCode, KafkaError.none);
    for (const [name, value] of [
      ['consumer.session.timeout.ms', '40000'],
      ['consumer.session.timeout.ms', '61000'],
      ['consumer.heartbeat.interval.ms', '4000'],
    ] as const)
      assert.equal(
        (await alter([{ name, configOperation: 0, value }])).errorCode,
        KafkaError.invalidConfig,
        `${name}=${value}`,
      );
    const described = await wire.request<{
      results: Array<{ configs: Array<{ name: string; value: string; configSource: number }> }>;
    }>(ApiKey.DescribeConfigs, 4, {
      resources: [{ resourceType: 32, resourceName: 'timed-848', configurationKeys: null }],
      includeSynonyms: false,
      includeDocumentation: false,
    });
    const byName = new Map(described.results[0]!.configs.map((c) => [c.name, [c.value, c.configSource]]));
    assert.deepEqual(byName.get('consumer.session.timeout.ms'), ['50000', 8], 'GROUP_CONFIG');
    assert.deepEqual(byName.get('consumer.heartbeat.interval.ms'), ['8000', 8]);
    const hb = await wire.request<ConsumerGroupHeartbeatResponse>(
      ApiKey.ConsumerGroupHeartbeat,
      1,
      joining('timed-848', 't1'),
    );
    assert.equal(hb.errorCode, KafkaError.none);
    assert.equal(hb.heartbeatIntervalMs, 8000, 'the member heartbeats at the group’s interval');
    await wire.request(ApiKey.ConsumerGroupHeartbeat, 1, { ...joining('timed-848', 't1'), memberEpoch: -1 });
    await alter([{ name: 'consumer.heartbeat.interval.ms', configOperation: 1, value: null }]);
    const again = await wire.request<ConsumerGroupHeartbeatResponse>(
      ApiKey.ConsumerGroupHeartbeat,
      1,
      joining('timed-848', 't2'),
    );
    assert.equal(again.heartbeatIntervalMs, 5000, 'DELETE goes back to Kafka’s default');
    await wire.request(ApiKey.ConsumerGroupHeartbeat, 1, { ...joining('timed-848', 't2'), memberEpoch: -1 });
  });

  test('a group is one protocol or the other', async () => {
    await wire.request(ApiKey.ConsumerGroupHeartbeat, 1, joining('cg2', 'w2'));
    const classic = await wire.request<JoinGroupResponse>(ApiKey.JoinGroup, 5, {
      groupId: 'cg2',
      sessionTimeoutMs: 10_000,
      rebalanceTimeoutMs: 10_000,
      memberId: '',
      protocolType: 'consumer',
      protocols: [{ name: 'range', metadata: new Uint8Array(0) }],
    });
    assert.equal(classic.errorCode, KafkaError.inconsistentGroupProtocol);

    // A classic group with a member refuses the new protocol.
    const consumer = kafkaClient(kb.bootstrap).consumer({ groupId: 'classic-group' });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ eachMessage: async () => undefined });
    try {
      const hb = await wire.request<ConsumerGroupHeartbeatResponse>(
        ApiKey.ConsumerGroupHeartbeat,
        1,
        joining('classic-group', 'w3'),
      );
      assert.equal(hb.errorCode, KafkaError.groupIdNotFound);
    } finally {
      await consumer.disconnect();
    }
  });

  test("ListGroups v5 names each group's type and filters by it (KIP-848)", async () => {
    // librdkafka 2.15's ListConsumerGroups with match_types (0081_admin) asks v5 and checks the type.
    await wire.request(ApiKey.ConsumerGroupHeartbeat, 1, joining('typed-848', 'tw1'));
    const consumer = kafkaClient(kb.bootstrap).consumer({ groupId: 'typed-classic' });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ eachMessage: async () => undefined });
    try {
      const typeOf = async (typesFilter: string[]) => {
        const listed = await wire.request<ListGroupsResponse>(ApiKey.ListGroups, 5, { typesFilter });
        return new Map(listed.groups.map((g) => [g.groupId, g.groupType]));
      };
      await until(async () => (await typeOf([])).has('typed-classic'), 10_000, 'the classic group');
      const all = await typeOf([]);
      assert.equal(all.get('typed-848'), 'consumer');
      assert.equal(all.get('typed-classic'), 'classic');
      const classic = await typeOf(['Classic']);
      assert.equal(classic.get('typed-classic'), 'classic');
      assert.equal(classic.has('typed-848'), false);
      const kip848 = await typeOf(['consumer']);
      assert.equal(kip848.has('typed-classic'), false);
      assert.equal(kip848.get('typed-848'), 'consumer');
    } finally {
      await consumer.disconnect();
    }
  });

  test('a classic member joining an empty KIP-848 group turns it classic, and the cleanup leaves its record', async () => {
    // Kafka converts an empty consumer group into a classic one at a classic JoinGroup (KIP-848).
    // Before, the empty KIP-848 group stayed beside the classic one: ListGroups named the group a
    // consumer group with no members, and the 10-minute cleanup of empty KIP-848 groups (or a
    // DeleteGroups) removed the stored record the classic members' generation is kept in.
    await wire.request(ApiKey.ConsumerGroupHeartbeat, 1, joining('turned', 'tw9'));
    await wire.request(ApiKey.ConsumerGroupHeartbeat, 1, { ...joining('turned', 'tw9'), memberEpoch: -1 });
    const consumer = kafkaClient(kb.bootstrap).consumer({ groupId: 'turned' });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ eachMessage: async () => undefined });
    try {
      const listed = async () => {
        const answer = await wire.request<ListGroupsResponse>(ApiKey.ListGroups, 5, { typesFilter: [] });
        const group = answer.groups.find((g) => g.groupId === 'turned');
        return group === undefined ? undefined : [group.groupType, group.groupState];
      };
      await until(async () => (await listed())?.[1] === 'Stable', 10_000, 'the classic group stable');
      assert.deepEqual(await listed(), ['classic', 'Stable']);
    } finally {
      await consumer.disconnect();
    }
  });

  test('a commit with epoch -1 is taken while the group has no members, whatever member id it names', async () => {
    // librdkafka 2.15 with group.protocol=consumer names its own member id (a UUID) in OffsetCommit v9
    // before it joins (0081_admin's DeleteConsumerGroupOffsets, AlterConsumerGroupOffsets and
    // ListConsumerGroupOffsets commit so); Kafka takes such a commit while the group is empty.
    const commit = (groupId: string, memberId: string, epoch: number) =>
      wire
        .request<OffsetCommitResponse>(ApiKey.OffsetCommit, 9, {
          groupId,
          generationIdOrMemberEpoch: epoch,
          memberId,
          topics: [{ name: topic, partitions: [{ partitionIndex: 0, committedOffset: 7n }] }],
        })
        .then((r) => r.topics[0]?.partitions[0]?.errorCode);
    assert.equal(
      await commit('outside-1', 'ZmFrZS11dWlk', -1),
      KafkaError.none,
      'a group that does not exist',
    );
    assert.equal(await commit('outside-1', 'another-id', -1), KafkaError.none, 'an empty classic group');
    await wire.request(ApiKey.ConsumerGroupHeartbeat, 1, joining('outside-848', 'o1'));
    assert.equal(
      await commit('outside-848', 'ZmFrZS11dWlk', -1),
      KafkaError.unknownMemberId,
      'a member is in',
    );
    await wire.request(ApiKey.ConsumerGroupHeartbeat, 1, {
      groupId: 'outside-848',
      memberId: 'o1',
      memberEpoch: -1,
    });
    assert.equal(
      await commit('outside-848', 'ZmFrZS11dWlk', -1),
      KafkaError.none,
      'the KIP-848 group, empty again',
    );
    const fetched = await wire.request<OffsetFetchResponse>(ApiKey.OffsetFetch, 9, {
      groups: [
        {
          groupId: 'outside-848',
          memberId: null,
          memberEpoch: -1,
          topics: [{ name: topic, partitionIndexes: [0] }],
        },
      ],
    });
    assert.equal(fetched.groups[0]?.topics[0]?.partitions[0]?.committedOffset, 7n);
  });

  test("OffsetDelete refuses a topic a KIP-848 member subscribes to and deletes the others' offsets", async () => {
    // librdkafka 2.15's 0081_admin DeleteConsumerGroupOffsets "with subscribing consumer", group.protocol=consumer.
    await wire.request(ApiKey.Metadata, 12, {
      topics: [{ name: 'unsubscribed' }],
      allowAutoTopicCreation: true,
    });
    await wire.request(ApiKey.ConsumerGroupHeartbeat, 1, joining('deleting-848', 'd1'));
    const commit = await wire.request<OffsetCommitResponse>(ApiKey.OffsetCommit, 9, {
      groupId: 'deleting-848',
      generationIdOrMemberEpoch: 1,
      memberId: 'd1',
      topics: [topic, 'unsubscribed'].map((name) => ({
        name,
        partitions: [{ partitionIndex: 0, committedOffset: 3n }],
      })),
    });
    assert.deepEqual(
      commit.topics.map((t) => t.partitions[0]?.errorCode),
      [KafkaError.none, KafkaError.none],
    );
    const deleted = await wire.request<OffsetDeleteResponse>(ApiKey.OffsetDelete, 0, {
      groupId: 'deleting-848',
      topics: [topic, 'unsubscribed'].map((name) => ({ name, partitions: [{ partitionIndex: 0 }] })),
    });
    assert.equal(deleted.errorCode, KafkaError.none);
    assert.deepEqual(
      deleted.topics.map((t) => [t.name, t.partitions[0]?.errorCode]),
      [
        [topic, KafkaError.groupSubscribedToTopic],
        ['unsubscribed', KafkaError.none],
      ],
    );
  });

  test('a regular expression subscription is assigned the matching topics by id, and described', async () => {
    const hb = await wire.request<ConsumerGroupHeartbeatResponse>(ApiKey.ConsumerGroupHeartbeat, 1, {
      ...joining('cg-regex', 'rx1'),
      subscribedTopicNames: null,
      subscribedTopicRegex: 'kip8[0-9]+',
    });
    assert.equal(hb.errorCode, KafkaError.none);
    // The pattern resolves after the heartbeat that brought it, as in Kafka; the next one is assigned.
    const next = await wire.request<ConsumerGroupHeartbeatResponse>(ApiKey.ConsumerGroupHeartbeat, 1, {
      groupId: 'cg-regex',
      memberId: 'rx1',
      memberEpoch: hb.memberEpoch,
    });
    assert.deepEqual(next.assignment?.topicPartitions, [
      { topicId: await topicId(wire), partitions: [0, 1] },
    ]);
    const described = await wire.request<ConsumerGroupDescribeResponse>(ApiKey.ConsumerGroupDescribe, 1, {
      groupIds: ['cg-regex'],
    });
    assert.equal(described.groups[0]?.members[0]?.subscribedTopicRegex, 'kip8[0-9]+');
    await wire.request(ApiKey.ConsumerGroupHeartbeat, 1, {
      groupId: 'cg-regex',
      memberId: 'rx1',
      memberEpoch: -1,
    });
  });

  test('bad requests: unknown member, stale epoch, unknown assignor, a regular expression RE2 refuses', async () => {
    const unknown = await wire.request<ConsumerGroupHeartbeatResponse>(ApiKey.ConsumerGroupHeartbeat, 1, {
      ...joining('cg3', 'ghost'),
      memberEpoch: 4,
    });
    assert.equal(unknown.errorCode, KafkaError.groupIdNotFound);
    await wire.request(ApiKey.ConsumerGroupHeartbeat, 1, joining('cg3', 'w4'));
    const stale = await wire.request<ConsumerGroupHeartbeatResponse>(ApiKey.ConsumerGroupHeartbeat, 1, {
      ...joining('cg3', 'w4'),
      memberEpoch: 9,
    });
    assert.equal(stale.errorCode, KafkaError.fencedMemberEpoch);
    const assignor = await wire.request<ConsumerGroupHeartbeatResponse>(ApiKey.ConsumerGroupHeartbeat, 1, {
      ...joining('cg3', 'w5'),
      serverAssignor: 'cooperative-sticky',
    });
    assert.equal(assignor.errorCode, KafkaError.unsupportedAssignor);
    const regex = await wire.request<ConsumerGroupHeartbeatResponse>(ApiKey.ConsumerGroupHeartbeat, 1, {
      ...joining('cg3', 'w6'),
      subscribedTopicNames: null,
      subscribedTopicRegex: 'kip(.*',
    });
    assert.equal(regex.errorCode, KafkaError.invalidRegularExpression);
    // An empty pattern is no pattern (librdkafka 2.x sends it beside the topic names).
    const empty = await wire.request<ConsumerGroupHeartbeatResponse>(ApiKey.ConsumerGroupHeartbeat, 1, {
      ...joining('cg3', 'w7'),
      subscribedTopicRegex: '',
    });
    assert.equal(empty.errorCode, KafkaError.none);
  });
});

test('a KIP-848 member carries on with its epoch and partitions after a broker restart', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-kip848-'));
  try {
    let kb = await startKafkaBroker({ storage: 'file', dataDir });
    await createTopic(kb);
    let wire = await WireClient.open(kb.port);
    const first = await wire.request<ConsumerGroupHeartbeatResponse>(
      ApiKey.ConsumerGroupHeartbeat,
      1,
      joining('durable', 'd1'),
    );
    assert.equal(first.memberEpoch, 1);
    wire.close();
    await kb.stop();

    kb = await startKafkaBroker({ storage: 'file', dataDir });
    wire = await WireClient.open(kb.port);
    try {
      const again = await wire.request<ConsumerGroupHeartbeatResponse>(ApiKey.ConsumerGroupHeartbeat, 1, {
        groupId: 'durable',
        memberId: 'd1',
        memberEpoch: 1,
        topicPartitions: first.assignment?.topicPartitions ?? [],
      });
      assert.equal(again.errorCode, KafkaError.none);
      assert.equal(again.memberEpoch, 1, 'no rebalance');
      const described = await wire.request<ConsumerGroupDescribeResponse>(ApiKey.ConsumerGroupDescribe, 1, {
        groupIds: ['durable'],
      });
      assert.deepEqual(described.groups[0]?.members[0]?.assignment.topicPartitions[0]?.partitions, [0, 1]);
    } finally {
      wire.close();
      await kb.stop();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
