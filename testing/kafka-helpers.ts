/**
 * Helpers for the Kafka conformance tests: an in-process broker with only the Kafka listener on,
 * kafkajs clients tuned for quick tests, and bounded waiting.
 */
import { spawnSync } from 'node:child_process';
import { type Admin, type Consumer, type ConsumerConfig, Kafka, logLevel } from 'kafkajs';
import type { Broker } from '../src/index.js';
import { createKafkaListener } from '../src/protocols/kafka/listener.js';
import type { KafkaOptions } from '../src/protocols/kafka/options.js';
import { silentLogger } from '../src/shared/logger.js';
import type { FileIo } from '../src/storage/file/io.js';
import { startTestBroker, type TestBroker } from './broker.js';
import { allPortsOff } from './server-helpers.js';

export { allPortsOff };

/** `Broker.start` settings of a quiet in-memory broker whose one Kafka port requires SASL (SASL_PLAINTEXT). */
export const saslPlaintextSettings = {
  storage: 'memory',
  fsync: 'never',
  logger: silentLogger(),
  ...allPortsOff,
  kafkaPort: 'auto',
  kafkaSasl: 'required',
  kafkaGroupInitialRebalanceDelayMs: 0,
} as const;

export interface KafkaTestBroker {
  readonly broker: Broker;
  readonly port: number;
  readonly bootstrap: string;
  stop(): Promise<void>;
}

export async function startKafkaBroker(
  options: {
    storage?: 'memory' | 'file';
    dataDir?: string;
    kafka?: Partial<KafkaOptions>;
    amqp?: boolean;
    /**
     * Kafka's group.initial.rebalance.delay.ms; 0 unless a test is about it, as Kafka's own test
     * brokers run, so a group's first join completes as soon as its members are in.
     */
    groupInitialRebalanceDelayMs?: number;
    /** Where a log rolls to a new segment; the default (64 MiB) unless given. */
    segmentBytesMax?: number;
  } = {},
): Promise<KafkaTestBroker> {
  const started = await startTestBroker({
    listeners: options.amqp === true ? ['kafka', 'amqp'] : ['kafka'],
    ...(options.storage === undefined ? {} : { storage: options.storage }),
    ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }),
    kafkaGroupInitialRebalanceDelayMs: options.groupInitialRebalanceDelayMs ?? 0,
    ...(options.segmentBytesMax === undefined ? {} : { segmentBytesMax: options.segmentBytesMax }),
    ...(options.kafka !== undefined ? { definitions: await listenersWith(options.kafka) } : {}),
  });
  return {
    broker: started.broker,
    port: started.port('kafka'),
    bootstrap: started.url('kafka'),
    stop: started.stop,
  };
}

/** The Kafka listener on file storage in `dataDir`, fsync on, written through `io` (a disk that fails or stalls). */
export function startKafkaOnDisk(dataDir: string, io: FileIo): Promise<TestBroker> {
  return startTestBroker({ listeners: ['kafka'], storage: 'file', fsync: 'always', dataDir, storageIo: io });
}

async function listenersWith(kafka: Partial<KafkaOptions>) {
  const { builtListeners } = await import('../src/server/listeners.js');
  return builtListeners.map((l) => (l.configKey === 'kafkaPort' ? createKafkaListener(kafka) : l));
}

/**
 * How long a test consumer's fetch waits for records when a test sets no maxWaitTimeInMs. kafkajs's
 * default is 5 s, and `consumer.disconnect()` waits for the fetch in flight, so a consumer that had
 * caught up made every test that ends it 5 s longer. The broker answers a fetch as soon as records
 * arrive, so what a test sees is the same.
 */
export const consumerFetchWaitMs = 100;

/** kafkajs's client whose consumers fetch with `consumerFetchWaitMs` unless a test says otherwise. */
export class TestKafka extends Kafka {
  override consumer(config: ConsumerConfig): Consumer {
    return super.consumer({ maxWaitTimeInMs: consumerFetchWaitMs, ...config });
  }
}

/**
 * Commits a group's offsets through a member that joins, commits and leaves, as kafkajs's
 * admin.setOffsets does, but without its paused consumer, whose fetch loop sleeps kafkajs's 5 s
 * maxWaitTime before it lets the call return. The group must have no live members.
 */
export async function commitGroupOffsets(
  kafka: Kafka,
  groupId: string,
  topic: string,
  partitions: ReadonlyArray<{ partition: number; offset: string }>,
): Promise<void> {
  const member = kafka.consumer({ groupId, maxWaitTimeInMs: consumerFetchWaitMs });
  await member.connect();
  try {
    await member.subscribe({ topic, fromBeginning: true });
    const joined = new Promise<void>((resolve) => member.on(member.events.GROUP_JOIN, () => resolve()));
    await member.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: async () => {} });
    await joined;
    await member.commitOffsets(partitions.map((p) => ({ topic, ...p })));
  } finally {
    await member.disconnect();
  }
}

/** Three quick retries unless `retry` says otherwise (a test riding out a restart retries longer). */
export function kafkaClient(
  bootstrap: string,
  clientId = 'conformance',
  retry = { retries: 3, initialRetryTime: 50, maxRetryTime: 500 },
): Kafka {
  return new TestKafka({
    clientId,
    brokers: [bootstrap],
    logLevel: logLevel.NOTHING,
    retry,
    connectionTimeout: 2000,
    requestTimeout: 10_000,
  });
}

import { sleep, until } from './wait.js';

export { sleep, until };

/** Kafka's resource type TOPIC (kafkajs's ConfigResourceTypes is not an ES module export). */
const topicResource = 2;

/** A topic's config value as DescribeConfigs answers it to kafkajs. */
export async function topicConfig(admin: Admin, topic: string, name: string): Promise<string | undefined> {
  const described = await admin.describeConfigs({
    resources: [{ type: topicResource, name: topic, configNames: [name] }],
    includeSynonyms: false,
  });
  return described.resources[0]?.configEntries[0]?.configValue;
}

/** True when `command --version`-like probing finds the tool; tests skip with a message otherwise. */
export function hasCommand(command: string, args: string[] = ['-V']): boolean {
  const result = spawnSync(command, args, { stdio: 'ignore', timeout: 5000 });
  return result.error === undefined;
}

export function hasPythonModule(module: string): boolean {
  const result = spawnSync('/usr/bin/python3', ['-c', `import ${module}`], {
    stdio: 'ignore',
    timeout: 10_000,
  });
  return result.status === 0;
}

/** The skip reason for tests driving librdkafka through python3-confluent-kafka, false when it is there. */
export function confluentMissing(): false | string {
  return hasPythonModule('confluent_kafka')
    ? false
    : 'python3-confluent-kafka is not installed (apt-get install python3-confluent-kafka)';
}
