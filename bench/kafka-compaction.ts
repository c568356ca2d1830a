/**
 * `npm run bench -- kafka-compaction` (also the last part of `kafka`): a bounded compaction run.
 * `recordsTotal` records of `recordBytes` over `keysTotal` keys go to a topic with the delete policy;
 * AlterConfigs then makes it compacted (min.cleanable.dirty.ratio 0.01), so the next check compacts all
 * of it. Measured: the time from AlterConfigs until the partition's folder stops shrinking, its size
 * before and after, the p99 latency of acks=all produce to another topic while compaction runs,
 * against the same load before it, and the rate at which a reader (a forked process) reads the
 * compacted topic from its start, before and during compaction. `switchyard start` child, file
 * storage, fsync always, 16 MiB segments.
 *
 * Both latency windows are measured alike (since 5 December, 09:45 UTC; docs/performance.md): the same
 * probe, after `warmupMs` of probes that are not counted, with the bench polling the compacted topic's
 * folder every 100 ms in both (it must do so during compaction to see it end).
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiKey, encodeRecordBatch } from '../src/protocols/kafka/codec/index.js';
import { compactNowRequest } from '../testing/kafka-wire.js';
import { listenerFlags, type RunningCli, startCli } from '../testing/server-cli.js';
import { sleep } from '../testing/wait.js';
import { compactionRunNs, ProbeTrace, traceLine } from './compaction-trace.js';
import { Conn, percentile, readBack } from './kafka.js';
import { cpuMs } from './stats.js';

/** The broker's log level; `BENCH_LOG_LEVEL=debug` shows what the broker did around a failed read. */
const logLevel = process.env['BENCH_LOG_LEVEL'] ?? 'warn';

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

const recordsTotal = 1_000_000;
const keysTotal = 10_000;
const recordBytes = 100;
const recordsPerBatch = 100;
const windowRequests = 32;
const segmentBytesMax = 16 * 1024 * 1024;
/** The folder is taken as compacted once its size has not changed for this long. */
const stableMs = 3000;
const compactionMsMax = 300_000;
/**
 * How long the broker child may live: two fills, two compactions and their reads. The harness's default
 * (60 s) is shorter than a run on a loaded machine and SIGKILLs the broker mid-run, which a reader then
 * sees as a reset connection and refused reconnects.
 */
const brokerLifetimeMs = 2 * compactionMsMax + 300_000;
/** Produce load measured before and during compaction: one request in flight, like a latency probe. */
const probeMs = 4000;
/**
 * The window before compaction (`COMPACTION_BENCH_BEFORE_MS`; default `probeMs`, the method before
 * 5 December 2026, 19:45 UTC). Its p99 is the ratio's denominator; at 1,000 probes it is the 10th
 * slowest, whose rank a 95 % interval puts anywhere from the 4th to the 16th, so a handful of slow
 * fdatasyncs decides it (docs/performance.md, "Kafka compaction", "5 December, late evening"). A longer
 * window narrows that; the ratio to its last `probeMs` alone, the old method's window, is printed
 * beside it.
 */
const beforeMs = Number(process.env['COMPACTION_BENCH_BEFORE_MS'] ?? probeMs);
if (!(beforeMs >= probeMs)) throw new Error(`COMPACTION_BENCH_BEFORE_MS must be at least ${probeMs}`);
/**
 * Probes sent and not counted before the window before compaction: the probe topic's first requests
 * (its segment created, its files opened) and the fills' tail are no part of what compaction changes.
 */
const warmupMs = 1000;
/**
 * `COMPACTION_BENCH_SYNC_MOMENTS=false` starts the broker with `--storage-sync-moments false`: compaction's
 * file-system calls and freeing steps run when reached, not beside producers' fdatasyncs (the measure of
 * what the moments change on the file system under `os.tmpdir()`; docs/performance.md, "Kafka compaction").
 */
const syncMoments = process.env['COMPACTION_BENCH_SYNC_MOMENTS'] ?? 'true';
if (syncMoments !== 'true' && syncMoments !== 'false')
  throw new Error('COMPACTION_BENCH_SYNC_MOMENTS must be true or false');
/**
 * `COMPACTION_BENCH_READS=false` leaves out the second topic (its fill, and its compaction under a
 * reader): a run then measures produce latency alone, in half the time.
 */
const withReads = process.env['COMPACTION_BENCH_READS'] !== 'false';
/** How often the bench reads the compacted topic's folder, in both windows alike. */
const pollMs = 100;
/**
 * `COMPACTION_BENCH_NULL=1`: the same run with compaction never triggered (no AlterConfigs, no reads
 * phase); the window "during" is then `COMPACTION_BENCH_NULL_MS` of the same probes and polling (default
 * 9 s, about a compaction's window on this machine: its 5–9 s and the 3 s it must stay unchanged). What
 * share of such runs exceed 2× is the machine's floor under "every run".
 */
