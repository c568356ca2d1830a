import assert from 'node:assert/strict';
import { test } from 'node:test';
import { exportPolicySections, importPolicySections } from '../../src/admin/policy-definitions.js';
import { startTestBroker } from '../../testing/broker.js';

test('definitions: policies, operator policies, vhost and user limits export in RabbitMQ shapes and import back', async () => {
  const source = await startTestBroker();
  const from = source.broker.client('/');
  await from.putPolicy('policy', 'ha', {
    pattern: '^q',
    'apply-to': 'queues',
    definition: { 'max-length': 9 },
  });
  await from.putPolicy('operator', 'cap', { pattern: '.*', definition: { 'message-ttl': 60_000 } });
  await from.setVhostLimit('max-queues', 50);
  await from.setUserLimit('guest', 'max-channels', 7);
  const sections = exportPolicySections(from);
  assert.deepEqual(sections.policies, [
    {
      vhost: '/',
      name: 'ha',
      pattern: '^q',
      'apply-to': 'queues',
      priority: 0,
      definition: { 'max-length': 9 },
    },
  ]);
  assert.deepEqual(sections.parameters, [
    {
      vhost: '/',
      component: 'operator_policy',
      name: 'cap',
      value: { pattern: '.*', 'apply-to': 'all', priority: 0, definition: { 'message-ttl': 60_000 } },
    },
    { vhost: '/', component: 'vhost-limits', name: 'limits', value: { 'max-queues': 50 } },
  ]);
  assert.deepEqual(sections.userLimits, { guest: { 'max-channels': 7 } });
  await source.stop();

  const target = await startTestBroker();
  const to = target.broker.client('/');
  const file = {
    policies: sections.policies,
    parameters: sections.parameters,
    users: [{ name: 'guest', limits: sections.userLimits['guest'] }],
  };
  await importPolicySections(to, file);
  assert.deepEqual(exportPolicySections(to), sections);
  await assert.rejects(
    importPolicySections(to, {
      policies: [{ vhost: '/', name: 'bad', pattern: '.*', definition: { 'max-length': -1 } }],
    }),
    /is not a valid maximum length/,
  );
  await target.stop();
});
