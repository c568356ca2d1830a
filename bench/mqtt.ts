/**
 * `npm run bench -- mqtt`: MQTT QoS 0 and QoS 1 one-to-one, a QoS 0 one-to-50 fan-out and 10,000 idle
 * connections, against Switchyard (a child `switchyard start`) and, in the same run, Mosquitto from
 * ../shared/peers (started if not already listening on MQTT_PORT, default 18832). Clients are mqtt.js
 * in this process; both brokers get the same clients, so the ratio is the figure to read.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { startCli } from '../src/testing/server-cli.js';

const payloadBytes = 256;
const messagesOneToOne = 100_000;
const messagesFanOut = 10_000;
const messagesPersistent = 20_000;
const persistentLabel = `QoS 1 persistent session, file storage (fsync interval), 1 → 1 (${messagesPersistent.toLocaleString('en')} msgs)`;
const fanOutSubscribers = 50;
const inFlightMax = 1000;
const idleConnections = 10_000;
const caseTimeoutMs = 120_000;
const persistentTimeoutMs = 30_000;
/** ../shared/peers beside the repository, seen from dist/bench/ (or a deeper build folder). */
const peersDir =
  process.env['PEERS_DIR'] ??
  ['../../../shared/peers/', '../../../../shared/peers/']
    .map((relative) => fileURLToPath(new URL(relative, import.meta.url)))
    .find((dir) => existsSync(`${dir}start-peers.sh`)) ??
  '';

interface Target {
  readonly name: string;
  readonly port: number;
  readonly pid: number;
}

interface Result {
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Broker CPU time (user + system) per delivery: steadier than msg/s on a shared machine. */
  readonly cpuUsPerDelivery: number;
  readonly rssMiB: number;
}

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

/** User + system CPU milliseconds the process has used (/proc/<pid>/stat, 100 ticks per second). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) * 10;
}

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

/** `clientId` given: a persistent session (clean false) under that id. */
function client(port: number, clientId?: string): Promise<MqttClient> {
  return mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    reconnectPeriod: 0,
    protocolVersion: 4,
    clean: clientId === undefined,
    ...(clientId === undefined ? {} : { clientId }),
  });
}

/** One publisher, `subscribers` subscribers; at most `inFlightMax` messages between publish and last receipt. */
async function runCase(
  target: Target,
  qos: 0 | 1,
  messages: number,
  subscribers: number,
  persistent = false,
  timeoutMs = caseTimeoutMs,
): Promise<Result> {
  const topic = `bench/${qos}/${subscribers}/${Date.now()}`;
  const subs = await Promise.all(
    Array.from({ length: subscribers }, (_, i) =>
      client(target.port, persistent ? `bench-persistent-${i}` : undefined),
    ),
  );
  const pub = await client(target.port);
  const latencies: number[] = [];
  const received = new Array<number>(messages).fill(0);
  let done = 0;
  let sent = 0;
  const payload = Buffer.alloc(payloadBytes, 0x61);
  let finish: () => void = () => {};
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const pump = () => {
    while (sent < messages && sent - done < inFlightMax) {
      payload.writeDoubleLE(performance.now(), 0);
      payload.writeUInt32LE(sent, 8);
      sent++;
      pub.publish(topic, Buffer.from(payload), { qos });
    }
  };
  for (const sub of subs) {
    sub.on('message', (_t, body) => {
      const index = body.readUInt32LE(8);
      if (++received[index]! < subscribers) return;
      latencies.push(performance.now() - body.readDoubleLE(0));
      done++;
      if (done === messages) finish();
      else if (done % 100 === 0) pump();
    });
  }
  await Promise.all(subs.map((s) => s.subscribeAsync(topic, { qos })));
  const cpuBeforeMs = cpuMs(target.pid);
  const started = performance.now();
  pump();
  const timer = setTimeout(finish, timeoutMs);
  await finished;
  clearTimeout(timer);
  const seconds = (performance.now() - started) / 1000;
  const cpuUsedMs = cpuMs(target.pid) - cpuBeforeMs;
  const rss = rssMiB(target.pid);
  await Promise.all([pub, ...subs].map((c) => c.endAsync(true)));
  latencies.sort((a, b) => a - b);
  const deliveries = received.reduce((sum, n) => sum + n, 0);
  return {
    perSecond: deliveries / seconds,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    cpuUsPerDelivery: deliveries === 0 ? 0 : (cpuUsedMs * 1000) / deliveries,
    rssMiB: rss,
  };
}

/** RSS growth of the broker for `idleConnections` connected clients, each with keep alive 600 s. */
async function idleCost(target: Target): Promise<{ totalMiB: number; perConnectionKiB: number }> {
  const before = rssMiB(target.pid);
  const sockets: Socket[] = [];
  for (let i = 0; i < idleConnections; i += 500) {
    await Promise.all(
      Array.from({ length: Math.min(500, idleConnections - i) }, (_, j) =>
        idleClient(target.port, `idle-${i + j}`, sockets),
      ),
    );
  }
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const after = rssMiB(target.pid);
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  return { totalMiB: after, perConnectionKiB: ((after - before) * 1024) / idleConnections };
}

function idleClient(port: number, clientId: string, sockets: Socket[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port }, () => {
      socket.write(
        mqttPacket.generate({ cmd: 'connect', protocolVersion: 4, clientId, clean: true, keepalive: 600 }),
      );
    });
    sockets.push(socket);
    socket.once('data', () => resolve());
    socket.once('error', reject);
  });
}

