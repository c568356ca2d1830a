import assert from 'node:assert/strict';
import { test } from 'node:test';
import { internalContext } from '../../src/core/entry/context.js';
import { retentionIntervalMs } from '../../src/core/logs/index.js';
import { type Policy, validatePolicy } from '../../src/core/policy/definition.js';
import { effectiveQueueOptions, matchPolicy, mergedDefinition } from '../../src/core/policy/effective.js';
import { ErrorCode, isBrokerError } from '../../src/shared/errors.js';
import { drain, message, openCore, settle } from '../../testing/core-helpers.js';

const policy = (name: string, pattern: string, priority: number, definition: object, applyTo = 'all') =>
  validatePolicy(name, { pattern, priority, definition, 'apply-to': applyTo }, 'policy');

const refusedWith = (text: string) => (err: unknown) =>
  isBrokerError(err, ErrorCode.invalidArgument) && err.message.includes(text);

test('policies: the highest-priority matching policy applies; apply-to narrows what it covers', () => {
  const all: Policy[] = [
    policy('low', '^orders', 1, { 'max-length': 10 }),
    policy('high', '^orders\\.', 5, { 'max-length': 3 }),
    policy('streams-only', '.*', 9, { 'max-age': '1h' }, 'streams'),
    policy('exchanges', '.*', 9, { 'alternate-exchange': 'ae' }, 'exchanges'),
  ];
  assert.equal(matchPolicy(all, 'orders.eu', 'classic')?.name, 'high');
  assert.equal(matchPolicy(all, 'orders', 'classic')?.name, 'low');
  assert.equal(matchPolicy(all, 'orders.eu', 'stream')?.name, 'streams-only');
  assert.equal(matchPolicy(all, 'orders.eu', 'exchange')?.name, 'exchanges');
  assert.equal(matchPolicy(all, 'invoices', 'classic'), undefined);
  // Equal priorities: the first name wins, whatever order they were set in.
  const tied = [policy('b', '.*', 0, { expires: 5 }), policy('a', '.*', 0, { expires: 9 })];
  assert.equal(matchPolicy(tied, 'q', 'classic')?.name, 'a');
  assert.equal(matchPolicy([...tied].reverse(), 'q', 'classic')?.name, 'a');
});

test('policies: numeric limits take the smallest of argument, policy and operator policy; others the argument', () => {
  const user = policy('p', '.*', 0, {
    'max-length': 100,
    'message-ttl': 5000,
    'dead-letter-exchange': 'from-policy',
    overflow: 'reject-publish',
  });
  const operator = validatePolicy('op', { pattern: '.*', definition: { 'max-length': 50 } }, 'operator');
  const merged = mergedDefinition(user, operator);
  assert.equal(merged['max-length'], 50);
  const effective = effectiveQueueOptions(
    { lengthMax: 70, messageTtlMs: 1000, deadLetterExchange: 'from-args' },
    merged,
  );
  assert.equal(effective.lengthMax, 50);
  assert.equal(effective.messageTtlMs, 1000);
  assert.equal(effective.deadLetterExchange, 'from-args');
  assert.equal(effective.overflow, 'reject-publish');
  // Streams: max-length-bytes and max-age bound retention.
  const stream = effectiveQueueOptions(
    { kind: 'stream', durable: true },
    { 'max-length-bytes': 1000, 'max-age': '2m' },
  );
  assert.equal(stream.streamBytesMax, 1000);
  assert.equal(stream.streamAgeMsMax, 120_000);
});

