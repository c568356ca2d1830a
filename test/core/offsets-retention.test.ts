/**
 * Committed offsets expire as Kafka expires them (KIP-211, offsets.retention.minutes, checked every
 * offsets.retention.check.interval.ms): an emptied group's once it has been empty for the retention,
 * a standalone consumer's that long after their commit; a group with members keeps its own. Before,
 * offsets and their groups were kept for good: one client's OffsetCommit to 16,500 new group ids held
 * 178 MiB and took a restart 16.6 s. A group whose membership is too large for its record (more than
 * membershipMembersMax members, or long subscriptions) counts as in use too: before, with no record
 * stored, its offsets expired as a standalone consumer's while its members were running.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CoreClient, CoreLimits, GroupMember, GroupMembership } from '../../src/core/api.js';
import {
  membershipBytesMax,
  membershipMembersMax,
  offsetsRetentionCheckIntervalMs,
} from '../../src/core/groups.js';
import type { ManualClock } from '../../src/shared/clock.js';
import { restartableCoreEachTest, settle } from '../../testing/core-helpers.js';

const retentionMinutes = 60;
const retentionMs = retentionMinutes * 60_000;
const limits: Partial<CoreLimits> = { offsetsRetentionMinutes: retentionMinutes };

const member: GroupMember = {
  id: 'm1',
  instanceId: null,
  clientId: 'c',
  clientHost: '/127.0.0.1',
  sessionTimeoutMs: 10_000,
  rebalanceTimeoutMs: 10_000,
  protocols: [],
  assignment: new Uint8Array(0),
};

function membership(members: readonly GroupMember[]): GroupMembership {
  return {
    generation: 1,
    protocolType: 'consumer',
    protocol: 'range',
    leader: null,
    rebalance: false,
    members,
  };
}

const restartable = restartableCoreEachTest(limits);

function commit(client: CoreClient, clock: ManualClock, group: string, offset: number): Promise<void> {
  return client.commitOffset(group, 'orders', 0, { offset, metadata: '', committedAt: clock.now() });
}

/** Moves the clock on by `ms` in check intervals, letting each check write. */
async function pass(clock: ManualClock, ms: number): Promise<void> {
  for (let passed = 0; passed < ms; passed += offsetsRetentionCheckIntervalMs) {
    clock.advance(offsetsRetentionCheckIntervalMs);
    await settle(20);
  }
}

function names(client: CoreClient): string[] {
  return client
    .listGroups()
    .map((g) => g.name)
    .sort();
}

describe('committed offsets expire (KIP-211)', () => {
  test("an emptied group's offsets go once it has been empty for the retention; one with a member keeps them", async () => {
    const { clock, open } = restartable();
    let client = await open();
    await client.createStream('orders', { partitions: 1 });
    for (const group of ['left', 'busy']) {
      await client.saveGroupMembership(group, membership([member]));
      await commit(client, clock, group, 7);
    }
    await pass(clock, retentionMs);
    await client.saveGroupMembership('left', membership([]));
    await pass(clock, retentionMs / 2);
    assert.equal(client.fetchOffset('left', 'orders', 0)?.offset, 7, 'empty for half the retention: kept');
    client = await open();
    await pass(clock, retentionMs / 2 + offsetsRetentionCheckIntervalMs);
    assert.equal(client.fetchOffset('left', 'orders', 0), undefined, 'empty for the retention: gone');
    assert.equal(
      client.fetchOffset('busy', 'orders', 0)?.offset,
      7,
      'a group with a member keeps its offsets',
    );
    client = await open();
    await settle();
    assert.equal(client.fetchOffset('left', 'orders', 0), undefined, 'the expiry is durable');
    assert.equal(client.fetchOffset('busy', 'orders', 0)?.offset, 7);
  });

  test("a standalone consumer's offsets go the retention after their commit, and the group with them", async () => {
    const { clock, open } = restartable();
    const client = await open();
    await client.createStream('orders', { partitions: 2 });
    for (let i = 0; i < 20; i++) await commit(client, clock, `flood-${i}`, i);
    await pass(clock, retentionMs / 2);
    await commit(client, clock, 'flood-0', 100);
    await pass(clock, retentionMs / 2 + offsetsRetentionCheckIntervalMs);
    assert.deepEqual(names(client), ['flood-0'], 'groups left with nothing are removed');
    assert.equal(client.fetchOffset('flood-0', 'orders', 0)?.offset, 100, 'a recent commit is kept');
    await pass(clock, retentionMs);
    assert.deepEqual(names(client), []);
  });

  test('a group whose members are past what its record holds keeps its offsets while it has them, and loses them the retention after it empties', async () => {
    const { clock, open } = restartable();
    const client = await open();
    await client.createStream('orders', { partitions: 1 });
    // Past the record's member count (a classic group), and past its bytes (long subscriptions).
    const crowd = Array.from({ length: membershipMembersMax + 1 }, (_, i) => ({ ...member, id: `m${i}` }));
    const bulky = [{ ...member, assignment: new Uint8Array(membershipBytesMax) }];
    const groups = { crowd, bulky };
    for (const [group, members] of Object.entries(groups)) {
      await commit(client, clock, group, 7);
      assert.equal(await client.saveGroupMembership(group, membership(members)), false, 'not recorded');
    }
    await pass(clock, 2 * retentionMs);
    for (const group of Object.keys(groups))
      assert.equal(client.fetchOffset(group, 'orders', 0)?.offset, 7, `${group}: in use, kept`);
    for (const group of Object.keys(groups)) await client.saveGroupMembership(group, membership([]));
    await pass(clock, retentionMs / 2);
    for (const group of Object.keys(groups))
      assert.equal(
        client.fetchOffset(group, 'orders', 0)?.offset,
        7,
        `${group}: empty for half the retention`,
      );
    await pass(clock, retentionMs / 2 + offsetsRetentionCheckIntervalMs);
    for (const group of Object.keys(groups))
      assert.equal(client.fetchOffset(group, 'orders', 0), undefined, `${group}: empty for the retention`);
  });
});
