/**
 * The operator's commands (`status`, `list`, `declare`, `delete`, `purge`, `publish`, `get`,
 * `consume`, `group`, `bench`) run as the real `switchyard` command against a running broker: tables
 * and `--json`, the profile file and its precedence, quiet when piped and a progress bar on a
 * terminal, and the exit codes and error lines a script relies on.
 *
 * Routes the management API adds (connections, channels, consumers, Kafka topics and groups, MQTT
 * sessions, publish, get, purge, reset-offsets) are probed first: their tests skip, saying so, on a
 * broker that does not serve them yet.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import amqp from 'amqplib';
import { Kafka, logLevel } from 'kafkajs';
import mqtt from 'mqtt';
import { adminCall } from '../../testing/admin-api.js';
import { TestKafka } from '../../testing/kafka-helpers.js';
import { call, rawClient, utf8 } from '../../testing/kubemq-harness.js';
import {
  cliPath,
  freePort,
  listenerFlags,
  noInitialRebalanceDelayFlags,
  type RunningCli,
  runCli,
  startCli,
} from '../../testing/server-cli.js';
import { until } from '../../testing/wait.js';

let broker: RunningCli;
let base: string;
let env: Record<string, string>;
const home = mkdtempSync(join(tmpdir(), 'switchyard-cli-home-'));

/** Whether the broker serves a route (the management API's additions may not be merged yet). */
const served = new Map<string, boolean>();
async function serves(method: string, path: string): Promise<boolean> {
  const { status, json } = await adminCall(base, method, path, method === 'GET' ? undefined : {});
  const reason = (json as { reason?: string } | undefined)?.reason ?? '';
  return status !== 405 && !(status === 404 && /^No route/.test(reason));
}
function needs(route: string): { skip: string | false } {
  return { skip: served.get(route) === false ? `the broker does not serve ${route} yet (mgmt-api)` : false };
}

before(async () => {
  broker = await startCli(
    [
      '--storage',
      'memory',
      ...noInitialRebalanceDelayFlags,
      ...listenerFlags({ http: 'auto', amqp: 'auto', mqtt: 'auto', kafka: 'auto', grpc: 'auto' }),
    ],
    // The client's variables in the broker's environment too: `start` must not take them for its own.
    {
      lifetimeMs: 900_000,
      env: { SWITCHYARD_URL: 'http://elsewhere:1', SWITCHYARD_PROFILE: 'p', SWITCHYARD_USER: 'u' },
    },
  );
  base = `http://127.0.0.1:${broker.ports.http!}`;
  // A profile directory of the test's own, so no operator's ~/.config can steer the command.
  env = { XDG_CONFIG_HOME: home, SWITCHYARD_URL: base };
  served.set('/api/connections', await serves('GET', '/api/connections'));
  served.set('/api/kafka/topics', await serves('GET', '/api/kafka/topics'));
  served.set('/api/kafka/groups', await serves('GET', '/api/kafka/groups'));
  served.set('/api/mqtt/sessions', await serves('GET', '/api/mqtt/sessions'));
  served.set('/api/consumers', await serves('GET', '/api/consumers'));
  served.set('publish', await serves('POST', '/api/exchanges/%2F/amq.default/publish'));
  served.set('bindings POST', await serves('POST', '/api/bindings/%2F/e/amq.direct/q/none'));
});

after(async () => {
  assert.equal((await broker.stop()).code, 0);
});

async function sy(args: string[], extra: Record<string, string> = {}) {
  return runCli(args, { env: { ...env, ...extra }, timeoutMs: 60_000 });
}

/** The command with only `extra` in its environment (no SWITCHYARD_URL from the test's own). */
async function bare(args: string[], extra: Record<string, string>) {
  return runCli(args, { env: extra, timeoutMs: 60_000 });
}