test('policies: validation refuses what RabbitMQ refuses, with its texts', () => {
  const bad: Array<[object, string]> = [
    [{ pattern: '.*', definition: { 'max-length': -1 } }, '-1 is not a valid maximum length'],
    [{ pattern: '.*', definition: { 'message-ttl': 'x' } }, '"x" is not a valid message TTL'],
    [{ pattern: '.*', definition: { overflow: 'drop-tail' } }, '"drop-tail" is not a valid overflow value'],
    [{ pattern: '.*', definition: { 'max-age': '3 days' } }, '"3 days" is not a valid max age'],
    [{ pattern: '.*', definition: { colour: 'red' } }, '[<<"colour">>] are not recognised policy settings'],
    [{ pattern: '.*', definition: {} }, 'no policy provided'],
    [{ pattern: '(', definition: { expires: 1 } }, 'is not a valid regular expression'],
    [{ pattern: '.*', definition: { expires: 1 }, 'apply-to': 'topics' }, "apply-to 'topics' unrecognised"],
    [{ definition: { expires: 1 } }, 'Key "pattern" not found in p'],
  ];
  for (const [input, text] of bad) {
    assert.throws(() => validatePolicy('p', input, 'policy'), refusedWith(text), text);
  }
  // Operator policies carry limits only.
  assert.throws(
    () => validatePolicy('op', { pattern: '.*', definition: { 'dead-letter-exchange': 'x' } }, 'operator'),
    refusedWith('are not recognised policy settings'),
  );
});

test('policies: set on an existing queue trims it, cleared restores it, and both survive a restart', async () => {
  const { broker, client, vhost, storage, clock } = await openCore();
  vhost.declareQueue('jobs', { durable: true });
  await settle();
  for (let i = 0; i < 5; i++) vhost.publish('', 'jobs', message(`m${i}`));
  await client.putPolicy('policy', 'cap', { pattern: '^jobs$', definition: { 'max-length': 2 } });
  assert.equal(vhost.peekQueue?.('jobs')?.messageCount, 2);
  vhost.publish('', 'jobs', message('m5'));
  assert.equal(vhost.peekQueue?.('jobs')?.messageCount, 2);
  assert.deepEqual(
    client.appliedPolicies('queues').find((q) => q.name === 'jobs'),
    { name: 'jobs', policy: 'cap', definition: { 'max-length': 2 } },
  );
  await broker.definitions.flush();
  await broker.close();

  const reopened = await openCore({ storage, clock });
  await settle();
  assert.equal(reopened.client.listPolicies('policy')[0]?.name, 'cap');
  for (let i = 0; i < 4; i++) reopened.vhost.publish('', 'jobs', message(`n${i}`));
  assert.equal(reopened.vhost.peekQueue?.('jobs')?.messageCount, 2);
  assert.equal(await reopened.client.deletePolicy('policy', 'cap'), true);
  for (let i = 0; i < 4; i++) reopened.vhost.publish('', 'jobs', message(`o${i}`));
  assert.equal(reopened.vhost.peekQueue?.('jobs')?.messageCount, 6);
  await reopened.broker.close();
});

test('policies: dead-letter exchange and TTL by policy; alternate exchange by policy', async () => {
  const { broker, client, vhost, clock } = await openCore();
  vhost.declareQueue('work', {});
  vhost.declareQueue('dead', {});
  vhost.declareExchange('dlx', { type: 'fanout' });
  vhost.bindQueue('dead', 'dlx', '');
  vhost.declareExchange('ae', { type: 'fanout' });
  vhost.declareQueue('unrouted', {});
  vhost.bindQueue('unrouted', 'ae', '');
  vhost.declareExchange('orders', { type: 'direct' });
  await settle();
  await client.putPolicy('policy', 'dl', {
    pattern: '^work$',
    'apply-to': 'queues',
    definition: { 'message-ttl': 100, 'dead-letter-exchange': 'dlx' },
  });
  await client.putPolicy('policy', 'alt', {
    pattern: '^orders$',
    'apply-to': 'exchanges',
    definition: { 'alternate-exchange': 'ae' },
  });
  vhost.publish('', 'work', message('late'));
  clock.advance(200);
  await settle();
  assert.deepEqual(drain(vhost, 'dead'), ['late']);
  assert.equal(vhost.publish('orders', 'nowhere', message('lost?')).routedCount, 1);
  assert.deepEqual(drain(vhost, 'unrouted'), ['lost?']);
  await broker.close();
});

