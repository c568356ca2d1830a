/**
 * Large fetches, whose file reads and CRC checks run on storage's read thread: a stored batch damaged on
 * disk while the broker was down answers KAFKA_STORAGE_ERROR on every fetch and never its bytes, and a
 * large fetch racing the deletion of its topic answers with the records as produced or an error, never
 * other bytes, while the broker goes on serving.
 */
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  ApiKey,
  encodeRecordBatch,
  readBatchHeader,
  splitBatches,
} from '../../../src/protocols/kafka/codec/index.js';
import { KafkaError } from '../../../src/protocols/kafka/errors.js';
import { type KafkaTestBroker, startKafkaBroker } from '../../../testing/kafka-helpers.js';
import { WireClient } from '../../../testing/kafka-wire.js';

// biome-ignore lint/suspicious/noExplicitAny: decoded test responses
type Obj = any;

const recordsPerBatch = 4;
/** Batches of about 300 KB: a fetch of a few is well over the size that leaves the event loop. */
const batches = Array.from({ length: 6 }, (_, n) =>
  encodeRecordBatch({
    baseTimestamp: 1_700_000_000_000n,
    records: Array.from({ length: recordsPerBatch }, () => ({ value: new Uint8Array(75_000).fill(97 + n) })),
  }),
);
const fetchLimit = 4 * 1024 * 1024;

function fetchBody(topic: string, batch: number): Obj {
  return {
    maxWaitMs: 0,
    minBytes: 0,
    maxBytes: fetchLimit,
    isolationLevel: 0,
    sessionEpoch: -1,
    topics: [
      {
        topic,
        partitions: [
          { partition: 0, fetchOffset: BigInt(batch * recordsPerBatch), partitionMaxBytes: fetchLimit },
        ],
      },
    ],
  };
}

/** Asserts that `records` holds the produced batches from `from` on, each exactly as produced. */
function assertBatches(records: Uint8Array, from: number): void {
  const got = splitBatches(records, 1000).batches.map((s) => records.subarray(s.offset, s.offset + s.length));
  assert.equal(got.length, batches.length - from);
  got.forEach((b, i) => {
    assert.equal(readBatchHeader(b).baseOffset, BigInt((from + i) * recordsPerBatch));
    assert.deepEqual(Uint8Array.from(b.subarray(12)), batches[from + i]!.subarray(12), `batch ${from + i}`);
  });
}

/** The first segment file of `topic`'s partition 0 (its log folder's name carries the topic). */
function firstSegmentOf(dataDir: string, topic: string): string {
  const logs = join(dataDir, 'logs');
  const dir = readdirSync(logs).find((name) => name.includes(topic) && !name.startsWith('group.'));
  assert.ok(dir !== undefined, `no log folder for ${topic}`);
  const file = readdirSync(join(logs, dir))
    .filter((name) => name.endsWith('.log'))
    .sort()[0];
  assert.ok(file !== undefined);
  return join(logs, dir, file);
}

/** Produces `batches` into partition 0 of `topic`, acks=all, one request at a time. */
async function produceAll(client: WireClient, topic: string): Promise<void> {
  for (const records of batches) {
    const r = await client.request<Obj>(ApiKey.Produce, 7, {
      acks: -1,
      timeoutMs: 5000,
      topicData: [{ name: topic, partitionData: [{ index: 0, records }] }],
    });
    assert.equal(r.responses[0].partitionResponses[0].errorCode, 0);
  }
}

async function connect(port: number): Promise<WireClient> {
  const c = await WireClient.open(port);
  await c.request(ApiKey.ApiVersions, 3, { clientSoftwareName: 'test', clientSoftwareVersion: '1' });
  return c;
}

const raceRounds = [0, 1, 2, 3, 4, 5];

/** File storage in 1 MiB segments: the six batches of ~300 KB fill two, so the first three are sealed. */
function brokerOptions(dataDir: string) {
  return { storage: 'file', dataDir, segmentBytesMax: 1024 * 1024 } as const;
}

