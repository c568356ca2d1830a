/**
 * Streamed Fetch answers (src/protocols/kafka/handlers/fetch-stream.ts; `kafkaFetchStreamBytesMin`, here
 * 1 MiB): a large answer whose records storage can lay out states its sizes first and sends the records
 * as they are read. The client must
 * get exactly the bytes of an answer read whole (here: a broker on memory storage, which never streams,
 * fed the same batches), over several topics and partitions, an empty partition, an unknown one and
 * read_committed. A segment cut short under the broker, once the size is sent, closes the connection
 * (the answer cannot be finished) and the broker goes on serving.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ApiKey, encodeRecordBatch } from '../../../src/protocols/kafka/codec/index.js';
import { KafkaError } from '../../../src/protocols/kafka/errors.js';
import { type KafkaTestBroker, startKafkaBroker } from '../../../testing/kafka-helpers.js';
import { WireClient } from '../../../testing/kafka-wire.js';

// biome-ignore lint/suspicious/noExplicitAny: decoded test responses
type Obj = any;

const recordsPerBatch = 5;
/** Batches of ~100 KB, distinct bytes each: a fetch of all of them is several streamed chunks. */
function batch(n: number): Uint8Array {
  return encodeRecordBatch({
    baseTimestamp: 1_700_000_000_000n + BigInt(n),
    records: Array.from({ length: recordsPerBatch }, (_, r) => ({
      value: new Uint8Array(20_000).fill((n * 7 + r) & 0xff),
    })),
  });
}
const batchesPerPartition = 24;
const topics = [
  { name: 'streamed-a', partitions: 2 },
  { name: 'streamed-b', partitions: 1 },
];
const fetchBytesMax = 32 * 1024 * 1024;

async function connect(port: number): Promise<WireClient> {
  const c = await WireClient.open(port);
  await c.request(ApiKey.ApiVersions, 3, { clientSoftwareName: 'test', clientSoftwareVersion: '1' });
  return c;
}

/** The same batches into every partition, in the same order, acks=all, one request at a time. */
async function fill(kb: KafkaTestBroker): Promise<void> {
  const client = await connect(kb.port);
  try {
    for (const { name, partitions } of topics) {
      await kb.broker.client('/').createStream(name, { partitions });
      for (let n = 0; n < batchesPerPartition; n++)
        for (let index = 0; index < partitions; index++) {
          const r = await client.request<Obj>(ApiKey.Produce, 7, {
            acks: -1,
            timeoutMs: 5000,
            topicData: [{ name, partitionData: [{ index, records: batch(n + index * 100) }] }],
          });
          assert.equal(r.responses[0].partitionResponses[0].errorCode, 0);
        }
    }
  } finally {
    client.close();
  }
}

function partitionsOf(name: string, offsets: Array<[number, number]>): Obj {
  return {
    topic: name,
    partitions: offsets.map(([partition, offset]) => ({
      partition,
      fetchOffset: BigInt(offset),
      partitionMaxBytes: fetchBytesMax,
    })),
  };
}

/** A fetch over every topic: partition 0 from 0, partition 1 from a later batch, an empty and an unknown one. */
function fetchBody(isolationLevel: number): Obj {
  const end = batchesPerPartition * recordsPerBatch;
  return {
    maxWaitMs: 0,
    minBytes: 1,
    maxBytes: fetchBytesMax,
    isolationLevel,
    sessionEpoch: -1,
    topics: [
      partitionsOf('streamed-a', [
        [0, 0],
        [1, 7 * recordsPerBatch],
      ]),
      partitionsOf('streamed-b', [
        [0, 3],
        [0, end],
        [4, 0],
      ]),
    ],
  };
}

/** The raw response frame of one Fetch. */
async function rawFetch(port: number, body: Obj, version = 11): Promise<Uint8Array | null> {
  return (await rawFetches(port, body, version, 1))[0] ?? null;
}

/** The raw response frames of `count` Fetches pipelined on one connection (null: it closed first). */
async function rawFetches(
  port: number,
  body: Obj,
  version: number,
  count: number,
): Promise<Array<Uint8Array | null>> {
  const client = await connect(port);
  try {
    for (let n = 0; n < count; n++) client.send(ApiKey.Fetch, version, body);
    const frames: Array<Uint8Array | null> = [];
    for (let n = 0; n < count; n++) frames.push(await client.nextFrame(10_000));
    return frames;
  } finally {
    client.close();
  }
}

describe('streamed fetch answers', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-kafka-streamed-'));
  let file: KafkaTestBroker;
  let memory: KafkaTestBroker;
  before(async () => {
    file = await startKafkaBroker({ storage: 'file', dataDir, kafka: { fetchStreamBytesMin: 1024 * 1024 } });
    memory = await startKafkaBroker({ storage: 'memory' });
    await fill(file);
    await fill(memory);
  });
  after(async () => {
    await file.stop();
    await memory.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  for (const version of [11, 12])
    for (const isolationLevel of [0, 1])
      test(`are byte for byte the answer read whole, and the next answers follow (v${version}, isolation level ${isolationLevel})`, async () => {
        // Three pipelined on one connection: each streamed answer must end and let the next go.
        const streamed = await rawFetches(file.port, fetchBody(isolationLevel), version, 3);
        const [whole] = await rawFetches(memory.port, fetchBody(isolationLevel), version, 1);
        assert.ok(whole !== null && whole !== undefined);
        for (const frame of streamed) {
          assert.ok(frame !== null, 'answered');
          assert.ok(frame.length > 4 * 1024 * 1024, `an answer of ${frame.length} bytes`);
          // Correlation ids differ between the pipelined requests; the rest must be the same bytes.
          assert.ok(Buffer.from(frame.subarray(4)).equals(Buffer.from(whole.subarray(4))), 'the same bytes');
        }
      });

  test('a segment cut short under the broker closes the connection mid-answer; others are served', async () => {
    const name = 'streamed-b';
    const logs = join(dataDir, 'logs');
    const dir = readdirSync(logs).find((d) => d.includes(name));
    assert.ok(dir !== undefined);
    const segment = readdirSync(join(logs, dir)).find((f) => f.endsWith('.log'));
    assert.ok(segment !== undefined);
    // About half the records are gone from the file; the broker's index still has them all.
    truncateSync(join(logs, dir, segment), (batchesPerPartition / 2) * 100_000);
    const body = fetchBody(0);
    body.topics = [partitionsOf(name, [[0, 0]])];
    assert.equal(await rawFetch(file.port, body), null, 'the connection closed before the answer was whole');
    // The broker goes on serving: the other topic, whole.
    const client = await connect(file.port);
    try {
      body.topics = [partitionsOf('streamed-a', [[0, 0]])];
      const p = (await client.request<Obj>(ApiKey.Fetch, 11, body)).responses[0].partitions[0];
      assert.equal(p.errorCode, KafkaError.none);
      assert.ok(p.records.length > 2 * 1024 * 1024);
    } finally {
      client.close();
    }
  });
});
