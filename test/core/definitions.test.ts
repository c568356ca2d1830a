import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { BrokerCore } from '../../src/core/broker.js';
import { internalContext } from '../../src/core/entry/context.js';
import { definitionsMachine } from '../../src/core/state/defs-entries.js';
import { headersFromJson, headersToJson } from '../../src/core/state/json.js';
import { definitionsLogName } from '../../src/core/state/names.js';
import { ManualClock } from '../../src/shared/clock.js';
import { ErrorCode, isBrokerError } from '../../src/shared/errors.js';
import { FileStorage } from '../../src/storage/file/storage.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import type { Storage } from '../../src/storage/types.js';
import { drain, message, settle } from '../../testing/core-helpers.js';
import { readStateLog } from '../../testing/state-helpers.js';

const clock = new ManualClock();

async function populate(storage: Storage): Promise<void> {
  const broker = await BrokerCore.open({ storage, clock });
  const vhost = broker.vhost('/');
  vhost.declareExchange('dx', {
    type: 'topic',
    durable: true,
    arguments: { 'alternate-exchange': 'amq.fanout' },
  });
  vhost.declareExchange('dx2', { type: 'fanout', durable: true });
  vhost.declareExchange('tx', { type: 'direct' });
  vhost.declareQueue('dq', { durable: true, messageTtlMs: 60_000, arguments: { 'x-message-ttl': 60_000 } });
  vhost.declareQueue('dq2', { durable: true });
  vhost.declareQueue('tq', {});
  vhost.declareQueue('sq', { kind: 'stream', durable: true });
  vhost.declareQueue('eq', { durable: true, exclusiveOwner: 'c1' }, 'c1');
  await settle();
  vhost.bindQueue('dq', 'dx', 'a.#', { tag: new Uint8Array([1, 2]), big: 5n });
  vhost.bindQueue('tq', 'dx', 'a.#');
  vhost.bindQueue('dq', 'tx', 'k');
  vhost.bindExchange('dx2', 'dx', 'b.*');
  vhost.bindQueue('dq2', 'dx2', '');
  await vhost.publish('dx', 'a.1', message('kept', { persistent: true })).confirmed;
  await broker.addVhost('other');
  broker.vhost('other').declareQueue('oq', { durable: true });
  const client = broker.connect(internalContext('/'));
  await client.setRetained({
    key: 'x',
    body: new TextEncoder().encode('r'),
    properties: { contentType: 't' },
  });
  await broker.close();
}

async function verify(storage: Storage): Promise<void> {
  const broker = await BrokerCore.open({ storage, clock });
  const vhost = broker.vhost('/');
  vhost.checkExchange('dx');
  vhost.declareExchange('dx', {
    type: 'topic',
    durable: true,
    arguments: { 'alternate-exchange': 'amq.fanout' },
  });
  assert.throws(
    () => vhost.checkExchange('tx'),
    (err) => isBrokerError(err, ErrorCode.notFound),
  );
  assert.throws(
    () => vhost.checkQueue('tq'),
    (err) => isBrokerError(err, ErrorCode.notFound),
  );
  assert.throws(
    () => vhost.checkQueue('eq'),
    (err) => isBrokerError(err, ErrorCode.notFound),
  );
  assert.throws(
    () => vhost.declareQueue('dq', { durable: true }),
    (err) => isBrokerError(err, ErrorCode.preconditionFailed),
  );
  const binding = vhost.listBindings().find((b) => b.source === 'dx' && b.destination === 'dq');
  assert.deepEqual(binding?.args, { tag: new Uint8Array([1, 2]), big: 5n });
  assert.equal(vhost.listBindings().filter((b) => b.source === 'tx').length, 0);
  assert.equal(vhost.publish('dx', 'b.x', message('via-e2e')).routedCount, 1);
  assert.equal(vhost.publish('dx', 'a.2', message('new')).routedCount, 1);
  assert.deepEqual(drain(vhost, 'dq'), ['kept', 'new']);
  assert.deepEqual(drain(vhost, 'dq2'), ['via-e2e']);
  assert.deepEqual(broker.vhostNames().sort(), ['/', 'other']);
  broker.vhost('other').checkQueue('oq');
  vhost.declareQueue('sq', { kind: 'stream', durable: true });
  assert.equal(vhost.stream('sq')?.partitions, 1);
  assert.equal(vhost.publish('', 'sq', message('s')).routedCount, 1);
  const retained = broker.connect(internalContext('/')).matchRetained('#');
  assert.deepEqual(
    retained.map((m) => [m.key, new TextDecoder().decode(m.body), m.properties]),
    [['x', 'r', { contentType: 't' }]],
  );
  await broker.close();
}

describe('definitions survive a restart', () => {
  test('with MemoryStorage: durable objects only', async () => {
    const storage = new MemoryStorage();
    await populate(storage);
    await verify(storage);
  });

  test('with FileStorage: durable objects only', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchyard-core-'));
    try {
      const first = await FileStorage.open({ dir, fsync: { kind: 'never' } });
      await populate(first);
      await first.close();
      const second = await FileStorage.open({ dir, fsync: { kind: 'never' } });
      await verify(second);
      await second.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a deleted vhost does not come back', async () => {
    const storage = new MemoryStorage();
    const broker = await BrokerCore.open({ storage, clock });
    await broker.addVhost('gone');
    broker.vhost('gone').declareQueue('q', { durable: true });
    await broker.deleteVhost('gone');
    await broker.close();
    const again = await BrokerCore.open({ storage, clock });
    assert.deepEqual(again.vhostNames(), ['/']);
    await again.close();
  });

  test('header tables round-trip through JSON', () => {
    const headers = {
      s: 'x',
      n: 1.5,
      inf: Number.POSITIVE_INFINITY,
      b: 7n,
      d: new Date(9),
      raw: new Uint8Array([3]),
      t: { a: [1, null, true] },
    };
    assert.deepEqual(headersFromJson(JSON.parse(JSON.stringify(headersToJson(headers)))), headers);
  });
});

describe('users', () => {
  test('guest/guest exists on first start; passwords are checked', async () => {
    const storage = new MemoryStorage();
    const broker = await BrokerCore.open({ storage, clock });
    const users = broker.users;
    assert.equal(await users.verify('guest', 'guest'), true);
    assert.equal(await users.verify('guest', 'wrong'), false);
    assert.equal(await users.verify('nobody', 'guest'), false);
    await users.put('alice', 's3cret');
    await broker.close();
    const stored = await readStateLog(storage, definitionsLogName, definitionsMachine);
    const text = stored.raw.map((record) => Buffer.from(record.payload).toString('latin1')).join('');
    assert.ok(text.includes('alice'), 'the user is in the definitions log');
    assert.equal(text.includes('s3cret'), false, 'its password is not');
    const reopened = await BrokerCore.open({ storage, clock });
    await reopened.users.delete('guest');
    await reopened.close();
    const again = await BrokerCore.open({ storage, clock });
    assert.deepEqual(again.users.names(), ['alice']);
    assert.equal(await again.users.verify('alice', 's3cret'), true);
    await again.close();
  });

  test('a password longer than any login may carry is refused when the user is made', async () => {
    const broker = await BrokerCore.open({ storage: new MemoryStorage(), clock });
    await assert.rejects(broker.users.put('bob', 'x'.repeat(1025)), (err) =>
      isBrokerError(err, 'invalid_argument'),
    );
    assert.deepEqual(broker.users.names(), ['guest']);
    await broker.close();
  });
});
