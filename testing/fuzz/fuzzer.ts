/**
 * One fuzzing run against one listener: a `switchyard start` child (memory storage) and the fuzzed
 * protocol's listener, cases in batches played by a few concurrent connections, and after each batch
 * the checks — the process is alive, its log holds no escaped error and nothing at error level, its
 * RSS is under the bound, and the real client library still does a full round trip. A failed batch is
 * replayed case by case against a fresh broker to name the case that breaks it.
 */
import { readFileSync } from 'node:fs';
import { listenerFlags, type RunningCli, startCli } from '../server-cli.js';
import { BrokerLog } from './broker-log.js';
import { checkRoundTrip } from './checks.js';
import { loadCorpus, type Session } from './corpus.js';
import { dialects, type Protocol } from './dialects/index.js';
import { fuzzJwtKeys } from './jwt.js';
import { type Case, makeCase } from './mutate.js';
import { ConnectRefused, runCase } from './target.js';

export interface FuzzOptions {
  readonly protocol: Protocol;
  readonly seed: number;
  /** Cases `first` … `first + cases - 1`. */
  readonly cases: number;
  readonly first?: number;
  readonly batchCases: number;
  readonly concurrency: number;
  /** No new batch starts after this long (the run then reports fewer cases). */
  readonly timeMsMax?: number;
  readonly rssBytesMax: number;
  readonly closeWaitMs?: number;
  /** On a failed batch, replay its cases one by one to find the one that fails (bounded in time). */
  readonly isolate?: boolean;
  /** After a failure, start a fresh broker and go on (long runs collect every fault). */
  readonly continueAfterFailure?: boolean;
  readonly progress?: (line: string) => void;
}

export interface Failure {
  readonly seed: number;
  /** The batch in which the checks failed: cases [from, to). */
  readonly from: number;
  readonly to: number;
  /** The case that fails alone, when isolation found it, and how it failed then. */
  readonly caseIndex?: number;
  readonly aloneReason?: string;
  readonly steps?: readonly string[];
  readonly reason: string;
}

export interface FuzzReport {
  readonly protocol: Protocol;
  readonly seed: number;
  casesRun: number;
  durationMs: number;
  rssMaxBytes: number;
  /** CPU time the broker processes used (user + system). */
  brokerCpuMs: number;
  /** Cases the broker answered, closed itself, or still held `closeWaitMs` after the client ended. */
  answered: number;
  closedByBroker: number;
  lingered: number;
  /** Cases whose connection the broker did not accept (not played). */
  refused: number;
  roundTrips: number;
  readonly failures: Failure[];
  readonly warnings: Map<string, { count: number; samples: string[] }>;
}

const listenerOf: Record<Protocol, 'amqp' | 'mqtt' | 'mqtt-ws' | 'kafka' | 'http' | 'grpc' | 'rest'> = {
  amqp: 'amqp',
  mqtt: 'mqtt',
  'mqtt-ws': 'mqtt-ws',
  kafka: 'kafka',
  http: 'http',
  'kubemq-grpc': 'grpc',
  'kubemq-rest': 'rest',
};

const mqttQueuedMessagesMax = 1000;

interface Target {
  readonly cli: RunningCli;
  readonly log: BrokerLog;
  readonly port: number;
}

async function startTarget(protocol: Protocol): Promise<Target> {
  const log = new BrokerLog();
  const cli = await startCli(
    [
      '--storage',
      'memory',
      '--log-level',
      'warn',
      // Replayed sessions publish to their own persistent subscriptions (storms too): with the default
      // 100,000 a session keeps that many messages, memory that only the alarm bounds. Kept small here
      // so the RSS bound catches growth that no limit bounds.
      '--mqtt-queued-messages-max',
      String(mqttQueuedMessagesMax),
      // The recorded KubeMQ sessions log in with a bearer token too (testing/fuzz/jwt.ts).
      ...(protocol.startsWith('kubemq') ? ['--jwt-keys', fuzzJwtKeys()] : []),
      ...listenerFlags({ [listenerOf[protocol]]: 'auto' }),
    ],
    // A machine shared with other work may take long to start a process: the ready line gets 2 minutes.
    {
      lifetimeMs: 2 ** 31 - 1,
      timeoutMs: 120_000,
      outputCharsMax: 200_000,
      onStderr: (chunk) => log.push(chunk),
    },
  );
  const port = cli.ports[listenerOf[protocol]];
  if (port === undefined) throw new Error(`no ${protocol} port in "${cli.readyLine}"`);
  return { cli, log, port };
}

