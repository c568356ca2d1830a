/**
 * The fetch session cache (KIP-227) in memory on a manual clock: how a Fetch is served for each
 * session id and epoch, and the bounded cache evicting only sessions idle long enough.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../src/core/index.js';
import { KafkaError } from '../../src/protocols/kafka/errors.js';
import { FetchSessionCache, type FetchSessionRequest } from '../../src/protocols/kafka/fetch-sessions.js';

const p0 = { topic: 't', partition: 0, fetchOffset: 0, maxBytes: 1024 };
const p1 = { topic: 't', partition: 1, fetchOffset: 0, maxBytes: 1024 };

function full(partitions = [p0, p1], sessionId = 0): FetchSessionRequest {
  return { sessionId, sessionEpoch: 0, partitions, forgotten: [] };
}

function opened(cache: FetchSessionCache, request = full()): number {
  const c = cache.context(request);
  assert.equal(c.kind, 'full');
  return c.kind === 'full' ? c.session.id : 0;
}

test('a full request opens a session; incremental ones must carry the next epoch', () => {
  const cache = new FetchSessionCache(new ManualClock());
  const id = opened(cache);
  assert.notEqual(id, 0);
  const next = cache.context({ sessionId: id, sessionEpoch: 1, partitions: [], forgotten: [] });
  assert.equal(next.kind, 'incremental');
  if (next.kind === 'incremental') assert.deepEqual([...next.session.partitions.keys()], ['0:t', '1:t']);
  const replay = cache.context({ sessionId: id, sessionEpoch: 1, partitions: [], forgotten: [] });
  assert.deepEqual(replay, { kind: 'error', errorCode: KafkaError.invalidFetchSessionEpoch });
  const unknown = cache.context({ sessionId: id + 1, sessionEpoch: 1, partitions: [], forgotten: [] });
  assert.deepEqual(unknown, { kind: 'error', errorCode: KafkaError.fetchSessionIdNotFound });
});

test('incremental requests update positions, add and forget partitions', () => {
  const cache = new FetchSessionCache(new ManualClock());
  const id = opened(cache, full([p0]));
  const c = cache.context({
    sessionId: id,
    sessionEpoch: 1,
    partitions: [{ ...p0, fetchOffset: 7 }, p1],
    forgotten: [],
  });
  assert.equal(c.kind, 'incremental');
  if (c.kind !== 'incremental') return;
  assert.equal(c.session.partitions.get('0:t')?.fetchOffset, 7);
  assert.equal(c.session.partitions.size, 2);
  cache.context({
    sessionId: id,
    sessionEpoch: 2,
    partitions: [],
    forgotten: [{ topic: 't', partitions: [0] }],
  });
  assert.deepEqual([...c.session.partitions.keys()], ['1:t']);
});

test('epoch -1 closes the session and is served without one', () => {
  const cache = new FetchSessionCache(new ManualClock());
  const id = opened(cache);
  const close = cache.context({ sessionId: id, sessionEpoch: -1, partitions: [p0], forgotten: [] });
  assert.equal(close.kind, 'sessionless');
  assert.equal(cache.size, 0);
  const after = cache.context({ sessionId: id, sessionEpoch: 1, partitions: [], forgotten: [] });
  assert.deepEqual(after, { kind: 'error', errorCode: KafkaError.fetchSessionIdNotFound });
});

test('a full cache refuses new sessions until the least recently used one has been idle long enough', () => {
  const clock = new ManualClock();
  const cache = new FetchSessionCache(clock, 2, 1000);
  const a = opened(cache);
  const b = opened(cache);
  assert.equal(cache.context(full()).kind, 'sessionless', 'no slot free and none idle');
  clock.advance(600);
  cache.context({ sessionId: a, sessionEpoch: 1, partitions: [], forgotten: [] }); // a is used again
  clock.advance(600);
  // b has been idle 1200 ms, a 600 ms: b goes.
  const c = opened(cache);
  assert.equal(cache.size, 2);
  assert.equal(cache.context({ sessionId: b, sessionEpoch: 1, partitions: [], forgotten: [] }).kind, 'error');
  assert.equal(
    cache.context({ sessionId: a, sessionEpoch: 2, partitions: [], forgotten: [] }).kind,
    'incremental',
  );
  assert.notEqual(c, a);
});

test('a session flood never grows the cache past its slots', () => {
  const clock = new ManualClock();
  const cache = new FetchSessionCache(clock, 50, 10);
  for (let i = 0; i < 5000; i++) {
    cache.context(full());
    clock.advance(1);
  }
  assert.equal(cache.size, 50);
});

const many = (n: number) => Array.from({ length: n }, (_, partition) => ({ ...p0, partition }));

test('sessions hold at most fetchSessionCachePartitionsMax partitions together; past it a fetch goes sessionless', () => {
  const clock = new ManualClock();
  const cache = new FetchSessionCache(clock, 1000, 1000, 250);
  opened(cache, full(many(100)));
  opened(cache, full(many(100)));
  assert.equal(cache.context(full(many(100))).kind, 'sessionless', 'room for 50 partitions, none idle');
  assert.equal(cache.partitions, 200);
  opened(cache, full(many(50)));
  assert.equal(cache.partitions, 250);
  clock.advance(1000);
  // Idle long enough: the least recently used sessions make room, as for a slot.
  opened(cache, full(many(150)));
  assert.equal(cache.partitions, 200);
  assert.equal(cache.context(full(many(251))).kind, 'sessionless', 'more than the whole cache');
});

test('an incremental fetch growing the sessions past the bound loses its session', () => {
  const cache = new FetchSessionCache(new ManualClock(), 1000, 1000, 150);
  const id = opened(cache, full(many(100)));
  const grown = cache.context({ sessionId: id, sessionEpoch: 1, partitions: many(151), forgotten: [] });
  assert.deepEqual(grown, { kind: 'error', errorCode: KafkaError.fetchSessionIdNotFound });
  assert.equal(cache.partitions, 0);
  assert.equal(cache.size, 0);
  const again = opened(cache, full(many(150)));
  const forgot = cache.context({
    sessionId: again,
    sessionEpoch: 1,
    partitions: [],
    forgotten: [{ topic: 't', partitions: [0, 1, 2] }],
  });
  assert.equal(forgot.kind, 'incremental');
  assert.equal(cache.partitions, 147);
});
