import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Delivery, headerValue } from '../../src/core/types.js';
import { ErrorCode, isBrokerError } from '../../src/shared/errors.js';
import { drain, message, openCore, settle, text } from '../../testing/core-helpers.js';

const fails = (code: ErrorCode) => (err: unknown) => isBrokerError(err, code);

/** A vhost with queues q1..qN declared and opened. */
async function withQueues(count: number) {
  const fixture = await openCore();
  const names = Array.from({ length: count }, (_, i) => `q${i + 1}`);
  for (const name of names) fixture.vhost.declareQueue(name, {});
  await settle();
  return { ...fixture, names };
}

test('routing through exchanges: default exchange routes by queue name', async () => {
  const { vhost, broker } = await withQueues(1);
  assert.equal(vhost.publish('', 'q1', message('hello')).routedCount, 1);
  assert.equal(vhost.publish('', 'nope', message('lost')).routedCount, 0);
  assert.deepEqual(drain(vhost, 'q1'), ['hello']);
  await broker.close();
});

test('routing through exchanges: direct, fanout, topic and headers exchanges', async () => {
  const { vhost, broker } = await withQueues(3);
  vhost.declareExchange('d', { type: 'direct' });
  vhost.declareExchange('f', { type: 'fanout' });
  vhost.declareExchange('t', { type: 'topic' });
  vhost.declareExchange('h', { type: 'headers' });
  vhost.bindQueue('q1', 'd', 'red');
  vhost.bindQueue('q2', 'd', 'blue');
  vhost.bindQueue('q1', 'f', '');
  vhost.bindQueue('q2', 'f', '');
  vhost.bindQueue('q1', 't', 'a.*');
  vhost.bindQueue('q3', 't', 'a.#');
  vhost.bindQueue('q2', 'h', '', { 'x-match': 'any', color: 'green' });
  assert.equal(vhost.publish('d', 'red', message('d-red')).routedCount, 1);
  assert.equal(vhost.publish('f', 'x', message('f')).routedCount, 2);
  assert.equal(vhost.publish('t', 'a.b', message('t-ab')).routedCount, 2);
  assert.equal(vhost.publish('t', 'a.b.c', message('t-abc')).routedCount, 1);
  assert.equal(vhost.publish('h', '', message('h', { headers: [['color', 'green']] })).routedCount, 1);
  assert.deepEqual(drain(vhost, 'q1'), ['d-red', 'f', 't-ab']);
  assert.deepEqual(drain(vhost, 'q2'), ['f', 'h']);
  assert.deepEqual(drain(vhost, 'q3'), ['t-ab', 't-abc']);
  await broker.close();
});

test('routing through exchanges: predeclared amq.* exchanges exist and route', async () => {
  const { vhost, broker } = await withQueues(1);
  for (const name of ['amq.direct', 'amq.fanout', 'amq.topic', 'amq.headers', 'amq.match'])
    vhost.checkExchange(name);
  vhost.bindQueue('q1', 'amq.topic', 'sensors.#');
  vhost.publish('amq.topic', 'sensors.kitchen.temp', message('21'));
  assert.deepEqual(drain(vhost, 'q1'), ['21']);
  // Redeclaring a predeclared exchange with its own properties is allowed.
  vhost.declareExchange('amq.topic', { type: 'topic', durable: true });
  await broker.close();
});

test('routing through exchanges: exchange-to-exchange bindings reach each queue once, even through cycles', async () => {
  const { vhost, broker } = await withQueues(2);
  vhost.declareExchange('a', { type: 'fanout' });
  vhost.declareExchange('b', { type: 'fanout' });
  vhost.bindExchange('b', 'a', '');
  vhost.bindExchange('a', 'b', '');
  vhost.bindQueue('q1', 'a', '');
  vhost.bindQueue('q1', 'b', '');
  vhost.bindQueue('q2', 'b', '');
  assert.equal(vhost.publish('a', 'k', message('once')).routedCount, 2);
  assert.deepEqual(drain(vhost, 'q1'), ['once']);
  assert.deepEqual(drain(vhost, 'q2'), ['once']);
  vhost.unbindExchange('b', 'a', '');
  assert.equal(vhost.publish('a', 'k', message('a-only')).routedCount, 1);
  await broker.close();
});

