/**
 * `npm run bench -- kcat [runs] [mock]`: kcat (librdkafka) produces KCAT_RECORDS (default 2,000,000) ×
 * 256 B with acks=all and linger.ms=5 to one partition of a file-storage broker, then reads them back
 * with `kcat -C -e`; each run prints records/s both ways, and several runs print the medians. KCAT_BROKER
 * (host:port) runs against a broker started elsewhere (e.g. under `node --cpu-prof`) instead of a child.
 * With `mock`, each pass is followed by the same produce to librdkafka's mock cluster inside kcat (no
 * broker, no disk): kcat's own CPU per record in the same minutes, to tell its spread from the broker's.
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
/** GNU time: a child's getrusage, page faults included; without it the bench falls back to bash's `times`. */
const gnuTime = '/usr/bin/time';
const usageMark = 'kcat-usage';

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
  /**
   * kcat's minor page faults per 1,000 records produced (undefined without GNU time): its CPU per record
   * follows them, as glibc hands freed heap back to the kernel and touches it again.
   */
  readonly kcatFaultsPerThousand: number | undefined;
  /** The same produce to librdkafka's mock cluster just after (`mock`): kcat alone, no broker. */
  readonly mock?: { readonly kcatUsPerRecord: number; readonly kcatFaultsPerThousand: number | undefined };
}

