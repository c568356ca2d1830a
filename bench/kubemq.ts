/**
 * `npm run bench -- kubemq`: KubeMQ events 1 → 1 and 1 → 50 (SendEventsStream in, SubscribeToEvents
 * out), events store 1 → 1, and queues (QueuesUpstream in batches of 100, QueuesDownstream gets acked
 * whole, durable: `--fsync always`), against a child `switchyard start`. In the same run, as ceilings:
 * a no-op relay on the same gRPC library (testing/kubemq-relay.ts, which relays SendEventsStream to
 * SubscribeToEvents and does nothing else) and NATS core pub/sub (Debian's `nats-server`; KubeMQ's
 * community edition is built on NATS), with the same 256 B messages and the same client process
 * (testing/kubemq-bench-peer.ts). Prints messages/s, p50/p99 latency and the server's RSS and CPU.
 */
import { type ChildProcess, execFile, execFileSync, fork, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchResult } from '../testing/kubemq-bench-peer.js';
import { freePort, listenerFlags, startCli } from '../testing/server-cli.js';

const eventsOneToOne = 100_000;
const eventsFanOut = 5_000;
const fanOutSubscribers = 50;
const storeMessages = 50_000;
const queueMessages = 50_000;
const queueBatch = 100;
const caseTimeoutMs = 180_000;

const peerScript = fileURLToPath(new URL('../testing/kubemq-bench-peer.js', import.meta.url));
const relayScript = fileURLToPath(new URL('../testing/kubemq-relay.js', import.meta.url));
const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

interface Server {
  readonly name: string;
  readonly pid: number;
}

function rssMiB(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  return kb / 1024;
}

function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) * 10;
}

/** Runs one client process for a case; resolves with its result line. */
function runPeer(args: Array<string | number>): Promise<BenchResult> {
  return new Promise((resolve, reject) => {
    const child = fork(peerScript, args.map(String), { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
    children.add(child);
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), caseTimeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      children.delete(child);
      const line = out.trim().split('\n').pop() ?? '';
      if (line.startsWith('{')) resolve(JSON.parse(line) as BenchResult);
      else reject(new Error(`bench client ${args[0]} exited with ${code} and no result`));
    });
  });
}

interface Row {
  readonly label: string;
  readonly server: string;
  readonly result?: BenchResult;
  readonly rssMiB: number;
  readonly serverCpuPct: number;
  readonly note?: string;
}

async function measure(label: string, server: Server, args: Array<string | number>): Promise<Row> {
  const cpuBefore = cpuMs(server.pid);
  try {
    const result = await runPeer(args);
    const serverCpuPct = ((cpuMs(server.pid) - cpuBefore) / result.wallMs) * 100;
    return { label, server: server.name, result, rssMiB: rssMiB(server.pid), serverCpuPct };
  } catch (err) {
    return { label, server: server.name, rssMiB: rssMiB(server.pid), serverCpuPct: 0, note: String(err) };
  }
}

/** Starts the no-op relay; resolves with its port and pid. */
async function startRelay(): Promise<{ port: number; pid: number; stop(): void }> {
  const child = fork(relayScript, ['0'], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  children.add(child);
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      const found = /port (\d+)/.exec(chunk.toString());
      if (found) resolve(Number(found[1]));
    });
    child.once('exit', () => reject(new Error('relay exited')));
  });
  return { port, pid: child.pid!, stop: () => child.kill() };
}

async function startNats(): Promise<{ port: number; pid: number; stop(): void } | undefined> {
  const found = await new Promise<boolean>((resolve) =>
    execFile('nats-server', ['--version'], (err) => resolve(err === null)),
  );
  if (!found) return undefined;
  const port = await freePort();
  const child = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  children.add(child);
  await new Promise((resolve) => setTimeout(resolve, 500));
  return { port, pid: child.pid!, stop: () => child.kill() };
}

