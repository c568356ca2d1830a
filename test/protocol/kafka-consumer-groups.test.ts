/**
 * The KIP-848 consumer group coordinator in memory on a manual clock: server-side assignment, the
 * revoke-before-assign reconciliation (no partition ever has two owners), epochs and fencing, session
 * and revocation timeouts, static members. Over the wire: test/conformance/kafka/consumer-groups.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { groupNameCharsMax } from '../../src/core/groups.js';
import { ManualClock } from '../../src/core/index.js';
import { type Assignment, rangeAssignor, uniformAssignor } from '../../src/protocols/kafka/assignors.js';
import {
  ConsumerGroupCoordinator,
  consumerGroupMembersMax,
  consumerSessionTimeoutMs,
  groupCleanupIntervalMs,
  type HeartbeatInput,
  type HeartbeatResult,
  regexesInUseMax,
  tooManyRegexes,
} from '../../src/protocols/kafka/consumer-groups.js';
import { KafkaError } from '../../src/protocols/kafka/errors.js';
import type { GroupStore } from '../../src/protocols/kafka/group-store.js';

const topics: Record<string, number> = { a: 4, b: 3 };

function coordinator(clock = new ManualClock()): ConsumerGroupCoordinator {
  return new ConsumerGroupCoordinator(clock, (t) => topics[t]);
}

function beat(
  groups: ConsumerGroupCoordinator,
  memberId: string,
  memberEpoch: number,
  more: Partial<HeartbeatInput> = {},
): Promise<HeartbeatResult> {
  return groups.heartbeat({
    groupId: 'g',
    memberId,
    memberEpoch,
    instanceId: null,
    rackId: null,
    rebalanceTimeoutMs: 30_000,
    subscribedTopicNames: memberEpoch === 0 ? ['a'] : null,
    subscribedTopicRegex: null,
    serverAssignor: null,
    owned: null,
    clientId: 'test',
    clientHost: '/127.0.0.1',
    ...more,
  });
}

const flat = (a: Assignment | null): string[] =>
  a === null ? [] : [...a].flatMap(([t, s]) => [...s].map((p) => `${t}${p}`)).sort();

test('a second member gets partitions only after the first has revoked them', async () => {
  const groups = coordinator();
  const m1 = await beat(groups, 'm1', 0);
  assert.equal(m1.errorCode, KafkaError.none);
  assert.equal(m1.memberEpoch, 1);
  assert.deepEqual(flat(m1.assignment), ['a0', 'a1', 'a2', 'a3']);

  const m2 = await beat(groups, 'm2', 0);
  assert.equal(m2.memberEpoch, 2);
  assert.deepEqual(flat(m2.assignment), [], 'everything is still held by m1');

  const revoke = await beat(groups, 'm1', 1);
  assert.equal(revoke.memberEpoch, 1, 'the epoch waits for the revocation');
  assert.equal(flat(revoke.assignment).length, 2);
  const m2Still = await beat(groups, 'm2', 2);
  assert.equal(m2Still.assignment, null, 'nothing changed for m2 yet');

  const kept = new Map([['a', new Set(flat(revoke.assignment).map((p) => Number(p.slice(1))))]]);
  const done = await beat(groups, 'm1', 1, { owned: kept });
  assert.equal(done.memberEpoch, 2);
  const m2Now = await beat(groups, 'm2', 2);
  assert.equal(flat(m2Now.assignment).length, 2);
  assert.deepEqual([...flat(m2Now.assignment), ...flat(revoke.assignment)].sort(), ['a0', 'a1', 'a2', 'a3']);
  assert.equal(groups.describe('g')?.state, 'stable');
});

test('epochs: a stale or future epoch is fenced, an unknown member refused, a lost answer forgiven once', async () => {
  const groups = coordinator();
  await beat(groups, 'm1', 0);
  assert.equal((await beat(groups, 'm1', 7)).errorCode, KafkaError.fencedMemberEpoch);
  assert.equal((await beat(groups, 'nobody', 1)).errorCode, KafkaError.unknownMemberId);
  assert.equal(
    (await beat(groups, 'm2', 0, { serverAssignor: 'sticky' })).errorCode,
    KafkaError.unsupportedAssignor,
  );
  // m2 joins: m1 is at epoch 1 with everything; after revoking it moves to 2.
  await beat(groups, 'm2', 0);
  const r = await beat(groups, 'm1', 1);
  const kept = new Map([['a', new Set(flat(r.assignment).map((p) => Number(p.slice(1))))]]);
  assert.equal((await beat(groups, 'm1', 1, { owned: kept })).memberEpoch, 2);
  // The answer that moved m1 to epoch 2 got lost: it comes back with epoch 1 and owns nothing extra.
  assert.equal((await beat(groups, 'm1', 1, { owned: kept })).errorCode, KafkaError.none);
  assert.equal((await beat(groups, 'm1', 0, { memberId: '' } as never)).errorCode, KafkaError.none);
});

test('a member that stops heartbeating is removed after the session timeout and the rest take over', async () => {
  const clock = new ManualClock();
  const groups = coordinator(clock);
  await beat(groups, 'm1', 0);
  await beat(groups, 'm2', 0);
  const r = await beat(groups, 'm1', 1);
  const kept = new Map([['a', new Set(flat(r.assignment).map((p) => Number(p.slice(1))))]]);
  await beat(groups, 'm1', 1, { owned: kept });
  // m1 keeps heartbeating, m2 goes silent.
  for (let i = 0; i < 10; i++) {
    clock.advance(consumerSessionTimeoutMs / 5);
    await beat(groups, 'm1', groups.describe('g')!.members.find((m) => m.memberId === 'm1')!.memberEpoch);
  }
  const described = groups.describe('g')!;
  assert.deepEqual(
    described.members.map((m) => m.memberId),
    ['m1'],
  );
  assert.deepEqual(flat(described.members[0]!.assignment), ['a0', 'a1', 'a2', 'a3']);
});

test('a group whose consumer.session.timeout.ms is longer keeps a silent member that long', async () => {
  const clock = new ManualClock();
  const groups = new ConsumerGroupCoordinator(
    clock,
    (t) => topics[t],
    undefined,
    undefined,
    undefined,
    () => 60_000,
  );
  await beat(groups, 'm1', 0);
  clock.advance(consumerSessionTimeoutMs + 5_000);
  assert.deepEqual(
    groups.describe('g')!.members.map((m) => m.memberId),
    ['m1'],
    'past the default, within the group’s own',
  );
  clock.advance(11_000);
  assert.equal(groups.describe('g')?.members.length ?? 0, 0);
});

test('a member that does not revoke within its rebalance timeout is removed', async () => {
  const clock = new ManualClock();
  const groups = coordinator(clock);
  await beat(groups, 'm1', 0, { rebalanceTimeoutMs: 1000 });
  await beat(groups, 'm2', 0);
  await beat(groups, 'm1', 1, { rebalanceTimeoutMs: 1000 }); // told to revoke, never does
  clock.advance(1000);
  assert.deepEqual(
    groups.describe('g')!.members.map((m) => m.memberId),
    ['m2'],
  );
  const m2 = await beat(groups, 'm2', groups.describe('g')!.members[0]!.memberEpoch);
  assert.deepEqual(flat(m2.assignment), ['a0', 'a1', 'a2', 'a3']);
});

test('leaving with epoch -1 hands the partitions over; a static member leaving with -2 keeps them', async () => {
  const groups = coordinator();
  await beat(groups, 's1', 0, { instanceId: 'i1' });
  const left = await beat(groups, 's1', -2, { instanceId: 'i1' });
  assert.equal(left.memberEpoch, -2);
  const back = await beat(groups, 's1-new', 0, { instanceId: 'i1' });
  assert.equal(back.errorCode, KafkaError.none);
  assert.deepEqual(flat(back.assignment), ['a0', 'a1', 'a2', 'a3'], 'the same partitions, no rebalance');
  const dup = await beat(groups, 's2', 0, { instanceId: 'i1' });
  assert.equal(dup.errorCode, KafkaError.unreleasedInstanceId);
  const gone = await beat(groups, 's1-new', -1);
  assert.equal(gone.memberEpoch, -1);
  assert.equal(groups.describe('g')!.members.length, 0);
});

test('uniform spreads evenly and stays sticky; range gives contiguous ranges per topic', () => {
  const none = new Map();
  const u = uniformAssignor(
    [
      { id: 'x', topics: ['a', 'b'], previous: none },
      { id: 'y', topics: ['a', 'b'], previous: none },
      { id: 'z', topics: ['a', 'b'], previous: none },
    ],
    (t) => topics[t],
  );
  const sizes = [...u.values()].map((a) => flat(a).length).sort();
  assert.deepEqual(sizes, [2, 2, 3]);
  const again = uniformAssignor(
    [
      { id: 'x', topics: ['a', 'b'], previous: u.get('x')! },
      { id: 'y', topics: ['a', 'b'], previous: u.get('y')! },
      { id: 'z', topics: ['a', 'b'], previous: u.get('z')! },
      { id: 'w', topics: ['a', 'b'], previous: none },
    ],
    (t) => topics[t],
  );
  for (const id of ['x', 'y', 'z'])
    for (const p of flat(again.get(id)!)) assert.ok(flat(u.get(id)!).includes(p), `${id} kept ${p}`);
  assert.deepEqual([...again.values()].map((a) => flat(a).length).sort(), [1, 2, 2, 2]);
  const r = rangeAssignor(
    [
      { id: 'x', topics: ['a', 'b'], previous: none },
      { id: 'y', topics: ['a'], previous: none },
    ],
    (t) => topics[t],
  );
  assert.deepEqual(flat(r.get('x')!), ['a0', 'a1', 'b0', 'b1', 'b2']);
  assert.deepEqual(flat(r.get('y')!), ['a2', 'a3']);
});

test('a flood of joins stops at the group size limit', async () => {
  const groups = coordinator();
  for (let i = 0; i < consumerGroupMembersMax; i++)
    assert.equal((await beat(groups, `m${i}`, 0)).errorCode, KafkaError.none);
  assert.equal((await beat(groups, 'one-too-many', 0)).errorCode, KafkaError.groupMaxSizeReached);
  const described = groups.describe('g')!;
  assert.equal(described.members.length, consumerGroupMembersMax);
  const owned = described.members.flatMap((m) => flat(m.assignment));
  assert.equal(new Set(owned).size, owned.length, 'no partition has two owners');
});

/** A coordinator over these topics (name → partition count), which regular expressions resolve against. */
function overTopics(live: Record<string, number>): ConsumerGroupCoordinator {
  return new ConsumerGroupCoordinator(
    new ManualClock(),
    (t) => live[t],
    undefined,
    undefined,
    () => Object.keys(live),
  );
}

