/**
 * A user that creates a vhost over HTTP gets full permissions on it (RabbitMQ's management API does
 * so). The grant was written once the vhost itself was stored, so a permission change another request
 * made in between (the vhost already showed) was answered and then overwritten: a restricted or
 * revoked permission came back to full, live and after a restart. Here the definitions log's writes are
 * slowed (not stalled), every request is answered, and what each answer said must hold live and after
 * a restart. (Two calls adding one vhost at once: test/core/permissions.test.ts.)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { adminCall } from '../../testing/admin-api.js';
import { startTestBroker } from '../../testing/broker.js';
import { inTempFolder } from '../../testing/crash-stall.js';
import { FaultyIo } from '../../testing/faulty-io.js';
import { until } from '../../testing/wait.js';

/** Each write of the definitions log lands this late: time for another request to come between. */
const slowWriteMs = 300;
const testTimeoutMs = 60_000;
const creator = ['app', 'app-secret'] as const;
const vhostPath = '/api/vhosts/raced';
const permissionPath = '/api/permissions/raced/app';

interface Seen {
  readonly vhost: boolean;
  readonly permission: unknown;
}

async function seen(base: string): Promise<Seen> {
  const vhosts = (await adminCall(base, 'GET', '/api/vhosts')).json as Array<{ name: string }>;
  const permission = await adminCall(base, 'GET', permissionPath);
  return {
    vhost: vhosts.some((v) => v.name === 'raced'),
    permission: permission.status === 200 ? permission.json : undefined,
  };
}

/**
 * On file storage with slow definitions writes: the creator's PUT of the vhost, then, once the vhost
 * shows, `race` by the administrator; both answered. Returns the answers' statuses, what a client
 * sees then, and what a broker started again on the folder has.
 */
async function raced(race: (base: string) => Promise<number>) {
  let result: { put: number; raced: number; live: Seen; restarted: Seen } | undefined;
  await inTempFolder('switchyard-vhost-race-', async (dataDir) => {
    const io = new FaultyIo();
    io.slowMs = slowWriteMs;
    const broker = await startTestBroker({ listeners: ['http'], storage: 'file', dataDir, storageIo: io });
    const base = broker.url('http');
    let live: Seen;
    let answers: [number, number];
    try {
      await adminCall(base, 'PUT', '/api/users/app', { password: creator[1], tags: 'administrator' });
      io.slow.add('/logs/defs/');
      const put = adminCall(base, 'PUT', vhostPath, undefined, creator);
      await until(async () => (await seen(base)).vhost, 10_000, 'the vhost showing');
      answers = await Promise.all([put.then((r) => r.status), race(base)]);
      live = await seen(base);
    } finally {
      await broker.stop();
    }
    const again = await startTestBroker({ listeners: ['http'], storage: 'file', dataDir });
    try {
      result = { put: answers[0], raced: answers[1], live, restarted: await seen(again.url('http')) };
    } finally {
      await again.stop();
    }
  });
  assert.ok(result !== undefined);
  return result;
}

const restricted = { configure: '', write: '', read: '^r$' };

interface Race {
  readonly title: string;
  /** The administrator's request, made once the creator's vhost shows; its answer's status. */
  readonly race: (base: string) => Promise<number>;
  readonly answered: readonly number[];
  /** What a client sees once both are answered, and after a restart alike. */
  readonly after: Seen;
}

const races: readonly Race[] = [
  {
    title: 'a permission restricted while the creator’s vhost PUT is stored stays restricted',
    race: async (base) => (await adminCall(base, 'PUT', permissionPath, restricted)).status,
    answered: [201, 204],
    after: { vhost: true, permission: { user: 'app', vhost: 'raced', ...restricted } },
  },
  {
    title: 'a permission revoked while the creator’s vhost PUT is stored stays revoked',
    race: async (base) => (await adminCall(base, 'DELETE', permissionPath)).status,
    answered: [204],
    after: { vhost: true, permission: undefined },
  },
  {
    title: 'a vhost deleted while its creator’s PUT is stored is gone, with its permissions',
    race: async (base) => (await adminCall(base, 'DELETE', vhostPath)).status,
    answered: [204],
    after: { vhost: false, permission: undefined },
  },
];

for (const r of races) {
  test(r.title, { timeout: testTimeoutMs }, async () => {
    const outcome = await raced(r.race);
    assert.equal(outcome.put, 201);
    assert.ok(r.answered.includes(outcome.raced), `the administrator's request answered ${outcome.raced}`);
    assert.deepEqual(outcome.live, r.after);
    assert.deepEqual(outcome.restarted, r.after);
  });
}
