/**
 * Run-queue waits per thread, for `LATENCY_SCHED=1 npm run bench -- latency` (bench/latency.ts).
 *
 * Linux keeps, per thread, the time it ran, the time it waited runnable in a run queue and its number
 * of slices (/proc/<pid>/task/<tid>/schedstat, ns). With no steal on this VM, a process's gap that it
 * did not spend running is either sleep or such a wait, and the waits say which threads of which
 * process were queued, and how long: the broker's main thread, its V8 and libuv helpers, the bench's.
 * Node 20 names every thread `node`, so a thread is told apart only as the main one (tid = pid) or not.
 */
import { closeSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs';

export interface ThreadTimes {
  readonly runNs: number;
  readonly waitNs: number;
  readonly slices: number;
}

/** Every thread of `pid` now; empty when the process is gone or /proc has no schedstat. */
export function threadTimesOf(pid: number): Map<number, ThreadTimes> {
  const times = new Map<number, ThreadTimes>();
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return times;
  }
  for (const tid of tids) {
    const t = threadTimes(pid, Number(tid));
    if (t !== undefined) times.set(Number(tid), t);
  }
  return times;
}

/** One thread of `pid` now; undefined when it has ended (or /proc has no schedstat). */
export function threadTimes(pid: number, tid: number): ThreadTimes | undefined {
  try {
    return parse(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8'));
  } catch {
    return undefined;
  }
}

const ms = (ns: number) => (ns / 1e6).toFixed(0);

/** Parses one schedstat line: run ns, wait ns, slices. */
function parse(text: string): ThreadTimes {
  const [runNs = 0, waitNs = 0, slices = 0] = text.split(' ').map(Number);
  return { runNs, waitNs, slices };
}

/** Bytes of one schedstat line at most (three decimal numbers). */
const lineBytesMax = 96;

/**
 * `threadTimesOf` for a sampler: each thread's file stays open and is read again from offset 0 (the
 * kernel regenerates it), and the thread list is read again every `relistEvery` calls, so one sample
 * costs one pread per thread instead of an open, a read and a close.
 */
export class ThreadReader {
  private readonly fds = new Map<number, number>();
  private readonly buffer = Buffer.alloc(lineBytesMax);
  private calls = 0;
  readonly pid: number;
  /** New threads (the libuv pool starts on first use) are looked for every this many reads. */
  private readonly relistEvery: number;

  constructor(pid: number, relistEvery = 20) {
    this.pid = pid;
    this.relistEvery = relistEvery;
  }

  read(): Map<number, ThreadTimes> {
    if (this.calls++ % this.relistEvery === 0) this.relist();
    const times = new Map<number, ThreadTimes>();
    for (const [tid, fd] of this.fds) {
      try {
        const n = readSync(fd, this.buffer, 0, lineBytesMax, 0);
        times.set(tid, parse(this.buffer.toString('latin1', 0, n)));
      } catch {
        closeSync(fd);
        this.fds.delete(tid);
      }
    }
    return times;
  }

  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }

  private relist(): void {
    let tids: string[] = [];
    try {
      tids = readdirSync(`/proc/${this.pid}/task`);
    } catch {
      return;
    }
    for (const tid of tids.map(Number)) {
      if (this.fds.has(tid)) continue;
      try {
        this.fds.set(tid, openSync(`/proc/${this.pid}/task/${tid}/schedstat`, 'r'));
      } catch {
        // The thread ended between the listing and the open.
      }
    }
  }
}

