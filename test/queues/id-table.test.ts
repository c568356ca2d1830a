/**
 * IdTable against a Map on seeded random sequences shaped like a queue's deliveries: ids mostly
 * growing and settled mostly in order, some delivered again below the span (requeued), some held
 * while a million later ones come and go, and the table emptied and started again.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IdTable } from '../../src/core/queues/id-table.js';
import { random } from '../../testing/fuzz/random.js';

function same(table: IdTable<string>, model: Map<number, string>, step: string): void {
  assert.equal(table.size, model.size, `${step}: size`);
  assert.deepEqual(
    table.ids().sort((a, b) => a - b),
    [...model.keys()].sort((a, b) => a - b),
    `${step}: ids`,
  );
}

for (const seed of [1, 2, 3, 4, 5]) {
  test(`an id table holds what a map holds (seed ${seed})`, () => {
    const { next } = random(seed);
    const table = new IdTable<string>();
    const model = new Map<number, string>();
    let id = 1;
    for (let step = 0; step < 30_000; step++) {
      const roll = next();
      if (roll < 0.45) {
        // A new delivery, now and then after a gap (ids taken by other queues or no-ack deliveries).
        id += next() < 0.05 ? Math.floor(next() * 5_000) : 1;
        table.set(id, `v${id}`);
        model.set(id, `v${id}`);
      } else if (roll < 0.5) {
        // Delivered again below the span: a requeued message keeps its id.
        const old = Math.max(1, id - Math.floor(next() * 3_000));
        if (!model.has(old)) {
          table.set(old, `r${old}`);
          model.set(old, `r${old}`);
        }
      } else if (roll < 0.9 && model.size > 0) {
        // Settled: mostly the oldest, sometimes any.
        const keys = [...model.keys()];
        const key = next() < 0.7 ? Math.min(...keys.slice(0, 50)) : keys[Math.floor(next() * keys.length)]!;
        assert.equal(table.delete(key), model.get(key), `delete ${key} at ${step}`);
        model.delete(key);
      } else if (roll < 0.99) {
        const probe = Math.max(1, id - Math.floor(next() * 4_000));
        assert.equal(table.get(probe), model.get(probe), `get ${probe} at ${step}`);
        assert.equal(table.has(probe), model.has(probe));
        assert.equal(table.delete(id + 10), undefined);
      } else {
        same(table, model, `step ${step}`);
        if (next() < 0.3) {
          for (const key of [...model.keys()]) assert.equal(table.delete(key), model.get(key));
          model.clear();
        }
      }
    }
    same(table, model, 'end');
  });
}

test('one id held while a million later ones come and go keeps the table small and finds it', () => {
  const table = new IdTable<string>();
  table.set(1, 'held');
  for (let id = 2; id < 1_000_000; id++) {
    table.set(id, 'x');
    assert.equal(table.delete(id), 'x');
  }
  assert.equal(table.size, 1);
  assert.equal(table.get(1), 'held');
  assert.deepEqual(table.ids(), [1]);
  table.set(5, 'again');
  assert.equal(table.get(1), 'held');
  assert.equal(table.delete(1), 'held');
  assert.deepEqual(table.ids(), [5]);
});

test('a burst of 100,000 held deliveries settled but for a few keeps memory for the few, not the burst', () => {
  const table = new IdTable<string>();
  for (let id = 1; id <= 100_000; id++) table.set(id, `v${id}`);
  const kept = new Set([1, 50_000, 99_999]);
  for (let id = 1; id <= 100_000; id++) if (!kept.has(id)) assert.equal(table.delete(id), `v${id}`);
  assert.ok(table.ringSlots <= 4096, `${table.ringSlots} ring slots kept for 3 deliveries`);
  for (const id of kept) assert.equal(table.get(id), `v${id}`);
  table.set(100_001, 'new');
  assert.equal(table.get(100_001), 'new');
  assert.deepEqual(
    table.ids().sort((a, b) => a - b),
    [1, 50_000, 99_999, 100_001],
  );
  for (const id of [...kept, 100_001]) assert.ok(table.delete(id) !== undefined);
  assert.equal(table.size, 0);
});
