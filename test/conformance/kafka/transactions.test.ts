/**
 * Transactions (KIP-98, KIP-447) driven by kafkajs 2.2.4: committed and aborted transactions as
 * read_committed and read_uncommitted consumers see them, offsets sent in a transaction visible only
 * once it commits, a producer fenced by a newer instance of its transactional id, a transaction past
 * its timeout aborted by the broker, and an AMQP stream consumer of the same topic that never sees an
 * aborted record or a marker.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import amqplib from 'amqplib';
import type { EachMessagePayload, Kafka } from 'kafkajs';
import {
  commitGroupOffsets,
  type KafkaTestBroker,
  kafkaClient,
  startKafkaBroker,
  until,
} from '../../../testing/kafka-helpers.js';

/** Every value a consumer of `topic` in its own group reads within the wait, in order. */
async function readAll(
  kafka: Kafka,
  topic: string,
  options: { readUncommitted: boolean; expected: number },
): Promise<string[]> {
  const consumer = kafka.consumer({
    groupId: `reader-${topic}-${options.readUncommitted}-${Math.random()}`,
    readUncommitted: options.readUncommitted,
    maxWaitTimeInMs: 100,
  });
  const got: string[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }: EachMessagePayload) => {
      got.push(message.value?.toString() ?? '');
    },
  });
  try {
    await until(() => got.length >= options.expected, 15_000, `${options.expected} records of ${topic}`);
    // Anything beyond what is expected would show up within a few more fetches.
    await new Promise((resolve) => setTimeout(resolve, 500));
  } finally {
    await consumer.disconnect();
  }
  return got;
}

