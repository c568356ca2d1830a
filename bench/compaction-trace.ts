/**
 * What each compaction probe overlapped, read from /proc around it (`COMPACTION_BENCH_TRACE=1`, Linux
 * only): how long the broker's compaction thread ran, how long the broker's event loop waited for a
 * CPU (schedstat's run-queue time), and how many discards the machine's disks completed. The reads
 * happen outside the probe's timed span, so they slow the probe loop a little but not a probe.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { threadTimes } from './sched-stat.js';

/** One probe: its latency (ms) and what ran beside it. */
export interface TracedProbe {
  readonly ms: number;
  /** ns the compaction thread ran during the probe. */
  readonly compactionNs: number;
  /** ns the event loop was runnable but not running. */
  readonly loopWaitNs: number;
  /** Discards completed on the machine's disks during the probe (any process). */
  readonly discards: number;
}

/** A point to subtract from: the counters at a probe's start. */
export interface TraceMark {
  readonly compactionNs: number;
  readonly loopWaitNs: number;
  readonly discards: number;
}

/** The compaction thread's nice value (src/core/logs/compaction-thread.ts): how the bench finds it. */
const compactionNice = 10;

/** Whole disks, not partitions: their discard counts already hold their partitions'. */
const disks = (() => {
  try {
    return new Set(readdirSync('/sys/block'));
  } catch {
    return new Set<string>();
  }
})();

/** A thread's run and wait ns so far; zeros once it has ended. */
function schedstat(pid: number, tid: number): { runNs: number; waitNs: number } {
  return threadTimes(pid, tid) ?? { runNs: 0, waitNs: 0 };
}

/** Discards completed (the 15th field of /proc/diskstats, kernel 4.18 on), summed over whole disks. */
function discardsDone(): number {
  let total = 0;
  for (const line of readFileSync('/proc/diskstats', 'utf8').split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (disks.has(fields[2] ?? '')) total += Number(fields[14] ?? 0);
  }
  return total;
}

/** The broker's compaction thread, once it has been started: the one task at its nice value. */
export function compactionThread(pid: number): number | undefined {
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      const fields = readFileSync(`/proc/${pid}/task/${task}/stat`, 'utf8').split(') ')[1]?.split(' ');
      if (Number(fields?.[16]) === compactionNice) return Number(task);
    } catch {
      // The task ended between the listing and the read.
    }
  }
  return undefined;
}

/** ns the compaction thread has run in all (0 before it exists). */
export function compactionRunNs(pid: number): number {
  const tid = compactionThread(pid);
  return tid === undefined ? 0 : schedstat(pid, tid).runNs;
}

/** How often a trace looks for the compaction thread while it has not found it. */
const lookMs = 100;

export class ProbeTrace {
  readonly probes: TracedProbe[] = [];
  private readonly pid: number;
  private tid: number | undefined;
  private lookedAt = 0;

  constructor(pid: number) {
    this.pid = pid;
  }

  /** Looks for the compaction thread now and then until found (it starts with the first compaction). */
  private look(): void {
    const now = performance.now();
    if (this.tid !== undefined || now - this.lookedAt < lookMs) return;
    this.lookedAt = now;
    this.tid = compactionThread(this.pid);
  }

  mark(): TraceMark {
    this.look();
    const loop = schedstat(this.pid, this.pid);
    const thread = this.tid === undefined ? 0 : schedstat(this.pid, this.tid).runNs;
    return { compactionNs: thread, loopWaitNs: loop.waitNs, discards: discardsDone() };
  }

  record(ms: number, start: TraceMark): void {
    const end = this.mark();
    this.probes.push({
      ms,
      compactionNs: end.compactionNs - start.compactionNs,
      loopWaitNs: end.loopWaitNs - start.loopWaitNs,
      discards: end.discards - start.discards,
    });
  }
}

const pct = (part: number, whole: number) => (whole === 0 ? 0 : (100 * part) / whole);

/** One line on `probes`: how many of them overlapped each thing, and the event loop's CPU wait. */
function shares(probes: readonly TracedProbe[]): string {
  const timeNs = probes.reduce((s, p) => s + p.ms * 1e6, 0);
  const waitNs = probes.reduce((s, p) => s + p.loopWaitNs, 0);
  const ran = probes.filter((p) => p.compactionNs > 0).length;
  const ranNs = probes.reduce((s, p) => s + p.compactionNs, 0);
  const discarded = probes.filter((p) => p.discards > 0).length;
  return (
    `${probes.length} probes: compaction thread ran in ${pct(ran, probes.length).toFixed(0)} % ` +
    `(${pct(ranNs, timeNs).toFixed(0)} % of their time), event loop waiting for a CPU ` +
    `${pct(waitNs, timeNs).toFixed(0)} % of their time, a discard completed in ` +
    `${pct(discarded, probes.length).toFixed(0)} %`
  );
}

/** The window's probes against those above `slowMs` (twice the p99 before). */
export function traceLine(name: string, probes: readonly TracedProbe[], slowMs: number): string {
  const slow = probes.filter((p) => p.ms > slowMs);
  return `trace ${name}: all ${shares(probes)}; above 2× the p99 before, ${shares(slow)}\n`;
}
