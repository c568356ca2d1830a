/**
 * `npm run bench -- mqtt`: MQTT QoS 0 and QoS 1 one-to-one, a QoS 0 one-to-50 fan-out and 10,000 idle
 * connections, against Switchyard (a child `switchyard start`) and, in the same run, Mosquitto from
 * ../shared/peers (started if not already listening on MQTT_PORT, default 18832). Clients are mqtt.js
 * in forked processes (testing/mqtt-bench-peer.ts): one publisher, and the subscribers in one
 * process (the fan-out's over two), so the bench process does not set the rate. Both brokers get the
 * same clients; the client processes' CPU is reported to tell whether they were the limit.
 *
 * `mqtt lean [runs] [workload]` runs the three main workloads (or one) with lean clients instead
 * (bench/mqtt-lean.ts: raw sockets, packets encoded once, no parsing beyond what a client must read).
 * Why: with mqtt.js each client process used about as much CPU per message as a broker, so on two cores
 * the one-to-one figures above are the clients' ceiling. What it measures: the same workloads with the
 * clients' encoding and parsing taken out, each process's CPU and each client's CPU per message, so a
 * run shows whether a broker or a client was the busiest process; it is not what an mqtt.js application
 * sees, and both tables are reported. The lean clients cost 0.6–1.1 µs of CPU per message against
 * Switchyard where mqtt.js costs 3–5 (docs/performance.md, MQTT, "Lean clients").
 */
import { type ChildProcess, execFileSync, fork } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqttPacket from 'mqtt-packet';
import type { ChildMessage, ParentMessage, PeerResult } from '../testing/mqtt-bench-peer.js';
import { startCli } from '../testing/server-cli.js';
import type { PeerComparison } from './amqp.js';
import { sourceAddressOf } from './source-addresses.js';
import { cpuMs, median } from './stats.js';

const payloadBytes = 256;
const messagesOneToOne = 100_000;
const messagesFanOut = 10_000;
const messagesPersistent = 20_000;
const persistentLabel = `QoS 1 persistent session, file storage (fsync interval), 1 → 1 (${messagesPersistent.toLocaleString('en')} msgs)`;
const messagesQos2 = 10_000;
const qos2Label = `QoS 2, persistent publisher and subscriber, file storage (fsync always), 1 → 1 (${messagesQos2.toLocaleString('en')} msgs)`;
const fanOutSubscribers = 50;
const inFlightMax = 1000;
const idleConnections = 10_000;
const caseTimeoutMs = 120_000;
/** Processes the fan-out's subscribers are spread over (the machine has 2 cores). */
const fanOutProcesses = 2;
const setupTimeoutMs = 30_000;
const childExitTimeoutMs = 10_000;
const persistentTimeoutMs = 30_000;
/** ../shared/peers beside the repository, seen from dist/bench/ (or a deeper build folder). */
const peersDir =
  process.env['PEERS_DIR'] ??
  ['../../../shared/peers/', '../../../../shared/peers/']
    .map((relative) => fileURLToPath(new URL(relative, import.meta.url)))
    .find((dir) => existsSync(`${dir}start-peers.sh`)) ??
  '';

export interface Target {
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
  /** CPU of the broker, of the publisher process and of the busiest subscriber process, % of one core. */
  readonly brokerCpuPct: number;
  readonly pubCpuPct: number;
  readonly subCpuPct: number;
  /** Client CPU (user + system) per message published, and per delivery over every subscriber process. */
  readonly pubCpuUsPerMessage: number;
  readonly subCpuUsPerDelivery: number;
}

export function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

/**
 * The client processes: mqtt.js (testing/mqtt-bench-peer.ts, the default) or the lean clients
 * (bench/mqtt-lean-peer.ts: raw sockets, packets encoded once), which leave out the clients' own
 * encoding and parsing.
 */
