/**
 * Records whose payload carries its own CRC-32C (`AppendInput.payloadCrc32c`, record version 2): the
 * record's CRC-32 covers the header and the payload's first 21 bytes, the payload's checksum the rest.
 * Any damage is still caught, by the codec, recovery and both read paths; version 1 records written
 * before are read as they were, beside version 2 ones in the same segment.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { crc32 } from 'node:zlib';
import { isBrokerError } from '../../src/shared/errors.js';
import {
  decodeRecord,
  encodeRecord,
  type RecordFields,
  recordVersion,
  selfCheckedVersion,
} from '../../src/storage/file/record.js';
import { segmentFileName, segmentHeaderBytes } from '../../src/storage/file/segment.js';
import { FileStorage } from '../../src/storage/file/storage.js';
import type { Log, StorageLimits } from '../../src/storage/types.js';
import {
  payloadFor,
  removeDir,
  sameBytes,
  selfCheckedPayloadFor,
  tempDir,
} from '../../testing/storage-fixtures.js';

const dirs: string[] = [];
after(() => dirs.forEach(removeDir));

const payloadBytesMax = 1 << 20;
const headerBytes = 38;
const payloadBytes = 100;
const recordBytes = headerBytes + payloadBytes;

function fields(seed: number, bytes = payloadBytes): RecordFields {
  return {
    offset: seed,
    count: 1,
    timestamp: seed,
    maxTimestamp: seed,
    format: 3,
    payload: selfCheckedPayloadFor(seed, bytes),
    payloadCrc32c: true,
  };
}

test('a self-checked record is version 2, its CRC-32 over the header and the payload up to byte 21', () => {
  const bytes = Buffer.from(encodeRecord(fields(7)));
  assert.equal(bytes[8], selfCheckedVersion);
  assert.equal(bytes.readUInt32BE(4), crc32(bytes.subarray(8, headerBytes + 21)));
  const result = decodeRecord(bytes, 0, payloadBytesMax);
  assert.equal(result.kind, 'ok');
  if (result.kind === 'ok') assert.ok(sameBytes(result.record.payload, selfCheckedPayloadFor(7)));
});

test('flipping any bit of a self-checked record makes it corrupt or incomplete, never another entry', () => {
  const bytes = encodeRecord(fields(3, 64));
  for (let bit = 0; bit < bytes.byteLength * 8; bit++) {
    const mutated = Uint8Array.from(bytes);
    mutated[bit >> 3]! ^= 1 << (bit & 7);
    assert.notEqual(decodeRecord(mutated, 0, payloadBytesMax).kind, 'ok', `bit ${bit}`);
  }
});

test('a version 2 record whose payload checksum is wrong, or too short to carry one, is corrupt', () => {
  const wrong = encodeRecord({ ...fields(1), payload: payloadFor(1) });
  const found = decodeRecord(wrong, 0, payloadBytesMax);
  assert.deepEqual(found, { kind: 'corrupt', reason: 'payload CRC-32C mismatch' });
  // A version 1 record of 20 payload bytes with its version byte set to 2 and its CRC made to match.
  const short = Buffer.from(encodeRecord({ ...fields(2), payload: payloadFor(2, 20), payloadCrc32c: false }));
  short[8] = selfCheckedVersion;
  short.writeUInt32BE(crc32(short.subarray(8)), 4);
  assert.equal(decodeRecord(short, 0, payloadBytesMax).kind, 'corrupt');
  const v1 = encodeRecord({ ...fields(4), payloadCrc32c: false });
  assert.equal(v1[8], recordVersion);
});

async function withLog<T>(dir: string, fn: (log: Log) => Promise<T> | T, limits?: Partial<StorageLimits>) {
  const storage = await FileStorage.open({ dir, fsync: { kind: 'always' }, ...(limits ? { limits } : {}) });
  try {
    return await fn(await storage.openLog('events'));
  } finally {
    await storage.close();
  }
}

/** Entries 0..n-1, self-checked from `selfFrom` on (the ones before as version 1, as older files hold). */
async function appendAll(log: Log, from: number, to: number, selfFrom: number): Promise<void> {
  const results = [];
  for (let i = from; i < to; i++) {
    const self = i >= selfFrom;
    const payload = self ? selfCheckedPayloadFor(i) : payloadFor(i);
    results.push(log.append({ payload, timestamp: i, payloadCrc32c: self }));
  }
  await Promise.all(results.map((r) => r.durable));
}

function expected(i: number, selfFrom: number): Uint8Array {
  return i >= selfFrom ? selfCheckedPayloadFor(i) : payloadFor(i);
}

/** The log holds `count` entries as appended; from `selfFrom` on (and always the last, `tail`) self-checked ones. */
function assertIntact(log: Log, count: number, selfFrom: number, tail = count): void {
  assert.equal(log.endOffset, count);
  const entries = log.read(0);
  assert.equal(entries.length, count);
  for (const [i, e] of entries.entries()) {
    assert.ok(sameBytes(e.payload, expected(i, i >= tail ? 0 : selfFrom)), `entry ${i}`);
  }
}

