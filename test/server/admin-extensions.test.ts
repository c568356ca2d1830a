/**
 * The admin API's extensions with real clients: Kafka topics and consumer groups (lag, offset reset,
 * refused while members are live) with kafkajs; MQTT sessions, subscriptions and retained messages
 * with mqtt.js.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { adminCall } from '../../testing/admin-api.js';
import { startTestBroker, type TestBroker } from '../../testing/broker.js';
import { commitGroupOffsets, kafkaClient, until } from '../../testing/kafka-helpers.js';
import { connect } from '../../testing/mqtt-harness.js';

type Row = Record<string, unknown>;
let server: TestBroker;
let base: string;

const call = (method: string, path: string, body?: unknown) => adminCall(base, method, path, body);

before(async () => {
  server = await startTestBroker({ listeners: ['mqtt', 'kafka', 'http'] });
  base = server.url('http');
});

after(() => server.stop());

describe('Kafka extensions', () => {
  test('topics with offsets; a group with lag; reset-offsets dry run, applied, refused while live', async () => {
    const kafka = kafkaClient(server.url('kafka'), 'ops');
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'orders', numPartitions: 2 }] });
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic: 'orders',
      messages: Array.from({ length: 6 }, (_, i) => ({ partition: i % 2, value: `o-${i}` })),
    });
    await producer.disconnect();
    await commitGroupOffsets(kafka, 'billing', 'orders', [
      { partition: 0, offset: '1' },
      { partition: 1, offset: '3' },
    ]);
    try {
      const topic = (await call('GET', '/api/kafka/topics/orders')).json as Row;
      assert.deepEqual(topic['partitions'], [
        { partition: 0, start_offset: 0, end_offset: 3, messages: 3 },
        { partition: 1, start_offset: 0, end_offset: 3, messages: 3 },
      ]);
      assert.ok(((await call('GET', '/api/kafka/topics')).json as Row[]).some((t) => t['name'] === 'orders'));
      assert.equal((await call('GET', '/api/kafka/topics/missing')).status, 404);

      const group = (await call('GET', '/api/kafka/groups/billing')).json as Row;
      assert.equal(group['state'], 'Empty');
      assert.deepEqual(
        (group['offsets'] as Row[]).map((o) => [o['partition'], o['committed_offset'], o['lag']]),
        [
          [0, 1, 2],
          [1, 3, 0],
        ],
      );
      const dry = (
        await call('POST', '/api/kafka/groups/billing/reset-offsets', { to: 'earliest', dry_run: true })
      ).json as Row;
      assert.deepEqual(
        (dry['offsets'] as Row[]).map((o) => [o['current_offset'], o['new_offset']]),
        [
          [1, 0],
          [3, 0],
        ],
      );
      const unchanged = (await call('GET', '/api/kafka/groups/billing')).json as Row;
      assert.equal((unchanged['offsets'] as Row[])[0]?.['committed_offset'], 1);
      const shifted = await call('POST', '/api/kafka/groups/billing/reset-offsets', {
        to: 'shift',
        shift_by: -1,
        dry_run: false,
      });
      assert.deepEqual(
        ((shifted.json as Row)['offsets'] as Row[]).map((o) => o['new_offset']),
        [0, 2],
      );
      const after = (await admin.fetchOffsets({ groupId: 'billing', topics: ['orders'] }))[0]?.partitions;
      assert.deepEqual(after?.map((p) => p.offset).sort(), ['0', '2']);
      assert.equal(
        (await call('POST', '/api/kafka/groups/billing/reset-offsets', { to: 'nowhere' })).status,
        400,
      );

      const consumer = kafka.consumer({ groupId: 'live', sessionTimeout: 6000, heartbeatInterval: 200 });
      await consumer.connect();
      await consumer.subscribe({ topic: 'orders', fromBeginning: true });
      await consumer.run({ eachMessage: async () => {} });
      try {
        await until(
          async () => ((await call('GET', '/api/kafka/groups/live')).json as Row)['state'] === 'Stable',
          10_000,
          'group live is stable',
        );
        const live = (await call('GET', '/api/kafka/groups/live')).json as Row;
        const [member] = live['members'] as Row[];
        assert.equal(member?.['client_id'], 'ops');
        assert.ok(Array.isArray(member?.['assignment']));
        const refused = await call('POST', '/api/kafka/groups/live/reset-offsets', {
          to: 'latest',
          dry_run: true,
        });
        assert.equal(refused.status, 409);
      } finally {
        await consumer.disconnect();
      }
    } finally {
      await admin.disconnect();
    }
  });
});

describe('MQTT extensions', () => {
  test('sessions, subscriptions (shared too) and retained messages', async () => {
    const client = await connect(server.url('mqtt'), {
      clientId: 'meter-1',
      protocolVersion: 5,
      clean: false,
      properties: { sessionExpiryInterval: 300 },
    });
    try {
      await client.subscribeAsync('site/+/power', { qos: 1 });
      await client.subscribeAsync('$share/readers/site/#', { qos: 0 });
      await client.publishAsync('site/a.b/power', '42', { qos: 1, retain: true });
      const sessions = (await call('GET', '/api/mqtt/sessions')).json as Row[];
      const session = sessions.find((s) => s['client_id'] === 'meter-1');
      assert.deepEqual(
        [
          session?.['connected'],
          session?.['clean_start'],
          session?.['expiry_interval_s'],
          session?.['subscriptions'],
        ],
        [true, false, 300, 2],
      );
      const subscriptions = ((await call('GET', '/api/mqtt/subscriptions')).json as Row[]).filter(
        (s) => s['client_id'] === 'meter-1',
      );
      assert.deepEqual(
        subscriptions.map((s) => [s['filter'], s['qos'], s['share_group']]),
        [
          ['site/+/power', 1, undefined],
          ['site/#', 0, 'readers'],
        ],
      );
      await until(
        async () => ((await call('GET', '/api/mqtt/retained')).json as Row[]).length === 1,
        5000,
        'the retained message',
      );
      const [retained] = (await call('GET', '/api/mqtt/retained')).json as Row[];
      assert.deepEqual(
        [retained?.['topic'], retained?.['qos'], retained?.['payload_bytes'], retained?.['payload']],
        ['site/a.b/power', 1, 2, Buffer.from('42').toString('base64')],
      );
      const paged = (await call('GET', '/api/mqtt/sessions?page=1&page_size=1&columns=client_id'))
        .json as Row;
      assert.equal(paged['total_count'], sessions.length);
    } finally {
      client.end(true);
    }
  });
});
