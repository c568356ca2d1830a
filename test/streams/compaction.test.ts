/**
 * Log compaction of stream partitions, in memory on a manual clock: each key's latest record stays,
 * offsets stay with gaps, tombstones and transaction markers go after their retention, aborted
 * transactions' records go, young records and open transactions are left alone, and the dirty-ratio
 * timer starts runs by itself.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { StreamCompaction } from '../../src/core/api.js';
import {
  registerEntryCompactor,
  registerEntryFormat,
  unregisterEntryFormat,
} from '../../src/core/logs/formats.js';
import { compactionCheckMs } from '../../src/core/logs/index.js';
import { encodeTxnMarker } from '../../src/core/logs/markers.js';
import type { Partition } from '../../src/core/logs/partition.js';
import { encodeMessage, entryFormat } from '../../src/core/message-codec.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import type { LogEntry } from '../../src/storage/types.js';
import { openStreams, settle } from '../../testing/stream-harness.js';

/** A test batch format: JSON records at offset deltas, a null value is a tombstone; `p` a transactional producer. */
const batchFormat = 0x70;
interface TestRecord {
  readonly d: number;
  readonly k: string | null;
  readonly v: string | null;
}
interface TestBatch {
  readonly p?: number;
  readonly records: TestRecord[];
}
const utf8 = new TextEncoder();
const decodeBatch = (entry: LogEntry): TestBatch => JSON.parse(new TextDecoder().decode(entry.payload));
const encodeBatch = (batch: TestBatch) => utf8.encode(JSON.stringify(batch));

registerEntryFormat(
  batchFormat,
  () => [],
  (entry) => {
    const { p } = decodeBatch(entry);
    return p === undefined ? undefined : { producerId: p, transactional: true };
  },
);
registerEntryCompactor(batchFormat, {
  records: (entry) =>
    decodeBatch(entry).records.map((r) => ({
      offset: entry.offset + r.d,
      key: r.k ?? undefined,
      tombstone: r.v === null,
    })),
  retain: (entry, kept) => {
    const batch = decodeBatch(entry);
    return encodeBatch({ ...batch, records: batch.records.filter((r) => kept(entry.offset + r.d)) });
  },
});
after(() => unregisterEntryFormat(batchFormat));

const settings: StreamCompaction = { tombstoneRetentionMs: 60_000, lagMsMin: 0, dirtyRatioMin: 0.5 };

function appendBatch(
  p: Partition,
  records: Array<[string | null, string | null]>,
  now: number,
  producer?: number,
) {
  const batch: TestBatch = {
    ...(producer === undefined ? {} : { p: producer }),
    records: records.map(([k, v], d) => ({ d, k, v })),
  };
  return p.append(encodeBatch(batch), { count: records.length, timestamp: now, format: batchFormat }).offset;
}

/** Every record left, in offset order: [offset, key, value]. */
function records(p: Partition): Array<[number, string | null, string | null]> {
  const out: Array<[number, string | null, string | null]> = [];
  for (let next = p.startOffset, rounds = 0; next < p.endOffset && rounds < 10_000; rounds++) {
    const entries = p.read(next, { maxEntries: 3 });
    if (entries.length === 0) break;
    for (const entry of entries) {
      if (entry.format === batchFormat) {
        for (const r of decodeBatch(entry).records) out.push([entry.offset + r.d, r.k, r.v]);
      } else out.push([entry.offset, null, `format ${entry.format}`]);
    }
    next = entries.at(-1)!.offset + entries.at(-1)!.count;
  }
  return out;
}

/** Lets a run the check timer started finish. */
async function idle(p: Partition): Promise<void> {
  for (let turns = 0; p.compactor.running && turns < 1000; turns++) await settle(1);
}

async function compactedStream(options: { lagMsMin?: number; tombstoneRetentionMs?: number } = {}) {
  const harness = await openStreams(new MemoryStorage());
  const compaction = { ...settings, ...options };
  await harness.registry.create('s', { partitions: 1, compaction });
  const partition = harness.registry.partition('s', 0);
  return { ...harness, partition, compaction };
}

