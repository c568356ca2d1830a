/**
 * Recovery on open: a torn or corrupt tail is dropped exactly, the valid prefix kept, and appends go on.
 * Damage is done to closed files, as a crash would leave them.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { isBrokerError } from '../../src/shared/errors.js';
import type { FileIo } from '../../src/storage/file/io.js';
import { realIo } from '../../src/storage/file/io.js';
import { segmentFileName, segmentHeaderBytes } from '../../src/storage/file/segment.js';
import { FileStorage } from '../../src/storage/file/storage.js';
import type { Log, StorageLimits } from '../../src/storage/types.js';
import { payloadFor, removeDir, sameBytes, tempDir } from '../../testing/storage-fixtures.js';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) removeDir(dir);
});
const recordBytes = 38 + 100;

async function withLog<T>(
  dir: string,
  fn: (log: Log) => Promise<T> | T,
  limits?: Partial<StorageLimits>,
): Promise<T> {
  const storage = await FileStorage.open({ dir, fsync: { kind: 'always' }, ...(limits ? { limits } : {}) });
  try {
    return await fn(await storage.openLog('events'));
  } finally {
    await storage.close();
  }
}

async function prepared(entries: number, limits?: Partial<StorageLimits>): Promise<string> {
  const dir = tempDir();
  dirs.push(dir);
  await withLog(
    dir,
    async (log) => {
      const results = Array.from({ length: entries }, (_, i) =>
        log.append({ payload: payloadFor(i), timestamp: i }),
      );
      await Promise.all(results.map((r) => r.durable));
    },
    limits,
  );
  return dir;
}

function segmentPath(dir: string, base = 0, ext: '.log' | '.index' = '.log'): string {
  return path.join(dir, 'logs', 'events', segmentFileName(base, ext));
}

function assertIntact(log: Log, count: number): void {
  assert.equal(log.endOffset, count);
  const entries = log.read(0);
  assert.equal(entries.length, count);
  for (const [i, e] of entries.entries()) {
    assert.ok(e.offset === i && sameBytes(e.payload, payloadFor(i)), `entry ${i}`);
  }
}

async function recoversTo(dir: string, good: number): Promise<void> {
  await withLog(dir, async (log) => {
    assertIntact(log, good);
    const next = log.append({ payload: payloadFor(good), timestamp: good });
    assert.equal(next.offset, good);
    await next.durable;
  });
  await withLog(dir, (log) => assertIntact(log, good + 1));
}

test('a record torn mid-way is dropped and the prefix kept', async () => {
  const dir = await prepared(10);
  fs.truncateSync(segmentPath(dir), segmentHeaderBytes + 7 * recordBytes + 50);
  await recoversTo(dir, 7);
  assert.equal(fs.statSync(segmentPath(dir)).size, segmentHeaderBytes + 8 * recordBytes);
});

test('garbage appended after the last record is cut off', async () => {
  const dir = await prepared(10);
  fs.appendFileSync(segmentPath(dir), Buffer.from(payloadFor(99, 333)));
  await recoversTo(dir, 10);
});

test('a flipped byte drops that record and everything after it', async () => {
  const dir = await prepared(10);
  const fd = fs.openSync(segmentPath(dir), 'r+');
  const at = segmentHeaderBytes + 6 * recordBytes + 60;
  const byte = Buffer.alloc(1);
  fs.readSync(fd, byte, 0, 1, at);
  byte[0] = byte[0]! ^ 0x10;
  fs.writeSync(fd, byte, 0, 1, at);
  fs.closeSync(fd);
  await recoversTo(dir, 6);
});

test('a torn header of the last segment loses nothing acknowledged', async () => {
  const dir = await prepared(0);
  fs.truncateSync(segmentPath(dir), 5);
  await recoversTo(dir, 0);
});

test('missing or damaged index files are rebuilt from the segments', async () => {
  const limits = { segmentBytesMax: 1024, indexIntervalBytes: 200 };
  const dir = await prepared(40, limits);
  fs.rmSync(segmentPath(dir, 0, '.index'));
  const second = fs.readdirSync(path.join(dir, 'logs', 'events')).filter((n) => n.endsWith('.index'))[0]!;
  fs.writeFileSync(path.join(dir, 'logs', 'events', second), Buffer.from('not an index'));
  await withLog(
    dir,
    (log) => {
      assertIntact(log, 40);
      for (const from of [0, 13, 27, 39]) assert.equal(log.read(from, { maxEntries: 1 })[0]!.offset, from);
      assert.equal(log.offsetForTimestamp(21), 21);
    },
    limits,
  );
});

test('bit rot inside a sealed segment is refused on read, never served', async () => {
  // Index points every 200 bytes: the damage lies before the last one, so opening does not rescan it.
  const limits = { segmentBytesMax: 1024, indexIntervalBytes: 200 };
  const dir = await prepared(20, limits);
  const fd = fs.openSync(segmentPath(dir), 'r+');
  fs.writeSync(fd, Buffer.from([0xff]), 0, 1, segmentHeaderBytes + 2 * recordBytes + 70);
  fs.closeSync(fd);
  await withLog(
    dir,
    (log) => {
      assert.equal(log.read(0, { maxEntries: 2 }).length, 2);
      assert.throws(
        () => log.read(0),
        (e) => isBrokerError(e, 'storage_corrupt'),
      );
      assert.equal(log.read(10)[0]!.offset, 10);
    },
    limits,
  );
});

test('a failing disk rejects durable with storage_failed and the process goes on', async () => {
  const dir = tempDir();
  dirs.push(dir);
  let failing = false;
  const io: FileIo = {
    write: (fd, data, position, done) => {
      if (!failing) return realIo.write(fd, data, position, done);
      const err = Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
      setImmediate(() => done(err, 0));
    },
    fdatasync: realIo.fdatasync,
  };
  const storage = await FileStorage.open({ dir, fsync: { kind: 'always' }, io });
  const log = await storage.openLog('events');
  await log.append({ payload: payloadFor(0), timestamp: 0 }).durable;
  failing = true;
  const lost = log.append({ payload: payloadFor(1), timestamp: 1 });
  await assert.rejects(lost.durable, (e) => isBrokerError(e, 'storage_failed'));
  assert.throws(
    () => log.append({ payload: payloadFor(2), timestamp: 2 }),
    (e) => isBrokerError(e, 'storage_failed'),
  );
  assert.equal(log.read(0).length, 1, 'only what reached the disk is served');
  await storage.close();
  failing = false;
  await recoversTo(dir, 1);
});

test('the interval and never policies acknowledge writes and keep them across a clean reopen', async () => {
  for (const fsync of [{ kind: 'interval', intervalMs: 5 }, { kind: 'never' }] as const) {
    const dir = tempDir();
    dirs.push(dir);
    const storage = await FileStorage.open({ dir, fsync, limits: { segmentBytesMax: 1024 } });
    const log = await storage.openLog('events');
    const results = Array.from({ length: 30 }, (_, i) =>
      log.append({ payload: payloadFor(i), timestamp: i }),
    );
    await Promise.all(results.map((r) => r.durable));
    await new Promise((resolve) => setTimeout(resolve, 20));
    await log.sync();
    await storage.close();
    await recoversTo(dir, 30);
  }
});

test('a sealed segment with a wrong header refuses to open and leaves no descriptor behind', async () => {
  const limits = { segmentBytesMax: 1024 };
  const dir = await prepared(30, limits);
  // The second segment: the first is open by the time recovery meets it.
  const second = fs.readdirSync(path.dirname(segmentPath(dir))).filter((f) => f.endsWith('.log'))[1]!;
  const fd = fs.openSync(path.join(path.dirname(segmentPath(dir)), second), 'r+');
  fs.writeSync(fd, Buffer.from('XXXX'), 0, 4, 0);
  fs.closeSync(fd);
  const storage = await FileStorage.open({ dir, fsync: { kind: 'always' }, limits });
  try {
    await assert.rejects(storage.openLog('events'), (e) => isBrokerError(e, 'storage_corrupt'));
    assert.equal(storage.openFileCount, 0);
    await assert.rejects(storage.openLog('events'), (e) => isBrokerError(e, 'storage_corrupt'));
  } finally {
    await storage.close();
  }
});
