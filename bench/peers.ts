/**
 * `npm run bench -- peers`: every workload of the performance goals in one run, Switchyard beside its
 * peer where one is installed (RabbitMQ, Mosquitto from ../shared/peers), then one table of the goals,
 * met or not. Kafka's has no peer here: kcat produces 2,000,000 × 256 B with acks=all to one partition
 * and reads them back.
 */
import { execFile } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { listenerFlags, startCli } from '../testing/server-cli.js';
import { type PeerComparison, runAmqpBench } from './amqp.js';
import { runMqttBench } from './mqtt.js';

const run = promisify(execFile);

const kcatRecords = Number(process.env['KCAT_RECORDS'] ?? 2_000_000);
const kcatRecordBytes = 256;
/** Every kcat run ends within this bound: a stalled broker shows as a failed run, not a hung bench. */
const kcatTimeoutMs = 300_000;

interface Goal {
  readonly workload: string;
  /** Switchyard's rate over the peer's, at least. */
  readonly ratioMin: number;
}

/** The goals of the performance issue that a ratio against a peer states. */
const ratioGoals: readonly Goal[] = [
  { workload: 'AMQP durable', ratioMin: 2.5 },
  { workload: 'AMQP transient', ratioMin: 2.5 },
  { workload: 'MQTT QoS 0, 1 → 1', ratioMin: 1.5 },
  { workload: 'MQTT QoS 1, 1 → 1', ratioMin: 1.5 },
  { workload: 'MQTT QoS 0, 1 → 50 (deliveries/s)', ratioMin: 2 },
];

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

async function timed(file: string, args: readonly string[]): Promise<number> {
  const started = performance.now();
  await run(file, args, { timeout: kcatTimeoutMs, maxBuffer: 1 << 20 });
  return (performance.now() - started) / 1000;
}

/** kcat against a file-storage broker (fsync as configured by default): produce, then read back. */
async function kcatRun(): Promise<{ produced: number; read: number } | undefined> {
  if (!existsSync('/usr/bin/kcat')) {
    process.stdout.write('kcat not installed (apt-get install kcat); Kafka skipped\n');
    return undefined;
  }
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-peers-bench-'));
  const input = join(dir, 'records.txt');
  await recordsFile(input, kcatRecords, kcatRecordBytes);
  const cli = await startCli(
    [
      '--storage',
      'file',
      '--data-dir',
      join(dir, 'data'),
      '--log-level',
      'warn',
      ...listenerFlags({ kafka: 'auto' }),
    ],
    { lifetimeMs: 2 * kcatTimeoutMs + 60_000 },
  );
  try {
    const broker = `127.0.0.1:${cli.ports.kafka}`;
    const common = ['-b', broker, '-t', 'bench-kcat', '-X', 'topic.metadata.refresh.interval.ms=-1'];
    const produceSeconds = await timed('kcat', [
      '-P',
      ...common,
      '-p',
      '0',
      '-X',
      'acks=all',
      '-X',
      'linger.ms=5',
      '-l',
      input,
    ]);
    const readSeconds = await timed('kcat', [
      '-C',
      ...common,
      '-p',
      '0',
      '-o',
      'beginning',
      '-e',
      '-q',
      '-c',
      String(kcatRecords),
      '-f',
      '',
    ]);
    return { produced: kcatRecords / produceSeconds, read: kcatRecords / readSeconds };
  } finally {
    await cli.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

function goalRows(compared: readonly PeerComparison[]): string[] {
  return ratioGoals.map(({ workload, ratioMin }) => {
    const row = compared.find((c) => c.workload === workload);
    if (row?.peer === undefined) return `| ${workload} | ≥ ${ratioMin}× the peer | no peer in this run | — |`;
    const ratio = row.ours.rate / row.peer.rate;
    const p99 = `p99 ${row.ours.p99Ms.toFixed(1)} vs ${row.peer.p99Ms.toFixed(1)} ms`;
    return `| ${workload} | ≥ ${ratioMin}× the peer | ${fmt(row.ours.rate)} vs ${fmt(row.peer.rate)} msg/s = ${ratio.toFixed(2)}×, ${p99} | ${ratio >= ratioMin ? 'met' : 'not met'} |`;
  });
}

export async function runPeersBench(): Promise<void> {
  const compared = [...(await runAmqpBench()), ...(await runMqttBench())];
  const kcat = await kcatRun();
  const lines = [
    '',
    '## Goals in this run',
    '',
    '| workload | goal | measured | |',
    '| --- | --- | --- | --- |',
  ];
  lines.push(...goalRows(compared));
  if (kcat !== undefined) {
    const label = `${fmt(kcatRecords)} × ${kcatRecordBytes} B`;
    lines.push(
      `| Kafka, kcat, ${label}, acks=all, 1 partition | ≥ 1,000,000 rec/s produced | ${fmt(kcat.produced)} rec/s | ${kcat.produced >= 1e6 ? 'met' : 'not met'} |`,
      `| Kafka, kcat, read back | ≥ 1,000,000 rec/s | ${fmt(kcat.read)} rec/s | ${kcat.read >= 1e6 ? 'met' : 'not met'} |`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}