const nullRun = process.env['COMPACTION_BENCH_NULL'] === '1';
const nullMs = Number(process.env['COMPACTION_BENCH_NULL_MS'] ?? 9000);
/** `COMPACTION_BENCH_BROKER_FLAGS`: more `switchyard start` flags, split on spaces (e.g. a smaller `--open-files-max`). */
const brokerFlags = (process.env['COMPACTION_BENCH_BROKER_FLAGS'] ?? '').split(' ').filter((f) => f !== '');
/** `COMPACTION_BENCH_TRACE=1`: what each probe overlapped (bench/compaction-trace.ts). */
const tracing = process.env['COMPACTION_BENCH_TRACE'] === '1';

const value = new Uint8Array(recordBytes).fill(120);
const encoder = new TextEncoder();

/** A 32-bit integer hash (murmur3's finaliser): record `g`'s key, spread over every key. */
function mix(g: number): number {
  let x = Math.imul(g, 0x9e3779b1);
  x ^= x >>> 15;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/**
 * The `n`th batch: records of pseudo-random keys (a fixed sequence), so a key's updates are spread
 * over many batches and compaction both drops whole batches and rewrites partial ones.
 */
function keyedBatch(n: number): Uint8Array {
  return encodeRecordBatch({
    baseTimestamp: BigInt(Date.now()),
    records: Array.from({ length: recordsPerBatch }, (_, i) => {
      const key = mix(n * recordsPerBatch + i) % keysTotal;
      return { key: encoder.encode(`key-${key}`), value };
    }),
  });
}

function produceRequest(topic: string, records: Uint8Array) {
  return {
    acks: -1,
    timeoutMs: 30_000,
    topicData: [{ name: topic, partitionData: [{ index: 0, records }] }],
  };
}

async function fill(conn: Conn, topic: string): Promise<number> {
  let sent = 0;
  const started = performance.now();
  const lane = async (): Promise<void> => {
    while (sent < recordsTotal / recordsPerBatch) {
      await conn.request(ApiKey.Produce, 7, produceRequest(topic, keyedBatch(sent++)));
    }
  };
  await Promise.all(Array.from({ length: windowRequests }, lane));
  return recordsTotal / ((performance.now() - started) / 1000);
}

/** Produce latencies (ms, sorted) to `topic` for `ms`, or until `stop` says so. */
async function probe(
  conn: Conn,
  topic: string,
  stop: () => boolean = () => false,
  ms = probeMs,
  starts?: Array<{ at: number; ms: number }>,
  trace?: ProbeTrace,
): Promise<number[]> {
  const batch = keyedBatch(0);
  const latencies: number[] = [];
  const end = Date.now() + ms;
  while (Date.now() < end && !stop()) {
    const mark = trace?.mark();
    const t0 = performance.now();
    await conn.request(ApiKey.Produce, 7, produceRequest(topic, batch));
    const took = performance.now() - t0;
    latencies.push(took);
    if (mark !== undefined) trace?.record(took, mark);
    starts?.push({ at: t0, ms: took });
  }
  return latencies.sort((a, b) => a - b);
}

function folderBytes(dir: string): number {
  let total = 0;
  // A swap may remove a file between the listing and its stat: it no longer counts.
  for (const name of readdirSync(dir))
    total += statSync(join(dir, name), { throwIfNoEntry: false })?.size ?? 0;
  return total;
}

/** Waits until the folder has shrunk and then stopped changing; returns when it last changed. */
async function waitStable(dir: string, since: number): Promise<number> {
  const first = folderBytes(dir);
  let last = first;
  let changedAt = since;
  const settled = () => last < first && Date.now() - changedAt >= stableMs;
  while (!settled() && Date.now() - since < compactionMsMax) {
    await sleep(pollMs);
    const now = folderBytes(dir);
    if (now !== last) changedAt = Date.now();
    last = now;
  }
  return changedAt;
}

interface Compacted {
  readonly seconds: number;
  readonly before: number;
  readonly after: number;
}

/** Makes `topic` compacted and waits until its folder stops shrinking, running `beside` meanwhile. */
async function compact(
  conn: Conn,
  dataDir: string,
  topic: string,
  beside: (done: () => boolean) => Promise<void>,
): Promise<Compacted> {
  const folder = topicFolder(dataDir, topic);
  const before = folderBytes(folder);
  const started = Date.now();
  await conn.request(ApiKey.AlterConfigs, 0, compactNowRequest(topic));
  let done = false;
  const stable = waitStable(folder, started).then((at) => {
    done = true;
    return at;
  });
  await beside(() => done);
  const finishedAt = await stable;
  return { seconds: (finishedAt - started) / 1000, before, after: folderBytes(folder) };
}

/** Probes for `ms` while the bench reads `topic`'s folder every `pollMs`, as `waitStable` does. */
async function probePolling(
  conn: Conn,
  dataDir: string,
  topic: string,
  ms: number,
  starts?: Array<{ at: number; ms: number }>,
  trace?: ProbeTrace,
): Promise<number[]> {
  const folder = topicFolder(dataDir, topic);
  let done = false;
  const polling = (async () => {
    while (!done) {
      folderBytes(folder);
      await sleep(pollMs);
    }
  })();
  const latencies = await probe(conn, 'probe', undefined, ms, starts, trace);
  done = true;
  await polling;
  return latencies;
}

/** The window before compaction, measured as the one during it (`probePolling`). */
async function probeBefore(
  conn: Conn,
  dataDir: string,
  topic: string,
  trace?: ProbeTrace,
): Promise<{ all: number[]; last: number[] }> {
  await probe(conn, 'probe', undefined, warmupMs);
  const starts: Array<{ at: number; ms: number }> = [];
  const all = await probePolling(conn, dataDir, topic, beforeMs, starts, trace);
  const from = (starts.at(-1)?.at ?? 0) - probeMs;
  const last = starts.filter((s) => s.at >= from).map((s) => s.ms);
  return { all, last: last.sort((a, b) => a - b) };
}

function topicFolder(dataDir: string, topic: string): string {
  const logs = join(dataDir, 'logs');
  return join(logs, readdirSync(logs).find((n) => n.includes(topic))!);
}

/**
 * How many probes decide the ratio: each window's count, how many lie above twice the p99 before, and
 * with a longer window before, the ratio to its last `probeMs` alone (the old method).
 */
function tailLine(quiet: number[], last: number[], during: number[]): string {
  const p99 = percentile(quiet, 0.99);
  const above = (xs: number[]) => xs.filter((x) => x > 2 * p99).length;
  const old =
    beforeMs > probeMs
      ? `; last ${probeMs / 1000} s before: ${last.length} probes, p99 ${percentile(last, 0.99).toFixed(2)} ms, ratio ${(percentile(during, 0.99) / percentile(last, 0.99)).toFixed(2)}×`
      : '';
  return `tail: before ${quiet.length} probes (${beforeMs / 1000} s), ${above(quiet)} above 2× its p99; during ${during.length}, ${above(during)} above 2× the p99 before (${(during.length / 100).toFixed(0)} decide its p99)${old}\n`;
}

const mbps = (r: { bytes: number; seconds: number }) => r.bytes / 1e6 / r.seconds;

interface LatencyPhase {
  readonly quiet: number[];
  readonly last: number[];
  readonly during: number[];
  readonly run: Compacted | undefined;
  /** The broker's CPU ms over the window during: its event loop, all its threads, the compaction thread. */
  readonly cpu: { readonly loop: number; readonly all: number; readonly compaction: number };
  readonly loadAtStart: number;
  readonly traces: { readonly before: ProbeTrace; readonly during: ProbeTrace } | undefined;
}

/** The probe alone before, then alone while `compacted` is compacted (or, in a null run, not). */
async function latencyPhase(conn: Conn, dataDir: string, pid: number): Promise<LatencyPhase> {
  const traces = tracing ? { before: new ProbeTrace(pid), during: new ProbeTrace(pid) } : undefined;
  const loadAtStart = loadavg()[0]!;
  const before = await probeBefore(conn, dataDir, 'compacted', traces?.before);
  const during: number[] = [];
  const cpuBefore = { loop: cpuMs(pid, pid), all: cpuMs(pid), compaction: compactionRunNs(pid) / 1e6 };
  let run: Compacted | undefined;
  if (nullRun) {
    during.push(...(await probePolling(conn, dataDir, 'compacted', nullMs, undefined, traces?.during)));
  } else {
    run = await compact(conn, dataDir, 'compacted', async (done) => {
      while (!done()) during.push(...(await probe(conn, 'probe', done, probeMs, undefined, traces?.during)));
    });
  }
  const cpu = {
    loop: cpuMs(pid, pid) - cpuBefore.loop,
    all: cpuMs(pid) - cpuBefore.all,
    compaction: compactionRunNs(pid) / 1e6 - cpuBefore.compaction,
  };
  during.sort((a, b) => a - b);
  return { quiet: before.all, last: before.last, during, run, cpu, loadAtStart, traces };
}

interface ReadPhase {
  readonly quiet: number;
  readonly reads: number[];
  readonly seconds: number;
}

/** `readable` read whole from its start before, then again and again while it is compacted. */
async function readPhase(
  cli: Awaited<ReturnType<typeof startCli>>,
  conn: Conn,
  dataDir: string,
): Promise<ReadPhase> {
  const port = cli.ports.kafka!;
  const quiet = mbps(await readBack(port, 'readable', 1));
  const reads: number[] = [];
  const failures: string[] = [];
  const second = await compact(conn, dataDir, 'readable', async (done) => {
    while (!done()) {
      // A broker that is gone answers nothing more: reading on would only repeat the failure.
      const gone = cli.exitStatus();
      if (gone !== undefined) throw new Error(`the broker exited during the reads: ${JSON.stringify(gone)}`);
      try {
        const r = await readBack(port, 'readable', 1);
        if (!done()) reads.push(mbps(r));
      } catch (err) {
        failures.push(String(err));
      }
    }
  });
  if (failures.length > 0)
    process.stdout.write(
      `reads that failed during compaction: ${failures.join('; ')}\nbroker output: ${cli.stdout().slice(-3000)} ${cli.stderr().slice(-3000)}\n`,
    );
  return { quiet, reads: reads.sort((a, b) => a - b), seconds: second.seconds };
}

function report(produced: number, l: LatencyPhase, r: ReadPhase | undefined): string {
  const { quiet, during, run, cpu } = l;
  const p99 = percentile(quiet, 0.99);
  const head =
    `compaction${nullRun ? ' (null run: not triggered, window during ' + nullMs / 1000 + ' s)' : ''}: ${fmt(recordsTotal)} records of ${recordBytes} B over ${fmt(keysTotal)} keys, produced at ${fmt(produced)} rec/s; data in ${tmpdir()}, sync moments ${syncMoments}\n` +
    '| load | compaction s | disk before MB | disk after MB | produce p50 / p99 ms before | produce p50 / p99 ms during | p99 during / before | probes during | read MB/s before | read MB/s during (median of n) | compaction s while read | broker CPU s while compacting: event loop / all threads / compaction thread |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n';
  const reads =
    r === undefined
      ? '— | — | —'
      : `${r.quiet.toFixed(0)} | ${percentile(r.reads, 0.5).toFixed(0)} (${r.reads.length}) | ${r.seconds.toFixed(1)}`;
  const row =
    `| ${l.loadAtStart.toFixed(2)}–${loadavg()[0]!.toFixed(2)} | ${run?.seconds.toFixed(1) ?? 'null'} | ${run === undefined ? '—' : (run.before / 1e6).toFixed(1)} | ${run === undefined ? '—' : (run.after / 1e6).toFixed(1)} | ` +
    `${percentile(quiet, 0.5).toFixed(2)} / ${p99.toFixed(2)} | ` +
    `${percentile(during, 0.5).toFixed(2)} / ${percentile(during, 0.99).toFixed(2)} | ` +
    `${(percentile(during, 0.99) / p99).toFixed(2)}× | ${during.length} | ${reads} | ` +
    `${(cpu.loop / 1000).toFixed(2)} / ${(cpu.all / 1000).toFixed(2)} / ${(cpu.compaction / 1000).toFixed(2)} |\n`;
  const traced =
    l.traces === undefined
      ? ''
      : traceLine('before', l.traces.before.probes, 2 * p99) +
        traceLine('during', l.traces.during.probes, 2 * p99);
  return head + row + tailLine(quiet, l.last, during) + traced;
}

export async function runKafkaCompactionBench(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-compaction-bench-'));
  const flags = ['--storage', 'file', '--data-dir', dataDir, '--fsync', 'always'];
  flags.push('--storage-sync-moments', syncMoments);
  const cli = await startCli(
    [
      ...flags,
      '--segment-bytes-max',
      String(segmentBytesMax),
      '--log-level',
      logLevel,
      ...listenerFlags({ kafka: 'auto' }),
      ...brokerFlags,
    ],
    { lifetimeMs: brokerLifetimeMs },
  );
  try {
    const conn = await Conn.open(cli.ports.kafka!);
    for (const name of ['compacted', 'readable', 'probe']) {
      await conn.request(ApiKey.CreateTopics, 4, {
        topics: [{ name, numPartitions: 1, replicationFactor: 1 }],
        timeoutMs: 5000,
      });
    }
    const produced = await fill(conn, 'compacted');
    if (withReads) await fill(conn, 'readable');
    const latency = await latencyPhase(conn, dataDir, cli.pid);
    const reads = nullRun || !withReads ? undefined : await readPhase(cli, conn, dataDir);
    conn.socket.destroy();
    process.stdout.write(report(produced, latency, reads));
  } finally {
    await cli.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