test('limits: max-queues refuses a declare; connections and channels are counted per vhost and user', async () => {
  const { broker, client, vhost } = await openCore();
  await client.setVhostLimit('max-queues', 1);
  vhost.declareQueue('one', {});
  assert.throws(
    () => vhost.declareQueue('two', {}),
    (err: unknown) =>
      isBrokerError(err, ErrorCode.preconditionFailed) &&
      err.message === "cannot declare queue 'two': queue limit in virtual host '/' is reached: 1",
  );
  assert.equal(await client.clearVhostLimit('max-queues'), true);
  vhost.declareQueue('two', {});

  await broker.users.put('ann', 'secret');
  // A user counts against limits once it may open the vhost at all.
  await client.setPermission('/', 'ann', { configure: '.*', write: '.*', read: '.*' });
  await client.setUserLimit('ann', 'max-connections', 1);
  await client.setUserLimit('ann', 'max-channels', 1);
  const ann = { user: 'ann', tags: [] };
  const first = broker.connect({ ...internalContext('/', 'a1'), principal: ann });
  first.openConnection();
  const second = broker.connect({ ...internalContext('/', 'a2'), principal: ann });
  assert.throws(
    () => second.openConnection(),
    (err: unknown) =>
      isBrokerError(err, ErrorCode.resourceExhausted) &&
      err.message === "Connection refused for user 'ann'. User connection limit (1) is reached",
  );
  first.openChannel();
  assert.throws(() => first.openChannel(), /maximum allowed user limit of \(1\)/);
  first.closeConnection();
  second.openConnection();
  second.openChannel();
  assert.throws(
    () => client.setUserLimit('nobody', 'max-connections', 1),
    (err: unknown) => isBrokerError(err, ErrorCode.notFound),
  );
  await assert.rejects(async () => client.setVhostLimit('max-widgets', 1), refusedWith('Unrecognised terms'));
  await broker.close();
});

test('policies: a streams policy bounds the retention of a stream created without bounds (a Kafka topic)', async () => {
  const { broker, client, clock } = await openCore();
  await client.createStream('telemetry', { partitions: 1 });
  await client.putPolicy('policy', 'keep-little', {
    pattern: '^telemetry$',
    'apply-to': 'streams',
    definition: { 'max-length-bytes': 1000 },
  });
  const partition = client.partition('telemetry', 0);
  const payload = new Uint8Array(100);
  for (let i = 0; i < 30; i++) partition.append(payload, { timestamp: clock.now(), format: 1 });
  assert.equal(partition.startOffset, 0);
  clock.advance(retentionIntervalMs);
  assert.ok(partition.startOffset > 0, 'trimmed by the policy');
  assert.equal(partition.endOffset, 30);
  await broker.close();
});

test('policies: expires by policy deletes an unused queue; the operator policy caps a declared delivery limit', async () => {
  const { broker, client, vhost, clock } = await openCore();
  vhost.declareQueue('idle', {});
  vhost.declareQueue('retried', { deliveryLimit: 10 });
  await settle();
  await client.putPolicy('policy', 'reap', { pattern: '^idle$', definition: { expires: 1000 } });
  await client.putPolicy('operator', 'few-retries', {
    pattern: '^retried$',
    definition: { 'delivery-limit': 1 },
  });
  clock.advance(1500);
  await settle();
  assert.equal(vhost.peekQueue?.('idle'), undefined, 'expired by the policy');
  vhost.publish('', 'retried', message('poison'));
  for (let attempt = 0; attempt < 3; attempt++) {
    const delivery = vhost.get('retried', { noAck: false, owner: 'c1/1' });
    if (delivery === undefined) break;
    vhost.nack('retried', delivery.id, true);
  }
  assert.equal(vhost.peekQueue?.('retried')?.messageCount, 0, 'dropped after the capped limit');
  assert.equal(
    client.appliedPolicies('queues').find((q) => q.name === 'retried')?.operatorPolicy,
    'few-retries',
  );
  await broker.close();
});
