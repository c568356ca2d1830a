/**
 * Share sessions (KIP-932) held together within a bound of partitions, on a manual clock: past it a
 * new session is refused with SHARE_SESSION_LIMIT_REACHED (133), as Kafka refuses one past
 * group.share.max.share.sessions; a session already open keeps working; a closed or expired session
 * gives its partitions back.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../src/core/index.js';
import { KafkaError } from '../../src/protocols/kafka/errors.js';
import {
  type SessionPartition,
  ShareGroupCoordinator,
  shareSessionTimeoutMs,
} from '../../src/protocols/kafka/share-groups.js';

const partitionsMax = 10;
const topicPartitions = 8;

function coordinator(clock: ManualClock): ShareGroupCoordinator {
  return new ShareGroupCoordinator(clock, () => topicPartitions, undefined, undefined, partitionsMax);
}

function join(groups: ShareGroupCoordinator, memberId: string): void {
  const result = groups.heartbeat({
    groupId: 'g',
    memberId,
    memberEpoch: 0,
    rackId: null,
    subscribedTopicNames: ['t'],
    clientId: 'c',
    clientHost: '127.0.0.1',
  });
  assert.equal(result.errorCode, KafkaError.none);
}

const wanted = (count: number, topicId = 'id-t'): SessionPartition[] =>
  Array.from({ length: count }, (_, partition) => ({ topic: 't', topicId, partition }));

test('past the partitions bound a new share session is SHARE_SESSION_LIMIT_REACHED; an open one keeps working', () => {
  const groups = coordinator(new ManualClock());
  for (const m of ['a', 'b', 'c']) join(groups, m);
  assert.equal((groups.session('g', 'a', 0, wanted(6), []) as SessionPartition[]).length, 6);
  assert.equal(groups.session('g', 'b', 0, wanted(5, 'id-u'), []), KafkaError.shareSessionLimitReached);
  assert.equal((groups.session('g', 'b', 0, wanted(4, 'id-u'), []) as SessionPartition[]).length, 4);
  // Growing an open session past the bound is refused and leaves it as it was, epoch included.
  assert.equal(groups.session('g', 'a', 1, wanted(7), []), KafkaError.shareSessionLimitReached);
  assert.equal((groups.session('g', 'a', 1, [], []) as SessionPartition[]).length, 6);
  assert.equal((groups.session('g', 'a', 2, [], wanted(2)) as SessionPartition[]).length, 4);
  assert.equal((groups.session('g', 'c', 0, wanted(2, 'id-v'), []) as SessionPartition[]).length, 2);
});

test('a closed share session and an expired member free their partitions for a new session', () => {
  const clock = new ManualClock();
  const groups = coordinator(clock);
  for (const m of ['a', 'b']) join(groups, m);
  assert.ok(Array.isArray(groups.session('g', 'a', 0, wanted(8), [])));
  assert.equal(groups.session('g', 'b', 0, wanted(8), []), KafkaError.shareSessionLimitReached);
  groups.closeSession('g', 'a'); // epoch -1, or its connection lost (closeSessionIf)
  assert.ok(Array.isArray(groups.session('g', 'b', 0, wanted(8), [])));
  join(groups, 'c');
  assert.equal(groups.session('g', 'c', 0, wanted(8, 'id-u'), []), KafkaError.shareSessionLimitReached);
  // Members that stop heartbeating expire, and their sessions go with them.
  clock.advance(shareSessionTimeoutMs + 1);
  join(groups, 'd');
  assert.ok(Array.isArray(groups.session('g', 'd', 0, wanted(8, 'id-u'), [])));
});
