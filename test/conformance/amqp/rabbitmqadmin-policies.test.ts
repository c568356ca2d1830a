/**
 * Debian's rabbitmqadmin (package rabbitmq-server), unchanged, declares, lists and deletes policies
 * and operator policies on Switchyard. Skips when it is not installed.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { startTestBroker, type TestBroker } from '../../../testing/broker.js';

const missing =
  spawnSync('rabbitmqadmin', ['--version'], { stdio: 'ignore', timeout: 10_000 }).error !== undefined;
let server: TestBroker | undefined;

/** Runs rabbitmqadmin without blocking: the broker answering it runs in this process. */
function admin(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const port = String(server?.port('http'));
  return new Promise((resolve) => {
    execFile(
      'rabbitmqadmin',
      ['-H', '127.0.0.1', '-P', port, ...args],
      { timeout: 30_000 },
      (err, stdout, stderr) =>
        resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr }),
    );
  });
}

before(async () => {
  if (!missing) server = await startTestBroker({ listeners: ['http'] });
});

after(() => server?.stop());

test('rabbitmqadmin declare/list/delete policy and operator_policy', {
  skip: missing && 'rabbitmqadmin is not installed (Debian package rabbitmq-server)',
}, async () => {
  const declared = await admin(
    'declare',
    'policy',
    'name=cap',
    'pattern=^jobs$',
    'definition={"max-length":5}',
    'apply-to=queues',
    'priority=1',
  );
  assert.equal(declared.code, 0, declared.stderr);
  assert.equal(declared.stdout, 'policy declared\n');
  const listed = await admin(
    '-f',
    'tsv',
    'list',
    'policies',
    'vhost',
    'name',
    'pattern',
    'apply-to',
    'priority',
    'definition',
  );
  assert.equal(listed.code, 0, listed.stderr);
  assert.deepEqual(listed.stdout.trim().split('\n').slice(1), [
    '/\tcap\t^jobs$\tqueues\t1\t{"max-length": 5}',
  ]);
  assert.equal(
    (await admin('declare', 'operator_policy', 'name=op', 'pattern=.*', 'definition={"message-ttl":1000}'))
      .code,
    0,
  );
  assert.match((await admin('-f', 'tsv', 'list', 'operator_policies', 'name')).stdout, /^name\nop\n$/);
  const refused = await admin('declare', 'policy', 'name=bad', 'pattern=.*', 'definition={"max-length":-1}');
  assert.notEqual(refused.code, 0);
  assert.match(refused.stdout + refused.stderr, /is not a valid maximum length/);
  assert.equal((await admin('delete', 'policy', 'name=cap')).code, 0);
  assert.equal((await admin('delete', 'operator_policy', 'name=op')).code, 0);
  assert.equal((await admin('-f', 'tsv', 'list', 'policies', 'name')).stdout, 'No items\n');
});
