/**
 * `KAFKA_TXN_BENCH_TRACE=1 npm run bench -- kafka-txn`: where a producer's period goes, as the client
 * lives it. Every request of every step (a plain batch, or a transaction) is stamped when it is written,
 * when its answer is read from the socket and when the producer's code resumes after it; the period of
 * a step runs from its start to the next step's. After each run a table gives, per kind of request, the
 * mean and p50 of the gap before it is sent, of its round trip (written → answer read) and of the
 * client's turn-around (answer read → code resumed), so the means add up to the mean period; beside
 * them the run-queue waits of both processes' threads (/proc/<pid>/task/*\/schedstat) and the client's
 * event-loop utilisation. `KAFKA_TXN_TRACE_DIR=<dir>` also writes each run's stamps there as JSON, keyed
 * by the connection's local port and correlation id, to line up with stamps taken inside a broker.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { type Conn, percentile, wallMs } from './kafka.js';
import { type ThreadTimes, threadTimesOf } from './sched-stat.js';

export const traceOn = process.env['KAFKA_TXN_BENCH_TRACE'] === '1';
const traceDir = process.env['KAFKA_TXN_TRACE_DIR'];
/** Steps kept per run: a bound on memory whatever the rate (64 lanes × 3 s at ~5,000 steps/s fit). */
const stepsMax = 200_000;

interface Stamp {
  readonly api: number;
  readonly port: number;
  readonly correlationId: number;
  readonly sentMs: number;
  readMs: number;
  resumedMs: number;
}

interface Step {
  readonly lane: number;
  readonly startMs: number;
  readonly stamps: Stamp[];
}

interface Span {
  readonly name: string;
  readonly values: number[];
}

/** Thread times of one process summed: its main thread, and every other (V8's, libuv's). */
interface ProcessTimes {
  readonly main: ThreadTimes;
  readonly others: ThreadTimes;
}

const zero: ThreadTimes = { runNs: 0, waitNs: 0, slices: 0 };

function processTimes(pid: number): ProcessTimes {
  let others = zero;
  let main = zero;
  for (const [tid, t] of threadTimesOf(pid)) {
    if (tid === pid) main = t;
    else others = { runNs: others.runNs + t.runNs, waitNs: others.waitNs + t.waitNs, slices: 0 };
  }
  return { main, others };
}

const minus = (a: ThreadTimes, b: ThreadTimes): ThreadTimes => ({
  runNs: a.runNs - b.runNs,
  waitNs: a.waitNs - b.waitNs,
  slices: a.slices - b.slices,
});

/** One run's stamps; `undefined` when tracing is off, so the bench pays nothing. */
export class RunTrace {
  readonly #steps: Step[] = [];
  readonly #open = new Map<number, Step>();
  readonly #pids: readonly number[];
  readonly #times0: ProcessTimes[];
  readonly #elu0 = performance.eventLoopUtilization();
  readonly #startMs = wallMs();
  /** Taken by `finish`, when the run's last step is done. */
  #end: { readonly ms: number; readonly elu: number; readonly times: ProcessTimes[] } | undefined;

  constructor(pids: readonly number[]) {
    this.#pids = pids;
    this.#times0 = pids.map(processTimes);
  }

  static start(pids: readonly number[]): RunTrace | undefined {
    return traceOn ? new RunTrace(pids) : undefined;
  }

  /** A lane starts a step (one batch or one transaction). */
  begin(lane: number): void {
    if (this.#steps.length >= stepsMax) {
      this.#open.delete(lane);
      return;
    }
    const step: Step = { lane, startMs: wallMs(), stamps: [] };
    this.#steps.push(step);
    this.#open.set(lane, step);
  }

  /** Sends one request of the lane's step through `conn`, stamped. */
  async request(
    lane: number,
    conn: Conn,
    apiKey: number,
    version: number,
    body: object,
  ): Promise<Uint8Array> {
    const step = this.#open.get(lane);
    conn.readAt ??= new Map();
    const correlationId = conn.correlation;
    const sentMs = wallMs();
    const frame = await conn.request(apiKey, version, body);
    const resumedMs = wallMs();
    const readMs = conn.readAt.get(correlationId) ?? resumedMs;
    conn.readAt.delete(correlationId);
    const port = conn.socket.localPort ?? -1;
    step?.stamps.push({ api: apiKey, port, correlationId, sentMs, readMs, resumedMs });
    return frame;
  }

