/**
 * Transactions pipelined on one connection, on file storage with fsync always: the requests of one
 * transactional id take effect in the order they were sent (a Produce right behind its
 * AddPartitionsToTxn, the next transaction right behind an EndTxn), while another id's requests in
 * between go on without waiting for them; every answer comes back in request order.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ApiKey, BatchAttribute, encodeRecordBatch } from '../../../src/protocols/kafka/codec/index.js';
import { type KafkaTestBroker, startKafkaBroker } from '../../../testing/kafka-helpers.js';
import { WireClient } from '../../../testing/kafka-wire.js';

// biome-ignore lint/suspicious/noExplicitAny: decoded test responses
type Obj = any;

const topic = 'pipelined';
const rounds = 3;
const recordsPerBatch = 2;

interface Producer {
  readonly id: string;
  readonly partition: number;
  producerId: bigint;
  epoch: number;
  sequence: number;
}

/** The requests of one transaction: add the partition, one batch, commit. */
function transaction(p: Producer): Array<[apiKey: number, version: number, body: object]> {
  const records = encodeRecordBatch({
    baseTimestamp: BigInt(Date.now()),
    attributes: BatchAttribute.transactional,
    producerId: p.producerId,
    producerEpoch: p.epoch,
    baseSequence: p.sequence,
    records: Array.from({ length: recordsPerBatch }, (_, i) => ({ value: Uint8Array.of(i) })),
  });
  p.sequence += recordsPerBatch;
  const ids = { producerId: p.producerId, producerEpoch: p.epoch };
  return [
    [
      ApiKey.AddPartitionsToTxn,
      3,
      {
        v3AndBelowTransactionalId: p.id,
        v3AndBelowProducerId: ids.producerId,
        v3AndBelowProducerEpoch: ids.producerEpoch,
        v3AndBelowTopics: [{ name: topic, partitions: [p.partition] }],
      },
    ],
    [
      ApiKey.Produce,
      7,
      {
        transactionalId: p.id,
        acks: -1,
        timeoutMs: 5000,
        topicData: [{ name: topic, partitionData: [{ index: p.partition, records }] }],
      },
    ],
    [ApiKey.EndTxn, 3, { transactionalId: p.id, ...ids, committed: true }],
  ];
}

/** The error codes of an answer, wherever the API keeps them. */
function codesOf(apiKey: number, body: Obj): number[] {
  if (apiKey === ApiKey.AddPartitionsToTxn)
    return body.resultsByTopicV3AndBelow.flatMap((t: Obj) =>
      t.resultsByPartition.map((r: Obj) => r.partitionErrorCode),
    );
  if (apiKey === ApiKey.Produce)
    return body.responses.flatMap((t: Obj) => t.partitionResponses.map((r: Obj) => r.errorCode));
  return [body.errorCode];
}

describe('kafka transactions pipelined on one connection', () => {
  let kb: KafkaTestBroker;
  let client: WireClient;
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-txn-pipelined-'));
  before(async () => {
    kb = await startKafkaBroker({ storage: 'file', dataDir });
    client = await WireClient.open(kb.port);
  });
  after(async () => {
    client.close();
    await kb.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('two ids interleaved, three transactions each, all sent before any answer: all commit in order', async () => {
    await kb.broker.client('/').createStream(topic, { partitions: 2 });
    const producers: Producer[] = [];
    for (const [partition, id] of ['a', 'b'].entries()) {
      const init = await client.request<Obj>(ApiKey.InitProducerId, 2, {
        transactionalId: id,
        transactionTimeoutMs: 60_000,
      });
      assert.equal(init.errorCode, 0);
      producers.push({ id, partition, producerId: init.producerId, epoch: init.producerEpoch, sequence: 0 });
    }
    const sent: Array<{ correlationId: number; apiKey: number; version: number }> = [];
    for (let round = 0; round < rounds; round++) {
      const [a, b] = producers.map(transaction);
      // a's and b's requests alternate: a's wait for a's, never for b's.
      for (let step = 0; step < a!.length; step++) {
        for (const [apiKey, version, body] of [a![step]!, b![step]!])
          sent.push({ correlationId: client.send(apiKey, version, body), apiKey, version });
      }
    }
    for (const { correlationId, apiKey, version } of sent) {
      const got = await client.receive<Obj>(apiKey, version, 20_000);
      assert.equal(got.correlationId, correlationId, 'answers come in request order');
      assert.deepEqual(codesOf(apiKey, got.body), [0], `api ${apiKey} answered without error`);
    }
    const listed = await client.request<Obj>(ApiKey.ListOffsets, 2, {
      replicaId: -1,
      isolationLevel: 1,
      topics: [
        { name: topic, partitions: [0, 1].map((partitionIndex) => ({ partitionIndex, timestamp: -1n })) },
      ],
    });
    // Each transaction left its records and its marker; read_committed sees up to the end.
    const end = BigInt(rounds * (recordsPerBatch + 1));
    assert.deepEqual(
      listed.topics[0].partitions.map((p: Obj) => p.offset),
      [end, end],
    );
  });
});
