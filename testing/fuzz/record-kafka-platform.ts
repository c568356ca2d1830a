/**
 * The Kafka fuzz corpus's session of the platform APIs no recorded client library speaks all of:
 * transactions (InitProducerId with a transactional id, AddPartitionsToTxn v3 and the batched v5,
 * AddOffsetsToTxn, TxnOffsetCommit, EndTxn v3 and v5, DescribeTransactions, ListTransactions,
 * DescribeProducers), configs (DescribeConfigs, AlterConfigs, IncrementalAlterConfigs with SET, DELETE,
 * APPEND and SUBTRACT, a share group's), a compacted topic with keyed records and a tombstone,
 * DeleteRecords, OffsetDelete, DescribeLogDirs, DescribeCluster, KIP-848 (ConsumerGroupHeartbeat,
 * ConsumerGroupDescribe), share groups (ShareGroupHeartbeat, ShareFetch, ShareAcknowledge,
 * ShareGroupDescribe) and a fetch session (KIP-227). Raw requests over one connection, each answered
 * before the next, as record.ts captures what a client writes.
 */
import { ApiKey, encodeRecordBatch } from '../../src/protocols/kafka/codec/index.js';
import { compactNowRequest, WireClient } from '../kafka-wire.js';

// biome-ignore lint/suspicious/noExplicitAny: decoded answers
type Obj = any;

const topic = 'fz-platform';
const utf8 = (s: string) => new TextEncoder().encode(s);

export async function kafkaPlatformSession(port: number): Promise<void> {
  const wire = await WireClient.open(port);
  try {
    const topicId = await compactedTopic(wire);
    await transactions(wire);
    await configs(wire);
    await records(wire);
    await consumerGroup(wire);
    await shareGroup(wire, topicId);
    await fetchSession(wire);
  } finally {
    wire.close();
  }
}

async function compactedTopic(wire: WireClient): Promise<string> {
  const created = await wire.request<Obj>(ApiKey.CreateTopics, 7, {
    topics: [
      {
        name: topic,
        numPartitions: 2,
        replicationFactor: 1,
        assignments: [],
        configs: [{ name: 'cleanup.policy', value: 'compact' }],
      },
    ],
    timeoutMs: 5000,
    validateOnly: false,
  });
  const records = encodeRecordBatch({
    baseTimestamp: BigInt(Date.now()),
    records: [
      { key: utf8('k1'), value: utf8('v1') },
      { key: utf8('k2'), value: utf8('v2') },
      { key: utf8('k1'), value: null },
    ],
  });
  await wire.request(ApiKey.Produce, 9, {
    transactionalId: null,
    acks: -1,
    timeoutMs: 5000,
    topicData: [{ name: topic, partitionData: [{ index: 0, records }] }],
  });
  return created.topics[0].topicId;
}

async function transactions(wire: WireClient): Promise<void> {
  const init = await wire.request<Obj>(ApiKey.InitProducerId, 4, {
    transactionalId: 'fz-txn',
    transactionTimeoutMs: 60_000,
    producerId: -1n,
    producerEpoch: -1,
  });
  const ids = { transactionalId: 'fz-txn', producerId: init.producerId, producerEpoch: init.producerEpoch };
  await wire.request(ApiKey.AddPartitionsToTxn, 3, {
    v3AndBelowTransactionalId: ids.transactionalId,
    v3AndBelowProducerId: ids.producerId,
    v3AndBelowProducerEpoch: ids.producerEpoch,
    v3AndBelowTopics: [{ name: topic, partitions: [0, 1] }],
  });
  await wire.request(ApiKey.AddPartitionsToTxn, 5, {
    transactions: [
      {
        ...ids,
        verifyOnly: true,
        topics: [{ name: topic, partitions: [0] }],
      },
    ],
  });
  await wire.request(ApiKey.AddOffsetsToTxn, 3, { ...ids, groupId: 'fz-txn-group' });
  await wire.request(ApiKey.TxnOffsetCommit, 3, {
    ...ids,
    groupId: 'fz-txn-group',
    topics: [
      { name: topic, partitions: [{ partitionIndex: 0, committedOffset: 1n, committedMetadata: 'm' }] },
    ],
  });
  await wire.request(ApiKey.DescribeTransactions, 0, { transactionalIds: ['fz-txn', 'fz-none'] });
  await wire.request(ApiKey.ListTransactions, 1, {
    stateFilters: ['Ongoing'],
    producerIdFilters: [],
    durationFilter: -1n,
  });
  await wire.request(ApiKey.EndTxn, 3, { ...ids, committed: true });
  await wire.request(ApiKey.EndTxn, 5, { ...ids, committed: false });
  await wire.request(ApiKey.DescribeProducers, 0, { topics: [{ name: topic, partitionIndexes: [0, 1] }] });
}