type Clients = 'mqttjs' | 'lean';
const peerScripts: Readonly<Record<Clients, string>> = {
  mqttjs: fileURLToPath(new URL('../testing/mqtt-bench-peer.js', import.meta.url)),
  lean: fileURLToPath(new URL('./mqtt-lean-peer.js', import.meta.url)),
};
/** Every client process alive; killed if the bench exits while they run. */
const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

interface Peer {
  readonly proc: ChildProcess;
  readonly ready: Promise<void>;
  readonly result: Promise<PeerResult>;
}

/** Forks a client process (testing/mqtt-bench-peer.ts); `onProgress` gets a subscriber's completions. */
function forkPeer(
  clients: Clients,
  args: readonly (string | number)[],
  onProgress: (done: number) => void,
): Peer {
  const proc = fork(peerScripts[clients], args.map(String), {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: 'advanced', // latencies travel as a Float64Array
  });
  children.add(proc);
  let readyResolve: () => void = () => {};
  let readyReject: (err: Error) => void = () => {};
  const ready = new Promise<void>((resolve, reject) => {
    readyResolve = resolve;
    readyReject = reject;
  });
  const result = new Promise<PeerResult>((resolve, reject) => {
    proc.on('message', (m: ChildMessage) => {
      if (m.type === 'ready') readyResolve();
      else if (m.type === 'progress') onProgress(m.done);
      else resolve(m);
    });
    const fail = (why: string) => {
      const err = new Error(`mqtt bench ${args[0]} process ${why}`);
      readyReject(err);
      reject(err);
    };
    proc.once('error', (err) => fail(err.message));
    proc.once('exit', (code, signal) => {
      children.delete(proc);
      fail(`exited (${code ?? signal}) before its result`);
    });
  });
  // Awaited later or not at all (a failed setup); a rejection then must not end the bench by itself.
  ready.catch(() => {});
  result.catch(() => {});
  return { proc, ready, result };
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Waits (bounded) for each process to exit after its result, then kills whatever is left. */
async function reap(peers: readonly Peer[]): Promise<void> {
  const alive = peers.map((p) => p.proc).filter((proc) => proc.exitCode === null && proc.signalCode === null);
  const exited = alive.map((proc) => new Promise((resolve) => proc.once('exit', resolve)));
  await within(Promise.all(exited), childExitTimeoutMs, 'client exit').catch(() => {});
  for (const proc of alive) if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
}

/** Subscribers per process: all in one, or the fan-out's spread evenly over `fanOutProcesses`. */
function subscriberGroups(subscribers: number): number[] {
  const processes = subscribers === 1 ? 1 : fanOutProcesses;
  return Array.from(
    { length: processes },
    (_, g) => Math.floor(subscribers / processes) + (g < subscribers % processes ? 1 : 0),
  );
}

/**
 * One publisher process and one or more subscriber processes; at most `inFlightMax` messages between
 * publish and last receipt (the subscribers' progress is relayed to the publisher through here).
 */
interface CaseOptions {
  readonly persistent?: boolean;
  readonly timeoutMs?: number;
  readonly clients?: Clients;
  /** Messages between publish and last receipt (`inFlightMax` unless set). */
  readonly window?: number;
}

async function runCase(
  target: Target,
  qos: 0 | 1 | 2,
  messages: number,
  subscribers: number,
  {
    persistent = false,
    timeoutMs = caseTimeoutMs,
    clients = 'mqttjs',
    window = inFlightMax,
  }: CaseOptions = {},
): Promise<Result> {
  const topic = `bench/${qos}/${subscribers}/${Date.now()}`;
  const groups = subscriberGroups(subscribers);
  const progress = groups.map(() => 0);
  let credited = 0;
  let pub: Peer | undefined;
  const subs = groups.map((n, g) =>
    forkPeer(
      clients,
      ['sub', target.port, topic, qos, messages, n, ...(persistent ? [`bench-persistent-${g}-`] : [])],
      (done) => {
        progress[g] = done;
        const least = Math.min(...progress);
        if (least > credited && pub?.proc.connected) pub.proc.send({ type: 'credit', done: least });
        credited = Math.max(credited, least);
      },
    ),
  );
  try {
    await within(Promise.all(subs.map((s) => s.ready)), setupTimeoutMs, 'subscriber setup');
    // QoS 2 is measured with a persistent publisher: its packet ids awaiting PUBREL are stored.
    const pubId = qos === 2 && persistent ? ['bench-persistent-pub'] : [];
    pub = forkPeer(clients, ['pub', target.port, topic, qos, messages, window, ...pubId], () => {});
    await within(pub.ready, setupTimeoutMs, 'publisher setup');
    return await measure(target, pub, subs, timeoutMs);
  } finally {
    await reap(pub === undefined ? subs : [pub, ...subs]);
  }
}

async function measure(target: Target, pub: Peer, subs: readonly Peer[], timeoutMs: number): Promise<Result> {
  const cpuBeforeMs = cpuMs(target.pid);
  const started = performance.now();
  for (const peer of [...subs, pub]) peer.proc.send({ type: 'start' } satisfies ParentMessage);
  const stop = () => {
    for (const s of subs) if (s.proc.connected) s.proc.send({ type: 'stop' } satisfies ParentMessage);
  };
  const timer = setTimeout(stop, timeoutMs);
  const subResults = await within(Promise.all(subs.map((s) => s.result)), timeoutMs + setupTimeoutMs, 'run');
  clearTimeout(timer);
  const cpuUsedMs = cpuMs(target.pid) - cpuBeforeMs;
  const wallMs = performance.now() - started;
  const rss = rssMiB(target.pid);
  pub.proc.send({ type: 'stop' } satisfies ParentMessage);
  const pubResult = await within(pub.result, setupTimeoutMs, 'publisher result');
  const deliveries = subResults.reduce((sum, r) => sum + r.deliveries, 0);
  const seconds = (Math.max(...subResults.map((r) => r.atMs)) - pubResult.atMs) / 1000;
  const latencies = lastReceiptLatencies(subResults.map((r) => r.latenciesMs));
  const cpuPct = (r: PeerResult) => (r.wallMs > 0 ? (100 * r.cpuMs) / r.wallMs : 0);
  return {
    perSecond: deliveries / seconds,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    cpuUsPerDelivery: deliveries === 0 ? 0 : (cpuUsedMs * 1000) / deliveries,
    rssMiB: rss,
    brokerCpuPct: (100 * cpuUsedMs) / wallMs,
    pubCpuPct: cpuPct(pubResult),
    subCpuPct: Math.max(...subResults.map(cpuPct)),
    pubCpuUsPerMessage: pubResult.count === 0 ? 0 : (pubResult.cpuMs * 1000) / pubResult.count,
    subCpuUsPerDelivery:
      deliveries === 0 ? 0 : (subResults.reduce((sum, r) => sum + r.cpuMs, 0) * 1000) / deliveries,
  };
}

/** Per message, the latest of its completions in every subscriber process: publish to last receipt. */
function lastReceiptLatencies(perProcess: readonly Float64Array[]): Float64Array {
  const first = perProcess[0] ?? new Float64Array(0);
  const out = new Float64Array(first.length);
  let n = 0;
  for (let i = 0; i < first.length; i++) {
    let latest = first[i]!;
    for (const other of perProcess) latest = Math.max(latest, other[i]!);
    if (!Number.isNaN(latest)) out[n++] = latest; // NaN: not received everywhere (a stopped run)
  }
  return out.subarray(0, n).sort();
}

/** RSS growth of the broker for `idleConnections` connected clients, each with keep alive 600 s. */
async function idleCost(target: Target): Promise<{ totalMiB: number; perConnectionKiB: number }> {
  const before = rssMiB(target.pid);
  const sockets: Socket[] = [];
  for (let i = 0; i < idleConnections; i += 500) {
    await Promise.all(
      Array.from({ length: Math.min(500, idleConnections - i) }, (_, j) =>
        idleClient(target.port, `idle-${i + j}`, sockets, sourceAddressOf(i + j)),
      ),
    );
  }
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const after = rssMiB(target.pid);
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  return { totalMiB: after, perConnectionKiB: ((after - before) * 1024) / idleConnections };
}

function idleClient(port: number, clientId: string, sockets: Socket[], localAddress: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port, localAddress }, () => {
      socket.write(
        mqttPacket.generate({ cmd: 'connect', protocolVersion: 4, clientId, clean: true, keepalive: 600 }),
      );
    });
    sockets.push(socket);
    socket.once('data', () => resolve());
    socket.once('error', reject);
  });
}

