/**
 * Kafka's ACLs in core, in memory: the compiled index decides as Kafka's StandardAuthorizer (DENY
 * wins, wildcards, prefixes, implied operations), filters match as AclBindingFilter, and core's
 * decision joins super users, the caller's permissions and the bindings. Bindings are entries of the
 * definitions log and come back after a restart.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AclIndex } from '../../src/core/acl-index.js';
import { type AclBinding, type AclFilter, aclFilterMatches, anyAcl } from '../../src/core/acls.js';
import { BrokerCore } from '../../src/core/broker.js';
import { type CallerContext, internalContext } from '../../src/core/entry/context.js';
import { ManualClock } from '../../src/shared/clock.js';
import { ErrorCode, isBrokerError } from '../../src/shared/errors.js';
import { MemoryStorage } from '../../src/storage/memory.js';

function acl(over: Partial<AclBinding>): AclBinding {
  return {
    resourceType: 'TOPIC',
    resourceName: 'orders',
    patternType: 'LITERAL',
    principal: 'User:alice',
    host: '*',
    operation: 'READ',
    permission: 'ALLOW',
    ...over,
  };
}

const alice = { principal: 'User:alice', host: '10.0.0.1' };
const bob = { principal: 'User:bob', host: '10.0.0.2' };
const topic = (resourceName: string, operation: 'READ' | 'WRITE' | 'DESCRIBE' | 'DELETE' = 'READ') => ({
  resourceType: 'TOPIC' as const,
  resourceName,
  operation,
});

test('a resource without bindings is left to the permissions; one with bindings needs an ALLOW', () => {
  const index = new AclIndex([acl({})]);
  assert.equal(index.decide(alice, topic('orders')), 'allowed');
  assert.equal(index.decide(bob, topic('orders')), 'denied', 'bindings exist, none for bob');
  assert.equal(index.decide(alice, topic('orders', 'WRITE')), 'denied', 'READ does not give WRITE');
  assert.equal(index.decide(alice, topic('payments')), 'none');
  assert.equal(
    index.decide(alice, { resourceType: 'GROUP', resourceName: 'orders', operation: 'READ' }),
    'none',
  );
});

test('a DENY wins over any ALLOW, whichever pattern carries it', () => {
  const index = new AclIndex([
    acl({ principal: 'User:*', operation: 'ALL' }),
    acl({ patternType: 'PREFIXED', resourceName: 'ord', permission: 'DENY', operation: 'WRITE' }),
  ]);
  assert.equal(index.decide(alice, topic('orders')), 'allowed');
  assert.equal(index.decide(alice, topic('orders', 'WRITE')), 'denied');
  assert.equal(index.decide(bob, topic('orders', 'WRITE')), 'allowed', 'the DENY names alice only');
});

test('wildcards: principal User:*, host *, literal name *', () => {
  const index = new AclIndex([
    acl({ resourceName: '*', principal: 'User:*', host: '10.0.0.1' }),
    acl({ resourceName: 'secret', principal: 'User:*', permission: 'DENY' }),
  ]);
  assert.equal(index.decide(alice, topic('anything')), 'allowed');
  assert.equal(index.decide(bob, topic('anything')), 'denied', 'bob comes from another host');
  assert.equal(index.decide(alice, topic('secret')), 'denied');
});

test('prefixed patterns apply to every name they begin, of any length', () => {
  const index = new AclIndex([
    acl({ patternType: 'PREFIXED', resourceName: 'app.' }),
    acl({ patternType: 'PREFIXED', resourceName: 'app.internal.', permission: 'DENY' }),
  ]);
  assert.equal(index.decide(alice, topic('app.orders')), 'allowed');
  assert.equal(index.decide(alice, topic('app.internal.audit')), 'denied');
  assert.equal(index.decide(alice, topic('app')), 'none', 'shorter than the prefix');
  assert.equal(index.decide(alice, topic('other.app.x')), 'none');
});

test('an ALLOW of READ, WRITE, DELETE or ALTER implies DESCRIBE; a DENY implies nothing', () => {
  for (const operation of ['READ', 'WRITE', 'DELETE', 'ALTER'] as const) {
    const index = new AclIndex([acl({ operation })]);
    assert.equal(index.decide(alice, topic('orders', 'DESCRIBE')), 'allowed', operation);
  }
  const configs = new AclIndex([acl({ operation: 'ALTER_CONFIGS' })]);
  const describeConfigs = {
    resourceType: 'TOPIC',
    resourceName: 'orders',
    operation: 'DESCRIBE_CONFIGS',
  } as const;
  assert.equal(configs.decide(alice, describeConfigs), 'allowed');
  const denied = new AclIndex([acl({ operation: 'ALL' }), acl({ operation: 'READ', permission: 'DENY' })]);
  assert.equal(denied.decide(alice, topic('orders', 'DESCRIBE')), 'allowed', 'DENY READ leaves DESCRIBE');
  assert.equal(denied.decide(alice, topic('orders', 'READ')), 'denied');
});

test('some resource of a type (KIP-679): an ALLOW no DENY of the principal dominates', () => {
  const index = new AclIndex([
    acl({ operation: 'WRITE', resourceName: 'app.orders' }),
    acl({ operation: 'WRITE', patternType: 'PREFIXED', resourceName: 'app.', permission: 'DENY' }),
  ]);
  assert.equal(index.allowsSomeOf(alice, 'TOPIC', 'WRITE'), false, 'the prefix DENY covers the ALLOW');
  const open = new AclIndex([acl({ operation: 'WRITE', resourceName: 'logs' })]);
  assert.equal(open.allowsSomeOf(alice, 'TOPIC', 'WRITE'), true);
  assert.equal(open.allowsSomeOf(bob, 'TOPIC', 'WRITE'), false);
  const wildDeny = new AclIndex([
    acl({ operation: 'WRITE' }),
    acl({ resourceName: '*', operation: 'ALL', permission: 'DENY' }),
  ]);
  assert.equal(wildDeny.allowsSomeOf(alice, 'TOPIC', 'WRITE'), false);
});

test('filters match as Kafka AclBindingFilter: ANY, null fields and MATCH', () => {
  const literal = acl({});
  const wildcard = acl({ resourceName: '*' });
  const prefixed = acl({ patternType: 'PREFIXED', resourceName: 'ord' });
  const filter = (over: Partial<AclFilter>): AclFilter => ({ ...anyAcl, ...over });
  const all = [literal, wildcard, prefixed];
  const names = (f: AclFilter) =>
    all.filter((b) => aclFilterMatches(f, b)).map((b) => `${b.patternType}:${b.resourceName}`);
  assert.deepEqual(names(anyAcl), ['LITERAL:orders', 'LITERAL:*', 'PREFIXED:ord']);
  assert.deepEqual(names(filter({ resourceName: 'orders' })), ['LITERAL:orders']);
  assert.deepEqual(names(filter({ resourceName: 'orders', patternType: 'MATCH' })), [
    'LITERAL:orders',
    'LITERAL:*',
    'PREFIXED:ord',
  ]);
  assert.deepEqual(names(filter({ patternType: 'PREFIXED' })), ['PREFIXED:ord']);
  assert.deepEqual(names(filter({ principal: 'User:bob' })), []);
  assert.deepEqual(names(filter({ operation: 'READ', permission: 'ALLOW', host: '*' })).length, 3);
});

function as(user: string, tags: string[] = []): CallerContext {
  return { ...internalContext('/', `c-${user}`), principal: { user, tags }, protocol: 'kafka' };
}

test('core decides: super users, then the permissions, then the ACLs; bindings survive a restart', async () => {
  const storage = new MemoryStorage();
  const clock = new ManualClock();
  let broker = await BrokerCore.open({ storage, clock });
  const admin = broker.connect(internalContext('/'));
  await admin.putUser('app', 'pw', []);
  await admin.setPermission('/', 'app', { configure: '', write: '^orders$', read: '^orders$' });
  const app = broker.connect(as('app'));
  const appWho = { principal: 'User:app', host: '127.0.0.1' };
  const write = topic('orders', 'WRITE');
  assert.equal(app.authorizeAcl(appWho, write), true, 'no binding: the permission decides');
  assert.equal(app.authorizeAcl(appWho, topic('payments', 'WRITE')), false, 'no permission');
  const generation = broker.accessGeneration;
  await admin.createAcls([acl({ principal: 'User:app', operation: 'WRITE', permission: 'DENY' })]);
  assert.notEqual(broker.accessGeneration, generation, 'a change of ACLs moves the access generation');
  assert.equal(app.authorizeAcl(appWho, write), false, 'the DENY refuses');
  assert.equal(
    admin.authorizeAcl({ principal: 'User:guest', host: '::1' }, write),
    true,
    'guest is a super user',
  );
  const anonymous = { principal: 'User:ANONYMOUS', host: '::1' };
  assert.equal(admin.authorizeAcl(anonymous, write), false, 'the topic has a binding, none allows it');
  assert.equal(admin.authorizeAcl(anonymous, topic('payments', 'WRITE')), true, 'no binding: allowed');
  assert.throws(
    () => app.listAcls(),
    (err) => isBrokerError(err, ErrorCode.accessRefused),
    'administrator only',
  );
  await assert.rejects(
    admin.createAcls([acl({ resourceType: 'CLUSTER', resourceName: 'other' })]),
    /The only valid name for the CLUSTER resource is kafka-cluster/,
  );
  await admin.createAcls([acl({ principal: 'User:app', operation: 'WRITE', permission: 'DENY' })]);
  assert.equal(admin.listAcls().length, 1, 'creating a binding twice keeps one');
  await broker.close();

  broker = await BrokerCore.open({ storage, clock });
  const again = broker.connect(internalContext('/'));
  assert.deepEqual(again.listAcls(), [
    acl({ principal: 'User:app', operation: 'WRITE', permission: 'DENY' }),
  ]);
  assert.equal(
    broker.connect(as('app')).authorizeAcl(appWho, write),
    false,
    'still refused after the restart',
  );
  const deleted = await again.deleteAcls([
    { ...anyAcl, principal: 'User:app' },
    { ...anyAcl, principal: 'User:x' },
  ]);
  assert.deepEqual(
    deleted.map((list) => list.length),
    [1, 0],
  );
  assert.equal(broker.connect(as('app')).authorizeAcl(appWho, write), true);
  await broker.close();
});
