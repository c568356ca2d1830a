/**
 * KIP-848 consumer groups driven by a real client: `@confluentinc/kafka-javascript` (librdkafka 2.15)
 * with `group.protocol=consumer`. Two members split the partitions the broker assigns, one leaves and
 * the other takes its partitions over, starting at the offsets committed, so no record is read twice.
 * A member subscribing by a regular expression gets the topics it matches, one created later too.
 * Skips when the optional package is not installed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type CkjsConsumer, confluentJsClient, loadConfluentJs } from '../../../testing/kafka-confluent.js';
import {
  type KafkaTestBroker,
  kafkaClient,
  startKafkaBroker,
  until,
} from '../../../testing/kafka-helpers.js';

const mod = await loadConfluentJs();
const skip = typeof mod === 'string' ? mod : false;
const topic = 'kip848-client';
const partitions = 4;
const waitMs = 60_000;

interface Member {
  readonly consumer: CkjsConsumer;
  readonly seen: string[];
}

describe('KIP-848 with @confluentinc/kafka-javascript (group.protocol=consumer)', { skip }, () => {
  let kb: KafkaTestBroker;
  before(async () => {
    kb = await startKafkaBroker();
    const admin = kafkaClient(kb.bootstrap).admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions }] });
    await admin.disconnect();
  });
  after(async () => kb.stop());

  async function produce(from: number, count: number): Promise<void> {
    const producer = kafkaClient(kb.bootstrap).producer();
    await producer.connect();
    const messages = Array.from({ length: count }, (_, i) => ({
      partition: (from + i) % partitions,
      value: `r${from + i}`,
    }));
    await producer.send({ topic, acks: -1, messages });
    await producer.disconnect();
  }

  /** A member that commits each record before taking the next, so a leave loses nothing. */
  async function member(groupId: string): Promise<Member> {
    assert(typeof mod !== 'string');
    const consumer = confluentJsClient(mod, kb.bootstrap).consumer({
      kafkaJS: { groupId, fromBeginning: true, autoCommit: false },
      'group.protocol': 'consumer',
    });
    const seen: string[] = [];
    await consumer.connect();
    await consumer.subscribe({ topics: [topic] });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        seen.push(String(message.value));
        const next = String(BigInt(message.offset) + 1n);
        await consumer.commitOffsets([{ topic, partition, offset: next }]);
      },
    });
    return { consumer, seen };
  }

  const owned = (m: Member): number[] =>
    m.consumer.assignment().flatMap((a) => (a.topic === topic ? [a.partition] : []));

  test('two members share the partitions; the one left takes over at the committed offsets', async () => {
    const groupId = 'kip848-takeover';
    await produce(0, 40);
    const a = await member(groupId);
    const b = await member(groupId);
    try {
      await until(
        () => owned(a).length > 0 && owned(b).length > 0 && owned(a).length + owned(b).length === partitions,
        waitMs,
        () => `a split of ${partitions} partitions (a ${owned(a)}, b ${owned(b)})`,
      );
      assert.deepEqual(
        [...owned(a), ...owned(b)].sort(),
        Array.from({ length: partitions }, (_, p) => p),
        'each partition has exactly one owner',
      );
      await until(() => a.seen.length + b.seen.length >= 40, waitMs, 'the first 40 records read');
      await a.consumer.disconnect();
      await until(
        () => owned(b).length === partitions,
        waitMs,
        () => `b owning every partition (${owned(b)})`,
      );
      await produce(40, 40);
      await until(() => a.seen.length + b.seen.length >= 80, waitMs, 'the next 40 records read by b');
      const all = [...a.seen, ...b.seen].sort();
      assert.deepEqual(all, Array.from({ length: 80 }, (_, i) => `r${i}`).sort(), 'every record once');
      const admin = kafkaClient(kb.bootstrap).admin();
      await admin.connect();
      const offsets = await admin.fetchOffsets({ groupId, topics: [topic] });
      await admin.disconnect();
      assert.deepEqual(
        offsets[0]?.partitions.map((p) => [p.partition, p.offset]).sort(),
        Array.from({ length: partitions }, (_, p) => [p, '20']),
        'the commits of both members are the group offsets',
      );
    } finally {
      await b.consumer.disconnect();
    }
  });

  test('a regular expression subscription takes the topics that match, including one created later', async () => {
    assert(typeof mod !== 'string');
    const admin = kafkaClient(kb.bootstrap).admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'kip848-rx-a', numPartitions: 2 }] });
    const consumer = confluentJsClient(mod, kb.bootstrap).consumer({
      kafkaJS: { groupId: 'kip848-regex', fromBeginning: true },
      'group.protocol': 'consumer',
    });
    const topics = (): string[] => [...new Set(consumer.assignment().map((a) => a.topic))].sort();
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [/^kip848-rx-.*/] });
      await consumer.run({ eachMessage: async () => undefined });
      await until(
        () => topics().length === 1,
        waitMs,
        () => `the matching topic assigned (${topics()})`,
      );
      assert.equal(consumer.assignment().length, 2);
      await admin.createTopics({ topics: [{ topic: 'kip848-rx-b', numPartitions: 1 }] });
      await until(
        () => topics().join() === 'kip848-rx-a,kip848-rx-b',
        waitMs,
        () => `the new topic assigned as well (${topics()})`,
      );
    } finally {
      await consumer.disconnect();
      await admin.disconnect();
    }
  });
});
