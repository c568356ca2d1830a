/**
 * `npm run bench -- footprint`: the MQTT edge's memory and connect rate, Switchyard (a child
 * `switchyard start --storage memory`) beside Mosquitto from ../shared/peers when it is there.
 *
 * - idle broker RSS, 3 s after its ready line;
 * - 10,000 idle raw 3.1.1 connections (clean session, keep alive 600 s), opened 500 at a time: the
 *   time to open them and the RSS they add, per connection;
 * - churn: 64 raw clients each connecting, sending CONNECT, reading CONNACK, sending DISCONNECT and
 *   closing, over and over for 5 s (or 100,000 connects): CONNECT/CONNACK per second, and the
 *   broker's CPU per connect (connect, CONNACK, DISCONNECT and teardown);
 * - FOOTPRINT_PEER=0 leaves Mosquitto out; FOOTPRINT_CLI=<dist/cli/switchyard.js of another build>
 *   measures that build with the same clients (A/B runs);
 * - the idle connections come from 127.0.0.1–8 (./source-addresses.ts), under the broker's default
 *   per-address cap, as a fleet of devices would;
 * - with FOOTPRINT_HEAP=<n>: a heap snapshot of the broker before and after n idle connections, and
 *   the growth by constructor per connection (bench/heap-summary.ts).
 *
 * Every loop is bounded in count and time. The clients run in this process.
 */
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
} from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCli } from '../testing/server-cli.js';
import { formatGrowth, heapGrowth } from './heap-summary.js';
import { rssMiB, type Target, withMosquitto } from './mqtt.js';
import { sourceAddressOf } from './source-addresses.js';
import { cpuMs } from './stats.js';

const idleConnections = Number(process.env['FOOTPRINT_CONNECTIONS'] ?? 10_000);
const openBatch = 500;
const churnClients = 64;
const churnDurationMs = 5_000;
const churnConnectsMax = 100_000;
const settleMs = 3_000;
const stepTimeoutMs = 60_000;
const snapshotTimeoutMs = 120_000;
const quietTimeoutMs = 60_000;
const otherCli = process.env['FOOTPRINT_CLI'];

/** CONNECT, 3.1.1, clean session, keep alive 600 s, for a client id (ASCII). */
function connectPacket(clientId: string): Buffer {
  const id = Buffer.from(clientId, 'latin1');
  const variable = Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x02, 0x02, 0x58]);
  const remaining = variable.length + 2 + id.length;
  if (remaining >= 128) throw new Error('client id too long for this bench');
  return Buffer.concat([Buffer.from([0x10, remaining]), variable, Buffer.from([0, id.length]), id]);
}
const disconnectPacket = Buffer.from([0xe0, 0]);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Opens one connection from `localAddress`, logs in and resolves with the socket once the CONNACK
 * arrived.
 */
