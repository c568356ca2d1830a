/**
 * Policies reach the queues behind MQTT sessions, and vhost and user limits refuse a CONNECT with
 * each version's code, seen through mqtt.js.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import mqtt from 'mqtt';
import { adminCall } from '../../../testing/admin-api.js';
import { startTestBroker, type TestBroker } from '../../../testing/broker.js';
import { closeAll, connect, inbox, until } from '../../../testing/mqtt-harness.js';

let server: TestBroker;

async function api(method: 'PUT' | 'DELETE', path: string, body?: unknown): Promise<number> {
  return (await adminCall(server.url('http'), method, path, body)).status;
}

/** The CONNACK code a refused client gets (mqtt.js reports it as the error's `code`). */
function refusedCode(version: 4 | 5): Promise<number | undefined> {
  return new Promise((resolve) => {
    const client = mqtt.connect(server.url('mqtt'), { reconnectPeriod: 0, protocolVersion: version });
    client.once('error', (err) => {
      client.end(true);
      resolve((err as { code?: number }).code);
    });
    client.once('connect', () => {
      client.end(true);
      resolve(0);
    });
  });
}

before(async () => {
  server = await startTestBroker({ listeners: ['mqtt', 'http'] });
});

after(() => server.stop());

test('a max-length policy on session queues keeps only the newest messages of an offline subscriber', async () => {
  const status = await api('PUT', '/api/policies/%2F/mqtt-backlog', {
    pattern: '^session\\.',
    'apply-to': 'queues',
    definition: { 'max-length': 2 },
  });
  assert.equal(status, 201);
  const subscriber = await connect(server.url('mqtt'), { clientId: 'meter-7', clean: false });
  await subscriber.subscribeAsync('meters/7', { qos: 1 });
  await subscriber.endAsync();

  const publisher = await connect(server.url('mqtt'), { clientId: 'pub' });
  for (let i = 0; i < 5; i++) await publisher.publishAsync('meters/7', `reading ${i}`, { qos: 1 });

  const back = await connect(server.url('mqtt'), { clientId: 'meter-7', clean: false });
  const received = inbox(back);
  await until(() => received.messages.length >= 2, 10_000, 'the backlog delivered');
  assert.deepEqual(
    received.messages.map((m) => m.text),
    ['reading 3', 'reading 4'],
  );
  await closeAll(publisher, back);
  await api('DELETE', '/api/policies/%2F/mqtt-backlog');
});

test('vhost max-connections refuses CONNECT: 0x97 Quota exceeded for 5, 3 Server unavailable for 3.1.1', async () => {
  const held = await connect(server.url('mqtt'), { clientId: 'holder' });
  assert.equal(await api('PUT', '/api/vhost-limits/%2F/max-connections', { value: 1 }), 204);
  assert.equal(await refusedCode(5), 0x97);
  assert.equal(await refusedCode(4), 3);
  await api('DELETE', '/api/vhost-limits/%2F/max-connections');
  assert.equal(await refusedCode(4), 0);
  await closeAll(held);
});
