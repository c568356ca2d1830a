/**
 * Durability across a restart of `switchyard start` (a child process with a temporary data dir):
 * records, committed group offsets and idempotent producer sequences all come back, and consumers
 * that stay up while the broker restarts rejoin their group and resume where they had committed.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { EachMessagePayload } from 'kafkajs';
import { ApiKey, encodeRecordBatch } from '../../../src/protocols/kafka/codec/index.js';
import { hasPythonModule, kafkaClient, until } from '../../../src/testing/kafka-helpers.js';
import { runTool } from '../../../src/testing/kafka-tools.js';
import { WireClient } from '../../../src/testing/kafka-wire.js';
import { freePort, type RunningCli, startCli } from '../../../src/testing/server-cli.js';

function start(dataDir: string, kafkaPort: number | 'auto' = 'auto'): Promise<RunningCli> {
  const off = [
    '--amqp-port',
    '0',
    '--mqtt-port',
    '0',
    '--mqtt-ws-port',
    '0',
    '--grpc-port',
    '0',
    '--rest-port',
    '0',
    '--http-port',
    '0',
  ];
  return startCli([
    '--storage',
    'file',
    '--data-dir',
    dataDir,
    '--kafka-port',
    String(kafkaPort),
    '--log-level',
    'warn',
    ...off,
  ]);
}

const groupTimeouts = {
  sessionTimeout: 3000,
  rebalanceTimeout: 4000,
  heartbeatInterval: 200,
  maxWaitTimeInMs: 100,
};

test('committed offsets, records and producer sequences survive a broker restart', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-kafka-restart-'));
  let cli = await start(dataDir);
  try {
    let kafka = kafkaClient(`127.0.0.1:${cli.ports.kafka}`);
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: 'kept', messages: [{ value: 'a' }, { value: 'b' }, { value: 'c' }] });
    await producer.disconnect();
    const first: string[] = [];
    const c1 = kafka.consumer({ groupId: 'resumer', ...groupTimeouts });
    await c1.connect();
    await c1.subscribe({ topic: 'kept', fromBeginning: true });
    await c1.run({
      eachMessage: async ({ message }: EachMessagePayload) => void first.push(String(message.value)),
    });
    await until(() => first.length === 3, 15_000, 'first three records');
    await c1.disconnect();

    const wire = await WireClient.open(cli.ports.kafka!);
    const init = await wire.request<{ producerId: bigint }>(ApiKey.InitProducerId, 1, {
      transactionalId: null,
      transactionTimeoutMs: 1000,
    });
    const idem = encodeRecordBatch({
      baseTimestamp: BigInt(Date.now()),
      producerId: init.producerId,
      producerEpoch: 0,
      baseSequence: 0,
      records: [{ value: new TextEncoder().encode('d') }],
    });
    const produce = {
      acks: -1,
      timeoutMs: 5000,
      topicData: [{ name: 'kept', partitionData: [{ index: 0, records: idem }] }],
    };
    await wire.request(ApiKey.Produce, 7, produce);
    wire.close();

    await cli.stop();
    cli = await start(dataDir);
    kafka = kafkaClient(`127.0.0.1:${cli.ports.kafka}`);

    const again = await WireClient.open(cli.ports.kafka!);
    // biome-ignore lint/suspicious/noExplicitAny: decoded response
    const dup = await again.request<any>(ApiKey.Produce, 7, produce);
    again.close();
    assert.equal(dup.responses[0].partitionResponses[0].errorCode, 0);
    assert.equal(
      dup.responses[0].partitionResponses[0].baseOffset,
      3n,
      'the retried batch is recognised after the restart',
    );

    const resumed: string[] = [];
    const c2 = kafka.consumer({ groupId: 'resumer', ...groupTimeouts });
    await c2.connect();
    await c2.subscribe({ topic: 'kept', fromBeginning: true });
    await c2.run({
      eachMessage: async ({ message }: EachMessagePayload) => void resumed.push(String(message.value)),
    });
    await until(() => resumed.length >= 1, 15_000, 'records after the committed offset');
    await new Promise((resolve) => setTimeout(resolve, 300));
    await c2.disconnect();
    assert.deepEqual(resumed, ['d'], 'the group resumes at its committed offset and d is stored once');
  } finally {
    await cli.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

// A confluent-kafka consumer that stays up across the restart: it reads `want` records, committing
// as it goes, until it has read `last`, and prints what it read and every error librdkafka reported.
const pythonStayingConsumer = `
import sys, json, time
from confluent_kafka import Consumer
bootstrap, topic, last = sys.argv[1], sys.argv[2], sys.argv[3]
errors = []
c = Consumer({'bootstrap.servers': bootstrap, 'group.id': 'py-stays', 'auto.offset.reset': 'earliest',
              'session.timeout.ms': 6000, 'heartbeat.interval.ms': 300, 'auto.commit.interval.ms': 100,
              'reconnect.backoff.max.ms': 500,
              'error_cb': lambda e: errors.append([e.name(), e.fatal()])})
c.subscribe([topic])
seen = []
deadline = time.time() + 50
while last not in seen and time.time() < deadline:
    m = c.poll(0.1)
    if m is None:
        continue
    if m.error():
        errors.append([m.error().name(), m.error().fatal()])
        continue
    seen.append(m.value().decode())
c.close()
print(json.dumps({'seen': seen, 'errors': errors}))
`;

const noConfluent = hasPythonModule('confluent_kafka') ? false : 'python3-confluent-kafka is not installed';

async function committed(port: number, group: string, topic: string): Promise<bigint> {
  const wire = await WireClient.open(port);
  try {
    // biome-ignore lint/suspicious/noExplicitAny: decoded response
    const got = await wire.request<any>(ApiKey.OffsetFetch, 5, {
      groupId: group,
      topics: [{ name: topic, partitionIndexes: [0] }],
    });
    return got.topics[0].partitions[0].committedOffset as bigint;
  } finally {
    wire.close();
  }
}

test('kafkajs and confluent-kafka consumers ride out a broker restart mid-group', {
  skip: noConfluent,
}, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-kafka-midgroup-'));
  const port = await freePort();
  let cli = await start(dataDir, port);
  const kafka = kafkaClient(`127.0.0.1:${port}`);
  const consumer = kafka.consumer({ groupId: 'js-stays', ...groupTimeouts });
  try {
    const produce = async (values: string[]) => {
      const producer = kafka.producer();
      await producer.connect();
      await producer.send({ topic: 'stays', messages: values.map((value) => ({ value })) });
      await producer.disconnect();
    };
    await produce(['a', 'b', 'c']);
    const python = runTool(
      '/usr/bin/python3',
      ['-c', pythonStayingConsumer, `127.0.0.1:${port}`, 'stays', 'f'],
      '',
      60_000,
    );
    const seen: string[] = [];
    const crashes: unknown[] = [];
    consumer.on(consumer.events.CRASH, (e) => void crashes.push(e.payload));
    await consumer.connect();
    await consumer.subscribe({ topic: 'stays', fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }: EachMessagePayload) => void seen.push(String(message.value)),
    });
    for (const group of ['js-stays', 'py-stays']) {
      await until(async () => (await committed(port, group, 'stays')) === 3n, 20_000, `${group} commits 3`);
    }

    await cli.stop();
    cli = await start(dataDir, port);
    await produce(['d', 'e', 'f']);

    await until(() => seen.includes('f'), 20_000, 'kafkajs reads the records produced after the restart');
    const py = await python;
    assert.equal(py.code, 0, py.stderr);
    const out = JSON.parse(py.stdout) as { seen: string[]; errors: Array<[string, boolean]> };
    // Group membership does not survive the restart, so each consumer rejoins and resumes at its
    // committed offset: what it read but had not committed yet may come again (at least once), what
    // it had committed never does.
    const all = ['a', 'b', 'c', 'd', 'e', 'f'];
    for (const [client, got] of [
      ['kafkajs', seen],
      ['confluent-kafka', out.seen],
    ] as const) {
      assert.deepEqual([...new Set(got)], all, `${client} reads every record, in order`);
      assert.deepEqual(got.slice(0, 3), ['a', 'b', 'c'], `${client} reads nothing committed twice`);
      assert.ok(got.length <= all.length + 3, `${client} re-reads at most the uncommitted batch`);
    }
    // While the broker is down kafkajs may report a retriable crash and restart itself, as it does
    // against any single-node Kafka; it must never give up.
    assert.deepEqual(
      crashes.filter((c) => (c as { restart?: boolean }).restart !== true),
      [],
      'the kafkajs consumer never stops',
    );
    // librdkafka reports the lost connection (_TRANSPORT, _ALL_BROKERS_DOWN) as informational errors.
    assert.deepEqual(
      out.errors.filter(([, fatal]) => fatal),
      [],
      `no fatal error: ${JSON.stringify(out.errors)}`,
    );
  } finally {
    await consumer.disconnect().catch(() => undefined);
    await cli.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
