/**
 * Transactions that outlive their broker and transactions from librdkafka. `switchyard start` is
 * SIGKILLed while a kafkajs transaction is open: the restart aborts it and fences its producer (its
 * batch was answered once appended, so the kill may have taken it), so its records are never visible
 * to read_committed readers while the committed ones before it and the records after it are. A batch
 * left on disk without the `partitions` entry that named it (a crash's doing) is found and aborted
 * before `switchyard start` serves; two ids' commit markers a crash took together are both appended
 * again, neither taken for present in the other's place. Then six
 * transactional ids committing as fast as they can (two partitions each, every request waiting for
 * the one before) when the broker is SIGKILLed: after the restart every commit that was answered is
 * read whole by read_committed, and no other transaction is half-visible (half of the ids speak
 * transaction version 2, KIP-890 part 2), and the same with one partition per transaction written by two
 * Produce requests (the shape of the benchmark's transactions, which a one-partition commit decided
 * by its marker alone would change). Then Debian's
 * confluent-kafka (librdkafka 2.0.2): a transactional producer's committed and aborted transactions
 * as `isolation.level=read_committed` and `read_uncommitted` consumers read them.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Kafka } from 'kafkajs';
import { partitionLogName } from '../../../src/core/logs/names.js';
import { ApiKey, BatchAttribute, encodeRecordBatch } from '../../../src/protocols/kafka/codec/index.js';
import { kafkaBatchFormat } from '../../../src/protocols/kafka/entry-format.js';
import { recordBytes } from '../../../src/storage/file/record.js';
import { segmentFileName, segmentHeaderBytes } from '../../../src/storage/file/segment.js';
import { FileStorage } from '../../../src/storage/file/storage.js';
import {
  confluentMissing,
  type KafkaTestBroker,
  kafkaClient,
  startKafkaBroker,
  until,
} from '../../../testing/kafka-helpers.js';
import { runTool } from '../../../testing/kafka-tools.js';
import { WireClient } from '../../../testing/kafka-wire.js';
import { startKafkaCli as start } from '../../../testing/server-cli.js';

// biome-ignore lint/suspicious/noExplicitAny: decoded test responses
type Obj = any;

/**
 * Values a fresh consumer of `topic` reads within the wait, and after it until nothing more comes;
 * with `keepShort`, fewer than `expected` at the end of the wait are returned for the caller to name
 * what is missing instead of failing here.
 */
