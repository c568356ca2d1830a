/**
 * Transaction version 2 (KIP-890 part 2) on the wire, as the Java client 4.x speaks it to a broker
 * that finalizes `transaction.version` 2 (KIP-1022): ApiVersions says so; a transaction is a
 * Produce v12 that adds its partitions itself and an EndTxn v5 that answers the next epoch;
 * TxnOffsetCommit v5 adds its group itself. Committed and aborted transactions read back by kafkajs
 * with read_committed and read_uncommitted; the instance before an end fenced; and `switchyard
 * start` SIGKILLed with a transaction of this kind open on two partitions: after the restart its
 * records are never visible to read_committed, the restart aborts it on both partitions, and the id
 * goes on.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Kafka } from 'kafkajs';
import { ApiKey, BatchAttribute, encodeRecordBatch } from '../../../src/protocols/kafka/codec/index.js';
import { KafkaError } from '../../../src/protocols/kafka/errors.js';
import {
  type KafkaTestBroker,
  kafkaClient,
  startKafkaBroker,
  until,
} from '../../../testing/kafka-helpers.js';
import { WireClient } from '../../../testing/kafka-wire.js';
import { startKafkaCli as start } from '../../../testing/server-cli.js';

// biome-ignore lint/suspicious/noExplicitAny: decoded test responses
type Obj = any;

/** A transactional producer of transaction version 2: its id, and the instance it has now. */
interface Tv2Producer {
  readonly transactionalId: string;
  producerId: bigint;
  producerEpoch: number;
}

async function initTv2(c: WireClient, transactionalId: string, timeoutMs = 60_000): Promise<Tv2Producer> {
  const init = await c.request<Obj>(ApiKey.InitProducerId, 2, {
    transactionalId,
    transactionTimeoutMs: timeoutMs,
  });
  assert.equal(init.errorCode, 0);
  return { transactionalId, producerId: init.producerId, producerEpoch: init.producerEpoch };
}

/** Produce v12 of one batch per partition (sequences from 0: each epoch starts them again); the error codes. */
async function produceTv2(
  c: WireClient,
  p: Tv2Producer,
  topic: string,
  values: Readonly<Record<number, readonly string[]>>,
): Promise<number[]> {
  const partitionData = Object.entries(values).map(([index, list]) => ({
    index: Number(index),
    records: encodeRecordBatch({
      baseTimestamp: BigInt(Date.now()),
      attributes: BatchAttribute.transactional,
      producerId: p.producerId,
      producerEpoch: p.producerEpoch,
      baseSequence: 0,
      records: list.map((v) => ({ value: new TextEncoder().encode(v) })),
    }),
  }));
  const produced = await c.request<Obj>(ApiKey.Produce, 12, {
    transactionalId: p.transactionalId,
    acks: -1,
    timeoutMs: 5000,
    topicData: [{ name: topic, partitionData }],
  });
  return produced.responses[0].partitionResponses.map((r: Obj) => r.errorCode);
}

/** EndTxn v5; on success the producer goes on with the instance the answer names. */
async function endTv2(c: WireClient, p: Tv2Producer, committed: boolean): Promise<Obj> {
  const { transactionalId, producerId, producerEpoch } = p;
  const ended = await c.request<Obj>(ApiKey.EndTxn, 5, {
    transactionalId,
    producerId,
    producerEpoch,
    committed,
  });
  if (ended.errorCode === 0) {
    p.producerId = ended.producerId;
    p.producerEpoch = ended.producerEpoch;
  }
  return ended;
}

