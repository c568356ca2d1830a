/**
 * Kafka topics created and deleted through the admin API (`PUT`/`DELETE /api/kafka/topics/…`), seen
 * by kafkajs: partitions, configs checked by Kafka's rules, growth, and RabbitMQ's permission rule for
 * a management user (configure on the name in the vhost).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { adminCall } from '../../testing/admin-api.js';
import { startTestBroker, type TestBroker } from '../../testing/broker.js';
import { kafkaClient, topicConfig } from '../../testing/kafka-helpers.js';

type Row = Record<string, unknown>;
let server: TestBroker;
let base: string;

const call = (method: string, path: string, body?: unknown, user?: readonly [string, string]) =>
  adminCall(base, method, path, body, user);

before(async () => {
  server = await startTestBroker({ listeners: ['kafka', 'http'] });
  base = server.url('http');
});

after(() => server.stop());

describe('Kafka topics from the admin API', () => {
  test('created with partitions and configs, grown, deleted; kafkajs sees each step', async () => {
    const admin = kafkaClient(server.url('kafka'), 'ops-topics').admin();
    await admin.connect();
    try {
      const created = await call('PUT', '/api/kafka/topics/audit', {
        partitions: 3,
        configs: { 'retention.ms': 3_600_000, 'cleanup.policy': 'delete' },
      });
      assert.equal(created.status, 201);
      const [meta] = (await admin.fetchTopicMetadata({ topics: ['audit'] })).topics;
      assert.equal(meta?.partitions.length, 3);
      assert.equal(await topicConfig(admin, 'audit', 'retention.ms'), '3600000');

      assert.equal((await call('PUT', '/api/kafka/topics/audit', {})).status, 204);
      assert.equal((await call('PUT', '/api/kafka/topics/%2F/audit', { partitions: 4 })).status, 204);
      const [grown] = (await admin.fetchTopicMetadata({ topics: ['audit'] })).topics;
      assert.equal(grown?.partitions.length, 4);
      const shrink = await call('PUT', '/api/kafka/topics/audit', { partitions: 2 });
      assert.equal(shrink.status, 400);
      const row = (await call('GET', '/api/kafka/topics/%2F/audit')).json as Row;
      assert.equal((row['partitions'] as Row[]).length, 4);

      assert.equal((await call('DELETE', '/api/kafka/topics/%2F/audit')).status, 204);
      assert.equal((await call('DELETE', '/api/kafka/topics/audit')).status, 404);
      assert.ok(!(await admin.listTopics()).includes('audit'));
    } finally {
      await admin.disconnect();
    }
  });

  test("bad names, partitions and configs are refused with Kafka's reasons", async () => {
    const refusal = async (path: string, body: unknown) => {
      const answer = await call('PUT', path, body);
      assert.equal(answer.status, 400, JSON.stringify(answer.json));
      return String((answer.json as Row)['reason']);
    };
    assert.match(await refusal('/api/kafka/topics/bad%20name', {}), /not legal/);
    assert.match(await refusal('/api/kafka/topics/t1', { partitions: 0 }), /at least 1/);
    assert.match(
      await refusal('/api/kafka/topics/t1', { configs: { 'no.such': '1' } }),
      /Unknown topic config/,
    );
    assert.match(
      await refusal('/api/kafka/topics/t1', { configs: { 'retention.ms': 'x' } }),
      /Invalid value/,
    );
    assert.equal((await call('PUT', '/api/kafka/topics/nowhere/t1', {})).status, 404);
    assert.equal((await call('GET', '/api/kafka/topics/t1')).status, 404);
  });

  test('a management user needs configure on the topic name in the vhost', async () => {
    const user = ['ops-user', 'ops-pass'] as const;
    assert.equal(
      (await call('PUT', '/api/users/ops-user', { password: 'ops-pass', tags: 'management' })).status,
      201,
    );
    const grant = (configure: string) =>
      call('PUT', '/api/permissions/%2F/ops-user', { configure, write: '.*', read: '.*' });
    await grant('^team-.*');
    assert.equal((await call('PUT', '/api/kafka/topics/other', {}, user)).status, 403);
    assert.equal((await call('PUT', '/api/kafka/topics/team-a', { partitions: 2 }, user)).status, 201);
    await grant('^$');
    assert.equal((await call('DELETE', '/api/kafka/topics/team-a', undefined, user)).status, 403);
    await grant('.*');
    assert.equal((await call('DELETE', '/api/kafka/topics/team-a', undefined, user)).status, 204);
  });
});
