/**
 * Compacted topics (cleanup.policy=compact) through real clients, on file storage with 1 MiB segments
 * so that compaction has sealed segments to rewrite: kafkajs produces many updates per key, kcat and a
 * kafkajs consumer read back (the latest value of each key, offsets increasing with gaps), tombstones go
 * after delete.retention.ms, records without a key are refused, and `switchyard start` SIGKILLed while
 * compacting comes back with every key's latest value.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Kafka, Producer } from 'kafkajs';
import { ApiKey } from '../../../src/protocols/kafka/codec/index.js';
import { encodeRecordBatch } from '../../../src/protocols/kafka/codec/record-batch.js';
import { KafkaError } from '../../../src/protocols/kafka/errors.js';
import { startTestBroker, type TestBroker } from '../../../testing/broker.js';
import { hasCommand, kafkaClient, sleep, until } from '../../../testing/kafka-helpers.js';
import { kcatRead } from '../../../testing/kafka-tools.js';
import { WireClient } from '../../../testing/kafka-wire.js';
import { listenerFlags, type RunningCli, startCli } from '../../../testing/server-cli.js';

const segmentBytesMax = 1024 * 1024;
const keys = 100;
const valueBytes = 200;
const noKcat = hasCommand('kcat') ? false : 'kcat is not installed (apt-get install kcat)';

/** The value of the `round`th update of key `k`: recognisable, `valueBytes` long. */
function updateValue(k: number, round: number): string {
  return `k${k}-r${round}-`.padEnd(valueBytes, '.');
}

/** Sends `rounds` updates of keys [from, keys), one send (one batch) per round. */
async function produceRounds(producer: Producer, topic: string, rounds: number, from = 0) {
  for (let round = 0; round < rounds; round++) {
    const messages = Array.from({ length: keys - from }, (_, i) => ({
      key: `k${from + i}`,
      value: updateValue(from + i, round),
    }));
    await producer.send({ topic, messages });
  }
}

interface ReadRecord {
  readonly offset: number;
  readonly key: string;
  /** null for a tombstone. */
  readonly value: string | null;
}

/** What kcat reads of the topic from the beginning: offset, key and value (NULL for a tombstone). */
async function kcatRecords(bootstrap: string, topic: string): Promise<ReadRecord[]> {
  const result = await kcatRead(bootstrap, topic, '%o\t%k\t%S\t%s\n');
  assert.equal(result.code, 0, result.stderr);
  return result.stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const [offset, key, size, value] = line.split('\t');
      return { offset: Number(offset), key: key!, value: size === '-1' ? null : value! };
    });
}

function latestByKey(records: readonly ReadRecord[]): Map<string, string | null> {
  return new Map(records.map((r) => [r.key, r.value]));
}

function assertIncreasing(records: readonly ReadRecord[]): void {
  for (let i = 1; i < records.length; i++) {
    assert.ok(
      records[i]!.offset > records[i - 1]!.offset,
      `offset ${records[i]!.offset} after ${records[i - 1]!.offset}`,
    );
  }
}

async function createCompacted(kafka: Kafka, topic: string, configs: Record<string, string>): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const configEntries = Object.entries({
      'cleanup.policy': 'compact',
      'min.cleanable.dirty.ratio': '0.01',
      ...configs,
    }).map(([name, value]) => ({ name, value }));
    await admin.createTopics({ topics: [{ topic, numPartitions: 1, configEntries }] });
  } finally {
    await admin.disconnect();
  }
}

