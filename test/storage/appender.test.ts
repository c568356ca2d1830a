import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { type FileIo, realIo, writeChunks } from '../../src/storage/file/io.js';
import { heldDisk, syncingAppender, turn } from '../../testing/storage-fixtures.js';

test('a batch is written while the previous one is fdatasynced, and they settle in order', async () => {
  const disk = heldDisk();
  const appender = syncingAppender(disk.io);
  const settled: string[] = [];
  appender.enqueue(Buffer.from('a')).then(
    () => settled.push('a'),
    () => settled.push('a failed'),
  );
  await turn();
  disk.writes.shift()!(null);
  assert.equal(disk.syncs.length, 1);
  appender.enqueue(Buffer.from('b')).then(
    () => settled.push('b'),
    () => settled.push('b failed'),
  );
  await turn();
  assert.equal(disk.writes.length, 1, 'b is written while a is being fdatasynced');
  disk.writes.shift()!(null);
  assert.equal(disk.syncs.length, 1, 'b waits for an fdatasync that starts after its write');
  disk.syncs.shift()!(null);
  await turn();
  assert.deepEqual(settled, ['a']);
  disk.syncs.shift()!(null);
  await turn();
  assert.deepEqual(settled, ['a', 'b']);
});

/** An appender on a held disk, and `track`, which notes in `settled` how each promise settles, in order. */
function trackedAppender() {
  const disk = heldDisk();
  const appender = syncingAppender(disk.io);
  const settled: string[] = [];
  const track = (name: string, p: Promise<void>): void => {
    p.then(
      () => settled.push(name),
      () => settled.push(`${name} failed`),
    );
  };
  return { disk, appender, settled, track };
}

test('a failed write fails its batch and every later one, after earlier ones settle', async () => {
  const { disk, appender, settled, track } = trackedAppender();
  track('a', appender.enqueue(Buffer.from('a')));
  await turn();
  disk.writes.shift()!(null);
  track('b', appender.enqueue(Buffer.from('b')));
  await turn();
  track('c', appender.enqueue(Buffer.from('c')));
  disk.writes.shift()!(Object.assign(new Error('no space'), { code: 'ENOSPC' }));
  await turn();
  assert.deepEqual(settled, [], 'nothing settles while the fdatasync of a is in flight');
  disk.syncs.shift()!(null);
  await turn();
  assert.deepEqual(settled, ['a', 'b failed', 'c failed']);
  assert.equal(disk.writes.length, 0, 'nothing is written after the failure');
  await assert.rejects(appender.sync(), /ENOSPC/);
});

test('a batch of several chunks goes out in one pwritev, and a short one continues where it stopped', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-writev-'));
  try {
    const fd = openSync(join(dir, 'f'), 'w+');
    const calls: string[] = [];
    const io: FileIo = {
      write: (fd, data, position, done) => {
        calls.push(`write ${data.byteLength}`);
        realIo.write(fd, data, position, done);
      },
      fdatasync: realIo.fdatasync,
      // Takes only the first chunk, as a short pwritev would.
      writev: (fd, data, position, done) => {
        calls.push(`writev ${data.length}`);
        realIo.write(fd, data[0]!, position, done);
      },
    };
    const chunks = [Buffer.from('abc'), Buffer.from('defg'), Buffer.from('hi')];
    await new Promise<void>((resolve, reject) =>
      writeChunks(io, fd, chunks, 9, 1, (err) => (err ? reject(err) : resolve())),
    );
    assert.deepEqual(calls, ['writev 3', 'writev 2', 'write 2']);
    const whole = [Buffer.from('xyz'), Buffer.from('12')];
    await new Promise<void>((resolve, reject) =>
      writeChunks(realIo, fd, whole, 5, 10, (err) => (err ? reject(err) : resolve())),
    );
    assert.equal(readFileSync(join(dir, 'f')).subarray(1).toString(), 'abcdefghixyz12');
    closeSync(fd);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('more chunks than one pwritev takes go out in several, in order', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-writev-'));
  try {
    const fd = openSync(join(dir, 'f'), 'w+');
    const groups: number[] = [];
    const io: FileIo = {
      ...realIo,
      writev: (fd, data, position, done) => {
        groups.push(data.length);
        realIo.writev!(fd, data, position, done);
      },
    };
    const chunks = Array.from({ length: 2500 }, (_, i) => Buffer.from([i & 0xff, i >> 8]));
    await new Promise<void>((resolve, reject) =>
      writeChunks(io, fd, chunks, 5000, 0, (err) => (err ? reject(err) : resolve())),
    );
    assert.deepEqual(groups, [1024, 1024, 452]);
    assert.ok(readFileSync(join(dir, 'f')).equals(Buffer.concat(chunks)));
    closeSync(fd);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a lazy record waits for the next append and goes out in its write and fdatasync', async () => {
  const disk = heldDisk();
  const appender = syncingAppender(disk.io, { lazyDelayMs: 60_000 });
  const lazy = appender.enqueue(Buffer.from('lazy'), true);
  await turn();
  await turn();
  assert.equal(disk.writes.length, 0, 'a lazy record alone does not start a write');
  const next = appender.enqueue(Buffer.from('next'));
  await turn();
  assert.equal(disk.writes.length, 1, 'one write carries both');
  disk.writes.shift()!(null);
  assert.equal(disk.syncs.length, 1);
  disk.syncs.shift()!(null);
  await Promise.all([lazy, next]);
  assert.equal(disk.writes.length + disk.syncs.length, 0);
});

test('a lazy record with no company is written all the same, in order after a write in flight', async () => {
  const disk = heldDisk();
  const appender = syncingAppender(disk.io, { lazyDelayMs: 1 });
  const settled: string[] = [];
  void appender.enqueue(Buffer.from('a')).then(() => settled.push('a'));
  await turn();
  void appender.enqueue(Buffer.from('b'), true).then(() => settled.push('b'));
  disk.writes.shift()!(null); // a written: b follows at once, without waiting for the delay
  assert.equal(disk.writes.length, 1);
  disk.writes.shift()!(null);
  disk.syncs.shift()!(null);
  disk.syncs.shift()!(null);
  void appender.enqueue(Buffer.from('c'), true).then(() => settled.push('c'));
  const written = () => disk.writes.length;
  for (let tries = 0; written() === 0 && tries < 1000; tries++)
    await new Promise((resolve) => setTimeout(resolve, 2));
  assert.equal(written(), 1, 'written once the delay ran out');
  disk.writes.shift()!(null);
  disk.syncs.shift()!(null);
  for (let tries = 0; settled.length < 3 && tries < 100; tries++) await turn();
  assert.deepEqual(settled, ['a', 'b', 'c']);
});

test('whenWritten resolves once the batch is written, before its fdatasync, and rejects when the write fails', async () => {
  const { disk, appender, settled: seen, track } = trackedAppender();
  track('durable a', appender.enqueue(Buffer.from('a')));
  track('written a', appender.whenWritten());
  await turn();
  assert.deepEqual(seen, [], 'not before the write');
  disk.writes.shift()!(null);
  await turn();
  assert.deepEqual(seen, ['written a'], 'written, its fdatasync still running');
  track('durable b', appender.enqueue(Buffer.from('b')));
  track('written b', appender.whenWritten());
  await turn();
  disk.writes.shift()!(Object.assign(new Error('no space'), { code: 'ENOSPC' }));
  disk.syncs.shift()!(null);
  await turn();
  assert.deepEqual(seen, ['written a', 'durable a', 'written b failed', 'durable b failed']);
  await assert.rejects(appender.whenWritten(), /ENOSPC/);
});
