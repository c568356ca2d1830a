/**
 * Topic configs as Kafka 4.1 checks them: CreateTopics answers INVALID_CONFIG and creates nothing for
 * an unknown name, a value of the wrong type or out of range, and a config Switchyard does not honour;
 * valid ones apply (retention, max.message.bytes) and DescribeConfigs shows what applies, also after a
 * restart. librdkafka (python3-confluent-kafka), kafkajs, and the checker itself for Kafka's messages.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Kafka } from 'kafkajs';
import { topicConfigDefs } from '../../../src/protocols/kafka/topic-configs.js';
import { checkTopicConfigs, isRefusal } from '../../../src/protocols/kafka/topic-settings.js';
import {
  confluentMissing,
  type KafkaTestBroker,
  kafkaClient,
  startKafkaBroker,
} from '../../../testing/kafka-helpers.js';
import { runTool } from '../../../testing/kafka-tools.js';

const noConfluent = confluentMissing();

/** Creates topics with the configs given as JSON; prints one line per topic: name, error code, message. */
const pythonCreate = `
import sys, json
from confluent_kafka.admin import AdminClient, NewTopic
bootstrap, wanted = sys.argv[1], json.loads(sys.argv[2])
admin = AdminClient({'bootstrap.servers': bootstrap})
futures = admin.create_topics([NewTopic(name, 1, 1, config=configs) for name, configs in wanted.items()])
for name, f in sorted(futures.items()):
    try:
        f.result(10)
        print(name, 0, '')
    except Exception as e:
        err = e.args[0]
        print(name, err.code(), err.str())
print('exists', ' '.join(sorted(t for t in admin.list_topics(timeout=10).topics if t in wanted)))
`;

/** Describes a topic's configs; prints name=value@source for the names asked. */
const pythonDescribe = `
import sys
from confluent_kafka.admin import AdminClient, ConfigResource
bootstrap, topic, names = sys.argv[1], sys.argv[2], sys.argv[3].split(',')
admin = AdminClient({'bootstrap.servers': bootstrap})
res = ConfigResource(ConfigResource.Type.TOPIC, topic)
configs = admin.describe_configs([res])[res].result(10)
print(' '.join('%s=%s@%d' % (n, configs[n].value, configs[n].source) for n in names if n in configs))
`;

/** Produces one record of the given size; prints the delivery error name, or ok. */
const pythonProduce = `
import sys
from confluent_kafka import Producer
bootstrap, topic, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
p = Producer({'bootstrap.servers': bootstrap, 'message.max.bytes': 10000000})
out = []
p.produce(topic, b'x' * size, on_delivery=lambda err, msg: out.append(err.name() if err else 'ok'))
p.flush(10)
print(out[0] if out else 'none')
`;

