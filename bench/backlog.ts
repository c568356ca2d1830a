/**
 * `npm run bench -- backlog [count] [extra switchyard flags…]`: the footprint of a durable backlog. A
 * `switchyard start` child (file storage, default `--fsync always`, default limits) gets `count`
 * (1,000,000 by default) persistent 1 KB messages into one durable queue from one amqplib publisher
 * with confirms (1,000 in flight) and no consumer; then one consumer (prefetch 1,000, manual acks)
 * drains it. Prints the broker's RSS (VmRSS, sampled) at each phase and its high-water mark (VmHWM).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
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
  const broker = await startCli(
    ['--data-dir', dataDir, ...listenerFlags({ amqp: port }), '--log-level', 'warn', ...args.slice(1)],
    { lifetimeMs: 2 * phaseMsMax },
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
    await fill(ch, count);
    const fillS = (Date.now() - started) / 1000;
    const filled = (await ch.checkQueue(queue)).messageCount;
    log(
      `filled ${filled.toLocaleString('en')} × 1 KB in ${fillS.toFixed(1)} s: RSS ${sampler.sample().toFixed(0)} MiB, peak ${sampler.peakMiB.toFixed(0)} MiB`,
    );
    started = Date.now();
    const drained = await drain(ch, count);
    const drainS = (Date.now() - started) / 1000;
    log(
      `drained ${drained.toLocaleString('en')} in ${drainS.toFixed(1)} s: RSS ${sampler.sample().toFixed(0)} MiB, peak ${sampler.peakMiB.toFixed(0)} MiB`,
    );
    log(`high-water mark (VmHWM): ${statusMiB(pid, 'VmHWM').toFixed(0)} MiB`);
    await conn.close();
  } finally {
    sampler.stop();
    await broker.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
