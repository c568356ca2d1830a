/**
 * Durability across a restart of `switchyard start` (a child process with a temporary data dir):
 * records, committed group offsets and idempotent producer sequences all come back.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { EachMessagePayload } from 'kafkajs';
import { ApiKey, encodeRecordBatch } from '../../../src/protocols/kafka/codec/index.js';
import { kafkaClient, until } from '../../../src/testing/kafka-helpers.js';
import { WireClient } from '../../../src/testing/kafka-wire.js';
import { type RunningCli, startCli } from '../../../src/testing/server-cli.js';

function start(dataDir: string): Promise<RunningCli> {
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
    'auto',
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