export async function withMosquitto<T>(run: (target: Target | undefined) => Promise<T>): Promise<T> {
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
  { name: 'qos0', label: 'QoS 0, 1 → 1', qos: 0, messages: messagesOneToOne, subscribers: 1 },
  { name: 'qos1', label: 'QoS 1, 1 → 1', qos: 1, messages: messagesOneToOne, subscribers: 1 },
  {
    name: 'fanout',
    label: `QoS 0, 1 → ${fanOutSubscribers} (deliveries/s)`,
    qos: 0,
    messages: messagesFanOut,
    subscribers: fanOutSubscribers,
  },
] as const;

function row(label: string, ours: Result, peer: Result | undefined): string {
  const fmt = (r: Result) =>
    `${Math.round(r.perSecond).toLocaleString('en')} | ${r.p50Ms.toFixed(1)} / ${r.p99Ms.toFixed(1)} | ${r.cpuUsPerDelivery.toFixed(1)} | ${r.rssMiB.toFixed(0)} MiB | ${r.brokerCpuPct.toFixed(0)} / ${r.pubCpuPct.toFixed(0)} / ${r.subCpuPct.toFixed(0)} %`;
  const ratio = peer === undefined ? 'n/a' : (ours.perSecond / peer.perSecond).toFixed(2);
  return `| ${label} | ${fmt(ours)} | ${peer === undefined ? 'n/a | n/a | n/a | n/a | n/a' : fmt(peer)} | ${ratio} |`;
}

