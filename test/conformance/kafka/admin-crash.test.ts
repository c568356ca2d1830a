/**
 * Kafka's admin APIs are answered only once what they change is stored: a child broker whose
 * definitions log's writes never land gets one request per API, each on its own connection (a
 * connection answers in order, so one waiting request would hold the next), then is SIGKILLed; a
 * broker started on the same folder must hold every change whose answer came. CreateTopics,
 * DeleteTopics, CreatePartitions and AlterUserScramCredentials already waited; a CreateAcls of a
 * binding another request was still storing was answered at once, and the binding could be gone after
 * the restart (KIP-140: a created ACL is in the cluster's metadata once answered); so was an
 * OffsetDelete of an offset another request was still deleting (the group's log stalled too), and the
 * offset could be back after the restart.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CoreClient } from '../../../src/core/api.js';
import { ApiKey } from '../../../src/protocols/kafka/codec/index.js';
import { inTempFolder, settlesWithin, startStalledChild } from '../../../testing/crash-stall.js';
import { startKafkaBroker } from '../../../testing/kafka-helpers.js';
import { WireClient } from '../../../testing/kafka-wire.js';
import { until } from '../../../testing/wait.js';

/** How long the test waits for answers that must not come before their changes are stored. */
const answerWaitMs = 1_500;
const appliedWaitMs = 10_000;
const group = 'od';

type Results = Record<string, Array<{ errorCode?: number }>>;

const acl = {
  resourceType: 2,
  resourceName: 'orders',
  resourcePatternType: 3,
  principal: 'User:app',
  host: '*',
  operation: 4,
  permissionType: 3,
};

const requests = {
  createTopics: [
    ApiKey.CreateTopics,
    4,
    {
      topics: [{ name: 'made', numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }],
      timeoutMs: 5000,
    },
  ],
  deleteTopics: [ApiKey.DeleteTopics, 3, { topicNames: ['dropped'], timeoutMs: 5000 }],
  createPartitions: [
    ApiKey.CreatePartitions,
    3,
    { topics: [{ name: 'grown', count: 2, assignments: null }], timeoutMs: 5000, validateOnly: false },
  ],
  createAcls: [ApiKey.CreateAcls, 3, { creations: [acl] }],
  offsetDelete: [
    ApiKey.OffsetDelete,
    0,
    { groupId: group, topics: [{ name: 'offsets', partitions: [{ partitionIndex: 0 }] }] },
  ],
  alterScram: [
    ApiKey.AlterUserScramCredentials,
    0,
    {
      deletions: [],
      upsertions: [
        {
          name: 'scram-made',
          mechanism: 1,
          iterations: 4096,
          salt: Buffer.from('salt-of-the-test'),
          saltedPassword: Buffer.alloc(32, 7),
        },
      ],
    },
  ],
} as const;

type Change = keyof typeof requests;

/** A refusal would make "no answer in time" mean nothing: it fails the test instead. */
const refusals: string[] = [];

/** Sends one request on a connection of its own: whether its answer came in time. */
async function answered(port: number, change: Change): Promise<boolean> {
  const wire = await WireClient.open(port);
  const [apiKey, version, body] = requests[change];
  const reply = wire.request<Results>(apiKey, version, body).then((r) => {
    for (const rows of Object.values(r))
      if (Array.isArray(rows) && rows.some((row) => (row.errorCode ?? 0) !== 0)) refusals.push(change);
  });
  const came = await settlesWithin(reply, answerWaitMs);
  wire.close();
  return came;
}