  /** The run is over: its wall time, the client's event loop and both processes' threads are read now. */
  finish(): void {
    const elu = performance.eventLoopUtilization(this.#elu0).utilization;
    this.#end = { ms: wallMs(), elu, times: this.#pids.map(processTimes) };
  }

  /** The run's table rows, and its stamps written to `KAFKA_TXN_TRACE_DIR` when set. */
  report(label: string): string {
    if (this.#end === undefined) this.finish();
    const { ms: endMs, elu, times } = this.#end!;
    if (traceDir !== undefined)
      writeFileSync(
        join(traceDir, `client-${label}-${Math.round(this.#startMs)}.json`),
        JSON.stringify(this.#steps),
      );
    const spans = this.#spans();
    const periods = this.#periods();
    const rows = spans.map((s) => `| ${label} | ${s.name} | ${fmtSpan(s.values)} |`);
    rows.push(`| ${label} | **period** (${periods.length} steps) | ${fmtSpan(periods)} |`);
    const wallNs = (endMs - this.#startMs) * 1e6;
    const sched = times.map((t, i) => {
      const main = minus(t.main, this.#times0[i]!.main);
      const others = minus(t.others, this.#times0[i]!.others);
      const pct = (ns: number) => ((100 * ns) / wallNs).toFixed(0);
      return `${i === 0 ? 'broker' : 'client'} main ran ${pct(main.runNs)} % waited ${pct(main.waitNs)} %, others ran ${pct(others.runNs)} % waited ${pct(others.waitNs)} %`;
    });
    rows.push(
      `| ${label} | threads (share of the wall time; other threads summed) | ${sched.join('; ')}; client loop ${(100 * elu).toFixed(0)} % busy |`,
    );
    return `${rows.join('\n')}\n`;
  }

  /** Per request kind in step order: the gap before it, its round trip, the client's turn-around. */
  #spans(): Span[] {
    const byName = new Map<string, number[]>();
    const add = (name: string, v: number) => {
      const values = byName.get(name);
      if (values === undefined) byName.set(name, [v]);
      else values.push(v);
    };
    for (const [step] of this.#pairs()) {
      let lastMs = step.startMs;
      for (const [i, s] of step.stamps.entries()) {
        const name = `${i + 1}. ${apiName(s.api)}`;
        add(`${name}: before sent`, s.sentMs - lastMs);
        add(`${name}: written → answer read`, s.readMs - s.sentMs);
        add(`${name}: answer read → resumed`, s.resumedMs - s.readMs);
        lastMs = s.resumedMs;
      }
    }
    const tail = this.#tails();
    const spans = [...byName].map(([name, values]) => ({ name, values }));
    spans.push({ name: 'after the last answer, to the next step', values: tail });
    return spans;
  }

  /** Each step with the lane's next one (the last of each lane has no period). */
  #pairs(): Array<[Step, Step]> {
    const last = new Map<number, Step>();
    const pairs: Array<[Step, Step]> = [];
    for (const step of this.#steps) {
      const before = last.get(step.lane);
      if (before !== undefined) pairs.push([before, step]);
      last.set(step.lane, step);
    }
    return pairs;
  }

  #periods(): number[] {
    return this.#pairs().map(([a, b]) => b.startMs - a.startMs);
  }

  #tails(): number[] {
    return this.#pairs().map(([a, b]) => b.startMs - (a.stamps.at(-1)?.resumedMs ?? a.startMs));
  }
}

const apiNames = new Map([
  [0, 'Produce'],
  [24, 'AddPartitionsToTxn'],
  [26, 'EndTxn'],
]);
const apiName = (api: number) => apiNames.get(api) ?? `api ${api}`;

function fmtSpan(values: number[]): string {
  if (values.length === 0) return '–';
  const sorted = [...values].sort((a, b) => a - b);
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return `mean ${mean.toFixed(2)} ms, p50 ${percentile(sorted, 0.5).toFixed(2)}, p99 ${percentile(sorted, 0.99).toFixed(2)}`;
}
