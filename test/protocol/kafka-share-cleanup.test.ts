/**
 * Share groups (KIP-932) cleaned up as the other coordinators clean theirs, every
 * groupCleanupIntervalMs on a manual clock: a group left with no members, no share-partitions and
 * its default configs is deleted, and the share-partitions of a deleted topic are dropped. Before,
 * both were kept for good: a client joining and leaving 10,000 share group ids (groupsMax) had every
 * later new share group refused with GROUP_MAX_SIZE_REACHED, and a topic's share-partitions stayed in
 * memory after its deletion, with their records and locks.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { groupNameCharsMax } from '../../src/core/groups.js';
import { ManualClock } from '../../src/core/index.js';
import { groupCleanupIntervalMs } from '../../src/protocols/kafka/consumer-groups.js';
import { KafkaError } from '../../src/protocols/kafka/errors.js';
import { ShareGroupCoordinator, shareSessionTimeoutMs } from '../../src/protocols/kafka/share-groups.js';

/** Partitions by topic name; a topic deleted is taken out. */
const topics = new Map<string, number>();

function coordinator(clock: ManualClock): ShareGroupCoordinator {
  topics.clear();
  topics.set('t', 2);
  return new ShareGroupCoordinator(clock, (topic) => topics.get(topic));
}

/** A member of the group heartbeats (0 joins, -1 leaves); its error code. */
function heartbeat(groups: ShareGroupCoordinator, groupId: string, memberEpoch: number): KafkaError {
  const input = {
    groupId,
    memberId: `${groupId}-member`,
    memberEpoch,
    rackId: null,
    subscribedTopicNames: ['t'],
    clientId: 'c',
    clientHost: '127.0.0.1',
  };
  return groups.heartbeat(input).errorCode;
}

/** Moves the clock to the next cleanup while the busy group's member heartbeats as a client does. */
function toCleanup(groups: ShareGroupCoordinator, clock: ManualClock, busy: string): void {
  const step = shareSessionTimeoutMs / 3;
  for (let passed = 0; passed < groupCleanupIntervalMs; passed += step) {
    const epoch = groups.describe(busy)?.members[0]?.memberEpoch ?? -2;
    assert.equal(heartbeat(groups, busy, epoch), KafkaError.none);
    clock.advance(Math.min(step, groupCleanupIntervalMs - passed));
  }
}

function names(groups: ShareGroupCoordinator): string[] {
  const ids = groups.list().map((g) => g.groupId);
  return ids.sort();
}

test('a share group left with no members, no share-partitions and its default configs is deleted at the next cleanup', () => {
  const clock = new ManualClock();
  const groups = coordinator(clock);
  for (const group of ['left', 'expired', 'read', 'configured', 'busy'])
    assert.equal(heartbeat(groups, group, 0), KafkaError.none);
  assert.ok(
    groups.partition('read', 't', 0, 'id-t', () => 0),
    'a share-partition read',
  );
  const set = groups.configure('configured', [{ name: 'share.auto.offset.reset', value: 'earliest' }], false);
  assert.equal(set, undefined);
  for (const group of ['left', 'read', 'configured'])
    assert.equal(heartbeat(groups, group, -1), KafkaError.none);
  // 'expired' stops heartbeating; 'busy' goes on.
  toCleanup(groups, clock, 'busy');
  assert.deepEqual(names(groups), ['busy', 'configured', 'read']);
  groups.close();
});

test('the share-partitions of a deleted topic are dropped at the next cleanup, and the group with them once it is left empty', () => {
  const clock = new ManualClock();
  const groups = coordinator(clock);
  assert.equal(heartbeat(groups, 'g', 0), KafkaError.none);
  for (const partition of [0, 1]) groups.partition('g', 't', partition, 'id-t', () => 0);
  assert.equal(heartbeat(groups, 'g', -1), KafkaError.none);
  topics.delete('t');
  clock.advance(groupCleanupIntervalMs);
  assert.equal(groups.hasPartition('g', 't', 0), false);
  assert.deepEqual(names(groups), []);
  groups.close();
});

test('a share group id longer than core stores is INVALID_REQUEST, and no group is kept for it', () => {
  const groups = coordinator(new ManualClock());
  const long = 'g'.repeat(groupNameCharsMax + 1);
  assert.equal(heartbeat(groups, long, 0), KafkaError.invalidRequest);
  assert.equal(groups.has(long), false, 'before, the group was kept with its member');
  groups.close();
});