async function withMosquitto<T>(run: (target: Target | undefined) => Promise<T>): Promise<T> {
  const port = Number(process.env['MQTT_PORT'] ?? 18832);
  const pidFile = '/tmp/switchyard-peers/mosquitto/pid';
  let startedHere = false;
  const listening = () => {
    try {
      return execFileSync('ss', ['-ltnH', `sport = :${port}`], { encoding: 'utf8' }).trim() !== '';
    } catch {
      return false;
    }
  };
  if (!listening() && existsSync(`${peersDir}start-peers.sh`)) {
    try {
      execFileSync(`${peersDir}start-peers.sh`, ['mosquitto'], { stdio: 'inherit' });
      startedHere = true;
    } catch {
      process.stderr.write('mosquitto could not be started; Switchyard figures only\n');
    }
  }
  const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : 0;
  try {
    return await run(listening() && pid > 0 ? { name: 'mosquitto', port, pid } : undefined);
  } finally {
    if (startedHere) execFileSync(`${peersDir}stop-peers.sh`, ['mosquitto'], { stdio: 'inherit' });
  }
}

const workloads = [
  { label: 'QoS 0, 1 → 1', qos: 0, messages: messagesOneToOne, subscribers: 1 },
  { label: 'QoS 1, 1 → 1', qos: 1, messages: messagesOneToOne, subscribers: 1 },
  {
    label: `QoS 0, 1 → ${fanOutSubscribers} (deliveries/s)`,
    qos: 0,
    messages: messagesFanOut,
    subscribers: fanOutSubscribers,
  },
] as const;

function row(label: string, ours: Result, peer: Result | undefined): string {
  const fmt = (r: Result) =>
    `${Math.round(r.perSecond).toLocaleString('en')} | ${r.p50Ms.toFixed(1)} / ${r.p99Ms.toFixed(1)} | ${r.cpuUsPerDelivery.toFixed(1)} | ${r.rssMiB.toFixed(0)} MiB`;
  const ratio = peer === undefined ? 'n/a' : (ours.perSecond / peer.perSecond).toFixed(2);
  return `| ${label} | ${fmt(ours)} | ${peer === undefined ? 'n/a | n/a | n/a | n/a' : fmt(peer)} | ${ratio} |`;
}

/** A child `switchyard start` with MQTT only, on `storageArgs`. */
async function startSwitchyard(
  storageArgs: readonly string[],
): Promise<{ target: Target; stop: () => Promise<unknown> }> {
  const otherPortsOff = ['--amqp-port', '0', '--kafka-port', '0', '--grpc-port', '0', '--rest-port', '0'];
  const cli = await startCli([
    ...storageArgs,
    ...['--mqtt-port', 'auto', '--mqtt-ws-port', '0', ...otherPortsOff, '--http-port', '0'],
    ...['--log-level', 'warn'],
  ]);
  const pidLine = execFileSync('ss', ['-ltnpH', `sport = :${cli.ports.mqtt}`], { encoding: 'utf8' });
  const pid = Number(/pid=(\d+)/.exec(pidLine)?.[1]);
  return { target: { name: 'switchyard', port: cli.ports.mqtt!, pid }, stop: () => cli.stop() };
}

/**
 * QoS 1 into a persistent session (clean false) of a broker on file storage: every message is
 * appended to the session queue's log and its ack recorded; the session's own record should not be
 * rewritten per message (src/protocols/mqtt/README.md, "In-flight state"). Switchyard only.
 */
export async function runPersistentCase(): Promise<Result> {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-bench-mqtt-'));
  try {
    // fsync interval: the figure is about the broker's own work per message, not the disk's fsync rate.
    const storage = ['--storage', 'file', '--data-dir', dataDir, '--fsync', 'interval'];
    const { target, stop } = await startSwitchyard(storage);
    try {
      // Within the child's lifetime (startCli); a stalled run shows as a low rate, not a hung bench.
      return await runCase(target, 1, messagesPersistent, 1, true, persistentTimeoutMs);
    } finally {
      await stop();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export async function runMqttBench(): Promise<void> {
  const { target: ours, stop } = await startSwitchyard(['--storage', 'memory']);
  try {
    await withMosquitto(async (peer) => {
      const lines = [
        `${messagesOneToOne.toLocaleString('en')} messages of ${payloadBytes} B (fan-out: ${messagesFanOut.toLocaleString('en')} × ${fanOutSubscribers}), ≤ ${inFlightMax} in flight, mqtt.js 3.1.1 clients`,
        '',
        '| workload | Switchyard msg/s | p50 / p99 ms | CPU µs/msg | RSS | Mosquitto msg/s | p50 / p99 ms | CPU µs/msg | RSS | ratio |',
        '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      ];
      for (const w of workloads) {
        const a = await runCase(ours, w.qos, w.messages, w.subscribers);
        const b = peer === undefined ? undefined : await runCase(peer, w.qos, w.messages, w.subscribers);
        lines.push(row(w.label, a, b));
        process.stdout.write(`${lines.at(-1)}\n`);
      }
      lines.push(row(persistentLabel, await runPersistentCase(), undefined));
      process.stdout.write(`${lines.at(-1)}\n`);
      const idleOurs = await idleCost(ours);
      const idlePeer = peer === undefined ? undefined : await idleCost(peer);
      const idle = (r: { totalMiB: number; perConnectionKiB: number }) =>
        `${r.totalMiB.toFixed(0)} MiB RSS, ${r.perConnectionKiB.toFixed(1)} KiB per connection`;
      lines.push(
        '',
        `${idleConnections.toLocaleString('en')} idle connections: Switchyard ${idle(idleOurs)}; Mosquitto ${idlePeer === undefined ? 'n/a' : idle(idlePeer)}`,
      );
      process.stdout.write(`\n${lines.join('\n')}\n`);
    });
  } finally {
    await stop();
  }
}
