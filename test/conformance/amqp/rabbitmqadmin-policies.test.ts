/**
 * Debian's rabbitmqadmin (package rabbitmq-server), unchanged, declares, lists and deletes policies
 * and operator policies on Switchyard. Skips when it is not installed.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestBroker, type TestBroker } from '../../../testing/broker.js';
import { rabbitmqadmin, rabbitmqadminMissing, rabbitmqadminSkip } from '../../../testing/rabbitmqadmin.js';

let server: TestBroker | undefined;

/** Runs rabbitmqadmin against this test's broker. */
function admin(...args: string[]) {
  return rabbitmqadmin(server?.port('http') ?? 0, ...args);
}

before(async () => {
  if (!rabbitmqadminMissing) server = await startTestBroker({ listeners: ['http'] });
});

after(() => server?.stop());

test('rabbitmqadmin declare/list/delete policy and operator_policy', {
  skip: rabbitmqadminSkip,
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
