/**
 * Safe defaults seen from another address: a client in a network namespace this test creates (a veth
 * pair on private addresses, never another host) is refused when it connects to MQTT without
 * credentials or as guest, and gets in with a user's credentials or, when `anonymousUser` names a
 * user, without credentials as that user. A broker reachable from other hosts while guest keeps the
 * password `guest` warns at start. Skipped with a message where namespaces cannot be made (not root,
 * no `ip`) or mosquitto-clients is absent.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { Broker, type BrokerOptions } from '../../src/server/broker.js';
import { silentLogger } from '../../src/shared/logger.js';
import { allPortsOff } from '../../testing/server-helpers.js';

const run = promisify(execFile);
const tag = process.pid % 10_000;
const subnet = `10.231.${process.pid % 250}`;
const namespace = `sy-anon-${tag}`;
const hostSide = `sya${tag}`;
const nsSide = `syb${tag}`;
const hostAddress = `${subnet}.1`;
const commandTimeoutMs = 10_000;

function ip(...args: string[]): boolean {
  return spawnSync('ip', args, { stdio: 'ignore', timeout: commandTimeoutMs }).status === 0;
}

function makeNamespace(): string | undefined {
  if (spawnSync('mosquitto_pub', ['--help']).error !== undefined)
    return 'mosquitto_pub not installed (mosquitto-clients)';
  if (!ip('netns', 'add', namespace))
    return 'cannot create a network namespace here (needs root and iproute2)';
  const steps = [
    ['link', 'add', hostSide, 'type', 'veth', 'peer', 'name', nsSide],
    ['link', 'set', nsSide, 'netns', namespace],
    ['addr', 'add', `${hostAddress}/30`, 'dev', hostSide],
    ['link', 'set', hostSide, 'up'],
    ['-n', namespace, 'addr', 'add', `${subnet}.2/30`, 'dev', nsSide],
    ['-n', namespace, 'link', 'set', nsSide, 'up'],
    ['-n', namespace, 'link', 'set', 'lo', 'up'],
  ];
  for (const step of steps) if (!ip(...step)) return `ip ${step.join(' ')} failed`;
  return undefined;
}

const skip = makeNamespace();

after(() => {
  ip('link', 'del', hostSide);
  ip('netns', 'del', namespace);
});

/** mosquitto_pub from inside the namespace; resolves true when the message was published. */
async function publishFromNamespace(port: number, credentials: string[] = []): Promise<boolean> {
  const args = ['netns', 'exec', namespace, 'mosquitto_pub', '-h', hostAddress, '-p', String(port)];
  args.push('-V', 'mqttv311', '-q', '1', '-t', 'remote/t', '-m', 'hi', ...credentials);
  try {
    await run('ip', args, { timeout: commandTimeoutMs });
    return true;
  } catch {
    return false;
  }
}

async function startOnVeth(options: BrokerOptions = {}): Promise<Broker> {
  return Broker.start({
    storage: 'memory',
    ...allPortsOff,
    host: hostAddress,
    mqttPort: 'auto',
    logger: silentLogger(),
    ...options,
  });
}

let broker: Broker | undefined;

before(async () => {
  if (skip !== undefined) return;
  broker = await startOnVeth();
  const core = broker.client('/');
  await core.putUser('remote', 'remote-pw', []);
  await core.setPermission('/', 'remote', { configure: '.*', write: '.*', read: '.*' });
});

after(() => broker?.stop());

test('a remote client without credentials, or as guest, is refused; a user with a password gets in', {
  skip,
}, async () => {
  const port = broker!.ports.mqttPort!;
  assert.equal(await publishFromNamespace(port), false, 'anonymous from another address');
  assert.equal(
    await publishFromNamespace(port, ['-u', 'guest', '-P', 'guest']),
    false,
    'guest is loopback only',
  );
  assert.equal(await publishFromNamespace(port, ['-u', 'remote', '-P', 'remote-pw']), true);
});

test('anonymousUser lets remote clients in without credentials as that user', { skip }, async () => {
  const open = await startOnVeth({ anonymousUser: 'device' });
  try {
    const core = open.client('/');
    await core.putUser('device', { none: true }, []);
    await core.setPermission('/', 'device', { configure: '', write: '^amq\\.topic$', read: '' });
    core.declareQueue('seen', { durable: false });
    core.bindQueue('seen', 'amq.topic', 'remote.t');
    assert.equal(await publishFromNamespace(open.ports.mqttPort!), true);
    assert.equal(core.checkQueue('seen').messageCount, 1);
  } finally {
    await open.stop();
  }
});

test('a broker listening beyond loopback while guest keeps its password warns at start', async () => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  // No listener is started, so nothing binds the unspecified address.
  const quiet = await Broker.start({
    storage: 'memory',
    ...allPortsOff,
    host: '0.0.0.0',
    logger: pino({ level: 'warn' }, sink),
  });
  await quiet.stop();
  assert.ok(
    lines.some((line) => /user 'guest' has the default password/.test(line)),
    lines.join(''),
  );
});
