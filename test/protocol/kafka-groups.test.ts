/**
 * The Kafka group coordinator driven in memory: no socket, no client library, and time on a manual
 * clock, so session and rebalance timeouts are tested in milliseconds. What a client sees of the same
 * behaviour over the wire is in test/conformance/kafka (group-lifecycle.test.ts and others).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { groupNameCharsMax } from '../../src/core/groups.js';
import { ManualClock } from '../../src/core/index.js';
import { groupCleanupIntervalMs } from '../../src/protocols/kafka/consumer-groups.js';
import { KafkaError } from '../../src/protocols/kafka/errors.js';
import type { GroupStore } from '../../src/protocols/kafka/group-store.js';
import {
  GroupCoordinator,
  type JoinInput,
  type JoinResult,
  pendingMemberIdsMax,
} from '../../src/protocols/kafka/groups.js';
import { kafkaOptionsDefault } from '../../src/protocols/kafka/options.js';

const sessionTimeoutMs = 10_000;
const rebalanceTimeoutMs = 20_000;

function coordinator(
  clock: ManualClock,
  groupMembersMax = kafkaOptionsDefault.groupMembersMax,
): GroupCoordinator {
  return new GroupCoordinator(
    { ...kafkaOptionsDefault, groupInitialRebalanceDelayMs: 0, groupMembersMax },
    undefined,
    undefined,
    clock,
  );
}

function join(
  groups: GroupCoordinator,
  clientId: string,
  memberId = '',
  v4 = { groupId: 'g', requireKnownMemberId: false },
): Promise<JoinResult> {
  const input: JoinInput = {
    groupId: v4.groupId,
    memberId,
    groupInstanceId: null,
    clientId,
    clientHost: '/127.0.0.1',
    sessionTimeoutMs,
    rebalanceTimeoutMs,
    protocolType: 'consumer',
    protocols: [{ name: 'range', metadata: new Uint8Array([1]) }],
    requireKnownMemberId: v4.requireKnownMemberId,
  };
  return groups.join(input);
}

/** Lets pending promise callbacks and the coordinator's zero-delay timers run. */
async function turn(clock: ManualClock): Promise<void> {
  clock.advance(0);
  await new Promise((resolve) => setImmediate(resolve));
}

interface Stable {
  readonly ids: string[];
  readonly generation: number;
}

/**
 * Forms a stable group as clients do: each joins in turn and the members already in rejoin (the
 * coordinator tells them to through their heartbeats), then the leader's SyncGroup hands out
 * assignments.
 */
async function stableGroup(groups: GroupCoordinator, clock: ManualClock, clients: string[]): Promise<Stable> {
  let joined: JoinResult[] = [];
  for (const client of clients) {
    const fresh = join(groups, client);
    const rejoins = joined.map((r, i) => join(groups, clients[i]!, r.memberId));
    await turn(clock);
    joined = [...(await Promise.all(rejoins)), await fresh];
  }
  const leader = joined.find((r) => r.leader === r.memberId)!;
  const generation = leader.generationId;
  const assignments = joined.map((r) => ({
    memberId: r.memberId,
    assignment: new TextEncoder().encode(r.memberId),
  }));
  const synced = joined.map((r) =>
    groups.sync('g', r.memberId, generation, null, r === leader ? assignments : []),
  );
  await turn(clock);
  for (const s of await Promise.all(synced)) assert.equal(s.errorCode, KafkaError.none);
  return { ids: joined.map((r) => r.memberId), generation };
}

test('a member that stops heartbeating is removed after its session timeout, and the rest rebalance', async () => {
  const clock = new ManualClock();
  const groups = coordinator(clock);
  const { ids, generation } = await stableGroup(groups, clock, ['a', 'b']);
  const [a, b] = ids as [string, string];
  for (let ms = 0; ms < sessionTimeoutMs; ms += 2000) {
    clock.advance(2000);
    if (groups.heartbeat('g', a, generation, null) !== KafkaError.none) break;
  }
  assert.equal(
    groups.heartbeat('g', a, generation, null),
    KafkaError.rebalanceInProgress,
    'b expired: a is told to rejoin',
  );
  const again = join(groups, 'a', a);
  await turn(clock);
  const result = await again;
  assert.equal(result.generationId, generation + 1);
  assert.deepEqual(
    result.members.map((m) => m.memberId),
    [a],
  );
  assert.equal(groups.heartbeat('g', b, generation, null), KafkaError.unknownMemberId, 'b is gone');
  groups.close();
});

