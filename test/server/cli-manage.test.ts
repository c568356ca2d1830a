/**
 * The management commands against a running `switchyard start`: users, tags, permissions and topic
 * permissions made and listed, whoami as the new user, definitions exported to a file and imported,
 * refusals (wrong password, missing tag) exit 4 with the API's reason, usage mistakes exit 2.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { onlyHttpFlags, type RunningCli, runCli, startCli } from '../../testing/server-cli.js';

let broker: RunningCli;
let url: string[];

before(async () => {
  broker = await startCli(['--storage', 'memory', ...onlyHttpFlags('auto')], { lifetimeMs: 300_000 });
  url = ['--url', `http://127.0.0.1:${broker.ports.http!}`];
});

after(async () => {
  assert.equal((await broker.stop()).code, 0);
});

async function ok(...args: string[]): Promise<string> {
  const result = await runCli([...args, ...url], { timeoutMs: 60_000 });
  assert.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

test('users, tags, permissions and topic permissions are managed from the command line', async () => {
  await ok('users', 'add', 'ops', 'ops-pw', 'management,monitoring');
  await ok('permissions', 'set', '/', 'ops', '^ops\\.', '.*', '.*');
  await ok('topic-permissions', 'set', '/', 'ops', 'amq.topic', '^ops\\.', '.*');
  const users = JSON.parse(await ok('users', 'list', '--json')) as Array<{ name: string; tags: string[] }>;
  assert.deepEqual(users.find((u) => u.name === 'ops')?.tags, ['management', 'monitoring']);
  const permissions = JSON.parse(await ok('permissions', 'list', '/', '--json')) as Array<{
    user: string;
    configure: string;
  }>;
  assert.equal(permissions.find((p) => p.user === 'ops')?.configure, '^ops\\.');
  const whoami = JSON.parse(await ok('whoami', '--user', 'ops', '--password', 'ops-pw'));
  assert.deepEqual(whoami, { name: 'ops', tags: ['management', 'monitoring'] });
  await ok('users', 'set-tags', 'ops', 'management');
  await ok('users', 'set-password', 'ops', 'new-pw');
  const after = JSON.parse(await ok('whoami', '--user', 'ops', '--password', 'new-pw'));
  assert.deepEqual(after, { name: 'ops', tags: ['management'] });
});

test('a management user may not manage users: exit 1 with the reason', async () => {
  await ok('users', 'add', 'viewer', 'viewer-pw', 'management');
  await ok('permissions', 'set', '/', 'viewer', '', '', '.*');
  const refused = await runCli([
    'users',
    'add',
    'x',
    'y',
    ...url,
    '--user',
    'viewer',
    '--password',
    'viewer-pw',
  ]);
  assert.equal(refused.code, 4);
  assert.match(refused.stderr, /^switchyard: 403 \w+: .*administrator/);
  const wrong = await runCli(['whoami', ...url, '--password', 'wrong']);
  assert.equal(wrong.code, 4);
  assert.match(wrong.stderr, /^switchyard: 401 /);
  const usage = await runCli(['permissions', 'set', '/'], {});
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /expected permissions set/);
});

test('definitions export to a file and import back', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'switchyard-defs-')), 'defs.json');
  await ok('definitions', 'export', file);
  const exported = JSON.parse(readFileSync(file, 'utf8')) as { users: Array<{ name: string }> };
  assert.ok(exported.users.some((u) => u.name === 'guest'));
  await ok('users', 'delete', 'viewer');
  await ok('definitions', 'import', file);
  const users = JSON.parse(await ok('users', 'list', '--json')) as Array<{ name: string }>;
  assert.ok(
    users.some((u) => u.name === 'viewer'),
    'the imported file brought the user back',
  );
});