test('a regular expression subscription follows the topics that match it as they come and go', async () => {
  const live: Record<string, number> = { 'rx-1': 2, other: 3 };
  const groups = overTopics(live);
  const regex = { subscribedTopicNames: null, subscribedTopicRegex: 'rx-.*' };
  const joined = await beat(groups, 'm1', 0, regex);
  assert.equal(joined.errorCode, KafkaError.none);
  assert.deepEqual(flat(joined.assignment), [], 'a new pattern resolves after the heartbeat that brought it');
  const first = await beat(groups, 'm1', joined.memberEpoch);
  assert.deepEqual(flat(first.assignment), ['rx-10', 'rx-11']);
  assert.equal(groups.describe('g')?.members[0]?.subscribedTopicRegex, 'rx-.*');

  live['rx-2'] = 1;
  const grown = await beat(groups, 'm1', first.memberEpoch);
  assert.equal(grown.memberEpoch, first.memberEpoch + 1, 'a topic created that matches moves the group on');
  assert.deepEqual(flat(grown.assignment), ['rx-10', 'rx-11', 'rx-20']);

  delete live['rx-1'];
  const shrunk = await beat(groups, 'm1', 2, { owned: grown.assignment });
  assert.deepEqual(flat(shrunk.assignment), ['rx-20'], 'a deleted topic is no longer assigned');

  // Names and a pattern together subscribe to both; an empty pattern clears it.
  const both = await beat(groups, 'm1', shrunk.memberEpoch, {
    subscribedTopicNames: ['other'],
    owned: shrunk.assignment,
  });
  assert.deepEqual(flat(both.assignment), ['other0', 'other1', 'other2', 'rx-20']);
  const cleared = await beat(groups, 'm1', both.memberEpoch, {
    subscribedTopicRegex: '',
    owned: both.assignment,
  });
  assert.ok(!flat(cleared.assignment).includes('rx-20'));
});

