/**
 * One suite, two implementations: everything `Storage` promises, run against `MemoryStorage` and
 * `FileStorage` (with small segments so rolls happen).
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { isBrokerError } from '../../src/shared/errors.js';
import { FileStorage } from '../../src/storage/file/storage.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import type { Log, LogEntry, RewriteChoice, Storage, StorageLimits } from '../../src/storage/types.js';
import {
  countUnhandledRejections,
  incarnationOf,
  payloadFor,
  removeDir,
  sameBytes,
  taggedPayload,
  tempDir,
} from '../../testing/storage-fixtures.js';

const smallLimits: Partial<StorageLimits> = {
  segmentBytesMax: 1024,
  indexIntervalBytes: 256,
  entryBytesMax: 8192,
};

interface Subject {
  readonly name: string;
  readonly persistent: boolean;
  /** Opens a fresh storage, or reopens the last one's data when `reopen` is set (file only). */
  open(reopen?: boolean): Promise<Storage>;
}

function fileSubject(): Subject {
  const dirs: string[] = [];
  after(() => dirs.forEach(removeDir));
  return {
    name: 'FileStorage',
    persistent: true,
    open(reopen = false) {
      if (!reopen) dirs.push(tempDir());
      return FileStorage.open({ dir: dirs.at(-1)!, fsync: { kind: 'always' }, limits: smallLimits });
    },
  };
}

const memorySubject: Subject = {
  name: 'MemoryStorage',
  persistent: false,
  open: async () => MemoryStorage.create(smallLimits),
};

/** Appends `n` entries of 100 bytes, payload seeded by offset, timestamps 1000 + 10 × i. */
async function fill(log: Log, n: number, tsBase = 1000): Promise<void> {
  let last: Promise<void> | undefined;
  for (let i = 0; i < n; i++) {
    const offset = log.endOffset;
    last = log.append({ payload: payloadFor(offset), timestamp: tsBase + 10 * offset }).durable;
  }
  await last;
}

function readAll(log: Log, from: number): number[] {
  const offsets: number[] = [];
  for (let next = from, rounds = 0; next < log.endOffset && rounds < 10_000; rounds++) {
    const entries = log.read(next, { maxEntries: 7 });
    if (entries.length === 0) break;
    for (const e of entries) {
      assert.ok(sameBytes(e.payload, payloadFor(e.offset)), `payload of ${e.offset}`);
      offsets.push(e.offset);
    }
    next = entries.at(-1)!.offset + entries.at(-1)!.count;
  }
  return offsets;
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}

/** Runs `rewrite` share by share until every sealed entry was visited; returns the bytes freed. */
async function rewriteAll(log: Log, choose: (entry: LogEntry) => RewriteChoice): Promise<number> {
  let freed = 0;
  for (let next = 0, rounds = 0; next < log.sealedOffset && rounds < 10_000; rounds++) {
    const result = await log.rewrite(next, choose);
    assert.ok(result.nextOffset > next, 'a rewrite share moves forward');
    freed += result.bytesFreed;
    next = result.nextOffset;
  }
  return freed;
}

/** Drops every third offset and replaces every fifth payload with that of offset + 1000. */
function thinOut(entry: LogEntry): RewriteChoice {
  if (entry.offset % 3 === 0) return 'drop';
  return entry.offset % 5 === 0 ? payloadFor(entry.offset + 1000) : 'keep';
}

/** What `thinOut` leaves: offsets and the payload each must hold. */
function checkThinned(log: Log, end: number, sealed: number): void {
  const seen: number[] = [];
  for (let next = 0, rounds = 0; next < log.endOffset && rounds < 10_000; rounds++) {
    const entries = log.read(next, { maxEntries: 5 });
    if (entries.length === 0) break;
    for (const e of entries) {
      const replaced = e.offset < sealed && e.offset % 5 === 0;
      const want = payloadFor(replaced ? e.offset + 1000 : e.offset);
      assert.ok(sameBytes(e.payload, want), `payload of ${e.offset}`);
      assert.equal(e.timestamp, 1000 + 10 * e.offset, `timestamp of ${e.offset}`);
      seen.push(e.offset);
    }
    next = entries.at(-1)!.offset + entries.at(-1)!.count;
  }
  const expected = range(0, end).filter((o) => o >= sealed || o % 3 !== 0);
  assert.deepEqual(seen, expected);
}

