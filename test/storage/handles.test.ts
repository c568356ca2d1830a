/**
 * The handle cache: a bounded number of descriptors, least recently used closed first, pinned files
 * never closed under a call, pins beyond the bound served in order as room frees up.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { isBrokerError } from '../../src/shared/errors.js';
import { type CachedFile, HandleCache } from '../../src/storage/file/handles.js';
import { FileStorage } from '../../src/storage/file/storage.js';
import { SyncMoments } from '../../src/storage/file/sync-moments.js';
import { payloadFor, removeDir, tempDir } from '../../testing/storage-fixtures.js';
import { until } from '../../testing/wait.js';

const dir = tempDir();
after(() => removeDir(dir));

/** Files named by a letter, each holding that letter. */
function files(cache: HandleCache, names: string): CachedFile[] {
  return [...names].map((name) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, name);
    return cache.file(file);
  });
}

function contentOf(file: CachedFile): string {
  const buf = Buffer.alloc(1);
  fs.readSync(file.fd(), buf, 0, 1, 0);
  return buf.toString();
}

function openFds(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

test('the least recently used descriptor is closed first and reopened on demand', () => {
  const cache = new HandleCache(2);
  const [a, b, c] = files(cache, 'abc');
  assert.equal(contentOf(a!), 'a');
  assert.equal(contentOf(b!), 'b');
  assert.equal(contentOf(a!), 'a');
  assert.equal(contentOf(c!), 'c');
  assert.equal(cache.openCount, 2);
  assert.equal(b!.descriptor, -1, 'b was used least recently');
  assert.equal(contentOf(b!), 'b');
  assert.equal(a!.descriptor, -1);
  for (const file of [a, b, c]) file!.retire();
  assert.equal(cache.openCount, 0);
});

test('pinned files stay open; pins beyond the bound wait and are served in order', () => {
  const cache = new HandleCache(2);
  const [a, b, c, d] = files(cache, 'abcd');
  const served: string[] = [];
  const pin = (file: CachedFile, name: string) =>
    file.pin(
      () => served.push(name),
      (err) => served.push(`${name} failed: ${err.message}`),
    );
  pin(a!, 'a');
  pin(b!, 'b');
  pin(c!, 'c');
  pin(d!, 'd');
  assert.deepEqual(served, ['a', 'b'], 'c and d wait: both descriptors are pinned');
  assert.equal(contentOf(c!), 'c', 'a synchronous read never waits');
  assert.equal(cache.openCount, 3, 'it goes one over while every other file is pinned');
  a!.unpin();
  assert.deepEqual(served, ['a', 'b', 'c']);
  assert.equal(cache.openCount, 2);
  assert.equal(contentOf(a!), 'a');
  assert.equal(cache.openCount, 3);
  b!.unpin();
  assert.deepEqual(served, ['a', 'b', 'c', 'd']);
  assert.equal(cache.openCount, 2, 'back under the bound once pins go');
  c!.unpin();
  d!.unpin();
  for (const file of [a, b, c, d]) file!.retire();
  assert.equal(cache.openCount, 0);
});

test('retire closes at once, or when the last pin goes, and fails waiting pins', () => {
  const cache = new HandleCache(1);
  const [a, b] = files(cache, 'ab');
  let failure: Error | undefined;
  a!.pin(
    () => {},
    () => assert.fail('a is pinned at once'),
  );
  b!.pin(
    () => assert.fail('b never gets room'),
    (err) => {
      failure = err;
    },
  );
  b!.retire();
  assert.ok(isBrokerError(failure, 'invalid_state'), String(failure));
  a!.retire();
  assert.equal(cache.openCount, 1, 'a pinned file stays open until its call ends');
  a!.unpin();
  assert.equal(cache.openCount, 0);
  assert.throws(
    () => a!.fd(),
    (e) => isBrokerError(e, 'invalid_state'),
  );
});

test('a replaced file retired off the loop is freed in steps before its close; a linked one is left whole', async () => {
  // 1 GiB/s: three steps of 1 MiB a millisecond apart.
  const cache = new HandleCache(4, 1024 * 1024 * 1024);
  const [replaced, linked] = files(cache, 'rl');
  const bytes = 3 * 1024 * 1024 + 5;
  fs.writeFileSync(replaced!.path, Buffer.alloc(bytes, 1));
  fs.writeFileSync(linked!.path, Buffer.alloc(bytes, 2));
  // A descriptor of the test's own sees what the freeing does to the unlinked file.
  const watcher = fs.openSync(replaced!.path, 'r');
  try {
    replaced!.fd();
    linked!.fd();
    fs.unlinkSync(replaced!.path);
    replaced!.retire(true);
    linked!.retire(true);
    await until(
      () => cache.openCount === 0,
      10_000,
      () => `${cache.openCount} still open`,
    );
    assert.equal(fs.fstatSync(watcher).size, 0, 'the unlinked file was truncated before its close');
    assert.equal(fs.statSync(linked!.path).size, bytes, 'a file a name still reaches is never truncated');
  } finally {
    fs.closeSync(watcher);
  }
});

test("no freeing step of a replaced file starts while a producer's fdatasync runs", async () => {
  const moments = new SyncMoments(2);
  const cache = new HandleCache(4, 1024 * 1024 * 1024, moments);
  const [replaced] = files(cache, 'g');
  const bytes = 1024 * 1024 + 5;
  fs.writeFileSync(replaced!.path, Buffer.alloc(bytes, 1));
  const watcher = fs.openSync(replaced!.path, 'r');
  try {
    replaced!.fd();
    fs.unlinkSync(replaced!.path);
    const returned = moments.beforeSync();
    replaced!.retire(true);
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.equal(fs.fstatSync(watcher).size, bytes, 'a truncation would queue ahead of the producer');
    returned();
    await until(
      () => cache.openCount === 0,
      10_000,
      () => `${cache.openCount} still open`,
    );
    assert.equal(fs.fstatSync(watcher).size, 0, 'freed in the gaps once the fdatasync returned');
  } finally {
    fs.closeSync(watcher);
  }
});

test('a storage with many logs keeps at most openFilesMax segment files open', async () => {
  const baseline = openFds();
  const openFilesMax = 16;
  const storageDir = tempDir();
  after(() => removeDir(storageDir));
  const storage = await FileStorage.open({
    dir: storageDir,
    fsync: { kind: 'always' },
    limits: { openFilesMax },
  });
  const logs = [];
  for (let i = 0; i < 100; i++) logs.push(await storage.openLog(`log-${i}`));
  const durables = logs.map((log, i) => log.append({ payload: payloadFor(i), timestamp: i }).durable);
  await Promise.all(durables);
  await Promise.all(logs.map((log) => log.sync()));
  for (const [i, log] of logs.entries()) assert.equal(log.read(0)[0]!.payload[0], payloadFor(i)[0]);
  assert.ok(storage.openFileCount <= openFilesMax, `cache holds ${storage.openFileCount}`);
  // Nothing but the cache stays open.
  assert.ok(openFds() - baseline <= openFilesMax, `${openFds() - baseline} descriptors`);
  await storage.close();
  assert.equal(storage.openFileCount, 0);
  assert.equal(openFds(), baseline, 'close gives every descriptor back');
});
