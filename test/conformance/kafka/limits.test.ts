/**
 * Kafka has no answer that refuses a connection: past the vhost's max-connections the broker closes
 * the socket, and a client connects again once the limit is lifted.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { adminCall } from '../../../testing/admin-api.js';
import { startTestBroker, type TestBroker } from '../../../testing/broker.js';
import { kafkaClient } from '../../../testing/kafka-helpers.js';

let server: TestBroker;

async function setLimit(value: number | undefined): Promise<void> {
  const path = '/api/vhost-limits/%2F/max-connections';
  await adminCall(
    server.url('http'),
    value === undefined ? 'DELETE' : 'PUT',
    path,
    value === undefined ? undefined : { value },
  );
}

before(async () => {
  server = await startTestBroker({ listeners: ['kafka', 'http'] });
});

after(() => server.stop());

test('vhost max-connections closes a Kafka connection past it; lifted, kafkajs connects', async () => {
  await setLimit(0);
  const socket = connect(server.port('kafka'), '127.0.0.1');
  socket.on('error', () => {});
  await new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await setLimit(undefined);
  const admin = kafkaClient(server.url('kafka')).admin();
  await admin.connect();
  assert.ok(Array.isArray(await admin.listTopics()));
  await admin.disconnect();
});
