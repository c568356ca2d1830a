/**
 * Reads off the event loop (`Log.readOffThread`): the same entries as `read`, CRC-checked on storage's
 * read thread into the caller's shared buffers; bit rot still refused; a read racing the log's delete,
 * retention or close answers with what the log held at the call, never other bytes.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { isBrokerError } from '../../src/shared/errors.js';
import { offThreadReadBytesMin } from '../../src/storage/file/read-thread.js';
import { segmentFileName, segmentHeaderBytes } from '../../src/storage/file/segment.js';
import { FileStorage } from '../../src/storage/file/storage.js';
import type { Log, LogEntry, ReadBuffers, StorageLimits } from '../../src/storage/types.js';
import { removeDir, sameBytes, tempDir } from '../../testing/storage-fixtures.js';

const dirs: string[] = [];
after(() => dirs.forEach(removeDir));

/** 16 KiB payloads, each filled from its offset, so a payload read from the wrong place shows. */
const payloadBytes = 16 * 1024;
function payloadOf(offset: number): Uint8Array {
  const out = new Uint8Array(payloadBytes);
  for (let i = 0; i < out.length; i += 64) out[i] = (offset + i) & 0xff;
  out.fill(offset & 0xff, 1, 63);
  return out;
}

/** Lends fresh shared memory, as Fetch's pool does; `taken` counts what was lent. */
function sharedBuffers(): ReadBuffers & { taken: number } {
  return {
    taken: 0,
    shared: true,
    take(bytes: number) {
      this.taken++;
      return new Uint8Array(new SharedArrayBuffer(bytes));
    },
  };
}

async function openLog(limits: Partial<StorageLimits>, dir = tempDir()) {
  if (!dirs.includes(dir)) dirs.push(dir);
  const storage = await FileStorage.open({ dir, fsync: { kind: 'never' }, limits });
  return { storage, dir, log: await storage.openLog('events') };
}

const limits = { segmentBytesMax: 2 * 1024 * 1024 };

/** A log written in this run: its records are known good, so reads of them stay inline. */
async function written(count: number, dir?: string, more: Partial<StorageLimits> = {}) {
  const opened = await openLog({ ...limits, ...more }, dir);
  let last: Promise<void> | undefined;
  for (let i = 0; i < count; i++) last = opened.log.append({ payload: payloadOf(i), timestamp: i }).durable;
  await last;
  return opened;
}

/**
 * A log of `count` records written by an earlier run and opened again: no read has checked the records
 * before the last segment yet, so large reads of them go to the read thread ("Verified once").
 */
async function filled(count: number, dir?: string, more: Partial<StorageLimits> = {}) {
  const first = await written(count, dir, more);
  await first.storage.close();
  return openLog({ ...limits, ...more }, first.dir);
}

function assertEntries(entries: readonly LogEntry[], from: number): void {
  entries.forEach((e, i) => {
    assert.equal(e.offset, from + i);
    assert.ok(sameBytes(e.payload, payloadOf(e.offset)), `payload of ${e.offset}`);
  });
}

test('a large read off the thread returns what read returns, in the lent shared memory; a small one stays inline', async () => {
  const { storage, log } = await filled(300); // about two and a half segments
  try {
    for (const from of [0, 5, 126, 200]) {
      const buffers = sharedBuffers();
      const far = await log.readOffThread!(from, { maxBytes: 1024 * 1024, buffers });
      const near = log.read(from, { maxBytes: 1024 * 1024 });
      assert.ok(far.length > 0 && far.length <= near.length, `from ${from}`);
      assertEntries(far, from);
      assertEntries(near.slice(0, far.length), from);
      assert.ok(far.every((e) => e.payload.buffer instanceof SharedArrayBuffer));
    }
    // Fewer bytes than the threshold: read inline, into the lent buffers all the same.
    const small = await log.readOffThread!(10, {
      maxBytes: offThreadReadBytesMin / 4,
      buffers: sharedBuffers(),
    });
    assertEntries(small, 10);
    // Not shared memory: read inline, same entries.
    const plain = { take: (bytes: number) => new Uint8Array(bytes) };
    assertEntries(await log.readOffThread!(0, { maxBytes: 1024 * 1024, buffers: plain }), 0);
    // Whole log, step by step, as Fetch reads it.
    let next = 0;
    for (let calls = 0; next < 300 && calls < 100; calls++) {
      const entries = await log.readOffThread!(next, { maxBytes: 4 * 1024 * 1024, buffers: sharedBuffers() });
      assertEntries(entries, next);
      next = entries.at(-1)!.offset + 1;
    }
    assert.equal(next, 300);
  } finally {
    await storage.close();
  }
});

test('bit rot in a sealed segment is refused off the thread too, and only there', async () => {
  const first = await filled(300);
  await first.storage.close();
  // A payload byte of record 20 of the first segment, before its last index point: opening does not look.
  const fd = fs.openSync(path.join(first.dir, 'logs', 'events', segmentFileName(0, '.log')), 'r+');
  fs.writeSync(fd, Buffer.from([0x5a]), 0, 1, segmentHeaderBytes + 20 * (payloadBytes + 38) + 38 + 100);
  fs.closeSync(fd);
  const { storage, log } = await openLog(limits, first.dir);
  try {
    await assert.rejects(log.readOffThread!(0, { maxBytes: 1024 * 1024, buffers: sharedBuffers() }), (e) =>
      isBrokerError(e, 'storage_corrupt'),
    );
    await assert.rejects(log.readOffThread!(20, { maxBytes: 1024 * 1024, buffers: sharedBuffers() }), (e) =>
      isBrokerError(e, 'storage_corrupt'),
    );
    assertEntries(await log.readOffThread!(21, { maxBytes: 1024 * 1024, buffers: sharedBuffers() }), 21);
  } finally {
    await storage.close();
  }
});