const isClosed = (e: unknown) => isBrokerError(e, 'invalid_state') && /is closed/.test(e.message);
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Every method of a handle that was closed or deleted throws (or rejects with) invalid_state. */
async function assertClosed(log: Log): Promise<void> {
  assert.throws(() => log.append({ payload: payloadFor(0), timestamp: 0 }), isClosed);
  assert.throws(() => log.read(0), isClosed);
  assert.throws(() => log.offsetForTimestamp(0), isClosed);
  assert.throws(() => log.truncateBefore(1), isClosed);
  assert.throws(() => log.applyRetention({ bytesMax: 1 }, 0), isClosed);
  await assert.rejects(log.sync(), isClosed);
}

/** Resolves with the settled results, or fails when some promise never settles. */
async function allSettle(promises: Promise<unknown>[], ms = 20_000) {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`a promise did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([Promise.allSettled(promises), hung]);
  } finally {
    clearTimeout(timer);
  }
}

/** Rounds of the delete-and-reopen churn, and appends per round (enough to roll small segments). */
const churnRounds = 60;
const churnAppends = 20;

/**
 * One round of the churn: appends left in flight, a read, then delete and an immediate re-open. The
 * new incarnation must start empty and larger, and the old handle must be dead.
 */
async function churnRound(storage: Storage, log: Log, round: number, settling: Promise<unknown>[]) {
  for (let i = 0; i < churnAppends; i++) {
    const payload = taggedPayload(log.incarnation, i);
    settling.push(log.append({ payload, timestamp: i }).durable);
  }
  for (const entry of log.read(0)) assert.equal(incarnationOf(entry.payload), log.incarnation);
  if (round % 3 === 1) await turn(); // lets writes get under way before the delete
  settling.push(log.delete());
  const next = await storage.openLog('churn');
  assert.ok(next.incarnation > log.incarnation, `round ${round}: incarnation grows`);
  assert.equal(next.endOffset, 0, `round ${round}: a new incarnation starts empty`);
  await assertClosed(log);
  return next;
}

for (const subject of [memorySubject, fileSubject()]) {
  describe(`Storage contract: ${subject.name}`, () => {
    test('append assigns consecutive offsets and read returns entries intact', async () => {
      const storage = await subject.open();
      const log = await storage.openLog('orders');
      assert.equal(log.startOffset, 0);
      assert.equal(log.endOffset, 0);
      const a = log.append({ payload: payloadFor(0), timestamp: 5, format: 7 });
      const b = log.append({ payload: payloadFor(1), timestamp: 6 });
      assert.deepEqual([a.offset, b.offset], [0, 1]);
      const early = log.read(0);
      assert.equal(early.length, 2, 'entries are readable before they are durable');
      await Promise.all([a.durable, b.durable]);
      const [first, second] = log.read(0);
      assert.deepEqual(
        { ...first!, payload: undefined },
        {
          offset: 0,
          count: 1,
          timestamp: 5,
          maxTimestamp: 5,
          format: 7,
          payload: undefined,
        },
      );
      assert.ok(sameBytes(first!.payload, payloadFor(0)));
      assert.equal(second!.offset, 1);
      assert.deepEqual(log.read(2), []);
      assert.deepEqual(log.read(99), []);
      assert.ok(log.sizeBytes >= 200);
      await storage.close();
    });

    test('an owned payload is released once, by the time it is durable, and reads never change after', async () => {
      const storage = await subject.open();
      const log = await storage.openLog('owned');
      const payload = payloadFor(3, 8000);
      let releases = 0;
      const { durable } = log.append({ payload, timestamp: 1, owned: true, release: () => releases++ });
      const early = log.read(0);
      await durable;
      assert.equal(releases, 1);
      payload.fill(0);
      assert.ok(sameBytes(early[0]!.payload, payloadFor(3, 8000)));
      assert.ok(sameBytes(log.read(0)[0]!.payload, payloadFor(3, 8000)));
      await storage.close();
    });

    test('multi-offset entries cover their offsets and are read from any offset inside', async () => {
      const storage = await subject.open();
      const log = await storage.openLog('batches');
      const counts = [5, 1, 3];
      const offsets = counts.map(
        (count, i) => log.append({ payload: payloadFor(i), count, timestamp: 100 }).offset,
      );
      assert.deepEqual(offsets, [0, 5, 6]);
      assert.equal(log.endOffset, 9);
      await log.sync();
      assert.equal(log.read(3)[0]!.offset, 0);
      assert.equal(log.read(3)[0]!.count, 5);
      assert.equal(log.read(5)[0]!.offset, 5);
      assert.equal(log.read(8)[0]!.offset, 6);
      assert.deepEqual(log.read(9), []);
      await storage.close();
    });

    test('maxBytes and maxEntries bound a read, which still returns one entry', async () => {
      const storage = await subject.open();
      const log = await storage.openLog('bounded');
      await fill(log, 8);
      assert.equal(log.read(0, { maxBytes: 250 }).length, 2);
      assert.equal(log.read(0, { maxBytes: 10 }).length, 1);
      assert.equal(log.read(0, { maxEntries: 3 }).length, 3);
      assert.equal(log.read(0).length, 8);
      await storage.close();
    });

    test('reads walk across segment rolls, from every offset', async () => {
      const storage = await subject.open();
      const log = await storage.openLog('rolling');
      await fill(log, 60);
      assert.deepEqual(readAll(log, 0), range(0, 60));
      for (const from of [0, 8, 9, 10, 31, 59])
        assert.equal(log.read(from, { maxEntries: 1 })[0]!.offset, from);
      await storage.close();
    });

    test('offsetForTimestamp finds the first entry whose maxTimestamp reaches it', async () => {
      const storage = await subject.open();
      const log = await storage.openLog('times');
      await fill(log, 40);
      log.append({ payload: payloadFor(40), timestamp: 1200, maxTimestamp: 5000 });
      await fill(log, 10);
      assert.equal(log.offsetForTimestamp(0), 0);
      assert.equal(log.offsetForTimestamp(1000), 0);
      assert.equal(log.offsetForTimestamp(1101), 11);
      assert.equal(log.offsetForTimestamp(1390), 39);
      assert.equal(log.offsetForTimestamp(1391), 40);
      assert.equal(log.offsetForTimestamp(5000), 40);
      assert.equal(log.offsetForTimestamp(5001), log.endOffset);
      await storage.close();
    });

    test('truncateBefore forgets entries below the offset and keeps the rest', async () => {
      const storage = await subject.open();
      const log = await storage.openLog('trunc');
      await fill(log, 60);
      log.truncateBefore(35);
      assert.ok(log.startOffset > 0 && log.startOffset <= 35, `startOffset ${log.startOffset}`);
      assert.equal(log.read(0)[0]!.offset, log.startOffset);
      assert.deepEqual(readAll(log, 0), range(log.startOffset, 60));
      log.truncateBefore(1000);
      assert.equal(log.endOffset, 60);
      assert.deepEqual(readAll(log, log.startOffset), range(log.startOffset, 60));
      assert.equal(log.append({ payload: payloadFor(60), timestamp: 0 }).offset, 60);
      await storage.close();
    });

    test('retention by size keeps the log under bytesMax and the newest entries', async () => {
      const storage = await subject.open();
      const log = await storage.openLog('size');
      await fill(log, 60);
      const start = log.applyRetention({ bytesMax: 2000 }, 0);
      assert.equal(start, log.startOffset);
      assert.ok(start > 0);
      assert.ok(log.sizeBytes <= 2000, `sizeBytes ${log.sizeBytes}`);
      assert.deepEqual(readAll(log, 0), range(start, 60));
      await storage.close();
    });

    test('retention by age drops old entries and keeps recent ones', async () => {
      const storage = await subject.open();
      const log = await storage.openLog('age');
      await fill(log, 30, 0);
      await fill(log, 30, 1_000_000);
      const start = log.applyRetention({ ageMsMax: 10_000 }, 1_000_500);
      assert.ok(start > 0 && start <= 30, `start ${start}`);
      assert.deepEqual(readAll(log, 0), range(start, 60));
      assert.equal(log.applyRetention({ ageMsMax: 10_000 }, 1_000_500), start);
      await storage.close();
    });

    test('logs are listed, deleted and recreated empty', async () => {
      const storage = await subject.open();
      const b = await storage.openLog('b');
      await fill(b, 3);
      await storage.openLog('a');
      assert.deepEqual(await storage.listLogs(), ['a', 'b']);
      await b.delete();
      assert.deepEqual(await storage.listLogs(), ['a']);
      const again = await storage.openLog('b');
      assert.equal(again.endOffset, 0);
      assert.deepEqual(again.read(0), []);
      await storage.close();
    });

    test('a held log is refused to a second opener, with the holding incarnation', async () => {
      const storage = await subject.open();
      const log = await storage.openLog('held');
      assert.ok(Number.isSafeInteger(log.incarnation) && log.incarnation > 0);
      await assert.rejects(
        storage.openLog('held'),
        (e) =>
          isBrokerError(e, 'resource_locked') &&
          e.message === `Log held is held by incarnation ${log.incarnation}`,
      );
      await assert.rejects(storage.removeLog('held'), (e) => isBrokerError(e, 'resource_locked'));
      assert.equal(log.endOffset, 0, 'the holder is untouched');
      await storage.close();
    });

    test('close then reopen keeps the entries and the incarnation; a reopen waits for the close', async () => {
      const storage = await subject.open();
      const log = await storage.openLog('kept');
      await fill(log, 30);
      log.append({ payload: payloadFor(30), timestamp: 1300 });
      const closing = log.close();
      const again = await storage.openLog('kept');
      assert.equal(again.incarnation, log.incarnation);
      assert.deepEqual(readAll(again, 0), range(0, 31));
      await closing;
      assert.equal(log.close(), closing, 'a second close returns the first one');
      await assertClosed(log);
      await assert.rejects(log.delete(), isClosed);
      assert.deepEqual(readAll(again, 0), range(0, 31), 'a delete after close removed nothing');
      await storage.close();
    });

    test('delete frees the name at once: a reopen gets an empty log with a larger incarnation', async () => {
      const storage = await subject.open();
      const log = await storage.openLog('gone');
      await fill(log, 30);
      const deleting = log.delete();
      assert.equal(log.delete(), deleting, 'a second delete returns the first one');
      const next = await storage.openLog('gone');
      assert.ok(next.incarnation > log.incarnation);
      assert.equal(next.endOffset, 0);
      assert.deepEqual(next.read(0), []);
      await deleting;
      await log.close();
      await assertClosed(log);
      await storage.close();
    });

    test('removeLog removes a log nobody holds; an unknown name is no error', async () => {
      const storage = await subject.open();
      const log = await storage.openLog('leftover');
      await fill(log, 5);
      await log.close();
      await storage.removeLog('leftover');
      await storage.removeLog('never-was');
      assert.deepEqual(await storage.listLogs(), []);
      const fresh = await storage.openLog('leftover');
      assert.equal(fresh.endOffset, 0);
      assert.ok(fresh.incarnation > log.incarnation);
      await storage.close();
    });

    test('delete and re-open of one name under load: no incarnation sees another', async () => {
      const unhandled = countUnhandledRejections();
      const storage = await subject.open();
      const settling: Promise<unknown>[] = [];
      try {
        let log = await storage.openLog('churn');
        for (let round = 0; round < churnRounds; round++) {
          log = await churnRound(storage, log, round, settling);
        }
        const last = log.incarnation;
        for (let i = 0; i < churnAppends; i++)
          settling.push(log.append({ payload: taggedPayload(last, i), timestamp: i }).durable);
        const results = await allSettle(settling);
        for (const result of results)
          if (result.status === 'rejected') assert.ok(isClosed(result.reason), String(result.reason));
        const entries = log.read(0);
        assert.equal(entries.length, churnAppends);
        for (const entry of entries) assert.equal(incarnationOf(entry.payload), last);
        await storage.close();
        await turn();
        assert.equal(unhandled.count(), 0, 'no unhandled rejection');
      } finally {
        unhandled.stop();
      }
    });

    test('bad names, oversized payloads and closed logs are refused', async () => {
      const storage = await subject.open();
      for (const name of ['', '..', 'a/b', 'x'.repeat(201), 'sp ace']) {
        await assert.rejects(
          async () => storage.openLog(name),
          (e) => isBrokerError(e, 'invalid_argument'),
        );
      }
      const log = await storage.openLog('ok');
      assert.throws(
        () => log.append({ payload: new Uint8Array(8193), timestamp: 0 }),
        (e) => isBrokerError(e, 'invalid_argument'),
      );
      assert.throws(
        () => log.append({ payload: new Uint8Array(1), timestamp: 0, count: 0 }),
        (e) => isBrokerError(e, 'invalid_argument'),
      );
      await log.close();
      assert.throws(
        () => log.append({ payload: new Uint8Array(1), timestamp: 0 }),
        (e) => isBrokerError(e, 'invalid_state'),
      );
      await storage.close();
    });

    test('rewrite drops and replaces sealed entries; offsets, start and end stay; reads skip gaps', async () => {
      const storage = await subject.open();
      const log = await storage.openLog('rewritten');
      await fill(log, 60);
      const sealed = log.sealedOffset;
      assert.ok(sealed > 0 && sealed <= 60, `some entries are sealed (${sealed})`);
      const before = log.sizeBytes;
      const freed = await rewriteAll(log, thinOut);
      assert.ok(freed > 0 && log.sizeBytes === before - freed, 'the bytes freed leave the log');
      assert.equal(log.startOffset, 0);
      assert.equal(log.endOffset, 60);
      checkThinned(log, 60, sealed);
      assert.equal(log.read(3, { maxEntries: 1 })[0]!.offset, 4, 'a read in a gap starts after it');
      assert.equal(log.offsetForTimestamp(1000), 1, 'time lookups skip gaps too');
      assert.equal(log.append({ payload: payloadFor(60), timestamp: 1600 }).offset, 60);
      await log.sync();
      checkThinned(log, 61, sealed);
      // A second pass over rewritten entries: keeping everything changes nothing.
      assert.equal(await rewriteAll(log, () => 'keep'), 0);
      checkThinned(log, 61, sealed);
      await storage.close();
    });

    test('rewrite leaves entries before `from` alone and a throwing choice changes nothing', async () => {
      const storage = await subject.open();
      const log = await storage.openLog('partial');
      await fill(log, 40);
      const asked: number[] = [];
      await log.rewrite(3, (entry) => {
        asked.push(entry.offset);
        return 'keep';
      });
      assert.equal(asked[0], 3, 'choose is asked from `from` on');
      await assert.rejects(
        log.rewrite(0, (entry) => {
          if (entry.offset === 2) throw new Error('bad entry');
          return 'drop';
        }),
        /bad entry/,
      );
      assert.deepEqual(readAll(log, 0), range(0, 40));
      assert.equal(log.append({ payload: payloadFor(40), timestamp: 1400 }).offset, 40);
      await storage.close();
    });

    test('a rewrite that drops everything sealed keeps the offsets: start, end and appends', async () => {
      const storage = await subject.open();
      const log = await storage.openLog('emptied');
      await fill(log, 30);
      const sealed = log.sealedOffset;
      await rewriteAll(log, () => 'drop');
      assert.equal(log.startOffset, 0);
      assert.equal(log.endOffset, 30);
      assert.deepEqual(readAll(log, 0), range(sealed, 30));
      assert.equal(log.append({ payload: payloadFor(30), timestamp: 1300 }).offset, 30);
      await storage.close();
    });

    if (subject.persistent) {
      test('a rewritten log reopens with its gaps, its end, and rewrites again', async () => {
        const storage = await subject.open();
        const log = await storage.openLog('rewritten-durable');
        await fill(log, 60);
        const sealed = log.sealedOffset;
        await rewriteAll(log, thinOut);
        await storage.close();
        const reopened = await subject.open(true);
        const again = await reopened.openLog('rewritten-durable');
        assert.equal(again.endOffset, 60);
        assert.equal(again.startOffset, 0);
        checkThinned(again, 60, sealed);
        await rewriteAll(again, (entry) => (entry.offset < 10 ? 'drop' : 'keep'));
        const left = again.read(0, { maxEntries: 2 }).map((e) => e.offset);
        assert.deepEqual(left, [10, 11], 'offsets below 10 are gone, 12 was dropped before');
        assert.equal(again.append({ payload: payloadFor(60), timestamp: 1600 }).offset, 60);
        await reopened.close();
      });

      test('close during a rewrite waits for it; the log reopens as it was', async () => {
        const storage = await subject.open();
        const log = await storage.openLog('rewrite-close');
        await fill(log, 60);
        const running = log.rewrite(0, () => 'drop');
        await log.close();
        await running.catch(() => undefined);
        const again = await storage.openLog('rewrite-close');
        assert.deepEqual(readAll(again, 0), range(0, 60));
        await storage.close();
      });

      test('reopen keeps every entry and offsets continue', async () => {
        const storage = await subject.open();
        const log = await storage.openLog('durable');
        await fill(log, 45);
        log.append({ payload: payloadFor(45), count: 4, timestamp: 9 });
        await storage.close();
        const reopened = await subject.open(true);
        const again = await reopened.openLog('durable');
        assert.equal(again.endOffset, 49);
        assert.deepEqual(readAll(again, 0).slice(0, 45), range(0, 45));
        assert.equal(again.offsetForTimestamp(1100), 10);
        assert.equal(again.append({ payload: payloadFor(49), timestamp: 0 }).offset, 49);
        await reopened.close();
      });
    }
  });
}