test('a member that does not rejoin within the rebalance timeout is left out of the next generation', async () => {
  const clock = new ManualClock();
  const groups = coordinator(clock);
  const { ids, generation } = await stableGroup(groups, clock, ['a', 'b']);
  const [a, b] = ids as [string, string];
  const c = join(groups, 'c');
  await turn(clock);
  assert.equal(groups.heartbeat('g', b, generation, null), KafkaError.rebalanceInProgress);
  const aAgain = join(groups, 'a', a);
  // b stays alive (its heartbeats keep its session) but never rejoins.
  for (let ms = 0; ms + 2000 < rebalanceTimeoutMs; ms += 2000) {
    clock.advance(2000);
    assert.equal(groups.heartbeat('g', b, generation, null), KafkaError.rebalanceInProgress);
  }
  clock.advance(1999);
  await turn(clock);
  let early = false;
  void aAgain.then(() => {
    early = true;
  });
  await turn(clock);
  assert.equal(early, false, 'the rebalance waits for b until the rebalance timeout');
  clock.advance(1);
  const [ra, rc] = await Promise.all([aAgain, c]);
  assert.deepEqual([ra.generationId, rc.generationId], [generation + 1, generation + 1]);
  const leader = [ra, rc].find((r) => r.leader === r.memberId)!;
  assert.deepEqual(leader.members.map((m) => m.memberId).sort(), [a, rc.memberId].sort());
  assert.equal(groups.heartbeat('g', b, generation + 1, null), KafkaError.unknownMemberId);
  groups.close();
});

test('a member leaving starts a rebalance that completes as soon as the others rejoin', async () => {
  const clock = new ManualClock();
  const groups = coordinator(clock);
  const { ids, generation } = await stableGroup(groups, clock, ['a', 'b', 'c']);
  const [a, b, c] = ids as [string, string, string];
  assert.equal(groups.leave('g', c, null), KafkaError.none);
  assert.equal(groups.leave('g', c, null), KafkaError.unknownMemberId, 'a second leave finds no member');
  assert.equal(groups.heartbeat('g', a, generation, null), KafkaError.rebalanceInProgress);
  const rejoined = [join(groups, 'a', a), join(groups, 'b', b)];
  await turn(clock);
  const results = await Promise.all(rejoined);
  assert.deepEqual(
    results.map((r) => r.generationId),
    [generation + 1, generation + 1],
    'no timeout needed: everyone rejoined',
  );
  groups.close();
});

test('followers wait in SyncGroup for the leader, then each gets its own assignment', async () => {
  const clock = new ManualClock();
  const groups = coordinator(clock);
  const first = await join(groups, 'a');
  const pending = [join(groups, 'b'), join(groups, 'a', first.memberId)];
  await turn(clock);
  const [rb, ra] = await Promise.all(pending);
  const leader = ra!.leader === ra!.memberId ? ra! : rb!;
  const follower = leader === ra ? rb! : ra!;
  const generation = leader.generationId;
  const followerSync = groups.sync('g', follower.memberId, generation, null, []);
  await turn(clock);
  let answered = false;
  void followerSync.then(() => {
    answered = true;
  });
  await turn(clock);
  assert.equal(answered, false, 'the follower waits for the leader');
  const encode = (text: string) => new TextEncoder().encode(text);
  const leaderSync = groups.sync('g', leader.memberId, generation, null, [
    { memberId: leader.memberId, assignment: encode('p0') },
    { memberId: follower.memberId, assignment: encode('p1') },
  ]);
  await turn(clock);
  const [l, f] = await Promise.all([leaderSync, followerSync]);
  assert.equal(new TextDecoder().decode(l.assignment), 'p0');
  assert.equal(new TextDecoder().decode(f.assignment), 'p1');
  assert.equal(groups.heartbeat('g', follower.memberId, generation - 1, null), KafkaError.illegalGeneration);
  groups.close();
});

test('an empty group without committed offsets is deleted at the next cleanup, one with offsets kept', async () => {
  const clock = new ManualClock();
  const removed: string[] = [];
  let committed = true;
  const store = {
    load: () => [],
    save: async () => true,
    remove: async (groupId: string) => void removed.push(groupId),
    hasOffsets: () => committed,
  } as unknown as GroupStore;
  const groups = new GroupCoordinator(
    { ...kafkaOptionsDefault, groupInitialRebalanceDelayMs: 0 },
    store,
    undefined,
    clock,
  );
  const { ids } = await stableGroup(groups, clock, ['c1']);
  assert.equal(groups.leave('g', ids[0]!, null), KafkaError.none);
  clock.advance(groupCleanupIntervalMs);
  assert.equal(groups.has('g'), true, 'its offsets keep it');
  // Core expired them (KIP-211); before, the empty group was kept for good.
  committed = false;
  clock.advance(groupCleanupIntervalMs);
  assert.equal(groups.has('g'), false);
  assert.deepEqual(removed, ['g']);
  groups.close();
});

/** JoinGroup v4+ as clients send it (KIP-394): the id handed out with MEMBER_ID_REQUIRED comes back. */
async function joinV4(groups: GroupCoordinator, client: string, groupId = 'g'): Promise<JoinResult> {
  const v4 = { groupId, requireKnownMemberId: true };
  const first = await join(groups, client, '', v4);
  if (first.errorCode !== KafkaError.memberIdRequired) return first;
  // Parked until the rebalance completes: what matters here is whether it was let in.
  void join(groups, client, first.memberId, v4);
  return first;
}

