/**
 * Routing's reused answers (one set per route, one list per single queue reached) under re-entry: a
 * dead letter routed while a publish is being enqueued, a fan-out after a single-queue route.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BrokerCore } from '../../src/core/broker.js';
import { internalContext } from '../../src/core/entry/context.js';
import { MemoryStorage } from '../../src/storage/memory.js';

test('dead-lettering while a publish is enqueued, routes of one queue and fan-out stay apart', async () => {
  const broker = await BrokerCore.open({ storage: new MemoryStorage() });
  const c = broker.connect(internalContext('/'));
  c.declareQueue('dlq', { durable: false });
  c.declareQueue('one', {
    durable: false,
    lengthMax: 1,
    overflow: 'drop-head',
    deadLetterExchange: 'amq.topic',
    deadLetterRoutingKey: 'dead',
  });
  c.declareQueue('two', { durable: false });
  c.bindQueue('one', 'amq.topic', 'a.#');
  c.bindQueue('dlq', 'amq.topic', 'dead');
  c.bindQueue('two', 'amq.topic', 'a.b');
  const r1 = c.publish('amq.topic', 'a.x', { body: Buffer.from('1'), properties: {} });
  const r2 = c.publish('amq.topic', 'a.x', { body: Buffer.from('2'), properties: {} });
  const r3 = c.publish('amq.topic', 'a.b', { body: Buffer.from('3'), properties: {} });
  const r4 = c.publish('amq.topic', 'dead', { body: Buffer.from('4'), properties: {} });
  assert.deepEqual(
    [r1, r2, r3, r4].map((r) => r.routedCount),
    [1, 1, 2, 1],
  );
  await Promise.all([r1, r2, r3, r4].map((r) => r.confirmed));
  assert.equal(c.checkQueue('one').messageCount, 1);
  assert.equal(c.checkQueue('two').messageCount, 1);
  assert.equal(c.checkQueue('dlq').messageCount, 3);
  const bodies = [];
  for (;;) {
    const d = c.get('dlq', { noAck: true, owner: 'x' });
    if (d === undefined) break;
    bodies.push(Buffer.from(d.message.body).toString());
  }
  assert.deepEqual(bodies.sort(), ['1', '2', '4']);
  await broker.close();
});
