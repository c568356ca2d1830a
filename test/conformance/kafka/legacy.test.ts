/**
 * Clients of Kafka before 0.11: Produce v0–2 with MessageSet v0/v1 (magic 0/1, CRC-32) is stored as
 * record batches, and Fetch v0–3 gets stored batches down-converted to the magic it can read.
 * Checked with a raw-protocol client, kafkajs, and kafka-python 2.0.2 (Debian python3-kafka) when
 * it is installed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { CompressionTypes } from 'kafkajs';
import { encodeMessage, entryFormat } from '../../../src/core/message-codec.js';
import {
  ApiKey,
  CompressionCodec,
  decodeMessageSet,
  encodeMessageSet,
  encodeRecordBatch,
  legacyMessageBytes,
  type MessageSetMagic,
  splitBatches,
} from '../../../src/protocols/kafka/codec/index.js';
import { batchRecords } from '../../../src/protocols/kafka/entry-format.js';
import { KafkaError } from '../../../src/protocols/kafka/errors.js';
import {
  hasCommand,
  hasPythonModule,
  type KafkaTestBroker,
  kafkaClient,
  startKafkaBroker,
} from '../../../testing/kafka-helpers.js';
import { runTool } from '../../../testing/kafka-tools.js';
import { WireClient } from '../../../testing/kafka-wire.js';

// biome-ignore lint/suspicious/noExplicitAny: decoded test responses
type Obj = any;

const utf8 = new TextEncoder();
const text = (b: Uint8Array | null): string | null => (b === null ? null : new TextDecoder().decode(b));
const bytes = (s: string | null): Uint8Array | null => (s === null ? null : utf8.encode(s));
const ts0 = 1_700_000_000_000n;

interface Seen {
  offset: bigint;
  key: string | null;
  value: string | null;
  timestamp: bigint;
}
type Item = Omit<Seen, 'offset'>;

/** A magic-0/1 message set of `items`, optionally inside one wrapper compressed with gzip. */
function legacySet(magic: MessageSetMagic, items: Item[], gzip = false): Uint8Array {
  const inner = encodeMessageSet(
    magic,
    items.map((it, i) => ({
      offset: BigInt(i),
      timestamp: it.timestamp,
      key: bytes(it.key),
      value: bytes(it.value),
    })),
  );
  if (!gzip) return inner;
  const last = items[items.length - 1]!;
  return encodeMessageSet(magic, [
    {
      offset: BigInt(items.length - 1),
      attributes: CompressionCodec.gzip,
      timestamp: last.timestamp,
      value: gzipSync(inner),
    },
  ]);
}

async function produce(
  client: WireClient,
  version: number,
  topic: string,
  records: Uint8Array,
  acks = 1,
): Promise<Obj> {
  const body = {
    acks,
    timeoutMs: 5000,
    topicData: [{ name: topic, partitionData: [{ index: 0, records }] }],
  };
  const response = await client.request<Obj>(ApiKey.Produce, version, body);
  return response.responses[0].partitionResponses[0];
}

async function fetchRaw(
  client: WireClient,
  version: number,
  topic: string,
  offset: bigint,
  partitionMaxBytes = 1 << 20,
): Promise<Obj> {
  const response = await client.request<Obj>(ApiKey.Fetch, version, {
    replicaId: -1,
    maxWaitMs: 0,
    minBytes: 0,
    maxBytes: 1 << 24,
    topics: [{ topic, partitions: [{ partition: 0, fetchOffset: offset, partitionMaxBytes }] }],
  });
  return response.responses[0].partitions[0];
}

/** What a client of `version` reads from `offset`: legacy messages for v0–3, record batches after. */
async function fetchSeen(
  client: WireClient,
  version: number,
  topic: string,
  offset = 0n,
  partitionMaxBytes?: number,
): Promise<Seen[]> {
  const partition = await fetchRaw(client, version, topic, offset, partitionMaxBytes);
  assert.equal(partition.errorCode, 0, `Fetch v${version} error`);
  const records: Uint8Array = partition.records;
  if (version <= 3) {
    const { messages, partialBytes } = decodeMessageSet(records, { messagesMax: 10_000 });
    assert.equal(partialBytes, 0);
    for (const m of messages) assert.equal(m.magic, version <= 1 ? 0 : 1, `Fetch v${version} magic`);
    return messages.map((m) => ({
      offset: m.offset,
      key: text(m.key),
      value: text(m.value),
      timestamp: m.timestamp,
    }));
  }
  const seen: Seen[] = [];
  for (const span of splitBatches(records, 10_000).batches) {
    const batch = records.subarray(span.offset, span.offset + span.length);
    const baseOffset = new DataView(batch.buffer, batch.byteOffset).getBigInt64(0);
    const got = batchRecords(batch);
    for (const r of got.records) {
      const at = baseOffset + BigInt(r.offsetDelta);
      if (at >= offset)
        seen.push({
          offset: at,
          key: text(r.key),
          value: text(r.value),
          timestamp: got.baseTimestamp + r.timestampDelta,
        });
    }
  }
  return seen;
}