async function python(script: string, ...args: string[]): Promise<string> {
  const r = await runTool('/usr/bin/python3', ['-c', script, ...args], '', 30_000);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

const invalidConfig = 40;

describe('topic configs through librdkafka', { skip: noConfluent }, () => {
  let kb: KafkaTestBroker;
  before(async () => {
    kb = await startKafkaBroker();
  });
  after(async () => {
    await kb.stop();
  });

  test('unknown, mistyped and unhonoured configs get INVALID_CONFIG and no topic', async () => {
    const wanted = {
      'bad-unknown': { 'dummy.doesntexist': 'broker is verifying this' },
      'bad-type': { 'retention.ms': 'soon' },
      'bad-range': { 'segment.bytes': '1000' },
      'bad-codec': { 'compression.type': 'brotli' },
      'bad-index': { 'index.interval.bytes': '4096' },
    };
    const lines = (await python(pythonCreate, kb.bootstrap, JSON.stringify(wanted))).split('\n');
    const byName = new Map(lines.map((l) => [l.split(' ')[0], l]));
    for (const name of Object.keys(wanted))
      assert.match(byName.get(name) ?? '', new RegExp(`^${name} ${invalidConfig} `), name);
    assert.match(byName.get('bad-unknown')!, /Unknown topic config name: dummy\.doesntexist/);
    assert.match(
      byName.get('bad-type')!,
      /Invalid value soon for configuration retention\.ms: Not a number of type LONG/,
    );
    assert.match(
      byName.get('bad-range')!,
      /Invalid value 1000 for configuration segment\.bytes: Value must be at least 1048576/,
    );
    assert.match(byName.get('bad-codec')!, /configuration compression\.type/);
    assert.match(byName.get('bad-index')!, /configuration index\.interval\.bytes/);
    assert.equal(byName.get('exists'), 'exists');
  });

  test('honoured configs apply and are described with their source', async () => {
    const wanted = {
      kept: { 'retention.ms': '60000', 'max.message.bytes': '2000', 'delete.retention.ms': '900' },
    };
    assert.equal(await python(pythonCreate, kb.bootstrap, JSON.stringify(wanted)), 'kept 0 \nexists kept');
    assert.equal(kb.broker.client().stream('kept')?.ageMsMax, 60_000);
    const names =
      'retention.ms,max.message.bytes,delete.retention.ms,cleanup.policy,retention.bytes,segment.bytes';
    // Source 1 is DYNAMIC_TOPIC_CONFIG, 5 DEFAULT_CONFIG.
    assert.equal(
      await python(pythonDescribe, kb.bootstrap, 'kept', names),
      'retention.ms=60000@1 max.message.bytes=2000@1 delete.retention.ms=900@1 cleanup.policy=delete@5 retention.bytes=-1@5 segment.bytes=1073741824@5',
    );
    assert.equal(await python(pythonProduce, kb.bootstrap, 'kept', '5000'), 'MSG_SIZE_TOO_LARGE');
    assert.equal(await python(pythonProduce, kb.bootstrap, 'kept', '100'), 'ok');
  });
});

describe('topic configs through kafkajs, across a restart', () => {
  let dataDir: string;
  let kb: KafkaTestBroker;
  let kafka: Kafka;
  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'sy-topic-configs-'));
    kb = await startKafkaBroker({ storage: 'file', dataDir });
    kafka = kafkaClient(kb.bootstrap);
  });
  after(async () => {
    await kb.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function described(topic: string): Promise<Record<string, string>> {
    const admin = kafka.admin();
    await admin.connect();
    try {
      const { resources } = await admin.describeConfigs({
        resources: [{ type: 2, name: topic }],
        includeSynonyms: false,
      });
      return Object.fromEntries(resources[0]!.configEntries.map((e) => [e.configName, e.configValue]));
    } finally {
      await admin.disconnect();
    }
  }

  test('an unknown config is refused with INVALID_CONFIG and the topic is not created', async () => {
    const admin = kafka.admin();
    await admin.connect();
    try {
      await assert.rejects(
        admin.createTopics({
          topics: [{ topic: 'js-bad', configEntries: [{ name: 'dummy.doesntexist', value: 'x' }] }],
        }),
        (err: { errors?: Array<{ type: string }> }) => err.errors?.[0]?.type === 'INVALID_CONFIG',
      );
      assert.ok(!(await admin.listTopics()).includes('js-bad'));
    } finally {
      await admin.disconnect();
    }
  });

  test('configs set at creation are described again after a restart', async () => {
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({
      topics: [
        {
          topic: 'js-kept',
          configEntries: [
            { name: 'retention.bytes', value: '1048576' },
            { name: 'max.message.bytes', value: '4096' },
            { name: 'min.insync.replicas', value: '1' },
          ],
        },
      ],
    });
    await admin.disconnect();
    const expected = {
      'retention.bytes': '1048576',
      'max.message.bytes': '4096',
      'min.insync.replicas': '1',
    };
    const before = await described('js-kept');
    for (const [name, value] of Object.entries(expected)) assert.equal(before[name], value, name);
    await kb.stop();
    kb = await startKafkaBroker({ storage: 'file', dataDir });
    kafka = kafkaClient(kb.bootstrap);
    const afterRestart = await described('js-kept');
    for (const [name, value] of Object.entries(expected)) assert.equal(afterRestart[name], value, name);
  });
});

/** The checker's INVALID_CONFIG message for one config, undefined when it is accepted. */
function refusal(name: string, value: string | null): string | undefined {
  const got = checkTopicConfigs([{ name, value }], 16 * 1024 * 1024);
  return isRefusal(got) ? got.refused : undefined;
}

