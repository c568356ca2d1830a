/**
 * Kafka's ACLs through the admin API (`/api/kafka/acls`, administrators only), the definitions file
 * (`kafka_acls`) and the `switchyard kafka-acls` command against a running broker.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startTestBroker } from '../../testing/broker.js';
import { onlyHttpFlags, runCli, startCli } from '../../testing/server-cli.js';
import { adminFetch } from '../../testing/server-helpers.js';

const json = (body: unknown): RequestInit => ({
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

test('/api/kafka/acls lists, creates and deletes bindings; administrators only; kept in definitions', async () => {
  const tb = await startTestBroker({ listeners: ['http'] });
  const url = `${tb.url('http')}/api/kafka/acls`;
  try {
    const created = await adminFetch(url, {
      method: 'POST',
      ...json([
        { resource_type: 'topic', resource_name: 'orders', principal: 'User:app', operation: 'write' },
        {
          resource_type: 'GROUP',
          resource_name: 'app-',
          pattern_type: 'PREFIXED',
          principal: 'User:app',
          operation: 'READ',
          permission: 'DENY',
        },
      ]),
    });
    assert.equal(created.status, 201);
    const listed = (await (await adminFetch(url)).json()) as Array<Record<string, string>>;
    assert.deepEqual(listed[0], {
      resource_type: 'TOPIC',
      resource_name: 'orders',
      pattern_type: 'LITERAL',
      principal: 'User:app',
      host: '*',
      operation: 'WRITE',
      permission: 'ALLOW',
    });
    assert.equal(listed.length, 2);
    const bad = await adminFetch(url, {
      method: 'POST',
      ...json({ resource_type: 'CLUSTER', resource_name: 'x', principal: 'User:a', operation: 'ALTER' }),
    });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { reason: string }).reason, /kafka-cluster/);

    await adminFetch(`${tb.url('http')}/api/users/viewer`, {
      method: 'PUT',
      ...json({ password: 'pw', tags: 'monitoring' }),
    });
    assert.equal((await adminFetch(url, {}, 'viewer', 'pw')).status, 403, 'not an administrator');

    const exported = (await (await adminFetch(`${tb.url('http')}/api/definitions`)).json()) as Record<
      string,
      unknown
    >;
    assert.equal((exported['kafka_acls'] as unknown[]).length, 2);

    const deleted = await adminFetch(url, { method: 'DELETE', ...json({ resource_type: 'GROUP' }) });
    assert.equal(deleted.status, 200);
    assert.equal(((await deleted.json()) as unknown[]).length, 1);
    const gone = await adminFetch(url, { method: 'DELETE', ...json({}) });
    assert.equal(((await gone.json()) as unknown[]).length, 1, 'an empty filter matches everything');

    const imported = await adminFetch(`${tb.url('http')}/api/definitions`, {
      method: 'POST',
      ...json(exported),
    });
    assert.equal(imported.status, 204);
    assert.equal(
      ((await (await adminFetch(url)).json()) as unknown[]).length,
      2,
      'the import brought them back',
    );
  } finally {
    await tb.stop();
  }
});

test('switchyard kafka-acls add, list and delete against a running broker', async () => {
  const broker = await startCli(['--storage', 'memory', ...onlyHttpFlags('auto')]);
  const env = { SWITCHYARD_URL: `http://127.0.0.1:${broker.ports.http}` };
  try {
    const add = await runCli(
      [
        'kafka-acls',
        'add',
        '--allow-principal',
        'User:app',
        '--operation',
        'Read',
        '--operation',
        'Describe',
        '--topic',
        'orders',
      ],
      { env },
    );
    assert.equal(add.code, 0, add.stderr);
    const list = await runCli(['kafka-acls', 'list'], { env });
    assert.deepEqual(list.stdout.split('\n').slice(0, 2), [
      'resource_type  resource_name  pattern_type  principal  host  operation  permission',
      'TOPIC          orders         LITERAL       User:app   *     READ       ALLOW',
    ]);
    assert.equal(JSON.parse((await runCli(['kafka-acls', 'list', '--json'], { env })).stdout).length, 2);
    assert.equal((await runCli(['kafka-acls', 'add', '--topic', 'x'], { env })).code, 2, 'usage');
    const removed = await runCli(['kafka-acls', 'delete', '--topic', 'orders', '--operation', 'READ'], {
      env,
    });
    assert.equal(removed.stdout, 'Deleted 1 ACL binding\n');
    assert.equal(JSON.parse((await runCli(['kafka-acls', 'list', '--json'], { env })).stdout).length, 1);
  } finally {
    assert.equal((await broker.stop()).code, 0);
  }
});