test('a pattern matches only the topics its member may describe (KIP-848 filters by DESCRIBE)', async () => {
  const live: Record<string, number> = { 'rx-open': 1, 'rx-secret': 1 };
  const groups = overTopics(live);
  const mayDescribe = (topic: string) => topic !== 'rx-secret';
  const regex = { subscribedTopicNames: null, subscribedTopicRegex: 'rx-.*', mayDescribe };
  const joined = await beat(groups, 'm1', 0, regex);
  const resolved = await beat(groups, 'm1', joined.memberEpoch, { mayDescribe });
  assert.deepEqual(flat(resolved.assignment), ['rx-open0']);
  const granted = await beat(groups, 'm1', resolved.memberEpoch, { mayDescribe: () => true });
  assert.deepEqual(flat(granted.assignment), ['rx-open0', 'rx-secret0'], 'a right granted later counts');
});

test('a pattern RE2 refuses, or one past the bounds, answers INVALID_REGULAR_EXPRESSION and changes nothing', async () => {
  const groups = overTopics(topics);
  const m1 = await beat(groups, 'm1', 0);
  for (const bad of ['(a', 'a**', '\\1', '(?=a)', 'a{1001}', 'x'.repeat(5000)]) {
    const r = await beat(groups, 'm1', m1.memberEpoch, { subscribedTopicRegex: bad });
    assert.equal(r.errorCode, KafkaError.invalidRegularExpression, bad.slice(0, 20));
    assert.match(r.errorMessage ?? '', /is not a valid regular expression/);
  }
  const joined = await beat(groups, 'm2', 0, { subscribedTopicNames: null, subscribedTopicRegex: '[' });
  assert.equal(joined.errorCode, KafkaError.invalidRegularExpression);
  assert.equal(groups.describe('g')?.members.length, 1);
  const none = await beat(groups, 'm3', 0, { subscribedTopicNames: null });
  assert.equal(none.errorCode, KafkaError.invalidRequest, 'a first heartbeat names topics or a pattern');
});