test('routing through exchanges: alternate exchange takes what the exchange cannot route', async () => {
  const { vhost, broker } = await withQueues(2);
  vhost.declareExchange('unrouted', { type: 'fanout' });
  vhost.declareExchange('main', { type: 'direct', arguments: { 'alternate-exchange': 'unrouted' } });
  vhost.bindQueue('q1', 'main', 'known');
  vhost.bindQueue('q2', 'unrouted', '');
  assert.equal(vhost.publish('main', 'known', message('routed')).routedCount, 1);
  assert.equal(vhost.publish('main', 'other', message('spilled')).routedCount, 1);
  assert.deepEqual(drain(vhost, 'q1'), ['routed']);
  assert.deepEqual(drain(vhost, 'q2'), ['spilled']);
  await broker.close();
});

test('routing through exchanges: an unroutable mandatory publish reports routedCount 0 and still confirms', async () => {
  const { vhost, broker } = await withQueues(0);
  vhost.declareExchange('x', { type: 'direct' });
  const result = vhost.publish('x', 'k', message('m'), { mandatory: true });
  assert.equal(result.routedCount, 0);
  await result.confirmed;
  await broker.close();
});

test('routing through exchanges: internal exchanges refuse direct publish but route from other exchanges', async () => {
  const { vhost, broker } = await withQueues(1);
  vhost.declareExchange('inner', { type: 'fanout', internal: true });
  vhost.declareExchange('outer', { type: 'fanout' });
  vhost.bindExchange('inner', 'outer', '');
  vhost.bindQueue('q1', 'inner', '');
  assert.throws(() => vhost.publish('inner', '', message('x')), fails(ErrorCode.accessRefused));
  assert.equal(vhost.publish('outer', '', message('via')).routedCount, 1);
  await broker.close();
});

test('routing through exchanges: reject-publish overflow turns the confirm into a resourceExhausted rejection', async () => {
  const { vhost, broker } = await openCore();
  vhost.declareQueue('small', { lengthMax: 1, overflow: 'reject-publish' });
  await settle();
  await vhost.publish('', 'small', message('1')).confirmed;
  const second = vhost.publish('', 'small', message('2'));
  assert.equal(second.routedCount, 1);
  await assert.rejects(second.confirmed, fails(ErrorCode.resourceExhausted));
  await broker.close();
});

test('errors with their codes: reserved names, the default exchange and missing objects', async () => {
  const { vhost, broker } = await withQueues(1);
  assert.throws(
    () => vhost.declareExchange('amq.custom', { type: 'direct' }),
    fails(ErrorCode.accessRefused),
  );
  assert.throws(() => vhost.declareQueue('amq.custom', {}), fails(ErrorCode.accessRefused));
  assert.throws(() => vhost.declareExchange('', { type: 'direct' }), fails(ErrorCode.accessRefused));
  assert.throws(() => vhost.bindQueue('q1', '', 'q1'), fails(ErrorCode.accessRefused));
  assert.throws(() => vhost.unbindQueue('q1', '', 'q1'), fails(ErrorCode.accessRefused));
  assert.throws(() => vhost.deleteExchange(''), fails(ErrorCode.accessRefused));
  assert.throws(() => vhost.deleteExchange('amq.direct'), fails(ErrorCode.accessRefused));
  assert.throws(() => vhost.checkExchange('missing'), fails(ErrorCode.notFound));
  assert.throws(() => vhost.checkQueue('missing'), fails(ErrorCode.notFound));
  assert.throws(() => vhost.publish('missing', 'k', message('x')), fails(ErrorCode.notFound));
  assert.throws(() => vhost.bindQueue('missing', 'amq.direct', 'k'), fails(ErrorCode.notFound));
  assert.throws(() => vhost.bindQueue('q1', 'missing', 'k'), fails(ErrorCode.notFound));
  await broker.close();
});

