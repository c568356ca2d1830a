/**
 * Tells a process's own pauses from the scheduler's, for bench/latency-probe.ts (in the broker) and
 * bench/latency.ts (in the bench process itself, whose clients share its one thread).
 *
 * A 1 ms timer runs on the main thread; every gap over `gapMs` between two of its ticks is busy when
 * the process used CPU for at least half of it (a long turn, a GC pause) or stalled when it did not
 * (the process was not run: the machine's share). GC pauses come from perf_hooks.
 */
import { constants, PerformanceObserver } from 'node:perf_hooks';

export const gapMs = 2;

export type GapKind = 'busy' | 'stalled' | 'gc';

/** A gap or pause; times are performance.now() of the watching process. */
export interface GapEvent {
  readonly kind: GapKind;
  readonly fromMs: number;
  readonly toMs: number;
  /** The collection's kind (perf_hooks' `NODE_PERFORMANCE_GC_*`), for `gc`. */
  readonly gcKind?: number;
}

const cpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

/** Calls `seen` with every tick (`undefined`) and every gap or GC pause; `stop` ends the watch. */
export function watchGaps(seen: (gap: GapEvent | undefined) => void): { stop(): void } {
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const gcKind = (entry as { detail?: { kind?: number } }).detail?.kind;
      const toMs = entry.startTime + entry.duration;
      seen({ kind: 'gc', fromMs: entry.startTime, toMs, ...(gcKind === undefined ? {} : { gcKind }) });
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  let lastAt = performance.now();
  let lastCpu = cpuMs();
  let timer: NodeJS.Timeout | undefined;
  const tick = () => {
    const at = performance.now();
    const cpu = cpuMs();
    const gap = at - lastAt;
    seen(undefined);
    if (gap > gapMs) seen({ kind: cpu - lastCpu >= gap / 2 ? 'busy' : 'stalled', fromMs: lastAt, toMs: at });
    lastAt = at;
    lastCpu = cpu;
    timer = setTimeout(tick, 1).unref();
  };
  timer = setTimeout(tick, 1).unref();
  return {
    stop() {
      clearTimeout(timer);
      observer.disconnect();
    },
  };
}

/**
 * The collections among `gaps` that fall within [fromMs, toMs): count, total and longest pause, full
 * ones. Bounded by the phase's span: a collection's entry reaches the observer a turn after it ran, so
 * the bench's forced collection before a phase arrived once the phase's list was cleared and was
 * reported as a full collection of 27–41 ms in every phase of the quiet run of 5 December 21:31 UTC.
 */
export function gcSummary(
  gaps: readonly { kind: GapKind; fromMs: number; toMs: number; gcKind?: number }[],
  fromMs: number,
  toMs: number,
): string {
  const pauses = gaps.filter((g) => g.kind === 'gc' && g.toMs > fromMs && g.fromMs < toMs);
  const full = pauses.filter((g) => g.gcKind === constants.NODE_PERFORMANCE_GC_MAJOR);
  const ms = (list: readonly { fromMs: number; toMs: number }[]) =>
    list.reduce((sum, g) => sum + g.toMs - g.fromMs, 0).toFixed(0);
  const maxMs = Math.max(0, ...pauses.map((g) => g.toMs - g.fromMs)).toFixed(1);
  return `GC ${pauses.length} (${ms(pauses)} ms, max ${maxMs}; of them full ${full.length}, ${ms(full)} ms)`;
}