async function ok(...args: string[]): Promise<string> {
  const result = await sy(args);
  assert.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

test('status is a table of the broker at a glance, --json the overview itself', async () => {
  const table = await ok('--url', base, 'status');
  const lines = table.split('\n');
  assert.match(lines[0]!, /^key +value$/);
  assert.ok(lines.some((l) => /^version +\d+\.\d+\.\d+/.test(l)));
  assert.ok(lines.some((l) => /^alarms +none$/.test(l)));
  const json = JSON.parse(await ok('status', '--json')) as { product_name: string; object_totals: object };
  assert.equal(typeof json.object_totals, 'object');
});

test('declare, list as an aligned table and as --json, delete', async () => {
  await ok('declare', 'queue', 'cli.jobs');
  await ok('declare', 'queue', 'cli.longer-name', '--durable', 'false');
  await ok('declare', 'exchange', 'cli.events', '--type', 'topic');
  const table = (await ok('list', 'queues', '--filter', '^cli\\.')).split('\n');
  // Columns line up under the heading whatever the longest name.
  assert.match(table[0]!, /^vhost +name +type +durable +messages +consumers$/);
  const rows = table.slice(1).filter((l) => l.includes('cli.'));
  const cells = (name: string) =>
    rows
      .find((l) => l.includes(` ${name} `))
      ?.split(/ +/)
      .slice(0, 4);
  assert.deepEqual(cells('cli.jobs'), ['/', 'cli.jobs', 'classic', 'true']);
  assert.deepEqual(cells('cli.longer-name'), ['/', 'cli.longer-name', 'classic', 'false']);
  assert.equal(table[0]!.indexOf('type'), rows[0]!.indexOf('classic'));
  const json = JSON.parse(await ok('list', 'exchanges', '--json')) as Array<{ name: string; type: string }>;
  assert.equal(json.find((e) => e.name === 'cli.events')?.type, 'topic');
  assert.match(await ok('list', 'users'), /^name +tags\nguest +administrator\n/);
  await ok('delete', 'exchange', 'cli.events');
  await ok('delete', 'queue', 'cli.longer-name');
  const after = JSON.parse(await ok('list', 'queues', '--json')) as Array<{ name: string }>;
  assert.ok(!after.some((q) => q.name === 'cli.longer-name'));
});

test('exit codes and one error line: refused login 4, missing object 5, unreachable 3, usage 2', async () => {
  const refused = await sy(['list', 'queues', '--password', 'wrong']);
  assert.equal(refused.code, 4);
  assert.match(refused.stderr, /^switchyard: 401 \w+: .+\n$/);
  assert.equal(refused.stdout, '');

  const missingVhost = await sy(['list', 'queues', '--vhost', 'no-such-vhost']);
  assert.equal(missingVhost.code, 5);
  assert.match(missingVhost.stderr, /^switchyard: 404 not_found: .*no-such-vhost.*\n$/);
  assert.equal((await sy(['users', 'delete', 'no-such-user'])).code, 5);

  const closed = await freePort();
  const down = await sy(['status'], { SWITCHYARD_URL: `http://127.0.0.1:${closed}` });
  assert.equal(down.code, 3);
  assert.match(down.stderr, /^switchyard: cannot reach http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED\n$/);

  const usage = await sy(['list', 'planets']);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /^switchyard: expected list <connections\|/);
  assert.equal((await sy(['list', 'queues', '--no-such-flag'])).code, 2);
  const reset = await sy(['group', 'reset-offsets', 'g1']);
  assert.equal(reset.code, 2, 'a reset needs one of the --to options');
  assert.match(reset.stderr, /--to-earliest/);
});

