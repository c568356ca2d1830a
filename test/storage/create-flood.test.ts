/**
 * Many logs created or deleted at once, on a real disk: each creation's syncs run off the event loop
 * and the `logs/` folder's fsync is shared (group commit), yet every log holding a confirmed append is
 * there with it after a reopen, and every one whose removal resolved is gone.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { isBrokerError } from '../../src/shared/errors.js';
import { FolderSync, SyncSlots } from '../../src/storage/file/folder-sync.js';
import { segmentFileName } from '../../src/storage/file/segment.js';
import { FileStorage } from '../../src/storage/file/storage.js';
import type { Log } from '../../src/storage/types.js';
import { openAlways, payloadFor, sameBytes, tempDirsOfFile } from '../../testing/storage-fixtures.js';

/** Logs created in one turn: enough that one `logs/` fsync each would be hundreds. */
const logsCount = 300;
const names = Array.from({ length: logsCount }, (_, i) => `flood-${i}`);

const freshDir = tempDirsOfFile();
const open = openAlways;

test('logs created all at once are each there, with what was appended, after a reopen', async () => {
  const dir = freshDir();
  const first = await open(dir);
  const logs = await Promise.all(names.map((name) => first.openLog(name)));
  await Promise.all(logs.map((log, i) => log.append({ payload: payloadFor(i), timestamp: i }).durable));
  const incarnations = logs.map((log) => log.incarnation);
  assert.ok(
    first.logsFolderSyncCount < logsCount / 4,
    `the creations shared the logs folder's fsync (${first.logsFolderSyncCount} for ${logsCount})`,
  );
  await first.close();
  const second = await open(dir);
  assert.deepEqual(await second.listLogs(), [...names].sort());
  for (const [i, name] of names.entries()) {
    const log = await second.openLog(name);
    assert.equal(log.incarnation, incarnations[i], `${name} is the incarnation created`);
    const [entry] = log.read(0);
    assert.ok(entry && sameBytes(entry.payload, payloadFor(i)), `${name} holds its entry`);
    await log.close();
  }
  await second.close();
});

test('logs removed all at once are gone after a reopen; their names can be created again', async () => {
  const dir = freshDir();
  const first = await open(dir);
  await Promise.all((await Promise.all(names.map((name) => first.openLog(name)))).map((log) => log.close()));
  await Promise.all(names.map((name) => first.removeLog(name)));
  await first.close();
  assert.deepEqual(fs.readdirSync(path.join(dir, 'trash')), []);
  const second = await open(dir);
  assert.deepEqual(await second.listLogs(), []);
  const again = await Promise.all(names.slice(0, 10).map((name) => second.openLog(name)));
  assert.deepEqual(
    again.map((log) => log.endOffset),
    again.map(() => 0),
  );
  await second.close();
});

test('a created log whose first segment header never reached the disk reopens empty, same incarnation', async () => {
  const dir = freshDir();
  const first = await open(dir);
  const log: Log = await first.openLog('unwritten');
  const { incarnation } = log;
  await log.close();
  await first.close();
  // What a power loss may leave before the first append's fdatasync: the entry, not the header.
  fs.truncateSync(path.join(dir, 'logs', 'unwritten', segmentFileName(0, '.log')), 0);
  const second = await open(dir);
  const again = await second.openLog('unwritten');
  assert.equal(again.incarnation, incarnation);
  assert.equal(again.endOffset, 0);
  await again.append({ payload: payloadFor(1), timestamp: 1 }).durable;
  assert.equal(again.endOffset, 1);
  await second.close();
});

test('a folder fsync is shared by the requests made before it starts; later ones get the next', async () => {
  const dir = freshDir();
  const sync = new FolderSync(dir);
  const burst = Array.from({ length: 50 }, () => sync.request());
  let syncsForBurst = 0;
  const late = burst[0]!.then(() => {
    syncsForBurst = sync.syncCount;
    return sync.request();
  });
  await Promise.all([...burst, late]);
  assert.equal(syncsForBurst, 1, 'one fsync for the burst made in one turn');
  assert.equal(sync.syncCount, 2, 'a request after it started waits for another');
});

test('a folder fsync that fails rejects its requests; the next request tries again', async () => {
  const dir = freshDir();
  const missing = path.join(dir, 'missing');
  const sync = new FolderSync(missing);
  await assert.rejects(sync.request(), /ENOENT/);
  fs.mkdirSync(missing);
  await sync.request();
  assert.equal(sync.syncCount, 2);
});

test('sync slots run at most their bound at once, the rest in call order as slots free', async () => {
  const slots = new SyncSlots(2);
  let running = 0;
  let most = 0;
  const order: number[] = [];
  await Promise.all(
    Array.from({ length: 10 }, (_, i) =>
      slots.run(async () => {
        running++;
        most = Math.max(most, running);
        order.push(i);
        await new Promise((resolve) => setImmediate(resolve));
        running--;
      }),
    ),
  );
  assert.equal(most, 2);
  assert.deepEqual(
    order,
    Array.from({ length: 10 }, (_, i) => i),
  );
});

test('a creation whose syncs fail fails the log: nothing appended to it is confirmed', async () => {
  const dir = freshDir();
  const storage = await open(dir);
  const others = await takeSlots(storage);
  const log = await storage.openLog('unsynced');
  // Its header gone before its fdatasync can open it; the segment file is still there to write to.
  fs.rmSync(path.join(dir, 'logs', 'unsynced', 'LOG'));
  const { durable } = log.append({ payload: payloadFor(0), timestamp: 0 });
  await assert.rejects(durable, (e) => isBrokerError(e, 'storage_failed'));
  assert.throws(
    () => log.append({ payload: payloadFor(1), timestamp: 1 }),
    (e) => isBrokerError(e, 'storage_failed'),
  );
  await Promise.all([...others, log].map((l) => l.close().catch(() => undefined)));
  await storage.close();
});