async function readValues(
  kafka: Kafka,
  topic: string,
  options: {
    readUncommitted: boolean;
    expected: number;
    waitMs: number;
    quietMs?: number;
    keepShort?: boolean;
  },
): Promise<string[]> {
  const consumer = kafka.consumer({
    groupId: `crash-reader-${options.readUncommitted}-${Math.random()}`,
    readUncommitted: options.readUncommitted,
    maxWaitTimeInMs: 100,
  });
  const got: string[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({ eachMessage: async ({ message }) => void got.push(message.value?.toString() ?? '') });
  try {
    await until(
      () => got.length >= options.expected,
      options.waitMs,
      `${options.expected} records of ${topic}`,
    ).catch((error: unknown) => {
      if (!options.keepShort) throw error;
    });
    // Then until nothing more came for `quietMs` (500 ms unless given), within the wait.
    const deadline = Date.now() + options.waitMs;
    for (let seen = -1; seen !== got.length && Date.now() < deadline; ) {
      seen = got.length;
      await new Promise((resolve) => setTimeout(resolve, options.quietMs ?? 500));
    }
  } finally {
    await consumer.disconnect();
  }
  return got;
}

/** Creates the topic with that many partitions. */
async function createTopic(c: WireClient, name: string, numPartitions: number): Promise<void> {
  await c.request(ApiKey.CreateTopics, 4, {
    topics: [{ name, numPartitions, replicationFactor: 1 }],
    timeoutMs: 5000,
  });
}

/** The last stable offset of the topic's partition 0, as ListOffsets tells a read_committed reader. */
async function stableEnd(port: number, topic: string): Promise<bigint> {
  const c = await WireClient.open(port);
  try {
    const listed = await c.request<Obj>(ApiKey.ListOffsets, 2, {
      replicaId: -1,
      isolationLevel: 1,
      topics: [{ name: topic, partitions: [{ partitionIndex: 0, timestamp: -1n }] }],
    });
    return listed.topics[0].partitions[0].offset;
  } finally {
    c.close();
  }
}

test('a broker SIGKILLed mid-transaction: the open transaction is never half-visible and is aborted at the restart', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-kafka-txn-crash-'));
  let cli = await start(dataDir);
  try {
    let kafka = kafkaClient(`127.0.0.1:${cli.ports.kafka}`);
    const producer = kafka.producer({
      transactionalId: 'crash-tx',
      transactionTimeout: 4000,
      maxInFlightRequests: 1,
      idempotent: true,
    });
    await producer.connect();
    const committed = await producer.transaction();
    await committed.send({ topic: 'crash', messages: [{ value: 'c1' }, { value: 'c2' }] });
    await committed.commit();
    const open = await producer.transaction();
    await open.send({ topic: 'crash', messages: [{ value: 'o1' }, { value: 'o2' }] });
    cli.kill();
    await cli.stop().catch(() => undefined);
    await producer.disconnect().catch(() => undefined);

    cli = await start(dataDir);
    kafka = kafkaClient(`127.0.0.1:${cli.ports.kafka}`);
    const plain = kafka.producer();
    await plain.connect();
    await plain.send({ topic: 'crash', messages: [{ value: 'after' }] });
    await plain.disconnect();
    // Aborted before the restarted broker served anything: 'after' shows at once.
    const visible = await readValues(kafka, 'crash', { readUncommitted: false, expected: 3, waitMs: 30_000 });
    assert.deepEqual(visible, ['c1', 'c2', 'after']);
    const stored = await readValues(kafka, 'crash', { readUncommitted: true, expected: 3, waitMs: 15_000 });
    // Its batch was answered once appended, so the kill may have taken it: whole or not at all.
    assert.ok(
      [['c1', 'c2', 'o1', 'o2', 'after'].join(), ['c1', 'c2', 'after'].join()].includes(stored.join()),
      `the open records stored whole or not at all, and hidden: ${stored.join()}`,
    );
    // The transactional id carries on: a new instance starts with a newer epoch.
    const next = kafka.producer({ transactionalId: 'crash-tx', maxInFlightRequests: 1, idempotent: true });
    await next.connect();
    const txn = await next.transaction();
    await txn.send({ topic: 'crash', messages: [{ value: 'n1' }] });
    await txn.commit();
    await next.disconnect();
    const final = await readValues(kafka, 'crash', { readUncommitted: false, expected: 4, waitMs: 15_000 });
    assert.deepEqual(final, ['c1', 'c2', 'after', 'n1']);
  } finally {
    await cli.stop().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('`switchyard start` finds a transactional batch whose partitions entry a crash took, and aborts it before serving', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-kafka-txn-orphan-'));
  const topic = 'orphan';
  let cli = await start(dataDir);
  try {
    const c = await WireClient.open(cli.ports.kafka!);
    await createTopic(c, topic, 1);
    const transactionalId = 'orphan-tx';
    const init = await c.request<Obj>(ApiKey.InitProducerId, 2, {
      transactionalId,
      transactionTimeoutMs: 60_000,
    });
    const ids = { producerId: init.producerId as bigint, producerEpoch: init.producerEpoch as number };
    const batch = (baseSequence: number, value: string, baseOffset = 0n) =>
      encodeRecordBatch({
        baseOffset,
        baseTimestamp: BigInt(Date.now()),
        attributes: BatchAttribute.transactional,
        ...ids,
        baseSequence,
        records: [{ value: new TextEncoder().encode(value) }],
      });
    await c.request(ApiKey.AddPartitionsToTxn, 3, {
      v3AndBelowTransactionalId: transactionalId,
      v3AndBelowProducerId: ids.producerId,
      v3AndBelowProducerEpoch: ids.producerEpoch,
      v3AndBelowTopics: [{ name: topic, partitions: [0] }],
    });
    await c.request(ApiKey.Produce, 7, {
      transactionalId,
      acks: -1,
      timeoutMs: 5000,
      topicData: [{ name: topic, partitionData: [{ index: 0, records: batch(0, 'kept') }] }],
    });
    const ended = await c.request<Obj>(ApiKey.EndTxn, 3, { transactionalId, ...ids, committed: true });
    assert.equal(ended.errorCode, 0);
    c.close();
    await cli.stop();
    // What a crash leaves when the next transaction's batch went ahead of its partitions entry: the
    // batch on disk, no entry naming it.
    const storage = await FileStorage.open({ dir: dataDir, fsync: { kind: 'always' } });
    const log = await storage.openLog(partitionLogName('/', topic, 0));
    const payload = batch(1, 'orphan', BigInt(log.endOffset));
    await log.append({ payload, count: 1, timestamp: Date.now(), format: kafkaBatchFormat }).durable;
    await log.close();
    await storage.close();

    cli = await start(dataDir);
    // 'kept', its marker, 'orphan' and the abort marker the start appended.
    assert.equal(await stableEnd(cli.ports.kafka!, topic), 4n, 'aborted before the broker served');
    const kafka = kafkaClient(`127.0.0.1:${cli.ports.kafka}`);
    const visible = await readValues(kafka, topic, { readUncommitted: false, expected: 1, waitMs: 15_000 });
    assert.deepEqual(visible, ['kept']);
  } finally {
    await cli.stop().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  }
});

/**
 * Cuts the partition's log after its first `keep` entries, where the next record began, as a crash
 * that took the rest does (docs/storage-format.md: one segment here, its header, then the records).
 */
async function cutPartitionLog(dataDir: string, topic: string, keep: number): Promise<void> {
  const name = partitionLogName('/', topic, 0);
  const storage = await FileStorage.open({ dir: dataDir, fsync: { kind: 'always' } });
  const log = await storage.openLog(name);
  const kept = log.read(0, { maxEntries: keep });
  await log.close();
  await storage.close();
  assert.equal(kept.length, keep, 'the entries kept are there');
  const bytes = kept.reduce((sum, entry) => sum + recordBytes(entry.payload.length), segmentHeaderBytes);
  truncateSync(join(dataDir, 'logs', name, segmentFileName(0, '.log')), bytes);
}

/** One committed transaction of one record, by the first flow (AddPartitionsToTxn, EndTxn v3). */
async function commitOne(c: WireClient, transactionalId: string, topic: string, value: string) {
  const init = await c.request<Obj>(ApiKey.InitProducerId, 2, {
    transactionalId,
    transactionTimeoutMs: 60_000,
  });
  const ids = { producerId: init.producerId as bigint, producerEpoch: init.producerEpoch as number };
  return {
    add: () =>
      c.request(ApiKey.AddPartitionsToTxn, 3, {
        v3AndBelowTransactionalId: transactionalId,
        v3AndBelowProducerId: ids.producerId,
        v3AndBelowProducerEpoch: ids.producerEpoch,
        v3AndBelowTopics: [{ name: topic, partitions: [0] }],
      }),
    produce: async () => {
      const records = encodeRecordBatch({
        baseTimestamp: BigInt(Date.now()),
        attributes: BatchAttribute.transactional,
        ...ids,
        baseSequence: 0,
        records: [{ value: new TextEncoder().encode(value) }],
      });
      const topicData = [{ name: topic, partitionData: [{ index: 0, records }] }];
      const produced = await c.request<Obj>(ApiKey.Produce, 7, {
        transactionalId,
        acks: -1,
        timeoutMs: 5000,
        topicData,
      });
      assert.equal(produced.responses[0].partitionResponses[0].errorCode, 0);
    },
    commit: async () => {
      const ended = await c.request<Obj>(ApiKey.EndTxn, 3, { transactionalId, ...ids, committed: true });
      assert.equal(ended.errorCode, 0, `${transactionalId} committed`);
    },
  };
}

test('`switchyard start` appends again every commit marker a crash took, not one in the place of another', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-kafka-txn-remark-'));
  const topic = 'remark';
  let cli = await start(dataDir);
  try {
    const c = await WireClient.open(cli.ports.kafka!);
    await createTopic(c, topic, 1);
    // The id known first ends last: a start that looks at ids in the order they came appends its
    // lost marker again first, at the offset where the other id's marker was.
    const last = await commitOne(c, 'ends-last', topic, 'a');
    const first = await commitOne(c, 'ends-first', topic, 'b');
    await last.add();
    await last.produce(); // 'a' at 0
    await first.add(); // the partition's scan start: 1
    await first.produce(); // 'b' at 1
    await first.commit(); // its marker at 2
    await last.commit(); // its marker at 3
    c.close();
    await cli.stop();
    // Both `complete` entries durable, both markers lost: what a crash leaves, the markers being
    // written after their EndTxn is answered.
    await cutPartitionLog(dataDir, topic, 2);

    cli = await start(dataDir);
    assert.equal(await stableEnd(cli.ports.kafka!, topic), 4n, 'both markers appended again');
    const kafka = kafkaClient(`127.0.0.1:${cli.ports.kafka}`);
    const visible = await readValues(kafka, topic, {
      readUncommitted: false,
      expected: 2,
      waitMs: 15_000,
      keepShort: true,
    });
    assert.deepEqual(visible, ['a', 'b'], 'both answered commits are read');
  } finally {
    await cli.stop().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  }
});

const rateTopic = 'crash-rate';
const ratePartitions = 3;
const recordsPerPartition = 2;

/** A transaction of the full-rate tests: how many partitions it writes to, with how many Produce requests. */
interface TxnShape {
  readonly partitions: 1 | 2;
  readonly produces: number;
}

/**
 * One transactional id's transactions on its own connection, each adding `shape.partitions`
 * partitions, writing two records to each in each of `shape.produces` Produce requests and
 * committing, until `stop` or the connection dies; `committed` gets the name of each transaction
 * whose EndTxn was answered without error, `refused` each Produce answered with an error. Odd lanes
 * speak transaction version 2 (KIP-890 part 2: no AddPartitionsToTxn, Produce v12, EndTxn v5 naming
 * the next epoch, whose sequences start at 0 again), even lanes the first flow.
 */
async function commitLoop(
  port: number,
  lane: number,
  committed: Set<string>,
  refused: string[],
  stop: () => boolean,
  shape: TxnShape = { partitions: 2, produces: 1 },
) {
  const c = await WireClient.open(port);
  try {
    const transactionalId = `rate-${lane}`;
    const init = await c.request<Obj>(ApiKey.InitProducerId, 2, {
      transactionalId,
      transactionTimeoutMs: 2000,
    });
    const ids = { producerId: init.producerId as bigint, producerEpoch: init.producerEpoch as number };
    const partitions = [lane % ratePartitions, (lane + 1) % ratePartitions].slice(0, shape.partitions);
    const sequences = new Map(partitions.map((p) => [p, 0]));
    const tv2 = lane % 2 === 1;
    for (let n = 0; n < 300 && !stop(); n++) {
      if (!tv2)
        await c.request(ApiKey.AddPartitionsToTxn, 3, {
          v3AndBelowTransactionalId: transactionalId,
          v3AndBelowProducerId: ids.producerId,
          v3AndBelowProducerEpoch: ids.producerEpoch,
          v3AndBelowTopics: [{ name: rateTopic, partitions }],
        });
      let written = true;
      for (let k = 0; k < shape.produces && written; k++) {
        const partitionData = partitions.map((index) => {
          const baseSequence = sequences.get(index)!;
          sequences.set(index, baseSequence + recordsPerPartition);
          const records = encodeRecordBatch({
            baseTimestamp: BigInt(Date.now()),
            attributes: BatchAttribute.transactional,
            ...ids,
            baseSequence,
            records: Array.from({ length: recordsPerPartition }, (_, i) => ({
              value: new TextEncoder().encode(`${lane}-${n}-${index}-${k}${i}`),
            })),
          });
          return { index, records };
        });
        const produced = await c.request<Obj>(ApiKey.Produce, tv2 ? 12 : 7, {
          transactionalId,
          acks: -1,
          timeoutMs: 5000,
          topicData: [{ name: rateTopic, partitionData }],
        });
        const codes = produced.responses[0].partitionResponses.map((r: Obj) => r.errorCode);
        if (codes.some((code: number) => code !== 0)) {
          refused.push(`${lane}-${n}: ${codes}`); // a half-written transaction is not committed
          written = false;
        }
      }
      if (!written) break;
      const ended = await c.request<Obj>(ApiKey.EndTxn, tv2 ? 5 : 3, {
        transactionalId,
        ...ids,
        committed: true,
      });
      if (ended.errorCode === 0) committed.add(`${lane}-${n}`);
      if (tv2 && ended.errorCode === 0) {
        ids.producerId = ended.producerId;
        ids.producerEpoch = ended.producerEpoch;
        for (const p of partitions) sequences.set(p, 0);
      }
    }
  } catch {
    // The broker was killed under the request.
  } finally {
    c.close();
  }
}

/**
 * Six ids committing `shape`'s transactions as fast as they can when the broker is SIGKILLed: after
 * the restart read_committed reads every answered commit whole and no other transaction half.
 */
async function killAtFullRate(shape: TxnShape): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-kafka-txn-rate-'));
  let passed = false;
  let cli = await start(dataDir);
  try {
    const setup = await WireClient.open(cli.ports.kafka!);
    await createTopic(setup, rateTopic, ratePartitions);
    setup.close();
    const committed = new Set<string>();
    const refused: string[] = [];
    let killed = false;
    const lanes = Array.from({ length: 6 }, (_, lane) =>
      commitLoop(cli.ports.kafka!, lane, committed, refused, () => killed, shape),
    );
    await until(() => committed.size >= 60, 20_000, '60 committed transactions');
    cli.kill();
    killed = true;
    await Promise.all(lanes);
    await cli.stop().catch(() => undefined);
    const answered = new Set(committed);
    assert.deepEqual(refused, [], 'no batch was refused before the kill');

    cli = await start(dataDir);
    // Transactions open at the kill are aborted at the restart; waited for all the same, so what is
    // read is everything that will ever be visible.
    const offsets = await WireClient.open(cli.ports.kafka!);
    const ends = async (isolationLevel: number) => {
      const listed = await offsets.request<Obj>(ApiKey.ListOffsets, 2, {
        replicaId: -1,
        isolationLevel,
        topics: [
          {
            name: rateTopic,
            partitions: [0, 1, 2].map((partitionIndex) => ({ partitionIndex, timestamp: -1n })),
          },
        ],
      });
      return listed.topics[0].partitions.map((p: Obj) => p.offset).join();
    };
    let stable = false;
    for (let i = 0; i < 100 && !stable; i++) {
      stable = (await ends(1)) === (await ends(0));
      if (!stable) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    offsets.close();
    assert.ok(stable, 'every transaction open at the kill ended');
    const kafka = kafkaClient(`127.0.0.1:${cli.ports.kafka}`);
    const perCommit = shape.partitions * shape.produces * recordsPerPartition;
    const values = await readValues(kafka, rateTopic, {
      readUncommitted: false,
      expected: answered.size * perCommit,
      waitMs: 30_000,
      // Commits decided but not answered when the broker died are read too: read until nothing comes.
      quietMs: 2000,
      keepShort: true,
    });
    assert.equal(new Set(values).size, values.length, 'no record twice');
    const perTxn = new Map<string, number>();
    for (const v of values) {
      const txn = v.split('-').slice(0, 2).join('-');
      perTxn.set(txn, (perTxn.get(txn) ?? 0) + 1);
    }
    // Named lane-n with what was read of each, so that a failure says which commits went short.
    const short = [...answered].filter((txn) => perTxn.get(txn) !== perCommit).sort();
    const shortOf = short.map((txn) => `${txn} (${perTxn.get(txn) ?? 0} of ${perCommit} records)`);
    assert.deepEqual(shortOf, [], `answered commits not read whole (of ${answered.size})`);
    for (const [txn, count] of perTxn) assert.equal(count, perCommit, `${txn} is whole`);
    passed = true;
  } finally {
    await cli.stop().catch(() => undefined);
    // A failure keeps the partition logs for reading (FileStorage or a raw Fetch on a restarted broker).
    if (passed) rmSync(dataDir, { recursive: true, force: true });
    else console.log(`killAtFullRate(${JSON.stringify(shape)}) failed: data kept in ${dataDir}`);
  }
}

test('transactions at full rate when the broker is SIGKILLed: each answered commit is whole after the restart, no other half-visible', async () => {
  await killAtFullRate({ partitions: 2, produces: 1 });
});

// One partition each, as in the benchmark, with two Produce requests per transaction so that one can
// be seen half.
test('one-partition transactions at full rate when the broker is SIGKILLed: each answered commit is whole after the restart, no other half-visible', async () => {
  await killAtFullRate({ partitions: 1, produces: 2 });
});

const noConfluent = confluentMissing();

/**
 * Three transactions (commit, abort, commit), then what a read_committed and a read_uncommitted
 * consumer read to the end of the partition, one line each.
 */
const pythonTransactions = `
import sys
from confluent_kafka import Producer, Consumer, KafkaError
bootstrap, topic = sys.argv[1], sys.argv[2]
p = Producer({'bootstrap.servers': bootstrap, 'transactional.id': 'py-tx', 'transaction.timeout.ms': 10000})
p.init_transactions(15)
for values, commit in ((['p1', 'p2'], True), (['x1', 'x2'], False), (['p3'], True)):
    p.begin_transaction()
    for v in values:
        p.produce(topic, v.encode())
    p.flush(10)
    if commit:
        p.commit_transaction(15)
    else:
        p.abort_transaction(15)
for isolation in ('read_committed', 'read_uncommitted'):
    c = Consumer({'bootstrap.servers': bootstrap, 'group.id': 'py-' + isolation, 'isolation.level': isolation,
                  'auto.offset.reset': 'earliest', 'enable.partition.eof': True})
    c.subscribe([topic])
    got = []
    while True:
        m = c.poll(15)
        if m is None:
            got.append('timeout')
            break
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                break
            got.append('error:' + m.error().str())
            break
        got.append(m.value().decode())
    c.close()
    print(isolation, ' '.join(got))
`;

/**
 * A producer left with a transaction open and a new instance of its transactional id: the new one's
 * InitProducerId is answered CONCURRENT_TRANSACTIONS while the broker aborts the open transaction
 * (librdkafka logs the retry at debug level, on stderr), then it commits; the old one is fenced.
 */
const pythonFence = `
import sys
from confluent_kafka import Producer, Consumer, KafkaError, KafkaException
bootstrap, topic = sys.argv[1], sys.argv[2]
conf = {'bootstrap.servers': bootstrap, 'transactional.id': 'py-fence', 'transaction.timeout.ms': 60000}
old = Producer(conf)
old.init_transactions(15)
old.begin_transaction()
old.produce(topic, b'zombie')
old.flush(10)
new = Producer(dict(conf, debug='eos'))
new.init_transactions(30)
new.begin_transaction()
new.produce(topic, b'fresh')
new.flush(10)
new.commit_transaction(15)
try:
    old.commit_transaction(15)
    print('zombie committed')
except KafkaException as e:
    print('zombie refused')
c = Consumer({'bootstrap.servers': bootstrap, 'group.id': 'py-fence', 'isolation.level': 'read_committed',
              'auto.offset.reset': 'earliest', 'enable.partition.eof': True})
c.subscribe([topic])
got = []
while True:
    m = c.poll(15)
    if m is None or m.error():
        break
    got.append(m.value().decode())
c.close()
print('read_committed', ' '.join(got))
`;

describe('transactions through librdkafka (confluent-kafka)', { skip: noConfluent }, () => {
  let kb: KafkaTestBroker;
  before(async () => {
    kb = await startKafkaBroker();
  });
  after(async () => {
    await kb.stop();
  });

  test('a transactional producer and read_committed / read_uncommitted consumers', async () => {
    const r = await runTool(
      '/usr/bin/python3',
      ['-c', pythonTransactions, kb.bootstrap, 'py-txn'],
      '',
      90_000,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), [
      'read_committed p1 p2 p3',
      'read_uncommitted p1 p2 x1 x2 p3',
    ]);
  });

  test('a new instance is told CONCURRENT_TRANSACTIONS while the open transaction it fences is aborted, retries and commits', async () => {
    const r = await runTool('/usr/bin/python3', ['-c', pythonFence, kb.bootstrap, 'py-fence'], '', 90_000);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), ['zombie refused', 'read_committed fresh']);
    assert.match(
      r.stderr,
      /CONCURRENT_TRANSACTIONS|concurrent operation/i,
      'librdkafka retried InitProducerId',
    );
  });
});
