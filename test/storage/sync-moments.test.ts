/**
 * Compaction's metadata calls run in moments (`SyncMoments`): just before an appender's fdatasync, so
 * they ride in the journal commit a producer makes anyway, and their callers go on only once that
 * fdatasync has returned; with no producer, after a short wait. Its disk work (the freeing truncations)
 * starts in gaps: just after a producer's fdatasync returned, so a producer's write never queues
 * behind it on a disk that serves one request at a time.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type FileIo, realIo } from '../../src/storage/file/io.js';
import { FileStorage } from '../../src/storage/file/storage.js';
import { SyncMoments, syncMomentCallsMax } from '../../src/storage/file/sync-moments.js';
import {
  type HeldCall,
  heldDisk,
  payloadFor,
  removeDir,
  syncingAppender,
  tempDir,
  turn,
} from '../../testing/storage-fixtures.js';

test("a waiting call runs just before a producer's fdatasync, and its caller goes on once it returned", async () => {
  const events: string[] = [];
  // Writes complete at once: only the fdatasync is held.
  const disk = heldDisk({ writesAtOnce: true, events });
  // Long enough that only the fdatasync can be what runs the call.
  const moments = new SyncMoments(60_000);
  const appender = syncingAppender(disk.io, { moments });
  const swapped = moments.at(() => events.push('rename')).then(() => events.push('folder fsync'));
  await turn();
  assert.deepEqual([...events], [], 'nothing runs before a producer syncs');
  const acked = appender.enqueue(Buffer.from('record')).then(() => events.push('acked'));
  await turn();
  assert.deepEqual([...events], ['rename', 'fdatasync']);
  await turn();
  assert.deepEqual([...events], ['rename', 'fdatasync'], "the caller waits for the producer's fdatasync");
  disk.syncs.shift()!(null);
  await Promise.all([swapped, acked]);
  assert.deepEqual(events.slice(2).sort(), ['acked', 'folder fsync']);
  assert.equal(moments.waitingCount, 0);
});

test('with no producer, a waiting call runs after the wait', async () => {
  const moments = new SyncMoments(5);
  let ran = false;
  const started = performance.now();
  await moments.at(() => {
    ran = true;
  });
  assert.ok(ran);
  assert.ok(performance.now() - started >= 4, 'it waited for a moment first');
});

test('a call that throws rejects its caller only; a moment runs a bounded number of calls', async () => {
  const moments = new SyncMoments(5);
  const ran: number[] = [];
  const callers = Array.from({ length: syncMomentCallsMax + 2 }, (_, i) =>
    moments.at(() => {
      if (i === 1) throw new Error('ENOENT');
      ran.push(i);
    }),
  );
  const after = moments.beforeSync();
  assert.ok(after !== undefined);
  assert.equal(ran.length, syncMomentCallsMax - 1, 'one moment ran syncMomentCallsMax calls');
  assert.equal(moments.waitingCount, 2, 'the rest wait for the next moment');
  after();
  const settled = await Promise.allSettled(callers);
  assert.deepEqual(
    settled.map((s) => s.status),
    callers.map((_, i) => (i === 1 ? 'rejected' : 'fulfilled')),
  );
  assert.equal(ran.length, syncMomentCallsMax + 1);
});

test("while a producer's fdatasync runs, a waiting call does not run on the timer but before the next", async () => {
  const moments = new SyncMoments(2);
  const returned = moments.beforeSync();
  let ran = false;
  const call = moments.at(() => {
    ran = true;
  });
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(ran, false, 'it would block on the commit that fdatasync waits for');
  returned();
  const next = moments.beforeSync();
  assert.equal(ran, true);
  next();
  await call;
});

test("disk work waiting for a gap starts only once no producer's fdatasync runs, one item per gap", async () => {
  // Long enough that only the fdatasyncs can be what starts the work.
  const moments = new SyncMoments(60_000);
  const started: number[] = [];
  const works = [0, 1].map((i) =>
    moments.gap(async () => {
      started.push(i);
    }),
  );
  const first = moments.beforeSync();
  const second = moments.beforeSync();
  await turn();
  assert.deepEqual(started, [], 'nothing starts before or while producers sync');
  first();
  assert.deepEqual(started, [], 'another fdatasync still runs');
  second();
  assert.deepEqual(started, [0], 'the gap after the last one starts one item');
  moments.beforeSync()();
  assert.deepEqual(started, [0, 1]);
  await Promise.all(works);
  assert.equal(moments.waitingCount, 0);
});

test('with no producer, disk work starts after the wait, and its failure rejects its caller only', async () => {
  const moments = new SyncMoments(5);
  const began = performance.now();
  const failed = moments.gap(() => Promise.reject(new Error('EIO')));
  const done = moments.gap(async () => {});
  await assert.rejects(failed, /EIO/);
  await done;
  assert.ok(performance.now() - began >= 4, 'it waited for a gap first');
});

/**
 * How long a swap is watched while a producer's fdatasync is held: one waiting for it must not finish
 * in `heldSwapMs`; one that does not wait must finish (a real fdatasync and folder fsync, on a disk
 * other work shares) within `freeSwapMs`.
 */
