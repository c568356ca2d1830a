/**
 * Share groups (KIP-932) over the wire, by raw requests (no client library here speaks them): records
 * of one partition spread over two members, accept / release / reject, redelivery with delivery counts,
 * share sessions, a leaving member's records going to the others, share.auto.offset.reset, and the
 * order in which a fetch acquires over partitions.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  ApiKey,
  type ConsumerGroupHeartbeatResponse,
  type DeleteGroupsResponse,
  type DescribeConfigsResponse,
  type IncrementalAlterConfigsResponse,
  type ListGroupsResponse,
  type MetadataResponse,
  type ShareAcknowledgeResponse,
  type ShareFetchResponse,
  type ShareGroupDescribeResponse,
  type ShareGroupHeartbeatResponse,
} from '../../../src/protocols/kafka/codec/index.js';
import { KafkaError } from '../../../src/protocols/kafka/errors.js';
import { type KafkaTestBroker, kafkaClient, startKafkaBroker } from '../../../testing/kafka-helpers.js';
import { WireClient } from '../../../testing/kafka-wire.js';

const topic = 'shared';

describe('KIP-932 share groups', () => {
  let kb: KafkaTestBroker;
  let wire: WireClient;
  let topicId = '';
  const produce = async (count: number, from: number) => {
    const producer = kafkaClient(kb.bootstrap).producer();
    await producer.connect();
    await producer.send({
      topic,
      messages: Array.from({ length: count }, (_, i) => ({ value: `r${from + i}` })),
    });
    await producer.disconnect();
  };
  const join = (groupId: string, memberId: string, to = topic) =>
    wire.request<ShareGroupHeartbeatResponse>(ApiKey.ShareGroupHeartbeat, 1, {
      groupId,
      memberId,
      memberEpoch: 0,
      subscribedTopicNames: [to],
    });
  /** A ShareFetch of `partitions` of topic `id` (partition 0 of the shared topic when not told), with `acks` for each. */
  const fetchOf = (
    groupId: string,
    memberId: string,
    epoch: number,
    maxRecords: number,
    { id = topicId, partitions = [0], acks = [] as object[], maxBytes = 1024 * 1024 } = {},
  ) =>
    wire.request<ShareFetchResponse>(ApiKey.ShareFetch, 1, {
      groupId,
      memberId,
      shareSessionEpoch: epoch,
      maxWaitMs: 0,
      minBytes: 1,
      maxBytes,
      maxRecords,
      batchSize: maxRecords,
      topics: [
        {
          topicId: id,
          partitions: partitions.map((partitionIndex) => ({ partitionIndex, acknowledgementBatches: acks })),
        },
      ],
    });
  const fetch = (
    groupId: string,
    memberId: string,
    epoch: number,
    maxRecords: number,
    acks: object[] = [],
    maxBytes = 1024 * 1024,
  ) => fetchOf(groupId, memberId, epoch, maxRecords, { acks, maxBytes });
  /** Sets the group's share.auto.offset.reset to earliest. */
  const fromEarliest = (groupId: string) =>
    wire.request<IncrementalAlterConfigsResponse>(ApiKey.IncrementalAlterConfigs, 1, {
      resources: [
        {
          resourceType: 32,
          resourceName: groupId,
          configs: [{ name: 'share.auto.offset.reset', configOperation: 0, value: 'earliest' }],
        },
      ],
      validateOnly: false,
    });
  /** Creates a topic of `partitions`; its id. */
  const createTopic = async (name: string, partitions: number) => {
    const admin = kafkaClient(kb.bootstrap).admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: name, numPartitions: partitions }] });
    await admin.disconnect();
    const md = await wire.request<MetadataResponse>(ApiKey.Metadata, 12, { topics: [{ name }] });
    return md.topics[0]!.topicId;
  };
  const fetchEnd = async () => {
    const admin = kafkaClient(kb.bootstrap).admin();
    await admin.connect();
    const offsets = await admin.fetchTopicOffsets(topic);
    await admin.disconnect();
    return offsets[0]?.high;
  };
  const acquired = (r: ShareFetchResponse) =>
    r.responses.flatMap((t) =>
      t.partitions.flatMap((p) =>
        p.acquiredRecords.map((a) => [Number(a.firstOffset), Number(a.lastOffset), a.deliveryCount]),
      ),
    );

  before(async () => {
    kb = await startKafkaBroker();
    const admin = kafkaClient(kb.bootstrap).admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] });
    await admin.disconnect();
    await produce(10, 0);
    wire = await WireClient.open(kb.port);
    const md = await wire.request<MetadataResponse>(ApiKey.Metadata, 12, { topics: [{ name: topic }] });
    topicId = md.topics[0]!.topicId;
    const altered = await fromEarliest('sg');
    assert.equal(altered.responses[0]?.errorCode, KafkaError.none);
  });
  after(async () => {
    wire.close();
    await kb.stop();
  });

  test('records spread over two members, then come back by release and when a member leaves', async () => {
    const a = await join('sg', 'member-a');
    assert.equal(a.errorCode, KafkaError.none, a.errorMessage ?? '');
    assert.deepEqual(a.assignment?.topicPartitions, [{ topicId, partitions: [0] }]);
    const b = await join('sg', 'member-b');
    assert.equal(b.errorCode, KafkaError.none);

    const fa = await fetch('sg', 'member-a', 0, 4);
    assert.equal(fa.errorCode, KafkaError.none);
    assert.ok(fa.acquisitionLockTimeoutMs > 0);
    assert.deepEqual(acquired(fa), [[0, 3, 1]]);
    assert.ok((fa.responses[0]?.partitions[0]?.records?.length ?? 0) > 0, 'the batch holding them');
    const fb = await fetch('sg', 'member-b', 0, 4);
    assert.deepEqual(acquired(fb), [[4, 7, 1]], 'b gets other records');

    // a accepts 0-1, releases 2 and rejects 3 (one type per offset).
    const ack = await wire.request<ShareAcknowledgeResponse>(ApiKey.ShareAcknowledge, 1, {
      groupId: 'sg',
      memberId: 'member-a',
      shareSessionEpoch: 1,
      topics: [
        {
          topicId,
          partitions: [
            {
              partitionIndex: 0,
              acknowledgementBatches: [{ firstOffset: 0n, lastOffset: 3n, acknowledgeTypes: [1, 1, 2, 3] }],
            },
          ],
        },
      ],
    });
    assert.equal(ack.errorCode, KafkaError.none);
    assert.equal(ack.responses[0]?.partitions[0]?.errorCode, KafkaError.none);

    const again = await fetch('sg', 'member-b', 1, 10);
    assert.deepEqual(acquired(again), [
      [2, 2, 2],
      [8, 9, 1],
    ]);

    // b acknowledges something it does not hold: refused, nothing changes.
    const wrong = await fetch('sg', 'member-b', 2, 1, [
      { firstOffset: 0n, lastOffset: 0n, acknowledgeTypes: [1] },
    ]);
    assert.equal(wrong.responses[0]?.partitions[0]?.acknowledgeErrorCode, KafkaError.invalidRecordState);

    const described = await wire.request<ShareGroupDescribeResponse>(ApiKey.ShareGroupDescribe, 1, {
      groupIds: ['sg'],
    });
    assert.deepEqual(described.groups[0]?.members.map((m) => m.memberId).sort(), ['member-a', 'member-b']);

    // b leaves, then closes its share session with a last acknowledgement (a closing client may send
    // them in either order): the acknowledgement still finds b's record, and the rest goes to a.
    const left = await wire.request<ShareGroupHeartbeatResponse>(ApiKey.ShareGroupHeartbeat, 1, {
      groupId: 'sg',
      memberId: 'member-b',
      memberEpoch: -1,
    });
    assert.equal(left.memberEpoch, -1);
    const last = await wire.request<ShareAcknowledgeResponse>(ApiKey.ShareAcknowledge, 1, {
      groupId: 'sg',
      memberId: 'member-b',
      shareSessionEpoch: -1,
      topics: [
        {
          topicId,
          partitions: [
            {
              partitionIndex: 0,
              acknowledgementBatches: [{ firstOffset: 2n, lastOffset: 2n, acknowledgeTypes: [2] }],
            },
          ],
        },
      ],
    });
    assert.equal(last.responses[0]?.partitions[0]?.errorCode, KafkaError.none);
    const taken = await fetch('sg', 'member-a', 2, 10);
    assert.deepEqual(acquired(taken), [
      [2, 2, 3],
      [4, 9, 2],
    ]);
  });

  test('share sessions and groups refuse what does not fit', async () => {
    await join('sg2', 'm1');
    const unknown = await fetch('sg2', 'stranger', 0, 1);
    assert.equal(unknown.errorCode, KafkaError.unknownMemberId);
    const none = await fetch('sg2', 'm1', 3, 1);
    assert.equal(none.errorCode, KafkaError.shareSessionNotFound);
    await fetch('sg2', 'm1', 0, 1);
    const stale = await fetch('sg2', 'm1', 5, 1);
    assert.equal(stale.errorCode, KafkaError.invalidShareSessionEpoch);
    const consumer = await wire.request<ConsumerGroupHeartbeatResponse>(ApiKey.ConsumerGroupHeartbeat, 1, {
      groupId: 'sg2',
      memberId: 'c1',
      memberEpoch: 0,
      rebalanceTimeoutMs: 1000,
      subscribedTopicNames: [topic],
      topicPartitions: [],
    });
    assert.equal(consumer.errorCode, KafkaError.groupIdNotFound, 'a share group is not a consumer group');
    const listed = await wire.request<ListGroupsResponse>(ApiKey.ListGroups, 4, {});
    assert.ok(
      listed.groups.some(
        (g) => g.groupId === 'sg2' && g.protocolType === 'share' && g.groupState === 'Stable',
      ),
    );
    const busy = await wire.request<DeleteGroupsResponse>(ApiKey.DeleteGroups, 2, { groupsNames: ['sg2'] });
    assert.equal(busy.results[0]?.errorCode, KafkaError.nonEmptyGroup);
    await wire.request(ApiKey.ShareGroupHeartbeat, 1, { groupId: 'sg2', memberId: 'm1', memberEpoch: -1 });
    const deleted = await wire.request<DeleteGroupsResponse>(ApiKey.DeleteGroups, 2, {
      groupsNames: ['sg2'],
    });
    assert.equal(deleted.results[0]?.errorCode, KafkaError.none);
    const gone = await wire.request<ShareGroupDescribeResponse>(ApiKey.ShareGroupDescribe, 1, {
      groupIds: ['sg2'],
    });
    assert.equal(gone.groups[0]?.errorCode, KafkaError.groupIdNotFound);
  });

  test("a group's config changes apply all or none; list operations and bad values are refused by name", async () => {
    const group = 'sg-configs';
    const alter = async (configs: object[], validateOnly = false) => {
      const r = await wire.request<IncrementalAlterConfigsResponse>(ApiKey.IncrementalAlterConfigs, 1, {
        resources: [{ resourceType: 32, resourceName: group, configs }],
        validateOnly,
      });
      return r.responses[0]!;
    };
    const lockMs = async () => {
      const r = await wire.request<DescribeConfigsResponse>(ApiKey.DescribeConfigs, 4, {
        resources: [
          { resourceType: 32, resourceName: group, configurationKeys: ['share.record.lock.duration.ms'] },
        ],
        includeSynonyms: false,
        includeDocumentation: false,
      });
      return r.results[0]?.configs[0]?.value;
    };
    assert.equal(
      (await alter([{ name: 'share.record.lock.duration.ms', configOperation: 0, value: '5000' }])).errorCode,
      0,
    );
    const subtract = await alter([
      { name: 'share.record.lock.duration.ms', configOperation: 3, value: '5000' },
    ]);
    assert.equal(subtract.errorCode, KafkaError.invalidConfig);
    assert.match(
      subtract.errorMessage ?? '',
      /subtract is not allowed for config key: share\.record\.lock\.duration\.ms/,
    );
    const second = await alter([
      { name: 'share.record.lock.duration.ms', configOperation: 0, value: '7000' },
      { name: 'share.isolation.level', configOperation: 0, value: 'sometimes' },
    ]);
    assert.equal(second.errorCode, KafkaError.invalidConfig);
    assert.match(second.errorMessage ?? '', /share\.isolation\.level/);
    const checked = await alter(
      [{ name: 'share.record.lock.duration.ms', configOperation: 0, value: '10' }],
      true,
    );
    assert.equal(checked.errorCode, KafkaError.invalidConfig, 'validateOnly checks the value too');
    assert.equal(await lockMs(), '5000', 'nothing of a refused or validate-only change applied');
  });

  test('share.auto.offset.reset latest (the default) starts at the end of the partition', async () => {
    await join('sg-latest', 'l1');
    assert.deepEqual(acquired(await fetch('sg-latest', 'l1', 0, 100)), []);
    await produce(2, 10);
    assert.deepEqual(acquired(await fetch('sg-latest', 'l1', 1, 100)), [[10, 11, 1]]);
  });

  test('members with other subscriptions get only the partitions of their own topics', async () => {
    const admin = kafkaClient(kb.bootstrap).admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'shared-other', numPartitions: 2 }] });
    await admin.disconnect();
    const x = await join('sg-asym', 'x');
    const y = await wire.request<ShareGroupHeartbeatResponse>(ApiKey.ShareGroupHeartbeat, 1, {
      groupId: 'sg-asym',
      memberId: 'y',
      memberEpoch: 0,
      subscribedTopicNames: ['shared-other', topic],
    });
    const x2 = await wire.request<ShareGroupHeartbeatResponse>(ApiKey.ShareGroupHeartbeat, 1, {
      groupId: 'sg-asym',
      memberId: 'x',
      memberEpoch: x.memberEpoch,
    });
    assert.deepEqual(x.assignment?.topicPartitions, [{ topicId, partitions: [0] }]);
    assert.equal(x2.assignment, null, 'x keeps its assignment when y joins');
    // Three partitions for two members: x keeps its one, y gets the two only it reads.
    assert.deepEqual(
      y.assignment?.topicPartitions.map((t) => [...t.partitions].sort()),
      [[0, 1]],
    );
    assert.notEqual(y.assignment?.topicPartitions[0]?.topicId, topicId);
  });

  test('partitions spread over the members, and a member acquires only from its own', async () => {
    const fourId = await createTopic('shared-four', 4);
    const producer = kafkaClient(kb.bootstrap).producer();
    await producer.connect();
    for (let partition = 0; partition < 4; partition++)
      await producer.send({ topic: 'shared-four', messages: [{ partition, value: `p${partition}` }] });
    await producer.disconnect();
    await fromEarliest('sg-four');
    const heartbeat = (memberId: string) =>
      wire.request<ShareGroupHeartbeatResponse>(ApiKey.ShareGroupHeartbeat, 1, {
        groupId: 'sg-four',
        memberId,
        memberEpoch: 0,
        subscribedTopicNames: ['shared-four'],
      });
    const first = await heartbeat('f1');
    assert.deepEqual(first.assignment?.topicPartitions[0]?.partitions, [0, 1, 2, 3], 'alone, it has all');
    const second = await heartbeat('f2');
    const mine = [...(second.assignment?.topicPartitions[0]?.partitions ?? [])].sort();
    assert.equal(mine.length, 2, 'two members, two partitions each');
    // f1 still asks for all four (it has not heartbeated since): it gets records of its two only,
    // one partition by the fetch that initializes the share-partitions, the other by the next.
    const fetched: number[] = [];
    for (const epoch of [0, 1]) {
      const got = await fetchOf('sg-four', 'f1', epoch, 500, { id: fourId, partitions: [0, 1, 2, 3] });
      const now = got.responses.flatMap((t) => t.partitions).filter((p) => p.acquiredRecords.length > 0);
      assert.equal(now.length, 1, `fetch at epoch ${epoch}`);
      fetched.push(...now.map((p) => p.partitionIndex));
    }
    assert.equal(new Set(fetched).size, 2, `f1 got ${fetched}`);
    assert.ok(
      fetched.every((p) => !mine.includes(p)),
      `f1 got ${fetched}, f2 has ${mine}`,
    );
  });

  test("a fresh group's first fetch holds one partition, the next the others; partitions rotate by epoch", async () => {
    const twoId = await createTopic('shared-two', 2);
    const producer = kafkaClient(kb.bootstrap).producer();
    await producer.connect();
    const produceEach = (count: number) =>
      producer.send({
        topic: 'shared-two',
        messages: [0, 1].flatMap((partition) =>
          Array.from({ length: count }, () => ({ partition, value: 'v' })),
        ),
      });
    await produceEach(3);
    await fromEarliest('sg-two');
    await join('sg-two', 't1', 'shared-two');
    // Partition → the number of records acquired from it.
    const fetchTwo = async (epoch: number, maxRecords: number) => {
      const r = await fetchOf('sg-two', 't1', epoch, maxRecords, { id: twoId, partitions: [0, 1] });
      return Object.fromEntries(
        r.responses
          .flatMap((t) => t.partitions)
          .filter((p) => p.acquiredRecords.length > 0)
          .map((p) => [
            p.partitionIndex,
            p.acquiredRecords.reduce((n, a) => n + Number(a.lastOffset - a.firstOffset) + 1, 0),
          ]),
      );
    };
    assert.deepEqual(await fetchTwo(0, 500), { 0: 3 }, 'the fetch that initializes both reads one');
    assert.deepEqual(await fetchTwo(1, 500), { 1: 3 });
    await produceEach(1);
    assert.deepEqual(await fetchTwo(2, 500), { 0: 1, 1: 1 }, 'both initialized: both read');
    await produceEach(1);
    // Epoch 3 starts at partition 1 (3 mod 2), epoch 4 at partition 0.
    assert.deepEqual(await fetchTwo(3, 1), { 1: 1 });
    assert.deepEqual(await fetchTwo(4, 1), { 0: 1 });
    await producer.disconnect();
  });

  test('MaxBytes: whole batches while they fit, and always the first one', async () => {
    for (let i = 12; i < 15; i++) await produce(1, i);
    assert.deepEqual(acquired(await fetch('sg-latest', 'l1', 2, 100, [], 1)), [[12, 12, 1]]);
    assert.deepEqual(acquired(await fetch('sg-latest', 'l1', 3, 100, [], 1)), [[13, 13, 1]]);
    assert.deepEqual(acquired(await fetch('sg-latest', 'l1', 4, 100)), [[14, 14, 1]]);
  });

  test('share.isolation.level: read_committed skips aborted transactions, read_uncommitted hands out all', async () => {
    const start = Number((await fetchEnd()) ?? 0);
    const producer = kafkaClient(kb.bootstrap).producer({
      transactionalId: 'share-txn',
      maxInFlightRequests: 1,
      idempotent: true,
    });
    await producer.connect();
    const aborted = await producer.transaction();
    await aborted.send({ topic, messages: [{ value: 'no1' }, { value: 'no2' }] });
    await aborted.abort();
    const committed = await producer.transaction();
    await committed.send({ topic, messages: [{ value: 'yes' }] });
    await committed.commit();
    await producer.disconnect();
    for (const [group, level] of [
      ['sg-rc', 'read_committed'],
      ['sg-ru', 'read_uncommitted'],
    ] as const) {
      const set = await wire.request<IncrementalAlterConfigsResponse>(ApiKey.IncrementalAlterConfigs, 1, {
        resources: [
          {
            resourceType: 32,
            resourceName: group,
            configs: [
              { name: 'share.auto.offset.reset', configOperation: 0, value: 'earliest' },
              { name: 'share.isolation.level', configOperation: 0, value: level },
            ],
          },
        ],
        validateOnly: false,
      });
      assert.equal(set.responses[0]?.errorCode, KafkaError.none);
      await join(group, `${group}-m`);
    }
    // Offsets from start: 0-1 aborted, 2 its marker, 3 committed, 4 its marker.
    const offsetsFrom = (r: ShareFetchResponse) =>
      acquired(r).flatMap(([first, last]) =>
        Array.from({ length: last! - first! + 1 }, (_, i) => first! + i).filter((o) => o >= start),
      );
    assert.deepEqual(offsetsFrom(await fetch('sg-rc', 'sg-rc-m', 0, 1000)), [start + 3]);
    assert.deepEqual(offsetsFrom(await fetch('sg-ru', 'sg-ru-m', 0, 1000)), [start, start + 1, start + 3]);
  });
  test('a ShareFetch answers every partition whose acknowledgements it carried, also when all succeeded', async () => {
    await join('sg-ack', 'k1');
    assert.deepEqual(acquired(await fetch('sg-ack', 'k1', 0, 100)), []);
    const end = Number((await fetchEnd()) ?? 0);
    await produce(1, 100);
    assert.deepEqual(acquired(await fetch('sg-ack', 'k1', 1, 100)), [[end, end, 1]]);
    // librdkafka counts a partition left out of the answer as INVALID_RECORD_STATE.
    const acked = await fetch('sg-ack', 'k1', 2, 100, [
      { firstOffset: BigInt(end), lastOffset: BigInt(end), acknowledgeTypes: [1] },
    ]);
    const partition = acked.responses[0]?.partitions[0];
    assert.equal(partition?.partitionIndex, 0);
    assert.equal(partition?.acknowledgeErrorCode, KafkaError.none);
    assert.deepEqual(partition?.acquiredRecords, []);
  });
  test('records of a partition a member forgets go back to the group at once', async () => {
    await join('sg-forget', 'g1');
    await join('sg-forget', 'g2');
    assert.deepEqual(acquired(await fetch('sg-forget', 'g1', 0, 100)), []);
    assert.deepEqual(acquired(await fetch('sg-forget', 'g2', 0, 100)), []);
    const end = Number((await fetchEnd()) ?? 0);
    await produce(2, 200);
    assert.deepEqual(acquired(await fetch('sg-forget', 'g1', 1, 100)), [[end, end + 1, 1]]);
    const forgot = await wire.request<ShareFetchResponse>(ApiKey.ShareFetch, 1, {
      groupId: 'sg-forget',
      memberId: 'g1',
      shareSessionEpoch: 2,
      maxWaitMs: 0,
      minBytes: 1,
      maxBytes: 1024,
      maxRecords: 100,
      batchSize: 100,
      topics: [],
      forgottenTopicsData: [{ topicId, partitions: [0] }],
    });
    assert.equal(forgot.errorCode, KafkaError.none);
    assert.deepEqual(acquired(await fetch('sg-forget', 'g2', 1, 100)), [[end, end + 1, 2]]);
  });
});
