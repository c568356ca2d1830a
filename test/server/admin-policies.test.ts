import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { adminCall } from '../../testing/admin-api.js';
import { startTestBroker, type TestBroker } from '../../testing/broker.js';

let server: TestBroker;

function call(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  return adminCall(server.url('http'), method, path, body);
}

before(async () => {
  server = await startTestBroker({ listeners: ['http'] });
  server.broker.client('/').declareQueue('orders.eu', { arguments: { 'x-max-length': 10 } });
});

after(() => server.stop());

test('PUT, GET and DELETE /api/policies/{vhost}/{name} in RabbitMQ shapes', async () => {
  const policy = {
    pattern: '^orders\\.',
    definition: { 'max-length': 5 },
    priority: 1,
    'apply-to': 'queues',
  };
  assert.equal((await call('PUT', '/api/policies/%2F/cap', policy)).status, 201);
  assert.equal((await call('PUT', '/api/policies/%2F/cap', policy)).status, 204);
  const one = await call('GET', '/api/policies/%2F/cap');
  assert.deepEqual(one, { status: 200, json: { vhost: '/', name: 'cap', ...policy } });
  assert.deepEqual((await call('GET', '/api/policies')).json, [{ vhost: '/', name: 'cap', ...policy }]);
  const queues = (await call('GET', '/api/queues/%2F')).json as Array<Record<string, unknown>>;
  const queue = queues.find((q) => q['name'] === 'orders.eu');
  assert.deepEqual(
    [queue?.['policy'], queue?.['operator_policy'], queue?.['effective_policy_definition']],
    ['cap', null, { 'max-length': 5 }],
  );
  await call('PUT', '/api/policies/%2F/ae', {
    pattern: '^amq\\.direct$',
    definition: { 'alternate-exchange': 'x' },
  });
  const exchanges = (await call('GET', '/api/exchanges/%2F')).json as Array<Record<string, unknown>>;
  assert.equal(exchanges.find((e) => e['name'] === 'amq.direct')?.['policy'], 'ae');
  await call('DELETE', '/api/policies/%2F/ae');
  assert.equal((await call('DELETE', '/api/policies/%2F/cap')).status, 204);
  assert.equal((await call('DELETE', '/api/policies/%2F/cap')).status, 404);
  assert.deepEqual((await call('GET', '/api/policies/%2F')).json, []);
});

test('operator policies merge into effective_policy_definition; bad input is 400 with the reason', async () => {
  const op = { pattern: '.*', definition: { 'max-length': 3, 'message-ttl': 1000 }, 'apply-to': 'queues' };
  assert.equal((await call('PUT', '/api/operator-policies/%2F/ops', op)).status, 201);
  await call('PUT', '/api/policies/%2F/p', { pattern: '.*', definition: { 'max-length': 7 } });
  const queues = (await call('GET', '/api/queues/%2F')).json as Array<Record<string, unknown>>;
  const queue = queues.find((q) => q['name'] === 'orders.eu');
  assert.deepEqual(queue?.['effective_policy_definition'], { 'max-length': 3, 'message-ttl': 1000 });
  assert.equal(queue?.['operator_policy'], 'ops');

  const bad = await call('PUT', '/api/policies/%2F/bad', {
    pattern: '.*',
    definition: { 'max-length': 'ten' },
  });
  assert.equal(bad.status, 400);
  assert.match((bad.json as { reason: string }).reason, /"ten" is not a valid maximum length/);
  const notOperator = await call('PUT', '/api/operator-policies/%2F/x', {
    pattern: '.*',
    definition: { 'dead-letter-exchange': 'dlx' },
  });
  assert.equal(notOperator.status, 400);
  assert.equal((await call('PUT', '/api/policies/nowhere/p', op)).status, 404);
  assert.equal((await call('PUT', '/api/policies/%2F/p', '{not json')).status, 400);
  assert.equal((await call('POST', '/api/policies/%2F/p', op)).status, 405);
  await call('DELETE', '/api/operator-policies/%2F/ops');
  await call('DELETE', '/api/policies/%2F/p');
});

test('vhost and user limits: PUT {value}, GET lists, DELETE clears', async () => {
  assert.equal((await call('PUT', '/api/vhost-limits/%2F/max-queues', { value: 100 })).status, 204);
  assert.equal((await call('PUT', '/api/vhost-limits/%2F/max-connections', { value: 5 })).status, 204);
  assert.deepEqual((await call('GET', '/api/vhost-limits')).json, [
    { vhost: '/', value: { 'max-queues': 100, 'max-connections': 5 } },
  ]);
  assert.equal((await call('PUT', '/api/vhost-limits/%2F/max-widgets', { value: 5 })).status, 400);
  assert.equal((await call('PUT', '/api/vhost-limits/%2F/max-queues', { value: 'x' })).status, 400);
  assert.equal((await call('DELETE', '/api/vhost-limits/%2F/max-queues')).status, 204);
  assert.deepEqual((await call('GET', '/api/vhost-limits/%2F')).json, [
    { vhost: '/', value: { 'max-connections': 5 } },
  ]);
  await call('DELETE', '/api/vhost-limits/%2F/max-connections');
  assert.deepEqual((await call('GET', '/api/vhost-limits/%2F')).json, []);

  assert.equal((await call('PUT', '/api/user-limits/guest/max-channels', { value: 20 })).status, 204);
  assert.deepEqual((await call('GET', '/api/user-limits/guest')).json, [
    { user: 'guest', value: { 'max-channels': 20 } },
  ]);
  assert.equal((await call('PUT', '/api/user-limits/nobody/max-channels', { value: 1 })).status, 404);
  assert.equal((await call('DELETE', '/api/user-limits/guest/max-channels')).status, 204);
  assert.deepEqual((await call('GET', '/api/user-limits')).json, []);
});

test('a policy body past the size bound is refused with 413', async () => {
  const huge = { pattern: 'x'.repeat(100_000), definition: { expires: 1 } };
  assert.equal((await call('PUT', '/api/policies/%2F/huge', huge)).status, 413);
});
