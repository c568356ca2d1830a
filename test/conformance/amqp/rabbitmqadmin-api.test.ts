/**
 * Debian's rabbitmqadmin (package rabbitmq-server), unchanged, against Switchyard's management API
 * with a real AMQP client connected: list, show, declare, delete, publish, get, purge, close, export
 * and import. Skips when it is not installed.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import amqp from 'amqplib';
import { startTestBroker, type TestBroker } from '../../../testing/broker.js';
import { rabbitmqadmin, rabbitmqadminMissing, rabbitmqadminSkip } from '../../../testing/rabbitmqadmin.js';

const skip = rabbitmqadminSkip;
let server: TestBroker | undefined;

/** Runs rabbitmqadmin against this test's broker. */
function admin(...args: string[]) {
  return rabbitmqadmin(server?.port('http') ?? 0, ...args);
}

/** A command that must succeed; its output. */
async function ok(...args: string[]): Promise<string> {
  const result = await admin(...args);
  assert.equal(result.code, 0, `${args.join(' ')}: ${result.stdout}${result.stderr}`);
  return result.stdout;
}

/** The rows of a tsv listing, header left out. */
async function rows(...args: string[]): Promise<string[]> {
  const out = await ok('-f', 'tsv', ...args);
  return out === 'No items\n' ? [] : out.trim().split('\n').slice(1);
}

before(async () => {
  if (!rabbitmqadminMissing) server = await startTestBroker({ listeners: ['amqp', 'http'] });
});

after(() => server?.stop());

test('rabbitmqadmin declare, list and delete exchanges, queues, bindings, users and permissions', {
  skip,
}, async () => {
  await ok('declare', 'exchange', 'name=orders', 'type=topic');
  await ok('declare', 'queue', 'name=orders.eu', 'durable=false');
  await ok('declare', 'binding', 'source=orders', 'destination=orders.eu', 'routing_key=eu.#');
  await ok('declare', 'user', 'name=ops', 'password=s3cret', 'tags=monitoring');
  await ok('declare', 'permission', 'vhost=/', 'user=ops', 'configure=', 'write=', 'read=.*');
  assert.ok((await rows('list', 'exchanges', 'name', 'type')).includes('orders\ttopic'));
  assert.ok((await rows('list', 'queues', 'name', 'messages')).includes('orders.eu\t0'));
  assert.ok(
    (await rows('list', 'bindings', 'source', 'destination', 'routing_key')).includes(
      'orders\torders.eu\teu.#',
    ),
  );
  assert.ok((await rows('list', 'users', 'name', 'tags')).some((r) => r.startsWith('ops\t')));
  assert.ok((await rows('list', 'permissions', 'user', 'vhost', 'read')).includes('ops\t/\t.*'));
  assert.deepEqual(await rows('list', 'vhosts', 'name'), ['/']);
  assert.match(await ok('-f', 'tsv', 'show', 'overview'), /queue_totals\.messages/);

  await ok(
    'delete',
    'binding',
    'source=orders',
    'destination_type=queue',
    'destination=orders.eu',
    'properties_key=eu.%23',
  );
  assert.ok(!(await rows('list', 'bindings', 'source')).includes('orders'));
  await ok('delete', 'permission', 'vhost=/', 'user=ops');
  await ok('delete', 'user', 'name=ops');
  await ok('delete', 'queue', 'name=orders.eu');
  await ok('delete', 'exchange', 'name=orders');
  assert.ok(!(await rows('list', 'queues', 'name')).includes('orders.eu'));
});

test('rabbitmqadmin publish, get, purge; list and close an AMQP connection', { skip }, async () => {
  await ok('declare', 'queue', 'name=inbox', 'durable=false');
  assert.match(await ok('publish', 'routing_key=inbox', 'payload=hello'), /Message published/);
  await ok('publish', 'routing_key=inbox', 'payload=world');
  const got = await rows('get', 'queue=inbox', 'count=2', 'ackmode=ack_requeue_true');
  assert.equal(got.length, 2);
  assert.match(got[0] ?? '', /hello/);
  assert.ok((await rows('list', 'queues', 'name', 'messages')).includes('inbox\t2'));
  await ok('purge', 'queue', 'name=inbox');
  assert.ok((await rows('list', 'queues', 'name', 'messages')).includes('inbox\t0'));

  const connection = await amqp.connect(server!.url('amqp'));
  const closed = new Promise<Error>((resolve) => connection.on('close', resolve));
  connection.on('error', () => {});
  const channel = await connection.createChannel();
  await channel.consume('inbox', () => {}, { consumerTag: 'reader' });
  try {
    const [listed] = await rows('list', 'connections', 'name', 'user', 'channels', 'protocol');
    const [name, user, channels, protocol] = (listed ?? '').split('\t');
    assert.deepEqual([user, channels, protocol], ['guest', '1', 'AMQP 0-9-1']);
    assert.equal((await rows('list', 'channels', 'name', 'user')).length, 1);
    assert.ok((await rows('list', 'consumers', 'consumer_tag')).includes('reader'));
    await ok('close', 'connection', `name=${name}`);
    assert.match((await closed).message, /320/);
  } finally {
    await connection.close().catch(() => {});
  }
});

test('rabbitmqadmin export and import a definitions file', { skip }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-rabbitmqadmin-'));
  try {
    const file = join(dir, 'definitions.json');
    await ok('declare', 'user', 'name=auditor', 'password=x', 'tags=monitoring');
    await ok('export', file);
    const exported = JSON.parse(await readFile(file, 'utf8')) as { users: Array<{ name: string }> };
    assert.ok(exported.users.some((u) => u.name === 'auditor'));
    await ok('delete', 'user', 'name=auditor');
    await ok('import', file);
    assert.ok((await rows('list', 'users', 'name')).includes('auditor'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
