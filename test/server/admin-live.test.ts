/**
 * `/api/connections`, `/api/channels` and `/api/consumers` with real clients of each protocol connected
 * (amqplib, mqtt.js, kafkajs), and an operator closing connections in each protocol's terms.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import amqp from 'amqplib';
import type { MqttClient } from 'mqtt';
import { adminCall } from '../../testing/admin-api.js';
import { startTestBroker, type TestBroker } from '../../testing/broker.js';
import { kafkaClient } from '../../testing/kafka-helpers.js';
import { connect, until } from '../../testing/mqtt-harness.js';

type Row = Record<string, unknown>;
let server: TestBroker;
let base: string;

const get = async (path: string) => (await adminCall(base, 'GET', path)).json as Row[];

before(async () => {
  server = await startTestBroker({ listeners: ['amqp', 'mqtt', 'kafka', 'http'] });
  base = server.url('http');
});

after(() => server.stop());

describe('live connections of every protocol', () => {
  test('AMQP, MQTT 3.1.1, MQTT 5.0 and Kafka connections are listed with their protocol', async () => {
    const connection = await amqp.connect(server.url('amqp'), {
      clientProperties: { connection_name: 'orders-app' },
    });
    const channel = await connection.createConfirmChannel();
    await channel.prefetch(7);
    await channel.assertQueue('work', { durable: false });
    await channel.consume('work', () => {}, { consumerTag: 'worker-1' });
    const v3 = await connect(server.url('mqtt'), { clientId: 'sensor-3', protocolVersion: 4 });
    const v5 = await connect(server.url('mqtt'), { clientId: 'sensor-5', protocolVersion: 5 });
    await v5.subscribeAsync('metrics/#', { qos: 1 });
    const admin = kafkaClient(server.url('kafka'), 'billing').admin();
    await admin.connect();
    await admin.listTopics();
    try {
      const rows = await get('/api/connections');
      const byProtocol = new Map(rows.map((r) => [r['protocol'], r]));
      assert.deepEqual([...byProtocol.keys()].sort(), ['AMQP 0-9-1', 'Kafka', 'MQTT 3.1.1', 'MQTT 5.0']);
      const a = byProtocol.get('AMQP 0-9-1')!;
      assert.equal(a['user'], 'guest');
      assert.equal(a['vhost'], '/');
      assert.equal(a['channels'], 1);
      assert.equal(a['ssl'], false);
      assert.equal((a['client_properties'] as Row)['connection_name'], 'orders-app');
      assert.match(String(a['name']), /^127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+$/);
      assert.ok((a['recv_oct'] as number) > 0 && (a['send_oct'] as number) > 0);
      assert.equal(byProtocol.get('MQTT 5.0')?.['client_id'], 'sensor-5');
      assert.equal(byProtocol.get('Kafka')?.['client_id'], 'billing');

      const one = (await adminCall(base, 'GET', `/api/connections/${encodeURIComponent(String(a['name']))}`))
        .json as Row;
      assert.equal(one['protocol'], 'AMQP 0-9-1');
      assert.equal((await get('/api/vhosts/%2F/connections')).length, 4);

      const channels = await get('/api/channels');
      assert.equal(channels.length, 1, 'MQTT and Kafka connections have no channels');
      assert.deepEqual(
        [
          channels[0]?.['number'],
          channels[0]?.['prefetch_count'],
          channels[0]?.['confirm'],
          channels[0]?.['consumer_count'],
        ],
        [1, 7, true, 1],
      );
      assert.equal(channels[0]?.['name'], `${a['name']} (1)`);

      const consumers = await get('/api/consumers/%2F');
      const worker = consumers.find((c) => c['consumer_tag'] === 'worker-1');
      assert.deepEqual(worker?.['queue'], { name: 'work', vhost: '/' });
      const details = (worker?.['channel_details'] ?? {}) as Row;
      assert.equal(details['connection_name'], a['name']);
      assert.equal(details['number'], 1);
      assert.ok(consumers.length >= 2, 'the MQTT 5 session consumes its queue too');

      const paged = (
        await adminCall(base, 'GET', '/api/connections?page=1&page_size=2&sort=protocol&columns=protocol')
      ).json as Row;
      assert.deepEqual(paged['items'], [{ protocol: 'AMQP 0-9-1' }, { protocol: 'Kafka' }]);
    } finally {
      await admin.disconnect();
      await connection.close().catch(() => {});
      v3.end(true);
      v5.end(true);
    }
  });

  test('DELETE /api/connections/{name} closes AMQP with 320 and the X-Reason, MQTT 5 with 0x98', async () => {
    const connection = await amqp.connect(server.url('amqp'));
    // amqplib reports a 320 as the close's error rather than an 'error' event.
    connection.on('error', () => {});
    const closed = new Promise<Error>((resolve) => connection.on('close', resolve));
    const v5: MqttClient = await connect(server.url('mqtt'), { clientId: 'to-close', protocolVersion: 5 });
    const disconnected = new Promise<number | undefined>((resolve) =>
      v5.on('disconnect', (packet) => resolve(packet.reasonCode)),
    );
    const rows = await get('/api/connections');
    const named = (protocol: string) => String(rows.find((r) => r['protocol'] === protocol)?.['name']);
    const res = await fetch(`${base}/api/connections/${encodeURIComponent(named('AMQP 0-9-1'))}`, {
      method: 'DELETE',
      headers: {
        authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}`,
        'x-reason': 'maintenance',
      },
    });
    assert.equal(res.status, 204);
    const err = await closed;
    assert.match(err.message, /320/);
    assert.match(err.message, /CONNECTION_FORCED - maintenance/);
    assert.equal(
      (await adminCall(base, 'DELETE', `/api/connections/${encodeURIComponent(named('MQTT 5.0'))}`)).status,
      204,
    );
    assert.equal(await disconnected, 0x98);
    await until(async () => (await get('/api/connections')).length === 0, 5000, 'connections gone');
    assert.equal((await adminCall(base, 'DELETE', '/api/connections/nobody')).status, 404);
    v5.end(true);
  });
});