async function configs(wire: WireClient): Promise<void> {
  await wire.request(ApiKey.DescribeConfigs, 4, {
    resources: [
      { resourceType: 2, resourceName: topic, configurationKeys: null },
      { resourceType: 4, resourceName: '0', configurationKeys: ['max.connections'] },
      { resourceType: 32, resourceName: 'fz-share', configurationKeys: null },
    ],
    includeSynonyms: true,
    includeDocumentation: true,
  });
  await wire.request(ApiKey.AlterConfigs, 2, compactNowRequest(topic));
  await wire.request(ApiKey.IncrementalAlterConfigs, 1, {
    resources: [
      {
        resourceType: 2,
        resourceName: topic,
        configs: [
          { name: 'retention.ms', configOperation: 0, value: '3600000' },
          { name: 'min.cleanable.dirty.ratio', configOperation: 1, value: null },
          { name: 'cleanup.policy', configOperation: 3, value: 'delete' },
          { name: 'leader.replication.throttled.replicas', configOperation: 2, value: '0:0' },
        ],
      },
      {
        resourceType: 32,
        resourceName: 'fz-share',
        configs: [{ name: 'share.auto.offset.reset', configOperation: 0, value: 'earliest' }],
      },
    ],
    validateOnly: false,
  });
}

async function records(wire: WireClient): Promise<void> {
  await wire.request(ApiKey.DeleteRecords, 2, {
    topics: [{ name: topic, partitions: [{ partitionIndex: 1, offset: -1n }] }],
    timeoutMs: 5000,
  });
  await wire.request(ApiKey.OffsetDelete, 0, {
    groupId: 'fz-txn-group',
    topics: [{ name: topic, partitions: [{ partitionIndex: 0 }] }],
  });
  await wire.request(ApiKey.DescribeLogDirs, 4, { topics: [{ topic, partitions: [0, 1] }] });
  await wire.request(ApiKey.DescribeCluster, 1, {
    includeClusterAuthorizedOperations: true,
    endpointType: 1,
  });
}

async function consumerGroup(wire: WireClient): Promise<void> {
  const heartbeat = (memberEpoch: number, subscribed: string[] | null) =>
    wire.request<Obj>(ApiKey.ConsumerGroupHeartbeat, 1, {
      groupId: 'fz-848',
      memberId: 'fz-848-member-00000001',
      memberEpoch,
      instanceId: null,
      rackId: null,
      rebalanceTimeoutMs: 30_000,
      subscribedTopicNames: subscribed,
      subscribedTopicRegex: null,
      serverAssignor: memberEpoch === 0 ? 'uniform' : null,
      topicPartitions: memberEpoch === 0 ? [] : null,
    });
  const joined = await heartbeat(0, [topic]);
  await heartbeat(joined.memberEpoch, null);
  await wire.request(ApiKey.ConsumerGroupDescribe, 1, {
    groupIds: ['fz-848'],
    includeAuthorizedOperations: true,
  });
  await heartbeat(-1, null);
}

async function shareGroup(wire: WireClient, topicId: string): Promise<void> {
  const member = 'fz-share-member-000001';
  const heartbeat = (memberEpoch: number) =>
    wire.request(ApiKey.ShareGroupHeartbeat, 1, {
      groupId: 'fz-share',
      memberId: member,
      memberEpoch,
      subscribedTopicNames: memberEpoch === 0 ? [topic] : null,
    });
  const shareFetch = (epoch: number, acks: object[]) =>
    wire.request(ApiKey.ShareFetch, 1, {
      groupId: 'fz-share',
      memberId: member,
      shareSessionEpoch: epoch,
      maxWaitMs: 0,
      minBytes: 1,
      maxBytes: 1 << 20,
      maxRecords: 10,
      batchSize: 10,
      topics: [{ topicId, partitions: [{ partitionIndex: 0, acknowledgementBatches: acks }] }],
    });
  const ack = (first: bigint, last: bigint, types: number[]) => ({
    firstOffset: first,
    lastOffset: last,
    acknowledgeTypes: types,
  });
  await heartbeat(0);
  await shareFetch(0, []);
  await wire.request(ApiKey.ShareAcknowledge, 1, {
    groupId: 'fz-share',
    memberId: member,
    shareSessionEpoch: 1,
    topics: [{ topicId, partitions: [{ partitionIndex: 0, acknowledgementBatches: [ack(0n, 0n, [1])] }] }],
  });
  await shareFetch(2, [ack(1n, 2n, [2, 3])]);
  await wire.request(ApiKey.ShareGroupDescribe, 1, {
    groupIds: ['fz-share'],
    includeAuthorizedOperations: true,
  });
  await shareFetch(-1, [ack(1n, 1n, [0])]);
  await heartbeat(-1);
}

async function fetchSession(wire: WireClient): Promise<void> {
  const fetch = (sessionId: number, sessionEpoch: number) =>
    wire.request<Obj>(ApiKey.Fetch, 12, {
      replicaId: -1,
      maxWaitMs: 0,
      minBytes: 1,
      maxBytes: 1 << 20,
      isolationLevel: 1,
      sessionId,
      sessionEpoch,
      topics:
        sessionEpoch === 1
          ? []
          : [{ topic, partitions: [{ partition: 0, fetchOffset: 0n, partitionMaxBytes: 65_536 }] }],
      forgottenTopicsData: sessionEpoch === 1 ? [{ topic, partitions: [1] }] : [],
    });
  const opened = await fetch(0, 0);
  await fetch(opened.sessionId, 1);
  await fetch(opened.sessionId, -1);
}