test('errors with their codes: redeclare with other properties names the object and the field', async () => {
  const { vhost, broker } = await withQueues(1);
  vhost.declareExchange('x', { type: 'direct' });
  vhost.declareExchange('x', { type: 'direct', durable: false });
  assert.throws(
    () => vhost.declareExchange('x', { type: 'topic' }),
    (err: unknown) => isBrokerError(err, ErrorCode.preconditionFailed) && /'x'.*type/.test(err.message),
  );
  assert.throws(
    () => vhost.declareExchange('x', { type: 'direct', durable: true }),
    fails(ErrorCode.preconditionFailed),
  );
  assert.throws(
    () => vhost.declareQueue('q1', { durable: true }),
    (err: unknown) => isBrokerError(err, ErrorCode.preconditionFailed) && /'q1'.*durable/.test(err.message),
  );
  assert.throws(() => vhost.declareQueue('q1', { messageTtlMs: 5 }), fails(ErrorCode.preconditionFailed));
  assert.equal(vhost.declareQueue('q1', {}).name, 'q1');
  await broker.close();
});

test('errors with their codes: deletes are idempotent; ifUnused and ifEmpty refuse', async () => {
  const { vhost, broker } = await withQueues(1);
  assert.equal(vhost.deleteQueue('absent'), 0);
  vhost.deleteExchange('absent');
  vhost.unbindQueue('q1', 'amq.direct', 'never-bound');
  vhost.declareExchange('x', { type: 'fanout' });
  vhost.bindQueue('q1', 'x', '');
  assert.throws(() => vhost.deleteExchange('x', { ifUnused: true }), fails(ErrorCode.preconditionFailed));
  vhost.publish('', 'q1', message('m'));
  assert.throws(() => vhost.deleteQueue('q1', { ifEmpty: true }), fails(ErrorCode.preconditionFailed));
  const consumer = vhost.consume('q1', { tag: 'c', owner: 'conn/1', deliver: () => {} });
  assert.throws(() => vhost.deleteQueue('q1', { ifUnused: true }), fails(ErrorCode.preconditionFailed));
  consumer.cancel();
  vhost.deleteExchange('x', { ifUnused: false });
  assert.equal(vhost.listBindings().filter((b) => b.source === 'x').length, 0);
  await broker.close();
});

test('errors with their codes: stream queues must be durable, not exclusive, not auto-delete', async () => {
  const { vhost, broker } = await openCore();
  assert.throws(() => vhost.declareQueue('s', { kind: 'stream' }), fails(ErrorCode.preconditionFailed));
  assert.throws(
    () => vhost.declareQueue('s', { kind: 'stream', durable: true, autoDelete: true }),
    fails(ErrorCode.preconditionFailed),
  );
  assert.throws(
    () => vhost.declareQueue('s', { kind: 'stream', durable: true, exclusiveOwner: 'c1' }),
    fails(ErrorCode.preconditionFailed),
  );
  vhost.declareQueue('s', { kind: 'stream', durable: true });
  await settle();
  assert.equal(vhost.publish('', 's', message('logged')).routedCount, 1);
  assert.equal(vhost.stream('s')?.partitions, 1);
  await broker.close();
});

test('queues: server-named queues get amq.gen- names', async () => {
  const { vhost, broker } = await openCore();
  const a = vhost.declareQueue('', { exclusiveOwner: 'c1' }, 'c1');
  const b = vhost.declareQueue('', { exclusiveOwner: 'c1' }, 'c1');
  assert.match(a.name, /^amq\.gen-[A-Za-z0-9_-]{22}$/);
  assert.notEqual(a.name, b.name);
  vhost.checkQueue(a.name, 'c1');
  await broker.close();
});

