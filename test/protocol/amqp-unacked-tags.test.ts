import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Unacked, UnackedTags } from '../../src/protocols/amqp/unacked-tags.js';

/** The same operations on a Map (what a channel used before), which keeps insertion = tag order. */
class Model {
  readonly map = new Map<number, Unacked>();
  take(tag: number): Unacked | undefined {
    const entry = this.map.get(tag);
    this.map.delete(tag);
    return entry;
  }
  takeUpTo(tag: number): Unacked[] {
    const taken: Unacked[] = [];
    for (const [t, entry] of this.map) {
      if (tag !== 0 && t > tag) break;
      taken.push(entry);
      this.map.delete(t);
    }
    return taken;
  }
}

function take(tags: UnackedTags, tag: number): Unacked | undefined {
  const queue = tags.take(tag);
  return queue === undefined ? undefined : { queue, id: tags.takenId };
}

/** A small seeded generator, so a failure repeats. */
function random(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1_103_515_245 + 12_345) % 2_147_483_648;
    return s / 2_147_483_648;
  };
}

test('acks in order, out of order, unknown and repeated tags answer as a map of tags would', () => {
  const tags = new UnackedTags();
  for (let tag = 1; tag <= 10; tag++) tags.set(tag, tag % 2 === 0 ? 'even' : 'odd', tag * 100);
  assert.equal(tags.size, 10);
  assert.deepEqual(take(tags, 1), { queue: 'odd', id: 100 });
  assert.deepEqual(take(tags, 5), { queue: 'odd', id: 500 });
  assert.equal(take(tags, 5), undefined, 'a tag acked twice is unknown the second time');
  assert.equal(take(tags, 11), undefined, 'a tag never delivered is unknown');
  assert.deepEqual(tags.takeUpTo(4), [
    { queue: 'even', id: 200 },
    { queue: 'odd', id: 300 },
    { queue: 'even', id: 400 },
  ]);
  assert.deepEqual(
    tags.takeAll().map((u) => u.id),
    [600, 700, 800, 900, 1000],
  );
  assert.equal(tags.size, 0);
  tags.set(12, 'q', 1);
  assert.deepEqual(take(tags, 12), { queue: 'q', id: 1 }, 'tags go on after everything was taken');
});

test('a delivery held while a million later ones come and go is still found, and in order', () => {
  const tags = new UnackedTags();
  tags.set(1, 'held', 7);
  let tag = 2;
  for (; tag < 1_000_000; tag++) {
    tags.set(tag, 'q', tag);
    assert.equal(tags.take(tag), 'q');
  }
  tags.set(tag, 'last', 9);
  assert.equal(tags.size, 2);
  assert.deepEqual(tags.takeUpTo(0), [
    { queue: 'held', id: 7 },
    { queue: 'last', id: 9 },
  ]);
});

test('random deliveries, skipped tags, lookups, single and multiple acks match the map, seeded', () => {
  // Acks mostly of the oldest (a consumer in order), and mostly of any tag (held ones left behind).
  for (const [seed, oldestShare] of [
    [1, 0.7],
    [2, 0.7],
    [3, 0.7],
    [4, 0.05],
    [5, 0.05],
    [6, 0.05],
  ] as const) {
    const next = random(seed);
    const tags = new UnackedTags();
    const model = new Model();
    let tag = 0;
    for (let step = 0; step < 20_000; step++) {
      const r = next();
      if (r < 0.5) {
        tag++;
        // A no-ack delivery takes a tag and is not held.
        if (next() < 0.1) continue;
        const entry = { queue: `q${Math.floor(next() * 3)}`, id: Math.floor(next() * 2 ** 40) };
        tags.set(tag, entry.queue, entry.id);
        model.map.set(tag, entry);
      } else if (r < 0.93) {
        // Mostly the oldest, sometimes any tag, sometimes one not held.
        const oldest = model.map.keys().next().value ?? tag;
        const pick = next() < oldestShare ? oldest : Math.floor(next() * (tag + 2));
        assert.equal(tags.has(pick), model.map.has(pick), `seed ${seed} step ${step} has ${pick}`);
        assert.deepEqual(take(tags, pick), model.take(pick), `seed ${seed} step ${step} tag ${pick}`);
      } else if (r < 0.99) {
        const upTo = Math.floor(next() * (tag + 1));
        assert.deepEqual(
          tags.takeUpTo(upTo),
          model.takeUpTo(upTo),
          `seed ${seed} step ${step} up to ${upTo}`,
        );
      } else {
        assert.deepEqual(tags.takeAll(), model.takeUpTo(0));
      }
      assert.equal(tags.size, model.map.size);
    }
  }
});

test('after a burst of 10,000 unacked deliveries is acked, later ones are held and found again', () => {
  const tags = new UnackedTags();
  for (let tag = 1; tag <= 10_000; tag++) tags.set(tag, 'q', tag);
  for (let tag = 1; tag <= 10_000; tag++) assert.equal(tags.take(tag), 'q');
  assert.equal(tags.size, 0);
  tags.set(10_003, 'r', 3);
  tags.set(10_004, 'r', 4);
  assert.equal(take(tags, 10_001), undefined);
  assert.deepEqual(tags.takeUpTo(10_004), [
    { queue: 'r', id: 3 },
    { queue: 'r', id: 4 },
  ]);
});

test('a large ring emptied by moving its last held delivery to the map holds the next delivery whole', () => {
  // 5,000 held grow the ring past 4,096 slots; all but the first are acked, then deliveries come and
  // go one at a time until the first one is moved out, which empties the ring and lets it go.
  const tags = new UnackedTags();
  for (let tag = 1; tag <= 5_000; tag++) tags.set(tag, 'q', tag * 10);
  for (let tag = 2; tag <= 5_000; tag++) assert.equal(tags.take(tag), 'q');
  for (let tag = 5_001; tag <= 20_000; tag++) {
    tags.set(tag, 'q', tag * 10);
    assert.deepEqual(take(tags, tag), { queue: 'q', id: tag * 10 }, `tag ${tag}`);
  }
  assert.deepEqual(tags.takeAll(), [{ queue: 'q', id: 10 }]);
});

test('a burst of 100,000 held deliveries acked but for a few keeps memory for the few, not the burst', () => {
  const tags = new UnackedTags();
  for (let tag = 1; tag <= 100_000; tag++) tags.set(tag, 'q', tag);
  const kept = new Set([1, 50_000, 99_999]);
  for (let tag = 1; tag <= 100_000; tag++) if (!kept.has(tag)) assert.equal(tags.take(tag), 'q');
  assert.ok(tags.ringSlots <= 4096, `${tags.ringSlots} ring slots kept for 3 deliveries`);
  tags.set(100_001, 'r', 1);
  assert.deepEqual(
    tags.takeAll().map((u) => u.id),
    [1, 50_000, 99_999, 1],
  );
});
