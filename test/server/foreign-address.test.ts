/**
 * With credentials required of every peer that is not loopback, nothing on the HTTP, WebSocket and
 * gRPC surfaces is reached without them, nor with guest's (guest logs in from loopback only). The
 * test makes its own network namespace (`unshare -n`, which needs root or user namespaces) whose
 * loopback carries 10.77.0.1 for the broker and 10.77.0.2 for the clients; where it cannot, it is
 * skipped and says why.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const brokerHost = '10.77.0.1';
const clientHost = '10.77.0.2';
const peer = fileURLToPath(new URL('../../testing/foreign-peer.js', import.meta.url));
const setup = `ip link set lo up && ip addr add ${brokerHost}/32 dev lo && ip addr add ${clientHost}/32 dev lo`;
const probe = spawnSync('unshare', ['-n', 'sh', '-c', setup], { encoding: 'utf8', timeout: 5000 });
const skip =
  probe.status === 0 ? false : `no network namespace here: ${probe.stderr || probe.error?.message}`;

test('from another address, no surface answers without credentials or with guest', { skip }, () => {
  const run = spawnSync(
    'unshare',
    ['-n', 'sh', '-c', `${setup} && exec "${process.execPath}" "${peer}" ${brokerHost} ${clientHost}`],
    {
      encoding: 'utf8',
      timeout: 15_000,
    },
  );
  assert.equal(run.status, 0, run.stderr);
  const answers = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
  for (const key of [
    'adminOverview',
    'adminOverviewGuest',
    'metrics',
    'restPing',
    'restPingGuest',
    'restUpgrade',
  ])
    assert.match(String(answers[key]), /^HTTP\/1\.1 401 /, key);
  assert.match(String(answers['health']), /^HTTP\/1\.1 200 /, 'health needs no login');
  assert.equal(answers['grpcPing'], '16', 'UNAUTHENTICATED');
  assert.equal(answers['grpcPingGuest'], '16', 'UNAUTHENTICATED');
  assert.equal(answers['mqttWsAnonymous'], 5, 'CONNACK: not authorized');
});