/** Stops the broker; returns the CPU time it used, as far as /proc tells. */
async function stopTarget(target: Target): Promise<number> {
  if (target.cli.exitStatus() !== undefined) return 0;
  const cpuMs = cpuMsOf(target.cli.pid);
  await target.cli.stop('SIGKILL').catch(() => {});
  return cpuMs;
}

function cpuMsOf(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return 0;
  }
}

export function rssBytes(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /VmRSS:\s+(\d+)/.exec(status)?.[1];
    return kb === undefined ? 0 : Number(kb) * 1024;
  } catch {
    return 0;
  }
}

/** The checks after a batch; returns what failed, or undefined. */
async function check(
  target: Target,
  options: FuzzOptions,
  report: FuzzReport,
  roundTrip: boolean,
): Promise<string | undefined> {
  const exit = target.cli.exitStatus();
  if (exit !== undefined) return `the broker exited (code ${exit.code}, signal ${exit.signal})`;
  if (roundTrip) {
    try {
      await checkRoundTrip(options.protocol, target.cli.ports, report.roundTrips++);
    } catch (err) {
      const after = target.cli.exitStatus();
      if (after !== undefined) return `the broker exited (code ${after.code}, signal ${after.signal})`;
      return `a fresh client's round trip failed: ${err instanceof Error ? err.message : String(err)}`;
    }
  }
  const fault = target.log.faults[0];
  if (fault !== undefined) return `the broker logged ${fault.brief}`;
  const rss = rssBytes(target.cli.pid);
  report.rssMaxBytes = Math.max(report.rssMaxBytes, rss);
  if (rss > options.rssBytesMax)
    return `broker RSS ${Math.round(rss / 2 ** 20)} MiB is over ${Math.round(options.rssBytesMax / 2 ** 20)} MiB`;
  return undefined;
}

