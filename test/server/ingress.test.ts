/**
 * The ingress budget's accounting, and the chunk queue frame readers keep their input in.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ChunkQueue } from '../../src/protocols/chunks.js';
import { type IngressAccount, IngressBudget } from '../../src/protocols/ingress.js';

/** An account whose pauses, resumes and eviction are recorded. */
function connection(budget: IngressBudget) {
  const seen = { paused: false, evicted: false, pauses: 0, resumes: 0 };
  const account: IngressAccount = budget.open({
    pause: () => {
      seen.paused = true;
      seen.pauses++;
    },
    resume: () => {
      seen.paused = false;
      seen.resumes++;
    },
    evict: () => {
      seen.evicted = true;
    },
  });
  return { account, seen };
}

test('ingress budget: counts what connections hold, and gives it back when they hand it on or close', () => {
  const budget = new IngressBudget({ bytesMax: 1000, unauthenticatedBytesMax: 500 });
  const a = connection(budget);
  const b = connection(budget);
  a.account.add(100);
  b.account.add(50);
  assert.deepEqual([budget.stats().bytes, budget.stats().unauthenticatedBytes], [150, 150]);
  a.account.authenticate();
  assert.deepEqual([budget.stats().bytes, budget.stats().unauthenticatedBytes], [150, 50]);
  a.account.remove(60);
  b.account.close();
  a.account.remove(1000);
  assert.deepEqual(budget.stats(), {
    bytes: 0,
    unauthenticatedBytes: 0,
    accounts: 1,
    paused: 0,
    exhaustions: 0,
    evictions: 0,
  });
  b.account.add(10);
  assert.equal(budget.stats().bytes, 0, 'a closed account counts nothing');
});

test('ingress budget: when spent, holders stop reading except the largest; all read again below the resume mark', () => {
  const budget = new IngressBudget({ bytesMax: 1000, unauthenticatedBytesMax: 1000 });
  const [small, large, idle] = [connection(budget), connection(budget), connection(budget)];
  for (const c of [small, large, idle]) c.account.authenticate();
  small.account.add(300);
  large.account.add(700);
  assert.equal(budget.stats().exhaustions, 1);
  assert.deepEqual([small.seen.paused, large.seen.paused, idle.seen.paused], [true, false, false]);
  // A connection holding nothing reads on (what arrives whole is handed on and never counted);
  // once it keeps part of a read, it stops too.
  idle.account.add(10);
  assert.equal(idle.seen.paused, true);
  large.account.add(500);
  assert.equal(large.seen.paused, false, 'the largest may finish its frame');
  assert.equal(budget.stats().paused, 2);
  large.account.remove(1200);
  assert.ok(budget.stats().bytes <= budget.resumeBytes);
  assert.deepEqual([small.seen.paused, idle.seen.paused], [false, false]);
  assert.equal(budget.stats().paused, 0);
});

test('ingress budget: the largest holder closing while spent lets the next largest read', () => {
  const budget = new IngressBudget({ bytesMax: 1000, unauthenticatedBytesMax: 1000 });
  const [a, b, c] = [connection(budget), connection(budget), connection(budget)];
  for (const x of [a, b, c]) x.account.authenticate();
  a.account.add(200);
  b.account.add(300);
  c.account.add(600);
  assert.deepEqual([a.seen.paused, b.seen.paused, c.seen.paused], [true, true, false]);
  c.account.close();
  assert.ok(budget.stats().bytes <= budget.resumeBytes, 'below the mark: everyone reads');
  assert.deepEqual([a.seen.paused, b.seen.paused], [false, false]);

  const budget2 = new IngressBudget({ bytesMax: 1000, unauthenticatedBytesMax: 1000 });
  const [d, e, f] = [connection(budget2), connection(budget2), connection(budget2)];
  for (const x of [d, e, f]) x.account.authenticate();
  d.account.add(450);
  e.account.add(460);
  f.account.add(470);
  f.account.close();
  assert.equal(budget2.stats().bytes, 910, 'still above the resume mark');
  assert.deepEqual([d.seen.paused, e.seen.paused], [true, false], 'the next largest reads on');
});

test('ingress budget: past the unauthenticated share, the longest holder that has not logged in is closed', () => {
  const budget = new IngressBudget({ bytesMax: 10_000, unauthenticatedBytesMax: 1000 });
  const stalled = [connection(budget), connection(budget), connection(budget)];
  for (const c of stalled) c.account.add(300);
  const loggedIn = connection(budget);
  loggedIn.account.authenticate();
  loggedIn.account.add(5000);
  const newcomer = connection(budget);
  newcomer.account.add(200);
  assert.deepEqual(
    stalled.map((c) => c.seen.evicted),
    [true, false, false],
  );
  assert.equal(newcomer.seen.evicted, false);
  assert.equal(loggedIn.seen.evicted, false);
  assert.deepEqual([budget.stats().unauthenticatedBytes, budget.stats().evictions], [800, 1]);
  // A single connection past the whole share on its own is the one to go, and the only one.
  const greedy = connection(budget);
  greedy.account.add(5000);
  assert.equal(greedy.seen.evicted, true);
  assert.deepEqual(
    [stalled[1]!.seen.evicted, stalled[2]!.seen.evicted, newcomer.seen.evicted],
    [false, false, false],
  );
  assert.equal(budget.stats().unauthenticatedBytes, 800);
});

describe('chunk queue', () => {
  test('joins a frame spread over chunks once, and hands out views when it lies in one', () => {
    const queue = new ChunkQueue();
    queue.push(Buffer.from([1, 2]));
    queue.push(Buffer.from([3]));
    queue.push(Buffer.from([4, 5, 6]));
    assert.equal(queue.byteLength, 6);
    assert.deepEqual([...queue.peek(4)], [1, 2, 3, 4]);
    assert.equal(queue.byteLength, 6, 'peek keeps the bytes');
    assert.deepEqual([...queue.take(4)], [1, 2, 3, 4]);
    const rest = queue.take(2);
    assert.deepEqual([...rest], [5, 6]);
    assert.equal(queue.byteLength, 0);
  });

  test('a small rest of a large read is copied, so it does not keep the read alive', () => {
    const queue = new ChunkQueue();
    const read = Buffer.alloc(64 * 1024, 7);
    queue.push(read);
    queue.take(read.length - 10);
    queue.settle();
    const rest = queue.take(10);
    assert.notEqual(rest.buffer, read.buffer);
    assert.deepEqual([...rest], Array(10).fill(7));
  });
});
