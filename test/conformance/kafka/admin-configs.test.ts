/**
 * Changing topics after creation: AlterConfigs and DescribeConfigs with synonyms (kafkajs 2.2.4),
 * IncrementalAlterConfigs (SET, DELETE, APPEND, SUBTRACT) as raw requests through Switchyard's own
 * Kafka codec (kafkajs has no call for it), the configs a Produce honours (LogAppendTime, timestamp
 * limits, recompression, min.insync.replicas), DeleteRecords (kafkajs deleteTopicRecords, kept across
 * a restart), OffsetDelete, DescribeLogDirs and DescribeCluster.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CompressionTypes, type Kafka } from 'kafkajs';
import { ApiKey, BatchAttribute, readBatchHeader } from '../../../src/protocols/kafka/codec/index.js';
import { kafkaBatchFormat } from '../../../src/protocols/kafka/entry-format.js';
import {
  hasCommand,
  type KafkaTestBroker,
  kafkaClient,
  startKafkaBroker,
  until,
} from '../../../testing/kafka-helpers.js';
import { kcatRead } from '../../../testing/kafka-tools.js';
import { WireClient } from '../../../testing/kafka-wire.js';

const topicResource = 2;
const brokerResource = 4;
const op = { set: 0, delete: 1, append: 2, subtract: 3 } as const;
const code = {
  none: 0,
  unknownTopic: 3,
  notEnoughReplicas: 19,
  invalidTimestamp: 32,
  invalidConfig: 40,
  invalidRequest: 42,
  groupSubscribedToTopic: 86,
};

interface ResourceAnswer {
  errorCode: number;
  errorMessage: string | null;
  resourceName: string;
}

async function withAdmin<T>(
  kafka: Kafka,
  run: (admin: ReturnType<Kafka['admin']>) => Promise<T>,
): Promise<T> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await run(admin);
  } finally {
    await admin.disconnect();
  }
}

/** The topic's configs as kafkajs describes them: value, source and synonyms by name. */
async function describeTopic(kafka: Kafka, topic: string) {
  const { resources } = await withAdmin(kafka, (admin) =>
    admin.describeConfigs({ resources: [{ type: topicResource, name: topic }], includeSynonyms: true }),
  );
  return new Map(resources[0]!.configEntries.map((e) => [e.configName, e]));
}

/** The broker resource's configs as kafkajs describes them, by name. */
async function describeBroker(kafka: Kafka, name: string) {
  const { resources } = await withAdmin(kafka, (admin) =>
    admin.describeConfigs({ resources: [{ type: brokerResource, name }], includeSynonyms: true }),
  );
  return new Map(resources[0]!.configEntries.map((e) => [e.configName, e]));
}

/** A broker resource of a raw IncrementalAlterConfigs. */
const broker = (name: string, configs: object[]) => ({
  resourceType: brokerResource,
  resourceName: name,
  configs,
});

/** Values of `topic` read from the start by a fresh consumer, with their timestamps. */
async function readBack(kafka: Kafka, topic: string, expected: number) {
  const consumer = kafka.consumer({ groupId: `reader-${topic}-${Math.random()}`, maxWaitTimeInMs: 100 });
  const got: Array<{ value: string; timestamp: number; offset: number }> = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      const value = message.value?.toString() ?? '';
      got.push({ value, timestamp: Number(message.timestamp), offset: Number(message.offset) });
    },
  });
  try {
    await until(() => got.length >= expected, 15_000, `${expected} records of ${topic}`);
  } finally {
    await consumer.disconnect();
  }
  return got;
}

/** IncrementalAlterConfigs through a raw connection: the resources' answers. */
/**
 * IncrementalAlterConfigs of each resource in a request of its own, in order, and their answers: one
 * request naming a resource twice is refused whole (Kafka's "Each resource must appear at most once.").
 */
function incrementalOn(wire: WireClient) {
  return async (
    version: number,
    resources: Array<{ resourceType: number; resourceName: string; configs: object[] }>,
    validateOnly = false,
  ) => {
    const answers: ResourceAnswer[] = [];
    for (const resource of resources) {
      const got = await wire.request<{ responses: ResourceAnswer[] }>(
        ApiKey.IncrementalAlterConfigs,
        version,
        {
          resources: [resource],
          validateOnly,
        },
      );
      answers.push(...got.responses);
    }
    return answers;
  };
}