async function play(
  target: Target,
  corpus: readonly Session[],
  options: FuzzOptions,
  report: FuzzReport,
  from: number,
  to: number,
  concurrency: number,
): Promise<void> {
  let next = from;
  const dialect = dialects[options.protocol];
  const worker = async () => {
    while (next < to && target.cli.exitStatus() === undefined) {
      const c: Case = makeCase(dialect, corpus, options.seed, next++);
      try {
        const outcome = await runCase(target.port, c, options.closeWaitMs ?? 2000);
        report.casesRun++;
        if (outcome.answeredBytes > 0) report.answered++;
        if (outcome.closedByBroker) report.closedByBroker++;
        if (outcome.lingered) report.lingered++;
      } catch (err) {
        if (!(err instanceof ConnectRefused)) throw err;
        // Counted; a broker that went down ends the loop and the check after the batch says why.
        report.refused++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

/** Replays cases [from, to) one at a time on a fresh broker; the first after which a check fails. */
async function isolate(
  corpus: readonly Session[],
  options: FuzzOptions,
  from: number,
  to: number,
  roundTripEach: boolean,
): Promise<{ caseIndex: number; reason: string } | undefined> {
  const deadline = Date.now() + 120_000;
  const scratch = newReport(options);
  const target = await startTarget(options.protocol);
  try {
    for (let i = from; i < to && Date.now() < deadline; i++) {
      await play(target, corpus, options, scratch, i, i + 1, 1);
      const reason = await check(target, options, scratch, roundTripEach || i === to - 1);
      if (reason !== undefined) return { caseIndex: i, reason };
    }
    return undefined;
  } finally {
    await stopTarget(target);
  }
}

function newReport(options: FuzzOptions): FuzzReport {
  return {
    protocol: options.protocol,
    seed: options.seed,
    casesRun: 0,
    durationMs: 0,
    rssMaxBytes: 0,
    brokerCpuMs: 0,
    answered: 0,
    closedByBroker: 0,
    lingered: 0,
    refused: 0,
    roundTrips: 0,
    failures: [],
    warnings: new Map(),
  };
}

function mergeWarnings(into: FuzzReport, log: BrokerLog): void {
  for (const [message, seen] of log.warnings) {
    const have = into.warnings.get(message) ?? { count: 0, samples: [] };
    have.count += seen.count;
    for (const s of seen.samples)
      if (have.samples.length < 3 && !have.samples.includes(s)) have.samples.push(s);
    into.warnings.set(message, have);
  }
}

/** Long runs isolate the first few failures only; later ones are recorded by batch. */
const isolationsMax = 5;

async function recordFailure(
  corpus: readonly Session[],
  options: FuzzOptions,
  report: FuzzReport,
  from: number,
  to: number,
  reason: string,
): Promise<void> {
  options.progress?.(`FAILURE seed ${options.seed} cases ${from}-${to - 1}: ${reason}`);
  const isolating = options.isolate !== false && report.failures.length < isolationsMax;
  const found = isolating
    ? await isolate(corpus, options, from, to, reason.includes('round trip')).catch((err: unknown) => {
        options.progress?.(`  isolation failed: ${String(err).slice(0, 500)}`);
        return undefined;
      })
    : undefined;
  const steps =
    found === undefined
      ? undefined
      : makeCase(dialects[options.protocol], corpus, options.seed, found.caseIndex).steps;
  report.failures.push({
    seed: options.seed,
    from,
    to,
    reason,
    ...(found === undefined ? {} : { caseIndex: found.caseIndex, aloneReason: found.reason }),
    ...(steps === undefined ? {} : { steps }),
  });
  if (found !== undefined) options.progress?.(`  case ${found.caseIndex} fails alone: ${found.reason}`);
  else if (isolating) options.progress?.('  no single case fails alone');
}

export async function fuzz(options: FuzzOptions): Promise<FuzzReport> {
  const corpus = loadCorpus(options.protocol);
  const report = newReport(options);
  const started = Date.now();
  const first = options.first ?? 0;
  const end = first + options.cases;
  let target = await startTarget(options.protocol);
  // The time bound counts from a serving broker (its start-up is slow on a loaded machine), and the
  // first batch always runs.
  const playing = Date.now();
  const logs = [target.log];
  let lastProgress = started;
  try {
    for (let from = first; from < end; from += options.batchCases) {
      const late = options.timeMsMax !== undefined && Date.now() - playing > options.timeMsMax;
      if (from > first && late) break;
      const to = Math.min(end, from + options.batchCases);
      await play(target, corpus, options, report, from, to, options.concurrency);
      const reason = await check(target, options, report, true);
      if (reason !== undefined) {
        report.brokerCpuMs += await stopTarget(target);
        await recordFailure(corpus, options, report, from, to, reason);
        if (options.continueAfterFailure !== true) break;
        target = await startTarget(options.protocol);
        logs.push(target.log);
      }
      if (Date.now() - lastProgress > 30_000) {
        lastProgress = Date.now();
        const rate = Math.round(report.casesRun / ((Date.now() - started) / 1000));
        options.progress?.(
          `${options.protocol}: ${report.casesRun} cases (${rate}/s), RSS max ${Math.round(report.rssMaxBytes / 2 ** 20)} MiB, ${report.failures.length} failures`,
        );
      }
    }
  } finally {
    for (const log of logs) mergeWarnings(report, log);
    report.brokerCpuMs += await stopTarget(target);
    report.durationMs = Date.now() - started;
  }
  return report;
}
