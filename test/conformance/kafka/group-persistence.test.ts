/**
 * Group metadata survives a broker restart (file storage, same data dir), as Kafka's coordinator
 * reloads it from `__consumer_offsets`: a member that comes back with its old member id and
 * generation heartbeats and commits without a rebalance, and one that does not come back expires
 * after a new session timeout, which rebalances the rest.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { BrokerCore } from '../../../src/core/broker.js';
import { internalContext } from '../../../src/core/entry/context.js';
import { ApiKey } from '../../../src/protocols/kafka/codec/index.js';
import { KafkaError } from '../../../src/protocols/kafka/errors.js';
import { GroupStore, storedGroupBytesMax } from '../../../src/protocols/kafka/group-store.js';
import { MemoryStorage } from '../../../src/storage/memory.js';
import { type KafkaTestBroker, startKafkaBroker } from '../../../testing/kafka-helpers.js';
import { WireClient } from '../../../testing/kafka-wire.js';

// biome-ignore lint/suspicious/noExplicitAny: decoded test responses
type Obj = any;
const utf8 = new TextEncoder();
const text = new TextDecoder();
const sessionTimeoutMs = 1500;

function joinBody(group: string, memberId: string): Obj {
  return {
    groupId: group,
    sessionTimeoutMs,
    rebalanceTimeoutMs: 3000,
    memberId,
    groupInstanceId: null,
    protocolType: 'consumer',
    protocols: [{ name: 'range', metadata: utf8.encode('subscription') }],
  };
}

const sync = (group: string, memberId: string, generationId: number, assignments: Obj[] = []): Obj => ({
  groupId: group,
  generationId,
  memberId,
  groupInstanceId: null,
  assignments,
});

const beat = (group: string, memberId: string, generationId: number): Obj => ({
  groupId: group,
  generationId,
  memberId,
  groupInstanceId: null,
});

/** Runs `before` on a broker, restarts it on the same data dir, then runs `after`. */
async function acrossRestart(
  before: (kb: KafkaTestBroker) => Promise<void>,
  after: (kb: KafkaTestBroker) => Promise<void>,
): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-kafka-groups-'));
  try {
    let kb = await startKafkaBroker({ storage: 'file', dataDir });
    try {
      await before(kb);
    } finally {
      await kb.stop();
    }
    kb = await startKafkaBroker({ storage: 'file', dataDir });
    try {
      await after(kb);
    } finally {
      await kb.stop();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

test('a member heartbeats and commits with its old member id and generation after a restart', async () => {
  const group = 'kept-group';
  let memberId = '';
  let generation = -1;
  await acrossRestart(
    async (kb) => {
      const wire = await WireClient.open(kb.port);
      const joined = await wire.request<Obj>(ApiKey.JoinGroup, 3, joinBody(group, ''));
      assert.equal(joined.errorCode, KafkaError.none);
      memberId = joined.memberId;
      generation = joined.generationId;
      const given = [{ memberId, assignment: utf8.encode('partition 0') }];
      const synced = await wire.request<Obj>(ApiKey.SyncGroup, 3, sync(group, memberId, generation, given));
      assert.equal(synced.errorCode, KafkaError.none);
      wire.close();
    },
    async (kb) => {
      const wire = await WireClient.open(kb.port);
      const hb = await wire.request<Obj>(ApiKey.Heartbeat, 3, beat(group, memberId, generation));
      assert.equal(hb.errorCode, KafkaError.none, 'the old member id and generation are still valid');
      await wire.request<Obj>(ApiKey.Metadata, 4, {
        topics: [{ name: 'kept' }],
        allowAutoTopicCreation: true,
      });
      const commit = await wire.request<Obj>(ApiKey.OffsetCommit, 7, {
        groupId: group,
        generationIdOrMemberEpoch: generation,
        memberId,
        groupInstanceId: null,
        topics: [
          { name: 'kept', partitions: [{ partitionIndex: 0, committedOffset: 1n, committedMetadata: '' }] },
        ],
      });
      assert.equal(commit.topics[0].partitions[0].errorCode, KafkaError.none);
      const resynced = await wire.request<Obj>(ApiKey.SyncGroup, 3, sync(group, memberId, generation));
      assert.equal(text.decode(resynced.assignment), 'partition 0', 'the assignment is kept');
      const described = await wire.request<Obj>(ApiKey.DescribeGroups, 3, { groups: [group] });
      assert.equal(described.groups[0].groupState, 'Stable');
      assert.deepEqual(
        described.groups[0].members.map((m: Obj) => m.memberId),
        [memberId],
      );
      const stranger = await wire.request<Obj>(ApiKey.Heartbeat, 3, beat(group, 'nobody', generation));
      assert.equal(stranger.errorCode, KafkaError.unknownMemberId);
      wire.close();
    },
  );
});

/** Forms a two-member group over the wire; returns the member ids and the generation. */
async function twoMembers(a: WireClient, b: WireClient, group: string) {
  const first = await a.request<Obj>(ApiKey.JoinGroup, 3, joinBody(group, ''));
  const idA = first.memberId as string;
  await a.request<Obj>(ApiKey.SyncGroup, 3, sync(group, idA, first.generationId));
  b.send(ApiKey.JoinGroup, 3, joinBody(group, ''));
  const hb = await a.request<Obj>(ApiKey.Heartbeat, 3, beat(group, idA, first.generationId));
  assert.equal(hb.errorCode, KafkaError.rebalanceInProgress);
  const second = await a.request<Obj>(ApiKey.JoinGroup, 3, joinBody(group, idA));
  const idB = (await b.receive<Obj>(ApiKey.JoinGroup, 3)).body.memberId as string;
  const generation = second.generationId as number;
  b.send(ApiKey.SyncGroup, 3, sync(group, idB, generation));
  const given = [
    { memberId: idA, assignment: utf8.encode('a') },
    { memberId: idB, assignment: utf8.encode('b') },
  ];
  await a.request<Obj>(ApiKey.SyncGroup, 3, sync(group, idA, generation, given));
  assert.equal(text.decode((await b.receive<Obj>(ApiKey.SyncGroup, 3)).body.assignment), 'b');
  return { idA, idB, generation };
}

test('a member that does not come back after a restart expires and the rest rebalance', async () => {
  const group = 'half-back';
  let ids = { idA: '', idB: '', generation: -1 };
  await acrossRestart(
    async (kb) => {
      const a = await WireClient.open(kb.port);
      const b = await WireClient.open(kb.port);
      ids = await twoMembers(a, b, group);
      a.close();
      b.close();
    },
    async (kb) => {
      const a = await WireClient.open(kb.port);
      const { idA, idB, generation } = ids;
      const deadline = Date.now() + 4 * sessionTimeoutMs;
      let code: number = KafkaError.none;
      // Only A heartbeats; B's new session timeout runs out, which starts a rebalance.
      for (let i = 0; i < 100 && code === KafkaError.none && Date.now() < deadline; i++) {
        code = (await a.request<Obj>(ApiKey.Heartbeat, 3, beat(group, idA, generation))).errorCode;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      assert.equal(code, KafkaError.rebalanceInProgress, 'B expires after a session timeout');
      const rejoined = await a.request<Obj>(ApiKey.JoinGroup, 3, joinBody(group, idA));
      assert.equal(rejoined.errorCode, KafkaError.none);
      assert.equal(rejoined.generationId, generation + 1);
      assert.deepEqual(
        rejoined.members.map((m: Obj) => m.memberId),
        [idA],
        'the group goes on without B',
      );
      const gone = await a.request<Obj>(ApiKey.Heartbeat, 3, beat(group, idB, generation));
      assert.equal(gone.errorCode, KafkaError.unknownMemberId);
      a.close();
    },
  );
});

test('a group record past its size bound is not stored, and no stale record is left', async () => {
  const core = await BrokerCore.open({ storage: new MemoryStorage() });
  const store = new GroupStore(core.connect(internalContext('/')));
  const member = (metadataBytes: number) => ({
    id: 'm-1',
    instanceId: null,
    clientId: 'c',
    clientHost: '/127.0.0.1',
    sessionTimeoutMs: 1000,
    rebalanceTimeoutMs: 1000,
    protocols: [{ name: 'range', metadata: new Uint8Array(metadataBytes) }],
    assignment: new Uint8Array(4),
  });
  const group = (metadataBytes: number) => ({
    id: 'g/1',
    generation: 3,
    protocolType: 'consumer',
    protocol: 'range',
    leader: 'm-1',
    rebalance: false,
    members: [member(metadataBytes)],
  });
  assert.equal(await store.save(group(16)), true);
  const loaded = store.load(10);
  assert.equal(loaded.length, 1);
  assert.equal(loaded[0]!.id, 'g/1');
  assert.equal(loaded[0]!.members[0]!.protocols[0]!.metadata.byteLength, 16);
  assert.equal(await store.save(group(storedGroupBytesMax)), false);
  assert.deepEqual(store.load(10), [], 'the outdated record is removed');
  await core.close();
});
