/**
 * A partition error in a Fetch answer carries an empty record set, never a null one, as Kafka
 * sends it: librdkafka refuses a null set ("invalid MessageSetSize -1") and its consumer then stalls
 * instead of resetting its position by auto.offset.reset.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ApiKey, type FetchResponse } from '../../../src/protocols/kafka/codec/index.js';
import {
  confluentMissing,
  type KafkaTestBroker,
  kafkaClient,
  startKafkaBroker,
} from '../../../testing/kafka-helpers.js';
import { runTool } from '../../../testing/kafka-tools.js';
import { WireClient } from '../../../testing/kafka-wire.js';

const noConfluent = confluentMissing();

/** A consumer placed past the end of the partition must come back by auto.offset.reset=earliest. */
const pythonReset = `
import sys
from confluent_kafka import Consumer, TopicPartition
bootstrap, topic = sys.argv[1], sys.argv[2]
c = Consumer({'bootstrap.servers': bootstrap, 'group.id': 'reset-group', 'auto.offset.reset': 'earliest',
              'enable.auto.commit': False})
c.assign([TopicPartition(topic, 0, 1000)])
got = []
for _ in range(60):
    m = c.poll(0.25)
    if m is None or m.error():
        continue
    got.append('%s@%d' % (m.value().decode(), m.offset()))
    if len(got) == 3:
        break
c.close()
print(','.join(got))
`;

describe('Fetch partition errors', () => {
  let kb: KafkaTestBroker;
  before(async () => {
    kb = await startKafkaBroker();
    const admin = kafkaClient(kb.bootstrap).admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'reset-me', numPartitions: 1 }] });
    await admin.disconnect();
    const producer = kafkaClient(kb.bootstrap).producer();
    await producer.connect();
    await producer.send({ topic: 'reset-me', messages: ['a', 'b', 'c'].map((value) => ({ value })) });
    await producer.disconnect();
  });
  after(async () => {
    await kb.stop();
  });

  test('librdkafka resets an out-of-range position by auto.offset.reset', { skip: noConfluent }, async () => {
    const r = await runTool('/usr/bin/python3', ['-c', pythonReset, kb.bootstrap, 'reset-me'], '', 30_000);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'a@0,b@1,c@2');
    assert.doesNotMatch(r.stderr, /MessageSetSize/);
  });

  test('every Fetch version answers an error with empty records and unknown offsets', async () => {
    const wire = await WireClient.open(kb.port);
    try {
      for (let version = 0; version <= 12; version++) {
        const body = await wire.request<FetchResponse>(ApiKey.Fetch, version, {
          replicaId: -1,
          maxWaitMs: 0,
          minBytes: 1,
          maxBytes: 1024 * 1024,
          topics: [
            {
              topic: 'reset-me',
              partitions: [
                { partition: 0, fetchOffset: 1000n, partitionMaxBytes: 65536 },
                { partition: 9, fetchOffset: 0n, partitionMaxBytes: 65536 },
              ],
            },
          ],
        });
        const [outOfRange, unknown] = body.responses[0]!.partitions;
        assert.equal(outOfRange!.errorCode, 1, `v${version} OFFSET_OUT_OF_RANGE`);
        assert.equal(unknown!.errorCode, 3, `v${version} UNKNOWN_TOPIC_OR_PARTITION`);
        for (const p of [outOfRange!, unknown!]) {
          assert.ok(p.records instanceof Uint8Array && p.records.length === 0, `v${version} empty records`);
          assert.equal(p.highWatermark, -1n, `v${version} high watermark`);
        }
      }
    } finally {
      wire.close();
    }
  });
});
