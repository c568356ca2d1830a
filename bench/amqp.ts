/**
 * `npm run bench -- amqp`: the two AMQP workloads of shared/peers/README.md against Switchyard (the
 * compiled CLI, file storage, fsync always) and, in the same run, RabbitMQ from shared/peers when it is
 * installed. 100,000 messages of 256 B, 1,000 in flight, producer and consumer in separate processes.
 * This file is also the producer / consumer child: `node amqp.js producer|consumer <url> <workload>`.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import { freePort, listenerFlags, startCli } from '../testing/server-cli.js';

const messageCount = 100_000;
const bodyBytes = 256;
const inFlightMax = 1000;
const childTimeoutMs = 300_000;
const peersDir = '/work/shared/peers';
const rabbitPort = 5682;
/**
 * Knobs for profiling, not for the published table: AMQP_BENCH_ONLY=switchyard skips RabbitMQ,
 * AMQP_BENCH_WORKLOAD=durable|transient runs one workload, AMQP_BENCH_BROKER_NODE_OPTIONS is given
 * to the Switchyard child as NODE_OPTIONS (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`),
 * AMQP_BENCH_QUEUE_TYPE=quorum declares the durable workload's queue `x-queue-type: quorum`.
 */
const only = process.env['AMQP_BENCH_ONLY'];
const onlyWorkload = process.env['AMQP_BENCH_WORKLOAD'];
const brokerNodeOptions = process.env['AMQP_BENCH_BROKER_NODE_OPTIONS'];
const queueType = process.env['AMQP_BENCH_QUEUE_TYPE'];

type Workload = 'durable' | 'transient';
const workloads: Record<Workload, { queue: string; durable: boolean; label: string }> = {
  durable: {
    queue: 'bench.durable',
    durable: true,
    label: 'durable queue, persistent, confirms, prefetch 1000, manual ack',
  },
  transient: { queue: 'bench.transient', durable: false, label: 'transient queue, no confirms' },
};

const nowMs = (): number => performance.timeOrigin + performance.now();

// ---- children

async function producer(url: string, workload: Workload): Promise<void> {
  const w = workloads[workload];
  const conn = await amqp.connect(url);
  const body = Buffer.alloc(bodyBytes, 1);
  const startMs = nowMs();
  const cpuStart = process.cpuUsage();
  const ioStart = syscalls(process.pid);
  const ch = w.durable ? await conn.createConfirmChannel() : await conn.createChannel();
  if (w.durable) {
    let inFlight = 0;
    let wake: (() => void) | undefined;
    for (let i = 0; i < messageCount; i++) {
      while (inFlight >= inFlightMax) await new Promise<void>((resolve) => (wake = resolve));
      body.writeDoubleLE(nowMs(), 0);
      inFlight++;
      (ch as amqp.ConfirmChannel).sendToQueue(w.queue, body, { persistent: true }, () => {
        inFlight--;
        wake?.();
      });
    }
    await (ch as amqp.ConfirmChannel).waitForConfirms();
  } else {
    for (let i = 0; i < messageCount; i++) {
      body.writeDoubleLE(nowMs(), 0);
      if (!ch.sendToQueue(w.queue, body)) await new Promise((resolve) => ch.once('drain', resolve));
    }
  }
  const cpu = process.cpuUsage(cpuStart);
  const io = syscallsSince(process.pid, ioStart);
  process.stdout.write(`${JSON.stringify({ startMs, endMs: nowMs(), cpuUs: cpu.user + cpu.system, io })}\n`);
  // amqplib may send connection.close ahead of buffered channel frames; closing the channel first flushes them.
  await ch.close();
  await conn.close();
}

async function consumer(url: string, workload: Workload): Promise<void> {
  const w = workloads[workload];
  const conn = await amqp.connect(url);
  const ch = await conn.createChannel();
  await ch.prefetch(inFlightMax);
  const latencies = new Float64Array(messageCount);
  let count = 0;
  const done = new Promise<void>((resolve) => {
    void ch.consume(w.queue, (m) => {
      if (m === null) return;
      latencies[count++] = nowMs() - m.content.readDoubleLE(0);
      ch.ack(m);
      if (count === messageCount) resolve();
    });
  });
  process.stdout.write('ready\n');
  const cpuStart = process.cpuUsage();
  const ioStart = syscalls(process.pid);
  await done;
  const endMs = nowMs();
  const cpu = process.cpuUsage(cpuStart);
  const io = syscallsSince(process.pid, ioStart);
  latencies.sort();
  const at = (q: number) => latencies[Math.min(messageCount - 1, Math.floor(q * messageCount))]!;
  process.stdout.write(
    `${JSON.stringify({ endMs, p50: at(0.5), p99: at(0.99), cpuUs: cpu.user + cpu.system, io })}\n`,
  );
  await conn.close();
}

// ---- orchestration

