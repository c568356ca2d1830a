/**
 * kafkajs 2.2.4 against the in-process broker: producing with acks 0, 1 and -1, keyed partitioning,
 * headers, gzip, the idempotent producer, admin operations and consumer groups with rebalances.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CompressionTypes, type Consumer, type EachMessagePayload, type Kafka } from 'kafkajs';
import { ApiKey, type ListOffsetsResponse } from '../../../src/protocols/kafka/codec/index.js';
import {
  type KafkaTestBroker,
  kafkaClient,
  startKafkaBroker,
  until,
} from '../../../testing/kafka-helpers.js';
import { WireClient } from '../../../testing/kafka-wire.js';

interface Seen {
  partition: number;
  offset: string;
  key: string | undefined;
  value: string | undefined;
  headers: Record<string, string>;
}

function collector(into: Seen[]) {
  return async ({ partition, message }: EachMessagePayload) => {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
    into.push({
      partition,
      offset: message.offset,
      key: message.key?.toString(),
      value: message.value?.toString(),
      headers,
    });
  };
}

const groupTimeouts = {
  sessionTimeout: 3000,
  rebalanceTimeout: 4000,
  heartbeatInterval: 200,
  maxWaitTimeInMs: 100,
};

describe('kafkajs', () => {
  let kb: KafkaTestBroker;
  let kafka: Kafka;
  const consumers: Consumer[] = [];
  before(async () => {
    kb = await startKafkaBroker();
    kafka = kafkaClient(kb.bootstrap);
  });
  after(async () => {
    await Promise.all(consumers.map((c) => c.disconnect().catch(() => undefined)));
    await kb.stop();
  });

  async function consumeAll(topic: string, count: number, groupId: string): Promise<Seen[]> {
    const seen: Seen[] = [];
    const consumer = kafka.consumer({ groupId, ...groupTimeouts });
    consumers.push(consumer);
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ eachMessage: collector(seen) });
    await until(() => seen.length >= count, 15_000, `${count} messages from ${topic}`);
    await consumer.disconnect();
    return seen;
  }

  test('acks 0, 1 and -1 all store the records, with keys, headers and gzip', async () => {
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'acks', numPartitions: 1 }] });
    await admin.disconnect();
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: 'acks', acks: 0, messages: [{ key: 'k0', value: 'zero' }] });
    await producer.send({
      topic: 'acks',
      acks: 1,
      messages: [{ key: 'k1', value: 'one', headers: { trace: 'abc' } }],
    });
    await producer.send({
      topic: 'acks',
      acks: -1,
      compression: CompressionTypes.GZIP,
      messages: [{ key: 'k2', value: 'all' }, { value: 'gz' }],
    });
    await producer.disconnect();
    const seen = await consumeAll('acks', 4, 'acks-reader');
    assert.deepEqual(
      seen.map((s) => [s.key, s.value]),
      [
        ['k0', 'zero'],
        ['k1', 'one'],
        ['k2', 'all'],
        [undefined, 'gz'],
      ],
    );
    assert.deepEqual(seen[1]!.headers, { trace: 'abc' });
    assert.deepEqual(
      seen.map((s) => s.offset),
      ['0', '1', '2', '3'],
    );
  });

  test('records with the same key land on the same partition', async () => {
    const producer = kafka.producer();
    await producer.connect();
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'keyed', numPartitions: 4 }] });
    await admin.disconnect();
    const messages = Array.from({ length: 40 }, (_, i) => ({ key: `user-${i % 5}`, value: String(i) }));
    await producer.send({ topic: 'keyed', messages });
    await producer.disconnect();
    const seen = await consumeAll('keyed', 40, 'keyed-reader');
    const partitionOfKey = new Map<string, Set<number>>();
    for (const s of seen) {
      const set = partitionOfKey.get(s.key!) ?? new Set();
      set.add(s.partition);
      partitionOfKey.set(s.key!, set);
    }
    for (const [key, partitions] of partitionOfKey)
      assert.equal(partitions.size, 1, `${key} on one partition`);
    assert.ok(new Set(seen.map((s) => s.partition)).size > 1, 'keys spread over partitions');
  });

  test('the idempotent producer sends and is read back once', async () => {
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    for (let i = 0; i < 5; i++)
      await producer.send({ topic: 'idem-js', acks: -1, messages: [{ value: `m${i}` }] });
    await producer.disconnect();
    const seen = await consumeAll('idem-js', 5, 'idem-reader');
    assert.deepEqual(
      seen.map((s) => s.value),
      ['m0', 'm1', 'm2', 'm3', 'm4'],
    );
  });

  test('admin: create, describe configs, add partitions, list and delete topics', async () => {
    const admin = kafka.admin();
    await admin.connect();
    try {
      assert.equal(
        await admin.createTopics({
          topics: [
            { topic: 'adm', numPartitions: 2, configEntries: [{ name: 'retention.ms', value: '60000' }] },
          ],
        }),
        true,
      );
      assert.equal(
        await admin.createTopics({ topics: [{ topic: 'adm', numPartitions: 2 }] }),
        false,
        'already exists',
      );
      const configs = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [{ type: 2, name: 'adm' }],
      });
      const retention = configs.resources[0]!.configEntries.find((c) => c.configName === 'retention.ms');
      assert.equal(retention?.configValue, '60000');
      await admin.createPartitions({ topicPartitions: [{ topic: 'adm', count: 3 }] });
      const meta = await admin.fetchTopicMetadata({ topics: ['adm'] });
      assert.equal(meta.topics[0]!.partitions.length, 3);
      assert.ok((await admin.listTopics()).includes('adm'));
      await admin.deleteTopics({ topics: ['adm'] });
      assert.ok(!(await admin.listTopics()).includes('adm'));
    } finally {
      await admin.disconnect();
    }
  });

  test('offsets by timestamp name the first record at or after the time, inside batches too', async () => {
    const admin = kafka.admin();
    await admin.connect();
    const producer = kafka.producer();
    await producer.connect();
    try {
      await admin.createTopics({ topics: [{ topic: 'by-time', numPartitions: 1 }] });
      // Two batches, the second gzipped, each with records stamped 1 s apart.
      const stamped = (from: number) =>
        [0, 1, 2, 3].map((i) => ({ value: `t${from + i}`, timestamp: String((from + i) * 1000) }));
      await producer.send({ topic: 'by-time', messages: stamped(10) });
      await producer.send({ topic: 'by-time', compression: CompressionTypes.GZIP, messages: stamped(20) });
      const at = async (ms: number) => (await admin.fetchTopicOffsetsByTimestamp('by-time', ms))[0]!.offset;
      assert.equal(await at(0), '0');
      assert.equal(await at(12_000), '2', 'the third record of the first batch');
      assert.equal(await at(12_500), '3');
      assert.equal(await at(13_001), '4', 'past the first batch: the start of the next one');
      assert.equal(await at(22_000), '6', 'inside the compressed batch');
      assert.equal(await at(23_000), '7');
      assert.equal(await at(99_000), '8', 'past every record: the end of the log');
    } finally {
      await producer.disconnect();
      await admin.disconnect();
    }
  });

  test('MAX_TIMESTAMP names the record with the largest timestamp, not the last one (KIP-734)', async () => {
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'max-time-empty' }, { topic: 'max-time' }] });
    await admin.disconnect();
    const producer = kafka.producer();
    await producer.connect();
    const wire = await WireClient.open(kb.port);
    try {
      const maxOf = async (topic: string) => {
        const answer = await wire.request<ListOffsetsResponse>(ApiKey.ListOffsets, 7, {
          replicaId: -1,
          isolationLevel: 0,
          topics: [{ name: topic, partitions: [{ partitionIndex: 0, timestamp: -3n }] }],
        });
        const p = answer.topics[0]!.partitions[0]!;
        return { offset: p.offset, timestamp: p.timestamp };
      };
      assert.deepEqual(await maxOf('max-time-empty'), { offset: -1n, timestamp: -1n }, 'an empty partition');
      // librdkafka's 0081_admin stamps one batch 100, 400, 250 and expects offset 1 (Kafka 3.8+, KAFKA-16310).
      const stamps = (values: number[]) => values.map((t) => ({ value: `at-${t}`, timestamp: String(t) }));
      await producer.send({ topic: 'max-time', messages: stamps([10_100, 10_400, 10_250]) });
      assert.deepEqual(await maxOf('max-time'), { offset: 1n, timestamp: 10_400n });
      await producer.send({
        topic: 'max-time',
        compression: CompressionTypes.GZIP,
        messages: stamps([9_000, 10_400]),
      });
      assert.deepEqual(
        await maxOf('max-time'),
        { offset: 1n, timestamp: 10_400n },
        'the first record of the largest',
      );
      await producer.send({
        topic: 'max-time',
        compression: CompressionTypes.GZIP,
        messages: stamps([20_000, 5]),
      });
      assert.deepEqual(
        await maxOf('max-time'),
        { offset: 5n, timestamp: 20_000n },
        'inside a compressed batch',
      );
    } finally {
      wire.close();
      await producer.disconnect();
    }
  });

  test('a group of three shares the partitions, rebalances when members leave, and commits offsets', async () => {
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'grouped', numPartitions: 6 }] });
    const seen: Seen[] = [];
    const assigned = new Map<number, number[]>();
    const members: Consumer[] = [];
    for (let i = 0; i < 3; i++) {
      const consumer = kafka.consumer({ groupId: 'trio', ...groupTimeouts });
      consumers.push(consumer);
      members.push(consumer);
      consumer.on(consumer.events.GROUP_JOIN, (e) =>
        assigned.set(i, (e.payload.memberAssignment['grouped'] as number[] | undefined) ?? []),
      );
      await consumer.connect();
      await consumer.subscribe({ topic: 'grouped', fromBeginning: true });
      await consumer.run({ eachMessage: collector(seen) });
    }
    const allAssigned = () => [...assigned.values()].flat().sort();
    await until(
      () => assigned.size === 3 && [...assigned.values()].every((a) => a.length === 2),
      20_000,
      'three members with two partitions each',
    );
    assert.deepEqual(allAssigned(), [0, 1, 2, 3, 4, 5]);
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic: 'grouped',
      messages: Array.from({ length: 60 }, (_, i) => ({ key: `k${i}`, value: String(i) })),
    });
    await until(() => seen.length >= 60, 15_000, 'all 60 records consumed');
    const described = await admin.describeGroups(['trio']);
    assert.equal(described.groups[0]!.state, 'Stable');
    assert.equal(described.groups[0]!.members.length, 3);
    await members[0]!.disconnect();
    await members[1]!.disconnect();
    assigned.delete(0);
    assigned.delete(1);
    await until(() => (assigned.get(2) ?? []).length === 6, 20_000, 'the last member owns every partition');
    await producer.send({ topic: 'grouped', messages: [{ value: 'after' }] });
    await until(() => seen.some((s) => s.value === 'after'), 15_000, 'the survivor reads new records');
    await members[2]!.disconnect();
    await producer.disconnect();
    const offsets = await admin.fetchOffsets({ groupId: 'trio', topics: ['grouped'] });
    const total = offsets[0]!.partitions.reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
    assert.equal(total, 61, 'committed offsets cover every record');
    assert.ok((await admin.listGroups()).groups.some((g) => g.groupId === 'trio'));
    await admin.deleteGroups(['trio']);
    await admin.disconnect();
  });
});
