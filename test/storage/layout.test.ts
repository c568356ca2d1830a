/**
 * `Log.layout`: the entries a read would return, told from memory before reading them (a streamed Fetch
 * answer states its size first). Where it answers, it must be exactly what `read` returns, across
 * segments, within the byte, entry and offset bounds; where the index cannot tell (several records per
 * gap, another format, records not yet known good after a restart) it answers nothing rather than guess.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { FileStorage } from '../../src/storage/file/storage.js';
import type { LayoutOptions, Log, StorageLimits } from '../../src/storage/types.js';
import { removeDir, tempDir } from '../../testing/storage-fixtures.js';

const dirs: string[] = [];
after(() => dirs.forEach(removeDir));

const format = 0x4b;

async function openLog(limits: Partial<StorageLimits>, dir = tempDir()) {
  if (!dirs.includes(dir)) dirs.push(dir);
  const storage = await FileStorage.open({ dir, fsync: { kind: 'never' }, limits });
  return { storage, dir, log: await storage.openLog('events') };
}

/** Appends entries of `sizes` bytes covering 3 offsets each; the last append's durability awaited. */
async function appendAll(log: Log, sizes: readonly number[], as = format): Promise<void> {
  let last: Promise<void> | undefined;
  sizes.forEach((bytes, i) => {
    last = log.append({
      payload: new Uint8Array(bytes).fill(i & 0xff),
      count: 3,
      timestamp: i,
      format: as,
    }).durable;
  });
  await last;
}

function options(more: Partial<LayoutOptions> = {}): LayoutOptions {
  return { maxBytes: 1 << 30, maxEntries: 100_000, endOffset: Number.MAX_SAFE_INTEGER, format, ...more };
}

/** What `read` returns from `offset` under the same bounds, as layouts. */
function readAsLayout(log: Log, offset: number, o: LayoutOptions) {
  const out: Array<{ offset: number; count: number; payloadBytes: number }> = [];
  let from = offset;
  while (out.length < o.maxEntries) {
    const budget = o.maxBytes - out.reduce((n, e) => n + e.payloadBytes, 0);
    if (out.length > 0 && budget <= 0) break;
    const got = log.read(from, { maxBytes: budget, maxEntries: o.maxEntries - out.length });
    if (got.length === 0) break;
    for (const e of got) {
      if (e.offset >= o.endOffset) return out;
      if (out.length > 0 && e.payload.byteLength > o.maxBytes - out.reduce((n, x) => n + x.payloadBytes, 0))
        return out;
      out.push({ offset: e.offset, count: e.count, payloadBytes: e.payload.byteLength });
    }
    from = got.at(-1)!.offset + got.at(-1)!.count;
  }
  return out;
}

/** Entries of 5–40 KiB: every one past the index interval, so each gap holds one record. */
const sizes = Array.from({ length: 120 }, (_, i) => 5_000 + ((i * 7919) % 35_000));

test('records of one format, one per index gap: the layout is what the read returns, across segments', async () => {
  const { log, storage } = await openLog({ segmentBytesMax: 512 * 1024 });
  try {
    await appendAll(log, sizes);
    for (const offset of [0, 1, 3, 44, 200, 358])
      for (const o of [
        options(),
        options({ maxBytes: 300_000 }),
        options({ maxEntries: 7 }),
        options({ endOffset: 150 }),
      ]) {
        const laid = log.layout!(offset, o);
        assert.deepEqual(laid, readAsLayout(log, offset, o), `from ${offset} ${JSON.stringify(o)}`);
      }
    assert.deepEqual(log.layout!(log.endOffset, options()), []);
  } finally {
    await storage.close();
  }
});

test('records appended and not yet written are laid out as a read serves them from memory', async () => {
  const { log, storage } = await openLog({ segmentBytesMax: 8 * 1024 * 1024 });
  try {
    await appendAll(log, sizes.slice(0, 10));
    log.append({ payload: new Uint8Array(9_000), count: 3, timestamp: 1, format });
    assert.deepEqual(log.layout!(0, options()), readAsLayout(log, 0, options()));
  } finally {
    await storage.close();
  }
});

test('gaps of several records, another format, or records after a restart are not laid out', async () => {
  const dir = tempDir();
  let { log, storage } = await openLog({ segmentBytesMax: 256 * 1024 }, dir);
  await appendAll(log, sizes.slice(0, 40));
  const small = log.endOffset;
  try {
    assert.ok(log.layout!(0, options()) !== undefined, 'the large records are laid out');
    // Small records: several to an index gap, whose sizes the index cannot tell.
    await appendAll(
      log,
      Array.from({ length: 40 }, () => 300),
    );
    const other = log.endOffset;
    // A segment holding a record of another format is never laid out (its other records neither).
    await appendAll(log, [20_000], 0x01);
    assert.equal(log.layout!(small, options()), undefined, 'several records per gap');
    assert.equal(log.layout!(other, options()), undefined, 'a record of another format');
    assert.equal(log.layout!(0, options({ format: 0x01 })), undefined, 'records of the format not asked');
  } finally {
    await storage.close();
  }
  ({ log, storage } = await openLog({ segmentBytesMax: 256 * 1024 }, dir));
  try {
    // Sealed segments opened from their index files: their earlier gaps were never seen by this run.
    assert.equal(log.layout!(0, options({ endOffset: small })), undefined);
  } finally {
    await storage.close();
  }
});
