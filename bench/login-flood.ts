/**
 * `npm run bench -- login-flood`: what a wrong-password flood does to everyone else. The broker is the
 * compiled CLI on file storage (fsync always), the way it runs in production.
 *
 * 1. An AMQP connection, already open, publishes persistent messages to a durable queue one at a time
 *    and waits for each confirm: first with the broker quiet, then while `floodClients` raw clients
 *    (testing/login-flood-peer.ts, its own process, from 127.0.0.1) log in as `guest` with a new wrong
 *    password each time, for `floodMs`. Prints confirm p50/p99/max for both spells.
 * 2. During the flood, every `loginEveryMs`: a valid login by a user not seen for a while (no cached
 *    verification) from 127.0.0.2, and, in a loop of its own, a valid `guest` login from 127.0.0.1,
 *    the flooded address. Prints the time from TCP connect to connection.open-ok for each.
 * 3. After the flood: `connectCount` amqplib clients connect at once with one valid credential;
 *    prints how many finished the handshake within `connectWindowMs`.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import { internalContext } from '../src/core/entry/context.js';
import { Broker } from '../src/server/broker.js';
import { silentLogger } from '../src/shared/logger.js';
import { freePort, listenerFlags, startCli } from '../testing/server-cli.js';
import { allPortsOff } from '../testing/server-helpers.js';

const floodClients = 200;
const floodMs = 25_000;
const baselineMs = 10_000;
const publishEveryMs = 20;
const loginEveryMs = 1000;
const loginTimeoutMs = 20_000;
const freshUsers = 40;
const connectCount = 2000;
const connectWindowMs = 10_000;
const queue = 'bench.login-flood';
/**
 * `LOGIN_FLOOD_FSYNC=never` takes the disk's own latency out of the confirms (writes still go through
 * libuv's thread pool, which is what a hashing flood used to starve); the default is `always`.
 */
const fsync = process.env['LOGIN_FLOOD_FSYNC'] ?? 'always';
const peerPath = fileURLToPath(new URL('../testing/login-flood-peer.js', import.meta.url));

const nowMs = (): number => performance.now();

function quantiles(samples: number[]): string {
  if (samples.length === 0) return 'no samples';
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  const ms = (v: number) => `${v.toFixed(1)} ms`;
  return `n=${sorted.length} p50 ${ms(at(0.5))} p99 ${ms(at(0.99))} max ${ms(sorted.at(-1)!)}`;
}

/** Users `bench-0`… exist before the CLI starts: an embedded broker on the same folder adds them. */
async function seedUsers(dataDir: string): Promise<void> {
  const broker = await Broker.start({ ...allPortsOff, dataDir, logger: silentLogger() });
  const core = broker.core.connect(internalContext('/'));
  for (let i = 0; i < freshUsers; i++) await core.putUser(`bench-${i}`, `secret-${i}`);
  await broker.stop();
}

/** Persistent publishes one at a time on an open confirm channel, every `publishEveryMs`, for `ms`. */
async function confirmLatencies(channel: amqp.ConfirmChannel, ms: number): Promise<number[]> {
  const samples: number[] = [];
  const until = nowMs() + ms;
  const body = Buffer.alloc(256, 1);
  while (nowMs() < until) {
    const started = nowMs();
    await new Promise<void>((resolve, reject) =>
      channel.sendToQueue(queue, body, { persistent: true }, (err) => (err ? reject(err) : resolve())),
    );
    samples.push(nowMs() - started);
    const rest = started + publishEveryMs - nowMs();
    if (rest > 0) await new Promise((resolve) => setTimeout(resolve, rest));
  }
  return samples;
}

/** Milliseconds from connect to an open connection, or undefined when the login failed or timed out. */
async function loginMs(url: string, localAddress: string): Promise<number | undefined> {
  const started = nowMs();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), loginTimeoutMs);
  });
  const opened = amqp.connect(url, { localAddress } as amqp.Options.Connect).then(
    async (connection) => {
      const ms = nowMs() - started;
      connection.on('error', () => {});
      await connection.close().catch(() => {});
      return ms;
    },
    () => undefined,
  );
  const result = await Promise.race([opened, timeout]);
  clearTimeout(timer);
  return result;
}

interface LoginSamples {
  ok: number[];
  failed: number;
}

