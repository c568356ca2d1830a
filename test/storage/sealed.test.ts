/**
 * Sealed segments rewritten away from their log (storage/file/sealed.ts): the rewrite a caller adopts
 * reads as `Log.rewrite`'s would, also after reopening; one whose segment retention removed meanwhile,
 * or whose log closed, is not swapped in, and nothing is left beside the log.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { readSealedSegment, rewriteSealedSegment } from '../../src/storage/file/sealed.js';
import { FileStorage } from '../../src/storage/file/storage.js';
import type { Log, LogEntry } from '../../src/storage/types.js';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function filledLog(): Promise<{ dir: string; storage: FileStorage; log: Log }> {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-sealed-'));
  dirs.push(dir);
  const storage = await FileStorage.open({
    dir,
    fsync: { kind: 'never' },
    limits: { segmentBytesMax: 1024 },
  });
  const log = await storage.openLog('l');
  for (let i = 0; i < 60; i++)
    log.append({ payload: new TextEncoder().encode(`entry ${i}`), timestamp: 1000 + i });
  await log.sync();
  await new Promise((resolve) => setImmediate(resolve));
  return { dir, storage, log };
}

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
      freed += await log.adoptRewritten!(segment, rewritten);
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
    assert.equal(await log.adoptRewritten!(first!, gone), 0);
    assert.deepEqual(leftBeside(dir), []);
    const before = offsets(log);
    const late = rewriteSealedSegment(second!, 0, keepOdd);
    await log.close();
    assert.equal(await log.adoptRewritten!(second!, late), 0, 'a closed log takes nothing');
    const again = await storage.openLog('l');
    assert.deepEqual(offsets(again), before, 'the segment as it was');
    assert.deepEqual(leftBeside(dir), [], 'the next open removes what was left');
    await again.close();
    await storage.close();
  });
});