describe('large fetches read off the event loop', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-kafka-offthread-'));
  let kb: KafkaTestBroker;
  let client: WireClient;
  const partitionOf = async (c: WireClient, topic: string, batch: number): Promise<Obj> =>
    (await c.request<Obj>(ApiKey.Fetch, 11, fetchBody(topic, batch))).responses[0].partitions[0];
  const topics = ['through', ...raceRounds.map((round) => `race-${round}`)];
  const options = brokerOptions(dataDir);
  before(async () => {
    // Produced by an earlier run: records this run has not checked yet are read on the read thread
    // (bytes it wrote itself are known good and read inline: docs/storage-format.md, "Verified once").
    const writer = await startKafkaBroker(options);
    const producer = await connect(writer.port);
    for (const topic of topics) {
      await writer.broker.client('/').createStream(topic, { partitions: 1 });
      await produceAll(producer, topic);
    }
    producer.close();
    await writer.stop();
    kb = await startKafkaBroker(options);
    client = await connect(kb.port);
  });
  after(async () => {
    client.close();
    await kb.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('a consumer reading through in large fetches gets every batch as produced, in order, once', async () => {
    const reader = await WireClient.open(kb.port);
    try {
      let next = 0;
      for (let fetches = 0; next < batches.length && fetches < 20; fetches++) {
        // About two batches per fetch: each read is over the size that leaves the event loop.
        const body = fetchBody('through', next);
        body.maxBytes = 700_000;
        body.topics[0].partitions[0].partitionMaxBytes = 700_000;
        const p = (await reader.request<Obj>(ApiKey.Fetch, 11, body)).responses[0].partitions[0];
        assert.equal(p.errorCode, KafkaError.none);
        const got = splitBatches(p.records, 1000).batches.map((b) =>
          p.records.subarray(b.offset, b.offset + b.length),
        );
        assert.ok(got.length > 0, `fetch ${fetches} from batch ${next}`);
        for (const b of got) {
          assert.equal(readBatchHeader(b).baseOffset, BigInt(next * recordsPerBatch));
          assert.deepEqual(Uint8Array.from(b.subarray(12)), batches[next]!.subarray(12), `batch ${next}`);
          next++;
        }
      }
      assert.equal(next, batches.length);
    } finally {
      reader.close();
    }
  });

  test('large fetches racing the deletion of their topic answer with the produced bytes or an error', async () => {
    const readers = await Promise.all([1, 2, 3].map(() => WireClient.open(kb.port)));
    try {
      for (const round of raceRounds) {
        const topic = `race-${round}`;
        // Many large fetches in flight at once, and the deletion later in each round, so that some
        // land before it, some after and some while their reads are on the read thread.
        const fetches = readers.flatMap((c) => batches.map((_, from) => partitionOf(c, topic, from)));
        await new Promise((resolve) => setTimeout(resolve, 2 + 3 * round));
        await kb.broker.client('/').deleteStream(topic);
        const answers = await Promise.all(fetches);
        answers.forEach((p, k) => {
          const from = k % batches.length;
          if (p.errorCode === KafkaError.none) assertBatches(p.records, from);
          else assert.equal(p.records.length, 0, `round ${round} fetch ${k}: error ${p.errorCode}`);
        });
      }
      // The broker goes on serving.
      assertBatches((await partitionOf(client, 'through', 3)).records, 3);
    } finally {
      for (const c of readers) c.close();
    }
  });
});

/**
 * Bytes the broker wrote in this run carry CRCs it computed, and are not checked again on every fetch
 * (docs/storage-format.md, "Verified once"); after a restart, a sealed segment's records are checked on
 * their first read. Damage made while the broker was down is refused, on every fetch, never served.
 */
describe('a batch damaged on disk while the broker was down', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-kafka-rot-'));
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  test('answers KAFKA_STORAGE_ERROR on every fetch after a restart, and the batches after it still read', async () => {
    const topic = 'rot';
    const options = brokerOptions(dataDir);
    let kb = await startKafkaBroker(options);
    let client = await connect(kb.port);
    try {
      await kb.broker.client('/').createStream(topic, { partitions: 1 });
      await produceAll(client, topic);
    } finally {
      client.close();
      await kb.stop();
    }
    // One byte of the second batch's values, in the sealed first segment, before its last index point
    // (opening the segment scans only from there).
    const file = firstSegmentOf(dataDir, topic);
    const bytes = readFileSync(file);
    const at = bytes.indexOf(Buffer.alloc(64, 97 + 1));
    assert.ok(at > 0 && at + 1000 < bytes.length);
    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.from([0]), 0, 1, at + 1000);
    closeSync(fd);
    kb = await startKafkaBroker(options);
    client = await connect(kb.port);
    try {
      const fetch = async (from: number): Promise<Obj> =>
        (await client.request<Obj>(ApiKey.Fetch, 11, fetchBody(topic, from))).responses[0].partitions[0];
      assertBatches((await fetch(2)).records, 2);
      for (let round = 0; round < 3; round++)
        for (const from of [0, 1]) {
          const damaged = await fetch(from);
          assert.equal(damaged.errorCode, KafkaError.kafkaStorageError, `round ${round}, from batch ${from}`);
          assert.equal(damaged.records.length, 0);
        }
      assertBatches((await fetch(2)).records, 2);
    } finally {
      client.close();
      await kb.stop();
    }
  });
});
