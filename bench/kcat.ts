/**
 * `npm run bench -- kcat [runs]`: kcat (librdkafka) produces KCAT_RECORDS (default 2,000,000) × 256 B
 * with acks=all and linger.ms=5 to one partition of a file-storage broker, then reads them back with
 * `kcat -C -e`; each run prints records/s both ways, and several runs print the medians. KCAT_BROKER
 * (host:port) runs against a broker started elsewhere (e.g. under `node --cpu-prof`) instead of a child.
 */
import { execFile } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { listenerFlags, startCli } from '../testing/server-cli.js';
import { cpuMs } from './stats.js';

const run = promisify(execFile);

export const kcatRecords = Number(process.env['KCAT_RECORDS'] ?? 2_000_000);
export const kcatRecordBytes = 256;
/** Every kcat run ends within this bound: a stalled broker shows as a failed run, not a hung bench. */
const kcatTimeoutMs = 300_000;

export interface KcatResult {
  readonly produced: number;
  readonly read: number;
  /** Broker CPU (user + system) per record produced, in µs; undefined for a broker started elsewhere. */
  readonly cpuUsPerRecord: number | undefined;
  /**
   * kcat's own CPU per record produced, in µs: on two cores kcat has the other one, so the produce rate
   * cannot pass 1 / this however little the broker takes.
   */
  readonly kcatUsPerRecord: number;
}

/** Writes `count` lines of `bytes - 1` characters: kcat's line mode sends each as one record. */
async function recordsFile(path: string, count: number, bytes: number): Promise<void> {
  const line = `${'x'.repeat(bytes - 1)}\n`;
  const block = line.repeat(1000);
  const out = createWriteStream(path);
  for (let written = 0; written < count; written += 1000) {
    const chunk = count - written >= 1000 ? block : line.repeat(count - written);
    if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  }
  await new Promise<void>((resolve, reject) =>
    out.end((err?: Error | null) => (err ? reject(err) : resolve())),
  );
}

/**
 * Runs kcat with `args`; its wall time and CPU (user + system) in seconds. The CPU comes from bash's
 * `times`, which reports what the shell's finished children used (Node has no getrusage of children).
 */
async function timed(args: readonly string[]): Promise<{ seconds: number; cpuSeconds: number }> {
  const started = performance.now();
  const { stderr } = await run('bash', ['-c', 'kcat "$@" && times >&2', 'kcat', ...args], {
    timeout: kcatTimeoutMs,
    maxBuffer: 1 << 20,
  });
  const seconds = (performance.now() - started) / 1000;
  // `times` prints the shell's user and system time, then its children's: "0m1.980s 0m1.260s".
  const children = stderr.trim().split('\n').at(-1) ?? '';
  const cpuSeconds = [...children.matchAll(/(\d+)m([\d.]+)s/g)].reduce(
    (sum, [, m, s]) => sum + Number(m) * 60 + Number(s),
    0,
  );
  return { seconds, cpuSeconds };
}

/**
 * Produces the file to `topic` on `broker`, then reads the records back: records/s both ways, and the
 * CPU the broker (process `pid`, when known) spent per record produced.
 */
async function kcatPass(broker: string, topic: string, input: string, pid?: number): Promise<KcatResult> {
  const common = ['-b', broker, '-t', topic, '-X', 'topic.metadata.refresh.interval.ms=-1'];
  const cpuBefore = pid === undefined ? 0 : cpuMs(pid);
  const produce = await timed([
    ...['-P', ...common, '-p', '0', '-X', 'acks=all', '-X', 'linger.ms=5', '-l', input],
  ]);
  const cpuUsPerRecord = pid === undefined ? undefined : ((cpuMs(pid) - cpuBefore) * 1000) / kcatRecords;
  const read = await timed([
    ...['-C', ...common, '-p', '0', '-o', 'beginning', '-e', '-q', '-c', String(kcatRecords), '-f', ''],
  ]);
  return {
    produced: kcatRecords / produce.seconds,
    read: kcatRecords / read.seconds,
    cpuUsPerRecord,
    kcatUsPerRecord: (produce.cpuSeconds * 1e6) / kcatRecords,
  };
}

/**
 * `runs` kcat passes against one file-storage broker (fsync as configured by default), each to a
 * topic of its own; undefined when kcat is not installed.
 */
export async function kcatRuns(runs = 1): Promise<KcatResult[] | undefined> {
  if (!existsSync('/usr/bin/kcat')) {
    process.stdout.write('kcat not installed (apt-get install kcat); Kafka skipped\n');
    return undefined;
  }
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-kcat-bench-'));
  const input = join(dir, 'records.txt');
  await recordsFile(input, kcatRecords, kcatRecordBytes);
  const external = process.env['KCAT_BROKER'];
  const cli =
    external === undefined
      ? await startCli(
          [
            ...['--storage', 'file', '--data-dir', join(dir, 'data'), '--log-level', 'warn'],
            ...listenerFlags({ kafka: 'auto' }),
          ],
          { lifetimeMs: runs * (2 * kcatTimeoutMs + 60_000) },
        )
      : undefined;
  try {
    const broker = external ?? `127.0.0.1:${cli?.ports.kafka}`;
    const results: KcatResult[] = [];
    for (let i = 0; i < runs; i++) {
      results.push(await kcatPass(broker, `bench-kcat-${Date.now()}-${i}`, input, cli?.pid));
    }
    return results;
  } finally {
    await cli?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

export async function runKcatBench(args: readonly string[]): Promise<void> {
  const runs = Math.max(1, Number(args[0] ?? 3));
  const results = await kcatRuns(runs);
  if (results === undefined) return;
  const label = `${fmt(kcatRecords)} × ${kcatRecordBytes} B, acks=all, linger.ms=5, 1 partition`;
  const lines = [
    `kcat, ${label}`,
    '',
    '| run | produced rec/s | read rec/s | broker CPU µs per record produced | kcat CPU µs per record produced |',
    '| ---: | ---: | ---: | ---: | ---: |',
  ];
  const us = (v: number | undefined) => (v === undefined ? '—' : v.toFixed(2));
  results.forEach((r, i) => {
    lines.push(
      `| ${i + 1} | ${fmt(r.produced)} | ${fmt(r.read)} | ${us(r.cpuUsPerRecord)} | ${us(r.kcatUsPerRecord)} |`,
    );
  });
  const cpu = results.flatMap((r) => (r.cpuUsPerRecord === undefined ? [] : [r.cpuUsPerRecord]));
  lines.push(
    `| median | ${fmt(median(results.map((r) => r.produced)))} | ${fmt(median(results.map((r) => r.read)))} | ${us(cpu.length > 0 ? median(cpu) : undefined)} | ${us(median(results.map((r) => r.kcatUsPerRecord)))} |`,
  );
  process.stdout.write(`${lines.join('\n')}\n`);
}