/** Expected records as a Fetch of `version` shows them: magic 0 (v0–1) has no timestamps. */
function asSeenBy(version: number, expected: Seen[]): Seen[] {
  return version <= 1 ? expected.map((e) => ({ ...e, timestamp: -1n })) : expected;
}

/** One broker and one raw client per suite. */
function wireSuite(): { kb: KafkaTestBroker; client: WireClient } {
  const suite = {} as { kb: KafkaTestBroker; client: WireClient };
  before(async () => {
    suite.kb = await startKafkaBroker();
    suite.client = await WireClient.open(suite.kb.port);
  });
  after(async () => {
    suite.client.close();
    await suite.kb.stop();
  });
  return suite;
}

describe('kafka legacy MessageSet v0/v1: produce and fetch', () => {
  const suite = wireSuite();

  test('Produce v0, v1 and v2 (plain and gzip) are read the same by Fetch v0 to v11', async () => {
    const { kb, client } = suite;
    await kb.broker.client('/').createStream('legacy-mixed', { partitions: 1 });
    const noTs = -1n;
    const plain0: Item[] = [
      { key: 'k0', value: 'v0', timestamp: noTs },
      { key: null, value: 'v1', timestamp: noTs },
    ];
    const gzip0: Item[] = [
      { key: 'k2', value: 'v2', timestamp: noTs },
      { key: 'k3', value: '', timestamp: noTs },
    ];
    const plain1: Item[] = [
      { key: 'k4', value: 'v4', timestamp: ts0 + 4n },
      { key: 'k5', value: 'v5', timestamp: ts0 + 5n },
    ];
    const gzip1: Item[] = [
      { key: 'k6', value: 'v6', timestamp: ts0 + 6n },
      { key: 'k7', value: null, timestamp: ts0 + 7n },
    ];
    const sent: Array<[number, MessageSetMagic, Item[], boolean]> = [
      [0, 0, plain0, false],
      [1, 0, gzip0, true],
      [2, 1, plain1, false],
      [2, 1, gzip1, true],
    ];
    let expectedBase = 0n;
    for (const [version, magic, items, gzip] of sent) {
      const answer = await produce(client, version, 'legacy-mixed', legacySet(magic, items, gzip));
      assert.equal(answer.errorCode, 0, `Produce v${version}`);
      assert.equal(answer.baseOffset, expectedBase);
      expectedBase += BigInt(items.length);
    }
    const expected = sent.flatMap(([, , items]) => items).map((it, i) => ({ offset: BigInt(i), ...it }));
    for (let version = 0; version <= 11; version++) {
      assert.deepEqual(
        await fetchSeen(client, version, 'legacy-mixed'),
        asSeenBy(version, expected),
        `Fetch v${version}`,
      );
    }
  });

  test('Fetch v0–3 start at the fetch offset and return whole messages within partitionMaxBytes', async () => {
    const { kb, client } = suite;
    await kb.broker.client('/').createStream('legacy-limits', { partitions: 1 });
    const items: Item[] = Array.from({ length: 6 }, (_, i) => ({
      key: `k${i}`,
      value: 'x'.repeat(50),
      timestamp: ts0 + BigInt(i),
    }));
    assert.equal((await produce(client, 2, 'legacy-limits', legacySet(1, items))).errorCode, 0);
    const fromMiddle = await fetchSeen(client, 3, 'legacy-limits', 4n);
    assert.deepEqual(
      fromMiddle.map((s) => s.offset),
      [4n, 5n],
    );
    const one = legacyMessageBytes(1, 2, 50);
    const two = await fetchSeen(client, 2, 'legacy-limits', 0n, 2 * one + 10);
    assert.deepEqual(
      two.map((s) => s.key),
      ['k0', 'k1'],
    );
    const tiny = await fetchSeen(client, 0, 'legacy-limits', 1n, 1);
    assert.deepEqual(
      tiny.map((s) => s.key),
      ['k1'],
      'the first message always comes, so consumers progress',
    );
  });
});