test('a profile names the broker and the login; flags beat the environment, which beats the profile', async () => {
  const dir = join(home, 'switchyard');
  mkdirSync(dir, { recursive: true });
  const closed = await freePort();
  writeFileSync(
    join(dir, 'cli.yaml'),
    [
      'default: local',
      'profiles:',
      '  local:',
      `    url: ${base}`,
      '    user: guest',
      '    password: guest',
      '  wrong:',
      `    url: ${base}`,
      '    password: not-the-password',
      '  down:',
      `    url: http://127.0.0.1:${closed}`,
    ].join('\n'),
  );
  const noEnv = { SWITCHYARD_URL: '' };
  const profileOnly = await bare(['status'], { XDG_CONFIG_HOME: home });
  assert.equal(profileOnly.code, 0, `the default profile is used: ${profileOnly.stderr}`);
  assert.equal((await bare(['status', '--profile', 'wrong'], { XDG_CONFIG_HOME: home })).code, 4);
  const envWins = await bare(['status', '--profile', 'wrong'], {
    XDG_CONFIG_HOME: home,
    SWITCHYARD_PASSWORD: 'guest',
  });
  assert.equal(envWins.code, 0, 'the environment beats the profile');
  const flagWins = await bare(['status', '--profile', 'down', '--url', base], {
    XDG_CONFIG_HOME: home,
    SWITCHYARD_URL: `http://127.0.0.1:${closed}`,
  });
  assert.equal(flagWins.code, 0, 'a flag beats the environment and the profile');
  const missing = await sy(['status', '--profile', 'nowhere'], noEnv);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /^switchyard: no profile "nowhere" in .*cli\.yaml\n/);
  const byEnv = await bare(['status'], { XDG_CONFIG_HOME: home, SWITCHYARD_PROFILE: 'down' });
  assert.equal(byEnv.code, 3, 'SWITCHYARD_PROFILE picks the profile');
});