function print(rows: readonly Row[]): void {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  const out = [
    line([
      'case',
      'server',
      'msgs',
      'deliveries/s',
      'p50 ms',
      'p99 ms',
      'server RSS MiB',
      'server CPU %',
      'client CPU %',
    ]),
    line(Array.from({ length: 9 }, () => '---')),
  ];
  for (const row of rows) {
    const r = row.result;
    const perSecond = r === undefined ? 0 : (r.deliveries / r.wallMs) * 1000;
    out.push(
      line([
        row.label,
        row.server,
        r === undefined ? `failed: ${row.note}` : r.messages.toLocaleString('en'),
        Math.round(perSecond).toLocaleString('en'),
        (r?.p50Ms ?? 0).toFixed(2),
        (r?.p99Ms ?? 0).toFixed(2),
        row.rssMiB.toFixed(0),
        row.serverCpuPct.toFixed(0),
        (r?.clientCpuPct ?? 0).toFixed(0),
      ]),
    );
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

/** The ceiling: the no-op relay on the same gRPC library, the same clients. */
async function relayRows(): Promise<Row[]> {
  const relay = await startRelay();
  const server = { name: 'no-op gRPC relay', pid: relay.pid };
  const address = `127.0.0.1:${relay.port}`;
  try {
    return [
      await measure('events 1 → 1', server, ['events', address, 1, eventsOneToOne, 0]),
      await measure(`events 1 → ${fanOutSubscribers}`, server, [
        'events',
        address,
        fanOutSubscribers,
        eventsFanOut,
        0,
      ]),
    ];
  } finally {
    relay.stop();
  }
}

/** A child `switchyard start` with only the gRPC listener, on file storage with the default `--fsync always`. */
async function switchyardRows(): Promise<Row[]> {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-kubemq-bench-'));
  const grpc = await freePort();
  // Its four cases may each take up to caseTimeoutMs: startCli's default lifetime (60 s) killed the
  // broker mid-run at a load of 20 on this machine.
  const broker = await startCli(['--data-dir', dataDir, ...listenerFlags({ grpc }), '--log-level', 'warn'], {
    lifetimeMs: 4 * caseTimeoutMs,
  });
  // The process listening on the gRPC port is the broker (as the MQTT bench finds its broker).
  const ss = execFileSync('ss', ['-ltnpH', `sport = :${grpc}`], { encoding: 'utf8' });
  const server = { name: 'Switchyard', pid: Number(/pid=(\d+)/.exec(ss)?.[1]) };
  const address = `127.0.0.1:${grpc}`;
  try {
    return [
      await measure('events 1 → 1', server, ['events', address, 1, eventsOneToOne, 0]),
      await measure(`events 1 → ${fanOutSubscribers}`, server, [
        'events',
        address,
        fanOutSubscribers,
        eventsFanOut,
        0,
      ]),
      await measure('events store 1 → 1 (fsync always)', server, ['events', address, 1, storeMessages, 1]),
      await measure(`queues, upstream ×${queueBatch} + downstream ack (fsync always)`, server, [
        'queues',
        address,
        queueMessages,
        queueBatch,
      ]),
    ];
  } finally {
    await broker.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function natsRows(): Promise<Row[]> {
  const nats = await startNats();
  if (nats === undefined) {
    process.stdout.write('nats-server not installed (apt-get install nats-server): NATS rows skipped\n');
    return [];
  }
  const server = { name: 'NATS core (nats-server)', pid: nats.pid };
  try {
    return [
      await measure('pub/sub 1 → 1', server, ['nats', nats.port, 1, eventsOneToOne]),
      await measure(`pub/sub 1 → ${fanOutSubscribers}`, server, [
        'nats',
        nats.port,
        fanOutSubscribers,
        eventsFanOut,
      ]),
    ];
  } finally {
    nats.stop();
  }
}

export async function runKubemqBench(): Promise<void> {
  print([...(await relayRows()), ...(await switchyardRows()), ...(await natsRows())]);
}
