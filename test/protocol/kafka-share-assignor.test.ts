/**
 * The share groups' assignor (KIP-932 `simple`): partitions spread over members, shared only when
 * members outnumber them, balanced, sticky within balance, and only topics a member subscribes to.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Assignment } from '../../src/protocols/kafka/assignors.js';
import { shareAssignor } from '../../src/protocols/kafka/share-assignor.js';

const counts: Record<string, number> = { a: 4, b: 1, c: 2 };
const partitions = (topic: string): number | undefined => counts[topic];
const member = (id: string, topics: string[], previous: Assignment = new Map()) => ({ id, topics, previous });
const flat = (a: Assignment | undefined): string[] =>
  [...(a ?? new Map<string, Set<number>>())].flatMap(([t, ps]) => [...ps].sort().map((p) => `${t}${p}`));

test('partitions spread over members; each partition to one member while they suffice', () => {
  const out = shareAssignor([member('m1', ['a']), member('m2', ['a'])], partitions);
  const one = flat(out.get('m1'));
  const two = flat(out.get('m2'));
  assert.equal(one.length, 2);
  assert.equal(two.length, 2);
  assert.deepEqual([...one, ...two].sort(), ['a0', 'a1', 'a2', 'a3']);
});

test('more members than partitions: a partition is shared, every member has one', () => {
  const out = shareAssignor([member('m1', ['b']), member('m2', ['b']), member('m3', ['b'])], partitions);
  for (const id of ['m1', 'm2', 'm3']) assert.deepEqual(flat(out.get(id)), ['b0']);
});

test('a member keeps what it had while it stays within its share', () => {
  const previous: Assignment = new Map([['a', new Set([2, 3])]]);
  const out = shareAssignor([member('m1', ['a']), member('m2', ['a'], previous)], partitions);
  assert.deepEqual(flat(out.get('m2')), ['a2', 'a3']);
  assert.deepEqual(flat(out.get('m1')), ['a0', 'a1']);
  const alone = shareAssignor([member('m2', ['a'], previous)], partitions);
  assert.deepEqual(flat(alone.get('m2')), ['a0', 'a1', 'a2', 'a3'], 'the partitions of one who left');
});

test('only topics a member subscribes to, and nothing for topics that do not exist', () => {
  const out = shareAssignor([member('m1', ['c', 'missing']), member('m2', ['b'])], partitions);
  assert.deepEqual(flat(out.get('m1')), ['c0', 'c1']);
  assert.deepEqual(flat(out.get('m2')), ['b0']);
});
