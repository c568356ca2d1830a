/**
 * `npm run bench -- ingress-memory`: what clients that announce large frames and stall cost the broker
 * (the compiled CLI, memory storage, default settings), per protocol, with `connectionCount` plain
 * sockets each (testing/stall.ts). Four attacks, each on a fresh broker:
 *
 * - `announce`: each connection, not logged in, announces the largest frame its protocol can carry
 *   (AMQP 128 KiB, MQTT 1 MiB, Kafka 100 MiB, WebSocket 1 MiB) and sends nothing more.
 * - `send`: the same frame, and `sentBytes` of it (all but a byte of AMQP's).
 * - `fill`: each, not logged in, announces a frame just under the bound before login (AMQP 4096 bytes,
 *   the others `handshakeBytesMax`, 64 KiB) and sends all of it but one byte.
 * - `send-logged-in`: each logs in first (MQTT CONNECT, Kafka ApiVersions), announces 100 MiB (Kafka)
 *   or 1 MiB (MQTT) and sends `sentBytes` of it.
 *
 * Prints the broker's RSS before and after (and the peak, sampled), how many attack connections are
 * still open, and the time a real client (amqplib, mqtt.js, kafkajs) needed meanwhile for one
 * confirmed publish, on a connection opened during the attack.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import { Kafka, logLevel } from 'kafkajs';
import mqtt from 'mqtt';
import { freePort, listenerFlags, type RunningCli, startCli } from '../testing/server-cli.js';
import { type Stalled, type StallOptions, type StallProtocol, stall } from '../testing/stall.js';

const connectionCount = 1000;
const settleMs = 2000;
const servedTimeoutMs = 20_000;
const sentBytes = 512 * 1024;
const kibibyte = 1024;
const mebibyte = 1024 * kibibyte;

/** The largest frame each protocol can carry by default, and the largest allowed before login. */
const largest: Record<StallProtocol, number> = {
  amqp: 128 * kibibyte,
  mqtt: mebibyte,
  'mqtt-ws': mebibyte,
  kafka: 100 * mebibyte,
};
const beforeLogin: Record<StallProtocol, number> = {
  amqp: 4096,
  mqtt: 64 * kibibyte,
  'mqtt-ws': 64 * kibibyte,
  kafka: 64 * kibibyte,
};

const attacks = ['announce', 'send', 'fill', 'send-logged-in'] as const;
type Attack = (typeof attacks)[number];

function attackOptions(attack: Attack, protocol: StallProtocol): StallOptions | undefined {
  const announced = largest[protocol];
  const sent = Math.min(sentBytes, announced - 1);
  switch (attack) {
    case 'announce':
      return { announced, sent: 0, loggedIn: false };
    case 'send':
      return { announced, sent, loggedIn: false };
    case 'fill':
      return { announced: beforeLogin[protocol], sent: beforeLogin[protocol] - 1, loggedIn: false };
    case 'send-logged-in':
      return protocol === 'kafka' || protocol === 'mqtt' ? { announced, sent, loggedIn: true } : undefined;
  }
}

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return Math.round(kb / 1024);
}

async function startBroker(): Promise<{
  cli: RunningCli;
  ports: Record<StallProtocol, number>;
  dir: string;
}> {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-bench-ingress-'));
  const ports = {
    amqp: await freePort(),
    mqtt: await freePort(),
    'mqtt-ws': await freePort(),
    kafka: await freePort(),
  };
  const flags = listenerFlags({
    amqp: ports.amqp,
    mqtt: ports.mqtt,
    'mqtt-ws': ports['mqtt-ws'],
    kafka: ports.kafka,
  });
  const cli = await startCli(['--storage', 'memory', '--data-dir', dir, ...flags, '--log-level', 'error'], {
    lifetimeMs: 600_000,
  });
  return { cli, ports, dir };
}

/** One confirmed publish by a real client of `protocol`, connecting now; ms, or the error. */
async function served(protocol: StallProtocol, port: number): Promise<string> {
  const started = performance.now();
  const work = async () => {
    if (protocol === 'amqp') {
      const connection = await amqp.connect(`amqp://guest:guest@127.0.0.1:${port}`);
      const channel = await connection.createConfirmChannel();
      await channel.assertQueue('bench.served');
      channel.sendToQueue('bench.served', Buffer.from('x'));
      await channel.waitForConfirms();
      await connection.close();
    } else if (protocol === 'kafka') {
      const kafka = new Kafka({
        brokers: [`127.0.0.1:${port}`],
        logLevel: logLevel.NOTHING,
        retry: { retries: 2 },
      });
      const producer = kafka.producer();
      await producer.connect();
      await producer.send({ topic: 'bench-served', messages: [{ value: 'x' }] });
      await producer.disconnect();
    } else {
      const url = protocol === 'mqtt' ? `mqtt://127.0.0.1:${port}` : `ws://127.0.0.1:${port}/mqtt`;
      const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: servedTimeoutMs });
      await client.publishAsync('bench/served', 'x', { qos: 1 });
      await client.endAsync();
    }
  };
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timed out')), servedTimeoutMs);
  });
  try {
    await Promise.race([work(), timeout]);
    return `${(performance.now() - started).toFixed(0)} ms`;
  } catch (err) {
    return `failed (${(err as Error).message.slice(0, 40)})`;
  } finally {
    clearTimeout(timer);
  }
}

async function runAttack(attack: Attack, protocol: StallProtocol): Promise<string | undefined> {
  const options = attackOptions(attack, protocol);
  if (options === undefined) return undefined;
  const { cli, ports, dir } = await startBroker();
  const pid = cli.pid!;
  const stalled: Stalled[] = [];
  try {
    const before = rssMiB(pid);
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 100);
    for (let i = 0; i < connectionCount; i++) {
      stalled.push(await stall(protocol, ports[protocol], options).catch(() => closedStall));
    }
    await new Promise((resolve) => setTimeout(resolve, settleMs));
    const meanwhile = await served(protocol, ports[protocol]);
    clearInterval(sampler);
    const after = rssMiB(pid);
    peak = Math.max(peak, after);
    const open = stalled.filter((s) => !s.closed()).length;
    return (
      `| ${protocol} | ${attack} | ${options.announced} | ${options.sent} | ${before} | ${after} | ${peak} | ` +
      `${open} | ${meanwhile} |`
    );
  } finally {
    for (const s of stalled) s.socket.destroy();
    await cli.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Stands in for a connection the broker refused before the attack got going. */
const closedStall: Stalled = { socket: { destroy: () => {} } as Stalled['socket'], closed: () => true };

export async function runIngressMemoryBench(): Promise<void> {
  const only = process.env['INGRESS_BENCH_ONLY'];
  process.stdout.write(
    `${connectionCount} connections per row, RSS in MiB\n\n` +
      '| protocol | attack | announced B | sent B | RSS before | RSS after | RSS peak | still open | real client meanwhile |\n' +
      '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n',
  );
  for (const attack of attacks) {
    for (const protocol of ['amqp', 'mqtt', 'mqtt-ws', 'kafka'] as const) {
      if (only !== undefined && only !== protocol) continue;
      const row = await runAttack(attack, protocol);
      if (row !== undefined) process.stdout.write(`${row}\n`);
    }
  }
}
