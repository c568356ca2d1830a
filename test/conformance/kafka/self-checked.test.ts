/**
 * Produced batches are stored self-checked (docs/storage-format.md, "Record", version 2): storage leaves
 * a batch's bytes from 21 on to the batch's own CRC-32C. What a user sees of that: batches come back
 * byte for byte after a restart, those the broker rebuilt (LogAppendTime, recompression) included, and a
 * batch damaged at the tail while the broker was down is dropped on restart as a torn one, never served.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ApiKey, encodeRecordBatch, splitBatches } from '../../../src/protocols/kafka/codec/index.js';
import { selfCheckedVersion } from '../../../src/storage/file/record.js';
import { segmentHeaderBytes } from '../../../src/storage/file/segment.js';
import { kafkaClient, startKafkaBroker } from '../../../testing/kafka-helpers.js';
import { WireClient } from '../../../testing/kafka-wire.js';

// biome-ignore lint/suspicious/noExplicitAny: decoded test responses
type Obj = any;

const recordsPerBatch = 3;
const recordHeaderBytes = 38;

function batchOf(n: number): Uint8Array {
  const value = new Uint8Array(500).fill(65 + n);
  return encodeRecordBatch({
    baseTimestamp: BigInt(Date.now()),
    records: Array.from({ length: recordsPerBatch }, () => ({ value })),
  });
}

async function produce(wire: WireClient, topic: string, records: Uint8Array): Promise<Obj> {
  const r = await wire.request<Obj>(ApiKey.Produce, 7, {
    acks: -1,
    timeoutMs: 5000,
    topicData: [{ name: topic, partitionData: [{ index: 0, records }] }],
  });
  return r.responses[0].partitionResponses[0];
}

async function fetchAll(wire: WireClient, topic: string): Promise<Uint8Array[]> {
  const body = await wire.request<Obj>(ApiKey.Fetch, 11, {
    maxWaitMs: 0,
    minBytes: 0,
    maxBytes: 1 << 24,
    isolationLevel: 0,
    sessionEpoch: -1,
    topics: [{ topic, partitions: [{ partition: 0, fetchOffset: 0n, partitionMaxBytes: 1 << 20 }] }],
  });
  const records: Uint8Array = body.responses[0].partitions[0].records ?? new Uint8Array(0);
  return splitBatches(records, 1000).batches.map((s) =>
    Uint8Array.from(records.subarray(s.offset, s.offset + s.length)),
  );
}

/** The segment file of the only partition of `topic`; records start after its header. */
function segmentOf(dataDir: string, topic: string): string {
  const logs = path.join(dataDir, 'logs');
  const folder = fs.readdirSync(logs).find((name) => name.includes(topic));
  assert.ok(folder !== undefined, `a log folder for ${topic}`);
  const segment = fs.readdirSync(path.join(logs, folder)).find((name) => name.endsWith('.log'));
  return path.join(logs, folder, segment!);
}

/** The position of every record in a segment file, and its version byte. */
function recordsOf(file: string): Array<{ at: number; version: number }> {
  const bytes = fs.readFileSync(file);
  const found = [];
  for (let at = segmentHeaderBytes; at + 4 <= bytes.length; at += bytes.readUInt32BE(at) + 4) {
    found.push({ at, version: bytes[at + 8]! });
  }
  return found;
}

test('batches are stored self-checked and come back after a restart, rebuilt ones included', async () => {
  const dataDir = fs.mkdtempSync(path.join(tmpdir(), 'switchyard-kafka-self-checked-'));
  try {
    let kb = await startKafkaBroker({ storage: 'file', dataDir });
    const configs = [
      { topic: 'plain', configEntries: [] },
      { topic: 'stamped', configEntries: [{ name: 'message.timestamp.type', value: 'LogAppendTime' }] },
      { topic: 'zipped', configEntries: [{ name: 'compression.type', value: 'gzip' }] },
    ];
    const admin = kafkaClient(`127.0.0.1:${kb.port}`).admin();
    await admin.connect();
    await admin.createTopics({ topics: configs });
    await admin.disconnect();
    let wire = await WireClient.open(kb.port);
    const before = new Map<string, Uint8Array[]>();
    for (const { topic } of configs) {
      for (let n = 0; n < 3; n++) assert.equal((await produce(wire, topic, batchOf(n))).errorCode, 0);
      before.set(topic, await fetchAll(wire, topic));
    }
    wire.close();
    await kb.stop();
    for (const { topic } of configs) {
      const versions = recordsOf(segmentOf(dataDir, topic)).map((r) => r.version);
      assert.deepEqual(versions, [selfCheckedVersion, selfCheckedVersion, selfCheckedVersion], topic);
    }
    kb = await startKafkaBroker({ storage: 'file', dataDir });
    wire = await WireClient.open(kb.port);
    try {
      for (const { topic } of configs)
        assert.deepEqual(await fetchAll(wire, topic), before.get(topic), topic);
    } finally {
      wire.close();
      await kb.stop();
    }
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a batch damaged past its CRC-32C at the tail is dropped on restart, and producing goes on', async () => {
  const dataDir = fs.mkdtempSync(path.join(tmpdir(), 'switchyard-kafka-self-checked-'));
  try {
    let kb = await startKafkaBroker({ storage: 'file', dataDir });
    await kb.broker.client('/').createStream('damaged', { partitions: 1 });
    let wire = await WireClient.open(kb.port);
    for (let n = 0; n < 4; n++) assert.equal((await produce(wire, 'damaged', batchOf(n))).errorCode, 0);
    wire.close();
    await kb.stop();
    const file = segmentOf(dataDir, 'damaged');
    const last = recordsOf(file).at(-1)!;
    // A value byte of the last batch: covered by the batch's CRC-32C only.
    const at = last.at + recordHeaderBytes + 200;
    const bytes = fs.readFileSync(file);
    bytes[at] = bytes[at]! ^ 0x01;
    fs.writeFileSync(file, bytes);
    kb = await startKafkaBroker({ storage: 'file', dataDir });
    wire = await WireClient.open(kb.port);
    try {
      const kept = await fetchAll(wire, 'damaged');
      assert.equal(kept.length, 3, 'the damaged batch is not served');
      const next = await produce(wire, 'damaged', batchOf(9));
      assert.equal(next.errorCode, 0);
      assert.equal(next.baseOffset, BigInt(3 * recordsPerBatch), 'its offsets are taken again');
    } finally {
      wire.close();
      await kb.stop();
    }
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
