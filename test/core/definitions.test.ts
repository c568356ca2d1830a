import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { BrokerCore } from '../../src/core/broker.js';
import { internalContext } from '../../src/core/entry/context.js';
import { derivedStreamId } from '../../src/core/logs/stream-ids.js';
import { definitionsMachine } from '../../src/core/state/defs-entries.js';
import { encodeJson, headersFromJson, headersToJson } from '../../src/core/state/json.js';
import { definitionsLogName } from '../../src/core/state/names.js';
import { recordFormat } from '../../src/core/state/state-log.js';
import { ManualClock } from '../../src/shared/clock.js';
import { ErrorCode, isBrokerError } from '../../src/shared/errors.js';
import { FileStorage } from '../../src/storage/file/storage.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import type { Storage } from '../../src/storage/types.js';
import { drain, message, settle } from '../../testing/core-helpers.js';
import { readStateLog } from '../../testing/state-helpers.js';
import { until } from '../../testing/wait.js';

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

describe('stream ids', () => {
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

  test('made at creation (an AMQP stream queue too), kept by every change and a restart; new when created again', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchyard-ids-'));
    try {
      let storage = await FileStorage.open({ dir, fsync: { kind: 'never' } });
      let broker = await BrokerCore.open({ storage, clock });
      let vhost = broker.vhost('/');
      const first = await vhost.createStream('orders', { partitions: 1 });
      assert.match(first.id, uuid);
      vhost.declareQueue('sq', { kind: 'stream', durable: true });
      await until(() => vhost.stream('sq') !== undefined, 5000, 'the stream queue');
      const queueId = vhost.stream('sq')?.id;
      assert.match(queueId ?? '', uuid);
      assert.notEqual(queueId, first.id);
      // Replacing the settings, the attributes or the partition count keeps the id.
      assert.equal(
        (await vhost.configureStream('orders', { ageMsMax: 60_000, attributes: { a: '1' } })).id,
        first.id,
      );
      assert.equal((await vhost.setStreamAttributes('orders', { b: '2' })).id, first.id);
      assert.equal((await vhost.addPartitions('orders', 3)).id, first.id);
      await broker.close();
      await storage.close();

      storage = await FileStorage.open({ dir, fsync: { kind: 'never' } });
      broker = await BrokerCore.open({ storage, clock });
      vhost = broker.vhost('/');
      assert.equal(vhost.stream('orders')?.id, first.id);
      assert.equal(vhost.stream('orders')?.partitions, 3);
      assert.equal(vhost.stream('sq')?.id, queueId);
      await vhost.deleteStream('orders');
      const second = await vhost.createStream('orders', { partitions: 1 });
      assert.match(second.id, uuid);
      assert.notEqual(second.id, first.id);
      await broker.close();
      await storage.close();

      storage = await FileStorage.open({ dir, fsync: { kind: 'never' } });
      broker = await BrokerCore.open({ storage, clock });
      assert.equal(broker.vhost('/').stream('orders')?.id, second.id);
      await broker.close();
      await storage.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a stream is found by its id: created, deleted, created again, reopened (the old id finds nothing)', async () => {
    const storage = new MemoryStorage();
    let broker = await BrokerCore.open({ storage, clock });
    let client = broker.connect(internalContext('/'));
    const first = await client.createStream('orders', { partitions: 2 });
    const other = await client.createStream('payments', { partitions: 1 });
    assert.equal(client.streamNameOf(first.id), 'orders');
    assert.equal(client.streamNameOf(other.id), 'payments');
    await client.deleteStream('orders');
    assert.equal(client.streamNameOf(first.id), undefined, 'deleted');
    const second = await client.createStream('orders', { partitions: 1 });
    assert.equal(client.streamNameOf(second.id), 'orders');
    assert.equal(client.streamNameOf(first.id), undefined, 'the id before the recreate');
    await broker.close();

    broker = await BrokerCore.open({ storage, clock });
    client = broker.connect(internalContext('/'));
    assert.equal(client.streamNameOf(second.id), 'orders', 'after a reopen');
    assert.equal(client.streamNameOf(other.id), 'payments', 'after a reopen');
    assert.equal(client.streamNameOf(first.id), undefined, 'the old id after a reopen');
    // Another vhost's index is its own.
    await broker.addVhost('other');
    assert.equal(broker.connect(internalContext('other')).streamNameOf(second.id), undefined);
    await broker.close();
  });

  test('a stream defined by an older build (no id stored) opens with the id that build derived', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchyard-ids-'));
    try {
      let storage = await FileStorage.open({ dir, fsync: { kind: 'never' } });
      // The definitions log as an older build wrote it: a stream.put without an id.
      const log = await storage.openLog(definitionsLogName);
      const old = { t: 'stream.put', vhost: '/', name: 'legacy', partitions: 2 };
      await log.append({ payload: encodeJson(old), timestamp: 0, format: recordFormat.entry }).durable;
      await log.close();
      await storage.close();
      for (let open = 0; open < 2; open++) {
        storage = await FileStorage.open({ dir, fsync: { kind: 'never' } });
        const broker = await BrokerCore.open({ storage, clock });
        const info = broker.vhost('/').stream('legacy');
        assert.equal(info?.partitions, 2);
        assert.equal(info?.id, derivedStreamId('/', 'legacy'), `open ${open}`);
        assert.equal(broker.vhost('/').streamNameOf(derivedStreamId('/', 'legacy')), 'legacy');
        await broker.close();
        await storage.close();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