describe('stream compaction', () => {
  it('keeps the latest record of each key at its offset, removing whole and partial batches', async () => {
    const { registry, clock, partition, compaction } = await compactedStream();
    const now = clock.now();
    appendBatch(
      partition,
      [
        ['a', '1'],
        ['b', '1'],
        ['c', '1'],
      ],
      now,
    ); // 0-2
    appendBatch(
      partition,
      [
        ['a', '2'],
        ['b', '2'],
      ],
      now,
    ); // 3-4
    appendBatch(
      partition,
      [
        [null, 'keyless'],
        ['a', '3'],
      ],
      now,
    ); // 5-6
    const report = await partition.compactor.run(compaction);
    assert.equal(report.to, 7);
    assert.ok(report.bytesAfter < report.bytesBefore);
    assert.deepEqual(records(partition), [
      [2, 'c', '1'],
      [4, 'b', '2'],
      [5, null, 'keyless'],
      [6, 'a', '3'],
    ]);
    assert.equal(partition.startOffset, 0, 'the start stays');
    assert.equal(partition.endOffset, 7, 'the end stays');
    assert.equal(appendBatch(partition, [['a', '4']], now), 7, 'offsets are never reused');
    await registry.close();
  });

  it('removes a tombstone only once delete retention has passed, with the values it deleted', async () => {
    const { registry, clock, partition, compaction } = await compactedStream();
    appendBatch(
      partition,
      [
        ['a', '1'],
        ['b', '1'],
      ],
      clock.now(),
    );
    appendBatch(partition, [['a', null]], clock.now());
    await partition.compactor.run(compaction);
    assert.deepEqual(records(partition), [
      [1, 'b', '1'],
      [2, 'a', null],
    ]);
    clock.advance(compaction.tombstoneRetentionMs + 1);
    await partition.compactor.run(compaction);
    assert.deepEqual(records(partition), [[1, 'b', '1']]);
    await registry.close();
  });

  it('leaves records younger than the compaction lag alone', async () => {
    const { registry, clock, partition, compaction } = await compactedStream({ lagMsMin: 10_000 });
    appendBatch(partition, [['a', '1']], clock.now());
    clock.advance(20_000);
    appendBatch(partition, [['a', '2']], clock.now());
    appendBatch(partition, [['a', '3']], clock.now());
    await idle(partition);
    await partition.compactor.run(compaction);
    assert.deepEqual(
      records(partition).map(([offset]) => offset),
      [0, 1, 2],
      'nothing old enough to remove',
    );
    clock.advance(10_000);
    // The check timer may have started a run while the clock moved; this one starts from now.
    await idle(partition);
    await partition.compactor.run(compaction);
    assert.deepEqual(records(partition), [[2, 'a', '3']]);
    await registry.close();
  });

  it('removes aborted records, leaves open transactions alone and keeps markers for their retention', async () => {
    const { registry, clock, partition, compaction } = await compactedStream();
    const now = clock.now();
    partition.beginTransaction(7, partition.endOffset);
    appendBatch(partition, [['a', 'aborted']], now, 7); // 0
    const marker = (commit: boolean) =>
      partition.append(encodeTxnMarker({ producerId: 7, epoch: 0, commit }), {
        timestamp: now,
        format: entryFormat.txnMarker,
      }).offset;
    partition.endTransaction(7, true, marker(false)); // 1
    appendBatch(partition, [['a', 'plain']], now); // 2
    partition.beginTransaction(8, partition.endOffset);
    appendBatch(partition, [['a', 'open']], now, 8); // 3
    await partition.compactor.run(compaction);
    assert.deepEqual(records(partition), [
      [1, null, `format ${entryFormat.txnMarker}`],
      [2, 'a', 'plain'],
      [3, 'a', 'open'],
    ]);
    clock.advance(compaction.tombstoneRetentionMs + 1);
    await partition.compactor.run(compaction);
    assert.deepEqual(
      records(partition),
      [
        [2, 'a', 'plain'],
        [3, 'a', 'open'],
      ],
      'the marker goes after its retention; the open transaction bounds the range',
    );
    await registry.close();
  });

  it('compacts core messages by their key and keeps those without one', async () => {
    const { registry, clock, partition, compaction } = await compactedStream();
    const message = (key: string | undefined, text: string) =>
      encodeMessage({
        exchange: '',
        routingKey: '',
        body: utf8.encode(text),
        properties: key === undefined ? {} : { key: utf8.encode(key) },
      });
    for (const [key, text] of [
      ['k', '1'],
      [undefined, 'x'],
      ['k', '2'],
    ] as const) {
      partition.append(message(key, text), { timestamp: clock.now(), format: entryFormat.message });
    }
    await partition.compactor.run(compaction);
    assert.deepEqual(
      partition.read(0).map((e) => e.offset),
      [1, 2],
    );
    await registry.close();
  });

  it('starts runs by itself once the dirty ratio is reached; readers meanwhile see a consistent log', async () => {
    const { registry, clock, partition } = await compactedStream();
    const keys = 20;
    for (let i = 0; i < 400; i++) appendBatch(partition, [[`k${i % keys}`, String(i)]], clock.now());
    clock.advance(compactionCheckMs);
    assert.ok(partition.compactor.running, 'the timer started a run');
    let seen = 0;
    for (let turns = 0; partition.compactor.running && turns < 1000; turns++) {
      // A reader between steps: offsets increase, and every key's latest value is there.
      const now = records(partition);
      for (let i = 1; i < now.length; i++) assert.ok(now[i]![0] > now[i - 1]![0]);
      const latest = new Map(now.map(([, k, v]) => [k, v]));
      for (let k = 0; k < keys; k++) assert.equal(latest.get(`k${k}`), String(380 + k));
      seen++;
      await settle(1);
    }
    assert.ok(seen > 0);
    assert.deepEqual(
      records(partition).map(([offset]) => offset),
      Array.from({ length: keys }, (_, k) => 380 + k),
    );
    assert.equal(partition.read(0, { maxEntries: 1 })[0]!.offset, 380, 'a read in a gap continues after it');
    clock.advance(compactionCheckMs);
    assert.ok(!partition.compactor.running, 'a clean log starts no run');
    await registry.close();
  });
});