describe('kafka legacy MessageSet v0/v1: batches from other writers', () => {
  const suite = wireSuite();

  test('kafkajs batches (headers, gzip) and AMQP-format entries are read back by Fetch v0 and v2', async () => {
    const { kb, client } = suite;
    const producer = kafkaClient(kb.bootstrap).producer({ allowAutoTopicCreation: true });
    await producer.connect();
    const headers = { h: 'dropped on the way down' };
    await producer.send({
      topic: 'modern',
      messages: [{ key: 'a', value: 'one', timestamp: String(ts0), headers }],
    });
    await producer.send({
      topic: 'modern',
      compression: CompressionTypes.GZIP,
      messages: [
        { key: 'b', value: 'two', timestamp: String(ts0 + 1n) },
        { key: null, value: 'three', timestamp: String(ts0 + 2n) },
      ],
    });
    await producer.disconnect();
    const message = {
      exchange: '',
      routingKey: '',
      body: utf8.encode('four'),
      properties: { key: utf8.encode('d'), timestamp: Number(ts0 + 3n) },
    };
    const appended = kb.broker
      .client()
      .partition('modern', 0)
      .append(encodeMessage(message), {
        timestamp: Number(ts0 + 3n),
        format: entryFormat.message,
      });
    await appended.durable;
    const expected: Seen[] = [
      { offset: 0n, key: 'a', value: 'one', timestamp: ts0 },
      { offset: 1n, key: 'b', value: 'two', timestamp: ts0 + 1n },
      { offset: 2n, key: null, value: 'three', timestamp: ts0 + 2n },
      { offset: 3n, key: 'd', value: 'four', timestamp: ts0 + 3n },
    ];
    for (const version of [0, 2]) {
      assert.deepEqual(
        await fetchSeen(client, version, 'modern'),
        asSeenBy(version, expected),
        `Fetch v${version}`,
      );
    }
  });
});

describe('kafka legacy MessageSet v0/v1: late versions and bad input', () => {
  const suite = wireSuite();

  test('a legacy set in Produce v3+, and acks=0 on Produce v0, are stored too', async () => {
    const { kb, client } = suite;
    await kb.broker.client('/').createStream('legacy-late', { partitions: 1 });
    const items: Item[] = [{ key: 'k', value: 'late', timestamp: ts0 }];
    assert.equal((await produce(client, 7, 'legacy-late', legacySet(1, items))).errorCode, 0);
    client.send(ApiKey.Produce, 0, {
      acks: 0,
      timeoutMs: 5000,
      topicData: [{ name: 'legacy-late', partitionData: [{ index: 0, records: legacySet(0, items) }] }],
    });
    // Answered in order, so this reply proves the acks=0 request was handled first, silently.
    await client.request(ApiKey.Metadata, 0, { topics: [] });
    assert.deepEqual(
      (await fetchSeen(client, 11, 'legacy-late')).map((s) => [s.offset, s.value, s.timestamp]),
      [
        [0n, 'late', ts0],
        [1n, 'late', -1n],
      ],
    );
  });

  test('bad legacy sets get CORRUPT_MESSAGE and store nothing', async () => {
    const { kb, client } = suite;
    await kb.broker.client('/').createStream('legacy-bad', { partitions: 1 });
    const good = legacySet(1, [{ key: 'k', value: 'v', timestamp: ts0 }]);
    const badCrc = Uint8Array.from(good);
    badCrc[badCrc.length - 1] = badCrc[badCrc.length - 1]! ^ 1;
    const partial = good.subarray(0, good.length - 1);
    const batch = encodeRecordBatch({ baseTimestamp: ts0, records: [{ value: utf8.encode('v2') }] });
    const mixed = new Uint8Array(good.length + batch.length);
    mixed.set(good);
    mixed.set(batch, good.length);
    const notGzip = encodeMessageSet(1, [
      { offset: 0n, attributes: CompressionCodec.gzip, value: utf8.encode('junk') },
    ]);
    for (const [name, records] of Object.entries({ badCrc, partial, mixed, notGzip })) {
      const answer = await produce(client, 2, 'legacy-bad', records);
      assert.equal(answer.errorCode, KafkaError.corruptMessage, name);
    }
    assert.equal(kb.broker.client('/').partition('legacy-bad', 0).endOffset, 0);
  });
});

const noKcat = hasCommand('kcat') ? false : 'kcat is not installed (apt-get install kcat)';