test('queues: exclusive queues refuse other connections and go with their connection', async () => {
  const { vhost, broker } = await openCore();
  vhost.declareQueue('mine', { exclusiveOwner: 'c1' }, 'c1');
  await settle();
  assert.throws(
    () => vhost.declareQueue('mine', { exclusiveOwner: 'c2' }, 'c2'),
    fails(ErrorCode.resourceLocked),
  );
  assert.throws(() => vhost.checkQueue('mine', 'c2'), fails(ErrorCode.resourceLocked));
  assert.throws(() => vhost.purgeQueue('mine', 'c2'), fails(ErrorCode.resourceLocked));
  assert.throws(() => vhost.deleteQueue('mine', { connectionId: 'c2' }), fails(ErrorCode.resourceLocked));
  assert.throws(
    () => vhost.consume('mine', { tag: 't', owner: 'c2/1', deliver: () => {} }),
    fails(ErrorCode.resourceLocked),
  );
  vhost.consume('mine', { tag: 't', owner: 'c1/1', deliver: () => {} });
  vhost.closeConnection('c1');
  assert.throws(() => vhost.checkQueue('mine', 'c1'), fails(ErrorCode.notFound));
  await broker.close();
});

test('queues: closeConnection requeues unacked deliveries of its channels as redelivered', async () => {
  const { vhost, broker } = await withQueues(1);
  vhost.publish('', 'q1', message('work'));
  const first = vhost.get('q1', { noAck: false, owner: 'c1/1' });
  assert.equal(text(first), 'work');
  assert.equal(vhost.get('q1', { noAck: false, owner: 'c2/1' }), undefined);
  vhost.closeConnection('c1');
  const again = vhost.get('q1', { noAck: false, owner: 'c2/1' });
  assert.equal(text(again), 'work');
  assert.equal(again?.redelivered, true);
  vhost.ack('q1', again!.id);
  assert.equal(vhost.checkQueue('q1').messageCount, 0);
  await broker.close();
});

test('queues: consume, ack and purge', async () => {
  const { vhost, client, broker } = await withQueues(1);
  const seen: Delivery[] = [];
  const consumer = vhost.consume('q1', {
    tag: 'c',
    owner: 'c1/1',
    prefetch: 10,
    deliver: (d) => seen.push(d),
  });
  client.publish('', 'q1', message('a'));
  client.publish('', 'q1', message('b'));
  assert.deepEqual(seen.map(text), ['a', 'b']);
  for (const delivery of seen) vhost.ack('q1', delivery.id);
  consumer.cancel();
  client.publish('', 'q1', message('c'));
  assert.equal(vhost.purgeQueue('q1'), 1);
  assert.equal(broker.stats().published, 3);
  await broker.close();
});

test('queues: a publish right after declare reaches the queue once it has opened', async () => {
  const { vhost, broker } = await openCore();
  vhost.declareQueue('fresh', { durable: true });
  const result = vhost.publish('', 'fresh', message('early', { persistent: true }));
  assert.equal(result.routedCount, 1);
  await result.confirmed;
  assert.deepEqual(drain(vhost, 'fresh'), ['early']);
  await broker.close();
});

test('queues: a durable queue deleted and declared again at once is a new, working queue', async () => {
  const { vhost, broker } = await openCore();
  vhost.declareQueue('again', { durable: true });
  await vhost.publish('', 'again', message('old', { persistent: true })).confirmed;
  // Same tick: the old queue's logs are still being closed and deleted when the new one is declared.
  vhost.deleteQueue('again');
  vhost.declareQueue('again', { durable: true });
  await vhost.publish('', 'again', message('new', { persistent: true })).confirmed;
  await settle();
  await vhost.publish('', 'again', message('newer', { persistent: true })).confirmed;
  assert.deepEqual(drain(vhost, 'again'), ['new', 'newer']);
  await broker.close();
});

test('queues: dead letters travel through a DLX into another queue', async () => {
  const { vhost, broker } = await openCore();
  vhost.declareExchange('dlx', { type: 'direct' });
  vhost.declareQueue('dead', {});
  vhost.bindQueue('dead', 'dlx', 'failed');
  vhost.declareQueue('work', { deadLetterExchange: 'dlx', deadLetterRoutingKey: 'failed' });
  await settle();
  vhost.publish('', 'work', message('poison'));
  const delivery = vhost.get('work', { noAck: false, owner: 'c1/1' })!;
  vhost.nack('work', delivery.id, false);
  const dead = vhost.get('dead', { noAck: true, owner: 'c1/1' });
  assert.equal(text(dead), 'poison');
  assert.equal(dead?.message.routingKey, 'failed');
  assert.ok(Array.isArray(headerValue(dead?.message.properties.headers, 'x-death')));
  await broker.close();
});

