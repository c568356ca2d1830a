/**
 * Durability across a restart of `switchyard start` (a child process with a temporary data dir):
 * records, committed group offsets, idempotent producer sequences and consumer-group membership all
 * come back, so consumers that stay up while the broker restarts go on in the same generation.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { type Consumer, type EachMessagePayload, type Kafka, logLevel } from 'kafkajs';
import { ApiKey, encodeRecordBatch } from '../../../src/protocols/kafka/codec/index.js';
import { hasPythonModule, kafkaClient, TestKafka, until } from '../../../testing/kafka-helpers.js';
import { runTool } from '../../../testing/kafka-tools.js';
import { WireClient } from '../../../testing/kafka-wire.js';
import {
  freePort,
  listenerFlags,
  noInitialRebalanceDelayFlags,
  type RunningCli,
  startCli,
} from '../../../testing/server-cli.js';

function start(dataDir: string, kafkaPort: number | 'auto' = 'auto'): Promise<RunningCli> {
  return startCli([
    '--storage',
    'file',
    '--data-dir',
    dataDir,
    '--log-level',
    'warn',
    ...noInitialRebalanceDelayFlags,
    ...listenerFlags({ kafka: kafkaPort }),
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

// A confluent-kafka consumer that stays up across the restart. It never commits, so only a group
// that survives the restart lets it go on from where it was: a rebalance would hand it its partition
// again at the reset offset (earliest) and it would read a, b, c a second time. It writes `ready`
// once it has read `first`, reads until it has read `last`, and prints what it read, how often it was
// assigned or revoked partitions, and every error librdkafka reported.
const pythonStayingConsumer = `
import sys, json, time
from confluent_kafka import Consumer
bootstrap, topic, first, last, ready = sys.argv[1:6]
errors = []
events = {'assign': 0, 'revoke': 0}
c = Consumer({'bootstrap.servers': bootstrap, 'group.id': 'py-stays', 'auto.offset.reset': 'earliest',
              'session.timeout.ms': 10000, 'heartbeat.interval.ms': 300, 'enable.auto.commit': False,
              'reconnect.backoff.max.ms': 500,
              'error_cb': lambda e: errors.append([e.name(), e.fatal()])})
def on_assign(consumer, partitions): events['assign'] += 1
def on_revoke(consumer, partitions): events['revoke'] += 1
c.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)
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
    if m.value().decode() == first:
        open(ready, 'w').close()
print(json.dumps({'seen': seen, 'errors': errors, 'events': events}))
c.close()
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

// Generous session timeouts: the broker restarts well within them, so neither client gives up its
// membership on its own (librdkafka rejoins after a session timeout without a successful heartbeat).
const stayingTimeouts = {
  sessionTimeout: 10_000,
  rebalanceTimeout: 10_000,
  heartbeatInterval: 300,
  maxWaitTimeInMs: 100,
};

async function produceTo(kafka: Kafka, topic: string, values: readonly string[]): Promise<void> {
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic, messages: values.map((value) => ({ value })) });
  await producer.disconnect();
}

/**
 * Retries that outlast the restart, so kafkajs keeps its consumer (and its membership) instead of
 * crashing and starting a new one, which joins as a new member and reads from the reset offset
 * again. A loaded machine can take tens of seconds to start the broker again, so they cover a
 * minute. The client's and the consumer's are separate settings: the consumer's fetch loop retries
 * with its own (kafkajs's default, 5 retries, runs out within about 3 s).
 */
const patientRetry = { retries: 60, initialRetryTime: 100, maxRetryTime: 1000 };

function patientClient(bootstrap: string): Kafka {
  return new TestKafka({
    clientId: 'conformance',
    brokers: [bootstrap],
    logLevel: logLevel.NOTHING,
    retry: patientRetry,
    connectionTimeout: 2000,
    requestTimeout: 10_000,
  });
}