/** Runs the command on a pseudo-terminal (util-linux `script`), as a person at a shell would. */
function onTerminal(args: string[]): { code: number | null; output: string } {
  const command = [process.execPath, cliPath, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
  const run = spawnSync('script', ['-qec', command, '/dev/null'], {
    env: { ...process.env, ...env, SWITCHYARD_URL: base },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: run.status, output: run.stdout };
}

const hasScript = spawnSync('script', ['--version']).status === 0;

test('bench mqtt: a summary on stdout, no progress when piped, a progress bar on a terminal', async () => {
  const args = ['bench', 'mqtt', '--port', String(broker.ports.mqtt!), '--messages', '2000', '--size', '64'];
  const piped = await sy(args);
  assert.equal(piped.code, 0, piped.stderr);
  assert.equal(piped.stderr, '', 'piped: no progress drawn');
  assert.match(piped.stdout, /^key +value\nprotocol +mqtt\nmessages +2000\n/);
  const json = JSON.parse((await sy([...args, '--qos', '1', '--json'])).stdout) as Record<string, number>;
  assert.equal(json['messages'], 2000);
  assert.ok(json['messages_per_s']! > 0);
  if (!hasScript) return;
  const tty = onTerminal(args);
  assert.equal(tty.code, 0, tty.output);
  assert.match(tty.output, /\rbench mqtt \[#+\.*\] \d+\/2000/);
  assert.match(tty.output, /\rbench mqtt \[#{30}\] 2000\/2000/);
});

test('bench amqp speaks AMQP with the broker codec: confirms and acks at --qos 1', async () => {
  const args = ['bench', 'amqp', '--port', String(broker.ports.amqp!), '--messages', '2000', '--qos', '1'];
  const result = await sy([...args, '--json']);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stderr, '');
  const summary = JSON.parse(result.stdout) as Record<string, number | string>;
  assert.equal(summary['protocol'], 'amqp');
  assert.equal(summary['messages'], 2000);
  const refused = await sy([...args, '--password', 'wrong']);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /^switchyard: amqp:\/\/127\.0\.0\.1:\d+: ACCESS_REFUSED/);
});

/** `bench <protocol>` at --qos 0 and 1, piped (a JSON summary, nothing on stderr), then on a terminal. */
async function benchBoth(protocol: string, port: number, messages: number): Promise<void> {
  const args = ['bench', protocol, '--port', String(port), '--messages', String(messages), '--size', '64'];
  for (const qos of ['0', '1']) {
    const result = await sy([...args, '--qos', qos, '--json']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, '', 'piped: no progress drawn');
    const summary = JSON.parse(result.stdout) as Record<string, number | string>;
    assert.equal(summary['protocol'], protocol);
    assert.equal(summary['messages'], messages);
    assert.equal(summary['qos'], Number(qos));
    assert.ok(Number(summary['messages_per_s']) > 0);
  }
  if (!hasScript) return;
  const tty = onTerminal(args);
  assert.equal(tty.code, 0, tty.output);
  assert.match(tty.output, new RegExp(`\\rbench ${protocol} \\[#{30}\\] ${messages}/${messages}`));
}

test('bench kubemq: events at --qos 0, events-store events at --qos 1, a progress bar on a terminal', () =>
  benchBoth('kubemq', broker.ports.grpc!, 1000));

test('bench kafka with the broker codec: acks=0 at --qos 0, acks=-1 at --qos 1, a progress bar', () =>
  benchBoth('kafka', broker.ports.kafka!, 2000));

test('bench refuses a closed port with exit 1 and one line', async () => {
  const closed = await freePort();
  const result = await sy(['bench', 'mqtt', '--port', String(closed), '--messages', '10']);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /^switchyard: mqtt:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED.*\n$/);
});

test('publish from a file and stdin lines, get leaves them, consume takes them, purge empties', async (t) => {
  if (needs('publish').skip) return t.skip(needs('publish').skip as string);
  await ok('declare', 'queue', 'cli.msgs');
  const file = join(home, 'body.txt');
  writeFileSync(file, 'one\ntwo\nthree\n');
  assert.match(
    await ok(
      'publish',
      '--routing-key',
      'cli.msgs',
      '--file',
      file,
      '--lines',
      '--property',
      'delivery_mode=2',
    ),
    /^Published 3 messages\n$/,
  );
  assert.equal(await ok('get', 'cli.msgs', '--count', '2'), 'one\ntwo\n');
  assert.equal(await ok('get', 'cli.msgs'), 'one\n', 'get leaves the messages in the queue');
  assert.equal(await ok('consume', 'cli.msgs', '--count', '1'), 'one\n');
  const rest = await sy(['consume', 'cli.msgs', '--count', '5']);
  assert.equal(rest.code, 1);
  assert.equal(rest.stdout, 'two\nthree\n');
  assert.match(rest.stderr, /^switchyard: 2 of 5 messages consumed before the queue ran dry\n$/);
  await ok('publish', '--routing-key', 'cli.msgs', '--file', file);
  await ok('purge', 'cli.msgs');
  assert.equal(await ok('consume', 'cli.msgs'), '', 'the queue was purged');
  const unrouted = await sy(['publish', '--routing-key', 'nowhere', '--file', file]);
  assert.equal(unrouted.code, 1);
  assert.match(unrouted.stderr, /not routed/);
  assert.equal((await sy(['get', 'no-such-queue'])).code, 5);
  assert.equal((await sy(['purge', 'no-such-queue'])).code, 5);
});

test('declare and delete a binding', async (t) => {
  if (needs('bindings POST').skip) return t.skip(needs('bindings POST').skip as string);
  await ok('declare', 'queue', 'cli.bound');
  const binding = ['--source', 'amq.topic', '--destination', 'cli.bound', '--routing-key', 'a.#'];
  await ok('declare', 'binding', ...binding);
  const rows = JSON.parse(await ok('list', 'bindings', '--json')) as Array<{
    source: string;
    routing_key: string;
  }>;
  assert.ok(rows.some((b) => b.source === 'amq.topic' && b.routing_key === 'a.#'));
  await ok('delete', 'binding', ...binding);
});

test('list connections, channels and consumers of every protocol', async (t) => {
  if (needs('/api/connections').skip) return t.skip(needs('/api/connections').skip as string);
  const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${broker.ports.amqp}`);
  const mq = mqtt.connect(`mqtt://127.0.0.1:${broker.ports.mqtt}`, { clientId: 'cli-list' });
  try {
    const ch = await conn.createChannel();
    await ch.assertQueue('cli.consumed');
    await ch.consume('cli.consumed', () => {}, { consumerTag: 'cli-tag' });
    // It may have connected while the AMQP channel was made: then its event is gone already.
    if (!mq.connected) await new Promise<void>((resolve) => mq.once('connect', () => resolve()));
    await until(
      async () => /MQTT/.test(await ok('list', 'connections')),
      30_000,
      'the MQTT connection listed',
    );
    const table = await ok('list', 'connections');
    assert.match(table, /^name +protocol +user +vhost +peer_host +channels +state\n/);
    assert.match(table, /AMQP 0-9-1/);
    assert.match(await ok('list', 'channels'), /^name +user +vhost +consumer_count/);
    if (!needs('/api/consumers').skip) assert.match(await ok('list', 'consumers'), /cli\.consumed +cli-tag/);
  } finally {
    mq.end(true);
    await conn.close();
  }
});

test('Kafka topics and groups, and reset-offsets: dry run by default, refused while members live', async (t) => {
  if (needs('/api/kafka/groups').skip) return t.skip(needs('/api/kafka/groups').skip as string);
  const kafka = new TestKafka({ brokers: [`127.0.0.1:${broker.ports.kafka}`], logLevel: logLevel.NOTHING });
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic: 'cli-topic', messages: [{ value: 'a' }, { value: 'b' }, { value: 'c' }] });
  await producer.disconnect();
  const consumer = kafka.consumer({ groupId: 'cli-group' });
  await consumer.connect();
  await consumer.subscribe({ topic: 'cli-topic', fromBeginning: true });
  let seen = 0;
  await consumer.run({ autoCommitInterval: 1, eachMessage: async () => void seen++ });
  await until(() => seen === 3, 60_000, 'the group read the topic');
  assert.match(await ok('list', 'topics'), /cli-topic +1 +3/);
  const live = await sy(['group', 'reset-offsets', 'cli-group', '--to-earliest', '--execute']);
  assert.equal(live.code, 6, `refused while the group has members: ${live.stderr}`);
  await consumer.disconnect();
  assert.match(await ok('list', 'groups'), /cli-group +consumer/);
  const dry = await sy(['group', 'reset-offsets', 'cli-group', '--to-earliest']);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /^topic +partition +current_offset +new_offset\ncli-topic +0 +3 +0\n/);
  assert.match(dry.stderr, /Dry run/);
  const described = JSON.parse(await ok('group', 'describe', 'cli-group', '--json')) as {
    offsets: Array<{ committed_offset: number }>;
  };
  assert.equal(described.offsets[0]?.committed_offset, 3, 'a dry run changes nothing');
  await ok('group', 'reset-offsets', 'cli-group', '--shift-by', '-1', '--execute');
  assert.match(await ok('group', 'describe', 'cli-group'), /cli-topic +0 +2 +3 +1/);
  assert.equal((await sy(['group', 'describe', 'no-such-group'])).code, 5);
});

