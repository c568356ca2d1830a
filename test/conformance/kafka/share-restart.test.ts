/**
 * A share group (KIP-932) outlives its broker: `switchyard start` (file storage) is SIGKILLed with
 * records of a share-partition accepted, rejected, released and still acquired. After the restart the
 * accepted and rejected records are never handed out again; the released and acquired ones are, with
 * their delivery counts; records never handed out follow; and the group's share.auto.offset.reset is
 * kept. Raw requests, as in share-groups.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  ApiKey,
  type DescribeConfigsResponse,
  type IncrementalAlterConfigsResponse,
  type ListGroupsResponse,
  type MetadataResponse,
  type ShareAcknowledgeResponse,
  type ShareFetchResponse,
  type ShareGroupHeartbeatResponse,
} from '../../../src/protocols/kafka/codec/index.js';
import { KafkaError } from '../../../src/protocols/kafka/errors.js';
import { kafkaClient } from '../../../testing/kafka-helpers.js';
import { WireClient } from '../../../testing/kafka-wire.js';
import { listenerFlags, type RunningCli, startCli } from '../../../testing/server-cli.js';

const topic = 'share-durable';
const group = 'share-durable-group';

function start(dataDir: string): Promise<RunningCli> {
  return startCli(
    ['--storage', 'file', '--data-dir', dataDir, '--log-level', 'warn', ...listenerFlags({ kafka: 'auto' })],
    { lifetimeMs: 120_000 },
  );
}

/** A share consumer by raw requests on one connection. */
async function shareMember(port: number, memberId: string) {
  const wire = await WireClient.open(port);
  const md = await wire.request<MetadataResponse>(ApiKey.Metadata, 12, { topics: [{ name: topic }] });
  const topicId = md.topics[0]!.topicId;
  const joined = await wire.request<ShareGroupHeartbeatResponse>(ApiKey.ShareGroupHeartbeat, 1, {
    groupId: group,
    memberId,
    memberEpoch: 0,
    subscribedTopicNames: [topic],
  });
  assert.equal(joined.errorCode, KafkaError.none, joined.errorMessage ?? '');
  const fetch = async (epoch: number, maxRecords: number) => {
    const r = await wire.request<ShareFetchResponse>(ApiKey.ShareFetch, 1, {
      groupId: group,
      memberId,
      shareSessionEpoch: epoch,
      maxWaitMs: 0,
      minBytes: 1,
      maxBytes: 1024 * 1024,
      maxRecords,
      batchSize: maxRecords,
      topics: [{ topicId, partitions: [{ partitionIndex: 0, acknowledgementBatches: [] }] }],
    });
    assert.equal(r.errorCode, KafkaError.none);
    return r.responses.flatMap((t) =>
      t.partitions.flatMap((p) =>
        p.acquiredRecords.map((a) => [Number(a.firstOffset), Number(a.lastOffset), a.deliveryCount]),
      ),
    );
  };
  const acknowledge = async (epoch: number, first: number, types: number[]) => {
    const r = await wire.request<ShareAcknowledgeResponse>(ApiKey.ShareAcknowledge, 1, {
      groupId: group,
      memberId,
      shareSessionEpoch: epoch,
      topics: [
        {
          topicId,
          partitions: [
            {
              partitionIndex: 0,
              acknowledgementBatches: [
                {
                  firstOffset: BigInt(first),
                  lastOffset: BigInt(first + types.length - 1),
                  acknowledgeTypes: types,
                },
              ],
            },
          ],
        },
      ],
    });
    assert.equal(r.responses[0]?.partitions[0]?.errorCode, KafkaError.none);
  };
  return { wire, fetch, acknowledge };
}

test('a share group SIGKILLed with records in every state goes on where it was', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-kafka-share-crash-'));
  let cli = await start(dataDir);
  try {
    const kafka = kafkaClient(`127.0.0.1:${cli.ports.kafka}`);
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] });
    await admin.disconnect();
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: Array.from({ length: 10 }, (_, i) => ({ value: `r${i}` })) });
    await producer.disconnect();

    const before = await shareMember(cli.ports.kafka!, 'before');
    const altered = await before.wire.request<IncrementalAlterConfigsResponse>(
      ApiKey.IncrementalAlterConfigs,
      1,
      {
        resources: [
          {
            resourceType: 32,
            resourceName: group,
            configs: [{ name: 'share.auto.offset.reset', configOperation: 0, value: 'earliest' }],
          },
        ],
        validateOnly: false,
      },
    );
    assert.equal(altered.responses[0]?.errorCode, KafkaError.none);
    assert.deepEqual(await before.fetch(0, 6), [[0, 5, 1]]);
    // Accept 0-1, release 2, reject 3; 4-5 stay acquired. Then 2 again (its 2nd delivery) and 6.
    await before.acknowledge(1, 0, [1, 1, 2, 3]);
    assert.deepEqual(await before.fetch(2, 2), [
      [2, 2, 2],
      [6, 6, 1],
    ]);
    cli.kill();
    await cli.stop().catch(() => undefined);
    before.wire.close();

    cli = await start(dataDir);
    const after = await shareMember(cli.ports.kafka!, 'after');
    // Never 0, 1 (accepted) or 3 (rejected); the acquired ones back with their counts, then the rest.
    assert.deepEqual(await after.fetch(0, 100), [
      [2, 2, 3],
      [4, 6, 2],
      [7, 9, 1],
    ]);
    await after.acknowledge(1, 2, [1, 0, 1, 1, 1, 1, 1, 1]);
    assert.deepEqual(await after.fetch(2, 100), [], 'all done');
    const listed = await after.wire.request<ListGroupsResponse>(ApiKey.ListGroups, 4, {});
    assert.ok(listed.groups.some((g) => g.groupId === group && g.protocolType === 'share'));
    const configs = await after.wire.request<DescribeConfigsResponse>(ApiKey.DescribeConfigs, 4, {
      resources: [{ resourceType: 32, resourceName: group, configurationKeys: ['share.auto.offset.reset'] }],
      includeSynonyms: false,
      includeDocumentation: false,
    });
    assert.equal(configs.results[0]?.configs[0]?.value, 'earliest', 'the group config survived');
    after.wire.close();
  } finally {
    await cli.stop().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  }
});
