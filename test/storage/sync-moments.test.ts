/**
 * Compaction's metadata calls run in moments (`SyncMoments`): just before an appender's fdatasync, so
 * they ride in the journal commit a producer makes anyway, and their callers go on only once that
 * fdatasync has returned; with no producer, after a short wait. Its disk work (the freeing truncations)
 * starts in gaps: just after a producer's fdatasync returned, so a producer's write never queues
 * behind it on a disk that serves one request at a time.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SyncMoments, syncMomentCallsMax } from '../../src/storage/file/sync-moments.js';
import { heldDisk, syncingAppender, turn } from '../../testing/storage-fixtures.js';

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