async function prepared(count: number, selfFrom = 0, limits?: Partial<StorageLimits>): Promise<string> {
  const dir = tempDir();
  dirs.push(dir);
  await withLog(dir, (log) => appendAll(log, 0, count, selfFrom), limits);
  return dir;
}

const segmentPath = (dir: string) => path.join(dir, 'logs', 'events', segmentFileName(0, '.log'));

function flipByte(file: string, at: number): void {
  const fd = fs.openSync(file, 'r+');
  const byte = Buffer.alloc(1);
  fs.readSync(fd, byte, 0, 1, at);
  byte[0] = byte[0]! ^ 0x10;
  fs.writeSync(fd, byte, 0, 1, at);
  fs.closeSync(fd);
}

/** Reopened after damage: `good` entries kept, and the next append takes offset `good` and survives. */
async function recoversTo(dir: string, good: number, selfFrom = 0): Promise<void> {
  await withLog(dir, async (log) => {
    assertIntact(log, good, selfFrom);
    const next = log.append({ payload: selfCheckedPayloadFor(good), timestamp: good, payloadCrc32c: true });
    assert.equal(next.offset, good);
    await next.durable;
  });
  await withLog(dir, (log) => assertIntact(log, good + 1, selfFrom, good));
}

test('appended self-checked, entries read back whole, and the file holds version 2 records', async () => {
  const dir = await prepared(10);
  await withLog(dir, (log) => assertIntact(log, 10, 0));
  const file = fs.readFileSync(segmentPath(dir));
  for (let i = 0; i < 10; i++)
    assert.equal(file[segmentHeaderBytes + i * recordBytes + 8], selfCheckedVersion);
});

test('a self-checked record torn mid-way is dropped and the prefix kept', async () => {
  const dir = await prepared(10);
  fs.truncateSync(segmentPath(dir), segmentHeaderBytes + 7 * recordBytes + 80);
  await recoversTo(dir, 7);
});

test('a flipped byte in a payload past its checksum drops that record and everything after it', async () => {
  const dir = await prepared(10);
  flipByte(segmentPath(dir), segmentHeaderBytes + 6 * recordBytes + headerBytes + 60);
  await recoversTo(dir, 6);
});

test('a flipped byte in the payload bytes only the record CRC covers drops that record too', async () => {
  const dir = await prepared(10);
  flipByte(segmentPath(dir), segmentHeaderBytes + 4 * recordBytes + headerBytes + 3);
  await recoversTo(dir, 4);
});

test('an older file of version 1 records takes self-checked appends; both read back after restarts', async () => {
  const dir = await prepared(6, Number.POSITIVE_INFINITY);
  await withLog(dir, (log) => appendAll(log, 6, 12, 6));
  await withLog(dir, (log) => assertIntact(log, 12, 6));
  const file = fs.readFileSync(segmentPath(dir));
  assert.equal(file[segmentHeaderBytes + 5 * recordBytes + 8], recordVersion);
  assert.equal(file[segmentHeaderBytes + 6 * recordBytes + 8], selfCheckedVersion);
  // Damage to the last version 1 record drops it and the self-checked ones after it.
  flipByte(segmentPath(dir), segmentHeaderBytes + 5 * recordBytes + headerBytes + 50);
  await recoversTo(dir, 5, 6);
});

test('bit rot in a sealed segment past a payload checksum is refused on read, inline and off the thread', async () => {
  const limits = { segmentBytesMax: 2 * 1024 * 1024, indexIntervalBytes: 64 * 1024 };
  const big = 16 * 1024;
  const dir = tempDir();
  dirs.push(dir);
  await withLog(
    dir,
    async (log) => {
      const results = [];
      for (let i = 0; i < 200; i++) {
        results.push(
          log.append({ payload: selfCheckedPayloadFor(i, big), timestamp: i, payloadCrc32c: true }),
        );
      }
      await Promise.all(results.map((r) => r.durable));
    },
    limits,
  );
  // Inside entry 2, before the first index point past it, so opening does not rescan it.
  flipByte(segmentPath(dir), segmentHeaderBytes + 2 * (headerBytes + big) + headerBytes + 5000);
  await withLog(
    dir,
    async (log) => {
      assert.equal(log.read(0, { maxEntries: 2 }).length, 2);
      assert.throws(
        () => log.read(0),
        (e) => isBrokerError(e, 'storage_corrupt'),
      );
      const buffers = { shared: true, take: (n: number) => new Uint8Array(new SharedArrayBuffer(n)) };
      await assert.rejects(log.readOffThread!(0, { maxBytes: 1024 * 1024, buffers }), (e) =>
        isBrokerError(e, 'storage_corrupt'),
      );
      const later = await log.readOffThread!(10, { maxBytes: 1024 * 1024, buffers });
      assert.ok(
        later.length > 16 && later.every((e, i) => sameBytes(e.payload, selfCheckedPayloadFor(10 + i, big))),
      );
    },
    limits,
  );
});

test('an append that cannot carry its own checksum is refused', async () => {
  const dir = tempDir();
  dirs.push(dir);
  await withLog(dir, (log) => {
    assert.throws(
      () => log.append({ payload: payloadFor(0, 20), timestamp: 0, payloadCrc32c: true }),
      (e) => isBrokerError(e, 'invalid_argument'),
    );
  });
});