/** The scheduler's group of a process (`/autogroup-<n> nice <k>`), or `no autogroup`. */
export function autogroupOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/autogroup`, 'utf8').trim();
  } catch {
    return 'no autogroup';
  }
}

/**
 * One process over one phase: its threads, and for its main thread and the others together the time
 * run and waited in a run queue; threads started during the phase are counted from zero.
 */
export function schedSummary(pid: number, before: ReadonlyMap<number, ThreadTimes>): string {
  const after = threadTimesOf(pid);
  let others = { runNs: 0, waitNs: 0, count: 0, busiestNs: 0 };
  let main = { runNs: 0, waitNs: 0, slices: 0 };
  for (const [tid, now] of after) {
    const was = before.get(tid) ?? { runNs: 0, waitNs: 0, slices: 0 };
    const runNs = now.runNs - was.runNs;
    const waitNs = now.waitNs - was.waitNs;
    if (tid === pid) main = { runNs, waitNs, slices: now.slices - was.slices };
    else
      others = {
        runNs: others.runNs + runNs,
        waitNs: others.waitNs + waitNs,
        count: others.count + 1,
        busiestNs: Math.max(others.busiestNs, runNs),
      };
  }
  const started = [...after.keys()].filter((tid) => !before.has(tid)).length;
  return `${autogroupOf(pid)}, ${after.size} threads (${started} new): main ran ${ms(main.runNs)} ms in ${main.slices} slices, waited ${ms(main.waitNs)} ms runnable; the other ${others.count} ran ${ms(others.runNs)} ms (busiest ${ms(others.busiestNs)}), waited ${ms(others.waitNs)} ms`;
}

/** One sample of bench/sched-watch.ts: a thread's run and wait since the sample before, ending at `atMs`. */
export interface SchedSample {
  readonly atMs: number;
  readonly sinceMs: number;
  readonly pid: number;
  readonly tid: number;
  readonly runNs: number;
  readonly waitNs: number;
}

/** Runnable tasks on the machine (/proc/loadavg's running count) at `atMs`. */
export interface RunnableSample {
  readonly atMs: number;
  readonly runnable: number;
}

/** Reads the watcher's file: `t <since> <at> <pid> <tid> <run> <wait>` and `r <at> <runnable>` lines. */
export function readSched(file: string): { threads: SchedSample[]; runnable: RunnableSample[] } {
  const threads: SchedSample[] = [];
  const runnable: RunnableSample[] = [];
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return { threads, runnable };
  }
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    if (f[0] === 't' && f.length === 7) {
      const [sinceMs, atMs, pid, tid, runNs, waitNs] = f.slice(1).map(Number) as number[];
      threads.push({ sinceMs: sinceMs!, atMs: atMs!, pid: pid!, tid: tid!, runNs: runNs!, waitNs: waitNs! });
    } else if (f[0] === 'r' && f.length === 3) runnable.push({ atMs: Number(f[1]), runnable: Number(f[2]) });
  }
  return { threads, runnable };
}

/** Merges windows (epoch ms) into sorted disjoint ones. */
export function mergeWindows(windows: readonly (readonly [number, number])[]): [number, number][] {
  const sorted = [...windows].sort((a, b) => a[0] - b[0]);
  const merged: [number, number][] = [];
  for (const [from, to] of sorted) {
    const last = merged.at(-1);
    if (last !== undefined && from <= last[1]) last[1] = Math.max(last[1], to);
    else merged.push([from, to]);
  }
  return merged;
}

/** Milliseconds of [from, to) inside the merged windows. */
function overlapMs(windows: readonly (readonly [number, number])[], from: number, to: number): number {
  let sum = 0;
  for (const [a, b] of windows) {
    if (a >= to) break;
    sum += Math.max(0, Math.min(b, to) - Math.max(a, from));
  }
  return sum;
}

interface Share {
  runMs: number;
  waitMs: number;
}

/**
 * What ran and what waited while the slowest messages waited, against the whole phase: each sampled
 * interval's run and wait of a thread is spread evenly over it and the part inside `tail` (the slow
 * messages' waits, merged) counted; shares are of the wall time, so 100 % is one core's worth. `names`
 * gives each watched process a label; a thread is that label's `main` or `others`.
 */
export function tailSched(
  samples: { threads: readonly SchedSample[]; runnable: readonly RunnableSample[] },
  names: ReadonlyMap<number, string>,
  tail: readonly (readonly [number, number])[],
  phase: readonly [number, number],
): string {
  const inTail = new Map<string, Share>();
  const inPhase = new Map<string, Share>();
  const add = (map: Map<string, Share>, key: string, part: number, s: SchedSample) => {
    const share = map.get(key) ?? { runMs: 0, waitMs: 0 };
    share.runMs += (part * s.runNs) / 1e6;
    share.waitMs += (part * s.waitNs) / 1e6;
    map.set(key, share);
  };
  for (const s of samples.threads) {
    const span = s.atMs - s.sinceMs;
    const phasePart = span > 0 ? overlapMs([phase], s.sinceMs, s.atMs) / span : 0;
    if (phasePart === 0) continue;
    const key = `${names.get(s.pid) ?? s.pid} ${s.tid === s.pid ? 'main' : 'others'}`;
    add(inPhase, key, phasePart, s);
    add(inTail, key, overlapMs(tail, s.sinceMs, s.atMs) / span, s);
  }
  const tailMs = tail.reduce((sum, [a, b]) => sum + b - a, 0);
  const phaseMs = phase[1] - phase[0];
  const pct = (v: number, of: number) => `${((100 * v) / Math.max(1e-9, of)).toFixed(0)}`;
  const rows = [...inPhase.keys()].sort().map((key) => {
    const t = inTail.get(key) ?? { runMs: 0, waitMs: 0 };
    const p = inPhase.get(key)!;
    return `${key} ran ${pct(t.runMs, tailMs)} / ${pct(p.runMs, phaseMs)} %, waited ${pct(t.waitMs, tailMs)} / ${pct(p.waitMs, phaseMs)} %`;
  });
  const mean = (list: readonly RunnableSample[]) =>
    list.length === 0 ? Number.NaN : list.reduce((sum, r) => sum + r.runnable, 0) / list.length;
  const inside = samples.runnable.filter((r) => overlapMs(tail, r.atMs - 0.5, r.atMs + 0.5) > 0);
  const during = samples.runnable.filter((r) => r.atMs >= phase[0] && r.atMs < phase[1]);
  return `while the slowest 1 % waited (${tailMs.toFixed(0)} ms of ${phaseMs.toFixed(0)}) / over the phase, share of wall time: ${rows.join('; ')}; runnable tasks on the machine ${mean(inside).toFixed(2)} / ${mean(during).toFixed(2)} (the watcher itself counted)`;
}
