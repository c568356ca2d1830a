/**
 * A consumer reading a compacted topic from its start, again and again while compaction rewrites its
 * segments (docs/compaction.md, "Consumers reading during compaction"): every fetch answers without an
 * error, offsets only increase, and every key's latest value is there in every pass, whether a segment
 * was read before or after its swap. File storage with small segments, so one run swaps many of them.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  ApiKey,
  decodeRecords,
  encodeRecordBatch,
  readBatchHeader,
  splitBatches,
} from '../../../src/protocols/kafka/codec/index.js';
import { startTestBroker } from '../../../testing/broker.js';
import { compactNowRequest, WireClient } from '../../../testing/kafka-wire.js';

// biome-ignore lint/suspicious/noExplicitAny: decoded test responses
type Obj = any;

/**
 * 10 MB over ten 1 MiB segments (the smallest storage allows), few records so passes are quick. The
 * sealed ones are swapped in by two batches (`compactionSwapSegmentsMax`), each in one step: a pass
 * reads one stored batch per fetch (`fetchBytes`), so a swap almost always falls between two fetches of
 * a pass, which then meets some segments rewritten and some not.
 */
const keys = 100;
const rounds = 100;
const valueBytes = 1000;
const segmentBytesMax = 1024 * 1024;
/** Less than one produced batch (100 records of 1000 B): a fetch answers one batch (KIP-74). */
const fetchBytes = 64 * 1024;
/** Bounds of the reading loop: passes over the whole topic, and time. */
const passesMax = 400;
const readingMsMax = 60_000;
/**
 * Compaction is over once passes in a row see the same records and at most 15 % of them are left:
 * every key's latest record is in the last round, so only the active segment (never compacted, one of
 * about ten) keeps records.
 */
const stablePasses = 3;
const leftShareMax = 0.15;
const utf8 = new TextEncoder();
const text = new TextDecoder();

const value = (k: number, round: number) => `k${k}-r${round}-`.padEnd(valueBytes, '.');

function roundBatch(round: number): Uint8Array {
  return encodeRecordBatch({
    baseTimestamp: BigInt(Date.now()),
    records: Array.from({ length: keys }, (_, k) => ({
      key: utf8.encode(`k${k}`),
      value: utf8.encode(value(k, round)),
    })),
  });
}

interface Pass {
  readonly offsets: number[];
  readonly latest: Map<string, string>;
}

/** Reads the topic from offset 0 to its end, as a consumer does, failing on any partition error. */
async function readPass(client: WireClient, topic: string): Promise<Pass> {
  const offsets: number[] = [];
  const latest = new Map<string, string>();
  let next = 0n;
  for (let fetches = 0; fetches < 1000; fetches++) {
    const body = await client.request<Obj>(ApiKey.Fetch, 11, {
      replicaId: -1,
      maxWaitMs: 0,
      minBytes: 0,
      maxBytes: fetchBytes,
      isolationLevel: 0,
      sessionEpoch: -1,
      topics: [{ topic, partitions: [{ partition: 0, fetchOffset: next, partitionMaxBytes: fetchBytes }] }],
    });
    const partition = body.responses[0].partitions[0];
    assert.equal(partition.errorCode, 0, `fetch at ${next}: error ${partition.errorCode}`);
    const records: Uint8Array = partition.records;
    for (const span of splitBatches(records, 10_000).batches) {
      const batch = records.subarray(span.offset, span.offset + span.length);
      const header = readBatchHeader(batch);
      for (const record of decodeRecords(batch)) {
        offsets.push(Number(header.baseOffset) + record.offsetDelta);
        latest.set(text.decode(record.key!), text.decode(record.value!));
      }
      next = header.baseOffset + BigInt(header.lastOffsetDelta) + 1n;
    }
    if (next >= partition.highWatermark) return { offsets, latest };
  }
  throw new Error(`no end of ${topic} after 1000 fetches`);
}

function assertConsistent(pass: Pass, n: number): void {
  for (let i = 1; i < pass.offsets.length; i++) {
    assert.ok(
      pass.offsets[i]! > pass.offsets[i - 1]!,
      `pass ${n}: offset ${pass.offsets[i]} after ${pass.offsets[i - 1]}`,
    );
  }
  assert.equal(pass.offsets.at(-1), keys * rounds - 1, `pass ${n}: the newest record stays`);
  for (let k = 0; k < keys; k++)
    assert.equal(pass.latest.get(`k${k}`), value(k, rounds - 1), `pass ${n}: key k${k}`);
}

test('a consumer reading from the start while compaction swaps segments always sees a consistent log', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-compaction-reads-'));
  const started = await startTestBroker({ listeners: ['kafka'], storage: 'file', dataDir, segmentBytesMax });
  const client = await WireClient.open(started.port('kafka'));
  const topic = 'read-while-compacted';
  try {
    await client.request(ApiKey.CreateTopics, 4, {
      topics: [{ name: topic, numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }],
      timeoutMs: 5000,
    });
    for (let round = 0; round < rounds; round++) {
      const produced = await client.request<Obj>(ApiKey.Produce, 7, {
        acks: -1,
        timeoutMs: 5000,
        topicData: [{ name: topic, partitionData: [{ index: 0, records: roundBatch(round) }] }],
      });
      assert.equal(produced.responses[0].partitionResponses[0].errorCode, 0);
    }
    const before = await readPass(client, topic);
    assert.equal(before.offsets.length, keys * rounds);
    await client.request(ApiKey.AlterConfigs, 0, compactNowRequest(topic));
    const counts: number[] = [];
    const deadline = Date.now() + readingMsMax;
    const settled = () =>
      counts.length >= stablePasses &&
      counts.at(-1)! <= before.offsets.length * leftShareMax &&
      counts.slice(-stablePasses).every((c) => c === counts.at(-1));
    while (!settled() && counts.length < passesMax && Date.now() < deadline) {
      const pass = await readPass(client, topic);
      assertConsistent(pass, counts.length);
      counts.push(pass.offsets.length);
    }
    assert.ok(settled(), `compaction did not settle; records per pass: ${counts.join(' ')}`);
    const final = counts.at(-1)!;
    // Passes that met some segments already rewritten and some not yet: reads raced the swaps.
    const midway = counts.filter((c) => c < before.offsets.length && c > final).length;
    assert.ok(midway > 0, `no pass read during the run; records per pass: ${counts.join(' ')}`);
  } finally {
    client.close();
    await started.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