function child(
  role: string,
  url: string,
  workload: Workload,
): { proc: ChildProcess; lines: Promise<string[]>; ready: Promise<void> } {
  const proc = spawn(process.execPath, [fileURLToPath(import.meta.url), role, url, workload], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  let readyResolve: () => void = () => {};
  const ready = new Promise<void>((resolve) => (readyResolve = resolve));
  proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    if (out.includes('ready')) readyResolve();
  });
  const timer = setTimeout(() => proc.kill('SIGKILL'), childTimeoutMs);
  const lines = new Promise<string[]>((resolve, reject) =>
    proc.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out.trim().split('\n'));
      else reject(new Error(`${role} exited with ${code}`));
    }),
  );
  return { proc, lines, ready };
}

interface Result {
  rate: number;
  p50: number;
  p99: number;
  rssMiB: number;
  /** Broker CPU (user + system, /proc/<pid>/stat) over the workload, µs per message. */
  cpuUsPerMessage: number;
  /**
   * Share of one core each process used between the first publish and the last consume: the broker's
   * main thread (its JS), the broker in all, the producer and the consumer; which of them is near 100 %
   * says what bounds the rate.
   */
  busy: { brokerMain: number; broker: number; producer: number; consumer: number };
  /** The producer's and the consumer's CPU (process.cpuUsage) over their run, µs per message. */
  clientUsPerMessage: { producer: number; consumer: number };
  /** Read and write system calls (/proc/<pid>/io) of each process over the workload. */
  io: { broker: Syscalls; producer: Syscalls; consumer: Syscalls };
}

async function runWorkload(url: string, workload: Workload, brokerPid: number): Promise<Result> {
  const w = workloads[workload];
  const cpuBeforeUs = cpuUs(brokerPid);
  const mainBeforeUs = cpuUs(brokerPid, brokerPid);
  const ioBefore = syscalls(brokerPid);
  const setup = await amqp.connect(url);
  const ch = await setup.createChannel();
  await ch.deleteQueue(w.queue);
  const typed = w.durable && queueType === 'quorum' ? { arguments: { 'x-queue-type': 'quorum' } } : {};
  await ch.assertQueue(w.queue, { durable: w.durable, ...typed });
  await setup.close();
  const c = child('consumer', url, workload);
  await c.ready;
  const p = child('producer', url, workload);
  const [produced, consumed] = await Promise.all([p.lines, c.lines]).catch((err: unknown) => {
    p.proc.kill('SIGKILL');
    c.proc.kill('SIGKILL');
    throw err;
  });
  const {
    startMs,
    cpuUs: producerUs,
    io: producerIo,
  } = JSON.parse(produced.at(-1)!) as { startMs: number; cpuUs: number; io: Syscalls };
  const consumedFigures = JSON.parse(consumed.at(-1)!) as {
    endMs: number;
    p50: number;
    p99: number;
    cpuUs: number;
    io: Syscalls;
  };
  const { endMs, p50, p99 } = consumedFigures;
  const brokerUs = cpuUs(brokerPid) - cpuBeforeUs;
  const wallUs = (endMs - startMs) * 1000;
  return {
    rate: messageCount / ((endMs - startMs) / 1000),
    p50,
    p99,
    rssMiB: rssMiB(brokerPid),
    cpuUsPerMessage: brokerUs / messageCount,
    busy: {
      brokerMain: (cpuUs(brokerPid, brokerPid) - mainBeforeUs) / wallUs,
      broker: brokerUs / wallUs,
      producer: producerUs / wallUs,
      consumer: consumedFigures.cpuUs / wallUs,
    },
    clientUsPerMessage: {
      producer: producerUs / messageCount,
      consumer: consumedFigures.cpuUs / messageCount,
    },
    io: { broker: syscallsSince(brokerPid, ioBefore), producer: producerIo, consumer: consumedFigures.io },
  };
}

/**
 * CPU time (user + system) the process (or its thread `tid`) has used so far, µs: it holds up under
 * load where rates do not.
 */
