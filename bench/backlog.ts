/**
 * `npm run bench -- backlog [count] [extra switchyard flags…]`: the footprint of a durable backlog. A
 * `switchyard start` child (file storage, default `--fsync always`, default limits) gets `count`
 * (1,000,000 by default) persistent 1 KB messages into one durable queue from one amqplib publisher
 * with confirms (1,000 in flight) and no consumer; then one consumer (prefetch 1,000, manual acks)
 * drains it. Prints the broker's RSS (VmRSS, sampled) at each phase and its high-water mark (VmHWM),
 * its CPU per message in each phase with the system share and minor page faults (/proc/<pid>/stat;
 * load inflates CPU time far less than it does times), and after the fill where the resident pages
 * are (`smapsSummary`). BACKLOG_HEAP_SNAPSHOT=<dir> has the broker write a heap snapshot there after
 * the fill (`node dist/bench/heap-summary.js` reads it).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import { freePort, listenerFlags, startCli } from '../testing/server-cli.js';

const countDefault = 1_000_000;
const bodyBytes = 1024;
const inFlightMax = 1000;
const prefetch = 1000;
const sampleIntervalMs = 200;
/** Fill and drain each end well within this on a loaded 2-core VM; a stuck run fails instead of hanging. */
const phaseMsMax = 15 * 60 * 1000;
const queue = 'bench.backlog';

function statusMiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) / 1024;
}

/**
 * The broker's resident pages by kind (/proc/<pid>/smaps): the files mapped (the node binary and
 * libraries), glibc's main heap ([heap], grown by brk), and anonymous mappings (V8's heap pages, array
 * buffers and the allocator's mmap'd arenas and large blocks).
 */
function smapsSummary(pid: number): string {
  const sums = { file: 0, heap: 0, anonymous: 0 };
  let kind: keyof typeof sums = 'anonymous';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const mapping = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (mapping !== null) {
      const name = mapping[1] ?? '';
      kind = name === '[heap]' ? 'heap' : name.startsWith('/') ? 'file' : 'anonymous';
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss !== null) sums[kind] += Number(rss[1]) / 1024;
  }
  return `files ${sums.file.toFixed(0)} MiB, malloc's [heap] ${sums.heap.toFixed(0)} MiB, anonymous ${sums.anonymous.toFixed(0)} MiB`;
}

/** Asks the broker (started with --heapsnapshot-signal) for a snapshot; done once its size holds for a second. */
async function heapSnapshot(pid: number, dir: string): Promise<string> {
  const before = new Set(readdirSync(dir));
  process.kill(pid, 'SIGUSR2');
  const deadline = Date.now() + phaseMsMax;
  let lastBytes = -1;
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const made = readdirSync(dir).find((f) => f.endsWith('.heapsnapshot') && !before.has(f));
    if (made === undefined) continue;
    const bytes = statSync(join(dir, made)).size;
    if (bytes > 0 && bytes === lastBytes) return join(dir, made);
    lastBytes = bytes;
  }
  throw new Error('no heap snapshot came');
}

/** CPU time split into user and system, and minor page faults, of a process (/proc/<pid>/stat, 100 ticks/s). */
function cpuAndFaults(pid: number): { userMs: number; systemMs: number; minorFaults: number } {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return {
    minorFaults: Number(fields[7] ?? 0),
    userMs: Number(fields[11] ?? 0) * 10,
    systemMs: Number(fields[12] ?? 0) * 10,
  };
}