test("the checker answers in Kafka's words for each type and validator", () => {
  const cases: Array<[string, string | null, string]> = [
    ['retention.ms', null, 'Null value not supported for topic configs: retention.ms'],
    ['retention.ms', '-2', 'Invalid value -2 for configuration retention.ms: Value must be at least -1'],
    [
      'max.message.bytes',
      '2147483648',
      'Invalid value 2147483648 for configuration max.message.bytes: Not a number of type INT',
    ],
    [
      'preallocate',
      'yes',
      'Invalid value yes for configuration preallocate: Expected value to be either true or false',
    ],
    [
      'min.cleanable.dirty.ratio',
      '1.5',
      'Invalid value 1.5 for configuration min.cleanable.dirty.ratio: Value must be no more than 1',
    ],
    [
      'min.cleanable.dirty.ratio',
      'half',
      'Invalid value half for configuration min.cleanable.dirty.ratio: Not a number of type DOUBLE',
    ],
    [
      'compression.gzip.level',
      '0',
      'Invalid value 0 for configuration compression.gzip.level: Value must be between 1 and 9 or equal to -1',
    ],
    [
      'cleanup.policy',
      'shred',
      'Invalid value shred for configuration cleanup.policy: String must be one of: compact, delete',
    ],
    [
      'message.timestamp.type',
      'Now',
      'Invalid value Now for configuration message.timestamp.type: String must be one of: CreateTime, LogAppendTime',
    ],
  ];
  for (const [name, value, message] of cases) assert.equal(refusal(name, value), message, `${name}=${value}`);
  assert.match(
    refusal('leader.replication.throttled.replicas', 'x:1') ?? '',
    /must be the literal '\*' or a list of replicas/,
  );
});

test("flush.ms and flush.messages are checked by Kafka's type and range, then kept: the fsync setting decides", () => {
  assert.equal(refusal('flush.ms', '12345678'), undefined);
  assert.equal(refusal('flush.messages', '1'), undefined);
  assert.equal(
    refusal('flush.messages', '0'),
    'Invalid value 0 for configuration flush.messages: Value must be at least 1',
  );
  assert.equal(
    refusal('flush.ms', '-1'),
    'Invalid value -1 for configuration flush.ms: Value must be at least 0',
  );
  assert.equal(
    refusal('flush.ms', 'soon'),
    'Invalid value soon for configuration flush.ms: Not a number of type LONG',
  );
  const settings = checkTopicConfigs([{ name: 'flush.ms', value: '1000' }], 1024 * 1024);
  assert.ok(!isRefusal(settings));
  assert.deepEqual(settings.kept, { 'flush.ms': '1000' });
});

test('the checker refuses what Switchyard does not honour, naming the config', () => {
  for (const [name, value] of [
    ['remote.storage.enable', 'true'],
    ['index.interval.bytes', '4096'],
    ['retention.ms', '0'],
    ['max.message.bytes', String(32 * 1024 * 1024)],
  ] as const)
    assert.match(
      refusal(name, value) ?? '',
      new RegExp(`for configuration ${name.replaceAll('.', '\\.')}: `),
      name,
    );
});

test("the checker accepts Kafka's default of every config it honours", () => {
  for (const def of topicConfigDefs) {
    if (def.honour.kind === 'refused') continue;
    const value = def.honour.kind === 'fixed' ? def.honour.value : def.kafkaDefault;
    assert.equal(refusal(def.name, value), undefined, def.name);
  }
});

test("the checker applies Kafka's cross-config rule", () => {
  const got = checkTopicConfigs(
    [
      { name: 'min.compaction.lag.ms', value: '10' },
      { name: 'max.compaction.lag.ms', value: '5' },
    ],
    1024,
  );
  assert.ok(isRefusal(got));
  assert.equal(
    got.refused,
    'conflict topic config setting min.compaction.lag.ms (10) > max.compaction.lag.ms (5)',
  );
});

test('cleanup.policy compact asks core for compaction; without delete, retention does not apply', () => {
  const compacted = checkTopicConfigs(
    [
      { name: 'cleanup.policy', value: 'compact' },
      { name: 'retention.ms', value: '60000' },
      { name: 'delete.retention.ms', value: '100' },
      { name: 'min.compaction.lag.ms', value: '5' },
      { name: 'min.cleanable.dirty.ratio', value: '0.25' },
    ],
    1024 * 1024,
  );
  assert.ok(!isRefusal(compacted));
  assert.deepEqual(compacted.compaction, { tombstoneRetentionMs: 100, lagMsMin: 5, dirtyRatioMin: 0.25 });
  assert.deepEqual(compacted.retention, {});
  const both = checkTopicConfigs(
    [
      { name: 'cleanup.policy', value: 'compact,delete' },
      { name: 'retention.ms', value: '60000' },
    ],
    1024 * 1024,
  );
  assert.ok(!isRefusal(both));
  assert.deepEqual(both.compaction, { tombstoneRetentionMs: 86_400_000, lagMsMin: 0, dirtyRatioMin: 0.5 });
  assert.deepEqual(both.retention, { ageMsMax: 60_000 });
  const plain = checkTopicConfigs([{ name: 'retention.ms', value: '60000' }], 1024 * 1024);
  assert.ok(!isRefusal(plain) && plain.compaction === undefined);
});