export function cpuUs(pid: number, tid?: number): number {
  const stat = readFileSync(
    tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`,
    'utf8',
  );
  // Fields after the command name (which may hold spaces) start at state; utime and stime are 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticksPerSecond = 100;
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / ticksPerSecond;
}

interface Syscalls {
  reads: number;
  writes: number;
}

/** Read and write system calls (socket reads and writes among them) the process has made so far. */
function syscalls(pid: number): Syscalls {
  const io = readFileSync(`/proc/${pid}/io`, 'utf8');
  const field = (name: string): number => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(io)?.[1] ?? 0);
  return { reads: field('syscr'), writes: field('syscw') };
}

function syscallsSince(pid: number, before: Syscalls): Syscalls {
  const now = syscalls(pid);
  return { reads: now.reads - before.reads, writes: now.writes - before.writes };
}

/** Peak resident set (VmHWM) of the broker process, MiB. */
function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

export async function withSwitchyard(run: (url: string, pid: number) => Promise<void>): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-bench-amqp-'));
  const port = await freePort();
  const broker = await startCli(
    ['--data-dir', dataDir, ...listenerFlags({ amqp: port }), '--log-level', 'warn'],
    brokerNodeOptions === undefined ? {} : { env: { NODE_OPTIONS: brokerNodeOptions } },
  );
  const pid = Number(
    execFileSync('ss', ['-ltnpH', `sport = :${port}`])
      .toString()
      .match(/pid=(\d+)/)?.[1],
  );
  try {
    await run(`amqp://guest:guest@127.0.0.1:${port}`, pid);
  } finally {
    await broker.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function withRabbit(run: (url: string, pid: number) => Promise<void>): Promise<boolean> {
  if (!existsSync('/usr/lib/rabbitmq/bin/rabbitmq-server') || !existsSync(`${peersDir}/start-peers.sh`))
    return false;
  execFileSync(`${peersDir}/start-peers.sh`, ['rabbitmq'], { stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    const pid = Number(readFileSync('/tmp/switchyard-peers/rabbitmq/beam.pid', 'utf8').trim());
    await run(`amqp://guest:guest@127.0.0.1:${rabbitPort}`, pid);
  } finally {
    execFileSync(`${peersDir}/stop-peers.sh`, ['rabbitmq'], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  return true;
}

const fmt = (n: number, digits = 0): string =>
  n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** One workload's figures beside the peer's, for `npm run bench -- peers`. */
export interface PeerComparison {
  readonly workload: string;
  readonly ours: { readonly rate: number; readonly p99Ms: number };
  readonly peer?: { readonly rate: number; readonly p99Ms: number };
}

export async function runAmqpBench(): Promise<PeerComparison[]> {
  const results: Record<string, Partial<Record<Workload, Result>>> = { switchyard: {}, rabbitmq: {} };
  const all = async (name: string, url: string, pid: number): Promise<void> => {
    for (const workload of Object.keys(workloads) as Workload[]) {
      if (onlyWorkload !== undefined && workload !== onlyWorkload) continue;
      results[name]![workload] = await runWorkload(url, workload, pid);
      process.stderr.write(`${name} ${workload} done\n`);
    }
  };
  await withSwitchyard((url, pid) => all('switchyard', url, pid));
  const rabbit = only === 'switchyard' || (await withRabbit((url, pid) => all('rabbitmq', url, pid)));
  if (!rabbit)
    process.stdout.write('RabbitMQ not installed (apt-get install rabbitmq-server); peer skipped\n');
  process.stdout.write(
    `AMQP: ${fmt(messageCount)} messages of ${bodyBytes} B, ${inFlightMax} in flight, producer and consumer in separate processes\n`,
  );
  process.stdout.write(
    '| workload | broker | messages/s | p50 / p99 ms | broker peak RSS MiB | broker CPU µs/msg | ratio (Switchyard / RabbitMQ) |\n|---|---|---:|---:|---:|---:|---:|\n',
  );
  for (const workload of Object.keys(workloads) as Workload[]) {
    const peer = results['rabbitmq']![workload];
    for (const name of ['switchyard', 'rabbitmq']) {
      const r = results[name]![workload];
      if (r === undefined) continue;
      const ratio = name === 'switchyard' && peer !== undefined ? `${fmt(r.rate / peer.rate, 2)}×` : '';
      process.stdout.write(
        `| ${workloads[workload].label} | ${name} | ${fmt(r.rate)} | ${fmt(r.p50, 1)} / ${fmt(r.p99, 1)} | ${fmt(r.rssMiB)} | ${fmt(r.cpuUsPerMessage, 1)} | ${ratio} |\n`,
      );
    }
  }
  const pct = (share: number): string => `${fmt(share * 100)} %`;
  const perK = (io: Syscalls): string =>
    `${fmt((io.reads * 1000) / messageCount)} / ${fmt((io.writes * 1000) / messageCount)}`;
  for (const workload of Object.keys(workloads) as Workload[]) {
    for (const name of ['switchyard', 'rabbitmq']) {
      const r = results[name]![workload];
      if (r === undefined) continue;
      const b = r.busy;
      const c = r.clientUsPerMessage;
      const main = name === 'switchyard' ? ` (main thread ${pct(b.brokerMain)})` : '';
      process.stdout.write(
        `${workload} ${name}, share of a core from first publish to last consume: broker ${pct(b.broker)}${main}, producer ${pct(b.producer)}, consumer ${pct(b.consumer)}; client CPU µs/msg: producer ${fmt(c.producer, 1)}, consumer ${fmt(c.consumer, 1)}; read / write calls per 1,000 messages: broker ${perK(r.io.broker)}, producer ${perK(r.io.producer)}, consumer ${perK(r.io.consumer)}\n`,
      );
    }
  }
  return (Object.keys(workloads) as Workload[]).flatMap((workload) => {
    const ours = results['switchyard']![workload];
    const peer = results['rabbitmq']![workload];
    if (ours === undefined) return [];
    const figures = (r: Result) => ({ rate: r.rate, p99Ms: r.p99 });
    return [{ workload: `AMQP ${workload}`, ours: figures(ours), ...(peer ? { peer: figures(peer) } : {}) }];
  });
}

const role = process.argv[2];
if (process.argv[1] === fileURLToPath(import.meta.url) && (role === 'producer' || role === 'consumer')) {
  const run = role === 'producer' ? producer : consumer;
  await run(process.argv[3]!, process.argv[4] as Workload);
}