const heldSwapMs = 1000;
const freeSwapMs = 10_000;

/**
 * A file storage on a real folder whose next fdatasync, a producer's, is held once `hold` is set, with a
 * log of a few sealed segments; `release` lets it run.
 */
async function storageWithHeldSyncs(syncMoments: boolean | undefined) {
  const dir = tempDir();
  const held: Array<{ fd: number; done: HeldCall }> = [];
  const state = { hold: false };
  const io: FileIo = {
    write: realIo.write,
    fdatasync: (fd, done) => {
      // Only the producer's: the rewrite's own fdatasync of its `.cleaned` file comes through here too.
      if (state.hold && held.length === 0) held.push({ fd, done });
      else realIo.fdatasync(fd, done);
    },
  };
  const storage = await FileStorage.open({
    dir,
    fsync: { kind: 'always' },
    limits: { segmentBytesMax: 1024, indexIntervalBytes: 256 },
    io,
    ...(syncMoments === undefined ? {} : { syncMoments }),
  });
  const log = await storage.openLog('moments');
  const appended = Array.from(
    { length: 40 },
    (_, i) => log.append({ payload: payloadFor(i), timestamp: i }).durable,
  );
  await Promise.all(appended);
  const release = () => {
    state.hold = false;
    for (const { fd, done } of held.splice(0)) realIo.fdatasync(fd, done);
  };
  const close = async () => {
    release();
    await storage.close();
    removeDir(dir);
  };
  return { log, state, held, release, close };
}

/** Whether `work` settles within `ms`. The timer is cleared once it does: left, it kept the file's process up. */
async function settlesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((r) => {
    timer = setTimeout(() => r(false), ms);
  });
  try {
    return await Promise.race([work.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

test("by default a rewrite's swap waits for a producer's fdatasync; with syncMoments false it does not", async () => {
  for (const syncMoments of [undefined, false]) {
    const subject = await storageWithHeldSyncs(syncMoments);
    try {
      subject.state.hold = true;
      const acked = subject.log.append({ payload: payloadFor(99), timestamp: 99 }).durable;
      // Its write runs on libuv's pool first.
      for (let waitedMs = 0; subject.held.length === 0 && waitedMs < 2000; waitedMs += 5)
        await new Promise((resolve) => setTimeout(resolve, 5));
      assert.equal(subject.held.length, 1, "the producer's fdatasync is held");
      const rewritten = subject.log.rewrite(0, (entry) => (entry.offset % 2 === 0 ? 'drop' : 'keep'));
      const swappedWhileHeld = await settlesWithin(
        rewritten,
        syncMoments === false ? freeSwapMs : heldSwapMs,
      );
      assert.equal(swappedWhileHeld, syncMoments === false, `syncMoments ${String(syncMoments)}`);
      subject.release();
      const result = await rewritten;
      await acked;
      assert.ok(result.bytesFreed > 0, 'the rewrite freed what it dropped');
      assert.equal(subject.log.read(0, { maxEntries: 1 })[0]?.offset, 1, 'offset 0 was dropped');
    } finally {
      await subject.close();
    }
  }
});
