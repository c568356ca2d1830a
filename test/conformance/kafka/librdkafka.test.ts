/**
 * librdkafka clients against the in-process broker: Debian's kcat and python3-confluent-kafka.
 * Metadata, produce and consume with every codec (snappy, lz4, zstd included), and a consumer group.
 * Each test is skipped with a message when its tool is not installed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { entryMessages } from '../../../src/core/logs/formats.js';
import {
  hasCommand,
  hasPythonModule,
  type KafkaTestBroker,
  startKafkaBroker,
} from '../../../testing/kafka-helpers.js';
import { kcatRead, runTool } from '../../../testing/kafka-tools.js';

const kcat = hasCommand('kcat');
const confluent = hasPythonModule('confluent_kafka');
const noKcat = kcat ? false : 'kcat is not installed (apt-get install kcat)';
const noConfluent = confluent
  ? false
  : 'python3-confluent-kafka is not installed (apt-get install python3-confluent-kafka)';

const pythonGroup = `
import sys
from confluent_kafka import Producer, Consumer
bootstrap, topic = sys.argv[1], sys.argv[2]
p = Producer({'bootstrap.servers': bootstrap, 'compression.type': 'zstd', 'enable.idempotence': True})
for i in range(10):
    p.produce(topic, key=b'k%d' % i, value=b'v%d' % i, headers=[('h', b'x')])
assert p.flush(10) == 0
c = Consumer({'bootstrap.servers': bootstrap, 'group.id': 'py-group', 'auto.offset.reset': 'earliest',
              'session.timeout.ms': 6000, 'enable.auto.commit': False})
c.subscribe([topic])
got = []
for _ in range(100):
    m = c.poll(0.2)
    if m is None or m.error():
        continue
    got.append(m.value().decode())
    if len(got) == 10:
        break
c.commit(asynchronous=False)
c.close()
print(','.join(sorted(got)))
`;

describe('librdkafka clients', () => {
  let kb: KafkaTestBroker;
  before(async () => {
    kb = await startKafkaBroker();
  });
  after(async () => {
    await kb.stop();
  });

  test('kcat -L lists the broker as controller at its real port', { skip: noKcat }, async () => {
    const r = await runTool('kcat', ['-b', kb.bootstrap, '-L']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`broker 0 at 127\\.0\\.0\\.1:${kb.port} \\(controller\\)`));
  });

  for (const codec of ['none', 'gzip', 'snappy', 'lz4', 'zstd']) {
    test(`kcat produces and consumes ${codec} batches, and core reads them as messages`, {
      skip: noKcat,
    }, async () => {
      const topic = `kcat-${codec}`;
      const produced = await runTool(
        'kcat',
        ['-b', kb.bootstrap, '-P', '-t', topic, '-z', codec, '-K:', '-H', 'origin=kcat'],
        'k1:one\nk2:two\nk3:three\n',
      );
      assert.equal(produced.code, 0, produced.stderr);
      const consumed = await kcatRead(kb.bootstrap, topic, '%k=%s@%o\n');
      assert.equal(consumed.code, 0, consumed.stderr);
      assert.deepEqual(consumed.stdout.trim().split('\n'), ['k1=one@0', 'k2=two@1', 'k3=three@2']);
      const entries = kb.broker.client('/').partition(topic, 0).read(0);
      const messages = entries.flatMap((e) => entryMessages(e) ?? []);
      assert.deepEqual(
        messages.map((m) => new TextDecoder().decode(m.message.body)),
        ['one', 'two', 'three'],
      );
      assert.equal(new TextDecoder().decode(messages[0]!.message.properties.key), 'k1');
      assert.deepEqual(messages[0]!.message.properties.headers, [['origin', 'kcat']]);
    });
  }

  test('kcat consumes in a balanced consumer group', { skip: noKcat }, async () => {
    await runTool('kcat', ['-b', kb.bootstrap, '-P', '-t', 'kcat-group'], 'a\nb\n');
    const r = await runTool(
      'kcat',
      [
        '-b',
        kb.bootstrap,
        '-G',
        'kcat-g',
        '-o',
        'beginning',
        '-e',
        '-f',
        '%s\n',
        '-X',
        'session.timeout.ms=6000',
        'kcat-group',
      ],
      '',
      30_000,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), ['a', 'b']);
  });

  test('confluent-kafka (python): idempotent zstd producer and a consumer group', {
    skip: noConfluent,
  }, async () => {
    const r = await runTool('/usr/bin/python3', ['-c', pythonGroup, kb.bootstrap, 'py-topic'], '', 40_000);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout.trim(),
      Array.from({ length: 10 }, (_, i) => `v${i}`)
        .sort()
        .join(','),
    );
    assert.equal(kb.broker.client('/').fetchOffset('py-group', 'py-topic', 0)?.offset, 10);
  });
});
