/**
 * The dashboard's login session: `POST /api/login` through the login gate sets an HttpOnly,
 * SameSite=Strict cookie that the API then takes instead of Basic credentials; writes with it need the
 * CSRF token; logout, expiry, deleting the user or changing its password end it; refused logins are
 * failed logins of the gate. Also the dashboard's files: served with their types, caching and CSP.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import pino from 'pino';
import { csrfHeader, Sessions } from '../../src/admin/sessions.js';
import { Broker } from '../../src/index.js';
import { ManualClock } from '../../src/shared/clock.js';
import { withAdminServer } from '../../testing/admin-server.js';
import { adminFetch, allPortsOff } from '../../testing/server-helpers.js';

let broker: Broker;
let base: string;
const logLines: Array<{ msg: string; user?: string }> = [];

before(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean))
        logLines.push(JSON.parse(line) as { msg: string });
      done();
    },
  });
  broker = await Broker.start({
    storage: 'memory',
    ...allPortsOff,
    httpPort: 'auto',
    logger: pino({ level: 'info' }, sink),
  });
  base = `http://127.0.0.1:${broker.ports.httpPort}`;
});

after(() => broker.stop());

interface LoggedIn {
  readonly cookie: string;
  readonly csrf: string;
  readonly setCookie: string;
}

function postLogin(user: string, password: string, url = base): Promise<Response> {
  return fetch(`${url}/api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: user, password }),
  });
}

async function logIn(user: string, password: string, url = base): Promise<LoggedIn> {
  const res = await postLogin(user, password, url);
  assert.equal(res.status, 200, await res.clone().text());
  const setCookie = res.headers.get('set-cookie') ?? '';
  const body = (await res.json()) as { csrf_token: string };
  return { cookie: setCookie.split(';')[0]!, csrf: body.csrf_token, setCookie };
}

function withSession(session: LoggedIn, path: string, init: RequestInit = {}, csrf = true, url = base) {
  const headers = new Headers(init.headers);
  headers.set('cookie', session.cookie);
  if (csrf) headers.set(csrfHeader, session.csrf);
  return fetch(url + path, { ...init, headers });
}

const put = (body: unknown): RequestInit => ({
  method: 'PUT',
  body: JSON.stringify(body),
  headers: { 'content-type': 'application/json' },
});

test('a login sets an HttpOnly SameSite=Strict cookie the API takes instead of Basic', async () => {
  const session = await logIn('guest', 'guest');
  assert.match(session.setCookie, /^switchyard_session=[A-Za-z0-9_-]{40,};/);
  for (const attribute of ['HttpOnly', 'SameSite=Strict', 'Path=/'])
    assert.ok(session.setCookie.includes(attribute));
  assert.ok(!session.setCookie.includes('Secure'), 'no Secure flag over plain HTTP');
  assert.equal((await withSession(session, '/api/overview', {}, false)).status, 200);
  const described = (await (await withSession(session, '/api/session', {}, false)).json()) as {
    name: string;
    csrf_token: string;
  };
  assert.deepEqual([described.name, described.csrf_token], ['guest', session.csrf]);
});

test('a write with the cookie needs the CSRF token; Basic writes do not', async () => {
  const session = await logIn('guest', 'guest');
  const refused = await withSession(session, '/api/queues/%2F/csrf-q', put({ durable: false }), false);
  assert.equal(refused.status, 403);
  const forged = await withSession(
    session,
    '/api/queues/%2F/csrf-q',
    {
      ...put({ durable: false }),
      headers: { 'content-type': 'application/json', [csrfHeader]: 'forged' },
    },
    false,
  );
  assert.equal(forged.status, 403);
  assert.equal((await adminFetch(`${base}/api/queues/%2F/csrf-q`)).status, 404, 'nothing was declared');
  assert.equal((await withSession(session, '/api/queues/%2F/csrf-q', put({ durable: false }))).status, 201);
});

test('logout ends the session and clears the cookie; a forged logout does not', async () => {
  const session = await logIn('guest', 'guest');
  const forged = await withSession(session, '/api/logout', { method: 'POST' }, false);
  assert.equal(forged.status, 403);
  assert.equal((await withSession(session, '/api/overview', {}, false)).status, 200);
  const res = await withSession(session, '/api/logout', { method: 'POST' });
  assert.equal(res.status, 204);
  assert.match(res.headers.get('set-cookie') ?? '', /^switchyard_session=; .*Max-Age=0/);
  const after = await withSession(session, '/api/overview', {}, true);
  assert.equal(after.status, 401);
  assert.equal(after.headers.get('www-authenticate'), null, 'the dashboard gets no browser login dialog');
});

test('deleting the user or changing its password ends its sessions', async () => {
  assert.equal(
    (await adminFetch(`${base}/api/users/dora`, put({ password: 'pw-1', tags: 'management' }))).status,
    201,
  );
  const first = await logIn('dora', 'pw-1');
  assert.equal((await withSession(first, '/api/whoami', {}, false)).status, 200);
  assert.equal(
    (await adminFetch(`${base}/api/users/dora`, put({ password: 'pw-2', tags: 'management' }))).status,
    204,
  );
  assert.equal((await withSession(first, '/api/whoami', {}, false)).status, 401);
  const second = await logIn('dora', 'pw-2');
  assert.equal((await withSession(second, '/api/whoami', {}, false)).status, 200);
  assert.equal((await adminFetch(`${base}/api/users/dora`, { method: 'DELETE' })).status, 204);
  assert.equal((await withSession(second, '/api/whoami', {}, false)).status, 401);
});

test('a refused login is a failed login of the gate, and a user without a management tag gets no session', async () => {
  const res = await postLogin('guest', 'wrong');
  assert.equal(res.status, 401);
  assert.equal(res.headers.get('set-cookie'), null);
  await new Promise((resolve) => setImmediate(resolve));
  assert.ok(logLines.some((line) => line.msg === 'login refused' && line.user === 'guest'));
  assert.equal((await adminFetch(`${base}/api/users/plain`, put({ password: 'pw', tags: '' }))).status, 201);
  const plain = await postLogin('plain', 'pw');
  assert.equal(plain.status, 403);
  assert.equal(plain.headers.get('set-cookie'), null);
  const json = { 'content-type': 'application/json' };
  const malformed = await fetch(`${base}/api/login`, {
    method: 'POST',
    headers: json,
    body: '{"username": 1}',
  });
  assert.equal(malformed.status, 400);
  // A form on another site can post only form or text bodies: the login takes JSON alone.
  const form = await fetch(`${base}/api/login`, {
    method: 'POST',
    body: new URLSearchParams({ username: 'guest', password: 'guest' }),
  });
  assert.equal(form.status, 415);
  assert.equal(form.headers.get('set-cookie'), null);
});

test('a session expires a fixed time after its login', async () => {
  const clock = new ManualClock();
  await withAdminServer({ clock, limits: { sessionTtlMs: 60_000 } }, async (url) => {
    const session = await logIn('guest', 'guest', url);
    assert.match(session.setCookie, /Max-Age=60(;|$)/);
    clock.advance(59_000);
    assert.equal((await withSession(session, '/api/whoami', {}, false, url)).status, 200);
    clock.advance(1_000);
    assert.equal((await withSession(session, '/api/whoami', {}, false, url)).status, 401);
  });
});

test('the session table is bounded: a login past the bound ends the oldest session', () => {
  const clock = new ManualClock();
  const sessions = new Sessions(clock, { sessionTtlMs: 1000, sessionsMax: 3 });
  const opened = [1, 2, 3, 4].map((n) => sessions.open(`u${n}`, 'hash'));
  assert.equal(sessions.size, 3);
  assert.equal(sessions.find(opened[0]!.id), undefined);
  assert.equal(sessions.find(opened[3]!.id)?.user, 'u4');
  clock.advance(1000);
  sessions.open('u5', 'hash');
  assert.equal(sessions.size, 1, 'expired sessions are swept at the next login');
});

test('the dashboard is served at / and /static with its types, caching and a strict CSP', async () => {
  const page = await fetch(`${base}/`);
  assert.equal(page.status, 200);
  assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
  assert.equal(page.headers.get('cache-control'), 'no-cache');
  const csp = page.headers.get('content-security-policy') ?? '';
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'self'(;|$)/);
  assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
  assert.match(await page.text(), /<script type="module" src="\/static\/app.js">/);
  const app = await fetch(`${base}/static/app.js`);
  assert.equal(app.headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.match(app.headers.get('cache-control') ?? '', /max-age=\d+/);
  const etag = app.headers.get('etag') ?? '';
  const again = await fetch(`${base}/static/app.js`, { headers: { 'if-none-match': etag } });
  assert.equal(again.status, 304);
  const chart = await fetch(`${base}/static/vendor/uPlot.esm.js`);
  assert.equal(chart.status, 200);
  assert.match(await chart.text(), /export \{ uPlot as default \}|export default/);
  assert.equal(
    (await fetch(`${base}/static/vendor/uPlot.min.css`)).headers.get('content-type'),
    'text/css; charset=utf-8',
  );
  // Only the files found at start are served: no path reaches the file system.
  for (const path of [
    '/static/..%2Fpackage.json',
    '/static/vendor%2F..%2Fapp.js',
    '/static/nope.js',
    '/static/',
  ])
    assert.equal((await fetch(base + path)).status, 404, path);
});