/** Every value a fresh consumer of `topic` reads, once it has `expected` and nothing more comes for a while. */
async function readAll(
  kafka: Kafka,
  topic: string,
  readUncommitted: boolean,
  expected: number,
): Promise<string[]> {
  const consumer = kafka.consumer({
    groupId: `tv2-${topic}-${readUncommitted}-${Math.random()}`,
    readUncommitted,
    maxWaitTimeInMs: 100,
  });
  const got: string[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({ eachMessage: async ({ message }) => void got.push(message.value?.toString() ?? '') });
  try {
    await until(() => got.length >= expected, 30_000, `${expected} records of ${topic}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  } finally {
    await consumer.disconnect();
  }
  return got.sort();
}

async function createTopic(c: WireClient, name: string, partitions: number): Promise<void> {
  await c.request(ApiKey.CreateTopics, 4, {
    topics: [{ name, numPartitions: partitions, replicationFactor: 1 }],
    timeoutMs: 5000,
  });
}

describe('transaction version 2 (KIP-890 part 2) on the wire', () => {
  let kb: KafkaTestBroker;
  let kafka: Kafka;
  let c: WireClient;
  before(async () => {
    kb = await startKafkaBroker();
    kafka = kafkaClient(kb.bootstrap);
    c = await WireClient.open(kb.port);
  });
  after(async () => {
    c.close();
    await kb.stop();
  });

  test('ApiVersions finalizes transaction.version 2 and lists Produce 12, EndTxn 5 and TxnOffsetCommit 5', async () => {
    const versions = await c.request<Obj>(ApiKey.ApiVersions, 3, {
      clientSoftwareName: 'switchyard-test',
      clientSoftwareVersion: '1',
    });
    const max = (key: number) => versions.apiKeys.find((k: Obj) => k.apiKey === key)?.maxVersion;
    assert.deepEqual([max(ApiKey.Produce), max(ApiKey.EndTxn), max(ApiKey.TxnOffsetCommit)], [12, 5, 5]);
    assert.ok(versions.finalizedFeaturesEpoch >= 0n);
    assert.deepEqual(versions.finalizedFeatures, [
      { name: 'transaction.version', maxVersionLevel: 2, minVersionLevel: 2 },
    ]);
  });

  test('ApiVersions v4 also lists transaction.version as supported from 0 (KAFKA-17011); v3 leaves it out', async () => {
    const body = { clientSoftwareName: 'switchyard-test', clientSoftwareVersion: '1' };
    const v4 = await c.request<Obj>(ApiKey.ApiVersions, 4, body);
    assert.equal(v4.errorCode, 0);
    assert.deepEqual(
      v4.supportedFeatures.map((f: Obj) => [f.name, f.minVersion, f.maxVersion]),
      [['transaction.version', 0, 2]],
    );
    assert.deepEqual(v4.finalizedFeatures, [
      { name: 'transaction.version', maxVersionLevel: 2, minVersionLevel: 2 },
    ]);
    const v3 = await c.request<Obj>(ApiKey.ApiVersions, 3, body);
    assert.deepEqual(v3.supportedFeatures, []);
  });

  test('commit and abort in two round trips each, read back by read_committed and read_uncommitted', async () => {
    const topic = 'tv2-visibility';
    await createTopic(c, topic, 2);
    const p = await initTv2(c, 'tv2-a');
    const first = { ...p };
    assert.deepEqual(await produceTv2(c, p, topic, { 0: ['c1'], 1: ['c2'] }), [0, 0]);
    const ended = await endTv2(c, p, true);
    assert.equal(ended.errorCode, 0);
    assert.deepEqual([ended.producerId, ended.producerEpoch], [first.producerId, first.producerEpoch + 1]);
    assert.deepEqual(await produceTv2(c, p, topic, { 0: ['x1'], 1: ['x2'] }), [0, 0]);
    assert.equal((await endTv2(c, p, false)).errorCode, 0);
    // The instance before the first end is fenced: its batch and a commit of it are refused.
    const zombie = await produceTv2(c, first, topic, { 0: ['z'] });
    assert.deepEqual(zombie, [KafkaError.invalidProducerEpoch]);
    assert.equal(
      (await c.request<Obj>(ApiKey.EndTxn, 5, { ...first, committed: true })).errorCode,
      KafkaError.producerFenced,
    );
    assert.deepEqual(await produceTv2(c, p, topic, { 1: ['c3'] }), [0]);
    assert.equal((await endTv2(c, p, true)).errorCode, 0);
    assert.equal(p.producerEpoch, first.producerEpoch + 3, 'one epoch per end');
    assert.deepEqual(await readAll(kafka, topic, false, 3), ['c1', 'c2', 'c3']);
    assert.deepEqual(await readAll(kafka, topic, true, 5), ['c1', 'c2', 'c3', 'x1', 'x2']);
  });

  test('TxnOffsetCommit v5 adds its group itself: the offset is the group’s once the transaction commits', async () => {
    const topic = 'tv2-offsets';
    await createTopic(c, topic, 1);
    const p = await initTv2(c, 'tv2-offsets');
    const group = 'tv2-group';
    const fetchOffset = async () => {
      const fetched = await c.request<Obj>(ApiKey.OffsetFetch, 1, {
        groupId: group,
        topics: [{ name: topic, partitionIndexes: [0] }],
      });
      return fetched.topics[0].partitions[0].committedOffset as bigint;
    };
    assert.deepEqual(await produceTv2(c, p, topic, { 0: ['o1'] }), [0]);
    const committed = await c.request<Obj>(ApiKey.TxnOffsetCommit, 5, {
      transactionalId: p.transactionalId,
      groupId: group,
      producerId: p.producerId,
      producerEpoch: p.producerEpoch,
      generationId: -1,
      memberId: '',
      groupInstanceId: null,
      topics: [
        { name: topic, partitions: [{ partitionIndex: 0, committedOffset: 42n, committedMetadata: '' }] },
      ],
    });
    assert.equal(committed.topics[0].partitions[0].errorCode, 0);
    assert.equal(await fetchOffset(), -1n, 'not before the commit');
    assert.equal((await endTv2(c, p, true)).errorCode, 0);
    assert.equal(await fetchOffset(), 42n);
  });
});

test('a broker SIGKILLed with a transaction of version 2 open: never visible, aborted at the restart on every partition', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-kafka-tv2-crash-'));
  const topic = 'tv2-crash';
  let cli = await start(dataDir);
  try {
    let c = await WireClient.open(cli.ports.kafka!);
    await createTopic(c, topic, 2);
    const p = await initTv2(c, 'tv2-crash', 3000);
    assert.deepEqual(await produceTv2(c, p, topic, { 0: ['c1'], 1: ['c2'] }), [0, 0]);
    assert.equal((await endTv2(c, p, true)).errorCode, 0);
    // Answered once appended, each partition added by the Produce alone; the kill may take the batches.
    assert.deepEqual(await produceTv2(c, p, topic, { 0: ['o1'], 1: ['o2'] }), [0, 0]);
    cli.kill();
    await cli.stop().catch(() => undefined);
    c.close();

    cli = await start(dataDir);
    c = await WireClient.open(cli.ports.kafka!);
    const ends = async (isolationLevel: number): Promise<bigint[]> => {
      const listed = await c.request<Obj>(ApiKey.ListOffsets, 2, {
        replicaId: -1,
        isolationLevel,
        topics: [
          { name: topic, partitions: [0, 1].map((partitionIndex) => ({ partitionIndex, timestamp: -1n })) },
        ],
      });
      return listed.topics[0].partitions.map((x: Obj) => x.offset as bigint);
    };
    // Aborted before the restarted broker served: nothing holds read_committed readers. (How far each
    // partition ends depends on what the kill kept: the batches and their entries were answered once
    // appended, and the commit before may be carried out again, its markers appended once more.)
    const all = await ends(0);
    assert.deepEqual(await ends(1), all, 'aborted at the restart');
    const kafka = kafkaClient(`127.0.0.1:${cli.ports.kafka}`);
    assert.deepEqual(await readAll(kafka, topic, false, 2), ['c1', 'c2']);
    const stored = await readAll(kafka, topic, true, 2);
    const open = stored.filter((v) => v !== 'c1' && v !== 'c2');
    assert.ok(stored.includes('c1') && stored.includes('c2'), `committed kept: ${stored.join()}`);
    assert.ok(
      open.every((v) => v === 'o1' || v === 'o2') && new Set(open).size === open.length,
      `each open batch stored whole or not at all, and hidden: ${stored.join()}`,
    );
    // The id goes on: its next instance commits in two round trips.
    const next = await initTv2(c, 'tv2-crash');
    assert.deepEqual(await produceTv2(c, next, topic, { 1: ['n1'] }), [0]);
    assert.equal((await endTv2(c, next, true)).errorCode, 0);
    assert.deepEqual(await readAll(kafka, topic, false, 3), ['c1', 'c2', 'n1']);
    c.close();
  } finally {
    await cli.stop().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  }
});
