/**
 * Fetch hands stored batches to the socket as separate pieces (no joined copy). These check what a
 * client sees of that: whole batches, byte for byte, in offset order, cut at the partition limit, in
 * both the classic and the flexible (compact length) layouts, from file storage.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  ApiKey,
  encodeRecordBatch,
  readBatchHeader,
  splitBatches,
} from '../../../src/protocols/kafka/codec/index.js';
import { type KafkaTestBroker, startKafkaBroker } from '../../../testing/kafka-helpers.js';
import { WireClient } from '../../../testing/kafka-wire.js';

// biome-ignore lint/suspicious/noExplicitAny: decoded test responses
type Obj = any;

const batchCount = 5;
const recordsPerBatch = 4;

function batchOf(n: number): Uint8Array {
  const value = new Uint8Array(2048).fill(97 + n);
  return encodeRecordBatch({
    baseTimestamp: 1_700_000_000_000n,
    records: Array.from({ length: recordsPerBatch }, () => ({ value })),
  });
}

function fetchBody(topic: string, offset: bigint, partitionMaxBytes: number): Obj {
  return {
    maxWaitMs: 0,
    minBytes: 0,
    maxBytes: 1 << 24,
    isolationLevel: 0,
    sessionEpoch: -1,
    topics: [{ topic, partitions: [{ partition: 0, fetchOffset: offset, partitionMaxBytes }] }],
  };
}

/** The batches of a records field, each compared past baseOffset and length (the broker sets those). */
function batchesIn(records: Uint8Array): Uint8Array[] {
  return splitBatches(records, 1000).batches.map((s) => records.subarray(s.offset, s.offset + s.length));
}