describe('topic configs after creation, records and cluster (kafkajs, raw requests)', () => {
  let dataDir: string;
  let kb: KafkaTestBroker;
  let kafka: Kafka;
  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'sy-kafka-admin-'));
    kb = await startKafkaBroker({ storage: 'file', dataDir });
    kafka = kafkaClient(kb.bootstrap);
  });
  after(async () => {
    await kb.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function create(topic: string, configEntries: Array<{ name: string; value: string }> = []) {
    await withAdmin(kafka, (admin) => admin.createTopics({ topics: [{ topic, configEntries }] }));
  }

  test('AlterConfigs replaces a topic’s configs as a whole; DescribeConfigs names their source and synonyms', async () => {
    await create('alter-me', [{ name: 'max.message.bytes', value: '5000' }]);
    const alter = (configEntries: Array<{ name: string; value: string }>) =>
      withAdmin(kafka, (admin) =>
        admin.alterConfigs({
          validateOnly: false,
          resources: [{ type: topicResource, name: 'alter-me', configEntries }],
        }),
      );
    await alter([{ name: 'retention.ms', value: '120000' }]);
    assert.equal(kb.broker.client().stream('alter-me')?.ageMsMax, 120_000, 'core enforces the new retention');
    let configs = await describeTopic(kafka, 'alter-me');
    assert.equal(configs.get('retention.ms')?.configValue, '120000');
    assert.deepEqual(
      configs.get('retention.ms')?.configSynonyms.map((s) => [s.configName, s.configValue, s.configSource]),
      [
        ['retention.ms', '120000', 1],
        ['log.retention.ms', '-1', 5],
      ],
    );
    // Not named in this AlterConfigs, so back to the default.
    assert.equal(configs.get('max.message.bytes')?.isDefault, true);
    await assert.rejects(
      alter([{ name: 'retention.ms', value: 'soon' }]),
      (err: Error & { type?: string }) =>
        err.type === 'INVALID_CONFIG' || /INVALID_CONFIG|soon/.test(err.message),
    );
    configs = await describeTopic(kafka, 'alter-me');
    assert.equal(
      configs.get('retention.ms')?.configValue,
      '120000',
      'a refused change leaves the topic as it was',
    );
    await alter([{ name: 'retention.bytes', value: '2097152' }]);
    const info = kb.broker.client().stream('alter-me');
    assert.equal(info?.ageMsMax, undefined);
    assert.equal(info?.bytesMax, 2_097_152);
  });

  test('IncrementalAlterConfigs: SET, DELETE, APPEND and SUBTRACT (raw, Switchyard codec)', async () => {
    await create('incremental', [{ name: 'max.message.bytes', value: '5000' }]);
    const wire = await WireClient.open(kb.port);
    try {
      const incremental = incrementalOn(wire);
      const throttled = 'leader.replication.throttled.replicas';
      let answers = await incremental(1, [
        {
          resourceType: topicResource,
          resourceName: 'incremental',
          configs: [
            { name: 'retention.ms', configOperation: op.set, value: '90000' },
            { name: 'max.message.bytes', configOperation: op.delete, value: null },
            { name: throttled, configOperation: op.append, value: '0:0,1:0' },
          ],
        },
      ]);
      assert.deepEqual(
        answers.map((a) => a.errorCode),
        [code.none],
      );
      let configs = await describeTopic(kafka, 'incremental');
      assert.equal(configs.get('retention.ms')?.configValue, '90000');
      assert.equal(configs.get('max.message.bytes')?.isDefault, true);
      assert.equal(configs.get(throttled)?.configValue, '0:0,1:0');
      answers = await incremental(0, [
        {
          resourceType: topicResource,
          resourceName: 'incremental',
          configs: [
            { name: throttled, configOperation: op.subtract, value: '0:0' },
            { name: throttled.replace('leader', 'follower'), configOperation: op.append, value: '2:0' },
          ],
        },
      ]);
      assert.deepEqual(
        answers.map((a) => a.errorCode),
        [code.none],
      );
      configs = await describeTopic(kafka, 'incremental');
      assert.equal(configs.get(throttled)?.configValue, '1:0');
      assert.equal(configs.get('retention.ms')?.configValue, '90000', 'what was not named is kept');
    } finally {
      wire.close();
    }
  });

  test('IncrementalAlterConfigs refusals, each for its own resource, change nothing (raw)', async () => {
    const wire = await WireClient.open(kb.port);
    try {
      const incremental = incrementalOn(wire);
      let answers = await incremental(1, [
        {
          resourceType: topicResource,
          resourceName: 'incremental',
          configs: [{ name: 'retention.ms', configOperation: op.append, value: '1' }],
        },
        {
          resourceType: topicResource,
          resourceName: 'incremental',
          configs: [{ name: 'cleanup.policy', configOperation: op.append, value: 'shred' }],
        },
        { resourceType: topicResource, resourceName: 'no-such-topic', configs: [] },
        {
          resourceType: brokerResource,
          resourceName: '0',
          configs: [{ name: 'num.partitions', configOperation: op.set, value: '3' }],
        },
        {
          resourceType: topicResource,
          resourceName: 'incremental',
          configs: [
            { name: 'retention.ms', configOperation: op.set, value: '1000' },
            { name: 'retention.ms', configOperation: op.set, value: '2000' },
          ],
        },
      ]);
      assert.deepEqual(
        answers.map((a) => a.errorCode),
        [code.invalidConfig, code.invalidConfig, code.unknownTopic, code.invalidRequest, code.invalidRequest],
      );
      assert.match(answers[0]!.errorMessage ?? '', /append is not allowed for config key: retention\.ms/);
      assert.match(answers[1]!.errorMessage ?? '', /cleanup\.policy/);
      answers = await incremental(
        1,
        [
          {
            resourceType: topicResource,
            resourceName: 'incremental',
            configs: [{ name: 'retention.ms', configOperation: op.set, value: '1000' }],
          },
        ],
        true,
      );
      assert.deepEqual(
        answers.map((a) => a.errorCode),
        [code.none],
      );
      assert.equal(
        kb.broker.client().stream('incremental')?.ageMsMax,
        90_000,
        'validateOnly changes nothing',
      );
    } finally {
      wire.close();
    }
  });

  test('LogAppendTime stamps records with the broker’s time; timestamp limits refuse records too far off', async () => {
    await create('stamped', [{ name: 'message.timestamp.type', value: 'LogAppendTime' }]);
    await create('bounded', [{ name: 'message.timestamp.before.max.ms', value: '60000' }]);
    const producer = kafka.producer({ retry: { retries: 0 } });
    await producer.connect();
    try {
      const before = Date.now();
      await producer.send({ topic: 'stamped', messages: [{ value: 'v', timestamp: '1000' }] });
      const [read] = await readBack(kafka, 'stamped', 1);
      assert.ok(read!.timestamp >= before, `stamped ${read!.timestamp}, sent at ${before}`);
      await assert.rejects(
        producer.send({
          topic: 'bounded',
          messages: [{ value: 'old', timestamp: String(Date.now() - 3_600_000) }],
        }),
        (err: Error & { type?: string }) =>
          err.type === 'INVALID_TIMESTAMP' || /timestamp/i.test(err.message),
      );
      await producer.send({ topic: 'bounded', messages: [{ value: 'now' }] });
      assert.deepEqual(
        (await readBack(kafka, 'bounded', 1)).map((r) => r.value),
        ['now'],
      );
    } finally {
      await producer.disconnect();
    }
  });

  test('compression.type recompresses batches on the broker; consumers read the same records', async () => {
    await create('to-gzip', [{ name: 'compression.type', value: 'gzip' }]);
    await create('to-plain', [{ name: 'compression.type', value: 'uncompressed' }]);
    const producer = kafka.producer();
    await producer.connect();
    const values = Array.from({ length: 20 }, (_, i) => `record-${i}-${'z'.repeat(200)}`);
    try {
      await producer.send({ topic: 'to-gzip', messages: values.map((value) => ({ value })) });
      await producer.send({
        topic: 'to-plain',
        compression: CompressionTypes.GZIP,
        messages: values.map((value) => ({ value })),
      });
    } finally {
      await producer.disconnect();
    }
    const codecOf = (topic: string) => {
      const [entry] = kb.broker.client().partition(topic, 0).read(0);
      assert.equal(entry?.format, kafkaBatchFormat);
      return readBatchHeader(entry!.payload).attributes & BatchAttribute.compressionMask;
    };
    assert.equal(codecOf('to-gzip'), 1, 'stored gzip');
    assert.equal(codecOf('to-plain'), 0, 'stored uncompressed');
    assert.deepEqual(
      (await readBack(kafka, 'to-gzip', 20)).map((r) => r.value),
      values,
    );
    assert.deepEqual(
      (await readBack(kafka, 'to-plain', 20)).map((r) => r.value),
      values,
    );
  });

  test('lz4, snappy and zstd recompression is read back by librdkafka (kcat), which checks the frames', {
    skip: hasCommand('kcat') ? false : 'kcat is not installed (apt-get install kcat)',
  }, async () => {
    const values = Array.from({ length: 50 }, (_, i) => `line ${i} ${'abc'.repeat(i)}`);
    const codes = { lz4: 3, snappy: 2, zstd: 4 };
    for (const codec of ['lz4', 'snappy', 'zstd'] as const) {
      const topic = `to-${codec}`;
      const level = codec === 'zstd' ? [{ name: 'compression.zstd.level', value: '7' }] : [];
      await create(topic, [{ name: 'compression.type', value: codec }, ...level]);
      const producer = kafka.producer();
      await producer.connect();
      await producer.send({ topic, messages: values.map((value) => ({ value })) });
      await producer.disconnect();
      const [entry] = kb.broker.client().partition(topic, 0).read(0);
      const stored = readBatchHeader(entry!.payload).attributes & BatchAttribute.compressionMask;
      assert.equal(stored, codes[codec], `stored ${codec}`);
      const r = await kcatRead(kb.bootstrap, topic, '%s\n');
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.stdout.trimEnd().split('\n'), values, codec);
    }
  });

  test('min.insync.replicas above one refuses acks=all with NOT_ENOUGH_REPLICAS; acks=1 is written', async () => {
    await create('insync', [{ name: 'min.insync.replicas', value: '2' }]);
    const producer = kafka.producer({ retry: { retries: 0 } });
    await producer.connect();
    try {
      await assert.rejects(
        producer.send({ topic: 'insync', acks: -1, messages: [{ value: 'all' }] }),
        (err: Error & { type?: string }) =>
          err.type === 'NOT_ENOUGH_REPLICAS' || /NOT_ENOUGH_REPLICAS|replicas/i.test(err.message),
      );
      await producer.send({ topic: 'insync', acks: 1, messages: [{ value: 'one' }] });
    } finally {
      await producer.disconnect();
    }
    assert.deepEqual(
      (await readBack(kafka, 'insync', 1)).map((r) => r.value),
      ['one'],
    );
  });

  test('DeleteRecords moves the start of a partition, for consumers and across a restart', async () => {
    await create('trimmed');
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic: 'trimmed',
      messages: Array.from({ length: 10 }, (_, i) => ({ value: `m${i}` })),
    });
    await producer.disconnect();
    // kafkajs deletes records only of topics whose metadata it has already loaded.
    await withAdmin(kafka, async (admin) => {
      await admin.fetchTopicMetadata({ topics: ['trimmed'] });
      await admin.deleteTopicRecords({ topic: 'trimmed', partitions: [{ partition: 0, offset: '6' }] });
    });
    const low = async () => (await withAdmin(kafka, (admin) => admin.fetchTopicOffsets('trimmed')))[0]!.low;
    assert.equal(await low(), '6');
    assert.deepEqual(
      (await readBack(kafka, 'trimmed', 4)).map((r) => r.value),
      ['m6', 'm7', 'm8', 'm9'],
    );
    await kb.stop();
    kb = await startKafkaBroker({ storage: 'file', dataDir });
    kafka = kafkaClient(kb.bootstrap);
    assert.equal(await low(), '6', 'the new start is durable');
    assert.deepEqual(
      (await readBack(kafka, 'trimmed', 4)).map((r) => r.offset),
      [6, 7, 8, 9],
    );
    const wire = await WireClient.open(kb.port);
    try {
      const answer = await wire.request<{
        topics: Array<{ partitions: Array<{ errorCode: number; lowWatermark: bigint }> }>;
      }>(ApiKey.DeleteRecords, 2, {
        topics: [{ name: 'trimmed', partitions: [{ partitionIndex: 0, offset: 99n }] }],
        timeoutMs: 1000,
      });
      assert.equal(answer.topics[0]!.partitions[0]!.errorCode, 1, 'OFFSET_OUT_OF_RANGE past the end');
      const all = await wire.request<typeof answer>(ApiKey.DeleteRecords, 0, {
        topics: [{ name: 'trimmed', partitions: [{ partitionIndex: 0, offset: -1n }] }],
        timeoutMs: 1000,
      });
      assert.deepEqual(all.topics[0]!.partitions[0], { partitionIndex: 0, lowWatermark: 10n, errorCode: 0 });
    } finally {
      wire.close();
    }
  });

  test('max.connections is a dynamic broker config: the vhost’s connection limit, kept across a restart', async () => {
    let configs = await describeBroker(kafka, '0');
    assert.equal(configs.get('max.connections')?.configValue, '2147483647');
    assert.equal(configs.get('max.connections')?.configSource, 5, 'DEFAULT_CONFIG');
    assert.equal(configs.get('max.connections')?.readOnly, false);
    assert.equal(configs.get('message.max.bytes')?.readOnly, true, 'read at start');

    // One admin connection stays open while the limit is 0: Kafka closes only connections past it.
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.alterConfigs({
        validateOnly: false,
        resources: [
          { type: brokerResource, name: '0', configEntries: [{ name: 'max.connections', value: '0' }] },
        ],
      });
      assert.equal(kb.broker.client().vhostLimits()['max-connections'], 0);
      const socket = connect(kb.port, '127.0.0.1');
      socket.on('error', () => {});
      await new Promise<void>((resolve) => socket.once('close', () => resolve()));
      const { resources } = await admin.describeConfigs({
        resources: [{ type: brokerResource, name: '0' }],
        includeSynonyms: true,
      });
      const entry = resources[0]!.configEntries.find((e) => e.configName === 'max.connections');
      assert.equal(entry?.configValue, '0');
      assert.equal(entry?.configSource, 2, 'DYNAMIC_BROKER_CONFIG');
      // AlterConfigs replaces the resource's dynamic configs as a whole: left out, the limit goes.
      await admin.alterConfigs({
        validateOnly: false,
        resources: [{ type: brokerResource, name: '0', configEntries: [] }],
      });
      assert.equal(kb.broker.client().vhostLimits()['max-connections'], undefined);
      await admin.alterConfigs({
        validateOnly: false,
        resources: [
          { type: brokerResource, name: '0', configEntries: [{ name: 'max.connections', value: '500' }] },
        ],
      });
    } finally {
      await admin.disconnect();
    }

    await kb.stop();
    kb = await startKafkaBroker({ storage: 'file', dataDir });
    kafka = kafkaClient(kb.bootstrap);
    configs = await describeBroker(kafka, '0');
    assert.equal(configs.get('max.connections')?.configValue, '500', 'kept in the definitions');
    assert.equal(configs.get('max.connections')?.configSource, 2, 'DYNAMIC_BROKER_CONFIG');

    const wire = await WireClient.open(kb.port);
    try {
      const incremental = incrementalOn(wire);
      const answers = await incremental(1, [
        broker('0', [{ name: 'max.connections', configOperation: op.set, value: '-1' }]),
        broker('0', [{ name: 'max.connections', configOperation: op.set, value: 'many' }]),
        broker('0', [{ name: 'max.connections', configOperation: op.append, value: '1' }]),
        broker('7', [{ name: 'max.connections', configOperation: op.set, value: '1' }]),
        broker('0', [
          { name: 'max.connections', configOperation: op.set, value: '1' },
          { name: 'message.max.bytes', configOperation: op.set, value: '1' },
        ]),
      ]);
      assert.deepEqual(
        answers.map((a) => a.errorCode),
        [
          code.invalidConfig,
          code.invalidConfig,
          code.invalidConfig,
          code.invalidRequest,
          code.invalidRequest,
        ],
      );
      assert.match(answers[0]!.errorMessage ?? '', /Value must be at least 0/);
      assert.match(answers[1]!.errorMessage ?? '', /Not a number of type INT/);
      assert.match(
        answers[4]!.errorMessage ?? '',
        /Cannot update these configs dynamically: message\.max\.bytes/,
      );
      assert.equal(
        kb.broker.client().vhostLimits()['max-connections'],
        500,
        'a refused resource changes nothing',
      );
      // The cluster-wide default ("" in kafka-configs --entity-default) is the same one value here.
      const set = await incremental(1, [
        broker('', [{ name: 'max.connections', configOperation: op.set, value: '600' }]),
      ]);
      assert.equal(set[0]!.errorCode, code.none);
      const described = await wire.request<{
        results: Array<{
          errorCode: number;
          configs: Array<{ name: string; value: string; configSource: number }>;
        }>;
      }>(ApiKey.DescribeConfigs, 4, {
        resources: [
          { resourceType: brokerResource, resourceName: '', configurationKeys: ['max.connections'] },
        ],
        includeSynonyms: false,
        includeDocumentation: false,
      });
      const entry = described.results[0]!.configs[0]!;
      assert.deepEqual([entry.name, entry.value, entry.configSource], ['max.connections', '600', 3]);
      const deleted = await incremental(0, [
        broker('', [{ name: 'max.connections', configOperation: op.delete, value: null }]),
      ]);
      assert.equal(deleted[0]!.errorCode, code.none);
    } finally {
      wire.close();
    }
    assert.equal(kb.broker.client().vhostLimits()['max-connections'], undefined);
    assert.equal((await describeBroker(kafka, '0')).get('max.connections')?.configSource, 5);
  });

  test('flush.ms and flush.messages are checked, kept and described, and go back to the default when left out', async () => {
    await create('flushing');
    const alter = (configEntries: Array<{ name: string; value: string }>) =>
      withAdmin(kafka, (admin) =>
        admin.alterConfigs({
          validateOnly: false,
          resources: [{ type: topicResource, name: 'flushing', configEntries }],
        }),
      );
    // What librdkafka's 0081_admin sets.
    await alter([
      { name: 'compression.type', value: 'gzip' },
      { name: 'flush.ms', value: '12345678' },
      { name: 'flush.messages', value: '1000' },
    ]);
    let configs = await describeTopic(kafka, 'flushing');
    const synonyms = (name: string) =>
      configs.get(name)?.configSynonyms.map((s) => [s.configName, s.configValue, s.configSource]);
    assert.deepEqual(synonyms('flush.ms'), [
      ['flush.ms', '12345678', 1],
      ['log.flush.interval.ms', '9223372036854775807', 5],
    ]);
    assert.deepEqual(synonyms('flush.messages'), [
      ['flush.messages', '1000', 1],
      ['log.flush.interval.messages', '9223372036854775807', 5],
    ]);
    await assert.rejects(
      alter([{ name: 'flush.messages', value: '0' }]),
      (err: Error & { type?: string }) => err.type === 'INVALID_CONFIG',
    );
    configs = await describeTopic(kafka, 'flushing');
    assert.equal(
      configs.get('flush.messages')?.configValue,
      '1000',
      'a refused change leaves the topic as it was',
    );
    await alter([{ name: 'compression.type', value: 'gzip' }]);
    configs = await describeTopic(kafka, 'flushing');
    for (const name of ['flush.ms', 'flush.messages']) {
      assert.equal(configs.get(name)?.configValue, '9223372036854775807', name);
      assert.equal(configs.get(name)?.configSource, 5, `${name} is DEFAULT_CONFIG again`);
    }
  });

  test('Kafka’s other dynamic broker configs are kept and described without effect; the rest are refused', async () => {
    const alter = (name: string, configEntries: Array<{ name: string; value: string }>) =>
      withAdmin(kafka, (admin) =>
        admin.alterConfigs({
          validateOnly: false,
          resources: [{ type: brokerResource, name, configEntries }],
        }),
      );
    const relogin = 'sasl.kerberos.min.time.before.relogin';
    // What librdkafka's 0081_admin sets on the broker.
    await alter('0', [{ name: relogin, value: '58000' }]);
    const entry = (await describeBroker(kafka, '0')).get(relogin);
    assert.deepEqual(
      [entry?.configValue, entry?.configSource, entry?.readOnly],
      ['58000', 2, false],
      'DYNAMIC_BROKER_CONFIG',
    );
    // Kafka cannot change these at runtime, and says so with INVALID_REQUEST (KAFKA-13609).
    for (const fixed of ['broker.id', 'num.partitions', 'message.max.bytes'])
      await assert.rejects(
        alter('0', [{ name: fixed, value: '3' }]),
        (err: Error & { type?: string }) => err.type === 'INVALID_REQUEST',
        fixed,
      );
    assert.equal(
      (await describeBroker(kafka, '0')).get(relogin)?.configValue,
      '58000',
      'a refused resource changes nothing',
    );

    const wire = await WireClient.open(kb.port);
    try {
      const incremental = incrementalOn(wire);
      const answers = await incremental(1, [
        broker('', [{ name: relogin, configOperation: op.set, value: '1000' }]),
        broker('0', [{ name: relogin, configOperation: op.set, value: 'soon' }]),
        broker('', [{ name: 'log.retention.ms', configOperation: op.set, value: '-7' }]),
        broker('', [{ name: 'log.retention.ms', configOperation: op.set, value: '3600000' }]),
        broker('0', [{ name: relogin, configOperation: op.delete, value: null }]),
        // What 0081_admin's helper does: a list config appended to from Kafka's default.
        broker('0', [
          { name: 'background.threads', configOperation: op.set, value: '9' },
          { name: 'log.cleanup.policy', configOperation: op.append, value: 'compact' },
        ]),
      ]);
      assert.deepEqual(
        answers.map((a) => a.errorCode),
        [code.invalidRequest, code.invalidConfig, code.invalidConfig, code.none, code.none, code.none],
      );
      assert.match(answers[0]!.errorMessage ?? '', /broker id must be specified/);
      assert.match(answers[1]!.errorMessage ?? '', /Not a number of type LONG/);
      assert.match(answers[2]!.errorMessage ?? '', /Value must be at least -1/);
      // kafkajs will not name the cluster-wide resource "", so it is described raw.
      const described = await wire.request<{
        results: Array<{ configs: Array<{ name: string; value: string; configSource: number }> }>;
      }>(ApiKey.DescribeConfigs, 4, {
        resources: [{ resourceType: brokerResource, resourceName: '', configurationKeys: null }],
        includeSynonyms: false,
        includeDocumentation: false,
      });
      const cluster = new Map(described.results[0]!.configs.map((c) => [c.name, c]));
      const retention = cluster.get('log.retention.ms');
      assert.deepEqual(
        [retention?.value, retention?.configSource],
        ['3600000', 3],
        'DYNAMIC_DEFAULT_BROKER_CONFIG',
      );
      assert.equal(cluster.get(relogin), undefined, 'deleted');
      assert.equal(cluster.get('log.cleanup.policy')?.value, 'delete,compact');
      const subtracted = await incremental(1, [
        broker('0', [
          { name: 'background.threads', configOperation: op.delete, value: null },
          { name: 'log.cleanup.policy', configOperation: op.subtract, value: 'compact' },
        ]),
      ]);
      assert.equal(subtracted[0]!.errorCode, code.none);
    } finally {
      wire.close();
    }
    const configs = await describeBroker(kafka, '0');
    assert.equal(configs.get('log.cleanup.policy')?.configValue, 'delete');
    assert.equal(configs.get('background.threads'), undefined);
    await alter('0', []);
    assert.equal(
      (await describeBroker(kafka, '0')).get('log.retention.ms'),
      undefined,
      'AlterConfigs replaces them all',
    );
  });

  test('OffsetDelete removes chosen offsets of a group, not those of topics its members consume', async () => {
    await create('od-a');
    await create('od-b');
    const client = kb.broker.client();
    const at = { metadata: '', committedAt: Date.now() };
    await client.commitOffset('od-group', 'od-a', 0, { offset: 3, ...at });
    await client.commitOffset('od-group', 'od-b', 0, { offset: 4, ...at });
    const wire = await WireClient.open(kb.port);
    try {
      type Answer = {
        errorCode: number;
        topics: Array<{ name: string; partitions: Array<{ errorCode: number }> }>;
      };
      const answer = await wire.request<Answer>(ApiKey.OffsetDelete, 0, {
        groupId: 'od-group',
        topics: [
          { name: 'od-a', partitions: [{ partitionIndex: 0 }] },
          { name: 'od-missing', partitions: [{ partitionIndex: 0 }] },
        ],
      });
      assert.equal(answer.errorCode, code.none);
      assert.deepEqual(
        answer.topics.map((t) => [t.name, t.partitions[0]!.errorCode]),
        [
          ['od-a', code.none],
          ['od-missing', code.unknownTopic],
        ],
      );
      assert.equal(client.fetchOffset('od-group', 'od-a', 0), undefined);
      assert.equal(client.fetchOffset('od-group', 'od-b', 0)?.offset, 4);
      const unknown = await wire.request<Answer>(ApiKey.OffsetDelete, 0, { groupId: 'no-group', topics: [] });
      assert.equal(unknown.errorCode, 69, 'GROUP_ID_NOT_FOUND');
    } finally {
      wire.close();
    }
    // A live member subscribed to od-b keeps that topic's offsets.
    const consumer = kafka.consumer({ groupId: 'od-group', maxWaitTimeInMs: 100 });
    await consumer.connect();
    await consumer.subscribe({ topic: 'od-b' });
    let joined = false;
    consumer.on(consumer.events.GROUP_JOIN, () => {
      joined = true;
    });
    await consumer.run({ eachMessage: async () => {} });
    try {
      await until(() => joined, 15_000, 'the consumer to join');
      const wire2 = await WireClient.open(kb.port);
      try {
        const answer = await wire2.request<{ topics: Array<{ partitions: Array<{ errorCode: number }> }> }>(
          ApiKey.OffsetDelete,
          0,
          { groupId: 'od-group', topics: [{ name: 'od-b', partitions: [{ partitionIndex: 0 }] }] },
        );
        assert.equal(answer.topics[0]!.partitions[0]!.errorCode, code.groupSubscribedToTopic);
      } finally {
        wire2.close();
      }
    } finally {
      await consumer.disconnect();
    }
  });

  test('DescribeCluster names the one node as broker and controller; DescribeLogDirs sizes each partition', async () => {
    const cluster = await withAdmin(kafka, (admin) => admin.describeCluster());
    assert.equal(cluster.brokers.length, 1);
    assert.equal(cluster.controller, 0);
    const wire = await WireClient.open(kb.port);
    try {
      const described = await wire.request<{
        errorCode: number;
        clusterId: string;
        controllerId: number;
        brokers: Array<{ brokerId: number; port: number }>;
      }>(ApiKey.DescribeCluster, 1, { includeClusterAuthorizedOperations: false, endpointType: 1 });
      assert.equal(described.errorCode, 0);
      assert.equal(described.controllerId, 0);
      assert.deepEqual(
        described.brokers.map((b) => [b.brokerId, b.port]),
        [[0, kb.port]],
      );
      const dirs = await wire.request<{
        results: Array<{
          logDir: string;
          topics: Array<{ name: string; partitions: Array<{ partitionSize: bigint }> }>;
        }>;
      }>(ApiKey.DescribeLogDirs, 4, { topics: [{ topic: 'trimmed', partitions: [0, 7] }] });
      assert.equal(dirs.results.length, 1);
      assert.equal(dirs.results[0]!.logDir, dataDir);
      const [topic] = dirs.results[0]!.topics;
      assert.equal(topic?.name, 'trimmed');
      assert.equal(topic?.partitions.length, 1, 'a partition that does not exist is left out');
      assert.ok(topic!.partitions[0]!.partitionSize > 0n);
    } finally {
      wire.close();
    }
  });
});
