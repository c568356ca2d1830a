/**
 * A management API change is answered (2xx) only once the definitions log holds it: a child broker
 * whose definitions log's writes never land is asked for a change over HTTP, then SIGKILLed, and a
 * broker started on the same folder is asked what it has. Before the fix a queue or exchange PUT or
 * DELETE and a binding POST or DELETE were answered at once (the object was gone, or back, after the
 * restart); a second DELETE of a permission (or PUT of a vhost) another request was still storing was
 * answered at once too, so a revoked permission could come back after the operator was told it went;
 * and likewise a Kafka ACL another request was still creating.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { adminCall } from '../../testing/admin-api.js';
import { startTestBroker } from '../../testing/broker.js';
import { inTempFolder, settlesWithin, startStalledChild } from '../../testing/crash-stall.js';
import { until } from '../../testing/wait.js';

/** How long the test waits for an answer that must not come before the change is stored. */
const answerWaitMs = 1_500;
/** How long the first of two requests may take to be applied (not stored) in the child. */
const appliedWaitMs = 10_000;
const testTimeoutMs = 60_000;
const permissionPath = '/api/permissions/%2F/app';
const bindingPath = '/api/bindings/%2F/e/amq.direct/q/bound';
const acl = { resource_type: 'TOPIC', resource_name: 'orders', principal: 'User:app', operation: 'WRITE' };

type Call = (method: string, path: string, body?: unknown) => Promise<number>;

/** Resolves with the status of a 2xx answer; rejects on any other. */
function callerOf(base: string): Call {
  return async (method, path, body) => {
    const { status, json } = await adminCall(base, method, path, body);
    if (status >= 300) throw new Error(`${method} ${path}: ${status} ${JSON.stringify(json)}`);
    return status;
  };
}

/**
 * In a child broker: `setup` (stored), then the definitions log stalled, `first` sent and not waited
 * for (when given) until the child shows its change, then `change`, whose answer is awaited for a
 * while. The child is then killed.
 */
async function answeredWhileStalled(dataDir: string, steps: Case): Promise<boolean> {
  const child = await startStalledChild(dataDir, 'http');
  try {
    const base = `http://127.0.0.1:${child.port}`;
    const call = callerOf(base);
    await steps.setup(call);
    await child.stall('/logs/defs/');
    if (steps.first !== undefined) {
      steps.first(call).catch(() => {});
      // Applied (not stored): the change the test makes next finds nothing left to do.
      await until(() => steps.survived(base), appliedWaitMs, 'the first request applied');
    }
    return await settlesWithin(steps.change(call), answerWaitMs);
  } finally {
    await child.kill();
  }
}

/** A broker on `dataDir` again: `check` reads what survived the crash. */
async function afterRestart<T>(dataDir: string, check: (base: string) => Promise<T>): Promise<T> {
  const broker = await startTestBroker({ listeners: ['http'], storage: 'file', dataDir });
  try {
    return await check(broker.url('http'));
  } finally {
    await broker.stop();
  }
}

async function statusOf(base: string, path: string): Promise<number> {
  return (await adminCall(base, 'GET', path)).status;
}

const none = async () => {};

async function listed(base: string, path: string): Promise<unknown[]> {
  const { json } = await adminCall(base, 'GET', path);
  return Array.isArray(json) ? json : [];
}

async function withUser(call: Call): Promise<void> {
  await call('PUT', '/api/users/app', { password: 'app-secret', tags: '' });
}

interface Case {
  readonly title: string;
  readonly setup: (call: Call) => Promise<unknown>;
  /** A request that does the same change first, left waiting on the stalled log. */
  readonly first?: (call: Call) => Promise<unknown>;
  readonly change: (call: Call) => Promise<unknown>;
  /** Whether the change is there: in the child once applied, and after the restart once stored. */
  readonly survived: (base: string) => Promise<boolean>;
}

const cases: readonly Case[] = [
  {
    title: 'a queue PUT: a created queue is there after a crash',
    setup: none,
    change: (call) => call('PUT', '/api/queues/%2F/kept', { durable: true }),
    survived: async (base) => (await statusOf(base, '/api/queues/%2F/kept')) === 200,
  },
  {
    title: 'an exchange DELETE: it does not come back after a crash',
    setup: (call) => call('PUT', '/api/exchanges/%2F/gone', { type: 'fanout', durable: true }),
    change: (call) => call('DELETE', '/api/exchanges/%2F/gone'),
    survived: async (base) => (await statusOf(base, '/api/exchanges/%2F/gone')) === 404,
  },
  {
    title: 'a binding POST: it is there after a crash',
    setup: (call) => call('PUT', '/api/queues/%2F/bound', { durable: true }),
    change: (call) => call('POST', bindingPath, { routing_key: 'k' }),
    survived: async (base) => (await listed(base, bindingPath)).length === 1,
  },
  {
    title: 'a permission DELETE while another request is deleting it: the revoked permission stays revoked',
    setup: async (call) => {
      await withUser(call);
      await call('PUT', permissionPath, { configure: '.*', write: '.*', read: '.*' });
    },
    first: (call) => call('DELETE', permissionPath),
    change: (call) => call('DELETE', permissionPath),
    survived: async (base) => (await statusOf(base, permissionPath)) === 404,
  },
  {
    title: 'a topic permission DELETE while another request is deleting it: it stays revoked',
    setup: async (call) => {
      await withUser(call);
      await call('PUT', '/api/topic-permissions/%2F/app', { exchange: 'amq.topic', write: '.*', read: '.*' });
    },
    first: (call) => call('DELETE', '/api/topic-permissions/%2F/app'),
    change: (call) => call('DELETE', '/api/topic-permissions/%2F/app'),
    survived: async (base) => (await listed(base, '/api/topic-permissions/%2F/app')).length === 0,
  },
  {
    title: 'a Kafka ACL POST while another request is creating it: the ACL is there after a crash',
    setup: none,
    first: (call) => call('POST', '/api/kafka/acls', acl),
    change: (call) => call('POST', '/api/kafka/acls', acl),
    survived: async (base) => (await listed(base, '/api/kafka/acls')).length === 1,
  },
  {
    title: 'a vhost PUT while another request is adding it: the vhost is there after a crash',
    setup: none,
    first: (call) => call('PUT', '/api/vhosts/added'),
    change: (call) => call('PUT', '/api/vhosts/added'),
    survived: async (base) =>
      (await listed(base, '/api/vhosts')).some((row) => (row as { name?: string }).name === 'added'),
  },
];

for (const c of cases) {
  test(`admin API, answered only once stored: ${c.title}`, { timeout: testTimeoutMs }, () =>
    inTempFolder('switchyard-admin-crash-', async (dataDir) => {
      const answered = await answeredWhileStalled(dataDir, c);
      const survived = await afterRestart(dataDir, c.survived);
      assert.ok(!answered || survived, 'a change whose answer came is there after the crash');
      assert.equal(answered, false, 'no answer while the change is not stored');
    }),
  );
}