describe('kafka fetch of stored batches', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-kafka-fetch-'));
  const produced = Array.from({ length: batchCount }, (_, n) => batchOf(n));
  let kb: KafkaTestBroker;
  let client: WireClient;
  before(async () => {
    kb = await startKafkaBroker({ storage: 'file', dataDir });
    client = await WireClient.open(kb.port);
    await kb.broker.client('/').createStream('big', { partitions: 1 });
    for (const records of produced) {
      const r = await client.request<Obj>(ApiKey.Produce, 7, {
        acks: -1,
        timeoutMs: 5000,
        topicData: [{ name: 'big', partitionData: [{ index: 0, records }] }],
      });
      assert.equal(r.responses[0].partitionResponses[0].errorCode, 0);
    }
  });
  after(async () => {
    client.close();
    await kb.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  for (const version of [4, 11, 12]) {
    test(`v${version}: every batch comes back whole and in order`, async () => {
      const body = await client.request<Obj>(ApiKey.Fetch, version, fetchBody('big', 0n, 1 << 20));
      const got = batchesIn(body.responses[0].partitions[0].records);
      assert.equal(got.length, batchCount);
      got.forEach((b, n) => {
        assert.equal(readBatchHeader(b).baseOffset, BigInt(n * recordsPerBatch));
        assert.deepEqual(Uint8Array.from(b.subarray(12)), produced[n]!.subarray(12), `batch ${n}`);
      });
    });
  }

  test('the partition limit cuts between batches, and a limit below one batch still returns one', async () => {
    const limit = Math.floor(produced[0]!.length * 2.5);
    const cut = await client.request<Obj>(ApiKey.Fetch, 12, fetchBody('big', 4n, limit));
    const got = batchesIn(cut.responses[0].partitions[0].records);
    assert.deepEqual(
      got.map((b) => readBatchHeader(b).baseOffset),
      [4n, 8n],
    );
    const tiny = await client.request<Obj>(ApiKey.Fetch, 11, fetchBody('big', 17n, 1));
    const one = batchesIn(tiny.responses[0].partitions[0].records);
    assert.equal(one.length, 1);
    assert.equal(readBatchHeader(one[0]!).baseOffset, 16n, 'the batch holding offset 17');
  });

  test('many fetches at once on several connections each get their own bytes (read buffers are reused)', async () => {
    const clients = await Promise.all([1, 2, 3].map(() => WireClient.open(kb.port)));
    try {
      const rounds = 20;
      const checks = clients.flatMap((c, k) =>
        Array.from({ length: rounds }, async (_, round) => {
          const from = (k + round) % batchCount;
          const body = await c.request<Obj>(
            ApiKey.Fetch,
            11,
            fetchBody('big', BigInt(from * recordsPerBatch), 1 << 20),
          );
          const got = batchesIn(body.responses[0].partitions[0].records);
          assert.equal(got.length, batchCount - from, `client ${k} round ${round}`);
          got.forEach((b, i) => {
            const n = from + i;
            assert.deepEqual(
              Uint8Array.from(b.subarray(12)),
              produced[n]!.subarray(12),
              `client ${k} round ${round} batch ${n}`,
            );
          });
        }),
      );
      await Promise.all(checks);
    } finally {
      for (const c of clients) c.close();
    }
  });
});

/** Batches of about 300 KB, fetched four at a time (over 1 MiB per answer, read into pooled buffers). */
const large = Array.from({ length: 8 }, (_, n) => {
  const value = new Uint8Array(75_000).fill(65 + n);
  return encodeRecordBatch({
    baseTimestamp: 1_700_000_000_000n,
    records: Array.from({ length: recordsPerBatch }, () => ({ value })),
  });
});
const fourLimit = large[0]!.length * 4 + 100;

/** Asserts that `records` holds exactly the produced batches `from`, `from + 1`, … of `large`. */
function assertLarge(records: Uint8Array, from: number, count: number): void {
  const got = batchesIn(records);
  assert.equal(got.length, count);
  got.forEach((b, i) => {
    assert.equal(readBatchHeader(b).baseOffset, BigInt((from + i) * recordsPerBatch));
    assert.deepEqual(Uint8Array.from(b.subarray(12)), large[from + i]!.subarray(12), `batch ${from + i}`);
  });
}

describe('kafka fetch of large batches while appends continue', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-kafka-large-'));
  let kb: KafkaTestBroker;
  let producer: WireClient;
  let consumer: WireClient;
  const produce = async (n: number) => {
    const r = await producer.request<Obj>(ApiKey.Produce, 7, {
      acks: -1,
      timeoutMs: 5000,
      topicData: [{ name: 'large', partitionData: [{ index: 0, records: large[n]! }] }],
    });
    assert.equal(r.responses[0].partitionResponses[0].errorCode, 0);
  };
  const fetch = (from: number, extra: Obj = {}) =>
    consumer.request<Obj>(ApiKey.Fetch, 11, {
      ...fetchBody('large', BigInt(from * recordsPerBatch), fourLimit),
      ...extra,
    });
  before(async () => {
    kb = await startKafkaBroker({ storage: 'file', dataDir });
    producer = await WireClient.open(kb.port);
    consumer = await WireClient.open(kb.port);
    // As real clients do: a first request may be no larger than handshakeBytesMax (64 KiB).
    await producer.request(ApiKey.ApiVersions, 3, { clientSoftwareName: 'test', clientSoftwareVersion: '1' });
    await kb.broker.client('/').createStream('large', { partitions: 1 });
    for (let n = 0; n < 6; n++) await produce(n);
  });
  after(async () => {
    producer.close();
    consumer.close();
    await kb.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('a long-poll answered after an append returns exactly the produced bytes', async () => {
    assertLarge((await fetch(0)).responses[0].partitions[0].records, 0, 4);
    // More than the two batches left is wanted, so the fetch waits; a seventh batch completes it.
    const wait = fetch(4, { maxWaitMs: 10_000, minBytes: large[0]!.length * 2 + 1 });
    await produce(6);
    assertLarge((await wait).responses[0].partitions[0].records, 4, 3);
  });

  test('a fetch from where the last answer stopped also returns what was appended since', async () => {
    assertLarge((await fetch(0)).responses[0].partitions[0].records, 0, 4);
    await produce(7);
    assertLarge((await fetch(4)).responses[0].partitions[0].records, 4, 4);
  });
});