test('queues: auto-delete queue goes with its last consumer; auto-delete exchange with its last binding', async () => {
  const { vhost, broker } = await openCore();
  vhost.declareExchange('ax', { type: 'fanout', autoDelete: true });
  vhost.declareQueue('aq', { autoDelete: true });
  await settle();
  vhost.bindQueue('aq', 'ax', '');
  const consumer = vhost.consume('aq', { tag: 'c', owner: 'c1/1', deliver: () => {} });
  consumer.cancel();
  await settle();
  assert.throws(() => vhost.checkQueue('aq'), fails(ErrorCode.notFound));
  assert.throws(() => vhost.checkExchange('ax'), fails(ErrorCode.notFound));
  await broker.close();
});

test('queues: an unused queue with expiresMs is deleted when it expires', async () => {
  const { vhost, broker, clock } = await openCore();
  vhost.declareQueue('temp', { expiresMs: 1000 });
  await settle();
  const exists = () => vhost.listQueues().some((q) => q.name === 'temp');
  clock.advance(500);
  vhost.checkQueue('temp'); // use restarts the countdown
  clock.advance(999);
  await settle();
  assert.equal(exists(), true);
  clock.advance(2);
  await settle();
  assert.throws(() => vhost.checkQueue('temp'), fails(ErrorCode.notFound));
  await broker.close();
});

test('queues: listing shows exchanges, queues and bindings', async () => {
  const { vhost, broker } = await withQueues(1);
  vhost.declareExchange('x', { type: 'topic', durable: true });
  vhost.bindQueue('q1', 'x', 'a.#');
  assert.ok(vhost.listExchanges().some((e) => e.name === 'x' && e.type === 'topic' && e.durable === true));
  assert.ok(vhost.listQueues().some((q) => q.name === 'q1' && q.messageCount === 0));
  const bindings = vhost.listBindings();
  assert.ok(bindings.some((b) => b.source === 'x' && b.destination === 'q1' && b.routingKey === 'a.#'));
  assert.ok(bindings.some((b) => b.source === '' && b.destination === 'q1'));
  await broker.close();
});

test('streams: created, listed, read by partition, group offsets kept, deleted', async () => {
  const { vhost, broker } = await openCore();
  const info = await vhost.createStream('events', { partitions: 2 });
  assert.equal(info.partitions, 2);
  assert.deepEqual(
    vhost.streams().map((s) => s.name),
    ['events'],
  );
  const partition = vhost.partition('events', 1);
  const { offset } = partition.append(new Uint8Array([1]), { timestamp: 1, format: 0 });
  assert.equal(partition.read(offset).length, 1);
  await vhost.commitOffset('g', 'events', 1, { offset: 1, metadata: 'm', committedAt: 5 });
  assert.equal(vhost.fetchOffset('g', 'events', 1)?.offset, 1);
  assert.equal(vhost.groupOffsets('g').length, 1);
  await vhost.deleteGroupOffsets('g');
  assert.equal(vhost.fetchOffset('g', 'events', 1), undefined);
  await vhost.deleteStream('events');
  assert.equal(vhost.stream('events'), undefined);
  assert.equal(broker.stats().streams, 0);
  await broker.close();
});

test('stats count objects and traffic', async () => {
  const { vhost, client, broker } = await withQueues(2);
  vhost.declareExchange('x', { type: 'fanout' });
  vhost.bindQueue('q1', 'x', '');
  client.publish('x', '', message('m'));
  client.get('q1', { noAck: false, owner: '1' });
  const stats = broker.stats();
  assert.equal(stats.vhosts, 1);
  assert.equal(stats.exchanges, 6);
  assert.equal(stats.queues, 2);
  assert.equal(stats.published, 1);
  assert.equal(stats.delivered, 1);
  assert.equal(stats.messagesReady, 0);
  assert.equal(stats.messagesUnacked, 1);
  await broker.close();
});