/** Opens two logs to take both creation sync slots: the next creation's syncs start after this turn. */
function takeSlots(storage: FileStorage, names = ['first', 'second']): Promise<Log[]> {
  return Promise.all(names.map((name) => storage.openLog(name)));
}

test('a log closed and reopened while its creation syncs run confirms nothing before they return', async () => {
  const dir = freshDir();
  const storage = await open(dir);
  const others = await takeSlots(storage);
  await (await storage.openLog('reopened')).close();
  const log = await storage.openLog('reopened');
  // The header goes before the creation's fdatasync opens it: the folder never becomes durable.
  fs.rmSync(path.join(dir, 'logs', 'reopened', 'LOG'));
  const { durable } = log.append({ payload: payloadFor(0), timestamp: 0 });
  await assert.rejects(durable, (e) => isBrokerError(e, 'storage_failed'));
  await Promise.all([...others, log].map((l) => l.close().catch(() => undefined)));
  await storage.close();
});

test('a log reopened after its creation syncs failed runs them again before its first write', async () => {
  const dir = freshDir();
  const storage = await open(dir);
  const others = await takeSlots(storage);
  const header = path.join(dir, 'logs', 'retried', 'LOG');
  const failed = await storage.openLog('retried');
  const bytes = fs.readFileSync(header);
  fs.rmSync(header);
  await assert.rejects(failed.append({ payload: payloadFor(0), timestamp: 0 }).durable);
  await failed.close();
  // The header back, as written: the reopened log must still make it durable before confirming.
  fs.writeFileSync(header, bytes);
  others.push(...(await takeSlots(storage, ['third', 'fourth'])));
  const log = await storage.openLog('retried');
  fs.rmSync(header);
  const { durable } = log.append({ payload: payloadFor(1), timestamp: 1 });
  await assert.rejects(durable, (e) => isBrokerError(e, 'storage_failed'));
  fs.writeFileSync(header, bytes);
  await log.close();
  // Syncs that return make the log usable again.
  const healed = await storage.openLog('retried');
  await healed.append({ payload: payloadFor(2), timestamp: 2 }).durable;
  assert.equal(healed.endOffset, 1);
  await Promise.all([...others, healed].map((l) => l.close()));
  await storage.close();
});

test('a creation whose syncs fail confirms nothing appended past a roll either', async () => {
  const dir = freshDir();
  const storage = await FileStorage.open({
    dir,
    fsync: { kind: 'always' },
    softwareVersion: '0.2.0',
    limits: { segmentBytesMax: 1024 },
  });
  const others = await takeSlots(storage);
  const log = await storage.openLog('rolled');
  fs.rmSync(path.join(dir, 'logs', 'rolled', 'LOG'));
  // Enough for several segments before the first write: the later ones wait for the first one's seal.
  const appended = Array.from({ length: 40 }, (_, i) => log.append({ payload: payloadFor(i), timestamp: i }));
  const settled = await Promise.allSettled(appended.map((a) => a.durable));
  const confirmed = appended.filter((_, i) => settled[i]!.status === 'fulfilled').map((a) => a.offset);
  assert.deepEqual(confirmed, [], 'no offset confirmed in a log whose creation failed');
  await Promise.all([...others, log].map((l) => l.close().catch(() => undefined)));
  await storage.close();
});

test('logs deleted while their creation syncs wait leave nothing of them behind', async () => {
  const storage = await open(freshDir());
  const others = await takeSlots(storage);
  // Their folders move away before their syncs start: those fail, and concern no name any more.
  const logs = await takeSlots(storage, ['gone-1', 'gone-2', 'gone-3']);
  await Promise.all(logs.map((log) => log.delete()));
  await Promise.all(others.map((l) => l.close()));
  await storage.close();
  assert.equal(storage.creatingCount, 0);
});

test('a creation cut short by a failed file creation leaves no folder to reopen unsynced', async () => {
  const dir = freshDir();
  const storage = await open(dir);
  const segment = path.join(dir, 'logs', 'cut', segmentFileName(0, '.log'));
  const realOpen = fs.openSync;
  // The disk refuses the first segment's file, as a full one would.
  fs.openSync = ((file: fs.PathLike, ...rest: unknown[]) => {
    if (file === segment) throw Object.assign(new Error('no space left'), { code: 'ENOSPC' });
    return (realOpen as (...args: unknown[]) => number)(file, ...rest);
  }) as typeof fs.openSync;
  try {
    await assert.rejects(storage.openLog('cut'), (e) => isBrokerError(e, 'storage_failed'));
  } finally {
    fs.openSync = realOpen;
  }
  const others = await takeSlots(storage);
  const log = await storage.openLog('cut');
  // Its creation's syncs wait behind the slots: without its header they fail, and so does the append.
  fs.rmSync(path.join(dir, 'logs', 'cut', 'LOG'));
  const { durable } = log.append({ payload: payloadFor(0), timestamp: 0 });
  await assert.rejects(durable, (e) => isBrokerError(e, 'storage_failed'));
  await Promise.all([...others, log].map((l) => l.close().catch(() => undefined)));
  await storage.close();
});