test('JoinGroup v4+ keeps a group within groupMembersMax, member ids handed out and not yet back counted', async () => {
  const clock = new ManualClock();
  const groups = coordinator(clock, 3);
  const v4 = { groupId: 'g', requireKnownMemberId: true };
  const answers = [];
  for (const client of ['c1', 'c2', 'c3', 'c4']) answers.push((await joinV4(groups, client)).errorCode);
  const required = KafkaError.memberIdRequired;
  // Before, the fourth was handed an id and let in with it: the bound held only for JoinGroup v3 and older.
  assert.deepEqual(answers, [required, required, required, KafkaError.groupMaxSizeReached]);
  assert.equal(groups.describe('g')?.members.length, 3);
  // Ids handed out and never brought back hold places until their session timeout, no longer.
  const flood = [];
  for (let i = 0; i < 5; i++) flood.push((await join(groups, 'f', '', { ...v4, groupId: 'h' })).errorCode);
  const full = KafkaError.groupMaxSizeReached;
  assert.deepEqual(flood, [required, required, required, full, full]);
  clock.advance(sessionTimeoutMs);
  assert.equal((await join(groups, 'f', '', { ...v4, groupId: 'h' })).errorCode, required);
  groups.close();
});

/**
 * pendingMemberIdsMax member ids handed out over groups `flood-0`, `flood-1`… (each up to
 * groupMembersMax), none brought back; `after` runs once each id is handed out. Returns them, oldest first.
 */
async function floodPendingIds(
  groups: GroupCoordinator,
  after: (memberId: string) => Promise<void> = async () => {},
): Promise<string[]> {
  const groupsNeeded = Math.ceil(pendingMemberIdsMax / kafkaOptionsDefault.groupMembersMax);
  const ids: string[] = [];
  for (let g = 0; g < groupsNeeded; g++) {
    for (let i = 0; i < kafkaOptionsDefault.groupMembersMax && ids.length < pendingMemberIdsMax; i++) {
      const r = await join(groups, 'f', '', { groupId: `flood-${g}`, requireKnownMemberId: true });
      assert.equal(r.errorCode, KafkaError.memberIdRequired);
      ids.push(r.memberId);
      await after(r.memberId);
    }
  }
  return ids;
}

test('member ids handed out and not brought back are at most pendingMemberIdsMax over every group, the oldest forgotten first', async () => {
  const clock = new ManualClock();
  const groups = coordinator(clock);
  const ids = await floodPendingIds(groups);
  const v4 = { groupId: 'late', requireKnownMemberId: true };
  const late = await join(groups, 'c', '', v4);
  assert.equal(late.errorCode, KafkaError.memberIdRequired, 'a new client is still served');
  // Before, every id was kept until its session timeout, however many were handed out.
  const oldest = await join(groups, 'f', ids[0]!, { groupId: 'flood-0', requireKnownMemberId: true });
  assert.equal(oldest.errorCode, KafkaError.unknownMemberId, 'the oldest id was forgotten');
  const next = join(groups, 'f', ids[1]!, { groupId: 'flood-0', requireKnownMemberId: true });
  const back = join(groups, 'c', late.memberId, v4);
  await turn(clock);
  groups.close();
  assert.notEqual((await back).errorCode, KafkaError.unknownMemberId, 'the late id came back and was let in');
  assert.notEqual((await next).errorCode, KafkaError.unknownMemberId, 'the next oldest is kept');
});

test('a group id longer than core stores is INVALID_GROUP_ID, and no group is kept for it', async () => {
  const groups = coordinator(new ManualClock());
  const long = 'g'.repeat(groupNameCharsMax + 1);
  const joined = await join(groups, 'c', '', { groupId: long, requireKnownMemberId: true });
  assert.equal(joined.errorCode, KafkaError.invalidGroupId);
  assert.equal(groups.has(long), false, 'before, the group and its pending member were kept');
  groups.close();
});

test('a pending member id sent to another group stays counted in pendingMemberIdsMax', async () => {
  const clock = new ManualClock();
  const groups = coordinator(clock);
  // Each id brought to a group that never handed it out: refused there, still pending in its own.
  const ids = await floodPendingIds(groups, async (memberId) => {
    const stray = await join(groups, 'f', memberId, { groupId: 'elsewhere', requireKnownMemberId: true });
    assert.equal(stray.errorCode, KafkaError.unknownMemberId);
  });
  const v4 = { groupId: 'late', requireKnownMemberId: true };
  assert.equal((await join(groups, 'c', '', v4)).errorCode, KafkaError.memberIdRequired);
  // Before, the stray JoinGroup took the id out of the bound's count while its group kept it pending,
  // so ids past pendingMemberIdsMax were kept, each with its timer, and the oldest was let in here.
  const oldest = await join(groups, 'f', ids[0]!, { groupId: 'flood-0', requireKnownMemberId: true });
  assert.equal(oldest.errorCode, KafkaError.unknownMemberId, 'the oldest id was forgotten');
  groups.close();
});