test('a group left with no members and no offsets is deleted at the next cleanup, as Kafka deletes it', async () => {
  const clock = new ManualClock();
  const removed: string[] = [];
  const store = {
    load: () => [],
    save: async () => true,
    remove: async (groupId: string) => void removed.push(groupId),
    hasOffsets: (groupId: string) => groupId === 'committed',
  } as unknown as GroupStore;
  const groups = new ConsumerGroupCoordinator(clock, (t) => topics[t], store);
  for (const groupId of ['gone', 'committed', 'alive']) await beat(groups, 'm1', 0, { groupId });
  // Before, 20,000 groups a client made and left were kept for good, in memory and on disk.
  clock.advance(consumerSessionTimeoutMs / 2);
  await beat(groups, 'm1', 1, { groupId: 'alive' });
  clock.advance(consumerSessionTimeoutMs / 2 + 1_000);
  await beat(groups, 'm1', 1, { groupId: 'alive' });
  assert.equal(groups.describe('gone')?.state, 'empty', 'kept until the cleanup');
  // 'alive' heartbeats through the interval, as a live consumer does.
  const stepMs = consumerSessionTimeoutMs / 3;
  for (let waited = 0; waited < groupCleanupIntervalMs; waited += stepMs) {
    clock.advance(stepMs);
    await beat(groups, 'm1', 1, { groupId: 'alive' });
  }
  assert.deepEqual(removed, ['gone']);
  assert.equal(groups.describe('gone'), undefined);
  assert.equal(groups.describe('committed')?.state, 'empty', 'its offsets keep it');
  assert.notEqual(groups.describe('alive'), undefined, 'a member keeps it');
  groups.close();
});

test('a group id longer than core stores is INVALID_REQUEST, and no group is kept for it', async () => {
  const groups = coordinator();
  const long = 'g'.repeat(groupNameCharsMax + 1);
  const joined = await beat(groups, 'm1', 0, { groupId: long });
  assert.equal(joined.errorCode, KafkaError.invalidRequest);
  assert.equal(groups.has(long), false, 'before, the group was kept with its member');
});

test('members hold at most regexesInUseMax distinct patterns at once: a new one past it is INVALID_REGULAR_EXPRESSION, one in use or freed is taken', async () => {
  const groups = coordinator();
  const pattern = (i: number) => `a|t${i}`;
  const join = (group: string, member: string, regex: string) =>
    beat(groups, member, 0, { groupId: group, subscribedTopicNames: null, subscribedTopicRegex: regex });
  for (let i = 0; i < regexesInUseMax; i++) {
    const joined = await join(`g${i % 10}`, `m${i}`, pattern(i));
    assert.equal(joined.errorCode, KafkaError.none);
  }
  // Before, every new pattern was compiled and held for its member's session, however many.
  const refused = await join('late', 'n1', pattern(regexesInUseMax));
  assert.deepEqual(
    [refused.errorCode, refused.errorMessage],
    [KafkaError.invalidRegularExpression, tooManyRegexes],
  );
  assert.equal((await join('late', 'n2', pattern(5))).errorCode, KafkaError.none, 'a pattern in use');
  const m0 = groups.describe('g0')!.members.find((m) => m.memberId === 'm0')!;
  assert.equal(
    (await beat(groups, 'm0', m0.memberEpoch, { groupId: 'g0', subscribedTopicRegex: '' })).errorCode,
    KafkaError.none,
  );
  assert.equal((await beat(groups, 'm1', -1, { groupId: 'g1' })).errorCode, KafkaError.none);
  for (const [member, i] of [
    ['n3', regexesInUseMax],
    ['n4', regexesInUseMax + 1],
  ] as const)
    assert.equal(
      (await join('late', member, pattern(i))).errorCode,
      KafkaError.none,
      'freed by a change and a leave',
    );
  assert.equal(
    (await join('late', 'n5', pattern(regexesInUseMax + 2))).errorCode,
    KafkaError.invalidRegularExpression,
  );
  groups.close();
});
