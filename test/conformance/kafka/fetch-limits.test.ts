/**
 * A Fetch answer stays within the request's maxBytes: only the first partition with data may go over
 * it, by its first batch (KIP-74). librdkafka sizes its receive buffer from fetch.max.bytes and drops
 * the connection on a larger answer ("Invalid response size"), so a second partition's big batch
 * must wait for a later fetch instead of riding along.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ApiKey, encodeRecordBatch, type FetchResponse } from '../../../src/protocols/kafka/codec/index.js';
import { confluentMissing, type KafkaTestBroker, startKafkaBroker } from '../../../testing/kafka-helpers.js';
import { runTool } from '../../../testing/kafka-tools.js';
import { WireClient } from '../../../testing/kafka-wire.js';

const noConfluent = confluentMissing();

/** librdkafka's own fetch.max.bytes case: ~900 KB records on three partitions, 1 MB per fetch. */
const pythonBigRecords = `
import sys
from confluent_kafka import Producer, Consumer
bootstrap, topic = sys.argv[1], sys.argv[2]
p = Producer({'bootstrap.servers': bootstrap, 'linger.ms': 0})
for i in range(9):
    p.produce(topic, b'%d' % i + b'x' * (900 * 1024), partition=i % 3)
    p.flush(10)
c = Consumer({'bootstrap.servers': bootstrap, 'group.id': 'big-records', 'auto.offset.reset': 'earliest',
              'max.partition.fetch.bytes': 20000000, 'fetch.max.bytes': 1000000,
              'receive.message.max.bytes': 1000512})
errors = []
c.subscribe([topic])
got = 0
for _ in range(120):
    m = c.poll(0.25)
    if m is None:
        continue
    if m.error():
        errors.append(m.error().name())
        continue
    got += 1
    if got == 9:
        break
c.close()
print(got, ','.join(errors))
`;

function bigBatch(fill: number): Uint8Array {
  return encodeRecordBatch({
    baseTimestamp: 1_700_000_000_000n,
    records: [{ value: new Uint8Array(300 * 1024).fill(fill) }],
  });
}

/**
 * Three ~300 KB batches, one per partition of a new topic `topic`, then one Fetch of all three from
 * offset 0 asking `maxBytes` (1 MiB per partition): each partition's record bytes.
 */
async function fetchedSizes(kb: KafkaTestBroker, topic: string, maxBytes: number): Promise<number[]> {
  await kb.broker.client().createStream(topic, { partitions: 3 });
  const wire = await WireClient.open(kb.port);
  try {
    // As real clients do: a first request may be no larger than handshakeBytesMax (64 KiB).
    await wire.request(ApiKey.ApiVersions, 3, { clientSoftwareName: 'test', clientSoftwareVersion: '1' });
    for (let p = 0; p < 3; p++) {
      const produced = await wire.request<{
        responses: Array<{ partitionResponses: Array<{ errorCode: number }> }>;
      }>(ApiKey.Produce, 7, {
        acks: -1,
        timeoutMs: 5000,
        topicData: [{ name: topic, partitionData: [{ index: p, records: bigBatch(p) }] }],
      });
      assert.equal(produced.responses[0]!.partitionResponses[0]!.errorCode, 0);
    }
    const fetched = await wire.request<FetchResponse>(ApiKey.Fetch, 11, {
      replicaId: -1,
      maxWaitMs: 0,
      minBytes: 1,
      maxBytes,
      topics: [
        {
          topic,
          partitions: [0, 1, 2].map((partition) => ({
            partition,
            fetchOffset: 0n,
            partitionMaxBytes: 1024 * 1024,
          })),
        },
      ],
    });
    return fetched.responses[0]!.partitions.map((p) => p.records?.length ?? -1);
  } finally {
    wire.close();
  }
}

describe('Fetch byte limits', () => {
  let kb: KafkaTestBroker;
  before(async () => {
    kb = await startKafkaBroker();
  });
  after(async () => {
    await kb.stop();
  });

  test('librdkafka with fetch.max.bytes below two records reads every record', {
    skip: noConfluent,
  }, async () => {
    await kb.broker.client().createStream('big-records', { partitions: 3 });
    const r = await runTool(
      '/usr/bin/python3',
      ['-c', pythonBigRecords, kb.bootstrap, 'big-records'],
      '',
      60_000,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), '9');
    assert.doesNotMatch(r.stderr, /Invalid response size/);
  });

  test('only the first partition with data goes over maxBytes, by one batch', async () => {
    const sizes = await fetchedSizes(kb, 'wide', 400 * 1024);
    assert.ok(sizes[0]! > 300 * 1024, `first partition: ${sizes[0]}`);
    assert.deepEqual(sizes.slice(1), [0, 0]);
  });
});

// KIP-541: the broker's fetch.max.bytes bounds an answer whatever the consumer asks; a consumer asking
// less gets what it asked. The first batch still goes whole (KIP-74).
describe('Fetch byte limits: the broker caps what a consumer asks (kafkaFetchBytesMax)', () => {
  let kb: KafkaTestBroker;
  before(async () => {
    kb = await startKafkaBroker({ kafka: { fetchBytesMax: 700 * 1024 } });
  });
  after(async () => {
    await kb.stop();
  });

  test('a fetch asking 50 MB gets two ~300 KB batches of three: the third would pass the cap', async () => {
    const sizes = await fetchedSizes(kb, 'capped', 50 * 1024 * 1024);
    assert.ok(sizes[0]! > 300 * 1024 && sizes[1]! > 300 * 1024, `sizes: ${sizes}`);
    assert.equal(sizes[2], 0);
  });

  test('a fetch asking less than the cap gets what it asked', async () => {
    const sizes = await fetchedSizes(kb, 'under', 400 * 1024);
    assert.ok(sizes[0]! > 300 * 1024, `first partition: ${sizes[0]}`);
    assert.deepEqual(sizes.slice(1), [0, 0]);
  });
});