/**
 * Restarts the broker while `topic` is paused on the kafkajs consumer, with no Fetch of it on the
 * wire. kafkajs removes its only broker from its pool when a Fetch in flight meets a closed
 * connection; its next round then finds no broker (KafkaJSNoBrokerAvailableError), the consumer
 * crashes and restarts as a new member, and reads from the reset offset again, whatever the broker
 * restored. A pause is the client's own switch: the member, its generation and assignment stay as
 * they are, and its heartbeats go on (their failure does not empty the pool). Its fetcher runs one
 * round at a time, so a round started after the pause means the one before has been answered.
 */
async function restartWithFetchesHeld(
  consumer: Consumer,
  topic: string,
  cli: RunningCli,
  restart: () => Promise<RunningCli>,
): Promise<RunningCli> {
  consumer.pause([{ topic }]);
  let started = false;
  const off = consumer.on(consumer.events.FETCH_START, () => {
    started = true;
  });
  try {
    await until(() => started, 20_000, 'a kafkajs fetch round after the pause');
  } finally {
    off();
  }
  await cli.stop();
  const restarted = await restart();
  consumer.resume([{ topic }]);
  return restarted;
}

test('kafkajs and confluent-kafka consumers ride out a broker restart in the same generation', {
  skip: noConfluent,
}, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-kafka-midgroup-'));
  const ready = join(dataDir, 'python-ready');
  const port = await freePort();
  let cli = await start(dataDir, port);
  const bootstrap = `127.0.0.1:${port}`;
  const kafka = patientClient(bootstrap);
  // No commits: only the consumers' own positions, kept because no rebalance happens, stop them
  // from reading a, b, c again after the restart.
  const consumer = kafka.consumer({ groupId: 'js-stays', ...stayingTimeouts, retry: patientRetry });
  try {
    const produce = (values: string[]) => produceTo(kafka, 'stays', values);
    await produce(['a', 'b', 'c']);
    const python = runTool(
      '/usr/bin/python3',
      ['-c', pythonStayingConsumer, bootstrap, 'stays', 'c', 'f', ready],
      '',
      60_000,
    );
    const seen: string[] = [];
    const crashes: unknown[] = [];
    let joins = 0;
    consumer.on(consumer.events.CRASH, (e) => void crashes.push(e.payload));
    consumer.on(consumer.events.GROUP_JOIN, () => void joins++);
    await consumer.connect();
    await consumer.subscribe({ topic: 'stays', fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ message }: EachMessagePayload) => void seen.push(String(message.value)),
    });
    await until(() => seen.includes('c'), 20_000, 'kafkajs reads a, b, c');
    await until(() => existsSync(ready), 20_000, 'confluent-kafka reads a, b, c');

    cli = await restartWithFetchesHeld(consumer, 'stays', cli, () => start(dataDir, port));
    await produce(['d', 'e', 'f']);

    await until(() => seen.includes('f'), 20_000, 'kafkajs reads the records produced after the restart');
    const py = await python;
    assert.equal(py.code, 0, py.stderr);
    const out = JSON.parse(py.stdout) as {
      seen: string[];
      errors: Array<[string, boolean]>;
      events: { assign: number; revoke: number };
    };
    for (const group of ['js-stays', 'py-stays'])
      assert.equal(await committed(port, group, 'stays'), -1n, `${group} never committed`);
    // The group, its generation and the members' assignments survived, so each consumer goes on
    // from its own position: every record exactly once, and no rebalance.
    const all = ['a', 'b', 'c', 'd', 'e', 'f'];
    // A kafkajs consumer that crashes restarts as a new member, which would read a, b, c again
    // whatever the broker kept; named first so such a failure says so.
    assert.deepEqual(
      crashes.map((c) => String((c as { error?: unknown }).error)),
      [],
      'the kafkajs consumer never crashed',
    );
    assert.deepEqual(seen, all, 'kafkajs reads every record once, in order');
    assert.deepEqual(out.seen, all, 'confluent-kafka reads every record once, in order');
    assert.equal(joins, 1, 'kafkajs joined its group once');
    assert.deepEqual(
      out.events,
      { assign: 1, revoke: 0 },
      'confluent-kafka was assigned once, never revoked',
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
