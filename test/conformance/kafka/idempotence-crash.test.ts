/**
 * An idempotent producer's batch and its sequence record are written to two logs (the partition's and
 * the producer registry's); a crash between the two writes leaves one without the other, the producer
 * never had an answer, and it retries after the restart (KIP-98). A child broker stalls one log's
 * writes on a real disk and is SIGKILLed once the other log's file has taken its write.
 * - The batch stored, its record lost: the retry must be answered with the stored copy's offset, not
 *   stored again (Kafka rebuilds producer state from the partition's tail).
 * - The record kept, the batch lost: the retry must be stored, not answered with an offset that holds
 *   nothing.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ApiKey, encodeRecordBatch } from '../../../src/protocols/kafka/codec/index.js';
import { watchLines } from '../../../testing/crash-stall.js';
import { startKafkaBroker } from '../../../testing/kafka-helpers.js';
import { WireClient } from '../../../testing/kafka-wire.js';
import { until } from '../../../testing/wait.js';

const childScript = new URL('../../../testing/crash-stall-broker.js', import.meta.url);
const topic = 'kept-once';
const registryFolder = 'producers.';
const utf8 = new TextEncoder();

function produceBody(records: Uint8Array): object {
  return { acks: -1, timeoutMs: 5000, topicData: [{ name: topic, partitionData: [{ index: 0, records }] }] };
}

/** Bytes of the segment files of the log whose folder name holds `part` (what the page cache holds counts). */
function logBytes(dataDir: string, part: string): number {
  const logs = join(dataDir, 'logs');
  const folder = readdirSync(logs).find((name) => name.includes(part));
  if (folder === undefined) return 0;
  let bytes = 0;
  for (const file of readdirSync(join(logs, folder)))
    if (file.endsWith('.log')) bytes += statSync(join(logs, folder, file)).size;
  return bytes;
}

interface PartitionAnswer {
  readonly errorCode: number;
  readonly baseOffset: bigint;
}

async function produce(client: WireClient, body: object): Promise<PartitionAnswer> {
  // biome-ignore lint/suspicious/noExplicitAny: decoded response
  const got = await client.request<any>(ApiKey.Produce, 7, body);
  return got.responses[0].partitionResponses[0];
}

async function latestOffset(client: WireClient): Promise<bigint> {
  // biome-ignore lint/suspicious/noExplicitAny: decoded response
  const listed = await client.request<any>(ApiKey.ListOffsets, 2, {
    replicaId: -1,
    topics: [{ name: topic, partitions: [{ partitionIndex: 0, timestamp: -1n }] }],
  });
  return listed.topics[0].partitions[0].offset;
}

/**
 * In a child broker: one plain record at offset 0, then one idempotent batch (sequence 0) produced
 * while the writes of the log `stalled` names wait; the child is killed once the log `written` names
 * took the other write. Returns the batch's Produce request, to retry.
 */
async function crashBetweenWrites(dataDir: string, stalled: string, written: string): Promise<object> {
  const child = spawn(process.execPath, [childScript.pathname, dataDir], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  const guard = setTimeout(() => child.kill('SIGKILL'), 30_000);
  try {
    const line = watchLines(child);
    const port = Number((await line(/ready (\d+)/))[1]);
    const wire = await WireClient.open(port);
    await wire.request(ApiKey.Metadata, 12, { topics: [{ name: topic }], allowAutoTopicCreation: true });
    const init = await wire.request<{ producerId: bigint }>(ApiKey.InitProducerId, 1, {
      transactionalId: null,
      transactionTimeoutMs: 1000,
    });
    const plain = encodeRecordBatch({
      baseTimestamp: BigInt(Date.now()),
      records: [{ value: utf8.encode('a') }],
    });
    assert.equal((await produce(wire, produceBody(plain))).errorCode, 0);
    const before = logBytes(dataDir, written);
    child.stdin!.write(`stall ${stalled}\n`);
    await line(/stalled/);
    const retried = produceBody(
      encodeRecordBatch({
        baseTimestamp: BigInt(Date.now()),
        producerId: init.producerId,
        producerEpoch: 0,
        baseSequence: 0,
        records: [{ value: utf8.encode('b') }],
      }),
    );
    wire.send(ApiKey.Produce, 7, retried); // never answered: one of its two writes never lands
    await until(() => logBytes(dataDir, written) > before, 10_000, `the write to ${written}`);
    child.kill('SIGKILL');
    await exited;
    wire.close();
    return retried;
  } finally {
    clearTimeout(guard);
    child.kill('SIGKILL');
    await exited;
  }
}

/** Starts a broker on `dataDir` `starts` times, retrying the batch after each start. */
async function retryAfterStarts(dataDir: string, retried: object, starts: number): Promise<void> {
  for (let start = 1; start <= starts; start++) {
    const broker = await startKafkaBroker({ storage: 'file', dataDir });
    try {
      const again = await WireClient.open(broker.port);
      const answer = await produce(again, retried);
      assert.equal(answer.errorCode, 0);
      assert.equal(answer.baseOffset, 1n, `the retry is answered with the one stored copy (start ${start})`);
      assert.equal(await latestOffset(again), 2n, `the batch is stored once (start ${start})`);
      again.close();
    } finally {
      await broker.stop();
    }
  }
}

test('a batch stored while its sequence record was lost in a crash is not stored again when retried', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-idempotence-crash-'));
  try {
    const retried = await crashBetweenWrites(dataDir, `/logs/${registryFolder}`, topic);
    await retryAfterStarts(dataDir, retried, 2);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a batch lost in a crash while its sequence record was kept is stored when retried', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-idempotence-lost-'));
  try {
    const retried = await crashBetweenWrites(dataDir, topic, registryFolder);
    await retryAfterStarts(dataDir, retried, 2);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