const brokerLifetimeMs = 10 * 60_000;
/** Options for the broker's node process (`MQTT_BROKER_NODE_ARGS`, space-separated: `--cpu-prof --cpu-prof-dir=<dir>`). */
const brokerNodeArgs = (process.env['MQTT_BROKER_NODE_ARGS'] ?? '').split(' ').filter((a) => a !== '');

/** `MQTT_BROKER_CLI=<other build>/dist/cli/switchyard.js`: that build's broker under this bench (A/B). */
const brokerCli = process.env['MQTT_BROKER_CLI'];

/** A child `switchyard start` with MQTT only, on `storageArgs`. */
async function startSwitchyard(
  storageArgs: readonly string[],
): Promise<{ target: Target; stop: () => Promise<unknown> }> {
  const otherPortsOff = ['--amqp-port', '0', '--kafka-port', '0', '--grpc-port', '0', '--rest-port', '0'];
  // A case of 100,000 messages can outlast startCli's default minute on a loaded machine; each case
  // bounds its own time, so the broker's lifetime bound is only the last resort.
  const cli = await startCli(
    [
      ...storageArgs,
      ...['--mqtt-port', 'auto', '--mqtt-ws-port', '0', ...otherPortsOff, '--http-port', '0'],
      ...['--log-level', 'warn'],
    ],
    {
      lifetimeMs: brokerLifetimeMs,
      nodeArgs: brokerNodeArgs,
      ...(brokerCli === undefined ? {} : { cliPath: brokerCli }),
    },
  );
  const pidLine = execFileSync('ss', ['-ltnpH', `sport = :${cli.ports.mqtt}`], { encoding: 'utf8' });
  const pid = Number(/pid=(\d+)/.exec(pidLine)?.[1]);
  return { target: { name: 'switchyard', port: cli.ports.mqtt!, pid }, stop: () => cli.stop() };
}

/**
 * QoS 1 into a persistent session (clean false) of a broker on file storage: every message is
 * appended to the session queue's log and its ack recorded; the session's own record should not be
 * rewritten per message (src/protocols/mqtt/README.md, "In-flight state"). Switchyard only.
 */
