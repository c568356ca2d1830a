/**
 * KubeMQ in the admin API, with a gRPC client of kubemq.proto: its channels (`/api/kubemq/channels`:
 * type, messages, subscribers, last activity) and its long-lived calls as connections
 * (`/api/connections`, protocol KubeMQ, client id, subscriptions, peer), closed by an operator.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ClientReadableStream } from '@grpc/grpc-js';
import { adminCall } from '../../testing/admin-api.js';
import { startTestBroker, type TestBroker } from '../../testing/broker.js';
import { call, type RawKubemq, rawClient, until, utf8 } from '../../testing/kubemq-harness.js';

type Row = Record<string, unknown>;
let server: TestBroker;
let base: string;
let client: RawKubemq;

const get = async (path: string) => (await adminCall(base, 'GET', path)).json as Row[];

before(async () => {
  server = await startTestBroker({ listeners: ['grpc', 'http'] });
  base = server.url('http');
  client = rawClient(server.url('grpc'));
});

after(async () => {
  client.close();
  await server.stop();
});

function subscribe(channel: string, clientId: string): ClientReadableStream<Row> {
  const method = client['SubscribeToEvents'] as (request: object) => ClientReadableStream<Row>;
  return method.call(client, { SubscribeTypeData: 1, ClientID: clientId, Channel: channel, Group: '' });
}

describe('KubeMQ in the admin API', () => {
  test('channels of every type with messages, subscribers and last activity', async () => {
    const stream = subscribe('ev.a', 'watcher');
    stream.on('error', () => undefined);
    const channelRow = async (name: string) =>
      (await get('/api/kubemq/channels')).find((c) => c['name'] === name);
    await until(async () => (await channelRow('ev.a'))?.['subscribers'] === 1, 5000, 'the subscriber');
    for (let i = 0; i < 3; i++)
      await call(client, 'SendEvent', {
        EventID: `e${i}`,
        ClientID: 'sender',
        Channel: 'ev.a',
        Body: utf8('x'),
      });
    await call(client, 'SendEvent', { ClientID: 'sender', Channel: 'store.a', Body: utf8('s'), Store: true });
    for (let i = 0; i < 2; i++)
      await call(client, 'SendQueueMessage', { ClientID: 'sender', Channel: 'jobs', Body: utf8('j') });
    const rows = await get('/api/kubemq/channels?sort=name');
    const pick = (name: string) => {
      const row = rows.find((c) => c['name'] === name);
      assert.ok(row, name);
      return [row['type'], row['messages'], row['sent'], row['subscribers']];
    };
    assert.deepEqual(pick('ev.a'), ['events', 3, 3, 1]);
    assert.deepEqual(pick('store.a'), ['events_store', 1, 1, 0]);
    assert.deepEqual(pick('jobs'), ['queues', 2, 2, 0]);
    assert.match(String(rows.find((c) => c['name'] === 'jobs')?.['last_activity']), /^\d{4}-\d\d-\d\dT/);
    stream.cancel();
    await until(async () => (await channelRow('ev.a'))?.['subscribers'] === 0, 5000, 'the subscriber gone');
  });

  test('a subscription is a KubeMQ connection an operator can close', async () => {
    const stream = subscribe('ev.b', 'closable');
    const ended = new Promise<{ code?: number; details?: string }>((resolve) => stream.on('error', resolve));
    const kubemq = async () =>
      (await get('/api/connections')).filter(
        (c) => c['protocol'] === 'KubeMQ' && c['client_id'] === 'closable',
      );
    await until(async () => (await kubemq()).length === 1, 5000, 'the KubeMQ connection listed');
    const [row] = await kubemq();
    assert.equal(row?.['peer_host'], '127.0.0.1');
    assert.equal(row?.['subscriptions'], 1);
    assert.equal(typeof row?.['peer_port'], 'number');
    const name = encodeURIComponent(String(row?.['name']));
    assert.equal((await adminCall(base, 'DELETE', `/api/connections/${name}`)).status, 204);
    const error = await ended;
    assert.equal(error.code, 14, 'UNAVAILABLE');
    assert.match(String(error.details), /closed by an operator/);
    await until(async () => (await kubemq()).length === 0, 5000, 'the connection gone');
  });
});