describe('compacted topics', { skip: noKcat }, () => {
  let started: TestBroker;
  let dataDir: string;
  let kafka: Kafka;
  let bootstrap: string;
  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'switchyard-compaction-'));
    started = await startTestBroker({ listeners: ['kafka'], storage: 'file', dataDir, segmentBytesMax });
    bootstrap = started.url('kafka');
    kafka = kafkaClient(bootstrap);
  });
  after(async () => {
    await started.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('many updates per key read back after compaction: the latest of each, offsets with gaps', async () => {
    const topic = 'changelog';
    await createCompacted(kafka, topic, {});
    const consumer = kafka.consumer({ groupId: 'changelog-reader', maxWaitTimeInMs: 100 });
    const seen: ReadRecord[] = [];
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) =>
        void seen.push({
          offset: Number(message.offset),
          key: message.key!.toString(),
          value: message.value?.toString() ?? null,
        }),
    });
    const producer = kafka.producer();
    await producer.connect();
    const rounds = 80; // 8,000 records of ~250 bytes: several 1 MiB segments
    try {
      await produceRounds(producer, topic, rounds);
      const produced = rounds * keys;
      // Compaction runs in the background; wait until kcat sees it has removed most old values.
      let records: ReadRecord[] = [];
      await until(
        async () => {
          records = await kcatRecords(bootstrap, topic);
          return records.length < produced / 2;
        },
        30_000,
        () => `compaction (kcat still reads ${records.length} of ${produced} records)`,
      );
      assertIncreasing(records);
      assert.ok(records.at(-1)!.offset === produced - 1, 'the newest record stays at its offset');
      const latest = latestByKey(records);
      for (let k = 0; k < keys; k++)
        assert.equal(latest.get(`k${k}`), updateValue(k, rounds - 1), `key k${k}`);
      // The consumer read all along while compaction ran: in order, ending with the latest values.
      await until(() => seen.at(-1)?.offset === produced - 1, 20_000, 'the consumer reaching the end');
      assertIncreasing(seen);
      const consumed = latestByKey(seen);
      for (let k = 0; k < keys; k++) assert.equal(consumed.get(`k${k}`), updateValue(k, rounds - 1));
    } finally {
      await producer.disconnect();
      await consumer.disconnect();
    }
  });

  test('tombstones delete their key and are gone themselves after delete.retention.ms', async () => {
    const topic = 'deletes';
    await createCompacted(kafka, topic, { 'delete.retention.ms': '1000' });
    const producer = kafka.producer();
    await producer.connect();
    const half = keys / 2;
    try {
      await produceRounds(producer, topic, 5);
      const tombstones = Array.from({ length: half }, (_, k) => ({ key: `k${k}`, value: null }));
      await producer.send({ topic, messages: tombstones });
      // Updates of the other keys after the tombstones, so that the segment holding them is sealed.
      const rounds = 100;
      await produceRounds(producer, topic, rounds, half);
      let records: ReadRecord[] = [];
      const deletedKeyLeft = () => records.some((r) => Number(r.key.slice(1)) < half);
      await until(
        async () => {
          records = await kcatRecords(bootstrap, topic);
          return !deletedKeyLeft();
        },
        30_000,
        () =>
          `deleted keys gone (kcat reads ${records.length} records, ${records.filter((r) => r.value === null).length} tombstones)`,
      );
      assertIncreasing(records);
      const latest = latestByKey(records);
      for (let k = half; k < keys; k++)
        assert.equal(latest.get(`k${k}`), updateValue(k, rounds - 1), `key k${k}`);
    } finally {
      await producer.disconnect();
    }
  });

  test('a record without a key is refused with INVALID_RECORD', async () => {
    const topic = 'keyed-only';
    await createCompacted(kafka, topic, {});
    const producer = kafka.producer({ retry: { retries: 0 } });
    await producer.connect();
    try {
      await assert.rejects(
        producer.send({ topic, messages: [{ key: 'a', value: 'ok' }, { value: 'no key' }] }),
        (err: Error & { type?: string }) =>
          err.type === 'INVALID_RECORD' || /INVALID_RECORD/.test(String((err as { cause?: unknown }).cause)),
      );
      await producer.send({ topic, messages: [{ key: 'a', value: 'ok' }] });
    } finally {
      await producer.disconnect();
    }
    // Produce v8+ names the records at fault (KIP-467), so a client fails only those.
    const wire = await WireClient.open(started.port('kafka'));
    try {
      const key = new TextEncoder().encode('k');
      const records = encodeRecordBatch({
        baseTimestamp: BigInt(Date.now()),
        records: [{ key, value: key }, { value: key }, { key, value: key }, { value: key }],
      });
      // biome-ignore lint/suspicious/noExplicitAny: a decoded test response
      const r = await wire.request<any>(ApiKey.Produce, 8, {
        acks: -1,
        timeoutMs: 5000,
        topicData: [{ name: topic, partitionData: [{ index: 0, records }] }],
      });
      const answer = r.responses[0].partitionResponses[0];
      assert.equal(answer.errorCode, KafkaError.invalidRecord);
      assert.deepEqual(
        answer.recordErrors.map((e: { batchIndex: number }) => e.batchIndex),
        [1, 3],
      );
    } finally {
      wire.close();
    }
  });
});

function startSwitchyard(dataDir: string): Promise<RunningCli> {
  const flags = ['--storage', 'file', '--data-dir', dataDir, '--segment-bytes-max', String(segmentBytesMax)];
  return startCli([...flags, '--log-level', 'warn', ...listenerFlags({ kafka: 'auto' })], {
    lifetimeMs: 120_000,
  });
}

test('a broker SIGKILLed while compacting restarts with every latest value', { skip: noKcat }, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-compaction-crash-'));
  let cli = await startSwitchyard(dataDir);
  const topic = 'crash-compacted';
  const rounds = 60;
  try {
    const kafka = kafkaClient(`127.0.0.1:${cli.ports.kafka}`);
    await createCompacted(kafka, topic, {});
    const producer = kafka.producer();
    await producer.connect();
    await produceRounds(producer, topic, rounds);
    await producer.disconnect();
    // Compaction checks every second; the kill lands before, during or after a run.
    await sleep(800 + Math.random() * 1500);
    cli.kill();
    await cli.stop().catch(() => undefined);
    cli = await startSwitchyard(dataDir);
    const records = await kcatRecords(`127.0.0.1:${cli.ports.kafka}`, topic);
    assertIncreasing(records);
    const latest = latestByKey(records);
    for (let k = 0; k < keys; k++) assert.equal(latest.get(`k${k}`), updateValue(k, rounds - 1), `key k${k}`);
  } finally {
    await cli.stop().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  }
});
