/**
 * Messages and bindings through the admin API in RabbitMQ's routes, as the dashboard and rabbitmqadmin
 * use them: publish (string and base64, routed or not), get with each ackmode, purge, and bindings made,
 * listed and removed by their properties key.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Broker } from '../../src/index.js';
import { adminCall } from '../../testing/admin-api.js';
import { startTestBroker } from '../../testing/broker.js';

let broker: Broker;
let base: string;

before(async () => {
  const started = await startTestBroker({ listeners: ['http'] });
  broker = started.broker;
  base = started.url('http');
});

after(() => broker.stop());

const call = (method: string, path: string, body?: unknown) => adminCall(base, method, path, body);
const publish = (exchange: string, routingKey: string, payload: string, encoding = 'string') =>
  call('POST', `/api/exchanges/%2F/${exchange}/publish`, {
    routing_key: routingKey,
    payload,
    payload_encoding: encoding,
    properties: { content_type: 'text/plain', delivery_mode: 2 },
  });

interface Got {
  payload: string;
  payload_encoding: string;
  payload_bytes: number;
  redelivered: boolean;
  routing_key: string;
  message_count: number;
  properties: { content_type?: string; delivery_mode: number };
}

test('publish to the default exchange, get with requeue, get with ack, purge', async () => {
  assert.equal((await call('PUT', '/api/queues/%2F/work', { durable: true })).status, 201);
  assert.deepEqual((await publish('amq.default', 'work', 'one')).json, { routed: true });
  assert.deepEqual(
    (await publish('amq.default', 'work', Buffer.from([0xff, 0, 1]).toString('base64'), 'base64')).json,
    {
      routed: true,
    },
  );
  assert.deepEqual((await publish('amq.default', 'nowhere', 'lost')).json, { routed: false });
  const peek = await call('POST', '/api/queues/%2F/work/get', { count: 5, ackmode: 'ack_requeue_true' });
  const [first, second] = peek.json as Got[];
  assert.deepEqual(
    [
      first?.payload,
      first?.payload_encoding,
      first?.routing_key,
      first?.properties.content_type,
      first?.properties.delivery_mode,
    ],
    ['one', 'string', 'work', 'text/plain', 2],
  );
  assert.deepEqual([second?.payload, second?.payload_encoding, second?.payload_bytes], ['/wAB', 'base64', 3]);
  const taken = await call('POST', '/api/queues/%2F/work/get', { count: 1, ackmode: 'ack_requeue_false' });
  assert.equal((taken.json as Got[])[0]?.payload, 'one', 'the requeued messages kept their order');
  assert.equal((taken.json as Got[])[0]?.message_count, 1);
  assert.equal((await publish('amq.default', 'work', 'two')).status, 200);
  assert.equal((await call('DELETE', '/api/queues/%2F/work/contents')).status, 204);
  assert.deepEqual((await call('POST', '/api/queues/%2F/work/get', { count: 10 })).json, []);
});

test('bad message requests are 400 or 404', async () => {
  assert.equal((await publish('amq.default', 'work', 'x', 'hex')).status, 400);
  assert.equal((await publish('no-such-exchange', 'k', 'x')).status, 404);
  assert.equal((await call('POST', '/api/queues/%2F/work/get', { count: 0 })).status, 400);
  assert.equal((await call('POST', '/api/queues/%2F/work/get', { ackmode: 'maybe' })).status, 400);
  assert.equal((await call('POST', '/api/queues/%2F/absent/get', {})).status, 404);
  assert.equal((await call('DELETE', '/api/queues/nohost/work/contents')).status, 404);
});

test('a binding made by the API routes messages and is removed by its properties key', async () => {
  assert.equal((await call('PUT', '/api/queues/%2F/eu', { durable: false })).status, 201);
  const made = await adminCall(base, 'POST', '/api/bindings/%2F/e/amq.topic/q/eu', {
    routing_key: 'orders.eu.*',
  });
  assert.equal(made.status, 201);
  const listed = (await call('GET', '/api/bindings/%2F/e/amq.topic/q/eu')).json as Array<{
    properties_key: string;
  }>;
  assert.equal(listed.length, 1);
  assert.deepEqual((await publish('amq.topic', 'orders.eu.1', 'hello')).json, { routed: true });
  const key = encodeURIComponent(listed[0]!.properties_key);
  assert.equal((await call('DELETE', `/api/bindings/%2F/e/amq.topic/q/eu/${key}`)).status, 204);
  assert.deepEqual((await publish('amq.topic', 'orders.eu.2', 'hello')).json, { routed: false });
  assert.equal((await call('DELETE', `/api/bindings/%2F/e/amq.topic/q/eu/${key}`)).status, 404);
  // Arguments nest as AMQP field tables do.
  const nested = await call('POST', '/api/bindings/%2F/e/amq.topic/q/eu', { arguments: { deep: { x: 1 } } });
  assert.equal(nested.status, 201);
});