describe('kafka transactions (kafkajs)', () => {
  let kb: KafkaTestBroker;
  let kafka: Kafka;
  before(async () => {
    kb = await startKafkaBroker({ amqp: true });
    kafka = kafkaClient(kb.bootstrap);
  });
  after(async () => {
    await kb.stop();
  });

  test('read_committed sees committed transactions only; read_uncommitted sees every record, never a marker', async () => {
    const topic = 'txn-visibility';
    const producer = kafka.producer({
      transactionalId: 'tx-visibility',
      maxInFlightRequests: 1,
      idempotent: true,
    });
    await producer.connect();
    const send = async (values: string[], commit: boolean) => {
      const txn = await producer.transaction();
      await txn.send({ topic, messages: values.map((value) => ({ value })) });
      await (commit ? txn.commit() : txn.abort());
    };
    await send(['a1', 'a2', 'a3'], true);
    await send(['x1', 'x2'], false);
    await send(['b1'], true);
    await producer.disconnect();
    assert.deepEqual(await readAll(kafka, topic, { readUncommitted: false, expected: 4 }), [
      'a1',
      'a2',
      'a3',
      'b1',
    ]);
    const all = await readAll(kafka, topic, { readUncommitted: true, expected: 6 });
    assert.deepEqual(all, ['a1', 'a2', 'a3', 'x1', 'x2', 'b1']);
  });

  test('a read_committed fetch that starts inside aborted transactions drops every one of their records', async () => {
    // kafkajs takes up one aborted transaction per record it passes: listed where each began (A at 1),
    // A would be taken up at b1 and B only at b2, and b1 would show.
    const topic = 'txn-mid-fetch';
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] });
    const plain = kafka.producer();
    const producers = ['a', 'b'].map((id) =>
      kafka.producer({ transactionalId: `tx-mid-${id}`, maxInFlightRequests: 1, idempotent: true }),
    );
    await Promise.all([plain, ...producers].map((p) => p.connect()));
    await plain.send({ topic, messages: [{ value: 'before' }] });
    const [a, b] = await Promise.all(producers.map((p) => p.transaction()));
    await a!.send({ topic, messages: [{ value: 'a1' }] });
    await b!.send({ topic, messages: [{ value: 'b1' }, { value: 'b2' }] });
    await a!.abort();
    await b!.abort();
    await plain.send({ topic, messages: [{ value: 'after' }] });
    const groupId = 'tx-mid-reader';
    await commitGroupOffsets(kafka, groupId, topic, [{ partition: 0, offset: '2' }]);
    const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100 });
    const got: string[] = [];
    await consumer.connect();
    await consumer.subscribe({ topic });
    await consumer.run({
      eachMessage: async ({ message }) => void got.push(message.value?.toString() ?? ''),
    });
    try {
      await until(() => got.length >= 1, 15_000, 'the record after the aborted transactions');
      await new Promise((resolve) => setTimeout(resolve, 500));
    } finally {
      await consumer.disconnect();
    }
    assert.deepEqual(got, ['after']);
    await Promise.all([plain, ...producers, admin].map((p) => p.disconnect()));
  });

  test('an open transaction holds read_committed readers at its first offset until it ends', async () => {
    const topic = 'txn-open';
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] });
    const plain = kafka.producer();
    await plain.connect();
    await plain.send({ topic, messages: [{ value: 'before' }] });
    const producer = kafka.producer({ transactionalId: 'tx-open', maxInFlightRequests: 1, idempotent: true });
    await producer.connect();
    const txn = await producer.transaction();
    await txn.send({ topic, messages: [{ value: 'inside' }] });
    await plain.send({ topic, messages: [{ value: 'beside' }] });
    // kafkajs lists offsets read_committed: the latest is the last stable offset, the open transaction's first.
    const [stableEnd] = await admin.fetchTopicOffsets(topic);
    assert.equal(stableEnd?.high, '1');
    assert.deepEqual(await readAll(kafka, topic, { readUncommitted: false, expected: 1 }), ['before']);
    await txn.commit();
    assert.deepEqual(await readAll(kafka, topic, { readUncommitted: false, expected: 3 }), [
      'before',
      'inside',
      'beside',
    ]);
    await Promise.all([plain.disconnect(), producer.disconnect(), admin.disconnect()]);
  });

  test('consume-transform-produce: offsets sent in a transaction are the group’s only once it commits', async () => {
    const input = 'txn-ctp-in';
    const output = 'txn-ctp-out';
    const group = 'ctp-group';
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: input }, { topic: output }] });
    const producer = kafka.producer({ transactionalId: 'tx-ctp', maxInFlightRequests: 1, idempotent: true });
    await producer.connect();
    const offsetsOf = async () =>
      (await admin.fetchOffsets({ groupId: group, topics: [input] }))[0]?.partitions[0]?.offset;

    const aborted = await producer.transaction();
    await aborted.send({ topic: output, messages: [{ value: 'IGNORED' }] });
    await aborted.sendOffsets({
      consumerGroupId: group,
      topics: [{ topic: input, partitions: [{ partition: 0, offset: '7' }] }],
    });
    await aborted.abort();
    assert.equal(await offsetsOf(), '-1', 'an aborted transaction commits no offset');

    const txn = await producer.transaction();
    await txn.send({ topic: output, messages: [{ value: 'HELLO' }] });
    await txn.sendOffsets({
      consumerGroupId: group,
      topics: [{ topic: input, partitions: [{ partition: 0, offset: '5' }] }],
    });
    assert.equal(await offsetsOf(), '-1', 'not before the commit');
    await txn.commit();
    assert.equal(await offsetsOf(), '5');
    assert.deepEqual(await readAll(kafka, output, { readUncommitted: false, expected: 1 }), ['HELLO']);
    await Promise.all([producer.disconnect(), admin.disconnect()]);
  });

  test('a newer producer with the same transactional id fences the older one and aborts what it left open', async () => {
    const topic = 'txn-fence';
    const first = kafka.producer({ transactionalId: 'tx-fence', maxInFlightRequests: 1, idempotent: true });
    await first.connect();
    const open = await first.transaction();
    await open.send({ topic, messages: [{ value: 'zombie' }] });
    const second = kafka.producer({ transactionalId: 'tx-fence', maxInFlightRequests: 1, idempotent: true });
    await second.connect();
    // kafkajs asks for its producer id with its first transaction; that is what fences the first.
    const txn = await second.transaction();
    await assert.rejects(open.commit(), (err: Error & { type?: string }) =>
      /PRODUCER_FENCED|INVALID_PRODUCER_EPOCH/.test(err.type ?? err.message),
    );
    await txn.send({ topic, messages: [{ value: 'alive' }] });
    await txn.commit();
    assert.deepEqual(await readAll(kafka, topic, { readUncommitted: false, expected: 1 }), ['alive']);
    await Promise.all([first.disconnect().catch(() => undefined), second.disconnect()]);
  });

  test('a transaction past its timeout is aborted by the broker and its producer fenced', async () => {
    const topic = 'txn-timeout';
    const producer = kafka.producer({
      transactionalId: 'tx-timeout',
      maxInFlightRequests: 1,
      idempotent: true,
      transactionTimeout: 1000,
    });
    await producer.connect();
    const txn = await producer.transaction();
    await txn.send({ topic, messages: [{ value: 'late' }] });
    const client = kb.broker.client();
    const before = client.describeTransaction('tx-timeout')?.epoch ?? -1;
    // As Kafka: the abort fences the epoch, and the id rests in CompleteAbort with the bumped epoch.
    await until(
      () => client.describeTransaction('tx-timeout')?.phase === 'completeAbort',
      10_000,
      'the broker aborting the transaction',
    );
    assert.equal(client.describeTransaction('tx-timeout')?.epoch, before + 1);
    await assert.rejects(txn.commit(), (err: Error & { type?: string }) =>
      /PRODUCER_FENCED|INVALID_PRODUCER_EPOCH/.test(err.type ?? err.message),
    );
    const after = kafka.producer();
    await after.connect();
    await after.send({ topic, messages: [{ value: 'after' }] });
    assert.deepEqual(await readAll(kafka, topic, { readUncommitted: false, expected: 1 }), ['after']);
    await Promise.all([producer.disconnect().catch(() => undefined), after.disconnect()]);
  });

  test('an AMQP stream consumer of the topic sees committed records only, never a marker', async (t) => {
    const amqpPort = kb.broker.ports.amqpPort;
    if (amqpPort === undefined) return t.skip('the AMQP listener is not built');
    const topic = 'txn-amqp';
    const producer = kafka.producer({ transactionalId: 'tx-amqp', maxInFlightRequests: 1, idempotent: true });
    await producer.connect();
    for (const [values, commit] of [
      [['c1', 'c2'], true],
      [['aborted'], false],
      [['c3'], true],
    ] as const) {
      const txn = await producer.transaction();
      await txn.send({ topic, messages: values.map((value) => ({ value })) });
      await (commit ? txn.commit() : txn.abort());
    }
    const open = await producer.transaction();
    await open.send({ topic, messages: [{ value: 'still-open' }] });
    const connection = await amqplib.connect(`amqp://guest:guest@127.0.0.1:${amqpPort}`);
    try {
      const channel = await connection.createChannel();
      await channel.assertQueue(topic, { durable: true, arguments: { 'x-queue-type': 'stream' } });
      await channel.prefetch(100);
      const got: string[] = [];
      await channel.consume(topic, (m) => m && got.push(m.content.toString()), {
        arguments: { 'x-stream-offset': 'first' },
      });
      await until(() => got.length >= 3, 10_000, 'three AMQP deliveries');
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.deepEqual(got, ['c1', 'c2', 'c3'], 'nothing of the open transaction yet');
      await open.commit();
      await until(() => got.length >= 4, 10_000, 'the committed record');
      assert.deepEqual(got, ['c1', 'c2', 'c3', 'still-open']);
    } finally {
      await connection.close();
      await producer.disconnect();
    }
  });
});