export function runPersistentCase(): Promise<Result> {
  // fsync interval: the figure is about the broker's own work per message, not the disk's fsync rate.
  return onFileStorage('interval', (target) =>
    // Within the child's lifetime (`brokerLifetimeMs`) and the case's own bound: a stalled run shows
    // as a low rate, not a hung bench.
    runCase(target, 1, messagesPersistent, 1, { persistent: true, timeoutMs: persistentTimeoutMs }),
  );
}

/**
 * QoS 2 from a persistent publisher to a persistent subscriber, fsync always: each message waits for
 * its queue write and then its packet id's write in the publisher's session before the PUBREC, and
 * the release's write before the PUBCOMP (src/protocols/mqtt/inbound.ts). Switchyard only.
 */
export function runQos2Case(): Promise<Result> {
  return onFileStorage('always', (target) =>
    runCase(target, 2, messagesQos2, 1, { persistent: true, timeoutMs: persistentTimeoutMs }),
  );
}

async function onFileStorage(fsync: string, body: (target: Target) => Promise<Result>): Promise<Result> {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-bench-mqtt-'));
  try {
    const storage = ['--storage', 'file', '--data-dir', dataDir, '--fsync', fsync];
    const { target, stop } = await startSwitchyard(storage);
    try {
      return await body(target);
    } finally {
      await stop();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * `npm run bench -- mqtt qos2 [runs]` or `mqtt persistent [runs]`: only the QoS 2 or the QoS 1
 * persistent-session case, `runs` times (default once), each on a new broker.
 */
async function runOnly(label: string, run: () => Promise<Result>, runs: number): Promise<void> {
  process.stdout.write(`| workload | msg/s | p50 / p99 ms | CPU µs/msg | RSS | CPU % broker / pub / sub |\n`);
  for (let i = 0; i < runs; i++) {
    const fields = row(label, await run(), undefined).split(' | n/a')[0];
    process.stdout.write(`${fields} |\n`);
  }
}

const singleCases: Readonly<Record<string, readonly [string, () => Promise<Result>]>> = {
  qos2: [qos2Label, runQos2Case],
  persistent: [persistentLabel, runPersistentCase],
};

/** Messages between publish and last receipt with the lean clients (`MQTT_LEAN_WINDOW`). */
const leanWindow = Number(process.env['MQTT_LEAN_WINDOW'] ?? inFlightMax) || inFlightMax;

/**
 * `npm run bench -- mqtt lean [runs] [qos0|qos1|fanout]`: the three main workloads (or the one named)
 * with the lean clients (`mqtt mqttjs …`: with mqtt.js, to compare the clients' own CPU), against
 * Switchyard and Mosquitto in the same run, which goes first alternating from run to run; a row per
 * run and workload, each client's CPU per message, then the median ratio. A broker near 100 % of a
 * core is the limit of its row; a row where no process nears a core measured the machine.
 */
async function runLean(runs: number, only: string | undefined, clients: Clients): Promise<void> {
  const chosen = workloads.filter((w) => only === undefined || w.name === only);
  const costs: string[] = [];
  const { target: ours, stop } = await startSwitchyard(['--storage', 'memory']);
  try {
    await withMosquitto(async (peer) => {
      process.stdout.write(
        `${clients === 'lean' ? 'lean clients (raw sockets, packets encoded once, bench/mqtt-lean.ts)' : 'mqtt.js clients'}: ${messagesOneToOne.toLocaleString('en')} messages of ${payloadBytes} B (fan-out: ${messagesFanOut.toLocaleString('en')} × ${fanOutSubscribers} over ${fanOutProcesses} processes), ≤ ${leanWindow} in flight, 3.1.1, clean sessions\n\n` +
          '| workload, run | Switchyard msg/s | p50 / p99 ms | CPU µs/msg | RSS | CPU % broker / pub / sub | Mosquitto msg/s | p50 / p99 ms | CPU µs/msg | RSS | CPU % broker / pub / sub | ratio |\n' +
          '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n',
      );
      const ratios = chosen.map((): number[] => []);
      for (let run = 0; run < runs; run++) {
        for (const [i, w] of chosen.entries()) {
          const one = (target: Target) =>
            runCase(target, w.qos, w.messages, w.subscribers, { clients, window: leanWindow });
          const peerFirst = run % 2 === 1 && peer !== undefined;
          const early = peerFirst ? await one(peer) : undefined;
          const a = await one(ours);
          const b = peer === undefined ? undefined : (early ?? (await one(peer)));
          if (b !== undefined) ratios[i]!.push(a.perSecond / b.perSecond);
          const label = `${w.label}, ${run + 1}${peerFirst ? ' (Mosquitto first)' : ''}`;
          process.stdout.write(`${row(label, a, b)}\n`);
          costs.push(
            `${label}: Switchyard ${clientCost(a)}; Mosquitto ${b === undefined ? 'n/a' : clientCost(b)}`,
          );
        }
      }
      process.stdout.write(`\nclient CPU µs per message published / per delivery:\n${costs.join('\n')}\n\n`);
      for (const [i, w] of chosen.entries()) {
        if (ratios[i]!.length === 0) continue;
        const all = ratios[i]!.map((r) => r.toFixed(2)).join(', ');
        process.stdout.write(`${w.label}: median ratio ${median(ratios[i]!).toFixed(2)} (${all})\n`);
      }
    });
  } finally {
    await stop();
  }
}

function clientCost(r: Result): string {
  return `pub ${r.pubCpuUsPerMessage.toFixed(1)} / sub ${r.subCpuUsPerDelivery.toFixed(1)}`;
}

export async function runMqttBench(args: readonly string[] = []): Promise<PeerComparison[]> {
  // `mqtt mqttjs …` is the same runner with mqtt.js clients: the two client costs side by side.
  if (args[0] === 'lean' || args[0] === 'mqttjs') {
    await runLean(Math.max(1, Number(args[1] ?? 1) || 1), args[2], args[0]);
    return [];
  }
  const single = singleCases[args[0] ?? ''];
  if (single !== undefined) {
    await runOnly(single[0], single[1], Math.max(1, Number(args[1] ?? 1) || 1));
    return [];
  }
  const { target: ours, stop } = await startSwitchyard(['--storage', 'memory']);
  const compared: PeerComparison[] = [];
  try {
    await withMosquitto(async (peer) => {
      const lines = [
        `${messagesOneToOne.toLocaleString('en')} messages of ${payloadBytes} B (fan-out: ${messagesFanOut.toLocaleString('en')} × ${fanOutSubscribers}), ≤ ${inFlightMax} in flight, mqtt.js 3.1.1 clients: publisher and subscribers in separate processes (fan-out: ${fanOutProcesses} subscriber processes)`,
        '',
        '| workload | Switchyard msg/s | p50 / p99 ms | CPU µs/msg | RSS | CPU % broker / pub / sub | Mosquitto msg/s | p50 / p99 ms | CPU µs/msg | RSS | CPU % broker / pub / sub | ratio |',
        '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      ];
      for (const w of workloads) {
        const a = await runCase(ours, w.qos, w.messages, w.subscribers);
        const b = peer === undefined ? undefined : await runCase(peer, w.qos, w.messages, w.subscribers);
        lines.push(row(w.label, a, b));
        const figures = (r: Result) => ({ rate: r.perSecond, p99Ms: r.p99Ms });
        compared.push({ workload: `MQTT ${w.label}`, ours: figures(a), ...(b ? { peer: figures(b) } : {}) });
        process.stdout.write(`${lines.at(-1)}\n`);
      }
      lines.push(row(persistentLabel, await runPersistentCase(), undefined));
      process.stdout.write(`${lines.at(-1)}\n`);
      lines.push(row(qos2Label, await runQos2Case(), undefined));
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
  return compared;
}
