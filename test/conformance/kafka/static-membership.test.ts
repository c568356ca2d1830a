/**
 * Static membership (KIP-345) over the raw protocol (kafkajs has no group.instance.id): a static member
 * that comes back within its session timeout takes its old assignment without a rebalance, and the
 * member it replaced is fenced with FENCED_INSTANCE_ID from then on.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ApiKey } from '../../../src/protocols/kafka/codec/index.js';
import { KafkaError } from '../../../src/protocols/kafka/errors.js';
import { hasPythonModule, type KafkaTestBroker, startKafkaBroker } from '../../../testing/kafka-helpers.js';
import { runTool } from '../../../testing/kafka-tools.js';
import { WireClient } from '../../../testing/kafka-wire.js';

// biome-ignore lint/suspicious/noExplicitAny: decoded test responses
type Obj = any;
const utf8 = new TextEncoder();
const text = new TextDecoder();
const group = 'static-g';
const joinVersion = 5;

function joinBody(memberId: string, instanceId: string): Obj {
  return {
    groupId: group,
    sessionTimeoutMs: 10_000,
    rebalanceTimeoutMs: 5000,
    memberId,
    groupInstanceId: instanceId,
    protocolType: 'consumer',
    protocols: [{ name: 'range', metadata: utf8.encode('subscription') }],
  };
}

function syncBody(memberId: string, instanceId: string, generationId: number, given: Obj[] = []): Obj {
  return { groupId: group, generationId, memberId, groupInstanceId: instanceId, assignments: given };
}

function heartbeatBody(memberId: string, instanceId: string, generationId: number): Obj {
  return { groupId: group, generationId, memberId, groupInstanceId: instanceId };
}

const noConfluent = hasPythonModule('confluent_kafka')
  ? false
  : 'python3-confluent-kafka is not installed (apt-get install python3-confluent-kafka)';

// Two static members share two partitions; 'a' closes (static members send no LeaveGroup) and comes
// back, then a second live 'a' joins. Prints what each side saw as JSON.
const pythonStatic = `import sys, json, time
from confluent_kafka import Producer, Consumer
bootstrap, topic = sys.argv[1], sys.argv[2]
events = {'b_assign': 0, 'b_revoke': 0}
errors = []
names = {}

def consumer(instance, **callbacks):
    c = Consumer({'bootstrap.servers': bootstrap, 'group.id': 'py-static', 'group.instance.id': instance,
                  'session.timeout.ms': 10000, 'heartbeat.interval.ms': 300})
    c.subscribe([topic], **callbacks)
    names[id(c)] = instance
    return c

def parts(c):
    return sorted(tp.partition for tp in c.assignment())

def poll_until(cs, check, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        for c in cs:
            m = c.poll(0.05)
            if m is not None and m.error() is not None:
                errors.append([names[id(c)], m.error().str()])
        if check():
            return True
    return False

def b_assign(c, ps): events['b_assign'] += 1
def b_revoke(c, ps): events['b_revoke'] += 1
b = consumer('b', on_assign=b_assign, on_revoke=b_revoke)
a = consumer('a')
assert poll_until([a, b], lambda: len(parts(a)) == 1 and len(parts(b)) == 1, 30), 'group formed'
out = {'a_before': parts(a), 'b_before': parts(b)}
poll_until([a, b], lambda: False, 1.0)
out['b_events_settled'] = dict(events)
a.close()  # a static member sends no LeaveGroup when it closes (KIP-345)
a2 = consumer('a')
assert poll_until([a2, b], lambda: len(parts(a2)) == 1, 20), 'restarted member assigned'
poll_until([a2, b], lambda: False, 1.5)
out.update({'a_after': parts(a2), 'b_after': parts(b), 'b_events_after': dict(events)})
names[id(a2)] = 'a-old'
a3 = consumer('a')
assert poll_until([a3, a2, b], lambda: len(parts(a3)) == 1, 20), 'second instance assigned'
poll_until([a3, a2, b], lambda: any(e[0] == 'a-old' for e in errors), 10)
out['errors'] = errors
print(json.dumps(out))
for c in (a3, b, a2):
    try:
        c.close()
    except Exception:
        pass
`;

describe('kafka static membership', () => {
  let kb: KafkaTestBroker;
  const clients: WireClient[] = [];
  const open = async () => {
    const client = await WireClient.open(kb.port);
    clients.push(client);
    return client;
  };
  before(async () => {
    kb = await startKafkaBroker();
  });
  after(async () => {
    for (const c of clients) c.close();
    await kb.stop();
  });

  test('a restarted static member gets its assignment back without a rebalance; the old one is fenced', async () => {
    const a1 = await open();
    const b = await open();
    // A joins alone (static members skip MEMBER_ID_REQUIRED) and leads generation 1.
    const first = await a1.request<Obj>(ApiKey.JoinGroup, joinVersion, joinBody('', 'a'));
    assert.equal(first.errorCode, KafkaError.none);
    const oldA = first.memberId as string;
    assert.equal(first.leader, oldA);
    await a1.request<Obj>(ApiKey.SyncGroup, 3, syncBody(oldA, 'a', first.generationId, []));

    // B joins: A learns of the rebalance from its heartbeat and rejoins; A leads generation 2.
    const bJoinId = b.send(ApiKey.JoinGroup, joinVersion, joinBody('', 'b'));
    const beat = await a1.request<Obj>(ApiKey.Heartbeat, 3, heartbeatBody(oldA, 'a', first.generationId));
    assert.equal(beat.errorCode, KafkaError.rebalanceInProgress);
    const second = await a1.request<Obj>(ApiKey.JoinGroup, joinVersion, joinBody(oldA, 'a'));
    const bJoin = await b.receive<Obj>(ApiKey.JoinGroup, joinVersion);
    assert.equal(bJoin.correlationId, bJoinId);
    const memberB = bJoin.body.memberId as string;
    const generation = second.generationId as number;
    assert.equal(second.leader, oldA);
    assert.equal(second.members.length, 2);
    const given = [
      { memberId: oldA, assignment: utf8.encode('partitions of a') },
      { memberId: memberB, assignment: utf8.encode('partitions of b') },
    ];
    const bSync = b.send(ApiKey.SyncGroup, 3, syncBody(memberB, 'b', generation));
    const aSync = await a1.request<Obj>(ApiKey.SyncGroup, 3, syncBody(oldA, 'a', generation, given));
    assert.equal(text.decode(aSync.assignment), 'partitions of a');
    const bSynced = await b.receive<Obj>(ApiKey.SyncGroup, 3);
    assert.equal(bSynced.correlationId, bSync);
    assert.equal(text.decode(bSynced.body.assignment), 'partitions of b');

    // A restarts: a new connection, no member id, the same instance id, within the session timeout.
    a1.close();
    const a2 = await open();
    const back = await a2.request<Obj>(ApiKey.JoinGroup, joinVersion, joinBody('', 'a'));
    assert.equal(back.errorCode, KafkaError.none);
    assert.equal(back.generationId, generation, 'no new generation');
    assert.notEqual(back.memberId, oldA);
    assert.deepEqual(back.members, [], 'the restarted leader is not asked to assign again');
    const newA = back.memberId as string;
    const resynced = await a2.request<Obj>(ApiKey.SyncGroup, 3, syncBody(newA, 'a', generation));
    assert.equal(resynced.errorCode, KafkaError.none);
    assert.equal(text.decode(resynced.assignment), 'partitions of a');
    const bBeat = await b.request<Obj>(ApiKey.Heartbeat, 3, heartbeatBody(memberB, 'b', generation));
    assert.equal(bBeat.errorCode, KafkaError.none, 'B sees no rebalance');

    // The replaced member id is fenced on every group API.
    const fenced = KafkaError.fencedInstanceId;
    const probe = await open();
    assert.equal(
      (await probe.request<Obj>(ApiKey.Heartbeat, 3, heartbeatBody(oldA, 'a', generation))).errorCode,
      fenced,
    );
    assert.equal(
      (await probe.request<Obj>(ApiKey.JoinGroup, joinVersion, joinBody(oldA, 'a'))).errorCode,
      fenced,
    );
    assert.equal(
      (await probe.request<Obj>(ApiKey.SyncGroup, 3, syncBody(oldA, 'a', generation))).errorCode,
      fenced,
    );
    const commit = await probe.request<Obj>(ApiKey.OffsetCommit, 7, {
      groupId: group,
      generationIdOrMemberEpoch: generation,
      memberId: oldA,
      groupInstanceId: 'a',
      topics: [
        { name: 'any', partitions: [{ partitionIndex: 0, committedOffset: 1n, committedMetadata: '' }] },
      ],
    });
    assert.equal(commit.topics[0].partitions[0].errorCode, fenced);
  });

  test('a second live member with the same instance id fences the first', async () => {
    const first = await open();
    const joined = await first.request<Obj>(ApiKey.JoinGroup, joinVersion, {
      ...joinBody('', 'dup'),
      groupId: 'static-dup',
    });
    const firstId = joined.memberId as string;
    await first.request<Obj>(ApiKey.SyncGroup, 3, {
      ...syncBody(firstId, 'dup', joined.generationId, [{ memberId: firstId, assignment: utf8.encode('x') }]),
      groupId: 'static-dup',
    });
    const second = await open();
    const taken = await second.request<Obj>(ApiKey.JoinGroup, joinVersion, {
      ...joinBody('', 'dup'),
      groupId: 'static-dup',
    });
    assert.equal(taken.errorCode, KafkaError.none);
    assert.notEqual(taken.memberId, firstId);
    const beat = await first.request<Obj>(ApiKey.Heartbeat, 3, {
      ...heartbeatBody(firstId, 'dup', joined.generationId),
      groupId: 'static-dup',
    });
    assert.equal(beat.errorCode, KafkaError.fencedInstanceId);
    const leave = await first.request<Obj>(ApiKey.LeaveGroup, 3, {
      groupId: 'static-dup',
      members: [{ memberId: firstId, groupInstanceId: 'dup' }],
    });
    assert.equal(leave.members[0].errorCode, KafkaError.fencedInstanceId);
  });

  test('confluent-kafka: a restarted static consumer resumes its partitions; a duplicate is fenced', {
    skip: noConfluent,
  }, async () => {
    await kb.broker.client('/').createStream('py-static', { partitions: 2 });
    const r = await runTool('/usr/bin/python3', ['-c', pythonStatic, kb.bootstrap, 'py-static'], '', 60_000);
    assert.equal(r.code, 0, r.stderr);
    const seen = JSON.parse(r.stdout) as Obj;
    assert.deepEqual(seen.a_after, seen.a_before, 'the restarted member gets its old partition');
    assert.deepEqual(seen.b_after, seen.b_before);
    assert.deepEqual(seen.b_events_after, seen.b_events_settled, 'the other member is not rebalanced');
    assert.ok(
      seen.errors.some((e: string[]) => e[0] === 'a-old' && /fenced/i.test(e[1]!)),
      `the replaced consumer is fenced: ${JSON.stringify(seen.errors)}`,
    );
  });
});
