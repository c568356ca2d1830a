/**
 * Topic ids (KIP-516) as stored ids: CreateTopics v7 and Metadata answer the id the topic was made
 * with; AlterConfigs, IncrementalAlterConfigs, CreatePartitions and a broker restart keep it; a topic
 * deleted and created again under its name gets a new one (librdkafka's 0184 checks this), and requests
 * naming the old id find no topic (UNKNOWN_TOPIC_ID). An AMQP stream queue has an id too.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import amqplib from 'amqplib';
import {
  ApiKey,
  type CreateTopicsResponse,
  type IncrementalAlterConfigsResponse,
  type MetadataResponse,
  type ShareAcknowledgeResponse,
  type ShareFetchResponse,
  type ShareGroupHeartbeatResponse,
} from '../../../src/protocols/kafka/codec/index.js';
import { KafkaError } from '../../../src/protocols/kafka/errors.js';
import {
  type KafkaTestBroker,
  kafkaClient,
  startKafkaBroker,
  topicConfig,
} from '../../../testing/kafka-helpers.js';
import { WireClient } from '../../../testing/kafka-wire.js';

const zeroId = '00000000-0000-0000-0000-000000000000';
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

async function idOf(wire: WireClient, name: string): Promise<string> {
  const md = await wire.request<MetadataResponse>(ApiKey.Metadata, 12, { topics: [{ name }] });
  assert.equal(md.topics[0]?.errorCode, KafkaError.none);
  return md.topics[0]!.topicId;
}

async function createTopic(wire: WireClient, name: string): Promise<string> {
  const created = await wire.request<CreateTopicsResponse>(ApiKey.CreateTopics, 7, {
    topics: [{ name, numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }],
    timeoutMs: 5000,
    validateOnly: false,
  });
  assert.equal(created.topics[0]?.errorCode, KafkaError.none, created.topics[0]?.errorMessage ?? '');
  return created.topics[0]!.topicId;
}

describe('KIP-516 topic ids', () => {
  let kb: KafkaTestBroker;
  let wire: WireClient;
  before(async () => {
    kb = await startKafkaBroker();
    wire = await WireClient.open(kb.port);
  });
  after(async () => {
    wire.close();
    await kb.stop();
  });

  test('CreateTopics v7 answers the id Metadata then shows; a validation answers the zero id', async () => {
    const id = await createTopic(wire, 'ids-created');
    assert.match(id, uuid);
    assert.notEqual(id, zeroId);
    assert.equal(await idOf(wire, 'ids-created'), id);
    const checked = await wire.request<CreateTopicsResponse>(ApiKey.CreateTopics, 7, {
      topics: [
        { name: 'ids-validated', numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] },
      ],
      timeoutMs: 5000,
      validateOnly: true,
    });
    assert.equal(checked.topics[0]?.errorCode, KafkaError.none);
    assert.equal(checked.topics[0]?.topicId, zeroId);
  });

  test('AlterConfigs, IncrementalAlterConfigs and CreatePartitions keep the id', async () => {
    const id = await createTopic(wire, 'ids-altered');
    const admin = kafkaClient(kb.bootstrap).admin();
    await admin.connect();
    try {
      await admin.alterConfigs({
        validateOnly: false,
        resources: [
          { type: 2, name: 'ids-altered', configEntries: [{ name: 'retention.ms', value: '86400000' }] },
        ],
      });
      assert.equal(await topicConfig(admin, 'ids-altered', 'retention.ms'), '86400000');
      assert.equal(await idOf(wire, 'ids-altered'), id);
      const inc = await wire.request<IncrementalAlterConfigsResponse>(ApiKey.IncrementalAlterConfigs, 1, {
        resources: [
          {
            resourceType: 2,
            resourceName: 'ids-altered',
            configs: [{ name: 'cleanup.policy', configOperation: 0, value: 'compact' }],
          },
        ],
        validateOnly: false,
      });
      assert.equal(inc.responses[0]?.errorCode, KafkaError.none);
      assert.equal(await idOf(wire, 'ids-altered'), id);
      await admin.createPartitions({ topicPartitions: [{ topic: 'ids-altered', count: 3 }] });
      const md = await wire.request<MetadataResponse>(ApiKey.Metadata, 12, {
        topics: [{ name: 'ids-altered' }],
      });
      assert.equal(md.topics[0]?.partitions.length, 3);
      assert.equal(md.topics[0]?.topicId, id);
    } finally {
      await admin.disconnect();
    }
  });

  test('a topic deleted and created again gets a new id; the old id finds nothing', async () => {
    const admin = kafkaClient(kb.bootstrap).admin();
    await admin.connect();
    try {
      await admin.createTopics({ topics: [{ topic: 'ids-again', numPartitions: 1 }] });
      const old = await idOf(wire, 'ids-again');
      await admin.deleteTopics({ topics: ['ids-again'] });
      await admin.createTopics({ topics: [{ topic: 'ids-again', numPartitions: 1 }] });
      const fresh = await idOf(wire, 'ids-again');
      assert.match(fresh, uuid);
      assert.notEqual(fresh, old);
      const listed = await wire.request<MetadataResponse>(ApiKey.Metadata, 12, { topics: null });
      assert.deepEqual(
        listed.topics.filter((t) => t.name === 'ids-again').map((t) => t.topicId),
        [fresh],
      );
      const byOld = await wire.request<MetadataResponse>(ApiKey.Metadata, 12, {
        topics: [{ name: null, topicId: old }],
      });
      assert.equal(byOld.topics[0]?.errorCode, KafkaError.unknownTopicId);
      const byNew = await wire.request<MetadataResponse>(ApiKey.Metadata, 12, {
        topics: [{ name: null, topicId: fresh }],
      });
      assert.equal(byNew.topics[0]?.name, 'ids-again');
    } finally {
      await admin.disconnect();
    }
  });

  test('ShareFetch and ShareAcknowledge naming a recreated topic by its old id get UNKNOWN_TOPIC_ID at once; the new topic is shared afresh', async () => {
    const admin = kafkaClient(kb.bootstrap).admin();
    const producer = kafkaClient(kb.bootstrap).producer();
    await admin.connect();
    await producer.connect();
    const shareFetch = (id: string, epoch: number, maxWaitMs: number, forget: string[] = []) =>
      wire.request<ShareFetchResponse>(ApiKey.ShareFetch, 1, {
        groupId: 'ids-sg',
        memberId: 'ids-member',
        shareSessionEpoch: epoch,
        maxWaitMs,
        minBytes: 1,
        maxBytes: 1024 * 1024,
        maxRecords: 10,
        batchSize: 10,
        topics: [{ topicId: id, partitions: [{ partitionIndex: 0, acknowledgementBatches: [] }] }],
        forgottenTopicsData: forget.map((topicId) => ({ topicId, partitions: [0] })),
      });
    const acquired = (r: ShareFetchResponse) =>
      r.responses.flatMap((t) =>
        t.partitions.flatMap((p) =>
          p.acquiredRecords.map((a) => [Number(a.firstOffset), Number(a.lastOffset), a.deliveryCount]),
        ),
      );
    try {
      await admin.createTopics({ topics: [{ topic: 'ids-shared', numPartitions: 1 }] });
      await producer.send({ topic: 'ids-shared', messages: [{ value: 'before' }] });
      const old = await idOf(wire, 'ids-shared');
      const earliest = await wire.request<IncrementalAlterConfigsResponse>(
        ApiKey.IncrementalAlterConfigs,
        1,
        {
          resources: [
            {
              resourceType: 32,
              resourceName: 'ids-sg',
              configs: [{ name: 'share.auto.offset.reset', configOperation: 0, value: 'earliest' }],
            },
          ],
          validateOnly: false,
        },
      );
      assert.equal(earliest.responses[0]?.errorCode, KafkaError.none);
      const joined = await wire.request<ShareGroupHeartbeatResponse>(ApiKey.ShareGroupHeartbeat, 1, {
        groupId: 'ids-sg',
        memberId: 'ids-member',
        memberEpoch: 0,
        subscribedTopicNames: ['ids-shared'],
      });
      assert.equal(joined.errorCode, KafkaError.none, joined.errorMessage ?? '');
      assert.deepEqual(acquired(await shareFetch(old, 0, 5000)), [[0, 0, 1]]);

      await admin.deleteTopics({ topics: ['ids-shared'] });
      await admin.createTopics({ topics: [{ topic: 'ids-shared', numPartitions: 1 }] });
      await producer.send({ topic: 'ids-shared', messages: [{ value: 'after' }] });
      const fresh = await idOf(wire, 'ids-shared');
      assert.notEqual(fresh, old);

      const started = Date.now();
      const stale = await shareFetch(old, 1, 10_000);
      assert.equal(stale.errorCode, KafkaError.none);
      assert.deepEqual(
        stale.responses.map((t) => [t.topicId, t.partitions.map((p) => [p.partitionIndex, p.errorCode])]),
        [[old, [[0, KafkaError.unknownTopicId]]]],
      );
      assert.ok(Date.now() - started < 5000, 'answered without waiting out maxWaitMs');

      // Until the client forgets the old id, its session partition is answered UNKNOWN_TOPIC_ID at
      // every fetch; forgotten, the new topic alone is answered. Its record is a first delivery: nothing
      // of the old topic's share-partition (its lock on offset 0, its delivery count) carries over.
      const renewed = await shareFetch(fresh, 2, 5000, [old]);
      assert.deepEqual(
        renewed.responses.map((t) => t.topicId),
        [fresh],
      );
      assert.deepEqual(acquired(renewed), [[0, 0, 1]]);

      const acked = await wire.request<ShareAcknowledgeResponse>(ApiKey.ShareAcknowledge, 1, {
        groupId: 'ids-sg',
        memberId: 'ids-member',
        shareSessionEpoch: 3,
        topics: [
          {
            topicId: old,
            partitions: [
              {
                partitionIndex: 0,
                acknowledgementBatches: [{ firstOffset: 0n, lastOffset: 0n, acknowledgeTypes: [1] }],
              },
            ],
          },
        ],
      });
      assert.equal(acked.responses[0]?.partitions[0]?.errorCode, KafkaError.unknownTopicId);
    } finally {
      await producer.disconnect();
      await admin.disconnect();
    }
  });
});

test('topic ids survive a broker restart, an AMQP stream queue included', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-topic-ids-'));
  try {
    let kb = await startKafkaBroker({ storage: 'file', dataDir, amqp: true });
    let wire = await WireClient.open(kb.port);
    const id = await createTopic(wire, 'ids-kept');
    const conn = await amqplib.connect(`amqp://guest:guest@127.0.0.1:${kb.broker.ports.amqpPort}`);
    const ch = await conn.createChannel();
    await ch.assertQueue('ids-amqp', { durable: true, arguments: { 'x-queue-type': 'stream' } });
    await conn.close();
    const queueId = await idOf(wire, 'ids-amqp');
    assert.match(queueId, uuid);
    assert.equal(await idOf(wire, 'ids-amqp'), queueId, 'made once, not at every look');
    wire.close();
    await kb.stop();

    kb = await startKafkaBroker({ storage: 'file', dataDir, amqp: true });
    wire = await WireClient.open(kb.port);
    try {
      assert.equal(await idOf(wire, 'ids-kept'), id);
      assert.equal(await idOf(wire, 'ids-amqp'), queueId);
    } finally {
      wire.close();
      await kb.stop();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
