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
  type ListGroupsResponse,
} from '../../../src/protocols/kafka/codec/index.js';
import { kafkaClient } from '../../../testing/kafka-helpers.js';
import { createFilled, shareMember, startAtEarliest } from '../../../testing/kafka-share.js';
import { listenerFlags, type RunningCli, startCli } from '../../../testing/server-cli.js';

const topic = 'share-durable';
const group = 'share-durable-group';

function start(dataDir: string): Promise<RunningCli> {
  return startCli(
    ['--storage', 'file', '--data-dir', dataDir, '--log-level', 'warn', ...listenerFlags({ kafka: 'auto' })],
    { lifetimeMs: 120_000 },
  );
}

test('a share group SIGKILLed with records in every state goes on where it was', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-kafka-share-crash-'));
  let cli = await start(dataDir);
  try {
    await createFilled(
      `127.0.0.1:${cli.ports.kafka}`,
      topic,
      Array.from({ length: 10 }, (_, i) => `r${i}`),
    );

    const before = await shareMember(cli.ports.kafka!, { topic, group }, 'before');
    await startAtEarliest(before.wire, group);
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
    const after = await shareMember(cli.ports.kafka!, { topic, group }, 'after');
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