class Sampler {
  peakMiB = 0;
  readonly pid: number;
  readonly #timer: NodeJS.Timeout;
  constructor(pid: number) {
    this.pid = pid;
    this.#timer = setInterval(() => this.sample(), sampleIntervalMs);
  }
  sample(): number {
    const rss = statusMiB(this.pid, 'VmRSS');
    this.peakMiB = Math.max(this.peakMiB, rss);
    return rss;
  }
  stop(): void {
    clearInterval(this.#timer);
  }
}

async function fill(ch: amqp.ConfirmChannel, count: number): Promise<void> {
  const body = Buffer.alloc(bodyBytes, 7);
  let inFlight = 0;
  let failed: unknown;
  let wake: (() => void) | undefined;
  for (let i = 0; i < count && failed === undefined; i++) {
    while (inFlight >= inFlightMax) await new Promise<void>((resolve) => (wake = resolve));
    inFlight++;
    ch.sendToQueue(queue, body, { persistent: true }, (err) => {
      if (err !== null && err !== undefined) failed = err;
      inFlight--;
      wake?.();
    });
  }
  await ch.waitForConfirms();
  if (failed !== undefined) throw new Error(`a publish was refused: ${String(failed)}`);
}

async function drain(ch: amqp.Channel, count: number): Promise<number> {
  let received = 0;
  await ch.prefetch(prefetch);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`drain stuck at ${received}`)), phaseMsMax);
    void ch.consume(queue, (msg) => {
      if (msg === null) return;
      received++;
      ch.ack(msg);
      if (received === count) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return received;
}

export async function runBacklogBench(args: string[]): Promise<void> {
  const count = args[0] === undefined ? countDefault : Number(args[0]);
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-bench-backlog-'));
  const port = await freePort();
  const snapshotDir = process.env['BACKLOG_HEAP_SNAPSHOT'];
  const broker = await startCli(
    ['--data-dir', dataDir, ...listenerFlags({ amqp: port }), '--log-level', 'warn', ...args.slice(1)],
    {
      lifetimeMs: 2 * phaseMsMax,
      ...(snapshotDir === undefined
        ? {}
        : { env: { NODE_OPTIONS: '--heapsnapshot-signal=SIGUSR2' }, cwd: snapshotDir }),
    },
  );
  const pid = Number(
    execFileSync('ss', ['-ltnpH', `sport = :${port}`])
      .toString()
      .match(/pid=(\d+)/)?.[1],
  );
  const sampler = new Sampler(pid);
  const log = (line: string): void => void process.stdout.write(`${line}\n`);
  try {
    const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${port}`);
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue(queue, { durable: true });
    log(`idle with one connection: ${sampler.sample().toFixed(0)} MiB`);
    let started = Date.now();
    let cpuStart = cpuAndFaults(pid);
    const cpuPerMessage = (): string => {
      const now = cpuAndFaults(pid);
      const us = (ms: number): string => ((ms * 1000) / count).toFixed(1);
      const faults = (now.minorFaults - cpuStart.minorFaults) / count;
      return `${us(now.userMs + now.systemMs - cpuStart.userMs - cpuStart.systemMs)} µs CPU/msg (system ${us(now.systemMs - cpuStart.systemMs)}, ${faults.toFixed(2)} page faults/msg)`;
    };
    await fill(ch, count);
    const fillS = (Date.now() - started) / 1000;
    const filled = (await ch.checkQueue(queue)).messageCount;
    log(
      `filled ${filled.toLocaleString('en')} × 1 KB in ${fillS.toFixed(1)} s, ${cpuPerMessage()}: RSS ${sampler.sample().toFixed(0)} MiB, peak ${sampler.peakMiB.toFixed(0)} MiB`,
    );
    log(`  resident after the fill: ${smapsSummary(pid)}`);
    if (snapshotDir !== undefined) log(`  heap snapshot: ${await heapSnapshot(pid, snapshotDir)}`);
    started = Date.now();
    cpuStart = cpuAndFaults(pid);
    const drained = await drain(ch, count);
    const drainS = (Date.now() - started) / 1000;
    log(
      `drained ${drained.toLocaleString('en')} in ${drainS.toFixed(1)} s, ${cpuPerMessage()}: RSS ${sampler.sample().toFixed(0)} MiB, peak ${sampler.peakMiB.toFixed(0)} MiB`,
    );
    log(`high-water mark (VmHWM): ${statusMiB(pid, 'VmHWM').toFixed(0)} MiB`);
    await conn.close();
  } finally {
    sampler.stop();
    await broker.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
