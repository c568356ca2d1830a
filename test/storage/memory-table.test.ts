/**
 * The in-memory log's entry table: entries kept as rows and payloads in shared slabs must read back
 * exactly as appended through appends, retention, truncation and rewrites, payloads already handed out
 * must never change, and dropped entries must give their bytes back.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryStorage } from '../../src/storage/memory.js';
import { EntryTable, slabBytesMax } from '../../src/storage/memory-table.js';
import type { LogEntry } from '../../src/storage/types.js';

/** A payload of `bytes` bytes whose content names `seed`. */
function payloadOf(seed: number, bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) out[i] = (seed * 31 + i) & 0xff;
  return out;
}

/** A deterministic generator (the test is the same every run). */
function lcg(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return x / 2 ** 31;
  };
}

const sizes = [0, 1, 100, 700, 5000, slabBytesMax + 17];

test('entries read back as appended through retention, truncation and rewrites; payloads handed out never change', async () => {
  const storage = MemoryStorage.create();
  const log = await storage.openLog('model');
  const random = lcg(7);
  /** The model: what each stored entry must read back as. */
  let model: { offset: number; count: number; timestamp: number; format: number; payload: Uint8Array }[] = [];
  const handedOut: { view: Uint8Array; copy: Uint8Array }[] = [];
  const stepsMax = 3000;
  for (let step = 0; step < stepsMax; step++) {
    const r = random();
    if (r < 0.7) {
      const payload = payloadOf(step, sizes[Math.floor(random() * sizes.length)]!);
      const count = 1 + Math.floor(random() * 3);
      const timestamp = 1_700_000_000_000 + step;
      const { offset } = log.append({ payload, count, timestamp, format: step % 4 });
      model.push({ offset, count, timestamp, format: step % 4, payload: payload.slice() });
      payload.fill(0xee); // the caller reuses its buffer
    } else if (r < 0.78 && model.length > 0) {
      const cut = model[Math.floor(random() * model.length)]!.offset;
      log.truncateBefore(cut);
      model = model.filter((e) => e.offset + e.count > cut);
    } else if (r < 0.86) {
      await log.rewrite(log.startOffset, (entry) => {
        const pick = (entry.offset * 7 + step) % 3;
        return pick === 0
          ? 'keep'
          : pick === 1
            ? 'drop'
            : payloadOf(entry.offset, entry.payload.byteLength % 300);
      });
      model = rewrittenModel(model, step);
    } else if (r < 0.9) {
      log.applyRetention({ bytesMax: Math.floor(log.sizeBytes * (0.5 + random() / 2)) }, Date.now());
      model = model.filter((e) => e.offset >= log.startOffset);
    } else {
      const got = log.read(log.startOffset, { maxEntries: 50, maxBytes: 1 << 30 });
      for (const entry of got) handedOut.push({ view: entry.payload, copy: entry.payload.slice() });
    }
  }
  assert.ok(
    model.length > 0 && handedOut.length > 0,
    'the run ends with entries stored and payloads handed out',
  );
  assertMatches(log.read(0, { maxEntries: 1_000_000, maxBytes: 1 << 30 }), model);
  for (const { view, copy } of handedOut) assert.deepEqual(view, copy, 'a payload handed out changed');
  await storage.close();
});

/** The model after the rewrite above: the first `rewriteEntriesMax` entries at most (all here are fewer or equal). */
function rewrittenModel(
  model: { offset: number; count: number; timestamp: number; format: number; payload: Uint8Array }[],
  step: number,
) {
  const visited = model.slice(0, 1024);
  const rest = model.slice(1024);
  const out = [];
  for (const e of visited) {
    const pick = (e.offset * 7 + step) % 3;
    if (pick === 0) out.push(e);
    else if (pick === 2) out.push({ ...e, payload: payloadOf(e.offset, e.payload.byteLength % 300) });
  }
  return [...out, ...rest];
}

function assertMatches(
  got: readonly LogEntry[],
  model: readonly { offset: number; count: number; timestamp: number; format: number; payload: Uint8Array }[],
) {
  assert.equal(got.length, model.length);
  got.forEach((entry, i) => {
    const want = model[i]!;
    assert.equal(entry.offset, want.offset);
    assert.equal(entry.count, want.count);
    assert.equal(entry.timestamp, want.timestamp);
    assert.equal(entry.maxTimestamp, want.timestamp);
    assert.equal(entry.format, want.format);
    assert.deepEqual(entry.payload, want.payload, `payload of offset ${want.offset}`);
  });
}

test('payloads share slabs, and dropped entries give their slabs back', () => {
  const table = new EntryTable();
  const entriesMax = 20_000;
  for (let i = 0; i < entriesMax; i++)
    table.push(i, { count: 1, timestamp: i, maxTimestamp: i, format: 1, payload: payloadOf(i, 256) });
  const held = table.slabBytesHeld;
  assert.ok(
    held >= entriesMax * 256 && held < entriesMax * 256 * 1.1,
    `${held} bytes held for ${entriesMax * 256}`,
  );
  table.dropFirst(entriesMax - 10);
  assert.ok(
    table.slabBytesHeld <= 2 * slabBytesMax,
    `${table.slabBytesHeld} bytes still held for 10 entries`,
  );
  assert.deepEqual(table.at(0).payload, payloadOf(entriesMax - 10, 256));
  table.dropFirst(10);
  assert.equal(table.length, 0);
  table.push(0, { count: 1, timestamp: 0, maxTimestamp: 0, format: 1, payload: payloadOf(1, 10) });
  assert.deepEqual(table.at(0).payload, payloadOf(1, 10));
});

test('a compacted range lets go of the slabs its dropped entries filled', () => {
  const table = new EntryTable();
  const entriesMax = 1024;
  const fields = (i: number) => ({
    count: 1,
    timestamp: i,
    maxTimestamp: i,
    format: 1,
    payload: payloadOf(i, 1000),
  });
  for (let i = 0; i < entriesMax; i++) table.push(i, fields(i));
  const before = table.slabBytesHeld;
  // Keep one entry in a hundred, as compaction keeps the last record of each key.
  const kept = [];
  for (let i = 0; i < entriesMax; i += 100) kept.push({ index: i });
  table.replace(0, entriesMax, kept);
  assert.equal(table.length, kept.length);
  assert.ok(table.slabBytesHeld < before / 4, `${table.slabBytesHeld} of ${before} bytes still held`);
  for (const [i, { index }] of kept.entries()) assert.deepEqual(table.at(i).payload, payloadOf(index, 1000));
});
