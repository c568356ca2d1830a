/**
 * A share-partition (KIP-932) in memory on a manual clock: records handed to one member at a time,
 * accept / release / reject, acquisition locks that expire, delivery counts and the delivery limit,
 * and the share-partition start offset moving past what is done.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../src/core/index.js';
import {
  AckType,
  SharePartition,
  shareDeliveryCountLimit,
} from '../../src/protocols/kafka/share-partition.js';

const offsets = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

test('records go to one member at a time; accepted ones move the start offset', () => {
  const sp = new SharePartition(new ManualClock(), 10);
  assert.deepEqual(sp.acquire('a', offsets(10, 14)), [{ firstOffset: 10, lastOffset: 14, deliveryCount: 1 }]);
  assert.deepEqual(sp.acquire('b', offsets(10, 14)), [], 'already acquired by a');
  assert.deepEqual(sp.available(10), []);
  assert.equal(sp.acknowledge('b', 10, 10, [AckType.accept]), false, 'b holds nothing');
  assert.equal(sp.acknowledge('a', 10, 11, [AckType.accept]), true);
  assert.equal(sp.startOffset, 12);
  assert.equal(sp.acknowledge('a', 13, 13, [AckType.accept]), true);
  assert.equal(sp.startOffset, 12, 'offset 12 is still in flight');
  assert.equal(sp.acknowledge('a', 12, 14, [AckType.accept, AckType.gap, AckType.reject]), true);
  assert.equal(sp.startOffset, 15);
  assert.equal(sp.inFlight, 0);
});

test('a released record goes back in line, first, with its delivery count', () => {
  const sp = new SharePartition(new ManualClock(), 0);
  sp.acquire('a', offsets(0, 3));
  let woke = 0;
  sp.waiters.add(() => woke++);
  assert.equal(sp.acknowledge('a', 1, 1, [AckType.release]), true);
  assert.equal(woke, 1);
  assert.deepEqual(sp.available(10), [1]);
  assert.deepEqual(sp.acquire('b', [1, 4]), [
    { firstOffset: 1, lastOffset: 1, deliveryCount: 2 },
    { firstOffset: 4, lastOffset: 4, deliveryCount: 1 },
  ]);
});

test('an acquisition lock that expires makes the records available again; the delivery limit archives them', () => {
  const clock = new ManualClock();
  const sp = new SharePartition(clock, 0, 1000);
  for (let delivery = 1; delivery <= shareDeliveryCountLimit; delivery++) {
    const got = sp.acquire(`m${delivery}`, delivery === 1 ? [0] : sp.available(10));
    assert.deepEqual(got, [{ firstOffset: 0, lastOffset: 0, deliveryCount: delivery }]);
    clock.advance(999);
    assert.deepEqual(sp.available(10), [], 'still locked');
    clock.advance(1);
  }
  assert.deepEqual(sp.available(10), [], 'archived after the last delivery');
  assert.equal(sp.startOffset, 1);
});

test('an acknowledgement of a record whose lock expired is refused', () => {
  const clock = new ManualClock();
  const sp = new SharePartition(clock, 0, 1000);
  sp.acquire('a', [0]);
  clock.advance(1000);
  assert.equal(sp.acknowledge('a', 0, 0, [AckType.accept]), false);
  assert.deepEqual(sp.acquire('b', sp.available(10)), [{ firstOffset: 0, lastOffset: 0, deliveryCount: 2 }]);
});

test('releaseAll hands back everything a member holds; control batches and gaps are skipped', () => {
  const sp = new SharePartition(new ManualClock(), 0);
  sp.acquire('a', [0, 1]);
  sp.skip(2, 2);
  sp.acquire('a', [5]);
  sp.releaseAll('a');
  assert.deepEqual(sp.available(10), [0, 1, 5]);
  sp.acquire('b', [0, 1, 5]);
  sp.acknowledge('b', 0, 1, [AckType.accept]);
  sp.acknowledge('b', 5, 5, [AckType.accept]);
  assert.equal(sp.startOffset, 6);
  assert.equal(sp.acknowledge('b', 6, 10_000_000, [AckType.accept]), false, 'a huge range is refused');
});

test('changes are told once as stored ranges, and a restored share-partition hands out what was in flight', () => {
  const clock = new ManualClock();
  const sp = new SharePartition(clock, 0);
  assert.deepEqual(sp.takeChange('s', 0), {
    stream: 's',
    partition: 0,
    startOffset: 0,
    endOffset: 0,
    records: [],
  });
  assert.equal(sp.takeChange('s', 0), undefined, 'nothing new');
  sp.acquire('a', offsets(0, 5));
  assert.equal(
    sp.acknowledge('a', 0, 3, [AckType.accept, AckType.release, AckType.reject, AckType.accept]),
    true,
  );
  const change = sp.takeChange('s', 0);
  assert.equal(change?.startOffset, 1);
  assert.equal(change?.endOffset, 6);
  assert.deepEqual(change?.records, [
    { first: 1, last: 1, deliveries: 1, done: false },
    { first: 2, last: 3, deliveries: 1, done: true },
    { first: 4, last: 5, deliveries: 1, done: false },
  ]);
  const restored = SharePartition.restore(clock, change!);
  assert.equal(restored.startOffset, 1);
  assert.deepEqual(restored.available(10), [1, 4, 5], 'acquired and released alike are available again');
  assert.deepEqual(restored.acquire('b', [1, 4, 5, 6]), [
    { firstOffset: 1, lastOffset: 1, deliveryCount: 2 },
    { firstOffset: 4, lastOffset: 5, deliveryCount: 2 },
    { firstOffset: 6, lastOffset: 6, deliveryCount: 1 },
  ]);
  sp.close();
  restored.close();
});

test("a gap names no record: it cannot settle another member's, and a request's batches apply all or none", () => {
  const sp = new SharePartition(new ManualClock(), 0);
  sp.acquire('a', offsets(0, 4));
  sp.acquire('b', offsets(5, 9));
  assert.equal(sp.acknowledge('a', 5, 9, [AckType.gap]), false, "b's records");
  assert.equal(
    sp.acknowledgeAll('a', [
      { first: 0, last: 1, types: [AckType.accept] },
      { first: 6, last: 6, types: [AckType.accept] },
    ]),
    undefined,
  );
  assert.equal(sp.acknowledge('a', 0, 4, [AckType.accept]), true, "a's records were left as they were");
  assert.equal(sp.acknowledge('b', 5, 9, [AckType.accept]), true);
  assert.equal(sp.startOffset, 10);
});

test('an acknowledgement undone (its write failed) leaves the records acquired by their member, under their lock', () => {
  const clock = new ManualClock();
  const sp = new SharePartition(clock, 0, 1000);
  sp.acquire('a', offsets(0, 3));
  const undo = sp.acknowledgeAll('a', [{ first: 0, last: 3, types: [1, 1, 2, 3] }]);
  assert.ok(undo !== undefined);
  assert.equal(sp.startOffset, 2, 'the accepted front went past the start');
  undo();
  assert.equal(sp.startOffset, 0);
  assert.deepEqual(sp.acquire('b', offsets(0, 3)), [], 'nothing is available to another member');
  assert.equal(sp.acknowledge('a', 0, 3, [AckType.accept]), true, 'still a’s to acknowledge');
  const again = new SharePartition(clock, 0, 1000);
  again.acquire('a', offsets(0, 1));
  again.acknowledgeAll('a', [{ first: 0, last: 1, types: [AckType.release] }])?.();
  clock.advance(1001);
  assert.deepEqual(again.acquire('b', offsets(0, 1)), [{ firstOffset: 0, lastOffset: 1, deliveryCount: 2 }]);
});

test('a gap over a range of a trillion offsets walks the records in flight, not the range', () => {
  const sp = new SharePartition(new ManualClock(), 0);
  sp.acquire('a', offsets(0, 4));
  assert.equal(sp.acknowledge('a', 0, 1e12, [AckType.gap]), true);
  assert.equal(sp.inFlight, 0);
  assert.equal(sp.startOffset, 5);
  assert.equal(
    sp.acknowledge('a', 10, 1e12, [AckType.accept]),
    false,
    'one type over more than is in flight',
  );
});
