/**
 * The admin API needs a login: 401 with WWW-Authenticate without credentials, 403 for a user without
 * a management tag; users, permissions and vhosts are managed by administrators; a management user
 * sees and changes only what its vhost permissions allow; definitions carry users and permissions.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { internalContext } from '../../src/core/entry/context.js';
import { Broker } from '../../src/index.js';
import { silentLogger } from '../../src/shared/logger.js';
import { withAdminServer } from '../../testing/admin-server.js';
import { adminFetch, allPortsOff } from '../../testing/server-helpers.js';

let broker: Broker;
let base: string;

const json = (body: unknown): RequestInit => ({
  method: 'PUT',
  body: JSON.stringify(body),
  headers: { 'content-type': 'application/json' },
});

before(async () => {
  broker = await Broker.start({
    storage: 'memory',
    ...allPortsOff,
    httpPort: 'auto',
    logger: silentLogger(),
  });
  base = `http://127.0.0.1:${broker.ports.httpPort}`;
});

after(() => broker.stop());

test('without credentials every route but /api/health answers 401 with WWW-Authenticate', async () => {
  assert.equal((await fetch(`${base}/api/health`)).status, 200);
  for (const path of ['/api/overview', '/api/queues', '/api/users', '/api/whoami', '/api/definitions']) {
    const res = await fetch(base + path);
    assert.equal(res.status, 401, path);
    assert.match(res.headers.get('www-authenticate') ?? '', /^Basic realm="/);
  }
  assert.equal((await adminFetch(`${base}/api/overview`, {}, 'guest', 'wrong')).status, 401);
});

test('/metrics is open on a loopback-only broker', async () => {
  assert.equal((await fetch(`${base}/metrics`)).status, 200);
});

test('an administrator manages users, tags and permissions; the user sees itself in whoami', async () => {
  assert.equal(
    (await adminFetch(`${base}/api/users/ann`, json({ password: 'pw-ann', tags: 'management' }))).status,
    201,
  );
  assert.equal((await adminFetch(`${base}/api/vhosts/shop`, { method: 'PUT' })).status, 201);
  const permission = { configure: '^ann\\.', write: '^ann\\.', read: '.*' };
  assert.equal((await adminFetch(`${base}/api/permissions/shop/ann`, json(permission))).status, 201);
  const topic = { exchange: 'amq.topic', write: '^ann\\.', read: '.*' };
  assert.equal((await adminFetch(`${base}/api/topic-permissions/shop/ann`, json(topic))).status, 201);
  const whoami = await (await adminFetch(`${base}/api/whoami`, {}, 'ann', 'pw-ann')).json();
  assert.deepEqual(whoami, { name: 'ann', tags: ['management'] });
  const got = await (await adminFetch(`${base}/api/permissions/shop/ann`)).json();
  assert.deepEqual(got, { user: 'ann', vhost: 'shop', ...permission });
  const topics = await (await adminFetch(`${base}/api/topic-permissions/shop/ann`)).json();
  assert.deepEqual(topics, [{ user: 'ann', vhost: 'shop', ...topic }]);
  const bad = await adminFetch(
    `${base}/api/permissions/shop/ann`,
    json({ configure: '(', write: '', read: '' }),
  );
  assert.equal(bad.status, 400);
});

test('a management user changes objects only where its permissions allow, and nothing of the model', async () => {
  const as = (path: string, init: RequestInit = {}) => adminFetch(base + path, init, 'ann', 'pw-ann');
  assert.equal((await as('/api/queues/shop/ann.orders', json({ durable: false }))).status, 201);
  const refused = await as('/api/queues/shop/orders', json({ durable: false }));
  assert.equal(refused.status, 403);
  assert.match(((await refused.json()) as { reason: string }).reason, /configure access to queue 'orders'/);
  assert.equal(
    (await as('/api/queues/%2F/ann.x', json({ durable: false }))).status,
    403,
    'no permission on /',
  );
  const listed = (await (await as('/api/queues')).json()) as Array<{ name: string; vhost: string }>;
  assert.deepEqual(
    listed.map((q) => `${q.vhost}/${q.name}`),
    ['shop/ann.orders'],
  );
  assert.equal((await as('/api/users/eve', json({ password: 'x', tags: 'administrator' }))).status, 403);
  assert.equal((await as('/api/users')).status, 403);
  assert.equal((await as('/api/queues/shop/ann.orders', { method: 'DELETE' })).status, 204);
});

test('a user without a management tag is refused with 403', async () => {
  await adminFetch(`${base}/api/users/app`, json({ password: 'pw-app', tags: '' }));
  assert.equal((await adminFetch(`${base}/api/whoami`, {}, 'app', 'pw-app')).status, 403);
});

test('definitions export and import carry users, tags, permissions and topic permissions', async () => {
  const exported = (await (await adminFetch(`${base}/api/definitions`)).json()) as Record<string, unknown[]>;
  assert.ok(exported['users']?.some((u) => (u as { name: string }).name === 'ann'));
  const other = await Broker.start({
    storage: 'memory',
    ...allPortsOff,
    httpPort: 'auto',
    logger: silentLogger(),
  });
  try {
    const url = `http://127.0.0.1:${other.ports.httpPort}`;
    const posted = await adminFetch(`${url}/api/definitions`, { ...json(exported), method: 'POST' });
    assert.equal(posted.status, 204);
    const whoami = await (await adminFetch(`${url}/api/whoami`, {}, 'ann', 'pw-ann')).json();
    assert.deepEqual(whoami, { name: 'ann', tags: ['management'] });
    const topics = await (await adminFetch(`${url}/api/topic-permissions/shop/ann`)).json();
    assert.deepEqual(topics, [
      { user: 'ann', vhost: 'shop', exchange: 'amq.topic', write: '^ann\\.', read: '.*' },
    ]);
  } finally {
    await other.stop();
  }
});

test('/metrics needs a monitoring user when the broker is reachable from other hosts', async () => {
  await withAdminServer({}, async (base, core) => {
    const url = `${base}/metrics`;
    assert.equal((await fetch(url)).status, 401);
    await core.connect(internalContext('/')).putUser('mgr', 'pw', ['management']);
    assert.equal((await adminFetch(url, {}, 'mgr', 'pw')).status, 403);
    assert.equal((await adminFetch(url)).status, 200);
  });
});