describe('librdkafka in its pre-0.11 modes', () => {
  let kb: KafkaTestBroker;
  before(async () => {
    kb = await startKafkaBroker();
  });
  after(async () => {
    await kb.stop();
  });

  // Without ApiVersions, librdkafka trusts broker.version.fallback: 0.10.0 gives Produce/Fetch v2 with
  // magic 1, 0.9.0 gives v1 with magic 0; both wrap the messages in a snappy-compressed message.
  for (const fallback of ['0.10.0', '0.9.0']) {
    test(`kcat with broker.version.fallback=${fallback} produces snappy and reads it back`, {
      skip: noKcat,
    }, async () => {
      const topic = `kcat-${fallback}`;
      const old = [
        '-b',
        kb.bootstrap,
        '-X',
        'api.version.request=false',
        '-X',
        `broker.version.fallback=${fallback}`,
      ];
      const put = await runTool(
        'kcat',
        [...old, '-z', 'snappy', '-P', '-t', topic, '-p', '0', '-K', ':'],
        'a:1\nb:2\nc:3\n',
      );
      assert.equal(put.code, 0, put.stderr);
      const format = ['-f', '%o %k %s\n', '-o', 'beginning', '-e', '-C', '-t', topic, '-p', '0'];
      const expected = '0 a 1\n1 b 2\n2 c 3\n';
      const legacy = await runTool('kcat', [...old, ...format]);
      assert.equal(legacy.stdout, expected, legacy.stderr);
      const modern = await runTool('kcat', ['-b', kb.bootstrap, ...format]);
      assert.equal(modern.stdout, expected, modern.stderr);
    });
  }
});

const kafkaPython = hasPythonModule('kafka');
const noKafkaPython = kafkaPython ? false : 'python3-kafka is not installed (apt-get install python3-kafka)';

// Admin create, a producer (acks=1, api_version auto-detected) and a consumer in a group; then the
// legacy paths as old brokers would be driven: api_version 0.10 (Produce/Fetch v2, magic 1, gzip)
// and 0.9 (Produce/Fetch v1, magic 0). kafka-python checks every CRC it reads.
const kafkaPythonScript = `
import sys, time
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
bootstrap, topic, old = sys.argv[1], sys.argv[2], sys.argv[3]
admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
admin.create_topics([NewTopic(name=topic, num_partitions=2, replication_factor=1)])
assert topic in admin.list_topics()
admin.close()
p = KafkaProducer(bootstrap_servers=bootstrap, acks=1)
for i in range(10):
    p.send(topic, key=b'k%d' % i, value=b'v%d' % i).get(timeout=10)
p.close()
c = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id='kpy-group', auto_offset_reset='earliest',
                  session_timeout_ms=6000, heartbeat_interval_ms=500, enable_auto_commit=False)
got = []
deadline = time.time() + 20
while len(got) < 10 and time.time() < deadline:
    for msgs in c.poll(timeout_ms=200).values():
        got += [m.value.decode() for m in msgs]
c.commit()
c.close()
print('group', ','.join(sorted(got)))
for version, codec in (((0, 10, 0), 'gzip'), ((0, 9), None)):
    p = KafkaProducer(bootstrap_servers=bootstrap, acks=1, api_version=version, compression_type=codec)
    for i in range(3):
        ts = 1700000000000 + i if version >= (0, 10) else None
        p.send(old, partition=0, key=b'o%d' % i, value=b'x%d' % i, timestamp_ms=ts).get(timeout=10)
    p.close()
for version in ((0, 10, 0), (0, 9)):
    c = KafkaConsumer(bootstrap_servers=bootstrap, api_version=version, auto_offset_reset='earliest',
                      enable_auto_commit=False, consumer_timeout_ms=3000)
    c.assign([TopicPartition(old, 0)])
    seen = []
    deadline = time.time() + 20
    while len(seen) < 6 and time.time() < deadline:
        for msgs in c.poll(timeout_ms=200).values():
            seen += ['%d:%s:%s:%d' % (m.offset, m.key.decode(), m.value.decode(),
                                      -1 if m.timestamp is None else m.timestamp) for m in msgs]
    c.close()
    print('legacy', '.'.join(map(str, version)), ' '.join(seen))
`;

describe('kafka-python 2.0.2', () => {
  let kb: KafkaTestBroker;
  before(async () => {
    kb = await startKafkaBroker();
  });
  after(async () => {
    await kb.stop();
  });

  test('admin, producer, group consumer, and the 0.9/0.10 legacy formats', {
    skip: noKafkaPython,
  }, async () => {
    const r = await runTool(
      '/usr/bin/python3',
      ['-c', kafkaPythonScript, kb.bootstrap, 'kpy', 'kpy-old'],
      '',
      60_000,
    );
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(
      lines[0],
      `group ${Array.from({ length: 10 }, (_, i) => `v${i}`)
        .sort()
        .join(',')}`,
    );
    const written = ['0:o0:x0:1700000000000', '1:o1:x1:1700000000001', '2:o2:x2:1700000000002'];
    // Produced with magic 0, the last three have no timestamp (-1); 0.9 consumers see none at all.
    const old = ['3:o0:x0:-1', '4:o1:x1:-1', '5:o2:x2:-1'];
    assert.equal(lines[1], `legacy 0.10.0 ${[...written, ...old].join(' ')}`);
    assert.equal(
      lines[2],
      `legacy 0.9 ${[...written, ...old].map((s) => s.replace(/:[-0-9]+$/, ':-1')).join(' ')}`,
    );
  });
});
