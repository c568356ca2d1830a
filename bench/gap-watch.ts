/**
 * Tells a process's own pauses from the scheduler's, for bench/latency-probe.ts (in the broker) and
 * bench/latency.ts (in the bench process itself, whose clients share its one thread).
 *
 * A 1 ms timer runs on the main thread; every gap over `gapMs` between two of its ticks is busy when
 * the process used CPU for at least half of it (a long turn, a GC pause) or stalled when it did not
 * (the process was not run: the machine's share). GC pauses come from perf_hooks.
 */
import { PerformanceObserver } from 'node:perf_hooks';

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
