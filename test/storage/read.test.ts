/**
 * The file read path: reads sized to what they return, entry-by-entry readers served from the last
 * chunk, payloads shared with the read buffer, and no record that fails its CRC ever returned.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { isBrokerError } from '../../src/shared/errors.js';
import { ReadBudget } from '../../src/storage/common.js';
import { segmentFileName, segmentHeaderBytes } from '../../src/storage/file/segment.js';
import { FileStorage } from '../../src/storage/file/storage.js';
import type { Log, LogEntry, ReadOptions, StorageLimits } from '../../src/storage/types.js';
import { payloadFor, removeDir, sameBytes, tempDir } from '../../testing/storage-fixtures.js';

const dirs: string[] = [];
after(() => dirs.forEach(removeDir));

async function openLog(limits?: Partial<StorageLimits>, dir = tempDir()) {
  if (!dirs.includes(dir)) dirs.push(dir);
  const storage = await FileStorage.open({ dir, fsync: { kind: 'never' }, ...(limits ? { limits } : {}) });
  return { storage, dir, log: await storage.openLog('events') };
}

/** Counts the bytes `fs.readSync` returns while `fn` runs, and the calls. */
function countingReads<T>(fn: () => T): { value: T; bytes: number; calls: number } {
  const original = fs.readSync;
  let bytes = 0;
  let calls = 0;
  fs.readSync = ((...args: Parameters<typeof fs.readSync>) => {
    const n = (original as (...a: typeof args) => number)(...args);
    bytes += n;
    calls++;
    return n;
  }) as typeof fs.readSync;
  try {
    return { value: fn(), bytes, calls };
  } finally {
    fs.readSync = original;
  }
}

/** What a read must return, from the appended payloads (the rules MemoryStorage follows too). */
function expected(sizes: number[], from: number, options: ReadOptions): number[] {
  const budget = new ReadBudget(options);
  const out: number[] = [];
  for (let offset = from; offset < sizes.length && budget.take(sizes[offset]!); offset++) {
    out.push(offset);
    if (budget.full) break;
  }
  return out;
}

function checkRead(log: Log, sizes: number[], from: number, options: ReadOptions): LogEntry[] {
  const entries = log.read(from, options);
  const what = `read(${from}, ${JSON.stringify(options)})`;
  assert.deepEqual(
    entries.map((e) => e.offset),
    expected(sizes, from, options),
    what,
  );
  for (const e of entries) assert.ok(sameBytes(e.payload, payloadFor(e.offset, sizes[e.offset])), what);
  return entries;
}

test('reads by bytes and by count return what the limits allow, on disk and still queued', async () => {
  const { storage, log } = await openLog({ segmentBytesMax: 64 * 1024, indexIntervalBytes: 1024 });
  const sizes: number[] = [];
  let seed = 7;
  const next = () => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed >>> 8;
  };
  let last: Promise<void> | undefined;
  for (let i = 0; i < 600; i++) {
    const bytes = [0, 1, 37, 300, 2000, 9000][next() % 6]!;
    sizes.push(bytes);
    last = log.append({ payload: payloadFor(i, bytes), timestamp: i }).durable;
  }
  // First while some entries are still queued in memory, then once all are written.
  for (const phase of ['queued', 'written']) {
    if (phase === 'written') await last;
    for (let round = 0; round < 300; round++) {
      const from = next() % sizes.length;
      const options: ReadOptions =
        round % 3 === 0
          ? { maxBytes: next() % 40_000 }
          : round % 3 === 1
            ? { maxEntries: 1 + (next() % 50) }
            : { maxBytes: next() % 40_000, maxEntries: 1 + (next() % 50) };
      checkRead(log, sizes, from, options);
    }
  }
  // Sequential readers of each kind, from the start to the end.
  for (const options of [{ maxEntries: 1 }, { maxBytes: 10_000 }, { maxBytes: 0 }, {}]) {
    let from = 0;
    for (let calls = 0; from < sizes.length && calls < 1000; calls++) {
      const entries = checkRead(log, sizes, from, options);
      from = entries.at(-1)!.offset + 1;
    }
    assert.equal(from, sizes.length, JSON.stringify(options));
  }
  await storage.close();
});

test('owned payloads, large and small, read back the same while queued, once written and after a reopen', async () => {
  const dir = tempDir();
  const limits = { segmentBytesMax: 256 * 1024, indexIntervalBytes: 4096 };
  const first = await openLog(limits, dir);
  const sizes = [0, 300, 16 * 1024, 40_000, 9000, 100_000, 16 * 1024 - 1, 70_000, 5, 120_000, 30_000];
  let last: Promise<void> | undefined;
  sizes.forEach((bytes, i) => {
    // A view into a larger buffer, as a request's batch is: only its own bytes may be stored.
    const whole = new Uint8Array(bytes + 64).fill(0xee);
    whole.set(payloadFor(i, bytes), 32);
    const payload = whole.subarray(32, 32 + bytes);
    last = first.log.append({ payload, timestamp: i, owned: i % 4 !== 3 }).durable;
  });
  checkRead(first.log, sizes, 0, {});
  checkRead(first.log, sizes, 4, { maxEntries: 3 });
  await last;
  checkRead(first.log, sizes, 0, {});
  await first.storage.close();
  const again = await openLog(limits, dir);
  assert.equal(again.log.endOffset, sizes.length);
  for (let from = 0; from < sizes.length; from++) checkRead(again.log, sizes, from, { maxEntries: 2 });
  await again.storage.close();
});