function connectOnce(port: number, clientId: string, localAddress = '127.0.0.1'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port, localAddress }, () =>
      socket.write(connectPacket(clientId)),
    );
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no CONNACK for ${clientId} in ${stepTimeoutMs} ms`));
    }, stepTimeoutMs);
    socket.once('data', (data) => {
      clearTimeout(timer);
      if (data[0] === 0x20 && data[3] === 0) resolve(socket);
      else reject(new Error(`CONNACK refused ${clientId}: ${data.toString('hex')}`));
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

async function openIdle(
  port: number,
  count: number,
  prefix: string,
): Promise<{ sockets: Socket[]; ms: number }> {
  const sockets: Socket[] = [];
  const started = performance.now();
  for (let i = 0; i < count; i += openBatch) {
    const batch = Array.from({ length: Math.min(openBatch, count - i) }, (_, j) =>
      connectOnce(port, `${prefix}-${i + j}`, sourceAddressOf(i + j)),
    );
    sockets.push(...(await Promise.all(batch)));
  }
  return { sockets, ms: performance.now() - started };
}

/** Closes the sockets and waits until the broker has torn them down (under 10 % of a core for 1 s). */
async function closeAll(sockets: readonly Socket[], pid: number): Promise<void> {
  for (const socket of sockets) socket.destroy();
  const deadline = Date.now() + quietTimeoutMs;
  let before = cpuMs(pid);
  do {
    await sleep(1000);
    const now = cpuMs(pid);
    if (now - before < 100) return;
    before = now;
  } while (Date.now() < deadline);
}

/** What one churn measured. */
interface Churn {
  readonly perSecond: number;
  readonly cpuUsPerConnect: number;
  readonly clientsCpuUsPerConnect: number;
}

/** Writes a 3.1.1 CONNECT for `clientId` (ASCII, under 100 bytes) into one buffer: the churn's per-connect cost. */
function churnConnect(clientId: string): Buffer {
  const remaining = 12 + clientId.length;
  const packet = Buffer.allocUnsafe(2 + remaining);
  packet[0] = 0x10;
  packet[1] = remaining;
  // Protocol name MQTT, level 4, clean session, keep alive 600 s, then the client id's length.
  packet.set([0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x02, 0x02, 0x58, 0, clientId.length], 2);
  packet.write(clientId, 14, 'latin1');
  return packet;
}

/**
 * `churnClients` loops of connect, CONNECT, CONNACK, DISCONNECT and end, for `churnDurationMs` or
 * `churnConnectsMax` connects. Each client is callbacks on its socket, with no promise or timer per
 * connect and no explicit bind: the clients share the two cores with the broker, and until 6 December
 * 2026 their own CPU per connect (a promise, a timer and a bind each) capped the rate near 10,000 a
 * second whatever the broker did. One watchdog fails the run when no CONNACK comes for `stepTimeoutMs`.
 */
function churnLoops(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let done = 0;
    let running = churnClients;
    let lastMs = performance.now();
    const deadline = lastMs + churnDurationMs;
    const watchdog = setInterval(() => {
      if (performance.now() - lastMs > stepTimeoutMs) fail(new Error(`no CONNACK in ${stepTimeoutMs} ms`));
    }, 1000);
    const fail = (err: Error) => {
      clearInterval(watchdog);
      reject(err);
    };
    const finished = () => {
      if (--running > 0) return;
      clearInterval(watchdog);
      resolve(done);
    };
    const loop = (n: number, round: number) => {
      const socket = createConnection({ host: '127.0.0.1', port }, () =>
        socket.write(churnConnect(`churn-${n}-${round}`)),
      );
      socket.once('data', (data: Buffer) => {
        if (data[0] !== 0x20 || data[3] !== 0) {
          fail(new Error(`CONNACK refused churn-${n}-${round}: ${data.toString('hex')}`));
          return;
        }
        done++;
        lastMs = performance.now();
        socket.end(disconnectPacket);
        if (lastMs < deadline && done < churnConnectsMax) loop(n, round + 1);
        else finished();
      });
      socket.once('error', fail);
    };
    for (let n = 0; n < churnClients; n++) loop(n, 0);
  });
}

/**
 * The churn: CONNACKs per second, the broker's CPU per connect (its /proc/<pid>/stat over the churn and
 * the teardown after it), which the clients sharing the machine do not distort the way they do the
 * rate, and the clients' own CPU per connect (this process's), which says whether they were the limit.
 */
async function churn(port: number, pid: number): Promise<Churn> {
  const cpuBefore = cpuMs(pid);
  const clientsBefore = process.cpuUsage();
  const started = performance.now();
  const done = await churnLoops(port);
  const perSecond = done / ((performance.now() - started) / 1000);
  const clients = process.cpuUsage(clientsBefore);
  await closeAll([], pid);
  return {
    perSecond,
    cpuUsPerConnect: ((cpuMs(pid) - cpuBefore) * 1000) / Math.max(1, done),
    clientsCpuUsPerConnect: (clients.user + clients.system) / Math.max(1, done),
  };
}

interface Figures {
  readonly idleMiB: number;
  readonly withConnectionsMiB: number;
  readonly perConnectionKiB: number;
  readonly openMs: number;
  readonly connectsPerSecond: number;
  readonly cpuUsPerConnect: number;
  readonly clientsCpuUsPerConnect: number;
}

async function measure(target: Target, idleMiB: number): Promise<Figures> {
  const before = rssMiB(target.pid);
  const { sockets, ms } = await openIdle(target.port, idleConnections, `idle-${target.name}`);
  await sleep(settleMs);
  const after = rssMiB(target.pid);
  await closeAll(sockets, target.pid);
  const { perSecond, cpuUsPerConnect, clientsCpuUsPerConnect } = await churn(target.port, target.pid);
  return {
    idleMiB,
    withConnectionsMiB: after,
    perConnectionKiB: ((after - before) * 1024) / idleConnections,
    openMs: ms,
    connectsPerSecond: perSecond,
    cpuUsPerConnect,
    clientsCpuUsPerConnect,
  };
}

async function waitForSnapshots(dir: string, count: number): Promise<string[]> {
  const deadline = Date.now() + snapshotTimeoutMs;
  let sizes = '';
  while (Date.now() < deadline) {
    const files = readdirSync(dir)
      .filter((f) => f.endsWith('.heapsnapshot'))
      .sort();
    const now = files.map((f) => statSync(join(dir, f)).size).join(',');
    // Written once the size stops changing over a second and the JSON is closed.
    if (files.length >= count && now === sizes && files.every((f) => complete(join(dir, f))))
      return files.map((f) => join(dir, f));
    sizes = now;
    await sleep(1000);
  }
  throw new Error(`heap snapshots not written within ${snapshotTimeoutMs} ms`);
}

function complete(path: string): boolean {
  const size = statSync(path).size;
  if (size === 0) return false;
  const fd = openSync(path, 'r');
  try {
    const last = Buffer.alloc(1);
    readSync(fd, last, 0, 1, size - 1);
    return last[0] === 0x7d; // '}'
  } finally {
    closeSync(fd);
  }
}

/** Heap growth by constructor for `count` idle connections (snapshots on SIGUSR2). */
async function heapBreakdown(count: number): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-heap-'));
  const cli = await startSwitchyard({ NODE_OPTIONS: '--heapsnapshot-signal=SIGUSR2' }, dir);
  try {
    await sleep(settleMs);
    process.kill(cli.target.pid, 'SIGUSR2');
    await waitForSnapshots(dir, 1);
    const { sockets } = await openIdle(cli.target.port, count, 'heap');
    await sleep(settleMs);
    process.kill(cli.target.pid, 'SIGUSR2');
    const [before, after] = await waitForSnapshots(dir, 2);
    await closeAll(sockets, cli.target.pid);
    return formatGrowth(heapGrowth(before!, after!, count), 30);
  } finally {
    await cli.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function startSwitchyard(
  env: Record<string, string> = {},
  cwd?: string,
): Promise<{ target: Target; stop: () => Promise<unknown> }> {
  const otherPortsOff = ['--amqp-port', '0', '--kafka-port', '0', '--grpc-port', '0', '--rest-port', '0'];
  const cli = await startCli(
    [
      ...['--storage', 'memory', '--mqtt-port', 'auto', '--mqtt-ws-port', '0', ...otherPortsOff],
      ...['--http-port', '0', '--log-level', 'warn'],
    ],
    {
      env,
      ...(cwd === undefined ? {} : { cwd }),
      ...(otherCli === undefined ? {} : { cliPath: otherCli }),
      lifetimeMs: 600_000,
    },
  );
  return { target: { name: 'switchyard', port: cli.ports.mqtt!, pid: cli.pid }, stop: () => cli.stop() };
}

function row(name: string, f: Figures | undefined): string {
  if (f === undefined) return `| ${name} | n/a | | | | | | |`;
  return `| ${name} | ${f.idleMiB.toFixed(0)} MiB | ${f.withConnectionsMiB.toFixed(0)} MiB | ${f.perConnectionKiB.toFixed(1)} KiB | ${(f.openMs / 1000).toFixed(1)} s (${Math.round((idleConnections * 1000) / f.openMs).toLocaleString('en')}/s) | ${Math.round(f.connectsPerSecond).toLocaleString('en')} | ${Math.round(f.cpuUsPerConnect)} | ${Math.round(f.clientsCpuUsPerConnect)} |`;
}

export async function runFootprintBench(): Promise<void> {
  const lines = [
    `${idleConnections.toLocaleString('en')} idle raw MQTT 3.1.1 connections opened ${openBatch} at a time; churn: ${churnClients} raw clients for ${churnDurationMs / 1000} s`,
    '',
    "| broker | idle RSS | RSS with the connections | per connection | time to open | CONNECT/CONNACK per s (churn) | broker CPU µs per connect | clients' CPU µs per connect |",
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  const ours = await startSwitchyard();
  try {
    await sleep(settleMs);
    lines.push(row('Switchyard', await measure(ours.target, rssMiB(ours.target.pid))));
    process.stdout.write(`${lines.at(-1)}\n`);
  } finally {
    await ours.stop();
  }
  // FOOTPRINT_PEER=0 leaves Mosquitto out (a quicker paired run of two Switchyard builds).
  if (process.env['FOOTPRINT_PEER'] !== '0')
    await withMosquitto(async (peer) => {
      lines.push(row('Mosquitto', peer === undefined ? undefined : await measure(peer, rssMiB(peer.pid))));
    });
  const heapCount = Number(process.env['FOOTPRINT_HEAP'] ?? 0);
  if (heapCount > 0 && existsSync('/proc/self/status')) {
    lines.push('', `heap growth per connection (${heapCount} connections), self sizes by constructor:`);
    lines.push(await heapBreakdown(heapCount));
  }
  process.stdout.write(`\n${lines.join('\n')}\n`);
}