/** Valid logins as `userOf(i)` from `localAddress`, one every `loginEveryMs`, for `ms`. */
async function loginsDuring(
  port: number,
  localAddress: string,
  credentialOf: (i: number) => string,
  ms: number,
): Promise<LoginSamples> {
  const samples: LoginSamples = { ok: [], failed: 0 };
  const until = nowMs() + ms;
  for (let i = 0; nowMs() < until; i++) {
    const started = nowMs();
    const took = await loginMs(`amqp://${credentialOf(i)}@127.0.0.1:${port}`, localAddress);
    if (took === undefined) samples.failed++;
    else samples.ok.push(took);
    const rest = started + loginEveryMs - nowMs();
    if (rest > 0) await new Promise((resolve) => setTimeout(resolve, rest));
  }
  return samples;
}

function flood(port: number): Promise<string> {
  const child = spawn(
    process.execPath,
    [peerPath, String(port), String(floodClients), String(floodMs), '127.0.0.1', 'guest'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), floodMs + 60_000);
  return new Promise((resolve) =>
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(out.trim());
    }),
  );
}

/** `count` clients connect at once; how many are open within `windowMs`, and when the last one was. */
async function concurrentConnects(url: string): Promise<string> {
  const started = nowMs();
  const opened: amqp.ChannelModel[] = [];
  let lastMs = 0;
  const failures = new Map<string, number>();
  const attempts = Array.from({ length: connectCount }, () =>
    amqp.connect(url).then(
      (connection) => {
        connection.on('error', () => {});
        opened.push(connection);
        lastMs = nowMs() - started;
      },
      (err: Error) => {
        const reason = err.message.slice(0, 60);
        failures.set(reason, (failures.get(reason) ?? 0) + 1);
      },
    ),
  );
  await Promise.race([Promise.all(attempts), new Promise((resolve) => setTimeout(resolve, connectWindowMs))]);
  const within = opened.length;
  await Promise.all(attempts);
  await Promise.all(opened.map((c) => c.close().catch(() => {})));
  return (
    `${within}/${connectCount} open within ${connectWindowMs / 1000} s ` +
    `(last at ${lastMs.toFixed(0)} ms, ${opened.length} in all; failures: ${JSON.stringify([...failures])})`
  );
}

/** The first connection after the connect storm; a broker still busy with it may refuse a while. */
async function connectRetrying(url: string): Promise<amqp.ChannelModel> {
  const deadline = nowMs() + 120_000;
  for (;;) {
    try {
      return await amqp.connect(url);
    } catch (err) {
      if (nowMs() > deadline) throw err;
    }
  }
}

export async function runLoginFloodBench(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-bench-login-'));
  try {
    await seedUsers(dataDir);
    const port = await freePort();
    const flags = [
      '--data-dir',
      dataDir,
      '--fsync',
      fsync,
      ...listenerFlags({ amqp: port }),
      '--log-level',
      'error',
    ];
    const broker = await startCli(flags, { lifetimeMs: 600_000 });
    const url = `amqp://guest:guest@127.0.0.1:${port}`;
    try {
      process.stdout.write(`file storage, fsync ${fsync}\n`);
      const connection = await connectRetrying(url);
      const channel = await connection.createConfirmChannel();
      await channel.assertQueue(queue, { durable: true });
      const quiet = await confirmLatencies(channel, baselineMs);
      process.stdout.write(`confirm latency, quiet:           ${quantiles(quiet)}\n`);
      const attacker = flood(port);
      const [during, fresh, cached] = await Promise.all([
        confirmLatencies(channel, floodMs),
        loginsDuring(port, '127.0.0.2', (i) => `bench-${i % freshUsers}:secret-${i % freshUsers}`, floodMs),
        loginsDuring(port, '127.0.0.1', () => 'guest:guest', floodMs),
      ]);
      process.stdout.write(`confirm latency, during flood:    ${quantiles(during)}\n`);
      process.stdout.write(
        `valid login, new user, 127.0.0.2: ${quantiles(fresh.ok)}, ${fresh.failed} failed\n`,
      );
      process.stdout.write(
        `valid login, guest, 127.0.0.1:    ${quantiles(cached.ok)}, ${cached.failed} failed\n`,
      );
      process.stdout.write(`flood (${floodClients} clients): ${await attacker}\n`);
      await connection.close();
      process.stdout.write(`${connectCount} concurrent AMQP connects: ${await concurrentConnects(url)}\n`);
    } finally {
      await broker.stop();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}
