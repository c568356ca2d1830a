/**
 * The ready list against a plain model: random enqueues (in order and requeued into place),
 * shifts, per-level shifts and read-ahead attaches over many slots, so the bodies held beside the
 * columns follow their messages through every move, regrowth and release.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type QueuedMessage, ReadyList } from '../../src/core/queues/ready-list.js';
import type { Message } from '../../src/core/types.js';
import { random } from '../../testing/fuzz/random.js';
import { collectGarbage } from '../../testing/queue-memory.js';

const bodyOf = (id: number): Message => ({
  exchange: '',
  routingKey: 'q',
  body: Uint8Array.of(id & 0xff),
  properties: { headers: [] },
});

function queued(id: number, priority: number, inMemory: boolean): QueuedMessage {
  return {
    id,
    priority,
    offset: id * 10,
    bodyBytes: 1,
    expiresAtMs: undefined,
    deliveryCount: 0,
    redelivered: false,
    message: inMemory ? bodyOf(id) : undefined,
    holder: undefined,
  };
}

interface Model {
  id: number;
  priority: number;
  inMemory: boolean;
}

function modelShift(model: Model[], priority?: number): Model | undefined {
  let best = -1;
  for (let i = 0; i < model.length; i++) {
    const m = model[i]!;
    if (priority !== undefined && m.priority !== priority) continue;
    const b = model[best];
    if (b === undefined || m.priority > b.priority || (m.priority === b.priority && m.id < b.id)) best = i;
  }
  return best < 0 ? undefined : model.splice(best, 1)[0];
}

function check(got: QueuedMessage | undefined, want: Model | undefined, step: string): void {
  assert.equal(got?.id, want?.id, step);
  if (got === undefined || want === undefined) return;
  assert.equal(got.priority, want.priority, step);
  assert.equal(got.message !== undefined, want.inMemory, `${step}: body held`);
  if (got.message !== undefined) assert.equal(got.message.body[0], want.id & 0xff, `${step}: its own body`);
}

for (const seed of [1, 2, 3, 4]) {
  test(`bodies follow their messages through moves and releases (seed ${seed})`, () => {
    const { next } = random(seed);
    const priorityMax = seed % 2 === 0 ? 0 : 3;
    const list = new ReadyList(priorityMax);
    const model: Model[] = [];
    const taken: Model[] = [];
    let id = 1;
    for (let step = 0; step < 20_000; step++) {
      const roll = next();
      // Phases of filling and draining make the levels grow, compact and release their columns.
      const filling = Math.floor(step / 2_500) % 2 === 0;
      if (roll < (filling ? 0.55 : 0.3)) {
        const m = { id: id++, priority: Math.floor(next() * (priorityMax + 1)), inMemory: next() < 0.7 };
        list.insert(queued(m.id, m.priority, m.inMemory));
        model.push(m);
      } else if (roll < 0.65 && taken.length > 0) {
        const m = taken.splice(Math.floor(next() * taken.length), 1)[0]!;
        list.insert(queued(m.id, m.priority, m.inMemory));
        model.push(m);
      } else if (roll < 0.9) {
        const m = modelShift(model);
        check(list.shift(), m, `shift at ${step}`);
        if (m !== undefined && next() < 0.3) taken.push(m);
      } else if (roll < 0.95) {
        const priority = Math.floor(next() * (priorityMax + 1));
        check(list.shiftLevel(priority), modelShift(model, priority), `shiftLevel at ${step}`);
      } else {
        const priority = Math.floor(next() * (priorityMax + 1));
        const paged = list.paged(priority, 8);
        const want = model
          .filter((m) => m.priority === priority)
          .sort((a, b) => a.id - b.id)
          .slice(0, 8)
          .filter((m) => !m.inMemory);
        assert.deepEqual(
          paged.map((p) => p.id),
          want.map((m) => m.id),
          `paged at ${step}`,
        );
        const first = want[0];
        if (first !== undefined) {
          list.attach(first.id, bodyOf(first.id));
          first.inMemory = true;
        }
      }
      assert.equal(list.count, model.length);
    }
    while (model.length > 0) check(list.shift(), modelShift(model), 'drain');
    assert.equal(list.shift(), undefined);
  });
}

test('a durable backlog of 1,000,000 with a few bodies in memory keeps no reference per message', () => {
  const count = 1_000_000;
  // The bodies a queue holds while the rest of its backlog is on disk: the first ones and a read-ahead run.
  const inMemory = (id: number) => id <= 1000 || (id > 500_000 && id <= 501_000);
  const list = new ReadyList(0);
  collectGarbage();
  const before = process.memoryUsage().heapUsed;
  for (let id = 1; id <= count; id++) list.insert(queued(id, 0, inMemory(id)));
  collectGarbage();
  const grownBytes = process.memoryUsage().heapUsed - before;
  // A column of references costs 8 bytes a slot (12 MB here); 2,000 bodies by id cost far less.
  assert.ok(grownBytes < 4 * 1024 * 1024, `the list's heap grew ${grownBytes} bytes`);
  for (let id = 1; id <= count; id++) {
    const m = list.shift();
    assert.equal(m?.id, id);
    if (inMemory(id)) assert.deepEqual(m.message, bodyOf(id), `body of ${id}`);
    else assert.equal(m.message, undefined, `no body for ${id}`);
  }
  assert.equal(list.count, 0);
});