test('an owned payload with release: the caller gets it back once written, and no read keeps a view of it', async () => {
  const { storage, log } = await openLog();
  const released: number[] = [];
  const sizes = [40_000, 100, 70_000];
  const buffers = sizes.map((bytes, i) => payloadFor(i, bytes));
  let last: Promise<void> | undefined;
  buffers.forEach((payload, i) => {
    last = log.append({ payload, timestamp: i, owned: true, release: () => released.push(i) }).durable;
  });
  // The small one was copied into the slab: the caller's at once; the large ones wait for their write.
  assert.deepEqual(released, [1]);
  const queued = log.read(0, {});
  assert.ok(sameBytes(queued[0]!.payload, payloadFor(0, 40_000)));
  await last;
  assert.deepEqual(released, [1, 0, 2]);
  // The caller reuses its buffers: nothing read before or after changes.
  for (const payload of buffers) payload.fill(0xaa);
  assert.ok(sameBytes(queued[0]!.payload, payloadFor(0, 40_000)));
  for (const entry of log.read(0, {})) {
    assert.ok(sameBytes(entry.payload, payloadFor(entry.offset, sizes[entry.offset])));
  }
  await storage.close();
});

test('a read asked by bytes reads about what it returns from the file, not twice as much', async () => {
  const { storage, log } = await openLog();
  const payload = new Uint8Array(256).fill(1);
  let last: Promise<void> | undefined;
  for (let i = 0; i < 8000; i++) last = log.append({ payload, timestamp: i }).durable;
  await last;
  const maxBytes = 256 * 1024;
  for (const from of [0, 1234, 4321]) {
    const { value, bytes } = countingReads(() => log.read(from, { maxBytes }));
    assert.equal(value.length, maxBytes / 256);
    const recordsBytes = value.length * (256 + 38);
    // What the entries take on disk, plus one index interval skipped to reach `from` and a header.
    assert.ok(bytes <= recordsBytes + 4096 + 294 + 38, `read ${bytes} bytes for ${recordsBytes}`);
  }
  await storage.close();
});

test('an entry-by-entry reader is served from the last chunk, not one file read per entry', async () => {
  const { storage, log } = await openLog();
  let last: Promise<void> | undefined;
  for (let i = 0; i < 2000; i++) last = log.append({ payload: payloadFor(i), timestamp: i }).durable;
  await last;
  const { value: offsets, calls } = countingReads(() => {
    const seen: number[] = [];
    for (let next = 0; next < 2000; next++) {
      const [entry] = log.read(next, { maxEntries: 1 });
      assert.ok(entry && sameBytes(entry.payload, payloadFor(next)));
      seen.push(entry.offset);
    }
    return seen;
  });
  assert.equal(offsets.length, 2000);
  // 2000 records of 138 bytes are 276,000 bytes: a handful of 64 KiB chunks.
  assert.ok(calls <= 20, `${calls} file reads for 2000 entries`);
  await storage.close();
});

test('payloads of one read may share a buffer; each holds exactly its own bytes', async () => {
  const { storage, log } = await openLog();
  let last: Promise<void> | undefined;
  for (let i = 0; i < 50; i++) last = log.append({ payload: payloadFor(i, 500), timestamp: i }).durable;
  await last;
  const entries = log.read(0, { maxBytes: 100_000 });
  assert.equal(entries.length, 50);
  assert.equal(entries[0]!.payload.buffer, entries[49]!.payload.buffer);
  for (const e of entries) {
    assert.equal(e.payload.byteLength, 500);
    assert.ok(sameBytes(e.payload, payloadFor(e.offset, 500)));
  }
  await storage.close();
});

test('bit rot is refused by every kind of reader, up to the damaged record and no further', async () => {
  const limits = { segmentBytesMax: 8192, indexIntervalBytes: 512 };
  const first = await openLog(limits);
  let last: Promise<void> | undefined;
  for (let i = 0; i < 100; i++) last = first.log.append({ payload: payloadFor(i), timestamp: i }).durable;
  await last;
  await first.storage.close();
  // Record 20 of the first (sealed) segment: before its last index point, so opening does not see it.
  const fd = fs.openSync(path.join(first.dir, 'logs', 'events', segmentFileName(0, '.log')), 'r+');
  fs.writeSync(fd, Buffer.from([0x5a]), 0, 1, segmentHeaderBytes + 20 * 138 + 100);
  fs.closeSync(fd);
  const corrupt = (e: unknown) => isBrokerError(e, 'storage_corrupt');
  for (const options of [{ maxEntries: 1 }, { maxBytes: 1000 }, { maxBytes: 100_000 }]) {
    const { storage, log } = await openLog(limits, first.dir);
    let from = 0;
    for (let calls = 0; from < 20 && calls < 100; calls++) {
      let entries: LogEntry[];
      try {
        entries = log.read(from, options);
      } catch (err) {
        assert.ok(corrupt(err));
        break;
      }
      for (const e of entries) assert.ok(e.offset < 20 && sameBytes(e.payload, payloadFor(e.offset)));
      from = entries.at(-1)!.offset + 1;
    }
    assert.throws(() => log.read(20, options), corrupt);
    assert.throws(() => log.read(from, { maxEntries: 1000 }), corrupt);
    assert.equal(log.read(40, { maxEntries: 1 })[0]!.offset, 40);
    await storage.close();
  }
});
