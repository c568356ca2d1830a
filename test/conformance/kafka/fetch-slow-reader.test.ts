/**
 * A slow fetch reader: a client that pipelines large fetches and does not read its socket makes the
 * broker hold at most `fetchBytesHeldMax` of answers for it (plus one fetch), not one answer per
 * request; every answer still arrives, whole and in order, once it reads; other clients are served
 * meanwhile. Pipelined fetches that do not fit in the bound together go in turn, never waiting on each
 * other.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ApiKey, encodeRecordBatch, splitBatches } from '../../../src/protocols/kafka/codec/index.js';
import { KafkaError } from '../../../src/protocols/kafka/errors.js';
import { type KafkaTestBroker, startKafkaBroker } from '../../../testing/kafka-helpers.js';
import { WireClient } from '../../../testing/kafka-wire.js';

// biome-ignore lint/suspicious/noExplicitAny: decoded test responses
type Obj = any;

const mib = 1024 * 1024;
const fetchBytesHeldMax = 8 * mib;
const fetchBytes = 4 * mib;
/** Pipelined fetches of 4 MiB each: 160 MiB held if every answer were read ahead of the socket. */
const fetchesPipelined = 40;
const batchesProduced = 16;
const batch = encodeRecordBatch({
  baseTimestamp: 1_700_000_000_000n,
  records: Array.from({ length: 4 }, () => ({ value: new Uint8Array(75_000).fill(42) })),
});

const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-kafka-slow-reader-'));
let kb: KafkaTestBroker;

async function connect(): Promise<WireClient> {
  const c = await WireClient.open(kb.port);
  await c.request(ApiKey.ApiVersions, 3, { clientSoftwareName: 'test', clientSoftwareVersion: '1' });
  return c;
}

function fetchBody(at = { offset: 0n, maxBytes: fetchBytes, minBytes: 0, maxWaitMs: 0 }): Obj {
  const { offset, maxBytes, minBytes, maxWaitMs } = at;
  return {
    maxWaitMs,
    minBytes,
    maxBytes,
    isolationLevel: 0,
    sessionEpoch: -1,
    topics: [
      { topic: 'slow', partitions: [{ partition: 0, fetchOffset: offset, partitionMaxBytes: maxBytes }] },
    ],
  };
}

before(async () => {
  kb = await startKafkaBroker({ storage: 'file', dataDir, kafka: { fetchBytesHeldMax } });
  await kb.broker.client('/').createStream('slow', { partitions: 1 });
  const producer = await connect();
  for (let i = 0; i < batchesProduced; i++) {
    const r = await producer.request<Obj>(ApiKey.Produce, 7, {
      acks: -1,
      timeoutMs: 5000,
      topicData: [{ name: 'slow', partitionData: [{ index: 0, records: batch }] }],
    });
    assert.equal(r.responses[0].partitionResponses[0].errorCode, 0);
  }
  producer.close();
});

after(async () => {
  await kb.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

test('a reader that stops reading holds a bounded number of fetch answers in the broker, and gets them all later', async () => {
  const slow = await connect();
  const other = await connect();
  try {
    slow.pause();
    const before = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < fetchesPipelined; i++) slow.send(ApiKey.Fetch, 11, fetchBody());
    // The broker's buffers grow while it reads answers the socket cannot take; watch them for a while.
    let peak = 0;
    for (const until = Date.now() + 1500; Date.now() < until; ) {
      peak = Math.max(peak, process.memoryUsage().arrayBuffers - before);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    // Another client is served meanwhile.
    const p = (await other.request<Obj>(ApiKey.Fetch, 11, fetchBody())).responses[0].partitions[0];
    assert.equal(p.errorCode, KafkaError.none);
    assert.ok(p.records.length > 3 * mib);
    assert.ok(
      peak < 6 * fetchBytesHeldMax,
      `held ${(peak / mib).toFixed(0)} MiB of answers for a stalled reader`,
    );
    slow.resume();
    for (let i = 0; i < fetchesPipelined; i++) {
      const { body } = await slow.receive<Obj>(ApiKey.Fetch, 11, 20_000);
      const answer = body.responses[0].partitions[0];
      assert.equal(answer.errorCode, KafkaError.none, `fetch ${i}`);
      assert.equal(splitBatches(answer.records, 1000).batches.length, Math.floor(fetchBytes / batch.length));
    }
  } finally {
    slow.close();
    other.close();
  }
});

test('pipelined fetches that do not fit in the bound together are answered in turn, a long-poll first', async () => {
  const client = await connect();
  try {
    // Two fetches of 5 MiB do not fit in 8 MiB at once. The first waits for records past the end until
    // its deadline; the second, which has records at once, waits for the first to be answered.
    const end = BigInt(batchesProduced * 4);
    const maxBytes = 5 * mib;
    const longPoll = client.send(
      ApiKey.Fetch,
      11,
      fetchBody({ offset: end, maxBytes, minBytes: 1, maxWaitMs: 500 }),
    );
    const atOnce = client.send(
      ApiKey.Fetch,
      11,
      fetchBody({ offset: 0n, maxBytes, minBytes: 0, maxWaitMs: 0 }),
    );
    const first = await client.receive<Obj>(ApiKey.Fetch, 11, 5000);
    assert.equal(first.correlationId, longPoll);
    assert.equal(first.body.responses[0].partitions[0].records.length, 0);
    const second = await client.receive<Obj>(ApiKey.Fetch, 11, 5000);
    assert.equal(second.correlationId, atOnce);
    assert.ok(second.body.responses[0].partitions[0].records.length > 4 * mib);
  } finally {
    client.close();
  }
});