/** Flips a payload byte of record `n` of the first segment, behind the log's back. */
function damage(dir: string, n: number): void {
  const fd = fs.openSync(path.join(dir, 'logs', 'events', segmentFileName(0, '.log')), 'r+');
  const at = segmentHeaderBytes + n * (payloadBytes + 38) + 38 + 100;
  const byte = Buffer.alloc(1);
  fs.readSync(fd, byte, 0, 1, at);
  fs.writeSync(fd, Buffer.from([byte[0]! ^ 0xff]), 0, 1, at);
  fs.closeSync(fd);
}

test('a bad record of a previous run is refused on every read, however the bytes around it were read before', async () => {
  const first = await filled(300);
  await first.storage.close();
  damage(first.dir, 20);
  const { storage, log } = await openLog(limits, first.dir);
  const corrupt = (e: unknown) => isBrokerError(e, 'storage_corrupt');
  try {
    // Records on both sides of it read well, off the thread and inline, and verify what they cover.
    assertEntries(await log.readOffThread!(21, { maxBytes: 1024 * 1024, buffers: sharedBuffers() }), 21);
    assertEntries(log.read(0, { maxEntries: 20 }).slice(0, 20), 0);
    for (let round = 0; round < 3; round++) {
      const far = log.readOffThread!(0, { maxBytes: 1024 * 1024, buffers: sharedBuffers() });
      await assert.rejects(far, corrupt, `round ${round}`);
      assert.throws(() => log.read(15, { maxBytes: 1024 * 1024 }), corrupt, `round ${round}`);
    }
  } finally {
    await storage.close();
  }
});

test('bytes verified once, or written by this process, are not checked again (docs/storage-format.md, "Verified once")', async () => {
  const first = await written(300);
  // Written in this run: damage now goes unseen, the CRC was this process's own.
  damage(first.dir, 30);
  assertEntries(
    (await first.log.readOffThread!(0, { maxEntries: 40, buffers: sharedBuffers() })).slice(0, 29),
    0,
  );
  await first.storage.close();
  // A new run: the first read checks the damaged record and refuses it, the next run's too.
  for (let run = 0; run < 2; run++) {
    const { storage, log } = await openLog(limits, first.dir);
    await assert.rejects(log.readOffThread!(0, { maxEntries: 40, buffers: sharedBuffers() }), (e) =>
      isBrokerError(e, 'storage_corrupt'),
    );
    await storage.close();
  }
});

test('reads under way when the log is deleted, its segments dropped or closed answer with the bytes it held', async () => {
  for (const race of ['delete', 'retention', 'close'] as const) {
    const { storage, log } = await filled(300);
    try {
      const reads = [0, 60, 130, 250].map((from) =>
        log.readOffThread!(from, { maxBytes: 1024 * 1024, buffers: sharedBuffers() }).then(
          (entries) => ({ from, entries }),
          (err: unknown) => ({ from, err }),
        ),
      );
      if (race === 'delete') await log.delete();
      else if (race === 'retention') log.applyRetention({ bytesMax: 1 }, Date.now());
      else await log.close();
      // Each read was under way (its descriptor pinned) before the race: it reads what the log held.
      for (const result of await Promise.all(reads)) {
        assert.ok(!('err' in result), `${race}: ${'err' in result ? String(result.err) : ''}`);
        assert.ok(result.entries.length > 0);
        assertEntries(result.entries, result.from);
      }
    } finally {
      await storage.close();
    }
    // Every descriptor the reads pinned was given back and closed.
    assert.equal(storage.openFileCount, 0, race);
  }
});

/**
 * Reads a log of 300 records from the start, 1 MiB per call, as a consumer does, checking each call's
 * entries against the records and against `read`.
 */
async function readThrough(log: Log): Promise<void> {
  let next = 0;
  for (let calls = 0; next < 300 && calls < 100; calls++) {
    const entries = await log.readOffThread!(next, { maxBytes: 1024 * 1024, buffers: sharedBuffers() });
    assertEntries(entries, next);
    assertEntries(log.read(next, { maxBytes: 1024 * 1024 }).slice(0, entries.length), next);
    next = entries.at(-1)!.offset + 1;
  }
  assert.equal(next, 300);
}

test('a reader going through the log gets every record once, in order, read on the thread or inline', async () => {
  // An earlier run's records are checked on the thread; records this run wrote are known good, read inline.
  for (const make of [filled, written]) {
    const { storage, log } = await make(300);
    try {
      await readThrough(log);
    } finally {
      await storage.close();
    }
  }
});

test('lent memory that is not shared is never taken for a read it cannot serve (legacy fetches)', async () => {
  const { storage, log } = await filled(300);
  try {
    const lent: number[] = [];
    const plain = { take: (bytes: number) => (lent.push(bytes), new Uint8Array(bytes)) };
    const entries = await log.readOffThread!(0, { maxBytes: 1024 * 1024, buffers: plain });
    assertEntries(entries, 0);
    const inline: number[] = [];
    const same = { take: (bytes: number) => (inline.push(bytes), new Uint8Array(bytes)) };
    log.read(0, { maxBytes: 1024 * 1024, buffers: same });
    // One buffer, the one the inline read reads into, as `read` itself takes: none taken first and left unused.
    assert.equal(lent.length, 1);
    assert.equal(inline.length, 1);
  } finally {
    await storage.close();
  }
});
