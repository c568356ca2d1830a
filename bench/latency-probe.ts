/**
 * Preloaded into the broker by `LATENCY_PROBE=1 npm run bench -- latency` (bench/latency.ts passes
 * `--import` of this file in NODE_OPTIONS): tells the broker's own pauses from the scheduler's.
 *
 * A 1 ms timer runs on the main thread; every gap over `gapMs` between two of its ticks is counted as
 * busy when the process used CPU for at least half of it (a long turn, a GC pause) or as stalled when
 * it did not (the process was not run: the machine's share, not the broker's). GC pauses come from
 * perf_hooks. One line a second on stderr.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { isMainThread } from 'node:worker_threads';

const gapMs = 2;
const reportMs = 1000;

interface Window {
  ticks: number;
  busyCount: number;
  busyMs: number;
  busyMaxMs: number;
  stalledCount: number;
  stalledMs: number;
  stalledMaxMs: number;
  gcCount: number;
  gcMs: number;
  gcMaxMs: number;
  gcOverGap: number;
}

const empty = (): Window => ({
  ticks: 0,
  busyCount: 0,
  busyMs: 0,
  busyMaxMs: 0,
  stalledCount: 0,
  stalledMs: 0,
  stalledMaxMs: 0,
  gcCount: 0,
  gcMs: 0,
  gcMaxMs: 0,
  gcOverGap: 0,
});

function start(): void {
  let w = empty();
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      w.gcCount++;
      w.gcMs += entry.duration;
      w.gcMaxMs = Math.max(w.gcMaxMs, entry.duration);
      if (entry.duration > gapMs) w.gcOverGap++;
    }
  }).observe({ entryTypes: ['gc'] });
  const cpuMs = () => {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1000;
  };
  let lastAt = performance.now();
  let lastCpu = cpuMs();
  const tick = () => {
    const at = performance.now();
    const cpu = cpuMs();
    const gap = at - lastAt;
    w.ticks++;
    if (gap > gapMs && cpu - lastCpu >= gap / 2) {
      w.busyCount++;
      w.busyMs += gap;
      w.busyMaxMs = Math.max(w.busyMaxMs, gap);
    } else if (gap > gapMs) {
      w.stalledCount++;
      w.stalledMs += gap;
      w.stalledMaxMs = Math.max(w.stalledMaxMs, gap);
    }
    lastAt = at;
    lastCpu = cpu;
    setTimeout(tick, 1).unref();
  };
  setTimeout(tick, 1).unref();
  setInterval(() => {
    const f = (ms: number) => ms.toFixed(1);
    process.stderr.write(
      `probe ${new Date().toISOString().slice(11, 19)} ticks ${w.ticks}; gaps over ${gapMs} ms: busy ${w.busyCount} (${f(w.busyMs)} ms, max ${f(w.busyMaxMs)}), stalled ${w.stalledCount} (${f(w.stalledMs)} ms, max ${f(w.stalledMaxMs)}); gc ${w.gcCount} (${f(w.gcMs)} ms, max ${f(w.gcMaxMs)}, ${w.gcOverGap} over ${gapMs} ms)\n`,
    );
    w = empty();
  }, reportMs).unref();
}

// Worker threads (password hashing) load this too; only the main thread carries messages.
if (isMainThread) start();
