/**
 * The data folder around the logs: the FORMAT stamp and refused upgrades, log headers, the trash, and
 * incarnations that keep growing across restarts.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { isBrokerError } from '../../src/shared/errors.js';
import { logHeaderBytes } from '../../src/storage/file/log-header.js';
import { openAlways, payloadFor, tempDirsOfFile } from '../../testing/storage-fixtures.js';

const freshDir = tempDirsOfFile();
const open = openAlways;

/** A folder as Switchyard 0.1 left it: logs and meta, no FORMAT. */
function formatOneDir(): string {
  const dir = freshDir();
  fs.mkdirSync(path.join(dir, 'logs', 'q._2f.orders'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'logs', 'q._2f.orders', '00000000000000000000.log'), Buffer.alloc(16));
  fs.mkdirSync(path.join(dir, 'meta'));
  fs.writeFileSync(path.join(dir, 'meta', 'journal'), '');
  return dir;
}

test('a new folder is stamped with its format; a reopen accepts it', async () => {
  const dir = freshDir();
  await (await open(dir)).close();
  const stamp = JSON.parse(fs.readFileSync(path.join(dir, 'FORMAT'), 'utf8'));
  assert.deepEqual(stamp, { storageFormat: 4, writtenBy: '0.2.0' });
  await (await open(dir)).close();
});

test('a folder written by Switchyard 0.1 is refused with one line naming both versions', async () => {
  const dir = formatOneDir();
  const before = fs.readdirSync(dir).sort();
  await assert.rejects(open(dir), (e) => {
    assert.ok(isBrokerError(e, 'invalid_state'));
    assert.equal(
      e.message,
      `Data folder ${dir} holds storage format 1 (Switchyard 0.1); this Switchyard 0.2.0 reads format 4 ` +
        'only (and upgrades 2, 3): start with an empty --data-dir or move the folder aside',
    );
    return true;
  });
  assert.deepEqual(fs.readdirSync(dir).sort(), before, 'nothing is written to a refused folder');
});

test('a folder of a newer format is refused the same way', async () => {
  const dir = freshDir();
  fs.writeFileSync(path.join(dir, 'FORMAT'), JSON.stringify({ storageFormat: 5, writtenBy: '0.4.0' }));
  await assert.rejects(
    open(dir),
    (e) =>
      isBrokerError(e, 'invalid_state') &&
      /holds storage format 5 \(Switchyard 0\.4\.0\); this Switchyard 0\.2\.0 reads format 4 only/.test(
        e.message,
      ),
  );
});

for (const older of [2, 3]) {
  test(`a folder of format ${older} is read as it is and restamped as format 4`, async () => {
    const dir = freshDir();
    fs.writeFileSync(path.join(dir, 'FORMAT'), JSON.stringify({ storageFormat: older, writtenBy: '0.2.0' }));
    await (await open(dir)).close();
    const stamp = JSON.parse(fs.readFileSync(path.join(dir, 'FORMAT'), 'utf8'));
    assert.deepEqual(stamp, { storageFormat: 4, writtenBy: '0.2.0', upgradedBy: '0.2.0' });
  });
}

test('a log folder without a valid header is treated as absent and replaced', async () => {
  const dir = freshDir();
  const first = await open(dir);
  const log = await first.openLog('torn');
  await log.append({ payload: payloadFor(0), timestamp: 0 }).durable;
  const incarnation = log.incarnation;
  await first.close();
  const header = path.join(dir, 'logs', 'torn', 'LOG');
  fs.truncateSync(header, logHeaderBytes - 3);
  fs.mkdirSync(path.join(dir, 'logs', 'bare'));
  fs.writeFileSync(path.join(dir, 'logs', 'bare', '00000000000000000000.log'), 'cut short');
  const second = await open(dir);
  const again = await second.openLog('torn');
  assert.equal(again.endOffset, 0, 'the folder was taken for one cut short while being created');
  assert.ok(again.incarnation > incarnation);
  const bare = await second.openLog('bare');
  assert.equal(bare.endOffset, 0);
  await second.close();
  assert.deepEqual(fs.readdirSync(path.join(dir, 'trash')), []);
});

test('a whole log header of an unknown version is refused, not removed', async () => {
  const dir = freshDir();
  const first = await open(dir);
  await (await first.openLog('future')).close();
  await first.close();
  const header = path.join(dir, 'logs', 'future', 'LOG');
  const bytes = fs.readFileSync(header);
  bytes.writeUInt16BE(9, 4);
  // Keep the checksum right, so the header is whole and only its version is foreign.
  const { crc32 } = await import('node:zlib');
  bytes.writeUInt32BE(crc32(bytes.subarray(0, 24)), 24);
  fs.writeFileSync(header, bytes);
  const second = await open(dir);
  await assert.rejects(second.openLog('future'), (e) => isBrokerError(e, 'storage_corrupt'));
  await second.close();
  assert.ok(fs.existsSync(header));
});

test('trash left by a crash is emptied at open; a delete finishes before close resolves', async () => {
  const dir = freshDir();
  await (await open(dir)).close();
  fs.mkdirSync(path.join(dir, 'trash', 'orders.123'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'trash', 'orders.123', '00000000000000000000.log'), 'old');
  const storage = await open(dir);
  assert.deepEqual(fs.readdirSync(path.join(dir, 'trash')), []);
  const log = await storage.openLog('orders');
  log.append({ payload: payloadFor(0), timestamp: 0 });
  void log.delete();
  assert.deepEqual(fs.readdirSync(path.join(dir, 'logs')), [], 'the name is free at once');
  await storage.close();
  assert.deepEqual(fs.readdirSync(path.join(dir, 'trash')), []);
});

test('a log whose reservation a crash lost still gets a larger incarnation when re-created', async () => {
  const dir = freshDir();
  const first = await open(dir);
  const a = await first.openLog('a');
  await first.close();
  // A crash before the reservation covering the log's number was renamed into place: its header is there.
  const reservation = path.join(dir, 'INCARNATION');
  const { storageFormat } = JSON.parse(fs.readFileSync(reservation, 'utf8')) as { storageFormat: number };
  fs.writeFileSync(reservation, JSON.stringify({ storageFormat, reservedTo: a.incarnation - 1 }));
  const realNow = Date.now;
  Date.now = () => realNow() - 3_600_000;
  try {
    const second = await open(dir);
    const reopened = await second.openLog('a');
    assert.equal(reopened.incarnation, a.incarnation);
    await reopened.delete();
    const again = await second.openLog('a');
    assert.ok(again.incarnation > a.incarnation, `${again.incarnation} > ${a.incarnation}`);
    await second.close();
  } finally {
    Date.now = realNow;
  }
});

test('incarnations keep growing across restarts, even with the clock set back', async () => {
  const dir = freshDir();
  const first = await open(dir);
  const a = await first.openLog('a');
  await first.close();
  const realNow = Date.now;
  Date.now = () => realNow() - 3_600_000;
  try {
    const second = await open(dir);
    const b = await second.openLog('b');
    assert.ok(b.incarnation > a.incarnation, `${b.incarnation} > ${a.incarnation}`);
    await b.delete();
    const again = await second.openLog('b');
    assert.ok(again.incarnation > b.incarnation);
    await second.close();
  } finally {
    Date.now = realNow;
  }
  const third = await open(dir);
  assert.equal((await third.openLog('a')).incarnation, a.incarnation, 'kept in the log header');
  await third.close();
});