test('MQTT sessions are listed', async (t) => {
  if (needs('/api/mqtt/sessions').skip) return t.skip(needs('/api/mqtt/sessions').skip as string);
  const mq = mqtt.connect(`mqtt://127.0.0.1:${broker.ports.mqtt}`, { clientId: 'cli-session', clean: false });
  try {
    await new Promise<void>((resolve) => mq.once('connect', () => resolve()));
    await mq.subscribeAsync('cli/#', { qos: 1 });
    const rows = JSON.parse(await ok('list', 'sessions', '--json')) as Array<{ client_id: string }>;
    assert.ok(rows.some((s) => s.client_id === 'cli-session'));
    assert.match(await ok('list', 'sessions'), /cli-session +true +false/);
  } finally {
    mq.end(true);
  }
});

test('KubeMQ channels are listed', async () => {
  const client = rawClient(`127.0.0.1:${broker.ports.grpc}`);
  try {
    await call(client, 'SendQueueMessage', { ClientID: 'cli', Channel: 'cli.kq', Body: utf8('k') });
  } finally {
    client.close();
  }
  assert.match(
    await ok('list', 'kubemq-channels'),
    /^name +type +messages +sent +subscribers +last_activity\n/,
  );
  assert.match(await ok('list', 'kubemq-channels'), /\ncli\.kq +queues +1 +1 +0 +\d{4}-/);
});
