/**
 * Compaction on the compaction thread against compaction on the stream's executor, on file storage:
 * the same random log (Kafka batches of random keys, tombstones old and young, keyless records, an
 * aborted transaction and markers) compacts to the same entries byte for byte either way, also after
 * reopening; and a compaction thread killed part-way leaves the log whole, then compacted all the same,
 * with no `.cleaned` file left behind.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { StreamCompaction } from '../../src/core/api.js';
import { CompactionThread, compactionThreadNice } from '../../src/core/logs/compaction-thread.js';
import type { CompactionRequest } from '../../src/core/logs/compaction-worker.js';
import { encodeTxnMarker } from '../../src/core/logs/markers.js';
import type { Partition } from '../../src/core/logs/partition.js';
import { entryFormat } from '../../src/core/message-codec.js';
import { BatchAttribute, encodeRecordBatch } from '../../src/protocols/kafka/codec/index.js';
import { kafkaBatchFormat } from '../../src/protocols/kafka/entry-format.js';
import { FileStorage } from '../../src/storage/file/storage.js';
import { random } from '../../testing/fuzz/random.js';
import { openStreams, settle } from '../../testing/stream-harness.js';

const settings: StreamCompaction = { tombstoneRetentionMs: 60_000, lagMsMin: 0, dirtyRatioMin: 0.5 };
const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const utf8 = new TextEncoder();

/** Appends a random log to `p`: about 300 batches over 40 keys, an aborted transaction among them. */
function fillRandom(p: Partition, seed: number, now: number): void {
  const rnd = random(seed);
  const abortedProducer = 7;
  for (let n = 0; n < 300; n++) {
    // Old records (before delete retention) first, so some tombstones expire and some do not.
    const timestamp = now - (n < 200 ? 120_000 : 1_000);
    const aborted = n >= 100 && n < 110;
    const records = Array.from({ length: rnd.between(1, 8) }, () => {
      const key = rnd.chance(0.05) ? null : utf8.encode(`key-${rnd.below(40)}`);
      const value = rnd.chance(0.1) ? null : utf8.encode(`v${n}-${'x'.repeat(rnd.below(60))}`);
      return { key, value };
    });
    const batch = encodeRecordBatch({
      baseTimestamp: BigInt(timestamp),
      records,
      ...(aborted ? { producerId: BigInt(abortedProducer), attributes: BatchAttribute.transactional } : {}),
    });
    const at = p.append(batch, { count: records.length, timestamp, format: kafkaBatchFormat }).offset;
    if (n === 100) p.beginTransaction(abortedProducer, at);
    if (n === 109) {
      const marker = encodeTxnMarker({ producerId: abortedProducer, epoch: 0, commit: false });
      const end = p.append(marker, { timestamp, format: entryFormat.txnMarker }).offset;
      p.endTransaction(abortedProducer, true, end);
    }
  }
}

/** Every entry of the partition, as plain comparable data. */
function entries(p: Partition): unknown[] {
  const out: unknown[] = [];
  for (let next = p.startOffset, rounds = 0; next < p.endOffset && rounds < 10_000; rounds++) {
    const read = p.read(next, { maxEntries: 50 });
    if (read.length === 0) break;
    for (const e of read)
      out.push([e.offset, e.count, e.format, e.timestamp, e.maxTimestamp, [...e.payload]]);
    next = read.at(-1)!.offset + read.at(-1)!.count;
  }
  return out;
}

/** A stream on file storage with small segments; `thread` undefined compacts on the stream's executor. */
async function fileStream(seed: number, thread: CompactionThread | undefined) {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-compaction-thread-'));
  dirs.push(dir);
  const open = async () => {
    const storage = await FileStorage.open({
      dir,
      fsync: { kind: 'never' },
      limits: { segmentBytesMax: 4096 },
    });
    const harness = await openStreams(storage);
    return { storage, harness };
  };
  const { storage, harness } = await open();
  await harness.registry.create('s', { partitions: 1, compaction: settings });
  const partition = harness.registry.partition('s', 0);
  partition.compactor.thread = thread;
  fillRandom(partition, seed, harness.clock.now());
  // Segments count as sealed once their last write is done.
  await partition.log.sync();
  await settle(1);
  const reopen = async () => {
    await harness.registry.close();
    await storage.close();
    const again = await open();
    return { ...again, partition: again.harness.registry.partition('s', 0) };
  };
  return { dir, partition, reopen };
}

