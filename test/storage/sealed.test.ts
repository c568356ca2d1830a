/**
 * Sealed segments rewritten away from their log (storage/file/sealed.ts): the rewrite a caller adopts
 * reads as `Log.rewrite`'s would, also after reopening; one whose segment retention removed meanwhile,
 * or whose log closed, is not swapped in, and nothing is left beside the log. A batch of rewrites is
 * swapped in by one call, and a crash at any point of a batch's swap leaves a log that reads whole.
 */
import assert from 'node:assert/strict';
import {
  closeSync,
  existsSync,
  fstatSync,
  mkdtempSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { readSealedSegment, rewriteSealedSegment } from '../../src/storage/file/sealed.js';
import { segmentFileName } from '../../src/storage/file/segment.js';
import { FileStorage } from '../../src/storage/file/storage.js';
import type { Log, LogEntry } from '../../src/storage/types.js';
import { sleep } from '../../testing/wait.js';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function filledLog(
  entriesTotal = 60,
  openFilesMax?: number,
): Promise<{ dir: string; storage: FileStorage; log: Log }> {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-sealed-'));
  dirs.push(dir);
  const storage = await FileStorage.open({
    dir,
    fsync: { kind: 'never' },
    limits: { segmentBytesMax: 1024, ...(openFilesMax === undefined ? {} : { openFilesMax }) },
  });
  const log = await storage.openLog('l');
  for (let i = 0; i < entriesTotal; i++)
    log.append({ payload: new TextEncoder().encode(`entry ${i}`), timestamp: 1000 + i });
  await log.sync();
  await new Promise((resolve) => setImmediate(resolve));
  return { dir, storage, log };
}

/** How long a replaced segment's stepped freeing may take here (one 256 KiB step at most). */
const freeWaitMsMax = 5000;

const offsets = (log: Log) => log.read(0, { maxEntries: 1000 }).map((e: LogEntry) => e.offset);
const leftBeside = (dir: string) =>
  readdirSync(dir, { recursive: true }).filter((name) => String(name).endsWith('.cleaned'));

describe('sealed segments rewritten away from their log', () => {
  test('an adopted rewrite reads like Log.rewrite, also after reopening', async () => {
    const { dir, storage, log } = await filledLog();
    const sealed = log.sealedSegments!(0, log.endOffset);
    assert.ok(sealed.length >= 2, 'several sealed segments');
    const seen: number[] = [];
    readSealedSegment(sealed[0]!, (entry) => seen.push(entry.offset));
    assert.deepEqual(
      seen,
      offsets(log).filter((o) => o < sealed[0]!.end),
    );
    let freed = 0;
    for (const segment of sealed) {
      const rewritten = rewriteSealedSegment(segment, 0, (e) => (e.offset % 2 === 0 ? 'drop' : 'keep'));
      freed += await log.adoptRewritten!([{ sealed: segment, rewritten }]);
    }
    assert.ok(freed > 0);
    const end = sealed.at(-1)!.end;
    const expected = offsets(log).filter((o) => o >= end || o % 2 === 1);
    assert.deepEqual(offsets(log), expected);
    assert.equal(log.startOffset, 0, 'the start stays');
    assert.deepEqual(leftBeside(dir), []);
    await log.close();
    const again = await storage.openLog('l');
    assert.deepEqual(offsets(again), expected);
    assert.equal(again.offsetForTimestamp(1000 + 31), 31, 'the time index of a rewritten segment');
    await again.close();
    await storage.close();
  });

  test('a rewrite whose segment retention removed, or whose log closed, is not swapped in', async () => {
    const { dir, storage, log } = await filledLog();
    const [first, second] = log.sealedSegments!(0, log.endOffset);
    const keepOdd = (e: LogEntry) => (e.offset % 2 === 0 ? 'drop' : 'keep');
    const gone = rewriteSealedSegment(first!, 0, keepOdd);
    log.truncateBefore(first!.end);
    assert.equal(await log.adoptRewritten!([{ sealed: first!, rewritten: gone }]), 0);
    assert.deepEqual(leftBeside(dir), []);
    const before = offsets(log);
    const late = rewriteSealedSegment(second!, 0, keepOdd);
    await log.close();
    assert.equal(
      await log.adoptRewritten!([{ sealed: second!, rewritten: late }]),
      0,
      'a closed log takes nothing',
    );
    const again = await storage.openLog('l');
    assert.deepEqual(offsets(again), before, 'the segment as it was');
    assert.deepEqual(leftBeside(dir), [], 'the next open removes what was left');
    await again.close();
    await storage.close();
  });
});

describe('a batch of rewritten segments', () => {
  test('is swapped in by one call; a segment retention removed meanwhile is left out', async () => {
    const { dir, storage, log } = await filledLog(200);
    const sealed = log.sealedSegments!(0, log.endOffset);
    assert.ok(sealed.length >= 4, 'several sealed segments');
    const keepOdd = (e: LogEntry) => (e.offset % 2 === 0 ? 'drop' : 'keep');
    // Unsynced, as the compaction thread leaves them: the swap makes them durable first.
    const batch = sealed.map((segment) => ({
      sealed: segment,
      rewritten: rewriteSealedSegment(segment, 0, keepOdd, undefined, false),
    }));
    log.truncateBefore(sealed[0]!.end);
    const freed = await log.adoptRewritten!(batch);
    assert.ok(freed > 0);
    const end = sealed.at(-1)!.end;
    const expected = offsets(log).filter((o) => o >= end || o % 2 === 1);
    assert.equal(expected[0], sealed[1]!.base + 1, 'the segment retention removed stays removed');
    assert.deepEqual(offsets(log), expected);
    assert.deepEqual(leftBeside(dir), []);
    const logDir = join(dir, 'logs', readdirSync(join(dir, 'logs'))[0]!);
    for (const segment of sealed.slice(1))
      assert.ok(
        existsSync(join(logDir, segmentFileName(segment.base, '.index'))),
        'the new indexes are written',
      );
    await log.close();
    const again = await storage.openLog('l');
    assert.deepEqual(offsets(again), expected);
    await again.close();
    await storage.close();
  });

  test("a replaced segment whose descriptor the cache had closed is freed in steps, not by the swap's rename", async () => {
    // More segments than descriptors: the first segment's was closed long before its rewrite.
    const { storage, log } = await filledLog(800, 16);
    const sealed = log.sealedSegments!(0, log.endOffset);
    assert.ok(sealed.length > 16, 'more sealed segments than open files');
    const first = sealed[0]!;
    // The test's own descriptor keeps the old file's blocks past its last name, and sees them freed.
    const watcher = openSync(first.file, 'r');
    try {
      const keepOdd = (e: LogEntry) => (e.offset % 2 === 0 ? 'drop' : 'keep');
      const rewritten = rewriteSealedSegment(first, 0, keepOdd, undefined, false);
      assert.ok((await log.adoptRewritten!([{ sealed: first, rewritten }])) > 0);
      const until = Date.now() + freeWaitMsMax;
      while (fstatSync(watcher).size > 0 && Date.now() < until) await sleep(10);
      assert.equal(fstatSync(watcher).size, 0, 'truncated off the event loop before its close');
    } finally {
      closeSync(watcher);
    }
    await log.close();
    await storage.close();
  });

  test('a crash part-way through its swap leaves each segment old or new, the log whole', async () => {
    // The states a crash can leave, made by hand: every rewrite written, the old indexes removed, and
    // none, some or all of the renames done (the rename is durable only with the folder fsync after it).
    for (const renamed of [0, 2, 4]) {
      const { dir, storage, log } = await filledLog(200);
      const before = offsets(log);
      const sealed = log.sealedSegments!(0, log.endOffset).slice(0, 4);
      const keepOdd = (e: LogEntry) => (e.offset % 2 === 0 ? 'drop' : 'keep');
      const rewritten = sealed.map((segment) => rewriteSealedSegment(segment, 0, keepOdd)!);
      await log.close();
      const logDir = join(dir, 'logs', readdirSync(join(dir, 'logs'))[0]!);
      for (const segment of sealed) {
        rmSync(join(logDir, segmentFileName(segment.base, '.index')));
        rmSync(join(logDir, segmentFileName(segment.base, '.timeindex')));
      }
      for (let i = 0; i < renamed; i++) renameSync(rewritten[i]!.file, sealed[i]!.file);
      const newEnd = renamed === 0 ? 0 : sealed[renamed - 1]!.end;
      const again = await storage.openLog('l');
      assert.deepEqual(
        offsets(again),
        before.filter((o) => o >= newEnd || o % 2 === 1),
        `${renamed} of 4 renamed`,
      );
      assert.deepEqual(leftBeside(dir), [], 'what was not renamed is removed at open');
      assert.equal(again.offsetForTimestamp(1000 + 31), 31, 'the indexes rebuilt');
      await again.close();
      await storage.close();
    }
  });
});
