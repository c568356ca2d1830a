/**
 * Core's authorizer on the permission store: users and permissions survive a restart on the
 * definitions log; a grant is compiled once and reused until the store changes; variables are
 * escaped; a deleted user may do nothing; a vhost's creator gets full permissions on it.
 */

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { AclIndex } from '../../src/core/acl-index.js';
import { BrokerCore } from '../../src/core/broker.js';
import { PermissionAuthorizer } from '../../src/core/entry/authorize.js';
import type { Command } from '../../src/core/entry/commands.js';
import { type CallerContext, internalContext, type Principal } from '../../src/core/entry/context.js';
import { decisionsPerPatternMax } from '../../src/core/entry/grants.js';
import { ErrorCode, isBrokerError } from '../../src/shared/errors.js';
import { FileStorage } from '../../src/storage/file/storage.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { holdDurability, settle } from '../../testing/core-helpers.js';

const refused = (err: unknown) => isBrokerError(err, ErrorCode.accessRefused);

function context(principal: Principal, vhost = '/'): CallerContext {
  return { principal, vhost, connectionId: 'c1', protocol: 'amqp', peerAddress: '127.0.0.1' };
}

test('users, tags, permissions and topic permissions survive a restart', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchyard-perm-'));
  try {
    const first = await BrokerCore.open({
      storage: await FileStorage.open({ dir, fsync: { kind: 'never' } }),
    });
    const admin = first.connect(internalContext('/'));
    await admin.putUser('app', 'pw', ['management']);
    await admin.setPermission('/', 'app', { configure: '^a', write: '^b', read: '^c' });
    await admin.setTopicPermission('/', 'app', 'amq.topic', { write: '^x', read: '' });
    await first.close();
    const second = await BrokerCore.open({
      storage: await FileStorage.open({ dir, fsync: { kind: 'never' } }),
    });
    const again = second.connect(internalContext('/'));
    assert.deepEqual(again.getUser('app')?.tags, ['management']);
    assert.deepEqual(again.listPermissions({ user: 'app' }), [
      { vhost: '/', user: 'app', configure: '^a', write: '^b', read: '^c' },
    ]);
    assert.deepEqual(again.listTopicPermissions({ user: 'app' }), [
      { vhost: '/', user: 'app', exchange: 'amq.topic', write: '^x', read: '' },
    ]);
    await again.deleteUser('app');
    assert.deepEqual(
      again.listPermissions({ user: 'app' }),
      [],
      'a deleted user takes its permissions along',
    );
    await second.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a grant is compiled once and reused until the store changes', () => {
  const source = {
    accessGeneration: 0,
    userTags: (user: string) => (user === 'app' ? [] : undefined),
    permission: () => ({ configure: '', write: '^amq\\.topic$', read: '' }),
    topicPermissions: () => new Map([['amq.topic', { write: '^dev\\.{client_id}\\.', read: '' }]]),
    exchangeType: () => 'topic' as const,
    queueExists: () => false,
    aclIndex: () => new AclIndex([]),
  };
  const authorizer = new PermissionAuthorizer(source);
  const principal: Principal = { user: 'app', tags: [], clientId: 'a.b' };
  const grant = authorizer.grantOf(principal, '/');
  assert.equal(authorizer.grantOf(principal, '/'), grant, 'the same compiled grant on the next publish');
  const publish = (routingKey: string): Command =>
    ({ kind: 'message.publish', exchange: 'amq.topic', routingKey, message: {} }) as unknown as Command;
  authorizer.authorize(context(principal), publish('dev.a.b.t'));
  // The client id is escaped: `a.b` does not match `axb`.
  assert.throws(() => authorizer.authorize(context(principal), publish('dev.axb.t')), refused);
  const noClientId: Principal = { user: 'app', tags: [] };
  assert.throws(
    () => authorizer.authorize(context(noClientId), publish('dev.a.b.t')),
    refused,
    'no id: no match',
  );
  source.accessGeneration++;
  assert.notEqual(authorizer.grantOf(principal, '/'), grant, 'compiled again after a change');
  const gone: Principal = { user: 'deleted', tags: ['administrator'] };
  assert.throws(() => authorizer.authorize(context(gone), publish('dev.a.b.t')), refused);
});