interface Usage {
  readonly seconds: number;
  readonly cpuSeconds: number;
  readonly minorFaults: number | undefined;
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
 * Runs kcat with `args`: its wall time, CPU (user + system) in seconds and minor page faults, from GNU
 * time's getrusage of the child (Node has no getrusage of children), or else from bash's `times`.
 */
async function timed(args: readonly string[]): Promise<Usage> {
  const started = performance.now();
  const withTime = existsSync(gnuTime);
  const [command, argv] = withTime
    ? [gnuTime, ['-f', `${usageMark} %U %S %R`, 'kcat', ...args]]
    : ['bash', ['-c', 'kcat "$@" && times >&2', 'kcat', ...args]];
  const { stderr } = await run(command, argv, { timeout: kcatTimeoutMs, maxBuffer: 1 << 20 });
  const seconds = (performance.now() - started) / 1000;
  const last = stderr.trim().split('\n').at(-1) ?? '';
  return { seconds, ...(withTime ? gnuUsage(last) : bashUsage(last)) };
}

/** GNU time's line: "kcat-usage <user s> <system s> <minor faults>". */
function gnuUsage(line: string): Omit<Usage, 'seconds'> {
  const [mark, user, system, faults] = line.split(' ');
  if (mark !== usageMark) throw new Error(`kcat's usage not found in "${line}"`);
  return { cpuSeconds: Number(user) + Number(system), minorFaults: Number(faults) };
}

/** `times` prints the shell's user and system time, then its children's: "0m1.980s 0m1.260s". */
function bashUsage(line: string): Omit<Usage, 'seconds'> {
  const cpuSeconds = [...line.matchAll(/(\d+)m([\d.]+)s/g)].reduce(
    (sum, [, m, s]) => sum + Number(m) * 60 + Number(s),
    0,
  );
  return { cpuSeconds, minorFaults: undefined };
}

const perRecordUs = (usage: Usage) => (usage.cpuSeconds * 1e6) / kcatRecords;
const perThousand = (usage: Usage) =>
  usage.minorFaults === undefined ? undefined : (usage.minorFaults * 1000) / kcatRecords;
const produceSettings = ['-p', '0', '-X', 'acks=all', '-X', 'linger.ms=5'];

/**
 * The same produce to librdkafka's mock cluster (`test.mock.num.brokers`, a broker inside kcat's own
 * process that keeps records in memory): what kcat costs per record with no broker and no disk behind it.
 * The figure includes the mock broker's own thread (0.14–0.21 µs per record here).
 */
async function mockPass(topic: string, input: string): Promise<NonNullable<KcatResult['mock']>> {
  const usage = await timed([
    ...['-P', '-b', '127.0.0.1:1', '-X', 'test.mock.num.brokers=1', '-t', topic],
    ...['-X', 'topic.metadata.refresh.interval.ms=-1', ...produceSettings, '-l', input],
  ]);
  return { kcatUsPerRecord: perRecordUs(usage), kcatFaultsPerThousand: perThousand(usage) };
}

/**
 * Produces the file to `topic` on `broker`, then reads the records back: records/s both ways, and the
 * CPU the broker (process `pid`, when known) spent per record produced.
 */
async function kcatPass(broker: string, topic: string, input: string, pid?: number): Promise<KcatResult> {
  const common = ['-b', broker, '-t', topic, '-X', 'topic.metadata.refresh.interval.ms=-1'];
  const cpuBefore = pid === undefined ? 0 : cpuMs(pid);
  const produce = await timed(['-P', ...common, ...produceSettings, '-l', input]);
  const cpuUsPerRecord = pid === undefined ? undefined : ((cpuMs(pid) - cpuBefore) * 1000) / kcatRecords;
  const read = await timed([
    ...['-C', ...common, '-p', '0', '-o', 'beginning', '-e', '-q', '-c', String(kcatRecords), '-f', ''],
  ]);
  return {
    produced: kcatRecords / produce.seconds,
    read: kcatRecords / read.seconds,
    cpuUsPerRecord,
    kcatUsPerRecord: perRecordUs(produce),
    kcatFaultsPerThousand: perThousand(produce),
  };
}

/**
 * `runs` kcat passes against one file-storage broker (fsync as configured by default), each to a
 * topic of its own; undefined when kcat is not installed.
 */
export async function kcatRuns(runs = 1, mock = false): Promise<KcatResult[] | undefined> {
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
      const pass = await kcatPass(broker, `bench-kcat-${Date.now()}-${i}`, input, cli?.pid);
      results.push(mock ? { ...pass, mock: await mockPass(`bench-kcat-mock-${i}`, input) } : pass);
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

const us = (v: number | undefined) => (v === undefined ? '—' : v.toFixed(2));
const count = (v: number | undefined) => (v === undefined ? '—' : v.toFixed(1));

function medianOf(values: ReadonlyArray<number | undefined>): number | undefined {
  const known = values.filter((v): v is number => v !== undefined);
  return known.length === 0 ? undefined : median(known);
}

/** One table row: a run's figures, or the medians (`name` 'median'). */
function row(name: string, rs: readonly KcatResult[], withMock: boolean): string {
  const m = (pick: (r: KcatResult) => number | undefined) => medianOf(rs.map(pick));
  const cells = [
    name,
    fmt(m((r) => r.produced) ?? 0),
    fmt(m((r) => r.read) ?? 0),
    us(m((r) => r.cpuUsPerRecord)),
    us(m((r) => r.kcatUsPerRecord)),
    count(m((r) => r.kcatFaultsPerThousand)),
  ];
  if (withMock) {
    cells.push(us(m((r) => r.mock?.kcatUsPerRecord)), count(m((r) => r.mock?.kcatFaultsPerThousand)));
  }
  return `| ${cells.join(' | ')} |`;
}

export async function runKcatBench(args: readonly string[]): Promise<void> {
  const runs = Math.max(1, Number(args[0] ?? 3));
  const withMock = args[1] === 'mock';
  const results = await kcatRuns(runs, withMock);
  if (results === undefined) return;
  const label = `${fmt(kcatRecords)} × ${kcatRecordBytes} B, acks=all, linger.ms=5, 1 partition`;
  const head = [
    'run',
    'produced rec/s',
    'read rec/s',
    'broker CPU µs per record produced',
    'kcat CPU µs per record produced',
    'kcat minor faults per 1,000 records',
  ];
  if (withMock) head.push('kcat CPU µs per record, mock cluster', 'its minor faults per 1,000 records');
  const lines = [
    `kcat, ${label}`,
    '',
    `| ${head.join(' | ')} |`,
    `|${' ---: |'.repeat(head.length)}`,
    ...results.map((r, i) => row(String(i + 1), [r], withMock)),
    row('median', results, withMock),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}