/** A compaction thread that counts its requests and can be killed at the `killAt`th rewrite. */
class WatchedThread extends CompactionThread {
  readonly asked: string[] = [];
  killAt: number | undefined;
  override call(request: CompactionRequest) {
    this.asked.push(request.kind);
    const reply = super.call(request);
    if (request.kind === 'rewrite' && this.asked.filter((k) => k === 'rewrite').length === this.killAt) {
      void this.terminate();
    }
    return reply;
  }
}

type FileStream = Awaited<ReturnType<typeof fileStream>>;

/** Both closed and reopened read the same: the swapped-in segments and their indexes as stored. */
async function sameAfterReopen(a: FileStream, b: FileStream): Promise<void> {
  const [x, y] = [await a.reopen(), await b.reopen()];
  assert.deepEqual(entries(y.partition), entries(x.partition));
  for (const { harness, storage } of [x, y]) {
    await harness.registry.close();
    await storage.close();
  }
}

/** Each thread of this process (Linux): its nice value and scheduling policy, fields 19 and 41 of its stat. */
function threadPriorities(): { nice: number; policy: number }[] {
  const stat = (tid: string) =>
    readFileSync(`/proc/self/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return readdirSync('/proc/self/task').map((tid) => {
    const fields = stat(tid);
    return { nice: Number(fields[16]), policy: Number(fields[38]) };
  });
}

/** Linux's `SCHED_IDLE` (sched.h). */
const schedIdle = 5;

/** Whether util-linux's `chrt`, which the thread asks for `SCHED_IDLE` with, is on this machine. */
const chrtFound = spawnSync('chrt', ['--help'], { stdio: 'ignore' }).status === 0;

/**
 * The compaction thread is niced and, where `chrt` is found, `SCHED_IDLE`: the event loop and the pool
 * threads that sync producers' writes take its core at once (docs/performance.md, "Kafka compaction").
 */
function assertLowered(): void {
  if (process.platform !== 'linux') return;
  const lowered = threadPriorities().find((t) => t.nice === compactionThreadNice);
  assert.ok(lowered !== undefined, 'niced');
  if (chrtFound) assert.equal(lowered.policy, schedIdle, 'SCHED_IDLE');
}

const cleanedLeft = (dir: string) =>
  readdirSync(join(dir, 'logs'), { recursive: true }).filter((name) => String(name).endsWith('.cleaned'));

describe('compaction on the compaction thread', () => {
  for (const seed of [1, 2, 3]) {
    it(`makes the same log as the stream's executor (seed ${seed})`, async () => {
      const inline = await fileStream(seed, undefined);
      const thread = new WatchedThread();
      const off = await fileStream(seed, thread);
      try {
        assert.deepEqual(entries(off.partition), entries(inline.partition), 'the same log to start with');
        const before = off.partition.sizeBytes;
        const [a, b] = [
          await inline.partition.compactor.run(settings),
          await off.partition.compactor.run(settings),
        ];
        assert.deepEqual(b, a);
        assert.ok(thread.asked.includes('rewrite'), `the thread did the run: ${thread.asked}`);
        assertLowered();
        assert.ok(off.partition.sizeBytes < before / 2, `compacted: ${before} → ${off.partition.sizeBytes}`);
        assert.deepEqual(entries(off.partition), entries(inline.partition));
        await sameAfterReopen(inline, off);
      } finally {
        await thread.terminate();
      }
    });
  }

  for (const killAt of [1, 3]) {
    it(`killed at its rewrite #${killAt}, leaves the log whole and compacted all the same`, async () => {
      const inline = await fileStream(9, undefined);
      const thread = new WatchedThread();
      thread.killAt = killAt;
      const off = await fileStream(9, thread);
      try {
        await inline.partition.compactor.run(settings);
        await off.partition.compactor.run(settings);
        assert.ok(
          thread.asked.filter((k) => k === 'rewrite').length >= killAt,
          'the thread was asked to rewrite',
        );
        assert.deepEqual(entries(off.partition), entries(inline.partition));
        assert.deepEqual(cleanedLeft(off.dir), []);
        // The next run starts a new thread.
        thread.killAt = undefined;
        await off.partition.compactor.run(settings);
        assert.deepEqual(entries(off.partition), entries(inline.partition));
        await sameAfterReopen(inline, off);
      } finally {
        await thread.terminate();
      }
    });
  }
});