test('remembered decisions follow the store: a changed permission is decided anew, and so is a new exchange type', () => {
  let write = '^amq\\.topic$';
  let type: 'topic' | 'direct' | undefined = 'topic';
  const source = {
    accessGeneration: 0,
    userTags: () => [],
    permission: () => ({ configure: '', write, read: '' }),
    topicPermissions: () => new Map([['amq.topic', { write: '^ok\\.', read: '' }]]),
    exchangeType: () => type,
    queueExists: () => false,
    aclIndex: () => new AclIndex([]),
  };
  const authorizer = new PermissionAuthorizer(source);
  const caller = context({ user: 'app', tags: [] });
  const other = context({ user: 'other', tags: [] });
  const publish = (routingKey: string): Command =>
    ({ kind: 'message.publish', exchange: 'amq.topic', routingKey, message: {} }) as unknown as Command;
  // Many keys, more than a pattern remembers, from two callers in turn: the same answers throughout.
  for (let i = 0; i < 3 * decisionsPerPatternMax; i++) {
    for (const who of [caller, other]) {
      authorizer.authorize(who, publish(`ok.${i}`));
      assert.throws(() => authorizer.authorize(who, publish(`no.${i}`)), refused);
    }
  }
  // The exchange is no topic exchange any more: its routing keys are not checked (RabbitMQ's rule).
  type = 'direct';
  authorizer.authorize(caller, publish('no.1'));
  type = 'topic';
  write = '^nothing$';
  authorizer.authorize(caller, publish('ok.1'));
  source.accessGeneration++;
  assert.throws(() => authorizer.authorize(caller, publish('ok.1')), refused, 'the new permission decides');
});

test('two calls adding one vhost at once both succeed; the creator of the two is granted', async () => {
  const core = await BrokerCore.open({ storage: new MemoryStorage() });
  try {
    const admin = core.connect(internalContext('/'));
    await admin.putUser('boss', 'pw', ['administrator']);
    const boss = core.connect(context({ user: 'boss', tags: ['administrator'] }));
    // The second call used to open the vhost's logs again and fail: "Log producers.twice is held by …".
    await Promise.all([boss.addVhost('twice'), admin.addVhost('twice')]);
    assert.ok(admin.vhostNames().includes('twice'));
    assert.deepEqual(
      admin.listPermissions({ vhost: 'twice' }).map((p) => p.user),
      ['boss'],
    );
  } finally {
    await core.close();
  }
});

test('three calls adding one vhost at once, the first failing in storage: the other two open it once and both succeed', async () => {
  let failures = 1;
  class FailsOnce extends MemoryStorage {
    override openLog(name: string) {
      if (name.includes('thrice') && failures-- > 0) return Promise.reject(new Error('disk on fire'));
      return super.openLog(name);
    }
  }
  const core = await BrokerCore.open({ storage: new FailsOnce() });
  try {
    const admin = core.connect(internalContext('/'));
    const calls = [admin.addVhost('thrice'), admin.addVhost('thrice'), admin.addVhost('thrice')];
    const settled = await Promise.allSettled(calls);
    assert.deepEqual(
      settled.map((s) => s.status),
      ['rejected', 'fulfilled', 'fulfilled'],
    );
    assert.ok(admin.vhostNames().includes('thrice'));
  } finally {
    await core.close();
  }
});

test('two calls adding one vhost while its definition is not yet durable: both wait for it, the event loop free meanwhile', async () => {
  const held = holdDurability(new MemoryStorage(), () => true);
  const core = await BrokerCore.open({ storage: held.storage });
  try {
    const admin = core.connect(internalContext('/'));
    held.hold();
    let answered = 0;
    const calls = [admin.addVhost('slow'), admin.addVhost('slow')].map((c) => c.then(() => answered++));
    await settle(5);
    assert.equal(answered, 0, 'answered once the definition is durable');
    held.release();
    await Promise.all(calls);
    assert.equal(answered, 2);
  } finally {
    await core.close();
  }
});

test('a user that creates a vhost gets full permissions on it; others have none there', async () => {
  const core = await BrokerCore.open({ storage: new MemoryStorage() });
  try {
    const admin = core.connect(internalContext('/'));
    await admin.putUser('boss', 'pw', ['administrator']);
    await admin.putUser('other', 'pw', []);
    const boss = core.connect(context({ user: 'boss', tags: ['administrator'] }));
    await boss.addVhost('shop');
    assert.deepEqual(
      admin.listPermissions({ vhost: 'shop' }).map((p) => p.user),
      ['boss'],
    );
    core.connect(context({ user: 'boss', tags: [] }, 'shop')).checkVhostAccess();
    const other = core.connect(context({ user: 'other', tags: [] }, 'shop'));
    assert.throws(() => other.checkVhostAccess(), /access to vhost 'shop' refused for user 'other'/);
    await assert.rejects(
      async () => core.connect(context({ user: 'other', tags: [] })).putUser('x', 'y'),
      /needs the administrator tag/,
    );
  } finally {
    await core.close();
  }
});

test("a user's tags are read alone, by that user or an administrator, and follow a change", async () => {
  const broker = await BrokerCore.open({ storage: new MemoryStorage() });
  const admin = broker.connect(internalContext('/'));
  await admin.putUser('app', 'pw', ['management']);
  await admin.putUser('other', 'pw', []);
  assert.deepEqual(admin.userTags('app'), ['management']);
  assert.equal(admin.userTags('nobody'), undefined);
  const app = broker.connect(context({ user: 'app', tags: ['management'] }));
  assert.deepEqual(app.userTags('app'), ['management']);
  assert.throws(() => app.userTags('other'), refused);
  await admin.putUser('app', 'pw', ['monitoring']);
  assert.deepEqual(app.userTags('app'), ['monitoring']);
  await broker.close();
});
