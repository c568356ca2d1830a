import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createAuthenticator, isLoopback } from '../../src/server/auth.js';

test('loopback addresses include IPv4-mapped IPv6', () => {
  for (const address of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1'])
    assert.ok(isLoopback(address), address);
  for (const address of ['10.0.0.1', '::ffff:10.0.0.1', '192.168.1.1', 'fe80::1', undefined]) {
    assert.equal(isLoopback(address), false, String(address));
  }
});

test('guest/guest logs in from loopback only, as RabbitMQ does', async () => {
  const auth = createAuthenticator({
    defaultUser: 'guest',
    defaultPass: 'guest',
    loopbackOnlyUsers: ['guest'],
  });
  assert.deepEqual(await auth.login('guest', 'guest', '127.0.0.1'), {
    ok: true,
    user: 'guest',
    tags: ['administrator'],
  });
  assert.deepEqual(await auth.login('guest', 'guest', '10.1.2.3'), { ok: false, reason: 'loopback_only' });
  assert.deepEqual(await auth.login('guest', 'wrong', '127.0.0.1'), { ok: false, reason: 'credentials' });
  assert.deepEqual(await auth.login('other', 'guest', '127.0.0.1'), { ok: false, reason: 'credentials' });
});

test('a default user left out of loopbackOnlyUsers may log in from anywhere', async () => {
  const auth = createAuthenticator({
    defaultUser: 'app',
    defaultPass: 's3cret',
    loopbackOnlyUsers: ['guest'],
  });
  assert.deepEqual(await auth.login('app', 's3cret', '10.1.2.3'), {
    ok: true,
    user: 'app',
    tags: ['administrator'],
  });
});