async function setup(port: number): Promise<void> {
  const wire = await WireClient.open(port);
  for (const [name, numPartitions] of [
    ['dropped', 1],
    ['grown', 1],
    ['offsets', 2],
  ] as const) {
    const topic = { name, numPartitions, replicationFactor: 1, assignments: [], configs: [] };
    await wire.request(ApiKey.CreateTopics, 4, { topics: [topic], timeoutMs: 5000 });
  }
  const committed = (partitionIndex: number) => ({
    partitionIndex,
    committedOffset: 0n,
    committedLeaderEpoch: -1,
    committedMetadata: null,
  });
  await wire.request(ApiKey.OffsetCommit, 8, {
    groupId: group,
    generationIdOrMemberEpoch: -1,
    memberId: '',
    groupInstanceId: null,
    topics: [{ name: 'offsets', partitions: [committed(0), committed(1)] }],
  });
  wire.close();
}

/** In a child broker: topics made, definitions stalled, every change asked for at once; the child dies. */
async function answeredWhileStalled(dataDir: string): Promise<Record<Change, boolean>> {
  const child = await startStalledChild(dataDir, 'kafka');
  try {
    await setup(child.port);
    await child.stall('/logs/defs/');
    await child.stall('/logs/group.');
    // The first CreateAcls and OffsetDelete are left waiting; the ones the test asks about find
    // their changes applied.
    for (const change of ['createAcls', 'offsetDelete'] as const) {
      const [apiKey, version, body] = requests[change];
      (await WireClient.open(child.port)).send(apiKey, version, body);
    }
    const probe = await WireClient.open(child.port);
    await until(async () => (await aclCount(probe)) === 1, appliedWaitMs, 'the first CreateAcls applied');
    await until(async () => (await offsetOf(probe)) === -1n, appliedWaitMs, 'the first OffsetDelete applied');
    const changes = Object.keys(requests) as Change[];
    const came = await Promise.all(changes.map((change) => answered(child.port, change)));
    return Object.fromEntries(changes.map((change, i) => [change, came[i]!])) as Record<Change, boolean>;
  } finally {
    await child.kill();
  }
}

async function aclCount(wire: WireClient): Promise<number> {
  const filter = {
    resourceTypeFilter: 1,
    resourceNameFilter: null,
    patternTypeFilter: 1,
    principalFilter: null,
    hostFilter: null,
    operation: 1,
    permissionType: 1,
  };
  const r = await wire.request<{ resources: unknown[] }>(ApiKey.DescribeAcls, 3, filter);
  return r.resources.length;
}

async function offsetOf(wire: WireClient): Promise<bigint | undefined> {
  type Fetched = { groups: Array<{ topics: Array<{ partitions: Array<{ committedOffset: bigint }> }> }> };
  const r = await wire.request<Fetched>(ApiKey.OffsetFetch, 8, {
    groups: [{ groupId: group, topics: [{ name: 'offsets', partitionIndexes: [0] }] }],
    requireStable: false,
  });
  return r.groups[0]?.topics[0]?.partitions[0]?.committedOffset;
}

/** After the restart: whether each change is there. */
function survived(c: CoreClient): Record<Change, boolean> {
  return {
    createTopics: c.stream('made') !== undefined,
    deleteTopics: c.stream('dropped') === undefined,
    createPartitions: c.stream('grown')?.partitions === 2,
    createAcls: c.listAcls().length === 1,
    offsetDelete: c.fetchOffset(group, 'offsets', 0) === undefined,
    alterScram: c.getUser('scram-made') !== undefined,
  };
}

test('Kafka admin requests are answered only once their changes are stored: each answered change is there after a crash', () =>
  inTempFolder('switchyard-kafka-admin-crash-', async (dataDir) => {
    const came = await answeredWhileStalled(dataDir);
    const broker = await startKafkaBroker({ storage: 'file', dataDir });
    try {
      assert.deepEqual(refusals, [], 'no request refused');
      const kept = survived(broker.broker.client());
      for (const change of Object.keys(came) as Change[])
        assert.ok(!came[change] || kept[change], `${change}: answered, and there after the crash`);
      assert.deepEqual(
        Object.entries(came).filter(([, yes]) => yes),
        [],
        'no answer while its change is not stored',
      );
    } finally {
      await broker.stop();
    }
  }));
